"""keras-tuner search tests: tiny generated data, resnet8, one epoch per trial."""

import dataclasses
import json
import os

import keras_tuner
import numpy as np
import pytest

from keras_resnet.search import tuning

from helpers import FakeClock

pytestmark = pytest.mark.slow  # end-to-end: scripts, training, export, search or experiments

SMALL = tuning.SearchSpace(cifar_n=(1, 1), width_multiplier=(1.0, 1.0))


def config(idx_dir, model_dir, **kwargs):
    values = dict(dataset="mnist", data_dir=idx_dir, model_dir=str(model_dir), max_trials=2, epochs=1,
                  batch_size=32, download=False, verbose=0, space=SMALL)
    values.update(kwargs)
    return tuning.TuneConfig(**values)


def test_random_search_writes_best_hyperparameters_and_model_and_resumes(idx_dir, tmp_path):
    result = tuning.search(config(idx_dir, tmp_path, max_trials=1))
    assert result["num_trials"] == 1
    best = json.loads((tmp_path / "best_hyperparameters.json").read_text())
    assert best["model"] == "resnet8" and best["objective"] == "val_accuracy"
    assert best["values"]["layout"] == "cifar" and best["values"]["shortcut"] in ("A", "B")
    assert 0.01 <= best["values"]["learning_rate"] <= 0.3
    assert best["score"] == pytest.approx(result["score"])
    run = json.loads((tmp_path / "best" / "run.json").read_text())
    assert run["model"] == "resnet8" and run["class_names"] == [str(i) for i in range(10)]
    assert os.path.isfile(tmp_path / "best" / "final.keras")
    [record] = json.loads((tmp_path / "trials.json").read_text())["trials"]
    assert (record["status"], record["worker"], record["runs"][0]["outcome"]) == ("COMPLETED", "tuner0", "reported")
    assert len((tmp_path / "trials.txt").read_text().strip().splitlines()) == 2
    first = {t.trial_id: t.hyperparameters.values for t in _oracle_trials(tmp_path)}

    # A relaunch with a larger budget keeps the trial and runs one more.
    again = tuning.search(config(idx_dir, tmp_path, max_trials=2))
    assert again["num_trials"] == 2 and [r["trial_id"] for r in again["trials"]] == ["0", "1"]
    trials = {t.trial_id: t.hyperparameters.values for t in _oracle_trials(tmp_path)}
    assert {k: trials[k] for k in first} == first

    # A relaunch with another space, tuner or trial length is refused before any trial, naming each difference.
    before = sorted(os.listdir(tmp_path))
    other = config(idx_dir, tmp_path, tuner="bayesian", epochs=2,
                   space=dataclasses.replace(SMALL, learning_rate=(0.5, 0.9)))
    with pytest.raises(ValueError, match=r"holds a search of another configuration \(tuner: 'random' there, "
                                         r"'bayesian' now, epochs: 1 there, 2 now, space.learning_rate: "
                                         r"\[0.01, 0.3\] there, \[0.5, 0.9\] now\)"):
        tuning.search(other)
    assert sorted(os.listdir(tmp_path)) == before


def _oracle_trials(model_dir):
    tuner = keras_tuner.RandomSearch(
        hypermodel=lambda hp: None, objective="val_accuracy", directory=str(model_dir), project_name="search",
        overwrite=False, max_trials=100)
    return list(tuner.oracle.trials.values())


def test_hypermodel_space_covers_the_paper_knobs():
    hypermodel = tuning.ResNetHyperModel((32, 32, 3), 10, np.zeros((32, 32, 3), "float32"), 10,
                                         tuning.SearchSpace(layouts=("imagenet",), imagenet_depths=(50,)))
    hp = keras_tuner.HyperParameters()
    model = hypermodel.build(hp)
    assert model.name == "resnet50"
    for name in ("layout", "imagenet_depth", "shortcut", "stride_in_1x1", "width_multiplier", "learning_rate",
                 "momentum", "weight_decay", "label_smoothing", "augmentation"):
        assert name in hp.values, name
    # Small images leave only the CIFAR family.
    small = tuning.ResNetHyperModel((28, 28, 1), 10, np.zeros((28, 28, 1), "float32"), 10,
                                    tuning.SearchSpace(layouts=("cifar", "imagenet")))
    assert small.space.layouts == ("cifar",)


@pytest.mark.parametrize(
    "changes, message",
    [
        (dict(tuner="grid"), "Unknown tuner 'grid'; known: random, bayesian, hyperband"),
        (dict(objective="val_f1"), "Unknown objective 'val_f1'"),
        (dict(max_trials=0), "--max_trials must be >= 1"),
        (dict(space=dataclasses.replace(SMALL, learning_rate=(0.3, 0.01))),
         r"learning_rate must be a \(min, max\) range with min <= max. Received: learning_rate=\(0.3, 0.01\)"),
        (dict(space=dataclasses.replace(SMALL, shortcuts=())), "shortcuts is empty"),
        (dict(space=dataclasses.replace(SMALL, weight_decay=(0.0, 1e-3))), "log scale"),
        (dict(space=dataclasses.replace(SMALL, imagenet_depths=(19,))), r"Unknown ImageNet depths \[19\]"),
        (dict(validation_split=0.0), "needs a validation split"),
        (dict(role="worker", oracle="h:1", workers=2), "--role=worker is one worker: --workers=2 starts workers"),
        (dict(workers=10_000), "--workers=10000 but this machine has"),
        (dict(worker_timeout=0.0), "--worker_timeout must be > 0"),
        (dict(time_budget="2m"), "--time_budget plans each trial's length itself: leave out --epochs"),
        (dict(time_budget="2m", epochs=None, tuner="hyperband"), "--tuner=hyperband gives its trials epochs"),
    ],
)
def test_bad_input_fails_before_any_trial(idx_dir, tmp_path, changes, message):
    with pytest.raises(ValueError, match=message):
        tuning.search(config(idx_dir, tmp_path, **changes))
    assert not os.listdir(tmp_path)


@pytest.mark.parametrize("name, cls", [("random", keras_tuner.RandomSearch),
                                       ("bayesian", keras_tuner.BayesianOptimization),
                                       ("hyperband", keras_tuner.Hyperband)])
def test_make_tuner_builds_each_algorithm_resumable(tmp_path, name, cls):
    hypermodel = tuning.ResNetHyperModel((28, 28, 1), 10, np.zeros((28, 28, 1), "float32"), 10, SMALL)
    tuner = tuning.make_tuner(tuning.TuneConfig(model_dir=str(tmp_path), tuner=name, epochs=3), hypermodel)
    assert isinstance(tuner, cls)
    assert tuner.oracle.objective.name == "val_accuracy" and tuner.oracle.objective.direction == "max"
    assert tuner.project_dir == os.path.join(str(tmp_path), "search")


def test_each_trial_trains_in_the_configuration_measured_on_its_own_model(monkeypatch, tmp_path):
    from keras_resnet.train import autotune

    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    seen = []

    def fake_measure(options, make_step, batch_size, run_steps, timer=None, known=None, run_seconds=None):
        seen.append((list(options), batch_size, run_steps))
        speeds = {autotune.Candidate("float32", True): 300.0}  # XLA is the fastest here, whatever the machine
        return [autotune.Timing(c, speeds.get(c, 100.0)) for c in options]

    monkeypatch.setattr(autotune, "measure", fake_measure)
    hypermodel = tuning.ResNetHyperModel((28, 28, 1), 10, np.zeros((28, 28, 1), "float32"), autotune.MIN_STEPS,
                                         SMALL, dtype="auto", xla="auto", batch_size=16)
    model = hypermodel.build(keras_tuner.HyperParameters())
    assert (model.dtype_policy.name, model.jit_compile) == ("float32", True)
    [(options, batch, steps)] = seen
    assert options[:2] == [autotune.Candidate("float32", False), autotune.Candidate("float32", True)]
    assert (batch, steps) == (16, autotune.MIN_STEPS)
    hypermodel.build(keras_tuner.HyperParameters())  # the same network again: the cached choice, not measured
    assert len(seen) == 1
    short = tuning.ResNetHyperModel((28, 28, 1), 10, np.zeros((28, 28, 1), "float32"), 10, SMALL, dtype="auto",
                                    xla="auto", batch_size=16)
    assert short.build(keras_tuner.HyperParameters()).jit_compile is False  # too short a trial to measure


def test_a_budgeted_trial_plans_its_steps_from_its_own_step_and_corrects_them_once(monkeypatch):
    import tensorflow as tf

    from keras_resnet.train import autotune

    step = autotune.Candidate("float32", False)
    runs = []

    def resolve(options, make_step, batch_size, run_steps, facts, **kwargs):
        runs.append(kwargs["run_seconds"])
        return autotune.Choice(step, "measured", (autotune.Timing(step, 32.0),))  # 1.0 s a step of 32

    monkeypatch.setattr(autotune, "resolve", resolve)
    clock = FakeClock(1.25)
    hypermodel = tuning.ResNetHyperModel((28, 28, 1), 10, np.zeros((28, 28, 1), "float32"), 10, SMALL,
                                         batch_size=32, time_budget=30.0, steps_per_epoch=5, clock=clock)
    hp = keras_tuner.HyperParameters()
    model = hypermodel.build(hp)
    assert runs == [30.0] and hypermodel.plan.total_steps == 30  # 30 s of 1.0 s steps
    rng = np.random.default_rng(0)
    images = rng.uniform(0, 255, (160, 28, 28, 1)).astype("float32")
    labels = np.eye(10, dtype="float32")[rng.integers(0, 10, 160)]
    data = tf.data.Dataset.from_tensor_slices((images, labels)).batch(32).repeat()
    history = hypermodel.fit(hp, model, data, epochs=99, steps_per_epoch=5, callbacks=[clock.callback()], verbose=0)
    # The first epoch ran 1.25 s steps: at 6.25 s, 23.75 s hold 19 more; its warm-up and cosine laid over 24.
    assert int(model.optimizer.iterations) == 24 and clock.now == 24 * 1.25
    assert float(model.optimizer.learning_rate) == pytest.approx(0.0, abs=1e-7)
    assert history.epoch == [0, 1, 2, 3, 4] and len(history.history["loss"]) == 5
    assert hypermodel.plan is None  # used once, by the trial it was made for
