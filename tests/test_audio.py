import os

import numpy as np
import pytest
import soundfile as sf
from synth import tone

from tfgenre.core import audio
from tfgenre.errors import AudioDecodeError, ConfigError


def test_decode_resamples_and_downmixes(tmp_path):
    path = tmp_path / "stereo44.wav"
    sf.write(path, tone(1.0, 44100, 440.0, channels=2), 44100)
    y = audio.decode(str(path), 22050)
    assert y.dtype == np.float32 and y.ndim == 1
    assert abs(len(y) - 22050) <= 1


@pytest.mark.parametrize(
    "fmt,ext",
    [
        ("WAV", ".wav"),
        ("AU", ".au"),
        ("FLAC", ".flac"),
        ("OGG", ".ogg"),
        ("MP3", ".mp3"),
        ("AIFF", ".aiff"),
        ("AIFF", ".aif"),
        ("CAF", ".caf"),
    ],
)
def test_decode_every_format(tmp_path, fmt, ext):
    from tfgenre.core.tracks import AUDIO_EXTENSIONS

    assert ext in AUDIO_EXTENSIONS  # the sources list what decode reads
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


@pytest.mark.parametrize(
    "fmt,ext", [("WAV", ".wav"), ("AU", ".au"), ("AIFF", ".aiff"), ("RF64", ".rf64")]
)
def test_decode_refuses_truncated_files(tmp_path, fmt, ext):
    # libsndfile trims a too-large declared length to the data present, so a cut-off
    # 30-s file would otherwise decode as a 0.7-s track.
    whole = tmp_path / f"whole{ext}"
    sf.write(whole, tone(30.0, 22050, 330.0), 22050, format=fmt, subtype="PCM_16")
    data = whole.read_bytes()
    cut = tmp_path / f"cut{ext}"
    cut.write_bytes(data[: len(data) * 7 // 300])
    with pytest.raises(audio.TruncatedAudioError, match=r"declares 30.0\d s") as err:
        audio.decode(str(cut), 22050, max_seconds=0.1)
    assert 0.6 < err.value.found_seconds < 0.8
    assert len(audio.decode(str(whole), 22050, max_seconds=0.5)) == 11025  # intact


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


def test_header_seconds_reads_the_duration_without_decoding(tmp_path):
    import soundfile as sf

    from tfgenre.core.audio import header_seconds
    from tfgenre.errors import AudioDecodeError

    path = tmp_path / "two.wav"
    sf.write(path, np.zeros(2 * 8000, dtype="float32"), 8000)
    assert header_seconds(str(path)) == pytest.approx(2.0)
    text = tmp_path / "x.wav"
    text.write_text("not audio")
    with pytest.raises(AudioDecodeError, match="x.wav: cannot decode audio"):
        header_seconds(str(text))
    fifo = tmp_path / "pipe.wav"
    os.mkfifo(fifo)
    with pytest.raises(AudioDecodeError, match="pipe.wav"):  # refused, never opened
        header_seconds(str(fifo))
