"""Every pipelines/*.yaml resolves, and runs end to end on a tiny synthetic stand-in.

Each study is shrunk with ``--set`` overrides only: the source becomes the synthetic
set (3 genres, 4 clips of 3 s), windows 1 s, mels 32 bands, one epoch, small inputs.
The records-writing part and the fits are exactly those of the YAML otherwise.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import spawn
from builders import write_audio_feature_table

from tfgenre.core import config
from tfgenre.errors import ConfigError
from tfgenre.run import apply_overrides, known_stages, main

ROOT = Path(__file__).resolve().parents[1]
PIPELINES = sorted((ROOT / "pipelines").glob("*.yaml"))
SYNTH = "{num_genres: 3, clips_per_genre: 4, clip_seconds: 3.0, seed: 0}"


def _sets(**values: object) -> list[str]:
    out = []
    for key, value in values.items():
        out += ["--set", f"{key.replace('__', '.')}={value}"]
    return out


def _tiny_records(tmp: Path, **extra: object) -> list[str]:
    values: dict[str, object] = {
        "write_records__source": "synthetic",
        "write_records__input": tmp / "audio",
        "write_records__output": tmp / "records",
        "write_records__source_options": SYNTH,
        "write_records__audio__window_seconds": 1.0,
        "write_records__mel__n_mels": 32,
        "write_records__shards": 1,
        "write_records__workers": 1,
    }
    return _sets(**{**values, **extra})


def _metrics(run_dir: Path) -> dict:
    return json.loads((run_dir / "report" / "metrics.json").read_text())


def test_expected_pipelines_exist():
    names = {p.stem for p in PIPELINES}
    assert {"demo", "gtzan_mel_cnn_clr", "gtzan_features_mlp", "fma_small_tfrecords",
            "gtzan_transfer_optuna"} <= names


@pytest.mark.parametrize("path", PIPELINES, ids=lambda p: p.stem)
def test_pipeline_resolves(path):
    """Every section builds its config (no unknown keys, valid values)."""
    from tfgenre.records.writer_config import WriterConfig
    from tfgenre.training.fit_config import FitConfig

    data = config.read_yaml(str(path))
    stages = [k for k in data if k in config.STAGES]
    assert stages, path
    assert set(data) - set(config.STAGES) <= {"name", "description"}
    if "write_records" in data:
        config.from_dict(WriterConfig, data["write_records"])
    fits = data.get("fit") or []
    for section in fits if isinstance(fits, list) else [fits]:
        config.from_dict(FitConfig, section)
    available = known_stages()
    if "tune" in data and "tune" in available:
        from tfgenre.search.space import load_space
        from tfgenre.search.study import TuneConfig

        space = load_space(data["tune"]["space"])
        config.from_dict(TuneConfig, config.merge(space.tune, data["tune"]))
        config.from_dict(FitConfig, config.merge(data.get("fit") or {}, space.fixed))
    if "baselines" in data and "baselines" in available:
        from tfgenre.baselines import layer_config
        from tfgenre.classical.baselines_config import BaselinesConfig

        fit = fits[0] if isinstance(fits, list) else fits
        fit = {**fit, "records": data.get("write_records", {}).get("output", "x")}
        config.from_dict(BaselinesConfig, layer_config(fit, data["baselines"]))


def test_list_sections_take_overrides_per_item():
    data = config.read_yaml(str(ROOT / "pipelines" / "fma_small_tfrecords.yaml"))
    out = apply_overrides(data, ["fit.epochs=1", "fit.1.epochs=2", "write_records.shards=2"])
    assert [f["epochs"] for f in out["fit"]] == [1, 2, 1]
    assert out["write_records"]["shards"] == 2
    assert [f["epochs"] for f in data["fit"]] == [20, 15, 50]  # the input is not changed
    out = apply_overrides(data, ["fit.model_options={units: [8]}"])
    out["fit"][0]["model_options"]["units"].append(9)  # every item got its own copy
    assert out["fit"][1]["model_options"] == {"units": [8]}
    with pytest.raises(ConfigError, match=r"--set 'fit\.3\.epochs=1': fit has 3 items"):
        apply_overrides(data, ["fit.3.epochs=1"])


def test_gtzan_mel_cnn_clr(tmp_path, capsys):
    run = tmp_path / "run"
    code = main([
        str(ROOT / "pipelines" / "gtzan_mel_cnn_clr.yaml"),
        *_tiny_records(tmp_path),
        *_sets(fit__run_dir=run, fit__epochs=1, fit__batch_size=8,
               fit__model_options__input_size=32),
    ])
    assert code == 0
    cfg = config.read_yaml(str(run / "config.yaml"))["fit"]
    assert cfg["model"] == "mel_cnn" and cfg["schedule"]["name"] == "triangular2"
    assert cfg["optimizer"] == {**cfg["optimizer"], "name": "sgd", "momentum": 0.9, "l2": 0.0005}
    assert "accuracy" in _metrics(run)["track"]
    assert "test accuracy" in capsys.readouterr().out


def test_gtzan_features_mlp(tmp_path):
    from tfgenre.synthesis import synthesize_dataset

    synthesize_dataset(str(tmp_path / "audio"), 3, 6, 3.0, 22050, 0)
    table = tmp_path / "features_30_sec.csv"
    write_audio_feature_table(tmp_path / "audio", table)
    run = tmp_path / "run"
    code = main([
        str(ROOT / "pipelines" / "gtzan_features_mlp.yaml"),
        *_sets(fit__features_csv=table, fit__run_dir=run, fit__epochs=2),
    ])
    assert code == 0
    info = json.loads((run / "run.json").read_text())
    assert info["audio"]["window_samples"] is None  # one row per whole track
    assert info["split_policy"]["fractions"] == {"train": 0.7, "test": 0.3}
    assert _metrics(run)["track"]["num_examples"] == 6  # 30 % of 18 tracks


# pipelines/demo.yaml (what `make demo` runs) runs as a user runs it, in its own process,
# in test_cli.py::test_run_demo_pipeline.


@pytest.mark.slow
def test_fma_small_tfrecords(tmp_path, capsys):
    if "baselines" not in known_stages():
        pytest.skip("the baselines stage (tfgenre.baselines) is not installed")
    runs = {i: tmp_path / name for i, name in enumerate(("raw", "mobilenet_v2", "features"))}
    code = main([
        str(ROOT / "pipelines" / "fma_small_tfrecords.yaml"),
        *_tiny_records(tmp_path, write_records__mel__image_size=32, write_records__shards=2),
        *_sets(fit__epochs=1, fit__batch_size=8, fit__1__fine_tune__warmup_epochs=0),
        "--set", "fit.1.model_options={weights: null, input_size: 32}",
        *[x for i, d in runs.items() for x in ("--set", f"fit.{i}.run_dir={d}")],
        *_sets(baselines__out=tmp_path / "baselines"),
        "--set", "baselines.models=[logistic_regression, knn]",
    ])
    assert code == 0
    manifest = json.loads((tmp_path / "records" / "manifest.json").read_text())
    assert manifest["views"]["raw"]["shape"] == [10000]
    assert manifest["views"]["mel"]["shape"] == [32, 32, 1]
    for i, run in runs.items():
        assert "accuracy" in _metrics(run)["track"], i
    assert (tmp_path / "baselines" / "baselines.md").exists()


@pytest.mark.slow
def test_gtzan_transfer_optuna(tmp_path):
    if "tune" not in known_stages():
        pytest.skip("the tune stage (tfgenre.tune) is not installed")
    study = tmp_path / "study"
    code = main([
        str(ROOT / "pipelines" / "gtzan_transfer_optuna.yaml"),
        *_tiny_records(tmp_path, write_records__mel__image_size=32),
        *_sets(tune__trials=2, tune__run_dir=study, tune__space__fixed__epochs=1,
               tune__space__fixed__batch_size=8,
               tune__space__fixed__fine_tune__warmup_epochs=0),
        "--set", "tune.space.fixed.model_options={weights: null, input_size: 32}",
        "--set", "tune.space.params.model=[mobilenet_v2]",
        "--set", "tune.space.params.batch_size=[8]",
    ])
    assert code == 0
    assert (study / "best_config.yaml").exists() and (study / "trials.csv").exists()


def _features_csv(path: Path, rows_per_label: int = 12) -> Path:
    """A separable 4-feature table, 3 labels, no split column (cheap to train on)."""
    import numpy as np

    rng = np.random.default_rng(0)
    lines = ["filename,f0,f1,f2,f3,label"]
    for li, label in enumerate(("blues", "jazz", "rock")):
        for i in range(rows_per_label):
            x = rng.normal(size=4) * 0.1 + 3.0 * (np.arange(4) == li)
            lines.append(f"{label}.{i:05d}.wav," + ",".join(f"{v:.4f}" for v in x) + f",{label}")
    path.write_text("\n".join(lines) + "\n")
    return path


def _run_cli(*argv: object, cwd: Path | None = None):
    import os
    import sys

    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    return spawn.run([sys.executable, "-m", "tfgenre.run", *map(str, argv)], env=env,
                     timeout=300, cwd=cwd)


def test_a_typo_in_a_later_stage_stops_the_pipeline_before_the_first_stage(tmp_path, capsys):
    """fit: holds ``epoch`` (not ``epochs``): write_records must not write anything."""
    pipeline = tmp_path / "typo.yaml"
    pipeline.write_text(
        "write_records:\n"
        f"  source: synthetic\n  input: {tmp_path / 'audio'}\n  output: {tmp_path / 'records'}\n"
        f"  source_options: {SYNTH}\n"
        "fit:\n  view: mel\n  model: mel_cnn\n"
        f"  run_dir: {tmp_path / 'run'}\n  epoch: 1\n"
    )
    code = main([str(pipeline)])
    err = capsys.readouterr().err
    assert code == 2
    assert "stage fit" in err and "'epoch'" in err and "did you mean 'epochs'" in err
    assert not (tmp_path / "audio").exists()
    assert not (tmp_path / "records").exists()
    assert not (tmp_path / "run").exists()
    # --set typos in any stage are caught the same way, and --dry-run checks too.
    code = main([str(ROOT / "pipelines" / "demo.yaml"), "--dry-run", "--set", "fit.epochz=1"])
    assert code == 2 and "stage fit" in capsys.readouterr().err


def test_every_stage_section_is_checked_up_front(tmp_path, capsys):
    cases = {
        "write_records.shard=2": "stage write_records",
        "write_records.overwrite=maybe": "write_records.overwrite",
        "fit.batch_size=0": "batch_size=0",
        "evaluate.splt=test": "stage evaluate",
        "fit.folds=3": "runs 3 folds",
        "baselines.models=[svn]": "stage baselines",
        "explore.outt=x": "stage explore",
    }
    data = {
        "write_records": {"source": "synthetic", "input": str(tmp_path / "a"),
                          "output": str(tmp_path / "r")},
        "fit": {"view": "features", "model": "features_mlp", "run_dir": str(tmp_path / "run")},
        "evaluate": {},
        "baselines": {"out": str(tmp_path / "b")},
        "explore": {"out": str(tmp_path / "e")},
    }
    pipeline = tmp_path / "all.yaml"
    import yaml

    pipeline.write_text(yaml.safe_dump(data, sort_keys=False))
    assert main([str(pipeline), "--dry-run"]) == 0
    capsys.readouterr()
    for override, expected in cases.items():
        if "baselines" in override and "baselines" not in known_stages():
            continue
        code = main([str(pipeline), "--dry-run", "--set", override])
        err = capsys.readouterr().err
        assert code == 2, override
        assert expected in err, (override, err)
    assert not any((tmp_path / d).exists() for d in ("a", "r", "run", "b", "e"))


def test_evaluate_before_fit_or_without_a_run_is_refused(tmp_path, capsys):
    import yaml

    pipeline = tmp_path / "p.yaml"
    pipeline.write_text(yaml.safe_dump({"evaluate": {}, "fit": {"run_dir": "x", "view": "mel"}},
                                       sort_keys=False))
    assert main([str(pipeline), "--dry-run"]) == 2
    assert "evaluate: comes before fit:" in capsys.readouterr().err
    pipeline.write_text(yaml.safe_dump({"evaluate": {"split": "test"}}))
    assert main([str(pipeline), "--dry-run"]) == 2
    assert "evaluate.run_dir" in capsys.readouterr().err


def test_evaluate_stage_runs_in_a_fresh_process(tmp_path):
    """`evaluate:` scores the fit stage's run on the split it names (documented, now real)."""
    table = _features_csv(tmp_path / "features.csv")
    run = tmp_path / "run"
    pipeline = tmp_path / "p.yaml"
    pipeline.write_text(
        "fit:\n"
        f"  features_csv: {table}\n  view: features\n  model: features_mlp\n"
        "  splits: {train: 0.5, validation: 0.25, test: 0.25}\n"
        f"  run_dir: {run}\n  epochs: 2\n  batch_size: 8\n  early_stopping_patience: 0\n"
        "evaluate:\n  split: validation\n"
    )
    proc = _run_cli(pipeline)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "[evaluate]" in proc.stdout and "(validation)" in proc.stdout
    metrics = json.loads((run / "report_validation" / "metrics.json").read_text())
    assert metrics["split"] == "validation"
    assert metrics["track"]["num_examples"] == 9  # 25 % of 36 tracks
    assert (run / "report" / "metrics.json").exists()  # fit's own test report


def test_a_finished_run_in_the_fit_run_dir_is_refused_before_write_records(tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.yaml").write_text("fit:\n  view: mel\n  model: mel_cnn\n  epochs: 3\n")
    (run / "model.keras").write_bytes(b"a finished model")
    pipeline = tmp_path / "p.yaml"
    pipeline.write_text(
        "write_records:\n"
        f"  source: synthetic\n  input: {tmp_path / 'audio'}\n  output: {tmp_path / 'records'}\n"
        f"  source_options: {SYNTH}\n"
        f"fit:\n  view: mel\n  model: mel_cnn\n  run_dir: {run}\n  epochs: 1\n"
    )
    assert main([str(pipeline)]) == 2
    err = capsys.readouterr().err
    assert "stage fit" in err and str(run) in err and "--overwrite" in err
    assert not (tmp_path / "audio").exists() and not (tmp_path / "records").exists()
    assert (run / "model.keras").read_bytes() == b"a finished model"


def test_records_default_and_steps():
    from tfgenre.pipelines.stages import steps, with_default_records

    data = {
        "write_records": {"output": "recs"},
        "fit": [{"epochs": 1}, {"features_csv": "f.csv"}],
        "baselines": {},
    }
    # one rule: records come from write_records.output unless the section names data
    assert with_default_records({}, data) == {"records": "recs"}
    assert with_default_records({"features_csv": "f.csv"}, data) == {"features_csv": "f.csv"}
    assert with_default_records({"records": "r"}, data) == {"records": "r"}
    assert with_default_records({"epochs": 2}, {"write_records": None}) == {"epochs": 2}
    found = steps(data)
    assert [(s.stage, s.item, s.items) for s in found] == [
        ("write_records", 0, 1), ("fit", 0, 2), ("fit", 1, 2), ("baselines", 0, 1)
    ]
    assert found[2].pipeline["fit"] == {"features_csv": "f.csv"}  # the item being run
    assert found[3].pipeline["fit"] == {"epochs": 1}  # another stage's list: its first item


def test_tune_stage_takes_records_from_write_records():
    if "tune" not in known_stages():
        pytest.skip("the tune stage (tfgenre.tune) is not installed")
    from tfgenre import tune

    space = str(ROOT / "pipelines" / "search" / "features_mlp.yaml")
    data = {"write_records": {"output": "recs"}, "fit": {"view": "features"}}
    fit_data, _, settings = tune.stage_config({"space": space, "trials": 2}, data)
    assert fit_data["records"] == "recs" and fit_data["view"] == "features"
    assert settings.trials == 2
    with_csv = {**data, "fit": {"features_csv": "f.csv"}}
    assert "records" not in tune.stage_config({"space": space}, with_csv)[0]
