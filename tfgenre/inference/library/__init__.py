"""Predicting a whole music library: ``python -m tfgenre.predict LIBRARY/ --output X``.

- :mod:`tfgenre.inference.library.listing`: the library's audio files, streamed folder by folder.
- :mod:`tfgenre.inference.library.sink`: the output file (CSV, JSON Lines or Parquet), its
  journal and state file, and resume.
- :mod:`tfgenre.inference.library.parallel`: decoding workers feeding batched inference.
- :mod:`tfgenre.inference.library.beam`: the same rows written by an Apache Beam pipeline.
"""
