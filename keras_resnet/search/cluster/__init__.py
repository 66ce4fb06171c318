"""keras-tuner's distributed search, by role: who is who (`roles`), the chief's service (`chief`), a worker's client
(`worker`), and workers started on the chief's own machine (`local`).

keras-tuner spreads a search over processes: a chief serves the oracle over
gRPC and workers ask it for trials. Its names are re-exported here.
"""

from keras_resnet.search.cluster.roles import (ENV_ID, ENV_IP, ENV_PORT, HEARTBEAT_S, ID_HEADER, LOOPBACK_ANY_PORT,
                                               SearchRole, resolve_role)
from keras_resnet.search.cluster.chief import Chief
from keras_resnet.search.cluster.worker import WorkerClient, join
from keras_resnet.search.cluster.local import (LocalWorkers, leave_gpus_to_workers, settle_worker, shares,
                                               visible_gpus)
from keras_resnet.search.config import CHIEF, ROLES, SINGLE, WORKER

__all__ = ["ROLES", "CHIEF", "WORKER", "SINGLE", "SearchRole", "resolve_role", "visible_gpus",
           "leave_gpus_to_workers", "shares", "Chief", "WorkerClient", "join", "settle_worker", "LocalWorkers",
           "ENV_ID", "ENV_IP", "ENV_PORT", "HEARTBEAT_S", "ID_HEADER", "LOOPBACK_ANY_PORT"]
