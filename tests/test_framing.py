"""core.framing.Framing: the one framing type, its hop rule, rates and cutting."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from tfgenre.core.framing import (
    GTZAN_3S_WINDOW,
    GTZAN_FEATURES_SAMPLE_RATE,
    Framing,
    features_csv_framing,
    resolve_hop,
)
from tfgenre.errors import ConfigError
from tfgenre.records.info import AudioSpec
from tfgenre.records.writer_config import AudioConfig


def test_the_hop_defaults_to_the_window_in_samples_and_seconds() -> None:
    assert Framing(22050, 66150) == Framing(22050, 66150, 66150)
    assert Framing(22050, None, 512).hop_samples is None  # whole inputs have no hop
    assert resolve_hop(3.0, None) == 3.0 and resolve_hop(3.0, 1.5) == 1.5
    assert resolve_hop(None, 1.5) is None and resolve_hop(0, 1.5) is None


def test_the_writer_config_and_the_stored_spec_give_the_same_framing() -> None:
    cfg = AudioConfig(sample_rate=22050, window_seconds=3.0, hop_seconds=1.5)
    assert cfg.framing == Framing(22050, 66150, 33075)
    assert cfg.framing.window_seconds == 3.0 and cfg.framing.hop_seconds == 1.5
    assert AudioSpec(22050, 66150, None).framing == Framing(22050, 66150, 66150)
    assert AudioConfig(window_seconds=0).framing.whole_tracks
    assert AudioConfig(window_seconds=3.0).resolved_hop_seconds == 3.0
    assert AudioSpec.from_framing(cfg.framing).framing == cfg.framing


def test_bad_values_name_the_value_and_the_rule() -> None:
    with pytest.raises(ConfigError, match="sample_rate=0 must be > 0"):
        Framing(0)
    with pytest.raises(ConfigError, match="window_samples=-1 must be > 0"):
        Framing(8000, -1)
    with pytest.raises(ConfigError, match="hop_samples=-2 must be > 0"):
        Framing(8000, 100, -2)
    with pytest.raises(ConfigError, match="hop_seconds=0 must be > 0"):
        Framing(8000, 100).with_hop_seconds(0)


def test_resampled_gives_the_resamplers_lengths() -> None:
    assert Framing(22050, 66150, 22050).resampled(16000) == Framing(16000, 48000, 16000)
    assert Framing(22050, 66149).resampled(16000).window_samples == 48000  # ceil
    # a raw view downsampled by 4 at 22050 Hz resamples by 1/4 and records 5512 Hz
    quarter = Framing(22050, 66150, 22050).resampled(5512, Fraction(1, 4))
    assert quarter == Framing(5512, 16538, 5512)
    assert Framing(22050, min_samples=2048).resampled(16000) == Framing(16000)


def test_cut_pads_short_inputs_and_reports_it() -> None:
    segments, starts, padded = Framing(10, 4, 2).cut(np.ones(9, np.float32))
    assert segments.shape == (3, 4) and starts.tolist() == [0, 2, 4] and not padded
    segments, _, padded = Framing(10, 4).cut(np.ones(3, np.float32))
    assert segments.shape == (1, 4) and padded
    segments, _, padded = Framing(10, min_samples=8, pads_below=12).cut(np.ones(9, np.float32))
    assert segments.shape == (1, 9) and padded  # the view pads below 12, not the framing


def test_the_features_csv_framing() -> None:
    assert features_csv_framing("whole_track") == Framing(GTZAN_FEATURES_SAMPLE_RATE)
    assert features_csv_framing("segment") == Framing(22050, GTZAN_3S_WINDOW)
    assert features_csv_framing(44100) == Framing(22050, 44100, 44100)
