"""The distributed search's parts: roles, shares, the chief's leases and records, a worker's bounded wait.

The chief is driven through keras-tuner's real servicer and oracle, with a
fake clock; one test goes over real gRPC on 127.0.0.1. The processes (a
local launcher, killed workers) are tested end to end in test_tuning.py.
"""

import json
import socket

import keras_tuner
import pytest
from keras_tuner.src import protos

from keras_resnet.train import search_cluster
from keras_resnet.train.search_cluster import CHIEF, WORKER, ClusterRole
from keras_resnet.train.trials import TrialsLog

OBJECTIVE = "val_accuracy"


@pytest.mark.parametrize(
    "flags, env, expected",
    [
        (dict(), {}, ClusterRole()),
        (dict(workers=2), {}, ClusterRole(CHIEF, "127.0.0.1:0")),
        (dict(role="chief", oracle="0.0.0.0:8470", workers=2), {}, ClusterRole(CHIEF, "0.0.0.0:8470")),
        (dict(role="worker", oracle="a:8470", worker_id="w1"), {}, ClusterRole(WORKER, "a:8470", "w1")),
        (dict(role="worker", oracle="a:8470"), {}, ClusterRole(WORKER, "a:8470", socket.gethostname())),
        (dict(), dict(KERASTUNER_TUNER_ID="chief", KERASTUNER_ORACLE_IP="10.0.0.1", KERASTUNER_ORACLE_PORT="8000"),
         ClusterRole(CHIEF, "10.0.0.1:8000")),
        (dict(), dict(KERASTUNER_TUNER_ID="tuner3", KERASTUNER_ORACLE_IP="10.0.0.1", KERASTUNER_ORACLE_PORT="8000"),
         ClusterRole(WORKER, "10.0.0.1:8000", "tuner3")),
        # Flags win over the variables.
        (dict(role="worker", oracle="b:1", worker_id="w"), dict(KERASTUNER_TUNER_ID="chief",
                                                               KERASTUNER_ORACLE_IP="x", KERASTUNER_ORACLE_PORT="2"),
         ClusterRole(WORKER, "b:1", "w")),
    ],
)
def test_the_role_comes_from_the_flags_else_keras_tuners_variables_else_workers(flags, env, expected):
    args = dict(role=None, oracle=None, worker_id=None, workers=0)
    args.update(flags)
    role = search_cluster.resolve_role(**args, environ=env)
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
        search_cluster.resolve_role(**args, environ=env)


def test_workers_split_the_gpus_or_else_the_cores():
    assert search_cluster.shares(2, [], [0, 1, 2, 3, 4]) == [{"cores": [0, 1]}, {"cores": [2, 3, 4]}]
    assert search_cluster.shares(2, ["0", "1", "2", "3"], range(16)) == [{"gpus": ["0", "1"]}, {"gpus": ["2", "3"]}]
    assert search_cluster.shares(1, [], [7]) == [{"cores": [7]}]
    with pytest.raises(ValueError, match="--workers=3 but this machine has 2 cores this process may use: each "
                                         "worker needs at least one. Use --workers<=2."):
        search_cluster.shares(3, [], [0, 1])
    with pytest.raises(ValueError, match="--workers=2 but this machine has 1 GPUs"):
        search_cluster.shares(2, ["0"], range(8))


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
        return [(search_cluster.ID_HEADER, self.worker)] if self.worker else []


def make_tuner(directory, max_trials=3, retries=1):
    def build(hp):
        hp.Float("x", 0.0, 1.0)

    return keras_tuner.RandomSearch(hypermodel=build, objective=keras_tuner.Objective(OBJECTIVE, "max"),
                                    max_trials=max_trials, directory=str(directory), project_name="search",
                                    overwrite=False, seed=1, max_retries_per_trial=retries)


def make_chief(directory, clock, lines, **kwargs):
    tuner = make_tuner(directory, **kwargs)
    log = TrialsLog(str(directory), OBJECTIVE, "max")
    chief = search_cluster.Chief(tuner.oracle, log, lost_after=10, clock=clock, say=lines.append)
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
    assert chief.check() == []
    clock.now += 2  # a has been silent for 11 s > 10 s
    assert chief.check() == ["a"]
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
    assert chief.check(exited={"a": -9}) == ["a"]
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
    assert relaunched.check() == ["b"]
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
    assert chief.check() == ["a"]
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
    client = search_cluster.WorkerClient(f"127.0.0.1:{port}", "w", timeout=10)
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
    client = search_cluster.WorkerClient(f"127.0.0.1:{free_port()}", "w", timeout=0.5)
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
