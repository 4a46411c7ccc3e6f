"""Core: what every stage uses and no stage owns.

* :mod:`~tfgenre.core.config`: layered, validated configs (defaults, YAML, ``--set``).
* :mod:`~tfgenre.core.io`: file access for local paths and ``gs://``.
* :mod:`~tfgenre.core.tracks`: :class:`Track`, the record every source yields, and which
  files are audio.
* :mod:`~tfgenre.core.audio`: decoding, resampling and checking audio files.
* :mod:`~tfgenre.core.framing`: :class:`Framing`, how decoded audio is cut into windows
  (sample rate, window, hop), the one framing type of every stage.
* :mod:`~tfgenre.core.cli`: the flags and error handling every command shares.
* :mod:`~tfgenre.core.layout`: the file names tfgenre writes (run folders, records,
  markers), in one place.
* :mod:`~tfgenre.core.stats`: intervals, tests and robust statistics.
* :mod:`~tfgenre.core.json_fields`: checked reads of the JSON files tfgenre writes for
  itself (errors name the file and the key).
* :mod:`~tfgenre.core.traced`: a traced, batched call of a Keras model.
* :mod:`~tfgenre.core.tflog`: TensorFlow's and Python's logging, quiet by default.
"""
