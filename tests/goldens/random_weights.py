"""Weights drawn from a fixed numpy seed under a checkpoint's real key names (numpy only).

Both `make_goldens.py` (with torch, on a developer's machine) and the CI tests
(without torch) call `draw`, so they fill the same tensors: BN statistics and
affine parameters far from their initial values, so that a wrongly mapped
mean, variance or epsilon shows in the logits.
"""

import numpy as np

IMAGE_MEAN = np.array([0.485, 0.456, 0.406], np.float32)
IMAGE_STD = np.array([0.229, 0.224, 0.225], np.float32)


def draw(keys_and_shapes, seed: int) -> dict:
    """{key: float32 array} for [(key, shape), ...], in order."""
    rng = np.random.default_rng(seed)
    state = {}
    for key, shape in keys_and_shapes:
        shape = tuple(shape)
        if key.endswith("num_batches_tracked"):
            continue
        if key.endswith("running_var"):
            value = rng.uniform(0.5, 2.0, shape)
        elif key.endswith("running_mean") or key.endswith(".bias"):
            value = rng.normal(0.0, 0.1, shape)
        elif len(shape) == 1:  # BN gamma
            value = rng.uniform(0.5, 1.5, shape)
        else:  # conv (OIHW) or dense (out, in): He-scaled so activations stay O(1)
            fan_in = int(np.prod(shape[1:]))
            value = rng.normal(0.0, np.sqrt(1.0 / fan_in), shape)
        state[key] = value.astype(np.float32)
    return state


def images(seed: int, batch: int, size: int) -> np.ndarray:
    """Raw RGB pixels 0-255, NHWC float32."""
    return np.random.default_rng(seed).uniform(0, 255, (batch, size, size, 3)).astype(np.float32)
