"""The distributed search across hosts: the README's chief and workers, each on a network namespace of its own.

Faults: a worker's link cut during its trial, a chief killed and relaunched,
a chief's link cut, a chief bound to the loopback address, a chief's name one
host cannot resolve. Under CI=true these tests cannot skip (`hosts.require`).
"""

import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time

import pytest

import hosts
from helpers import ROOT, last_line, make_idx_dataset, wait_for

ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")


@pytest.fixture(autouse=True)
def namespaces():
    hosts.require()


def readme_search():
    """The README's multi-machine search: {comment naming the machines: argv} from its code block."""
    readme = open(os.path.join(ROOT, "README.md")).read()
    block = re.search(r"A search over three machines.*?```bash\n(.*?)```", readme, re.S).group(1)
    commands, machines = {}, None
    for line in block.replace("\\\n", " ").splitlines():
        if line.startswith("#"):
            machines = re.findall(r"machine-\w", line.split(":")[0])
        elif line.strip():
            for machine in machines:
                commands[machine] = shlex.split(line)
    return commands


def as_test(argv, idx_dir, model_dir, **overrides):
    """A README command with the data, size and timeouts of a test; its role and addresses are kept."""
    assert argv[0] == ".venv/bin/keras-resnet"
    values = dict(dataset="mnist", max_trials=6, model_dir=model_dir, data_dir=idx_dir, epochs=1, batch_size=32,
                  verbose=0, cifar_n="1,1", width_multiplier="1,1")
    values.update(overrides)
    kept = [a for a in argv[1:] if a[2:].split("=")[0] not in values]
    return [sys.executable, "-m", "keras_resnet", *kept, "--nodownload", *[f"--{k}={v}" for k, v in values.items()]]


@pytest.fixture(scope="module")
def search_data(tmp_path_factory):
    return make_idx_dataset(str(tmp_path_factory.mktemp("search_data")), num_train=160, num_test=40)


def records(model_dir):
    path = model_dir / "trials.json"
    return json.loads(path.read_text())["trials"] if path.exists() else []


def running_on(model_dir, worker):
    return [r for r in records(model_dir) if r["runs"][-1]["worker"] == worker and r["runs"][-1]["ended"] is None]


def start(host, argv):
    return host.popen(argv, env=ENV, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_the_readme_search_names_a_chief_and_two_workers():
    commands = readme_search()
    assert sorted(commands) == ["machine-a", "machine-b", "machine-c"]
    assert "--oracle=0.0.0.0:8470" in commands["machine-a"] and "--role=chief" in commands["machine-a"]
    assert commands["machine-b"] == commands["machine-c"]
    assert "--oracle=machine-a:8470" in commands["machine-b"] and "--role=worker" in commands["machine-b"]


@pytest.mark.slow
def test_the_readme_search_across_hosts_survives_a_workers_cut_link(search_data, tmp_path):
    """B's link is cut during its trial: after --worker_timeout C runs it; B's late result is ignored; B goes on."""
    commands = readme_search()
    with hosts.Cluster(["machine-a", "machine-b", "machine-c"]) as cluster:
        a, b, c = cluster.hosts
        chief = start(a, as_test(commands["machine-a"], search_data, tmp_path, worker_timeout=6))
        wait_for(lambda: (tmp_path / "search.json").exists(), 120, "the chief's search.json")
        workers = {h.name: start(h, as_test(commands[h.name], search_data, tmp_path, chief_timeout=120))
                   for h in (b, c)}
        cut = wait_for(lambda: running_on(tmp_path, "machine-b"), 180, "a trial on machine-b")[0]["trial_id"]
        b.cut()
        cut_at = time.monotonic()
        wait_for(lambda: next(r for r in records(tmp_path) if r["trial_id"] == cut)["runs"][-1]["worker"]
                 == "machine-c", 120, "machine-c taking the cut trial")
        taken = time.monotonic() - cut_at
        b.restore()
        out, err = chief.communicate(timeout=240)
        worker_outputs = {name: proc.communicate(timeout=60) for name, proc in workers.items()}
    assert chief.returncode == 0, err[-3000:]
    assert re.search(r"^\[chief\] serving the search at 0\.0\.0\.0:8470; workers on other machines join with "
                     r"--oracle=machine-a:8470$", out, re.M)
    assert f"[chief] worker machine-b lost (silent for 6 s): trial {cut} goes back to the queue" in out
    assert f"[chief] ignored machine-b's result of trial {cut}: the trial was given to another worker" in out
    assert 6 <= taken < 120  # the lease, then the other worker's own trial to its end
    print(f"machine-c took the cut trial {taken:.1f} s after the cut")  # docs/guides/scaling-out.md quotes it
    for name, proc in workers.items():
        assert proc.returncode == 0, worker_outputs[name][1][-3000:]
        assert "each trial trains on 2 replica(s) (--strategy=mirrored)" in worker_outputs[name][0]
    trials = {r["trial_id"]: r for r in records(tmp_path)}
    assert [r["status"] for r in trials.values()] == ["COMPLETED"] * 6
    runs = trials[cut]["runs"]
    assert [(r["worker"], r["outcome"]) for r in runs] == [("machine-b", "lost"), ("machine-c", "reported")]
    assert trials[cut]["worker"] == "machine-c"
    later = [r for r in trials.values() if r["worker"] == "machine-b" and r["started"] > runs[0]["ended"]]
    assert later, "machine-b ran no trial after its link came back"


@pytest.mark.slow
def test_a_relaunched_chief_keeps_its_waiting_workers_and_a_cut_chief_stops_them_in_one_line(search_data, tmp_path):
    commands = readme_search()
    with hosts.Cluster(["machine-a", "machine-b", "machine-c"]) as cluster:
        a, b, c = cluster.hosts
        chief_argv = as_test(commands["machine-a"], search_data, tmp_path, max_trials=20, worker_timeout=30)
        chief = start(a, chief_argv)
        wait_for(lambda: (tmp_path / "search.json").exists(), 120, "the chief's search.json")
        workers = {h.name: start(h, as_test(commands[h.name], search_data, tmp_path, max_trials=20,
                                            chief_timeout=40)) for h in (b, c)}
        running = wait_for(lambda: running_on(tmp_path, "machine-b"), 180, "a trial on machine-b")[0]["trial_id"]
        os.killpg(chief.pid, signal.SIGKILL)
        chief.wait()
        chief = start(a, chief_argv)  # the same command
        # Both workers carry on: each reports a trial to the relaunched chief.
        done_before = {r["trial_id"] for r in records(tmp_path) if r["status"] == "COMPLETED"}
        wait_for(lambda: {r["worker"] for r in records(tmp_path) if r["status"] == "COMPLETED"
                          and r["trial_id"] not in done_before} >= {"machine-b", "machine-c"}, 180,
                 "both workers reporting to the relaunched chief")
        a.cut()
        cut_at = time.monotonic()
        outputs = {name: proc.communicate(timeout=150) for name, proc in workers.items()}
        noticed = time.monotonic() - cut_at
    resumed = next(r for r in records(tmp_path) if r["trial_id"] == running)
    assert resumed["status"] == "COMPLETED" and resumed["worker"] == "machine-b"
    for name, proc in workers.items():
        assert proc.returncode == 1
        assert last_line(outputs[name][1]) == (f"error: worker {name} lost the search's chief at machine-a:8470 for "
                                               "more than 40 s (--chief_timeout): relaunch it to go on.")
    assert 40 <= noticed < 240  # each worker's trial to its end, then the lease
    print(f"both workers stopped {noticed:.1f} s after the chief's cut")  # docs/guides/scaling-out.md quotes it


@pytest.mark.slow
def test_a_chief_on_the_loopback_address_or_a_name_that_does_not_resolve_stops_workers_in_one_line(search_data,
                                                                                                    tmp_path):
    commands = readme_search()
    with hosts.Cluster(["machine-a", "machine-b", "machine-c"],
                       resolves={"machine-c": ["machine-c"]}) as cluster:
        a, b, c = cluster.hosts
        chief = start(a, as_test(commands["machine-a"], search_data, tmp_path, oracle="127.0.0.1:8470"))
        line = chief.stdout.readline()
        unresolved = start(c, as_test(commands["machine-c"], search_data, tmp_path, chief_timeout=5))
        unreached = start(b, as_test(commands["machine-b"], search_data, tmp_path, chief_timeout=5))
        outputs = {"b": unreached.communicate(timeout=120), "c": unresolved.communicate(timeout=120)}
    assert line.strip() == ("[chief] serving the search at 127.0.0.1:8470; only workers on this machine can reach "
                            "127.0.0.1: to serve other machines, pass --oracle=0.0.0.0:8470")
    assert unreached.returncode == 1 and last_line(outputs["b"][1]) == (
        "error: no search chief answered at machine-a:8470 within 5 s: start it first (scripts/tune.py "
        "--role=chief --oracle=machine-a:8470), or check --oracle, the network, and --chief_timeout.")
    assert unresolved.returncode == 1
    assert re.fullmatch(re.escape("error: --oracle=machine-a:8470: machine-a does not resolve on this machine (")
                        + r"[^)]+" + re.escape("): pass the chief's address, or a name this machine's resolver "
                                               "knows (/etc/hosts, DNS)."), last_line(outputs["c"][1]))
