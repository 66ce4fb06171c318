"""Fixtures every test module shares; plain helpers live in helpers.py."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest  # noqa: E402

from helpers import make_idx_dataset  # noqa: E402


@pytest.fixture(scope="module")
def idx_dir(tmp_path_factory):
    """A tiny Fashion-MNIST look-alike as IDX files: 160 training and 40 test images, made once per module.

    Modules that need another size define their own `idx_dir`, which pytest prefers.
    """
    return make_idx_dataset(str(tmp_path_factory.mktemp("idx")), num_train=160, num_test=40)
