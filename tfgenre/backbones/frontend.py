"""musicnn's front end as a Keras layer: 16-kHz waveform -> log-mel patches.

It reproduces ``musicnn.extractor.batch_data``: librosa's mel spectrogram (512-point
FFT with a periodic Hann window, hop 256, centred frames with zero padding, power 2,
96 Slaney mel bands), ``log10(10000 * mel + 1)``, cut into non-overlapping 187-frame
(3-s) patches.
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
from keras import ops

#: Sample rate the published models were trained at (Hz).
SAMPLE_RATE = 16000
#: FFT size and hop (samples).
FFT_SIZE = 512
FFT_HOP = 256
#: Mel bands.
N_MELS = 96
#: Frames of one input patch (3 s at 16 kHz, hop 256).
PATCH_FRAMES = 187


def mel_filterbank(
    sample_rate: int = SAMPLE_RATE, fft_size: int = FFT_SIZE, n_mels: int = N_MELS
) -> np.ndarray:
    """The mel filterbank of librosa (Slaney scale and norm), as musicnn computes it.

    Returns:
        float32 array of shape ``(fft_size // 2 + 1, n_mels)`` (ready for ``power @ fb``).
    """
    import librosa

    fb = librosa.filters.mel(sr=sample_rate, n_fft=fft_size, n_mels=n_mels)
    return np.ascontiguousarray(fb.T, dtype=np.float32)


def frame_count(num_samples: int) -> int:
    """Spectrogram frames of ``num_samples`` samples (centred frames, as librosa)."""
    return 1 + num_samples // FFT_HOP


@keras.saving.register_keras_serializable(package="tfgenre")
class MusicnnFrontEnd(keras.layers.Layer):
    """Waveform at 16 kHz -> musicnn's log-mel patches.

    Input shape: ``(batch, samples)``, mono float audio at :data:`SAMPLE_RATE`.
    Output shape: ``(batch, patches, patch_frames, 96)`` with
    ``patches = (frames - patch_frames) // hop_frames + 1`` and
    ``frames = 1 + samples // 256``; a clip shorter than one patch is an error of
    the caller (as in the original, which has no patch for it).

    Unlike the original, which casts the mel power to float16 before
    ``log10(10000 * mel + 1)`` (so the product overflows to ``inf`` on loud music),
    this computes everything in float32. Where float16 did not overflow, the two
    differ by float16's rounding only.

    Args:
        patch_frames: Frames per patch (187 = 3 s, what the models were trained on).
        hop_frames: Frames between patch starts (``patch_frames``: no overlap, the
            original's default).
        **kwargs: Base layer arguments (name, dtype, ...).
    """

    def __init__(
        self, patch_frames: int = PATCH_FRAMES, hop_frames: int | None = None, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        if patch_frames < 1:
            raise ValueError(f"patch_frames={patch_frames} must be >= 1")
        hop = patch_frames if hop_frames is None else int(hop_frames)
        if hop < 1:
            raise ValueError(f"hop_frames={hop_frames} must be >= 1")
        self.patch_frames = int(patch_frames)
        self.hop_frames = hop
        self._window = (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(FFT_SIZE) / FFT_SIZE)).astype(
            np.float32
        )  # periodic Hann, as scipy.signal.get_window("hann", fftbins=True)

    def build(self, input_shape: Any) -> None:
        fb = mel_filterbank()
        self.filterbank = self.add_weight(
            name="filterbank",
            shape=fb.shape,
            initializer=keras.initializers.Constant(fb),
            trainable=False,
            dtype="float32",
        )
        super().build(input_shape)

    def log_mel(self, waveform: Any) -> Any:
        """``(batch, samples)`` -> ``(batch, frames, 96)`` values of ``log10(10000 mel + 1)``."""
        x = ops.cast(waveform, "float32")
        half = FFT_SIZE // 2
        x = ops.pad(x, [[0, 0], [half, half]])  # librosa's center=True, pad_mode="constant"
        real, imag = ops.stft(
            x, FFT_SIZE, FFT_HOP, FFT_SIZE, window=ops.convert_to_tensor(self._window), center=False
        )
        power = ops.square(real) + ops.square(imag)  # (batch, frames, bins)
        # The filterbank is the left operand, as in tfgenre.inference.serving.log_mel: TFLite's
        # dynamic-range quantisation turns a constant right operand into int8 weights
        # and quantises the power spectrum with it (exports with --quantize then agreed
        # with the float model on a third of the windows); on the left it stays float32.
        basis = ops.transpose(ops.cast(self.filterbank, "float32"))  # (96, bins)
        mel = ops.transpose(ops.matmul(basis, ops.transpose(power, (0, 2, 1))), (0, 2, 1))
        return ops.log10(10000.0 * mel + 1.0)

    def call(self, inputs: Any) -> Any:
        spec = self.log_mel(inputs)
        frames = spec.shape[1]
        if frames is None:
            raise ValueError("MusicnnFrontEnd needs a known number of samples per clip")
        patches = [
            spec[:, start : start + self.patch_frames, :]
            for start in range(0, frames - self.patch_frames + 1, self.hop_frames)
        ]
        if not patches:
            raise ValueError(
                f"{frames} frames < patch_frames={self.patch_frames}: the clip is shorter "
                f"than one patch ({self.patch_frames * FFT_HOP / SAMPLE_RATE:.2f} s)"
            )
        return ops.stack(patches, axis=1)

    def compute_output_shape(self, input_shape: Any) -> tuple:
        samples = input_shape[-1]
        if samples is None:
            return (input_shape[0], None, self.patch_frames, N_MELS)
        patches = (frame_count(samples) - self.patch_frames) // self.hop_frames + 1
        return (input_shape[0], patches, self.patch_frames, N_MELS)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(patch_frames=self.patch_frames, hop_frames=self.hop_frames)
        return config
