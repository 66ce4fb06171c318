"""The distributed search: roles, shares, the chief's leases and records, a worker's bounded wait, and processes.

The chief is driven through keras-tuner's real servicer and oracle, with a
fake clock; one test goes over real gRPC on 127.0.0.1; two run searches of
scripts/tune.py processes on 127.0.0.1 end to end (workers started by the
chief, and workers started apart, one of them killed).
"""

import json
import os
import re
import socket
import subprocess
import sys
import time

import keras_tuner
import pytest
from keras_tuner.src import protos

from keras_resnet.search import cluster, tuning
from keras_resnet.search.cluster import CHIEF, WORKER, SearchRole
from keras_resnet.search.trials import TrialsLog

from helpers import ROOT

OBJECTIVE = "val_accuracy"


@pytest.mark.parametrize(
    "flags, env, expected",
    [
        (dict(), {}, SearchRole()),
        (dict(workers=2), {}, SearchRole(CHIEF, "127.0.0.1:0")),
        (dict(role="chief", oracle="0.0.0.0:8470", workers=2), {}, SearchRole(CHIEF, "0.0.0.0:8470")),
        (dict(role="worker", oracle="a:8470", worker_id="w1"), {}, SearchRole(WORKER, "a:8470", "w1")),
        (dict(role="worker", oracle="a:8470"), {}, SearchRole(WORKER, "a:8470", socket.gethostname())),
        (dict(), dict(KERASTUNER_TUNER_ID="chief", KERASTUNER_ORACLE_IP="10.0.0.1", KERASTUNER_ORACLE_PORT="8000"),
         SearchRole(CHIEF, "10.0.0.1:8000")),
        (dict(), dict(KERASTUNER_TUNER_ID="tuner3", KERASTUNER_ORACLE_IP="10.0.0.1", KERASTUNER_ORACLE_PORT="8000"),
         SearchRole(WORKER, "10.0.0.1:8000", "tuner3")),
        # Flags win over the variables.
        (dict(role="worker", oracle="b:1", worker_id="w"), dict(KERASTUNER_TUNER_ID="chief",
                                                               KERASTUNER_ORACLE_IP="x", KERASTUNER_ORACLE_PORT="2"),
         SearchRole(WORKER, "b:1", "w")),
    ],
)
def test_the_role_comes_from_the_flags_else_keras_tuners_variables_else_workers(flags, env, expected):
    args = dict(role=None, oracle=None, worker_id=None, workers=0)
    args.update(flags)
    role = cluster.resolve_role(**args, environ=env)
    assert role == expected
    assert role.local_only == (expected.address == "127.0.0.1:0")


@pytest.mark.parametrize(
    "flags, env, message",
    [
        (dict(role="chief"), {}, "--role=chief needs --oracle=HOST:PORT"),
        (dict(role="worker", oracle="host"), {}, r"--oracle takes HOST:PORT with a port in 1..65535. "
                                                  r"Received: oracle='host'"),
        (dict(role="worker", oracle="h:70000"), {}, "port in 1..65535"),
        (dict(role="worker", oracle="h:1", workers=2), {}, "--role=worker is one worker: --workers=2"),
        (dict(role="chief", oracle="h:1", worker_id="w"), {}, "--worker_id names a --role=worker process"),
        (dict(oracle="h:1"), {}, "pass --role=chief or --role=worker"),
        (dict(), dict(KERASTUNER_ORACLE_IP="h"), "KERASTUNER_ORACLE_PORT and KERASTUNER_TUNER_ID not"),
    ],
)
def test_flags_that_make_no_role_are_refused_in_one_line(flags, env, message):
    args = dict(role=None, oracle=None, worker_id=None, workers=0)
    args.update(flags)
    with pytest.raises(ValueError, match=message):
        cluster.resolve_role(**args, environ=env)


@pytest.mark.parametrize(
    "flags, message",
    [
        (dict(role="worker", oracle="a:1", advertise="b"), "--advertise=b names the host a --role=chief process is "
                                                          "reached at; this process is a worker"),
        (dict(workers=2, advertise="b"), "this process is no chief of a distributed search"),
        (dict(role="chief", oracle="0.0.0.0:1", advertise="b:2"), "--advertise takes a host name or address, "
                                                                  "without a port"),
    ],
)
def test_advertise_belongs_to_a_chief_and_takes_a_host(flags, message):
    args = dict(role=None, oracle=None, worker_id=None, workers=0)
    args.update(flags)
    with pytest.raises(ValueError, match=message):
        cluster.resolve_role(**args, environ={})


@pytest.mark.parametrize(
    "oracle, advertise, line",
    [
        ("0.0.0.0:8470", None, f"workers on other machines join with --oracle={socket.gethostname()}:8470"),
        ("0.0.0.0:8470", "10.1.2.3", "workers on other machines join with --oracle=10.1.2.3:8470"),
        ("machine-a:8470", None, "workers on other machines join with --oracle=machine-a:8470"),
        ("127.0.0.1:8470", None, "only workers on this machine can reach 127.0.0.1: to serve other machines, pass "
                                 "--oracle=0.0.0.0:8470"),
        ("localhost:8470", None, "only workers on this machine can reach localhost: to serve other machines, pass "
                                 "--oracle=0.0.0.0:8470"),
    ],
)
def test_the_chief_says_where_workers_on_other_machines_reach_it(oracle, advertise, line):
    role = cluster.resolve_role("chief", oracle, None, 0, environ={}, advertise=advertise)
    assert role.joining(8470) == line


def test_a_worker_whose_chief_does_not_resolve_stops_at_once():
    started = time.monotonic()
    with pytest.raises(ValueError, match=r"^--oracle=nowhere\.invalid:8470: nowhere\.invalid does not resolve on "
                                         r"this machine \(.+\): pass the chief's address"):
        cluster.join(SearchRole(WORKER, "nowhere.invalid:8470", "w"), timeout=600)
    assert time.monotonic() - started < 60  # not the --chief_timeout


def test_workers_split_the_gpus_or_else_the_cores():
    assert cluster.shares(2, [], [0, 1, 2, 3, 4]) == [{"cores": [0, 1]}, {"cores": [2, 3, 4]}]
    assert cluster.shares(2, ["0", "1", "2", "3"], range(16)) == [{"gpus": ["0", "1"]}, {"gpus": ["2", "3"]}]
    assert cluster.shares(1, [], [7]) == [{"cores": [7]}]
    with pytest.raises(ValueError, match="--workers=3 but this machine has 2 cores this process may use: each "
                                         "worker needs at least one. Use --workers<=2."):
        cluster.shares(3, [], [0, 1])
    with pytest.raises(ValueError, match="--workers=2 but this machine has 1 GPUs"):
        cluster.shares(2, ["0"], range(8))


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


class Context:
    """The servicer's view of a call: who makes it."""

    def __init__(self, worker=None):
        self.worker = worker

    def invocation_metadata(self):
        return [(cluster.ID_HEADER, self.worker)] if self.worker else []


def make_tuner(directory, max_trials=3, retries=1):
    def build(hp):
        hp.Float("x", 0.0, 1.0)

    return keras_tuner.RandomSearch(hypermodel=build, objective=keras_tuner.Objective(OBJECTIVE, "max"),
                                    max_trials=max_trials, directory=str(directory), project_name="search",
                                    overwrite=False, seed=1, max_retries_per_trial=retries)


def make_chief(directory, clock, lines, **kwargs):
    tuner = make_tuner(directory, **kwargs)
    log = TrialsLog(str(directory), OBJECTIVE, "max")
    chief = cluster.Chief(tuner.oracle, log, lost_after=10, clock=clock, say=lines.append)
    tuner.save()  # as tuning's chief does: after the chief took back the running trials
    return chief


def create(chief, worker):
    """A worker asks for a trial (its calls name it: a heartbeat-capable worker); returns the trial's id."""
    chief.beating.add(worker)
    chief.heard_from(worker)
    response = chief.servicer.CreateTrial(protos.get_service().CreateTrialRequest(tuner_id=worker), Context(worker))
    return response.trial.trial_id, response.trial.status


def report(chief, worker, trial_id, score):
    service = protos.get_service()
    chief.servicer.UpdateTrial(service.UpdateTrialRequest(trial_id=trial_id, metrics={OBJECTIVE: score}, step=0),
                               Context(worker))
    trial = chief.oracle.get_trial(trial_id)
    done = keras_tuner.engine.trial.Trial(trial.hyperparameters, trial_id=trial_id, status="COMPLETED")
    chief.servicer.EndTrial(service.EndTrialRequest(trial=done.to_proto()), Context(worker))


def runs(directory, trial_id):
    trials = json.loads((directory / "trials.json").read_text())["trials"]
    return [(run["worker"], run["outcome"]) for run in next(t for t in trials if t["trial_id"] == trial_id)["runs"]]


def test_a_silent_workers_trial_goes_to_the_next_worker_and_its_late_result_is_ignored(tmp_path):
    clock, lines = Clock(), []
    chief = make_chief(tmp_path, clock, lines)
    first, _ = create(chief, "a")
    second, _ = create(chief, "b")
    assert first != second and runs(tmp_path, first) == [("a", None)]

    clock.now += 9  # a stays silent; b calls
    chief.heard_from("b")
    assert chief.lose_gone_workers() == []
    clock.now += 2  # a has been silent for 11 s > 10 s
    assert chief.lose_gone_workers() == ["a"]
    assert lines[-1] == f"worker a lost (silent for 10 s): trial {first} goes back to the queue"
    assert chief.oracle.trials[first].status == "INVALID" and "a" not in chief.oracle.ongoing_trials

    report(chief, "b", second, 0.5)
    again, _ = create(chief, "b")
    assert again == first  # the lost trial before a new one
    report(chief, "a", first, 0.99)  # a's result, come late: a no longer holds the trial
    assert lines[-1] == f"ignored a's result of trial {first}: the trial was given to another worker when this one " \
                        "went silent"
    assert chief.oracle.trials[first].status == "RUNNING"
    report(chief, "b", first, 0.7)
    assert chief.oracle.trials[first].status == "COMPLETED" and chief.oracle.trials[first].score == 0.7
    assert runs(tmp_path, first) == [("a", "lost"), ("b", "reported")]
    table = (tmp_path / "trials.txt").read_text().splitlines()
    assert table[0] == "trial | val_accuracy | status | worker | minutes | x"
    assert [line.split(" | ")[:4] for line in table[1:]] == [[first, "0.7000", "COMPLETED", "b"],
                                                             [second, "0.5000", "COMPLETED", "b"]]


def test_an_exited_local_worker_is_lost_at_once_and_a_trial_out_of_retries_fails(tmp_path):
    clock, lines = Clock(), []
    chief = make_chief(tmp_path, clock, lines, retries=0)
    first, _ = create(chief, "a")
    assert chief.lose_gone_workers(exited={"a": -9}) == ["a"]
    assert lines[-1] == f"worker a lost (its process exited with status -9): trial {first} failed: no retry left " \
                        "(--trial_retries)"
    assert chief.oracle.trials[first].status == "FAILED" and chief.unfinished() == []


def test_a_relaunched_worker_takes_back_its_trial(tmp_path):
    chief = make_chief(tmp_path, Clock(), [])
    first, _ = create(chief, "a")
    assert create(chief, "a")[0] == first  # the same id asks again: it was relaunched
    assert runs(tmp_path, first) == [("a", "lost"), ("a", None)]


def test_a_relaunched_chief_gives_running_trials_back_to_their_workers_until_the_lease_ends(tmp_path):
    clock, lines = Clock(), []
    chief = make_chief(tmp_path, clock, lines)
    first, _ = create(chief, "a")
    second, _ = create(chief, "b")
    del chief  # killed: what remains is on disk

    clock.now += 100
    relaunched = make_chief(tmp_path, clock, lines)
    assert relaunched.oracle.ongoing_trials["a"].trial_id == first
    report(relaunched, "a", first, 0.4)  # a kept working while the chief was down: its result counts
    assert relaunched.oracle.trials[first].status == "COMPLETED"
    assert runs(tmp_path, first) == [("a", "reported")]
    clock.now += 11  # b never came back; a beats
    relaunched.heard_from("a")
    assert relaunched.lose_gone_workers() == ["b"]
    assert create(relaunched, "c")[0] == second
    assert runs(tmp_path, second) == [("b", "lost"), ("c", None)]


def test_the_search_is_done_once_every_trial_ended_and_every_worker_was_told(tmp_path):
    status = protos.get_proto().TrialStatus
    clock = Clock()
    chief = make_chief(tmp_path, clock, [], max_trials=1)
    first, _ = create(chief, "a")
    assert not chief.done() and not chief.has_ended()
    # b asks while a's trial runs: no trial is left, but a's may yet come back, so b waits instead of stopping.
    assert create(chief, "b")[1] == status.IDLE and "b" in chief.oracle.tuner_ids
    clock.now += 11
    chief.heard_from("b")
    assert chief.lose_gone_workers() == ["a"]
    assert create(chief, "b") == (first, status.RUNNING)
    report(chief, "b", first, 0.3)
    assert not chief.done()  # b has not asked again, so it has not been told
    assert create(chief, "b")[1] == status.STOPPED
    assert chief.done() and chief.has_ended()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_worker_talks_to_the_chief_over_grpc_and_names_itself(tmp_path):
    clock = Clock()
    chief = make_chief(tmp_path, clock, [])
    port = chief.serve("127.0.0.1:0")
    client = cluster.WorkerClient(f"127.0.0.1:{port}", "w", timeout=10)
    try:
        client.reach()
        trial = client.create_trial("w")
        assert trial.status == "RUNNING" and "w" in chief.beating and chief.heard["w"] == clock.now
        client.update_trial(trial.trial_id, {OBJECTIVE: 0.25})
        trial.status = "COMPLETED"
        client.end_trial(trial)
        assert chief.oracle.trials[trial.trial_id].score == 0.25
        assert runs(tmp_path, trial.trial_id) == [("w", "reported")]
    finally:
        client.close()
        chief.stop()


def test_a_worker_stops_after_a_bounded_wait_for_a_chief_that_is_not_there():
    client = cluster.WorkerClient(f"127.0.0.1:{free_port()}", "w", timeout=0.5)
    with pytest.raises(ValueError, match=r"no search chief answered at 127.0.0.1:\d+ within 0.5 s: start it first "
                                         r"\(scripts/tune.py --role=chief --oracle=127.0.0.1:\d+\), or check "
                                         r"--oracle, the network, and --chief_timeout."):
        client.reach()
    client.close()


def test_a_chief_refuses_an_address_it_cannot_serve(tmp_path):
    chief = make_chief(tmp_path, Clock(), [])
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        address = f"127.0.0.1:{taken.getsockname()[1]}"
        with pytest.raises(ValueError, match=f"--oracle={address}: the chief cannot serve there"):
            chief.serve(address)


def test_a_second_chief_on_a_port_in_use_is_refused(tmp_path):
    """gRPC's SO_REUSEPORT let two chiefs listen on one port, each taking some of the workers."""
    first = make_chief(tmp_path / "a", Clock(), [])
    port = first.serve("127.0.0.1:0")
    try:
        second = make_chief(tmp_path / "b", Clock(), [])
        with pytest.raises(ValueError, match=f"--oracle=127.0.0.1:{port}: the chief cannot serve there \\(the port is "
                                             "in use"):
            second.serve(f"127.0.0.1:{port}")
    finally:
        first.stop()


TUNE = os.path.join(ROOT, "scripts", "tune.py")


def config(idx_dir, model_dir, **kwargs):
    """The in-process twin of `tune`'s search (the same identity)."""
    values = dict(dataset="mnist", data_dir=idx_dir, model_dir=str(model_dir), epochs=1, batch_size=32,
                  download=False, verbose=0, space=tuning.SearchSpace(cifar_n=(1, 1), width_multiplier=(1.0, 1.0)))
    values.update(kwargs)
    return tuning.TuneConfig(**values)


def tune(idx_dir, model_dir, *flags):
    """scripts/tune.py on the tiny data set, one epoch a trial of resnet8."""
    return [sys.executable, TUNE, "--dataset=mnist", f"--data_dir={idx_dir}", f"--model_dir={model_dir}",
            "--epochs=1", "--batch_size=32", "--nodownload", "--verbose=0", "--cifar_n=1,1", "--width_multiplier=1,1",
            *flags]


ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")


def records(model_dir):
    return json.loads((model_dir / "trials.json").read_text())["trials"]


@pytest.mark.slow
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



@pytest.mark.slow
def test_a_killed_workers_trial_is_run_by_the_other_worker_and_a_second_search_is_refused(idx_dir, tmp_path):
    oracle = f"--oracle=127.0.0.1:{free_port()}"
    chief = subprocess.Popen(tune(idx_dir, tmp_path, "--max_trials=3", "--role=chief", oracle,
                                  "--worker_timeout=6"), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                             env=ENV)
    workers = {name: subprocess.Popen(tune(idx_dir, tmp_path, "--max_trials=3", "--role=worker",
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
            tuning.search(config(idx_dir, tmp_path, max_trials=3))
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
