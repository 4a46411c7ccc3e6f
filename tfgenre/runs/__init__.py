"""The run folder: what ``fit`` writes and every later command reads.

* :mod:`~tfgenre.runs.run_info`: :class:`RunInfo`, ``run.json``, the typed hand-off.
* :mod:`~tfgenre.runs.run_folder`: creating, resuming and refusing a run folder.

The file names inside it are :mod:`tfgenre.core.layout`'s; what ``export`` writes
beside it is :mod:`tfgenre.inference.artifacts`'.
"""
