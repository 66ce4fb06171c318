"""A run's dtype policy and XLA setting: the choices, and the hardware facts that say which can be fast."""

from __future__ import annotations

import os
import platform

# Dtype policies a run may ask for; "auto" is measured (`keras_resnet.train.autotune`).
DTYPES = ("float32", "mixed_float16", "mixed_bfloat16", "auto")
# XLA compilation of the train step; "auto" is measured with the dtype.
XLA_MODES = ("auto", "on", "off")

_BF16_CPU_FLAGS = ("amx_bf16", "avx512_bf16")


def has_gpu() -> bool:
    """Whether Keras's backend sees a GPU."""
    import keras

    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        return bool(tf.config.list_physical_devices("GPU"))
    if backend == "jax":
        import jax

        return any(device.platform == "gpu" for device in jax.devices())
    if backend == "torch":
        import torch

        return torch.cuda.is_available()
    return False


def cpu() -> tuple:
    """(model name, set of flags) of this machine's CPU, from /proc/cpuinfo (("", set()) where it is missing)."""
    name, flags = "", set()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() == "model name" and not name:
                    name = value.strip()
                elif key.strip() == "flags" and not flags:
                    flags = set(value.split())
    except OSError:
        pass
    return name, flags


def cpu_has_native_bfloat16() -> bool:
    """Whether this CPU computes bfloat16 natively (AMX or AVX512_BF16), from /proc/cpuinfo."""
    return bool(cpu()[1].intersection(_BF16_CPU_FLAGS))


def machine() -> dict:
    """What a measured figure belongs to: the CPU and its bfloat16 support, the GPUs, the library versions and
    whether oneDNN's kernels were asked for (TF_ENABLE_ONEDNN_OPTS, read once when TensorFlow is imported)."""
    import keras

    name, flags = cpu()
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        gpus, version = [d.name for d in tf.config.list_physical_devices("GPU")], tf.__version__
    else:  # the model tasks run on any backend; the GPU list then comes from JAX or torch
        import importlib

        module = importlib.import_module(backend)
        gpus = [str(d) for d in module.devices() if d.platform == "gpu"] if backend == "jax" else []
        version = module.__version__
    return {"cpu": name or platform.processor() or "unknown", "cores": os.cpu_count(), "amx_bf16": "amx_bf16" in flags,
            "avx512_bf16": "avx512_bf16" in flags, "avx2": "avx2" in flags, "gpus": gpus,
            "python": platform.python_version(), "backend": backend, "backend_version": version,
            "keras": keras.__version__, "onednn": os.environ.get("TF_ENABLE_ONEDNN_OPTS")}
