"""The JSON written with every exported model: what a user needs besides the model.

Labels, view, model, input layout, package versions, and per kind of artefact the
audio framing (sample rate, window, hop: the run's :class:`~tfgenre.core.framing.Framing`,
at the rate the artefact takes) and the serving signature, all from the run's
:class:`~tfgenre.runs.run_info.RunInfo`.
"""

from __future__ import annotations

from typing import Any

from tfgenre.inference.serving import SIGNATURE
from tfgenre.runs.run_info import RunInfo
from tfgenre.views.registry import VECTOR_VIEWS

#: File name of the metadata inside a SavedModel's ``assets.extra``.
METADATA_FILE = "tfgenre.json"


def _input_spec(run: RunInfo) -> dict[str, Any]:
    spec = run.view_spec
    return {
        "view": run.view,
        "shape": [int(s) for s in run.input_shape],
        "mean": list(spec.mean) if spec.mean else None,
        "std": list(spec.std) if spec.std else None,
    }


def _feature_window(run: RunInfo) -> dict[str, Any]:
    framing = run.framing
    return {
        "feature_names": list(run.feature_names) if run.feature_names else None,
        "sample_rate": framing.sample_rate,
        "feature_window": framing.window_samples or "whole_track",
        "feature_hop": framing.hop_samples,
    }


def _keras(run: RunInfo) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "input": {
            "name": run.view,
            "shape": [None, *run.input_shape],
            "note": "the stored view (see view_entry); preprocess with tfgenre",
        },
        "view_entry": run.view_spec.to_json(),
        "sample_rate": run.framing.sample_rate,
        "window_samples": run.framing.window_samples,
        "hop_samples": run.framing.hop_samples,
    }
    if run.view in VECTOR_VIEWS:
        window = _feature_window(run)
        meta["feature_names"] = window["feature_names"]
        meta["feature_window"] = window["feature_window"]
    return meta


_VECTOR_NOTES = {
    "features": (
        "compute the features with tfgenre.views.features.FeaturesView on mono audio at "
        "sample_rate (whole file or windows of feature_window samples) and average the "
        "probabilities over windows"
    ),
    "embeddings": (
        "compute the embeddings with tfgenre.views.embeddings.EmbeddingsView.from_spec("
        "view_entry) on mono audio at sample_rate (whole file or windows of feature_window "
        "samples; it resamples to the backbone's 16 kHz) and average the probabilities over "
        "windows; export without --input embeddings for a model that takes the waveform"
    ),
}


def _features_signature(run: RunInfo) -> dict[str, Any]:
    out = {
        "signature": {
            "name": SIGNATURE,
            "inputs": {run.view: {"dtype": "float32", "shape": [None, *run.input_shape]}},
            "outputs": {"probabilities": {"dtype": "float32", "shape": [None, len(run.labels)]}},
        },
        **_feature_window(run),
        "note": _VECTOR_NOTES[run.view],
    }
    if run.view == "embeddings":
        out["view_entry"] = run.view_spec.to_json()
    return out


def _waveform_io(classes: int) -> dict[str, Any]:
    """The serving signature of a waveform-in export: one track in, its probabilities out."""
    return {
        "name": SIGNATURE,
        "inputs": {"waveform": {"dtype": "float32", "shape": [None]}},
        "outputs": {
            "probabilities": {"dtype": "float32", "shape": [classes]},
            "segment_probabilities": {"dtype": "float32", "shape": [None, classes]},
        },
    }


def _waveform_signature(run: RunInfo) -> dict[str, Any]:
    from tfgenre.inference.serving import FrontendSpec

    spec = FrontendSpec.from_run_info(run)
    return {
        "signature": _waveform_io(len(run.labels)),
        "sample_rate": spec.framing.sample_rate,
        "window_samples": spec.framing.window_samples,
        "hop_samples": spec.framing.hop_samples,
        "channels": 1,
        "view_params": spec.params,
    }


def _embeddings_waveform_signature(run: RunInfo) -> dict[str, Any]:
    from tfgenre.inference.embedding_serving import (
        backbone_framing,
        backbone_weights,
        matches_predict,
    )

    framing, run_rate = backbone_framing(run.framing), run.framing.sample_rate
    exact = matches_predict(run.framing)
    return {
        "signature": _waveform_io(len(run.labels)),
        "sample_rate": framing.sample_rate,
        "window_samples": framing.window_samples or "whole_track",
        "hop_samples": framing.hop_samples,
        "channels": 1,
        "matches_predict": exact,
        "backbones": backbone_weights(run),
        "view_entry": run.view_spec.to_json(),
        "note": (
            f"mono float32 waveform at {framing.sample_rate} Hz, any length; front end, "
            "backbones, pooling, standardisation and head run in the graph. To match "
            f"predict, decode at the run's {run_rate} Hz and resample to "
            f"{framing.sample_rate} Hz with soxr_hq "
            "(tfgenre.backbones.runner.to_backbone_rate)"
            + (
                ""
                if exact
                else f"; this run's windows were resampled one by one at "
                f"{run_rate} Hz, so window edges differ from predict "
                "(about 1e-3 on track probabilities); whole-track runs and runs written at "
                "16 kHz match predict"
            )
        ),
    }


def metadata(run: RunInfo, fmt: str, vector_input: bool = False) -> dict[str, Any]:
    """The metadata of an artefact of format ``fmt`` (``savedmodel``, ``tflite``, ``keras``).

    Args:
        run: The exported run.
        fmt: The artefact's format.
        vector_input: An embeddings run exported with the stored rows as input
            instead of a waveform.

    Returns:
        JSON-ready data: ``format``, ``labels``, ``view``, ``model``, ``input_spec``,
        ``versions``, then the stored-view input (keras), the ``features`` signature
        with ``feature_names`` and the feature window, or the ``waveform`` signature
        with ``sample_rate``, ``window_samples``, ``hop_samples`` and ``view_params``
        (for an embeddings run: the 16-kHz rate and every backbone's weights,
        ``backbones``, unless ``vector_input``).
    """
    from tfgenre.records.info import package_versions

    meta: dict[str, Any] = {
        "format": fmt,
        "labels": list(run.labels),
        "view": run.view,
        "model": run.model,
        "input_spec": _input_spec(run),
        "versions": package_versions(),
    }
    if fmt == "keras" and run.view == "embeddings" and not vector_input:
        wave = _embeddings_waveform_signature(run)
        wave.pop("signature")
        return {
            **meta,
            "input": {"name": "waveform", "shape": [None, None], "dtype": "float32"},
            "output": {"name": "probabilities", "shape": [None, len(run.labels)]},
            **wave,
            "loading": "import tfgenre.inference.embedding_serving, "
            "then keras.saving.load_model(path); "
            "a batch of equal-length waveforms in, the mean probabilities over windows out",
        }
    if fmt == "keras":
        return {**meta, **_keras(run)}
    if run.view == "embeddings" and not vector_input:
        return {**meta, **_embeddings_waveform_signature(run)}
    if run.view in VECTOR_VIEWS:
        return {**meta, **_features_signature(run)}
    return {**meta, **_waveform_signature(run)}
