"""Workers on the chief's own machine: each its share of the GPUs or cores, started, streamed and stopped together."""

from __future__ import annotations

import ctypes
import os
import pickle
import signal
import subprocess
import sys
import threading
from typing import Dict, Mapping, Optional, Sequence


PARENT_ENV = "KERAS_RESNET_SEARCH_CHIEF_PID"


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
