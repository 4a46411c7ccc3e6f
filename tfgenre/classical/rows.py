"""Feature rows: a vector view (``features``, ``embeddings``) of records, or a features CSV."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import numpy as np

from tfgenre.errors import ConfigError
from tfgenre.splitting.protocols import UNKNOWN_PROTOCOL, Protocol


@dataclasses.dataclass(frozen=True)
class FeatureRows:
    """Engineered-feature rows with their labels, tracks and splits.

    Attributes:
        x: Features, float64 ``(n, d)``.
        y: Class indices, int64 ``(n,)``.
        track_ids: Track of each row, ``(n,)`` object.
        splits: Split of each row, ``(n,)`` object.
        feature_names: The ``d`` feature names.
        labels: Class names in index order.
        protocol: How the rows were split (see :mod:`tfgenre.splitting.protocols`).
        excluded: Tracks left out on purpose (in no list of the named split).
    """

    x: np.ndarray
    y: np.ndarray
    track_ids: np.ndarray
    splits: np.ndarray
    feature_names: tuple[str, ...]
    labels: tuple[str, ...]
    protocol: Protocol = UNKNOWN_PROTOCOL
    excluded: tuple[str, ...] = ()

    @property
    def segments(self) -> bool:
        """Whether rows are segments (some track has several rows)."""
        return len(set(self.track_ids.tolist())) < len(self.track_ids)


def load_feature_rows(
    *,
    records: str = "",
    features_csv: str = "",
    splits: Mapping[str, float] | None = None,
    seed: int = 0,
    named_split: str = "",
    view: str = "features",
) -> FeatureRows:
    """Reads the rows of every split from a features CSV or a records folder.

    Args:
        records: Records folder with the vector view ``view``.
        features_csv: A features CSV (used when ``records`` is empty).
        splits: Fractions for a CSV without a split column.
        seed: Split seed for such a CSV.
        named_split: A named split for the CSV (``fault_filtered``).
        view: The records' view to read (``features`` or ``embeddings``).

    Raises:
        ConfigError: when neither source is given, or the CSV is malformed.
        RecordsError: when the records lack the view.
    """
    xs, ys, ids, names_of_split = [], [], [], []
    protocol, excluded = UNKNOWN_PROTOCOL, ()
    if records:
        from tfgenre.records.info import RecordsInfo
        from tfgenre.records.reader import to_numpy_arrays

        m = RecordsInfo.load(records)
        feature_names = tuple(m.view(view).feature_names or ())
        labels = tuple(m.labels)
        protocol, excluded = m.protocol, tuple(m.excluded)
        for split in m.split_names:
            arrays = to_numpy_arrays(m, view, split)
            xs.append(arrays["data"].astype(np.float64))
            ys.append(arrays["label"])
            ids.append(np.asarray([str(t) for t in arrays["track_id"]], dtype=object))
            names_of_split.append(np.full(len(arrays["label"]), split, dtype=object))
        if not feature_names and xs:
            feature_names = tuple(f"f{i}" for i in range(xs[0].shape[1]))
    elif features_csv:
        from tfgenre.views.feature_table import load_feature_table

        table = load_feature_table(
            features_csv, dict(splits) if splits else None, seed=seed, named_split=named_split
        )
        feature_names, labels = table.feature_names, table.labels
        protocol, excluded = table.protocol, table.excluded
        for split, (x, y, t) in table.splits.items():
            xs.append(x.astype(np.float64))
            ys.append(y)
            ids.append(np.asarray(t, dtype=object))
            names_of_split.append(np.full(len(y), split, dtype=object))
    else:
        raise ConfigError("give records (a records folder) or features_csv")
    if not xs:
        raise ConfigError(f"no rows in {records or features_csv}")
    return FeatureRows(
        np.concatenate(xs),
        np.concatenate(ys).astype(np.int64),
        np.concatenate(ids),
        np.concatenate(names_of_split),
        tuple(feature_names),
        tuple(labels),
        protocol,
        excluded,
    )
