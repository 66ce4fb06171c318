"""Data sets: the offline files (`archives`: IDX, CIFAR), image folders and tfds, as `tf.data` data sets.

Every source yields unbatched `(image uint8 [H, W, C], label int32)` pairs;
`keras_resnet.data.pipelines` turns them into training and evaluation pipelines.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from typing import Optional

import numpy as np
import tensorflow as tf

from keras_resnet.data import archives
from keras_resnet.data.catalog import IMAGE_FOLDER
from keras_resnet.data.images import image_format, to_channels

log = logging.getLogger("keras_resnet")

# Image folders up to this size are fully decoded once before training.
FULL_CHECK_LIMIT = 100_000


@dataclasses.dataclass
class DataSource:
    """A classification data set, unbatched.

    Attributes:
        name: data set name.
        train, test: datasets of (uint8 image, int32 label).
        num_train, num_test: sizes.
        num_classes: number of classes.
        class_names: label strings, index = class id.
        image_shape: (H, W, C) when every image has it, else (None, None, C).
        arrays: (x_train, y_train, x_test, y_test) when held in memory.
    """

    name: str
    train: tf.data.Dataset
    test: tf.data.Dataset
    num_train: int
    num_test: int
    num_classes: int
    class_names: tuple
    image_shape: tuple
    arrays: Optional[tuple] = None


def _from_arrays(name, x_train, y_train, x_test, y_test, class_names) -> DataSource:
    return DataSource(
        name=name,
        train=tf.data.Dataset.from_tensor_slices((x_train, y_train)),
        test=tf.data.Dataset.from_tensor_slices((x_test, y_test)),
        num_train=len(x_train),
        num_test=len(x_test),
        num_classes=len(class_names),
        class_names=tuple(class_names),
        image_shape=tuple(x_train.shape[1:]),
        arrays=(x_train, y_train, x_test, y_test),
    )


def find_unreadable(files: list, full_decode: bool = True) -> list:
    """The files of `files` that are not decodable images.

    With `full_decode` every image is decoded once, in parallel (what the
    first epoch would do anyway); without it only each file's signature is
    read, which finds non-images and empty files but not truncated ones.
    """
    if not full_decode:
        bad = []
        for path in files:
            with open(path, "rb") as f:
                if image_format(f.read(16)) is None:
                    bad.append(path)
        return bad

    def probe(path):
        image = tf.io.decode_image(tf.io.read_file(path), channels=3, expand_animations=False)
        return path, tf.shape(image)[0]

    readable = tf.data.Dataset.from_tensor_slices(files).map(probe, num_parallel_calls=tf.data.AUTOTUNE)
    good = {path.decode() for path, _ in readable.ignore_errors().as_numpy_iterator()}
    return [path for path in files if path not in good]


def load_image_folder(data_dir: str, channels: int = 3, seed: int = 0, skip_bad_images: bool = False) -> DataSource:
    """An ImageNet-style folder: `data_dir/<class>/*.jpg` (a class's subfolders included, as Keras's loader does).

    With a `train/` subfolder, it is the training split and `val/` (or
    `validation/`, `test/`) beside it the test split; otherwise every subfolder
    is a class and 10% of each class, chosen with `seed`, is held out.
    Every image is checked before training (fully decoded in folders of up to
    FULL_CHECK_LIMIT images, by its signature in larger ones).

    Raises:
        ValueError: no classes or images, a class folder without images, or
            undecodable images (named) unless `skip_bad_images`, which leaves
            them out and logs them.
    """
    splits = {}
    # Split folders only beside a train/ folder: without one, every subfolder is a class (one named test too).
    if os.path.isdir(os.path.join(data_dir, "train")):
        splits["train"] = os.path.join(data_dir, "train")
        for option in ("val", "validation", "test"):
            if os.path.isdir(os.path.join(data_dir, option)):
                splits["test"] = os.path.join(data_dir, option)
                break
    root = splits.get("train", data_dir)
    class_names = sorted(d for d in os.listdir(root) if os.path.isdir(os.path.join(root, d)))
    if not class_names:
        raise ValueError(
            f"No class subfolders in {root!r}: an image folder holds <class>/<image> files "
            "(optionally under train/ and val/)."
        )
    exts = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".JPEG", ".JPG", ".PNG", ".WEBP")

    def listing(base):
        files, labels = [], []
        for i, cls in enumerate(class_names):
            # A class's images may lie in its subfolders too, as keras.utils.image_dataset_from_directory takes them.
            found = sorted(os.path.join(folder, f) for folder, _, names in os.walk(os.path.join(base, cls),
                                                                                 followlinks=True)
                           for f in names if f.endswith(exts))
            files += found
            labels += [i] * len(found)
        return files, labels

    files, labels = listing(root)
    if not files:
        raise ValueError(f"No images ({', '.join(exts[:5])}) under {root!r}/<class>/")
    empty = [cls for i, cls in enumerate(class_names) if i not in set(labels)]
    if empty:
        raise ValueError(f"Class folder(s) without images ({', '.join(exts[:5])}) under {root!r}: "
                         f"{', '.join(empty)}. Each subfolder is a class: add its images, or remove the folder.")
    if "test" in splits:
        test_files, test_labels = listing(splits["test"])
        if not test_files:
            raise ValueError(f"No images ({', '.join(exts[:5])}) under {splits['test']!r}/<class>/: the held-out "
                             f"split holds the training split's class folders ({', '.join(class_names[:5])}"
                             f"{', ...' if len(class_names) > 5 else ''}).")
    else:
        rng = np.random.default_rng(seed)
        order = rng.permutation(len(files))
        cut = max(1, len(files) // 10)
        held = set(order[:cut].tolist())
        test_files = [f for i, f in enumerate(files) if i in held]
        test_labels = [l for i, l in enumerate(labels) if i in held]
        files = [f for i, f in enumerate(files) if i not in held]
        labels = [l for i, l in enumerate(labels) if i not in held]

    unreadable = find_unreadable(files + test_files, full_decode=len(files) + len(test_files) <= FULL_CHECK_LIMIT)
    if unreadable:
        shown = ", ".join(unreadable[:5]) + (f" and {len(unreadable) - 5} more" if len(unreadable) > 5 else "")
        if not skip_bad_images:
            raise ValueError(f"{len(unreadable)} file(s) under {data_dir!r} are not decodable images ({shown}): "
                             "remove or replace them, or pass --skip_bad_images to train without them.")
        log.warning("Skipping %d undecodable image(s): %s", len(unreadable), ", ".join(unreadable))
        bad = set(unreadable)
        test_labels = [l for f, l in zip(test_files, test_labels) if f not in bad]
        test_files = [f for f in test_files if f not in bad]
        labels = [l for f, l in zip(files, labels) if f not in bad]
        files = [f for f in files if f not in bad]
        if not files or not test_files:
            raise ValueError(f"No decodable images left in a split under {data_dir!r} after skipping {shown}.")

    def decode(path, label):
        # Grey from colour files by the same weights as serving and the camera-ready exports.
        image = tf.io.decode_image(tf.io.read_file(path), channels=0, expand_animations=False)
        return to_channels(image, channels), tf.cast(label, tf.int32)

    def dataset(f, l):
        return tf.data.Dataset.from_tensor_slices((f, l)).map(decode, num_parallel_calls=tf.data.AUTOTUNE)

    return DataSource(
        name=IMAGE_FOLDER,
        train=dataset(files, labels),
        test=dataset(test_files, test_labels),
        num_train=len(files),
        num_test=len(test_files),
        num_classes=len(class_names),
        class_names=tuple(class_names),
        image_shape=(None, None, channels),
    )


def load_tfds(name: str, data_dir: Optional[str], download: bool = True) -> DataSource:
    """Any tensorflow-datasets classification data set with 'image' and 'label'."""
    import tensorflow_datasets as tfds

    builder = tfds.builder(name, data_dir=data_dir)
    if not builder.is_prepared():
        if not download:
            raise ValueError(f"tfds data set {name!r} is not prepared in {builder.data_dir!r} and download=False.")
        try:
            builder.download_and_prepare()
        except OSError as error:  # requests' and urllib's network errors are OSErrors
            reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            raise ValueError(f"tensorflow-datasets could not download {name} ({reason}): check the network, or "
                             "pass --data_dir of a local copy.") from None
    info = builder.info
    # Without metadata (e.g. under tfds.testing.mock_data) splits are unknown.
    splits = {name: s.num_examples for name, s in info.splits.items()} or {"train": None, "test": None}
    test_split = next((s for s in ("test", "validation") if s in splits), None)
    if "train" not in splits or test_split is None:
        raise ValueError(f"tfds {name!r} needs a train and a test/validation split; has {list(splits)}")
    label = info.features["label"]
    shape = tuple(info.features["image"].shape)

    def as_pair(example):
        return example["image"], tf.cast(example["label"], tf.int32)

    def split(s):
        return builder.as_dataset(split=s, shuffle_files=False).map(as_pair)

    def size(s):
        if splits[s] is not None:
            return splits[s]
        count = int(split(s).cardinality())
        return count if count >= 0 else sum(1 for _ in split(s))

    return DataSource(
        name=name,
        train=split("train"),
        test=split(test_split),
        num_train=size("train"),
        num_test=size(test_split),
        num_classes=label.num_classes,
        class_names=tuple(label.names),
        image_shape=shape,
    )


def load_dataset(name: str, data_dir: Optional[str] = None, download: bool = True,
                 skip_bad_images: bool = False, prepare_data_dir: bool = False) -> DataSource:
    """Load a data set, offline where a local copy exists.

    Args:
        name: "fashion_mnist" and "mnist" (IDX files in `data_dir`, or Debian's
            `dataset-fashion-mnist` files), "cifar10"/"cifar100" (python or
            binary archives in `data_dir`), "image_folder" (`data_dir` of class
            subfolders), or any tensorflow-datasets name (downloaded by tfds).
        data_dir: where to look; for tfds, its data_dir. An explicit folder
            is only read, unless `prepare_data_dir`.
        download: let tfds download into its own folder when no local copy
            exists and no `data_dir` is given.
        skip_bad_images: image_folder: leave undecodable files out (logged)
            instead of raising.
        prepare_data_dir: let tfds download and prepare the data set into
            `data_dir` when it is not there.

    Returns:
        A `DataSource`.

    Raises:
        ValueError: unknown name, no data where it was looked for, or a
            download that failed (one line).
    """
    if data_dir is not None and os.path.exists(data_dir) and not os.path.isdir(data_dir):
        raise ValueError(f"--data_dir must be a folder holding the {name} data set; {data_dir!r} is a file.")
    if name in ("fashion_mnist", "mnist"):
        directory, looked = archives.find_idx_dir(name, data_dir)
        if directory is not None:
            labels = archives.FASHION_MNIST_LABELS if name == "fashion_mnist" else tuple(str(i) for i in range(10))
            return _from_arrays(name, *archives.load_mnist_idx(directory), labels)
        if data_dir is not None:
            raise ValueError(
                f"No {name} IDX files (train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz], "
                f"t10k-images-idx3-ubyte[.gz], t10k-labels-idx1-ubyte[.gz]) in {looked}: --data_dir must hold "
                "them" + (", or leave --data_dir out to use Debian's dataset-fashion-mnist." if name ==
                          "fashion_mnist" else "."))
        if not download:
            raise ValueError(
                f"No {name} IDX files (train-images-idx3-ubyte.gz, ...) in {looked}. "
                + ("Install Debian's package dataset-fashion-mnist, or " if name == "fashion_mnist" else "")
                + "pass --data_dir, or allow a tfds download."
            )
    elif name in ("cifar10", "cifar100"):
        if data_dir and os.path.isdir(data_dir):
            arrays = archives.load_cifar(name, data_dir)
            if arrays is not None:
                return _from_arrays(name, *arrays)
        if data_dir and not prepare_data_dir and not _tfds_prepared(name, data_dir):
            raise ValueError(
                f"No {name} archive (cifar-{name[5:]}-python.tar.gz, the binary one, or its folder) in "
                f"--data_dir={data_dir!r}, which is only read: put one there, pass --prepare_data_dir to let "
                f"tensorflow-datasets download and prepare {name} there, or leave --data_dir out.")
        if not download and not data_dir:
            raise ValueError(f"No {name} archive: pass --data_dir of a folder holding one, or allow a tfds download.")
    elif name == IMAGE_FOLDER:
        if not data_dir or not os.path.isdir(data_dir):
            raise ValueError(f"image_folder needs --data_dir, a folder of class subfolders. Received: data_dir={data_dir!r}")
        return load_image_folder(data_dir, skip_bad_images=skip_bad_images)
    if data_dir and not prepare_data_dir and not _tfds_prepared(name, data_dir):
        raise ValueError(f"tensorflow-datasets' {name} is not prepared in --data_dir={data_dir!r}, which is only "
                         f"read: pass --prepare_data_dir to let tensorflow-datasets download and prepare it there, "
                         "or leave --data_dir out to use its own folder.")
    return load_tfds(name, data_dir, download=download or prepare_data_dir)


def _tfds_prepared(name: str, data_dir: str) -> bool:
    """Whether tensorflow-datasets has `name` prepared in `data_dir` (nothing is written to find out)."""
    import tensorflow_datasets as tfds

    return os.path.isdir(data_dir) and tfds.builder(name, data_dir=data_dir).is_prepared()
