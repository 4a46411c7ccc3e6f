"""The README, command by command: every documented entry point run as its own process.

The library tests call tfgenre inside one Python process; a user starts each command
fresh, in a shell, one after the other. This module does what the README shows, in the
order a user would, on a tiny synthetic set (4 genres x 10 clips of 6 s, 2-s windows),
each command as ``python -m tfgenre.<cmd> ...`` in a fresh process, from a scratch
folder, with relative paths:

    write_records (synthetic source, 3 views, 2 workers; rerun = resume; --dry-run;
    whole-track features with --window-seconds 0; another config refused; --overwrite;
    the gtzan source with source_options.split=fault_filtered on 7 generated clips)
    -> fit (genre_resnet on mel; --list-models; features_mlp from the writer's
    features.csv; --split fault_filtered on a GTZAN-named table) -> evaluate (both
    runs) -> compare (the two runs) -> predict (table with --top-k/--segments on a file
    and a folder, json, csv, an undecodable file, a features run) -> export
    (savedmodel, tflite, tflite --quantize, keras; each artefact loaded and run in a new
    process) -> tune (a study; the same study resumed; once more with nothing to do;
    best_config.yaml through ``python -m tfgenre fit --config``) -> baselines (and
    ``--split fault_filtered`` on a tiny GTZAN-named table, whose random split warns) ->
    explore -> ``python -m tfgenre.run pipelines/demo.yaml`` made tiny with --set.

Each step asserts what a user relies on: exit code, the files promised, JSON/CSV/YAML
that parses, accuracy above chance where a model trains, and no Python traceback. The
subprocesses run without ``TF_CPP_MIN_LOG_LEVEL`` (the user's default), and the last
test reads every command's stderr for TensorFlow's C++ start-up noise.

One module-scoped fixture holds the scratch folder; the steps run in file order and a
step whose prerequisite failed is skipped, naming that prerequisite.

Left out, with the reason:
    * ``--runner beam`` / ``--beam-options`` (Dataflow, Flink, Spark): cloud runners;
      the local Beam runner is covered by tests/test_beam.py.
    * ``--strategy`` other than ``auto``, ``TF_CONFIG`` multi-worker, TPU: need several
      machines or accelerators (tests/test_multiworker.py, tests/test_strategy.py).
    * ``tune --storage postgresql://...`` / ``journal:`` shared tuning: needs a database
      or shared disk (tests/test_shared_tuning.py runs two local workers on a journal).
    * ``gs://`` paths and the Colab notebooks (tests/test_colab.py runs the notebooks).
    * ``tune --backend keras-tuner``, ``--sampler grid``/``nsga2``, ``--objectives``:
      further searches over the same machinery (tests/test_tune.py); one Optuna study
      with its resume is run here.
    * ``fit --mixed-precision`` (float16 on a CPU is slow), ImageNet backbones and
      ``mel.image_size=224`` (too big for the time budget), two-phase fine-tune.
    * ``--source gtzan|fma|folder|csv`` (need real data or are covered by
      tests/test_sources.py) and ``source_options.split_files``.
    * ``tensorboard --logdir``: a server; the event files it reads are checked.
    * ``make bench`` / ``benchmarks.features_bench``: timing, tests/test_bench.py.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
import json
import os
import re
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf
import spawn
import yaml

ROOT = Path(__file__).resolve().parents[1]
TRACEBACK = "Traceback (most recent call last)"
# TensorFlow's C++ start-up lines (absl/CUDA/oneDNN) that a CPU user should not see.
TF_NOISE = re.compile(
    r"cuInit|cuda_platform|cudart_stub|Could not find cuda drivers|oneDNN|"
    r"absl::InitializeLog|cpu_feature_guard"
)

GENRES = ("ambient", "jazz", "rock", "techno")  # the first 4 synthetic genres, sorted
CLIPS_PER_GENRE = 10
CLIP_SECONDS = 6.0
WINDOW_SECONDS = 2.0
SEGMENTS_PER_CLIP = 3
CHANCE = 1.0 / len(GENRES)
MODELS = (
    "genre_resnet", "mel_cnn", "raw_conv1d", "features_mlp", "mobilenet_v2", "resnet50",
    "densenet121", "vgg16", "efficientnet_b0", "resnet18", "resnet34", "alexnet",
)
WRITE_ARGS = (
    "--source", "synthetic", "--input", "audio", "--output", "records",
    "--views", "raw,mel,features", "--window-seconds", str(WINDOW_SECONDS),
    "--splits", "train=0.6,validation=0.2,test=0.2", "--shards", "2", "--workers", "2",
    "--seed", "0", "--no-progress",
    "--set", "source_options.num_genres=4",
    "--set", f"source_options.clips_per_genre={CLIPS_PER_GENRE}",
    "--set", f"source_options.clip_seconds={CLIP_SECONDS}",
    "--set", "mel.n_mels=32",
    "--set", "raw.max_samples=10000",
    "--set", "raw.downsample=2",
)
TUNE_ARGS = (
    "--space", str(ROOT / "pipelines" / "search" / "features_mlp.yaml"),
    "--features-csv", "records/features.csv", "--backend", "optuna",
    "--sampler", "tpe", "--pruner", "median", "--epochs", "1", "--seed", "0",
    "--run-dir", "runs/tune",
)
TUNE_TRIALS = 2


@dataclasses.dataclass
class Result:
    """One finished command."""

    args: list[str]
    returncode: int
    stdout: str
    stderr: str
    seconds: float

    def describe(self) -> str:
        return (
            f"$ {' '.join(self.args)}\nexit {self.returncode} after {self.seconds:.0f} s\n"
            f"--- stdout (tail)\n{self.stdout[-2000:]}\n--- stderr (tail)\n{self.stderr[-3000:]}"
        )


class Session:
    """The user's scratch folder, the commands run so far and the steps that passed."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.results: list[Result] = []
        self.passed: set[str] = set()
        self.env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}

    def run(self, module: str, *args: str, cwd: Path | None = None,
            fresh: bool = False) -> Result:
        """``python -m <module> args...`` in ``cwd`` (default: the scratch folder), as a
        process forked from the warm parent (``spawn``), or with a fresh interpreter."""
        argv = [sys.executable, "-m", module, *args]
        start = time.monotonic()
        proc = spawn.run(argv, cwd=cwd or self.root, env=self.env, timeout=600, fresh=fresh)
        result = Result(
            ["python", "-m", module, *args], proc.returncode, proc.stdout, proc.stderr,
            time.monotonic() - start,
        )
        self.results.append(result)
        return result

    def require(self, *steps: str) -> None:
        missing = [s for s in steps if s not in self.passed]
        if missing:
            pytest.skip(f"needs the earlier step(s) {', '.join(missing)}, which did not pass")

    def path(self, *parts: str) -> Path:
        return self.root.joinpath(*parts)


@pytest.fixture(scope="module")
def user(tmp_path_factory: pytest.TempPathFactory) -> Session:
    return Session(tmp_path_factory.mktemp("readme"))


def succeeded(result: Result) -> None:
    """Exit 0 and no traceback."""
    assert result.returncode == 0, result.describe()
    assert TRACEBACK not in result.stderr + result.stdout, result.describe()


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def tree_state(folder: Path) -> dict[str, tuple[int, str]]:
    """``{relative path: (mtime_ns, sha256)}`` of every file under ``folder``."""
    return {
        str(p.relative_to(folder)): (p.stat().st_mtime_ns, sha256(p))
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def read_json(path: Path) -> Any:
    assert path.is_file(), f"{path} was not written"
    return json.loads(path.read_text())


def split_clips(user: Session, split: str = "test") -> list[Path]:
    """The clips of one split of the records (from features.csv)."""
    with user.path("records", "features.csv").open() as f:
        ids = sorted({r["track_id"] for r in csv.DictReader(f) if r["split"] == split})
    return [user.path("audio", i.split(".")[0], f"{i}.wav") for i in ids]


# ----------------------------------------------------------------------------- write_records


def test_write_records(user: Session) -> None:
    result = user.run("tfgenre.write_records", *WRITE_ARGS)
    succeeded(result)
    assert f"inputs {len(GENRES) * CLIPS_PER_GENRE}" in result.stdout, result.describe()
    for genre in GENRES:
        assert user.path("audio", genre, f"{genre}.00000.wav").is_file()

    records = user.path("records")
    manifest = read_json(records / "manifest.json")
    assert manifest["labels"] == list(GENRES)
    views = manifest["views"]
    assert set(views) == {"raw", "mel", "features"}
    assert views["mel"]["shape"][0] == 32 and views["mel"]["dtype"] == "float16"
    assert views["raw"]["shape"][0] <= 10000, views["raw"]
    assert views["raw"]["params"]["downsample"] == 2
    assert views["features"]["shape"] == [57]
    assert len(views["features"]["feature_names"]) == 57
    assert len(views["features"]["mean"]) == len(views["features"]["std"]) == 57
    splits = manifest["splits"]
    assert set(splits) == {"train", "validation", "test"}
    assert sum(s["num_tracks"] for s in splits.values()) == len(GENRES) * CLIPS_PER_GENRE
    name = re.compile(r"^(raw|mel|features)/(train|validation|test)\.tfrecord-\d{5}-of-00002$")
    for split, entry in splits.items():
        assert entry["num_examples"] == entry["num_tracks"] * SEGMENTS_PER_CLIP, split
        assert entry["shards"], split
        for shard in entry["shards"]:
            assert name.match(shard["file"]), shard["file"]
            path = records / shard["file"]
            assert path.stat().st_size == shard["num_bytes"], shard["file"]
            assert sha256(path) == shard["sha256"], shard["file"]
        for view in views:
            examples = sum(s["examples"] for s in entry["shards"] if s["view"] == view)
            assert examples == entry["num_examples"], (split, view)
    assert not list(records.rglob("*.incomplete")), "unfinished shards left behind"
    assert manifest["split_policy"]["disjoint_tracks"] is True
    assert manifest["counts"]["skipped"] == 0

    with (records / "features.csv").open() as f:
        rows = list(csv.DictReader(f))
    columns = set(rows[0])
    assert {"filename", "length", "label", "track_id", "segment", "split"} <= columns
    assert set(views["features"]["feature_names"]) <= columns
    assert len(rows) == sum(s["num_examples"] for s in splits.values())
    split_of: dict[str, set[str]] = {}
    for row in rows:
        split_of.setdefault(row["track_id"], set()).add(row["split"])
    leaking = {t: s for t, s in split_of.items() if len(s) > 1}
    assert not leaking, f"tracks in more than one split: {leaking}"
    user.passed.add("write_records")


def test_write_records_rerun_resumes(user: Session) -> None:
    """The same command again finds every shard done and leaves the records as they are."""
    user.require("write_records")
    before = tree_state(user.path("records"))
    result = user.run("tfgenre.write_records", *WRITE_ARGS)
    succeeded(result)
    after = tree_state(user.path("records"))
    assert sorted(after) == sorted(before), result.describe()
    # Shards are not written again; the manifest and features.csv may be, byte-identical.
    rewritten = sorted(k for k in before if ".tfrecord-" in k and before[k] != after[k])
    assert not rewritten, f"a rerun rewrote finished shards {rewritten}\n{result.describe()}"
    changed = sorted(k for k in before if before[k][1] != after[k][1])
    assert not changed, f"a rerun changed {changed}\n{result.describe()}"


def test_write_records_dry_run(user: Session) -> None:
    user.require("write_records")
    before = tree_state(user.path("records"))
    result = user.run("tfgenre.write_records", *WRITE_ARGS, "--dry-run")
    succeeded(result)
    resolved = yaml.safe_load(result.stdout)
    assert resolved["output"] == "records"
    assert list(resolved["views"]) == ["raw", "mel", "features"]
    assert resolved["mel"]["n_mels"] == 32
    assert resolved["source_options"]["clips_per_genre"] == CLIPS_PER_GENRE
    assert tree_state(user.path("records")) == before, "--dry-run wrote records"


def test_write_records_whole_tracks_then_overwrite(user: Session) -> None:
    """--window-seconds 0 (features of whole tracks); another config is refused; --overwrite."""
    user.require("write_records")
    args = (
        "--source", "synthetic", "--input", "audio", "--output", "records_whole",
        "--views", "features", "--window-seconds", "0", "--shards", "1", "--workers", "1",
        "--no-progress",
        "--set", "source_options.num_genres=4",
        "--set", f"source_options.clips_per_genre={CLIPS_PER_GENRE}",
        "--set", f"source_options.clip_seconds={CLIP_SECONDS}",
    )
    succeeded(user.run("tfgenre.write_records", *args))
    manifest = read_json(user.path("records_whole", "manifest.json"))
    assert manifest["views"]["features"]["shape"] == [57]
    for split, entry in manifest["splits"].items():
        assert entry["num_examples"] == entry["num_tracks"], split
    before = tree_state(user.path("records_whole"))

    refused = user.run("tfgenre.write_records", *args, "--seed", "1")
    assert refused.returncode in (1, 2), refused.describe()
    assert TRACEBACK not in refused.stderr, refused.describe()
    assert "error:" in refused.stderr and "--overwrite" in refused.stderr, refused.describe()
    assert tree_state(user.path("records_whole")) == before, "a refused write changed files"

    succeeded(user.run("tfgenre.write_records", *args, "--seed", "1", "--overwrite"))
    manifest = read_json(user.path("records_whole", "manifest.json"))
    assert manifest["split_policy"]["seed"] == 1
    assert user.path("audio", "rock", "rock.00000.wav").is_file()


# ----------------------------------------------------------------------------- fit


def test_write_records_gtzan_fault_filtered(user: Session) -> None:
    """README: write_records --source gtzan --set source_options.split=fault_filtered."""
    from tfgenre.splitting.protocols import named_split_assignment

    lists = named_split_assignment("fault_filtered")
    listed = ["blues.00000", "blues.00012", "blues.00029", "rock.00000", "rock.00010",
              "rock.00038"]
    assert {lists[t] for t in listed} == {"train", "validation", "test"}
    unlisted = ["pop.00015"]
    assert unlisted[0] not in lists
    for k, tid in enumerate(listed + unlisted):
        genre = tid.split(".")[0]
        user.path("gtzan", genre).mkdir(parents=True, exist_ok=True)
        t = np.arange(int(1.5 * 22050)) / 22050
        sf.write(user.path("gtzan", genre, f"{tid}.wav"),
                 0.3 * np.sin(2 * np.pi * (220 + 50 * k) * t), 22050)
    result = user.run(
        "tfgenre.write_records", "--source", "gtzan", "--input", "gtzan", "--views", "mel",
        "--window-seconds", "1", "--workers", "1", "--no-progress", "--set", "mel.n_mels=16",
        "--output", "records_ff", "--set", "source_options.split=fault_filtered",
    )
    succeeded(result)
    manifest = read_json(user.path("records_ff", "manifest.json"))
    assert manifest["protocol"]["name"] == "gtzan_fault_filtered"
    assert manifest["protocol"]["leaks_artists"] is False
    assert manifest["excluded"] == {"count": 1, "tracks": unlisted}
    assert manifest["counts"]["skipped"] == 0
    assert {s: v["num_tracks"] for s, v in manifest["splits"].items()} == {
        s: sum(lists[t] == s for t in listed) for s in ("train", "validation", "test")
    }
    # (the warning of a random GTZAN split: tests/test_protocols.py, and baselines below)
    assert "random GTZAN splits" not in result.stderr


def test_fit_list_models(user: Session) -> None:
    result = user.run("tfgenre.fit", "--list-models")
    succeeded(result)
    listed = {line.split()[0] for line in result.stdout.splitlines() if line.strip()}
    assert set(MODELS) <= listed, f"missing: {set(MODELS) - listed}"
    # `tfgenre <name>` (the console script) dispatches to the same entry points.
    result = user.run("tfgenre", "--help")
    succeeded(result)
    for name in ("write-records", "fit", "evaluate", "compare", "predict", "export", "tune",
                 "baselines", "explore", "run"):
        assert name in result.stdout, result.stdout


def test_fit_mel(user: Session) -> None:
    user.require("write_records")
    result = user.run(
        "tfgenre.fit", "--records", "records", "--view", "mel", "--model", "genre_resnet",
        "--run-dir", "runs/mel", "--epochs", "8", "--batch-size", "16", "--strategy", "auto",
        "--learning-rate", "0.003", "--seed", "0", "--verify", "--skip-corrupt",
        "--set", "schedule.name=one_cycle", "--set", "model_options.width=16",
        "--set", "early_stopping_patience=0",
    )
    succeeded(result)
    run = user.path("runs", "mel")
    for name in ("config.yaml", "run.json", "model.keras", "history.csv",
                 "checkpoints/best.keras", "report/metrics.json", "report/report.md"):
        assert (run / name).is_file(), f"{name} missing from the run folder"
    assert list((run / "tb").rglob("events.out.tfevents.*")), "no TensorBoard event files"
    with (run / "history.csv").open() as f:
        history = list(csv.DictReader(f))
    assert len(history) == 8 and "val_accuracy" in history[0]
    info = read_json(run / "run.json")
    assert info["labels"] == list(GENRES) and info["model"] == "genre_resnet"
    assert yaml.safe_load((run / "config.yaml").read_text())["fit"]["model"] == "genre_resnet"
    metrics = read_json(run / "report" / "metrics.json")
    accuracy = metrics["segment"]["accuracy"]
    assert accuracy >= 2 * CHANCE, f"test accuracy {accuracy} is not clearly above chance"
    user.passed.add("fit_mel")
    # --skip-corrupt on intact records: the run goes on, so no "ran out of data" warning.
    assert "ran out of data" not in result.stdout + result.stderr, result.describe()


def test_fit_features_csv(user: Session) -> None:
    """README: fit --features-csv ... --splits train=0.7,test=0.3 --set val_split=test."""
    user.require("write_records")
    result = user.run(
        "tfgenre.fit", "--features-csv", "records/features.csv", "--model", "features_mlp",
        "--run-dir", "runs/features", "--splits", "train=0.7,test=0.3",
        "--set", "val_split=test", "--epochs", "10", "--batch-size", "16", "--seed", "0",
    )
    succeeded(result)
    run = user.path("runs", "features")
    assert (run / "model.keras").is_file()
    info = read_json(run / "run.json")
    assert info["view"] == "features" and info["labels"] == list(GENRES)
    metrics = read_json(run / "report" / "metrics.json")
    assert metrics["split"] == "test"
    accuracy = metrics["segment"]["accuracy"]
    assert accuracy >= 2 * CHANCE, f"test accuracy {accuracy} is not clearly above chance"
    user.passed.add("fit_features")


def test_fit_features_csv_fault_filtered(user: Session) -> None:
    """README: fit --features-csv ... --model features_mlp --split fault_filtered."""
    unlisted = _gtzan_named_table(user.path("gtzan_table.csv"))
    result = user.run(
        "tfgenre.fit", "--features-csv", "gtzan_table.csv", "--model", "features_mlp",
        "--split", "fault_filtered", "--run-dir", "runs/features_ff", "--epochs", "2",
        "--batch-size", "8", "--seed", "0",
    )
    succeeded(result)
    run = user.path("runs", "features_ff")
    info = read_json(run / "run.json")
    assert info["protocol"]["name"] == "gtzan_fault_filtered"
    assert info["excluded"] == {"count": len(unlisted), "tracks": unlisted}
    assert info["num_examples"] == {"train": 8, "validation": 8, "test": 8}
    metrics = read_json(run / "report" / "metrics.json")
    assert metrics["protocol"]["name"] == "gtzan_fault_filtered"
    assert "Protocol: `gtzan_fault_filtered`" in (run / "report" / "report.md").read_text()
    assert "random GTZAN splits" not in result.stderr


def test_fit_folds(user: Session) -> None:
    """README: fit --folds K: a run per fold on the same folds as baselines --folds K."""
    user.require("write_records")
    result = user.run(
        "tfgenre.fit", "--features-csv", "records/features.csv", "--model", "features_mlp",
        "--run-dir", "runs/folds", "--folds", "2", "--epochs", "4", "--batch-size", "16",
        "--seed", "0",
    )
    succeeded(result)
    assert "| mean ± std [95 % CI] |" in result.stdout, result.describe()
    run = user.path("runs", "folds")
    summary = read_json(run / "folds_summary.json")
    assert summary["protocol"]["k"] == 2 and summary["protocol"]["grouped_by"] == "track"
    assert (run / "folds_summary.md").is_file()
    from tfgenre.classical.baselines_config import BaselinesConfig
    from tfgenre.classical.rows import load_feature_rows
    from tfgenre.classical.splitting import folds_of
    from tfgenre.core.config import from_dict

    csv_path = str(user.path("records", "features.csv"))
    rows = load_feature_rows(features_csv=csv_path)
    pairs = folds_of(rows, from_dict(BaselinesConfig, {"features_csv": csv_path, "folds": 2}))
    for k, (_, test) in enumerate(pairs):
        with (run / "folds" / str(k) / "report" / "tracks.csv").open() as f:
            tested = {r["track_id"] for r in csv.DictReader(f)}
        assert tested == set(rows.track_ids[test]), f"fold {k}: not the baselines' test fold"
        assert summary["folds"][k]["test_tracks"] == len(tested)
    accuracy = summary["overall"]["track_accuracy"]["mean"]
    assert accuracy >= 2 * CHANCE, f"cross-validated track accuracy {accuracy}"


# ----------------------------------------------------------------------------- evaluate


@pytest.mark.parametrize("run_name", ["mel", "features"])
def test_evaluate(user: Session, run_name: str) -> None:
    """``evaluate --run-dir RUN --split test`` in a fresh process rewrites the report."""
    user.require(f"fit_{run_name}")
    run = user.path("runs", run_name)
    fit_metrics = read_json(run / "report" / "metrics.json")
    for old in (run / "report").iterdir():
        old.unlink()
    result = user.run("tfgenre.evaluate", "--run-dir", f"runs/{run_name}", "--split", "test")
    succeeded(result)
    metrics = read_json(run / "report" / "metrics.json")
    assert metrics["split"] == "test"
    for level in ("segment", "track", "track_vote"):
        entry = metrics[level]
        for key in ("accuracy", "macro_f1", "weighted_f1", "per_class", "confusion_matrix"):
            assert key in entry, (level, key)
        matrix = np.asarray(entry["confusion_matrix"])
        assert matrix.shape == (len(GENRES), len(GENRES)), level
        assert matrix.sum() == entry["num_examples"], level
        assert entry["accuracy"] == pytest.approx(fit_metrics[level]["accuracy"], abs=1e-6), (
            f"{level}: evaluate disagrees with fit's own evaluation"
        )
    assert (run / "report" / "report.md").is_file()
    pngs = {p.name for p in (run / "report").glob("*.png")}
    assert any("confusion" in n for n in pngs) and any("curve" in n for n in pngs), pngs
    user.passed.add(f"evaluate_{run_name}")


def test_compare(user: Session) -> None:
    """``compare runs/mel runs/features --out DIR`` on the tracks both runs were scored on."""
    user.require("evaluate_mel", "evaluate_features")
    tracks = {}
    for name in ("mel", "features"):
        with user.path("runs", name, "report", "tracks.csv").open() as f:
            tracks[name] = {r["track_id"]: r for r in csv.DictReader(f)}
    result = user.run(
        "tfgenre.compare", "runs/mel", "runs/features", "--out", "runs/compare",
        "--resamples", "200",
    )
    if set(tracks["mel"]) != set(tracks["features"]):
        assert result.returncode == 2, result.describe()
        assert "not evaluated on the same test tracks" in result.stderr, result.describe()
        pytest.fail("the mel and features runs were scored on different test tracks")
    succeeded(result)
    out = user.path("runs", "compare")
    assert (out / "compare.md").read_text() in result.stdout
    assert (out / "compare.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with (out / "compare.csv").open() as f:
        rows = {r["run"]: r for r in csv.DictReader(f)}
    assert set(rows) == {"mel", "features"}
    for name, row in rows.items():
        right = np.mean([r["label"] == r["predicted"] for r in tracks[name].values()])
        assert float(row["accuracy"]) == pytest.approx(right), name
        assert float(row["accuracy_lo"]) <= right <= float(row["accuracy_hi"]), name
        assert 0.0 <= float(row["mcnemar_p"]) <= 1.0
    best = max(rows.values(), key=lambda r: float(r["accuracy"]))
    assert best["best"] == "True" and float(best["diff_to_best"]) == 0.0
    # The console script dispatches too; one run alone is refused with exit 2.
    result = user.run("tfgenre", "compare", "runs/mel")
    assert result.returncode == 2 and "at least two" in result.stderr, result.describe()


# ----------------------------------------------------------------------------- predict


def _parse_table(text: str) -> list[dict[str, Any]]:
    """Blocks of ``path  (D s, N seg)`` / ``    genre p  genre p`` / segment lines."""
    blocks: list[dict[str, Any]] = []
    for line in text.splitlines():
        if not line.strip():
            continue
        if not line.startswith(" "):
            match = re.match(r"^(.*)  \(([\d.]+) s, (\d+) seg", line)
            assert match, f"unexpected header line {line!r}"
            blocks.append({"path": match[1], "seconds": float(match[2]),
                           "num_segments": int(match[3]), "genres": None, "segments": []})
        elif blocks[-1]["genres"] is None:
            words = line.split()
            blocks[-1]["genres"] = list(zip(words[::2], map(float, words[1::2])))
        else:
            blocks[-1]["segments"].append(line)
    return blocks


def test_predict_table(user: Session) -> None:
    """README: predict song.mp3 music/ --model RUN --top-k 3 --segments."""
    user.require("fit_mel")
    # A stereo 44.1-kHz mp3 of 8 s made of two rock clips (not the model's rate or layout).
    y, rate = sf.read(user.path("audio", "rock", "rock.00000.wav"), dtype="float32")
    z, _ = sf.read(user.path("audio", "rock", "rock.00001.wav"), dtype="float32")
    from scipy.signal import resample_poly

    mono = resample_poly(np.concatenate([y, z])[: 8 * rate], 2, 1).astype(np.float32)
    sf.write(user.path("song.mp3"), np.stack([mono, 0.8 * mono], axis=1), 2 * rate,
             format="MP3")
    result = user.run(
        "tfgenre.predict", "song.mp3", "audio/jazz", "--model", "runs/mel", "--top-k", "3",
        "--segments",
    )
    succeeded(result)
    blocks = _parse_table(result.stdout)
    assert len(blocks) == 1 + CLIPS_PER_GENRE, result.stdout
    song = blocks[0]
    assert song["path"].endswith("song.mp3")
    assert song["seconds"] == pytest.approx(8.0, abs=0.2)
    assert song["num_segments"] == 4
    for block in blocks:
        assert len(block["genres"]) == 3, block
        assert {g for g, _ in block["genres"]} <= set(GENRES), block
        probs = [p for _, p in block["genres"]]
        assert probs == sorted(probs, reverse=True) and sum(probs) <= 1.001, block
        assert len(block["segments"]) == block["num_segments"], block
    user.passed.add("predict_table")


def test_predict_json(user: Session) -> None:
    """README: predict clip.wav --model RUN --format json (here: every test-split clip)."""
    user.require("fit_mel")
    clips = split_clips(user)
    assert clips
    result = user.run(
        "tfgenre.predict", *[str(c.relative_to(user.root)) for c in clips],
        "--model", "runs/mel", "--format", "json",
    )
    succeeded(result)
    out = json.loads(result.stdout)
    assert isinstance(out, list) and len(out) == len(clips)
    correct = 0
    for clip, entry in zip(clips, out):
        assert {"path", "genres", "duration_seconds", "num_segments", "padded"} <= set(entry)
        assert entry["path"].endswith(clip.name)
        assert entry["duration_seconds"] == pytest.approx(CLIP_SECONDS, abs=0.05)
        assert entry["num_segments"] == SEGMENTS_PER_CLIP and entry["padded"] is False
        assert len(entry["genres"]) == 3
        assert all(0.0 <= p <= 1.0 for _, p in entry["genres"])
        correct += entry["genres"][0][0] == clip.parent.name
    assert correct / len(clips) >= 2 * CHANCE, f"{correct}/{len(clips)} test clips right"


def test_predict_csv_and_an_undecodable_file(user: Session) -> None:
    """--format csv --segments on the whole folder plus a broken file: exit 1, rest kept."""
    user.require("fit_mel")
    user.path("broken.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEnot audio at all")
    result = user.run(
        "tfgenre.predict", "audio", "broken.wav", "--model", "runs/mel", "--format", "csv",
        "--segments", "--top-k", "2",
    )
    assert result.returncode == 1, result.describe()
    assert TRACEBACK not in result.stderr, result.describe()
    assert "broken.wav" in result.stderr, result.describe()
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert list(rows[0]) == ["path", "level", "segment", "start_seconds", "end_seconds",
                             "padded", "silent", "genre_1", "probability_1", "genre_2",
                             "probability_2"]
    tracks = [r for r in rows if r["level"] == "track"]
    segments = [r for r in rows if r["level"] == "segment"]
    total = len(GENRES) * CLIPS_PER_GENRE
    assert len(tracks) == total and len(segments) == total * SEGMENTS_PER_CLIP
    assert not any("broken" in r["path"] for r in rows)
    right = sum(Path(r["path"]).parent.name == r["genre_1"] for r in tracks)
    assert right / total >= 2 * CHANCE, f"{right}/{total} clips right"


def test_predict_features_run(user: Session) -> None:
    """README: predict works for feature models trained from a features CSV."""
    user.require("fit_features")
    clip = split_clips(user)[0]
    result = user.run(
        "tfgenre.predict", str(clip.relative_to(user.root)), "--model", "runs/features",
        "--format", "json", "--segments",
    )
    succeeded(result)
    (entry,) = json.loads(result.stdout)
    assert entry["genres"][0][0] in GENRES
    assert entry["segments"] and {"start_seconds", "end_seconds", "genres"} <= set(
        entry["segments"][0]
    )


# ----------------------------------------------------------------------------- export


def _export(user: Session, *args: str) -> Result:
    result = user.run("tfgenre.export", "--run-dir", "runs/mel", *args)
    succeeded(result)
    return result


def test_export_savedmodel(user: Session) -> None:
    user.require("fit_mel")
    _export(user, "--format", "savedmodel")
    saved = user.path("runs", "mel", "export", "savedmodel")
    assert (saved / "saved_model.pb").is_file()
    meta = read_json(saved / "assets.extra" / "tfgenre.json")
    assert meta["labels"] == list(GENRES) and meta["sample_rate"] == 22050
    user.passed.add("export_savedmodel")


def test_export_tflite(user: Session) -> None:
    user.require("fit_mel")
    _export(user, "--format", "tflite")
    path = user.path("runs", "mel", "export", "model.tflite")
    assert path.is_file() and path.stat().st_size > 0
    assert read_json(path.with_name("model.tflite.json"))["labels"] == list(GENRES)
    user.passed.add("export_tflite")


def _quantised(export_dir: Path) -> list[Path]:
    return sorted(p for p in export_dir.glob("*.tflite") if p.name != "model.tflite")


def _agreements(data: Any) -> list[float]:
    """Every number under a key that mentions agreement, as a fraction."""
    found: list[float] = []
    if isinstance(data, dict):
        for key, value in data.items():
            if "agreement" in str(key) and isinstance(value, (int, float)):
                found.append(value / 100 if value > 1 else float(value))
            else:
                found += _agreements(value)
    elif isinstance(data, list):
        for value in data:
            found += _agreements(value)
    return found


def test_export_tflite_quantize(user: Session) -> None:
    """--quantize writes its own file with its agreement figure; model.tflite is kept."""
    user.require("export_tflite")
    export_dir = user.path("runs", "mel", "export")
    float_model = export_dir / "model.tflite"
    before = sha256(float_model)
    result = _export(user, "--format", "tflite", "--quantize")
    assert float_model.is_file() and sha256(float_model) == before, (
        "--quantize replaced the float model.tflite"
    )
    quantised = _quantised(export_dir)
    assert quantised, f"no quantised .tflite beside model.tflite\n{result.describe()}"
    assert quantised[0].stat().st_size < float_model.stat().st_size
    figures = [
        value
        for path in export_dir.glob("*.json")
        if path.name.startswith(quantised[0].name) or "agreement" in path.name
        for value in _agreements(read_json(path))
    ]
    assert figures, f"no agreement figure written beside {quantised[0].name}"
    assert min(figures) >= 0.95, f"quantised top-1 agreement {figures} < 95 %"
    user.passed.add("export_quantize")


def test_export_keras(user: Session) -> None:
    user.require("fit_mel")
    _export(user, "--format", "keras")
    path = user.path("runs", "mel", "export", "model.keras")
    assert path.is_file()
    meta = read_json(path.with_name("model.keras.json"))
    assert meta["labels"] == list(GENRES) and meta["input"]["shape"][1] == 32
    user.passed.add("export_keras")


# Runs in a fresh process, as a user of the artefacts would: each export on a waveform
# (or the stored view for the .keras copy); prints {name: probabilities}.
_LOAD_EXPORTS = r"""
import json, sys
import numpy as np, soundfile as sf, tensorflow as tf
export_dir, clip, quantised = sys.argv[1], sys.argv[2], sys.argv[3:]
wave, _ = sf.read(clip, dtype="float32")
out = {}
sig = tf.saved_model.load(export_dir + "/savedmodel").signatures["serving_default"]
out["savedmodel"] = sig(waveform=tf.constant(wave))["probabilities"].numpy().tolist()
for name in ["model.tflite", *quantised]:
    runner = tf.lite.Interpreter(model_path=export_dir + "/" + name).get_signature_runner()
    out[name] = runner(waveform=wave)["probabilities"].tolist()
from tfgenre.models.saving import load_model
meta = json.load(open(export_dir + "/model.keras.json"))
model = load_model(export_dir + "/model.keras")
x = np.random.default_rng(0).normal(size=(2, *meta["input"]["shape"][1:])).astype("float32")
out["model.keras"] = np.asarray(model(x, training=False)).tolist()
print(json.dumps(out))
"""


def test_exports_load_and_run(user: Session) -> None:
    user.require("export_savedmodel", "export_tflite", "export_keras")
    export_dir = user.path("runs", "mel", "export")
    quantised = [p.name for p in _quantised(export_dir)]
    clip = split_clips(user)[0]
    argv = [sys.executable, "-c", _LOAD_EXPORTS, str(export_dir), str(clip), *quantised]
    proc = spawn.run(argv, env=user.env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert set(out) >= {"savedmodel", "model.tflite", "model.keras", *quantised}
    for name, probs in out.items():
        probs = np.asarray(probs)
        assert probs.shape[-1] == len(GENRES), name
        np.testing.assert_allclose(probs.sum(axis=-1), 1.0, atol=1e-3, err_msg=name)
        assert (probs >= 0).all(), name
    np.testing.assert_allclose(out["model.tflite"], out["savedmodel"], atol=2e-3)


# ----------------------------------------------------------------------------- tune


def _trials(user: Session) -> list[dict[str, str]]:
    with user.path("runs", "tune", "trials.csv").open() as f:
        return list(csv.DictReader(f))


def _params(row: dict[str, str]) -> tuple[tuple[str, str], ...]:
    skip = {"number", "state", "val_accuracy", "epochs", "seconds", "run_dir", "error"}
    return tuple((k, v) for k, v in row.items() if k not in skip)


def test_tune_study(user: Session) -> None:
    user.require("write_records")
    result = user.run("tfgenre.tune", *TUNE_ARGS, "--trials", str(TUNE_TRIALS))
    succeeded(result)
    study = user.path("runs", "tune")
    rows = _trials(user)
    assert [int(r["number"]) for r in rows] == list(range(TUNE_TRIALS))
    assert all(r["state"] == "COMPLETE" for r in rows), rows
    assert all(0.0 <= float(r["val_accuracy"]) <= 1.0 for r in rows)
    best = yaml.safe_load((study / "best_config.yaml").read_text())
    assert best["fit"]["model"] == "features_mlp" and best["fit"]["epochs"] == 1
    summary = read_json(study / "summary.json")
    assert summary["trials"].get("COMPLETE") == TUNE_TRIALS, summary["trials"]
    evaluation = summary["best"]["evaluation"]  # the best trial, scored once on test
    lo, hi = evaluation["accuracy_ci"]
    assert lo <= evaluation["accuracy"] <= hi and evaluation["ci"]["resamples"] == 1000
    assert "bootstrap over tracks" in result.stdout, result.describe()
    assert (study / "plots" / "index.html").is_file()
    assert any((study / "hparams").rglob("events.out.tfevents.*")), "no HParams events"
    user.passed.add("tune_study")

    # README: best_config.yaml is accepted by fit --config (via the console dispatcher).
    check = user.run("tfgenre", "fit", "--config", "runs/tune/best_config.yaml", "--dry-run")
    succeeded(check)
    assert yaml.safe_load(check.stdout)["model"] == "features_mlp", check.stdout


def test_tune_resumes(user: Session) -> None:
    """The same command with one more trial resumes the study and explores a new point."""
    user.require("tune_study")
    first = _trials(user)
    result = user.run("tfgenre.tune", *TUNE_ARGS, "--trials", str(TUNE_TRIALS + 1))
    succeeded(result)
    rows = _trials(user)
    assert [int(r["number"]) for r in rows] == list(range(TUNE_TRIALS + 1))
    assert [_params(r) for r in rows[:TUNE_TRIALS]] == [_params(r) for r in first]
    new = _params(rows[-1])
    repeats = [r["number"] for r in first if _params(r) == new]
    assert not repeats, f"the resumed study re-ran the parameters of trial(s) {repeats}"
    user.passed.add("tune_resumed")


def test_tune_nothing_left(user: Session) -> None:
    """Once more: the study already holds its trials; no new trial, no crash."""
    user.require("tune_resumed")
    trial_dirs = sorted(p.name for p in user.path("runs", "tune", "trials").iterdir())
    result = user.run("tfgenre.tune", *TUNE_ARGS, "--trials", str(TUNE_TRIALS + 1))
    succeeded(result)
    assert len(_trials(user)) == TUNE_TRIALS + 1
    assert sorted(p.name for p in user.path("runs", "tune", "trials").iterdir()) == trial_dirs
    assert user.path("runs", "tune", "best_config.yaml").is_file()


# ----------------------------------------------------------------------------- baselines, explore


def test_baselines(user: Session) -> None:
    user.require("write_records")
    result = user.run(
        "tfgenre.baselines", "--features-csv", "records/features.csv", "--folds", "3",
        "--out", "runs/baselines",
    )
    succeeded(result)
    out = user.path("runs", "baselines")
    assert "| model |" in (out / "baselines.md").read_text()
    with (out / "baselines.csv").open() as f:
        table = list(csv.DictReader(f))
    assert len(table) == 6, table
    accuracy_key = next(k for k in table[0] if k.startswith("accuracy"))
    best = max(float(r[accuracy_key]) for r in table)
    assert best >= 2 * CHANCE, f"best baseline accuracy {best}"
    with (out / "baselines_folds.csv").open() as f:
        assert len(list(csv.DictReader(f))) == 6 * 3


def _gtzan_named_table(path: Path) -> list[str]:
    """A tiny GTZAN-named feature table: 4 clips per split of 2 genres, 2 clips in no list.

    Returns the ids that are in no fault-filtered list.
    """
    from tfgenre.splitting.protocols import named_split_assignment

    lists = named_split_assignment("fault_filtered")
    ids = [
        tid
        for genre in ("blues", "reggae")
        for split in ("train", "validation", "test")
        for tid in sorted(t for t, s in lists.items() if s == split and t.startswith(genre))[:4]
    ]
    unlisted = [t for t in (f"reggae.{i:05d}" for i in range(100)) if t not in lists][:2]
    rng = np.random.default_rng(0)
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["filename", "length", "rms_mean", "tempo", "mfcc1_mean", "label"])
        for tid in ids + unlisted:
            genre = tid.split(".")[0]
            x = rng.normal(0.0, 0.3, 3) + (3.0 if genre == "blues" else 0.0)
            w.writerow([f"{tid}.wav", 661794, *np.round(x, 5), genre])
    return unlisted


def test_baselines_fault_filtered_split(user: Session) -> None:
    unlisted = _gtzan_named_table(user.path("gtzan_table.csv"))
    result = user.run(
        "tfgenre.baselines", "--features-csv", "gtzan_table.csv", "--split", "fault_filtered",
        "--models", "logistic_regression,knn", "--out", "runs/baselines_ff",
    )
    succeeded(result)
    out = user.path("runs", "baselines_ff")
    heading = (out / "baselines.md").read_text().splitlines()[0]
    assert "protocol gtzan_fault_filtered" in heading and "2 track(s)" in heading, heading
    record = read_json(out / "protocol.json")
    assert record["protocol"]["name"] == "gtzan_fault_filtered"
    assert record["excluded"] == {"count": 2, "tracks": unlisted}
    assert "random GTZAN splits" not in result.stderr
    with (out / "baselines.csv").open() as f:
        table = list(csv.DictReader(f))
    assert {r["model"] for r in table} == {"logistic_regression", "knn"}
    # the same table split at random: one line that teaches the fault-filtered option
    result = user.run(
        "tfgenre.baselines", "--features-csv", "gtzan_table.csv", "--splits",
        "train=0.5,test=0.5", "--models", "knn",
    )
    succeeded(result)
    warnings = [line for line in result.stderr.splitlines() if "random GTZAN splits" in line]
    assert len(warnings) == 1 and "--split fault_filtered" in warnings[0], result.stderr
    # an unknown name is refused before any work, naming the known ones
    result = user.run(
        "tfgenre.baselines", "--features-csv", "gtzan_table.csv", "--split", "artist"
    )
    assert result.returncode == 2 and "known: fault_filtered" in result.stderr, result.describe()


def test_explore(user: Session) -> None:
    user.require("write_records")
    result = user.run(
        "tfgenre.explore", "--features-csv", "records/features.csv", "--out", "runs/explore"
    )
    succeeded(result)
    out = user.path("runs", "explore")
    page = (out / "index.html").read_text()
    for name in ("correlation.png", "pca_2d.png", "pca_variance.png"):
        assert (out / name).read_bytes().startswith(b"\x89PNG"), name
        assert name in page, name
    assert len(list((out / "boxplots").glob("*.png"))) == 57
    with (out / "pca.csv").open() as f:
        assert len(list(csv.reader(f))) > 2


# ----------------------------------------------------------------------------- pipelines


def test_run_demo_pipeline(user: Session) -> None:
    """``python -m tfgenre.run pipelines/demo.yaml --set ...`` (``make demo``), tiny, plus an
    evaluate stage; the printout and the report say that the data is synthetic."""
    demo = user.path("demo")
    demo.mkdir()
    result = user.run(
        "tfgenre.run", str(ROOT / "pipelines" / "demo.yaml"),
        "--set", "fit.epochs=2",
        "--set", "write_records.source_options.num_genres=4",
        "--set", "write_records.source_options.clips_per_genre=6",
        "--set", "write_records.source_options.clip_seconds=4",
        "--set", "write_records.audio.window_seconds=2",
        "--set", "write_records.views=[mel]",
        "--set", "write_records.shards=1",
        "--set", "write_records.workers=1",
        "--set", "write_records.mel.n_mels=32",
        "--set", "fit.batch_size=16",
        "--set", "fit.model_options.width=16",
        "--set", "evaluate.split=validation",
        cwd=demo,
    )
    succeeded(result)
    manifest = read_json(demo / "demo_out" / "records" / "manifest.json")
    assert manifest["labels"] == list(GENRES) and list(manifest["views"]) == ["mel"]
    run = demo / "demo_out" / "run"
    assert (run / "model.keras").is_file()
    with (run / "history.csv").open() as f:
        assert len(list(csv.DictReader(f))) == 2
    assert read_json(run / "report" / "metrics.json")["split"] == "test"
    splits = {read_json(p).get("split") for p in run.rglob("metrics.json")}
    assert "validation" in splits, f"the evaluate stage wrote no validation report ({splits})"
    # said by fit's summary and by the evaluate stage
    assert result.stdout.count("note: the data is synthetic") == 2, result.stdout
    assert "**Synthetic data:**" in (run / "report" / "report.md").read_text()
    assert read_json(run / "report" / "metrics.json")["protocol"]["dataset"] == "synthetic"


# ----------------------------------------------------------------------------- every command


def test_tensorflow_start_up_is_quiet(user: Session) -> None:
    """No command showed TensorFlow's C++ start-up lines (cuInit, CUDA, oneDNN, absl).

    The commands above are forked from a parent that has imported TensorFlow already
    (``spawn``), so TensorFlow's own start is seen here, with fresh interpreters: the
    model registry (``fit --list-models``) and a prediction.
    """
    if not user.results:
        pytest.skip("no command ran")
    succeeded(user.run("tfgenre.fit", "--list-models", fresh=True))
    if "fit_mel" in user.passed:
        clip = str(split_clips(user)[0])
        succeeded(user.run("tfgenre.predict", clip, "--model", "runs/mel", fresh=True))
    noisy = {
        " ".join(r.args[:4]): sorted({m.group(0) for m in TF_NOISE.finditer(r.stderr)})
        for r in user.results
        if TF_NOISE.search(r.stderr)
    }
    assert not noisy, f"{len(noisy)} of {len(user.results)} commands printed: {noisy}"
