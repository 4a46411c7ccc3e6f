"""The records folder: what in it tfgenre wrote, and getting it ready for a write.

tfgenre never deletes what it did not write: :func:`survey_output` sorts a folder into
tfgenre's files and everything else, and :func:`prepare_output` refuses a folder that
holds anything but records of this same configuration (``overwrite`` replaces records
of another configuration, and still refuses files that are not tfgenre's).
"""

from __future__ import annotations

import logging
import os
import re

from tfgenre.core import io, layout
from tfgenre.errors import ConfigError, RecordsError, TfgenreError
from tfgenre.records import naming
from tfgenre.records.info import RecordsInfo
from tfgenre.records.plan import STATE_DIR
from tfgenre.records.unit_state import UnitState, WriteStamp, read_config_hash
from tfgenre.records.writer_config import WriterConfig
from tfgenre.views import VIEW_NAMES

logger = logging.getLogger(__name__)

_STATE_FILE_RE = re.compile(r"^(config|[a-z_]+-\d{5}-of-\d{5})\.json(\.incomplete)?$")
_OWN_TOP_FILES = (layout.MANIFEST, layout.FEATURES_CSV)


def _listed_shards(output: str) -> set[str]:
    """Shard files (``view/name``) that the manifest or a state file of ``output`` lists.

    A manifest or state file that cannot be read lists nothing (the shards it named
    still carry tfgenre's shard names).
    """
    listed: set[str] = set()
    manifest_path = io.join(output, layout.MANIFEST)
    if io.exists(manifest_path):
        try:
            info = RecordsInfo.load(output)
        except (OSError, TfgenreError, KeyError, TypeError, ValueError):
            info = None  # damaged: its shards still carry tfgenre's shard names
        if info is not None:
            listed.update(s.file for split in info.splits.values() for s in split.shards)
    state_dir = io.join(output, STATE_DIR)
    if io.isdir(state_dir):
        for name in io.listdir(state_dir):
            if not name.endswith(".json") or name == layout.STATE_CONFIG:
                continue
            try:
                state = UnitState.load(io.join(state_dir, name))
            except (OSError, RecordsError):
                continue
            listed.update(s.file for s in state.shards)
    return listed


def survey_output(output: str) -> tuple[list[str], list[str]]:
    """Sorts what is in a records folder into what tfgenre wrote and everything else.

    tfgenre's are: ``.state/`` files (``config.json`` and unit states), the manifest,
    ``features.csv``, and in the view folders the shard files that the manifest or a
    state file lists, or that carry tfgenre's shard names (a unit cut off before its
    state was written). Only call this for a folder that holds tfgenre records (a
    ``.state/config.json`` or manifest). Hidden entries other than ``.state`` are
    neither: they are left alone.

    Returns:
        (tfgenre's files, other entries), as paths relative to ``output``, sorted.
    """
    listed = _listed_shards(output)
    owned: list[str] = []
    foreign: list[str] = []
    for name in sorted(io.listdir(output)):
        name = name.rstrip("/")
        path = io.join(output, name)
        if name == STATE_DIR:
            for sub in sorted(io.listdir(path)):
                sub = sub.rstrip("/")
                (owned if _STATE_FILE_RE.match(sub) else foreign).append(f"{name}/{sub}")
        elif name.startswith("."):
            continue
        elif name in VIEW_NAMES and io.isdir(path):
            for sub in sorted(io.listdir(path)):
                sub = sub.rstrip("/")
                rel = f"{name}/{sub}"
                if rel in listed or _is_shard_name(sub):
                    owned.append(rel)
                elif not sub.startswith("."):
                    foreign.append(rel)
        elif name.removesuffix(layout.INCOMPLETE_SUFFIX) in _OWN_TOP_FILES:
            owned.append(name)
        else:
            foreign.append(name + ("/" if io.isdir(path) else ""))
    return owned, foreign


def _is_shard_name(name: str) -> bool:
    try:
        naming.parse_shard_name(name.removesuffix(layout.INCOMPLETE_SUFFIX))
    except ConfigError:
        return False
    return True


def _remove_owned(output: str, owned: list[str]) -> None:
    """Deletes tfgenre's files, then the folders they leave empty (local only)."""
    for rel in owned:
        io.remove(io.join(output, rel))
    if io.is_remote(output):
        return
    for name in (STATE_DIR, *VIEW_NAMES):
        folder = os.path.join(output, name)
        if os.path.isdir(folder) and not os.listdir(folder):
            os.rmdir(folder)


def _listing(names: list[str], limit: int = 8) -> str:
    more = f", ... ({len(names) - limit} more)" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more


def prepare_output(cfg: WriterConfig, content_hash: str, overwrite: bool) -> None:
    """Creates the output folder, or checks it holds records of this same config.

    tfgenre never deletes what it did not write: ``overwrite`` removes only the files
    :func:`survey_output` proves are tfgenre's, and refuses when anything else is there.

    Raises:
        RecordsError: when the folder holds anything but tfgenre records, or records of
            another config and ``overwrite`` is False; the message lists what is in
            the way.
    """
    state_config = io.join(cfg.output, STATE_DIR, layout.STATE_CONFIG)
    manifest_path = io.join(cfg.output, layout.MANIFEST)
    previous = None
    for path in (state_config, manifest_path):
        if io.exists(path):
            previous = read_config_hash(path)
            break
    if previous is None and io.exists(cfg.output) and io.isdir(cfg.output):
        others = sorted(n.rstrip("/") for n in io.listdir(cfg.output) if not n.startswith("."))
        if others:
            raise RecordsError(
                f"output {cfg.output!r} is not empty and holds no tfgenre records "
                f"({_listing(others)}); choose an empty or new folder (tfgenre does not "
                "write into or delete files it did not write)"
            )
    if previous is not None:
        owned, foreign = survey_output(cfg.output)
        changed = previous != content_hash
        if foreign and (overwrite or changed):
            what = "records of another configuration" if changed else "records"
            raise RecordsError(
                f"output {cfg.output!r} holds {what} and also files tfgenre did not "
                f"write: {_listing(foreign)}. tfgenre deletes only its own files; move "
                "those out or choose another folder"
            )
        if changed and not overwrite:
            raise RecordsError(
                f"output {cfg.output!r} holds records of another configuration "
                f"(config_hash {previous[:12]} != {content_hash[:12]}); "
                "pass --overwrite to replace them"
            )
        if overwrite:  # start from scratch: nothing of an earlier write is reused
            logger.info(
                "--overwrite: removing %d files tfgenre wrote in %s", len(owned), cfg.output
            )
            _remove_owned(cfg.output, owned)
    io.makedirs(io.join(cfg.output, STATE_DIR))
    WriteStamp(content_hash, cfg.content_dict()).write(state_config)
