"""A training run's settings (`TrainConfig`) and what a run and a search share (`RunSettings`), without TensorFlow.

Every setting is one field (`keras_resnet.settings.setting`) carrying its help,
its choices (constants of the TensorFlow-free modules that own them), its check
and its `--help` group; `keras-resnet train` defines its flags from these
fields and parses them before TensorFlow is imported.
"""

from __future__ import annotations

import dataclasses
from typing import Optional

from keras_resnet.arch import specs
from keras_resnet.data.augmentations import AUGMENTATIONS, CROP_PADDING, TTA_MODES
from keras_resnet.data.catalog import check_dataset_name
from keras_resnet.settings import at_least, between, fraction, non_negative, positive, setting, validate
from keras_resnet.train.budget import check_duration, parse_duration
from keras_resnet.train.precision import DTYPES, XLA_MODES
from keras_resnet.train.recipes import RECIPES

# The largest --image_size, 4x the 512 px detection backbones train at: activations grow with the side's square (an
# image at 2048 px holds 84 times its activations at 224 px), and a run past any machine's memory fails mid-run.
MAX_IMAGE_SIZE = 2048
IMAGE_SIZE_WHY = " (larger images' activations exceed any machine's memory)"
# The default --cluster_timeout: how long a multi-worker run waits for every worker of TF_CONFIG to join.
CLUSTER_TIMEOUT = 300.0
# The tf.distribute strategies of --strategy (`keras_resnet.train.distribute` makes them).
STRATEGIES = ("default", "one_device", "mirrored", "multi_worker_mirrored", "tpu")

__all__ = ["RunSettings", "TrainConfig", "IDENTITY_OF_OLDER_RUNS", "STRATEGIES", "time_budget_setting", "validate"]


def time_budget_setting(subject: str):
    """The --time_budget field of a settings class; `subject` names what it times."""
    return setting(None, f"Train to fit this time ({subject}): minutes (15, 7.5) or a duration (15m, 90s, 1h30m). "
                   "The steps are planned from the measured step time, the recipe's warm-up and decay laid over "
                   "them, and the plan corrected once after the first epoch; in place of --epochs and "
                   "--train_steps.", check=check_duration, group="schedule")


def _dataset(name, value):
    check_dataset_name(value)


def _shortcut(name, value):
    if value.upper() not in specs.SHORTCUT_OPTIONS:
        raise ValueError(f"Unknown shortcut option; valid: A, B, C. Received: {name}={value!r}")


@dataclasses.dataclass
class RunSettings:
    """What a training run and a search share: data, directories, strategy, length."""

    dataset: str = setting("fashion_mnist", "fashion_mnist, mnist, cifar10, cifar100, image_folder, or a "
                           "tensorflow-datasets name (imagenette, imagenet2012, ...).", check=_dataset, group="data")
    data_dir: Optional[str] = setting(None, "Where the data is (IDX files, CIFAR archives, image folder, tfds "
                                      "dir). An explicit folder must hold the named data set.", group="data")
    model_dir: Optional[str] = setting(None, "The run's directory (see keras_resnet.train.run_dir); default "
                                       "runs/<model>_<dataset> (training) or runs/tune_<dataset> (search).",
                                       group="run")
    strategy: str = setting("default", "tf.distribute strategy; mirrored without GPUs mirrors over 2 "
                            "logical CPUs.", choices=STRATEGIES, group="hardware")
    cluster_timeout: float = setting(CLUSTER_TIMEOUT, "--strategy=multi_worker_mirrored: seconds to wait for every "
                                     "worker of TF_CONFIG to join before stopping with one line naming them.",
                                     check=positive, group="hardware")
    num_gpus: Optional[int] = setting(None, "GPUs (or logical CPUs) for --strategy=mirrored; default all GPUs.",
                                      check=at_least(1), group="hardware")
    batch_size: Optional[int] = setting(None, "Global batch size; default the recipe's.", check=at_least(1),
                                        group="schedule")
    epochs: Optional[int] = setting(None, "Epochs to train; default the recipe's length.", check=at_least(1),
                                    group="schedule")
    seed: int = setting(0, "Random seed (split, shuffle, initialisation).", group="run")
    validation_split: float = setting(0.1, "Fraction of the training set held out to pick the best epoch.",
                                      check=fraction, group="data")
    max_train_examples: Optional[int] = setting(None, "Use at most this many training images (quick runs).",
                                                check=at_least(1), group="data")
    max_test_examples: Optional[int] = setting(None, "Use at most this many test images.", check=at_least(1),
                                               group="data")
    download: bool = setting(True, "Let tensorflow-datasets download data that is not found locally (into its own "
                             "folder; an explicit --data_dir is only read).", group="data")
    prepare_data_dir: bool = setting(False, "With --data_dir: let tensorflow-datasets download and prepare the data "
                                     "set there when it is not there.", group="data")
    skip_bad_images: bool = setting(False, "image_folder: leave out files that do not decode (their names are "
                                    "logged) instead of stopping before training.", group="data")
    verbose: int = setting(1, "Keras verbosity: 0 silent, 1 progress bar, 2 a line per epoch.", group="run")


@dataclasses.dataclass
class TrainConfig(RunSettings):
    """A training run; `scripts/train.py` fills it from flags."""

    model: str = setting("resnet20", "A name of keras_resnet.list_models(), or resnet<6n+2> / plain<6n+2>.",
                         check=specs.check_model_name, group="model")
    recipe: str = setting("cifar", "cifar (the paper's), imagenet (the paper's), wrn (Wide ResNets' CIFAR "
                          "recipe), fast, or finetune (with --weights: the new classifier first, then the backbone "
                          "at 0.1x).", choices=tuple(RECIPES), group="schedule")
    weights: Optional[str] = setting(None, "Start from these weights: imagenet, a name of "
                                     "keras_resnet.list_weights(model), or a checkpoint file (.weights.h5, "
                                     ".pth, .safetensors, keras.applications .h5); a new classifier is made for "
                                     "the data set's classes. The model then takes the checkpoint's preprocessing.",
                                     group="model")
    freeze: str = setting("none", "With --weights: keep these layers as loaded (BN statistics too): none, "
                          "backbone (all but the classifier), or conv1 .. conv5 (the stem up to that stage).",
                          group="model")
    train_steps: Optional[int] = setting(None, "Total training steps (overrides --epochs).", check=at_least(1),
                                         group="schedule")
    time_budget: Optional[str] = time_budget_setting("the whole run: evaluation, TTA and --export_dir "
                                                     "included")
    augmentation: Optional[str] = setting(None, "Override the recipe's augmentation (cifar: pad --crop_padding "
                                          "+ crop + flip; imagenet: scale, crop, flip, PCA colour; none).",
                                          choices=AUGMENTATIONS, group="data")
    crop_padding: int = setting(CROP_PADDING, "The cifar augmentation's zero padding on each side before its "
                                "random crop back to size: the paper's 4 on 32x32 CIFAR; 2 suits 28x28 "
                                "Fashion-MNIST (README).", check=at_least(0), group="data")
    learning_rate: Optional[float] = setting(None, "Peak learning rate; default the recipe's, scaled by batch "
                                             "size.", check=positive, group="schedule")
    weight_decay: Optional[float] = setting(None, "L2 weight decay; default the recipe's.", check=non_negative,
                                            group="schedule")
    label_smoothing: Optional[float] = setting(None, "Cross-entropy label smoothing; default the recipe's (fast "
                                               "and finetune: 0.1; the paper's recipes: 0).", check=fraction,
                                               group="schedule")
    warmup_steps: Optional[int] = setting(None, "A linear learning-rate warm-up over this many steps, on any "
                                          "depth, in place of the recipe's (cifar: 0.01 for 400 steps on depth "
                                          ">= 110); 0 for none.", check=at_least(0), group="schedule")
    default_warmup_steps: Optional[int] = setting(None, "The caller's default for --warmup_steps (reproduce.py's "
                                                  "78): a linear warm-up cut to half of a shorter run, where an "
                                                  "explicit --warmup_steps is kept exactly.", flag=False,
                                                  group="schedule")
    dtype: str = setting("auto", "float32, mixed_bfloat16, mixed_float16 (GPUs), or auto: the fastest on this "
                         "machine for this run's model, input and batch, measured before training (bfloat16 tried "
                         "where the CPU has AMX or AVX512_BF16 or there is a GPU) and cached.", choices=DTYPES,
                         group="hardware")
    xla: str = setting("auto", "Compile the train step with XLA: on, off, or auto: measured with --dtype.",
                       choices=XLA_MODES, group="hardware")
    sync_bn: bool = setting(False, "Synchronise batch statistics across replicas.", group="hardware")
    shortcut: Optional[str] = setting(None, "Shortcut option A, B or C; default the model's.", check=_shortcut,
                                      group="model")
    width_multiplier: float = setting(1.0, "Scale every conv's filters.", check=positive, group="model")
    stochastic_depth: float = setting(0.0, "Stochastic depth (Huang et al. 2016): drop the last block's residual "
                                      "branch with this probability while training, block l of L with l/L of it "
                                      "(their p_L = 0.5 is 0.5); ResNets only.", check=fraction, group="model")
    dropout: float = setting(0.0, "Dropout between the two convs of every basic block while training (Wide "
                             "ResNets' 0.3); basic-block nets only.", check=fraction, group="model")
    image_size: Optional[int] = setting(None, "Train at this size; default the data's (at least the model's "
                                        "minimum).", check=between(1, MAX_IMAGE_SIZE, IMAGE_SIZE_WHY), group="data")
    tpu: Optional[str] = setting(None, "TPU name or address for --strategy=tpu.", group="hardware")
    tta: str = setting("none", "Test-time augmentation of the final test evaluation: flip also scores every test "
                       "image averaged with its mirror image (keras_resnet.with_flip_tta) and reports that "
                       "accuracy beside the plain one; for data whose classes survive a left-right flip.",
                       choices=TTA_MODES, group="evaluation")
    def __post_init__(self):
        if self.model_dir is None:
            self.model_dir = f"runs/{self.model}_{self.dataset}"

    def identity(self, spec: specs.ResNetSpec) -> dict:
        """The settings that shape the run's trajectory (`spec` is the model's): a relaunch must match them."""
        return dict(
            model=spec.name, dataset=self.dataset,
            shortcut=(self.shortcut or spec.shortcut).upper(), width_multiplier=self.width_multiplier,
            image_size=self.image_size, recipe=self.recipe, batch_size=self.batch_size, epochs=self.epochs,
            train_steps=self.train_steps,
            time_budget=parse_duration(self.time_budget) if self.time_budget is not None else None,
            learning_rate=self.learning_rate, weight_decay=self.weight_decay,
            label_smoothing=self.label_smoothing,
            warmup_steps=self.warmup_steps if self.warmup_steps is not None else self.default_warmup_steps,
            augmentation=self.augmentation, dtype=self.dtype, sync_bn=self.sync_bn, seed=self.seed,
            validation_split=self.validation_split, max_train_examples=self.max_train_examples,
            weights=self.weights, freeze=self.freeze, stochastic_depth=self.stochastic_depth or None,
            dropout=self.dropout or None, crop_padding=self.crop_padding)


# Identity settings added after runs were first recorded, with the value every run recorded before them had
# (its run.json lacks the key): such a run resumes under these values. Runs before --time_budget had none; runs
# before --crop_padding padded 4; runs
# before --label_smoothing smoothed as their recipe does (the one such setting that depends on the recipe, so
# training.validate adds it).
IDENTITY_OF_OLDER_RUNS = dict(crop_padding=CROP_PADDING, time_budget=None)
