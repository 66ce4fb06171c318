"""The files data sets come in offline, read to numpy arrays: IDX (MNIST, Fashion-MNIST, Debian's copy) and CIFAR's
python or binary archives.

Without TensorFlow: `keras_resnet.data.sources` makes data sets of what these return.
"""

from __future__ import annotations

import gzip
import os
import pickle
import tarfile
import zlib
from typing import Optional

import numpy as np

DEBIAN_FASHION_MNIST = "/usr/share/datasets/fashion-mnist"
FASHION_MNIST_LABELS = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)
CIFAR10_LABELS = (
    "airplane", "automobile", "bird", "cat", "deer",
    "dog", "frog", "horse", "ship", "truck",
)


def read_idx(path: str) -> np.ndarray:
    """Read an IDX file (the MNIST format), gzipped or not."""
    opener = gzip.open if path.endswith(".gz") else open
    try:
        with opener(path, "rb") as f:
            data = f.read()
    except (EOFError, gzip.BadGzipFile, zlib.error) as error:
        raise ValueError(f"{path} is damaged (a truncated or corrupt gzip file: {error}): download it again") \
            from None
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 0x08:
        raise ValueError(f"{path} is not an IDX file of unsigned bytes")
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    offset = 4 + 4 * ndim
    expected = int(np.prod(dims))
    if len(data) - offset != expected:
        raise ValueError(f"{path}: header says {dims} ({expected} bytes), file has {len(data) - offset}")
    return np.frombuffer(data, np.uint8, offset=offset).reshape(dims)


def find_idx_dir(name: str, data_dir: Optional[str]) -> tuple:
    """Directories searched for the IDX files of fashion_mnist / mnist."""
    candidates = []
    if data_dir:
        candidates += [data_dir, os.path.join(data_dir, name), os.path.join(data_dir, name.replace("_", "-"))]
    elif name == "fashion_mnist":
        # Only without an explicit --data_dir: a wrong folder must not
        # silently train on another copy.
        candidates.append(DEBIAN_FASHION_MNIST)
    for directory in candidates:
        if os.path.isfile(os.path.join(directory, "train-images-idx3-ubyte.gz")) or os.path.isfile(
            os.path.join(directory, "train-images-idx3-ubyte")
        ):
            return directory, candidates
    return None, candidates


def _idx_file(directory: str, stem: str) -> str:
    path = os.path.join(directory, stem + ".gz")
    return path if os.path.isfile(path) else os.path.join(directory, stem)


def load_mnist_idx(directory: str) -> tuple:
    """(x_train, y_train, x_test, y_test) from the four MNIST-format IDX files."""
    x_train = read_idx(_idx_file(directory, "train-images-idx3-ubyte"))[..., None]
    y_train = read_idx(_idx_file(directory, "train-labels-idx1-ubyte")).astype(np.int32)
    x_test = read_idx(_idx_file(directory, "t10k-images-idx3-ubyte"))[..., None]
    y_test = read_idx(_idx_file(directory, "t10k-labels-idx1-ubyte")).astype(np.int32)
    return x_train, y_train, x_test, y_test


def _cifar_members(name: str, data_dir: str) -> Optional[dict]:
    """{member name: bytes} of a CIFAR python or binary archive or folder."""
    n = "10" if name == "cifar10" else "100"
    folders = (
        ["cifar-10-batches-py", "cifar-10-batches-bin"] if n == "10"
        else ["cifar-100-python", "cifar-100-binary"]
    )
    archives = [f + ".tar.gz" for f in ("cifar-10-python", "cifar-10-binary")] if n == "10" else [
        "cifar-100-python.tar.gz", "cifar-100-binary.tar.gz"]
    for folder in folders:
        path = os.path.join(data_dir, folder)
        if os.path.isdir(path):
            members = {}
            for name in os.listdir(path):
                if os.path.isfile(os.path.join(path, name)):
                    with open(os.path.join(path, name), "rb") as f:
                        members[name] = f.read()
            return members
    for archive in archives:
        path = os.path.join(data_dir, archive)
        if os.path.isfile(path):
            with tarfile.open(path, "r:gz") as tar:
                return {os.path.basename(m.name): tar.extractfile(m).read()
                        for m in tar.getmembers() if m.isfile()}
    return None


def load_cifar(name: str, data_dir: str) -> Optional[tuple]:
    """CIFAR-10/100 from the standard python or binary archives (or their folders).

    Returns:
        (x_train, y_train, x_test, y_test, class_names), or None if no archive
        is in `data_dir`.
    """
    members = _cifar_members(name, data_dir)
    if members is None:
        return None
    if name == "cifar10":
        if "data_batch_1" in members:  # python pickles
            def unpickle(key):
                d = pickle.loads(members[key], encoding="bytes")
                return np.asarray(d[b"data"], np.uint8), np.asarray(d[b"labels"], np.int32)
            parts = [unpickle(f"data_batch_{i}") for i in range(1, 6)]
            x_train = np.concatenate([p[0] for p in parts])
            y_train = np.concatenate([p[1] for p in parts])
            x_test, y_test = unpickle("test_batch")
            names = tuple(n.decode() for n in pickle.loads(members["batches.meta"], encoding="bytes")[b"label_names"]) \
                if "batches.meta" in members else CIFAR10_LABELS
        else:  # binary: 1 label byte + 3072 pixel bytes per record
            def records(key):
                raw = np.frombuffer(members[key], np.uint8).reshape(-1, 3073)
                return raw[:, 1:], raw[:, 0].astype(np.int32)
            parts = [records(f"data_batch_{i}.bin") for i in range(1, 6)]
            x_train = np.concatenate([p[0] for p in parts])
            y_train = np.concatenate([p[1] for p in parts])
            x_test, y_test = records("test_batch.bin")
            names = tuple(members["batches.meta.txt"].decode().split()) if "batches.meta.txt" in members \
                else CIFAR10_LABELS
    else:
        if "train" in members:
            def unpickle(key):
                d = pickle.loads(members[key], encoding="bytes")
                return np.asarray(d[b"data"], np.uint8), np.asarray(d[b"fine_labels"], np.int32)
            x_train, y_train = unpickle("train")
            x_test, y_test = unpickle("test")
            names = tuple(n.decode() for n in pickle.loads(members["meta"], encoding="bytes")[b"fine_label_names"]) \
                if "meta" in members else tuple(str(i) for i in range(100))
        else:  # binary: coarse byte, fine byte, 3072 pixel bytes
            def records(key):
                raw = np.frombuffer(members[key], np.uint8).reshape(-1, 3074)
                return raw[:, 2:], raw[:, 1].astype(np.int32)
            x_train, y_train = records("train.bin")
            x_test, y_test = records("test.bin")
            names = tuple(members["fine_label_names.txt"].decode().split()) \
                if "fine_label_names.txt" in members else tuple(str(i) for i in range(100))

    def to_hwc(x):
        return x.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)

    return to_hwc(x_train), y_train, to_hwc(x_test), y_test, names
