"""--dtype=auto and --xla=auto: the fastest candidate measured on the run's own step, within a bounded budget, and
cached. The choice is checked with an injected clock; no assertion depends on this machine's speed."""

import json
import logging
import types

import pytest
import tensorflow as tf

from keras_resnet.train import autotune, run_dir, training

from helpers import make_idx_dataset

F32, F32_XLA = autotune.Candidate("float32", False), autotune.Candidate("float32", True)
BF16, BF16_XLA = autotune.Candidate("mixed_bfloat16", False), autotune.Candidate("mixed_bfloat16", True)
ALL = [F32, F32_XLA, BF16, BF16_XLA]
BATCH = 256


class Clock:
    """A fake clock that only the fake builds and steps advance."""

    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def fake_steps(clock: Clock, step_seconds: dict, build_seconds: float = 1.0):
    """make_step for `measure`: building costs `build_seconds`, each step its candidate's seconds."""
    built = []

    def make_step(candidate):
        built.append(candidate)
        clock.now += build_seconds

        def step():
            clock.now += step_seconds[candidate]

        return step

    return make_step, built


def test_the_fastest_measured_candidate_is_chosen_and_each_speed_is_steps_over_time(tmp_path):
    clock = Clock()
    make_step, built = fake_steps(clock, {F32: 0.2, F32_XLA: 0.1, BF16: 0.4, BF16_XLA: 0.16})
    choice = autotune.resolve(ALL, make_step, BATCH, run_steps=2000, run_facts={"model": "resnet8"},
                              path=str(tmp_path / "cache.json"), timer=clock)
    assert built == ALL
    assert (choice.candidate, choice.how) == (F32_XLA, "measured")
    assert [t.images_per_second for t in choice.timings] == pytest.approx([1280, 2560, 640, 1600])
    assert choice.table() == ["  float32                  1,280 img/s",
                              "  float32 + XLA            2,560 img/s  <- chosen",
                              "  mixed_bfloat16           640 img/s",
                              "  mixed_bfloat16 + XLA     1,600 img/s"]
    # Measured: one untimed step that compiles, then TIMED_STEPS, per candidate.
    assert clock.now == pytest.approx(4 * 1.0 + (1 + autotune.TIMED_STEPS) * (0.2 + 0.1 + 0.4 + 0.16))


def test_the_measurement_stops_at_its_budget_and_says_what_it_left_out():
    clock = Clock()
    make_step, built = fake_steps(clock, {F32: 0.2, F32_XLA: 0.05, BF16: 0.01, BF16_XLA: 0.01}, build_seconds=15)
    # float32 runs 2,000 steps of 0.2 s: 400 s, so the budget is 5 % of it, 20 s; each build costs 15 s.
    timings = autotune.measure(ALL, make_step, BATCH, run_steps=2000, timer=clock)
    assert built == [F32, F32_XLA]  # the second started at 15.8 s, within 20; the third would start at 31.8
    assert [t.note for t in timings] == ["", "", "not measured: time budget spent", "not measured: time budget spent"]
    assert [t.images_per_second is None for t in timings] == [False, False, True, True]
    # Never more than MAX_SECONDS, whatever the run's length.
    clock = Clock()
    make_step, built = fake_steps(clock, {c: 0.2 for c in ALL}, build_seconds=31)
    autotune.measure(ALL, make_step, BATCH, run_steps=10 ** 9, timer=clock)
    assert built == [F32, F32_XLA]  # 31.8 s, then 63.6 s > 60


def test_a_candidate_that_fails_to_compile_is_marked_and_not_chosen():
    clock = Clock()
    make_step, _ = fake_steps(clock, {F32: 0.2, BF16: 0.1})

    def xla_unsupported(candidate):
        if candidate.xla:
            raise RuntimeError("XLA has no kernel for this op")
        return make_step(candidate)

    timings = autotune.measure([F32, F32_XLA, BF16], xla_unsupported, BATCH, run_steps=2000, timer=clock)
    assert [t.note for t in timings] == ["", "failed: RuntimeError: XLA has no kernel for this op", ""]
    with pytest.raises(RuntimeError):  # the first candidate is the run's fallback: its failure is the run's
        autotune.measure([F32_XLA, F32], xla_unsupported, BATCH, run_steps=2000, timer=clock)


def test_a_choice_is_cached_per_machine_and_run_and_nothing_is_measured_where_nothing_can_be_chosen(tmp_path):
    path, clock = str(tmp_path / "autotune.json"), Clock()
    make_step, built = fake_steps(clock, {F32: 0.2, F32_XLA: 0.3})
    first = autotune.resolve([F32, F32_XLA], make_step, BATCH, 2000, {"model": "resnet8"}, path=path, timer=clock)

    def refuse(candidate):
        raise AssertionError("measured again")

    again = autotune.resolve([F32, F32_XLA], refuse, BATCH, 2000, {"model": "resnet8"}, path=path, timer=clock)
    assert (first.how, again.how, again.candidate, again.timings) == ("measured", "cached", F32, first.timings)
    assert len(json.load(open(path))) == 1
    other = autotune.resolve([F32, F32_XLA], make_step, BATCH, 2000, {"model": "resnet14"}, path=path, timer=clock)
    assert other.how == "measured" and len(json.load(open(path))) == 2  # another model is measured anew
    assert autotune.resolve([BF16], refuse, BATCH, 2000, {}, path=path).how == "given"
    assert autotune.resolve(ALL, refuse, BATCH, autotune.MIN_STEPS - 1, {}, path=path).how == "short run"
    assert autotune.resolve(ALL, refuse, BATCH, 2000, {}, multi_worker=True, path=path).how == "multi-worker"


def test_a_measurement_that_left_candidates_out_is_not_cached_as_the_machines_answer(tmp_path):
    """A short run (its budget covers float32 alone) cached float32 as final, and the long main job that followed
    trained in float32 at 0.65x bfloat16's speed. Now the long run measures the rest, and only then is it final."""
    path, clock = str(tmp_path / "autotune.json"), Clock()
    seconds = {F32: 0.5, F32_XLA: 0.4, BF16: 0.25, BF16_XLA: 0.3}
    make_step, built = fake_steps(clock, seconds)
    short = autotune.resolve(ALL, make_step, BATCH, autotune.MIN_STEPS, {"model": "resnet8"}, path=path, timer=clock)
    assert [t.note for t in short.timings][2:] == [autotune.NOT_MEASURED] * 2 and short.candidate == F32_XLA
    assert not autotune.complete(short.timings)
    built.clear()
    long = autotune.resolve(ALL, make_step, BATCH, 20_000, {"model": "resnet8"}, path=path, timer=clock)
    assert built == [BF16, BF16_XLA]  # the short run's figures are kept, the rest measured
    assert (long.how, long.candidate) == ("measured", BF16)
    assert [t.note for t in long.timings] == [autotune.CACHED, autotune.CACHED, "", ""]
    assert long.table()[0].endswith("img/s (cached)") and long.table()[2].endswith("<- chosen")
    built.clear()
    again = autotune.resolve(ALL, make_step, BATCH, 300, {"model": "resnet8"}, path=path, timer=clock)
    assert (again.how, again.candidate, built) == ("cached", BF16, [])  # now the machine's answer


@pytest.mark.parametrize("damage", [{}, {"dtype": "float64", "xla": False}, "float32", {"dtype": "float32"}])
def test_a_damaged_cache_entry_is_measured_again_and_overwritten(tmp_path, damage):
    """The cache is ours: an entry of {} (a KeyError before) or a dtype no candidate has is not trusted."""
    path, clock = str(tmp_path / "autotune.json"), Clock()
    make_step, built = fake_steps(clock, {F32: 0.2, F32_XLA: 0.3})
    first = autotune.resolve([F32, F32_XLA], make_step, BATCH, 2000, {"model": "resnet8"}, path=path, timer=clock)
    cache = json.load(open(path))
    json.dump({key: damage for key in cache}, open(path, "w"))
    again = autotune.resolve([F32, F32_XLA], make_step, BATCH, 2000, {"model": "resnet8"}, path=path, timer=clock)
    assert (again.how, again.candidate) == ("measured", first.candidate)
    rewritten = json.load(open(path))  # the whole entry is back
    assert rewritten.keys() == cache.keys()
    assert [(v["dtype"], v["xla"], len(v["timings"])) for v in rewritten.values()] == [("float32", False, 2)]


@pytest.mark.slow
def test_a_run_trains_in_the_measured_choice_records_and_caches_it_and_a_relaunch_keeps_it(
        tmp_path, monkeypatch, caplog):
    data = make_idx_dataset(str(tmp_path / "data"), num_train=96, num_test=32)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    monkeypatch.setattr(autotune, "MIN_STEPS", 0)  # this three-step run measures as a long one would,
    monkeypatch.setattr(autotune, "MAX_FRACTION", 100.0)  # every candidate
    # Two candidates on any CPU: bfloat16 is tried as where the CPU computes it natively.
    monkeypatch.setattr(training.precision, "cpu_has_native_bfloat16", lambda: True)
    config = training.TrainConfig(model="resnet8", dataset="mnist", data_dir=data, model_dir=str(tmp_path / "a"),
                                  batch_size=32, epochs=1, download=False, verbose=0, validation_split=0.0,
                                  xla="off")
    with caplog.at_level(logging.INFO, logger="keras_resnet"):
        result = training.train(config)
    record = run_dir.RunDir(config.model_dir).record()
    chosen = record.configuration
    assert chosen["how"] == "measured" and [(t["dtype"], t["xla"]) for t in chosen["timings"]] == [
        ("float32", False), ("mixed_bfloat16", False)]
    assert all(t["images_per_second"] > 0 for t in chosen["timings"])
    assert result["model"].dtype_policy.name == chosen["dtype"] == record.settings["dtype"]
    assert result["model"].jit_compile is False
    assert f", {chosen['dtype']} (measured)" in caplog.text
    assert "  mixed_bfloat16           " in caplog.text

    # A relaunch resumes in the recorded configuration, measurements kept (checked before any data is read).
    plan = training.validate(config)
    assert (plan.dtype, plan.xla, plan.recorded) == (chosen["dtype"], "off", chosen)
    monkeypatch.setattr(autotune, "measure", lambda *args, **kwargs: pytest.fail("measured again"))
    prepared = types.SimpleNamespace(input_shape=(28, 28, 1), source=types.SimpleNamespace(num_classes=10))
    resumed, choice = training._choose_configuration(plan, prepared, types.SimpleNamespace(total_steps=10 ** 4),
                                                     tf.distribute.get_strategy(), 32)
    assert (choice.how, choice.to_json()) == ("resumed", dict(chosen, how="resumed"))
    assert (resumed.dtype, resumed.identity["dtype"]) == (chosen["dtype"], chosen["dtype"])
    # A repeated run in another directory finds the cache (autotune.resolve's, tested above with a fake clock).
    cache = json.load(open(tmp_path / "keras_home" / "keras_resnet" / "autotune.json"))
    assert list(cache.values()) == [chosen]
