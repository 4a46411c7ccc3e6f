"""Tests for tfgenre.models.schedules: values at known steps, serialisation, errors."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from tfgenre.errors import ConfigError
from tfgenre.models.schedules import (
    ConstantSchedule,
    CosineSchedule,
    CyclicalSchedule,
    OneCycleSchedule,
    make_schedule,
)

Schedule = keras.optimizers.schedules.LearningRateSchedule


def values(schedule: Schedule, steps: list[int]) -> np.ndarray:
    return np.array([float(schedule(step)) for step in steps])


def test_constant() -> None:
    schedule = make_schedule("constant", learning_rate=0.01, total_steps=10)
    np.testing.assert_allclose(values(schedule, [0, 5, 1000]), 0.01, rtol=1e-6)


def test_cosine_with_warmup() -> None:
    schedule = make_schedule("cosine", learning_rate=1.0, total_steps=110, warmup_steps=10)
    got = values(schedule, [0, 5, 10, 60, 110, 500])
    np.testing.assert_allclose(got, [0.0, 0.5, 1.0, 0.5, 0.0, 0.0], atol=1e-6)


def test_cosine_alpha_and_warmup_fraction() -> None:
    schedule = make_schedule(
        "cosine", learning_rate=2.0, total_steps=100, warmup_fraction=0.1, alpha=0.1
    )
    assert isinstance(schedule, CosineSchedule) and schedule.warmup_steps == 10
    np.testing.assert_allclose(values(schedule, [10, 100]), [2.0, 0.2], rtol=1e-5)


def test_triangular_repeats_full_peaks() -> None:
    schedule = make_schedule(
        "triangular", learning_rate=1e-3, total_steps=8000, base_lr=1e-5, step_size=1000
    )
    got = values(schedule, [0, 500, 1000, 2000, 3000, 5000])
    np.testing.assert_allclose(got, [1e-5, 5.05e-4, 1e-3, 1e-5, 1e-3, 1e-3], rtol=1e-4)


def test_triangular2_peak_halves_each_cycle() -> None:
    schedule = make_schedule(
        "triangular2", learning_rate=1e-3, total_steps=8000, base_lr=1e-5, step_size=1000
    )
    peaks = values(schedule, [1000, 3000, 5000, 7000]) - 1e-5
    np.testing.assert_allclose(peaks[1:] / peaks[:-1], 0.5, rtol=1e-3)
    np.testing.assert_allclose(float(schedule(2000)), 1e-5, rtol=1e-4)


def test_exp_range_decays() -> None:
    schedule = make_schedule(
        "exp_range", learning_rate=1.0, total_steps=400, base_lr=0.1, step_size=100, gamma=0.99
    )
    got = values(schedule, [0, 100, 300])
    np.testing.assert_allclose(got, [0.1, 0.1 + 0.9 * 0.99**100, 0.1 + 0.9 * 0.99**300], rtol=1e-4)


def test_num_cycles_sets_step_size() -> None:
    schedule = make_schedule("triangular", learning_rate=1.0, total_steps=1000, num_cycles=5)
    assert isinstance(schedule, CyclicalSchedule)
    assert schedule.step_size == 100 and schedule.base_lr == pytest.approx(0.01)


@pytest.mark.parametrize("anneal", ["cos", "linear"])
def test_one_cycle_starts_low_peaks_ends_low(anneal: str) -> None:
    schedule = make_schedule(
        "one_cycle", learning_rate=0.1, total_steps=100, pct_start=0.3, anneal=anneal
    )
    got = values(schedule, list(range(0, 101)))
    assert got[0] == pytest.approx(0.1 / 25, rel=1e-5)
    assert int(np.argmax(got)) == 30 and got[30] == pytest.approx(0.1, rel=1e-5)
    assert got[100] == pytest.approx(0.1 / 1e4, rel=1e-4)
    assert np.all(np.diff(got[:31]) > 0) and np.all(np.diff(got[30:]) < 0)


@pytest.mark.parametrize(
    "schedule",
    [
        ConstantSchedule(0.1),
        CosineSchedule(0.1, 100, warmup_steps=5, alpha=0.01),
        CyclicalSchedule(1e-5, 1e-3, 50, mode="triangular2"),
        CyclicalSchedule(1e-5, 1e-3, 50, mode="exp_range", gamma=0.999),
        OneCycleSchedule(0.1, 100, anneal="linear"),
    ],
)
def test_serialisation_round_trip(schedule: Schedule) -> None:
    config = keras.saving.serialize_keras_object(schedule)
    assert config["registered_name"].startswith("tfgenre>")
    restored = keras.saving.deserialize_keras_object(config)
    assert type(restored) is type(schedule)
    assert restored.get_config() == schedule.get_config()
    steps = [0, 7, 42, 99]
    np.testing.assert_allclose(values(restored, steps), values(schedule, steps))


def test_optimizer_round_trip_keeps_schedule() -> None:
    optimizer = keras.optimizers.Adam(learning_rate=CyclicalSchedule(1e-5, 1e-3, 10))
    restored = keras.optimizers.deserialize(keras.optimizers.serialize(optimizer))
    assert isinstance(restored._learning_rate, CyclicalSchedule)


def test_unknown_name_lists_known() -> None:
    with pytest.raises(ConfigError, match=r"unknown schedule 'step'.*cosine.*one_cycle"):
        make_schedule("step", learning_rate=0.1, total_steps=10)


def test_unknown_option_lists_known() -> None:
    with pytest.raises(ConfigError, match=r"unknown option 'warmup'.*'cosine'.*warmup_steps"):
        make_schedule("cosine", learning_rate=0.1, total_steps=10, warmup=3)


@pytest.mark.parametrize(
    ("name", "options"),
    [
        ("cosine", {"warmup_steps": 10}),
        ("triangular", {"base_lr": 1.0}),
        ("one_cycle", {"pct_start": 1.5}),
        ("triangular2", {"gamma": 0.9}),
    ],
)
def test_bad_values(name: str, options: dict[str, float]) -> None:
    with pytest.raises(ConfigError):
        make_schedule(name, learning_rate=0.1, total_steps=10, **options)


def test_bad_learning_rate_names_value() -> None:
    with pytest.raises(ConfigError, match=r"learning_rate=-1"):
        make_schedule("constant", learning_rate=-1, total_steps=10)


def test_numpy_scalars_accepted() -> None:
    schedule = make_schedule("one_cycle", learning_rate=np.float32(0.1), total_steps=np.int64(50))
    assert type(schedule.get_config()["max_lr"]) is float
    assert type(schedule.get_config()["total_steps"]) is int
