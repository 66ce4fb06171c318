"""A search's settings (`TuneConfig`) and the ranges it searches (`SearchSpace`), without TensorFlow.

`keras-resnet tune` defines its flags from these fields and parses them before
TensorFlow or keras-tuner is imported; `keras_resnet.search.tuning` runs the search.
"""

from __future__ import annotations

import dataclasses
from typing import Optional

from keras_resnet.arch import specs
from keras_resnet.settings import at_least, positive, setting
from keras_resnet.train.budget import parse_duration
from keras_resnet.train.config import RunSettings, time_budget_setting
from keras_resnet.train.precision import DTYPES, XLA_MODES

# A process's part in a distributed search (`keras_resnet.search.cluster`): --role takes CHIEF or WORKER;
# a process without one runs the search alone or as a local chief.
SINGLE, CHIEF, WORKER = "single", "chief", "worker"
ROLES = (CHIEF, WORKER)

__all__ = ["CHIEF", "LAYOUTS", "OBJECTIVES", "ROLES", "SINGLE", "TUNERS", "WORKER", "SearchSpace", "TuneConfig"]

TUNERS = ("random", "bayesian", "hyperband")
OBJECTIVES = {"val_accuracy": "max", "val_loss": "min", "accuracy": "max", "loss": "min"}
LAYOUTS = ("cifar", "imagenet")
# Epochs a trial trains without --epochs or --time_budget.
TRIAL_EPOCHS = 3


@dataclasses.dataclass(frozen=True)
class SearchSpace:
    """Ranges searched; every one can be overridden.

    Numeric ranges are (min, max) and may be equal to fix a value; choices
    are non-empty tuples. `cifar_n` is n of depth 6n+2 (step `cifar_n_step`).
    """

    layouts: tuple = setting(("cifar",), "cifar (section 4.2's 6n+2 nets) and/or imagenet (Table 1's nets, images "
                             ">= 32 px).")
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

    def __post_init__(self):
        object.__setattr__(self, "shortcuts", tuple(str(s).upper() for s in self.shortcuts))

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
        for name in ("layouts", "imagenet_depths", "shortcuts", "stride_in_1x1", "augmentation"):
            if not getattr(self, name):
                raise ValueError(f"{name} is empty: give at least one choice.")
        bad = [f for f in self.layouts if f not in LAYOUTS]
        if bad:
            raise ValueError(f"Unknown layouts {bad}; known: {', '.join(LAYOUTS)}")
        bad = [d for d in self.imagenet_depths if d not in specs.IMAGENET_DEPTHS]
        if bad:
            raise ValueError(f"Unknown ImageNet depths {bad}; known: {sorted(specs.IMAGENET_DEPTHS)}")
        bad = [s for s in self.shortcuts if s not in specs.SHORTCUT_OPTIONS]
        if bad:
            raise ValueError(f"Unknown shortcut options {bad}; known: A, B, C")

    def for_image_size(self, side: int) -> "SearchSpace":
        """Drop the ImageNet layout for images below its 32-pixel minimum."""
        if side < 32 and "imagenet" in self.layouts:
            if self.layouts == ("imagenet",):
                raise ValueError(f"The ImageNet nets need images of >= 32 px; these are {side} px. "
                                 "Search the cifar layout or pass --image_size=32.")
            return dataclasses.replace(self, layouts=tuple(f for f in self.layouts if f != "imagenet"))
        return self


@dataclasses.dataclass
class TuneConfig(RunSettings):
    """A search; `keras-resnet tune` fills it from flags (the space's flags from `SearchSpace`)."""

    batch_size: int = setting(128, "Global batch size.", check=at_least(1))
    epochs: Optional[int] = setting(None, f"Epochs per trial (hyperband: the most any trial gets); default "
                                    f"{TRIAL_EPOCHS} without --time_budget.", check=at_least(1))
    time_budget: Optional[str] = time_budget_setting("each trial, its measurement and build "
                                                     "included; random and bayesian tuners")
    tuner: str = setting("random", "keras-tuner algorithm.", choices=TUNERS)
    max_trials: int = setting(10, "Trials to run (random, bayesian).", check=at_least(1))
    executions_per_trial: int = setting(1, "Models trained per trial (scores averaged).", check=at_least(1))
    objective: str = setting("val_accuracy", "What the search maximises or minimises.",
                             choices=tuple(OBJECTIVES))
    dtype: str = setting("auto", "Each trial's dtype policy, as train's --dtype: auto is measured on "
                         "the trial's own model (trials of 200 steps or more), cached per network.",
                         choices=DTYPES)
    xla: str = setting("auto", "Each trial's XLA compilation, as train's --xla.",
                       choices=XLA_MODES)
    trial_retries: int = setting(1, "Times a trial is run again when its worker is lost or it fails.",
                                 check=at_least(0))
    workers: int = setting(0, "Worker processes to start on this machine, each on its share of the cores (or of "
                           "the GPUs), running trials for this search's chief; 0 runs every trial in this process.",
                           check=at_least(0))
    role: Optional[str] = setting(None, "chief: serve the search at --oracle to workers on other machines (and to "
                                  "--workers here); worker: run trials for the chief at --oracle. Default: from "
                                  "keras-tuner's KERASTUNER_* variables where they are set, else a chief on "
                                  "127.0.0.1 for --workers.", choices=ROLES)
    oracle: Optional[str] = setting(None, "HOST:PORT the chief serves on (--role=chief) or a worker reaches "
                                    "(--role=worker).")
    advertise: Optional[str] = setting(None, "The host name or address workers on other machines reach this chief "
                                       "at (--role=chief), which its first line prints in the --oracle to give "
                                       "them; default the --oracle host, or this machine's host name when the "
                                       "chief serves on every interface (0.0.0.0).")
    worker_id: Optional[str] = setting(None, "This worker's id (--role=worker; default the host name). A worker "
                                       "relaunched with the same id takes back the trial it was running.")
    worker_timeout: float = setting(60.0, "Seconds a worker may stay silent (it calls every 2 s) before the chief "
                                    "gives its trial to another worker.", check=positive)
    chief_timeout: float = setting(600.0, "Seconds a worker waits for its chief to answer (at its start, or while a "
                                   "killed chief is relaunched) before it stops.", check=positive)
    space: SearchSpace = dataclasses.field(default_factory=SearchSpace, metadata=dict(flag=False))

    def __post_init__(self):
        if self.model_dir is None:
            self.model_dir = f"runs/tune_{self.dataset}"
        if self.epochs is None and self.time_budget is None:
            self.epochs = TRIAL_EPOCHS

    def identity(self) -> dict:
        """The settings that shape the search's trials: a relaunch must match them to resume it.

        --max_trials is left out: a relaunch may extend a search; so are the
        workers and their roles, which share out the same trials.
        """
        return dict(
            dataset=self.dataset, tuner=self.tuner, batch_size=self.batch_size, epochs=self.epochs,
            time_budget=parse_duration(self.time_budget) if self.time_budget is not None else None,
            executions_per_trial=self.executions_per_trial, objective=self.objective, seed=self.seed,
            validation_split=self.validation_split, max_train_examples=self.max_train_examples,
            max_test_examples=self.max_test_examples,
            **{f"space.{k}": list(v) if isinstance(v, tuple) else v
               for k, v in dataclasses.asdict(self.space).items()})
