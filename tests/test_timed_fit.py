"""A --time_budget run end to end on tiny data, with a fake clock: the plan from the measured step, the correction
after the first epoch, the last epoch stopped at the planned step, the refusal, the resume, and the figures.

The clock advances only with the training's steps (1.25 s each, where the plan expects the measured 1.0 s), so
every planned number is exact and none depends on this machine's speed.
"""

import json
import os

import keras
import pytest

from keras_resnet.train import autotune, budget, training

from helpers import FakeClock

pytestmark = pytest.mark.slow  # each test trains

STEP = autotune.Candidate("float32", False)
BATCH = 32  # 160 images: 5 steps an epoch
# The reserve for 40 test images at 1.0 s a step of 32: evaluation 2 x (2 + 40 / 32 / 3) = 4.8 s, figures 3 s.
RESERVE = 7.8


class Interrupted(Exception):
    pass


class StopAfterEpoch(keras.callbacks.Callback):
    """A kill just after an epoch's backup (it runs after the run's own callbacks)."""

    def __init__(self, epoch: int):
        super().__init__()
        self.epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        if epoch + 1 == self.epoch:
            raise Interrupted(f"killed after epoch {self.epoch}")


@pytest.fixture
def measured_at_one_second(monkeypatch):
    """The step measures 32 images a second: 1.0 s a step of 32."""
    calls = []

    def resolve(options, make_step, batch_size, run_steps, facts, **kwargs):
        calls.append(kwargs.get("run_seconds"))
        return autotune.Choice(STEP, "measured", (autotune.Timing(STEP, 32.0),))

    monkeypatch.setattr(autotune, "resolve", resolve)
    return calls


def config(idx_dir, model_dir, **kwargs):
    settings = dict(model="resnet8", dataset="mnist", data_dir=idx_dir, model_dir=str(model_dir), recipe="fast",
                    batch_size=BATCH, time_budget="30s", download=False, verbose=0, validation_split=0.0,
                    dtype="float32", xla="off")
    settings.update(kwargs)
    return training.TrainConfig(**settings)


def test_the_plan_is_corrected_after_the_first_epoch_and_the_schedule_laid_over_it(idx_dir, tmp_path,
                                                                                      measured_at_one_second):
    clock = FakeClock(1.25)
    result = training.train(config(idx_dir, tmp_path), extra_callbacks=[clock.callback()], elapsed=clock)
    assert measured_at_one_second == [30.0]  # the measurement is bounded by the budget, not by steps
    plan = json.loads((tmp_path / "run.json").read_text())["budget"]
    # 30 s - 7.8 s kept = 22.2 s: 22 steps of 1.0 s. The first epoch ran 1.25 s steps (+25 %), so the reserve
    # grows to 6.0 + 3.8 = 9.8 s: at 6.25 s, 30 - 6.25 - 9.8 = 13.95 s hold 11 more steps of 1.25 s.
    correction = plan["correction"]
    assert (plan["budget"], plan["spent"], correction["reserve_before"]) == (
        30.0, 0.0, dict(evaluation=4.8, tta=0.0, reports=3.0, export=0.0))
    assert (correction["applied"], correction["steps_before"], correction["steps_after"]) == (True, 22, 16)
    assert (correction["step_seconds"], correction["epoch_end_seconds"], correction["elapsed"]) == (1.25, 0.0, 6.25)
    assert plan["total_steps"] == 16 and plan["step_seconds"] == 1.25
    assert plan["reserve"] == dict(evaluation=6.0, tta=0.0, reports=3.8, export=0.0)
    # 16 steps: 3 whole epochs and 1 step of a 4th, the learning rate's cosine ending at 0 on the 16th.
    model = result["model"]
    assert int(model.optimizer.iterations) == 16 and clock.now == 16 * 1.25
    assert float(model.optimizer.learning_rate) == pytest.approx(0.0, abs=1e-7)
    assert (result["epochs_run"], result["epochs"]) == (4, 4)
    assert len((tmp_path / "history.csv").read_text().splitlines()) == 1 + 4
    assert result["budget"] == dict(seconds=30.0, total_steps=16, corrected=True, stopped_at_deadline=None)
    assert result["seconds"]["training"] == result["seconds"]["total"] == 16 * 1.25
    # What the run learned, as pictures and numbers.
    for name in ("training_curves.png", "confusion_matrix.png", "errors.png"):
        assert (tmp_path / name).read_bytes()[:4] == b"\x89PNG", name
    saved = json.loads((tmp_path / "result.json").read_text())
    assert list(saved["per_class_accuracy"]) == [str(i) for i in range(10)]
    assert saved["weakest_class"] == min(saved["per_class_accuracy"], key=saved["per_class_accuracy"].get)


class SlowerAfterFirstEpoch(keras.callbacks.Callback):
    def __init__(self, clock, seconds_per_step: float):
        super().__init__()
        self.clock, self.seconds_per_step = clock, seconds_per_step

    def on_epoch_end(self, epoch, logs=None):
        self.clock.seconds_per_step = self.seconds_per_step


def test_a_run_that_slows_after_its_first_epoch_stops_at_its_deadline(idx_dir, tmp_path, measured_at_one_second):
    clock = FakeClock(1.25)
    result = training.train(config(idx_dir, tmp_path), elapsed=clock,
                            extra_callbacks=[clock.callback(), SlowerAfterFirstEpoch(clock, 2.0)])
    # Corrected to 16 steps at 1.25 s, it then ran 2.0 s steps: at 6.25 + 7 x 2.0 = 20.25 s it passed its deadline,
    # 30 - 9.8 = 20.2 s, and stopped at step 12 of 16, leaving the reserve's time for the evaluation.
    assert result["budget"] == dict(seconds=30.0, total_steps=16, corrected=True, stopped_at_deadline=12)
    assert int(result["model"].optimizer.iterations) == 12 and result["epochs_run"] == 3


def test_a_resumed_run_keeps_its_plan(idx_dir, tmp_path, measured_at_one_second):
    first = FakeClock(1.25)
    with pytest.raises(Interrupted):
        training.train(config(idx_dir, tmp_path), extra_callbacks=[first.callback(), StopAfterEpoch(2)],
                       elapsed=first)
    recorded = json.loads((tmp_path / "run.json").read_text())["budget"]
    assert recorded["total_steps"] == 16
    # The relaunch steps at 3 s: a new plan would be shorter; it trains the 16 steps it planned.
    again = FakeClock(3.0)
    result = training.train(config(idx_dir, tmp_path), extra_callbacks=[again.callback()], elapsed=again)
    assert measured_at_one_second == [30.0]  # the relaunch measured nothing: its configuration is recorded
    assert json.loads((tmp_path / "run.json").read_text())["budget"] == recorded
    assert int(result["model"].optimizer.iterations) == 16
    assert (result["initial_epoch"], result["epochs_run"]) == (2, 2) and again.now == 6 * 3.0


def test_a_budget_too_short_is_refused_naming_the_least_that_fits_before_anything_is_written(
        idx_dir, tmp_path, measured_at_one_second):
    model_dir = tmp_path / "run"
    # 2 epochs of 5 steps at 1.0 s, and 7.8 s kept: 17.8 s.
    with pytest.raises(budget.BudgetTooShortError, match=r"^--time_budget=10s is too short for this run: the "
                       r"least that fits is --time_budget=18s \(2 epochs of 5 steps at 1000.0 ms"):
        training.train(config(idx_dir, model_dir, time_budget="10s"), elapsed=lambda: 0.0)
    assert not os.path.exists(model_dir / "run.json")


@pytest.mark.parametrize("changes, message", [
    (dict(epochs=3), "--time_budget plans the run's length itself: leave out --epochs, or --time_budget"),
    (dict(train_steps=9, epochs=2), "leave out --epochs and --train_steps"),
    (dict(strategy="multi_worker_mirrored"), "the workers of --strategy=multi_worker_mirrored would plan apart"),
    (dict(time_budget="soon"), r"--time_budget takes minutes \(15, 7.5\) or a duration"),
])
def test_a_budget_with_a_length_or_across_workers_is_refused_before_any_data(tmp_path, changes, message):
    with pytest.raises(ValueError, match=message):
        training.validate(config(str(tmp_path / "no_data"), tmp_path / "run", **changes))
