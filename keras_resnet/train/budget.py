"""Training to a time budget (`--time_budget`): the steps a run can afford, without TensorFlow.

The run measures its training step before it trains (`autotune`). From that
figure `plan` fits the steps into the budget, after what was already spent
(data, measurement, model) and with room reserved for what follows the
training (`reserve`: evaluation, TTA, pictures, export, estimated from their
own sizes). The recipe's warm-up and decay are then laid over the planned
steps, so the learning rate ends its decay at the budget's end, as budgeted
training does (Li, Yumer and Ramanan, ICLR 2020: a schedule that decays to zero
within the budget beats a longer one cut short). Once the first epoch has run
at the real speed (input pipeline, epoch-end saves), `correct` re-plans once,
if the decay has not begun. A resumed run keeps its plan.
"""

from __future__ import annotations

import dataclasses
import math
import re
from typing import Optional

# One epoch to warm up and one to decay: the least a budgeted run trains.
MIN_EPOCHS = 2
# A first call of a new function (evaluate, predict, TTA's model) traces it (seconds).
TRACE_SECONDS = 2.0
# Writing final.weights.h5, final.keras and the figures (seconds; about 3 s for ResNet-8 on the EPYC).
SAVE_SECONDS = 3.0
# One exported file converted, verified and written, besides its evaluation (seconds), and its evaluation's cost
# per image in forward passes of the Keras model: the main job's SavedModel and four LiteRT files took 28 to 31 s in
# all, each evaluated on 10,000 images, on the EPYC (docs/BENCHMARKS.md).
ARTIFACT_SECONDS = 2.5
ARTIFACT_FORWARD_PASSES = 1.0
# A training step costs about three forward passes (the backward pass is about two).
FORWARD_SHARE_OF_STEP = 1 / 3
# The plan is corrected only when the first epoch's real time differs from the plan's by more than this.
CORRECTION_THRESHOLD = 0.02

_UNITS = {"h": 3600.0, "m": 60.0, "s": 1.0}
_DURATION = re.compile(r"^(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?(?:(\d+(?:\.\d+)?)s)?$")

__all__ = ["MIN_EPOCHS", "BudgetTooShortError", "FollowUp", "BudgetPlan", "parse_duration", "format_duration",
           "check_duration", "reserve", "plan", "correct"]


class BudgetTooShortError(ValueError):
    """The budget cannot hold the least run (`MIN_EPOCHS` epochs and what follows them)."""


def parse_duration(value) -> float:
    """Seconds of a duration: minutes as a number ("15", "7.5"), or with units ("15m", "90s", "1h30m", "2m30s").

    Raises:
        ValueError: not a positive duration, saying what is valid.
    """
    text = str(value).strip().lower()
    seconds = None
    try:
        seconds = float(text) * 60.0
    except ValueError:
        match = _DURATION.match(text)
        if match and text:
            seconds = sum(float(part) * unit for part, unit in zip(match.groups(), _UNITS.values()) if part)
    if seconds is None or not math.isfinite(seconds) or seconds <= 0:
        raise ValueError(f"--time_budget takes minutes (15, 7.5) or a duration (15m, 90s, 1h30m), more than 0. "
                         f"Received: time_budget={value!r}")
    return seconds


def check_duration(name: str, value) -> None:
    """A settings check: `value` parses as a duration."""
    parse_duration(value)


def format_duration(seconds: float) -> str:
    """"14m48s", "2m", "45s": whole seconds, in the form `parse_duration` reads."""
    seconds = int(round(seconds))
    minutes, rest = divmod(seconds, 60)
    if not minutes:
        return f"{rest}s"
    return f"{minutes}m{rest:02d}s" if rest else f"{minutes}m"


@dataclasses.dataclass(frozen=True)
class FollowUp:
    """What follows the training inside the budget, by size.

    Attributes:
        test_images: images of the final evaluation (and of the pictures' predictions).
        tta: the evaluation is repeated with flip TTA (two passes of each image).
        export_artifacts: files the export converts, verifies and evaluates (0: no export).
        export_images: images each exported file is evaluated on (None: `test_images`).
    """

    test_images: int
    tta: bool = False
    export_artifacts: int = 0
    export_images: Optional[int] = None


def reserve(follow_up: FollowUp, step_seconds: float, batch_size: int) -> dict:
    """Seconds to keep for what follows the training, estimated from its sizes and the measured step.

    A forward pass of an image costs about a third of its share of a training step.

    Returns:
        {"evaluation", "tta", "reports", "export"}: seconds each, rounded to tenths.
    """
    forward = step_seconds / batch_size * FORWARD_SHARE_OF_STEP
    images = follow_up.test_images
    # The evaluation, and the predictions behind the confusion matrix and the errors' figure: two passes.
    estimate = dict(evaluation=2 * (TRACE_SECONDS + images * forward),
                    tta=TRACE_SECONDS + 2 * images * forward if follow_up.tta else 0.0,
                    reports=SAVE_SECONDS, export=0.0)
    if follow_up.export_artifacts:
        export_images = images if follow_up.export_images is None else follow_up.export_images
        # The export also evaluates the Keras model on those images, beside each file.
        estimate["export"] = (follow_up.export_artifacts * (ARTIFACT_SECONDS + export_images * forward
                                                            * ARTIFACT_FORWARD_PASSES)
                              + TRACE_SECONDS + export_images * forward)
    return {key: round(value, 1) for key, value in estimate.items()}


@dataclasses.dataclass(frozen=True)
class BudgetPlan:
    """A budgeted run's length, as run.json records it.

    Attributes:
        budget: seconds, from the start of the run (data loading included).
        spent: seconds already spent when the run was planned (data, measurement, model).
        step_seconds: a training step's time the plan stands on.
        epoch_end_seconds: each epoch's end (its saves, its validation) the plan stands on.
        steps_per_epoch: an epoch's steps.
        total_steps: the planned steps; the schedule's warm-up and decay are laid over them.
        reserve: seconds kept for each thing after the training (`reserve`).
        measured: where `step_seconds` came from ("measured", "cached": `autotune`'s figure of the step).
        correction: after the first epoch: the real times and the steps before and after (or why not).
    """

    budget: float
    spent: float
    step_seconds: float
    epoch_end_seconds: float
    steps_per_epoch: int
    total_steps: int
    reserve: dict
    measured: str = "measured"
    correction: Optional[dict] = None

    @property
    def epochs(self) -> int:
        """Epochs the run starts (the last may stop part-way, at `total_steps`)."""
        return -(-self.total_steps // self.steps_per_epoch)

    @property
    def deadline(self) -> float:
        """When the training must end (seconds from the run's start) to leave the reserve's time."""
        return self.budget - sum(self.reserve.values())

    @property
    def training_seconds(self) -> float:
        """The training's expected seconds under the plan."""
        return self.total_steps * self.step_seconds + self.epochs * self.epoch_end_seconds

    def lines(self) -> list:
        """The run's header: the budget, what was spent and kept, the plan, and its correction."""
        kept = ", ".join(f"{key} {value:.0f} s" for key, value in self.reserve.items() if value)
        lines = [f"Time budget {format_duration(self.budget)}: {self.spent:.0f} s spent on data, measurement and "
                 f"model; {sum(self.reserve.values()):.0f} s kept for what follows the training ({kept}); "
                 f"{self.total_steps:,} steps ({self.total_steps / self.steps_per_epoch:.1f} epochs) at "
                 f"{self.step_seconds * 1000:.1f} ms a step ({self.measured}), about "
                 f"{format_duration(self.training_seconds)} of training"]
        if self.correction:
            lines.append(self.correction["summary"])
        return lines

    def to_json(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, values: dict) -> "BudgetPlan":
        names = {field.name for field in dataclasses.fields(cls)}
        return cls(**{key: value for key, value in values.items() if key in names})


def _steps_that_fit(seconds: float, step_seconds: float, epoch_end_seconds: float, steps_per_epoch: int) -> int:
    """The most steps whose time, with the end of each epoch they start, is at most `seconds`."""
    steps = max(0, math.floor(seconds / (step_seconds + epoch_end_seconds / steps_per_epoch)))
    while steps and steps * step_seconds + -(-steps // steps_per_epoch) * epoch_end_seconds > seconds:
        steps -= 1  # the last epoch stops part-way, but its end costs a whole one
    return steps


def plan(budget: float, spent: float, step_seconds: float, steps_per_epoch: int, reserved: dict,
         epoch_end_seconds: float = 0.0, measured: str = "measured") -> BudgetPlan:
    """The steps that fit in what is left of the budget.

    Args:
        budget: seconds, from the start of the run.
        spent: seconds already spent.
        step_seconds: a training step's time (measured).
        steps_per_epoch: an epoch's steps.
        reserved: `reserve`'s estimates.
        epoch_end_seconds: each epoch's end, where known.
        measured: where `step_seconds` came from.

    Returns:
        The `BudgetPlan`.

    Raises:
        BudgetTooShortError: fewer than `MIN_EPOCHS` epochs fit, naming the least budget that fits.
    """
    left = budget - spent - sum(reserved.values())
    total = _steps_that_fit(left, step_seconds, epoch_end_seconds, steps_per_epoch)
    least_steps = MIN_EPOCHS * steps_per_epoch
    if total < least_steps:
        least = spent + sum(reserved.values()) + least_steps * step_seconds + MIN_EPOCHS * epoch_end_seconds
        raise BudgetTooShortError(
            f"--time_budget={format_duration(budget)} is too short for this run: the least that fits is "
            f"--time_budget={format_duration(math.ceil(least))} ({MIN_EPOCHS} epochs of {steps_per_epoch} steps at "
            f"{step_seconds * 1000:.1f} ms, one to warm up and one to decay, {sum(reserved.values()):.0f} s for what "
            f"follows and {spent:.0f} s already spent); give more time, or use fewer images or a smaller model.")
    return BudgetPlan(budget=budget, spent=round(spent, 1), step_seconds=step_seconds,
                      epoch_end_seconds=epoch_end_seconds, steps_per_epoch=steps_per_epoch, total_steps=total,
                      reserve=dict(reserved), measured=measured)


def correct(current: BudgetPlan, elapsed: float, step_seconds: float, epoch_end_seconds: float,
            restart_seconds: float, steps_done: int, decay_start: int) -> BudgetPlan:
    """The plan after its first epoch, from that epoch's real step and epoch-end times; corrected once.

    Args:
        current: the plan the first epoch ran under.
        elapsed: seconds since the run started.
        step_seconds: the first epoch's step time, past its first steps (which trace).
        epoch_end_seconds: the first epoch's end.
        restart_seconds: what continuing with a new schedule costs (its step traces again).
        steps_done: steps trained.
        decay_start: the step at which the current schedule's decay begins: past it, the plan stands.

    Returns:
        The plan with its `correction` recorded; if corrected, its steps, step and epoch-end times are the first
        epoch's, and its reserve is scaled by the step's change.
    """
    planned = current.step_seconds + current.epoch_end_seconds / current.steps_per_epoch
    real = step_seconds + epoch_end_seconds / current.steps_per_epoch
    facts = dict(after_steps=steps_done, step_seconds=round(step_seconds, 5),
                 epoch_end_seconds=round(epoch_end_seconds, 2), elapsed=round(elapsed, 2),
                 steps_before=current.total_steps)
    change = real / planned - 1
    if abs(change) <= CORRECTION_THRESHOLD:
        return dataclasses.replace(current, correction=dict(
            facts, applied=False, steps_after=current.total_steps,
            summary=f"Plan kept after epoch 1: its steps ran at {step_seconds * 1000:.1f} ms, within "
                    f"{CORRECTION_THRESHOLD:.0%} of the plan"))
    if steps_done > decay_start:
        return dataclasses.replace(current, correction=dict(
            facts, applied=False, steps_after=current.total_steps,
            summary=f"Plan not corrected: its steps ran at {step_seconds * 1000:.1f} ms ({change:+.0%}), but the "
                    "decay had begun in the first epoch (a recipe without warm-up), so the run keeps its length"))
    # The reserve's estimates stand on the step's speed: what slowed the steps slows the evaluation and the export.
    scale = step_seconds / current.step_seconds
    reserved = {key: round(value * scale, 1) for key, value in current.reserve.items()}
    left = current.budget - elapsed - restart_seconds - sum(reserved.values())
    total = steps_done + _steps_that_fit(left, step_seconds, epoch_end_seconds, current.steps_per_epoch)
    total = max(total, MIN_EPOCHS * current.steps_per_epoch)
    return dataclasses.replace(current, total_steps=total, step_seconds=step_seconds,
                               epoch_end_seconds=epoch_end_seconds, reserve=reserved, correction=dict(
        facts, applied=True, steps_after=total, reserve_before=dict(current.reserve),
        summary=f"Plan corrected after epoch 1: its steps ran at {step_seconds * 1000:.1f} ms ({change:+.0%} on the "
                f"plan's) and its end took {epoch_end_seconds:.1f} s: {total:,} steps "
                f"({total / current.steps_per_epoch:.1f} epochs) in place of {current.total_steps:,}"))
