"""A published backbone ready to run on audio: waveform -> per-patch tags and embeddings.

The one place that turns audio into musicnn / vgg outputs, shared by the ``embeddings``
view (write_records), tagging (predict --model musicnn_msd) and the benchmarks::

    runner = BackboneRunner("musicnn_msd")
    y16 = to_backbone_rate(y, 22050)            # (samples,) float32 at 16 kHz
    out = runner(y16)                           # {"taggram": (P, 50), "max_pool": (P, 753), ...}

Patches are 187 frames (2.992 s) without overlap unless ``hop_frames`` says otherwise,
as in ``musicnn.extractor``. A clip shorter than one patch is zero-padded to one patch
(the original returns nothing for it); :meth:`BackboneRunner.patches` says when it did.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from tfgenre.backbones.frontend import FFT_HOP, N_MELS, PATCH_FRAMES, SAMPLE_RATE, frame_count
from tfgenre.backbones.weights import WeightSet, find_weights
from tfgenre.core.traced import batch_function
from tfgenre.errors import ConfigError

#: Seconds of audio in one patch (187 frames of hop 256 at 16 kHz).
PATCH_SECONDS = PATCH_FRAMES * FFT_HOP / SAMPLE_RATE
#: Samples at 16 kHz that give exactly one patch (``1 + n // 256 == 187``).
PATCH_SAMPLES = (PATCH_FRAMES - 1) * FFT_HOP

#: Width of each output per architecture (musicnn: 561 front-end + 3 x 64 mid-end).
OUTPUT_DIMS: dict[str, dict[str, int]] = {
    "musicnn": {"taggram": 50, "penultimate": 200, "mean_pool": 753, "max_pool": 753},
    "vgg": {"taggram": 50, "penultimate": 256},
}


def output_dims(weights: WeightSet) -> dict[str, int]:
    """Output name -> width for a weight set (no model is built)."""
    dims = dict(OUTPUT_DIMS[weights.architecture])
    dims["taggram"] = len(weights.labels)
    return dims


def to_backbone_rate(y: np.ndarray, sample_rate: int) -> np.ndarray:
    """``y`` resampled to 16 kHz with soxr (what ``librosa.load(sr=16000)`` does).

    Args:
        y: float array ``(..., samples)`` at ``sample_rate``.
        sample_rate: Its rate in Hz.

    Returns:
        float32 array ``(..., ceil(samples * 16000 / sample_rate))``.
    """
    if int(sample_rate) <= 0:
        raise ConfigError(f"sample_rate={sample_rate} must be > 0")
    y = np.asarray(y, dtype=np.float32)
    if int(sample_rate) == SAMPLE_RATE:
        return y
    import librosa

    return librosa.resample(
        y, orig_sr=int(sample_rate), target_sr=SAMPLE_RATE, res_type="soxr_hq"
    ).astype(np.float32)


@dataclasses.dataclass(frozen=True)
class Patches:
    """Log-mel patches of one clip.

    Attributes:
        values: float32 ``(patches, 187, 96)``.
        starts: Start of each patch in seconds, ``(patches,)``.
        padded: Whether the clip was shorter than one patch and zero-padded.
    """

    values: np.ndarray
    starts: np.ndarray
    padded: bool


def _build(weights: WeightSet, precision: str) -> Any:
    """The port of ``weights``, its layers built under ``precision``'s dtype policy."""
    import keras

    from tfgenre.backbones.precision import policy
    from tfgenre.backbones.pretrained import build_pretrained

    name = policy(precision)
    if name is None:
        return build_pretrained(weights)
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(name)
    try:
        return build_pretrained(weights)
    finally:
        keras.config.set_dtype_policy(previous)


class BackboneRunner:
    """A weight set's port and front end, run in fixed-size batches.

    Args:
        weights: A weight-set name (``musicnn_msd``, ...), a checkpoint folder or a
            :class:`WeightSet`.
        batch_size: Most patches per model call.
        hop_frames: Frames between patch starts (None: 187, no overlap).
        precision: ``float32`` (the default, deterministic) or ``bfloat16`` (the
            network under Keras' ``mixed_bfloat16`` policy, outputs returned as
            float32; only on a CPU with native bfloat16, see
            :mod:`tfgenre.backbones.precision`).

    Raises:
        ConfigError: a bad batch size or hop, or ``bfloat16`` on a CPU without it.
    """

    def __init__(
        self,
        weights: str | WeightSet,
        *,
        batch_size: int = 32,
        hop_frames: int | None = None,
        precision: str = "float32",
    ) -> None:
        from tfgenre.backbones.frontend import MusicnnFrontEnd
        from tfgenre.backbones.precision import check_precision

        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ConfigError(f"batch_size={batch_size!r} must be an int >= 1")
        self.weights = weights if isinstance(weights, WeightSet) else find_weights(weights)
        self.batch_size = batch_size
        self.hop_frames = PATCH_FRAMES if hop_frames is None else int(hop_frames)
        if self.hop_frames < 1:
            raise ConfigError(f"hop_frames={hop_frames!r} must be >= 1")
        self.precision = check_precision(precision)
        self.model = _build(self.weights, self.precision)
        self.frontend = MusicnnFrontEnd()
        self.frontend.build((None, None))
        self.dims = output_dims(self.weights)
        self._model = batch_function(self.model, (PATCH_FRAMES, N_MELS))

    @property
    def labels(self) -> tuple[str, ...]:
        """The tag names, in the order of the ``taggram`` columns."""
        return self.weights.labels

    def log_mel(self, y16: np.ndarray) -> np.ndarray:
        """``(samples,)`` at 16 kHz -> ``(frames, 96)`` float32 ``log10(10000 mel + 1)``."""
        y16 = np.asarray(y16, dtype=np.float32)
        if y16.ndim != 1:
            raise ConfigError(f"waveform shape={y16.shape} must be (samples,) (mono)")
        # eager: a traced front end rounds differently in ~40 % of its values (grappler)
        return np.asarray(self.frontend.log_mel(y16[None, :]))[0]

    def patches(self, y16: np.ndarray, hop_frames: int | None = None) -> Patches:
        """The clip's 187-frame patches, every ``hop_frames`` frames (None: the runner's)."""
        y16 = np.asarray(y16, dtype=np.float32)
        padded = frame_count(y16.shape[-1]) < PATCH_FRAMES
        if padded:
            y16 = np.pad(y16, (0, PATCH_SAMPLES - y16.shape[-1]))
        spec = self.log_mel(y16)
        hop = self.hop_frames if hop_frames is None else int(hop_frames)
        if hop < 1:
            raise ConfigError(f"hop_frames={hop_frames!r} must be >= 1")
        starts = np.arange(0, spec.shape[0] - PATCH_FRAMES + 1, hop)
        values = np.stack([spec[s : s + PATCH_FRAMES] for s in starts]).astype(np.float32)
        return Patches(values, starts * FFT_HOP / SAMPLE_RATE, padded)

    def run(self, patches: np.ndarray) -> dict[str, np.ndarray]:
        """The model's outputs for ``(n, 187, 96)`` patches: name -> ``(n, width)`` float32."""
        patches = np.asarray(patches, dtype=np.float32)
        if patches.ndim != 3 or patches.shape[1:] != (PATCH_FRAMES, N_MELS):
            raise ConfigError(
                f"patches shape={patches.shape} must be (n, {PATCH_FRAMES}, {N_MELS})"
            )
        chunks: dict[str, list[np.ndarray]] = {name: [] for name in self.dims}
        for start in range(0, len(patches), self.batch_size):
            batch = patches[start : start + self.batch_size]
            out = self._model(batch)
            for name in chunks:
                chunks[name].append(np.asarray(out[name], dtype=np.float32))
        return {
            name: np.concatenate(parts) if parts else np.zeros((0, self.dims[name]), np.float32)
            for name, parts in chunks.items()
        }

    def __call__(self, y16: np.ndarray) -> dict[str, Any]:
        """Every output for each patch of a clip at 16 kHz: name -> ``(patches, width)``."""
        return self.run(self.patches(y16).values)
