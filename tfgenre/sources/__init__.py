"""Dataset sources: labelled audio files listed as tracks, unusable inputs as skips.

The sources are gtzan, fma, folder, csv and synthetic; each lists :class:`Track`
records and reports every input it cannot use as a :class:`Skip` with its reason.
Building a source only lists; :func:`prepare_source` first makes the inputs of a source
that generates them (synthetic: the set :mod:`tfgenre.synthesis` writes).

>>> from tfgenre.sources import get_source
>>> source = get_source("gtzan", "/data/gtzan")  # doctest: +SKIP
>>> tracks, skipped = source.tracks(), source.skipped  # doctest: +SKIP
"""

from __future__ import annotations

from tfgenre.core.tracks import Skip, Source, Track
from tfgenre.sources.registry import get_source, known_sources, prepare_source

__all__ = ["Skip", "Source", "Track", "get_source", "known_sources", "prepare_source"]
