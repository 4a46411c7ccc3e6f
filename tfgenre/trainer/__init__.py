"""Training one run (or a cross-validation of runs) from a fit config.

Modules:

* :mod:`~tfgenre.trainer.config`: :class:`FitConfig` and its parts, resolving and
  checking it.
* :mod:`~tfgenre.trainer.inputs`: the run's datasets and facts (:class:`RunData`) from
  records or a features CSV.
* :mod:`~tfgenre.trainer.compile`: optimizer, learning-rate schedule, L2, class weights.
* :mod:`~tfgenre.trainer.state`: seeds, op determinism, dtype policy and Keras patches,
  scoped to one run.
* :mod:`~tfgenre.trainer.loop`: :func:`train`, one run from config to run folder.
* :mod:`~tfgenre.trainer.crossval`: grouped, stratified k-fold cross-validation.

The run folder a run writes is described in :mod:`tfgenre.run_folder`.
"""
