"""The library behind ``python -m tfgenre.export``: a run's deployable artefacts.

:func:`export_run` writes one artefact of a run (see the command's docstring in
:mod:`tfgenre.export` for what each format holds): the serving SavedModel
(:func:`tfgenre.inference.serving.write_saved_model`), its TFLite conversion
(:mod:`tfgenre.inference.tflite`, quantised only after
:mod:`tfgenre.inference.quantization`'s agreement
check), or a copy of the Keras model, each with its metadata
(:mod:`tfgenre.inference.artifact_metadata`). Artefacts are staged in a temporary folder beside
the output and moved into place at the end, so a failed export leaves nothing behind.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import shutil
import tempfile
from typing import Any

from tfgenre.core import io, layout
from tfgenre.errors import ConfigError
from tfgenre.runs.run_info import RunInfo

logger = logging.getLogger(__name__)

FORMATS: tuple[str, ...] = ("savedmodel", "tflite", "keras")
DEFAULT_NAMES: dict[str, str] = {
    "savedmodel": "savedmodel",
    "tflite": "model.tflite",
    "keras": layout.MODEL,
}
#: Default file name of a quantised TFLite model (beside the float ``model.tflite``).
QUANTIZED_NAME = "model_quant.tflite"
#: Suffix of the agreement report written beside a quantised model.
AGREEMENT_SUFFIX = ".agreement.json"


@dataclasses.dataclass(frozen=True)
class ExportResult:
    """One exported artefact.

    Attributes:
        format: ``savedmodel``, ``tflite`` or ``keras``.
        path: The artefact (a folder for SavedModel, else a file).
        metadata_path: The JSON metadata written with it.
        num_bytes: Size of the artefact on disk (all files of a SavedModel).
        input_name: Name of the signature's input (``waveform`` or ``features``).
        agreement: The quantised model's agreement report (quantised TFLite only).
    """

    format: str
    path: str
    metadata_path: str
    num_bytes: int
    input_name: str
    agreement: dict[str, Any] | None = None


@dataclasses.dataclass(frozen=True)
class _Staged:
    """An artefact written to the staging folder, with what is known about it."""

    path: str
    input_name: str
    agreement: dict[str, Any] | None = None


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


def _stage_keras(source: str, run: RunInfo, tmp: str, vector_input: bool = False) -> _Staged:
    from tfgenre.models.saving import check_keras_file

    staged = os.path.join(tmp, layout.MODEL)
    if run.view == "embeddings" and not vector_input:
        from tfgenre.inference.embedding_serving import build_keras_model
        from tfgenre.inference.predictor import load_keras_model

        build_keras_model(load_keras_model(source), run).save(staged)
        return _Staged(staged, "waveform")
    with open(staged, "wb") as f:
        f.write(io.read_bytes(source))
    check_keras_file(staged, shown=source)  # a damaged model is refused, not copied
    return _Staged(staged, run.view)


def _stage_serving(
    fmt: str,
    source: str,
    run_dir: str,
    run: RunInfo,
    tmp: str,
    meta: dict[str, Any],
    *,
    quantize: bool,
    saved_model: str | None,
    vector_input: bool = False,
) -> _Staged:
    """The SavedModel (with its metadata) or its TFLite conversion, in ``tmp``.

    Adds ``quantized`` (and ``quantization``) to ``meta`` for TFLite.
    """
    from tfgenre.inference.artifact_metadata import METADATA_FILE
    from tfgenre.inference.predictor import load_keras_model
    from tfgenre.inference.serving import serving_input_name, write_saved_model

    if saved_model and fmt == "tflite":
        saved, input_name = saved_model, serving_input_name(run, vector_input)
    else:
        saved = os.path.join(tmp, "savedmodel")
        input_name = write_saved_model(load_keras_model(source), run, saved, vector_input)
    if fmt == "savedmodel":
        os.makedirs(os.path.join(saved, "assets.extra"), exist_ok=True)
        _write_json(os.path.join(saved, "assets.extra", METADATA_FILE), meta)
        return _Staged(saved, input_name)
    from tfgenre.inference.tflite import convert_tflite

    flatbuffer = convert_tflite(saved, quantize=quantize)
    agreement = None
    if quantize:
        from tfgenre.inference.quantization import check_agreement

        # Raises (and nothing is written) below MIN_AGREEMENT.
        agreement = check_agreement(run, saved, flatbuffer)
        meta["quantization"] = agreement
    staged = os.path.join(tmp, "model.tflite")
    with open(staged, "wb") as f:
        f.write(flatbuffer)
    meta["quantized"] = bool(quantize)
    return _Staged(staged, input_name, agreement)


def _check_request(fmt: str, source: str, quantize: bool, output: str) -> None:
    if not io.exists(source):
        raise ConfigError(f"{source!r} does not exist (did the fit finish?)")
    if quantize and fmt != "tflite":
        raise ConfigError(f"quantize=True works with format='tflite', not {fmt!r}")
    if io.is_remote(output):
        raise ConfigError(f"output={output!r}: export writes local paths; copy it up afterwards")

def _check_input(run: RunInfo, *, quantize: bool, vector_input: bool) -> None:
    """Refuses the input/quantisation choices the run's view cannot take.

    Raises:
        ConfigError: ``vector_input`` for a run that is not an embeddings run, or
            ``quantize`` for an embeddings run's waveform model.
    """
    if vector_input and run.view != "embeddings":
        raise ConfigError(f"input='embeddings' works with an embeddings run, not view={run.view!r}")
    if quantize and run.view == "embeddings" and not vector_input:
        raise ConfigError(
            "quantize=True is not available for the waveform model of an embeddings run "
            "(its agreement check needs the validation audio); export the head with "
            "--input embeddings"
        )


def _write_sidecars(
    fmt: str, output: str, meta: dict[str, Any], agreement: dict[str, Any] | None
) -> str:
    """Writes the metadata beside a TFLite/Keras file, and the quantisation agreement.

    A SavedModel holds its metadata already (``assets.extra``).

    Returns:
        The metadata's path.
    """
    from tfgenre.inference.artifact_metadata import METADATA_FILE

    if fmt == "savedmodel":
        meta_path = os.path.join(output, "assets.extra", METADATA_FILE)
    else:
        meta_path = output + ".json"
        _write_json(meta_path, meta)
    if agreement is not None:
        _write_json(output + AGREEMENT_SUFFIX, agreement)
    return meta_path


def export_run(
    run_dir: str,
    fmt: str,
    output: str | None = None,
    *,
    model_path: str | None = None,
    quantize: bool = False,
    saved_model: str | None = None,
    vector_input: bool = False,
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
        vector_input: An ``embeddings`` run's SavedModel/TFLite takes the stored
            ``embeddings`` rows instead of a 16-kHz waveform (the default; see
            :mod:`tfgenre.inference.embedding_serving`).

    Returns:
        What was written, with its size.

    Raises:
        ConfigError: for an unknown format, a folder that is not a run, or a remote
            output path.
        TfgenreError: when the TFLite conversion fails, or a quantised model agrees
            with the float model on less than
            :data:`~tfgenre.inference.quantization.MIN_AGREEMENT` of the validation split
            (nothing is written then).
    """
    from tfgenre.inference.artifact_metadata import metadata

    if fmt not in FORMATS:
        raise ConfigError(f"format={fmt!r} is unknown (known: {', '.join(FORMATS)})")
    run = RunInfo.load(run_dir)
    source = model_path or io.join(run_dir, layout.MODEL)
    name = QUANTIZED_NAME if quantize else DEFAULT_NAMES[fmt]
    output = output or io.join(run_dir, layout.EXPORT, name)
    _check_request(fmt, source, quantize, output)
    _check_input(run, quantize=quantize, vector_input=vector_input)
    meta = metadata(run, fmt, vector_input)
    parent = os.path.dirname(os.path.abspath(output))
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=".export-", dir=parent)
    try:
        if fmt == "keras":
            staged = _stage_keras(source, run, tmp, vector_input)
        else:
            staged = _stage_serving(
                fmt,
                source,
                run_dir,
                run,
                tmp,
                meta,
                quantize=quantize,
                saved_model=saved_model,
                vector_input=vector_input,
            )
        _replace(staged.path, output)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    meta_path = _write_sidecars(fmt, output, meta, staged.agreement)
    result = ExportResult(
        fmt, output, meta_path, _tree_size(output), staged.input_name, staged.agreement
    )
    logger.info("exported %s: %s (%.1f MB)", fmt, output, result.num_bytes / 1e6)
    return result
