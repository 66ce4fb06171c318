"""Who is who in a distributed search: a process's role (single, chief or worker) and the chief's address.

The role comes from --role and --oracle, else keras-tuner's own variables
(`KERASTUNER_TUNER_ID`, `KERASTUNER_ORACLE_IP`, `KERASTUNER_ORACLE_PORT`),
else from --workers; the constants here are the protocol the chief and its
workers share.
"""

from __future__ import annotations

import dataclasses
import os
import socket
from typing import Mapping, Optional

from keras_resnet.train.addresses import WILDCARDS, parse_address
from keras_resnet.search.config import CHIEF, ROLES, SINGLE, WORKER

ENV_ID, ENV_IP, ENV_PORT = "KERASTUNER_TUNER_ID", "KERASTUNER_ORACLE_IP", "KERASTUNER_ORACLE_PORT"
ID_HEADER = "keras-resnet-worker"  # gRPC metadata: which worker calls (keras-tuner's requests mostly do not say)
HEARTBEAT_S = 2.0
LOOPBACK_ANY_PORT = "127.0.0.1:0"  # a chief whose workers all run on this machine


@dataclasses.dataclass(frozen=True)
class SearchRole:
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
                 environ: Mapping[str, str] = os.environ, advertise: Optional[str] = None) -> SearchRole:
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
        return SearchRole(CHIEF, LOOPBACK_ANY_PORT) if workers else SearchRole()
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
        return SearchRole(WORKER, oracle, worker_id or socket.gethostname())
    if worker_id is not None:
        raise ValueError("--worker_id names a --role=worker process; a chief's workers on this machine are "
                         "named after it.")
    return SearchRole(CHIEF, oracle, advertise=advertise)
