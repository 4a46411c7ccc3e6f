"""``python -m tfgenre.export --run-dir DIR --format savedmodel|tflite|keras``: deployable models.

Formats (default output paths inside the run folder):

* ``savedmodel`` (``export/savedmodel/``): serving signature ``serving_default`` takes
  ``waveform``, a mono float32 tensor ``(n_samples,)`` at the model's sample rate of
  any length (at least one window; a shorter one is zero-padded to one window), and
  returns ``probabilities`` ``(num_classes,)``, the mean over windows, and
  ``segment_probabilities`` ``(n_windows, num_classes)``. Framing, the log-mel
  (``tf.signal`` with librosa's filterbank embedded, see :mod:`tfgenre.inference.serving`) and
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
  the stored view, not audio), with ``model.keras.json`` beside it; for an embeddings
  run, the waveform-to-genre model below as one Keras model.

Feature models (view ``features``) cannot compute their 57 librosa features in the
graph (HPSS, beat tracking, chroma tuning estimation have no TensorFlow ops), so their
SavedModel/TFLite signature takes ``features`` ``(batch, n_features)`` float32,
unnormalised, in the order of ``feature_names`` in the metadata (compute them with
:class:`tfgenre.views.features.FeaturesView`), and returns ``probabilities``
``(batch, num_classes)``.

Models on the ``embeddings`` view are exported from waveform to genre: the signature
takes ``waveform``, mono float32 at the backbones' 16 kHz, any length, and runs musicnn's
front end, every backbone of the run (their published weights are in the graph), the
pooling, the standardisation and the head in one graph, with the run's framing (whole
track, or windows whose probabilities are averaged); see
:mod:`tfgenre.inference.embedding_serving`. The metadata names the rate, the labels and each
backbone's weights (``backbones``: name, layers, sha256). ``--input embeddings`` exports
the head alone with an ``embeddings`` ``(batch, width)`` input instead (compute the rows
with :meth:`tfgenre.views.embeddings.EmbeddingsView.from_spec` of ``view_entry``). The
``keras`` format holds the same pipeline as a Keras model from a batch of equal-length
16-kHz waveforms ``(batch, samples)`` to ``(batch, classes)`` (load it after ``import
tfgenre.inference.embedding_serving``, which registers its layer), or the head with ``--input
embeddings``.

This module is the command only; the export itself is
:func:`tfgenre.inference.artifacts.export_run`.

Example:
    python -m tfgenre.export --run-dir runs/demo --format savedmodel
    python -m tfgenre.export --run-dir runs/demo --format tflite --output demo.tflite
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from tfgenre.core import cli
from tfgenre.errors import ConfigError
from tfgenre.inference.artifacts import AGREEMENT_SUFFIX, FORMATS, export_run
from tfgenre.pipelines.sections import export_section
from tfgenre.pipelines.stages import stage


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
    p.add_argument(
        "--input",
        choices=["waveform", "embeddings"],
        default="waveform",
        help="embeddings runs: a 16-kHz waveform in (default; backbones in the graph) or "
        "the stored embeddings rows (the head alone)",
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
    from tfgenre.runs.run_info import RunInfo

    vector_input = args.input == "embeddings"
    run = RunInfo.load(args.run_dir)
    view = run.view
    if vector_input and view != "embeddings":
        raise ConfigError(f"--input embeddings works with an embeddings run, not view={view!r}")
    saved_model = None
    for fmt in formats:
        result = export_run(
            args.run_dir,
            fmt,
            args.output,
            model_path=args.model,
            quantize=args.quantize and fmt == "tflite",
            saved_model=saved_model if fmt == "tflite" else None,
            vector_input=vector_input,
        )
        if fmt == "savedmodel":
            saved_model = result.path
        sys.stdout.write(
            f"{fmt:<10} {result.path}  ({result.num_bytes / 1e6:.2f} MB, input "
            f"{result.input_name!r})\n"
        )
        if view == "embeddings" and fmt == "keras" and not vector_input:
            sys.stdout.write(
                f"{'':<10} waveform: a batch of mono float32 waveforms at 16000 Hz; load it "
                "after `import tfgenre.inference.embedding_serving` (its layer is tfgenre's)\n"
            )
        if view == "embeddings" and not vector_input:
            sys.stdout.write(
                f"{'':<10} waveform: mono float32 at 16000 Hz, any length; backbones in the graph\n"
            )
            from tfgenre.inference.embedding_serving import matches_predict

            if not matches_predict(run.framing):
                sys.stdout.write(
                    f"{'':<10} note: this run's windows were resampled one by one at "
                    f"{run.framing.sample_rate} Hz; the graph frames the 16-kHz waveform, so "
                    "its probabilities differ from predict's at the window edges (about "
                    "1e-3); whole-track runs and runs written at 16 kHz match predict\n"
                )
        if result.agreement is not None:
            sys.stdout.write(
                f"{'':<10} top-1 agreement with the float model: "
                f"{100 * result.agreement['top1_agreement']:.1f} % "
                f"({result.agreement['examples']} {result.agreement['split']} "
                f"{result.agreement['unit']}s), see {result.path}{AGREEMENT_SUFFIX}\n"
            )
    return 0


@stage("export", check=export_section)
def _export_stage(section: dict[str, Any], pipeline: dict[str, Any]) -> None:
    """The pipeline's ``export:`` step: each format, the TFLite from the SavedModel."""
    cfg = export_section(section, pipeline)
    saved_model = None
    for fmt in dict.fromkeys(cfg.formats):
        result = export_run(
            cfg.run_dir,
            fmt,
            saved_model=saved_model if fmt == "tflite" else None,
            vector_input=cfg.input == "embeddings",
        )
        if fmt == "savedmodel":
            saved_model = result.path
        sys.stdout.write(
            f"[export] {fmt:<10} {result.path}  ({result.num_bytes / 1e6:.2f} MB, input "
            f"{result.input_name!r})\n"
        )


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit code."""
    return cli.run(_main, cli.parse(build_parser(), argv))


if __name__ == "__main__":
    sys.exit(main())
