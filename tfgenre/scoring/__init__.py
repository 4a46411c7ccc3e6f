"""Scoring a trained run: metrics, figures, the written report, and run comparisons.

Modules:

* :mod:`~tfgenre.scoring.metrics`: segment- and track-level metrics of predictions.
* :mod:`~tfgenre.scoring.tracks`: the per-track predictions file (``tracks.csv``).
* :mod:`~tfgenre.scoring.figures`: confusion-matrix and training-curve figures.
* :mod:`~tfgenre.scoring.report`: ``metrics.json``, ``report.md`` and the figures.
* :mod:`~tfgenre.scoring.predictions`: a run's predictions on a split, and its evaluation.
* :mod:`~tfgenre.scoring.comparison`: runs compared on the same tracks.
"""
