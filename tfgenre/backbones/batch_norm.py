"""Batch normalization whose inference computes what TF1's ``FusedBatchNorm`` does.

Keras folds the moving mean into the offset (``x * inv + (beta - mean * inv)``);
TF1's fused kernel, which the published musicnn graphs use, subtracts it first
(``(x - mean) * inv + beta``). The two differ by a rounding step that the networks'
large batch-norm gains amplify to about 1e-4 on the mid-end pools; with this formula
the ports equal the original graphs bit for bit on TensorFlow without oneDNN.
Training is Keras's own.
"""

from __future__ import annotations

from typing import Any

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="tfgenre")
class FusedBatchNormalization(keras.layers.BatchNormalization):
    """``keras.layers.BatchNormalization`` with TF1's inference formula.

    Input shape: any, normalized over ``axis`` (the last by default). Output shape:
    the same. Arguments are those of ``keras.layers.BatchNormalization``; the
    published models use ``epsilon=1e-3`` (TF1's default).
    """

    def call(self, inputs: Any, training: bool | None = None, mask: Any = None) -> Any:
        if training or not self.center or not self.scale:
            return super().call(inputs, training=training, mask=mask)
        shape = [1] * len(inputs.shape)
        shape[self.axis] = inputs.shape[self.axis]
        x = ops.cast(inputs, self.compute_dtype)

        def param(v: Any) -> Any:
            return ops.reshape(ops.cast(v, self.compute_dtype), shape)

        inv = ops.rsqrt(param(self.moving_variance) + self.epsilon) * param(self.gamma)
        return (x - param(self.moving_mean)) * inv + param(self.beta)
