"""Test helpers: models built once per session, tiny generated IDX data sets, JAX subprocesses."""

import functools
import importlib.util
import os
import subprocess
import sys

import pytest

import keras_resnet

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # the repository
GOLDENS_DIR = os.path.join(ROOT, "tests", "goldens")  # on the path (pytest.ini): make_goldens, random_weights


@functools.lru_cache(maxsize=None)
def goldens() -> dict:
    """tests/goldens/goldens.json: the reference frameworks' own outputs, by checkpoint."""
    import json

    with open(os.path.join(GOLDENS_DIR, "goldens.json")) as f:
        return json.load(f)


@functools.lru_cache(maxsize=None)
def small_model(name: str, **kwargs):
    """`name` with its default head, at the smallest input it accepts."""
    spec = keras_resnet.get_spec(name)
    side = spec.min_size if spec.layout == "imagenet" else 32
    return keras_resnet.build(name, input_shape=(side, side, 3), **kwargs)


def infer(model, x):
    """One eager forward pass in inference mode, as NumPy.

    For the parity tests' one batch: `predict` first traces a function, 5 s
    for a ResNet-152 here against 1 s for the eager pass, with equal outputs.
    """
    import keras

    return keras.ops.convert_to_numpy(model(x, training=False))


# Found without importing it: JAX in a TensorFlow test process is not wanted.
requires_jax = pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="jax is not installed")


def run_on_jax(code: str, timeout: int) -> None:
    """Run `code` in a subprocess with Keras on JAX, on the CPU; it must exit 0 after printing "ok".

    The JAX tests check results, not speed. Building a net runs its
    initializers eagerly, each a small XLA compile per weight shape; without
    LLVM's optimisation passes those compile about 3x faster (ResNet-8:
    3 s against 9.8 s here). Pinning the CPU platform skips probing for
    accelerator plugins.
    """
    flags = "--xla_backend_optimization_level=0 --xla_llvm_disable_expensive_passes=true"
    env = dict(os.environ, KERAS_BACKEND="jax", JAX_PLATFORMS="cpu",
               XLA_FLAGS=f"{os.environ.get('XLA_FLAGS', '')} {flags}".strip())
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().endswith("ok")


def channels_first(build):
    """`build()` with Keras's global image data format set to channels_first, restored after."""
    import keras

    keras.config.set_image_data_format("channels_first")
    try:
        return build()
    finally:
        keras.config.set_image_data_format("channels_last")


def write_idx(path: str, array) -> None:
    """Write a uint8 array as a gzipped IDX file (the MNIST format)."""
    import gzip

    import numpy as np

    array = np.asarray(array, np.uint8)
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(d.to_bytes(4, "big") for d in array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + array.tobytes())


def make_idx_dataset(directory: str, num_train: int = 64, num_test: int = 32, side: int = 28,
                     seed: int = 0) -> str:
    """A tiny Fashion-MNIST look-alike: 10 classes, each a brightness band.

    Learnable in a few steps, so training tests can assert progress.
    """
    import numpy as np

    os.makedirs(directory, exist_ok=True)
    rng = np.random.default_rng(seed)
    for prefix, n in (("train", num_train), ("t10k", num_test)):
        labels = np.arange(n) % 10
        rng.shuffle(labels)
        images = rng.integers(0, 40, (n, side, side)) + labels[:, None, None] * 20
        write_idx(os.path.join(directory, f"{prefix}-images-idx3-ubyte.gz"), images)
        write_idx(os.path.join(directory, f"{prefix}-labels-idx1-ubyte.gz"), labels)
    return directory


def randomize(model, seed: int = 0) -> None:
    """Random weights with non-trivial BN statistics, scaled so a deep net's activations stay finite."""
    import numpy as np

    rng = np.random.default_rng(seed)
    for variable in model.weights:
        shape, kind = tuple(variable.shape), variable.path.split("/")[-1]
        if kind in ("gamma", "moving_variance"):
            value = rng.uniform(0.5, 1.5, shape)
        elif kind in ("beta", "moving_mean", "bias"):
            value = rng.normal(0.0, 0.1, shape)
        else:
            value = rng.normal(0.0, np.sqrt(1.0 / np.prod(shape[:-1])), shape)
        variable.assign(value.astype(variable.dtype))


# keras-hub's ImageNet presets normalise as torchvision does (timm's pretrained_cfg mean and std).
HUB_TORCHVISION = dict(scale=[1 / (255 * 0.229), 1 / (255 * 0.224), 1 / (255 * 0.225)],
                       offset=[-0.485 / 0.229, -0.456 / 0.224, -0.406 / 0.225])


def hub_preset(directory: str, config: dict, classes=None, image_size=(64, 64), seed: int = 0):
    """A keras-hub ResNet preset with random weights, saved by keras-hub itself: a backbone, or with `classes`
    a classifier whose preprocessor normalises as keras-hub's ImageNet presets. Returns the keras-hub model."""
    import keras_hub

    backbone = keras_hub.models.ResNetBackbone(**config)
    model = backbone
    if classes:
        converter = keras_hub.layers.ResNetImageConverter(image_size=image_size, **HUB_TORCHVISION)
        model = keras_hub.models.ResNetImageClassifier(
            backbone=backbone, num_classes=classes,
            preprocessor=keras_hub.models.ResNetImageClassifierPreprocessor(image_converter=converter))
    randomize(model, seed)
    model.save_to_preset(directory)
    return model


class FakeClock:
    """Seconds since a run began, advanced only by the training's steps: a Keras callback
    (`FakeClock(1.25).callback()`) adds `seconds_per_step` at each step's start."""

    def __init__(self, seconds_per_step: float):
        self.now, self.seconds_per_step = 0.0, seconds_per_step

    def __call__(self) -> float:
        return self.now

    def callback(self):
        import keras

        clock = self

        class Tick(keras.callbacks.Callback):
            def on_train_batch_begin(self, batch, logs=None):
                clock.now += clock.seconds_per_step

        return Tick()


def wait_for(condition, timeout: float, what: str):
    """Poll `condition` every 0.1 s until it returns something true, and return that; fail after `timeout` s."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"{what} did not happen within {timeout} s")


def last_line(text: str) -> str:
    """The last line of a process's output (a one-line error's)."""
    return text.strip().splitlines()[-1]


def run_script(name: str, *args: str, env=None, timeout: float = 300, tf_logs: bool = False):
    """scripts/`name` with `args`, run to its end from the repository root, as a completed process.

    TensorFlow's own log lines are hidden unless `tf_logs` (a user's shell: the script decides).
    """
    env = dict(os.environ, **(env or {}))
    if tf_logs:
        env.pop("TF_CPP_MIN_LOG_LEVEL", None)
    else:
        env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    return subprocess.run([sys.executable, os.path.join(ROOT, "scripts", name), *args], capture_output=True,
                          text=True, timeout=timeout, env=env, cwd=ROOT)
