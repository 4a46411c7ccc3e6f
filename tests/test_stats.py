"""Tests for tfgenre.core.stats: bootstrap over tracks, paired bootstrap, McNemar, t-interval."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import f1_score

from tfgenre.core.stats import (
    BootstrapSettings,
    bootstrap_counts,
    bootstrap_metrics,
    format_interval,
    macro_f1_from_confusion,
    mcnemar,
    paired_bootstrap,
    t_interval,
)
from tfgenre.errors import ConfigError


def noisy_predictions(n: int, accuracy: float = 0.6, k: int = 5, seed: int = 0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    wrong = (y + rng.integers(1, k, n)) % k
    return y, np.where(rng.random(n) < accuracy, y, wrong)


def test_interval_covers_the_estimate_and_narrows_with_n() -> None:
    widths = []
    for n in (50, 200, 800):
        y, p = noisy_predictions(n)
        got = bootstrap_metrics(y, p, 5)
        accuracy = float(np.mean(y == p))
        lo, hi = got["accuracy_ci"]
        assert lo <= accuracy <= hi
        f1 = f1_score(y, p, labels=list(range(5)), average="macro", zero_division=0)
        assert got["macro_f1_ci"][0] <= f1 <= got["macro_f1_ci"][1]
        widths.append(hi - lo)
    assert widths[0] > widths[1] > widths[2]
    # Roughly the normal approximation 2 * 1.96 * sqrt(p(1-p)/n).
    assert widths[1] == pytest.approx(2 * 1.96 * np.sqrt(0.24 / 200), rel=0.25)


def test_bootstrap_is_seeded_and_states_its_settings() -> None:
    y, p = noisy_predictions(100)
    settings = BootstrapSettings(resamples=200, seed=3)
    first = bootstrap_metrics(y, p, 5, settings=settings)
    assert first == bootstrap_metrics(y, p, 5, settings=settings)
    assert first["ci"] == {
        "method": "bootstrap over tracks", "resamples": 200, "seed": 3, "level": 0.95,
    }
    other = bootstrap_metrics(y, p, 5, settings=BootstrapSettings(resamples=200, seed=4))
    assert other["accuracy_ci"] != first["accuracy_ci"]


def test_segments_resample_whole_tracks() -> None:
    """10 segments per track, all right or all wrong: the interval is that of the tracks."""
    y_tracks, p_tracks = noisy_predictions(60)
    groups = np.repeat(np.arange(60), 10)
    seg = bootstrap_metrics(np.repeat(y_tracks, 10), np.repeat(p_tracks, 10), 5, groups=groups)
    track = bootstrap_metrics(y_tracks, p_tracks, 5)
    assert seg["accuracy_ci"] == pytest.approx(track["accuracy_ci"])
    # Treating the 600 segments as independent would give a much narrower interval.
    naive = bootstrap_metrics(np.repeat(y_tracks, 10), np.repeat(p_tracks, 10), 5)
    assert np.diff(naive["accuracy_ci"])[0] < 0.6 * np.diff(seg["accuracy_ci"])[0]


def test_counts_and_macro_f1_helpers() -> None:
    counts = bootstrap_counts(7, BootstrapSettings(resamples=100))
    assert counts.shape == (100, 7) and (counts.sum(axis=1) == 7).all()
    y, p = noisy_predictions(80, k=4)
    confusion = np.zeros((4, 4))
    np.add.at(confusion, (y, p), 1)
    expected = f1_score(y, p, labels=[0, 1, 2, 3], average="macro", zero_division=0)
    assert macro_f1_from_confusion(confusion) == pytest.approx(expected)
    with pytest.raises(ConfigError, match="resamples=0 is too few.*at least 100"):
        BootstrapSettings(resamples=0)
    with pytest.raises(ConfigError, match="level=1.5"):
        BootstrapSettings(level=1.5)


def test_mcnemar_against_hand_computed_value() -> None:
    # a right only on 3 tracks, b right only on 1: two-sided exact p = 2 * (1 + 4) / 16.
    a = [1, 1, 1, 0, 0, 1, 1]
    b = [0, 0, 0, 0, 1, 1, 1]
    got = mcnemar(np.array(a, bool), np.array(b, bool))
    assert (got["a_only"], got["b_only"]) == (3, 1)
    assert got["p_value"] == pytest.approx(0.625)
    # 10 vs 0 discordant tracks: p = 2 / 2**10.
    assert mcnemar(np.ones(10, bool), np.zeros(10, bool))["p_value"] == pytest.approx(2 / 1024)


def test_identical_runs_differ_by_zero_with_p_one() -> None:
    _, correct = noisy_predictions(100)
    correct = correct % 2 == 0
    diff = paired_bootstrap(correct, correct)
    assert diff["difference"] == 0.0 and diff["difference_ci"] == [0.0, 0.0]
    assert mcnemar(correct, correct)["p_value"] == 1.0


def test_paired_difference_interval() -> None:
    rng = np.random.default_rng(0)
    a = rng.random(300) < 0.7
    b = a & (rng.random(300) < 0.85)  # b loses ~10 points, always on tracks a got right
    got = paired_bootstrap(a, b)
    assert got["difference"] == pytest.approx(a.mean() - b.mean())
    lo, hi = got["difference_ci"]
    assert 0 < lo <= got["difference"] <= hi
    with pytest.raises(ConfigError, match="one shape"):
        paired_bootstrap(a, b[:10])


def test_t_interval() -> None:
    got = t_interval([0.5, 0.6, 0.7])
    # t(0.975, 2) = 4.3027; s = 0.1; half width 4.3027 * 0.1 / sqrt(3) = 0.2484.
    assert got["mean"] == pytest.approx(0.6)
    assert got["ci"] == pytest.approx([0.6 - 0.24841, 0.6 + 0.24841], abs=1e-4)
    assert got["std"] == pytest.approx(np.std([0.5, 0.6, 0.7]))
    assert t_interval([0.4])["ci"] == [0.4, 0.4]
    assert format_interval(0.62, [0.55, 0.69], 2) == "0.62 [0.55, 0.69]"


def test_a_near_constant_column_is_only_centred_not_blown_up():
    from tfgenre.core.stats import STD_FLOOR, standardising_std

    std = standardising_std([0.0, STD_FLOOR / 10, 0.5])
    assert std.tolist() == [1.0, 1.0, 0.5]
