"""Predicting a whole music library: ``python -m tfgenre.predict LIBRARY/ --output X``.

- :mod:`tfgenre.library.listing`: the library's audio files, streamed folder by folder.
- :mod:`tfgenre.library.output`: the output file (CSV, JSON Lines or Parquet), its
  journal and state file, and resume.
- :mod:`tfgenre.library.pipeline`: decoding workers feeding batched inference.
- :mod:`tfgenre.library.beam`: the same rows written by an Apache Beam pipeline.
"""
