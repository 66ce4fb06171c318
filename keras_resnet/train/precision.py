"""A run's dtype policy: the choices, and what "auto" means on this machine (one function for every caller)."""

from __future__ import annotations

# Dtype policies a run may ask for; "auto" is resolved by `resolve_dtype`.
DTYPES = ("float32", "mixed_float16", "mixed_bfloat16", "auto")

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


def cpu_has_native_bfloat16() -> bool:
    """Whether this CPU computes bfloat16 natively (AMX or AVX512_BF16), from /proc/cpuinfo."""
    try:
        with open("/proc/cpuinfo") as f:
            flags = set(f.read().split())
    except OSError:
        return False
    return bool(flags.intersection(_BF16_CPU_FLAGS))


def fast_dtype() -> str:
    """The Keras dtype policy that trains fastest on this machine.

    mixed_float16 with a GPU, mixed_bfloat16 on a CPU with native bfloat16
    (AMX or AVX512_BF16), float32 otherwise.
    """
    if has_gpu():
        return "mixed_float16"
    return "mixed_bfloat16" if cpu_has_native_bfloat16() else "float32"


def resolve_dtype(name: str) -> str:
    """`name`, with "auto" replaced by `fast_dtype()`."""
    return fast_dtype() if name == "auto" else name
