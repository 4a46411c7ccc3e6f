"""What data of its source a run used: its split names, how a CSV was split, its fold.

:class:`DataSelection` is the part of ``run.json`` that lets evaluate, export and tune
read a run's splits again exactly as fit did, without the fit config: the names of the
train, validation and evaluation splits, how a features CSV was split (a named split,
or fractions and a seed when the CSV has no split column), whether corrupt records were
skipped, and for one fold of a cross-validation the fold with its track ids
(:class:`~tfgenre.splitting.fold_spec.FoldSpec`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from tfgenre.splitting.fold_spec import FoldSpec


@dataclasses.dataclass(frozen=True)
class DataSelection:
    """The splits of its data a run trained, validated and was evaluated on.

    Attributes:
        train_split: The split trained on.
        val_split: The split validated on (it may be absent from the data).
        eval_split: The split evaluated at the end of fit.
        named_split: A features CSV split by a split shipped with tfgenre
            (``fault_filtered``), else ``""``.
        fractions: Split fractions of a features CSV without a split column.
        seed: Seed of that split (and of the fold assignment).
        skip_corrupt: Unreadable records were skipped (counted in ``skipped_corrupt``).
        fold: One fold of a cross-validation, with its tracks; None otherwise.
    """

    train_split: str = "train"
    val_split: str = "validation"
    eval_split: str = "test"
    named_split: str = ""
    fractions: Mapping[str, float] = dataclasses.field(default_factory=dict)
    seed: int = 0
    skip_corrupt: bool = False
    fold: FoldSpec | None = None

    def to_json(self) -> dict[str, Any]:
        """The selection as JSON."""
        return {
            "train_split": self.train_split,
            "val_split": self.val_split,
            "eval_split": self.eval_split,
            "named_split": self.named_split,
            "fractions": dict(self.fractions),
            "seed": self.seed,
            "skip_corrupt": self.skip_corrupt,
            "fold": None if self.fold is None else self.fold.to_json(),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> DataSelection:
        """Inverse of :meth:`to_json` (None: the defaults)."""
        data = data or {}
        fold = data.get("fold")
        return cls(
            train_split=str(data.get("train_split") or "train"),
            val_split=str(data.get("val_split") or "validation"),
            eval_split=str(data.get("eval_split") or "test"),
            named_split=str(data.get("named_split") or ""),
            fractions={str(k): float(v) for k, v in (data.get("fractions") or {}).items()},
            seed=int(data.get("seed") or 0),
            skip_corrupt=bool(data.get("skip_corrupt")),
            fold=None if fold is None else FoldSpec.from_json(fold),
        )

    @classmethod
    def from_fit_section(
        cls, fit: Mapping[str, Any], split_policy: Mapping[str, Any]
    ) -> DataSelection:
        """The selection of a run written before run.json kept it.

        Args:
            fit: The ``fit`` section of the run's ``config.yaml`` (as written).
            split_policy: The run's ``split_policy`` (a fold's assignment facts).

        Returns:
            The selection; a fold's :class:`FoldSpec` has no tracks (they were not kept).
        """
        seed = int(fit.get("seed") or 0)
        fold = None
        if fit.get("fold") is not None and int(fit.get("folds") or 0) >= 2:
            fold = FoldSpec(
                k=int(fit["folds"]),
                fold=int(fit["fold"]),
                seed=seed,
                grouped_by=str(split_policy.get("grouped_by") or "track"),
                validation=float(split_policy.get("validation") or 0.0),
                total_tracks=int(split_policy.get("tracks") or 0),
            )
        fractions = {}
        if fit.get("features_csv"):  # records carry the split they were written with
            fractions = {str(k): float(v) for k, v in (fit.get("splits") or {}).items()}
        return cls(
            train_split=str(fit.get("train_split") or "train"),
            val_split=str(fit.get("val_split") or "validation"),
            eval_split=str(fit.get("eval_split") or "test"),
            named_split=str(fit.get("named_split") or ""),
            fractions=fractions,
            seed=seed,
            skip_corrupt=bool(fit.get("skip_corrupt")),
            fold=fold,
        )
