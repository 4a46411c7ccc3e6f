"""Issue 18 items 3-7 at the library level: split fractions on small sets, label gaps,
baselines' fold interval and heading, and what early stopping did."""

from __future__ import annotations

from collections import Counter

import pytest

from tfgenre.core.tracks import Track
from tfgenre.errors import ConfigError
from tfgenre.splitting.split_checks import check_train_labels, missing_labels, train_gaps
from tfgenre.splitting.splits import assign_splits, label_quotas

FRACTIONS = {"train": 0.8, "validation": 0.1, "test": 0.1}


def _tracks(labels: int, per_label: int) -> list[Track]:
    return [Track(f"g{a}/{i}", "x.wav", f"g{a}") for a in range(labels) for i in range(per_label)]


@pytest.mark.parametrize(
    ("per_label", "sizes"),
    [(1, (8, 1, 1)), (2, (16, 2, 2)), (3, (24, 3, 3)), (10, (80, 10, 10))],
)
def test_small_labels_still_honour_the_fractions_overall(per_label, sizes):
    out = assign_splits(_tracks(10, per_label), FRACTIONS, seed=0)
    counts = Counter(t.split for t in out)
    assert (counts["train"], counts["validation"], counts["test"]) == sizes
    # stratified: every label keeps at least one track in train when it has two
    if per_label >= 2:
        assert len({t.label for t in out if t.split == "train"}) == 10


def test_label_quotas_sum_per_label_and_per_split():
    totals = {"a": 2, "b": 2, "c": 3, "d": 7}
    quotas = label_quotas(totals, {"train": 0.7, "validation": 0.15, "test": 0.15}, seed=3)
    assert {label: sum(q.values()) for label, q in quotas.items()} == totals
    per_split = Counter()
    for q in quotas.values():
        per_split.update(q)
    assert per_split == {"train": 10, "validation": 2, "test": 2}


def test_assignment_of_exact_fractions_is_unchanged():
    out = assign_splits(_tracks(3, 10), {"train": 0.6, "test": 0.4}, seed=1)
    for label in ("g0", "g1", "g2"):
        assert Counter(t.split for t in out if t.label == label) == {"train": 6, "test": 4}


def test_missing_labels_and_train_gaps():
    present = {"train": {"a", "b"}, "validation": {"c"}, "test": {"a", "c"}}
    assert missing_labels(("a", "b", "c"), present) == {
        "train": ("c",), "validation": ("a", "b"), "test": ("b",)}  # fmt: skip
    assert train_gaps(present, "train", ["validation", "test"]) == {
        "validation": ("c",), "test": ("c",)}  # fmt: skip
    with pytest.raises(ConfigError, match=r"no example of c, which 'validation' has.*--allow"):
        check_train_labels(present, "train", ["validation", "test"], "records")
    lines = check_train_labels(present, "train", ["validation"], "records", allow=True)
    assert lines == ["split 'train' has no example of c, which 'validation' has"]
    assert check_train_labels({"train": {"a"}, "test": {"a"}}, "train", ["test"], "r") == []


def test_baselines_heading_states_the_records_split_not_the_default(synthetic_records):
    from builders import TINY_RUNS_RECORDS

    from tfgenre.classical.baselines_config import BaselinesConfig
    from tfgenre.classical.sweep import load_rows
    from tfgenre.classical.tables import describe

    records = synthetic_records(TINY_RUNS_RECORDS).records
    cfg = BaselinesConfig(records=str(records))
    text = describe(cfg, load_rows(cfg))
    assert "0.8" not in text, text
    assert "the records' split: train=0.5,validation=0.25,test=0.25, seed 0" in text, text
    assert "train 6, validation 3, test 3 tracks" in text, text


def test_fold_interval_is_clipped_and_few_folds_are_said_wide():
    from tfgenre.classical.sweep import fold_interval, fold_interval_method
    from tfgenre.core.stats import t_interval

    scores = [1.0, 0.5, 1.0]
    assert t_interval(scores)["ci"][1] > 1.0
    low, high = fold_interval(scores)
    assert 0.0 <= low < high == 1.0
    assert "clipped to [0, 1]" in fold_interval_method(3)
    assert "wide with few folds: t = 4.30 at 2 degrees of freedom" in fold_interval_method(3)
    assert "wide" not in fold_interval_method(10)


class _Early:
    """What stopping_summary reads of a keras EarlyStopping after the fit."""

    def __init__(self, stopped_epoch: int, best_epoch: int, best: float) -> None:
        self.stopped_epoch, self.best_epoch, self.best = stopped_epoch, best_epoch, best


def test_stopping_summary_reads_the_history_and_the_callback():
    from tfgenre.training.stopping import BEST_CHECKPOINT, LAST_EPOCH, RESTORED, stopping_summary

    history = {"epoch": [0.0, 1.0, 2.0, 3.0, 4.0],
               "val_accuracy": [0.5, 0.81, 0.7, 0.81, 0.6],
               "loss": [2.0, 1.5, 1.2, 1.1, 1.3]}  # fmt: skip
    out = stopping_summary(history, epochs=30, monitor="val_accuracy", patience=3,
                           early_stopping=_Early(4, 1, 0.81), scored=BEST_CHECKPOINT)
    assert out["summary"] == ("stopped at epoch 5 of 30 (patience 3); scoring the best "
                              "checkpoint, epoch 2, val_accuracy 0.8100")  # fmt: skip
    out = stopping_summary(history, epochs=5, monitor="loss", patience=3,
                           early_stopping=_Early(0, 3, 1.1), scored=RESTORED)
    assert out["summary"] == ("ran all 5 epochs; scoring the best weights early stopping "
                              "restored, epoch 4, loss 1.1000")  # fmt: skip
    out = stopping_summary(history, epochs=5, monitor="loss", patience=0, scored=LAST_EPOCH)
    assert out["summary"] == ("ran all 5 epochs (early stopping off); scoring the last "
                              "epoch's weights, epoch 5, loss 1.3000")  # fmt: skip
    assert not out["stopped_early"] and out["epochs_run"] == 5


def test_pipeline_fit_stage_refuses_train_without_a_label(synthetic_records, tmp_path):
    from builders import RecordsSpec

    from tfgenre.fit import _fit_stage, stage_config

    # one clip per genre at thirds: train, validation and test get one genre each
    spec = RecordsSpec(num_genres=3, clips_per_genre=1, clip_seconds=1.0, views=("features",),
                       window_seconds=0.0, splits=(("train", 0.34), ("validation", 0.33),
                                                   ("test", 0.33)), shards=1)  # fmt: skip
    records = synthetic_records(spec).records
    section = {"records": str(records), "view": "features", "model": "features_mlp",
               "run_dir": str(tmp_path / "run"), "epochs": 1}  # fmt: skip
    with pytest.raises(ConfigError, match="has no example of .*--allow-missing-labels"):
        _fit_stage(section, {})
    assert not (tmp_path / "run").exists()
    cfg, _ = stage_config({**section, "allow_missing_labels": True}, {})
    assert cfg.records == str(records)
    with pytest.raises(ConfigError, match="allow_missing_labels='yes' must be true or false"):
        stage_config({**section, "allow_missing_labels": "yes"}, {})
