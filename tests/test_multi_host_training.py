"""Multi-worker training across hosts: each worker on a network namespace of its own (tests/hosts.py).

The faults a single machine hides: a link cut mid-epoch while both processes
live on (a partition, not a kill), and a cluster address one host cannot
resolve. Under CI=true these tests cannot skip (`hosts.require`).
"""

import json
import os
import re
import subprocess
import sys
import time

import h5py
import numpy as np
import pytest

import hosts
from helpers import ROOT, last_line, make_idx_dataset, wait_for

ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
PORT = 23456


@pytest.fixture(autouse=True)
def namespaces():
    hosts.require()


TRAIN = os.path.join(ROOT, "scripts", "train.py")


@pytest.fixture(scope="module")
def idx_dir(tmp_path_factory):
    # 1,024 training images: 29 steps an epoch of batch 32, long enough to cut a link inside an epoch.
    return make_idx_dataset(str(tmp_path_factory.mktemp("hosts_data")), num_train=1024, num_test=32)


def train_on(cluster, idx_dir, model_dir, *flags):
    """scripts/train.py on every host of `cluster`, each a worker of one TF_CONFIG cluster named by host name."""
    workers = [f"{h.name}:{PORT}" for h in cluster.hosts]
    procs = []
    for index, host in enumerate(cluster.hosts):
        tf_config = json.dumps({"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}})
        args = ["--model=resnet8", "--dataset=mnist", f"--data_dir={idx_dir}", "--verbose=0", "--nodownload",
                "--strategy=multi_worker_mirrored", "--batch_size=32", f"--model_dir={model_dir}", "--sync_bn",
                "--cluster_timeout=60", *flags]
        procs.append(host.popen([sys.executable, TRAIN, *args], env=dict(ENV, TF_CONFIG=tf_config), cwd=ROOT,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    return procs


def finish(procs, timeout=240):
    return [proc.communicate(timeout=timeout) for proc in procs]


def same_weights(first, second):
    with h5py.File(first, "r") as a, h5py.File(second, "r") as b:
        names = []
        a.visititems(lambda n, o: names.append(n) if isinstance(o, h5py.Dataset) else None)
        assert len(names) > 20
        for name in names:
            np.testing.assert_array_equal(a[name][()], b[name][()], err_msg=name)


@pytest.mark.slow
def test_two_hosts_train_to_the_same_weights(idx_dir, tmp_path):
    with hosts.Cluster(["host-a", "host-b"]) as cluster:
        outputs = finish(train_on(cluster, idx_dir, tmp_path, "--train_steps=3"))
    for out, err in outputs:
        assert "batch 32 over 2 replica(s)" in out, err[-3000:]
        assert "test accuracy" in out
    same_weights(tmp_path / "final.weights.h5", tmp_path / "workers" / "1" / "final.weights.h5")


@pytest.mark.slow
def test_a_host_cut_mid_epoch_stops_both_workers_in_one_line_and_a_relaunch_resumes(idx_dir, tmp_path):
    with hosts.Cluster(["host-a", "host-b"]) as cluster:
        procs = train_on(cluster, idx_dir, tmp_path, "--epochs=3")
        saved = tmp_path / "backup" / "training_metadata.json"
        wait_for(lambda: saved.exists() or any(p.poll() is not None for p in procs), 180, "epoch 1's backup")
        cluster["host-b"].cut()  # epoch 2 has begun; its next all-reduce cannot complete
        cut = time.monotonic()
        outputs = finish(procs, timeout=120)
        noticed = time.monotonic() - cut
        (_, chief_err), (_, worker_err) = outputs
        assert last_line(chief_err) == (
            f"error: lost worker 1 (host-b:{PORT}): no heartbeat within TensorFlow's timeout. The run stops here; "
            "relaunch every worker with the same command and it resumes from the last epoch saved in --model_dir")
        assert last_line(worker_err) == (
            f"error: lost the cluster's coordinator, worker 0 (host-a:{PORT}): it stopped answering this worker's "
            "heartbeats. The run stops here; relaunch every worker with the same command and it resumes from the "
            "last epoch saved in --model_dir")
        assert [p.returncode for p in procs] == [1, 1]
        assert "Traceback" not in chief_err + worker_err
        assert noticed < 60  # TensorFlow's coordination service: a 10 s heartbeat timeout
        print(f"both workers stopped {noticed:.1f} s after the cut")  # docs/guides/scaling-out.md quotes it
        cluster["host-b"].restore()
        relaunched = train_on(cluster, idx_dir, tmp_path, "--epochs=3")
        outputs = finish(relaunched)
    for proc, (out, err) in zip(relaunched, outputs):
        assert proc.returncode == 0, err[-3000:]
        assert "(2 epoch(s) run, from epoch 2;" in out
    same_weights(tmp_path / "final.weights.h5", tmp_path / "workers" / "1" / "final.weights.h5")


@pytest.mark.slow
def test_a_cluster_address_one_host_cannot_resolve_is_refused_at_once(idx_dir, tmp_path):
    with hosts.Cluster(["host-a", "host-b"], resolves={"host-b": ["host-b"]}) as cluster:
        worker = train_on(cluster, idx_dir, tmp_path, "--train_steps=1")[1]
        out, err = worker.communicate(timeout=120)
    assert worker.returncode == 1
    assert re.fullmatch(re.escape(f"error: TF_CONFIG's cluster names host-a:{PORT}, and host-a does not resolve on "
                                  "this machine (") + r"[^)]+" + re.escape(
        "): give each worker's address as every worker can resolve it (an IP address, or a name in /etc/hosts or "
        "DNS)"), last_line(err))
    assert "Waiting up to" not in out  # refused before the wait for the cluster
