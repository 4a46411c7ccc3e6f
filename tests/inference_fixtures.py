"""Tiny trained runs shared by test_predict.py and test_export.py (built once per session).

``tiny_runs(tmp_path_factory)`` writes a 3-genre synthetic set (3-s clips, 1-s windows
with a 0.5-s hop, raw/mel/features views) and trains one epoch of ``mel_cnn``,
``raw_conv1d`` and ``features_mlp`` on the records, plus ``features_mlp`` on a
whole-track features CSV in the Kaggle table's layout (no split column). The result is
cached in the session's base temp folder, so every test module reuses it.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import soundfile as sf

from tfgenre import config
from tfgenre.run_info import RunInfo


@dataclasses.dataclass(frozen=True)
class TinyRuns:
    root: Path
    audio: Path
    records: Path
    mel: Path
    raw: Path
    features: Path
    features_csv_run: Path
    features_csv: Path


def _paths(root: Path) -> TinyRuns:
    return TinyRuns(
        root=root,
        audio=root / "audio",
        records=root / "records",
        mel=root / "run_mel",
        raw=root / "run_raw",
        features=root / "run_features",
        features_csv_run=root / "run_features_csv",
        features_csv=root / "features_30_sec.csv",
    )


def tiny_runs(tmp_path_factory) -> TinyRuns:
    root = tmp_path_factory.getbasetemp() / "tfgenre_tiny_runs"
    runs = _paths(root)
    if (root / "done").exists():
        return runs
    from tfgenre.records.writer import write_records
    from tfgenre.records.writer_config import WriterConfig
    from tfgenre.trainer.config import FitConfig
    from tfgenre.trainer.loop import train

    source = {"num_genres": 3, "clips_per_genre": 4, "clip_seconds": 3.0, "seed": 0}
    write_records(
        config.from_dict(
            WriterConfig,
            {
                "source": "synthetic",
                "input": str(runs.audio),
                "output": str(runs.records),
                "source_options": source,
                "views": ["raw", "mel", "features"],
                "audio": {"window_seconds": 1.0, "hop_seconds": 0.5},
                "raw": {"max_samples": 16000},
                "mel": {"n_mels": 32},
                "splits": {"train": 0.5, "validation": 0.25, "test": 0.25},
                "shards": 1,
                "workers": 1,
            },
        ),
        overwrite=True,
    )
    write_feature_table(runs.audio, runs.features_csv)

    common = {"epochs": 1, "batch_size": 8, "early_stopping_patience": 0}
    fits = [
        (runs.mel, {"records": str(runs.records), "view": "mel", "model": "mel_cnn",
                    "model_options": {"input_size": 32}}),
        (runs.raw, {"records": str(runs.records), "view": "raw", "model": "raw_conv1d"}),
        (runs.features, {"records": str(runs.records), "view": "features",
                         "model": "features_mlp"}),
        (runs.features_csv_run, {"features_csv": str(runs.features_csv), "view": "features",
                                 "model": "features_mlp",
                                 "splits": {"train": 0.7, "test": 0.3}}),
    ]
    for run_dir, fit in fits:
        cfg = config.from_dict(FitConfig, {**common, **fit, "run_dir": str(run_dir)})
        train(cfg, evaluate=False)
    (root / "done").write_text("ok")
    return runs


def write_feature_table(audio_root: Path, path: Path) -> None:
    """Whole-track features of every clip in the Kaggle table's layout.

    Columns: filename, length, the 57 features, label (no split column). Made with
    FeaturesView directly: write_records with window_seconds=0 fails at the time of
    writing (see the report of issue 5).
    """
    import pandas as pd

    from tfgenre import audio
    from tfgenre.views.features import FEATURE_NAMES, FeaturesView

    rows = []
    for clip in sorted(audio_root.rglob("*.wav")):
        y = audio.decode(str(clip), 22050)
        values = FeaturesView().compute(y[np.newaxis], 22050)[0]
        rows.append({"filename": clip.name, "length": len(y),
                     **dict(zip(FEATURE_NAMES, values.tolist())), "label": clip.parent.name})
    pd.DataFrame(rows).to_csv(path, index=False)


def write_long_stereo(path: Path, audio_root: Path, seconds: float = 125.0,
                      sample_rate: int = 44100) -> np.ndarray:
    """A long stereo file made of the synthetic clips, resampled; returns its samples."""
    import librosa

    clips = sorted(audio_root.rglob("*.wav"))
    parts = []
    for clip in clips:
        y, rate = sf.read(clip, dtype="float32")
        parts.append(librosa.resample(y, orig_sr=rate, target_sr=sample_rate))
    mono = np.concatenate(parts)
    n = int(seconds * sample_rate)
    mono = np.tile(mono, -(-n // len(mono)))[:n]
    stereo = np.stack([mono, 0.7 * np.roll(mono, 50)], axis=1)
    sf.write(path, stereo, sample_rate, subtype="PCM_16")
    return stereo


def run_info(run_dir: Path) -> RunInfo:
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
