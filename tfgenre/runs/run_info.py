"""``run.json`` as a typed object: what fit hands to evaluate, predict, export and tune.

:class:`RunInfo` says what the model takes and where its data came from: the labels, the
model name, the :class:`~tfgenre.views.base.ViewSpec` the inputs were computed with
(normalisation statistics included), the shape of one input, the audio framing
(:class:`~tfgenre.records.info.AudioSpec`, read as a :class:`~tfgenre.core.framing.Framing`
by :attr:`RunInfo.framing`), the training data (records folder or features
CSV, split policy, protocol, sizes), which of its splits the run used
(:class:`~tfgenre.runs.data_selection.DataSelection`: split names, a named split or a
CSV's fractions, a cross-validation fold with its track ids), the distribution strategy
and the resolved fit config the run was trained with. It is the whole hand-off: evaluate,
export, quantize, tune and predict read nothing else of a run (``config.yaml`` is for
people and for ``fit --config``).

Older layouts are read and converted in memory; only the current one is written.
Version 2 lacked the selection and the config: they are taken from the run's
``config.yaml`` (a fold's tracks were not kept, so its reader assigns them again).
Version 1 (before run.json carried a format version: two loose shapes, one for records
and one for features CSVs) is converted the same way. A newer version is refused.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Mapping
from typing import Any

from tfgenre.core import io, layout
from tfgenre.core.framing import Framing, features_csv_framing
from tfgenre.errors import ConfigError, RecordsError
from tfgenre.records.info import AudioSpec, check_format_version, read_json_object
from tfgenre.runs.data_selection import DataSelection
from tfgenre.splitting.protocols import Protocol
from tfgenre.views.base import ViewSpec

logger = logging.getLogger(__name__)

#: 1: the unversioned run.json of tfgenre <= 0.x; 2: without ``selection`` and
#: ``config``; both are read and converted.
FORMAT_VERSION = 3

SOURCES = ("records", "features_csv")


@dataclasses.dataclass(frozen=True)
class RunInfo:
    """Everything evaluate, predict, export and tune need to use a trained model.

    Attributes:
        labels: Label names in output index order.
        model: Registered model name (``genre_resnet``, ``features_mlp``, ...).
        view_spec: The view the inputs were computed with; ``View.from_spec`` rebuilds it.
            For the features view its ``mean``/``std`` are the model's normalisation.
        input_shape: One model input example, e.g. ``(128, 130, 1)``.
        audio: How audio is decoded and framed into windows for this model.
        source: ``records`` or ``features_csv``.
        data_path: The records folder or the features CSV trained on.
        num_examples: Examples per split the run used.
        split_policy: How the splits were made.
        protocol: The evaluation protocol of those splits.
        excluded: Track ids left out on purpose (in no list of a named split).
        skipped_corrupt: Per shard, records lost to corruption (``--skip-corrupt``).
        strategy: The distribution strategy trained under (name, replicas, workers).
        selection: Which splits of the data the run used, and its fold with its tracks.
        config: The resolved fit config the run was trained with, as a dict (the
            ``fit`` section of ``config.yaml``; for a probe, the tuned ``optimizer.l2``).
        format_version: Layout version of the run.json it was read from (1 and 2:
            converted); :meth:`to_json` always writes the current one.
    """

    labels: tuple[str, ...]
    model: str
    view_spec: ViewSpec
    input_shape: tuple[int, ...]
    audio: AudioSpec
    source: str
    data_path: str
    num_examples: Mapping[str, int] = dataclasses.field(default_factory=dict)
    split_policy: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    protocol: Protocol = dataclasses.field(default_factory=lambda: Protocol.from_json(None))
    excluded: tuple[str, ...] = ()
    skipped_corrupt: Mapping[str, int] = dataclasses.field(default_factory=dict)
    strategy: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    selection: DataSelection = dataclasses.field(default_factory=DataSelection)
    config: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    format_version: int = FORMAT_VERSION

    def __post_init__(self) -> None:
        if self.source not in SOURCES:
            raise ConfigError(f"RunInfo source={self.source!r} must be one of {SOURCES}")
        if not self.labels:
            raise ConfigError("RunInfo labels=() must name at least one label")

    @property
    def view(self) -> str:
        """The view's name (``raw``, ``mel``, ``features``)."""
        return self.view_spec.name

    @property
    def framing(self) -> Framing:
        """How audio is decoded and cut for this model: :attr:`audio`'s framing."""
        return self.audio.framing

    @property
    def feature_names(self) -> tuple[str, ...] | None:
        """The model's input columns (features view), else None."""
        return self.view_spec.feature_names

    def input_spec(self) -> Any:
        """The model input as :class:`tfgenre.models.registry.InputSpec`."""
        from tfgenre.models.registry import InputSpec

        spec = self.view_spec
        return InputSpec(
            self.view, tuple(self.input_shape), spec.mean, spec.std, sample_rate=spec.sample_rate
        )

    # ------------------------------------------------------------------ files

    @classmethod
    def load(cls, run_dir: str) -> RunInfo:
        """Reads ``<run_dir>/run.json``.

        A run.json of version 1 or 2 is converted, its selection and config taken from
        the folder's ``config.yaml`` (:meth:`with_saved_config`).

        Raises:
            ConfigError: when the folder holds no run.json (not a run folder).
            RecordsError: when run.json is not JSON, malformed or of a newer version.
        """
        path = io.join(run_dir, layout.RUN_JSON)
        if not io.exists(path):
            raise ConfigError(f"{run_dir!r} is not a tfgenre run folder (no {layout.RUN_JSON})")
        data = read_json_object(path)
        try:
            if "format_version" not in data:
                return cls.from_legacy_json(data).with_saved_config(run_dir)
            if data["format_version"] != 2:
                check_format_version(data["format_version"], FORMAT_VERSION, path, "fit")
            info = cls.from_json(data)
            return info.with_saved_config(run_dir) if info.format_version < 3 else info
        except (KeyError, TypeError, ValueError) as err:
            raise RecordsError(
                f"{path} is incomplete or malformed ({err!r}); train the run again with "
                "`python -m tfgenre.fit ... --overwrite`"
            ) from err

    def write(self, run_dir: str) -> str:
        """Writes ``<run_dir>/run.json`` atomically; returns its path."""
        path = io.join(run_dir, layout.RUN_JSON)
        io.write_text_atomic(path, json.dumps(self.to_json(), indent=2))
        return path

    def to_json(self) -> dict[str, Any]:
        """run.json's content, in this version's layout (whatever layout it was read from)."""
        return {
            "format_version": FORMAT_VERSION,
            "labels": list(self.labels),
            "model": self.model,
            "view": self.view,
            "view_spec": self.view_spec.to_json(),
            "input_shape": [int(s) for s in self.input_shape],
            "audio": self.audio.to_json(),
            "source": self.source,
            "data_path": self.data_path,
            "num_examples": dict(self.num_examples),
            "split_policy": dict(self.split_policy),
            "protocol": self.protocol.to_json(),
            "excluded": {"count": len(self.excluded), "tracks": list(self.excluded)},
            "skipped_corrupt": dict(self.skipped_corrupt),
            "strategy": dict(self.strategy),
            "selection": self.selection.to_json(),
            "config": dict(self.config),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RunInfo:
        """Inverse of :meth:`to_json`."""
        return cls(
            labels=tuple(str(x) for x in data["labels"]),
            model=str(data["model"]),
            view_spec=ViewSpec.from_json(str(data["view"]), data["view_spec"]),
            input_shape=tuple(int(s) for s in data["input_shape"]),
            audio=AudioSpec.from_json(data["audio"]),
            source=str(data["source"]),
            data_path=str(data.get("data_path") or ""),
            num_examples={k: int(v) for k, v in (data.get("num_examples") or {}).items()},
            split_policy=dict(data.get("split_policy") or {}),
            protocol=Protocol.from_json(data.get("protocol")),
            excluded=tuple((data.get("excluded") or {}).get("tracks") or ()),
            skipped_corrupt=dict(data.get("skipped_corrupt") or {}),
            strategy=dict(data.get("strategy") or {}),
            selection=DataSelection.from_json(data.get("selection")),
            config=dict(data.get("config") or {}),
            format_version=int(data["format_version"]),
        )

    def with_saved_config(self, run_dir: str) -> RunInfo:
        """This run (read from an older run.json) with its ``config.yaml``'s selection.

        The selection and config come from the ``fit`` section of the folder's
        ``config.yaml`` (the defaults when it has none).
        """
        from tfgenre.runs.run_folder import saved_fit_config

        fit = saved_fit_config(run_dir) or {}
        selection = DataSelection.from_fit_section(fit, self.split_policy)
        return dataclasses.replace(self, selection=selection, config=fit)

    @classmethod
    def from_legacy_json(cls, data: Mapping[str, Any]) -> RunInfo:
        """Converts the unversioned run.json of earlier tfgenre (records or CSV shape)."""
        spec_in = data["input_spec"]
        source = str(data.get("source") or "records")
        entry = dict(data.get("view_entry") or {})
        if source == "features_csv":
            names = data.get("feature_names")
            entry = {"dtype": "float32", "shape": spec_in["shape"], "feature_names": names}
            window = data.get("feature_window", "whole_track")
            audio = AudioSpec.from_framing(features_csv_framing(window))
            path = data.get("features_csv") or ""
        else:
            audio = AudioSpec.from_json(data)
            path = data.get("records") or ""
        entry.setdefault("dtype", "float32")
        entry.setdefault("shape", spec_in["shape"])
        entry["mean"], entry["std"] = spec_in.get("mean"), spec_in.get("std")
        logger.debug("run.json without format_version: read as the legacy layout")
        return cls.from_json(
            {
                **data,
                "format_version": 1,
                "model": data.get("model") or "",
                "view_spec": entry,
                "input_shape": spec_in["shape"],
                "audio": audio.to_json(),
                "source": source,
                "data_path": path,
            }
        )
