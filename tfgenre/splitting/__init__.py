"""Splitting: which track goes to which split, and the record of how it was split.

Below every stage that reads data (sources, records, views, training, evaluation), so
that all of them can ask it without a cycle.

* :mod:`~tfgenre.splitting.splits`: split assignment (stratified, grouped) and the
  disjointness check.
* :mod:`~tfgenre.splitting.protocols`: named splits (``split_lists/``) and the
  :class:`Protocol` record of a split.
* :mod:`~tfgenre.splitting.split_checks`: labels a split lacks, empty splits.
* :mod:`~tfgenre.splitting.fold_spec`: :class:`FoldSpec`, one cross-validation fold and
  its tracks.
"""
