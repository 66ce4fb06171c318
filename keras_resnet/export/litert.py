"""LiteRT (TFLite) files for Android: conversion, quantization, verification, metadata and the app's card.

Each file is converted from a SavedModel of the bare model (TFLiteConverter's
Keras path fails on Keras 3 models), run with LiteRT's interpreter against
the Keras model, given the standard TFLite metadata (`litert_metadata`:
labels, normalisation, colour space) and published under its name only if it
matches.

Every file takes RGB, the camera's frames as they are: a net trained on grey
images gets a first layer that converts RGB to grey with the weights its
training and serving decode grey images with (`camera_ready`). The
SavedModel keeps the training channels: its bytes signature decodes any
image to them.
"""

from __future__ import annotations

import os
import tempfile
from typing import Iterable, Optional, Sequence

import keras
import numpy as np
import tensorflow as tf
from tensorflow.lite.python import schema_py_generated as schema_fb
from tensorflow.lite.tools import flatbuffer_utils

from keras_resnet.arch.layers import PREPROCESSING, InputNormalization, RGBToGrayscale
from keras_resnet.data.images import as_rgb
from keras_resnet.export import litert_metadata
from keras_resnet.export.artifacts import (TOLERANCES, ArtifactReport, ExportVerificationError, compare, model_input,
                                           weights_digest)
from keras_resnet.export.config import QUANTIZATIONS, check_quantizations  # noqa: F401 (litert.QUANTIZATIONS)
from keras_resnet.export.serving import TFLiteClassifier
from keras_resnet.files import LABELS_FILE, staged_dir, write_json, write_labels
from keras_resnet.version import __version__

GRAYSCALE_LAYER = "rgb_to_grayscale"
INT8_NEEDS_SAMPLES = (
    "Full-integer int8 needs representative samples from the training data (about 100 images) to calibrate "
    "activation ranges: export from a scripts/train.py --model_dir (its data set is reloaded), pass "
    "representative images, or leave int8 out of --quantizations.")


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
        return raw_pixel_input(converter.convert())
    return converter.convert()


def raw_pixel_input(flatbuffer: bytes) -> bytes:
    """An int8 file whose uint8 input is raw pixels: scale 1, zero point 0.

    The converter gives the input the calibrated scale, the training images'
    largest pixel / 255 (219/255 for a dim data set). MediaPipe and apps
    feed a camera's pixels as they are, so the input is declared as raw
    pixels and the file's first op, a QUANTIZE, requantizes them to the
    calibrated int8 range instead.

    Raises:
        ValueError: the input does not feed QUANTIZE ops only (a converter
            that quantizes otherwise).
    """
    model = flatbuffer_utils.convert_bytearray_to_object(bytearray(flatbuffer))
    graph = model.subgraphs[0]
    index = graph.inputs[0]
    # The builtin code's two fields, as flatbuffer_utils.opcode_to_name reads them.
    codes = [max(code.builtinCode, code.deprecatedBuiltinCode) for code in model.operatorCodes]
    consumers = [codes[op.opcodeIndex] for op in graph.operators if index in op.inputs]
    if not consumers or any(code != schema_fb.BuiltinOperator.QUANTIZE for code in consumers):
        raise ValueError("The int8 file's uint8 input does not feed QUANTIZE ops only: its scale cannot be set "
                         "to raw pixels")
    quantization = graph.tensors[index].quantization
    quantization.scale, quantization.zeroPoint = np.ones(1, np.float32), np.zeros(1, np.int64)
    return flatbuffer_utils.convert_object_to_bytearray(model)


def camera_ready(model: keras.Model) -> keras.Model:
    """`model` as a phone's camera feeds it: RGB in.

    A net trained on grey images gets a first layer, `rgb_to_grayscale`, that
    converts RGB to grey as `tf.image.rgb_to_grayscale` does (the conversion
    that decodes grey training and serving images); an RGB net is returned as
    it is.

    Raises:
        ValueError: the model takes neither 1 nor 3 channels.
    """
    height, width, channels = model_input(model)
    if channels == 3:
        return model
    if channels != 1:
        raise ValueError(f"Android exports take RGB images; {model.name!r} takes {channels} channels (1 or 3 "
                         "can be exported).")
    inputs = keras.Input((height, width, 3), name="image")
    return keras.Model(inputs, model(RGBToGrayscale(name=GRAYSCALE_LAYER)(inputs)), name=model.name)


def classifier_info(name: str, model: keras.Model, labels: Sequence[str],
                    digest: Optional[str] = None) -> litert_metadata.ClassifierInfo:
    """The TFLite metadata of `model`'s files: raw pixels in (mean 0, std 1: the normalisation is inside).

    `digest` is the weights' `weights_digest`, where the caller has it.
    """
    height, width, channels = model_input(model)
    digest = digest or weights_digest(model)
    grey = " converted to grey inside the file (the net was trained on grey images)," if channels == 1 else ""
    return litert_metadata.ClassifierInfo(
        name=name, labels=list(labels), version=f"weights sha256:{digest[:16]}",
        description=(f"{name}: a residual network (He et al. 2015) classifying {width}x{height} RGB images into "
                     f"{len(labels)} classes. Input: raw pixels 0-255,{grey} normalised inside the model. "
                     "Output: probabilities."),
        author=f"keras_resnet {__version__}")


def card(name: str, model: keras.Model, labels: Sequence[str], files: dict, mean: Optional[np.ndarray]) -> dict:
    """What an app needs to run the files: input, normalisation, labels, quantization.

    The files also carry this as standard TFLite metadata; the card is for
    reading it without a metadata parser.
    """
    height, width, channels = model_input(model)
    names = [layer.name for layer in model.layers]
    normalization = {"type": "none: feed pixels as the model was trained on them"}
    if PREPROCESSING in names:
        layer = model.get_layer(PREPROCESSING)
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
        "input": {"height": height, "width": width, "channels": 3, "layout": "NHWC",
                  "batch": 1, "dtype": "float32 (uint8 for int8)",
                  "range": "raw pixels 0-255, RGB" + (
                      "; converted to grey inside the file (tf.image.rgb_to_grayscale's weights), as the net "
                      "was trained on grey images" if channels == 1 else ""),
                  "trained_channels": channels},
        "normalization": normalization,
        "output": {"name": "probabilities", "shape": [1, len(labels)], "activation": "softmax"},
        "metadata": "standard TFLite metadata (MediaPipe Tasks, LiteRT support library, Android Studio): "
                    "name, normalisation mean 0 / std 1, RGB, labels packed as " + LABELS_FILE,
        "labels_file": LABELS_FILE,
        "labels": list(labels),
        "files": files,
    }


def export_tflite(model: keras.Model, out_dir: str, labels: Sequence[str], samples: np.ndarray,
                  quantizations: Iterable[str] = QUANTIZATIONS, representative: Optional[np.ndarray] = None,
                  name: Optional[str] = None, mean: Optional[np.ndarray] = None,
                  digest: Optional[str] = None) -> list:
    """Write verified, camera-ready .tflite files with TFLite metadata, labels.txt and an app card (JSON).

    Args:
        model: the float32 Keras classifier (0-255 input, fixed size, 1 or 3 channels).
        out_dir: where the files go.
        labels: class names, index = class id.
        samples: float32 [N, H, W, C] 0-255 images to verify on (grey ones
            are fed to the files as RGB).
        quantizations: TFLite variants.
        representative: int8 calibration images, as `samples`.
        name: file name stem and the metadata's model name.
        mean: the training mean, for the card.
        digest: the weights' `weights_digest`, where the caller has it (the metadata's version).

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
    app_model = camera_ready(model)
    info = classifier_info(name, model, labels, digest)
    samples = as_rgb(samples)
    representative = None if representative is None else as_rgb(representative)
    reference = keras.ops.convert_to_numpy(app_model(samples, training=False)).astype(np.float32)
    reports, files = [], {}
    # Every variant, its labels and its card appear together, or none does (an interrupt, a full disk).
    with tempfile.TemporaryDirectory() as workdir, staged_dir(out_dir) as staging:
        for q in quantizations:
            path = os.path.join(out_dir, f"{name}_{q}.tflite")
            staged = os.path.join(staging, os.path.basename(path))
            flatbuffer = litert_metadata.populate(convert(app_model, q, workdir, representative), info)
            with open(staged, "wb") as f:
                f.write(flatbuffer)
            runner = TFLiteClassifier(staged)
            diff, agreement = compare(reference, runner(samples))
            report = ArtifactReport(f"tflite_{q}", path, diff, agreement, TOLERANCES.get(q))
            if not report.ok:
                raise ExportVerificationError(
                    f"TFLite {q} differs from the Keras model by {diff:.3g} (tolerance {report.tolerance:g})")
            reports.append(report)
            files[q] = dict(file=os.path.basename(path), bytes=len(flatbuffer), **runner.quantization(),
                            max_abs_diff=diff, top1_agreement=agreement)
        write_labels(staging, labels)
        write_json(os.path.join(staging, f"{name}.json"), card(name, model, labels, files, mean))
    return reports
