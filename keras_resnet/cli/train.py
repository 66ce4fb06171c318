"""`keras-resnet train`: train a ResNet, evaluate it, and with --export_dir export and verify it.

Every flag is a field of `keras_resnet.train.config.TrainConfig` or of
`keras_resnet.export.config.ExportConfig`. A relaunch with the same flags and
--model_dir resumes from the last finished epoch.
"""

from __future__ import annotations

import argparse
import time

from keras_resnet import cli
from keras_resnet.cli import flags
from keras_resnet.export.config import ExportConfig
from keras_resnet.train.config import TrainConfig

SUMMARY = "Train a ResNet on a data set, evaluate it, and optionally export it."
EXAMPLE = "keras-resnet train --model=resnet20 --dataset=fashion_mnist --time_budget=15m --export_dir=saved_models"
ERRORS = (ValueError, FloatingPointError, RuntimeError)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    groups = {}
    flags.add_settings(parser, TrainConfig, groups=groups)
    flags.add_settings(parser, ExportConfig, groups=groups)


def main(args: argparse.Namespace) -> int:
    settings = flags.settings_from(args, TrainConfig)
    export = flags.settings_from(args, ExportConfig)
    if export.export_dir:
        export.validate()  # before TensorFlow and training: a bad export flag or a missing extra costs nothing
    started = time.monotonic()  # a --time_budget counts from here: TensorFlow's import is part of the run
    cli.import_tensorflow()
    from keras_resnet.export import exporter
    from keras_resnet.train import budget, reports, training
    from keras_resnet.train.run_dir import RunDir

    follow_up = budget.FollowUp(0, export_artifacts=export.artifact_count() if export.export_dir else 0,
                                export_images=export.eval_examples)
    # Validates every flag before any work.
    result = training.train(settings, follow_up=follow_up, elapsed=lambda: time.monotonic() - started)
    print(reports.training_summary(settings.model, settings.dataset, result))
    if export.export_dir:
        began = time.monotonic()
        with cli.native_stderr_silenced():  # LiteRT's converter and interpreter print from C++
            exported = exporter.export_model(settings.model_dir, config=export)
        print(exporter.format_reports(exported))
        result["seconds"].update(export=round(time.monotonic() - began, 1),
                                 total=round(time.monotonic() - started, 1))
    if "budget" in result:
        result["budget"]["used"] = result["seconds"]["total"]
        print(reports.budget_summary(result))
    if export.export_dir or "budget" in result:
        RunDir(settings.model_dir).write_result({k: v for k, v in result.items() if k != "model"})
    return 0
