"""``manifest.json``: the contract between the records writer and every reader.

It holds the format version, package versions, the resolved config and its hash, the
label names, audio settings, per view its dtype/shape (and feature names and train
mean/std), per split its tracks, examples, bytes and shards (with counts and sha256),
the split policy, the evaluation protocol (``protocol``, see :mod:`tfgenre.protocols`),
the tracks left out on purpose (``excluded``: in no list of a named split) and every
skipped input with its reason.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from typing import Any

from tfgenre import io
from tfgenre.errors import RecordsError
from tfgenre.protocols import Protocol

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1
MANIFEST_NAME = "manifest.json"


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


@dataclasses.dataclass(frozen=True)
class ShardInfo:
    """One shard file of one view and split."""

    view: str
    split: str
    file: str
    examples: int
    num_bytes: int
    sha256: str


class Manifest:
    """Read access to a records folder's manifest.

    Args:
        root: The records folder.
        data: The parsed ``manifest.json``.
    """

    def __init__(self, root: str, data: dict[str, Any]) -> None:
        self.root = root
        self.data = data

    @classmethod
    def load(cls, root: str) -> Manifest:
        """Reads ``<root>/manifest.json``.

        Raises:
            RecordsError: when the file is missing, not JSON, or of another format version.
        """
        path = io.join(root, MANIFEST_NAME)
        if not io.exists(path):
            raise RecordsError(
                f"{path} does not exist: is {root!r} a records folder written by "
                "`python -m tfgenre.write_records`?"
            )
        try:
            data = json.loads(io.read_text(path))
        except json.JSONDecodeError as err:
            raise RecordsError(f"{path} is not valid JSON: {err}") from err
        version = data.get("format_version")
        if version != FORMAT_VERSION:
            raise RecordsError(
                f"{path} has format_version={version!r}; this tfgenre reads {FORMAT_VERSION}"
            )
        return cls(root, data)

    @property
    def labels(self) -> list[str]:
        """Label names in index order."""
        return list(self.data["labels"])

    @property
    def sample_rate(self) -> int:
        """Sample rate of the decoded audio in Hz."""
        return int(self.data["sample_rate"])

    @property
    def protocol(self) -> Protocol:
        """The evaluation protocol (``unknown`` for records written before it was kept)."""
        return Protocol.from_json(self.data.get("protocol"))

    @property
    def excluded(self) -> list[str]:
        """Track ids left out on purpose (in no list of a named split); [] when none."""
        return list((self.data.get("excluded") or {}).get("tracks") or [])

    @property
    def views(self) -> list[str]:
        """Names of the stored views."""
        return list(self.data["views"])

    @property
    def splits(self) -> list[str]:
        """Names of the splits that hold tracks."""
        return [s for s, info in self.data["splits"].items() if info["num_tracks"] > 0]

    def view(self, name: str) -> dict[str, Any]:
        """The view's entry (dtype, shape, params, ...).

        Raises:
            RecordsError: when the view was not written.
        """
        if name not in self.data["views"]:
            raise RecordsError(
                f"view {name!r} is not in {self.root} (written: {', '.join(self.views)})"
            )
        return self.data["views"][name]

    def split(self, name: str) -> dict[str, Any]:
        """The split's entry (num_tracks, num_examples, shards, ...).

        Raises:
            RecordsError: when the split is not in the manifest.
        """
        if name not in self.data["splits"]:
            raise RecordsError(
                f"split {name!r} is not in {self.root} (known: {', '.join(self.data['splits'])})"
            )
        return self.data["splits"][name]

    def shards(self, view: str, split: str) -> list[ShardInfo]:
        """The shards of ``view`` in ``split``, in index order."""
        self.view(view)
        return [
            ShardInfo(split=split, **s) for s in self.split(split)["shards"] if s["view"] == view
        ]

    def shard_paths(self, view: str, split: str) -> list[str]:
        """Full paths of the shards of ``view`` in ``split``."""
        return [io.join(self.root, s.file) for s in self.shards(view, split)]

    def check_files(self, view: str, splits: list[str], *, verify: bool = False) -> None:
        """Checks that every shard exists with the recorded size (and sha256 with verify).

        Raises:
            RecordsError: naming the first shard that is missing, resized or altered.
        """
        for split in splits:
            for shard in self.shards(view, split):
                path = io.join(self.root, shard.file)
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
