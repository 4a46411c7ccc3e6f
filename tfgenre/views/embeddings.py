"""The ``embeddings`` view: pretrained backbones' pooled embeddings (+ tags) of each window.

For each window the writer hands it (at ``audio.sample_rate``), the view resamples to
the backbones' 16 kHz (:func:`~tfgenre.backbones.runner.to_backbone_rate`), cuts the
backbones' own 187-frame (2.992 s) log-mel patches every ``hop_seconds`` (default: no
overlap; musicnn and vgg share the front end, so the patches are cut once), runs each
backbone once on them for all its requested layers, and pools each layer over the
window's patches with every statistic of ``pooling`` (``mean``, ``max``, ``std``). So
the backbones always see their own length and rate, whatever the other views use: a
3-s window is one patch, a whole 30-s track (``--window-seconds 0``) ten.

The payload is the concatenation, backbone by backbone in the order given, of
``layer x pooling`` blocks (layers in the order given, statistics in the order given),
then that backbone's mean tag probabilities when ``tags`` is set. A layer in
``layer`` is taken from every listed backbone that has that output (musicnn:
``max_pool``, ``mean_pool``, ``penultimate``; vgg: ``penultimate``) and skipped for a
backbone that lacks it (each part of the spec lists the layers it holds); a layer
name that is no backbone's output, or a backbone left with no layer, is refused up
front with the available outputs. The spec records
each part (backbone, architecture, layers, width, weights sha256, tag labels), so
:meth:`EmbeddingsView.from_spec` rebuilds the whole view and refuses weights that
differ from those the records were written with. The ports are built once per
process, on the first :meth:`~EmbeddingsView.compute`, never by :meth:`spec`.

The defaults are the genre recipe (README, "Pretrained embeddings"): ``musicnn_msd``
and ``vgg_msd``, layers ``penultimate`` and ``max_pool`` (musicnn has both, vgg only
the first), ``mean,max,std`` over the patches, no tags; written with
``--window-seconds 0`` a window is the whole track. The single-backbone embedding of
earlier versions is ``--set embeddings.backbone=musicnn_msd --set
embeddings.layer=max_pool --set embeddings.pooling=mean --set embeddings.tags=true``.

Example::

    python -m tfgenre.write_records --source gtzan --input data/genres \
        --output records/emb --views embeddings --window-seconds 0
"""

from __future__ import annotations

import dataclasses
import logging
import re
from typing import Any

import numpy as np

from tfgenre.backbones.weights import WEIGHT_SETS, WeightSet, find_weights, verify_weights
from tfgenre.core.config import did_you_mean
from tfgenre.errors import ConfigError
from tfgenre.views.base import ViewSpec

logger = logging.getLogger(__name__)

#: The layer stored when ``layer`` is None, per architecture.
DEFAULT_LAYERS: dict[str, str] = {"musicnn": "max_pool", "vgg": "penultimate"}
#: The tag probabilities' output (appended when ``tags`` is set).
TAGS_OUTPUT = "taggram"
#: The statistics ``pooling`` takes over a window's patches.
POOLINGS: tuple[str, ...] = ("mean", "max", "std")
#: The genre recipe (the defaults): backbones, layers and pooling.
RECIPE_BACKBONES: tuple[str, ...] = ("musicnn_msd", "vgg_msd")
RECIPE_LAYERS: tuple[str, ...] = ("penultimate", "max_pool")
RECIPE_POOLING: tuple[str, ...] = POOLINGS
#: ``embeddings.*`` of the single-backbone default of earlier versions (``--set`` these).
EARLIER_DEFAULT: dict[str, Any] = {
    "backbone": "musicnn_msd",
    "layer": "max_pool",
    "pooling": "mean",
    "tags": True,
}

#: (backbone, precision) -> its runner, built on first use in this process (pool
#: workers too).
_RUNNERS: dict[tuple[str, str], Any] = {}


def runner_for(backbone: str, precision: str = "float32") -> Any:
    """The process's :class:`~tfgenre.backbones.runner.BackboneRunner` of ``backbone``."""
    runner = _RUNNERS.get((backbone, precision))
    if runner is None:
        from tfgenre.backbones.runner import BackboneRunner

        logger.info("building the %s backbone (%s)", backbone, precision)
        runner = BackboneRunner(backbone, precision=precision)
        _RUNNERS[(backbone, precision)] = runner
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


def _names(value: Any) -> tuple[str, ...]:
    """A name, a comma-separated string or a list of names -> a tuple of names."""
    if isinstance(value, str):
        return tuple(v.strip() for v in value.split(",") if v.strip())
    if isinstance(value, (list, tuple)):
        return tuple(n for v in value for n in _names(v))
    return (value,)  # a wrong type: the caller's checks name it


def _canonical(names: tuple[str, ...]) -> str | tuple[str, ...]:
    """One name stays a string (as earlier configs and specs wrote it), several a tuple."""
    return names[0] if len(names) == 1 else names


def _text(value: Any) -> str:
    """``value`` as the user typed it: ``a`` or ``a,b``."""
    return ",".join(str(v) for v in _names(value)) if value is not None else "None"


@dataclasses.dataclass(frozen=True)
class EmbeddingsView:
    """Stores pretrained backbones' pooled embeddings (and tags) of each window.

    Attributes:
        backbone: Weight-set name(s), in the order their parts are concatenated:
            ``musicnn_mtt``, ``musicnn_msd``, ``vgg_mtt``, ``vgg_msd`` (a list, or
            a comma-separated string).
        layer: The port output(s) stored, each taken from every backbone that has it
            (musicnn: ``max_pool``, ``mean_pool``, ``penultimate``; vgg:
            ``penultimate``); None: ``max_pool`` for musicnn, ``penultimate`` for vgg.
        pooling: Statistic(s) over a window's patches, concatenated in this order:
            ``mean``, ``max``, ``std`` (population standard deviation).
        hop_seconds: Seconds between patch starts inside a window, > 0 and at most
            one patch (2.992 s); None: one patch length (no overlap).
        tags: Append each backbone's mean tag probabilities (50 columns) after its
            embedding.
        precision: ``float32`` (the default) or ``bfloat16`` (the networks in mixed
            bfloat16, an option for CPUs with native bfloat16: faster, and the
            embeddings drift from float32's; the spec records it). Refused by
            :meth:`spec` on a CPU without bfloat16.
    """

    backbone: str | tuple[str, ...] = RECIPE_BACKBONES
    layer: str | tuple[str, ...] | None = RECIPE_LAYERS
    pooling: str | tuple[str, ...] = RECIPE_POOLING
    hop_seconds: float | None = None
    tags: bool = False
    precision: str = "float32"
    name: str = dataclasses.field(default="embeddings", init=False)

    def __post_init__(self) -> None:
        backbones = _names(self.backbone)
        if not backbones:
            raise ConfigError(f"embeddings.backbone={self.backbone!r} names no backbone")
        for name in backbones:
            if name not in WEIGHT_SETS:
                raise ConfigError(
                    f"embeddings.backbone={name!r} is unknown (known: "
                    f"{', '.join(WEIGHT_SETS)}){did_you_mean(str(name), WEIGHT_SETS)}"
                )
        if len(set(backbones)) != len(backbones):
            raise ConfigError(f"embeddings.backbone={_text(self.backbone)!r} repeats a backbone")
        object.__setattr__(self, "backbone", _canonical(backbones))
        if not isinstance(self.tags, bool):
            raise ConfigError(f"embeddings.tags={self.tags!r} must be true or false")
        from tfgenre.backbones.precision import PRECISIONS

        if self.precision not in PRECISIONS:
            raise ConfigError(
                f"embeddings.precision={self.precision!r} must be one of {', '.join(PRECISIONS)}"
                + did_you_mean(str(self.precision), PRECISIONS)
            )
        pooling = _names(self.pooling)
        bad = [p for p in pooling if p not in POOLINGS]
        if bad or not pooling or len(set(pooling)) != len(pooling):
            raise ConfigError(
                f"embeddings.pooling={_text(self.pooling)!r} must be one or more of "
                f"{', '.join(POOLINGS)}, each once (e.g. mean,max,std)"
                + (did_you_mean(str(bad[0]), POOLINGS) if bad else "")
            )
        object.__setattr__(self, "pooling", _canonical(pooling))
        if self.hop_seconds is not None:
            from tfgenre.backbones.runner import PATCH_SECONDS

            hop = self.hop_seconds
            if isinstance(hop, bool) or not isinstance(hop, (int, float)):
                raise ConfigError(f"embeddings.hop_seconds={hop!r} must be a number")
            if not 0 < hop <= PATCH_SECONDS + 1e-9 or self.hop_frames < 1:
                raise ConfigError(
                    f"embeddings.hop_seconds={hop:g} must be > 0 and at most one patch "
                    f"({PATCH_SECONDS:g} s; overlapping patches, at least one 16-ms frame)"
                )
        if self.layer is not None:
            layers = _names(self.layer)
            if not layers or len(set(layers)) != len(layers):
                raise ConfigError(f"embeddings.layer={_text(self.layer)!r} repeats or is empty")
            object.__setattr__(self, "layer", _canonical(layers))
            if TAGS_OUTPUT in layers and self.tags:
                raise ConfigError(
                    f"embeddings.layer={TAGS_OUTPUT!r} with embeddings.tags=true stores the "
                    "tags twice; set embeddings.tags=false"
                )
        self.parts()  # refuses a layer that no backbone has, or a backbone with none

    @property
    def backbones(self) -> tuple[str, ...]:
        """The backbone names, in payload order."""
        return _names(self.backbone)

    @property
    def poolings(self) -> tuple[str, ...]:
        """The pooling statistics, in payload order."""
        return _names(self.pooling)

    @property
    def hop_frames(self) -> int | None:
        """Frames (16 ms) between patch starts, or None (one patch: no overlap)."""
        if self.hop_seconds is None:
            return None
        from tfgenre.backbones.frontend import FFT_HOP, SAMPLE_RATE

        return int(round(self.hop_seconds * SAMPLE_RATE / FFT_HOP))

    def parts(self) -> tuple[tuple[str, tuple[str, ...]], ...]:
        """``(backbone, its layers)`` in payload order.

        Raises:
            ConfigError: A requested layer is no backbone's output (a typo), or a
                backbone has none of the requested layers (the message lists its
                outputs). A layer that a backbone lacks is skipped for that backbone
                only (``penultimate,max_pool`` gives vgg its ``penultimate``).
        """
        from tfgenre.backbones.runner import OUTPUT_DIMS

        def arch(name: str) -> str:
            return WEIGHT_SETS[name][0]

        if self.layer is None:
            return tuple((b, (DEFAULT_LAYERS[arch(b)],)) for b in self.backbones)
        layers = _names(self.layer)
        outputs = {o for dims in OUTPUT_DIMS.values() for o in dims}
        for layer in layers:
            if layer not in outputs:
                available = "; ".join(f"{a}: {', '.join(d)}" for a, d in OUTPUT_DIMS.items())
                raise ConfigError(
                    f"embeddings.layer={layer!r} is not an output of any backbone "
                    f"({available}){did_you_mean(str(layer), sorted(outputs))}"
                )
        parts = []
        for b in self.backbones:
            mine = tuple(layer for layer in layers if layer in OUTPUT_DIMS[arch(b)])
            if not mine:
                raise ConfigError(
                    f"embeddings.layer={_text(self.layer)!r} is not an output of {b} "
                    f"({arch(b)}: {', '.join(OUTPUT_DIMS[arch(b)])}); add one of its "
                    "outputs to embeddings.layer"
                )
            parts.append((b, mine))
        return tuple(parts)

    @property
    def architecture(self) -> str:
        """``musicnn`` or ``vgg`` (of the first backbone)."""
        return WEIGHT_SETS[self.backbones[0]][0]

    @property
    def output(self) -> str:
        """The first backbone's first stored layer (``layer`` or its default)."""
        return self.parts()[0][1][0]

    def weights(self) -> WeightSet:
        """The first backbone's installed weight set (ConfigError saying how to install it)."""
        return find_weights(self.backbones[0])

    def all_weights(self) -> tuple[WeightSet, ...]:
        """Every backbone's installed weight set, in order (ConfigError when one is missing)."""
        return tuple(find_weights(b) for b in self.backbones)

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
                f"{self.backbones[0]} patch: the embeddings view needs windows of at least "
                f"{PATCH_SECONDS:g} s (187 frames at 16 kHz), or 0 for whole tracks"
            )
        if window_seconds and set(self.poolings) & {"max", "std"}:
            hop = self.hop_seconds or PATCH_SECONDS
            if int((window_seconds - PATCH_SECONDS) / hop + 1e-9) + 1 < 2:
                logger.warning(
                    "a %g-s window holds one %g-s patch: embeddings.pooling=%s gives max = "
                    "mean and std = 0 there; the recipe pools whole tracks "
                    "(--window-seconds 0)",
                    window_seconds, PATCH_SECONDS, _text(self.pooling),
                )  # fmt: skip

    @classmethod
    def from_spec(cls, spec: ViewSpec) -> EmbeddingsView:
        """The view that wrote ``spec``, if the installed weights are the same.

        Reads the specs of earlier versions too (one backbone, no ``parts``, ``pooling``
        or ``hop_seconds``: the mean over non-overlapping patches).

        Raises:
            ConfigError: an installed backbone's weights' sha256 differs from the stored
                one, or its weights are not installed.
        """
        p = spec.params
        view = cls(
            backbone=p["backbone"],
            layer=p.get("layer"),
            pooling=p.get("pooling", "mean"),
            hop_seconds=p.get("hop_seconds"),
            tags=bool(p["tags"]),
            precision=str(p.get("precision", "float32")),
        )
        parts = list(p.get("parts") or [])
        if "weights_sha256" in p or not parts:  # one backbone keeps the earlier key
            first = {"backbone": view.backbones[0], "weights_sha256": p.get("weights_sha256")}
            parts.insert(0, first)
        for part in parts:
            name, stored = str(part["backbone"]), part.get("weights_sha256")
            installed = weights_checksum(find_weights(name))
            if stored != installed:
                raise ConfigError(
                    f"the installed {name} weights (sha256 {installed}) differ from "
                    f"those the embeddings were computed with (sha256 {stored}); install the "
                    "same weights or write the records again"
                )
        return view

    def _column_names(self, ws: WeightSet, layers: tuple[str, ...]) -> list[str]:
        """One part's column names: ``[backbone_]layer[_stat]_i``, then ``[backbone_]tag_x``.

        One backbone, one layer and ``mean`` pooling keep the names of earlier versions
        (``max_pool_0``, ``tag_rock``).
        """
        from tfgenre.backbones.runner import output_dims

        prefix = f"{ws.name}_" if len(self.backbones) > 1 else ""
        several = self.poolings != ("mean",)
        names = []
        for layer in layers:
            for stat in self.poolings:
                head = f"{prefix}{layer}" + (f"_{stat}" if several else "")
                names += [f"{head}_{i}" for i in range(output_dims(ws)[layer])]
        if self.tags:
            names += [f"{prefix}tag_{_column(label)}" for label in ws.labels]
        return names

    def spec(self, segment_samples: int, sample_rate: int) -> ViewSpec:
        """Payload ``(width,)`` float32: each backbone's pooled layers (+ tags), in order.

        ``params["parts"]`` lists each backbone's ``backbone``, ``architecture``,
        ``dataset``, ``layers``, ``width`` (its columns, tags included),
        ``weights_sha256`` and ``tag_labels``: what an export needs to rebuild the
        whole view. One backbone also keeps the top-level keys of earlier versions.

        Args:
            segment_samples: Window length, or 0 for whole tracks (any length).
            sample_rate: Rate of the windows in Hz (the backbones resample to 16 kHz).

        Raises:
            ConfigError: a window shorter than one patch, or weights are missing.
        """
        from tfgenre.backbones.frontend import SAMPLE_RATE
        from tfgenre.backbones.precision import check_precision
        from tfgenre.backbones.runner import PATCH_SECONDS

        if sample_rate <= 0:
            raise ConfigError(f"sample_rate={sample_rate} must be > 0")
        check_precision(self.precision, "embeddings.precision")  # before any clip is read
        self.check_window(segment_samples / sample_rate if segment_samples else None)
        names: list[str] = []
        parts = []
        for (backbone, layers), ws in zip(self.parts(), self.all_weights(), strict=True):
            columns = self._column_names(ws, layers)
            names += columns
            parts.append(
                {
                    "backbone": backbone,
                    "architecture": ws.architecture,
                    "dataset": ws.dataset,
                    "layers": list(layers),
                    "width": len(columns),
                    "weights_sha256": weights_checksum(ws),
                    "tag_labels": list(ws.labels),
                }
            )
        hop = self.hop_seconds
        params: dict[str, Any] = {
            "backbone": list(self.backbone) if isinstance(self.backbone, tuple) else self.backbone,
            "layer": self.output
            if len(self.backbones) == 1 and isinstance(self.layer, (str, type(None)))
            else (list(self.layer) if isinstance(self.layer, tuple) else self.layer),
            "pooling": list(self.pooling) if isinstance(self.pooling, tuple) else self.pooling,
            "hop_seconds": hop,
            "tags": self.tags,
            "precision": self.precision,
            "parts": parts,
            "licence": self.all_weights()[0].licence,
            "backbone_sample_rate": SAMPLE_RATE,
            "patch_seconds": PATCH_SECONDS,
            "summary": f"{_text(self.pooling)} over the window's patches, every "
            + (f"{hop:g} s" if hop else f"{PATCH_SECONDS:g} s (no overlap)"),
        }
        if len(self.backbones) == 1:  # the keys of earlier versions
            first = parts[0]
            params.update(
                architecture=first["architecture"],
                dataset=first["dataset"],
                weights_sha256=first["weights_sha256"],
                tag_labels=first["tag_labels"],
            )
        return ViewSpec(
            name="embeddings",
            dtype="float32",
            shape=(len(names),),
            feature_names=tuple(names),
            params=params,
        )

    def compute(self, segments: np.ndarray, sample_rate: int) -> np.ndarray:
        """Each backbone's pooled layers (+ mean tags) over each window's patches.

        The patches are cut once (the backbones share the front end) and each backbone
        runs once on them for all its layers.

        Args:
            segments: float32 ``(n_segments, samples)`` at ``sample_rate``.
            sample_rate: Rate in Hz.

        Returns:
            float32 ``(n_segments, width)``.
        """
        from tfgenre.backbones.runner import to_backbone_rate

        parts = self.parts()
        y16 = to_backbone_rate(np.asarray(segments, dtype=np.float32), sample_rate)
        first = runner_for(parts[0][0], self.precision)
        patches = [first.patches(row, hop_frames=self.hop_frames).values for row in y16]
        if not patches:
            return np.zeros((0, self.spec(0, sample_rate).shape[0]), np.float32)
        ends = np.cumsum([len(p) for p in patches])[:-1]
        patches_all = np.concatenate(patches)
        columns = []
        for backbone, layers in parts:
            out = runner_for(backbone, self.precision).run(patches_all)  # one pass, all outputs
            for layer in layers:
                windows = np.split(out[layer], ends)
                for stat in self.poolings:
                    columns.append(np.stack([_POOL[stat](w) for w in windows]))
            if self.tags:
                columns.append(np.stack([w.mean(axis=0) for w in np.split(out[TAGS_OUTPUT], ends)]))
        return np.concatenate(columns, axis=1).astype(np.float32)


#: Pooling statistic -> ``(patches, width) -> (width,)``.
_POOL = {
    "mean": lambda x: x.mean(axis=0),
    "max": lambda x: x.max(axis=0),
    "std": lambda x: x.std(axis=0),
}
