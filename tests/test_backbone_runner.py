"""BackboneRunner: waveform -> per-patch outputs equal to the port run by hand."""

from __future__ import annotations

import numpy as np
import pytest
from skips import needs_musicnn

from tfgenre.backbones.frontend import MusicnnFrontEnd
from tfgenre.backbones.runner import (
    PATCH_SAMPLES,
    PATCH_SECONDS,
    BackboneRunner,
    output_dims,
    to_backbone_rate,
)
from tfgenre.errors import ConfigError


@pytest.fixture(scope="module")
def runner() -> BackboneRunner:
    return BackboneRunner("musicnn_msd", batch_size=2)


@needs_musicnn
def test_runner_equals_front_end_and_port(runner: BackboneRunner) -> None:
    y = (0.1 * np.random.default_rng(0).standard_normal(16000 * 10)).astype(np.float32)
    out = runner(y)
    assert {k: v.shape for k, v in out.items()} == {
        "taggram": (3, 50),
        "penultimate": (3, 200),
        "mean_pool": (3, 753),
        "max_pool": (3, 753),
    }
    direct = runner.model(np.asarray(MusicnnFrontEnd()(y[None]))[0])
    for name, value in out.items():
        np.testing.assert_allclose(
            value, np.asarray(direct[name]), atol=1e-4
        )  # other batch sizes: oneDNN rounding
    assert output_dims(runner.weights) == {k: v.shape[1] for k, v in out.items()}
    assert len(runner.labels) == 50


@needs_musicnn
def test_patches_pad_a_short_clip_and_keep_exact_ones(runner: BackboneRunner) -> None:
    y = np.zeros(PATCH_SAMPLES, np.float32)
    exact = runner.patches(y)
    assert exact.values.shape == (1, 187, 96) and not exact.padded
    short = runner.patches(y[:-1])
    assert short.values.shape == (1, 187, 96) and short.padded
    assert runner.patches(np.zeros(16000 * 7, np.float32)).starts.tolist() == pytest.approx(
        [0.0, PATCH_SECONDS]
    )


def test_to_backbone_rate_resamples_to_16k() -> None:
    y = np.sin(np.linspace(0, 100, 22050)).astype(np.float32)
    assert to_backbone_rate(y, 22050).shape == (16000,)
    assert to_backbone_rate(y, 16000) is not None
    with pytest.raises(ConfigError, match="sample_rate=0"):
        to_backbone_rate(y, 0)


@needs_musicnn
def test_runner_rejects_bad_batch_size() -> None:
    with pytest.raises(ConfigError, match="batch_size=0"):
        BackboneRunner("musicnn_msd", batch_size=0)
