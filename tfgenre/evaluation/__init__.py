"""Evaluation: how data is split, how a run is scored, and how honest the figure is.

Modules:

* :mod:`~tfgenre.evaluation.folds`: k-fold cross-validation folds of tracks.
* :mod:`~tfgenre.evaluation.anchors`: published figures (``anchors.yaml``) and when a run
  may stand beside them.
* :mod:`~tfgenre.evaluation.metrics`: segment- and track-level metrics of predictions.
* :mod:`~tfgenre.evaluation.tracks_csv`: the per-track predictions file (``tracks.csv``).
* :mod:`~tfgenre.evaluation.figures`: confusion-matrix and training-curve figures.
* :mod:`~tfgenre.evaluation.metrics_file`: ``metrics.json`` as a typed object
  (:class:`~tfgenre.evaluation.metrics_file.MetricsFile`), which every reader uses.
* :mod:`~tfgenre.evaluation.report`: ``metrics.json``, ``report.md`` and the figures.
* :mod:`~tfgenre.evaluation.run_inputs`: a run's data read back as fit read it, from
  its ``run.json``.
* :mod:`~tfgenre.evaluation.predictions`: a run's predictions on a split, and its evaluation.
* :mod:`~tfgenre.evaluation.comparison`: runs compared on the same tracks.
"""
