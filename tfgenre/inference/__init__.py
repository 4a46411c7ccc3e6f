"""Inference: a trained run or a pretrained tagger applied to audio files.

* :mod:`~tfgenre.inference.predictor`: :class:`Predictor`, files to per-segment and
  per-track predictions.
* :mod:`~tfgenre.inference.prediction`: :class:`TrackPrediction` (what predict returns)
  and :class:`PreparedTrack` (a file cut into model inputs).
* :mod:`~tfgenre.inference.preparer`: a run's framing and numpy front end, and the
  picklable decode-and-cut step of library mode's workers.
* :mod:`~tfgenre.inference.audio_files`: the audio files named or found in folders.
* :mod:`~tfgenre.inference.tagging`: the pretrained taggers (musicnn, vgg) as predictors.
* :mod:`~tfgenre.inference.model_loader`: the predictor or tagger of a ``--model`` value.
* :mod:`~tfgenre.inference.prediction_formats`: CSV/JSON output of predictions.
* :mod:`~tfgenre.inference.serving`: the serving graph (waveform in, probabilities out).
* :mod:`~tfgenre.inference.embedding_serving`: the same for embedding runs.
* :mod:`~tfgenre.inference.artifacts`: ``export``: the run's model in serving formats, and
  proof that tfgenre wrote them.
* :mod:`~tfgenre.inference.artifact_metadata`: the metadata written beside an export.
* :mod:`~tfgenre.inference.tflite`: TFLite conversion.
* :mod:`~tfgenre.inference.quantization`: post-training quantisation.
* :mod:`tfgenre.inference.library`: a whole music library, in parallel or on Beam.
"""
