"""The Keras schedules and optimizers a recipe resolved for a run makes (`keras_resnet.train.recipes`), and the compile.

Their classes are registered, so a `.keras` file of a run in training loads
with its optimizer.
"""

from __future__ import annotations

import keras

from keras_resnet.arch.layers import CLASSIFIER
from keras_resnet.train.recipes import Recipe, RunRecipe


@keras.saving.register_keras_serializable(package="keras_resnet")
class Warmup(keras.optimizers.schedules.LearningRateSchedule):
    """`schedule` after `warmup_steps` of a constant or linear warm-up.

    Args:
        schedule: the schedule after warm-up (called with the global step).
        warmup_steps: warm-up length.
        mode: "constant" (hold `warmup_learning_rate`) or "linear" (ramp from
            0 to the schedule's value at `warmup_steps`).
        warmup_learning_rate: the constant warm-up rate.
    """

    def __init__(self, schedule, warmup_steps: int, mode: str = "linear",
                 warmup_learning_rate: float = 0.0):
        if mode not in ("constant", "linear"):
            raise ValueError(f"Warm-up mode must be 'constant' or 'linear'. Received: mode={mode!r}")
        self.schedule = schedule
        self.warmup_steps = int(warmup_steps)
        self.mode = mode
        self.warmup_learning_rate = float(warmup_learning_rate)

    def __call__(self, step):
        step = keras.ops.cast(step, "float32")
        after = self.schedule(step)
        if self.mode == "constant":
            during = keras.ops.cast(self.warmup_learning_rate, "float32")
        else:
            target = self.schedule(float(self.warmup_steps))
            during = target * (step + 1.0) / float(max(self.warmup_steps, 1))
        return keras.ops.where(step < self.warmup_steps, during, after)

    def get_config(self):
        return dict(
            schedule=keras.saving.serialize_keras_object(self.schedule),
            warmup_steps=self.warmup_steps,
            mode=self.mode,
            warmup_learning_rate=self.warmup_learning_rate,
        )

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["schedule"] = keras.saving.deserialize_keras_object(config["schedule"])
        return cls(**config)


def make_schedule(recipe: Recipe, run_recipe: RunRecipe) -> keras.optimizers.schedules.LearningRateSchedule:
    """The learning-rate schedule of `recipe` for one run (`run_recipe`)."""
    if recipe.schedule == "cosine":
        return keras.optimizers.schedules.CosineDecay(
            initial_learning_rate=0.0 if run_recipe.warmup_steps else run_recipe.learning_rate,
            decay_steps=max(1, run_recipe.total_steps - run_recipe.warmup_steps),
            warmup_target=run_recipe.learning_rate if run_recipe.warmup_steps else None,
            warmup_steps=run_recipe.warmup_steps,
        )
    values = [run_recipe.learning_rate * recipe.decay_factor ** i for i in range(len(run_recipe.boundaries) + 1)]
    schedule = keras.optimizers.schedules.PiecewiseConstantDecay(list(run_recipe.boundaries), values)
    if run_recipe.warmup_steps:
        return Warmup(schedule, run_recipe.warmup_steps, run_recipe.warmup, recipe.warmup_learning_rate)
    return schedule


@keras.saving.register_keras_serializable(package="keras_resnet")
class FinetuneSGD(keras.optimizers.SGD):
    """SGD that trains the classifier first, then the backbone at a lower rate.

    The backbone's (every variable outside `head`) learning rate is 0 for the
    first `head_steps` iterations and `backbone_factor` times the schedule's
    after: one optimizer and one `fit`, so a killed run resumes mid-phase from
    the optimizer's own step count. With momentum starting at 0, a zero rate
    leaves those weights exactly as loaded (their batch-norm statistics still
    follow the new data unless the layers are frozen).

    Args:
        head_steps: iterations that train the classifier only.
        backbone_factor: the backbone's rate relative to the classifier's.
        head: the classifier layer's name.
        **kwargs: those of `keras.optimizers.SGD`.
    """

    def __init__(self, head_steps: int = 0, backbone_factor: float = 1.0, head: str = CLASSIFIER, **kwargs):
        super().__init__(**kwargs)
        self.head_steps = int(head_steps)
        self.backbone_factor = float(backbone_factor)
        self.head = head

    def build(self, variables):
        super().build(variables)
        # Backends hand update_step their own variable objects: remember the backbone's by key.
        self._backbone = {self._var_key(v) for v in variables if not v.path.startswith(self.head + "/")}

    def update_step(self, gradient, variable, learning_rate):
        if self._var_key(variable) in self._backbone:
            learning_rate = keras.ops.convert_to_tensor(learning_rate)
            factor = keras.ops.where(self.iterations < self.head_steps, 0.0, self.backbone_factor)
            learning_rate = learning_rate * keras.ops.cast(factor, learning_rate.dtype)
        return super().update_step(gradient, variable, learning_rate)

    def get_config(self):
        config = super().get_config()
        config.update(head_steps=self.head_steps, backbone_factor=self.backbone_factor, head=self.head)
        return config


def make_optimizer(recipe: Recipe, run_recipe: RunRecipe) -> keras.optimizers.Optimizer:
    """SGD with momentum on the recipe's schedule (weight decay is a loss term)."""
    settings = dict(learning_rate=make_schedule(recipe, run_recipe), momentum=recipe.momentum,
                    nesterov=recipe.nesterov)
    if recipe.finetunes:
        return FinetuneSGD(head_steps=round(recipe.head_fraction * run_recipe.total_steps),
                           backbone_factor=recipe.backbone_learning_rate_factor, **settings)
    return keras.optimizers.SGD(**settings)


def relay_schedule(optimizer: keras.optimizers.Optimizer, recipe: Recipe, run_recipe: RunRecipe) -> None:
    """Lay `recipe`'s schedule over `run_recipe` on an optimizer in training (a budget's corrected plan); its state
    (step count, momentum) stays. The model's train function must be made again to trace the new schedule."""
    optimizer.learning_rate = make_schedule(recipe, run_recipe)
    if isinstance(optimizer, FinetuneSGD):
        optimizer.head_steps = round(recipe.head_fraction * run_recipe.total_steps)


def apply_weight_decay(model: keras.Model, weight_decay: float) -> None:
    """Add L2 weight decay on every conv and dense kernel of `model`.

    As in Caffe, the decay is part of the gradient (and so of the momentum):
    the loss gains weight_decay / 2 * ||W||^2. Keras's optimizer
    `weight_decay` is decoupled from the momentum, a different algorithm.
    BN parameters and biases are not decayed.
    """
    if weight_decay < 0:
        raise ValueError(f"weight_decay must be >= 0. Received: weight_decay={weight_decay}")
    if not weight_decay:
        return
    for layer in model.layers:
        if isinstance(layer, (keras.layers.Conv2D, keras.layers.Dense)):
            layer.kernel.regularizer = keras.regularizers.L2(weight_decay / 2)


def compile_model(model: keras.Model, optimizer: keras.optimizers.Optimizer, weight_decay: float,
                  label_smoothing: float = 0.0, jit_compile: bool = False) -> keras.Model:
    """Compile a classifier as training and tuning both do.

    Caffe's coupled weight decay, cross-entropy on one-hot labels with
    `label_smoothing`, and top-1 accuracy reported as "accuracy".

    Returns:
        `model`, compiled.
    """
    apply_weight_decay(model, weight_decay)
    model.compile(
        optimizer=optimizer,
        loss=keras.losses.CategoricalCrossentropy(label_smoothing=label_smoothing),
        metrics=[keras.metrics.CategoricalAccuracy(name="accuracy")],
        jit_compile=bool(jit_compile),
    )
    return model
