"""The ``embeddings`` view: a pretrained backbone's embedding (+ tags) of each window.

For each window the writer hands it (at ``audio.sample_rate``), the view resamples to
the backbone's 16 kHz (:func:`~tfgenre.backbones.runner.to_backbone_rate`), cuts the
backbone's own 187-frame (2.992 s) patches without overlap
(:meth:`~tfgenre.backbones.runner.BackboneRunner.patches`), runs the port and stores
the mean over the window's patches of the chosen layer, followed by the mean of the 50
tag probabilities when ``tags`` is set. So the backbone always sees its own length and
rate, whatever the other views use: a 3-s window is one patch, a 30-s window ten.

The weights' sha256 is stored in the spec; :meth:`EmbeddingsView.from_spec` refuses
weights that differ from those the records were written with. The port is built once
per process, on the first :meth:`~EmbeddingsView.compute`, never by :meth:`spec`.

Example::

    python -m tfgenre.write_records --source gtzan --input data/genres \
        --output records/emb --views embeddings --set embeddings.backbone=musicnn_msd
"""

from __future__ import annotations

import dataclasses
import logging
import re
from typing import Any

import numpy as np

from tfgenre.backbones.weights import WEIGHT_SETS, WeightSet, find_weights, verify_weights
from tfgenre.config import did_you_mean
from tfgenre.errors import ConfigError
from tfgenre.views.base import ViewSpec

logger = logging.getLogger(__name__)

#: The layer stored when ``layer`` is None, per architecture.
DEFAULT_LAYERS: dict[str, str] = {"musicnn": "max_pool", "vgg": "penultimate"}
#: The tag probabilities' output (appended when ``tags`` is set).
TAGS_OUTPUT = "taggram"

#: Backbone name -> its runner, built on first use in this process (pool workers too).
_RUNNERS: dict[str, Any] = {}


def runner_for(backbone: str) -> Any:
    """The process's :class:`~tfgenre.backbones.runner.BackboneRunner` of ``backbone``."""
    runner = _RUNNERS.get(backbone)
    if runner is None:
        from tfgenre.backbones.runner import BackboneRunner

        logger.info("building the %s backbone", backbone)
        runner = _RUNNERS[backbone] = BackboneRunner(backbone)
    return runner


def weights_checksum(weights: WeightSet) -> str:
    """The sha256 of a weight set's data file, verified once per process.

    Called by :meth:`EmbeddingsView.spec` and :meth:`EmbeddingsView.from_spec`, so a
    damaged weights file stops write_records before any clip is read, not once per clip.

    Raises:
        DamagedFileError: The weights are truncated or altered.
    """
    return verify_weights(weights)


def _column(label: str) -> str:
    return re.sub(r"\W+", "_", label.strip().lower()).strip("_")


@dataclasses.dataclass(frozen=True)
class EmbeddingsView:
    """Stores a pretrained backbone's mean embedding (and tags) of each window.

    Attributes:
        backbone: Weight-set name: ``musicnn_mtt``, ``musicnn_msd``, ``vgg_mtt``,
            ``vgg_msd``.
        layer: The port output stored as the embedding (musicnn: ``max_pool``,
            ``mean_pool``, ``penultimate``; vgg: ``penultimate``); None: ``max_pool``
            for musicnn, ``penultimate`` for vgg.
        tags: Append the mean tag probabilities (50 columns) after the embedding.
    """

    backbone: str = "musicnn_msd"
    layer: str | None = None
    tags: bool = True
    name: str = dataclasses.field(default="embeddings", init=False)

    def __post_init__(self) -> None:
        if self.backbone not in WEIGHT_SETS:
            raise ConfigError(
                f"embeddings.backbone={self.backbone!r} is unknown (known: "
                f"{', '.join(WEIGHT_SETS)}){did_you_mean(str(self.backbone), WEIGHT_SETS)}"
            )
        if not isinstance(self.tags, bool):
            raise ConfigError(f"embeddings.tags={self.tags!r} must be true or false")
        if self.layer is not None:
            from tfgenre.backbones.runner import OUTPUT_DIMS

            outputs = OUTPUT_DIMS[self.architecture]
            if self.layer not in outputs:
                raise ConfigError(
                    f"embeddings.layer={self.layer!r} is not an output of {self.backbone} "
                    f"({self.architecture}: {', '.join(outputs)})"
                    + did_you_mean(str(self.layer), outputs)
                )
            if self.layer == TAGS_OUTPUT and self.tags:
                raise ConfigError(
                    f"embeddings.layer={TAGS_OUTPUT!r} with embeddings.tags=true stores the "
                    "tags twice; set embeddings.tags=false"
                )

    @property
    def architecture(self) -> str:
        """``musicnn`` or ``vgg``."""
        return WEIGHT_SETS[self.backbone][0]

    @property
    def output(self) -> str:
        """The port output stored as the embedding (``layer`` or its default)."""
        return self.layer or DEFAULT_LAYERS[self.architecture]

    def weights(self) -> WeightSet:
        """The installed weight set (ConfigError saying how to install it when missing)."""
        return find_weights(self.backbone)

    def check_window(self, window_seconds: float | None) -> None:
        """Raises ConfigError for windows shorter than one backbone patch (2.992 s).

        Args:
            window_seconds: The writer's ``audio.window_seconds`` (0 or None: whole
                tracks, any length).
        """
        from tfgenre.backbones.runner import PATCH_SECONDS

        if window_seconds and window_seconds < PATCH_SECONDS - 1e-9:
            raise ConfigError(
                f"audio.window_seconds={window_seconds:g} is shorter than one "
                f"{self.backbone} patch: the embeddings view needs windows of at least "
                f"{PATCH_SECONDS:g} s (187 frames at 16 kHz), or 0 for whole tracks"
            )

    @classmethod
    def from_spec(cls, spec: ViewSpec) -> EmbeddingsView:
        """The view that wrote ``spec``, if the installed weights are the same.

        Raises:
            ConfigError: the installed weights' sha256 differs from the stored one, or
                the weights are not installed.
        """
        p = spec.params
        view = cls(backbone=str(p["backbone"]), layer=p.get("layer"), tags=bool(p["tags"]))
        stored = p.get("weights_sha256")
        installed = weights_checksum(view.weights())
        if stored != installed:
            raise ConfigError(
                f"the installed {view.backbone} weights (sha256 {installed}) differ from "
                f"those the embeddings were computed with (sha256 {stored}); install the "
                "same weights or write the records again"
            )
        return view

    def spec(self, segment_samples: int, sample_rate: int) -> ViewSpec:
        """Payload ``(width,)`` float32: the embedding, then the tags when ``tags``.

        Args:
            segment_samples: Window length, or 0 for whole tracks (any length).
            sample_rate: Rate of the windows in Hz (the backbone resamples to 16 kHz).

        Raises:
            ConfigError: a window shorter than one patch, or the weights are missing.
        """
        from tfgenre.backbones.frontend import SAMPLE_RATE
        from tfgenre.backbones.runner import PATCH_SECONDS, output_dims

        if sample_rate <= 0:
            raise ConfigError(f"sample_rate={sample_rate} must be > 0")
        self.check_window(segment_samples / sample_rate if segment_samples else None)
        ws = self.weights()
        names = [f"{self.output}_{i}" for i in range(output_dims(ws)[self.output])]
        if self.tags:
            names += [f"tag_{_column(label)}" for label in ws.labels]
        params = {
            "backbone": self.backbone,
            "layer": self.output,
            "tags": self.tags,
            "architecture": ws.architecture,
            "dataset": ws.dataset,
            "weights_sha256": weights_checksum(ws),
            "tag_labels": list(ws.labels),
            "licence": ws.licence,
            "backbone_sample_rate": SAMPLE_RATE,
            "patch_seconds": PATCH_SECONDS,
            "summary": "mean over the window's non-overlapping patches",
        }
        return ViewSpec(
            name="embeddings",
            dtype="float32",
            shape=(len(names),),
            feature_names=tuple(names),
            params=params,
        )

    def compute(self, segments: np.ndarray, sample_rate: int) -> np.ndarray:
        """Mean embedding (+ mean tags) over each window's patches.

        Args:
            segments: float32 ``(n_segments, samples)`` at ``sample_rate``.
            sample_rate: Rate in Hz.

        Returns:
            float32 ``(n_segments, width)``.
        """
        from tfgenre.backbones.runner import to_backbone_rate

        runner = runner_for(self.backbone)
        y16 = to_backbone_rate(np.asarray(segments, dtype=np.float32), sample_rate)
        patches = [runner.patches(row).values for row in y16]
        counts = [len(p) for p in patches]
        if not patches:
            return np.zeros((0, self.spec(0, sample_rate).shape[0]), np.float32)
        out = runner.run(np.concatenate(patches))
        outputs = [self.output, TAGS_OUTPUT] if self.tags else [self.output]
        ends = np.cumsum(counts)[:-1]
        columns = [
            np.stack([part.mean(axis=0) for part in np.split(out[name], ends)]) for name in outputs
        ]
        return np.concatenate(columns, axis=1).astype(np.float32)
