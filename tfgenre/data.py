"""tf.data input pipelines: from a records folder (or a features CSV) to model batches.

Training pipelines interleave shards in parallel, parse and decode whole batches,
optionally cache, shuffle, augment and prefetch, all with AUTOTUNE. Evaluation
pipelines read shards in manifest order so predictions line up with
:func:`split_index`. Labels are one-hot float32 so that mixup and label smoothing work
with the same loss.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

import numpy as np

from tfgenre.errors import ConfigError, RecordsError
from tfgenre.protocols import (
    CSV_COLUMN,
    UNKNOWN_PROTOCOL,
    Protocol,
    get_named_split,
    looks_like_gtzan,
    matches_named_split,
    named_split_assignment,
    random_protocol,
    warn_if_leaky,
)
from tfgenre.records.manifest import Manifest
from tfgenre.records.reader import parse_batch

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class AugmentConfig:
    """Training-only augmentation; every part is off by default.

    Attributes:
        time_masks: SpecAugment time masks per mel example.
        time_mask_frames: Maximum width of a time mask, in frames.
        freq_masks: SpecAugment frequency masks per mel example.
        freq_mask_bins: Maximum height of a frequency mask, in mel bins.
        mixup_alpha: Beta(alpha, alpha) mixup of batch pairs (0: off).
        noise_std: Std of additive Gaussian noise (raw: in waveform units; mel: dB;
            features: in units of each feature's train std).
        gain_db: Random gain in [-gain_db, +gain_db] dB (raw: scales the waveform;
            mel: shifts the dB values).
    """

    time_masks: int = 0
    time_mask_frames: int = 16
    freq_masks: int = 0
    freq_mask_bins: int = 12
    mixup_alpha: float = 0.0
    noise_std: float = 0.0
    gain_db: float = 0.0

    def __post_init__(self) -> None:
        for key in ("time_masks", "time_mask_frames", "freq_masks", "freq_mask_bins"):
            if getattr(self, key) < 0:
                raise ConfigError(f"augment.{key}={getattr(self, key)} must be >= 0")
        for key in ("mixup_alpha", "noise_std", "gain_db"):
            if getattr(self, key) < 0:
                raise ConfigError(f"augment.{key}={getattr(self, key)} must be >= 0")

    @property
    def active(self) -> bool:
        """Whether any augmentation is on."""
        return bool(
            self.time_masks or self.freq_masks or self.mixup_alpha or self.noise_std or self.gain_db
        )


def _tf() -> Any:
    import tensorflow as tf

    return tf


# ----------------------------------------------------------------------------- augmentation


def spec_augment(x: Any, cfg: AugmentConfig, fill: float) -> Any:
    """SpecAugment masks on a batch ``(b, n_mels, frames, 1)``; masked cells get ``fill``."""
    tf = _tf()
    shape = tf.shape(x)
    b, f, t = shape[0], shape[1], shape[2]
    keep = tf.ones_like(x, dtype=tf.bool)

    def masks(count: int, max_width: int, size: Any, axis: int) -> Any:
        mask = tf.zeros((b, size), dtype=tf.bool)
        positions = tf.range(size)[tf.newaxis, :]
        for _ in range(count):
            width = tf.random.uniform((b, 1), 0, max_width + 1, dtype=tf.int32)
            room = tf.cast(tf.maximum(size - width + 1, 1), tf.float32)
            start = tf.cast(tf.floor(tf.random.uniform((b, 1)) * room), tf.int32)
            mask |= (positions >= start) & (positions < start + width)
        mask = mask[:, :, tf.newaxis, tf.newaxis] if axis == 1 else mask[:, tf.newaxis, :, None]
        return mask

    if cfg.freq_masks:
        keep &= ~masks(cfg.freq_masks, cfg.freq_mask_bins, f, 1)
    if cfg.time_masks:
        keep &= ~masks(cfg.time_masks, cfg.time_mask_frames, t, 2)
    return tf.where(keep, x, tf.cast(fill, x.dtype))


def make_augment(view: str, cfg: AugmentConfig, feature_std: np.ndarray | None = None) -> Any:
    """A batch function ``(x, y) -> (x, y)`` applying ``cfg`` for ``view``."""
    tf = _tf()

    def augment(x: Any, y: Any) -> tuple[Any, Any]:
        b = tf.shape(x)[0]
        rank = len(x.shape)
        per_example = tf.concat([[b], tf.ones([rank - 1], tf.int32)], axis=0)
        if cfg.gain_db:
            gain = tf.random.uniform(per_example, -cfg.gain_db, cfg.gain_db)
            x = x + gain if view == "mel" else (x * 10.0 ** (gain / 20.0) if view == "raw" else x)
        if cfg.noise_std:
            scale = cfg.noise_std
            if view == "features" and feature_std is not None:
                scale = cfg.noise_std * tf.constant(feature_std, tf.float32)
            x = x + tf.random.normal(tf.shape(x)) * scale
        if view == "mel" and (cfg.time_masks or cfg.freq_masks):
            x = spec_augment(x, cfg, fill=tf.reduce_min(x))
        if cfg.mixup_alpha:
            g1 = tf.random.gamma([b], cfg.mixup_alpha)
            g2 = tf.random.gamma([b], cfg.mixup_alpha)
            lam = g1 / (g1 + g2)
            perm = tf.random.shuffle(tf.range(b))
            lx = tf.reshape(lam, per_example)
            x = lx * x + (1.0 - lx) * tf.gather(x, perm)
            ly = lam[:, tf.newaxis]
            y = ly * y + (1.0 - ly) * tf.gather(y, perm)
        return x, y

    return augment


# ----------------------------------------------------------------------------- records


@dataclasses.dataclass(frozen=True)
class SplitIndex:
    """Per-example metadata of a split, in evaluation order."""

    track_id: np.ndarray  # (n,) str
    segment: np.ndarray  # (n,) int64
    label: np.ndarray  # (n,) int64


@dataclasses.dataclass(frozen=True)
class TrackSelection:
    """Chosen tracks read from the shards of several splits (a cross-validation fold).

    Attributes:
        splits: The record splits whose shards are read, in order.
        track_ids: The tracks kept (every other example is filtered out in tf.data).
        num_examples: Examples (segments) of the kept tracks.
    """

    splits: tuple[str, ...]
    track_ids: frozenset[str]
    num_examples: int


def track_filter(track_ids: frozenset[str]) -> Any:
    """A ``tf.data`` predicate on serialised Examples: is the track in ``track_ids``?

    Uses a ``tf.lookup.StaticHashTable`` of the ids; only ``track_id`` is parsed.
    """
    tf = _tf()
    keys = tf.constant(sorted(track_ids) or [""], tf.string)
    values = tf.constant([1] * len(track_ids) or [0], tf.int64)
    table = tf.lookup.StaticHashTable(tf.lookup.KeyValueTensorInitializer(keys, values), 0)
    spec = {"track_id": tf.io.FixedLenFeature([], tf.string)}

    def keep(serialized: Any) -> Any:
        return table.lookup(tf.io.parse_single_example(serialized, spec)["track_id"]) > 0

    return keep


def records_tracks(
    manifest: Manifest, view: str | None = None, skip_corrupt: bool = False
) -> dict[str, tuple[int, int]]:
    """``{track_id: (label index, segments)}`` of every split of the records.

    Reads only ``track_id`` and ``label`` from the shards of ``view`` (by default the
    view with the fewest bytes: every view holds the same tracks and segments).
    """
    tf = _tf()
    if view is None:

        def view_bytes(name: str) -> int:
            return sum(sh.num_bytes for s in manifest.splits for sh in manifest.shards(name, s))

        view = min(manifest.views, key=view_bytes)
    paths = [p for s in manifest.splits for p in manifest.shard_paths(view, s)]
    spec = {
        "track_id": tf.io.FixedLenFeature([], tf.string),
        "label": tf.io.FixedLenFeature([], tf.int64),
    }
    ds = tf.data.Dataset.from_tensor_slices(paths).interleave(
        _file_dataset(skip_corrupt), cycle_length=max(min(len(paths), 8), 1)
    )
    ds = ds.batch(4096).map(lambda s: tf.io.parse_example(s, spec))
    out: dict[str, tuple[int, int]] = {}
    for batch in ds.as_numpy_iterator():
        for tid, label in zip(batch["track_id"], batch["label"]):
            key = tid.decode()
            _, n = out.get(key, (int(label), 0))
            out[key] = (int(label), n + 1)
    return out


def _file_dataset(skip_corrupt: bool) -> Any:
    """The per-shard reader for interleave (skipping unreadable records on request)."""
    tf = _tf()

    def read(path: Any) -> Any:
        ds = tf.data.TFRecordDataset(path, buffer_size=1 << 20)
        return ds.ignore_errors(log_warning=True) if skip_corrupt else ds

    return read


def records_dataset(
    manifest: Manifest,
    view: str,
    split: str,
    *,
    batch_size: int,
    training: bool,
    seed: int = 0,
    cache: bool = False,
    shuffle_buffer: int = 4096,
    augment: AugmentConfig | None = None,
    drop_remainder: bool = False,
    skip_corrupt: bool = False,
    with_meta: bool = False,
    select: TrackSelection | None = None,
) -> Any:
    """A batched dataset of ``(x, y_onehot)`` from records.

    Args:
        manifest: The records' manifest.
        view: ``raw``, ``mel`` or ``features``.
        split: Split name.
        batch_size: Global batch size.
        training: Shuffle files and examples, augment, repeat order per epoch.
        seed: Shuffle/augment seed.
        cache: Cache decoded examples in memory after the first epoch.
        shuffle_buffer: Examples in the shuffle buffer.
        augment: Training-only augmentation.
        drop_remainder: Drop the last partial batch (TPU needs static shapes).
        skip_corrupt: Skip unreadable records instead of failing.
        with_meta: Yield ``(x, y, meta)`` with ``track_id``/``segment`` (evaluation).
        select: Read these tracks from the shards of its splits instead of ``split``
            (``split`` then only names the selection in messages).

    Returns:
        ``tf.data.Dataset`` of ``x`` float32 ``(b, *shape)`` and ``y`` float32
        ``(b, num_classes)``.
    """
    tf = _tf()
    entry = manifest.view(view)
    if select is not None:
        paths = [p for s in select.splits for p in manifest.shard_paths(view, s)]
    else:
        paths = manifest.shard_paths(view, split)
    if not paths:
        raise RecordsError(f"split {split!r} of view {view!r} has no shards in {manifest.root}")
    num_classes = len(manifest.labels)
    files = tf.data.Dataset.from_tensor_slices(paths)
    if training:
        files = files.shuffle(len(paths), seed=seed, reshuffle_each_iteration=True)
    ds = files.interleave(
        _file_dataset(skip_corrupt),
        cycle_length=min(len(paths), 8),
        num_parallel_calls=tf.data.AUTOTUNE,
        deterministic=True,
    )
    if select is not None:
        ds = ds.filter(track_filter(select.track_ids))
    if cache:
        ds = ds.cache()
    if training:
        ds = ds.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(
        batch_size,
        drop_remainder=drop_remainder,
        num_parallel_calls=tf.data.AUTOTUNE,
        deterministic=True,
    )
    if not skip_corrupt:  # a known length gives Keras its step count and progress bar
        n = select.num_examples if select else int(manifest.split(split)["num_examples"])
        batches = n // batch_size if drop_remainder else -(-n // batch_size)
        ds = ds.apply(tf.data.experimental.assert_cardinality(batches))
    parse = parse_batch(entry)

    def to_xy(serialized: Any) -> Any:
        parsed = parse(serialized)
        y = tf.one_hot(parsed["label"], num_classes, dtype=tf.float32)
        if with_meta:
            return parsed["data"], y, {"track_id": parsed["track_id"], "segment": parsed["segment"]}
        return parsed["data"], y

    ds = ds.map(to_xy, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    if training and augment is not None and augment.active:
        std = None
        if view == "features" and "std" in entry:
            std = np.asarray(entry["std"], np.float32)
        ds = ds.map(make_augment(view, augment, std), num_parallel_calls=tf.data.AUTOTUNE)
    options = tf.data.Options()
    options.deterministic = True
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return ds.with_options(options).prefetch(tf.data.AUTOTUNE)


def split_index(
    manifest: Manifest,
    view: str,
    split: str,
    skip_corrupt: bool = False,
    select: TrackSelection | None = None,
) -> SplitIndex:
    """Track ids, segments and labels in evaluation order (same as ``training=False``)."""
    ds = records_dataset(
        manifest,
        view,
        split,
        batch_size=1024,
        training=False,
        skip_corrupt=skip_corrupt,
        with_meta=True,
        select=select,
    )
    ids, segs, labels = [], [], []
    for _, y, meta in ds.as_numpy_iterator():
        ids.extend(t.decode() for t in meta["track_id"])
        segs.append(meta["segment"])
        labels.append(np.argmax(y, axis=1))
    return SplitIndex(
        np.asarray(ids, dtype=object),
        np.concatenate(segs) if segs else np.zeros(0, np.int64),
        np.concatenate(labels) if labels else np.zeros(0, np.int64),
    )


def find_corrupt_shards(paths: list[str]) -> dict[str, str]:
    """Reads every shard; returns ``{path: error}`` for those that cannot be read through."""
    tf = _tf()
    bad = {}
    for path in paths:
        try:
            for _ in tf.data.TFRecordDataset(path):
                pass
        except (tf.errors.DataLossError, tf.errors.InvalidArgumentError) as err:
            bad[path] = err.message.splitlines()[0] if err.message else type(err).__name__
    return bad


def count_readable(paths: list[str]) -> int:
    """Records that can be read (stopping at the first corrupt record of each shard)."""
    tf = _tf()
    total = 0
    for path in paths:
        total += int(tf.data.TFRecordDataset(path).ignore_errors().reduce(0, lambda n, _: n + 1))
    return total


# ----------------------------------------------------------------------------- features CSV


@dataclasses.dataclass(frozen=True)
class FeatureTable:
    """A features CSV split into arrays.

    Attributes:
        feature_names: The feature columns, in order.
        labels: Label names in index order.
        splits: ``{split: (x float32 (n, d), y int64 (n,), track_ids (n,))}``.
        policy: How the splits were made.
        window: What one row describes (``whole_track`` or a number of samples).
        protocol: The evaluation protocol of the splits.
        excluded: Tracks left out on purpose (in no list of the named split), sorted.
    """

    feature_names: tuple[str, ...]
    labels: tuple[str, ...]
    splits: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]
    policy: dict[str, Any]
    window: str | int
    protocol: Protocol = UNKNOWN_PROTOCOL
    excluded: tuple[str, ...] = ()

    def stats(self) -> tuple[np.ndarray, np.ndarray]:
        """Train-split mean and std (std 0 -> 1), float64 ``(d,)``."""
        x = self.splits["train"][0].astype(np.float64)
        std = x.std(axis=0)
        return x.mean(axis=0), np.where(std > 0, std, 1.0)

    def warn_if_leaky(self, path: str) -> str | None:
        """Logs the one-line warning when this table is GTZAN split other than fault-filtered.

        Returns:
            The message, or None when there is nothing to warn about.
        """
        return warn_if_leaky(self.protocol, f"the GTZAN table {path}", "--split fault_filtered")


#: Columns of a features CSV that name a track's group (artist), first found is used.
GROUP_COLUMNS: tuple[str, ...] = ("group", "artist", "artist_id")

NON_FEATURE_COLUMNS = (
    "filename",
    "length",
    "label",
    "track_id",
    "segment",
    "split",
    *GROUP_COLUMNS,
)


def _check_feature_columns(path: str, names: tuple[str, ...]) -> None:
    """Refuses a table with most, but not all, of the 57 features of the GTZAN table.

    A table may hold any features; one that holds more than half of
    :data:`tfgenre.views.features.FEATURE_NAMES` is taken for that table, and a column
    missing from it is a mistake (the model would silently train on fewer features).
    """
    from tfgenre.views.features import FEATURE_NAMES

    known = [n for n in FEATURE_NAMES if n in names]
    missing = [n for n in FEATURE_NAMES if n not in names]
    if missing and len(known) > len(FEATURE_NAMES) // 2:
        raise ConfigError(
            f"features CSV {path!r} lacks feature column(s) {', '.join(missing)}: it has "
            f"{len(known)} of the {len(FEATURE_NAMES)} features of the GTZAN table "
            "(tfgenre.views.features.FEATURE_NAMES), and a model needs them all"
        )


def _numeric_features(path: str, table: Any, names: tuple[str, ...]) -> np.ndarray:
    """The feature columns as float32 ``(n, d)``; names the first bad cell otherwise.

    Raises:
        ConfigError: naming the column and the file line (the header is line 1) of the
            first cell that is empty, not a number, NaN or infinite.
    """
    import pandas as pd

    columns = []
    for name in names:
        raw = table[name]
        numbers = pd.to_numeric(raw, errors="coerce").to_numpy(np.float64)
        bad = np.flatnonzero(~np.isfinite(numbers))
        if bad.size:
            row = int(bad[0])
            cell = raw.iloc[row]
            what = "is empty or NaN" if pd.isna(cell) else f"is {str(cell)!r}, not a finite number"
            more = f" ({bad.size} bad cells in this column)" if bad.size > 1 else ""
            raise ConfigError(
                f"features CSV {path!r}, line {row + 2}, column {name!r}: the value {what}{more}"
            )
        columns.append(numbers)
    return np.stack(columns, axis=1).astype(np.float32)


def table_track_ids(table: Any) -> np.ndarray:
    """The track of each row of a features table (a pandas DataFrame), ``(n,)`` str.

    ``track_id`` when the table has it; else from ``filename`` (``blues.00000.wav`` and
    ``blues.00000.3.wav`` both belong to ``blues.00000``); else the row number.
    """
    if "track_id" in table.columns:
        return table["track_id"].astype(str).to_numpy()
    if "filename" in table.columns:
        # strip the extension, then a segment index that follows a track number
        stems = table["filename"].astype(str).str.replace(r"\.\w+$", "", regex=True)
        return stems.str.replace(r"^(.+\.\d+)\.\d+$", r"\1", regex=True).to_numpy()
    return np.asarray([str(i) for i in range(len(table))])


def csv_track_groups(path: str) -> dict[str, str]:
    """``{track_id: group}`` from a features CSV's group column (:data:`GROUP_COLUMNS`).

    Empty when the CSV has no group column; rows with an empty group are left out.

    Raises:
        ConfigError: when the file does not exist.
    """
    import pandas as pd


    try:
        header = pd.read_csv(path, nrows=0)
    except FileNotFoundError as err:
        raise ConfigError(f"features CSV {path!r} does not exist") from err
    column = next((c for c in GROUP_COLUMNS if c in header.columns), None)
    if column is None:
        return {}
    wanted = [c for c in ("track_id", "filename", column) if c in header.columns]
    table = pd.read_csv(path, usecols=wanted, dtype=str, keep_default_na=True)
    ids = table_track_ids(table)
    return {str(t): str(g) for t, g in zip(ids, table[column]) if isinstance(g, str) and g.strip()}


def refold_table(
    table: FeatureTable, split_of: dict[str, str], policy: dict[str, Any]
) -> FeatureTable:
    """``table`` with its rows (all splits pooled) split again by track.

    Args:
        table: The table as read.
        split_of: ``{track_id: split}`` for every track of the table.
        policy: The new split policy.

    Raises:
        ConfigError: when a track of the table has no split in ``split_of``.
    """
    x = np.concatenate([v[0] for v in table.splits.values()])
    y = np.concatenate([v[1] for v in table.splits.values()])
    ids = np.concatenate([v[2] for v in table.splits.values()])
    missing = sorted({str(t) for t in ids} - set(split_of))
    if missing:
        raise ConfigError(f"track {missing[0]!r} (and {len(missing) - 1} more) have no fold split")
    split_col = np.asarray([split_of[str(t)] for t in ids])
    splits = {}
    for name in ("train", "validation", "test"):
        mask = split_col == name
        if mask.any():
            splits[name] = (x[mask], y[mask], ids[mask])
    return dataclasses.replace(table, splits=splits, policy=policy)


def _named_split_column(
    path: str, track_ids: np.ndarray, named_split: str
) -> tuple[np.ndarray, tuple[str, ...], dict[str, Any]]:
    """The split of each row under a named split; ``""`` for rows in no list.

    Track ids are matched on their last ``/`` part, so the GTZAN table's
    ``blues.00000`` and tfgenre's ``blues/blues.00000`` (folder source) both match.

    Returns:
        (split per row ``(n,)``, excluded track ids sorted, policy).

    Raises:
        ConfigError: for an unknown name, or when no row is in the named split.
    """
    named = get_named_split(named_split)
    assignment = named_split_assignment(named.name)
    split_col = np.asarray(
        [assignment.get(str(t).rsplit("/", 1)[-1], "") for t in track_ids], dtype=object
    )
    if not (split_col != "").any():
        example = ", ".join(sorted(set(map(str, track_ids)))[:3]) or "no rows"
        raise ConfigError(
            f"features CSV {path!r} holds none of the {len(assignment)} clips of the named "
            f"split {named.name!r} ({named.dataset}: track ids like blues.00000, from a "
            f"filename like blues.00000.wav); its track ids look like {example}"
        )
    excluded = tuple(sorted({str(t) for t, s in zip(track_ids, split_col) if not s}))
    excluded_rows = int((split_col == "").sum())
    policy = {
        "kind": "named",
        "name": named.name,
        "protocol": named.protocol.name,
        "excluded_tracks": len(excluded),
        "excluded_rows": excluded_rows,
        "missing_tracks": len(set(assignment) - {str(t).rsplit("/", 1)[-1] for t in track_ids}),
    }
    if excluded:
        logger.info(
            "%s split of %s: %d track(s) (%d rows) are in no list and are excluded (e.g. %s)",
            named.name,
            path,
            len(excluded),
            excluded_rows,
            ", ".join(excluded[:5]),
        )
    return split_col, excluded, policy


def load_feature_table(
    path: str,
    fractions: dict[str, float] | None = None,
    seed: int = 0,
    *,
    named_split: str = "",
) -> FeatureTable:
    """Reads the GTZAN feature table or tfgenre's own features.csv.

    With ``named_split`` (``fault_filtered``) the rows get the split of that shipped
    list and rows of tracks in no list are excluded (see :attr:`FeatureTable.excluded`).
    Otherwise uses the CSV's ``split`` column when there is one, else stratified,
    grouped ``fractions`` (rows of one track, e.g. ``blues.00000.3.wav``, stay together).

    Raises:
        ConfigError: when the file lacks a ``label`` column or feature columns, for an
            unknown ``named_split``, or when no row is in the named split.
    """
    import pandas as pd

    from tfgenre import io
    from tfgenre.sources.base import Track
    from tfgenre.splits import assign_splits

    if named_split:
        get_named_split(named_split)  # an unknown name fails before the file is read
    try:
        table = pd.read_csv(io.join(path) if io.is_remote(path) else path)
    except FileNotFoundError as err:
        raise ConfigError(f"features CSV {path!r} does not exist") from err
    if "label" not in table.columns:
        raise ConfigError(f"features CSV {path!r} has no 'label' column")
    names = tuple(c for c in table.columns if c not in NON_FEATURE_COLUMNS)
    if not names:
        raise ConfigError(f"features CSV {path!r} has no feature columns")
    _check_feature_columns(path, names)
    values = _numeric_features(path, table, names)
    track_ids = table_track_ids(table)
    labels = tuple(sorted(table["label"].astype(str).unique()))
    y = table["label"].astype(str).map({name: i for i, name in enumerate(labels)}).to_numpy()
    gtzan = looks_like_gtzan(set(track_ids.tolist()))
    excluded: tuple[str, ...] = ()
    if named_split:
        split_col, excluded, policy = _named_split_column(path, track_ids, named_split)
        protocol = get_named_split(named_split).protocol
    elif "split" in table.columns and table["split"].notna().all():
        split_col = table["split"].astype(str).to_numpy()
        policy = {"kind": "csv_column"}
        protocol = Protocol(
            CSV_COLUMN, grouping="unknown", dataset="gtzan" if gtzan else None
        )
        if gtzan and matches_named_split(dict(zip(track_ids.tolist(), split_col.tolist()))):
            protocol = get_named_split("fault_filtered").protocol
    else:
        fractions = fractions or {"train": 0.8, "validation": 0.1, "test": 0.1}
        unique = {}
        for tid, lab in zip(track_ids, table["label"].astype(str)):
            unique.setdefault(tid, lab)
        tracks = [Track(tid, "", lab) for tid, lab in unique.items()]
        assigned = {t.track_id: t.split for t in assign_splits(tracks, fractions, seed=seed)}
        split_col = np.asarray([assigned[t] for t in track_ids])
        policy = {"kind": "stratified_grouped", "fractions": dict(fractions), "seed": seed}
        protocol = random_protocol(gtzan=gtzan, artist_groups=False)
    splits = {}
    for name in ("train", "validation", "test"):
        mask = split_col == name
        if mask.any():
            splits[name] = (values[mask], y[mask].astype(np.int64), track_ids[mask])
    if "train" not in splits:
        raise ConfigError(f"features CSV {path!r} gives no train rows")
    window: str | int = "whole_track"
    if "length" in table.columns and "segment" in table.columns and table["segment"].max() > 0:
        window = int(table["length"].iloc[0])
    elif (
        "filename" in table.columns
        and table["filename"].astype(str).str.match(r".*\.\d+\.\d+\.\w+$").all()
    ):
        window = int(table["length"].iloc[0]) if "length" in table.columns else "segment"
    return FeatureTable(names, labels, splits, policy, window, protocol, excluded)


def fit_feature_table(cfg: Any) -> FeatureTable:
    """The features CSV of a fit-like config, split as the run was.

    Reads ``features_csv``, ``splits`` and ``seed``, and ``named_split`` when the
    config has it.
    """
    return load_feature_table(
        cfg.features_csv,
        dict(cfg.splits) if cfg.splits else None,
        seed=cfg.seed,
        named_split=getattr(cfg, "named_split", "") or "",
    )


def array_dataset(
    x: np.ndarray,
    y: np.ndarray,
    num_classes: int,
    *,
    batch_size: int,
    training: bool,
    seed: int = 0,
    augment: AugmentConfig | None = None,
    feature_std: np.ndarray | None = None,
    drop_remainder: bool = False,
) -> Any:
    """A batched ``(x, y_onehot)`` dataset from in-memory arrays (features CSV)."""
    tf = _tf()
    ds = tf.data.Dataset.from_tensor_slices((x.astype(np.float32), y.astype(np.int64)))
    if training:
        ds = ds.shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size, drop_remainder=drop_remainder)
    ds = ds.map(lambda a, b: (a, tf.one_hot(b, num_classes, dtype=tf.float32)))
    if training and augment is not None and augment.active:
        ds = ds.map(make_augment("features", augment, feature_std))
    return ds.prefetch(tf.data.AUTOTUNE)
