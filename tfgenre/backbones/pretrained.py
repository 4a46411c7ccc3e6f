"""Pretrained musicnn / vgg models: a port built and filled from a published checkpoint.

The ports name their layers after the checkpoint's TF1 variable scopes, so a Keras
variable ``<layer>/<variable>`` (``conv2d_5/kernel``, ``batch_normalization/gamma``)
takes the checkpoint value of the same name.
"""

from __future__ import annotations

import logging

import keras
import numpy as np

from tfgenre.backbones.musicnn import build_musicnn
from tfgenre.backbones.vgg import MSD_POOLS, MTT_POOLS, build_vgg
from tfgenre.backbones.weights import WeightSet, find_weights, verify_weights
from tfgenre.errors import ConfigError

logger = logging.getLogger(__name__)


def assign_checkpoint(model: keras.Model, variables: dict[str, np.ndarray]) -> None:
    """Sets every weight of ``model`` from the checkpoint variable of the same name.

    Args:
        model: A port from :func:`build_musicnn` or :func:`build_vgg`.
        variables: Checkpoint name -> value (``WeightSet.read_variables()``).

    Raises:
        ConfigError: A weight has no checkpoint variable, a size differs, or a
            checkpoint variable is left unused (the wrong architecture).
    """
    used: set[str] = set()
    for layer in model.layers:
        for weight in layer.weights:
            key = f"{layer.name}/{weight.name}"
            if key not in variables:
                raise ConfigError(f"checkpoint has no variable {key!r} for model {model.name!r}")
            value = variables[key]
            if value.size != int(np.prod(weight.shape)):
                raise ConfigError(
                    f"checkpoint variable {key!r} has shape {value.shape}, the port "
                    f"needs {tuple(weight.shape)}"
                )
            weight.assign(value.reshape(tuple(weight.shape)))
            used.add(key)
    unused = sorted(set(variables) - used)
    if unused:
        raise ConfigError(
            f"checkpoint variables unused by model {model.name!r}: {unused[:5]} (wrong "
            "architecture for these weights?)"
        )


def build_pretrained(weights: str | WeightSet) -> keras.Model:
    """Builds the port of a weight set and fills it with the published values.

    Args:
        weights: A name (``musicnn_mtt``, ``musicnn_msd``, ``vgg_mtt``, ``vgg_msd``),
            a checkpoint folder, or a :class:`WeightSet`.

    Returns:
        The ``keras.Model`` from ``(batch, 187, 96)`` log-mel patches to the dict of
        outputs (``taggram``, ``penultimate`` and, for musicnn, ``mean_pool`` and
        ``max_pool``), named after the weight set.
    """
    ws = weights if isinstance(weights, WeightSet) else find_weights(weights)
    verify_weights(ws)  # a truncated or altered file: DamagedFileError naming it
    variables = ws.read_variables()
    num_classes = len(ws.labels)
    if ws.architecture == "musicnn":
        model = build_musicnn(num_classes, name=ws.name)
    elif ws.architecture == "vgg":
        pools = MSD_POOLS if ws.dataset == "msd" else MTT_POOLS
        model = build_vgg(num_classes, pools=pools, name=ws.name)
    else:
        raise ConfigError(f"architecture={ws.architecture!r} must be 'musicnn' or 'vgg'")
    assign_checkpoint(model, variables)
    logger.info("loaded %s weights from %s", ws.name, ws.folder)
    return model
