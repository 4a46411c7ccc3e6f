"""STFT building blocks of the fast features path (``FeaturesView``).

Framing, window, forward/inverse STFT, the mel and chroma filter banks, tuning
estimation, the HPSS soft mask (numba) and the zero-crossing rate, each computed as
librosa does for the settings below (the settings of the GTZAN Kaggle table). Arrays are
frame-major: ``(n_segments, frames, bins)``.
"""

from __future__ import annotations

import functools
import warnings
from typing import Any

import numpy as np

N_FFT = 2048
HOP_LENGTH = 512
PAD_MODE = "reflect"
N_CHROMA = 12
N_MELS = 128
N_MFCC = 20
HPSS_KERNEL = 31
ROLL_PERCENT = 0.85
TOP_DB = 80.0
AMIN = 1e-10
ZCR_THRESHOLD = 1e-10


@functools.lru_cache(maxsize=8)
def mel_basis(sample_rate: int) -> np.ndarray:
    """Librosa's Slaney mel filter bank, float32 ``(N_MELS, N_FFT // 2 + 1)``."""
    import librosa

    basis = librosa.filters.mel(sr=sample_rate, n_fft=N_FFT, n_mels=N_MELS)
    basis.setflags(write=False)
    return basis


@functools.lru_cache(maxsize=256)
def chroma_basis(sample_rate: int, tuning: float) -> np.ndarray:
    """Librosa's chroma filter bank for ``tuning``, float32 ``(N_CHROMA, N_FFT // 2 + 1)``."""
    import librosa

    basis = librosa.filters.chroma(sr=sample_rate, n_fft=N_FFT, tuning=tuning, n_chroma=N_CHROMA)
    basis.setflags(write=False)
    return basis


def estimate_tuning(power: np.ndarray, sample_rate: int) -> float:
    """``librosa.estimate_tuning(S=power, sr=sr, bins_per_octave=12)`` for one segment.

    ``chroma_stft`` estimates the tuning from peaks that ``librosa.piptrack`` finds
    between 150 Hz and 4 kHz. This evaluates piptrack's stencils (parabolic shift,
    gradient, local maximum) on those bins only, with the same dtypes, so the pitches
    and hence the tuning are identical, at a third of the cost.

    Args:
        power: float32 power spectrogram ``(1 + n_fft // 2, n_frames)``.
        sample_rate: Sampling rate in Hz.

    Returns:
        Tuning deviation in fractions of a chroma bin, in ``[-0.5, 0.5)``.
    """
    import librosa

    n_fft = 2 * (power.shape[-2] - 1)
    fft_freqs = librosa.fft_frequencies(sr=sample_rate, n_fft=n_fft)
    fmax = min(4000.0, float(sample_rate) / 2)
    band = np.flatnonzero((fft_freqs >= 150.0) & (fft_freqs < fmax))
    pitches = np.zeros(0, dtype=np.float32)
    if band.size:
        lo, hi = int(band[0]), int(band[-1]) + 1  # lo >= 1 and hi <= n_bins - 1
        s = power[lo - 1 : hi + 1]
        below, mid, above = s[:-2], s[1:-1], s[2:]
        # piptrack: peaks of S * (S > 0.1 * max over frequency), per frame.
        ref_value = 0.1 * power.max(axis=-2, keepdims=True)
        gated = s * (s > ref_value)
        peaks = (gated[1:-1] > gated[:-2]) & (gated[1:-1] >= gated[2:])
        rows, cols = np.nonzero(peaks)
        below, mid, above = below[rows, cols], mid[rows, cols], above[rows, cols]
        # Parabolic interpolation and skew, typed exactly as librosa's numba stencil and
        # np.gradient compute them.
        a = (above + below).astype(np.float64) - 2 * mid.astype(np.float64)
        b = (above - below).astype(np.float64) / 2
        with np.errstate(divide="ignore", invalid="ignore"):
            shift = np.where(np.abs(b) >= np.abs(a), 0.0, -b / a).astype(np.float32)
        dskew = 0.5 * ((above - below) / np.float32(2)) * shift
        pitch = ((rows + lo + shift) * float(sample_rate) / n_fft).astype(np.float32)
        mag = mid + dskew
        positive = pitch > 0
        threshold = np.median(mag[positive]) if positive.any() else 0.0
        pitches = pitch[(mag >= threshold) & positive]
    with warnings.catch_warnings():
        # Silence and pitchless audio: "Trying to estimate tuning from empty frequency set".
        warnings.filterwarnings("ignore", message="Trying to estimate tuning")
        return float(librosa.pitch_tuning(pitches, resolution=0.01, bins_per_octave=N_CHROMA))


@functools.cache
def mask_kernel() -> Any:
    """Compiles (once per process, cached on disk) the fused soft-mask kernel."""
    import numba

    @numba.njit(cache=True, nogil=True)
    def apply_mask(  # pragma: no cover
        spec: np.ndarray, harm: np.ndarray, perc: np.ndarray
    ) -> None:
        tiny = np.finfo(np.float32).tiny
        for k in range(spec.size):
            h = harm[k]
            p = perc[k]
            z = max(h, p)
            if z < tiny:
                m = np.float32(0.5)
            else:
                h2 = (h / z) ** 2
                p2 = (p / z) ** 2
                m = h2 / (h2 + p2)
            spec[k] *= m

    return apply_mask


def apply_harmonic_mask(spec: np.ndarray, harm: np.ndarray, perc: np.ndarray) -> None:
    """``spec *= librosa.util.softmask(harm, perc, power=2, split_zeros=True)``, one pass.

    Args:
        spec: complex64 spectrogram, C-contiguous, multiplied in place.
        harm: float32 harmonic enhancement (time median), ``spec``'s shape, C-contiguous.
        perc: float32 percussive enhancement (frequency median), same shape.
    """
    mask_kernel()(spec.reshape(-1), harm.reshape(-1), perc.reshape(-1))


def zero_crossing_rate(x: np.ndarray, n_frames: int) -> np.ndarray:
    """``librosa.feature.zero_crossing_rate`` (center, edge padding) via running sums.

    Args:
        x: float32 ``(n, n_samples)``.
        n_frames: Frames per segment, ``1 + n_samples // HOP_LENGTH``.

    Returns:
        float64 ``(n, n_frames)``: crossings per frame / frame length.
    """
    half = N_FFT // 2
    padded = np.pad(x, [(0, 0), (half, half)], mode="edge")
    negative = padded.astype(np.float64) < -ZCR_THRESHOLD  # |x| <= threshold counts as 0 (>= 0)
    flips = np.zeros(padded.shape, dtype=np.int64)
    flips[:, 1:] = negative[:, 1:] != negative[:, :-1]
    csum = np.cumsum(flips, axis=-1)
    starts = np.arange(n_frames) * HOP_LENGTH
    # Pairs (j-1, j) with both samples inside frame [s, s + N_FFT): j in (s, s + N_FFT).
    counts = csum[:, starts + N_FFT - 1] - csum[:, starts]
    return counts / float(N_FFT)


@functools.lru_cache(maxsize=1)
def hann() -> np.ndarray:
    """The periodic Hann window of ``librosa.stft`` (``fftbins=True``), float64.

    float64 like librosa's: the windowed frames are promoted, so the FFT runs in double
    precision and only its result is rounded to complex64. A float32 FFT leaves noise
    of ~1e-6 of the peak in empty bins, which the f^2 weighting of the bandwidth turns
    into visible errors on near-pure tones.
    """
    import scipy.signal

    window = scipy.signal.get_window("hann", N_FFT, fftbins=True)
    window.setflags(write=False)
    return window


@functools.lru_cache(maxsize=64)
def window_sumsquare(n_frames: int) -> np.ndarray:
    """``librosa.filters.window_sumsquare`` for ``n_frames`` Hann frames, float32."""
    import librosa

    wss = librosa.filters.window_sumsquare(
        window="hann", n_frames=n_frames, n_fft=N_FFT, hop_length=HOP_LENGTH, dtype=np.float32
    )
    wss.setflags(write=False)
    return wss


def frame_segments(x: np.ndarray) -> np.ndarray:
    """Centred, reflect-padded frames of ``x`` ``(n, n_samples)``: a view ``(n, T, n_fft)``.

    ``T = 1 + n_samples // hop_length``, the framing of ``librosa.stft`` and
    ``librosa.feature.rms`` with ``center=True, pad_mode="reflect"``.
    """
    padded = np.pad(x, [(0, 0), (N_FFT // 2, N_FFT // 2)], mode=PAD_MODE)
    return np.lib.stride_tricks.sliding_window_view(padded, N_FFT, axis=-1)[:, ::HOP_LENGTH]


def istft(spec: np.ndarray) -> np.ndarray:
    """``librosa.istft(center=True)`` without ``length`` for ``(n, T, F)`` input.

    Inverse real FFT of every frame, Hann synthesis window, overlap-add (hop = n_fft/4,
    so four shifted adds), division by the window sum-square where it is non-zero and
    the centre padding trimmed: float32 ``(n, hop_length * (T - 1))``.
    """
    import scipy.fft

    n, n_frames, _ = spec.shape
    frames = scipy.fft.irfft(spec, n=N_FFT, axis=-1)
    frames *= hann()
    overlap = N_FFT // HOP_LENGTH
    out = np.zeros((n, n_frames + overlap - 1, HOP_LENGTH), dtype=np.float32)
    parts = frames.reshape(n, n_frames, overlap, HOP_LENGTH)
    for j in range(overlap):
        out[:, j : j + n_frames] += parts[:, :, j]
    out = out.reshape(n, -1)
    wss = window_sumsquare(n_frames)
    nonzero = wss > np.finfo(np.float32).tiny
    out[:, nonzero] /= wss[nonzero]
    return out[:, N_FFT // 2 : -(N_FFT // 2)]
