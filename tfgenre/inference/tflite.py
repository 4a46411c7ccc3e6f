"""TFLite conversion of a serving SavedModel, and running the result.

:func:`convert_tflite` turns the ``serving_default`` signature written by
:func:`tfgenre.inference.serving.write_saved_model` into a flatbuffer with TFLite builtin ops only
(so the stock ``tf.lite.Interpreter`` and LiteRT run it), optionally with dynamic-range
quantisation of the network's weights; :func:`tflite_signature` runs a flatbuffer.
"""

from __future__ import annotations

from typing import Any

from tfgenre.errors import TfgenreError
from tfgenre.inference.serving import SIGNATURE


def convert_tflite(saved_model_dir: str, *, quantize: bool = False) -> bytes:
    """Converts a SavedModel's serving signature to a TFLite flatbuffer (builtin ops only).

    The signature is converted as a concrete function, which freezes the variables into
    constants (``from_saved_model`` would keep them as resource variables, which the
    interpreter does not initialise).

    Args:
        saved_model_dir: A SavedModel with a ``serving_default`` signature.
        quantize: Dynamic-range quantisation: int8 weights of the network.

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


def tflite_signature(flatbuffer: bytes) -> Any:
    """The ``serving_default`` signature runner of a TFLite flatbuffer."""
    import warnings

    import tensorflow as tf

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tf.lite.Interpreter's deprecation notice
        interpreter = tf.lite.Interpreter(model_content=flatbuffer)
    return interpreter.get_signature_runner(SIGNATURE)
