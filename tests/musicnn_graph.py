"""The original musicnn / vgg TF1 graphs, run from their ``.meta`` files (tests only).

Each published folder's ``.meta`` holds the whole training graph. This prunes its
GraphDef to the inference outputs (the gradient and optimizer nodes do not import in
TF 2.x), turns every variable into a constant holding the checkpoint's value, and runs
the result in a ``tf.compat.v1.Session`` with ``is_training`` fed False. It never
imports the ``musicnn`` package (that disables eager execution process-wide).
"""

from __future__ import annotations

import os

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
