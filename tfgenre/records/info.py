"""``manifest.json`` as typed objects: the contract between the writer and every reader.

:class:`RecordsInfo` is what the writer emits and what data, baselines, explore, fit and
export read (TFDS's ``DatasetInfo``/``SplitInfo`` are the model). It holds the format
version, package versions, the resolved config and its hash, the label names, the audio
framing (:class:`AudioSpec`), each view's :class:`~tfgenre.views.base.ViewSpec`, each
split's :class:`SplitInfo` with its :class:`ShardInfo` files, the split policy and
protocol, the tracks left out on purpose, and every skipped input with its reason.

``to_json`` writes exactly the layout of format version 1, so folders written before
these classes existed read unchanged; a newer or unknown version is refused with a
message that says what to do.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Mapping
from typing import Any

from tfgenre.core import io, layout
from tfgenre.core.framing import Framing
from tfgenre.errors import RecordsError
from tfgenre.splitting.protocols import Protocol
from tfgenre.views.base import ViewSpec

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1


def package_versions() -> dict[str, str]:
    """Versions of the packages that shape the records' bytes."""
    from importlib import metadata

    out = {}
    for name in ("tfgenre", "tensorflow", "numpy", "librosa", "soundfile", "scipy", "soxr"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            if name == "tfgenre":
                from tfgenre import __version__

                out[name] = __version__
    return out


def check_format_version(version: Any, supported: int, path: str, writer: str) -> None:
    """Refuses a file of another format version, saying what to do.

    Args:
        version: The file's ``format_version``.
        supported: The version this tfgenre reads.
        path: The file, for the message.
        writer: The command that writes such files (``write_records``, ``fit``).

    Raises:
        RecordsError: for a newer, older or non-integer version.
    """
    if version == supported:
        return
    if isinstance(version, int) and version > supported:
        hint = "it was written by a newer tfgenre: upgrade tfgenre to read it"
    else:
        hint = f"rewrite it with this version (`python -m tfgenre.{writer} ... --overwrite`)"
    raise RecordsError(
        f"{path} has format_version={version!r}; this tfgenre reads {supported}: {hint}"
    )


def read_json_object(path: str) -> dict[str, Any]:
    """The JSON object in ``path``.

    Raises:
        RecordsError: when the file is not JSON or holds something else than an object.
    """
    try:
        data = json.loads(io.read_text(path))
    except json.JSONDecodeError as err:
        raise RecordsError(f"{path} is not valid JSON: {err}") from err
    if not isinstance(data, dict):
        raise RecordsError(f"{path} must hold a JSON object. Received: {type(data).__name__}")
    return data


@dataclasses.dataclass(frozen=True)
class AudioSpec:
    """How audio was decoded and cut before the views saw it, as the manifest stores it.

    The stored record of a :class:`~tfgenre.core.framing.Framing` (:attr:`framing`),
    with the seconds as the user gave them and the short-track policy: the writer
    records it, fit copies it into the run, and predict and export frame new audio with
    its :attr:`framing`.

    Attributes:
        sample_rate: Rate of the decoded audio in Hz.
        window_samples: Segment length in samples; None = whole tracks.
        hop_samples: Distance between segment starts in samples; None = whole tracks.
        window_seconds: ``window_samples`` as the user gave it, in seconds (None: whole).
        hop_seconds: ``hop_samples`` in seconds (None: whole tracks).
        short_tracks: What the writer did with tracks shorter than one window.
    """

    sample_rate: int
    window_samples: int | None = None
    hop_samples: int | None = None
    window_seconds: float | None = None
    hop_seconds: float | None = None
    short_tracks: str | None = None

    def __post_init__(self) -> None:
        if int(self.sample_rate) <= 0:
            raise RecordsError(f"sample_rate={self.sample_rate} must be > 0")
        if self.window_samples is not None and int(self.window_samples) <= 0:
            raise RecordsError(f"window_samples={self.window_samples} must be > 0 or None")

    @property
    def whole_tracks(self) -> bool:
        """True when every example is a whole track (features only)."""
        return self.window_samples is None

    @property
    def framing(self) -> Framing:
        """The window and hop in samples at the rate (the hop defaulting to the window)."""
        return Framing.from_audio_spec(self)

    @classmethod
    def from_framing(cls, framing: Framing) -> AudioSpec:
        """The record of ``framing`` (no seconds as given, no short-track policy)."""
        return cls(framing.sample_rate, framing.window_samples, framing.hop_samples)

    def to_json(self) -> dict[str, Any]:
        """The manifest's top-level audio keys."""
        return {
            "sample_rate": int(self.sample_rate),
            "window_seconds": self.window_seconds,
            "hop_seconds": self.hop_seconds,
            "window_samples": self.window_samples,
            "hop_samples": self.hop_samples,
            "short_tracks": self.short_tracks,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> AudioSpec:
        """Inverse of :meth:`to_json` (extra keys are ignored)."""
        window, hop = data.get("window_samples"), data.get("hop_samples")
        return cls(
            sample_rate=int(data["sample_rate"]),
            window_samples=None if window is None else int(window),
            hop_samples=None if hop is None else int(hop),
            window_seconds=data.get("window_seconds"),
            hop_seconds=data.get("hop_seconds"),
            short_tracks=data.get("short_tracks"),
        )


@dataclasses.dataclass(frozen=True)
class ShardInfo:
    """One shard file of one view and split.

    Attributes:
        view: The view it stores.
        split: The split it belongs to.
        file: Path relative to the records folder (``mel/train.tfrecord-00000-of-00004``).
        examples: Number of records in it.
        num_bytes: File size.
        sha256: Hex digest of the file.
    """

    view: str
    split: str
    file: str
    examples: int
    num_bytes: int
    sha256: str

    def to_json(self) -> dict[str, Any]:
        """The manifest entry (the split is the key above it)."""
        return {
            "examples": self.examples,
            "file": self.file,
            "num_bytes": self.num_bytes,
            "sha256": self.sha256,
            "view": self.view,
        }

    @classmethod
    def from_json(cls, split: str, data: Mapping[str, Any]) -> ShardInfo:
        """Inverse of :meth:`to_json`."""
        return cls(
            view=str(data["view"]),
            split=split,
            file=str(data["file"]),
            examples=int(data["examples"]),
            num_bytes=int(data["num_bytes"]),
            sha256=str(data["sha256"]),
        )


@dataclasses.dataclass(frozen=True)
class SplitInfo:
    """One split: its size, label counts and shards (of every view).

    Attributes:
        name: ``train``, ``validation``, ``test`` or a user's split name.
        num_tracks: Tracks written.
        num_examples: Segments written (per view: every view has one per segment).
        num_bytes: Bytes over all views' shards.
        label_counts: Segments per label name.
        shards: The shard files, sorted by view and file.
    """

    name: str
    num_tracks: int
    num_examples: int
    num_bytes: int
    label_counts: Mapping[str, int]
    shards: tuple[ShardInfo, ...]

    def to_json(self) -> dict[str, Any]:
        """The manifest entry under ``splits[name]``."""
        return {
            "num_tracks": self.num_tracks,
            "num_examples": self.num_examples,
            "num_bytes": self.num_bytes,
            "label_counts": dict(self.label_counts),
            "shards": [s.to_json() for s in self.shards],
        }

    @classmethod
    def from_json(cls, name: str, data: Mapping[str, Any]) -> SplitInfo:
        """Inverse of :meth:`to_json`."""
        return cls(
            name=name,
            num_tracks=int(data["num_tracks"]),
            num_examples=int(data["num_examples"]),
            num_bytes=int(data["num_bytes"]),
            label_counts={str(k): int(v) for k, v in (data.get("label_counts") or {}).items()},
            shards=tuple(ShardInfo.from_json(name, s) for s in data.get("shards") or ()),
        )

    def view_shards(self, view: str) -> tuple[ShardInfo, ...]:
        """The shards of one view, in index order."""
        return tuple(s for s in self.shards if s.view == view)


@dataclasses.dataclass(frozen=True)
class SkippedInput:
    """An input the writer could not use, and why (``unsupported format``, ``truncated``)."""

    path: str
    reason: str

    def to_json(self) -> dict[str, str]:
        """The manifest entry."""
        return {"path": self.path, "reason": self.reason}


@dataclasses.dataclass(frozen=True)
class WriteCounts:
    """Inputs seen, tracks written, inputs skipped, tracks padded, and the skip fraction."""

    inputs: int
    written: int
    skipped: int
    padded: int
    skip_fraction: float

    def to_json(self) -> dict[str, Any]:
        """The manifest's ``counts``."""
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class RecordsInfo:
    """Everything ``manifest.json`` says about a records folder.

    Attributes:
        labels: Label names in index order.
        audio: Decoding and framing of the segments.
        views: View name -> its spec, in the order written.
        splits: Split name -> its info (splits without tracks included).
        source: The source that listed the inputs (``gtzan``, ``folder``, ...).
        config: The writer's resolved config (the part that decides the bytes).
        config_hash: Hash of ``config``; another config may not write into the folder.
        versions: Package versions that shaped the bytes.
        split_policy: How the splits were made.
        protocol: The evaluation protocol the splits stand for.
        excluded: Track ids left out on purpose (in no list of a named split).
        track_groups: Track id -> artist (group), when the source knows it.
        padded: Track ids shorter than one window that were padded.
        skipped: Inputs that could not be used.
        counts: Totals over inputs.
        format_version: Layout version of the file.
        root: The folder it was read from ("" when built in memory); not stored.
    """

    labels: tuple[str, ...]
    audio: AudioSpec
    views: Mapping[str, ViewSpec]
    splits: Mapping[str, SplitInfo]
    source: str = ""
    config: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    config_hash: str = ""
    versions: Mapping[str, str] = dataclasses.field(default_factory=dict)
    split_policy: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    protocol: Protocol = dataclasses.field(default_factory=lambda: Protocol.from_json(None))
    excluded: tuple[str, ...] = ()
    track_groups: Mapping[str, str] = dataclasses.field(default_factory=dict)
    padded: tuple[str, ...] = ()
    skipped: tuple[SkippedInput, ...] = ()
    counts: WriteCounts | None = None
    format_version: int = FORMAT_VERSION
    root: str = dataclasses.field(default="", compare=False)

    # ------------------------------------------------------------------ files

    @classmethod
    def load(cls, root: str) -> RecordsInfo:
        """Reads ``<root>/manifest.json``.

        Raises:
            RecordsError: when the file is missing, not JSON, or of another format version.
        """
        path = io.join(root, layout.MANIFEST)
        if not io.exists(path):
            raise RecordsError(
                f"{path} does not exist: is {root!r} a records folder written by "
                "`python -m tfgenre.write_records`?"
            )
        data = read_json_object(path)
        check_format_version(data.get("format_version"), FORMAT_VERSION, path, "write_records")
        try:
            info = cls.from_json(data, root=root)
        except (KeyError, TypeError, ValueError) as err:
            raise RecordsError(f"{path} is incomplete or malformed: {err!r}") from err
        for split in info.splits.values():  # refuse an altered path before any read
            for shard in split.shards:
                info.shard_path(shard)
        return info

    def write(self, root: str) -> str:
        """Writes ``<root>/manifest.json`` atomically; returns its path."""
        path = io.join(root, layout.MANIFEST)
        io.write_text_atomic(path, json.dumps(self.to_json(), indent=2, sort_keys=False))
        return path

    def to_json(self) -> dict[str, Any]:
        """The manifest's content (format version 1 layout, key order kept)."""
        return {
            "format_version": self.format_version,
            "versions": dict(self.versions),
            "config_hash": self.config_hash,
            "config": dict(self.config),
            "source": self.source,
            "labels": list(self.labels),
            **self.audio.to_json(),
            "views": {name: spec.to_json() for name, spec in self.views.items()},
            "splits": {name: s.to_json() for name, s in self.splits.items()},
            "split_policy": dict(self.split_policy),
            "protocol": self.protocol.to_json(),
            "excluded": {"count": len(self.excluded), "tracks": list(self.excluded)},
            "track_groups": dict(self.track_groups),
            "padded": list(self.padded),
            "skipped": [s.to_json() for s in self.skipped],
            "counts": self.counts.to_json() if self.counts else None,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any], root: str = "") -> RecordsInfo:
        """Inverse of :meth:`to_json`."""
        counts = data.get("counts")
        return cls(
            labels=tuple(str(x) for x in data["labels"]),
            audio=AudioSpec.from_json(data),
            views={k: ViewSpec.from_json(k, v) for k, v in data["views"].items()},
            splits={k: SplitInfo.from_json(k, v) for k, v in data["splits"].items()},
            source=str(data.get("source") or ""),
            config=dict(data.get("config") or {}),
            config_hash=str(data.get("config_hash") or ""),
            versions=dict(data.get("versions") or {}),
            split_policy=dict(data.get("split_policy") or {}),
            protocol=Protocol.from_json(data.get("protocol")),
            excluded=tuple((data.get("excluded") or {}).get("tracks") or ()),
            track_groups=dict(data.get("track_groups") or {}),
            padded=tuple(data.get("padded") or ()),
            skipped=tuple(SkippedInput(s["path"], s["reason"]) for s in data.get("skipped") or ()),
            counts=WriteCounts(**counts) if counts else None,
            format_version=int(data.get("format_version", FORMAT_VERSION)),
            root=root,
        )

    # ------------------------------------------------------------------ lookups

    @property
    def sample_rate(self) -> int:
        """Sample rate of the decoded audio in Hz."""
        return int(self.audio.sample_rate)

    @property
    def split_names(self) -> list[str]:
        """Names of the splits that hold tracks."""
        return [name for name, s in self.splits.items() if s.num_tracks > 0]

    def view(self, name: str) -> ViewSpec:
        """The spec of view ``name``.

        Raises:
            RecordsError: when the view was not written.
        """
        if name not in self.views:
            raise RecordsError(
                f"view {name!r} is not in {self.root or 'these records'} "
                f"(written: {', '.join(self.views)})"
            )
        return self.views[name]

    def split(self, name: str) -> SplitInfo:
        """The info of split ``name``.

        Raises:
            RecordsError: when the split is not in the manifest.
        """
        if name not in self.splits:
            raise RecordsError(
                f"split {name!r} is not in {self.root or 'these records'} "
                f"(known: {', '.join(self.splits)})"
            )
        return self.splits[name]

    def shards(self, view: str, split: str) -> list[ShardInfo]:
        """The shards of ``view`` in ``split``, in index order."""
        self.view(view)
        return list(self.split(split).view_shards(view))

    def shard_path(self, shard: ShardInfo) -> str:
        """The full path of ``shard``, which must lie inside the records folder.

        Raises:
            RecordsError: naming the manifest entry when its ``file`` is absolute or
                climbs out of the folder (:func:`tfgenre.core.io.inside`).
        """
        entry = f"{io.join(self.root, layout.MANIFEST)}: splits.{shard.split}.shards file"
        return io.inside(self.root, shard.file, entry)

    def shard_paths(self, view: str, split: str) -> list[str]:
        """Full paths of the shards of ``view`` in ``split``."""
        return [self.shard_path(s) for s in self.shards(view, split)]

    def label_counts(self, split: str) -> list[int]:
        """Segments per label of ``split``, in label index order."""
        counts = self.split(split).label_counts
        return [int(counts.get(label, 0)) for label in self.labels]

    def check_files(self, view: str, splits: list[str], *, verify: bool = False) -> None:
        """Checks that every shard exists with the recorded size (and sha256 with verify).

        Raises:
            RecordsError: naming the first shard that is missing, resized or altered.
        """
        for split in splits:
            for shard in self.shards(view, split):
                path = self.shard_path(shard)
                if not io.exists(path):
                    raise RecordsError(f"shard {path} is listed in the manifest but missing")
                actual = io.size(path)
                if actual != shard.num_bytes:
                    raise RecordsError(
                        f"shard {path} has {actual} bytes; the manifest says {shard.num_bytes}"
                    )
                if verify and io.sha256(path) != shard.sha256:
                    raise RecordsError(f"shard {path} fails its sha256 check (corrupt or altered)")
        logger.info("checked %s shards of %s (%s)", view, self.root, "sha256" if verify else "size")
