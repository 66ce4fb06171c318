"""--time_budget: durations, the plan from a measured step, the reserve, the refusal and the one correction; exact
numbers from given times (no assertion depends on this machine's speed)."""

import pytest

from keras_resnet.train import budget

RESERVE = dict(evaluation=10.0, tta=5.0, reports=5.0, export=40.0)  # 60 s


@pytest.mark.parametrize("text, seconds", [("15", 900), ("7.5", 450), ("15m", 900), ("90s", 90), ("1h30m", 5400),
                                           ("2m30s", 150), (" 1H ", 3600), (2, 120)])
def test_durations_are_minutes_or_units(text, seconds):
    assert budget.parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "0", "-5", "15x", "m", "1m1h", "nan", "inf", "15 m"])
def test_a_bad_duration_is_refused_in_one_line_naming_the_forms(text):
    with pytest.raises(ValueError, match=r"^--time_budget takes minutes \(15, 7.5\) or a duration") as error:
        budget.parse_duration(text)
    assert "\n" not in str(error.value)


@pytest.mark.parametrize("seconds, text", [(900, "15m"), (888.4, "14m48s"), (45, "45s"), (150.6, "2m31s")])
def test_durations_print_in_the_form_they_are_read(seconds, text):
    assert budget.format_duration(seconds) == text
    assert budget.parse_duration(text) == round(seconds)


def test_the_reserve_grows_with_the_test_set_tta_and_each_exported_file():
    # 0.2 s a step of 256 images: a forward pass costs 0.2 / 256 / 3 s an image.
    forward = 0.2 / 256 / 3
    plain = budget.reserve(budget.FollowUp(test_images=10_000), step_seconds=0.2, batch_size=256)
    assert plain == dict(evaluation=round(2 * (2 + 10_000 * forward), 1), tta=0.0, reports=3.0, export=0.0)
    full = budget.reserve(budget.FollowUp(test_images=10_000, tta=True, export_artifacts=5), 0.2, 256)
    assert full["tta"] == round(2 + 20_000 * forward, 1)
    assert full["export"] == round(5 * (2.5 + 10_000 * forward) + 2 + 10_000 * forward, 1)
    fewer = budget.reserve(budget.FollowUp(10_000, export_artifacts=5, export_images=1_000), 0.2, 256)
    assert fewer["export"] < full["export"]


def test_the_plan_fits_the_steps_in_what_is_left():
    # 900 s, 40 spent, 60 kept: 800 s of 0.2 s steps and 1 s per 200-step epoch end (0.205 s a step).
    plan = budget.plan(900, 40, 0.2, 200, RESERVE, epoch_end_seconds=1.0)
    assert plan.total_steps == 3900  # floor(800 / 0.205) = 3902 would start a 20th epoch, whose end costs 1 s
    assert plan.epochs == 20  # the 20th stops part-way, at step 3900
    assert plan.training_seconds == pytest.approx(3900 * 0.2 + 20 * 1.0) == 800
    # A CPU twice as fast trains twice the steps.
    assert budget.plan(900, 40, 0.1, 200, RESERVE, epoch_end_seconds=0.5).total_steps == 7800  # 39 whole epochs: 780 s + 19.5 s


def test_the_plan_round_trips_through_run_json():
    plan = budget.plan(900, 40, 0.2, 200, RESERVE)
    assert budget.BudgetPlan.from_json(dict(plan.to_json(), unknown_later_key=1)) == plan


def test_a_budget_too_short_for_two_epochs_is_refused_naming_the_least_that_fits():
    # Two epochs of 200 steps at 0.2 s = 80 s, + 60 kept + 40 spent = 180 s: 3m.
    with pytest.raises(budget.BudgetTooShortError) as error:
        budget.plan(179, 40, 0.2, 200, RESERVE)
    message = str(error.value)
    assert message.startswith("--time_budget=2m59s is too short for this run: the least that fits is "
                              "--time_budget=3m (2 epochs of 200 steps at 200.0 ms")
    assert "\n" not in message
    assert budget.plan(180, 40, 0.2, 200, RESERVE).total_steps == 400


def _first_epoch_plan():
    return budget.plan(900, 40, 0.2, 200, RESERVE)  # 4000 steps


def test_the_plan_is_corrected_once_when_the_first_epoch_runs_slower():
    first = _first_epoch_plan()
    assert first.total_steps == 4000
    # The first epoch: 0.25 s steps, 2 s at its end; 40 + 52 s elapsed; 3 s to trace the new schedule's step.
    corrected = budget.correct(first, elapsed=92, step_seconds=0.25, epoch_end_seconds=2.0, restart_seconds=3.0,
                               steps_done=200, decay_start=400)
    # The reserve scales with the step (x 1.25: 60 s -> 75 s), so 900 - 92 - 3 - 75 = 730 s are left. They hold
    # 2800 more steps: 700 s + 14 epoch ends of 2 s (2801 would start a 15th epoch: 700.25 + 30 s).
    assert corrected.reserve == dict(evaluation=12.5, tta=6.2, reports=6.2, export=50.0)
    assert sum(corrected.reserve.values()) == pytest.approx(74.9)
    assert corrected.total_steps == 200 + 2800
    assert corrected.step_seconds == 0.25 and corrected.epoch_end_seconds == 2.0
    assert corrected.correction["reserve_before"] == RESERVE
    assert corrected.correction["applied"] is True
    assert corrected.correction["steps_before"] == 4000 and corrected.correction["steps_after"] == 3000
    assert corrected.correction["summary"].startswith("Plan corrected after epoch 1: its steps ran at 250.0 ms "
                                                      "(+30% on the plan's)")
    assert corrected.lines()[-1] == corrected.correction["summary"]


def test_a_faster_first_epoch_lengthens_the_plan():
    corrected = budget.correct(_first_epoch_plan(), elapsed=75, step_seconds=0.16, epoch_end_seconds=0.5,
                               restart_seconds=2.0, steps_done=200, decay_start=400)
    # The reserve shrinks x 0.8 to 48 s: 900 - 75 - 2 - 48 = 775 s hold 4768 more steps: 762.88 s + 24 epoch ends.
    assert sum(corrected.reserve.values()) == pytest.approx(48.0)
    assert corrected.total_steps == 200 + 4768
    assert corrected.total_steps > 4000


def test_a_first_epoch_as_planned_keeps_the_plan():
    first = _first_epoch_plan()
    kept = budget.correct(first, elapsed=80, step_seconds=0.201, epoch_end_seconds=0.0, restart_seconds=3.0,
                          steps_done=200, decay_start=400)
    assert kept.total_steps == first.total_steps and kept.correction["applied"] is False
    assert kept.correction["summary"].startswith("Plan kept after epoch 1")


def test_no_correction_once_the_decay_has_begun():
    first = _first_epoch_plan()
    late = budget.correct(first, elapsed=92, step_seconds=0.25, epoch_end_seconds=2.0, restart_seconds=3.0,
                          steps_done=200, decay_start=0)
    assert late.total_steps == first.total_steps and late.correction["applied"] is False
    assert "the decay had begun" in late.correction["summary"]


def test_a_correction_never_plans_below_the_least_run():
    corrected = budget.correct(_first_epoch_plan(), elapsed=800, step_seconds=1.0, epoch_end_seconds=0.0,
                               restart_seconds=3.0, steps_done=200, decay_start=400)
    assert corrected.total_steps == budget.MIN_EPOCHS * 200
