"""Training: one run (or a cross-validation of runs) from a fit config, and its inputs.

Modules:

* :mod:`~tfgenre.training.fit_config`: :class:`FitConfig` and its parts, resolving and
  checking it.
* :mod:`~tfgenre.training.inputs`: the run's datasets and facts (:class:`RunData`) from
  records or a features CSV.
* :mod:`~tfgenre.training.compile`: optimizer, learning-rate schedule, L2, class weights.
* :mod:`~tfgenre.models.schedules`: learning-rate schedules.
* :mod:`~tfgenre.training.callbacks`: the run's Keras callbacks, assembled (checkpoints,
  backups, early stopping).
* :mod:`~tfgenre.training.history`: ``history.csv``, one row per epoch, resume-safe.
* :mod:`~tfgenre.training.tensorboard_logs`: learning rate, confusion-matrix image and
  hyperparameters in TensorBoard.
* :mod:`~tfgenre.training.epoch_seeds`: each epoch's randomness from ``(seed, epoch)``.
* :mod:`~tfgenre.training.stopping`: early stopping and its state.
* :mod:`~tfgenre.training.strategy`: tf.distribute strategies from a name.
* :mod:`~tfgenre.training.state`: seeds, op determinism, dtype policy and Keras patches,
  scoped to one run.
* :mod:`~tfgenre.training.probe_tuning`: the probe's settings chosen on validation.
* :mod:`~tfgenre.training.loop`: :func:`train`, one run from config to run folder.
* :mod:`~tfgenre.training.crossval`: grouped, stratified k-fold cross-validation.

The tf.data pipelines and augmentation the runs read through are :mod:`tfgenre.tfdata`'s;
the run folder a run writes is described in :mod:`tfgenre.runs`.
"""
