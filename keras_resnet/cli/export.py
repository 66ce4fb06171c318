"""`keras-resnet export`: export a trained model for TF Serving (SavedModel), Android (LiteRT) and ONNX Runtime.

Every flag but --model_dir/--model_path is a field of `keras_resnet.export.config.ExportConfig`.
"""

from __future__ import annotations

import argparse
import dataclasses
from typing import Optional

from keras_resnet import cli
from keras_resnet.cli import flags
from keras_resnet.export.artifacts import ExportVerificationError
from keras_resnet.export.config import ExportConfig
from keras_resnet.settings import setting

SUMMARY = "Export a trained model (SavedModel, LiteRT, ONNX), each file verified against Keras."
EXAMPLE = "keras-resnet export --model_dir=runs/resnet20_fashion_mnist --export_dir=saved_models"
ERRORS = (ValueError, ExportVerificationError)


@dataclasses.dataclass
class ExportCommand(ExportConfig):
    """What to export, and `ExportConfig` with a default --export_dir."""

    export_dir: str = setting("saved_models", "Base directory of the exports.", group="export")
    model_dir: Optional[str] = setting(None, "A `keras-resnet train` --model_dir (or use --model_path).",
                                       group="source")
    model_path: Optional[str] = setting(None, "A .keras file saved from a keras_resnet model.", group="source")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    flags.add_settings(parser, ExportCommand)


def main(args: argparse.Namespace) -> int:
    command = flags.settings_from(args, ExportCommand)
    if bool(command.model_dir) == bool(command.model_path):
        raise ValueError("pass exactly one of --model_dir or --model_path")
    config = ExportConfig(**{f.name: getattr(command, f.name) for f in dataclasses.fields(ExportConfig)})
    config.validate()
    cli.import_tensorflow()
    from keras_resnet.export import exporter

    with cli.native_stderr_silenced():  # LiteRT's converter and interpreter print from C++
        reports = exporter.export_model(command.model_dir or command.model_path, config=config)
    print(exporter.format_reports(reports))
    return 0
