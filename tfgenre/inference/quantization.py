"""The agreement check of a quantised TFLite model with the float model it came from.

A quantised model is only written when its top-1 agreement with the float model, on the
run's validation split in the form the serving signature takes it
(:func:`validation_inputs`), reaches :data:`MIN_AGREEMENT` (:func:`check_agreement`).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from typing import Any

import numpy as np

from tfgenre.errors import TfgenreError
from tfgenre.inference.serving import SIGNATURE
from tfgenre.records.info import RecordsInfo
from tfgenre.runs.run_info import RunInfo
from tfgenre.views.registry import VECTOR_VIEWS

logger = logging.getLogger(__name__)

#: Least top-1 agreement with the float model a quantised model must keep.
MIN_AGREEMENT = 0.95
#: At most this many tracks (waveform models) or examples are used for the agreement.
MAX_CHECK_TRACKS = 100
MAX_CHECK_EXAMPLES = 2000
#: Feature rows per signature call.
FEATURE_BATCH = 256


@dataclasses.dataclass(frozen=True)
class CheckInputs:
    """Validation inputs of a run in the form its serving signature takes them.

    Attributes:
        split: The split they come from.
        source: Where they were read from (records view, audio files, features CSV).
        input_name: The signature input (``waveform`` or ``features``).
        output_name: The signature output compared (``segment_probabilities`` for
            waveforms: one row per window; ``probabilities`` for feature batches).
        inputs: One array per signature call: a waveform float32 ``(n_samples,)``, or a
            batch of feature rows float32 ``(<= 256, n_features)``.
    """

    split: str
    source: str
    input_name: str
    output_name: str
    inputs: tuple[np.ndarray, ...]


def _pick_split(preferred: Sequence[str], have: Sequence[str]) -> str:
    """The first of ``preferred`` that the data has (validation first)."""
    for split in preferred:
        if split in have:
            return split
    raise TfgenreError(f"none of the splits {list(preferred)} is in the data (it has {list(have)})")


def _feature_batches(x: np.ndarray) -> tuple[np.ndarray, ...]:
    x = x[:MAX_CHECK_EXAMPLES].astype(np.float32)
    return tuple(x[i : i + FEATURE_BATCH] for i in range(0, len(x), FEATURE_BATCH))


def _validation_audio(
    records: RecordsInfo, track_ids: Sequence[str], sample_rate: int
) -> tuple[str, list[np.ndarray]]:
    """Decodes the tracks ``track_ids`` of a records folder from its source audio.

    Raises:
        TfgenreError: when the source cannot be listed or a track is not in it.
    """
    from tfgenre.core import audio
    from tfgenre.sources.registry import get_source

    cfg = records.config
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


def validation_inputs(run: RunInfo) -> CheckInputs:
    """The run's validation examples as inputs of its serving signature.

    Feature and embeddings models get the validation rows (of the records' view or of
    the run's features CSV), raw models the stored validation windows (a window is a
    waveform the signature takes as it is), mel models the validation tracks' audio,
    decoded from the records' source at the model's rate. A run without a validation
    split uses its evaluation split, then its training split.

    Raises:
        TfgenreError: when none of these can be read.
    """
    sel = run.selection
    order = list(dict.fromkeys([sel.val_split, "validation", sel.eval_split, "test", "train"]))
    if run.source == "features_csv":
        from tfgenre.evaluation.run_inputs import run_feature_table

        table = run_feature_table(run)
        split = _pick_split(order, list(table.splits))
        batches = _feature_batches(table.splits[split][0])
        return CheckInputs(split, run.data_path, "features", "probabilities", batches)
    from tfgenre.records.reader import payload_scale, to_numpy_arrays

    records = RecordsInfo.load(run.data_path)
    split = _pick_split(order, records.split_names)
    arrays = to_numpy_arrays(records, run.view, split)
    where = f"{records.root} ({run.view} view)"
    if run.view in VECTOR_VIEWS:
        batches = _feature_batches(arrays["data"])
        return CheckInputs(split, where, run.view, "probabilities", batches)
    if run.view == "raw":
        scale = np.float32(payload_scale(records.view("raw")))
        x = arrays["data"][:MAX_CHECK_EXAMPLES].astype(np.float32) / scale
        windows = tuple(w.reshape(-1) for w in x)
        return CheckInputs(split, where, "waveform", "segment_probabilities", windows)
    from tfgenre.inference.serving import FrontendSpec

    spec = FrontendSpec.from_run_info(run)
    track_ids = sorted(set(arrays["track_id"].tolist()))[:MAX_CHECK_TRACKS]
    root, waves = _validation_audio(records, track_ids, spec.framing.sample_rate)
    return CheckInputs(split, f"{root} (audio)", "waveform", "segment_probabilities", tuple(waves))


def _agreeing(check: CheckInputs, saved_model_dir: str, flatbuffer: bytes) -> tuple[int, int]:
    """(windows or rows on which both models' top-1 agree, all of them)."""
    import tensorflow as tf

    from tfgenre.inference.tflite import tflite_signature

    reference = tf.saved_model.load(saved_model_dir).signatures[SIGNATURE]
    quantized = tflite_signature(flatbuffer)
    agree = total = 0
    for x in check.inputs:
        want = reference(**{check.input_name: tf.constant(x)})[check.output_name].numpy()
        got = np.asarray(quantized(**{check.input_name: x})[check.output_name])
        agree += int(np.sum(want.argmax(axis=-1) == got.argmax(axis=-1)))
        total += int(want.shape[0])
    return agree, total


def check_agreement(
    run: RunInfo,
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
    minimum = MIN_AGREEMENT if minimum is None else minimum
    check = validation_inputs(run)
    if not check.inputs:
        raise TfgenreError(
            f"the {check.split!r} split of {check.source} is empty: nothing to measure the "
            "quantised model on"
        )
    agree, total = _agreeing(check, saved_model_dir, flatbuffer)
    figure = agree / total
    unit = "window" if check.input_name == "waveform" else "row"
    result = {
        "top1_agreement": round(figure, 6),
        "agreeing": agree,
        "examples": total,
        "unit": unit,
        "split": check.split,
        "data": check.source,
        "reference": "the float32 model (same serving graph, not quantised)",
        "method": "dynamic range: int8 weights of the network"
        + ("; framing, STFT and log-mel in float32" if unit == "window" else ""),
        "minimum": minimum,
    }
    logger.info(
        "quantised model: top-1 agreement with the float model %.1f %% (%d of %d %ss of %r)",
        100 * figure,
        agree,
        total,
        unit,
        check.split,
    )
    if figure < minimum:
        raise TfgenreError(
            f"the quantised model agrees with the float model on {100 * figure:.1f} % of "
            f"{total} {unit}s of the {check.split!r} split (at least "
            f"{100 * minimum:.0f} % is needed): not written; export without --quantize"
        )
    return result
