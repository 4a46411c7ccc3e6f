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
  ``model.tflite.json`` beside it. ``--quantize`` writes ``export/model_quant.tflite``
  instead (the float ``model.tflite`` is left alone): dynamic-range quantisation of the
  network's weights to int8, the in-graph front end (framing, STFT, log-mel) stays
  float32. Its top-1 agreement with the float model on the run's validation split is
  measured and written to ``model_quant.tflite.agreement.json`` (and its metadata); below
  95 % the export is refused (exit 1) and no quantised file is written.
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

import numpy as np

from tfgenre import cli, io
from tfgenre.errors import ConfigError, TfgenreError

logger = logging.getLogger(__name__)

FORMATS: tuple[str, ...] = ("savedmodel", "tflite", "keras")
DEFAULT_NAMES: dict[str, str] = {
    "savedmodel": "savedmodel",
    "tflite": "model.tflite",
    "keras": "model.keras",
}
#: Default file name of a quantised TFLite model (beside the float ``model.tflite``).
QUANTIZED_NAME = "model_quant.tflite"
#: Least top-1 agreement with the float model a quantised model must keep.
MIN_AGREEMENT = 0.95
#: Suffix of the agreement report written beside a quantised model.
AGREEMENT_SUFFIX = ".agreement.json"
#: At most this many tracks (waveform models) or examples are used for the agreement.
MAX_CHECK_TRACKS = 100
MAX_CHECK_EXAMPLES = 2000
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
    agreement: dict[str, Any] | None = None


@dataclasses.dataclass(frozen=True)
class CheckInputs:
    """Validation inputs of a run in the form its serving signature takes them.

    Attributes:
        split: The split they come from.
        source: Where they were read from (records view, audio files, features CSV).
        input_name: The signature input (``waveform`` or ``features``).
        output_name: The signature output compared (``segment_probabilities`` for
            waveforms: one row per window; ``probabilities`` for feature batches).
        inputs: One array per signature call (a waveform, or a batch of feature rows).
    """

    split: str
    source: str
    input_name: str
    output_name: str
    inputs: tuple[np.ndarray, ...]


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
        quantize: TFLite only: dynamic-range quantisation of the network's weights,
            checked against the float model on the validation split (default output
            ``export/model_quant.tflite``).
        saved_model: TFLite only: convert this SavedModel, exported from the same run
            and model just before, instead of tracing a new one.

    Returns:
        What was written, with its size.

    Raises:
        ConfigError: for an unknown format, a folder that is not a run, or a remote
            output path.
        TfgenreError: when the TFLite conversion fails, or a quantised model agrees
            with the float model on less than :data:`MIN_AGREEMENT` of the validation
            split (nothing is written then).
    """
    from tfgenre.inference import MODEL_FILE, load_keras_model
    from tfgenre.run_folder import load_run_info

    if fmt not in FORMATS:
        raise ConfigError(f"format={fmt!r} is unknown (known: {', '.join(FORMATS)})")
    info = load_run_info(run_dir)
    source = model_path or io.join(run_dir, MODEL_FILE)
    if not io.exists(source):
        raise ConfigError(f"{source!r} does not exist (did the fit finish?)")
    if quantize and fmt != "tflite":
        raise ConfigError(f"quantize=True works with format='tflite', not {fmt!r}")
    name = QUANTIZED_NAME if quantize else DEFAULT_NAMES[fmt]
    output = output or io.join(run_dir, "export", name)
    if io.is_remote(output):
        raise ConfigError(f"output={output!r}: export writes local paths; copy it up afterwards")
    meta = metadata(info, fmt)
    agreement: dict[str, Any] | None = None
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
                flatbuffer = convert_tflite(saved, quantize=quantize)
                if quantize:
                    # Raises (and nothing is written) below MIN_AGREEMENT.
                    agreement = check_agreement(run_dir, info, saved, flatbuffer)
                    meta["quantization"] = agreement
                with open(staged, "wb") as f:
                    f.write(flatbuffer)
                meta["quantized"] = bool(quantize)
        _replace(staged, output)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if fmt == "savedmodel":
        meta_path = os.path.join(output, "assets.extra", METADATA_FILE)
    else:
        meta_path = output + ".json"
        _write_json(meta_path, meta)
    if agreement is not None:
        _write_json(output + AGREEMENT_SUFFIX, agreement)
    result = ExportResult(fmt, output, meta_path, _tree_size(output), input_name, agreement)
    logger.info("exported %s: %s (%.1f MB)", fmt, output, result.num_bytes / 1e6)
    return result


def _pick_split(preferred: Sequence[str], have: Sequence[str]) -> str:
    """The first of ``preferred`` that the data has (validation first)."""
    for split in preferred:
        if split in have:
            return split
    raise TfgenreError(f"none of the splits {list(preferred)} is in the data (it has {list(have)})")


def _validation_audio(
    manifest: Any, track_ids: Sequence[str], sample_rate: int
) -> tuple[str, list[np.ndarray]]:
    """Decodes the tracks ``track_ids`` of a records folder from its source audio.

    Raises:
        TfgenreError: when the source cannot be listed or a track is not in it.
    """
    from tfgenre import audio
    from tfgenre.sources.registry import get_source

    cfg = manifest.data.get("config") or {}
    name, root = cfg.get("source"), cfg.get("input")
    try:
        tracks = get_source(str(name), str(root), **dict(cfg.get("source_options") or {})).tracks()
        paths = {t.track_id: t.path for t in tracks}
        missing = [t for t in track_ids if t not in paths]
        if missing:
            raise TfgenreError(f"{len(missing)} track(s) are not in it, e.g. {missing[0]!r}")
        return str(root), [audio.decode(paths[t], sample_rate) for t in track_ids]
    except (TfgenreError, OSError) as err:
        raise TfgenreError(
            f"cannot measure the quantised model against the float model: the audio of the "
            f"records' validation tracks (source {name!r} at {root!r}) is not readable: {err}"
        ) from err


def validation_inputs(run_dir: str, info: dict[str, Any]) -> CheckInputs:
    """The run's validation examples as inputs of its serving signature.

    Feature models get the validation rows (of the records' features view or of the
    run's features CSV), raw models the stored validation windows (a window is a
    waveform the signature takes as it is), mel models the validation tracks' audio,
    decoded from the records' source at the model's rate. A run without a validation
    split uses its evaluation split, then its training split.

    Raises:
        TfgenreError: when none of these can be read.
    """
    from tfgenre.run_folder import load_run_config

    cfg = load_run_config(run_dir)
    order = list(dict.fromkeys([cfg.val_split, "validation", cfg.eval_split, "test", "train"]))
    view = info.get("view")
    if cfg.features_csv:
        from tfgenre.data import fit_feature_table

        table = fit_feature_table(cfg)
        split = _pick_split(order, list(table.splits))
        x = table.splits[split][0][:MAX_CHECK_EXAMPLES].astype(np.float32)
        batches = tuple(x[i : i + 256] for i in range(0, len(x), 256))
        return CheckInputs(split, cfg.features_csv, "features", "probabilities", batches)
    from tfgenre.records.manifest import Manifest
    from tfgenre.records.reader import payload_scale, to_numpy_arrays

    manifest = Manifest.load(str(info.get("records") or cfg.records))
    split = _pick_split(order, manifest.splits)
    arrays = to_numpy_arrays(manifest, str(view), split)
    where = f"{manifest.root} ({view} view)"
    if view == "features":
        x = arrays["data"][:MAX_CHECK_EXAMPLES].astype(np.float32)
        batches = tuple(x[i : i + 256] for i in range(0, len(x), 256))
        return CheckInputs(split, where, "features", "probabilities", batches)
    if view == "raw":
        scale = payload_scale(manifest.view("raw"))
        x = arrays["data"][:MAX_CHECK_EXAMPLES].astype(np.float32) / np.float32(scale)
        windows = tuple(w.reshape(-1) for w in x)
        return CheckInputs(split, where, "waveform", "segment_probabilities", windows)
    from tfgenre.serving import FrontendSpec

    spec = FrontendSpec.from_run_info(info)
    track_ids = sorted(set(arrays["track_id"].tolist()))[:MAX_CHECK_TRACKS]
    root, waves = _validation_audio(manifest, track_ids, spec.sample_rate)
    return CheckInputs(split, f"{root} (audio)", "waveform", "segment_probabilities", tuple(waves))


def _tflite_signature(flatbuffer: bytes) -> Any:
    import warnings

    import tensorflow as tf

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tf.lite.Interpreter's deprecation notice
        interpreter = tf.lite.Interpreter(model_content=flatbuffer)
    return interpreter.get_signature_runner(SIGNATURE)


def check_agreement(
    run_dir: str,
    info: dict[str, Any],
    saved_model_dir: str,
    flatbuffer: bytes,
    *,
    minimum: float | None = None,
) -> dict[str, Any]:
    """Top-1 agreement of a quantised TFLite model with the float model it came from.

    The float reference is the serving signature of the SavedModel that was converted
    (the same graph in float32); both run on :func:`validation_inputs`, and every
    window (waveform models) or row (feature models) counts once.

    Returns:
        The figure and how it was measured (written beside the model).

    Raises:
        TfgenreError: below ``minimum`` (default :data:`MIN_AGREEMENT`), with the
            figure; or when there is nothing to measure on.
    """
    import tensorflow as tf

    minimum = MIN_AGREEMENT if minimum is None else minimum
    check = validation_inputs(run_dir, info)
    if not check.inputs:
        raise TfgenreError(
            f"the {check.split!r} split of {check.source} is empty: nothing to measure the "
            "quantised model on"
        )
    reference = tf.saved_model.load(saved_model_dir).signatures[SIGNATURE]
    quantized = _tflite_signature(flatbuffer)
    agree = total = 0
    for x in check.inputs:
        want = reference(**{check.input_name: tf.constant(x)})[check.output_name].numpy()
        got = np.asarray(quantized(**{check.input_name: x})[check.output_name])
        agree += int(np.sum(want.argmax(axis=-1) == got.argmax(axis=-1)))
        total += int(want.shape[0])
    figure = agree / total
    result = {
        "top1_agreement": round(figure, 6),
        "agreeing": agree,
        "examples": total,
        "unit": "window" if check.input_name == "waveform" else "row",
        "split": check.split,
        "data": check.source,
        "reference": "the float32 model (same serving graph, not quantised)",
        "method": "dynamic range: int8 weights of the network"
        + ("; framing, STFT and log-mel in float32" if check.input_name == "waveform" else ""),
        "minimum": minimum,
    }
    logger.info(
        "quantised model: top-1 agreement with the float model %.1f %% (%d of %d %ss of %r)",
        100 * figure,
        agree,
        total,
        result["unit"],
        check.split,
    )
    if figure < minimum:
        raise TfgenreError(
            f"the quantised model agrees with the float model on {100 * figure:.1f} % of "
            f"{total} {result['unit']}s of the {check.split!r} split (at least "
            f"{100 * minimum:.0f} % is needed): not written; export without --quantize"
        )
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
    p.add_argument(
        "--quantize",
        action="store_true",
        help="TFLite: int8 weights (dynamic range) to RUN/export/model_quant.tflite, refused "
        "below 95 %% top-1 agreement with the float model on the validation split",
    )
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
        if result.agreement is not None:
            sys.stdout.write(
                f"{'':<10} top-1 agreement with the float model: "
                f"{100 * result.agreement['top1_agreement']:.1f} % "
                f"({result.agreement['examples']} {result.agreement['split']} "
                f"{result.agreement['unit']}s), see {result.path}{AGREEMENT_SUFFIX}\n"
            )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit code."""
    return cli.run(_main, cli.parse(build_parser(), argv))


if __name__ == "__main__":
    sys.exit(main())
