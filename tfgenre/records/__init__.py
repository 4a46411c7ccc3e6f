"""Sharded TFRecords: naming, the Example layout, the writer, the manifest, the reader.

The writer, step by step: :mod:`.writer_config` (what to write), :mod:`.plan` (tracks,
splits, units, what is done), :mod:`.compute` (one track's views), :mod:`.shards` (one
unit's shard files and its state file, typed in :mod:`.state`), :mod:`.executors` (who
writes the units: this process or a pool; :mod:`.beam` for Apache Beam),
:mod:`.assemble` (the manifest and ``features.csv`` from the states), :mod:`.output`
(the output folder's guard), and :mod:`.writer` (``write_records``, which runs the
steps).
"""
