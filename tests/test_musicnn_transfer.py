"""The fine-tuning models of the music backbones: musicnn_mtt/msd and vgg_mtt/msd."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf
from skips import needs_musicnn

from tfgenre.backbones import MusicnnFrontEnd, build_pretrained, find_weights
from tfgenre.errors import ConfigError
from tfgenre.models.backbone import freeze_backbone, get_backbone, set_trainable_top
from tfgenre.models.musicnn_transfer import MODEL_NAMES, PATCH_SAMPLES
from tfgenre.models.registry import InputSpec, get_entry, get_model
from tfgenre.models.saving import load_model

NUM_CLASSES = 3
SPEC = InputSpec("raw", (48000,), sample_rate=16000)  # 3 s: one patch
SPEC_2 = InputSpec("raw", (96000,), sample_rate=16000)  # 6 s: two patches


def waveforms(n: int, samples: int, seed: int = 0) -> np.ndarray:
    """``n`` tones with noise in [-1, 1], float32 ``(n, samples)``."""
    rng = np.random.default_rng(seed)
    t = np.arange(samples) / 16000
    f = rng.uniform(100, 1000, (n, 1))
    x = 0.4 * np.sin(2 * np.pi * f * t) + 0.05 * rng.standard_normal((n, samples))
    return x.astype(np.float32)


def fit_step(model: keras.Model, x: np.ndarray) -> None:
    """One compiled training step on ``x`` with labels 0, 1, 2, ..."""
    y = np.arange(len(x)) % NUM_CLASSES
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="sparse_categorical_crossentropy")
    model.fit(tf.data.Dataset.from_tensor_slices((x, y)).batch(len(x)), epochs=1, verbose=0)


def bn_statistics(backbone: keras.Model) -> dict[str, np.ndarray]:
    return {
        f"{layer.name}/{w.name}": keras.ops.convert_to_numpy(w)
        for layer in backbone.layers
        if isinstance(layer, keras.layers.BatchNormalization)
        for w in (layer.moving_mean, layer.moving_variance)
    }


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_random_init_builds_probabilities_over_patches(name):
    entry = get_entry(name)
    assert entry.views == ("raw",)
    assert "ISC licence" in entry.summary and "16-kHz" in entry.summary
    model = get_model(name, SPEC_2, NUM_CLASSES, weights=None)
    assert model.get_layer("frontend").compute_output_shape((None, 96000)) == (None, 2, 187, 96)
    assert get_backbone(model).input_shape == (None, 187, 96)
    probs = model.predict(waveforms(2, 96000), verbose=0)
    assert probs.shape == (2, NUM_CLASSES) and probs.dtype == np.float32
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)


@needs_musicnn
@pytest.mark.parametrize(
    "name, layer, width",
    [
        ("musicnn_mtt", "penultimate", 200),
        ("musicnn_msd", "penultimate", 200),
        ("musicnn_msd", "max_pool", 753),
        ("musicnn_msd", "mean_pool", 753),
        ("vgg_mtt", "penultimate", 256),
        ("vgg_msd", "penultimate", 256),
    ],
)
def test_published_backbone_equals_build_pretrained(name, layer, width):
    model = get_model(name, SPEC_2, NUM_CLASSES, layer=layer)
    backbone = get_backbone(model)
    patches = np.asarray(MusicnnFrontEnd()(waveforms(2, 96000))).reshape(-1, 187, 96)
    ours = np.asarray(backbone(patches, training=False))
    reference = np.asarray(build_pretrained(name)(patches, training=False)[layer])
    assert ours.shape == (4, width)
    np.testing.assert_allclose(ours, reference, rtol=1e-5, atol=1e-5)
    # and the whole model is the head on the mean over each example's two patches
    head = model.get_layer("logits")
    pooled = ours.reshape(2, 2, width).mean(axis=1)
    expected = keras.ops.softmax(head(pooled)).numpy()
    np.testing.assert_allclose(model.predict(waveforms(2, 96000), verbose=0), expected, atol=1e-5)


def test_other_sample_rates_and_short_windows_are_refused():
    with pytest.raises(ConfigError, match=r"sample_rate=22050 Hz.*--sample-rate 16000"):
        get_model("musicnn_msd", InputSpec("raw", (66150,), sample_rate=22050), 3)
    with pytest.raises(ConfigError, match=r"sample_rate=None.*--sample-rate 16000"):
        get_model("vgg_mtt", InputSpec("raw", (48000,)), 3, weights=None)
    short = InputSpec("raw", (PATCH_SAMPLES - 1,), sample_rate=16000)
    with pytest.raises(ConfigError, match=r"47615 samples.*47616 samples"):
        get_model("musicnn_mtt", short, 3, weights=None)
    model = get_model(
        "musicnn_mtt", InputSpec("raw", (PATCH_SAMPLES,), sample_rate=16000), 3, weights=None
    )
    assert model.get_layer("frontend").output.shape[1] == 1
    with pytest.raises(ConfigError, match="sample_rate=0"):
        InputSpec("raw", (48000,), sample_rate=0)


def test_bad_options_are_refused_before_any_weights_load(tmp_path):
    only = r"`layer` must be one of 'penultimate'. Received: layer='max_pool'"
    with pytest.raises(ConfigError, match=only):
        get_model("vgg_msd", SPEC, 3, weights=None, layer="max_pool")
    with pytest.raises(ConfigError, match="layer='taggram'"):
        get_model("musicnn_msd", SPEC, 3, weights=None, layer="taggram")
    with pytest.raises(ConfigError, match=r"no such folder.*weights='/nowhere/MSD_musicnn'"):
        get_model("musicnn_msd", SPEC, 3, weights="/nowhere/MSD_musicnn")
    with pytest.raises(ConfigError, match="`dropout`"):
        get_model("musicnn_msd", SPEC, 3, weights=None, dropout=1.0)
    with pytest.raises(ConfigError, match="has no option 'pooling'"):
        get_model("musicnn_msd", SPEC, 3, pooling="avg")


@needs_musicnn
def test_a_checkpoint_folder_of_another_weight_set_is_refused():
    folder = find_weights("vgg_msd").folder
    model = get_model("vgg_msd", SPEC, 3, weights=folder)
    assert model.name == "vgg_msd"
    with pytest.raises(ConfigError, match="holds the vgg_msd weights.*--model vgg_msd"):
        get_model("vgg_mtt", SPEC, 3, weights=folder)


def test_keras_file_round_trip(tmp_path):
    model = get_model("musicnn_mtt", SPEC_2, NUM_CLASSES, weights=None, layer="max_pool")
    x = waveforms(2, 96000, seed=3)
    path = tmp_path / "m.keras"
    model.save(path)
    again = load_model(str(path))
    assert again.get_layer("patch_mean").get_config()["patches"] == 2
    assert get_backbone(again).output_shape == (None, 753)
    np.testing.assert_allclose(model.predict(x, verbose=0), again.predict(x, verbose=0), atol=1e-6)


@needs_musicnn
@pytest.mark.parametrize("unfreeze", ["set_trainable_top", "freeze=False"])
def test_published_batch_norm_stays_in_inference_mode_when_unfrozen(unfreeze, tmp_path):
    model = get_model("musicnn_msd", SPEC, NUM_CLASSES)
    if unfreeze == "set_trainable_top":
        freeze_backbone(model)
        set_trainable_top(model, 100)
    backbone = get_backbone(model)
    before = bn_statistics(backbone)
    conv = backbone.get_layer("conv2d_7")
    kernel = keras.ops.convert_to_numpy(conv.kernel)
    fit_step(model, waveforms(4, 48000))
    after = bn_statistics(backbone)
    assert len(before) == 2 * 9  # 9 batch norms on the way to mean_pool (the default)
    for key, value in before.items():
        np.testing.assert_array_equal(after[key], value, err_msg=key)
    assert np.abs(keras.ops.convert_to_numpy(conv.kernel) - kernel).max() > 0  # it trained
    model.save(tmp_path / "m.keras")  # a reloaded run (best checkpoint, resume) keeps it
    reloaded = get_backbone(load_model(str(tmp_path / "m.keras")))
    norms = [x for x in reloaded.layers if isinstance(x, keras.layers.BatchNormalization)]
    assert len(norms) == 9 and not any(x.trainable for x in norms)
    assert reloaded.get_layer("conv2d_7").trainable


def test_random_init_trains_its_batch_norm():
    model = get_model("vgg_mtt", SPEC, NUM_CLASSES, weights=None)
    backbone = get_backbone(model)
    before = bn_statistics(backbone)
    fit_step(model, waveforms(4, 48000))
    after = bn_statistics(backbone)
    assert any(np.abs(after[k] - v).max() > 0 for k, v in before.items())


def test_freeze_and_unfreeze_counts():
    model = get_model("musicnn_msd", SPEC, NUM_CLASSES, weights=None, freeze=True)
    assert [w.path for w in model.trainable_weights] == ["logits/kernel", "logits/bias"]
    assert get_backbone(model).output_shape == (None, 753)  # mean_pool, the default
    unfrozen = set_trainable_top(model, 3)
    assert unfrozen == ["conv2d_5", "conv2d_6", "conv2d_7"]
    assert len(model.trainable_weights) == 2 * 3 + 2
    assert set_trainable_top(model, 100) == [
        f"conv2d{s}" for s in ("", "_1", "_2", "_3", "_4", "_5", "_6", "_7")
    ]
    penultimate = get_model("musicnn_msd", SPEC, NUM_CLASSES, weights=None, layer="penultimate")
    assert set_trainable_top(penultimate, 2) == ["conv2d_7", "dense"]
    freeze_backbone(model)
    assert len(model.trainable_weights) == 2
    vgg = get_model("vgg_msd", SPEC, NUM_CLASSES, weights=None)
    assert set_trainable_top(vgg, 2) == ["4CNN", "5CNN"]


@needs_musicnn
def test_mixed_float16_matches_float32():
    t = np.arange(48000) / 16000
    x = np.stack([0.9 * np.sin(2 * np.pi * f * t) for f in (220, 1500)]).astype(np.float32)
    model = get_model("musicnn_msd", SPEC, NUM_CLASSES)
    keras.config.set_dtype_policy("mixed_float16")
    try:
        mixed = get_model("musicnn_msd", SPEC, NUM_CLASSES)
    finally:
        keras.config.set_dtype_policy("float32")
    assert get_backbone(mixed).get_layer("conv2d").compute_dtype == "float16"
    assert mixed.get_layer("frontend").compute_dtype == "float32"
    mixed.set_weights(model.get_weights())
    probs = mixed.predict(x, verbose=0)
    assert probs.dtype == np.float32
    np.testing.assert_allclose(probs, model.predict(x, verbose=0), atol=0.01)


def test_dynamic_range_quantisation_leaves_the_front_end_float(tmp_path):
    """``export --quantize`` quantises weights, not the mel filterbank of the front end."""
    from tfgenre.inference.tflite import convert_tflite, tflite_signature

    front = MusicnnFrontEnd()
    front.build((None, 48000))

    class Module(tf.Module):
        def __init__(self) -> None:
            super().__init__()
            self.front = front  # tracked, so the SavedModel holds the filterbank

        @tf.function(input_signature=[tf.TensorSpec([1, 48000], tf.float32, "waveform")])
        def serve(self, waveform):
            return {"log_mel": self.front(waveform)}

    module = Module()
    tf.saved_model.save(
        module, str(tmp_path / "front"), signatures={"serving_default": module.serve}
    )
    quantised = tflite_signature(convert_tflite(str(tmp_path / "front"), quantize=True))
    x = waveforms(1, 48000, seed=5)
    np.testing.assert_allclose(quantised(waveform=x)["log_mel"], np.asarray(front(x)), atol=1e-3)
