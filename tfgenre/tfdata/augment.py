"""Training-only augmentation of model batches: SpecAugment masks, noise, gain and mixup.

:class:`AugmentConfig` is the ``augment`` section of a fit config;
:func:`make_augment` turns it into a ``tf.data`` batch function for one view.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from tfgenre.errors import ConfigError


@dataclasses.dataclass(frozen=True)
class AugmentConfig:
    """Training-only augmentation; every part is off by default.

    Attributes:
        time_masks: SpecAugment time masks per mel example.
        time_mask_frames: Maximum width of a time mask, in frames.
        freq_masks: SpecAugment frequency masks per mel example.
        freq_mask_bins: Maximum height of a frequency mask, in mel bins.
        mixup_alpha: Beta(alpha, alpha) mixup of batch pairs (0: off).
        noise_std: Std of additive Gaussian noise (raw: in waveform units; mel: dB;
            features: in units of each feature's train std).
        gain_db: Random gain in [-gain_db, +gain_db] dB (raw: scales the waveform;
            mel: shifts the dB values).
    """

    time_masks: int = 0
    time_mask_frames: int = 16
    freq_masks: int = 0
    freq_mask_bins: int = 12
    mixup_alpha: float = 0.0
    noise_std: float = 0.0
    gain_db: float = 0.0

    def __post_init__(self) -> None:
        for key in ("time_masks", "time_mask_frames", "freq_masks", "freq_mask_bins"):
            if getattr(self, key) < 0:
                raise ConfigError(f"augment.{key}={getattr(self, key)} must be >= 0")
        for key in ("mixup_alpha", "noise_std", "gain_db"):
            if getattr(self, key) < 0:
                raise ConfigError(f"augment.{key}={getattr(self, key)} must be >= 0")

    @property
    def active(self) -> bool:
        """Whether any augmentation is on."""
        return bool(
            self.time_masks or self.freq_masks or self.mixup_alpha or self.noise_std or self.gain_db
        )


def spec_augment(x: Any, cfg: AugmentConfig, fill: float, seed: Any) -> Any:
    """SpecAugment masks on a batch ``(b, n_mels, frames, 1)``; masked cells get ``fill``.

    Args:
        x: The batch.
        cfg: How many masks, and their widths.
        fill: The value of masked cells.
        seed: int ``(2,)`` seed of the stateless draws (the same seed, the same masks).
    """
    import tensorflow as tf

    shape = tf.shape(x)
    b, f, t = shape[0], shape[1], shape[2]
    keep = tf.ones_like(x, dtype=tf.bool)
    seeds = iter(
        tf.unstack(
            tf.random.experimental.stateless_split(seed, 2 * (cfg.freq_masks + cfg.time_masks))
        )
    )

    def masks(count: int, max_width: int, size: Any, axis: int) -> Any:
        mask = tf.zeros((b, size), dtype=tf.bool)
        positions = tf.range(size)[tf.newaxis, :]
        for _ in range(count):
            width = tf.random.stateless_uniform(
                (b, 1), next(seeds), 0, max_width + 1, dtype=tf.int32
            )
            room = tf.cast(tf.maximum(size - width + 1, 1), tf.float32)
            start = tf.cast(
                tf.floor(tf.random.stateless_uniform((b, 1), next(seeds)) * room), tf.int32
            )
            mask |= (positions >= start) & (positions < start + width)
        mask = mask[:, :, tf.newaxis, tf.newaxis] if axis == 1 else mask[:, tf.newaxis, :, None]
        return mask

    if cfg.freq_masks:
        keep &= ~masks(cfg.freq_masks, cfg.freq_mask_bins, f, 1)
    if cfg.time_masks:
        keep &= ~masks(cfg.time_masks, cfg.time_mask_frames, t, 2)
    return tf.where(keep, x, tf.cast(fill, x.dtype))


def make_augment(view: str, cfg: AugmentConfig, feature_std: np.ndarray | None = None) -> Any:
    """A batch function ``(seed, x, y) -> (x, y)`` applying ``cfg`` for ``view``.

    Every draw is stateless (``tf.random.stateless_*``) from ``seed``, an int ``(2,)``
    tensor: the same seed gives the same noise, gains, masks and mixup pairs, in any
    process. The training pipeline gives each batch of each epoch its own seed
    (:func:`tfgenre.tfdata.records_dataset.records_dataset`), so epochs draw anew and a
    resumed epoch draws what the uninterrupted run drew.
    """
    import tensorflow as tf

    def augment(seed: Any, x: Any, y: Any) -> tuple[Any, Any]:
        gain_seed, noise_seed, mask_seed, g1_seed, g2_seed, perm_seed = tf.unstack(
            tf.random.experimental.stateless_split(seed, 6)
        )
        b = tf.shape(x)[0]
        rank = len(x.shape)
        per_example = tf.concat([[b], tf.ones([rank - 1], tf.int32)], axis=0)
        if cfg.gain_db:
            gain = tf.random.stateless_uniform(per_example, gain_seed, -cfg.gain_db, cfg.gain_db)
            x = x + gain if view == "mel" else (x * 10.0 ** (gain / 20.0) if view == "raw" else x)
        if cfg.noise_std:
            scale = cfg.noise_std
            if feature_std is not None:  # vector views: in units of each column's std
                scale = cfg.noise_std * tf.constant(feature_std, tf.float32)
            x = x + tf.random.stateless_normal(tf.shape(x), noise_seed) * scale
        if view == "mel" and (cfg.time_masks or cfg.freq_masks):
            x = spec_augment(x, cfg, fill=tf.reduce_min(x), seed=mask_seed)
        if cfg.mixup_alpha:
            g1 = tf.random.stateless_gamma([b], g1_seed, cfg.mixup_alpha)
            g2 = tf.random.stateless_gamma([b], g2_seed, cfg.mixup_alpha)
            lam = g1 / (g1 + g2)
            perm = tf.argsort(tf.random.stateless_uniform([b], perm_seed))
            lx = tf.reshape(lam, per_example)
            x = lx * x + (1.0 - lx) * tf.gather(x, perm)
            ly = lam[:, tf.newaxis]
            y = ly * y + (1.0 - ly) * tf.gather(y, perm)
        return x, y

    return augment
