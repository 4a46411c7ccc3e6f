"""Classical machine learning on the engineered-feature rows (no Keras).

The library behind ``python -m tfgenre.baselines`` and ``python -m tfgenre.explore``:

* :mod:`~tfgenre.classical.rows`: :class:`FeatureRows`, the rows of a features CSV or a
  records folder's ``features`` view;
* :mod:`~tfgenre.classical.baselines_config`: :class:`BaselinesConfig`, what to fit on
  which data and split;
* :mod:`~tfgenre.classical.models`: the scikit-learn model zoo (:data:`MODELS`);
* :mod:`~tfgenre.classical.splitting`: the fit split or the k folds a baseline is scored on;
* :mod:`~tfgenre.classical.scoring`: accuracy and macro-F1 of one fitted model;
* :mod:`~tfgenre.classical.sweep`: :func:`run_baselines`, every model on every fold;
* :mod:`~tfgenre.classical.tables`: the Markdown and CSV tables of the results;
* :mod:`~tfgenre.classical.feature_plots`: correlation, box-plot and PCA figures;
* :mod:`~tfgenre.classical.exploration`: :func:`run_explore`, those figures on one page.
"""
