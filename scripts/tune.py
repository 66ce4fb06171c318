"""Search ResNet hyperparameters with keras-tuner.

    python scripts/tune.py --dataset=fashion_mnist --tuner=random --max_trials=8 --epochs=2

Relaunching with the same --model_dir resumes the search. The best model is
saved to <model_dir>/best/, ready for `scripts/export.py --model_dir=<model_dir>/best`.
"""

import logging
import sys

from absl import app, flags

FLAGS = flags.FLAGS
flags.DEFINE_enum("tuner", "random", ["random", "bayesian", "hyperband"], "keras-tuner algorithm.")
flags.DEFINE_integer("max_trials", 10, "Trials to run (random, bayesian).")
flags.DEFINE_integer("executions_per_trial", 1, "Models trained per trial (scores averaged).")
flags.DEFINE_string("objective", "val_accuracy", "val_accuracy, val_loss, accuracy or loss.")
flags.DEFINE_integer("epochs", 3, "Epochs per trial (hyperband: the most any trial gets).")
flags.DEFINE_integer("batch_size", 128, "Global batch size.")
flags.DEFINE_string("dataset", "fashion_mnist", "As in scripts/train.py.")
flags.DEFINE_string("data_dir", None, "As in scripts/train.py.")
flags.DEFINE_string("model_dir", None, "Tuner state and results; default runs/tune_<dataset>.")
flags.DEFINE_enum("strategy", "default", ["default", "one_device", "mirrored", "multi_worker_mirrored", "tpu"],
                  "The tuner's distribution_strategy.")
flags.DEFINE_integer("num_gpus", None, "GPUs (or logical CPUs) for --strategy=mirrored.")
flags.DEFINE_integer("seed", 0, "Random seed.")
flags.DEFINE_float("validation_split", 0.1, "Training fraction held out for the objective.")
flags.DEFINE_integer("max_train_examples", None, "Use at most this many training images.")
flags.DEFINE_integer("max_test_examples", None, "Use at most this many test images.")
flags.DEFINE_bool("download", True, "Let tensorflow-datasets download missing data.")
flags.DEFINE_integer("verbose", 1, "Keras verbosity.")
# The search space: each flag overrides one range of keras_resnet.tuning.SearchSpace.
flags.DEFINE_list("families", ["cifar"], "cifar (6n+2 nets) and/or imagenet (Table 1 nets, images >= 32 px).")
flags.DEFINE_list("cifar_n", ["1", "9"], "min,max of n (depth 6n+2).")
flags.DEFINE_integer("cifar_n_step", 2, "Step of n.")
flags.DEFINE_list("imagenet_depths", ["18", "34", "50"], "ImageNet depths to try.")
flags.DEFINE_list("shortcuts", ["A", "B"], "Shortcut options to try.")
flags.DEFINE_list("stride_in_1x1", ["false", "true"], "Bottleneck stride placements to try.")
flags.DEFINE_list("width_multiplier", ["1", "2"], "min,max width multiplier (step 0.5).")
flags.DEFINE_list("learning_rate", ["0.01", "0.3"], "min,max learning rate (log scale).")
flags.DEFINE_list("momentum", ["0.85", "0.95"], "min,max momentum.")
flags.DEFINE_list("weight_decay", ["1e-5", "1e-3"], "min,max weight decay (log scale).")
flags.DEFINE_list("label_smoothing", ["0", "0.1"], "min,max label smoothing.")
flags.DEFINE_list("augmentation", ["true", "false"], "Augmentation on and/or off.")


def _bools(values):
    out = []
    for v in values:
        if v.lower() not in ("true", "false"):
            raise ValueError(f"expected true/false, got {v!r}")
        out.append(v.lower() == "true")
    return tuple(out)


def _space(tuning):
    def pair(name, cast=float):
        values = getattr(FLAGS, name)
        if len(values) != 2:
            raise ValueError(f"--{name} takes min,max. Received: {','.join(values)}")
        return tuple(cast(v) for v in values)

    return tuning.SearchSpace(
        families=tuple(FLAGS.families),
        cifar_n=pair("cifar_n", int),
        cifar_n_step=FLAGS.cifar_n_step,
        imagenet_depths=tuple(int(d) for d in FLAGS.imagenet_depths),
        shortcuts=tuple(s.upper() for s in FLAGS.shortcuts),
        stride_in_1x1=_bools(FLAGS.stride_in_1x1),
        width_multiplier=pair("width_multiplier"),
        learning_rate=pair("learning_rate"),
        momentum=pair("momentum"),
        weight_decay=pair("weight_decay"),
        label_smoothing=pair("label_smoothing"),
        augmentation=_bools(FLAGS.augmentation),
    )


def main(argv):
    del argv
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    from keras_resnet import tuning

    try:
        config = tuning.TuneConfig(
            dataset=FLAGS.dataset, data_dir=FLAGS.data_dir, model_dir=FLAGS.model_dir or f"runs/tune_{FLAGS.dataset}",
            tuner=FLAGS.tuner, max_trials=FLAGS.max_trials, executions_per_trial=FLAGS.executions_per_trial,
            objective=FLAGS.objective, epochs=FLAGS.epochs, batch_size=FLAGS.batch_size, strategy=FLAGS.strategy,
            num_gpus=FLAGS.num_gpus, seed=FLAGS.seed, validation_split=FLAGS.validation_split,
            max_train_examples=FLAGS.max_train_examples, max_test_examples=FLAGS.max_test_examples,
            download=FLAGS.download, space=_space(tuning), verbose=FLAGS.verbose)
        result = tuning.search(config)  # validates every flag before any trial
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(result["table"])
    print(f"best {config.objective} {result['score']:.4f}; test accuracy of the best model "
          f"{result['test_accuracy']:.4f}; {result['num_trials']} trial(s); best model in {result['best_dir']}")
    return 0


if __name__ == "__main__":
    app.run(lambda argv: sys.exit(main(argv)))
