"""The paper's experiments end to end on tiny generated data and budgets; lesions and responses exactly."""

import csv
import json
import os
import subprocess
import sys

import pytest

from keras_resnet.research import experiments
from keras_resnet.research.experiments import ReproduceConfig

from helpers import ROOT, make_idx_dataset

pytestmark = pytest.mark.slow  # end-to-end: scripts, training, export, search or experiments

REPRODUCE = os.path.join(ROOT, "scripts", "reproduce.py")


def reproduce_config(idx_dir, model_dir, experiment, **kwargs):
    values = dict(experiment=experiment, dataset="mnist", data_dir=idx_dir, model_dir=str(model_dir),
                  depths=(8, 14), lesion_depth=14, epochs=2, max_train_examples=64, batch_size=32,
                  download=False, verbose=0, lesion_max_deleted=2, lesion_draws=2)
    values.update(kwargs)
    return ReproduceConfig(**values)


@pytest.fixture(scope="module")
def idx_dir(tmp_path_factory):
    return make_idx_dataset(str(tmp_path_factory.mktemp("fmnist")), num_train=80, num_test=40)


@pytest.fixture(scope="module")
def degraded(idx_dir, tmp_path_factory):
    """The degradation experiment run once: its result and the directory of its four nets."""
    model_dir = tmp_path_factory.mktemp("reproduce")
    return experiments.run(reproduce_config(idx_dir, model_dir, "degradation")), model_dir


def _mtimes(model_dir):
    return {name: os.path.getmtime(model_dir / name / "history.csv")
            for name in ("plain8", "plain14", "resnet8", "resnet14")}


def test_degradation_trains_plain_and_residual_twins_and_writes_figure_6(degraded):
    result, model_dir = degraded
    assert list(result["nets"]) == ["plain8", "plain14", "resnet8", "resnet14"]
    for name, net in result["nets"].items():
        assert net["epochs"] == [1, 2]
        assert len(net["train_error"]) == 2 and len(net["test_error"]) == 2
        assert all(0 <= e <= 100 for e in net["train_error"] + net["test_error"])
        with open(model_dir / name / "result.json") as f:
            assert net["final_test_error"] == pytest.approx(100 * (1 - json.load(f)["test_accuracy"]))
        # The last epoch's recorded test error is the final model's: the same weights, the same images.
        assert net["test_error"][-1] == pytest.approx(net["final_test_error"], abs=1e-4)
    assert set(result["findings"]) == {"plain14_train_error_minus_plain8", "plain14_test_error_minus_plain8",
                                       "resnet14_train_error_minus_resnet8", "resnet14_test_error_minus_resnet8"}
    paths = result["paths"]
    with open(paths["png"], "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    with open(paths["json"]) as f:
        assert json.load(f)["nets"]["plain14"]["depth"] == 14
    with open(paths["csv"]) as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 8 and rows[0]["net"] == "plain8" and rows[0]["epoch"] == "1"


def test_responses_reuse_the_trained_nets_and_write_figure_7(degraded, idx_dir):
    _, model_dir = degraded
    before = _mtimes(model_dir)
    result = experiments.run(reproduce_config(idx_dir, model_dir, "responses"))
    assert _mtimes(model_dir) == before  # read back, not trained again
    for name, depth in (("plain8", 8), ("resnet14", 14)):
        layers = result["nets"][name]["layers"]
        assert len(layers) == depth - 1  # every 3x3 conv: the stem and two per block
        assert layers[0]["layer"] == "conv1_bn" and layers[-1]["layer"] == "conv4_block{}_2_bn".format((depth - 2) // 6)
        assert all(layer["std"] > 0 for layer in layers)
    assert set(result["findings"]) == {"resnet8_mean_std_over_plain8", "resnet14_mean_std_over_plain14"}
    with open(result["paths"]["png"], "rb") as f:
        assert f.read(4) == b"\x89PNG"
    assert result["images"] == 40


def test_lesion_deletes_each_block_then_random_ones(degraded, idx_dir):
    _, model_dir = degraded
    before = _mtimes(model_dir)
    result = experiments.run(reproduce_config(idx_dir, model_dir, "lesion", eval_examples=24))
    assert _mtimes(model_dir) == before
    assert list(result["nets"]) == ["plain14", "resnet14"]
    for net in result["nets"].values():
        assert [b["block"] for b in net["single"]] == [f"conv{s}_block{b}" for s in (2, 3, 4) for b in (1, 2)]
        assert [b["changes_shape"] for b in net["single"]] == [False, False, True, False, True, False]
        assert [r["deleted"] for r in net["random"]] == [1, 2]
        assert all(len(r["errors"]) == 2 for r in net["random"])
    assert result["images"] == 24
    with open(result["paths"]["csv"]) as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 2 * (6 + 2 * 2)
    with open(result["paths"]["png"], "rb") as f:
        assert f.read(4) == b"\x89PNG"


def test_table6_script_end_to_end(idx_dir, tmp_path):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    out = subprocess.run(
        [sys.executable, REPRODUCE, "table6", "--dataset=mnist", f"--data_dir={idx_dir}",
         f"--model_dir={tmp_path}", "--depths=8", "--train_steps=2", "--batch_size=16", "--nodownload",
         "--verbose=0"], capture_output=True, text=True, env=env, timeout=300, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "| ResNet-8 |" in out.stdout and "not comparable" in out.stdout
    with open(tmp_path / "table6.json") as f:
        result = json.load(f)
    assert result["nets"]["resnet8"]["paper_error"] is None and result["comparable"] is False
    assert os.path.isfile(tmp_path / "table6" / "resnet8" / "final.keras")
    with open(tmp_path / "table6.md") as f:
        assert "| ResNet-8 |" in f.read()


def test_script_names_the_experiments_when_none_is_given(tmp_path):
    model_dir = tmp_path / "runs"
    out = subprocess.run([sys.executable, REPRODUCE, "nonsense", f"--model_dir={model_dir}"], capture_output=True,
                         text=True, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"), timeout=120, cwd=ROOT)
    assert out.returncode == 1
    assert "Name one experiment: degradation, responses, lesion, table6" in out.stderr
    assert not model_dir.exists()


@pytest.mark.parametrize("kwargs, message", [
    (dict(experiment="lesion", depths=(8, 14), lesion_depth=20), r"--lesion_depth=20 must be one of --depths \(8,14\)"),
    (dict(depths=(8, 15)), r"--depths takes CIFAR depths 6n\+2"),
    (dict(recipe="slow"), r"Unknown recipe 'slow'; known: cifar, imagenet, wrn, fast, finetune"),
    (dict(lesion_draws=0), "--lesion_draws must be >= 1"),
])
def test_bad_settings_are_refused_before_any_work(kwargs, message, tmp_path):
    values = dict(experiment="degradation", model_dir=str(tmp_path / "runs"))
    values.update(kwargs)
    with pytest.raises(ValueError, match=message):
        experiments.run(ReproduceConfig(**values))
    assert not (tmp_path / "runs").exists()


def test_a_trained_net_of_another_budget_is_refused_before_any_work(degraded, idx_dir):
    _, model_dir = degraded
    with pytest.raises(ValueError, match="holds a run of another configuration.*epochs: 2 there, 3 now"):
        experiments.validate(reproduce_config(idx_dir, model_dir, "responses", epochs=3))


def test_budget_defaults():
    config = ReproduceConfig(experiment="degradation")
    assert experiments.budget(config) == dict(epochs=4, train_steps=None, time_budget=None, warmup_steps=None,
                                              default_warmup_steps=78, max_train_examples=10_000,
                                              max_test_examples=2_000)
    # --time_budget: each net trains to it, in place of the default epochs.
    timed = ReproduceConfig(experiment="degradation", time_budget="2m")
    assert experiments.budget(timed)["epochs"] is None
    assert {experiments.train_config(timed, name).time_budget for name in experiments.nets(timed)} == {"2m"}
    assert experiments.budget(ReproduceConfig(warmup_steps=0))["warmup_steps"] == 0
    assert experiments.budget(ReproduceConfig(experiment="lesion", train_steps=5))["epochs"] is None
    assert experiments.budget(ReproduceConfig(experiment="table6")) == dict(
        epochs=None, train_steps=None, time_budget=None, warmup_steps=None, max_train_examples=None,
        max_test_examples=None)
    assert experiments.nets(ReproduceConfig(experiment="lesion")) == ["plain56", "resnet56"]
    assert ReproduceConfig().model_dir == "runs/reproduce_fashion_mnist"


def test_test_history_keeps_the_last_row_of_each_epoch(tmp_path):
    path = tmp_path / "test_history.csv"
    path.write_text("epoch,test_loss,test_accuracy\n0,1.0,0.5\n1,0.9,0.6\n1,0.8,0.7\n")
    assert experiments.read_test_history(str(path)) == {0: 0.5, 1: 0.7}
