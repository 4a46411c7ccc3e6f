"""``python -m tfgenre.serve`` as a user and a client use it: the server is its own process.

Two servers per module, each started once: ``served`` holds the tiny mel run (and
musicnn_msd when the musicnn package is installed) with small limits (1 MB, 20 s) and its
temp folder pointed at a test folder; ``single`` holds the mel run with ``--workers 1
--queue 0`` for the busy answer and is stopped with SIGINT at the end. Every request
goes to 127.0.0.1 only.
"""

from __future__ import annotations

import concurrent.futures
import http.client
import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import spawn

HAS_MUSICNN = importlib.util.find_spec("musicnn") is not None
START_TIMEOUT = 240.0


@dataclass
class Server:
    """A running ``python -m tfgenre.serve``."""

    proc: subprocess.Popen | spawn.Child
    port: int
    tmpdir: Path
    cwd: Path
    stderr: Path

    def stop(self, sig: int = signal.SIGINT) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


def _start(args: list[str], folder: Path) -> Server:
    tmpdir, cwd = folder / "tmp", folder / "cwd" / "a" / "b"
    tmpdir.mkdir(parents=True)
    cwd.mkdir(parents=True)
    stdout, stderr = folder / "stdout.txt", folder / "stderr.txt"
    env = {**os.environ, "TMPDIR": str(tmpdir)}
    proc = spawn.start(
        [sys.executable, "-m", "tfgenre.serve", "--port", "0", "--log-level", "WARNING", *args],
        cwd=cwd,
        env=env,
        output=(stdout, stderr),
    )
    deadline = time.monotonic() + START_TIMEOUT
    line = ""
    while time.monotonic() < deadline:
        line = stdout.read_text().partition("\n")[0]
        if line.startswith("serving on ") or proc.poll() is not None:
            break
        time.sleep(0.1)
    if not line.startswith("serving on http://127.0.0.1:"):
        proc.kill()
        raise AssertionError(f"no URL printed: {line!r}\n{stderr.read_text()}")
    port = int(line.strip().rstrip("/").rsplit(":", 1)[1])
    return Server(proc, port, tmpdir, folder / "cwd", stderr)


@pytest.fixture(scope="module")
def served(tiny_runs, tmp_path_factory):
    models = ["--model", str(tiny_runs.mel)] + (["--model", "musicnn_msd"] if HAS_MUSICNN else [])
    server = _start(
        [*models, "--max-upload-mb", "1", "--max-seconds", "20", "--workers", "2", "--queue", "4"],
        tmp_path_factory.mktemp("served"),
    )
    yield server
    server.stop()


@pytest.fixture(scope="module")
def single(tiny_runs, tmp_path_factory):
    server = _start(
        ["--model", str(tiny_runs.mel), "--workers", "1", "--queue", "0"],
        tmp_path_factory.mktemp("single"),
    )
    yield server
    server.stop()


@pytest.fixture(scope="module")
def clip(tiny_runs) -> Path:
    return sorted(tiny_runs.audio.rglob("*.wav"))[0]


# ----------------------------------------------------------------------------- client


def _multipart(
    data: bytes, filename: str, fields: dict[str, str] | None = None
) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    parts = []
    for name, value in (fields or {}).items():
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
            .encode()
        )
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n".encode()
        + data
        + b"\r\n"
    )
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def _request(port: int, method: str, path: str, body=None, headers=None, chunked=False):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    try:
        conn.request(method, path, body=body, headers=headers or {}, encode_chunked=chunked)
        response = conn.getresponse()
        raw = response.read()
        return response.status, dict(response.getheaders()), raw
    finally:
        conn.close()


def _get(port: int, path: str):
    status, headers, raw = _request(port, "GET", path)
    return status, json.loads(raw) if "json" in headers.get("content-type", "") else raw


def _predict(port: int, data: bytes, filename: str = "clip.wav", **fields):
    body, content_type = _multipart(data, filename, {k: str(v) for k, v in fields.items()})
    status, headers, raw = _request(
        port, "POST", "/api/predict", body, {"Content-Type": content_type}
    )
    return status, headers, json.loads(raw)


def _wav_bytes(seconds: float, rate: int = 8000) -> bytes:
    import io

    buf = io.BytesIO()
    t = np.arange(int(seconds * rate)) / rate
    sf.write(buf, (0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), rate, format="WAV")
    return buf.getvalue()


def _uploads_left(server: Server) -> list[str]:
    return sorted(p.name for p in server.tmpdir.iterdir() if p.name.startswith("tfgenre-upload"))


def _wait_for(condition, seconds: float = 30.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return condition()


# ----------------------------------------------------------------------------- tests


def test_help_and_bad_flags(tiny_runs, clip):
    def serve(*args):
        return spawn.run([sys.executable, "-m", "tfgenre.serve", *args], timeout=120)

    proc = serve("--help")
    assert proc.returncode == 0
    for flag in ("--model", "--host", "--port", "--max-upload-mb", "--max-seconds", "--workers"):
        assert flag in proc.stdout
    run = str(tiny_runs.mel)
    for args, message in [
        ((), "--model"),
        (("--model", run, "--port", "70000"), "--port=70000 must be in 0..65535"),
        (("--model", run, "--workers", "0"), "--workers=0 must be >= 1"),
        (("--model", run, "--queue", "-1"), "--queue=-1 must be >= 0"),
        (("--model", run, "--max-upload-mb", "0"), "--max-upload-mb=0.0 must be > 0"),
        (("--model", run, "--max-seconds", "-5"), "--max-seconds=-5.0 must be > 0"),
        (("--model", "musicnn_msdd"), "neither a run folder nor a published weight set"),
    ]:
        proc = serve(*args)
        assert proc.returncode == 2, (args, proc.stderr)
        assert message in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
    # A port in use is refused before any model loads (exit 1, one line).
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        proc = serve("--model", run, "--port", port)
    assert proc.returncode == 1 and f"cannot listen on 127.0.0.1:{port}" in proc.stderr
    assert "Traceback" not in proc.stderr
    proc = serve("--model", "musicnn_msdd")
    # The unknown-model message is predict's.
    predict = spawn.run(
        [sys.executable, "-m", "tfgenre.predict", str(clip), "--model", "musicnn_msdd"],
        timeout=120,
    )
    assert "did you mean 'musicnn_msd'?" in proc.stderr
    assert proc.stderr.splitlines()[-1] in predict.stderr


def test_healthz_models_page_and_openapi(served, tiny_runs):
    names = ["run_mel"] + (["musicnn_msd"] if HAS_MUSICNN else [])
    assert _get(served.port, "/healthz") == (200, {"status": "ok", "models": names})
    status, body = _get(served.port, "/api/models")
    assert status == 200 and [m["name"] for m in body["models"]] == names
    mel = body["models"][0]
    labels = json.loads((tiny_runs.mel / "run.json").read_text())["labels"]
    assert mel["kind"] == "genre" and mel["labels"] == labels
    assert mel["sample_rate"] == 22050 and mel["window_seconds"] == pytest.approx(1.0)
    assert mel["hop_seconds"] == pytest.approx(0.5)
    assert mel["protocol"]["name"] and mel["description"].startswith("mel_cnn on mel")
    assert mel["accuracy"] is None and mel["licence"] is None  # no test report: fit ran without
    assert body["limits"]["max_upload_bytes"] == 1024 * 1024
    if HAS_MUSICNN:
        tags = body["models"][1]
        assert tags["kind"] == "tag" and len(tags["labels"]) == 50 and "rock" in tags["labels"]
        assert tags["sample_rate"] == 16000 and "ISC" in tags["licence"]
        assert "Million Song Dataset" in tags["description"]
    status, page = _get(served.port, "/")
    assert status == 200 and b"<html" in page.lower()
    status, spec = _get(served.port, "/openapi.json")
    assert status == 200 and "/api/predict" in spec["paths"] and "/api/models" in spec["paths"]
    assert _get(served.port, "/static/../../../etc/passwd")[0] == 404
    # nothing served needs the internet: FastAPI's /docs and /redoc load a CDN's scripts
    assert _get(served.port, "/docs")[0] == 404 and _get(served.port, "/redoc")[0] == 404
    status, body = _get(served.port, "/nowhere")
    assert status == 404 and body["error"]["code"] == "not_found"


def _predict_cli(clip: Path, model: str, *extra: str) -> dict:
    proc = spawn.run(
        [sys.executable, "-m", "tfgenre.predict", str(clip), "--model", model,
         "--format", "json", "--segments", "--log-level", "ERROR", *extra],
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)[0]


def _assert_same(api: dict, cli: dict, key: str) -> None:
    assert set(api) == set(cli)
    for field in ("duration_seconds", "num_segments", "padded", "silent"):
        assert api[field] == cli[field]
    np.testing.assert_allclose(
        [p for _, p in api[key]], [p for _, p in cli[key]], atol=1e-5
    )
    assert [label for label, _ in api[key]] == [label for label, _ in cli[key]]
    assert len(api["segments"]) == len(cli["segments"])
    for a, c in zip(api["segments"], cli["segments"]):
        assert (a["start_seconds"], a["end_seconds"]) == (c["start_seconds"], c["end_seconds"])
        np.testing.assert_allclose([p for _, p in a[key]], [p for _, p in c[key]], atol=1e-5)


def test_predict_equals_predict_json(served, tiny_runs, clip):
    status, _, api = _predict(served.port, clip.read_bytes(), clip.name, model="run_mel")
    assert status == 200, api
    assert api["path"] == clip.name
    _assert_same(api, _predict_cli(clip, str(tiny_runs.mel)), "genres")
    # The --model value names it too, and a hop and top_k reach the prediction.
    status, _, hop = _predict(
        served.port, clip.read_bytes(), clip.name, model=str(tiny_runs.mel), top_k=2,
        hop_seconds=0.25,
    )
    assert status == 200 and len(hop["genres"]) == 2
    _assert_same(
        hop, _predict_cli(clip, str(tiny_runs.mel), "--hop-seconds", "0.25", "--top-k", "2"),
        "genres",
    )
    status, _, short = _predict(served.port, clip.read_bytes(), model="run_mel", segments="false")
    assert status == 200 and "segments" not in short


@pytest.mark.skipif(not HAS_MUSICNN, reason="the musicnn package is not installed")
def test_predict_tags_equal_predict_json(served, tmp_path):
    path = tmp_path / "tone.wav"
    path.write_bytes(_wav_bytes(7.0, rate=22050))
    status, _, api = _predict(served.port, path.read_bytes(), "tone.wav", model="musicnn_msd")
    assert status == 200, api
    _assert_same(api, _predict_cli(path, "musicnn_msd"), "tags")


def test_several_models_need_a_name(served, clip):
    if not HAS_MUSICNN:
        pytest.skip("one model served")
    status, _, body = _predict(served.port, clip.read_bytes())
    assert status == 400 and body["error"]["code"] == "bad_field"
    assert "model is required" in body["error"]["message"]


def test_refusals(served, clip):
    data = clip.read_bytes()
    cases = [
        ({"model": "nope"}, 404, "unknown_model"),
        ({"model": "run_mel", "top_k": "0"}, 400, "bad_field"),
        ({"model": "run_mel", "top_k": "three"}, 400, "bad_field"),
        ({"model": "run_mel", "segments": "maybe"}, 400, "bad_field"),
        ({"model": "run_mel", "hop_seconds": "-1"}, 400, "bad_field"),
        ({"model": "run_mel", "hop_seconds": "nan"}, 400, "bad_field"),
    ]
    for fields, status, code in cases:
        got, _, body = _predict(served.port, data, **fields)
        assert (got, body["error"]["code"]) == (status, code), (fields, body)
        assert body["error"]["message"]
    # Not a form, no file field.
    status, _, raw = _request(served.port, "POST", "/api/predict", b"{}",
                              {"Content-Type": "application/json"})
    assert status == 400 and json.loads(raw)["error"]["code"] == "bad_request"
    boundary = "b0undary"
    body = (f'--{boundary}\r\nContent-Disposition: form-data; name="model"\r\n\r\nrun_mel\r\n'
            f"--{boundary}--\r\n").encode()
    status, _, raw = _request(served.port, "POST", "/api/predict", body,
                              {"Content-Type": f"multipart/form-data; boundary={boundary}"})
    assert status == 400 and json.loads(raw)["error"]["code"] == "missing_file"


def test_bad_file_and_path_like_name(served):
    status, _, body = _predict(served.port, os.urandom(5000), "noise.wav", model="run_mel")
    assert status == 400 and body["error"]["code"] == "undecodable"
    assert "noise.wav" in body["error"]["message"]
    assert str(served.tmpdir) not in body["error"]["message"]
    name = "../../etc/passwd.wav"
    status, _, body = _predict(served.port, _wav_bytes(2.0), name, model="run_mel")
    assert status == 200 and body["path"] == "passwd.wav"
    status, _, body = _predict(served.port, _wav_bytes(2.0), "..\\..\\x\\win.wav", model="run_mel")
    assert status == 200 and body["path"] == "win.wav"
    # Nothing was written where the name points (the server runs in cwd/a/b).
    assert not (served.cwd / "etc").exists()
    assert sorted(p.name for p in served.cwd.rglob("*")) == ["a", "b"]
    assert _wait_for(lambda: not _uploads_left(served))


def test_upload_and_duration_limits(served):
    big = _wav_bytes(70.0, rate=8000)  # 1.1 MB > 1 MB
    assert len(big) > 1024 * 1024
    status, _, body = _predict(served.port, big, "big.wav", model="run_mel")
    assert status == 413 and body["error"]["code"] == "upload_too_large"
    assert "1 MB" in body["error"]["message"]
    # Without a Content-Length (chunked), the limit is checked while the body streams in.
    payload, content_type = _multipart(big, "big.wav", {"model": "run_mel"})
    chunks = (payload[i : i + 65536] for i in range(0, len(payload), 65536))
    status, _, raw = _request(served.port, "POST", "/api/predict", chunks,
                              {"Content-Type": content_type}, chunked=True)
    assert status == 413 and json.loads(raw)["error"]["code"] == "upload_too_large"
    long = _wav_bytes(30.0, rate=4000)  # 30 s > 20 s, 240 kB
    status, _, body = _predict(served.port, long, "long.wav", model="run_mel")
    assert status == 422 and body["error"]["code"] == "audio_too_long"
    assert "20 s" in body["error"]["message"] and "30.0 s" in body["error"]["message"]
    assert _wait_for(lambda: not _uploads_left(served))
    assert _get(served.port, "/healthz")[0] == 200


def test_disconnect_mid_upload_leaves_no_temp_file(served):
    payload, content_type = _multipart(_wav_bytes(50.0, rate=8000), "gone.wav")
    with socket.create_connection(("127.0.0.1", served.port), timeout=30) as sock:
        sock.sendall(
            (f"POST /api/predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {content_type}\r\n"
             f"Content-Length: {len(payload)}\r\n\r\n").encode()
        )
        sock.sendall(payload[: len(payload) // 2])
        assert _wait_for(lambda: bool(_uploads_left(served))), "the upload never started"
    assert _wait_for(lambda: not _uploads_left(served)), _uploads_left(served)
    assert _get(served.port, "/healthz")[0] == 200


def test_fifty_concurrent_requests(served, clip):
    data = clip.read_bytes()

    def one(_):
        try:
            status, headers, body = _predict(served.port, data, clip.name, model="run_mel")
        except (ConnectionError, http.client.HTTPException) as err:  # pragma: no cover
            return ("error", repr(err))
        return (status, headers.get("retry-after") if status == 503 else body.get("path"))

    with concurrent.futures.ThreadPoolExecutor(max_workers=50) as pool:
        results = list(pool.map(one, range(50)))
    statuses = [s for s, _ in results]
    assert set(statuses) <= {200, 503}, results
    assert statuses.count(200) >= 1
    assert all(extra == "2" for s, extra in results if s == 503)
    assert all(extra == clip.name for s, extra in results if s == 200)
    assert _get(served.port, "/healthz")[0] == 200
    assert _wait_for(lambda: not _uploads_left(served))


def test_busy_then_sigint_exits_0(single, clip):
    payload, content_type = _multipart(clip.read_bytes(), clip.name)
    # A slow client holds the one worker slot: its request is in progress until it ends.
    with socket.create_connection(("127.0.0.1", single.port), timeout=60) as sock:
        sock.sendall(
            (f"POST /api/predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {content_type}\r\n"
             f"Content-Length: {len(payload)}\r\nConnection: close\r\n\r\n").encode()
        )
        sock.sendall(payload[:400])  # the file part's headers and a little of the file
        assert _wait_for(lambda: bool(_uploads_left(single)))
        status, headers, body = _predict(single.port, clip.read_bytes())
        assert status == 503 and body["error"]["code"] == "busy"
        assert headers["retry-after"] == "2"
        sock.sendall(payload[400:])
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 200")
    assert json.loads(answer.split(b"\r\n\r\n", 1)[1])["path"] == clip.name
    status, _, body = _predict(single.port, clip.read_bytes())
    assert status == 200
    assert single.stop(signal.SIGINT) == 0
    assert "Traceback" not in single.stderr.read_text()


# ----------------------------------------------------------------------------- units


def test_client_file_name_is_never_a_path():
    from tfgenre.webapp.uploads import client_file_name

    assert client_file_name("../../etc/passwd.wav") == "passwd.wav"
    assert client_file_name("C:\\music\\a b.mp3") == "a b.mp3"
    assert client_file_name("/abs/x.flac") == "x.flac"
    for empty in ("", "..", ".", "dir/", "\x00\x01"):
        assert client_file_name(empty) == "upload"


def test_limits_rules():
    from tfgenre.errors import ConfigError
    from tfgenre.webapp.limits import ServeLimits

    limits = ServeLimits(workers=3)
    assert limits.queue == 6 and limits.max_in_flight == 9
    assert limits.max_upload_bytes == 50 * 1024 * 1024 and limits.max_seconds == 900
    for bad in ({"workers": 0}, {"queue": -2}, {"max_seconds": 0}, {"max_upload_bytes": 0}):
        with pytest.raises(ConfigError):
            ServeLimits(**bad)


def test_run_accuracy_reads_the_test_report(tmp_path):
    from tfgenre.webapp.served import run_accuracy

    assert run_accuracy(str(tmp_path)) is None
    (tmp_path / "report").mkdir()
    ci = {"method": "bootstrap over tracks", "resamples": 1000, "seed": 0, "level": 0.95}
    scores = {
        "macro_f1": 0.5, "weighted_f1": 0.5, "macro_precision": 0.5, "macro_recall": 0.5,
        "per_class": {"a": {"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 2}},
        "confusion_matrix": [[1]], "num_examples": 2, "ci": ci,
    }
    metrics = {
        "segment": {"accuracy": 0.5, "accuracy_ci": [0.4, 0.6], **scores},
        "track": {"accuracy": 0.62, "accuracy_ci": [0.55, 0.69], **scores},
    }
    (tmp_path / "report" / "metrics.json").write_text(json.dumps(metrics))
    assert run_accuracy(str(tmp_path)) == {
        "value": 0.62, "low": 0.55, "high": 0.69, "level": 0.95, "scope": "track"
    }
