"""Throughput, latency and memory of a network beside keras.applications', measured in one process.

Figures on shared machines drift by tens of percent between runs, so what is
compared runs in one process, round by round in turn (the order flips every
round), and each subject reports the median of its timed rounds after
untimed warm-up rounds. Images per second are also given per forward
multiply-add (`keras_resnet.count_macs`), which is how nets with other stride
placements compare fairly.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import re
import statistics
import tempfile
import time
from typing import Callable, Optional

import keras
import numpy as np

from keras_resnet import factory, settings
from keras_resnet.arch import specs
from keras_resnet.arch.flops import count_macs
from keras_resnet.arch.layers import BatchNormalization
from keras_resnet.files import check_writable_dir, write_json, write_text
from keras_resnet.research import benchmark_report, profiling
from keras_resnet.research.config import BenchmarkConfig
from keras_resnet.train import autotune, precision
from keras_resnet.train.precision import machine

# keras.applications' networks with the same layers as ours.
KERAS_COUNTERPARTS = {"resnet50": "ResNet50", "resnet101": "ResNet101", "resnet152": "ResNet152",
                      "resnet50v2": "ResNet50V2", "resnet101v2": "ResNet101V2", "resnet152v2": "ResNet152V2"}


@dataclasses.dataclass
class Result:
    """One subject's measurement.

    Attributes:
        task: "inference", "train", "latency" or "pipeline".
        subject: what ran, e.g. "keras_resnet resnet50" or
            "keras.applications ResNet50".
        dtype: the Keras dtype policy (LiteRT: the quantization).
        xla: compiled with jit_compile=True.
        batch_size: images per call.
        value: the median over rounds, in `unit`.
        unit: "images/s", or "ms" (latency of one image).
        rounds: every timed round, in `unit`.
        macs: forward multiply-adds of one image (None where not counted).
        threads: LiteRT's and ONNX Runtime's threads (None: TensorFlow's own pool).
        peak_rss_mb: the process's resident-memory high-water mark after
            this measurement (one process holds every subject, so it bounds
            rather than separates them).
    """

    task: str
    subject: str
    dtype: str
    xla: bool
    batch_size: int
    value: float
    unit: str
    rounds: list
    macs: Optional[int] = None
    threads: Optional[int] = None
    peak_rss_mb: Optional[float] = None

    @property
    def gmacs_per_second(self) -> Optional[float]:
        """Forward multiply-adds per second (1e9); None for latencies or uncounted nets."""
        if self.unit != "images/s" or not self.macs:
            return None
        return self.value * self.macs / 1e9


def peak_rss_mb() -> Optional[float]:
    """The process's resident-memory high-water mark (VmHWM), in MiB; None where /proc is missing."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def alternate(subjects: dict, warmup_rounds: int, rounds: int, steps_per_round: int) -> dict:
    """Seconds per round of each subject, taking turns round by round.

    Args:
        subjects: {name: a callable doing one step and returning when done}.
        warmup_rounds: untimed rounds first, every subject.
        rounds: timed rounds.
        steps_per_round: calls per round.

    Returns:
        {name: [seconds of each timed round]}.
    """
    for _ in range(warmup_rounds):
        for step in subjects.values():
            for _ in range(steps_per_round):
                step()
    seconds = {name: [] for name in subjects}
    names = list(subjects)
    for index in range(rounds):
        for name in names if index % 2 == 0 else reversed(names):
            start = time.perf_counter()
            for _ in range(steps_per_round):
                subjects[name]()
            seconds[name].append(time.perf_counter() - start)
    return seconds


def _throughput(task: str, subjects: dict, config, dtype: str, xla: bool = False,
                macs: Optional[dict] = None) -> list:
    """Run `subjects` ({name: one batch's step}) in turn and report each one's images per second."""
    seconds = alternate(subjects, config.warmup_rounds, config.rounds, config.steps_per_round)
    rss = peak_rss_mb()
    results = []
    for name, times in seconds.items():
        rates = [config.batch_size * config.steps_per_round / t for t in times]
        results.append(Result(task, name, dtype, xla, config.batch_size, statistics.median(rates), "images/s",
                              rates, (macs or {}).get(name), peak_rss_mb=rss))
    return results


def _with_policy(dtype: str, build: Callable[[], keras.Model]) -> keras.Model:
    """Build under a global dtype policy (keras.applications reads only that), then restore it."""
    before = keras.config.dtype_policy()
    keras.config.set_dtype_policy(dtype)
    try:
        return build()
    finally:
        keras.config.set_dtype_policy(before)


def with_keras_batchnorm(model: keras.Model) -> keras.Model:
    """The same network with `keras.layers.BatchNormalization` in place of keras_resnet's fused-kernel layer.

    What the fused kernel gains is this model's time against `model`'s; the
    weights are not copied (throughput does not depend on them).
    """
    def clone(layer):
        cls = keras.layers.BatchNormalization if isinstance(layer, BatchNormalization) else layer.__class__
        return cls.from_config(layer.get_config())

    return keras.models.clone_model(model, clone_function=clone)


def _subjects(config, spec, dtype: str) -> dict:
    """{name: model} for the model, its Caffe stride placement, its Keras-BN twin and keras.applications' net."""
    side = config.image_size or spec.input_shape[0]
    shape = (side, side, 3)
    subjects = {f"keras_resnet {spec.name}": factory.build(spec.name, input_shape=shape, dtype=dtype)}
    if config.keras_batchnorm:
        subjects[f"keras_resnet {spec.name} keras_batchnorm"] = with_keras_batchnorm(
            subjects[f"keras_resnet {spec.name}"])
    counterpart = KERAS_COUNTERPARTS.get(spec.name)
    if config.stride_in_1x1 and spec.block == specs.BOTTLENECK and not spec.preact:
        subjects[f"keras_resnet {spec.name} stride_in_1x1"] = factory.build(
            spec.name, input_shape=shape, dtype=dtype, stride_in_1x1=True)
    if counterpart:
        subjects[f"keras.applications {counterpart}"] = _with_policy(
            dtype, lambda: getattr(keras.applications, counterpart)(weights=None, input_shape=shape,
                                                                    classes=spec.classes))
    return subjects


def _synthetic_batch(config, input_shape: tuple, classes: int) -> tuple:
    """One batch of random pixels and one-hot labels (throughput does not depend on the values)."""
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 255, (config.batch_size,) + tuple(input_shape)).astype("float32")
    y = keras.utils.to_categorical(rng.integers(0, classes, config.batch_size), classes)
    return x, y


def _compile(model: keras.Model, xla: bool = False) -> None:
    model.compile(optimizer=keras.optimizers.SGD(0.01, momentum=0.9), loss="categorical_crossentropy",
                  jit_compile=xla)


def _step(model: keras.Model, task: str, x: np.ndarray, y: np.ndarray) -> Callable[[], None]:
    if task == "inference":
        return lambda: model.predict_on_batch(x)
    return lambda: model.train_on_batch(x, y)


def measure_models(config, spec, tasks, dtype: str, xla: bool) -> list:
    """Inference and training-step throughput of the model and its keras.applications counterpart."""
    subjects = _subjects(config, spec, dtype)
    x, y = _synthetic_batch(config, next(iter(subjects.values())).input_shape[1:], spec.classes)
    macs = {name: count_macs(model) for name, model in subjects.items()}
    results = []
    # JAX runs eagerly without jit: there, XLA is the only way, and is what its users get.
    xla = xla or keras.backend.backend() == "jax"
    for task in tasks:
        for model in subjects.values():
            _compile(model, xla)
        results += _throughput(task, {name: _step(model, task, x, y) for name, model in subjects.items()}, config,
                               dtype, xla, macs)
    return results


def measure_latency(config, spec) -> list:
    """Batch-1 latency of the model's deployed forms, taking turns in one process.

    The four LiteRT files (float32, float16, dynamic-range and full int8) and
    the ONNX file (ONNX Runtime) at each of `config.threads`, and the Keras
    model as a TensorFlow graph (what TF Serving runs), whose thread pool is
    the process's (recorded as threads None).
    """
    import tensorflow as tf
    from ai_edge_litert.interpreter import Interpreter

    from keras_resnet.export import litert, onnx as onnx_export

    side = config.image_size or spec.input_shape[0]
    model = factory.build(spec.name, input_shape=(side, side, 3), dtype="float32")
    rng = np.random.default_rng(0)
    # Calibration on random pixels: int8 latency does not depend on the ranges it picks.
    representative = rng.uniform(0, 255, (8, side, side, 3)).astype("float32")
    image = rng.uniform(0, 255, (1, side, side, 3)).astype("float32")
    macs = count_macs(model)
    subject = f"keras_resnet {spec.name}"
    subjects = {}
    with tempfile.TemporaryDirectory() as workdir:
        for quantization in litert.QUANTIZATIONS:
            content = litert.convert(model, quantization, workdir, representative)
            for threads in config.threads:
                interpreter = Interpreter(model_content=content, num_threads=threads)
                interpreter.allocate_tensors()
                subjects[f"{subject} (LiteRT)", quantization, threads] = _invoke_litert(interpreter, image)
        path = os.path.join(workdir, "model.onnx")
        onnx_export.convert(model, path, [str(i) for i in range(int(model.output_shape[-1]))], spec.name)
        for threads in config.threads:
            runner = onnx_export.ONNXClassifier(path, threads=threads)
            subjects[f"{subject} (ONNX Runtime)", "float32", threads] = functools.partial(runner, image)
    graph = tf.function(lambda x: model(x, training=False))
    tensor = tf.constant(image)
    subjects[f"{subject} (TensorFlow)", "float32", None] = lambda: graph(tensor).numpy()
    seconds = alternate(subjects, config.warmup_rounds, config.rounds, config.steps_per_round)
    rss = peak_rss_mb()
    results = []
    for (name, dtype, threads), times in seconds.items():
        latencies = [1000 * t / config.steps_per_round for t in times]
        results.append(Result("latency", name, dtype, False, 1, statistics.median(latencies), "ms", latencies, macs,
                               threads, rss))
    return results


def _invoke_litert(interpreter, image: np.ndarray) -> Callable:
    detail = interpreter.get_input_details()[0]
    x = image if detail["dtype"] == np.float32 else np.clip(image, 0, 255).astype(detail["dtype"])
    interpreter.set_tensor(detail["index"], x)
    return interpreter.invoke


def measure_pipeline(config, spec, dtype: str) -> list:
    """The training input pipeline alone, a training step on synthetic tensors, and the step fed by the pipeline."""
    from keras_resnet.data import pipelines, sources as data

    source = data.load_dataset(config.dataset, config.data_dir, download=False)
    prepared = pipelines.prepare_data(source, batch_size=config.batch_size, min_size=spec.min_size,
                                      default_size=spec.input_shape[:2], image_size=config.image_size,
                                      validation_split=0.0)
    batches = iter(prepared.train_pipeline(config.augmentation))
    model = factory.build(spec.name, input_shape=prepared.input_shape, classes=source.num_classes,
                         mean=prepared.mean, dtype=dtype)
    _compile(model)
    x, y = _synthetic_batch(config, prepared.input_shape, source.num_classes)

    def from_pipeline():
        images, labels = next(batches)
        model.train_on_batch(images, labels)

    subjects = {f"{config.dataset} pipeline alone ({config.augmentation})": lambda: next(batches),
                "train step, synthetic tensors": lambda: model.train_on_batch(x, y),
                "train step fed by the pipeline": from_pipeline}
    return _throughput("pipeline", subjects, config, dtype)


# ResNet-50's conv2 stage: where its normalisation layers see the most activations.
BATCHNORM_SHAPE = (56, 56, 64)


def measure_batchnorm(config, dtype: str) -> list:
    """keras_resnet's fused BatchNormalization against keras.layers.BatchNormalization, the layer alone.

    Training is a forward and backward pass (gradients of the input, gamma
    and beta) that also updates the moving statistics; inference normalises
    with them. Both run as tf.functions on `BATCHNORM_SHAPE` activations in
    the policy's compute dtype.
    """
    import tensorflow as tf

    policy = keras.dtype_policies.get(dtype)
    shape = (config.batch_size,) + BATCHNORM_SHAPE
    x = tf.cast(tf.random.stateless_normal(shape, (0, 0)), policy.compute_dtype)
    weights = tf.cast(tf.random.stateless_normal(shape, (0, 1)), policy.compute_dtype)
    subjects = {}
    for name, cls in (("keras_resnet BatchNormalization", BatchNormalization),
                      ("keras.layers.BatchNormalization", keras.layers.BatchNormalization)):
        layer = cls(dtype=dtype)
        layer.build(shape)

        @tf.function
        def train(layer=layer):
            with tf.GradientTape() as tape:
                tape.watch(x)
                loss = tf.reduce_sum(tf.cast(layer(x, training=True) * weights, tf.float32))
            return tape.gradient(loss, [x, layer.gamma.value, layer.beta.value])

        infer = tf.function(lambda layer=layer: layer(x, training=False))
        subjects[f"{name}, training"] = lambda f=train: [g.numpy() for g in f()]
        subjects[f"{name}, inference"] = lambda f=infer: f().numpy()
    return _throughput("batchnorm", subjects, config, dtype)


def measure_profiles(config, spec, dtype: str, xla: bool) -> list:
    """A tf.profiler trace of the training step of each subject, charged by op type and by layer class.

    Each subject (the model, its variants and keras.applications' net) runs
    `warmup_rounds` untimed steps (at least one) and `steps_per_round`
    profiled ones; its trace is kept beside the report for TensorBoard.
    """
    subjects = _subjects(config, spec, dtype)
    x, y = _synthetic_batch(config, next(iter(subjects.values())).input_shape[1:], spec.classes)
    traces = os.path.splitext(config.output)[0] + "_traces"
    profiles = []
    for name, model in subjects.items():
        _compile(model, xla)
        slug = re.sub(r"[^A-Za-z0-9]+", "_", f"{name} {dtype}{' xla' if xla else ''}").strip("_")
        profile = profiling.profile_training(model, x, y, os.path.join(traces, slug), config.steps_per_round,
                                             config.warmup_rounds, name, dtype)
        profiles.append(dataclasses.asdict(profile))
    return profiles


def run(config: BenchmarkConfig) -> dict:
    """Measure what `config` asks for and write the JSON report and its markdown table.

    Returns:
        The report: {"machine", "config", "results", "comparisons", "profiles", "paths"};
        "profiles" holds `keras_resnet.research.profiling.StepProfile`s as dicts.

    Raises:
        ValueError: a setting is invalid (checked before anything is built),
            or mixed_float16 without a GPU.
    """
    settings.validate(config)
    check_writable_dir(os.path.dirname(os.path.abspath(config.output)), "output", repr(config.output))
    spec = specs.get_spec(config.model)
    if keras.backend.backend() != "tensorflow" and set(config.tasks) - {"inference", "train"}:
        raise ValueError(f"latency, pipeline, batchnorm and profile run on TensorFlow; the {keras.backend.backend()} "
                         f"backend measures inference and train only. Received: tasks={','.join(config.tasks)}")
    if "pipeline" in config.tasks:
        from keras_resnet.data.catalog import check_dataset_name

        check_dataset_name(config.dataset)
    # auto: every dtype the autotuner of a training run would time here (`autotune.candidates`, one function).
    worth = [c.dtype for c in autotune.candidates("auto", "off", gpu=bool(machine()["gpus"]),
                                                   native_bfloat16=precision.cpu_has_native_bfloat16())]
    dtypes = list(dict.fromkeys(d for given in config.dtypes for d in (worth if given == "auto" else [given])))
    if "profile" in config.tasks and machine()["gpus"]:
        raise ValueError("--tasks=profile charges host CPU op events, which on a GPU are kernel launches, not kernels; "
                         "hide the GPUs (CUDA_VISIBLE_DEVICES=) to profile on the CPU, or trace the GPU with "
                         "tf.profiler and TensorBoard's profile plugin.")
    if "mixed_float16" in dtypes and not machine()["gpus"]:
        raise ValueError("mixed_float16 needs a GPU (CPUs emulate float16 slowly); use float32 or "
                         "mixed_bfloat16 here. Received: dtypes=" + ",".join(config.dtypes))
    results, profiles = [], []
    model_tasks = [t for t in config.tasks if t in ("inference", "train")]
    for dtype in dtypes:
        for xla in (False, True) if config.xla and keras.backend.backend() != "jax" else (False,):
            if model_tasks:
                results += measure_models(config, spec, model_tasks, dtype, xla)
            if "profile" in config.tasks:
                profiles += measure_profiles(config, spec, dtype, xla)
        if "pipeline" in config.tasks:
            results += measure_pipeline(config, spec, dtype)
        if "batchnorm" in config.tasks:
            results += measure_batchnorm(config, dtype)
    if "latency" in config.tasks:
        results += measure_latency(config, spec)
    report = {"machine": machine(), "config": dataclasses.asdict(config),
              "results": [dict(dataclasses.asdict(r), gmacs_per_second=r.gmacs_per_second) for r in results],
              "comparisons": benchmark_report.comparisons(results), "profiles": profiles,
              "auto": benchmark_report.auto_choice(config, results)}
    table = os.path.splitext(config.output)[0] + ".md"
    report["paths"] = {"json": config.output, "markdown": table}
    write_json(config.output, report)
    write_text(table, benchmark_report.markdown(report))
    return report
