"""`keras-resnet tune`: search ResNet hyperparameters with keras-tuner, in one process, worker processes, or machines.

Every flag is a field of `keras_resnet.search.config.TuneConfig` or, for
the ranges searched, of `SearchSpace`. Relaunching with the same --model_dir
resumes the search. The best model is saved to <model_dir>/best/, ready for
`keras-resnet export --model_dir=<model_dir>/best`.
"""

from __future__ import annotations

import argparse

from keras_resnet import cli
from keras_resnet.cli import flags
from keras_resnet.search.config import SearchSpace, TuneConfig

SUMMARY = "Search hyperparameters with keras-tuner (one process, --workers=N here, or --role across machines)."
EXAMPLE = "keras-resnet tune --dataset=fashion_mnist --max_trials=8 --epochs=2 --workers=2"
ERRORS = (ValueError,)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    groups = {}
    flags.add_settings(parser, TuneConfig, default_group="search", groups=groups)
    flags.add_settings(parser, SearchSpace, default_group="search space", groups=groups)


def main(args: argparse.Namespace) -> int:
    settings = flags.settings_from(args, TuneConfig, space=flags.settings_from(args, SearchSpace))
    cli.import_tensorflow()
    from keras_resnet.search import tuning

    result = tuning.search(settings)  # validates every flag before any trial
    if "worker" in result:
        print(f"worker {result['worker']}: ran {result['trials_run']} trial(s) for the search's chief at "
              f"{result['chief']}, which saves the best model")
        return 0
    print(result["table"])
    print(f"best {settings.objective} {result['score']:.4f}; test accuracy of the best model "
          f"{result['test_accuracy']:.4f}; {result['num_trials']} trial(s); best model in {result['best_dir']}")
    return 0
