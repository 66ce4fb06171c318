"""Hyperparameter search with keras-tuner over what the paper varies.

`ResNetHyperModel` searches the family and depth (CIFAR 6n+2 or an ImageNet
depth), the shortcut option, the stride placement, the width, SGD's learning
rate, momentum and weight decay, label smoothing and augmentation on/off.
`scripts/tune.py` parses flags into a `TuneConfig` and calls `search`.
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Optional

import keras
import keras_tuner
import numpy as np

from keras_resnet import data as data_lib
from keras_resnet import models, recipes, specs, training

TUNERS = ("random", "bayesian", "hyperband")
OBJECTIVES = {"val_accuracy": "max", "val_loss": "min", "accuracy": "max", "loss": "min"}
FAMILIES = ("cifar", "imagenet")


@dataclasses.dataclass(frozen=True)
class SearchSpace:
    """Ranges searched; every one can be overridden.

    Numeric ranges are (min, max) and may be equal to fix a value; choices
    are non-empty tuples. `cifar_n` is n of depth 6n+2 (step `cifar_n_step`).
    """

    families: tuple = ("cifar",)
    cifar_n: tuple = (1, 9)
    cifar_n_step: int = 2
    imagenet_depths: tuple = (18, 34, 50)
    shortcuts: tuple = ("A", "B")
    stride_in_1x1: tuple = (False, True)
    width_multiplier: tuple = (1.0, 2.0)
    learning_rate: tuple = (0.01, 0.3)
    momentum: tuple = (0.85, 0.95)
    weight_decay: tuple = (1e-5, 1e-3)
    label_smoothing: tuple = (0.0, 0.1)
    augmentation: tuple = (True, False)

    def validate(self) -> None:
        """Raise a ValueError for an empty or inverted range or an unknown choice."""
        for name in ("cifar_n", "width_multiplier", "learning_rate", "momentum", "weight_decay",
                     "label_smoothing"):
            value = getattr(self, name)
            if len(value) != 2 or value[0] > value[1]:
                raise ValueError(f"{name} must be a (min, max) range with min <= max. Received: {name}={value}")
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


def _range(hp, name, bounds, **kwargs):
    low, high = bounds
    if low == high:
        return hp.Fixed(name, low)
    return hp.Float(name, low, high, **kwargs)


def _boolean(hp, name, options):
    if len(set(options)) == 2:
        return hp.Boolean(name)
    return hp.Fixed(name, bool(options[0]))


class ResNetHyperModel(keras_tuner.HyperModel):
    """Builds and trains keras_resnet networks from hyperparameters.

    Args:
        input_shape: (H, W, C) of the images given to the model (0-255).
        classes: number of classes.
        mean: per-pixel mean for the model's preprocessing layer.
        total_steps: training steps per trial (cosine schedule length).
        space: the `SearchSpace`.
        train_data: {True: augmented, False: plain} training pipelines; the
            `augmentation` hyperparameter picks one in `fit`.
    """

    def __init__(self, input_shape, classes: int, mean: np.ndarray, total_steps: int,
                 space: SearchSpace = SearchSpace(), train_data: Optional[dict] = None, **kwargs):
        super().__init__(**kwargs)
        space.validate()
        self.input_shape = tuple(input_shape)
        self.classes = classes
        self.mean = mean
        self.total_steps = max(1, total_steps)
        self.space = space.for_image_size(min(self.input_shape[:2]))
        self.train_data = train_data or {}

    def model_name(self, hp) -> str:
        family = hp.Choice("family", list(self.space.families))
        if family == "cifar":
            with hp.conditional_scope("family", ["cifar"]):
                low, high = self.space.cifar_n
                n = hp.Int("cifar_n", low, high, step=self.space.cifar_n_step) if low < high \
                    else hp.Fixed("cifar_n", low)
            return f"resnet{6 * n + 2}"
        with hp.conditional_scope("family", ["imagenet"]):
            depth = hp.Choice("imagenet_depth", list(self.space.imagenet_depths))
        return f"resnet{depth}"

    def build(self, hp) -> keras.Model:
        name = self.model_name(hp)
        spec = specs.get_spec(name)
        shortcut = hp.Choice("shortcut", list(self.space.shortcuts))
        stride_in_1x1 = False
        if spec.block == specs.BOTTLENECK:
            stride_in_1x1 = _boolean(hp, "stride_in_1x1", self.space.stride_in_1x1)
        width = _range(hp, "width_multiplier", self.space.width_multiplier, step=0.5)
        lr = _range(hp, "learning_rate", self.space.learning_rate, sampling="log")
        momentum = _range(hp, "momentum", self.space.momentum)
        weight_decay = _range(hp, "weight_decay", self.space.weight_decay, sampling="log")
        smoothing = _range(hp, "label_smoothing", self.space.label_smoothing)
        _boolean(hp, "augmentation", self.space.augmentation)
        model = models.build(name, input_shape=self.input_shape, classes=self.classes, shortcut=shortcut,
                             stride_in_1x1=stride_in_1x1, width_multiplier=width, mean=self.mean)
        recipes.apply_weight_decay(model, weight_decay)
        model.compile(
            optimizer=keras.optimizers.SGD(
                keras.optimizers.schedules.CosineDecay(lr, self.total_steps), momentum=momentum, nesterov=True),
            loss=keras.losses.CategoricalCrossentropy(label_smoothing=smoothing),
            metrics=[keras.metrics.CategoricalAccuracy(name="accuracy")],
        )
        return model

    def fit(self, hp, model, *args, **kwargs):
        if self.train_data:
            args = (self.train_data[bool(hp.get("augmentation"))],) + tuple(args[1:])
        return model.fit(*args, **kwargs)


@dataclasses.dataclass
class TuneConfig:
    """A search; `scripts/tune.py` fills it from flags."""

    dataset: str = "fashion_mnist"
    data_dir: Optional[str] = None
    model_dir: str = "runs/tune_fashion_mnist"
    tuner: str = "random"
    max_trials: int = 10
    executions_per_trial: int = 1
    objective: str = "val_accuracy"
    epochs: int = 3
    batch_size: int = 128
    strategy: str = "default"
    num_gpus: Optional[int] = None
    seed: int = 0
    validation_split: float = 0.1
    max_train_examples: Optional[int] = None
    max_test_examples: Optional[int] = None
    download: bool = True
    space: SearchSpace = dataclasses.field(default_factory=SearchSpace)
    verbose: int = 1


def validate(config: TuneConfig) -> None:
    """Check the search's flags before any data is read or any trial runs."""
    if config.tuner not in TUNERS:
        raise ValueError(f"Unknown tuner {config.tuner!r}; known: {', '.join(TUNERS)}")
    if config.objective not in OBJECTIVES:
        raise ValueError(f"Unknown objective {config.objective!r}; known: {', '.join(OBJECTIVES)}")
    for key in ("max_trials", "executions_per_trial", "epochs", "batch_size"):
        if getattr(config, key) < 1:
            raise ValueError(f"--{key} must be >= 1. Received: {key}={getattr(config, key)}")
    if config.objective.startswith("val_") and not 0 < config.validation_split < 1:
        raise ValueError(f"Objective {config.objective} needs a validation split in (0, 1). "
                         f"Received: validation_split={config.validation_split}")
    if config.strategy not in training.STRATEGIES:
        raise ValueError(f"Unknown strategy {config.strategy!r}; known: {', '.join(training.STRATEGIES)}")
    config.space.validate()
    data_lib.check_dataset_name(config.dataset)


def make_tuner(config: TuneConfig, hypermodel: ResNetHyperModel, strategy=None) -> keras_tuner.Tuner:
    """The keras-tuner tuner; `overwrite=False`, so a relaunch resumes the search."""
    common = dict(
        objective=keras_tuner.Objective(config.objective, OBJECTIVES[config.objective]),
        executions_per_trial=config.executions_per_trial,
        directory=config.model_dir,
        project_name="search",
        overwrite=False,
        seed=config.seed,
        distribution_strategy=strategy,
    )
    if config.tuner == "hyperband":
        return keras_tuner.Hyperband(hypermodel, max_epochs=config.epochs, factor=3,
                                     hyperband_iterations=1, **common)
    cls = keras_tuner.RandomSearch if config.tuner == "random" else keras_tuner.BayesianOptimization
    return cls(hypermodel, max_trials=config.max_trials, **common)


def trials_table(tuner: keras_tuner.Tuner, objective: str) -> str:
    """One line per finished trial, best first."""
    trials = tuner.oracle.get_best_trials(num_trials=10_000)
    keys = sorted({k for t in trials for k in t.hyperparameters.values})
    lines = ["trial | " + objective + " | " + " | ".join(keys)]
    for t in trials:
        score = "-" if t.score is None else f"{t.score:.4f}"
        values = [f"{v:.4g}" if isinstance(v, float) else str(v)
                  for v in (t.hyperparameters.values.get(k, "") for k in keys)]
        lines.append(f"{t.trial_id} | {score} | " + " | ".join(values))
    return "\n".join(lines)


def search(config: TuneConfig, strategy=None) -> dict:
    """Run (or resume) a search, then save the best model for scripts/export.py.

    Writes `model_dir/best_hyperparameters.json`, `model_dir/trials.txt` and
    `model_dir/best/` (final.keras, run.json, labels.txt: a train.py-style
    model_dir).

    Returns:
        A dict with the best hyperparameters, its score, the trials table,
        the number of trials, and the best model.
    """
    validate(config)
    if strategy is None and config.strategy != "default":
        strategy = training.make_strategy(config.strategy, config.num_gpus)
    replicas = strategy.num_replicas_in_sync if strategy is not None else 1
    if config.batch_size % replicas:
        raise ValueError(f"--batch_size={config.batch_size} must divide evenly over the {replicas} replicas")
    keras.utils.set_random_seed(config.seed)
    os.makedirs(config.model_dir, exist_ok=True)
    train_config = training.TrainConfig(
        model="resnet20", dataset=config.dataset, data_dir=config.data_dir, model_dir=config.model_dir,
        batch_size=config.batch_size, seed=config.seed, validation_split=config.validation_split,
        max_train_examples=config.max_train_examples, max_test_examples=config.max_test_examples,
        download=config.download)
    prepared = training.prepare_data(train_config, specs.get_spec("resnet20"), config.batch_size)
    source, image_size, mean, num_train = prepared.source, prepared.image_size, prepared.mean, prepared.num_train
    augmented, plain = prepared.train_pipeline("cifar"), prepared.train_pipeline("none")
    val_ds, test_ds = prepared.val_ds, prepared.test_ds
    steps_per_epoch = max(1, num_train // config.batch_size)
    hypermodel = ResNetHyperModel(
        tuple(image_size) + (int(mean.shape[-1]),), source.num_classes, mean, steps_per_epoch * config.epochs,
        config.space, train_data={True: augmented, False: plain})
    tuner = make_tuner(config, hypermodel, strategy)
    tuner.search(augmented, epochs=config.epochs, steps_per_epoch=steps_per_epoch, validation_data=val_ds,
                 verbose=config.verbose)
    best_hp = tuner.get_best_hyperparameters(1)[0]
    best_trial = tuner.oracle.get_best_trials(1)[0]
    best_model = tuner.get_best_models(1)[0]
    table = trials_table(tuner, config.objective)
    with open(os.path.join(config.model_dir, "best_hyperparameters.json"), "w") as f:
        json.dump({"score": best_trial.score, "objective": config.objective,
                   "model": hypermodel.model_name(best_hp.copy()), "values": best_hp.values}, f, indent=2)
    with open(os.path.join(config.model_dir, "trials.txt"), "w") as f:
        f.write(table + "\n")
    best_dir = os.path.join(config.model_dir, "best")
    os.makedirs(best_dir, exist_ok=True)
    best_model.save(os.path.join(best_dir, "final.keras"))
    test_loss, test_accuracy = best_model.evaluate(test_ds, verbose=0)
    with open(os.path.join(best_dir, "run.json"), "w") as f:
        json.dump({"model": hypermodel.model_name(best_hp.copy()), "dataset": config.dataset,
                   "data_dir": os.path.abspath(config.data_dir) if config.data_dir else None,
                   "class_names": list(source.class_names), "hyperparameters": best_hp.values,
                   "test_accuracy": float(test_accuracy)}, f, indent=2)
    with open(os.path.join(best_dir, "labels.txt"), "w") as f:
        f.write("\n".join(source.class_names) + "\n")
    return dict(best_hyperparameters=best_hp.values, score=best_trial.score, table=table,
                num_trials=len(tuner.oracle.trials), model=best_model, test_accuracy=float(test_accuracy),
                test_loss=float(test_loss), best_dir=best_dir)
