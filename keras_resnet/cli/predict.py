"""`keras-resnet predict FILE...`: classify image files with an exported model: SavedModel, .tflite, ONNX or TF Serving.

    keras-resnet predict --saved_model=saved_models/resnet20 images/*.png
    keras-resnet predict --tflite=saved_models/tflite/resnet20/resnet20_int8.tflite images/*.png
    keras-resnet predict --onnx=saved_models/onnx/resnet20/resnet20.onnx images/*.png
    keras-resnet predict --server=http://localhost:8501 --model_name=resnet20 images/*.png
    keras-resnet predict --grpc=localhost:8500 --model_name=resnet20 images/*.png
"""

from __future__ import annotations

import argparse
import dataclasses
import os
from typing import Optional

from keras_resnet import cli, extras
from keras_resnet.cli import flags
from keras_resnet.settings import at_least, positive, setting, validate

SUMMARY = "Classify image files with an exported model (SavedModel, LiteRT, ONNX, or TF Serving's REST or gRPC)."
EXAMPLE = "keras-resnet predict --tflite=saved_models/tflite/resnet8/resnet8_int8.tflite images/*.png"
ERRORS = (ValueError, OSError)
# What each way of serving needs beyond the core (all from the export extra); the REST client needs nothing.
TARGET_MODULES = {"tflite": ("ai_edge_litert",), "onnx": ("onnxruntime",), "grpc": ("grpc", "tensorflow_serving")}


@dataclasses.dataclass
class PredictConfig:
    """Which exported model classifies the images, and how many labels to print."""

    saved_model: Optional[str] = setting(None, "A SavedModel version directory, or its base (newest version).")
    tflite: Optional[str] = setting(None, "A .tflite file (its labels are packed inside, or labels.txt is "
                                    "beside it).")
    onnx: Optional[str] = setting(None, "An .onnx file exported by `keras-resnet export` (ONNX Runtime).")
    server: Optional[str] = setting(None, "TF Serving REST address, e.g. http://localhost:8501.")
    grpc: Optional[str] = setting(None, "TF Serving gRPC address, e.g. localhost:8500.")
    model_name: Optional[str] = setting(None, "Model name on the server.")
    top_k: int = setting(3, "Labels to print per image.", check=at_least(1))
    timeout: float = setting(30.0, "Seconds to wait for a server.", check=positive)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("files", nargs="*", metavar="FILE", help="Image files to classify.")
    flags.add_settings(parser, PredictConfig, default_group="prediction")


def main(args: argparse.Namespace) -> int:
    config, files = flags.settings_from(args, PredictConfig), list(args.files)
    validate(config)
    targets = {name: getattr(config, name) for name in ("saved_model", "tflite", "onnx", "server", "grpc")
               if getattr(config, name)}
    if len(targets) != 1:
        raise ValueError("pass exactly one of --saved_model, --tflite, --onnx, --server, --grpc")
    if not files:
        raise ValueError("name at least one image file")
    folders = [f for f in files if os.path.isdir(f)]
    if folders:
        raise ValueError(f"directories, not image files: {', '.join(folders)} (name the images, e.g. "
                         f"{os.path.join(folders[0], '*.png')})")
    missing = [f for f in files if not os.path.isfile(f)]
    if missing:
        raise ValueError(f"no such file(s): {', '.join(missing)}")
    if (config.server or config.grpc) and not config.model_name:
        raise ValueError("--model_name is needed with --server/--grpc")
    (target, address), = targets.items()
    if target in TARGET_MODULES:
        extras.require(f"--{target}", "export", TARGET_MODULES[target])
    if target != "server":  # the REST client needs no TensorFlow
        cli.import_tensorflow()
    from keras_resnet.export import predict

    images = []
    for path in files:
        with open(path, "rb") as f:
            images.append(f.read())
    if target == "saved_model":
        results = predict.predict_saved_model(address, images, names=files)
    elif target == "tflite":
        results = predict.predict_tflite(address, images, names=files)
    elif target == "onnx":
        results = predict.predict_onnx(address, images, names=files)
    elif target == "server":
        results = predict.predict_rest(address, config.model_name, images, config.timeout, names=files)
    else:
        results = predict.predict_grpc(address, config.model_name, images, config.timeout, names=files)
    for path, (labels, scores) in zip(files, results):
        shown = ", ".join(f"{label} {score:.3f}" for label, score in list(zip(labels, scores))[: config.top_k])
        print(f"{path}: {shown}")
    return 0
