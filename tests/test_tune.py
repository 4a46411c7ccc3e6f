"""Model selection: search spaces, Optuna (prune, resume, failures, NSGA-II), keras-tuner."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import yaml
from images import is_png
from tables import write_gtzan_feature_table

from tfgenre.core import config
from tfgenre.errors import ConfigError
from tfgenre.search.space import SearchSpace, load_space

ROOT = Path(__file__).resolve().parents[1]
GRID = ROOT / "pipelines" / "search" / "gtzan_features_grid.yaml"


@pytest.fixture(scope="module")
def features_csv(tmp_path_factory) -> Path:
    """4 genres x 15 whole tracks; the 5 features in very different units, offset by 5."""
    return write_gtzan_feature_table(tmp_path_factory.mktemp("csv") / "features.csv",
                                     classes=4, tracks_per_class=15, spread=3.0, units=True,
                                     offset=5.0)


def base_fit(csv_path: Path, **kw) -> dict:
    return {
        "features_csv": str(csv_path),
        "view": "features",
        "model": "features_mlp",
        "model_options": {"units": [16, 16, 8], "dropout": 0.0},
        "splits": {"train": 0.6, "validation": 0.2, "test": 0.2},
        "epochs": 3,
        "batch_size": 16,
        "early_stopping_patience": 0,
        **kw,
    }


# ----------------------------------------------------------------------------- space


SPACE = {
    "fixed": {"epochs": 2},
    "params": {
        "optimizer.learning_rate": {"type": "float", "low": "1e-4", "high": 1.0e-2, "log": True},
        "batch_size": {"type": "int", "low": 8, "high": 32, "step": 8},
        "model_options.units.0": [8, 16],
        "model_options.units.1": [8, 16],
        "model_options.units.2": [4],
        "optimizer": {
            "type": "categorical",
            "choices": {"adam": {"name": "adam"}, "sgd": {"name": "sgd", "momentum": 0.0}},
        },
        "optimizer.nesterov": {"type": "categorical", "choices": [True, False],
                               "when": {"optimizer": "sgd"}},
    },
}


class FakeSuggest:
    """Picks the last choice / high end, like a sampler would, and records the calls."""

    def __init__(self):
        self.calls = []

    def suggest_float(self, name, low, high, *, step=None, log=False):
        self.calls.append(name)
        return high

    def suggest_int(self, name, low, high, *, step=1, log=False):
        self.calls.append(name)
        return high

    def suggest_categorical(self, name, choices):
        self.calls.append(name)
        return choices[-1]


def test_space_types_conditionals_and_apply():
    space = SearchSpace.from_dict(SPACE)
    lr = space.param("optimizer.learning_rate")
    assert lr.kind == "float" and lr.log and lr.low == pytest.approx(1e-4)  # "1e-4" from YAML 1.1
    assert space.param("batch_size").grid_values() == [8, 16, 24, 32]
    fake = FakeSuggest()
    labels = space.sample(fake)
    assert labels["optimizer"] == "sgd" and labels["optimizer.nesterov"] is False
    base = {"optimizer": {"name": "adam", "weight_decay": 0.1}, "model_options": {"dropout": 0.1}}
    data = space.apply(base, labels)
    # named choice merged into the existing mapping; lists created from indexed params
    assert data["optimizer"] == {"name": "sgd", "weight_decay": 0.1, "momentum": 0.0,
                                 "learning_rate": 1e-2, "nesterov": False}
    assert data["model_options"] == {"dropout": 0.1, "units": [16, 16, 4]}
    assert base["optimizer"] == {"name": "adam", "weight_decay": 0.1}  # not mutated
    # inactive conditional: not sampled, not set
    labels = space.check_labels({**space.default_labels()})
    assert "optimizer.nesterov" not in labels and labels["optimizer"] == "adam"
    with pytest.raises(ConfigError, match="inactive"):
        space.check_labels({**labels, "optimizer.nesterov": True})
    with pytest.raises(ConfigError, match="conditional"):
        space.grid()


@pytest.mark.parametrize(
    "params, match",
    [
        ({"a": {"type": "gaussian"}}, "unknown"),
        ({"a": {"type": "float", "low": 0.0, "high": 1.0, "log": True}}, "must be > 0"),
        ({"a": {"type": "float", "low": 2.0, "high": 1.0}}, "must be <= high"),
        ({"a": {"type": "float", "low": 1e-3, "high": 1.0, "log": True, "step": 0.1}}, "log and"),
        ({"a": {"type": "int", "low": 1, "high": 4, "stepp": 1}}, "did you mean 'step'"),
        ({"a": [1, "x"]}, "mixes types"),
        ({"a": [1, 1]}, "duplicates"),
        ({"a": {"type": "float", "low": 0, "high": 1, "when": {"b": "x"}}}, "listed before"),
        ({"m.units": [[1, 2]]}, "mapping label -> value"),
        ({"m.units": [1, 2], "m.units.0": [3]}, "overlap"),
    ],
)
def test_space_errors_name_value_and_rule(params, match):
    with pytest.raises(ConfigError, match=match):
        SearchSpace.from_dict({"params": params})


def test_list_with_gaps_is_an_error():
    space = SearchSpace.from_dict({"params": {"model_options.units.1": [8]}})
    with pytest.raises(ConfigError, match=r"units\[0\] is not set"):
        space.apply({}, {"model_options.units.1": 8})
    # a full list in the base config can be overridden item by item
    assert space.apply({"model_options": {"units": [1, 2, 3]}}, {"model_options.units.1": 8})[
        "model_options"
    ]["units"] == [1, 8, 3]


def test_grid_space_has_768_points_that_are_valid_fit_configs():
    import optuna

    from tfgenre.training.fit_config import FitConfig

    space = load_space(str(GRID))
    assert space.grid_size() == 768
    grid = space.grid()
    assert {k: len(v) for k, v in grid.items()} == {
        **{f"model_options.units.{i}": 2 for i in range(3)},
        **{f"model_options.dropout.{i}": 2 for i in range(3)},
        "model_options.activation": 2,
        "model_options.initializer": 2,
        "optimizer": 3,
    }
    sampler = optuna.samplers.GridSampler(grid, seed=0)
    assert len(sampler._all_grids) == 768
    fixed = config.merge({"features_csv": "x.csv"}, space.fixed)
    seen = set()
    for values in sampler._all_grids:
        labels = dict(zip(sampler._param_names, values))
        cfg = config.from_dict(FitConfig, {**space.apply(fixed, labels), "run_dir": "r"})
        seen.add((tuple(cfg.model_options["units"]), tuple(cfg.model_options["dropout"]),
                  cfg.model_options["activation"], cfg.model_options["initializer"],
                  cfg.optimizer.name, cfg.optimizer.learning_rate))
    assert len(seen) == 768
    assert cfg.epochs == 10 and cfg.splits == {"train": 0.7, "test": 0.3}
    assert space.tune["sampler"] == "grid" and space.tune["objective_reduce"] == "last"


@pytest.mark.parametrize("path", sorted((ROOT / "pipelines" / "search").glob("*.yaml")),
                         ids=lambda p: p.name)
def test_every_shipped_space_gives_valid_fit_configs(path):
    from tfgenre.training.fit_config import FitConfig

    space = load_space(str(path))
    fixed = config.merge({"features_csv": "x.csv", "run_dir": "r"}, space.fixed)
    config.from_dict(FitConfig, space.apply(fixed, space.default_labels()))
    labels = space.sample(FakeSuggest())  # the other end of every range
    config.from_dict(FitConfig, space.apply(fixed, labels))


def test_keras_tuner_declares_the_same_space():
    import keras_tuner as kt

    space = SearchSpace.from_dict(SPACE)
    hp = kt.HyperParameters()
    space.declare_keras_tuner(hp)
    assert {p.name for p in hp.space} == set(space.names)
    hp.values["optimizer"] = "adam"
    assert not hp.is_active("optimizer.nesterov")
    labels = space.labels_from_keras_tuner(hp.values)
    assert "optimizer.nesterov" not in labels and labels["batch_size"] == 8
    # oracles may hand back 1 for a boolean label; the label comes back as True
    labels = space.labels_from_keras_tuner({"optimizer": "sgd", "optimizer.nesterov": 1})
    assert labels["optimizer.nesterov"] is True


def test_objectives_parse_and_measure():
    import keras

    from tfgenre.search.objectives import measure_latency_ms, metric_value, parse_objectives

    objs = parse_objectives("val_accuracy,params,latency")
    assert [(o.name, o.direction) for o in objs] == [
        ("val_accuracy", "maximize"), ("params", "minimize"), ("latency_ms", "minimize")]
    assert parse_objectives(["val_loss"])[0].direction == "minimize"
    with pytest.raises(ConfigError, match="first must be a training metric"):
        parse_objectives("params,val_accuracy")
    history = {"val_accuracy": [0.2, 0.9, 0.5]}
    assert metric_value(history, objs[0], "best") == 0.9
    assert metric_value(history, objs[0], "last") == 0.5
    with pytest.raises(ConfigError, match="validation split"):
        metric_value({"accuracy": [1.0]}, objs[0])
    model = keras.Sequential([keras.Input((5,)), keras.layers.Dense(3)])
    assert 0 < measure_latency_ms(model, (5,), repeats=3) < 5000


# ----------------------------------------------------------------------------- optuna


def test_optuna_study_prunes_survives_failure_resumes(features_csv, tmp_path, monkeypatch):
    import keras

    from tfgenre.search.study import TuneConfig, run_study
    from tfgenre.training.fit_config import resolve_fit_config

    cleared = []
    original = keras.backend.clear_session
    monkeypatch.setattr(keras.backend, "clear_session", lambda *a, **k: (cleared.append(1),
                                                                          original(*a, **k)))
    space = SearchSpace.from_dict({
        "params": {
            "optimizer.learning_rate": {"type": "float", "low": 1e-7, "high": 3e-2, "log": True},
            "model_options.activation": ["relu", "leaky_relu", "bogus"],
        }
    })
    run_dir = tmp_path / "study"
    good = {"optimizer.learning_rate": 3e-2, "model_options.activation": "relu"}
    settings = config.from_dict(TuneConfig, {
        "run_dir": str(run_dir),
        "trials": 2,
        "pruner": "median",
        "pruner_options": {"n_startup_trials": 1, "n_warmup_steps": 1},
        "enqueue": [
            good,
            # an unknown activation raises inside the fit: recorded as failed
            {"optimizer.learning_rate": 3e-2, "model_options.activation": "bogus"},
        ],
        "evaluate_best": False,
        "plots": False,
    })
    base = base_fit(features_csv, epochs=3)
    result = run_study(base, space, settings)
    states = [t.state.name for t in sorted(result.study.trials, key=lambda t: t.number)]
    assert states == ["COMPLETE", "FAIL"], states
    assert "bogus" in result.study.trials[1].user_attrs["error"]
    assert len(cleared) >= 2  # the Keras session is cleared after every trial, failed too
    assert (run_dir / "study.db").exists()

    # Resume: same run folder and study name, a larger total -> one more trial, which
    # learns too slowly to keep up with the first one and is pruned.
    tiny = {"optimizer.learning_rate": 1e-7, "model_options.activation": "relu"}
    settings = config.replace(settings, trials=3, enqueue=(tiny,), evaluate_best=True,
                              plots=True)
    result = run_study(base, space, settings)
    states = [t.state.name for t in sorted(result.study.trials, key=lambda t: t.number)]
    assert states == ["COMPLETE", "FAIL", "PRUNED"], states
    assert result.summary["trials"] == {"COMPLETE": 1, "PRUNED": 1, "FAIL": 1}

    rows = list(csv.DictReader(open(run_dir / "trials.csv")))
    assert [r["state"] for r in rows] == ["COMPLETE", "FAIL", "PRUNED"]
    assert rows[1]["error"] and rows[2]["val_accuracy"]
    best = result.summary["best"]
    assert best["values"]["val_accuracy"] > 0.5  # 4 learnable classes, chance 0.25
    # only the best trial keeps its model files
    assert (Path(best["run_dir"]) / "model.keras").exists()
    others = [Path(r["run_dir"]) for r in rows if r["run_dir"] != best["run_dir"]]
    assert not any((d / "model.keras").exists() for d in others)
    assert best["evaluation"]["split"] == "test"

    # The best config is a fit: section that tfgenre.fit --config accepts.
    best_yaml = run_dir / "best_config.yaml"
    assert "fit" in yaml.safe_load(best_yaml.read_text())
    cfg = resolve_fit_config(str(best_yaml), [], {})
    assert cfg.optimizer.learning_rate == pytest.approx(
        result.study.trials[best["number"]].params["optimizer.learning_rate"])
    assert cfg.run_dir == str(run_dir / "best")

    for name in ("history", "importances", "parallel", "intermediate"):
        assert is_png(run_dir / "plots" / f"{name}.png"), name
        assert (run_dir / "plots" / f"{name}.html").read_text().lstrip().startswith("<")
    index = (run_dir / "plots" / "index.html").read_text()
    assert "history.png" in index
    hparams = run_dir / "hparams"
    assert list(hparams.glob("events.out.tfevents*"))
    assert sorted(p.name for p in hparams.glob("trial-*")) == [f"trial-{i:05d}" for i in range(3)]
    # each trial is a complete fit run with its own TensorBoard logs and hparams
    assert list((run_dir / "trials" / "00000" / "tb").rglob("events.out.tfevents*"))
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["best"]["number"] == best["number"]


def test_nsga2_returns_a_pareto_front(features_csv, tmp_path):
    from tfgenre.search.study import TuneConfig, run_study

    space = SearchSpace.from_dict({
        "params": {
            "model_options.units.0": [4, 64],
            "model_options.units.1": [4, 64],
            "model_options.units.2": [4],
        }
    })
    run_dir = tmp_path / "nsga"
    settings = config.from_dict(TuneConfig, {
        "run_dir": str(run_dir),
        "trials": 2,
        "sampler": "nsga2",
        "objectives": ["val_accuracy", "params", "latency_ms"],
        "latency_repeats": 3,
        "evaluate_best": False,
    })
    result = run_study(base_fit(features_csv, epochs=2), space, settings)
    complete = [t for t in result.study.trials if t.state.name == "COMPLETE"]
    assert len(complete) == 2
    front = result.summary["pareto"]
    assert front
    directions = [1, -1, -1]

    def dominates(a, b):
        return all(d * x >= d * y for d, x, y in zip(directions, a, b)) and a != b

    front_values = [tuple(p["values"].values()) for p in front]
    for v in front_values:
        assert not any(dominates(tuple(t.values), v) for t in complete)
    assert all(t.values[1] == int(t.values[1]) > 0 and t.values[2] > 0 for t in complete)
    pareto_csv = list(csv.DictReader(open(run_dir / "pareto_front.csv")))
    assert len(pareto_csv) == len(front)
    assert is_png(run_dir / "plots" / "pareto.png")
    assert (run_dir / "pareto" / f"{front[0]['number']:05d}.yaml").exists()


def test_study_resume_refuses_other_objectives(features_csv, tmp_path):
    from tfgenre.search.objectives import parse_objectives
    from tfgenre.search.optuna_backend import create_study, make_storage

    storage = make_storage(f"sqlite:///{tmp_path / 's.db'}")
    create_study(storage, "s", parse_objectives("val_accuracy"))
    with pytest.raises(ConfigError, match="another --study-name"):
        create_study(storage, "s", parse_objectives("val_accuracy,params"))
    journal = make_storage(f"journal:{tmp_path / 'j.log'}")
    assert create_study(journal, "s", parse_objectives("val_loss")).directions[0].name == "MINIMIZE"


# ----------------------------------------------------------------------------- CLI, keras-tuner


def test_keras_tuner_backend_runs_two_trials_from_the_cli(features_csv, tmp_path, capsys):
    from tfgenre import tune

    space = tmp_path / "space.yaml"
    space.write_text(yaml.safe_dump({
        "params": {
            "optimizer.learning_rate": {"type": "float", "low": 1e-3, "high": 3e-2, "log": True},
            "model_options.units.0": [8, 16],
        }
    }))
    pipeline = tmp_path / "pipeline.yaml"
    pipeline.write_text(yaml.safe_dump({"fit": base_fit(features_csv, epochs=2)}))
    run_dir = tmp_path / "kt"
    args = ["--config", str(pipeline), "--space", str(space), "--backend", "keras-tuner",
            "--sampler", "random", "--trials", "2", "--run-dir", str(run_dir),
            "--set", "tune.evaluate_best=false", "--set", "tune.plots=false"]
    assert tune.main(args) == 0
    out = capsys.readouterr().out
    assert "complete 2" in out and "best config" in out
    rows = list(csv.DictReader(open(run_dir / "trials.csv")))
    assert [r["state"] for r in rows] == ["COMPLETE", "COMPLETE"]
    assert all(float(r["val_accuracy"]) > 0 for r in rows)
    assert (run_dir / "keras_tuner" / "kt").is_dir()
    assert "fit" in yaml.safe_load((run_dir / "best_config.yaml").read_text())
    # rerun with the same study name: nothing left to do, the trials are reloaded
    assert tune.main(args) == 0
    assert len(list(csv.DictReader(open(run_dir / "trials.csv")))) == 2


def test_keras_tuner_oracles_and_cli_errors(features_csv, tmp_path, capsys):
    import keras_tuner as kt

    from tfgenre import tune
    from tfgenre.search.keras_tuner_backend import make_oracle

    hp = kt.HyperParameters()
    SearchSpace.from_dict(SPACE).declare_keras_tuner(hp)
    for name in ("random", "bayesian", "hyperband"):
        oracle = make_oracle(name, objective=kt.Objective("val_accuracy", "max"),
                             hyperparameters=hp, trials=4, epochs=3, seed=0, options={},
                             max_consecutive_failures=3)
        assert isinstance(oracle, kt.Oracle)
    base = ["--space", str(GRID), "--features-csv", str(features_csv), "--run-dir",
            str(tmp_path / "r")]
    assert tune.main([*base, "--dry-run"]) == 0
    dry = yaml.safe_load(capsys.readouterr().out)
    assert dry["grid_size"] == 768 and dry["first_trial_fit"]["epochs"] == 10
    assert dry["first_trial_fit"]["features_csv"] == str(features_csv)
    assert tune.main([*base, "--dry-run", "--epochs", "50"]) == 0
    assert yaml.safe_load(capsys.readouterr().out)["first_trial_fit"]["epochs"] == 50
    assert tune.main([*base, "--set", "epochs=3"]) == 2
    assert "must start with fit. or tune." in capsys.readouterr().err
    assert tune.main([*base, "--backend", "keras-tuner", "--sampler", "nsga2"]) == 2
    assert tune.main([*base, "--backend", "keras-tuner", "--sampler", "random",
                      "--objectives", "val_accuracy,params", "--dry-run"]) == 2
    assert "one objective" in capsys.readouterr().err
    # the grid space checks its validation split before the first trial
    assert tune.main([*base, "--set", "fit.val_split=validation"]) == 2
    assert "needs a validation split" in capsys.readouterr().err


def test_tune_and_baselines_are_pipeline_stages():
    from tfgenre.run import known_stages

    assert {"tune", "baselines"} <= set(known_stages())


def test_load_settings_and_summary_text():
    from tfgenre.search.report import summary_text
    from tfgenre.search.study import load_settings, plan

    section = {"space": str(GRID), "trials": 3, "run_dir": "study"}
    space, settings = load_settings(section)
    assert settings.sampler == "grid"  # the space's tune: default
    assert settings.trials == 3 and settings.study == "study"
    preview = plan({"features_csv": "x.csv", "view": "features"}, space, settings)
    assert preview["grid_size"] == space.grid_size()
    assert preview["first_trial_fit"]["run_dir"].endswith("00000")
    summary = {
        "study_name": "s",
        "backend": "optuna",
        "trials": {"COMPLETE": 2, "PRUNED": 1},
        "best": {"number": 1, "values": {"val_accuracy": 0.5}, "params": {"a": 1},
                 "config": "s/best_config.yaml"},
        "outputs": {"trials_csv": "s/trials.csv", "plots": None},
    }
    assert summary_text(summary) == (
        "study s (optuna): complete 2, pruned 1\n"
        "best trial 1: val_accuracy=0.5000\n  params: {'a': 1}\n"
        "best config: s/best_config.yaml\n"
        "trials_csv: s/trials.csv\n"
    )
