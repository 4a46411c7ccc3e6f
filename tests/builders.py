"""Everything the tests build by calling tfgenre: synthetic records, tiny trained runs,
and feature tables computed from audio clips.

The pytest fixtures of ``conftest.py`` call these builders; keeping every such call here
means one place to change when a tfgenre entry point moves. Builds are cached in the
session's base temp folder (a ``done`` file marks a finished build), so every test
module of a session reuses them.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable
from pathlib import Path

import numpy as np

from tfgenre.core import config
from tfgenre.runs.run_info import RunInfo


@dataclasses.dataclass(frozen=True)
class RecordsSpec:
    """Records written by ``write_records`` from the synthetic source.

    Attributes:
        num_genres: synthetic genres.
        clips_per_genre: clips per genre.
        clip_seconds: length of every clip.
        views: the views written (``raw``, ``mel``, ``features``).
        window_seconds: analysis window (``audio.window_seconds``).
        hop_seconds: hop between windows; None keeps the writer's default.
        raw_max_samples: ``raw.max_samples``; None keeps the default.
        n_mels: ``mel.n_mels``; None keeps the default.
        splits: ``(name, fraction)`` pairs.
        shards: shards per split.
        seed: the synthetic source's seed; None keeps its default.
    """

    num_genres: int
    clips_per_genre: int
    clip_seconds: float
    views: tuple[str, ...]
    window_seconds: float
    hop_seconds: float | None = None
    raw_max_samples: int | None = None
    n_mels: int | None = None
    splits: tuple[tuple[str, float], ...] = (("train", 0.6), ("validation", 0.2),
                                             ("test", 0.2))
    shards: int = 2
    seed: int | None = None

    def writer_options(self, audio: Path, records: Path) -> dict:
        """The ``WriterConfig`` mapping that writes these records."""
        source = {"num_genres": self.num_genres, "clips_per_genre": self.clips_per_genre,
                  "clip_seconds": self.clip_seconds}
        if self.seed is not None:
            source["seed"] = self.seed
        audio_options = {"window_seconds": self.window_seconds}
        if self.hop_seconds is not None:
            audio_options["hop_seconds"] = self.hop_seconds
        options = {"source": "synthetic", "input": str(audio), "output": str(records),
                   "source_options": source, "views": list(self.views),
                   "audio": audio_options, "splits": dict(self.splits),
                   "shards": self.shards, "workers": 1}
        if self.raw_max_samples is not None:
            options["raw"] = {"max_samples": self.raw_max_samples}
        if self.n_mels is not None:
            options["mel"] = {"n_mels": self.n_mels}
        return options

    @property
    def key(self) -> str:
        """A short name unique to this spec (the cache folder's name)."""
        return hashlib.sha1(repr(self).encode()).hexdigest()[:12]


@dataclasses.dataclass(frozen=True)
class SyntheticRecords:
    """Where a ``RecordsSpec`` was written: the clips and the records folder."""

    audio: Path
    records: Path


def write_synthetic_records(spec: RecordsSpec, base: Path) -> SyntheticRecords:
    """Writes ``spec`` under ``base`` (``audio/`` and ``records/``), once per folder."""
    from tfgenre.records.writer import write_records
    from tfgenre.records.writer_config import WriterConfig

    built = SyntheticRecords(audio=base / "audio", records=base / "records")
    if (base / "done").exists():
        return built
    cfg = config.from_dict(WriterConfig, spec.writer_options(built.audio, built.records))
    write_records(cfg, overwrite=True)
    (base / "done").write_text("ok")
    return built


#: The records of ``tiny_runs``: 3 genres x 4 clips of 3 s, 1-s windows, 0.5-s hop.
TINY_RUNS_RECORDS = RecordsSpec(
    num_genres=3, clips_per_genre=4, clip_seconds=3.0, views=("raw", "mel", "features"),
    window_seconds=1.0, hop_seconds=0.5, raw_max_samples=16000, n_mels=32,
    splits=(("train", 0.5), ("validation", 0.25), ("test", 0.25)), shards=1, seed=0)


@dataclasses.dataclass(frozen=True)
class TinyRuns:
    """One-epoch runs trained on ``TINY_RUNS_RECORDS`` and on a clip feature table.

    Attributes:
        root: the folder holding everything below.
        audio: the synthetic clips (3 genres x 4 clips of 3 s).
        records: their records (raw, mel and features views).
        mel: ``mel_cnn`` on the mel view (32 mels).
        raw: ``raw_conv1d`` on the raw view.
        features: ``features_mlp`` on the features view.
        features_csv_run: ``features_mlp`` on ``features_csv`` (train 0.7 / test 0.3).
        features_csv: whole-track features of every clip (``write_audio_feature_table``).
    """

    root: Path
    audio: Path
    records: Path
    mel: Path
    raw: Path
    features: Path
    features_csv_run: Path
    features_csv: Path


def build_tiny_runs(root: Path,
                    records: Callable[[RecordsSpec], SyntheticRecords]) -> TinyRuns:
    """Trains the ``TinyRuns`` under ``root`` once; ``records`` writes their records."""
    from tfgenre.training.fit_config import FitConfig
    from tfgenre.training.loop import train

    data = records(TINY_RUNS_RECORDS)
    runs = TinyRuns(root=root, audio=data.audio, records=data.records, mel=root / "run_mel",
                    raw=root / "run_raw", features=root / "run_features",
                    features_csv_run=root / "run_features_csv",
                    features_csv=root / "features_30_sec.csv")
    if (root / "done").exists():
        return runs
    root.mkdir(parents=True, exist_ok=True)
    write_audio_feature_table(runs.audio, runs.features_csv)
    common = {"epochs": 1, "batch_size": 8, "early_stopping_patience": 0}
    on_records = {"records": str(runs.records)}
    fits = [
        (runs.mel, {**on_records, "view": "mel", "model": "mel_cnn",
                    "model_options": {"input_size": 32}}),
        (runs.raw, {**on_records, "view": "raw", "model": "raw_conv1d"}),
        (runs.features, {**on_records, "view": "features", "model": "features_mlp"}),
        (runs.features_csv_run, {"features_csv": str(runs.features_csv), "view": "features",
                                 "model": "features_mlp",
                                 "splits": {"train": 0.7, "test": 0.3}}),
    ]
    for run_dir, fit in fits:
        cfg = config.from_dict(FitConfig, {**common, **fit, "run_dir": str(run_dir)})
        train(cfg, evaluate=False)
    (root / "done").write_text("ok")
    return runs


def write_audio_feature_table(audio_root: Path, path: Path) -> None:
    """Whole-track features of every clip under ``audio_root``, in the Kaggle layout.

    Columns: filename, length, the 57 features, label (the clip's folder; no split
    column). Made with FeaturesView directly: write_records with window_seconds=0 fails
    at the time of writing (see the report of issue 5).
    """
    import pandas as pd

    from tfgenre.core import audio
    from tfgenre.views.features import FEATURE_NAMES, FeaturesView

    rows = []
    for clip in sorted(audio_root.rglob("*.wav")):
        y = audio.decode(str(clip), 22050)
        values = FeaturesView().compute(y[np.newaxis], 22050)[0]
        rows.append({"filename": clip.name, "length": len(y),
                     **dict(zip(FEATURE_NAMES, values.tolist())), "label": clip.parent.name})
    pd.DataFrame(rows).to_csv(path, index=False)


def run_info(run_dir: Path) -> RunInfo:
    """The ``run.json`` of a run folder, as its RunInfo."""
    return RunInfo.load(str(run_dir))


def legacy_run_json(run: RunInfo) -> dict:
    """run.json as tfgenre wrote it before it had a format version (records runs)."""
    spec = run.view_spec
    return {
        "labels": list(run.labels), "view": run.view, "model": run.model,
        "input_spec": {"view": run.view, "shape": list(run.input_shape),
                       "mean": None, "std": None},
        "strategy": dict(run.strategy), "source": "records", "records": run.data_path,
        "sample_rate": run.audio.sample_rate, "window_samples": run.audio.window_samples,
        "hop_samples": run.audio.hop_samples,
        "view_entry": {"dtype": spec.dtype, "shape": list(spec.shape),
                       "params": dict(spec.params)},
    }


def compile_librosa_numba() -> None:
    """Runs the librosa code tfgenre uses once, so its numba functions (``cache=True``)
    are compiled into their on-disk cache (librosa's ``__pycache__``) by one process.

    Processes that compiled the same function at once have left a cache that crashed the
    next reader (a segfault in librosa's piptrack, seen in CI on a fresh venv): ``make
    test`` runs this in one process before the workers start (``make numba-cache``), so
    they only read it. Both float32 and float64 inputs.
    """
    import librosa

    from tfgenre.views.features import FeaturesView, reference_features

    rate = 22050
    t = np.arange(int(2.5 * rate)) / rate
    y = (0.3 * np.sin(2 * np.pi * 220.0 * t) * (1 + np.sin(2 * np.pi * 2 * t))).astype(np.float32)
    FeaturesView().compute(np.stack([y, 0.5 * y]), rate)
    for signal in (y, y.astype(np.float64)):
        reference_features(signal, rate)
        librosa.resample(signal, orig_sr=rate, target_sr=16000)
