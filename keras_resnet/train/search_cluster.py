"""keras-tuner's distributed search: the chief's oracle service, a worker's client, and workers on this machine.

keras-tuner spreads a search over processes: a chief serves the oracle over
gRPC and workers ask it for trials (`KERASTUNER_TUNER_ID`,
`KERASTUNER_ORACLE_IP`, `KERASTUNER_ORACLE_PORT`). Its own chief
(`oracle_chief.start_server`) ends only once every worker it has met has
been told to stop, looking every 20 s, and a killed worker's trial stays
assigned to that worker. `Chief` serves the same service with keras-tuner's
servicer, so keras-tuner's own workers can join, and adds:

- leases: a worker is lost when its process on this machine exits, or when
  a worker that beats (`WorkerClient` does, every `HEARTBEAT_S`) has not
  been heard from for `lost_after` seconds. Its trial goes back to the
  queue through keras-tuner's own retry (`max_retries_per_trial`), and the
  next worker that asks runs it. A worker relaunched under the same id
  takes back the trial it was running.
- a result from a worker that no longer holds the trial (one given up on,
  whose trial now runs elsewhere) is ignored;
- `trials.TrialsLog`, written at every change;
- an end as soon as the search is done.

`LocalWorkers` starts worker processes on this machine, each with its share
of the cores or GPUs, and streams their output under one display.
"""

from __future__ import annotations

import collections
import ctypes
import dataclasses
import datetime
import json
import os
import pickle
import signal
import socket
import subprocess
import sys
import threading
import time
from concurrent import futures
from typing import Callable, Dict, Mapping, Optional, Sequence

import grpc
from keras_tuner.engine import trial as trial_module
from keras_tuner.src import protos
from keras_tuner.src.distribute import oracle_chief, oracle_client

from keras_resnet.train.addresses import WILDCARDS, parse_address, unresolved
from keras_resnet.train.search_config import CHIEF, ROLES, SINGLE, WORKER
from keras_resnet.train.trials import LOST, REPORTED, TrialsLog

__all__ = ["ROLES", "ClusterRole", "resolve_role", "visible_gpus", "leave_gpus_to_workers", "shares", "Chief",
           "WorkerClient", "join", "settle_worker", "LocalWorkers"]

ENV_ID, ENV_IP, ENV_PORT = "KERASTUNER_TUNER_ID", "KERASTUNER_ORACLE_IP", "KERASTUNER_ORACLE_PORT"
ID_HEADER = "keras-resnet-worker"  # gRPC metadata: which worker calls (keras-tuner's requests mostly do not say)
PARENT_ENV = "KERAS_RESNET_SEARCH_CHIEF_PID"
HEARTBEAT_S = 2.0
IDLE_WAIT_S = 1.0
POLL_S = 0.2
LOOPBACK_ANY_PORT = "127.0.0.1:0"  # a chief whose workers all run on this machine


@dataclasses.dataclass(frozen=True)
class ClusterRole:
    """This process's part in a search.

    Attributes:
        kind: "single" (every trial here), "chief" (serves the oracle) or
            "worker" (runs trials for a chief).
        address: HOST:PORT the chief serves on, or the worker reaches (port 0:
            any free port, for a chief whose workers all run on this machine).
        worker_id: the worker's id (keras-tuner's tuner id).
        local_shares: a chief's: one `shares` entry for each worker it starts
            on this machine.
        advertise: a chief's: the host workers on other machines reach it at
            (None: its `address`'s host, or this machine's name for a wildcard).
    """

    kind: str = SINGLE
    address: Optional[str] = None
    worker_id: Optional[str] = None
    local_shares: tuple = ()
    advertise: Optional[str] = None

    @property
    def local_only(self) -> bool:
        """A chief whose workers all run on this machine (none may come from elsewhere)."""
        return self.kind == CHIEF and self.address == LOOPBACK_ANY_PORT

    @property
    def host(self) -> str:
        return self.address.rpartition(":")[0]

    def joining(self, port: int) -> str:
        """What a chief serving on `port` says of how workers elsewhere reach it."""
        if self.advertise is None and _is_loopback(self.host):
            return (f"only workers on this machine can reach {self.host}: to serve other machines, pass "
                    f"--oracle=0.0.0.0:{port}")
        host = self.advertise or (socket.gethostname() if self.host in WILDCARDS else self.host)
        return f"workers on other machines join with --oracle={host}:{port}"


def _is_loopback(host: str) -> bool:
    return host == "localhost" or host.strip("[]") == "::1" or host.startswith("127.")


def resolve_role(role: Optional[str], oracle: Optional[str], worker_id: Optional[str], workers: int,
                 environ: Mapping[str, str] = os.environ, advertise: Optional[str] = None) -> ClusterRole:
    """The process's role: from --role and --oracle, else keras-tuner's variables, else from --workers.

    keras-tuner's rule applies to its variables: a tuner id containing
    "chief" is the chief.

    Raises:
        ValueError: flags that do not make a role, saying which would.
    """
    if role is None and ENV_IP in environ:
        missing = [name for name in (ENV_PORT, ENV_ID) if not environ.get(name)]
        if missing:
            raise ValueError(f"{ENV_IP} is set but {' and '.join(missing)} not: keras-tuner's distributed search "
                             f"needs all of {ENV_ID}, {ENV_IP} and {ENV_PORT}.")
        role, oracle = (CHIEF if "chief" in environ[ENV_ID] else WORKER), f"{environ[ENV_IP]}:{environ[ENV_PORT]}"
        worker_id = worker_id or (None if role == CHIEF else environ[ENV_ID])
    if advertise is not None and role != CHIEF:
        raise ValueError(f"--advertise={advertise} names the host a --role=chief process is reached at; this "
                         f"process is {'a worker' if role == WORKER else 'no chief of a distributed search'}.")
    if advertise is not None and (":" in advertise.strip("[]") or not advertise):
        raise ValueError(f"--advertise takes a host name or address, without a port (the port is --oracle's). "
                         f"Received: advertise={advertise!r}")
    if role is None:
        if oracle is not None or worker_id is not None:
            raise ValueError("--oracle and --worker_id belong to a distributed search: pass --role=chief or "
                             "--role=worker with them (--workers=N alone runs N workers on this machine).")
        return ClusterRole(CHIEF, LOOPBACK_ANY_PORT) if workers else ClusterRole()
    if role not in ROLES:
        raise ValueError(f"Unknown role {role!r}; known: {', '.join(ROLES)}")
    if oracle is None:
        raise ValueError(f"--role={role} needs --oracle=HOST:PORT: the address the chief "
                         f"{'serves on' if role == CHIEF else 'serves on, which this worker reaches'}.")
    parse_address(oracle)
    if role == WORKER:
        if workers:
            raise ValueError(f"--role=worker is one worker: --workers={workers} starts workers beside a chief. "
                             "Start one --role=worker process per worker, each with its own --worker_id.")
        return ClusterRole(WORKER, oracle, worker_id or socket.gethostname())
    if worker_id is not None:
        raise ValueError("--worker_id names a --role=worker process; a chief's workers on this machine are "
                         "named after it.")
    return ClusterRole(CHIEF, oracle, advertise=advertise)


def visible_gpus() -> list:
    """The CUDA ids of the GPUs TensorFlow sees here (what CUDA_VISIBLE_DEVICES would name)."""
    import tensorflow as tf

    count = len(tf.config.list_physical_devices("GPU"))
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    return (visible.split(",") if visible else [str(i) for i in range(count)])[:count]


def leave_gpus_to_workers() -> None:
    """Let this process (a chief) take GPU memory only as it needs it: its workers train on these GPUs.

    TensorFlow otherwise maps nearly all of a GPU's memory at its first use,
    and the chief builds models (to learn the space, and the best at the end).
    """
    import tensorflow as tf

    for gpu in tf.config.list_physical_devices("GPU"):
        try:
            tf.config.experimental.set_memory_growth(gpu, True)
        except RuntimeError:  # this process's TensorFlow already runs (a second search in it): left as it is
            return


def shares(workers: int, gpus: Sequence[str], cores: Sequence[int]) -> list:
    """Split the GPUs (when there are any) or else the cores into `workers` contiguous shares.

    Returns:
        One dict a worker: {"gpus": [...]} or {"cores": [...]}.

    Raises:
        ValueError: more workers than GPUs (or cores).
    """
    kind, items = ("gpus", list(gpus)) if gpus else ("cores", sorted(cores))
    if workers > len(items):
        what = "GPUs" if kind == "gpus" else "cores this process may use"
        raise ValueError(f"--workers={workers} but this machine has {len(items)} {what}: each worker needs at least "
                         f"one. Use --workers<={len(items)}.")
    return [{kind: items[i * len(items) // workers:(i + 1) * len(items) // workers]} for i in range(workers)]


def _caller(context) -> Optional[str]:
    return dict(context.invocation_metadata() or ()).get(ID_HEADER)


class _Servicer(oracle_chief.OracleServicer):
    """keras-tuner's servicer, telling `Chief` which worker starts and ends which trial."""

    def __init__(self, chief: "Chief"):
        super().__init__(chief.oracle)
        self.chief = chief

    def CreateTrial(self, request, context):
        with self.chief.lock:
            self.chief.heard_from(request.tuner_id)
            response = super().CreateTrial(request, context)
            oracle = self.chief.oracle
            if response.trial.status == protos.get_proto().TrialStatus.STOPPED and any(
                    worker != request.tuner_id for worker in oracle.ongoing_trials):
                # A trial still running may yet lose its worker and need this one: wait (IDLE) instead of stopping.
                oracle.tuner_ids.add(request.tuner_id)
                idle = trial_module.Trial(oracle.get_space(), status=trial_module.TrialStatus.IDLE)
                return protos.get_service().CreateTrialResponse(trial=idle.to_proto())
            self.chief.started(request.tuner_id)
        return response

    def UpdateTrial(self, request, context):
        with self.chief.lock:
            if not self.chief.holds(_caller(context), request.trial_id):  # a stale run's metrics: not recorded
                trial = self.chief.oracle.trials.get(request.trial_id) or trial_module.Trial(
                    self.chief.oracle.get_space(), trial_id=request.trial_id, status=trial_module.TrialStatus.STOPPED)
                return protos.get_service().UpdateTrialResponse(trial=trial.to_proto())
            return super().UpdateTrial(request, context)

    def EndTrial(self, request, context):
        trial_id, worker = request.trial.trial_id, _caller(context)
        with self.chief.lock:
            if not self.chief.holds(worker, trial_id):
                self.chief.say(f"ignored {worker}'s result of trial {trial_id}: the trial was given to another "
                               "worker when this one went silent")
                return protos.get_service().EndTrialResponse()
            response = super().EndTrial(request, context)
            self.chief.log.ended(trial_id, REPORTED)
            self.chief.log.write(self.chief.oracle)
        return response


class _Heard(grpc.ServerInterceptor):
    """Notes the time of every call of a worker that names itself."""

    def __init__(self, chief: "Chief"):
        self.chief = chief

    def intercept_service(self, continuation, details):
        worker = dict(details.invocation_metadata or ()).get(ID_HEADER)
        if worker is not None:
            self.chief.beating.add(worker)
            self.chief.heard_from(worker)
        return continuation(details)


class Chief:
    """Serves a search's oracle to its workers, and gives a lost worker's trial to the next worker.

    Args:
        oracle: the search's keras-tuner oracle (reloaded, for a relaunch).
        log: the search's `TrialsLog`.
        lost_after: seconds a beating worker may stay silent before it is lost.
        clock: monotonic seconds (a test's fake clock).
        say: where its lines go.
    """

    def __init__(self, oracle, log: TrialsLog, lost_after: float, clock: Callable[[], float] = time.monotonic,
                 say: Callable[[str], None] = lambda line: print(f"[chief] {line}", flush=True)):
        self.oracle, self.log, self.lost_after, self.clock, self._say = oracle, log, lost_after, clock, say
        self.lock = threading.RLock()
        self.heard: Dict[str, float] = {}
        self.beating: set = set()
        self.started_at = clock()
        self.servicer = _Servicer(self)
        self.server = None
        self._give_back_running()

    def _give_back_running(self) -> None:
        """A relaunched chief gives the trials that were running back to their workers.

        keras-tuner's reload puts them in its retry queue, so a worker that
        kept running its trial while the chief was down would see its result
        ignored and the trial run again. They count as heard now: a worker
        that is gone is lost after the lease, and its trial queued then.
        """
        path = self.oracle._get_oracle_fname()  # keras-tuner's saved oracle state
        if not os.path.isfile(path):
            return
        with open(path) as f:
            running = json.load(f).get("ongoing_trials", {})
        queue, display, now = self.oracle._retry_queue, self.oracle._display, datetime.datetime.now()
        for worker, trial_id in running.items():
            if trial_id in queue and trial_id in self.oracle.trials:
                # keras-tuner saves its display's state before it notes a trial's start: note it, for the trial's end.
                display.search_start = display.search_start or now
                display.trial_start.setdefault(trial_id, now)
                display.trial_number.setdefault(trial_id, len(display.trial_number) + 1)
                queue.remove(trial_id)
                self.oracle.ongoing_trials[worker] = self.oracle.trials[trial_id]
                self.oracle.tuner_ids.add(worker)
                self.heard[worker] = self.started_at
                self.beating.add(worker)

    def say(self, line: str) -> None:
        self._say(line)

    def serve(self, address: str) -> int:
        """Start serving at HOST:PORT (port 0: a free one); returns the port.

        Raises:
            ValueError: the address cannot be served here.
        """
        # gRPC binds with SO_REUSEPORT by default: a second chief on the port would serve too, splitting the workers.
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=1), interceptors=[_Heard(self)],
                             options=[("grpc.so_reuseport", 0)])
        protos.get_service_grpc().add_OracleServicer_to_server(self.servicer, server)
        try:
            port = server.add_insecure_port(address)
        except RuntimeError:
            port = 0
        if not port:
            raise ValueError(f"--oracle={address}: the chief cannot serve there (the port is in use, or the host is "
                             "not an address of this machine). Pass another --oracle.")
        server.start()
        self.server = server
        return port

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop(grace=1).wait()
            self.server = None

    def heard_from(self, worker: str) -> None:
        self.heard[worker] = self.clock()

    def holds(self, worker: Optional[str], trial_id: str) -> bool:
        """Whether `worker` may report on the trial: it runs it (a caller that does not name itself may)."""
        trial = self.oracle.ongoing_trials.get(worker) if worker is not None else None
        return worker is None or (trial is not None and trial.trial_id == trial_id)

    def started(self, worker: str) -> None:
        trial = self.oracle.ongoing_trials.get(worker)
        if trial is not None:
            self.log.started(trial.trial_id, worker)
            self.log.write(self.oracle)

    def check(self, exited: Mapping[str, int] = None) -> list:
        """Lose the workers that exited (worker: exit status) or beat no more; returns those lost now."""
        exited = exited or {}
        now = self.clock()
        with self.lock:
            lost = {}
            for worker in set(self.oracle.ongoing_trials) | set(self.oracle.tuner_ids):
                if worker in exited:
                    lost[worker] = f"its process exited with status {exited[worker]}"
                elif worker in self.beating and now - self.heard.get(worker, self.started_at) > self.lost_after:
                    lost[worker] = f"silent for {self.lost_after:g} s"
            for worker, why in lost.items():
                self._lose(worker, why)
        return sorted(lost)

    def _lose(self, worker: str, why: str) -> None:
        self.oracle.tuner_ids.discard(worker)
        self.beating.discard(worker)
        trial = self.oracle.ongoing_trials.get(worker)
        if trial is None:
            self.say(f"worker {worker} lost ({why})")
            return
        self.log.ended(trial.trial_id, LOST)
        # keras-tuner's retry: INVALID goes back to the queue while max_retries_per_trial allows, else FAILED.
        self.oracle.end_trial(trial_module.Trial(trial.hyperparameters, trial_id=trial.trial_id,
                                                 status=trial_module.TrialStatus.INVALID,
                                                 message=f"worker {worker} was lost ({why})"))
        again = self.oracle.trials[trial.trial_id].status == trial_module.TrialStatus.INVALID
        self.say(f"worker {worker} lost ({why}): trial {trial.trial_id} "
                 f"{'goes back to the queue' if again else 'failed: no retry left (--trial_retries)'}")
        self.log.write(self.oracle)

    def unfinished(self) -> list:
        """Ids of the trials not yet completed or failed."""
        ended = (trial_module.TrialStatus.COMPLETED, trial_module.TrialStatus.FAILED)
        with self.lock:
            return sorted(t.trial_id for t in self.oracle.trials.values() if t.status not in ended)

    def done(self) -> bool:
        """The oracle has stopped the search, no trial is unfinished, and every worker it met was told so."""
        with self.lock:
            return (self.servicer.stop_triggered and not self.oracle.ongoing_trials and not self.oracle.tuner_ids
                    and not self.unfinished())

    def run(self, local: Optional["LocalWorkers"] = None, remote: bool = True) -> None:
        """Serve until the search is done and this machine's workers have exited.

        Args:
            local: the workers started on this machine, if any.
            remote: whether workers on other machines may come (a chief with
                --oracle); without them the search ends when `local` does.

        Raises:
            ValueError: every local worker exited before the search was done,
                and no other worker may come.
        """
        while True:
            time.sleep(POLL_S)
            exited = local.exited() if local is not None else {}
            self.check(exited)
            everyone_left = local is not None and len(exited) == len(local.procs)
            if self.done() and (local is None or everyone_left):
                return
            if everyone_left and not remote:
                statuses = ", ".join(f"{w}: status {code}" for w, code in sorted(exited.items()))
                left = ", ".join(self.unfinished()) or "none started"
                raise ValueError(f"every worker exited before the search was done ({statuses}; their last lines are "
                                 f"above), with trials {left} unfinished. Relaunch the same command to resume.")

    def has_ended(self) -> bool:
        """A relaunch of a finished search: every trial of its budget has ended (no worker need start)."""
        remaining = self.oracle.remaining_trials()
        return remaining is not None and remaining <= 0 and not self.unfinished()


class _CallDetails(collections.namedtuple("_CallDetails", ("method", "timeout", "metadata", "credentials",
                                                           "wait_for_ready", "compression")),
                   grpc.ClientCallDetails):
    pass


class _Named(grpc.UnaryUnaryClientInterceptor):
    """Every call names its worker and waits at most `timeout` seconds for the chief."""

    def __init__(self, worker: str, timeout: float):
        self.worker, self.timeout = worker, timeout

    def intercept_unary_unary(self, continuation, details, request):
        timeout = min(details.timeout or self.timeout, self.timeout)
        metadata = list(details.metadata or ()) + [(ID_HEADER, self.worker)]
        return continuation(_CallDetails(details.method, timeout, metadata, details.credentials, True,
                                         details.compression), request)


class WorkerClient(oracle_client.OracleClient):
    """keras-tuner's `OracleClient` whose calls name the worker, wait a bounded time, and beat.

    Args:
        address: the chief's HOST:PORT.
        worker: this worker's id.
        timeout: seconds any call waits for the chief.
    """

    def __init__(self, address: str, worker: str, timeout: float):
        self._oracle = None  # the tuner's own oracle, for the attributes keras-tuner reads locally (`adopt`)
        self.address, self.tuner_id, self.timeout = address, worker, timeout
        self.channel = grpc.intercept_channel(grpc.insecure_channel(address), _Named(worker, timeout))
        self.stub = protos.get_service_grpc().OracleStub(self.channel)
        self.multi_worker, self.should_report = False, True
        self._stop = threading.Event()
        self._beating: Optional[threading.Thread] = None

    def create_trial(self, tuner_id):
        trial = super().create_trial(tuner_id)
        if trial.status == trial_module.TrialStatus.IDLE:
            time.sleep(IDLE_WAIT_S)  # keras-tuner's worker asks again at once
        return trial

    def reach(self) -> None:
        """Ask the chief for the search space, waiting at most `timeout` seconds.

        Raises:
            ValueError: no chief answered.
        """
        try:
            self.get_space()
        except grpc.RpcError:
            raise ValueError(f"no search chief answered at {self.address} within {self.timeout:g} s: start it "
                             f"first (scripts/tune.py --role=chief --oracle={self.address}), or check --oracle, "
                             "the network, and --chief_timeout.") from None

    def adopt(self, tuner) -> None:
        """Stand in for `tuner`'s oracle (keras-tuner's own client, made from the variables `join` set)."""
        self._oracle = getattr(tuner.oracle, "_oracle", tuner.oracle)
        tuner.oracle = self

    def beat(self) -> threading.Thread:
        """Call the chief every `HEARTBEAT_S` seconds until `close`, so it knows this worker lives."""

        def loop():
            request = protos.get_service().GetBestTrialsRequest(num_trials=0)
            while not self._stop.wait(HEARTBEAT_S):
                try:
                    self.stub.GetBestTrials(request, timeout=HEARTBEAT_S)
                except grpc.RpcError:
                    pass  # the chief may be relaunching; the trial's own calls wait for it

        self._beating = threading.Thread(target=loop, name="keras_resnet-heartbeat", daemon=True)
        self._beating.start()
        return self._beating

    def close(self) -> None:
        self._stop.set()
        if self._beating is not None:  # a call in flight ends within HEARTBEAT_S; the channel closes after it
            self._beating.join(timeout=2 * HEARTBEAT_S)
        self.channel.close()


def join(role: ClusterRole, timeout: float) -> WorkerClient:
    """Reach the chief of `role`, then set keras-tuner's variables so this process's tuner works for it.

    Raises:
        ValueError: the chief's host does not resolve here, or no chief answered within `timeout` seconds.
    """
    host, port = parse_address(role.address)
    why = unresolved(host)
    if why is not None:
        raise ValueError(f"--oracle={role.address}: {host} does not resolve on this machine ({why}): pass the "
                         "chief's address, or a name this machine's resolver knows (/etc/hosts, DNS).")
    client = WorkerClient(role.address, role.worker_id, timeout)
    client.reach()
    os.environ.update({ENV_ID: role.worker_id, ENV_IP: host, ENV_PORT: str(port)})
    return client


def settle_worker() -> object:
    """In a worker process `LocalWorkers` started: take its share of the machine; returns its payload.

    The process dies with its chief (a relaunched chief starts its workers
    afresh) and keeps to its cores.
    """
    payload, share = pickle.load(sys.stdin.buffer)
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    if os.getppid() != int(os.environ.get(PARENT_ENV, os.getppid())):
        sys.exit(1)  # the chief ended before this worker could follow it
    if share.get("cores"):
        os.sched_setaffinity(0, share["cores"])
    return payload


class LocalWorkers:
    """Worker processes on this machine, each on its share; their output is streamed, each line under its id.

    Args:
        command: the worker's command line; it calls `settle_worker`, which
            reads its payload and share on stdin.
        payloads: worker id -> what its `settle_worker` returns (picklable).
        worker_shares: worker id -> its share (`shares`): cores become the
            process's CPU affinity and thread counts, GPUs its
            CUDA_VISIBLE_DEVICES.
        env: the environment they start from.
    """

    def __init__(self, command: Sequence[str], payloads: Mapping[str, object], worker_shares: Mapping[str, dict],
                 env: Optional[Mapping[str, str]] = None):
        self.procs: Dict[str, subprocess.Popen] = {}
        self.pumps = []
        for worker, payload in payloads.items():
            share = worker_shares[worker]
            child_env = dict(env if env is not None else os.environ, **{PARENT_ENV: str(os.getpid())})
            cores = share.get("cores", ())
            if cores:
                threads = str(len(cores))
                child_env.update(TF_NUM_INTRAOP_THREADS=threads, OMP_NUM_THREADS=threads)
            if "gpus" in share:
                child_env["CUDA_VISIBLE_DEVICES"] = ",".join(map(str, share["gpus"]))
            # No preexec_fn: without it Python spawns without fork(), which gRPC's threads would warn of.
            proc = subprocess.Popen(list(command), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT, env=child_env)
            proc.stdin.write(pickle.dumps((payload, share)))
            proc.stdin.close()
            pump = threading.Thread(target=self._pump, args=(worker, proc.stdout), daemon=True)
            pump.start()
            self.procs[worker], self.pumps = proc, self.pumps + [pump]

    @staticmethod
    def _pump(worker: str, stream) -> None:
        for line in iter(stream.readline, b""):
            sys.stdout.write(f"[{worker}] {line.decode(errors='replace').rstrip()}\n")
            sys.stdout.flush()

    def exited(self) -> Dict[str, int]:
        """worker id -> exit status, of those that have ended."""
        return {worker: proc.returncode for worker, proc in self.procs.items() if proc.poll() is not None}

    def all_exited(self) -> bool:
        return len(self.exited()) == len(self.procs)

    def stop(self) -> None:
        """End the workers still running (a chief that stops early), then wait for their output."""
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs.values():
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for pump in self.pumps:
            pump.join(timeout=5)
