"""The settings of a training run, a search and a reproduction, each written once.

Every setting is one dataclass field carrying its help text, its choices
(the library's own constants) and its check. `scripts/train.py` and
`scripts/tune.py` (and `scripts/reproduce.py`) define their flags from these fields (`keras_resnet.cli`),
and `validate` runs every check before any data is read.
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Optional

from keras_resnet import specs
from keras_resnet.artifacts import DEFAULT_FORMATS, FORMATS
from keras_resnet.recipes import RECIPES

DTYPES = ("float32", "mixed_float16", "mixed_bfloat16", "auto")
STRATEGIES = ("default", "one_device", "mirrored", "multi_worker_mirrored", "tpu")
AUGMENTATIONS = ("cifar", "imagenet", "none")
# The paper's CIFAR augmentation pads 4 pixels on each side before its random 32x32 crop.
CROP_PADDING = 4
TTA_MODES = ("none", "flip")


def setting(default, help: str, *, choices: Optional[tuple] = None, check: Optional[Callable] = None,
            flag: bool = True):
    """A dataclass field with its flag's help, its valid choices and its check.

    `check(name, value)` raises a ValueError naming the flag; it is not
    called for None (the "use the default" value).
    """
    return dataclasses.field(default=default, metadata=dict(help=help, choices=choices, check=check, flag=flag))


def at_least(low: int) -> Callable:
    def check(name, value):
        if value < low:
            raise ValueError(f"--{name} must be >= {low}. Received: {name}={value}")
    return check


def _fraction(name, value):
    if not 0 <= value < 1:
        raise ValueError(f"--{name} must be in [0, 1). Received: {name}={value}")


def _non_negative(name, value):
    if value < 0:
        raise ValueError(f"--{name} must be >= 0. Received: {name}={value}")


def _positive(name, value):
    if value <= 0:
        raise ValueError(f"--{name} must be > 0. Received: {name}={value}")


def _formats(name, value):
    unknown = [v for v in value if v not in FORMATS]
    if unknown or not value:
        raise ValueError(f"--{name} takes one or more of {', '.join(FORMATS)}. Received: {name}={','.join(value)}")


def _model(name, value):
    specs.get_spec(value)


def _dataset(name, value):
    from keras_resnet import data

    data.check_dataset_name(value)


def _shortcut(name, value):
    if value.upper() not in specs.SHORTCUT_OPTIONS:
        raise ValueError(f"Unknown shortcut option; valid: A, B, C. Received: {name}={value!r}")


@dataclasses.dataclass
class RunSettings:
    """What a training run and a search share: data, directories, strategy, length."""

    dataset: str = setting("fashion_mnist", "fashion_mnist, mnist, cifar10, cifar100, image_folder, or a "
                           "tensorflow-datasets name (imagenette, imagenet2012, ...).", check=_dataset)
    data_dir: Optional[str] = setting(None, "Where the data is (IDX files, CIFAR archives, image folder, tfds "
                                      "dir). An explicit folder must hold the named data set.")
    model_dir: Optional[str] = setting(None, "The run's directory (see keras_resnet.run_dir); default "
                                       "runs/<model>_<dataset> (training) or runs/tune_<dataset> (search).")
    strategy: str = setting("default", "tf.distribute strategy; mirrored without GPUs mirrors over 2 "
                            "logical CPUs.", choices=STRATEGIES)
    num_gpus: Optional[int] = setting(None, "GPUs (or logical CPUs) for --strategy=mirrored; default all GPUs.",
                                      check=at_least(1))
    batch_size: Optional[int] = setting(None, "Global batch size; default the recipe's.", check=at_least(1))
    epochs: Optional[int] = setting(None, "Epochs to train; default the recipe's length.", check=at_least(1))
    seed: int = setting(0, "Random seed (split, shuffle, initialisation).")
    validation_split: float = setting(0.1, "Fraction of the training set held out to pick the best epoch.",
                                      check=_fraction)
    max_train_examples: Optional[int] = setting(None, "Use at most this many training images (quick runs).",
                                                check=at_least(1))
    max_test_examples: Optional[int] = setting(None, "Use at most this many test images.", check=at_least(1))
    download: bool = setting(True, "Let tensorflow-datasets download data that is not found locally (into its own "
                             "folder; an explicit --data_dir is only read).")
    prepare_data_dir: bool = setting(False, "With --data_dir: let tensorflow-datasets download and prepare the data "
                                     "set there when it is not there.")
    skip_bad_images: bool = setting(False, "image_folder: leave out files that do not decode (their names are "
                                    "logged) instead of stopping before training.")
    verbose: int = setting(1, "Keras verbosity: 0 silent, 1 progress bar, 2 a line per epoch.")


@dataclasses.dataclass
class TrainConfig(RunSettings):
    """A training run; `scripts/train.py` fills it from flags."""

    model: str = setting("resnet20", "A name of keras_resnet.list_models(), or resnet<6n+2> / plain<6n+2>.",
                         check=_model)
    recipe: str = setting("cifar", "cifar (the paper's), imagenet (the paper's), wrn (Wide ResNets' CIFAR "
                          "recipe), fast, or finetune (with --weights: the new classifier first, then the backbone "
                          "at 0.1x).", choices=tuple(RECIPES))
    weights: Optional[str] = setting(None, "Start from these weights: imagenet, a name of "
                                     "keras_resnet.list_weights(model), or a checkpoint file (.weights.h5, "
                                     ".pth, .safetensors, keras.applications .h5); a new classifier is made for "
                                     "the data set's classes. The model then takes the checkpoint's preprocessing.")
    freeze: str = setting("none", "With --weights: keep these layers as loaded (BN statistics too): none, "
                          "backbone (all but the classifier), or conv1 .. conv5 (the stem up to that stage).")
    train_steps: Optional[int] = setting(None, "Total training steps (overrides --epochs).", check=at_least(1))
    augmentation: Optional[str] = setting(None, "Override the recipe's augmentation (cifar: pad --crop_padding "
                                          "+ crop + flip; imagenet: scale, crop, flip, PCA colour; none).",
                                          choices=AUGMENTATIONS)
    crop_padding: int = setting(CROP_PADDING, "The cifar augmentation's zero padding on each side before its "
                                "random crop back to size: the paper's 4 on 32x32 CIFAR; 2 suits 28x28 "
                                "Fashion-MNIST (README).", check=at_least(0))
    learning_rate: Optional[float] = setting(None, "Peak learning rate; default the recipe's, scaled by batch "
                                             "size.", check=_positive)
    weight_decay: Optional[float] = setting(None, "L2 weight decay; default the recipe's.", check=_non_negative)
    warmup_steps: Optional[int] = setting(None, "A linear learning-rate warm-up over this many steps, on any "
                                          "depth, in place of the recipe's (cifar: 0.01 for 400 steps on depth "
                                          ">= 110); 0 for none.", check=at_least(0))
    default_warmup_steps: Optional[int] = setting(None, "The caller's default for --warmup_steps (reproduce.py's "
                                                  "78): a linear warm-up cut to half of a shorter run, where an "
                                                  "explicit --warmup_steps is kept exactly.", flag=False)
    dtype: str = setting("float32", "float32, mixed_bfloat16 (fast on CPUs with AMX or AVX512_BF16), "
                         "mixed_float16 (GPUs), or auto: the fastest of these on this machine's hardware.",
                         choices=DTYPES)
    enable_xla: bool = setting(False, "Compile the train step with XLA.")
    sync_bn: bool = setting(False, "Synchronise batch statistics across replicas.")
    shortcut: Optional[str] = setting(None, "Shortcut option A, B or C; default the model's.", check=_shortcut)
    width_multiplier: float = setting(1.0, "Scale every conv's filters.", check=_positive)
    stochastic_depth: float = setting(0.0, "Stochastic depth (Huang et al. 2016): drop the last block's residual "
                                      "branch with this probability while training, block l of L with l/L of it "
                                      "(their p_L = 0.5 is 0.5); ResNets only.", check=_fraction)
    dropout: float = setting(0.0, "Dropout between the two convs of every basic block while training (Wide "
                             "ResNets' 0.3); basic-block nets only.", check=_fraction)
    image_size: Optional[int] = setting(None, "Train at this size; default the data's (at least the model's "
                                        "minimum).", check=at_least(1))
    tpu: Optional[str] = setting(None, "TPU name or address for --strategy=tpu.")
    tta: str = setting("none", "Test-time augmentation of the final test evaluation: flip also scores every test "
                       "image averaged with its mirror image (keras_resnet.with_flip_tta) and reports that "
                       "accuracy beside the plain one; for data whose classes survive a left-right flip.",
                       choices=TTA_MODES)
    export_dir: Optional[str] = setting(None, "After training, export and verify the final model here "
                                        "(--formats; scripts/train.py).")
    formats: tuple = setting(DEFAULT_FORMATS, "What --export_dir writes: any of saved_model (TF Serving), tflite "
                             "(LiteRT files for Android, with TFLite metadata) and onnx (ONNX Runtime).",
                             check=_formats)

    def __post_init__(self):
        if self.model_dir is None:
            self.model_dir = f"runs/{self.model}_{self.dataset}"

    def identity(self) -> dict:
        """The settings that shape the run's trajectory: a relaunch must match them to resume."""
        spec = specs.get_spec(self.model)
        return dict(
            model=spec.name, dataset=self.dataset,
            shortcut=(self.shortcut or spec.shortcut).upper(), width_multiplier=self.width_multiplier,
            image_size=self.image_size, recipe=self.recipe, batch_size=self.batch_size, epochs=self.epochs,
            train_steps=self.train_steps, learning_rate=self.learning_rate, weight_decay=self.weight_decay,
            warmup_steps=self.warmup_steps if self.warmup_steps is not None else self.default_warmup_steps,
            augmentation=self.augmentation, dtype=self.dtype, sync_bn=self.sync_bn, seed=self.seed,
            validation_split=self.validation_split, max_train_examples=self.max_train_examples,
            weights=self.weights, freeze=self.freeze, stochastic_depth=self.stochastic_depth or None,
            dropout=self.dropout or None, crop_padding=self.crop_padding)


# Identity settings added after runs were first recorded, with the value every run recorded before them had
# (its run.json lacks the key): such a run resumes under these values. Runs before --crop_padding padded 4.
IDENTITY_OF_OLDER_RUNS = dict(crop_padding=CROP_PADDING)


TUNERS = ("random", "bayesian", "hyperband")
OBJECTIVES = {"val_accuracy": "max", "val_loss": "min", "accuracy": "max", "loss": "min"}
FAMILIES = ("cifar", "imagenet")


@dataclasses.dataclass(frozen=True)
class SearchSpace:
    """Ranges searched; every one can be overridden.

    Numeric ranges are (min, max) and may be equal to fix a value; choices
    are non-empty tuples. `cifar_n` is n of depth 6n+2 (step `cifar_n_step`).
    """

    families: tuple = setting(("cifar",), "cifar (6n+2 nets) and/or imagenet (Table 1 nets, images >= 32 px).")
    cifar_n: tuple = setting((1, 9), "min,max of n (depth 6n+2).")
    cifar_n_step: int = setting(2, "Step of n.")
    imagenet_depths: tuple = setting((18, 34, 50), "ImageNet depths to try.")
    shortcuts: tuple = setting(("A", "B"), "Shortcut options to try.")
    stride_in_1x1: tuple = setting((False, True), "Bottleneck stride placements to try.")
    width_multiplier: tuple = setting((1.0, 2.0), "min,max width multiplier (step 0.5).")
    learning_rate: tuple = setting((0.01, 0.3), "min,max learning rate (log scale).")
    momentum: tuple = setting((0.85, 0.95), "min,max momentum.")
    weight_decay: tuple = setting((1e-5, 1e-3), "min,max weight decay (log scale).")
    label_smoothing: tuple = setting((0.0, 0.1), "min,max label smoothing.")
    augmentation: tuple = setting((True, False), "Augmentation on and/or off.")

    def validate(self) -> None:
        """Raise a ValueError for an empty or inverted range or an unknown choice."""
        for name in ("cifar_n", "width_multiplier", "learning_rate", "momentum", "weight_decay",
                     "label_smoothing"):
            value = getattr(self, name)
            if len(value) != 2 or value[0] > value[1]:
                raise ValueError(f"--{name} takes min,max: {name} must be a (min, max) range with min <= max. "
                                 f"Received: {name}={value}")
        for name in ("learning_rate", "weight_decay"):
            if getattr(self, name)[0] <= 0:
                raise ValueError(f"{name} is searched on a log scale: min must be > 0. "
                                 f"Received: {name}={getattr(self, name)}")
        if self.cifar_n[0] < 1:
            raise ValueError(f"cifar_n must be >= 1 (depth 6n+2 >= 8). Received: cifar_n={self.cifar_n}")
        if self.width_multiplier[0] <= 0:
            raise ValueError(f"width_multiplier must be > 0. Received: width_multiplier={self.width_multiplier}")
        for name in ("families", "imagenet_depths", "shortcuts", "stride_in_1x1", "augmentation"):
            if not getattr(self, name):
                raise ValueError(f"{name} is empty: give at least one choice.")
        bad = [f for f in self.families if f not in FAMILIES]
        if bad:
            raise ValueError(f"Unknown families {bad}; known: {', '.join(FAMILIES)}")
        bad = [d for d in self.imagenet_depths if d not in specs.IMAGENET_DEPTHS]
        if bad:
            raise ValueError(f"Unknown ImageNet depths {bad}; known: {sorted(specs.IMAGENET_DEPTHS)}")
        bad = [s for s in self.shortcuts if s not in specs.SHORTCUT_OPTIONS]
        if bad:
            raise ValueError(f"Unknown shortcut options {bad}; known: A, B, C")

    def for_image_size(self, side: int) -> "SearchSpace":
        """Drop the ImageNet family for images below its 32-pixel minimum."""
        if side < 32 and "imagenet" in self.families:
            if self.families == ("imagenet",):
                raise ValueError(f"The ImageNet nets need images of >= 32 px; these are {side} px. "
                                 "Search the cifar family or pass --image_size=32.")
            return dataclasses.replace(self, families=tuple(f for f in self.families if f != "imagenet"))
        return self


@dataclasses.dataclass
class TuneConfig(RunSettings):
    """A search; `scripts/tune.py` fills it from flags (the space's flags from `SearchSpace`)."""

    batch_size: int = setting(128, "Global batch size.", check=at_least(1))
    epochs: int = setting(3, "Epochs per trial (hyperband: the most any trial gets).", check=at_least(1))
    tuner: str = setting("random", "keras-tuner algorithm.", choices=TUNERS)
    max_trials: int = setting(10, "Trials to run (random, bayesian).", check=at_least(1))
    executions_per_trial: int = setting(1, "Models trained per trial (scores averaged).", check=at_least(1))
    objective: str = setting("val_accuracy", "What the search maximises or minimises.",
                             choices=tuple(OBJECTIVES))
    space: SearchSpace = dataclasses.field(default_factory=SearchSpace, metadata=dict(flag=False))

    def __post_init__(self):
        if self.model_dir is None:
            self.model_dir = f"runs/tune_{self.dataset}"

    def identity(self) -> dict:
        """The settings that shape the search's trials: a relaunch must match them to resume it.

        --max_trials is left out: a relaunch may extend a search.
        """
        return dict(
            dataset=self.dataset, tuner=self.tuner, batch_size=self.batch_size, epochs=self.epochs,
            executions_per_trial=self.executions_per_trial, objective=self.objective, seed=self.seed,
            validation_split=self.validation_split, max_train_examples=self.max_train_examples,
            max_test_examples=self.max_test_examples,
            **{f"space.{k}": list(v) if isinstance(v, tuple) else v
               for k, v in dataclasses.asdict(self.space).items()})


def validate(config) -> None:
    """Run every field's choices and check; raise the first ValueError."""
    for field in dataclasses.fields(config):
        value = getattr(config, field.name)
        if value is None or not field.metadata:
            continue
        choices = field.metadata.get("choices")
        if choices and value not in choices:
            raise ValueError(f"Unknown {field.name} {value!r}; known: {', '.join(map(str, choices))}")
        check = field.metadata.get("check")
        if check is not None:
            check(field.name, value)


EXPERIMENTS = ("degradation", "responses", "lesion", "table6")
# The default budget of degradation, responses and lesion, sized so that the
# 8 default nets (plain and residual 20/32/44/56) train within 45 minutes on
# 2 CPU cores (docs/REPRODUCTION.md has the measured time). Table 6 defaults
# to its recipe's length (the paper's 64k iterations) on all the data.
# Deep nets at lr 0.1 diverge in their first steps and do not recover within
# a short budget (docs/REPRODUCTION.md), so every depth ramps up over the
# first epoch (78 steps of 10,000 images at batch 128), as Goyal et al. do.
REPRODUCE_BUDGET = dict(epochs=4, max_train_examples=10_000, max_test_examples=2_000, warmup_steps=78)


def _cifar_depths(name, value):
    for depth in value:
        if depth < 8 or (depth - 2) % 6:
            raise ValueError(f"--{name} takes CIFAR depths 6n+2 (8, 14, 20, 26, 32, ...). Received: {name}="
                             f"{','.join(map(str, value))}")


@dataclasses.dataclass
class ReproduceConfig(RunSettings):
    """The paper's experiments (`keras_resnet.experiments`); `scripts/reproduce.py` fills it from flags.

    The budget fields left as None take the experiment's default: a short
    budget for degradation/responses/lesion, the recipe's 64k iterations
    for table6 (see `keras_resnet.experiments.budget`).
    """

    experiment: str = setting("degradation", "degradation, responses, lesion or table6.", choices=EXPERIMENTS,
                              flag=False)
    model_dir: Optional[str] = setting(None, "Where the nets (a run directory each) and the figures and numbers "
                                       "go; default runs/reproduce_<dataset>.")
    depths: tuple = setting((20, 32, 44, 56), "CIFAR depths 6n+2: each is trained as plain<d> and resnet<d> "
                            "(table6: resnet<d> only).", check=_cifar_depths)
    recipe: str = setting("cifar", "Training recipe of every net (see scripts/train.py --recipe).",
                          choices=tuple(RECIPES))
    train_steps: Optional[int] = setting(None, "Total training steps per net (overrides --epochs).",
                                         check=at_least(1))
    dtype: str = setting("float32", "float32, mixed_bfloat16, mixed_float16 or auto (see scripts/train.py).",
                         choices=DTYPES)
    validation_split: float = setting(0.0, "Fraction of the training images held out (the paper trains on all "
                                      "of them and reports test error).", check=_fraction)
    epochs: Optional[int] = setting(None, f"Epochs per net; default {REPRODUCE_BUDGET['epochs']} (table6: the "
                                    "recipe's length).", check=at_least(1))
    max_train_examples: Optional[int] = setting(None, "Training images per net; default "
                                                f"{REPRODUCE_BUDGET['max_train_examples']} (table6: all).",
                                                check=at_least(1))
    max_test_examples: Optional[int] = setting(None, "Test images; default "
                                               f"{REPRODUCE_BUDGET['max_test_examples']} (table6: all).",
                                               check=at_least(1))
    warmup_steps: Optional[int] = setting(None, "A linear learning-rate warm-up over this many steps for every "
                                          f"net; default {REPRODUCE_BUDGET['warmup_steps']} (table6: the "
                                          "recipe's, the paper's 0.01 for 400 steps on depth >= 110).",
                                          check=at_least(0))
    lesion_depth: int = setting(56, "lesion: the depth whose plain and residual nets lose blocks (one of "
                                "--depths).", check=at_least(8))
    lesion_max_deleted: int = setting(8, "lesion: delete up to this many blocks at random.", check=at_least(1))
    lesion_draws: int = setting(3, "lesion: random draws for each number of deleted blocks.", check=at_least(1))
    eval_examples: Optional[int] = setting(None, "responses and lesion: test images each measurement uses; "
                                           "default all of the (--max_test_examples) test set.", check=at_least(1))

    def __post_init__(self):
        if self.model_dir is None:
            self.model_dir = f"runs/reproduce_{self.dataset}"


BENCHMARK_TASKS = ("inference", "train", "latency", "pipeline", "batchnorm", "profile")


def _one_or_more_of(choices: tuple) -> Callable:
    def check(name, value):
        if not value or any(item not in choices for item in value):
            raise ValueError(f"--{name} takes one or more of {', '.join(choices)}. Received: "
                             f"{name}={','.join(value)}")
    return check


def _threads(name, value):
    if not value or any(threads < 1 for threads in value):
        raise ValueError(f"--{name} takes thread counts >= 1. Received: {name}={','.join(map(str, value))}")


@dataclasses.dataclass
class BenchmarkConfig:
    """A benchmark (`keras_resnet.benchmark`); `scripts/benchmark.py` fills it from flags."""

    model: str = setting("resnet50", "A name of keras_resnet.list_models(); keras.applications' counterpart "
                         "(ResNet50/101/152, their V2) is measured beside it in the same run.", check=_model)
    batch_size: int = setting(32, "Images per step (inference and training).", check=at_least(1))
    image_size: Optional[int] = setting(None, "Input side; default the model's (224 for the ImageNet nets).",
                                        check=at_least(1))
    tasks: tuple = setting(("inference", "train"), "What to measure: inference, train (a training step), "
                           "latency (batch-1 latency of the four LiteRT files, the ONNX file on ONNX Runtime and "
                           "the TensorFlow graph), pipeline (the training input "
                           "pipeline on --dataset against a training step on synthetic tensors), batchnorm (the "
                           "normalisation layer alone, fused kernel against Keras's, on 56x56x64 activations), profile (a "
                           "tf.profiler trace of each subject's training step, its op time charged by op type and by "
                           "layer class; CPU only).",
                           check=_one_or_more_of(BENCHMARK_TASKS))
    dtypes: tuple = setting(("float32",), "Dtype policies: float32, mixed_bfloat16, mixed_float16 (GPU), auto.",
                            check=_one_or_more_of(DTYPES))
    xla: bool = setting(False, "Also measure every model task with XLA (jit_compile=True).")
    stride_in_1x1: bool = setting(True, "Also measure keras_resnet with the stride on the 1x1 (Caffe's "
                                  "placement, keras.applications' multiply-adds).")
    keras_batchnorm: bool = setting(False, "Also measure keras_resnet's net with Keras's own BatchNormalization "
                                    "in place of its fused-kernel layer (what the fused kernel gains).")
    warmup_rounds: int = setting(1, "Untimed rounds first (tracing, compilation, caches).", check=at_least(0))
    rounds: int = setting(5, "Timed rounds; the median is reported. Subjects alternate round by round.",
                          check=at_least(1))
    steps_per_round: int = setting(3, "Batches in a round.", check=at_least(1))
    threads: tuple = setting((1, 2), "latency: LiteRT's and ONNX Runtime's threads.", check=_threads)
    dataset: str = setting("fashion_mnist", "pipeline: the data set whose training pipeline is timed (checked "
                           "with --tasks=pipeline).")
    data_dir: Optional[str] = setting(None, "pipeline: where the data set is (see scripts/train.py).")
    augmentation: str = setting("cifar", "pipeline: the training augmentation.", choices=AUGMENTATIONS)
    output: str = setting("benchmark.json", "The JSON report; a markdown table is written beside it (.md).")
