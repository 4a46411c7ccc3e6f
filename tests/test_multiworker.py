"""MultiWorkerMirroredStrategy with two worker processes on localhost (TF_CONFIG)."""

from __future__ import annotations

import json
import os
import socket
import sys
from pathlib import Path

import pytest
import spawn
from builders import RecordsSpec

from tfgenre.core import config
from tfgenre.training.fit_config import FitConfig
from tfgenre.training.loop import train

ROOT = Path(__file__).resolve().parents[1]


def _free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("localhost", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


#: 4 genres x 12 clips of 4 s, 2-s windows, the features view, splits 0.6/0.2/0.2, 2 shards.
MULTIWORKER_RECORDS = RecordsSpec(
    num_genres=4, clips_per_genre=12, clip_seconds=4.0, views=("features",),
    window_seconds=2.0, shards=2)


@pytest.fixture(scope="module")
def records(synthetic_records) -> Path:
    """The ``MULTIWORKER_RECORDS`` folder."""
    return synthetic_records(MULTIWORKER_RECORDS).records


FIT = dict(
    view="features",
    model="features_mlp",
    epochs=15,
    batch_size=16,
    early_stopping_patience=0,
    seed=0,
)


@pytest.mark.slow
def test_two_local_workers_match_one_worker(records, tmp_path):
    single = train(
        config.from_dict(
            FitConfig,
            dict(records=str(records), run_dir=str(tmp_path / "single"), strategy="default", **FIT),
        )
    )
    ports = _free_ports(2)
    cluster = {"worker": [f"localhost:{p}" for p in ports]}
    code = (
        "import sys\n"
        "from tfgenre.core import config\n"
        "from tfgenre.training.fit_config import FitConfig\n"
        "from tfgenre.training.loop import train\n"
        "from keras.src.backend.tensorflow import trainer as tf_trainer\n"
        "reduce = tf_trainer.reduce_per_replica\n"
        f"cfg = config.from_dict(FitConfig, dict(records={str(records)!r}, "
        f"run_dir={str(tmp_path / 'multi')!r}, strategy='auto', **{FIT!r}))\n"
        "r = train(cfg)\n"
        "assert tf_trainer.reduce_per_replica is reduce, 'Keras patch left behind'\n"
        "print('STRATEGY', r.run_dir)\n"
    )
    procs = []
    for index in range(2):
        env = {
            **os.environ,
            "TF_CONFIG": json.dumps(
                {"cluster": cluster, "task": {"type": "worker", "index": index}}
            ),
        }
        procs.append(spawn.start([sys.executable, "-c", code], env=env, cwd=ROOT))
    outs = [p.communicate(timeout=600) for p in procs]
    for p, (_, err) in zip(procs, outs):
        assert p.returncode == 0, err[-6000:]
    info = json.loads((tmp_path / "multi" / "run.json").read_text())
    assert info["strategy"]["num_replicas"] == 2
    assert info["strategy"]["name"] == "multi_worker" and info["strategy"]["num_workers"] == 2
    multi = json.loads((tmp_path / "multi" / "report" / "metrics.json").read_text())
    acc1 = single.metrics["segment"]["accuracy"]
    acc2 = multi["segment"]["accuracy"]
    assert acc2 > 0.5 and abs(acc1 - acc2) <= 0.2, (acc1, acc2)
