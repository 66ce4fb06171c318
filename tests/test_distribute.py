"""Strategies, cluster roles, and whether Keras still needs the multi-worker workaround."""

import json
import os
import socket
import subprocess
import sys

import pytest

from keras_resnet.train import distribute


@pytest.mark.parametrize(
    "tf_config, role",
    [
        (None, distribute.TrainingRole(True, 0)),
        ({"cluster": {"worker": ["a:1", "b:2"]}, "task": {"type": "worker", "index": 0}}, distribute.TrainingRole(True, 0)),
        ({"cluster": {"worker": ["a:1", "b:2"]}, "task": {"type": "worker", "index": 1}}, distribute.TrainingRole(False, 1)),
        ({"cluster": {"chief": ["c:0"], "worker": ["a:1"]}, "task": {"type": "worker", "index": 0}},
         distribute.TrainingRole(False, 0)),
        ({"cluster": {"chief": ["c:0"], "worker": ["a:1"]}, "task": {"type": "chief", "index": 0}},
         distribute.TrainingRole(True, 0)),
    ],
)
def test_cluster_role_from_tf_config(monkeypatch, tf_config, role):
    if tf_config is None:
        monkeypatch.delenv("TF_CONFIG", raising=False)
    else:
        monkeypatch.setenv("TF_CONFIG", json.dumps(tf_config))
    assert distribute.cluster_role() == role


def test_the_single_process_strategies_build_and_an_unknown_name_lists_every_strategy():
    assert distribute.make_strategy("default").num_replicas_in_sync == 1
    assert distribute.make_strategy("one_device").num_replicas_in_sync == 1
    with pytest.raises(ValueError, match="Unknown strategy 'horovod'; known: default, one_device, mirrored, "
                                         "multi_worker_mirrored, tpu$"):
        distribute.make_strategy("horovod")


WORKER = """
import json, os, sys
import numpy as np, tensorflow as tf, keras
strategy = tf.distribute.MultiWorkerMirroredStrategy()
x = np.random.default_rng(0).random((32, 8), dtype=np.float32)
ds = tf.data.Dataset.from_tensor_slices((x, x[:, :1])).batch(8)
with strategy.scope():
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(1)])
    model.compile("sgd", "mse")
try:
    model.fit(ds, epochs=1, verbose=0)
    print("FIT OK")
except Exception as error:
    print("FIT FAILED " + str(error).replace(chr(10), " ")[:300])
"""


@pytest.mark.slow
def test_keras_still_needs_the_multi_worker_workaround():
    """Fails once Keras fixes keras-team/keras#20585: then delete distribute.prepare_for_strategy's patch."""
    sockets = [socket.socket() for _ in range(2)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    workers = [f"127.0.0.1:{s.getsockname()[1]}" for s in sockets]
    for s in sockets:
        s.close()
    procs = [subprocess.Popen([sys.executable, "-c", WORKER], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", TF_CONFIG=json.dumps(
                                  {"cluster": {"worker": workers}, "task": {"type": "worker", "index": i}})))
             for i in range(2)]
    try:
        outputs = [p.communicate(timeout=180)[0] for p in procs]
    finally:
        for p in procs:
            p.kill()
    assert any("FIT FAILED Attempt to convert a value (PerReplica" in out for out in outputs), (
        "fit under MultiWorkerMirroredStrategy works without the workaround now: remove it. " + repr(outputs))


TASKS = {("worker", 0): "host-a:2222", ("worker", 1): "host-b:2222"}
RELAUNCH = ("The run stops here; relaunch every worker with the same command and it resumes from the last epoch "
            "saved in --model_dir")


@pytest.mark.parametrize(
    "error, line",
    [
        # What TensorFlow 2.21 raised on the survivor and on the cut-off worker (tests/test_multi_host_training.py).
        ("Collective ops is aborted by: Error reported from /job:worker/task:1: The following tasks are unhealthy "
         "(stopped sending heartbeats):\n/job:worker/replica:0/task:1\nThe tasks have crashed.",
         f"lost worker 1 (host-b:2222): no heartbeat within TensorFlow's timeout. {RELAUNCH}"),
        ("Collective ops is aborted by: Deadline Exceeded\nRPC: /tensorflow.CoordinationService/Heartbeat\n",
         f"lost the cluster's coordinator, worker 0 (host-a:2222): it stopped answering this worker's heartbeats. "
         f"{RELAUNCH}"),
        ("Socket closed", None),
    ],
)
def test_a_lost_worker_is_named_with_its_address(error, line):
    assert distribute.lost_worker_message(error, TASKS) == line


def test_a_cluster_address_that_does_not_resolve_is_refused_before_the_wait():
    distribute.check_cluster_resolves(["127.0.0.1:2222", "localhost:2223"])
    with pytest.raises(ValueError, match=r"^TF_CONFIG's cluster names nowhere\.invalid:2222, and nowhere\.invalid "
                                         r"does not resolve on this machine \(.+\): give each worker's address"):
        distribute.check_cluster_resolves(["127.0.0.1:2222", "nowhere.invalid:2222"])
