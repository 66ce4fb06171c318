"""Training with tf.distribute: strategies, the paper's recipes, resumable runs.

`scripts/train.py` only parses flags into a `TrainConfig` and calls `train`.
Everything that can be wrong with a config is checked by `validate` before
any data is read or any model is built.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import logging
import math
import os
from typing import Optional, Sequence

import keras
import numpy as np
import tensorflow as tf

from keras_resnet import data as data_lib
from keras_resnet import models
from keras_resnet import recipes as recipes_lib
from keras_resnet import specs

log = logging.getLogger("keras_resnet")

STRATEGIES = ("default", "one_device", "mirrored", "multi_worker_mirrored", "tpu")
DTYPES = ("float32", "mixed_float16", "mixed_bfloat16")
RUN_FILE = "run.json"
# What a model_dir's earlier run must share with a relaunch to resume it.
_RUN_IDENTITY = ("model", "dataset", "shortcut", "image_size", "width_multiplier")


@dataclasses.dataclass
class TrainConfig:
    """Everything a training run needs; `scripts/train.py` fills it from flags."""

    model: str = "resnet20"
    dataset: str = "fashion_mnist"
    data_dir: Optional[str] = None
    model_dir: str = "runs/resnet20_fashion_mnist"
    strategy: str = "default"
    num_gpus: Optional[int] = None
    tpu: Optional[str] = None
    batch_size: Optional[int] = None
    epochs: Optional[int] = None
    train_steps: Optional[int] = None
    recipe: str = "cifar"
    augmentation: Optional[str] = None
    learning_rate: Optional[float] = None
    weight_decay: Optional[float] = None
    dtype: str = "float32"
    enable_xla: bool = False
    sync_bn: bool = False
    seed: int = 0
    shortcut: Optional[str] = None
    width_multiplier: float = 1.0
    image_size: Optional[int] = None
    validation_split: float = 0.1
    max_train_examples: Optional[int] = None
    max_test_examples: Optional[int] = None
    download: bool = True
    export_dir: Optional[str] = None
    verbose: int = 1


class NonFiniteLossError(FloatingPointError):
    """The training loss became NaN or Inf."""


class StopOnNonFiniteLoss(keras.callbacks.Callback):
    """Raise as soon as the loss is NaN/Inf.

    Raising (rather than keras.callbacks.TerminateOnNaN's stop flag) ends
    `fit` before epoch-end callbacks run, so BackupAndRestore keeps the last
    good epoch instead of backing up NaN weights.
    """

    def __init__(self, backup_dir: str):
        super().__init__()
        self.backup_dir = backup_dir
        self.epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            raise NonFiniteLossError(
                f"Training loss became {float(loss)} at epoch {self.epoch + 1}, step {batch + 1}. "
                f"Stopped; the last good epoch is kept in {self.backup_dir} and a relaunch resumes "
                "from it (lower --learning_rate, or check the data, first)."
            )


# ---------------------------------------------------------------- validation


def _cluster_task() -> tuple:
    """(task type, index, is chief) from TF_CONFIG; ("", 0, True) without one."""
    tf_config = json.loads(os.environ.get("TF_CONFIG", "{}") or "{}")
    task = tf_config.get("task", {})
    kind, index = task.get("type", ""), int(task.get("index", 0))
    has_chief = "chief" in tf_config.get("cluster", {})
    is_chief = kind == "chief" or not kind or (kind == "worker" and index == 0 and not has_chief)
    return kind, index, is_chief


def validate(config: TrainConfig) -> specs.ResNetSpec:
    """Check every flag without reading data or building a model.

    Returns:
        The model's spec.

    Raises:
        ValueError: the first thing wrong, saying what is valid.
    """
    spec = specs.get_spec(config.model)
    recipes_lib.get_recipe(config.recipe)
    if config.strategy not in STRATEGIES:
        raise ValueError(f"Unknown strategy {config.strategy!r}; known: {', '.join(STRATEGIES)}")
    if config.dtype not in DTYPES:
        raise ValueError(f"Unknown dtype {config.dtype!r}; known: {', '.join(DTYPES)}")
    if config.dtype == "mixed_float16" and not tf.config.list_physical_devices("GPU") \
            and config.strategy != "tpu":
        raise ValueError(
            "--dtype=mixed_float16 needs a GPU: this run has none, and CPUs have no float16 "
            "arithmetic (TF emulates it, slower than float32). Use --dtype=mixed_bfloat16 "
            "(fast on CPUs with AVX512_BF16 and on TPUs) or float32."
        )
    data_lib.check_dataset_name(config.dataset)
    for key in ("batch_size", "epochs", "train_steps", "num_gpus", "image_size",
                "max_train_examples", "max_test_examples"):
        value = getattr(config, key)
        if value is not None and value < 1:
            raise ValueError(f"--{key} must be >= 1. Received: {key}={value}")
    if not 0 <= config.validation_split < 1:
        raise ValueError(f"--validation_split must be in [0, 1). Received: {config.validation_split}")
    if config.image_size is not None and config.image_size < spec.min_size:
        raise ValueError(
            f"{spec.name} needs images of at least {spec.min_size} px. Received: image_size={config.image_size}"
        )
    if config.augmentation is not None and config.augmentation not in data_lib.AUGMENTATIONS:
        raise ValueError(
            f"Unknown augmentation {config.augmentation!r}; known: {', '.join(data_lib.AUGMENTATIONS)}")
    if config.shortcut is not None and config.shortcut.upper() not in specs.SHORTCUT_OPTIONS:
        raise ValueError(f"Unknown shortcut option; valid: A, B, C. Received: shortcut={config.shortcut!r}")
    check_model_dir(config)
    return spec


def _identity(config: TrainConfig) -> dict:
    return {
        "model": specs.get_spec(config.model).name,
        "dataset": config.dataset,
        "shortcut": (config.shortcut or specs.get_spec(config.model).shortcut).upper(),
        "image_size": config.image_size,
        "width_multiplier": config.width_multiplier,
    }


def check_model_dir(config: TrainConfig) -> None:
    """Refuse a model_dir that holds a run of another model or data set."""
    path = os.path.join(config.model_dir, RUN_FILE)
    if not os.path.isfile(path):
        return
    with open(path) as f:
        saved = json.load(f)
    mine = _identity(config)
    diff = {k: (saved.get(k), mine[k]) for k in _RUN_IDENTITY if saved.get(k) != mine[k]}
    if diff:
        described = ", ".join(f"{k}: {a!r} there, {b!r} now" for k, (a, b) in diff.items())
        raise ValueError(
            f"--model_dir={config.model_dir!r} holds a run of another configuration ({described}). "
            "Pick another --model_dir to start a new run, or relaunch with the same flags to resume."
        )


# ---------------------------------------------------------------- strategy


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
        logical = tf.config.get_logical_device_configuration(cpu)
        if logical is None:
            tf.config.set_logical_device_configuration(
                cpu, [tf.config.LogicalDeviceConfiguration() for _ in range(count)]
            )
        devices = [d.name for d in tf.config.list_logical_devices("CPU")][:count]
        return tf.distribute.MirroredStrategy(devices)
    if name == "multi_worker_mirrored":
        return tf.distribute.MultiWorkerMirroredStrategy()
    # TPU: the standard path; not exercised here (no TPU on this machine or CI).
    resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=tpu or "")
    tf.config.experimental_connect_to_cluster(resolver)
    tf.tpu.experimental.initialize_tpu_system(resolver)
    return tf.distribute.TPUStrategy(resolver)


def _build_for_multi_worker(model: keras.Model, strategy, dataset: tf.data.Dataset) -> None:
    """Work around keras-team/keras#20585 (open in Keras 3.15).

    Under MultiWorkerMirroredStrategy, `fit`/`evaluate` first build the
    optimizer and metrics from a batch averaged with an eager
    `strategy.reduce`, which that strategy cannot run ("Attempt to convert a
    value (PerReplica...)"). Build them from a local batch instead; the
    variables are created identically on every worker.

    Each step's logs are then averaged across workers with
    `strategy.reduce("MEAN", axis=0)`, which rejects scalars: the steps
    return their logs as shape-[1] tensors, which that reduce averages.
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


# ---------------------------------------------------------------- data


def _subsample(x, y, limit, seed):
    if limit is None or limit >= len(x):
        return x, y
    index = np.random.default_rng(seed).permutation(len(x))[:limit]
    return x[index], y[index]


@dataclasses.dataclass
class PreparedData:
    """A data set split, sized and ready for pipelines.

    Attributes:
        source: the loaded `DataSource` (its arrays/train hold the training split).
        image_size: (H, W) the model sees.
        mean: per-pixel mean of the training split (model preprocessing).
        num_train: training images (validation split excluded).
        val_ds, test_ds: batched evaluation pipelines (val_ds None without a split).
    """

    source: data_lib.DataSource
    image_size: tuple
    mean: np.ndarray
    num_train: int
    val_ds: Optional[tf.data.Dataset]
    test_ds: tf.data.Dataset
    _train: tf.data.Dataset
    _batch_size: int
    _seed: int
    _cache: bool

    def train_pipeline(self, augmentation: str) -> tf.data.Dataset:
        """The repeated, shuffled, batched training pipeline with `augmentation`."""
        view = data_lib.train_transform(augmentation, self.image_size, self.source.image_shape[:2])
        return data_lib.make_pipeline(self._train, self._batch_size, view, training=True, seed=self._seed,
                                      cache=self._cache, drop_remainder=True).map(self._one_hot).repeat()

    def _one_hot(self, x, y):
        return x, tf.one_hot(y, self.source.num_classes)


def prepare_data(config: TrainConfig, spec: specs.ResNetSpec, batch_size: int) -> PreparedData:
    """Load the data set, split off validation, choose the size and compute the mean."""
    source = data_lib.load_dataset(config.dataset, config.data_dir, download=config.download)
    if source.arrays is not None:
        x_train, y_train, x_test, y_test = source.arrays
        x_train, y_train = _subsample(x_train, y_train, config.max_train_examples, config.seed)
        x_test, y_test = _subsample(x_test, y_test, config.max_test_examples, config.seed + 1)
        num_val = int(len(x_train) * config.validation_split)
        order = np.random.default_rng(config.seed).permutation(len(x_train))
        val_index, train_index = order[:num_val], order[num_val:]
        source.arrays = (x_train[train_index], y_train[train_index], x_test, y_test)
        train = tf.data.Dataset.from_tensor_slices((x_train[train_index], y_train[train_index]))
        val = tf.data.Dataset.from_tensor_slices((x_train[val_index], y_train[val_index])) if num_val else None
        test = tf.data.Dataset.from_tensor_slices((x_test, y_test))
        num_train = len(train_index)
    else:
        num_total = source.num_train if config.max_train_examples is None else min(
            source.num_train, config.max_train_examples)
        num_val = int(num_total * config.validation_split)
        full = source.train.take(num_total)
        val = full.take(num_val) if num_val else None
        train = full.skip(num_val)
        test = source.test if config.max_test_examples is None else source.test.take(config.max_test_examples)
        num_train = num_total - num_val
        source.train = train

    native = source.image_shape[:2]
    if config.image_size is not None:
        image_size = (config.image_size, config.image_size)
    elif None not in native:
        image_size = tuple(native)
        if min(native) < spec.min_size:
            image_size = (spec.min_size, spec.min_size)
            log.warning("%s needs >= %d px: resizing %s images to %s", spec.name, spec.min_size,
                        native, image_size)
    else:
        image_size = tuple(spec.input_shape[:2])
    mean = data_lib.pixel_mean(source, image_size)

    eval_view = data_lib.eval_transform(image_size, native)
    cache = source.arrays is None and num_train <= 100_000
    prepared = PreparedData(source, image_size, mean, num_train, None, None, train, batch_size, config.seed, cache)
    if val is not None:
        prepared.val_ds = data_lib.make_pipeline(val, batch_size, eval_view, training=False,
                                                 cache=cache).map(prepared._one_hot)
    prepared.test_ds = data_lib.make_pipeline(test, batch_size, eval_view, training=False).map(prepared._one_hot)
    return prepared


# ---------------------------------------------------------------- training


def _read_history(path: str) -> dict:
    if not os.path.isfile(path):
        return {}
    with open(path) as f:
        rows = list(csv.DictReader(f))
    history = {}
    for row in rows:
        for key, value in row.items():
            try:
                number = float(value)
            except (TypeError, ValueError):
                number = float("nan")
            history.setdefault(key, []).append(number)
    return history


def plot_history(csv_path: str, png_path: str, title: str) -> Optional[str]:
    """Training curves (loss and accuracy per epoch) from a CSVLogger file."""
    history = _read_history(csv_path)
    if not history.get("epoch"):
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [e + 1 for e in history["epoch"]]
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, metric in zip(axes, ("loss", "accuracy")):
        for prefix, style in (("", "--"), ("val_", "-")):
            if prefix + metric in history:
                label = ("validation " if prefix else "training ") + metric
                ax.plot(epochs, history[prefix + metric], style, label=label)
        ax.set_xlabel("epoch")
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(png_path, dpi=100)
    plt.close(fig)
    return png_path


def train(config: TrainConfig, extra_callbacks: Sequence[keras.callbacks.Callback] = (),
          strategy=None) -> dict:
    """Train, evaluate and save a network as `config` says.

    Relaunching with the same config resumes from the last finished epoch
    (keras.callbacks.BackupAndRestore in `model_dir/backup`).

    Args:
        config: the run.
        extra_callbacks: more Keras callbacks.
        strategy: an already created strategy (else made from config).

    Returns:
        A dict with test_loss, test_accuracy, epochs_run, initial_epoch,
        paths of what was written, and the Keras model under "model".

    Raises:
        ValueError: a bad config, found before any work.
        NonFiniteLossError: the loss became NaN/Inf.
    """
    spec = validate(config)
    recipe = recipes_lib.get_recipe(config.recipe)
    if strategy is None:
        strategy = make_strategy(config.strategy, config.num_gpus, config.tpu)
    replicas = strategy.num_replicas_in_sync
    batch_size = config.batch_size or recipe.batch_size
    if batch_size % replicas:
        raise ValueError(
            f"--batch_size={batch_size} (global) must divide evenly over the {replicas} replicas of "
            f"--strategy={config.strategy}; use a multiple of {replicas}."
        )
    _, task_index, is_chief = _cluster_task()
    if config.seed is not None:
        keras.utils.set_random_seed(config.seed)
    # Workers other than the chief write their files apart: two processes
    # saving the same file corrupt it.
    work_dir = config.model_dir if is_chief else os.path.join(config.model_dir, "workers", str(task_index))
    os.makedirs(work_dir, exist_ok=True)

    prepared = prepare_data(config, spec, batch_size)
    source, image_size, mean, num_train = prepared.source, prepared.image_size, prepared.mean, prepared.num_train
    train_ds = prepared.train_pipeline(config.augmentation or recipe.augmentation)
    val_ds, test_ds = prepared.val_ds, prepared.test_ds
    run = recipes_lib.plan(recipe, batch_size, num_train, spec.depth, epochs=config.epochs,
                           train_steps=config.train_steps, learning_rate=config.learning_rate,
                           weight_decay=config.weight_decay)
    steps_per_epoch = min(run.steps_per_epoch, run.total_steps)
    epochs = -(-run.total_steps // steps_per_epoch)

    if is_chief:
        identity = _identity(config)
        identity.update(classes=source.num_classes, class_names=list(source.class_names),
                        input_size=list(image_size), channels=int(mean.shape[-1]),
                        recipe=config.recipe, batch_size=batch_size,
                        data_dir=os.path.abspath(config.data_dir) if config.data_dir else None)
        with open(os.path.join(config.model_dir, RUN_FILE), "w") as f:
            json.dump(identity, f, indent=2)
        with open(os.path.join(config.model_dir, "labels.txt"), "w") as f:
            f.write("\n".join(source.class_names) + "\n")

    previous_policy = keras.config.dtype_policy()
    keras.config.set_dtype_policy(config.dtype)
    try:
        with strategy.scope():
            model = models.build(
                config.model,
                input_shape=tuple(image_size) + (int(mean.shape[-1]),),
                classes=source.num_classes,
                shortcut=config.shortcut,
                width_multiplier=config.width_multiplier,
                synchronized_bn=config.sync_bn,
                mean=mean,
            )
            recipes_lib.apply_weight_decay(model, run.weight_decay)
            model.compile(
                optimizer=recipes_lib.make_optimizer(recipe, run),
                loss=keras.losses.CategoricalCrossentropy(label_smoothing=recipe.label_smoothing),
                metrics=[keras.metrics.CategoricalAccuracy(name="accuracy")],
                jit_compile=bool(config.enable_xla),
            )
        _build_for_multi_worker(model, strategy, train_ds)
        backup_dir = os.path.join(work_dir, "backup")
        history_csv = os.path.join(work_dir, "history.csv")
        monitor = "val_accuracy" if val_ds is not None else "accuracy"
        callbacks = [
            StopOnNonFiniteLoss(backup_dir),
            keras.callbacks.BackupAndRestore(backup_dir, delete_checkpoint=False),
            keras.callbacks.ModelCheckpoint(os.path.join(work_dir, "best.weights.h5"), monitor=monitor,
                                            mode="max", save_best_only=True, save_weights_only=True),
            keras.callbacks.CSVLogger(history_csv, append=True),
        ]
        if is_chief:
            callbacks.append(keras.callbacks.TensorBoard(os.path.join(work_dir, "logs"),
                                                         update_freq="epoch", profile_batch=0))
        callbacks += list(extra_callbacks)
        log.info("%s on %s: %d train images %s, batch %d over %d replica(s), %d epochs x %d steps, "
                 "lr %.4g, wd %.1e", spec.name, config.dataset, num_train, image_size, batch_size,
                 replicas, epochs, steps_per_epoch, run.learning_rate, run.weight_decay)
        history = model.fit(train_ds, epochs=epochs, steps_per_epoch=steps_per_epoch,
                            validation_data=val_ds, callbacks=callbacks, verbose=config.verbose)
        initial_epoch = history.epoch[0] if history.epoch else epochs
        final_weights = os.path.join(work_dir, "final.weights.h5")
        model.save_weights(final_weights)
        final_model = os.path.join(work_dir, "final.keras")
        model.save(final_model)
        test_loss, test_accuracy = model.evaluate(test_ds, verbose=0)
        curves = plot_history(history_csv, os.path.join(work_dir, "training_curves.png"),
                              f"{spec.name} on {config.dataset}") if is_chief else None
    finally:
        keras.config.set_dtype_policy(previous_policy)
    result = dict(
        model=model,
        test_loss=float(test_loss),
        test_accuracy=float(test_accuracy),
        initial_epoch=int(initial_epoch),
        epochs_run=len(history.epoch),
        epochs=epochs,
        steps_per_epoch=steps_per_epoch,
        final_model=final_model,
        final_weights=final_weights,
        best_weights=os.path.join(work_dir, "best.weights.h5"),
        curves=curves,
        class_names=source.class_names,
        num_train=num_train,
    )
    if is_chief:
        with open(os.path.join(work_dir, "result.json"), "w") as f:
            json.dump({k: v for k, v in result.items() if k != "model"}, f, indent=2, default=list)
        if config.export_dir:
            from keras_resnet import export

            reports = export.export_model(config.model_dir, config.export_dir)
            log.info("Exported and verified:\n%s", export.format_reports(reports))
            result["exports"] = reports
    return result
