"""LiteRT (TFLite) files for Android: conversion, quantization, verification and the app's card.

Each file is converted from a SavedModel of the bare model (TFLiteConverter's
Keras path fails on Keras 3 models), run with LiteRT's interpreter against
the Keras model, and published under its name only if it matches.
"""

from __future__ import annotations

import os
import tempfile
from typing import Iterable, Optional, Sequence

import keras
import numpy as np
import tensorflow as tf

from keras_resnet.artifacts import TOLERANCES, ArtifactReport, ExportVerificationError, compare, model_input
from keras_resnet.layers import InputNormalization
from keras_resnet.run_dir import atomic_path, remove_leftovers, write_json, write_text
from keras_resnet.serving import TFLiteClassifier

QUANTIZATIONS = ("float32", "float16", "dynamic_int8", "int8")
INT8_NEEDS_SAMPLES = (
    "Full-integer int8 needs representative samples from the training data (about 100 images) to calibrate "
    "activation ranges: export from a scripts/train.py --model_dir (its data set is reloaded), pass "
    "representative images, or leave int8 out of --quantizations.")


def check_quantizations(quantizations: Iterable[str]) -> list:
    """Validate quantization names before any conversion.

    Raises:
        ValueError: an unknown name.
    """
    quantizations = list(quantizations)
    bad = sorted(set(quantizations) - set(QUANTIZATIONS))
    if bad:
        raise ValueError(f"Unknown quantization(s) {bad}; known: {', '.join(QUANTIZATIONS)}")
    return quantizations


def check_samples(quantizations: Iterable[str], representative: Optional[np.ndarray]) -> None:
    """Raise a ValueError if int8 is asked for without representative samples."""
    if "int8" in quantizations and (representative is None or len(representative) == 0):
        raise ValueError(INT8_NEEDS_SAMPLES)


def convert(model: keras.Model, quantization: str, workdir: str,
            representative: Optional[np.ndarray] = None) -> bytes:
    """Convert `model` to a .tflite flatbuffer.

    Args:
        model: a float32 classifier with a fixed input size.
        quantization: "float32", "float16" (float16 weights), "dynamic_int8"
            (int8 weights, float activations) or "int8" (full integer, uint8
            input of raw pixels; needs `representative`).
        workdir: scratch directory for the intermediate SavedModel.
        representative: float32 [N, H, W, C] 0-255 training images.

    Raises:
        ValueError: unknown quantization, or "int8" without samples.
    """
    check_quantizations([quantization])
    check_samples([quantization], representative)
    path = os.path.join(workdir, "tflite_source")
    if not os.path.isdir(path):
        model.export(path, format="tf_saved_model", verbose=False)
    converter = tf.lite.TFLiteConverter.from_saved_model(path)
    if quantization != "float32":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if quantization == "float16":
        converter.target_spec.supported_types = [tf.float16]
    elif quantization == "int8":
        def samples():
            for image in representative:
                yield [image[None].astype(np.float32)]

        converter.representative_dataset = samples
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        # Raw pixels are already 0-255 integers: a uint8 input needs no
        # conversion on the phone.
        converter.inference_input_type = tf.uint8
        converter.inference_output_type = tf.float32
    return converter.convert()


def card(name: str, model: keras.Model, labels: Sequence[str], files: dict, mean: Optional[np.ndarray]) -> dict:
    """What an app needs to run the files: input, normalisation, labels, quantization."""
    height, width, channels = model_input(model)
    names = [layer.name for layer in model.layers]
    normalization = {"type": "none: feed pixels as the model was trained on them"}
    if "preprocessing" in names:
        layer = model.get_layer("preprocessing")
        if isinstance(layer, InputNormalization):
            normalization = {"type": "inside the model: the pretrained checkpoint's own (per channel, "
                                     "(x - mean) / std on raw pixels); feed unnormalised pixels",
                             **layer.get_config()}
            normalization = {k: normalization[k] for k in ("type", "mean", "std", "reverse_channels")}
        else:
            normalization = {"type": "inside the model: the training set's per-pixel mean is subtracted and the "
                                     "result scaled by 1/255; feed unnormalised pixels"}
            if mean is not None:
                normalization["mean_per_channel"] = [float(v) for v in np.asarray(mean).reshape(-1, channels).mean(0)]
    return {
        "model": name,
        "input": {"height": height, "width": width, "channels": channels, "layout": "NHWC",
                  "batch": 1, "dtype": "float32 (uint8 for int8)",
                  "range": "raw pixels 0-255, grayscale" if channels == 1 else "raw pixels 0-255, RGB"},
        "normalization": normalization,
        "output": {"name": "probabilities", "shape": [1, len(labels)], "activation": "softmax"},
        "labels_file": "labels.txt",
        "labels": list(labels),
        "files": files,
    }


def export_tflite(model: keras.Model, out_dir: str, labels: Sequence[str], samples: np.ndarray,
                  quantizations: Iterable[str] = QUANTIZATIONS, representative: Optional[np.ndarray] = None,
                  name: Optional[str] = None, mean: Optional[np.ndarray] = None) -> list:
    """Write verified .tflite files, labels.txt and an app card (JSON).

    Returns:
        An `ArtifactReport` per file.

    Raises:
        ValueError: a bad quantization name, or int8 without samples (checked
            before any conversion).
        ExportVerificationError: a float artifact differs from Keras beyond
            its tolerance (nothing is published under its name).
    """
    quantizations = check_quantizations(quantizations)
    check_samples(quantizations, representative)
    name = name or model.name
    os.makedirs(out_dir, exist_ok=True)
    remove_leftovers(out_dir)
    reference = keras.ops.convert_to_numpy(model(samples, training=False)).astype(np.float32)
    reports, files = [], {}
    with tempfile.TemporaryDirectory() as workdir:
        for q in quantizations:
            path = os.path.join(out_dir, f"{name}_{q}.tflite")
            flatbuffer = convert(model, q, workdir, representative)
            with atomic_path(path) as tmp:
                with open(tmp, "wb") as f:
                    f.write(flatbuffer)
                runner = TFLiteClassifier(tmp)
                diff, agreement = compare(reference, runner(samples))
                report = ArtifactReport(f"tflite_{q}", path, diff, agreement, TOLERANCES.get(q))
                if not report.ok:
                    raise ExportVerificationError(
                        f"TFLite {q} differs from the Keras model by {diff:.3g} (tolerance {report.tolerance:g})")
            reports.append(report)
            files[q] = dict(file=os.path.basename(path), bytes=len(flatbuffer), **runner.quantization(),
                            max_abs_diff=diff, top1_agreement=agreement)
    write_text(os.path.join(out_dir, "labels.txt"), "\n".join(labels) + "\n")
    write_json(os.path.join(out_dir, f"{name}.json"), card(name, model, labels, files, mean))
    return reports
