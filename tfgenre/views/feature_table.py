"""Features CSV tables (the Kaggle GTZAN layout): read, checked, split into arrays.

:func:`load_feature_table` reads a CSV of 57 engineered features per row (whole
tracks or segments) into a :class:`FeatureTable`: numeric columns checked, rows split
by a named split list, a split column or a grouped random split, with the evaluation
protocol that split stands for. :func:`fit_feature_table` reads it as a fit config did.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

import numpy as np

from tfgenre.core.framing import Framing, features_csv_framing
from tfgenre.errors import ConfigError
from tfgenre.splitting.protocols import (
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

logger = logging.getLogger(__name__)


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

    @property
    def framing(self) -> Framing:
        """How the rows' audio was cut (:func:`~tfgenre.core.framing.features_csv_framing`)."""
        return features_csv_framing(self.window)

    def stats(self) -> tuple[np.ndarray, np.ndarray]:
        """Train-split mean and std (``stats.standardising_std``), float64 ``(d,)``."""
        x = self.splits["train"][0].astype(np.float64)
        from tfgenre.core.stats import standardising_std

        return x.mean(axis=0), standardising_std(x.std(axis=0))

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

    from tfgenre.core import io
    from tfgenre.core.tracks import Track
    from tfgenre.splitting.splits import assign_splits

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
