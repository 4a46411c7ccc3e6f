"""Shard file names (TFDS style) and the stable track -> shard assignment."""

from __future__ import annotations

import hashlib
import re

from tfgenre.errors import ConfigError

_SHARD_RE = re.compile(r"^(?P<split>[a-z_]+)\.tfrecord-(?P<index>\d{5})-of-(?P<count>\d{5})$")


def shard_name(view: str, split: str, index: int, num_shards: int) -> str:
    """Relative path of a shard: ``<view>/<split>.tfrecord-00003-of-00016``.

    Raises:
        ConfigError: when ``index`` is outside ``[0, num_shards)``.
    """
    if not 0 <= index < num_shards:
        raise ConfigError(f"shard index={index} must be in [0, {num_shards})")
    return f"{view}/{split}.tfrecord-{index:05d}-of-{num_shards:05d}"


def parse_shard_name(name: str) -> tuple[str, int, int]:
    """Inverse of the file part of :func:`shard_name`: (split, index, count)."""
    match = _SHARD_RE.match(name.rsplit("/", 1)[-1])
    if not match:
        raise ConfigError(f"{name!r} is not a shard name like train.tfrecord-00000-of-00004")
    return match["split"], int(match["index"]), int(match["count"])


def shard_of(track_id: str, num_shards: int) -> int:
    """The shard a track lives in: a stable hash of its id (same on every machine)."""
    if num_shards <= 0:
        raise ConfigError(f"num_shards={num_shards} must be > 0")
    digest = hashlib.sha256(track_id.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % num_shards
