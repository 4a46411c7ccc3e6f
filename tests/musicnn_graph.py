"""The original musicnn / vgg TF1 graphs, run from their ``.meta`` files (tests only).

Each published folder's ``.meta`` holds the whole training graph. This prunes its
GraphDef to the inference outputs (the gradient and optimizer nodes do not import in
TF 2.x), turns every variable into a constant holding the checkpoint's value, and runs
the result in a ``tf.compat.v1.Session`` with ``is_training`` fed False. It never
imports the ``musicnn`` package (that disables eager execution process-wide).

Run as a script (``python tests/musicnn_graph.py OUT.json``) it writes the parity
report of every weight set: the max abs difference per output between the port and
the original, on random log-mel patches and, with ``TFGENRE_REAL_DATA``, on real
music. The tests run it with oneDNN off (``TF_ENABLE_ONEDNN_OPTS=0``), where the
ports equal the originals bit for bit; oneDNN rewrites the original's batch norms.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np
import tensorflow as tf

_INPUT = "model/Placeholder:0"
_IS_TRAINING = "model/Placeholder_2:0"

#: Output name -> graph node, per architecture (what ``musicnn.extractor`` fetches).
OUTPUT_NODES: dict[str, dict[str, str]] = {
    "musicnn": {
        "taggram": "model/Sigmoid",
        "penultimate": "model/batch_normalization_10/batchnorm/add_1",
        "mean_pool": "model/moments/Squeeze",
        "max_pool": "model/Max",
    },
    "vgg": {"taggram": "model/Sigmoid", "penultimate": "model/Flatten/flatten/Reshape"},
}


def _frozen_graph_def(folder: str, outputs: list[str]) -> tf.compat.v1.GraphDef:
    meta = tf.compat.v1.MetaGraphDef()
    with open(os.path.join(folder, ".meta"), "rb") as f:
        meta.ParseFromString(f.read())
    pruned = tf.compat.v1.graph_util.extract_sub_graph(meta.graph_def, outputs)
    reader = tf.compat.v1.train.NewCheckpointReader(os.path.join(folder, ""))
    frozen = tf.compat.v1.GraphDef()
    for node in pruned.node:
        if node.op in ("VariableV2", "Variable"):
            value = reader.get_tensor(node.name)
            const = frozen.node.add()
            const.name = node.name
            const.op = "Const"
            const.attr["dtype"].type = tf.as_dtype(value.dtype).as_datatype_enum
            const.attr["value"].tensor.CopyFrom(tf.make_tensor_proto(value))
        else:
            frozen.node.add().CopyFrom(node)
    return frozen


class OriginalGraph:
    """One published model as its original TF1 graph.

    Args:
        folder: The checkpoint folder (``.../musicnn/MSD_musicnn``).
        architecture: ``musicnn`` or ``vgg``.
    """

    def __init__(self, folder: str, architecture: str) -> None:
        self.nodes = OUTPUT_NODES[architecture]
        graph_def = _frozen_graph_def(folder, list(self.nodes.values()))
        self.graph = tf.Graph()
        with self.graph.as_default():
            tf.compat.v1.import_graph_def(graph_def, name="")
        self.session = tf.compat.v1.Session(graph=self.graph)

    def __call__(self, patches: np.ndarray) -> dict[str, np.ndarray]:
        """``(batch, 187, 96)`` log-mel patches -> output name -> ``(batch, width)``."""
        fetches = {k: f"{v}:0" for k, v in self.nodes.items()}
        feed = {_INPUT: patches.astype(np.float32), _IS_TRAINING: False}
        out = self.session.run(fetches, feed_dict=feed)
        return {k: np.asarray(v).reshape(len(patches), -1) for k, v in out.items()}

    def close(self) -> None:
        self.session.close()


#: The published weight sets.
WEIGHT_NAMES = ("musicnn_mtt", "musicnn_msd", "vgg_mtt", "vgg_msd")
#: Real clips of the shared sample (the 00000 clip of these genres).
REAL_GENRES = ("blues", "classical", "metal", "hiphop")
RATE = 16000


def librosa_log_mel(audio: np.ndarray) -> np.ndarray:
    """musicnn's extractor spectrogram, in float32: ``(frames, 96)``."""
    import librosa

    mel = librosa.feature.melspectrogram(y=audio, sr=RATE, hop_length=256, n_fft=512, n_mels=96).T
    return np.log10(10000 * mel.astype(np.float32) + 1)


def tone_and_noise(seconds: float = 6.5) -> np.ndarray:
    """A 440-Hz tone, its loudness swinging at 0.5 Hz, with noise (seeded), at 16 kHz."""
    rng = np.random.default_rng(1)
    t = np.arange(int(seconds * RATE)) / RATE
    tone = 0.5 * np.sin(2 * np.pi * 440 * t) * (1 + np.sin(2 * np.pi * 0.5 * t))
    return (tone + 0.05 * rng.standard_normal(t.size)).astype(np.float32)


def patches_of(spec: np.ndarray, frames: int = 187) -> np.ndarray:
    """Non-overlapping patches as ``musicnn.extractor.batch_data``: ``(n, 187, 96)``."""
    starts = range(0, spec.shape[0] - frames + 1, frames)
    return np.stack([spec[s : s + frames] for s in starts]).astype(np.float32)


def real_clips(root: str) -> dict[str, np.ndarray]:
    """Genre -> the 00000 clip of the shared sample at 16 kHz."""
    import librosa

    base = Path(root) / "gtzan_sample" / "genres"
    return {g: librosa.load(base / g / f"{g}.00000.wav", sr=RATE)[0] for g in REAL_GENRES}


def max_abs_diffs(port: dict, original: dict) -> dict[str, float]:
    """Output name -> max abs difference of the port's and the original's values."""
    return {
        k: float(np.max(np.abs(np.asarray(port[k]).reshape(v.shape) - v)))
        for k, v in original.items()
    }


def parity_report(real_root: str | None) -> dict[str, dict]:
    """Weight name -> {"random": diffs, "real": diffs or None}."""
    from tfgenre.backbones import build_pretrained, find_weights

    inputs = {"random": np.random.default_rng(0).uniform(0, 5, (4, 187, 96)).astype(np.float32)}
    if real_root:
        clips = real_clips(real_root).values()
        inputs["real"] = np.concatenate([patches_of(librosa_log_mel(a)) for a in clips])
    report: dict[str, dict] = {}
    for name in WEIGHT_NAMES:
        ws = find_weights(name)
        port, original = build_pretrained(ws), OriginalGraph(ws.folder, ws.architecture)
        report[name] = {"random": None, "real": None}
        for kind, x in inputs.items():
            report[name][kind] = max_abs_diffs(port.predict(x, verbose=0), original(x))
        original.close()
    return report


if __name__ == "__main__":
    result = parity_report(os.environ.get("TFGENRE_REAL_DATA") or None)
    Path(sys.argv[1]).write_text(json.dumps(result, indent=1))
