"""Train a ResNet: `python scripts/train.py --model=resnet20 --dataset=fashion_mnist`.

Flags follow TF Model Garden's resnet_cifar_main.py where they overlap. A
relaunch with the same --model_dir resumes from the last finished epoch.
"""

import logging
import sys

from absl import app, flags

FLAGS = flags.FLAGS
flags.DEFINE_string("model", "resnet20", "A name of keras_resnet.list_models(), or resnet<6n+2>.")
flags.DEFINE_string("dataset", "fashion_mnist",
                    "fashion_mnist, mnist, cifar10, cifar100, image_folder, or a tensorflow-datasets name "
                    "(imagenette, imagenet2012, ...).")
flags.DEFINE_string("data_dir", None, "Where the data is (IDX files, CIFAR archives, image folder, tfds dir).")
flags.DEFINE_string("model_dir", None, "Checkpoints, backups, TensorBoard logs and plots; "
                    "default runs/<model>_<dataset>.")
flags.DEFINE_enum("strategy", "default", ["default", "one_device", "mirrored", "multi_worker_mirrored", "tpu"],
                  "tf.distribute strategy. mirrored without GPUs mirrors over 2 logical CPUs.")
flags.DEFINE_integer("num_gpus", None, "GPUs (or logical CPUs) for --strategy=mirrored; default all GPUs.")
flags.DEFINE_string("tpu", None, "TPU name or address for --strategy=tpu.")
flags.DEFINE_integer("batch_size", None, "Global batch size; default the recipe's.")
flags.DEFINE_integer("epochs", None, "Epochs to train; default the recipe's length.")
flags.DEFINE_integer("train_steps", None, "Total training steps (overrides --epochs).")
flags.DEFINE_string("recipe", "cifar", "cifar (the paper's), imagenet (the paper's) or fast.")
flags.DEFINE_enum("augmentation", None, ["cifar", "imagenet", "none"],
                  "Override the recipe's augmentation (cifar: pad 4 + crop + flip; imagenet: scale, crop, "
                  "flip, PCA colour; none).")
flags.DEFINE_float("learning_rate", None, "Peak learning rate; default the recipe's, scaled by batch size.")
flags.DEFINE_float("weight_decay", None, "L2 weight decay; default the recipe's.")
flags.DEFINE_string("dtype", "float32", "float32, mixed_float16 (GPU) or mixed_bfloat16.")
flags.DEFINE_bool("enable_xla", False, "Compile the train step with XLA.")
flags.DEFINE_bool("sync_bn", False, "Synchronise batch statistics across replicas.")
flags.DEFINE_integer("seed", 0, "Random seed.")
flags.DEFINE_string("shortcut", None, "Shortcut option A, B or C; default the model's.")
flags.DEFINE_float("width_multiplier", 1.0, "Scale every conv's filters.")
flags.DEFINE_integer("image_size", None, "Train at this size; default the data's (at least the model's minimum).")
flags.DEFINE_float("validation_split", 0.1, "Fraction of the training set held out to pick the best epoch.")
flags.DEFINE_integer("max_train_examples", None, "Use at most this many training images (quick runs).")
flags.DEFINE_integer("max_test_examples", None, "Use at most this many test images.")
flags.DEFINE_bool("download", True, "Let tensorflow-datasets download data that is not found locally.")
flags.DEFINE_string("export_dir", None, "Export the final model here (SavedModel + TFLite).")
flags.DEFINE_integer("verbose", 1, "Keras verbosity: 0 silent, 1 progress bar, 2 a line per epoch.")


def main(argv):
    del argv
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    from keras_resnet import training

    config = training.TrainConfig(
        **{field: FLAGS[field].value for field in training.TrainConfig.__dataclass_fields__
           if field in FLAGS and field != "model_dir"},
        model_dir=FLAGS.model_dir or f"runs/{FLAGS.model}_{FLAGS.dataset}",
    )
    try:
        result = training.train(config)  # validates every flag before any work
    except (ValueError, FloatingPointError, RuntimeError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"{config.model} on {config.dataset}: test loss {result['test_loss']:.4f}, "
          f"test accuracy {result['test_accuracy']:.4f} "
          f"({result['epochs_run']} epoch(s) run, from epoch {result['initial_epoch'] + 1}; "
          f"final model {result['final_model']})")
    return 0


if __name__ == "__main__":
    app.run(lambda argv: sys.exit(main(argv)))
