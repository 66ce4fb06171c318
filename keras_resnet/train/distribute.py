"""tf.distribute: strategies, a process's role in a cluster, a bounded wait for the cluster, one Keras workaround."""

from __future__ import annotations

import contextlib
import dataclasses
import faulthandler
import json
import logging
import os
import re
import signal
import subprocess
import sys
from typing import Optional

import keras
import tensorflow as tf

from keras_resnet.train.addresses import unresolved
from keras_resnet.train.config import CLUSTER_TIMEOUT, STRATEGIES

log = logging.getLogger("keras_resnet")
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)

# The watchdog of `bounded_wait`, a process of its own: the waiting process holds the GIL in TensorFlow's C++ code,
# where no Python thread or signal handler runs, and TensorFlow's coordination service takes SIGTERM for a
# preemption notice. With SIGINT and SIGTERM blocked in every thread of the waiting process, a signal sent to it
# stays pending; the watchdog sees it in /proc and ends the process, or ends it at the deadline. It exits when the
# waiting process closes its stdin (the wait is over) or ends.
_WATCHDOG = r"""
import os, select, signal, sys, time
pid, timeout, what = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
deadline = time.monotonic() + timeout
def pending():
    mask = 0
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(("ShdPnd:", "SigPnd:")):
                mask |= int(line.split()[1], 16)
    return [s for s in (signal.SIGINT, signal.SIGTERM) if mask & (1 << (s - 1))]
while True:
    if select.select([sys.stdin], [], [], 0.1)[0]:
        sys.exit(0)
    try:
        stop = pending()
    except OSError:
        sys.exit(0)
    if stop:
        print(f"stopped by {signal.Signals(stop[0]).name} while waiting for {what}", file=sys.stderr, flush=True)
    elif time.monotonic() > deadline:
        print(f"error: {what} did not all join within {timeout:g} s (--cluster_timeout): check that each was "
              "started with the same TF_CONFIG cluster and can reach the others' addresses", file=sys.stderr,
              flush=True)
        # The process ends itself (status 1) a second later (faulthandler's watchdog); else it is killed.
        if select.select([sys.stdin], [], [], 3)[0]:
            sys.exit(0)
    else:
        continue
    os.kill(pid, signal.SIGKILL)
    sys.exit(0)
"""


@contextlib.contextmanager
def stop_signals_held(hold: bool = True):
    """Block SIGINT and SIGTERM in this thread for the block (and so in every thread started in it), if `hold`;
    release them after it.

    A signal sent meanwhile stays pending and is delivered when the block
    ends; one sent during a `bounded_wait` inside it ends the process.
    """
    if not hold:
        yield
        return
    signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)


@contextlib.contextmanager
def bounded_wait(what: str, timeout: float):
    """Run the block (a wait in TensorFlow's C++ code) with a deadline, and so that SIGINT and SIGTERM end it.

    For a process whose TensorFlow was imported with those signals blocked
    (`keras_resnet.cli.import_tensorflow`), so that no thread of it takes them:
    the watchdog (`_WATCHDOG`) then ends the process with one line naming
    `what` and the signal, or at the deadline. After the block the signals
    have the Python handlers they had before, whatever handler TensorFlow's
    C++ code installed meanwhile (its coordination service takes SIGTERM).
    """
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    handlers = {signum: signal.getsignal(signum) for signum in STOP_SIGNALS}
    watchdog = subprocess.Popen([sys.executable, "-c", _WATCHDOG, str(os.getpid()), str(timeout), what],
                                stdin=subprocess.PIPE)
    # A second past the deadline, after the watchdog's line, the process ends itself with status 1 (a C thread).
    faulthandler.dump_traceback_later(timeout + 1, exit=True, file=open(os.devnull, "w"))
    try:
        yield
    finally:
        faulthandler.cancel_dump_traceback_later()
        watchdog.stdin.close()
        watchdog.wait()
        for signum, handler in handlers.items():  # Python's, again: TensorFlow's C++ code installed its own
            signal.signal(signum, handler if handler is not None else signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def cluster_addresses() -> list:
    """The addresses of TF_CONFIG's cluster, this task's first (an empty list without TF_CONFIG)."""
    config = json.loads(os.environ.get("TF_CONFIG") or "{}")
    cluster, task = config.get("cluster", {}), config.get("task", {})
    addresses = [address for job in sorted(cluster) for address in cluster[job]]
    jobs = cluster.get(task.get("type"), [])
    index = int(task.get("index", 0))
    own = jobs[index] if 0 <= index < len(jobs) else None
    return [own] + [a for a in addresses if a != own] if own else addresses


def cluster_tasks() -> dict:
    """TF_CONFIG's cluster as {(job, index): address} (empty without TF_CONFIG)."""
    cluster = json.loads(os.environ.get("TF_CONFIG") or "{}").get("cluster", {})
    return {(job, index): address for job, addresses in cluster.items() for index, address in enumerate(addresses)}


class WorkerLostError(RuntimeError):
    """A worker of a multi-worker run stopped answering, or this worker lost the cluster's coordinator."""


# TensorFlow's coordination service (which MultiWorkerMirroredStrategy starts on the chief, or on worker 0) expects a
# heartbeat from every task; a task silent for its heartbeat timeout (10 s) is declared unhealthy, and the error
# aborts every collective in the cluster. A task whose own heartbeats go unanswered aborts with "Deadline Exceeded".
_UNHEALTHY = re.compile(r"unhealthy \(stopped sending heartbeats\):\s*((?:/job:\w+/replica:\d+/task:\d+\s*)+)")
_TASK = re.compile(r"/job:(\w+)/replica:\d+/task:(\d+)")
_LOST_COORDINATOR = "CoordinationService/Heartbeat"
LOST_WORKER_ERRORS = (tf.errors.UnavailableError, tf.errors.DeadlineExceededError, tf.errors.AbortedError)


def lost_worker_message(error_text: str, tasks: dict) -> Optional[str]:
    """The line for TensorFlow's error when a cluster's task was lost, or None for another error.

    Args:
        error_text: the error's message.
        tasks: {(job, index): address}, as `cluster_tasks` returns.
    """
    def named(job: str, index: int) -> str:
        address = tasks.get((job, index))
        return f"{job} {index}" + (f" ({address})" if address else "")

    unhealthy = _UNHEALTHY.search(error_text)
    if unhealthy:
        lost = [named(job, int(index)) for job, index in _TASK.findall(unhealthy.group(1))]
        what = f"lost {', '.join(lost)}: no heartbeat within TensorFlow's timeout"
    elif _LOST_COORDINATOR in error_text:
        jobs = {job for job, _ in tasks}
        leader = named("chief", 0) if "chief" in jobs else named("worker", 0)
        what = f"lost the cluster's coordinator, {leader}: it stopped answering this worker's heartbeats"
    else:
        return None
    return (f"{what}. The run stops here; relaunch every worker with the same command and it resumes from the last "
            "epoch saved in --model_dir")


@contextlib.contextmanager
def workers_watched(strategy):
    """Turn the error TensorFlow raises when a worker of `strategy`'s cluster is lost into `WorkerLostError`.

    Other strategies, and other errors, pass through untouched.

    Raises:
        WorkerLostError: one line naming the lost worker and its address.
    """
    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        yield
        return
    try:
        yield
    except LOST_WORKER_ERRORS as error:
        message = lost_worker_message(str(error), cluster_tasks())
        if message is None:
            raise
        raise WorkerLostError(message) from None


def check_cluster_resolves(addresses: list) -> None:
    """Refuse, in one line, a TF_CONFIG cluster naming a host this machine cannot resolve.

    TensorFlow would otherwise wait the whole --cluster_timeout for a worker it
    can never reach.

    Raises:
        ValueError: the first such address, and the resolver's words.
    """
    for address in addresses:
        host = address.rpartition(":")[0] or address
        why = unresolved(host)
        if why is not None:
            raise ValueError(f"TF_CONFIG's cluster names {address}, and {host} does not resolve on this machine "
                             f"({why}): give each worker's address as every worker can resolve it (an IP address, "
                             "or a name in /etc/hosts or DNS)")


@dataclasses.dataclass(frozen=True)
class TrainingRole:
    """This process's place in a cluster.

    Attributes:
        is_chief: writes the run's files (the only process without a cluster).
        task_index: its index among the workers (0 without a cluster).
    """

    is_chief: bool = True
    task_index: int = 0


def cluster_role(strategy=None) -> TrainingRole:
    """The role of this process, from the strategy's cluster resolver or TF_CONFIG.

    The chief is the "chief" task, or worker 0 of a cluster without one, or
    the lone process when there is no cluster.
    """
    resolver = getattr(strategy, "cluster_resolver", None) if strategy is not None else None
    if resolver is None:
        resolver = tf.distribute.cluster_resolver.TFConfigClusterResolver()
    task_type, task_id = resolver.task_type, int(resolver.task_id or 0)
    if not task_type:
        return TrainingRole()
    has_chief = "chief" in resolver.cluster_spec().jobs
    is_chief = task_type == "chief" or (task_type == "worker" and task_id == 0 and not has_chief)
    return TrainingRole(is_chief=is_chief, task_index=task_id)


# CPU flags (Linux /proc/cpuinfo) of native bfloat16 arithmetic; without
# them TensorFlow emulates bfloat16, several times slower than float32.
def make_strategy(name: str, num_gpus: Optional[int] = None, tpu: Optional[str] = None,
                  cluster_timeout: float = CLUSTER_TIMEOUT):
    """Create a tf.distribute strategy.

    Must run before TensorFlow starts its runtime: "mirrored" without GPUs
    splits the CPU into `num_gpus` (default 2) logical devices so the
    multi-replica path runs anywhere.

    Args:
        name: one of STRATEGIES.
        num_gpus: GPUs (or logical CPUs) to mirror over; default all GPUs.
        tpu: TPU name or address for "tpu" (untested here: no TPU).
        cluster_timeout: seconds "multi_worker_mirrored" waits for every
            worker of TF_CONFIG to join (`bounded_wait`).

    Returns:
        The strategy.

    Raises:
        ValueError: an unknown name, more GPUs asked for than visible, or a
            TF_CONFIG address that does not resolve on this machine.
    """
    if name not in STRATEGIES:
        raise ValueError(f"Unknown strategy {name!r}; known: {', '.join(STRATEGIES)}")
    gpus = tf.config.list_physical_devices("GPU")
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "one_device":
        return tf.distribute.OneDeviceStrategy("/gpu:0" if gpus else "/cpu:0")
    if name == "mirrored":
        if gpus:
            count = len(gpus) if num_gpus is None else num_gpus
            if count > len(gpus):
                raise ValueError(f"--num_gpus={count} but only {len(gpus)} GPU(s) are visible")
            return tf.distribute.MirroredStrategy([f"/gpu:{i}" for i in range(count)])
        count = num_gpus or 2
        cpu = tf.config.list_physical_devices("CPU")[0]
        if tf.config.get_logical_device_configuration(cpu) is None:
            tf.config.set_logical_device_configuration(
                cpu, [tf.config.LogicalDeviceConfiguration() for _ in range(count)])
        devices = [d.name for d in tf.config.list_logical_devices("CPU")][:count]
        return tf.distribute.MirroredStrategy(devices)
    if name == "multi_worker_mirrored":
        check_cluster_resolves(cluster_addresses())
        own, *others = cluster_addresses() or ["this host"]
        what = f"the cluster's other workers ({', '.join(others) or 'none'})"
        log.info("Waiting up to %g s for %s to join this one (%s)", cluster_timeout, what, own)
        with bounded_wait(what, cluster_timeout):
            return tf.distribute.MultiWorkerMirroredStrategy()
    # TPU: the standard path; not exercised here (no TPU on this machine or CI).
    resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=tpu or "")
    tf.config.experimental_connect_to_cluster(resolver)
    tf.tpu.experimental.initialize_tpu_system(resolver)
    return tf.distribute.TPUStrategy(resolver)


def prepare_for_strategy(model: keras.Model, strategy, dataset: tf.data.Dataset) -> None:
    """Work around keras-team/keras#20585 (open in Keras 3.15) for MultiWorkerMirroredStrategy.

    Under that strategy `fit`/`evaluate` first build the optimizer and
    metrics from a batch averaged with an eager `strategy.reduce`, which it
    cannot run ("Attempt to convert a value (PerReplica...)"). Build them
    from a local batch instead; the variables are created identically on
    every worker. Each step's logs are then averaged across workers with
    `strategy.reduce("MEAN", axis=0)`, which rejects scalars: the steps
    return their logs as shape-[1] tensors, which that reduce averages.

    `tests/test_distribute.py` runs `fit` under this strategy without the
    workaround and fails once Keras no longer needs it. Other strategies are
    left untouched.
    """
    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return

    def as_vectors(step):
        def wrapped(data):
            return {k: keras.ops.reshape(v, (1,)) for k, v in step(data).items()}
        return wrapped

    model.train_step = as_vectors(model.train_step)
    model.test_step = as_vectors(model.test_step)
    batch = next(iter(dataset))
    with strategy.scope():
        model._symbolic_build(data_batch=batch)
    model._maybe_symbolic_build = lambda *args, **kwargs: None
