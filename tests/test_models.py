"""Tests of the model registry and every registered model.

Each model is built on a tiny input (small ``input_size`` options where the model has
them), takes one ``fit`` step on a ``tf.data`` pipeline, and round-trips through a
``.keras`` file. The default-size builds are marked slow.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfgenre.errors import ConfigError
from tfgenre.models import (
    DecibelScaling,
    ImageNetPreprocessing,
    InputSpec,
    get_backbone,
    get_model,
    known_models,
    model_options,
    models_for_view,
    register_model,
    set_trainable_top,
)

NUM_CLASSES = 4
N_FEATURES = 57
EXPECTED_MODELS = {
    "alexnet",
    "densenet121",
    "efficientnet_b0",
    "features_mlp",
    "genre_resnet",
    "linear",
    "mel_cnn",
    "mobilenet_v2",
    "raw_conv1d",
    "resnet18",
    "resnet34",
    "resnet50",
    "vgg16",
}
# Transfer and image models whose weights/freeze/backbone behaviour is shared.
BACKBONE_MODELS = sorted(
    {"alexnet", "densenet121", "efficientnet_b0", "mobilenet_v2", "resnet18", "resnet34"}
    | {"resnet50", "vgg16"}
)
# Small builds that take > ~15 s on 2 busy CPU cores (traced fit + save/load): the default
# suite builds and steps them (test_build_and_step_of_slow_models); -m slow runs the rest.
SLOW_SMALL = {"densenet121", "efficientnet_b0", "resnet50"}

TINY_MEL = InputSpec("mel", (32, 24, 1))
FEATURE_MEAN = tuple(float(v) for v in np.linspace(-5.0, 50.0, N_FEATURES))
FEATURE_STD = tuple(float(v) for v in np.linspace(0.5, 20.0, N_FEATURES))


def tiny_case(name: str) -> tuple[InputSpec, dict[str, Any]]:
    """A small input spec and options for a quick build of model ``name``."""
    if name == "raw_conv1d":
        return InputSpec("raw", (2048,)), {}
    if name == "features_mlp":
        return InputSpec("features", (N_FEATURES,), mean=FEATURE_MEAN, std=FEATURE_STD), {}
    if name == "linear":
        return InputSpec("embeddings", (N_FEATURES,), mean=FEATURE_MEAN, std=FEATURE_STD), {}
    if name == "genre_resnet":
        return TINY_MEL, {"width": 8}
    options: dict[str, Any] = {"input_size": 64 if name == "alexnet" else 32}
    if "weights" in model_options(name):
        options["weights"] = None
    if name == "alexnet":
        options["dense_units"] = 64
    return TINY_MEL, options


def default_case(name: str) -> tuple[InputSpec, dict[str, Any]]:
    """The default input of model ``name``'s view, with no downloads."""
    if name == "raw_conv1d":
        return InputSpec("raw", (66150,)), {}
    if name == "features_mlp":
        return InputSpec("features", (N_FEATURES,), mean=FEATURE_MEAN, std=FEATURE_STD), {}
    if name == "linear":
        return InputSpec("embeddings", (N_FEATURES,), mean=FEATURE_MEAN, std=FEATURE_STD), {}
    options = {"weights": None} if "weights" in model_options(name) else {}
    return InputSpec("mel", (128, 130, 1)), options


def random_batch(spec: InputSpec, n: int, seed: int = 0) -> np.ndarray:
    """``n`` random float32 examples in the view's value range."""
    rng = np.random.default_rng(seed)
    if spec.view == "raw":
        x = rng.uniform(-1.0, 1.0, (n, *spec.shape))
    elif spec.view == "mel":
        x = rng.uniform(-80.0, 40.0, (n, *spec.shape))
    else:
        x = rng.normal(FEATURE_MEAN, FEATURE_STD, (n, *spec.shape))
    return x.astype("float32")


def fit_one_step(
    model: keras.Model, spec: InputSpec, batch_size: int = 4, *, run_eagerly: bool = False
) -> float:
    """Compiles ``model`` and fits one batch from a tf.data pipeline; returns the loss.

    ``run_eagerly`` spares the big backbones a graph trace that takes far longer on
    2 CPU cores than the step itself.
    """
    x = random_batch(spec, batch_size)
    y = np.arange(batch_size, dtype="int64") % NUM_CLASSES
    dataset = tf.data.Dataset.from_tensor_slices((x, y)).batch(batch_size)
    model.compile(
        optimizer="adam",
        loss="sparse_categorical_crossentropy",
        run_eagerly=run_eagerly,
        jit_compile=False,
    )
    history = model.fit(dataset, epochs=1, verbose=0, shuffle=False)
    return float(history.history["loss"][-1])


def infer(model: keras.Model, x: np.ndarray, *, eager: bool) -> np.ndarray:
    """Inference-mode probabilities, by ``predict`` or (``eager``) a direct call."""
    if eager:
        return keras.ops.convert_to_numpy(model(x, training=False))
    return model.predict(x, verbose=0)


def check_probabilities(probs: np.ndarray, n: int) -> None:
    assert probs.shape == (n, NUM_CLASSES)
    assert probs.dtype == np.float32
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    assert (probs >= 0).all()


def test_registry_lists_every_model() -> None:
    # The music backbones have their own tests (tests/test_musicnn_transfer.py).
    music = {"musicnn_msd", "musicnn_mtt", "vgg_msd", "vgg_mtt"}
    assert set(known_models()) == EXPECTED_MODELS | music
    assert known_models() == sorted(known_models())
    assert models_for_view("raw") == sorted({"raw_conv1d"} | music)
    assert models_for_view("features") == ["features_mlp", "linear"]
    assert models_for_view("embeddings") == ["features_mlp", "linear"]
    assert "genre_resnet" in models_for_view("mel")


@pytest.mark.parametrize(
    "name",
    [
        pytest.param(n, marks=pytest.mark.slow) if n in SLOW_SMALL else n
        for n in sorted(EXPECTED_MODELS)
    ],
)
def test_build_fit_save_load(name: str, tmp_path: Path) -> None:
    spec, options = tiny_case(name)
    model = get_model(name, spec, NUM_CLASSES, **options)
    assert model.output_shape == (None, NUM_CLASSES)
    eager = name in BACKBONE_MODELS
    loss = fit_one_step(model, spec, run_eagerly=eager)
    assert math.isfinite(loss)

    x = random_batch(spec, 3, seed=1)
    probs = infer(model, x, eager=eager)
    check_probabilities(probs, 3)

    path = tmp_path / f"{name}.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    np.testing.assert_allclose(infer(loaded, x, eager=eager), probs, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", sorted(SLOW_SMALL))
def test_build_and_step_of_slow_models(name: str) -> None:
    """The default suite still builds and trains the models whose full test is slow."""
    spec, options = tiny_case(name)
    model = get_model(name, spec, NUM_CLASSES, **options)
    assert math.isfinite(fit_one_step(model, spec, batch_size=2, run_eagerly=True))


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(EXPECTED_MODELS))
def test_default_size_train_step(name: str) -> None:
    spec, options = default_case(name)
    model = get_model(name, spec, NUM_CLASSES, **options)
    eager = name in BACKBONE_MODELS
    assert math.isfinite(fit_one_step(model, spec, batch_size=2, run_eagerly=eager))


def test_unknown_model_suggests_closest() -> None:
    with pytest.raises(ConfigError) as info:
        get_model("resnet", TINY_MEL, NUM_CLASSES)
    message = str(info.value)
    assert message.startswith("unknown model 'resnet' (known: alexnet, densenet121,")
    assert message.endswith("did you mean 'resnet18'?")


def test_unknown_option_lists_allowed() -> None:
    with pytest.raises(ConfigError) as info:
        get_model("mobilenet_v2", TINY_MEL, NUM_CLASSES, poling="max")
    message = str(info.value)
    assert "Received: poling='max'" in message
    assert "dropout, freeze, input_size, pooling, weights" in message
    assert "did you mean 'pooling'?" in message


@pytest.mark.parametrize(
    ("name", "options", "received"),
    [
        ("mobilenet_v2", {"pooling": "x", "weights": None}, "Received: pooling='x'"),
        ("mel_cnn", {"dropout": 1.5}, "Received: dropout=1.5"),
        ("mel_cnn", {"input_size": 8}, "Received: input_size=8"),
        ("features_mlp", {"units": (8, 8)}, "Received: units=(8, 8)"),
        ("features_mlp", {"activation": "tanh"}, "Received: activation='tanh'"),
        ("features_mlp", {"dropout": (0.1, 2.0, 0.1)}, "Received: dropout=(0.1, 2.0, 0.1)"),
        ("genre_resnet", {"depth": ()}, "Received: depth=()"),
        ("raw_conv1d", {"pool_size": 4096}, "Received: pool_size=4096"),
        ("resnet18", {"weights": "imagenet"}, "Received: weights='imagenet'"),
        ("resnet18", {"freeze": "yes"}, "Received: freeze='yes'"),
        ("alexnet", {"input_size": 32}, "Received: input_size=32"),
    ],
)
def test_invalid_option_value(name: str, options: dict[str, Any], received: str) -> None:
    spec = tiny_case(name)[0]
    with pytest.raises(ConfigError, match=rf"^model '{name}': .*") as info:
        get_model(name, spec, NUM_CLASSES, **options)
    assert received in str(info.value)


def test_wrong_view_is_rejected() -> None:
    with pytest.raises(ConfigError, match="model 'mel_cnn' takes view 'mel', not 'raw'"):
        get_model("mel_cnn", InputSpec("raw", (2048,)), NUM_CLASSES)
    with pytest.raises(ConfigError, match="models for 'mel'"):
        get_model("raw_conv1d", TINY_MEL, NUM_CLASSES)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"view": "wav", "shape": (10,)}, "view='wav'"),
        ({"view": "mel", "shape": (32, 24)}, r"must be \(n_mels, n_frames, 1\)"),
        ({"view": "mel", "shape": (32, 24, 3)}, "1 channel"),
        ({"view": "raw", "shape": (0,)}, "positive"),
        ({"view": "features", "shape": (3,), "mean": (0.0,), "std": (1.0,)}, "3"),
        ({"view": "features", "shape": (2,), "mean": (0.0, 1.0)}, "together"),
    ],
)
def test_input_spec_validation(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        InputSpec(**kwargs)


def test_bad_num_classes() -> None:
    with pytest.raises(ConfigError, match="Received: num_classes=1"):
        get_model("genre_resnet", TINY_MEL, 1)


def test_register_model_rejects_a_taken_name() -> None:
    def other(input_spec: InputSpec, num_classes: int) -> keras.Model:
        raise AssertionError("never built")

    with pytest.raises(ValueError, match="already registered"):
        register_model("mel_cnn", views=("mel",))(other)


def test_weights_from_local_file_keras_application(tmp_path: Path) -> None:
    source = keras.applications.MobileNetV2(
        include_top=False, weights=None, input_shape=(32, 32, 3)
    )
    path = tmp_path / "mobilenet_v2_notop.weights.h5"
    source.save_weights(path)
    model = get_model("mobilenet_v2", TINY_MEL, NUM_CLASSES, weights=str(path), input_size=32)
    backbone = get_backbone(model)
    for got, want in zip(backbone.weights, source.weights, strict=True):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(got), want.numpy())


def test_weights_from_local_file_resnet18(tmp_path: Path) -> None:
    first = get_model("resnet18", TINY_MEL, NUM_CLASSES, weights=None, input_size=32)
    path = tmp_path / "resnet18_backbone.weights.h5"
    get_backbone(first).save_weights(path)
    second = get_model("resnet18", TINY_MEL, NUM_CLASSES, weights=path, input_size=32)
    for got, want in zip(get_backbone(second).weights, get_backbone(first).weights, strict=True):
        np.testing.assert_array_equal(got.numpy(), want.numpy())


def test_missing_weights_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        get_model("vgg16", TINY_MEL, NUM_CLASSES, weights=str(tmp_path / "x.h5"), input_size=32)


@pytest.mark.parametrize("name", ["mobilenet_v2", "resnet18", "alexnet"])
def test_freeze_makes_backbone_non_trainable(name: str) -> None:
    spec, options = tiny_case(name)
    model = get_model(name, spec, NUM_CLASSES, **{**options, "freeze": True})
    backbone = get_backbone(model)
    assert not backbone.trainable
    assert backbone.trainable_weights == []
    head = {id(w) for w in model.trainable_weights}
    assert head.isdisjoint(id(w) for w in backbone.weights)
    assert model.trainable_weights  # the head still trains


def test_frozen_layers_survive_save_load(tmp_path: Path) -> None:
    spec, options = tiny_case("resnet18")
    model = get_model("resnet18", spec, NUM_CLASSES, **options)
    names = set_trainable_top(model, 2)
    model.save(tmp_path / "resnet18.keras")
    loaded = get_backbone(keras.saving.load_model(tmp_path / "resnet18.keras"))
    assert [layer.name for layer in loaded.layers if layer.trainable and layer.weights] == names


def test_set_trainable_top_unfreezes_exactly_n() -> None:
    spec, options = tiny_case("mobilenet_v2")
    model = get_model("mobilenet_v2", spec, NUM_CLASSES, **{**options, "freeze": True})
    names = set_trainable_top(model, 5)
    assert len(names) == 5
    backbone = get_backbone(model)
    trainable = [layer.name for layer in backbone.layers if layer.trainable and layer.weights]
    assert trainable == names
    weighted = [
        layer
        for layer in backbone.layers
        if layer.weights and not isinstance(layer, keras.layers.BatchNormalization)
    ]
    assert names == [layer.name for layer in weighted[-5:]]
    assert not any(
        layer.trainable
        for layer in backbone.layers
        if isinstance(layer, keras.layers.BatchNormalization)
    )
    assert set_trainable_top(model, 0) == []
    assert backbone.trainable_weights == []


def test_set_trainable_top_needs_a_backbone() -> None:
    model = get_model("genre_resnet", TINY_MEL, NUM_CLASSES, width=8)
    with pytest.raises(ConfigError, match="no 'backbone' layer"):
        set_trainable_top(model, 2)


def test_features_normalisation_uses_spec_mean_std() -> None:
    std = list(FEATURE_STD)
    std[3] = 0.0  # a constant feature is only centred
    spec = InputSpec("features", (N_FEATURES,), mean=FEATURE_MEAN, std=tuple(std))
    model = get_model("features_mlp", spec, NUM_CLASSES)
    normaliser = keras.Model(model.inputs, model.get_layer("normalization").output)
    x = random_batch(spec, 5)
    want = (x - np.asarray(FEATURE_MEAN)) / np.where(np.asarray(std) > 0, std, 1.0)
    np.testing.assert_allclose(normaliser.predict(x, verbose=0), want, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize(
    ("mode", "reference"),
    [
        ("tf", keras.applications.mobilenet_v2.preprocess_input),
        ("caffe", keras.applications.resnet50.preprocess_input),
        ("torch", keras.applications.densenet.preprocess_input),
    ],
)
def test_imagenet_preprocessing_matches_keras(mode: str, reference: Any) -> None:
    images = np.random.default_rng(0).uniform(0, 255, (2, 4, 4, 3)).astype("float32")
    got = keras.ops.convert_to_numpy(ImageNetPreprocessing(mode)(images))
    np.testing.assert_allclose(got, reference(images.copy()), rtol=1e-5, atol=1e-4)


def test_decibel_scaling_clips_to_range() -> None:
    layer = DecibelScaling(-80.0, 40.0, low=0.0, high=255.0)
    got = keras.ops.convert_to_numpy(layer(np.array([[-100.0, -80.0, -20.0, 40.0, 60.0]])))
    np.testing.assert_allclose(got, [[0.0, 0.0, 127.5, 255.0, 255.0]], atol=1e-4)


@pytest.mark.parametrize("name", ["mel_cnn", "genre_resnet"])
def test_mixed_precision(name: str) -> None:
    spec, options = tiny_case(name)
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        model = get_model(name, spec, NUM_CLASSES, **options)
        assert model.get_layer("logits").compute_dtype == "float16"
        assert math.isfinite(fit_one_step(model, spec, run_eagerly=True))
        probs = infer(model, random_batch(spec, 2), eager=True)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    check_probabilities(probs, 2)


# Under the jax backend: tests/test_jax_backend.py.
