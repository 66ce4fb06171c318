"""Shared fixtures: models are built once per session, at the smallest input."""

import functools
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest  # noqa: E402

import keras_resnet  # noqa: E402


@functools.lru_cache(maxsize=None)
def small_model(name: str, **kwargs):
    """`name` with its default head, at the smallest input it accepts."""
    spec = keras_resnet.get_spec(name)
    side = spec.min_size if spec.family == "imagenet" else 32
    return keras_resnet.build(name, input_shape=(side, side, 3), **kwargs)


@pytest.fixture
def tmp_path_str(tmp_path):
    return str(tmp_path)
