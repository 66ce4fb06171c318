"""keras-tuner search tests: tiny generated data, resnet8, one epoch per trial."""

import dataclasses
import json
import os
import re
import socket
import subprocess
import sys
import time

import keras_tuner
import numpy as np
import pytest

from keras_resnet.train import tuning

from helpers import make_idx_dataset

pytestmark = pytest.mark.slow  # end-to-end: scripts, training, export, search or experiments

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TUNE = os.path.join(ROOT, "scripts", "tune.py")
SMALL = tuning.SearchSpace(cifar_n=(1, 1), width_multiplier=(1.0, 1.0))


@pytest.fixture(scope="module")
def idx_dir(tmp_path_factory):
    return make_idx_dataset(str(tmp_path_factory.mktemp("tune_data")), num_train=160, num_test=40)


def config(idx_dir, model_dir, **kwargs):
    values = dict(dataset="mnist", data_dir=idx_dir, model_dir=str(model_dir), max_trials=2, epochs=1,
                  batch_size=32, download=False, verbose=0, space=SMALL)
    values.update(kwargs)
    return tuning.TuneConfig(**values)


def test_random_search_writes_best_hyperparameters_and_model_and_resumes(idx_dir, tmp_path):
    result = tuning.search(config(idx_dir, tmp_path))
    assert result["num_trials"] == 2
    best = json.loads((tmp_path / "best_hyperparameters.json").read_text())
    assert best["model"] == "resnet8" and best["objective"] == "val_accuracy"
    assert best["values"]["family"] == "cifar" and best["values"]["shortcut"] in ("A", "B")
    assert 0.01 <= best["values"]["learning_rate"] <= 0.3
    assert best["score"] == pytest.approx(result["score"])
    run = json.loads((tmp_path / "best" / "run.json").read_text())
    assert run["model"] == "resnet8" and run["class_names"] == [str(i) for i in range(10)]
    assert os.path.isfile(tmp_path / "best" / "final.keras")
    assert len((tmp_path / "trials.txt").read_text().strip().splitlines()) == 3
    first = {t.trial_id: t.hyperparameters.values for t in _oracle_trials(tmp_path)}

    # A relaunch with a larger budget keeps both trials and runs one more.
    again = tuning.search(config(idx_dir, tmp_path, max_trials=3))
    assert again["num_trials"] == 3
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
                                         tuning.SearchSpace(families=("imagenet",), imagenet_depths=(50,)))
    hp = keras_tuner.HyperParameters()
    model = hypermodel.build(hp)
    assert model.name == "resnet50"
    for name in ("family", "imagenet_depth", "shortcut", "stride_in_1x1", "width_multiplier", "learning_rate",
                 "momentum", "weight_decay", "label_smoothing", "augmentation"):
        assert name in hp.values, name
    # Small images leave only the CIFAR family.
    small = tuning.ResNetHyperModel((28, 28, 1), 10, np.zeros((28, 28, 1), "float32"), 10,
                                    tuning.SearchSpace(families=("cifar", "imagenet")))
    assert small.space.families == ("cifar",)


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
    ],
)
def test_bad_input_fails_before_any_trial(idx_dir, tmp_path, changes, message):
    with pytest.raises(ValueError, match=message):
        tuning.search(config(idx_dir, tmp_path, **changes))
    assert not os.listdir(tmp_path)


def tune(idx_dir, model_dir, *flags):
    """scripts/tune.py on the tiny data set, one epoch a trial of resnet8."""
    return [sys.executable, TUNE, "--dataset=mnist", f"--data_dir={idx_dir}", f"--model_dir={model_dir}",
            "--epochs=1", "--batch_size=32", "--nodownload", "--verbose=0", "--cifar_n=1,1", "--width_multiplier=1,1",
            *flags]


ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")


def records(model_dir):
    return json.loads((model_dir / "trials.json").read_text())["trials"]


def test_two_local_workers_share_the_trials_each_training_mirrored_and_a_relaunch_adds_none(idx_dir, tmp_path):
    out = subprocess.run(tune(idx_dir, tmp_path, "--max_trials=3", "--workers=2", "--strategy=mirrored"),
                         capture_output=True, text=True, timeout=300, env=ENV)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    host = socket.gethostname()
    workers = {f"{host}-0", f"{host}-1"}
    assert re.search(r"\[chief\] serving the search at 127.0.0.1:\d+, to 2 worker\(s\) on this machine", out.stdout)
    for worker in workers:  # each worker trains its trials mirrored over its own 2 logical CPUs
        assert f"[{worker}] worker {worker}: working for the chief at 127.0.0.1:" in out.stdout
        assert re.search(rf"\[{worker}\] worker {worker}: .* each trial trains on 2 replica\(s\) "
                         r"\(--strategy=mirrored\)", out.stdout)
    assert "3 trial(s); best model in" in out.stdout
    first = records(tmp_path)
    assert [r["status"] for r in first] == ["COMPLETED"] * 3
    assert {r["worker"] for r in first} == workers  # shared between both
    assert all([run["outcome"] for run in r["runs"]] == ["reported"] for r in first)
    assert len((tmp_path / "trials.txt").read_text().strip().splitlines()) == 4
    assert json.loads((tmp_path / "best" / "run.json").read_text())["model"] == "resnet8"

    # The relaunch of a finished search starts no worker and adds no trial.
    again = tuning.search(config(idx_dir, tmp_path, max_trials=3, workers=2, strategy="mirrored"))
    assert again["num_trials"] == 3 and again["trials"] == first and again["score"] == max(r["score"] for r in first)

    # The best model, trained by a worker, exports.
    from keras_resnet.export import exporter as export

    reports = export.export_model(str(tmp_path / "best"), str(tmp_path / "exported"), formats=["saved_model"],
                                  num_samples=8)
    assert reports[0].max_abs_diff <= 1e-5



def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_killed_workers_trial_is_run_by_the_other_worker_and_a_second_search_is_refused(idx_dir, tmp_path):
    oracle = f"--oracle=127.0.0.1:{free_port()}"
    chief = subprocess.Popen(tune(idx_dir, tmp_path, "--max_trials=3", "--epochs=2", "--role=chief", oracle,
                                  "--worker_timeout=6"), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                             env=ENV)
    workers = {name: subprocess.Popen(tune(idx_dir, tmp_path, "--max_trials=3", "--epochs=2", "--role=worker",
                                           oracle, f"--worker_id={name}"),
                                      stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=ENV)
               for name in ("a", "b")}
    try:
        deadline, killed = time.monotonic() + 180, None
        while killed is None and time.monotonic() < deadline:
            running = [r for r in records(tmp_path) if r["runs"][-1]["worker"] == "a"
                       and r["runs"][-1]["ended"] is None] if (tmp_path / "trials.json").exists() else []
            if running:
                workers["a"].kill()
                killed = running[0]["trial_id"]
            time.sleep(0.2)
        assert killed is not None, "worker a never ran a trial"
        with pytest.raises(ValueError, match="is in use by a running search"):
            tuning.search(config(idx_dir, tmp_path, max_trials=3, epochs=2))
        out, _ = chief.communicate(timeout=240)
        assert chief.returncode == 0, out[-3000:]
        assert workers["b"].wait(timeout=60) == 0
    finally:
        for proc in [chief, *workers.values()]:
            if proc.poll() is None:
                proc.kill()
    assert f"[chief] worker a lost (silent for 6 s): trial {killed} goes back to the queue" in out
    assert "3 trial(s); best model in" in out
    trials = {r["trial_id"]: r for r in records(tmp_path)}
    assert [r["status"] for r in trials.values()] == ["COMPLETED"] * 3
    runs = trials[killed]["runs"]
    assert (runs[0]["worker"], runs[0]["outcome"]) == ("a", "lost")
    assert (runs[-1]["worker"], runs[-1]["outcome"]) == ("b", "reported") and trials[killed]["worker"] == "b"


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

    def fake_measure(options, make_step, batch_size, run_steps, timer=None):
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
