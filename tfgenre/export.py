"""``python -m tfgenre.export --run-dir DIR --format savedmodel|tflite|keras``: deployable models.

Formats (default output paths inside the run folder):

* ``savedmodel`` (``export/savedmodel/``): serving signature ``serving_default`` takes
  ``waveform``, a mono float32 tensor ``(n_samples,)`` at the model's sample rate of
  any length (at least one window; a shorter one is zero-padded to one window), and
  returns ``probabilities`` ``(num_classes,)``, the mean over windows, and
  ``segment_probabilities`` ``(n_windows, num_classes)``. Framing, the log-mel
  (``tf.signal`` with librosa's filterbank embedded, see :mod:`tfgenre.serving`) and
  normalisation all happen in the graph. ``assets.extra/tfgenre.json`` holds the
  labels, sample rate, window and hop.
* ``tflite`` (``export/model.tflite``): the same signature converted with TFLite
  builtin ops only (so the stock ``tf.lite.Interpreter`` and LiteRT run it), with
  ``model.tflite.json`` beside it. ``--quantize`` applies dynamic-range quantisation.
* ``keras`` (``export/model.keras``): a copy of the run's Keras model (its input is
  the stored view, not audio), with ``model.keras.json`` beside it.

Feature models (view ``features``) cannot compute their 57 librosa features in the
graph (HPSS, beat tracking, chroma tuning estimation have no TensorFlow ops), so their
SavedModel/TFLite signature takes ``features`` ``(batch, n_features)`` float32,
unnormalised, in the order of ``feature_names`` in the metadata (compute them with
:class:`tfgenre.views.features.FeaturesView`), and returns ``probabilities``
``(batch, num_classes)``.

Example:
    python -m tfgenre.export --run-dir runs/demo --format savedmodel
    python -m tfgenre.export --run-dir runs/demo --format tflite --output demo.tflite
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import shutil
import sys
import tempfile
from collections.abc import Sequence
from typing import Any

from tfgenre import cli, io
from tfgenre.errors import ConfigError, TfgenreError

logger = logging.getLogger(__name__)

FORMATS: tuple[str, ...] = ("savedmodel", "tflite", "keras")
DEFAULT_NAMES: dict[str, str] = {
    "savedmodel": "savedmodel",
    "tflite": "model.tflite",
    "keras": "model.keras",
}
METADATA_FILE = "tfgenre.json"
SIGNATURE = "serving_default"


@dataclasses.dataclass(frozen=True)
class ExportResult:
    """One exported artefact.

    Attributes:
        format: ``savedmodel``, ``tflite`` or ``keras``.
        path: The artefact (a folder for SavedModel, else a file).
        metadata_path: The JSON metadata written with it.
        num_bytes: Size of the artefact on disk (all files of a SavedModel).
        input_name: Name of the signature's input (``waveform`` or ``features``).
    """

    format: str
    path: str
    metadata_path: str
    num_bytes: int
    input_name: str


def metadata(info: dict[str, Any], fmt: str) -> dict[str, Any]:
    """What a user of the artefact needs besides the model: labels, audio, signature."""
    from tfgenre.records.manifest import package_versions

    view = info.get("view")
    meta: dict[str, Any] = {
        "format": fmt,
        "labels": list(info["labels"]),
        "view": view,
        "model": info.get("model"),
        "input_spec": info.get("input_spec"),
        "versions": package_versions(),
    }
    if fmt == "keras":
        meta["input"] = {
            "name": info.get("view"),
            "shape": [None, *info["input_spec"]["shape"]],
            "note": "the stored view (see view_entry); preprocess with tfgenre",
        }
        meta["view_entry"] = info.get("view_entry")
        meta["sample_rate"] = info.get("sample_rate")
        meta["window_samples"] = info.get("window_samples")
        meta["hop_samples"] = info.get("hop_samples")
        if view == "features":
            meta["feature_names"] = info.get("feature_names") or (info.get("view_entry") or {}).get(
                "feature_names"
            )
            meta["feature_window"] = info.get("feature_window")
        return meta
    if view == "features":
        from tfgenre.inference import make_frontend

        framing, _ = make_frontend(info)
        meta["signature"] = {
            "name": SIGNATURE,
            "inputs": {
                "features": {"dtype": "float32", "shape": [None, *info["input_spec"]["shape"]]}
            },
            "outputs": {
                "probabilities": {"dtype": "float32", "shape": [None, len(info["labels"])]}
            },
        }
        entry = info.get("view_entry") or {}
        meta["feature_names"] = info.get("feature_names") or entry.get("feature_names")
        meta["sample_rate"] = framing.sample_rate
        meta["feature_window"] = framing.window_samples or "whole_track"
        meta["feature_hop"] = framing.hop_samples
        meta["note"] = (
            "compute the features with tfgenre.views.features.FeaturesView on mono audio at "
            "sample_rate (whole file or windows of feature_window samples) and average the "
            "probabilities over windows"
        )
        return meta
    from tfgenre.serving import FrontendSpec

    spec = FrontendSpec.from_run_info(info)
    meta["signature"] = {
        "name": SIGNATURE,
        "inputs": {"waveform": {"dtype": "float32", "shape": [None]}},
        "outputs": {
            "probabilities": {"dtype": "float32", "shape": [len(info["labels"])]},
            "segment_probabilities": {
                "dtype": "float32",
                "shape": [None, len(info["labels"])],
            },
        },
    }
    meta["sample_rate"] = spec.sample_rate
    meta["window_samples"] = spec.window_samples
    meta["hop_samples"] = spec.hop_samples
    meta["channels"] = 1
    meta["view_params"] = spec.params
    return meta


def _serving_module(model: Any, info: dict[str, Any]) -> tuple[Any, str]:
    """A ``tf.Module`` holding the model and its serving function; returns (module, input).

    A plain ``tf.Module`` rather than ``keras.export.ExportArchive``: the latter writes
    every variable twice (as ``variables`` and ``_all_variables``), doubling the size.
    """
    import tensorflow as tf

    if info.get("view") == "features":
        width = int(info["input_spec"]["shape"][0])

        class FeaturesServing(tf.Module):
            def __init__(self, model: Any) -> None:
                super().__init__(name="tfgenre_serving")
                self.model = model

            @tf.function(input_signature=[tf.TensorSpec([None, width], tf.float32, "features")])
            def serve(self, features: Any) -> dict[str, Any]:
                return {"probabilities": tf.cast(self.model(features, training=False), tf.float32)}

        return FeaturesServing(model), "features"
    from tfgenre.serving import FrontendSpec, waveform_to_probabilities

    spec = FrontendSpec.from_run_info(info)

    class WaveformServing(tf.Module):
        def __init__(self, model: Any) -> None:
            super().__init__(name="tfgenre_serving")
            self.model = model

        @tf.function(input_signature=[tf.TensorSpec([None], tf.float32, "waveform")])
        def serve(self, waveform: Any) -> dict[str, Any]:
            return waveform_to_probabilities(self.model, waveform, spec)

    return WaveformServing(model), "waveform"


def write_saved_model(model: Any, info: dict[str, Any], path: str) -> str:
    """Writes the serving SavedModel of ``model`` to ``path``; returns the input name."""
    import tensorflow as tf

    module, input_name = _serving_module(model, info)
    tf.saved_model.save(module, path, signatures={SIGNATURE: module.serve})
    return input_name


def _tree_size(path: str) -> int:
    if not os.path.isdir(path):
        return os.path.getsize(path)
    return sum(
        os.path.getsize(os.path.join(root, f)) for root, _, files in os.walk(path) for f in files
    )


def _replace(src: str, dst: str) -> None:
    """Moves ``src`` to ``dst``, replacing what is there."""
    if os.path.isdir(dst):
        shutil.rmtree(dst)
    elif os.path.exists(dst):
        os.remove(dst)
    os.makedirs(os.path.dirname(os.path.abspath(dst)), exist_ok=True)
    shutil.move(src, dst)


def _write_json(path: str, data: dict[str, Any]) -> None:
    io.write_text_atomic(path, json.dumps(data, indent=2) + "\n")


def export_run(
    run_dir: str,
    fmt: str,
    output: str | None = None,
    *,
    model_path: str | None = None,
    quantize: bool = False,
    saved_model: str | None = None,
) -> ExportResult:
    """Exports a run's model.

    Args:
        run_dir: The run folder (``run.json`` + ``model.keras``).
        fmt: ``savedmodel``, ``tflite`` or ``keras``.
        output: Where to write (default: ``<run_dir>/export/<default name>``). Local
            paths only; an existing artefact there is replaced.
        model_path: Another ``.keras`` file of the run (e.g. ``checkpoints/best.keras``).
        quantize: TFLite only: dynamic-range quantisation of the weights.
        saved_model: TFLite only: convert this SavedModel, exported from the same run
            and model just before, instead of tracing a new one.

    Returns:
        What was written, with its size.

    Raises:
        ConfigError: for an unknown format, a folder that is not a run, or a remote
            output path.
        TfgenreError: when the TFLite conversion fails.
    """
    from tfgenre.inference import MODEL_FILE, load_keras_model
    from tfgenre.training import load_run_info

    if fmt not in FORMATS:
        raise ConfigError(f"format={fmt!r} is unknown (known: {', '.join(FORMATS)})")
    info = load_run_info(run_dir)
    source = model_path or io.join(run_dir, MODEL_FILE)
    if not io.exists(source):
        raise ConfigError(f"{source!r} does not exist (did the fit finish?)")
    output = output or io.join(run_dir, "export", DEFAULT_NAMES[fmt])
    if io.is_remote(output):
        raise ConfigError(f"output={output!r}: export writes local paths; copy it up afterwards")
    if quantize and fmt != "tflite":
        raise ConfigError(f"quantize=True works with format='tflite', not {fmt!r}")
    meta = metadata(info, fmt)
    parent = os.path.dirname(os.path.abspath(output))
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=".export-", dir=parent)
    try:
        if fmt == "keras":
            staged = os.path.join(tmp, "model.keras")
            with open(staged, "wb") as f:
                f.write(io.read_bytes(source))
            input_name = str(info.get("view"))
        else:
            if saved_model and fmt == "tflite":
                saved = saved_model
                input_name = "features" if info.get("view") == "features" else "waveform"
            else:
                saved = os.path.join(tmp, "savedmodel")
                input_name = write_saved_model(load_keras_model(source), info, saved)
            staged = saved
            if fmt == "savedmodel":
                os.makedirs(os.path.join(saved, "assets.extra"), exist_ok=True)
                _write_json(os.path.join(saved, "assets.extra", METADATA_FILE), meta)
            else:
                staged = os.path.join(tmp, "model.tflite")
                with open(staged, "wb") as f:
                    f.write(convert_tflite(saved, quantize=quantize))
                meta["quantized"] = bool(quantize)
        _replace(staged, output)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if fmt == "savedmodel":
        meta_path = os.path.join(output, "assets.extra", METADATA_FILE)
    else:
        meta_path = output + ".json"
        _write_json(meta_path, meta)
    result = ExportResult(fmt, output, meta_path, _tree_size(output), input_name)
    logger.info("exported %s: %s (%.1f MB)", fmt, output, result.num_bytes / 1e6)
    return result


def convert_tflite(saved_model_dir: str, *, quantize: bool = False) -> bytes:
    """Converts a SavedModel's serving signature to a TFLite flatbuffer (builtin ops only).

    The signature is converted as a concrete function, which freezes the variables into
    constants (``from_saved_model`` would keep them as resource variables, which the
    interpreter does not initialise).

    Raises:
        TfgenreError: when an op has no TFLite builtin equivalent.
    """
    import tensorflow as tf

    loaded = tf.saved_model.load(saved_model_dir)
    function = loaded.signatures[SIGNATURE]
    converter = tf.lite.TFLiteConverter.from_concrete_functions([function], loaded)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    if quantize:
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    try:
        return bytes(converter.convert())
    except Exception as err:  # the converter raises ConverterError and friends
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise TfgenreError(f"TFLite conversion of {saved_model_dir} failed: {first}") from err


def build_parser() -> argparse.ArgumentParser:
    """The argument parser."""
    p = argparse.ArgumentParser(
        prog="python -m tfgenre.export", description="Export a trained run's model."
    )
    p.add_argument("--run-dir", required=True, help="run folder written by tfgenre.fit")
    p.add_argument(
        "--format",
        dest="formats",
        action="append",
        choices=[*FORMATS, "all"],
        help="savedmodel, tflite, keras or all (repeatable; default savedmodel)",
    )
    p.add_argument("--output", help="output path (one format only; default: RUN/export/...)")
    p.add_argument("--model", help="a .keras file of the run to export instead of model.keras")
    p.add_argument("--quantize", action="store_true", help="TFLite dynamic-range quantisation")
    p.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    return p


def _main(args: argparse.Namespace) -> int:
    formats = args.formats or ["savedmodel"]
    if "all" in formats:
        formats = list(FORMATS)
    formats = list(dict.fromkeys(formats))
    if args.output and len(formats) > 1:
        raise ConfigError("--output works with one --format; omit it to use RUN/export/")
    if args.quantize and "tflite" not in formats:
        raise ConfigError("--quantize works with --format tflite")
    saved_model = None
    for fmt in formats:
        result = export_run(
            args.run_dir,
            fmt,
            args.output,
            model_path=args.model,
            quantize=args.quantize and fmt == "tflite",
            saved_model=saved_model if fmt == "tflite" else None,
        )
        if fmt == "savedmodel":
            saved_model = result.path
        sys.stdout.write(
            f"{fmt:<10} {result.path}  ({result.num_bytes / 1e6:.2f} MB, input "
            f"{result.input_name!r})\n"
        )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit code."""
    return cli.run(_main, cli.parse(build_parser(), argv))


if __name__ == "__main__":
    sys.exit(main())
