"""The in-graph front end of exported models: waveform -> windows -> view -> model.

An exported SavedModel (or TFLite model) takes a mono float32 waveform at the model's
sample rate and returns genre probabilities, with no tfgenre or librosa code needed at
serving time. This module builds that graph from a run's
:class:`~tfgenre.runs.run_info.RunInfo` with TensorFlow ops only (``tf.signal``),
reproducing what the records writer computed with numpy:

* Framing as :meth:`tfgenre.core.framing.Framing.cut`: the run's
  :class:`~tfgenre.core.framing.Framing` (windows of ``window_samples`` every
  ``hop_samples``); a waveform shorter than one window is zero-padded to one window.
* ``raw``: the window as stored (int16 ``round(x * 32767) / 32767``, or float16),
  after the raw view's ``max_samples`` crop.
* ``mel``: ``librosa.feature.melspectrogram`` (``center=True`` with librosa 0.11's
  default ``pad_mode="constant"``, i.e. ``n_fft // 2`` zeros on each side, periodic
  Hann window, ``power=2``) with librosa's Slaney mel filterbank embedded as a
  constant matrix (``tf.signal.linear_to_mel_weight_matrix`` is the HTK variant and
  would not match), then ``10 log10(max(S, amin))`` floored ``top_db`` below each
  window's peak (:func:`tfgenre.views.mel.power_to_db`), optionally resized bilinearly
  to ``image_size`` and rounded to float16 as the records store it.

The ``features`` view (57 librosa features: HPSS, beat tracking, chroma with tuning
estimation) has no faithful in-graph equivalent, so feature models are exported with a
``features`` input instead (:func:`serving_module`); see
:func:`tfgenre.inference.artifacts.export_run`. Models on the ``embeddings`` view take a 16-kHz
waveform and run the backbones in the graph (:mod:`tfgenre.inference.embedding_serving`), or,
with ``vector_input=True``, the stored ``embeddings`` rows.

:func:`write_saved_model` writes the serving SavedModel (signature :data:`SIGNATURE`).
"""

from __future__ import annotations

import dataclasses
import functools
from fractions import Fraction
from typing import Any

import numpy as np

from tfgenre.core.framing import Framing
from tfgenre.errors import ConfigError
from tfgenre.runs.run_info import RunInfo
from tfgenre.views.base import ViewSpec

#: Views whose front end can run inside the graph.
WAVEFORM_VIEWS: tuple[str, ...] = ("raw", "mel")
#: Name of the serving signature of exported SavedModels and TFLite models.
SIGNATURE = "serving_default"


@dataclasses.dataclass(frozen=True)
class FrontendSpec:
    """What the serving graph needs to turn a waveform into model inputs.

    Attributes:
        view: ``raw`` or ``mel``.
        framing: The waveform the signature takes: its rate and the windows cut from it.
        params: The view's parameters (``run.view_spec.params``).
        dtype: The stored dtype of the view (``float16``, ``int16``), rounded to in-graph.
        input_shape: Shape of one model input example, e.g. ``(128, 130, 1)``.
    """

    view: str
    framing: Framing
    params: dict[str, Any]
    dtype: str
    input_shape: tuple[int, ...]

    @classmethod
    def from_run_info(cls, run: RunInfo) -> FrontendSpec:
        """The front end of a run: ``run.framing`` at the view's rate, the view's spec.

        A raw view written with ``downsample > 1`` (see
        :class:`~tfgenre.views.raw.RawView`) takes audio at the reduced rate its spec
        records, framed in reduced samples (:func:`view_framing`).

        Raises:
            ConfigError: for the features view or a run without a window.
        """
        if run.view not in WAVEFORM_VIEWS:
            raise ConfigError(
                f"view={run.view!r} has no in-graph front end (only "
                f"{', '.join(WAVEFORM_VIEWS)}): the 57 engineered features need librosa "
                "(HPSS, beat tracking)"
            )
        if run.framing.whole_tracks:
            raise ConfigError(
                f"run.json has window_samples=None (sample_rate={run.framing.sample_rate}); "
                "a window is needed to frame a waveform"
            )
        return cls(
            view=run.view,
            framing=view_framing(run),
            params=dict(run.view_spec.params),
            dtype=run.view_spec.dtype,
            input_shape=tuple(run.input_shape),
        )


def view_framing(run: RunInfo) -> Framing:
    """``run.framing`` at the rate of the audio its view computes on.

    The run's own framing, except for a raw view written with ``downsample = d > 1``,
    which resampled each window by exactly ``1/d`` and whose spec records the rate
    ``sample_rate // d``: the one place where run.json's two rates meet.
    """
    framing = run.framing
    if run.view != "raw":
        return framing
    from tfgenre.views.registry import from_spec

    downsample = int(from_spec(run.view_spec).downsample)
    if downsample <= 1:
        return framing
    rate = run.view_spec.sample_rate or framing.sample_rate // downsample
    return framing.resampled(rate, Fraction(1, downsample))


@functools.lru_cache(maxsize=8)
def slaney_mel_basis(
    sample_rate: int, n_fft: int, n_mels: int, fmin: float, fmax: float | None
) -> np.ndarray:
    """The mel filterbank of librosa (Slaney scale and norm), as the mel view uses it.

    Returns:
        float32 ``(n_mels, 1 + n_fft // 2)``.
    """
    import librosa

    return librosa.filters.mel(
        sr=sample_rate, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax
    ).astype(np.float32)


def frame_waveform(waveform: Any, framing: Framing) -> Any:
    """Cuts waveforms into windows like :meth:`~tfgenre.core.framing.Framing.cut`.

    A waveform shorter than one window is zero-padded to one; for whole inputs
    (``framing.window_samples`` None) the one window is the waveform, zero-padded to
    ``framing.min_samples``.

    Args:
        waveform: float32 tensor ``(n_samples,)``, or ``(batch, n_samples)``.
        framing: How to cut it (at the waveform's rate).

    Returns:
        float32 tensor ``(n_windows, length)`` (``(batch, n_windows, length)``),
        ``n_windows >= 1``.
    """
    import tensorflow as tf

    y = tf.cast(waveform, tf.float32)
    if y.shape.rank != 2:
        y = tf.reshape(y, [-1])
    window = framing.window_samples
    least = framing.min_samples if window is None else window
    short = tf.maximum(least - tf.shape(y)[-1], 0)
    y = tf.pad(y, [[0, 0]] * (y.shape.rank - 1) + [[0, short]])
    if window is None:
        return tf.expand_dims(y, -2)
    return tf.signal.frame(y, window, framing.hop_samples, pad_end=False, axis=-1)


def log_mel(
    windows: Any,
    *,
    sample_rate: int,
    n_fft: int = 2048,
    hop_length: int = 512,
    n_mels: int = 128,
    fmin: float = 0.0,
    fmax: float | None = None,
    top_db: float = 80.0,
    amin: float = 1e-10,
) -> Any:
    """The mel view's dB spectrogram in TensorFlow ops.

    Args:
        windows: float32 ``(batch, n_samples)``.
        sample_rate: Rate of ``windows`` in Hz.
        n_fft: FFT size.
        hop_length: Frame hop.
        n_mels: Mel bands.
        fmin: Lowest band edge in Hz.
        fmax: Highest band edge in Hz (None: sample_rate / 2).
        top_db: Dynamic range kept below each window's peak.
        amin: Smallest power before the log.

    Returns:
        float32 ``(batch, n_mels, 1 + n_samples // hop_length)`` in dB.
    """
    import tensorflow as tf

    basis = slaney_mel_basis(int(sample_rate), int(n_fft), int(n_mels), float(fmin), fmax)
    pad = n_fft // 2
    padded = tf.pad(windows, [[0, 0], [pad, pad]])  # center=True, pad_mode="constant"
    stft = tf.signal.stft(
        padded,
        frame_length=n_fft,
        frame_step=hop_length,
        fft_length=n_fft,
        window_fn=functools.partial(tf.signal.hann_window, periodic=True),
        pad_end=False,
    )  # (batch, frames, 1 + n_fft // 2) complex64
    power = tf.square(tf.math.real(stft)) + tf.square(tf.math.imag(stft))
    # The filterbank is the left operand: (n_mels, bins) @ (batch, bins, frames). TFLite's
    # dynamic-range quantisation quantises the constant right operand of a matmul (a
    # FULLY_CONNECTED weight) to int8 and the power spectrum with it, which spans ~20
    # orders of magnitude and does not survive 8 bits; as the left operand the
    # filterbank stays float32 and the front end is not quantised.
    mel = tf.matmul(tf.constant(basis), power, transpose_b=True)  # (batch, n_mels, frames)
    db = (10.0 / np.log(10.0)) * tf.math.log(tf.maximum(mel, amin))
    peak = tf.reduce_max(db, axis=[1, 2], keepdims=True)
    return tf.maximum(db, peak - top_db)


def view_from_windows(windows: Any, spec: FrontendSpec) -> Any:
    """Model inputs ``(n_windows, *spec.input_shape)`` float32 from framed windows."""
    import tensorflow as tf

    p = spec.params
    if spec.view == "raw":
        x = windows
        n = spec.input_shape[0]
        x = x[:, :n]
        if spec.dtype == "int16":
            scale = float(p.get("scale") or 32767.0)
            x = tf.round(tf.clip_by_value(x, -1.0, 1.0) * scale) / scale
        elif spec.dtype == "float16":
            x = tf.cast(tf.cast(x, tf.float16), tf.float32)
        return x
    from tfgenre.views.mel import MelView

    # Every field of the mel view comes from the stored params (a missing one is an error).
    mel = MelView.from_spec(ViewSpec("mel", spec.dtype, spec.input_shape, params=p))
    db = log_mel(
        windows,
        sample_rate=spec.framing.sample_rate,
        n_fft=mel.n_fft,
        hop_length=mel.hop_length,
        n_mels=mel.n_mels,
        fmin=float(mel.fmin or 0.0),
        fmax=mel.fmax,
        top_db=float(mel.top_db),
        amin=float(p.get("amin", 1e-10)),
    )
    db = tf.expand_dims(db, -1)
    if mel.image_size:
        size = int(mel.image_size)
        db = tf.image.resize(db, (size, size), method="bilinear")
    if spec.dtype == "float16":
        db = tf.cast(tf.cast(db, tf.float16), tf.float32)
    return db


def waveform_to_probabilities(model: Any, waveform: Any, spec: FrontendSpec) -> dict[str, Any]:
    """The serving computation: waveform -> per-window and averaged probabilities.

    Args:
        model: Keras model ``(batch, *spec.input_shape)`` -> ``(batch, classes)``.
        waveform: float32 ``(n_samples,)`` at ``spec.framing.sample_rate``.
        spec: The front end.

    Returns:
        ``{"probabilities": (classes,), "segment_probabilities": (n_windows, classes)}``.
    """
    import tensorflow as tf

    windows = frame_waveform(waveform, spec.framing)
    x = view_from_windows(windows, spec)
    probs = tf.cast(model(x, training=False), tf.float32)
    return {"probabilities": tf.reduce_mean(probs, axis=0), "segment_probabilities": probs}


def serving_input_name(run: RunInfo, vector_input: bool = False) -> str:
    """The serving signature's input: ``waveform``, or a vector view's name.

    Args:
        run: The run.
        vector_input: For an ``embeddings`` run, take the stored rows instead of a
            waveform (the ``features`` view always takes its rows).
    """
    from tfgenre.views.registry import VECTOR_VIEWS

    if run.view == "embeddings" and not vector_input:
        return "waveform"
    return run.view if run.view in VECTOR_VIEWS else "waveform"


def serving_module(model: Any, run: RunInfo, vector_input: bool = False) -> tuple[Any, str]:
    """A ``tf.Module`` holding the model and its serving function; returns (module, input).

    A plain ``tf.Module`` rather than ``keras.export.ExportArchive``: the latter writes
    every variable twice (as ``variables`` and ``_all_variables``), doubling the size.

    Args:
        model: The run's Keras model.
        run: The run.
        vector_input: See :func:`serving_input_name`.
    """
    import tensorflow as tf

    name = serving_input_name(run, vector_input)
    if name == "waveform" and run.view == "embeddings":
        from tfgenre.inference.embedding_serving import build_serving

        return build_serving(model, run), name
    if name != "waveform":  # a vector view: its rows are the input
        width = int(run.input_shape[0])

        class FeaturesServing(tf.Module):
            def __init__(self, model: Any) -> None:
                super().__init__(name="tfgenre_serving")
                self.model = model

            @tf.function(input_signature=[tf.TensorSpec([None, width], tf.float32, name)])
            def serve(self, features: Any) -> dict[str, Any]:
                return {"probabilities": tf.cast(self.model(features, training=False), tf.float32)}

        return FeaturesServing(model), name
    spec = FrontendSpec.from_run_info(run)

    class WaveformServing(tf.Module):
        def __init__(self, model: Any) -> None:
            super().__init__(name="tfgenre_serving")
            self.model = model

        @tf.function(input_signature=[tf.TensorSpec([None], tf.float32, "waveform")])
        def serve(self, waveform: Any) -> dict[str, Any]:
            return waveform_to_probabilities(self.model, waveform, spec)

    return WaveformServing(model), "waveform"


def write_saved_model(model: Any, run: RunInfo, path: str, vector_input: bool = False) -> str:
    """Writes the serving SavedModel of ``model`` to ``path``; returns the input name.

    ``vector_input``: see :func:`serving_input_name`.
    """
    import tensorflow as tf

    module, input_name = serving_module(model, run, vector_input)
    tf.saved_model.save(module, path, signatures={SIGNATURE: module.serve})
    return input_name
