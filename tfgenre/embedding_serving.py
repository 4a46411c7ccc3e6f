"""Waveform -> genre in one graph for runs on the ``embeddings`` view.

An exported model of an embeddings run takes a mono float32 waveform at the backbones'
16 kHz and computes in TensorFlow ops what ``predict`` computes with numpy and the
backbone runners (:meth:`tfgenre.views.embeddings.EmbeddingsView.compute`):

1. the run's framing at 16 kHz: one window = the whole waveform for a run written with
   ``--window-seconds 0`` (zero-padded to one 2.992-s patch when shorter), else windows
   of the run's length and hop converted to 16-kHz samples (a waveform shorter than
   one window is zero-padded to one, as :func:`tfgenre.audio.cut_segments` does);
2. musicnn's log-mel front end (:class:`~tfgenre.backbones.frontend.MusicnnFrontEnd`)
   and the 187-frame patches every ``embeddings.hop_seconds`` (default: no overlap);
3. every backbone of the view's ``parts``, in order, once on all patches; each stored
   layer pooled over a window's patches with each statistic of ``pooling`` (``mean``,
   ``max``, population ``std``), then the mean tags when the view stored them;
4. the run's head (its ``model.keras``: standardisation inside it for ``linear`` and
   ``features_mlp``), one row per window, and the mean over windows.

Exact parity with ``predict``: ``predict`` decodes a file at the run's rate and
resamples each window to 16 kHz with soxr. For a whole-track run the graph's input is
that resampled track (:func:`tfgenre.backbones.runner.to_backbone_rate` of the file
decoded at the run's rate; for a run written at 16 kHz, the file decoded at 16 kHz), so
the probabilities agree to float rounding. A run written with windows at another rate
resampled each window on its own; the graph frames the 16-kHz waveform instead, so the
window edges differ by the resampler's edge effects (small, not bit-level).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from tfgenre.errors import ConfigError
from tfgenre.run_info import RunInfo


@dataclasses.dataclass(frozen=True)
class EmbeddingsFraming:
    """How the serving graph of an embeddings run frames a 16-kHz waveform.

    Attributes:
        sample_rate: 16000 (the backbones' rate).
        window_samples: Window length at 16 kHz, or None for one window = the whole input.
        hop_samples: Hop between windows at 16 kHz (None for whole tracks).
        run_sample_rate: The rate the run's records were written at.
    """

    sample_rate: int
    window_samples: int | None
    hop_samples: int | None
    run_sample_rate: int

    @classmethod
    def from_run_info(cls, run: RunInfo) -> EmbeddingsFraming:
        """The framing of ``run`` converted to 16-kHz samples."""
        from tfgenre.backbones.frontend import SAMPLE_RATE

        audio = run.audio
        rate = int(audio.sample_rate)
        if audio.whole_tracks:
            return cls(SAMPLE_RATE, None, None, rate)
        window = -(-int(audio.window_samples or 0) * SAMPLE_RATE // rate)  # soxr's ceil
        hop = max(1, int(round(int(audio.hop or 0) * SAMPLE_RATE / rate)))
        return cls(SAMPLE_RATE, window, hop, rate)

    @property
    def exact(self) -> bool:
        """Whether the graph frames exactly as predict does (whole tracks, or a 16-kHz run)."""
        return self.window_samples is None or self.run_sample_rate == self.sample_rate


def embeddings_view(run: RunInfo) -> Any:
    """The run's :class:`~tfgenre.views.embeddings.EmbeddingsView` (checks the weights' sha256)."""
    from tfgenre.views.embeddings import EmbeddingsView

    if run.view != "embeddings":
        raise ConfigError(f"view={run.view!r}: the embeddings waveform graph needs view=embeddings")
    return EmbeddingsView.from_spec(run.view_spec)


def backbone_weights(run: RunInfo) -> list[dict[str, Any]]:
    """Every backbone of the run: name, architecture, layers, width, weights sha256, licence."""
    from tfgenre.backbones.weights import find_weights

    view = embeddings_view(run)
    stored = {str(p["backbone"]): p for p in run.view_spec.params.get("parts") or []}
    out = []
    for backbone, layers in view.parts():
        ws = find_weights(backbone)
        part = stored.get(backbone, {})
        out.append(
            {
                "name": backbone,
                "architecture": ws.architecture,
                "dataset": ws.dataset,
                "layers": list(layers),
                "width": part.get("width"),
                "weights_sha256": part.get("weights_sha256")
                or run.view_spec.params.get("weights_sha256"),
                "licence": ws.licence,
            }
        )
    return out


def _pool(x: Any, stat: str) -> Any:
    import tensorflow as tf

    if stat == "mean":
        return tf.reduce_mean(x, axis=1)
    if stat == "max":
        return tf.reduce_max(x, axis=1)
    return tf.math.reduce_std(x, axis=1)


def build_serving(model: Any, run: RunInfo) -> Any:
    """A ``tf.Module`` whose ``serve(waveform)`` returns the run's genre probabilities.

    Args:
        model: The run's head (``model.keras``): ``(batch, width)`` -> ``(batch, classes)``.
        run: The run (view ``embeddings``).

    Returns:
        The module; ``serve`` takes float32 ``(n_samples,)`` at 16 kHz and returns
        ``probabilities`` ``(classes,)`` and ``segment_probabilities`` ``(n_windows,
        classes)``.
    """
    import tensorflow as tf

    from tfgenre.backbones.frontend import MusicnnFrontEnd
    from tfgenre.backbones.pretrained import build_pretrained
    from tfgenre.backbones.runner import PATCH_SAMPLES
    from tfgenre.records.reader import payload_scale
    from tfgenre.serving import frame_waveform
    from tfgenre.views.embeddings import TAGS_OUTPUT

    view = embeddings_view(run)
    framing = EmbeddingsFraming.from_run_info(run)
    parts = view.parts()
    poolings = view.poolings
    tags = view.tags
    hop = view.hop_frames or 187
    scale = float(payload_scale(run.view_spec))
    frontend = MusicnnFrontEnd()
    frontend.build((None, None))
    backbones = [build_pretrained(name) for name, _ in parts]

    class EmbeddingsServing(tf.Module):
        def __init__(self) -> None:
            super().__init__(name="tfgenre_serving")
            self.model = model
            self.frontend = frontend
            self.backbones = backbones

        @tf.function(input_signature=[tf.TensorSpec([None], tf.float32, "waveform")])
        def serve(self, waveform: Any) -> dict[str, Any]:
            y = tf.reshape(tf.cast(waveform, tf.float32), [-1])
            if framing.window_samples is None:
                short = tf.maximum(PATCH_SAMPLES - tf.shape(y)[0], 0)
                windows = tf.expand_dims(tf.pad(y, [[0, short]]), 0)
            else:
                windows = frame_waveform(y, framing.window_samples, framing.hop_samples)
            spec = self.frontend.log_mel(windows)  # (windows, frames, 96)
            patches = tf.signal.frame(spec, 187, hop, pad_end=False, axis=1)
            n_windows, n_patches = tf.shape(patches)[0], tf.shape(patches)[1]
            flat = tf.reshape(patches, [-1, 187, 96])
            columns = []
            for backbone, (_, layers) in zip(self.backbones, parts, strict=True):
                out = backbone(flat, training=False)
                for layer in layers:
                    x = tf.cast(out[layer], tf.float32)
                    x = tf.reshape(x, [n_windows, n_patches, x.shape[-1]])
                    columns += [_pool(x, stat) for stat in poolings]
                if tags:
                    t = tf.cast(out[TAGS_OUTPUT], tf.float32)
                    t = tf.reshape(t, [n_windows, n_patches, t.shape[-1]])
                    columns.append(_pool(t, "mean"))
            rows = tf.concat(columns, axis=1) / scale
            probs = tf.cast(self.model(rows, training=False), tf.float32)
            return {"probabilities": tf.reduce_mean(probs, axis=0), "segment_probabilities": probs}

    return EmbeddingsServing()
