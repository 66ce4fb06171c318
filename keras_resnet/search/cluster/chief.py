"""The chief of a distributed search: keras-tuner's oracle service, with leases on its workers.

keras-tuner's own chief (`oracle_chief.start_server`) ends only once every
worker it has met has been told to stop, looking every 20 s, and a killed
worker's trial stays assigned to that worker. `Chief` serves the same service
with keras-tuner's servicer, so keras-tuner's own workers can join, and adds:

- leases: a worker is lost when its process on this machine exits, or when
  a worker that beats (`worker.WorkerClient` does, every `HEARTBEAT_S`) has
  not been heard from for `lost_after` seconds. Its trial goes back to the
  queue through keras-tuner's own retry (`max_retries_per_trial`), and the
  next worker that asks runs it. A worker relaunched under the same id takes
  back the trial it was running.
- a result from a worker that no longer holds the trial (one given up on,
  whose trial now runs elsewhere) is ignored;
- `trials.TrialsLog`, written at every change;
- an end as soon as the search is done.
"""

from __future__ import annotations

import datetime
import json
import os
import threading
import time
from concurrent import futures
from typing import Callable, Dict, Mapping, Optional

import grpc
from keras_tuner.engine import trial as trial_module
from keras_tuner.src import protos
from keras_tuner.src.distribute import oracle_chief

from keras_resnet.search.trials import LOST, REPORTED, TrialsLog
from keras_resnet.search.cluster.local import LocalWorkers
from keras_resnet.search.cluster.roles import ID_HEADER

POLL_S = 0.2


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

    def lose_gone_workers(self, exited: Mapping[str, int] = None) -> list:
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

    def run(self, local: Optional[LocalWorkers] = None, remote: bool = True) -> None:
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
            self.lose_gone_workers(exited)
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
