"""tf.data pipelines: records and in-memory arrays to model batches.

The one place that reads records for a model, below evaluation (which predicts a run's
splits) and training (which fits on them).

Modules:

* :mod:`~tfgenre.tfdata.records_dataset`: :func:`records_dataset` (batches of one split,
  or of a fold's tracks) and :func:`split_index` (their track ids in that order).
* :mod:`~tfgenre.tfdata.array_dataset`: :func:`array_dataset`, batches of a features CSV.
* :mod:`~tfgenre.tfdata.selection`: :class:`TrackSelection`, a fold's tracks read from the
  shards of several splits, and :func:`records_tracks`, every track of a records folder.
* :mod:`~tfgenre.tfdata.corrupt_shards`: reading shard files, counting and naming corrupt records.
* :mod:`~tfgenre.tfdata.epochs`: :class:`EpochCounter` and the per-epoch draws of a
  training pass.
* :mod:`~tfgenre.tfdata.augment`: stateless waveform/spectrogram augmentation.
"""
