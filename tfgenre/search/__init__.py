"""Model selection around tfgenre's fit: search spaces, Optuna and keras-tuner backends.

``python -m tfgenre.tune`` is the entry point; :func:`tfgenre.search.study.run_study`
is the library call behind it.
"""
