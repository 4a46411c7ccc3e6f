"""Decode any audio file to mono float32 at a sample rate, and cut it into windows.

Decoding uses soundfile/libsndfile (wav, au, aiff, flac, ogg/opus, mp3, caf, w64, rf64;
see :data:`tfgenre.core.tracks.AUDIO_EXTENSIONS`) and resampling uses soxr through
librosa. tensorflow-io is deliberately not used: its compiled ops do not load on
TensorFlow >= 2.18.

A file whose header declares more audio than the file holds (a cut-off download or
copy) is not decoded as a shorter track: :func:`decode` raises
:class:`TruncatedAudioError`.
"""

from __future__ import annotations

import contextlib
import io as _io
import logging
import os
import re
import sys
import tempfile
from collections.abc import Iterator

import numpy as np

from tfgenre.core import io
from tfgenre.core.framing import DEFAULT_SAMPLE_RATE
from tfgenre.errors import AudioDecodeError, ConfigError

logger = logging.getLogger(__name__)

SHORT_POLICIES: tuple[str, ...] = ("pad", "drop")

# libsndfile's log lines for a data chunk whose declared size exceeds what the file
# holds: ``data : 1323000 (should be 31027)`` (wav), ``Data Size : ...`` (au),
# ``SSND : ...`` (aiff).
_DATA_SIZE_LINE = re.compile(
    r"^\s*(?:data|Data Size|SSND)\s*:\s*(\d+)\s*\(should be (\d+)\)", re.MULTILINE
)
# ... and its notes where a frame count in the header disagrees with the data present
# (aiff's COMM chunk, w64/rf64's ds64 chunk).
_FRAME_COUNT_LINES = (
    re.compile(r"Frame count read from 'COMM' chunk \((\d+)\) not equal"),
    re.compile(r"Calculated frame count \d+ does not match value from '\w+' chunk of (\d+)"),
)


#: What libmpg123 (libsndfile's MPEG decoder) writes to the process's stderr about a
#: damaged stream: ``Note: Illegal Audio-MPEG-Header ...``, ``[src/libmpg123/...] warning``.
_MPG123_NOISE = re.compile(r"^(?:Note: |\[src/libmpg123/)")
_MPEG_SUFFIXES = (".mp3", ".mp2", ".mp1", ".mpga", ".mpeg")


@contextlib.contextmanager
def _quiet_mpg123(path: str) -> Iterator[None]:
    """Keeps libmpg123's notes on a damaged MP3 off the user's terminal (logged at DEBUG).

    libmpg123 writes them to file descriptor 2 itself, so ``sys.stderr`` cannot catch
    them: fd 2 goes to a temporary file while an MPEG file is opened and read, and
    whatever else was written there meanwhile is written back to stderr.
    """
    if not str(path).lower().endswith(_MPEG_SUFFIXES):
        yield
        return
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no usable fd 2 (an embedded interpreter)
        yield
        return
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            text = sink.read().decode("utf-8", "replace")
    kept = []
    for line in text.splitlines(keepends=True):
        if _MPG123_NOISE.match(line):
            logger.debug("%s: libmpg123: %s", path, line.rstrip())
        else:
            kept.append(line)
    if kept:
        sys.stderr.write("".join(kept))


def _decode_error_reason(path: str, err: BaseException) -> str:
    """The reason libsndfile gives, less its "File does not exist" for a file that exists.

    libsndfile says "File does not exist or is not a regular file (possibly a pipe?)"
    for any file whose format it cannot recognise, an undecodable MP3 included.
    """
    text = str(err)
    if "File does not exist" in text and not io.is_remote(path) and os.path.isfile(path):
        return (
            "not a recognisable audio stream: the file exists but is corrupt, truncated "
            "or not audio"
        )
    return text


class TruncatedAudioError(AudioDecodeError):
    """The file's header declares more audio than the file holds.

    Attributes:
        declared_seconds: The duration the header declares.
        found_seconds: The duration the file holds.
    """

    def __init__(self, path: str, declared_seconds: float, found_seconds: float) -> None:
        super().__init__(
            f"{path}: truncated: the header declares {declared_seconds:.2f} s, "
            f"the file holds {found_seconds:.2f} s"
        )
        self.declared_seconds = declared_seconds
        self.found_seconds = found_seconds


def declared_frames(frames: int, log: str) -> int | None:
    """The frame count a file's header declares, when libsndfile found less data.

    Args:
        frames: The frames libsndfile reports (it trims the count to the data present).
        log: libsndfile's log of opening the file (``SoundFile.extra_info``).

    Returns:
        The declared frame count when it exceeds ``frames``, else None (not truncated,
        or a format that declares no length).
    """
    for pattern in _FRAME_COUNT_LINES:
        match = pattern.search(log)
        if match and int(match.group(1)) > frames:
            return int(match.group(1))
    match = _DATA_SIZE_LINE.search(log)
    if match:
        declared_bytes, present_bytes = int(match.group(1)), int(match.group(2))
        if frames > 0 and declared_bytes > present_bytes:
            declared = int(declared_bytes * frames / max(present_bytes, 1))
            if declared > frames:
                return declared
    return None



def header_seconds(path: str) -> float:
    """The duration a local file's header declares (seconds), without decoding it.

    Lets a caller refuse audio that is too long before paying for its decoding (the
    server's ``--max-seconds``).

    Raises:
        AudioDecodeError: when the file is not a regular file, or not audio soundfile
            can open (the reason as :func:`decode` words it).
    """
    import soundfile as sf

    irregular = io.irregular_reason(path)
    if irregular is not None:
        raise AudioDecodeError(f"{path}: {irregular}")
    try:
        with _quiet_mpg123(path), sf.SoundFile(path) as f:
            return f.frames / float(f.samplerate)
    except (sf.LibsndfileError, RuntimeError, EOFError, OSError, ValueError) as err:
        reason = _decode_error_reason(path, err)
        raise AudioDecodeError(f"{path}: cannot decode audio ({reason})") from err


def decode(
    path: str,
    sample_rate: int = DEFAULT_SAMPLE_RATE,
    *,
    max_seconds: float | None = None,
    res_type: str = "soxr_hq",
) -> np.ndarray:
    """Decodes an audio file to mono float32 samples at ``sample_rate``.

    Args:
        path: Local path or ``gs://`` URL of a wav/au/flac/ogg/mp3 file.
        sample_rate: Target rate in Hz; the file is resampled when it differs.
        max_seconds: Keep at most this many seconds from the start (None: all).
        res_type: librosa resampler name.

    Returns:
        float32 array of shape ``(n_samples,)`` in [-1, 1].

    Raises:
        TruncatedAudioError: when the header declares more audio than the file holds.
        AudioDecodeError: when the file is missing, empty or not audio.
    """
    import soundfile as sf

    if sample_rate <= 0:
        raise ConfigError(f"sample_rate={sample_rate} must be > 0")
    irregular = io.irregular_reason(path)  # a named pipe would block the open forever
    if irregular is not None:
        raise AudioDecodeError(f"{path}: {irregular}")
    try:
        source = _io.BytesIO(io.read_bytes(path)) if io.is_remote(path) else path
        with _quiet_mpg123(path), sf.SoundFile(source) as f:
            file_rate = int(f.samplerate)
            frames = f.frames
            declared = declared_frames(frames, f.extra_info)
            if declared is not None:
                raise TruncatedAudioError(path, declared / file_rate, frames / file_rate)
            if max_seconds is not None and max_seconds > 0:
                frames = min(frames, int(round(max_seconds * file_rate)))
            data = f.read(frames=frames, dtype="float32", always_2d=True)
            if 0 < data.shape[0] < frames:  # the data ended before the frames it declared
                raise TruncatedAudioError(path, frames / file_rate, data.shape[0] / file_rate)
    except FileNotFoundError as err:
        raise AudioDecodeError(f"{path}: file not found") from err
    except (sf.LibsndfileError, RuntimeError, EOFError, OSError, ValueError) as err:
        reason = _decode_error_reason(path, err)
        raise AudioDecodeError(f"{path}: cannot decode audio ({reason})") from err
    if data.shape[0] == 0:
        raise AudioDecodeError(f"{path}: holds no audio samples")
    y = data.mean(axis=1) if data.shape[1] > 1 else data[:, 0]
    if not np.all(np.isfinite(y)):
        raise AudioDecodeError(f"{path}: decoded samples contain NaN or Inf")
    if file_rate != sample_rate:
        import librosa

        y = librosa.resample(y, orig_sr=file_rate, target_sr=sample_rate, res_type=res_type)
    return np.ascontiguousarray(y, dtype=np.float32)


def num_segments(n_samples: int, window: int, hop: int) -> int:
    """How many full windows of ``window`` samples, ``hop`` apart, fit in ``n_samples``."""
    if n_samples < window:
        return 0
    return 1 + (n_samples - window) // hop


def cut_segments(
    y: np.ndarray, window: int | None, hop: int | None = None, *, short: str = "pad"
) -> np.ndarray:
    """Cuts ``y`` into equal windows.

    Args:
        y: float32 samples of shape ``(n_samples,)``.
        window: Window length in samples; None or 0 means one segment = the whole track.
        hop: Distance between window starts in samples (default: ``window``).
        short: What to do when ``y`` is shorter than one window: ``"pad"`` with zeros
            to one window, or ``"drop"`` (returns zero segments).

    Returns:
        float32 array of shape ``(n_segments, window)`` (a copy, C-contiguous).
    """
    if short not in SHORT_POLICIES:
        raise ConfigError(f"short_tracks={short!r} must be one of {', '.join(SHORT_POLICIES)}")
    if not window:
        return y[np.newaxis, :].astype(np.float32, copy=True)
    hop = hop or window
    if window <= 0 or hop <= 0:
        raise ConfigError(f"window={window} and hop={hop} must be > 0 samples")
    if len(y) < window:
        if short == "drop":
            return np.zeros((0, window), dtype=np.float32)
        padded = np.zeros((1, window), dtype=np.float32)
        padded[0, : len(y)] = y
        return padded
    n = num_segments(len(y), window, hop)
    view = np.lib.stride_tricks.sliding_window_view(y, window)[::hop][:n]
    return np.ascontiguousarray(view, dtype=np.float32)


def is_silent(y: np.ndarray, threshold: float = 1e-5) -> bool:
    """True when the peak absolute amplitude is below ``threshold``."""
    return y.size == 0 or float(np.max(np.abs(y))) < threshold
