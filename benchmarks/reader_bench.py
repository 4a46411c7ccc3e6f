"""``reader_speedup``: examples/s of tfgenre's mel pipeline.

Against the naive FloatList records and against decoding the audio every epoch.
"""

from __future__ import annotations

import time
from typing import Any

from benchmarks.clips import IMAGE_SIZE, WINDOW_SECONDS, Clips


def tfgenre_mel_dataset(records: str, batch_size: int, *, repeat: int = 1) -> Any:
    """tfgenre's mel pipeline as the models take it: ``(b, n_mels, frames, 1)`` float32.

    The backbones resize to 224x224x3 in their first layers (model-side resize).
    """
    from tfgenre.records.info import RecordsInfo
    from tfgenre.tfdata.records_dataset import records_dataset

    manifest = RecordsInfo.load(records)
    ds = records_dataset(manifest, "mel", "train", batch_size=batch_size, training=False)
    return ds.repeat(repeat) if repeat > 1 else ds


def tfgenre_image_dataset(records: str, batch_size: int, *, repeat: int = 1) -> Any:
    """tfgenre's mel pipeline delivering ``(b, 224, 224, 3)``: resize + 3 channels in a map."""
    import tensorflow as tf

    ds = tfgenre_mel_dataset(records, batch_size, repeat=repeat)

    @tf.autograph.experimental.do_not_convert
    def to_image(x: Any, y: Any) -> Any:
        img = tf.image.resize(x, (IMAGE_SIZE, IMAGE_SIZE), method="bilinear")
        return tf.tile(img, [1, 1, 1, 3]), y

    return ds.map(to_image, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)


def examples_per_second(ds: Any, max_seconds: float = 60.0) -> float:
    """Iterates ``ds`` (first batch not timed) and returns examples/s."""
    it = iter(ds)
    next(it)
    n = 0
    start = time.perf_counter()
    for x, _ in it:
        n += int(x.shape[0])
        if time.perf_counter() - start > max_seconds:
            break
    return n / max(time.perf_counter() - start, 1e-9)


def bench_reader(
    clips: Clips, paths: dict[str, Any], batch_size: int, passes: int, audio_clips: int
) -> dict[str, Any]:
    """Examples/s of the three ways to feed 224x224x3 mel batches."""
    from benchmarks import naive

    n_cls = len(clips.label_names)
    native = examples_per_second(tfgenre_mel_dataset(paths["records"], batch_size, repeat=passes))
    fast = examples_per_second(tfgenre_image_dataset(paths["records"], batch_size, repeat=passes))
    floats = examples_per_second(
        naive.records_dataset(paths["naive"], n_cls, batch_size).repeat(passes)
    )
    k = min(audio_clips, len(clips.paths))
    audio = examples_per_second(
        naive.audio_dataset(
            clips.paths[:k], clips.labels[:k], n_cls, batch_size, window_seconds=WINDOW_SECONDS
        ).repeat(2)
    )
    return {
        "tfgenre_mel_224x224x3_examples_per_s": fast,
        "naive_floatlist_examples_per_s": floats,
        "decode_audio_every_epoch_examples_per_s": audio,
        "tfgenre_mel_native_examples_per_s": native,
        "speedup_vs_floatlist": fast / floats,
        "speedup_native_vs_floatlist": native / floats,
        "speedup_vs_audio": fast / audio,
        "batch_size": batch_size,
    }
