"""`keras-resnet reproduce EXPERIMENT`: the paper's experiments (degradation, responses, lesion, table6).

Every flag is a field of `keras_resnet.research.config.ReproduceConfig`. The
nets are trained (or resumed, or reused) under --model_dir, where each
experiment writes its figure and numbers.
"""

from __future__ import annotations

import argparse

from keras_resnet import cli
from keras_resnet.cli import flags
from keras_resnet.research.config import EXPERIMENTS, ReproduceConfig

SUMMARY = "Reproduce the paper's experiments: degradation, responses, lesion, table6."
EXAMPLE = "keras-resnet reproduce degradation --dataset=cifar10 --data_dir=~/data"
ERRORS = (ValueError, FloatingPointError, RuntimeError)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("experiment", nargs="?", metavar="EXPERIMENT", help=f"One of {', '.join(EXPERIMENTS)}.")
    flags.add_settings(parser, ReproduceConfig, default_group="experiment")


def main(args: argparse.Namespace) -> int:
    if args.experiment not in EXPERIMENTS:
        given = args.experiment or "nothing"
        raise ValueError(f"Name one experiment: {', '.join(EXPERIMENTS)} (e.g. keras-resnet reproduce degradation). "
                         f"Received: {given}{flags.suggest(given, EXPERIMENTS)}")
    settings = flags.settings_from(args, ReproduceConfig, experiment=args.experiment)
    cli.import_tensorflow()
    from keras_resnet.research import experiments

    result = experiments.run(settings)  # validates every flag and run directory before any work
    if "table" in result:
        print(result["table"])
    for key, value in result.get("findings", {}).items():
        print(f"{key}: {value:.4g}")
    print("wrote " + ", ".join(result["paths"].values()))
    return 0
