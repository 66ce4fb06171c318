"""A worker of a distributed search: keras-tuner's oracle client, whose calls name it, wait a bounded time, and beat."""

from __future__ import annotations

import collections
import os
import threading
import time
from typing import Optional

import grpc
from keras_tuner.engine import trial as trial_module
from keras_tuner.src import protos
from keras_tuner.src.distribute import oracle_client

from keras_resnet.train.addresses import parse_address, unresolved
from keras_resnet.search.cluster.roles import ENV_ID, ENV_IP, ENV_PORT, HEARTBEAT_S, ID_HEADER, SearchRole

IDLE_WAIT_S = 1.0


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


def join(role: SearchRole, timeout: float) -> WorkerClient:
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
