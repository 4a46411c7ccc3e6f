"""``linear``: softmax regression on standardised vector inputs (a linear probe)."""

from __future__ import annotations

import keras

from tfgenre.models.features_mlp import normalised_input
from tfgenre.models.registry import InputSpec, check_rate, register_model
from tfgenre.views.registry import VECTOR_VIEWS


@register_model("linear", views=VECTOR_VIEWS)
def build(input_spec: InputSpec, num_classes: int, *, dropout: float = 0.0) -> keras.Model:
    """Normalisation, optional dropout, one dense layer, softmax (a linear probe).

    With the train-split standardisation of :func:`~tfgenre.models.features_mlp.
    normalised_input` this is multinomial logistic regression, as ``baselines``
    fits it, trained by the fit loop (with its optimizer, schedule and callbacks).

    Args:
        input_spec: A ``features`` or ``embeddings`` spec, ``(n_features,)``.
        num_classes: Number of classes.
        dropout: Dropout rate on the standardised inputs during training.

    Returns:
        Model ``(batch, n_features)`` -> ``(batch, num_classes)`` float32.
    """
    rate = check_rate("dropout", dropout)
    inputs, x = normalised_input(input_spec, "linear")
    if rate:
        x = keras.layers.Dropout(rate, name="dropout")(x)
    x = keras.layers.Dense(num_classes, name="logits")(x)
    outputs = keras.layers.Activation("softmax", dtype="float32", name="probabilities")(x)
    return keras.Model(inputs, outputs, name="linear")
