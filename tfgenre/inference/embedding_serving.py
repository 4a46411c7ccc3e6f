"""Waveform -> genre in one graph for runs on the ``embeddings`` view.

An exported model of an embeddings run takes a mono float32 waveform at the backbones'
16 kHz and computes in TensorFlow ops what ``predict`` computes with numpy and the
backbone runners (:meth:`tfgenre.views.embeddings.EmbeddingsView.compute`):

1. the run's framing at 16 kHz: one window = the whole waveform for a run written with
   ``--window-seconds 0`` (zero-padded to one 2.992-s patch when shorter), else windows
   of the run's length and hop converted to 16-kHz samples (a waveform shorter than
   one window is zero-padded to one, as :func:`tfgenre.core.audio.cut_segments` does);
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

from tfgenre.core.framing import Framing
from tfgenre.errors import ConfigError
from tfgenre.inference.serving import frame_waveform
from tfgenre.runs.run_info import RunInfo


def backbone_framing(framing: Framing) -> Framing:
    """How the serving graph of an embeddings run frames its 16-kHz waveform.

    ``framing`` (the run's) resampled to the backbones' rate
    (:meth:`~tfgenre.core.framing.Framing.resampled`: soxr's output lengths); for whole
    tracks one window is the whole input, zero-padded to one backbone patch.
    """
    from tfgenre.backbones.frontend import SAMPLE_RATE

    return _at_backbone_rate(framing.resampled(SAMPLE_RATE))


def _at_backbone_rate(framing: Framing) -> Framing:
    """A 16-kHz framing, whole inputs padded to one patch as the embeddings view pads them."""
    from tfgenre.backbones.runner import PATCH_SAMPLES

    if framing.whole_tracks:
        return dataclasses.replace(framing, min_samples=int(PATCH_SAMPLES))
    return framing


def matches_predict(framing: Framing) -> bool:
    """Whether the graph of a run of ``framing`` frames exactly as predict does.

    True for whole tracks and for runs written at 16 kHz; a run written with windows at
    another rate resampled each window on its own.
    """
    from tfgenre.backbones.frontend import SAMPLE_RATE

    return framing.whole_tracks or framing.sample_rate == SAMPLE_RATE


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


def _embed(
    frontend: Any,
    backbones: list[Any],
    parts: list[tuple[str, tuple[str, ...]]],
    windows: Any,
    *,
    poolings: tuple[str, ...],
    tags: bool,
    hop_frames: int,
) -> Any:
    """``(n, samples)`` 16-kHz windows -> ``(n, width)`` rows, as the embeddings view computes.

    Log-mel patches every ``hop_frames``, each backbone once on all patches, each
    layer pooled over a window's patches with every statistic, then the mean tags.
    """
    import tensorflow as tf

    from tfgenre.backbones.frontend import N_MELS, PATCH_FRAMES
    from tfgenre.views.embeddings import TAGS_OUTPUT

    spec = frontend.log_mel(windows)  # (n, frames, 96)
    patches = tf.signal.frame(spec, PATCH_FRAMES, hop_frames, pad_end=False, axis=1)
    n_windows, n_patches = tf.shape(patches)[0], tf.shape(patches)[1]
    flat = tf.reshape(patches, [-1, PATCH_FRAMES, N_MELS])
    columns = []
    for backbone, (_, layers) in zip(backbones, parts, strict=True):
        out = backbone(flat, training=False)
        for layer in layers:
            x = tf.cast(out[layer], tf.float32)
            x = tf.reshape(x, [n_windows, n_patches, x.shape[-1]])
            columns += [_pool(x, stat) for stat in poolings]
        if tags:
            t = tf.cast(out[TAGS_OUTPUT], tf.float32)
            columns.append(_pool(tf.reshape(t, [n_windows, n_patches, t.shape[-1]]), "mean"))
    return tf.concat(columns, axis=1)


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
    from tfgenre.records.reader import payload_scale

    view = embeddings_view(run)
    framing = backbone_framing(run.framing)
    parts = list(view.parts())
    from tfgenre.backbones.frontend import PATCH_FRAMES

    hop = view.hop_frames or PATCH_FRAMES
    options = {"poolings": view.poolings, "tags": view.tags, "hop_frames": hop}
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
            windows = frame_waveform(waveform, framing)
            rows = _embed(self.frontend, self.backbones, parts, windows, **options) / scale
            probs = tf.cast(self.model(rows, training=False), tf.float32)
            return {"probabilities": tf.reduce_mean(probs, axis=0), "segment_probabilities": probs}

    return EmbeddingsServing()


def _build_backbones(parts: list[dict[str, Any]]) -> list[Any]:
    """The backbones of ``parts`` (architectures only; the weights come later)."""
    from tfgenre.backbones.musicnn import build_musicnn
    from tfgenre.backbones.vgg import MSD_POOLS, MTT_POOLS, build_vgg

    nets = []
    for p in parts:
        if p["architecture"] == "musicnn":
            nets.append(build_musicnn(int(p["tags"]), name=p["backbone"]))
        else:
            pools = MSD_POOLS if p["dataset"] == "msd" else MTT_POOLS
            nets.append(build_vgg(int(p["tags"]), pools=pools, name=p["backbone"]))
    return nets


def _register() -> Any:
    import keras

    @keras.saving.register_keras_serializable(package="tfgenre")
    class WaveformToGenre(keras.layers.Layer):
        """A batch of 16-kHz waveforms -> genre probabilities (the run's whole pipeline).

        Holds musicnn's front end, the backbones (architectures rebuilt from ``parts``,
        weights restored by Keras from the ``.keras`` file) and the head.

        Args:
            head: The run's Keras model, ``(batch, width)`` -> ``(batch, classes)``.
            parts: ``[{"backbone", "architecture", "dataset", "layers", "tags"}]``.
            poolings: Statistics over a window's patches.
            tags: Whether each backbone's mean tags follow its layers.
            hop_frames: Frames between patch starts.
            window_samples: Window at 16 kHz (None: whole input).
            hop_samples: Hop between windows at 16 kHz.
            scale: The stored payload's divisor.
            **kwargs: Base layer arguments.
        """

        def __init__(
            self, head: Any, parts: list[dict[str, Any]], poolings: list[str], tags: bool,
            hop_frames: int, window_samples: int | None, hop_samples: int | None,
            scale: float = 1.0, **kwargs: Any,
        ) -> None:  # fmt: skip
            from tfgenre.backbones.frontend import SAMPLE_RATE, MusicnnFrontEnd

            super().__init__(**kwargs)
            if isinstance(head, dict):
                head = keras.saving.deserialize_keras_object(head)
            self.head = head
            self.parts = [dict(p) for p in parts]
            self.poolings = tuple(poolings)
            self.tags = bool(tags)
            self.hop_frames = int(hop_frames)
            self.framing = _at_backbone_rate(Framing(SAMPLE_RATE, window_samples, hop_samples))
            self.scale = float(scale)
            self.frontend = MusicnnFrontEnd(name="frontend")
            self.frontend.build((None, None))
            self.backbones = _build_backbones(self.parts)

        def call(self, waveforms: Any) -> Any:
            import tensorflow as tf

            windows = frame_waveform(waveforms, self.framing)  # (batch, n_windows, samples)
            batch, n_windows = tf.shape(windows)[0], tf.shape(windows)[1]
            flat = tf.reshape(windows, [batch * n_windows, -1])
            parts = [(p["backbone"], tuple(p["layers"])) for p in self.parts]
            rows = _embed(
                self.frontend, self.backbones, parts, flat, poolings=self.poolings,
                tags=self.tags, hop_frames=self.hop_frames,
            ) / self.scale  # fmt: skip
            probs = tf.cast(self.head(rows, training=False), tf.float32)
            return tf.reduce_mean(tf.reshape(probs, [batch, n_windows, -1]), axis=1)

        def compute_output_shape(self, input_shape: Any) -> tuple:
            return (input_shape[0], int(self.head.outputs[0].shape[-1]))

        def get_config(self) -> dict[str, Any]:
            config = super().get_config()
            config.update(
                head=keras.saving.serialize_keras_object(self.head),
                parts=self.parts,
                poolings=list(self.poolings),
                tags=self.tags,
                hop_frames=self.hop_frames,
                window_samples=self.framing.window_samples,
                hop_samples=self.framing.hop_samples,
                scale=self.scale,
            )
            return config

    return WaveformToGenre


#: The Keras layer of a waveform ``.keras`` export (registered as ``tfgenre>WaveformToGenre``).
WaveformToGenre = _register()


def build_keras_model(model: Any, run: RunInfo) -> Any:
    """The run's whole pipeline as a Keras model: ``(batch, samples)`` at 16 kHz -> probabilities.

    Loading the saved ``.keras`` file needs tfgenre imported (``import
    tfgenre.inference.embedding_serving`` registers the layer); the weights (backbones and head)
    are in the file.

    Args:
        model: The run's head.
        run: The run (view ``embeddings``).
    """
    import keras

    from tfgenre.backbones.frontend import PATCH_FRAMES
    from tfgenre.backbones.pretrained import build_pretrained
    from tfgenre.backbones.weights import find_weights
    from tfgenre.records.reader import payload_scale

    view = embeddings_view(run)
    framing = backbone_framing(run.framing)
    parts = []
    for name, layers in view.parts():
        ws = find_weights(name)
        parts.append(
            {
                "backbone": name,
                "architecture": ws.architecture,
                "dataset": ws.dataset,
                "layers": list(layers),
                "tags": len(ws.labels),
            }
        )
    layer = WaveformToGenre(
        model,
        parts,
        list(view.poolings),
        view.tags,
        view.hop_frames or PATCH_FRAMES,
        framing.window_samples,
        framing.hop_samples,
        float(payload_scale(run.view_spec)),
        name="waveform_to_genre",
    )
    for net, (name, _) in zip(layer.backbones, view.parts(), strict=True):
        net.set_weights(build_pretrained(name).get_weights())
    inputs = keras.Input((None,), name="waveform")
    return keras.Model(inputs, layer(inputs), name=f"{run.model}_from_waveform")
