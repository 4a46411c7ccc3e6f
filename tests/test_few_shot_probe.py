"""The few-shot probe's scoring: Wilson intervals and track decisions by mean probability."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.few_shot_probe import track_accuracy, wilson


def test_wilson_interval_contains_the_proportion_and_narrows_with_n() -> None:
    low, high = wilson(15, 20)
    assert low < 0.75 < high
    assert (0.531, 0.888) == pytest.approx((low, high), abs=1e-3)
    wide, narrow = wilson(15, 20), wilson(150, 200)
    assert narrow[1] - narrow[0] < wide[1] - wide[0]
    assert wilson(0, 0) == (0.0, 1.0)


def test_track_accuracy_decides_each_track_by_its_rows() -> None:
    rng = np.random.default_rng(0)
    centres = np.eye(3) * 5
    y = np.repeat(np.array(["a", "b", "c"]), 8)
    x = centres[np.repeat([0, 1, 2], 8)] + rng.normal(0, 0.3, (24, 3))
    tracks = np.repeat(np.arange(6), 4)  # two tracks per class, four rows each
    train = np.isin(tracks, [0, 2, 4])
    assert track_accuracy(x, y, tracks, train, ~train) == 3
    y_wrong = y.copy()
    y_wrong[~train] = np.roll(y[~train], 4)  # test labels shifted to another class
    assert track_accuracy(x, y_wrong, tracks, train, ~train) == 0
