"""A budgeted run's fit (`--time_budget`): the first epoch timed, the plan corrected once, the last epoch stopped at
the planned step. `keras_resnet.train.budget` makes and corrects the plan; this runs it in Keras."""

from __future__ import annotations

from typing import Callable, Optional, Sequence

import keras

from keras_resnet.train.budget import BudgetPlan

# Steps at an epoch's start left out of its timing: the first traces (and compiles) the step.
SKIPPED_STEPS = 5


class EpochTimer(keras.callbacks.Callback):
    """One epoch's real times on `clock`: its step past its first steps, its end (saves, validation), and the extra
    time its first steps took (tracing: what a new schedule's step costs again); `fit` ends after that epoch.

    Its `on_epoch_end` runs after the other callbacks' when it is the last of them, so the end's time holds theirs.
    """

    def __init__(self, clock: Callable[[], float], steps_per_epoch: int):
        super().__init__()
        self.clock = clock
        self.skip = min(SKIPPED_STEPS, max(1, steps_per_epoch // 10))
        self.began = self.skipped = self.last = self.ended = self.epoch = None

    def on_train_begin(self, logs=None):
        self.began = self.clock()

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        now = self.clock()
        if batch + 1 == self.skip:
            self.skipped = (batch + 1, now)
        self.last = (batch + 1, now)

    def on_epoch_end(self, epoch, logs=None):
        self.ended = self.clock()
        self.model.stop_training = True  # the plan is corrected before the next epoch

    def times(self) -> Optional[tuple]:
        """(step seconds, epoch-end seconds, the first steps' extra seconds) of the run's first epoch, or None when
        this fit did not run it (a relaunch restored a later epoch's backup)."""
        if self.ended is None or self.last is None or self.epoch != 0:
            return None
        steps, begin = (self.skipped if self.skipped and self.last[0] > self.skipped[0] else (0, self.began))
        step = (self.last[1] - begin) / (self.last[0] - steps)
        return step, self.ended - self.last[1], max(0.0, begin - self.began - steps * step)


class StopAtStep(keras.callbacks.Callback):
    """End the training at the planned step, part-way through its last epoch (whose end then runs as usual), or
    at its deadline on `clock` if the steps ran slower than planned.

    The deadline guards the budget against a machine that slows after the
    first epoch (the EPYC's epochs varied from 195 to 264 ms a step in one
    run): the schedule is then cut short near its end, where the learning
    rate is already small. `stopped_at` names the step where a deadline stopped it.
    """

    def __init__(self, total_steps: int, steps_per_epoch: int, clock: Optional[Callable[[], float]] = None,
                 deadline: Optional[float] = None):
        super().__init__()
        self.total_steps, self.steps_per_epoch = total_steps, steps_per_epoch
        self.clock, self.deadline = clock, deadline
        self.epoch, self.stopped_at = 0, None

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        step = self.epoch * self.steps_per_epoch + batch + 1
        if step >= self.total_steps:
            self.model.stop_training = True
        elif self.deadline is not None and self.clock() >= self.deadline:
            self.model.stop_training = True
            self.stopped_at = step


def fit(model: keras.Model, train_ds, plan: BudgetPlan, callbacks: Sequence[keras.callbacks.Callback],
        clock: Callable[[], float], correct: Callable[[tuple], BudgetPlan], deadline: bool = True,
        **fit_args) -> tuple:
    """Train to `plan`: a first epoch timed and `correct`ed (unless the plan was corrected before: a relaunch),
    then the rest, stopping at the plan's last step or at its deadline.

    Args:
        model: the compiled model.
        train_ds: the repeated training pipeline.
        plan: the run's `BudgetPlan`.
        callbacks: the run's callbacks (a relaunch's `Backup` restores the last finished epoch).
        clock: the run's clock.
        correct: takes the first epoch's `EpochTimer.times()` and returns the plan the rest follows, having laid
            the schedule over it.
        deadline: stop at the plan's deadline (`BudgetPlan.deadline`, as corrected), whatever step it is at.
        **fit_args: the rest of `fit`'s arguments.

    Returns:
        (a `keras.callbacks.History` of every epoch this launch trained, the plan followed, the step at which the
        deadline stopped it or None).
    """
    first = None
    stop = StopAtStep(plan.total_steps, plan.steps_per_epoch, clock, plan.deadline if deadline else None)
    if plan.correction is None:
        timer = EpochTimer(clock, plan.steps_per_epoch)
        # The run's length in epochs, for the progress bar; the timer ends this fit after the first.
        first = model.fit(train_ds, epochs=plan.epochs, steps_per_epoch=plan.steps_per_epoch,
                          callbacks=[*callbacks, stop, timer], **fit_args)
        times = timer.times()
        if times is not None:  # None: a relaunch past the first epoch keeps the plan it had
            plan = correct(times)
            stop.total_steps = plan.total_steps
            stop.deadline = plan.deadline if deadline else None
    # Where the first fit ended (a run's Backup also says so, and Keras takes its word).
    done = first.epoch[-1] + 1 if first is not None and first.epoch else 0
    history = model.fit(train_ds, epochs=plan.epochs, steps_per_epoch=plan.steps_per_epoch, initial_epoch=done,
                        callbacks=[*callbacks, stop], **fit_args)
    if first is not None:  # one history of both fits, as one fit's
        history.history = {key: first.history.get(key, []) + values for key, values in history.history.items()}
        history.epoch = first.epoch + history.epoch
    return history, plan, stop.stopped_at
