"""bfloat16 as an option: ``embeddings.precision`` for write_records, ``--precision`` for
predict with a published weight set; refused, with the reason, on a CPU without it.

On a CPU without native bfloat16 (no ``avx512_bf16`` / ``amx_bf16``) the end-to-end
runs replace the capability check before the command starts (``FORCE``), as if the
CPU had it: TensorFlow then emulates bfloat16, so the numbers are those a bf16 CPU
computes. The refusals run the real check and are skipped on a CPU that has it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import spawn
from skips import needs_musicnn

from tfgenre.backbones import precision
from tfgenre.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]
#: Run before the command in its process: the capability check says yes.
FORCE = "import tfgenre.backbones.precision as p\np.bf16_supported = lambda: True\n"
RUN = "import runpy, sys\nsys.argv = {argv!r}\nrunpy.run_module({module!r}, run_name='__main__')\n"
native_bf16 = pytest.mark.skipif(
    precision.bf16_supported(), reason="this CPU has native bfloat16: nothing to refuse"
)
WRITE = (
    "--source", "synthetic", "--input", "audio", "--views", "embeddings",
    "--set", "embeddings.backbone=musicnn_msd", "--set", "embeddings.layer=max_pool,penultimate",
    "--set", "embeddings.pooling=mean", "--set", "embeddings.tags=true",
    "--set", "source_options.num_genres=2", "--set", "source_options.clips_per_genre=1",
    "--set", "source_options.clip_seconds=6.5", "--window-seconds", "0",
    "--splits", "train=1,validation=0,test=0", "--shards", "1", "--workers", "1",
    "--no-progress",
)  # fmt: skip


def _run(module: str, *argv: str, cwd: Path, force: bool = False) -> subprocess.CompletedProcess:
    """``python -m module argv`` in its own process (``force``: as on a bf16 CPU)."""
    code = (FORCE if force else "") + RUN.format(argv=[module, *argv], module=module)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3"}
    proc = spawn.run([sys.executable, "-c", code], cwd=cwd, env=env, timeout=600)
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    return proc


# ----------------------------------------------------------------------------- unit


def test_check_precision_refuses_bfloat16_on_a_cpu_without_it(monkeypatch) -> None:
    monkeypatch.setattr(precision, "bf16_supported", lambda: False)
    assert precision.check_precision("float32") == "float32"
    with pytest.raises(ConfigError, match=r"--precision=bfloat16 needs a CPU .*avx512_bf16"):
        precision.check_precision("bfloat16", "--precision")
    with pytest.raises(ConfigError, match=r"precision='float16' must be one of float32, bfloat16"):
        precision.check_precision("float16")
    monkeypatch.setattr(precision, "bf16_supported", lambda: True)
    assert precision.check_precision("bfloat16") == "bfloat16"


def test_bf16_supported_reads_the_cpu_flags(monkeypatch) -> None:
    monkeypatch.setattr(precision, "cpu_flags", lambda: frozenset({"avx2", "fma"}))
    assert not precision.bf16_supported()
    monkeypatch.setattr(precision, "cpu_flags", lambda: frozenset({"avx2", "avx512_bf16"}))
    assert precision.bf16_supported()


def test_embeddings_view_names_a_bad_precision() -> None:
    from tfgenre.views.embeddings import EmbeddingsView

    with pytest.raises(ConfigError, match=r"embeddings.precision='bf16' must be one of"):
        EmbeddingsView(precision="bf16")


@needs_musicnn
def test_the_spec_records_the_precision_and_refuses_it_without_bf16(monkeypatch) -> None:
    from tfgenre.views.embeddings import EmbeddingsView

    view = EmbeddingsView(backbone="musicnn_msd", precision="bfloat16")
    monkeypatch.setattr(precision, "bf16_supported", lambda: True)
    assert view.spec(0, 22050).params["precision"] == "bfloat16"
    assert EmbeddingsView().spec(0, 22050).params["precision"] == "float32"
    monkeypatch.setattr(precision, "bf16_supported", lambda: False)
    with pytest.raises(ConfigError, match="embeddings.precision=bfloat16 needs a CPU"):
        view.spec(0, 22050)


@needs_musicnn
def test_float32_keeps_the_config_hash_of_earlier_records() -> None:
    # records written before the option existed resume with the same config hash
    from tfgenre.records.writer_config import WriterConfig

    cfg = WriterConfig(views=("embeddings",))
    assert "precision" not in cfg.content_dict()["embeddings"]


# ----------------------------------------------------------------------------- end to end


@pytest.fixture(scope="module")
def written(tmp_path_factory) -> Path:
    """The same 2 synthetic tracks written in float32 and in bfloat16 (whole tracks)."""
    root = tmp_path_factory.mktemp("bf16")
    for name, extra in (("f32", ()), ("bf16", ("--set", "embeddings.precision=bfloat16"))):
        proc = _run("tfgenre.write_records", *WRITE, *extra, "--output", name, cwd=root, force=True)
        assert proc.returncode == 0, proc.stderr[-3000:]
    return root


@needs_musicnn
def test_write_records_bfloat16_end_to_end(written: Path) -> None:
    from tfgenre.records.info import RecordsInfo
    from tfgenre.records.reader import to_numpy_arrays

    data = {}
    for name, expected in (("f32", "float32"), ("bf16", "bfloat16")):
        info = RecordsInfo.load(str(written / name))
        spec = info.view("embeddings")
        assert spec.params["precision"] == expected
        assert spec.dtype == "float32" and spec.shape == (753 + 200 + 50,)
        data[name] = to_numpy_arrays(info, "embeddings", "train")
    assert list(data["f32"]["track_id"]) == list(data["bf16"]["track_id"])
    a = data["f32"]["data"].astype(np.float64)
    b = data["bf16"]["data"].astype(np.float64)
    # the stated tolerance (README): cosine distance < 1e-3, |diff| < 5 % of the largest value
    cosine = 1 - np.sum(a * b, axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    assert cosine.max() < 1e-3, cosine
    assert np.abs(a - b).max() < 0.05 * np.abs(a).max()
    assert not np.array_equal(a, b)  # it did run in bfloat16


@needs_musicnn
@native_bf16
def test_write_records_refuses_bfloat16_on_this_cpu(tmp_path: Path) -> None:
    proc = _run(
        "tfgenre.write_records", *WRITE, "--set", "embeddings.precision=bfloat16",
        "--output", "out", cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    assert "error: embeddings.precision=bfloat16 needs a CPU with native bfloat16" in proc.stderr
    assert "use float32" in proc.stderr


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("bf16_clip") / "clip.wav"
    rate = 16000
    t = np.arange(int(6.5 * rate)) / rate
    y = 0.3 * np.sin(2 * np.pi * 330 * t) + 0.05 * np.random.default_rng(1).standard_normal(len(t))
    sf.write(path, y.astype(np.float32), rate)
    return path


@needs_musicnn
def test_predict_precision_bfloat16_tags_like_float32(clip: Path) -> None:
    tags = {}
    for name in ("float32", "bfloat16"):
        proc = _run(
            "tfgenre.predict", str(clip), "--model", "musicnn_msd", "--format", "json",
            "--top-k", "50", "--precision", name, cwd=clip.parent, force=True,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr[-3000:]
        tags[name] = json.loads(proc.stdout)
    text = json.dumps(tags["bfloat16"])
    assert "rock" in text or "electronic" in text or "pop" in text, text[:500]

    def probabilities(result: object) -> np.ndarray:
        values = []

        def walk(x: object) -> None:
            if isinstance(x, float):
                values.append(x)
            elif isinstance(x, dict):
                for v in x.values():
                    walk(v)
            elif isinstance(x, list):
                for v in x:
                    walk(v)

        walk(result)
        return np.asarray(values)

    # sorted: the top-50 lists are in probability order, which may swap near-ties
    a, b = np.sort(probabilities(tags["float32"])), np.sort(probabilities(tags["bfloat16"]))
    assert a.shape == b.shape and np.abs(a - b).max() < 0.05


@needs_musicnn
@native_bf16
def test_predict_refuses_bfloat16_on_this_cpu(clip: Path) -> None:
    proc = _run(
        "tfgenre.predict", str(clip), "--model", "musicnn_msd", "--precision", "bfloat16",
        cwd=clip.parent,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    assert "error: --precision=bfloat16 needs a CPU with native bfloat16" in proc.stderr


def test_predict_refuses_a_precision_for_a_run_folder(tmp_path: Path, monkeypatch) -> None:
    import tfgenre.inference.predictor
    from tfgenre import predict

    monkeypatch.setattr(tfgenre.inference.predictor, "resolve_model_path", lambda path: path)
    clip = tmp_path / "clip.wav"
    clip.write_bytes(b"")
    (tmp_path / "run").mkdir()
    args = predict.build_parser().parse_args(
        [str(clip), "--model", str(tmp_path / "run"), "--precision", "bfloat16"]
    )
    with pytest.raises(ConfigError, match=r"--precision=bfloat16 applies to a published weight"):
        predict.check_arguments(args)
