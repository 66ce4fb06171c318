"""tf.distribute: strategies, a process's role in a cluster, and one Keras workaround."""

from __future__ import annotations

import dataclasses
from typing import Optional

import keras
import tensorflow as tf

from keras_resnet.train.config import STRATEGIES


@dataclasses.dataclass(frozen=True)
class Role:
    """This process's place in a cluster.

    Attributes:
        is_chief: writes the run's files (the only process without a cluster).
        task_index: its index among the workers (0 without a cluster).
    """

    is_chief: bool = True
    task_index: int = 0


def cluster_role(strategy=None) -> Role:
    """The role of this process, from the strategy's cluster resolver or TF_CONFIG.

    The chief is the "chief" task, or worker 0 of a cluster without one, or
    the lone process when there is no cluster.
    """
    resolver = getattr(strategy, "cluster_resolver", None) if strategy is not None else None
    if resolver is None:
        resolver = tf.distribute.cluster_resolver.TFConfigClusterResolver()
    task_type, task_id = resolver.task_type, int(resolver.task_id or 0)
    if not task_type:
        return Role()
    has_chief = "chief" in resolver.cluster_spec().jobs
    is_chief = task_type == "chief" or (task_type == "worker" and task_id == 0 and not has_chief)
    return Role(is_chief=is_chief, task_index=task_id)


# CPU flags (Linux /proc/cpuinfo) of native bfloat16 arithmetic; without
# them TensorFlow emulates bfloat16, several times slower than float32.
def make_strategy(name: str, num_gpus: Optional[int] = None, tpu: Optional[str] = None):
    """Create a tf.distribute strategy.

    Must run before TensorFlow starts its runtime: "mirrored" without GPUs
    splits the CPU into `num_gpus` (default 2) logical devices so the
    multi-replica path runs anywhere.

    Args:
        name: one of STRATEGIES.
        num_gpus: GPUs (or logical CPUs) to mirror over; default all GPUs.
        tpu: TPU name or address for "tpu" (untested here: no TPU).

    Returns:
        The strategy.

    Raises:
        ValueError: an unknown name, or more GPUs asked for than visible.
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
