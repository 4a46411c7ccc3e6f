"""``serve_latency``: a warm ``python -m tfgenre.serve`` against ``predict`` in a fresh process.

The server (``--workers 4``) is started once; each ``POST /api/predict`` of one clip
(30 s in the full run) is timed at 1 and at 4 concurrent clients (p50/p95 latency and
requests per second). The baseline is what a user without the server does: ``python
-m tfgenre.predict CLIP --model RUN --format json`` in a fresh process (TensorFlow
start, model load, the same prediction). ``speedup_p50_1_client`` = fresh-process
seconds / the server's p50 at one client. Both sides run in the same process tree, in
the same run, on the same clip and model.

Run alone: ``python -m benchmarks.serve_bench --model RUN_DIR|musicnn_msd CLIP``.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import http.client
import json
import os
import subprocess
import sys
import time
import uuid
from typing import Any

import numpy as np

CONCURRENCY = (1, 4)


def _post(port: int, body: bytes, content_type: str) -> float:
    start = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    try:
        conn.request("POST", "/api/predict", body=body, headers={"Content-Type": content_type})
        response = conn.getresponse()
        response.read()
        if response.status != 200:
            raise RuntimeError(f"/api/predict answered {response.status}")
    finally:
        conn.close()
    return time.perf_counter() - start


def _form(path: str) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    with open(path, "rb") as f:
        data = f.read()
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
        f'filename="{os.path.basename(path)}"\r\nContent-Type: application/octet-stream\r\n\r\n'
    ).encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    return head + data + tail, f"multipart/form-data; boundary={boundary}"


def start_server(model: str, workers: int = 4) -> tuple[subprocess.Popen, int]:
    """``python -m tfgenre.serve --model MODEL --port 0``; returns it once it serves."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "tfgenre.serve", "--model", model, "--port", "0",
         "--workers", str(workers), "--queue", str(4 * workers), "--log-level", "WARNING"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    line = proc.stdout.readline()
    if not line.startswith("serving on "):
        proc.kill()
        raise RuntimeError(f"tfgenre.serve did not start: {line!r}")
    return proc, int(line.strip().rstrip("/").rsplit(":", 1)[1])


def fresh_predict_seconds(model: str, clip: str) -> float:
    """Seconds of ``python -m tfgenre.predict CLIP --model MODEL --format json``."""
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "tfgenre.predict", clip, "--model", model, "--format", "json",
         "--log-level", "ERROR"],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return time.perf_counter() - start


def bench_serve(
    model: str, clip: str, *, requests: int = 20, fresh_runs: int = 2
) -> dict[str, Any]:
    """The ``serve_latency`` figure for ``model`` on ``clip``.

    Args:
        model: A run folder or a weight-set name.
        clip: The audio file sent (a 30-s clip in the full run).
        requests: Requests timed at each concurrency (after one warm-up request).
        fresh_runs: Fresh ``predict`` processes timed (the median is the baseline).
    """
    import soundfile as sf

    body, content_type = _form(clip)
    proc, port = start_server(model, workers=max(CONCURRENCY))
    levels: dict[str, Any] = {}
    try:
        _post(port, body, content_type)  # the connection path; the model is already warm
        for clients in CONCURRENCY:
            start = time.perf_counter()
            with concurrent.futures.ThreadPoolExecutor(max_workers=clients) as pool:
                latencies = list(pool.map(lambda _: _post(port, body, content_type),
                                          range(requests)))
            wall = time.perf_counter() - start
            levels[f"{clients}_clients"] = {
                "requests": requests,
                "p50_seconds": float(np.percentile(latencies, 50)),
                "p95_seconds": float(np.percentile(latencies, 95)),
                "requests_per_s": requests / wall,
            }
    finally:
        proc.terminate()
        proc.wait(timeout=120)
    fresh = [fresh_predict_seconds(model, clip) for _ in range(fresh_runs)]
    baseline = float(np.median(fresh))
    one, four = levels["1_clients"], levels["4_clients"]
    return {
        "model": os.path.basename(model.rstrip("/")),
        "clip_seconds": float(sf.info(clip).duration),
        "server_workers": max(CONCURRENCY),
        **levels,
        "fresh_predict_seconds": baseline,
        "speedup_p50_1_client": baseline / one["p50_seconds"],
        "throughput_4_over_1_clients": four["requests_per_s"] / one["requests_per_s"],
    }


def write_run(records: str, label_names: tuple[str, ...], run_dir: str) -> str:
    """An untrained mel_cnn run folder on ``records`` (the same work as a trained one)."""
    from tfgenre.core import layout
    from tfgenre.models.registry import InputSpec, get_model
    from tfgenre.records.info import RecordsInfo
    from tfgenre.runs.run_info import RunInfo

    info = RecordsInfo.load(records)
    mel = info.view("mel")
    spec = InputSpec("mel", mel.shape, mel.mean, mel.std, sample_rate=mel.sample_rate)
    model = get_model("mel_cnn", spec, len(label_names))
    os.makedirs(run_dir, exist_ok=True)
    model.save(os.path.join(run_dir, layout.MODEL))
    RunInfo(
        labels=tuple(label_names),
        model="mel_cnn",
        view_spec=info.view("mel"),
        input_shape=tuple(spec.shape),
        audio=info.audio,
        source="records",
        data_path=records,
    ).write(run_dir)
    return run_dir


def main(argv: list[str] | None = None) -> int:
    """Measures ``serve_latency`` for one model and clip; prints the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("clip")
    parser.add_argument("--model", required=True)
    parser.add_argument("--requests", type=int, default=20)
    args = parser.parse_args(argv)
    print(json.dumps(bench_serve(args.model, args.clip, requests=args.requests), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
