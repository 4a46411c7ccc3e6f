import numpy as np
import pytest
import soundfile as sf
from synth import tone

from tfgenre import audio
from tfgenre.errors import AudioDecodeError, ConfigError


def test_decode_resamples_and_downmixes(tmp_path):
    path = tmp_path / "stereo44.wav"
    sf.write(path, tone(1.0, 44100, 440.0, channels=2), 44100)
    y = audio.decode(str(path), 22050)
    assert y.dtype == np.float32 and y.ndim == 1
    assert abs(len(y) - 22050) <= 1


@pytest.mark.parametrize(
    "fmt,ext", [("WAV", ".wav"), ("AU", ".au"), ("FLAC", ".flac"), ("OGG", ".ogg"), ("MP3", ".mp3")]
)
def test_decode_every_format(tmp_path, fmt, ext):
    path = tmp_path / f"x{ext}"
    subtype = {"OGG": "VORBIS", "MP3": "MPEG_LAYER_III", "AU": "PCM_16"}.get(fmt)
    sf.write(path, tone(1.0, 22050, 330.0), 22050, format=fmt, subtype=subtype)
    y = audio.decode(str(path), 22050)
    assert 0.9 * 22050 <= len(y) <= 1.1 * 22050
    assert np.max(np.abs(y)) > 0.1


def test_decode_max_seconds(tmp_path):
    path = tmp_path / "long.wav"
    sf.write(path, tone(3.0, 22050, 330.0), 22050)
    assert len(audio.decode(str(path), 22050, max_seconds=1.0)) == 22050


@pytest.mark.parametrize(
    "content,match",
    [
        (b"", "cannot decode"),
        (b"hello, this is text", "cannot decode"),
        (b"\xff\xfb\x90\x00" + bytes(range(256)) * 4, "cannot decode|no audio"),
    ],
)
def test_decode_bad_files(tmp_path, content, match):
    path = tmp_path / "bad.wav"
    path.write_bytes(content)
    with pytest.raises(AudioDecodeError, match=match):
        audio.decode(str(path))


def test_decode_missing_file(tmp_path):
    with pytest.raises(AudioDecodeError, match="not found|cannot decode"):
        audio.decode(str(tmp_path / "nope.wav"))


def test_cut_segments():
    y = np.arange(10, dtype=np.float32)
    seg = audio.cut_segments(y, 4, 3)
    assert seg.shape == (3, 4) and seg[1, 0] == 3 and seg[2, 0] == 6
    assert audio.cut_segments(y, 4).shape == (2, 4)
    assert audio.cut_segments(y, None).shape == (1, 10)
    short = audio.cut_segments(y, 16, short="pad")
    assert short.shape == (1, 16) and short[0, 9] == 9 and short[0, 10] == 0
    assert audio.cut_segments(y, 16, short="drop").shape == (0, 16)
    with pytest.raises(ConfigError, match="short_tracks='cut'"):
        audio.cut_segments(y, 4, short="cut")


def test_is_silent():
    assert audio.is_silent(np.zeros(100, np.float32))
    assert not audio.is_silent(np.full(100, 0.1, np.float32))
