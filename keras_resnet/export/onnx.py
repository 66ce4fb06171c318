"""ONNX files for servers on ONNX Runtime: conversion, verification, labels and the file's own metadata.

Converted with Keras 3's own `Model.export(format="onnx")` (tf2onnx under
the TensorFlow backend), so the converter is the one Keras maintains. The
file takes raw 0-255 pixels, as the SavedModel and the TFLite files do (the
normalisation is the model's first layer), with a dynamic batch, and gives
probabilities. It is published only after ONNX Runtime reproduced the Keras
model on the sample images.
"""

from __future__ import annotations

import json
import os
import tempfile
from typing import Sequence

import keras
import numpy as np

from keras_resnet.export.artifacts import TOLERANCES, ArtifactReport, ExportVerificationError, compare, model_input
from keras_resnet.files import LABELS_FILE, staged_dir, write_json, write_labels
from keras_resnet.version import __version__

# The newest opset tf2onnx (1.17) writes; ONNX Runtime 1.17 and later run it.
OPSET = 18
INPUT_NAME = "images"
BATCH_DIM = "batch"


def convert(model: keras.Model, path: str, labels: Sequence[str], name: str, opset: int = OPSET) -> None:
    """Write `model` as an ONNX file at `path`: float32 [batch, H, W, C] 0-255 pixels in, probabilities out.

    The file's metadata_props name the model, its labels (JSON) and its input.
    """
    import onnx
    import tensorflow as tf

    height, width, channels = model_input(model)
    with tempfile.TemporaryDirectory() as workdir:
        raw = os.path.join(workdir, "model.onnx")
        model.export(raw, format="onnx", verbose=False, opset_version=opset,
                     input_signature=[tf.TensorSpec([None, height, width, channels], tf.float32, name=INPUT_NAME)])
        proto = onnx.load(raw)
    # tf2onnx names the free batch dimension unk__N; servers and readers see the name.
    for value in list(proto.graph.input) + list(proto.graph.output):
        value.type.tensor_type.shape.dim[0].dim_param = BATCH_DIM
    proto.doc_string = (f"{name}: a residual network (He et al. 2015) from keras_resnet. Input {INPUT_NAME}: float32 "
                        f"[batch, {height}, {width}, {channels}], raw pixels 0-255. Output: probabilities of "
                        f"{len(labels)} classes.")
    proto.producer_name, proto.producer_version = "keras_resnet", __version__
    onnx.helper.set_model_props(proto, {"name": name, "labels": json.dumps(list(labels)),
                                        "input_range": "raw pixels 0-255", "layout": "NHWC"})
    onnx.checker.check_model(proto)
    onnx.save(proto, path)


class ONNXClassifier:
    """Runs an exported .onnx classifier with ONNX Runtime on float32 0-255 images."""

    def __init__(self, path: str, threads: int = 0):
        """Load `path`; `threads` for ONNX Runtime's intra-op pool (0: its default, one per core).

        Raises:
            ValueError: `path` is not a file ONNX Runtime can load.
        """
        import onnxruntime

        if not os.path.isfile(path):
            raise ValueError(f"{path}: no such .onnx file")
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        try:
            self.session = onnxruntime.InferenceSession(path, options, providers=["CPUExecutionProvider"])
        except Exception as error:  # ONNX Runtime raises its own classes, not ValueError or OSError
            raise ValueError(f"{path}: not an ONNX model ONNX Runtime can load: "
                             f"{str(error).strip().splitlines()[0]}") from None
        self.input = self.session.get_inputs()[0]

    @property
    def input_size(self) -> tuple:
        return tuple(int(d) for d in self.input.shape[1:3])

    @property
    def channels(self) -> int:
        return int(self.input.shape[-1])

    def labels(self) -> list:
        """The class names recorded in the file; class ids for a file without them."""
        recorded = self.session.get_modelmeta().custom_metadata_map.get("labels")
        if recorded:
            return json.loads(recorded)
        return [str(i) for i in range(int(self.session.get_outputs()[0].shape[-1]))]

    def __call__(self, images: np.ndarray, batch_size: int = 256) -> np.ndarray:
        images = np.asarray(images, np.float32)
        return np.concatenate([self.session.run(None, {self.input.name: images[i:i + batch_size]})[0]
                               for i in range(0, max(len(images), 1), batch_size)])


def opset(path: str) -> int:
    """The default-domain opset an .onnx file was written for."""
    import onnx

    return next(entry.version for entry in onnx.load(path, load_external_data=False).opset_import
                if entry.domain in ("", "ai.onnx"))


def export_onnx(model: keras.Model, out_dir: str, labels: Sequence[str], samples: np.ndarray,
                name: str) -> ArtifactReport:
    """Write a verified `<out_dir>/<name>.onnx`, labels.txt and a card (JSON) with the opset.

    Args:
        model: the float32 Keras classifier (0-255 input, fixed size).
        out_dir: where the files go (`ExportDir.onnx_dir`: `<export_dir>/onnx/<name>`).
        labels: class names, index = class id.
        samples: float32 [N, H, W, C] 0-255 images to verify on.
        name: the file's stem and the model name in its metadata.

    Returns:
        The verification report.

    Raises:
        ExportVerificationError: ONNX Runtime's outputs differ from Keras
            beyond the tolerance (nothing is published).
    """
    path = os.path.join(out_dir, f"{name}.onnx")
    reference = keras.ops.convert_to_numpy(model(samples, training=False)).astype(np.float32)
    height, width, channels = model_input(model)
    with staged_dir(out_dir) as staging:  # the file, its labels and card appear together, or not at all
        staged = os.path.join(staging, os.path.basename(path))
        convert(model, staged, labels, name)
        diff, agreement = compare(reference, ONNXClassifier(staged)(samples))
        report = ArtifactReport("onnx", path, diff, agreement, TOLERANCES["onnx"])
        if not report.ok:
            raise ExportVerificationError(
                f"ONNX differs from the Keras model by {diff:.3g} (tolerance {report.tolerance:g}); "
                "nothing was published.")
        write_labels(staging, labels)
        write_json(os.path.join(staging, f"{name}.json"), {
            "model": name, "file": os.path.basename(path), "opset": OPSET, "bytes": os.path.getsize(staged),
            "input": {"name": INPUT_NAME, "shape": [BATCH_DIM, height, width, channels], "dtype": "float32",
                      "layout": "NHWC", "range": "raw pixels 0-255; normalised inside the model"},
            "output": {"shape": [BATCH_DIM, len(labels)], "activation": "softmax"},
            "labels_file": LABELS_FILE, "labels": list(labels), "max_abs_diff": diff, "top1_agreement": agreement})
    return report
