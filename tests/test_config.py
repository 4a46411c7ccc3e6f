import dataclasses

import pytest

from tfgenre.core import config
from tfgenre.errors import ConfigError
from tfgenre.records.writer_config import WriterConfig


def test_layering_yaml_flags_and_set(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text(
        "write_records:\n  source: folder\n  shards: 3\n  mel:\n    n_mels: 64\nfit:\n  epochs: 2\n"
    )
    cfg = config.resolve(
        WriterConfig,
        config_path=str(path),
        stage="write_records",
        overrides=["mel.n_mels=32", "audio.window_seconds=1.5"],
        flags={"shards": 5, "workers": None},
    )
    assert cfg.source == "folder" and cfg.shards == 5
    assert cfg.mel.n_mels == 32 and cfg.audio.window_seconds == 1.5
    assert dataclasses.is_dataclass(cfg.mel)
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.shards = 2  # type: ignore[misc]


def test_unknown_key_suggests_closest():
    with pytest.raises(ConfigError, match=r"unknown key mel\.'n_mel'.*did you mean 'n_mels'"):
        config.from_dict(WriterConfig, {"mel": {"n_mel": 64}})
    with pytest.raises(ConfigError, match="did you mean 'shards'"):
        config.from_dict(WriterConfig, {"shard": 2})


def test_values_validated_with_rule_in_message():
    with pytest.raises(ConfigError, match="window_seconds=-1.0 must be >= 0"):
        config.from_dict(WriterConfig, {"audio": {"window_seconds": -1}})
    with pytest.raises(ConfigError, match="shards=abc must be an integer|'abc' must be an int"):
        config.from_dict(WriterConfig, {"shards": "abc"})
    with pytest.raises(ConfigError, match="unknown view 'mels'.*did you mean 'mel'"):
        config.from_dict(WriterConfig, {"views": ["mels"]})
    with pytest.raises(ConfigError, match="whole tracks.*features and embeddings views"):
        config.from_dict(WriterConfig, {"views": ["mel"], "audio": {"window_seconds": None}})


def test_round_trip_and_hash_stable():
    cfg = config.from_dict(WriterConfig, {"views": "mel,features", "seed": 3})
    data = config.to_dict(cfg)
    again = config.from_dict(WriterConfig, data)
    assert again == cfg
    assert config.config_hash(again.content_dict()) == config.config_hash(cfg.content_dict())
    other = config.replace(cfg, workers=7)
    assert config.config_hash(other.content_dict()) == config.config_hash(cfg.content_dict())


def test_override_syntax_errors():
    with pytest.raises(ConfigError, match="key=value"):
        config.apply_overrides({}, ["novalue"])


def test_scalar_on_a_section_points_to_its_keys_and_values_name_the_choices():
    from tfgenre.training.fit_config import FitConfig, resolve_fit_config

    with pytest.raises(ConfigError, match=r"optimizer is a section .*optimizer\.learning_rate.*"
                       r"did you mean optimizer\.name=adamm\?"):
        resolve_fit_config(None, ["optimizer=adamm"], {})
    with pytest.raises(ConfigError, match=r"augment is a section \(augment\.time_masks"):
        config.from_dict(FitConfig, {"augment": 3})
    with pytest.raises(ConfigError, match=r"optimizer.name='adamm' is unknown \(known: adam, "
                       r"sgd, rmsprop, adamw\); did you mean 'adam'\?"):
        resolve_fit_config(None, ["optimizer.name=adamm"], {})


def test_set_path_is_the_one_dotted_setter():
    data = {"opt": {"name": "sgd", "momentum": 0.9}, "units": (32, 32)}
    assert config.set_path(data, "a.b", 1) == set()
    assert data["a"] == {"b": 1}
    assert config.set_path(data, "units.1", 64) == set()  # a tuple becomes a list
    assert data["units"] == [32, 64]
    assert config.set_path(data, ["new", "2"], "x") == {"new"}  # created, padded
    assert data["new"] == [None, None, "x"]
    config.set_path(data, "opt", {"name": "adam"}, merge_mappings=True)
    assert data["opt"] == {"name": "adam", "momentum": 0.9}
    config.set_path(data, "opt", {"name": "adam"})
    assert data["opt"] == {"name": "adam"}
    with pytest.raises(ConfigError, match=r"a\.b\.c: a\.b=1 is not a mapping or list"):
        config.set_path(data, "a.b.c", 2)
    with pytest.raises(ConfigError, match=r"units\.x: units is a list; 'x' must be an index"):
        config.set_path(data, "units.x", 2)


def test_overrides_and_flags_go_through_set_path():
    data = {"model_options": {"units": [32, 32]}, "splits": {"train": 0.8}}
    out = config.apply_overrides(data, ["model_options.units.0=64", "splits.test=0.2"])
    assert out == {"model_options": {"units": [64, 32]}, "splits": {"train": 0.8, "test": 0.2}}
    assert data["model_options"]["units"] == [32, 32]  # a copy was changed
    flags = config.set_flags(out, {"optimizer.learning_rate": 0.1, "epochs": None})
    assert flags["optimizer"] == {"learning_rate": 0.1} and "epochs" not in flags
    with pytest.raises(ConfigError, match=r"splits\.train\.x: splits\.train=0\.8 is not a mapping"):
        config.apply_overrides(data, ["splits.train.x=1"])


def test_did_you_mean_is_the_one_closest_name_rule():
    # Ties go to the alphabetically first name; nothing close gives no hint.
    assert config.did_you_mean("resnet", ["resnet50", "resnet34", "resnet18"]) == (
        "; did you mean 'resnet18'?"
    )
    assert config.did_you_mean("crnn", ["alexnet", "features_mlp"]) == ""
    assert config.did_you_mean(3, ["3d"]) == "; did you mean '3d'?"
