"""The search space as a keras-tuner hypermodel: a trial's network, its training configuration and its budget.

`ResNetHyperModel` searches the layout and depth (CIFAR 6n+2 or an ImageNet depth), the shortcut option, the
stride placement, the width, SGD's learning rate, momentum and weight decay, label smoothing and augmentation
on/off; each trial's dtype and XLA setting are measured on its own network where they are "auto", and a budgeted
trial plans its steps from its own step and corrects them once (`keras_resnet.train.budget`).
"""

from __future__ import annotations

import logging
import time
from typing import Callable, Optional

import keras
import keras_tuner
import numpy as np

from keras_resnet import factory
from keras_resnet.arch import specs
from keras_resnet.search.config import SearchSpace
from keras_resnet.train import autotune, budget, optimizers, precision, timed_fit

log = logging.getLogger("keras_resnet")

__all__ = ["ResNetHyperModel"]


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
        total_steps: training steps per trial (cosine schedule length), without a time budget.
        space: the `SearchSpace`.
        train_data: {True: augmented, False: plain} training pipelines; the
            `augmentation` hyperparameter picks one in `fit`.
        dtype: each trial's dtype policy; "auto" is measured per trial
            (`keras_resnet.train.autotune`, as a training run's).
        xla: each trial's XLA compilation: "on", "off" or "auto".
        batch_size: the trials' batch (what a measurement steps on).
        time_budget: seconds each trial trains to (`keras_resnet.train.budget`):
            its steps planned from its own measured step, from the start of its build,
            corrected once after its first epoch.
        steps_per_epoch: an epoch's steps (needed with `time_budget`).
        clock: the budget's clock (injected by tests).
    """

    def __init__(self, input_shape, classes: int, mean: np.ndarray, total_steps: int,
                 space: SearchSpace = SearchSpace(), train_data: Optional[dict] = None, dtype: str = "float32",
                 xla: str = "off", batch_size: int = 128, time_budget: Optional[float] = None,
                 steps_per_epoch: Optional[int] = None, clock: Callable[[], float] = time.monotonic, **kwargs):
        super().__init__(**kwargs)
        self.dtype, self.xla, self.batch_size = dtype, xla, batch_size
        self.time_budget, self.steps_per_epoch, self.clock = time_budget, steps_per_epoch, clock
        self.plan: Optional[budget.BudgetPlan] = None  # the budget of the trial built last, which `fit` trains
        self._began = None
        space.validate()
        self.input_shape = tuple(input_shape)
        self.classes = classes
        self.mean = mean
        self.total_steps = max(1, total_steps)
        self.space = space.for_image_size(min(self.input_shape[:2]))
        self.train_data = train_data or {}

    def model_name(self, hp) -> str:
        layout = hp.Choice("layout", list(self.space.layouts))
        if layout == "cifar":
            with hp.conditional_scope("layout", ["cifar"]):
                low, high = self.space.cifar_n
                n = hp.Int("cifar_n", low, high, step=self.space.cifar_n_step) if low < high \
                    else hp.Fixed("cifar_n", low)
            return f"resnet{6 * n + 2}"
        with hp.conditional_scope("layout", ["imagenet"]):
            depth = hp.Choice("imagenet_depth", list(self.space.imagenet_depths))
        return f"resnet{depth}"

    def build(self, hp) -> keras.Model:
        self._began = self.clock()
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

        def make(candidate: autotune.Candidate, total_steps: Optional[int] = None) -> keras.Model:
            model = factory.build(name, input_shape=self.input_shape, classes=self.classes, shortcut=shortcut,
                                  stride_in_1x1=stride_in_1x1, width_multiplier=width, mean=self.mean,
                                  dtype=candidate.dtype, data_format="channels_last")  # the pipelines are NHWC
            optimizer = keras.optimizers.SGD(self._schedule(lr, total_steps), momentum=momentum, nesterov=True)
            return optimizers.compile_model(model, optimizer, weight_decay, smoothing, candidate.xla)

        choice = self._configuration(make, dict(model=name, shortcut=shortcut, stride_in_1x1=stride_in_1x1,
                                                width_multiplier=width))
        if self.time_budget is None:
            return make(choice.candidate)
        self.plan = budget.plan(self.time_budget, self.clock() - self._began, self.batch_size /
                                choice.images_per_second, self.steps_per_epoch, {},
                                measured="cached" if choice.how == "cached" else "measured")
        log.info("Trial of %s: %s", name, self.plan.lines()[0])
        return make(choice.candidate, self.plan.total_steps)

    def _schedule(self, learning_rate: float, total_steps: Optional[int]):
        """Cosine decay over the trial's steps; a budgeted trial's (`total_steps`) warms up linearly over its first
        epoch, so that its plan can be corrected before the decay begins."""
        if total_steps is None:
            return keras.optimizers.schedules.CosineDecay(learning_rate, self.total_steps)
        return keras.optimizers.schedules.CosineDecay(0.0, max(1, total_steps - self.steps_per_epoch),
                                                      warmup_target=learning_rate,
                                                      warmup_steps=self.steps_per_epoch)

    def _configuration(self, make, facts: dict) -> autotune.Choice:
        """The trial's dtype and XLA setting: measured on the trial's own model where "auto" leaves a choice (and
        always with a time budget, whose plan needs the step's speed)."""
        options = autotune.candidates(self.dtype, self.xla, gpu=precision.has_gpu(),
                                      native_bfloat16=precision.cpu_has_native_bfloat16())
        make_step = autotune.stepper(make, self.batch_size, self.input_shape, self.classes)
        facts = dict(facts, input_shape=list(self.input_shape), classes=self.classes, batch_size=self.batch_size)
        return autotune.resolve(options, make_step, self.batch_size, self.total_steps, facts,
                                run_seconds=self.time_budget)

    def fit(self, hp, model, *args, **kwargs):
        if self.train_data:
            args = (self.train_data[bool(hp.get("augmentation"))],) + tuple(args[1:])
        if self.plan is None:
            return model.fit(*args, **kwargs)
        plan, self.plan = self.plan, None
        kwargs.pop("epochs", None)
        kwargs.pop("steps_per_epoch", None)
        callbacks = kwargs.pop("callbacks", None) or []
        peak = hp.get("learning_rate")

        def correct(times: tuple) -> budget.BudgetPlan:
            step_seconds, end_seconds, trace_seconds = times
            corrected = budget.correct(plan, self.clock() - self._began, step_seconds, end_seconds, trace_seconds,
                                       plan.steps_per_epoch, decay_start=plan.steps_per_epoch)
            if corrected.correction["applied"]:
                with model.distribute_strategy.scope():
                    model.optimizer.learning_rate = self._schedule(peak, corrected.total_steps)
                model.make_train_function(force=True)
            log.info("Trial: %s", corrected.correction["summary"])
            return corrected

        history, _, _ = timed_fit.fit(model, args[0], plan, callbacks, lambda: self.clock() - self._began, correct,
                                      **kwargs)
        return history
