"""Training tests: tiny generated data, a CIFAR net of depth 8, a few steps."""

import dataclasses
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time

import h5py
import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_resnet
from keras_resnet.train import reports, training

from helpers import ROOT, run_script

pytestmark = pytest.mark.slow  # end-to-end: scripts, training, export, search or experiments

TRAIN = os.path.join(ROOT, "scripts", "train.py")


def config(idx_dir, model_dir, **kwargs):
    defaults = dict(model="resnet8", dataset="mnist", data_dir=idx_dir, model_dir=str(model_dir),
                    batch_size=32, epochs=1, download=False, verbose=0, validation_split=0.2)
    defaults.update(kwargs)
    return training.TrainConfig(**defaults)


def train_script(args, env=None, timeout=300):
    return run_script("train.py", *args, env=env, timeout=timeout)


def test_one_epoch_writes_every_artifact(idx_dir, tmp_path):
    settings = config(idx_dir, tmp_path, stochastic_depth=0.5, tta="flip")
    result = training.train(settings)
    assert np.isfinite(result["test_loss"]) and 0 <= result["test_accuracy"] <= 1
    assert (result["epochs"], result["steps_per_epoch"], result["num_train"]) == (1, 4, 128)
    for name in ("best.weights.h5", "final.weights.h5", "final.keras", "history.csv",
                 "training_curves.png", "labels.txt", "run.json", "result.json"):
        assert os.path.isfile(tmp_path / name), name
    assert os.listdir(tmp_path / "logs")
    run = json.loads((tmp_path / "run.json").read_text())
    assert run["model"] == "resnet8" and run["classes"] == 10 and run["input_size"] == [28, 28]
    model = result["model"]
    assert model.layers[1].name == "preprocessing" and model.input_shape == (None, 28, 28, 1)
    # Stochastic depth: resnet8's 3 blocks drop their branch with 1/6, 2/6, 3/6.
    assert [round(layer.rate, 4) for layer in model.layers if isinstance(layer, keras_resnet.DropPath)] == [
        0.1667, 0.3333, 0.5]
    assert run["stochastic_depth"] == 0.5
    # --tta=flip: each test image scored by the outputs averaged over it and its mirror image.
    correct = total = 0
    for images, labels in training.prepare_data(settings, keras_resnet.get_spec("resnet8"), 32).test_ds:
        images = images.numpy()
        scores = model.predict(images, verbose=0) + model.predict(images[:, :, ::-1], verbose=0)
        correct += int(np.sum(np.argmax(scores, 1) == np.argmax(labels.numpy(), 1)))
        total += len(images)
    assert total == 40
    assert result["test_accuracy_flip_tta"] == pytest.approx(correct / total, abs=1e-6)
    assert json.loads((tmp_path / "result.json").read_text())["test_accuracy_flip_tta"] == pytest.approx(
        correct / total, abs=1e-6)
    assert f"with flip TTA {correct / total:.4f}" in reports.training_summary("resnet8", "mnist", result)


def test_flip_tta_accuracy_takes_the_class_of_the_averaged_outputs():
    # Logits [left pixel, 0]: an image [1, -3] is class 0 alone, but class 1 once averaged with its mirror
    # [-3, 1] (sigmoid(1) + sigmoid(-3) < 1), so the plain and the flip accuracies must differ.
    inputs = keras.Input((1, 2, 1))
    dense = keras.layers.Dense(2, activation="softmax", use_bias=False)
    model = keras.Model(inputs, dense(keras.layers.Flatten()(inputs)))
    dense.set_weights([np.array([[1.0, 0.0], [0.0, 0.0]], "float32")])
    model.compile(loss="categorical_crossentropy", metrics=[keras.metrics.CategoricalAccuracy(name="accuracy")])
    images = np.array([[1.0, -3.0], [1.0, -3.0], [3.0, -1.0]], "float32").reshape(3, 1, 2, 1)
    labels = np.eye(2, dtype="float32")[[1, 1, 0]]
    dataset = tf.data.Dataset.from_tensor_slices((images, labels)).batch(2)
    assert model.evaluate(dataset, verbose=0, return_dict=True)["accuracy"] == pytest.approx(1 / 3)
    assert training.flip_tta_accuracy(model, dataset) == pytest.approx(1.0)


def test_a_wide_resnet_trains_with_its_recipe_and_dropout(idx_dir, tmp_path):
    result = training.train(config(idx_dir, tmp_path, model="wrn10_2", recipe="wrn", dropout=0.3))
    assert np.isfinite(result["test_loss"])
    rates = [layer.rate for layer in result["model"].layers if isinstance(layer, keras.layers.Dropout)]
    assert rates == [0.3] * 3  # one per block: WRN-10 has one block per stage
    run = json.loads((tmp_path / "run.json").read_text())
    assert (run["model"], run["recipe"], run["dropout"], run["weight_decay"]) == ("wrn10_2", "wrn", 0.3, 5e-4)


def test_crop_padding_and_label_smoothing_reach_the_pipeline_the_loss_and_the_run_record(idx_dir, tmp_path,
                                                                                         monkeypatch):
    asked = []
    original = training.pipelines.PreparedData.train_pipeline

    def spy(self, augmentation, crop_padding=4):
        asked.append((augmentation, crop_padding))
        return original(self, augmentation, crop_padding)

    monkeypatch.setattr(training.pipelines.PreparedData, "train_pipeline", spy)
    result = training.train(config(idx_dir, tmp_path, recipe="fast", crop_padding=2, label_smoothing=0.0,
                                   train_steps=1))
    assert asked == [("cifar", 2)]
    assert result["model"].loss.label_smoothing == 0.0  # the fast recipe's 0.1 overridden
    run = json.loads((tmp_path / "run.json").read_text())
    assert (run["crop_padding"], run["label_smoothing"]) == (2, 0.0)


def test_training_learns_the_easy_data(idx_dir, tmp_path):
    result = training.train(config(idx_dir, tmp_path, epochs=6, recipe="fast", learning_rate=0.05))
    assert result["test_accuracy"] >= 0.5


class Interrupt(keras.callbacks.Callback):
    """Simulates a killed run: raises once `epoch` has ended (after its backup)."""

    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.epoch:
            raise KeyboardInterrupt(f"killed after epoch {epoch + 1}")


def test_relaunch_resumes_at_the_interrupted_epoch(idx_dir, tmp_path):
    cfg = config(idx_dir, tmp_path, epochs=3)
    with pytest.raises(KeyboardInterrupt):
        training.train(cfg, extra_callbacks=[Interrupt(0)])
    result = training.train(cfg)
    assert result["initial_epoch"] == 1 and result["epochs_run"] == 2 and result["epochs"] == 3
    rows = (tmp_path / "history.csv").read_text().strip().splitlines()
    assert [r.split(",")[0] for r in rows[1:]] == ["0", "1", "2"]
    # A finished run relaunched trains no more.
    again = training.train(cfg)
    assert again["epochs_run"] == 0


def test_a_damaged_backup_resumes_from_the_epoch_before_or_is_named(idx_dir, tmp_path):
    cfg = config(idx_dir, tmp_path, epochs=3)
    with pytest.raises(KeyboardInterrupt):
        training.train(cfg, extra_callbacks=[Interrupt(1)])  # backups of epochs 1 and 2
    latest, previous = tmp_path / "backup" / "latest.weights.h5", tmp_path / "backup" / "latest.weights.h5.bkp"
    intact = previous.read_bytes()
    latest.write_bytes(latest.read_bytes()[:500])  # killed while writing
    previous.write_bytes(intact[:500])
    with pytest.raises(ValueError, match=r"The run's backup in .*backup is damaged .*and so is the one before it: "
                                         r"the run cannot resume\. Delete .*backup to start it over"):
        training.train(cfg)
    previous.write_bytes(intact)
    result = training.train(cfg)  # the latest is damaged: Keras falls back to epoch 1's
    assert result["initial_epoch"] == 1 and result["epochs_run"] == 2 and np.isfinite(result["test_loss"])


class PoisonWeights(keras.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        if epoch == 1:
            kernel = self.model.get_layer("conv1_conv").kernel
            kernel.assign(np.full(kernel.shape, np.nan, "float32"))


def test_nan_loss_stops_with_a_clear_error_and_keeps_the_last_good_backup(idx_dir, tmp_path):
    cfg = config(idx_dir, tmp_path, epochs=2)
    with pytest.raises(training.NonFiniteLossError, match=r"loss became nan at epoch 2, step 1.*backup.*the same "
                                                          r"command resumes from it.*relaunch with a smaller "
                                                          r"--learning_rate and a new --model_dir") as stop:
        training.train(cfg, extra_callbacks=[PoisonWeights()])
    assert repr(str(tmp_path)) in str(stop.value)
    # The advice works: a lower rate is refused on this model_dir, and trains in a new one.
    with pytest.raises(ValueError, match="holds a run of another configuration"):
        training.validate(dataclasses.replace(cfg, learning_rate=0.01))
    lower = training.train(dataclasses.replace(cfg, learning_rate=0.01, model_dir=f"{tmp_path}_lower"))
    assert np.isfinite(lower["test_loss"])
    result = training.train(cfg)  # resumes from epoch 1's backup, which is finite
    assert result["initial_epoch"] == 1 and np.isfinite(result["test_loss"])


@pytest.mark.parametrize(
    "changes, message",
    [
        (dict(model="resnet51"), "Unknown model 'resnet51'; known: resnet18"),
        (dict(dataset="cifar11"), "Unknown dataset 'cifar11'"),
        (dict(strategy="horovod"), "Unknown strategy 'horovod'; known: default, one_device, mirrored"),
        (dict(recipe="paper"), "Unknown recipe 'paper'"),
        (dict(dtype="float64"), "Unknown dtype 'float64'"),
        (dict(dtype="mixed_float16"), "mixed_float16 needs a GPU.*mixed_bfloat16"),
        (dict(batch_size=0), "--batch_size must be >= 1"),
        (dict(image_size=16, model="resnet18"), "resnet18 needs images of at least 32 px"),
        (dict(image_size=100_000), r"--image_size must be in \[1, 2048\] \(larger images' activations exceed any "
                                   r"machine's memory\)\. Received: image_size=100000"),
        (dict(shortcut="Z"), "Unknown shortcut option"),
        (dict(augmentation="mixup"), "Unknown augmentation 'mixup'"),
        (dict(crop_padding=-1), "--crop_padding must be >= 0. Received: crop_padding=-1"),
        (dict(augmentation="none", crop_padding=2), r"this run's augmentation is none \(--augmentation\)"),
        (dict(recipe="imagenet", crop_padding=2), r"--crop_padding sets the cifar augmentation's padding; this "
                                                  r"run's augmentation is imagenet \(--recipe=imagenet\)"),
        (dict(stochastic_depth=1.0), r"--stochastic_depth must be in \[0, 1\)"),
        (dict(model="plain8", stochastic_depth=0.5), "plain8 is a plain net, which has none"),
        (dict(dropout=1.0), r"--dropout must be in \[0, 1\)"),
        (dict(label_smoothing=1.0), r"--label_smoothing must be in \[0, 1\). Received: label_smoothing=1.0"),
        (dict(model="preact_resnet164", dropout=0.3), "preact_resnet164 has bottleneck blocks"),
        (dict(tta="five_crop"), "Unknown tta 'five_crop'; known: none, flip"),
    ],
)
def test_bad_config_fails_before_any_work(idx_dir, tmp_path, changes, message):
    with pytest.raises(ValueError, match=message):
        training.validate(config(idx_dir, tmp_path, **changes))
    assert not os.listdir(tmp_path)


@pytest.mark.parametrize("native, warned", [(False, True), (True, False)])
def test_bfloat16_on_a_cpu_without_native_bfloat16_is_warned_of(idx_dir, tmp_path, monkeypatch, caplog, native,
                                                                 warned):
    monkeypatch.setattr(training.precision, "cpu_has_native_bfloat16", lambda: native)
    with caplog.at_level(logging.WARNING, logger="keras_resnet"):
        training.validate(config(idx_dir, tmp_path, dtype="mixed_bfloat16"))
    assert ("convolution gradients ran 6 to 22x slower" in caplog.text) == warned
    assert not os.listdir(tmp_path)


def test_missing_data_names_the_paths_looked_in(tmp_path):
    cfg = config(str(tmp_path / "nothing"), tmp_path / "run")
    with pytest.raises(ValueError, match="No mnist IDX files .*nothing"):
        training.train(cfg)
    assert not os.path.exists(tmp_path / "run")  # a failed start leaves no directory behind


def test_a_relaunch_with_other_trajectory_settings_is_refused_and_changes_nothing(idx_dir, tmp_path):
    training.train(config(idx_dir, tmp_path, recipe="fast"))
    before = {name: os.path.getmtime(tmp_path / name) for name in ("run.json", "final.keras", "history.csv")}
    with pytest.raises(ValueError, match=r"recipe: 'fast' there, 'cifar' now.*batch_size: 32 there, 64 now.*"
                                         r"pass the same flags to resume it, or another --model_dir"):
        training.train(config(idx_dir, tmp_path, recipe="cifar", batch_size=64))
    with pytest.raises(ValueError, match=r"learning_rate: 0.025 there, 0.5 now"):
        training.train(config(idx_dir, tmp_path, recipe="fast", learning_rate=0.5))
    with pytest.raises(ValueError, match=r"crop_padding: 4 there, 2 now"):
        training.train(config(idx_dir, tmp_path, recipe="fast", crop_padding=2))
    with pytest.raises(ValueError, match=r"label_smoothing: 0.1 there, 0.0 now"):
        training.train(config(idx_dir, tmp_path, recipe="fast", label_smoothing=0.0))
    assert before == {name: os.path.getmtime(tmp_path / name) for name in before}
    # The recipe's own batch size and label smoothing given explicitly are the same run.
    assert training.train(config(idx_dir, tmp_path, recipe="fast", batch_size=32,
                                 label_smoothing=0.1))["epochs_run"] == 0
    # A run recorded before --crop_padding and --label_smoothing existed padded the paper's 4 and smoothed as
    # its recipe does: it is the same run.
    run = json.loads((tmp_path / "run.json").read_text())
    assert (run["crop_padding"], run["label_smoothing"]) == (4, 0.1)
    del run["crop_padding"], run["label_smoothing"]
    (tmp_path / "run.json").write_text(json.dumps(run))
    assert training.train(config(idx_dir, tmp_path, recipe="fast"))["epochs_run"] == 0
    with pytest.raises(ValueError, match=r"crop_padding: 4 there, 2 now"):
        training.train(config(idx_dir, tmp_path, recipe="fast", crop_padding=2))
    with pytest.raises(ValueError, match=r"label_smoothing: 0.1 there, 0.2 now"):
        training.train(config(idx_dir, tmp_path, recipe="fast", label_smoothing=0.2))


class PoisonFirstStep(keras.callbacks.Callback):
    def on_train_batch_begin(self, batch, logs=None):
        kernel = self.model.get_layer("conv1_conv").kernel
        kernel.assign(np.full(kernel.shape, np.nan, "float32"))


def test_nan_in_the_first_epoch_says_there_is_no_backup(idx_dir, tmp_path):
    with pytest.raises(training.NonFiniteLossError, match=r"epoch 1, step 1.*no epoch had finished, so there is "
                                                          r"no backup; to train with a lower rate, relaunch"):
        training.train(config(idx_dir, tmp_path), extra_callbacks=[PoisonFirstStep()])


def test_model_dir_of_another_model_is_refused(idx_dir, tmp_path):
    training.train(config(idx_dir, tmp_path))
    before = sorted(os.listdir(tmp_path))
    with pytest.raises(ValueError, match="holds a run of another configuration .*model: 'resnet8' there, 'resnet14' now"):
        training.validate(config(idx_dir, tmp_path, model="resnet14"))
    assert sorted(os.listdir(tmp_path)) == before


def first_step_loss(idx_dir, model_dir, strategy):
    code = (
        "import sys, json; from keras_resnet.train import training as t\n"
        f"c = t.TrainConfig(model='resnet8', dataset='mnist', data_dir={idx_dir!r}, model_dir={str(model_dir)!r},"
        f" batch_size=32, train_steps=1, download=False, verbose=0, validation_split=0, strategy={strategy!r},"
        " sync_bn=True, recipe='fast', augmentation='none', max_train_examples=32)\n"
        "r = t.train(c)\n"
        "import csv; row = list(csv.DictReader(open(r['final_weights'].replace('final.weights.h5', 'history.csv'))))[0]\n"
        "print(json.dumps({'loss': float(row['loss']), 'replicas': int(__import__('tensorflow').distribute.get_strategy().num_replicas_in_sync)}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                         env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"), cwd=ROOT)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])["loss"]


def test_mirrored_on_two_logical_cpus_matches_default_first_step(idx_dir, tmp_path):
    # One global batch of 32: tf.distribute rewrites the input pipeline, which
    # reorders the shuffle, and within one batch the order cannot matter to a
    # mean loss with synchronised BN statistics.
    default = first_step_loss(idx_dir, tmp_path / "default", "default")
    mirrored = first_step_loss(idx_dir, tmp_path / "mirrored", "mirrored")
    assert np.isfinite(default)
    assert mirrored == pytest.approx(default, abs=1e-4)


def test_script_mirrored_epoch_and_indivisible_batch(idx_dir, tmp_path):
    common = ["--model=resnet8", "--dataset=mnist", f"--data_dir={idx_dir}", "--epochs=1", "--verbose=0",
              "--nodownload", "--strategy=mirrored"]
    bad = train_script(common + [f"--model_dir={tmp_path / 'bad'}", "--batch_size=33"])
    assert bad.returncode == 1
    assert "--batch_size=33 (global) must divide evenly over the 2 replicas" in bad.stderr
    ok = train_script(common + [f"--model_dir={tmp_path / 'ok'}", "--batch_size=32", "--tta=flip"])
    assert ok.returncode == 0, ok.stderr[-3000:]
    assert "resnet8 on mnist: test loss" in ok.stdout and "test accuracy" in ok.stdout
    assert "with flip TTA" in ok.stdout


def free_ports(n):
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def test_two_workers_on_localhost_finish_with_the_same_weights(idx_dir, tmp_path):
    workers = [f"127.0.0.1:{p}" for p in free_ports(2)]
    args = ["--model=resnet8", "--dataset=mnist", f"--data_dir={idx_dir}", "--train_steps=3", "--verbose=0",
            "--nodownload", "--strategy=multi_worker_mirrored", "--batch_size=32", f"--model_dir={tmp_path}",
            # Without sync BN each worker's moving statistics see only its shard.
            "--sync_bn"]
    procs = []
    for index in range(2):
        tf_config = json.dumps({"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}})
        env = dict(os.environ, TF_CONFIG=tf_config, TF_CPP_MIN_LOG_LEVEL="2")
        procs.append(subprocess.Popen([sys.executable, TRAIN] + args, env=env, cwd=ROOT,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    outputs = []
    try:
        for proc in procs:
            outputs.append(proc.communicate(timeout=300))
    finally:
        for proc in procs:
            proc.kill()
    for proc, (out, err) in zip(procs, outputs):
        assert proc.returncode == 0, err[-3000:]
    chief = h5py.File(tmp_path / "final.weights.h5", "r")
    other = h5py.File(tmp_path / "workers" / "1" / "final.weights.h5", "r")
    names = []
    chief.visititems(lambda n, o: names.append(n) if isinstance(o, h5py.Dataset) else None)
    assert len(names) > 20
    for name in names:
        np.testing.assert_array_equal(chief[name][()], other[name][()], err_msg=name)


def _lonely_worker(idx_dir, tmp_path, *flags):
    """A worker of a two-worker cluster whose other worker never comes."""
    workers = [f"127.0.0.1:{p}" for p in free_ports(2)]
    tf_config = json.dumps({"cluster": {"worker": workers}, "task": {"type": "worker", "index": 0}})
    env = dict(os.environ, TF_CONFIG=tf_config)
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)
    args = ["--model=resnet8", "--dataset=mnist", f"--data_dir={idx_dir}", "--train_steps=1", "--verbose=0",
            "--nodownload", "--strategy=multi_worker_mirrored", f"--model_dir={tmp_path / 'run'}", *flags]
    proc = subprocess.Popen([sys.executable, TRAIN] + args, env=env, cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    return proc, workers


def test_a_worker_whose_peer_never_comes_stops_at_the_cluster_timeout_naming_it(idx_dir, tmp_path):
    """It printed nothing for 5 minutes and waited on (TensorFlow's own wait has no deadline)."""
    proc, workers = _lonely_worker(idx_dir, tmp_path, "--cluster_timeout=3")
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 1
    assert out.splitlines()[-1] == (f"Waiting up to 3 s for the cluster's other workers ({workers[1]}) to join this "
                                    f"one ({workers[0]})")
    assert err.splitlines() == [f"error: the cluster's other workers ({workers[1]}) did not all join within 3 s "
                                "(--cluster_timeout): check that each was started with the same TF_CONFIG cluster "
                                "and can reach the others' addresses"]
    assert not os.path.exists(tmp_path / "run" / "run.json")


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT])
def test_sigterm_and_sigint_stop_a_worker_waiting_for_its_cluster_within_seconds(idx_dir, tmp_path, stop):
    """The wait holds Python's lock in TensorFlow's C++ code, and TensorFlow takes SIGTERM for a preemption notice:
    both signals were ignored until SIGKILL."""
    proc, workers = _lonely_worker(idx_dir, tmp_path, "--cluster_timeout=600")
    try:
        assert proc.stdout.readline().startswith("Waiting up to 600 s for the cluster's other workers")
        time.sleep(1)
        proc.send_signal(stop)
        sent = time.monotonic()
        out, err = proc.communicate(timeout=30)
        assert time.monotonic() - sent < 5
    finally:
        proc.kill()
    assert proc.returncode != 0
    assert err.splitlines() == [f"stopped by {stop.name} while waiting for the cluster's other workers "
                                f"({workers[1]})"]


def _image_folder(root, classes, per_class=4, side=16):
    for cls in classes:
        (root / cls).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            pixels = np.random.default_rng(i).integers(0, 255, (side, side, 3), dtype=np.uint8)
            (root / cls / f"{i}.png").write_bytes(tf.io.encode_png(pixels).numpy())


def test_a_relaunch_on_other_classes_is_refused_before_anything_is_written(tmp_path):
    """A class added, or a folder renamed, would shift labels or change the head: its run.json and labels stay."""
    images = tmp_path / "images"
    _image_folder(images, ("ant", "bee"))
    settings = training.TrainConfig(model="resnet8", dataset="image_folder", data_dir=str(images), train_steps=1,
                                    batch_size=4, verbose=0, validation_split=0.0, model_dir=str(tmp_path / "run"))
    training.train(settings)
    kept = {name: (tmp_path / "run" / name).read_bytes() for name in ("run.json", "labels.txt", "result.json")}
    _image_folder(images, ("cat",))
    with pytest.raises(ValueError, match=r"holds a run trained on other classes \(added cat\): a relaunch resumes "
                                         r"only the same classes\. .* --weights=.*final\.weights\.h5"):
        training.train(settings)
    import shutil

    shutil.rmtree(images / "cat")
    (images / "bee").rename(images / "bug")
    with pytest.raises(ValueError, match=r"other classes \(renamed bee -> bug\)"):
        training.train(settings)
    assert {name: (tmp_path / "run" / name).read_bytes() for name in kept} == kept



def test_history_rows_are_published_whole_each_epoch(tmp_path, monkeypatch):
    """A kill or a full disk while an epoch's row is written leaves the previous file whole (CSVLogger appended)."""
    path = tmp_path / "history.csv"
    log = training.HistoryLog(str(path))
    log.on_epoch_end(0, {"loss": 1.5, "accuracy": 0.5})
    first = path.read_text()
    assert first == "epoch,accuracy,loss\n0,0.5,1.5\n"

    def fail(*args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OSError):
        log.on_epoch_end(1, {"loss": 1.0, "accuracy": 0.75})
    assert path.read_text() == first and os.listdir(tmp_path) == ["history.csv"]
    monkeypatch.undo()
    training.HistoryLog(str(path)).on_epoch_end(1, {"loss": 1.0, "accuracy": 0.75})  # a resumed run appends
    assert reports.read_history(str(path)) == {"epoch": [0.0, 1.0], "accuracy": [0.5, 0.75], "loss": [1.5, 1.0]}
