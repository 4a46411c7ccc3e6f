"""``features_mlp``: the three-hidden-layer MLP of the GTZAN 57-feature study.

It takes any vector view: the 57 features or a pretrained backbone's embeddings.
"""

from __future__ import annotations

import logging
from typing import Any

import keras

from tfgenre.models.registry import (
    InputSpec,
    check_choice,
    check_ints,
    check_rates,
    register_model,
)
from tfgenre.views.registry import VECTOR_VIEWS

logger = logging.getLogger(__name__)

ACTIVATIONS: tuple[str, ...] = ("relu", "leaky_relu")
INITIALIZERS: tuple[str, ...] = ("glorot_uniform", "random_uniform")


def normalised_input(input_spec: InputSpec, model: str) -> tuple[keras.KerasTensor, Any]:
    """The input of a vector view and its standardisation inside the model.

    Columns are standardised with the train-split ``mean``/``std`` of ``input_spec``
    (a column with std at most ``stats.STD_FLOOR`` is only centred); without them a
    BatchNormalization layer learns the scaling instead (and a warning is logged).

    Args:
        input_spec: A ``features`` or ``embeddings`` spec, ``(n_features,)``.
        model: The model's name, for the warning.

    Returns:
        ``(inputs, normalised)``: the ``keras.Input`` (named after the view) and the
        standardised tensor, both ``(batch, n_features)``.
    """
    inputs = keras.Input(input_spec.shape, name=input_spec.view)
    if input_spec.mean is not None and input_spec.std is not None:
        from tfgenre.core.stats import standardising_std

        std = standardising_std(input_spec.std)
        x = keras.layers.Normalization(
            mean=list(input_spec.mean), variance=(std**2).tolist(), name="normalization"
        )(inputs)
    else:
        logger.warning("%s: input_spec has no mean/std; normalising with BatchNormalization", model)
        x = keras.layers.BatchNormalization(name="normalization")(inputs)
    return inputs, x


@register_model("features_mlp", views=VECTOR_VIEWS)
def build(
    input_spec: InputSpec,
    num_classes: int,
    *,
    units: tuple[int, int, int] = (256, 128, 64),
    dropout: float | tuple[float, float, float] = (0.2, 0.2, 0.2),
    activation: str = "relu",
    initializer: str = "glorot_uniform",
) -> keras.Model:
    """Normalisation, three dense hidden layers with dropout, softmax.

    Features (or embeddings) are standardised inside the model with the train-split
    ``mean``/``std`` of ``input_spec`` (see :func:`normalised_input`).

    Args:
        input_spec: A ``features`` or ``embeddings`` spec, ``(n_features,)``, with
            ``mean`` and ``std``.
        num_classes: Number of classes.
        units: Units of the three hidden layers.
        dropout: Dropout rate after each hidden layer, one for all or three.
        activation: ``"relu"`` or ``"leaky_relu"``.
        initializer: Kernel initializer, ``"glorot_uniform"`` or ``"random_uniform"``.

    Returns:
        Model ``(batch, n_features)`` -> ``(batch, num_classes)`` float32.
    """
    units = check_ints("units", units, length=3, minimum=1)
    rates = check_rates("dropout", dropout, length=3)
    activation = check_choice("activation", activation, ACTIVATIONS)
    initializer = check_choice("initializer", initializer, INITIALIZERS)
    inputs, x = normalised_input(input_spec, "features_mlp")
    for i, (n_units, rate) in enumerate(zip(units, rates, strict=True), start=1):
        x = keras.layers.Dense(n_units, kernel_initializer=initializer, name=f"dense{i}")(x)
        if activation == "relu":
            x = keras.layers.ReLU(name=f"relu{i}")(x)
        else:
            x = keras.layers.LeakyReLU(name=f"leaky_relu{i}")(x)
        if rate:
            x = keras.layers.Dropout(rate, name=f"dropout{i}")(x)
    x = keras.layers.Dense(num_classes, name="logits")(x)
    outputs = keras.layers.Activation("softmax", dtype="float32", name="probabilities")(x)
    return keras.Model(inputs, outputs, name="features_mlp")
