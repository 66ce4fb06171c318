"""Training recipes as data, and each resolved for one run; without Keras (`optimizers` makes their schedules).

A recipe states its schedule at a reference batch size and length, as the
paper does (CIFAR: batch 128, lr 0.1, /10 at 32k and 48k of 64k iterations).
`for_run` rescales it for a run: the learning rate linearly with the batch size,
the boundaries and warm-up in proportion to the run's length.
"""

from __future__ import annotations

import dataclasses
from typing import Optional


@dataclasses.dataclass(frozen=True)
class Recipe:
    """A training recipe.

    Attributes:
        name: registry name.
        description: one line for --help and logs.
        batch_size: reference (global) batch size.
        learning_rate: peak learning rate at `batch_size`.
        momentum, nesterov: SGD settings.
        weight_decay: L2 on conv and dense kernels (Caffe's coupled decay).
        schedule: "piecewise" (drops by `decay_factor` at `boundaries`) or "cosine".
        boundaries: fractions of the run at which the rate drops.
        decay_factor: multiplier at each boundary.
        epochs: default length in epochs, when `total_steps` is None.
        total_steps: default length in iterations at `batch_size` (the paper's
            CIFAR runs are 64k iterations).
        warmup_steps: warm-up iterations at `batch_size`.
        warmup: "constant" (run at `warmup_learning_rate`) or "linear" (ramp up
            from 0).
        warmup_learning_rate: the constant warm-up rate.
        warmup_min_depth: apply the warm-up only to nets at least this deep
            (the paper warms up ResNet-110 and deeper only).
        label_smoothing: cross-entropy label smoothing.
        augmentation: "cifar", "imagenet" or "none".
        head_fraction: fine-tuning: the first fraction of the run trains
            only the classifier (the backbone's learning rate is 0).
        backbone_learning_rate_factor: fine-tuning: the backbone's learning
            rate relative to the classifier's after that.
    """

    name: str
    description: str
    batch_size: int
    learning_rate: float
    momentum: float = 0.9
    nesterov: bool = False
    weight_decay: float = 1e-4
    schedule: str = "piecewise"
    boundaries: tuple = ()
    decay_factor: float = 0.1
    epochs: Optional[int] = None
    total_steps: Optional[int] = None
    warmup_steps: int = 0
    warmup: str = "constant"
    warmup_learning_rate: float = 0.0
    warmup_min_depth: int = 0
    label_smoothing: float = 0.0
    augmentation: str = "cifar"
    head_fraction: float = 0.0
    backbone_learning_rate_factor: float = 1.0

    @property
    def finetunes(self) -> bool:
        return self.head_fraction > 0 or self.backbone_learning_rate_factor != 1.0


RECIPES = {
    r.name: r
    for r in (
        Recipe(
            name="cifar",
            description="He et al. 4.2: batch 128, SGD 0.9, lr 0.1 /10 at 32k and 48k of 64k iterations, "
            "wd 1e-4; 0.01 warm-up for 400 iterations on nets of depth >= 110",
            batch_size=128,
            learning_rate=0.1,
            boundaries=(32_000 / 64_000, 48_000 / 64_000),
            total_steps=64_000,
            warmup_steps=400,
            warmup="constant",
            warmup_learning_rate=0.01,
            warmup_min_depth=110,
            augmentation="cifar",
        ),
        Recipe(
            name="imagenet",
            description="He et al. 3.4: batch 256, SGD 0.9, lr 0.1 x batch/256 /10 at epochs 30, 60, 80 of 90, "
            "wd 1e-4; linear warm-up of 5 epochs when the batch exceeds 256 (Goyal et al.)",
            batch_size=256,
            learning_rate=0.1,
            boundaries=(30 / 90, 60 / 90, 80 / 90),
            epochs=90,
            warmup="linear",
            augmentation="imagenet",
        ),
        Recipe(
            name="wrn",
            description="Zagoruyko & Komodakis (Wide ResNets) on CIFAR: batch 128, SGD Nesterov 0.9, lr 0.1 x0.2 "
            "at epochs 60, 120, 160 of 200 (30/60/80%), wd 5e-4; with --dropout=0.3 for their dropout nets",
            batch_size=128,
            learning_rate=0.1,
            nesterov=True,
            weight_decay=5e-4,
            boundaries=(0.3, 0.6, 0.8),
            decay_factor=0.2,
            epochs=200,
            augmentation="cifar",
        ),
        Recipe(
            name="fast",
            description="Modern short recipe: SGD Nesterov 0.9, lr 0.1 x batch/128 with 2-epoch linear warm-up "
            "and cosine decay, wd 5e-4, label smoothing 0.1, 30 epochs",
            batch_size=128,
            learning_rate=0.1,
            nesterov=True,
            weight_decay=5e-4,
            schedule="cosine",
            epochs=30,
            warmup="linear",
            label_smoothing=0.1,
            augmentation="cifar",
        ),
        Recipe(
            name="finetune",
            description="Fine-tuning pretrained weights: SGD Nesterov 0.9, lr 0.01 x batch/64, cosine, 10 epochs, "
            "wd 1e-4; the first 20% trains the new classifier only, then the unfrozen backbone at 0.1x its rate",
            batch_size=64,
            learning_rate=0.01,
            nesterov=True,
            weight_decay=1e-4,
            schedule="cosine",
            epochs=10,
            warmup="constant",
            label_smoothing=0.1,
            augmentation="cifar",
            head_fraction=0.2,
            backbone_learning_rate_factor=0.1,
        ),
    )
}


def get_recipe(name: str) -> Recipe:
    """Look up a recipe by name.

    Raises:
        ValueError: unknown name.
    """
    if name not in RECIPES:
        raise ValueError(f"Unknown recipe {name!r}; known: {', '.join(RECIPES)}")
    return RECIPES[name]


@dataclasses.dataclass(frozen=True)
class RunRecipe:
    """A recipe resolved for one run: its length, learning rate, weight decay, decay boundaries and warm-up."""

    total_steps: int
    steps_per_epoch: int
    epochs: int
    learning_rate: float
    weight_decay: float
    boundaries: tuple
    warmup_steps: int
    warmup: str = "constant"
    # The recipe's warm-up, when it was cut to half of a short run (an explicit --warmup_steps never is).
    warmup_cut_from: Optional[int] = None


def decay_start(recipe: Recipe, run_recipe: RunRecipe) -> int:
    """The step at which `run_recipe`'s learning rate starts to fall: the end of a cosine's warm-up, a piecewise
    schedule's first boundary (its end if it has none)."""
    if recipe.schedule == "cosine":
        return run_recipe.warmup_steps
    return run_recipe.boundaries[0] if run_recipe.boundaries else run_recipe.total_steps


def steps_in_an_epoch(num_train: int, batch_size: int) -> int:
    """The steps of an epoch: whole batches only (the last partial batch is dropped, so that every replica steps on
    a batch of the same size), at least one.

    Raises:
        ValueError: fewer training images than one batch, naming the smallest data set for the batch.
    """
    if num_train < batch_size:
        raise ValueError(
            f"--batch_size={batch_size} is more than the {num_train} training images (after the validation split "
            f"and --max_train_examples): an epoch trains on whole batches only (the last partial batch is dropped), "
            f"so it would train no step. Give at least {batch_size} training images, or a --batch_size of at most "
            f"{num_train}.")
    return num_train // batch_size


def for_run(
    recipe: Recipe,
    batch_size: int,
    num_train: int,
    depth: int,
    epochs: Optional[int] = None,
    train_steps: Optional[int] = None,
    learning_rate: Optional[float] = None,
    weight_decay: Optional[float] = None,
    warmup_steps: Optional[int] = None,
    default_warmup_steps: Optional[int] = None,
) -> RunRecipe:
    """Resolve a recipe for a batch size, data set size and requested length.

    The length is `train_steps` if given, else `epochs`, else the recipe's.
    The learning rate is scaled by batch_size / recipe.batch_size unless
    `learning_rate` overrides it; warm-up keeps its length in images.
    `warmup_steps`, if given, replaces the recipe's warm-up with a linear
    ramp of that many steps on any depth (0: none), exactly;
    `default_warmup_steps` (a caller's default) does the same but, like the
    recipe's own warm-up, is cut to half of a run shorter than twice it
    (`RunRecipe.warmup_cut_from` says so).

    Raises:
        ValueError: a non-positive batch size, length or data set size, or a
            `warmup_steps` longer than the run.
    """
    for key, value in (("batch_size", batch_size), ("num_train", num_train)):
        if value < 1:
            raise ValueError(f"{key} must be >= 1. Received: {key}={value}")
    if epochs is not None and epochs < 1:
        raise ValueError(f"epochs must be >= 1. Received: epochs={epochs}")
    if train_steps is not None and train_steps < 1:
        raise ValueError(f"train_steps must be >= 1. Received: train_steps={train_steps}")
    steps_per_epoch = steps_in_an_epoch(num_train, batch_size)
    if train_steps is not None:
        total = train_steps
    elif epochs is not None:
        total = epochs * steps_per_epoch
    elif recipe.epochs is not None:
        total = recipe.epochs * steps_per_epoch
    else:
        total = max(1, round(recipe.total_steps * recipe.batch_size / batch_size))
    run_epochs = max(1, -(-total // steps_per_epoch))
    lr = learning_rate if learning_rate is not None else recipe.learning_rate * batch_size / recipe.batch_size
    if warmup_steps is not None and warmup_steps < 0:
        raise ValueError(f"warmup_steps must be >= 0. Received: warmup_steps={warmup_steps}")
    if warmup_steps is not None and warmup_steps > total:
        raise ValueError(f"--warmup_steps={warmup_steps} is longer than this run's {total} steps: give at most "
                         f"{total}, or leave it out for the recipe's warm-up.")
    warmup, cut_from = 0, None
    if warmup_steps is not None:
        warmup = warmup_steps
    elif default_warmup_steps is not None:
        warmup = default_warmup_steps
    elif depth >= recipe.warmup_min_depth:
        if recipe.warmup == "constant" and recipe.warmup_steps:
            warmup = max(1, round(recipe.warmup_steps * recipe.batch_size / batch_size))
        elif recipe.warmup == "linear" and recipe.schedule == "cosine":
            warmup = 2 * steps_per_epoch
        elif recipe.warmup == "linear" and batch_size > recipe.batch_size:
            warmup = 5 * steps_per_epoch
    if warmup_steps is None and warmup > total // 2:
        warmup, cut_from = total // 2, warmup
    return RunRecipe(
        total_steps=total,
        steps_per_epoch=steps_per_epoch,
        epochs=run_epochs,
        learning_rate=lr,
        weight_decay=recipe.weight_decay if weight_decay is None else weight_decay,
        boundaries=tuple(int(round(b * total)) for b in recipe.boundaries),
        warmup_steps=warmup,
        warmup="linear" if warmup_steps is not None or default_warmup_steps is not None else recipe.warmup,
        warmup_cut_from=cut_from,
    )
