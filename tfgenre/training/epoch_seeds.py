"""Each epoch's randomness drawn from ``(seed, epoch)``, so a resumed epoch equals it.

:class:`EpochSeeds` sets the training data's epoch counter and reseeds the model's
``keras.random.SeedGenerator`` states at each epoch's start (a backup holds neither).
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np

__all__ = ["EpochSeeds", "epoch_seed_state", "seed_generators"]


def seed_generators(model: keras.Model) -> list[Any]:
    """Every ``keras.random.SeedGenerator`` of ``model``'s layers, in layer order."""
    found: list[Any] = []
    seen: set[int] = set()
    for layer in model._flatten_layers(include_self=True, recursive=True):
        for generator in getattr(layer, "_seed_generators", []):
            if id(generator) not in seen:
                seen.add(id(generator))
                found.append(generator)
    return found


def epoch_seed_state(seed: int, index: int, epoch: int) -> np.ndarray:
    """The state of a model's ``index``-th SeedGenerator at the start of ``epoch``.

    ``[a, epoch << 20]`` with ``a`` from ``(seed, index)``: each draw adds 1 to the
    second word, so epochs of up to 2**20 steps draw apart.
    """
    first = ((seed + 1) * 1_000_003 + index * 7_919) % 2**32
    return np.asarray([first, (epoch << 20) % 2**32], dtype=np.uint32)


class EpochSeeds(keras.callbacks.Callback):
    """Draws each epoch's randomness from ``(seed, epoch)``, so a resumed epoch equals it.

    At each epoch's start (after ``BackupAndRestore`` restored the run, and before
    Keras makes the epoch's data iterator) it sets the training data's
    :class:`tfgenre.tfdata.epochs.EpochCounter` (the pass's file and example order and its
    augmentation) and reseeds every ``keras.random.SeedGenerator`` of the model
    (dropout...), whose state a backup does not hold. A run resumed at epoch ``e``
    then trains epoch ``e`` exactly as the uninterrupted run did.

    Args:
        seed: The run's seed.
        epochs: The training dataset's counter (None: only the model is reseeded).
    """

    def __init__(self, seed: int, epochs: Any = None) -> None:
        super().__init__()
        self.seed = int(seed)
        self.epochs = epochs

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if self.epochs is not None:
            self.epochs.set(epoch)
        for index, generator in enumerate(seed_generators(self.model)):
            state = epoch_seed_state(self.seed, index, epoch)
            generator.state.assign(state.astype(generator.state.dtype))
