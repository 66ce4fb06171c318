"""Input pipelines: the paper's augmentation, evaluation views, and a data set prepared for training.

The model itself subtracts the per-pixel mean (`keras_resnet.arch.layers.MeanSubtraction`),
so training, evaluation and the exported serving graph share one preprocessing:
`prepare_data` computes that mean, and the pipelines here feed raw 0-255 pixels.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Callable, Optional

import numpy as np
import tensorflow as tf

from keras_resnet.data.augmentations import AUGMENTATIONS, CROP_PADDING
from keras_resnet.data.sources import DataSource

log = logging.getLogger("keras_resnet")

# Per-pixel means are estimated from this many training images at most.
MEAN_SAMPLES = 10_000
# Image-file data sets up to this size are cached in memory after decoding.
CACHE_LIMIT = 100_000


def _resize_shorter(image, side):
    shape = tf.cast(tf.shape(image)[:2], tf.float32)
    scale = tf.cast(side, tf.float32) / tf.reduce_min(shape)
    new = tf.cast(tf.round(shape * scale), tf.int32)
    return tf.image.resize(image, new, antialias=True)


def eval_transform(image_size, native=None) -> Callable:
    """The single centre view (float32, 0-255) used for evaluation and the mean.

    Fixed-size data of another size is resized; variable-size data is resized
    to a shorter side of 256/224 x image_size and centre-cropped.
    """
    height, width = image_size

    def transform(image):
        image = tf.cast(image, tf.float32)
        if native is not None and None not in native:
            if tuple(native) != (height, width):
                image = tf.image.resize(image, (height, width), antialias=True)
            return image
        image = _resize_shorter(image, int(round(max(height, width) * 256 / 224)))
        return tf.image.resize_with_crop_or_pad(image, height, width)

    return transform


# AlexNet's PCA colour augmentation: eigenvalues/vectors of ImageNet's RGB
# covariance (0-1 scale), as in fb.resnet.torch.
_PCA_EIGVAL = np.array([0.2175, 0.0188, 0.0045], np.float32)
_PCA_EIGVEC = np.array(
    [[-0.5675, 0.7192, 0.4009], [-0.5808, -0.0045, -0.8140], [-0.5836, -0.6948, 0.4203]], np.float32
)


def train_transform(augmentation: str, image_size, native=None, crop_padding: int = CROP_PADDING) -> Callable:
    """The training view: the paper's augmentation, float32 0-255 out.

    "cifar": pad `crop_padding` pixels (the paper's 4) of zeros on each side,
    random crop back, random horizontal flip. "imagenet": shorter side random
    in [256, 480] (scaled by image_size/224), random crop, flip, PCA colour
    noise. "none": the evaluation view.

    Raises:
        ValueError: an unknown augmentation, or a `crop_padding` below 0 or above a
            quarter of the image's side.
    """
    if augmentation not in AUGMENTATIONS:
        raise ValueError(f"Unknown augmentation; valid: {AUGMENTATIONS}. Received: {augmentation!r}")
    if not isinstance(crop_padding, int) or crop_padding < 0:
        raise ValueError(f"crop_padding must be an integer >= 0. Received: crop_padding={crop_padding!r}")
    height, width = image_size
    centre = eval_transform(image_size, native)
    if augmentation == "none":
        return centre
    if augmentation == "cifar" and crop_padding > min(height, width) // 4:
        raise ValueError(f"--crop_padding={crop_padding} on {height}x{width} images would make crops mostly padding: "
                         f"give at most a quarter of the side, {min(height, width) // 4} here (the paper pads 32x32 "
                         f"CIFAR by 4). Received: crop_padding={crop_padding}")
    if augmentation == "cifar":
        def transform(image):
            image = centre(image)
            image = tf.pad(image, [[crop_padding, crop_padding], [crop_padding, crop_padding], [0, 0]])
            image = tf.image.random_crop(image, (height, width, tf.shape(image)[-1]))
            return tf.image.random_flip_left_right(image)
        return transform

    scale = max(height, width) / 224

    def transform(image):
        image = tf.cast(image, tf.float32)
        side = tf.random.uniform((), int(256 * scale), int(480 * scale) + 1, tf.int32)
        image = _resize_shorter(image, side)
        image = tf.image.random_crop(image, (height, width, tf.shape(image)[-1]))
        image = tf.image.random_flip_left_right(image)
        if image.shape[-1] == 3:
            alpha = tf.random.normal((3,), stddev=0.1)
            noise = tf.linalg.matvec(_PCA_EIGVEC, alpha * _PCA_EIGVAL) * 255.0
            image = tf.clip_by_value(image + noise, 0.0, 255.0)
        return image

    return transform


def make_pipeline(
    dataset: tf.data.Dataset,
    batch_size: int,
    transform: Callable,
    training: bool,
    seed: Optional[int] = None,
    cache: bool = False,
    shuffle_buffer: int = 10_000,
    drop_remainder: bool = False,
) -> tf.data.Dataset:
    """Batch a (image, label) dataset through `transform`, parallel and prefetched."""
    if cache:
        dataset = dataset.cache()
    if training:
        dataset = dataset.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
    dataset = dataset.map(lambda x, y: (transform(x), y), num_parallel_calls=tf.data.AUTOTUNE)
    dataset = dataset.batch(batch_size, drop_remainder=drop_remainder)
    options = tf.data.Options()
    # Shard by element: in-memory and file-list datasets alike split evenly
    # across workers of MultiWorkerMirroredStrategy.
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    options.deterministic = seed is not None
    return dataset.with_options(options).prefetch(tf.data.AUTOTUNE)


# ---------------------------------------------------------------- a prepared data set


def pixel_mean(train: tf.data.Dataset, native, image_size, images: Optional[np.ndarray] = None) -> np.ndarray:
    """Per-pixel mean image (H, W, C) of a training split's evaluation view.

    Args:
        train: the training split, unbatched (image, label).
        native: the split's image (H, W), or (None, None) for varying sizes.
        image_size: (H, W) the model sees.
        images: the split's images as an array, when in memory (exact mean).

    Raises:
        ValueError: the split is empty.
    """
    if images is not None and tuple(native) == tuple(image_size):
        if not len(images):
            raise ValueError("The training split is empty")
        return images.astype(np.float64).mean(axis=0).astype(np.float32)
    view = eval_transform(image_size, native)
    total, count = None, 0
    for image in train.take(MEAN_SAMPLES).map(lambda x, y: view(x)).batch(256):
        batch_sum = image.numpy().astype(np.float64).sum(axis=0)
        total = batch_sum if total is None else total + batch_sum
        count += image.shape[0]
    if not count:
        raise ValueError("The training split is empty")
    return (total / count).astype(np.float32)


@dataclasses.dataclass
class PreparedData:
    """A data set split, sized and ready for pipelines.

    Attributes:
        source: the loaded `DataSource` (unchanged).
        image_size: (H, W) the model sees.
        mean: per-pixel mean of the training split (model preprocessing).
        num_train: training images (validation split excluded).
        train: the training split, unbatched.
        val_ds, test_ds: batched evaluation pipelines with one-hot labels
            (val_ds None without a validation split).
        batch_size, seed: of the pipelines.
    """

    source: DataSource
    image_size: tuple
    mean: np.ndarray
    num_train: int
    train: tf.data.Dataset
    val_ds: Optional[tf.data.Dataset]
    test_ds: tf.data.Dataset
    batch_size: int
    seed: int
    cache: bool

    @property
    def input_shape(self) -> tuple:
        """(H, W, C) of the model's input."""
        return tuple(self.image_size) + (int(self.mean.shape[-1]),)

    def train_pipeline(self, augmentation: str, crop_padding: int = CROP_PADDING) -> tf.data.Dataset:
        """The repeated, shuffled, batched training pipeline with `augmentation` (`train_transform`)."""
        view = train_transform(augmentation, self.image_size, self.source.image_shape[:2], crop_padding)
        return make_pipeline(self.train, self.batch_size, view, training=True, seed=self.seed, cache=self.cache,
                             drop_remainder=True).map(_one_hot(self.source.num_classes)).repeat()


def _one_hot(num_classes: int):
    return lambda x, y: (x, tf.one_hot(y, num_classes))


def _subsample(x, y, limit, seed):
    if limit is None or limit >= len(x):
        return x, y
    index = np.random.default_rng(seed).permutation(len(x))[:limit]
    return x[index], y[index]


def choose_image_size(native, image_size: Optional[int], min_size: int, default) -> tuple:
    """The (H, W) a model trains at: asked for, else the data's, at least `min_size`."""
    if image_size is not None:
        return (image_size, image_size)
    if None in tuple(native):
        return tuple(default)
    if min(native) < min_size:
        log.warning("The model needs >= %d px: resizing %s images to %d", min_size, tuple(native), min_size)
        return (min_size, min_size)
    return tuple(native)


def prepare_data(source: DataSource, *, batch_size: int, min_size: int, default_size=(224, 224),
                 image_size: Optional[int] = None, validation_split: float = 0.1,
                 max_train_examples: Optional[int] = None, max_test_examples: Optional[int] = None,
                 seed: int = 0) -> PreparedData:
    """Split off validation, choose the image size and compute the mean.

    Args:
        source: a loaded data set (`keras_resnet.data.sources.load_dataset`).
        batch_size: global batch size of the pipelines.
        min_size: the model's smallest input side.
        default_size: (H, W) for data of varying sizes without `image_size`.
        image_size: train at this square size instead of the data's.
        validation_split: fraction of the training images held out.
        max_train_examples: use at most this many training images.
        max_test_examples: use at most this many test images.
        seed: of the split, the subsampling and the shuffle.

    Returns:
        The `PreparedData`.
    """
    images = None
    if source.arrays is not None:
        x_train, y_train, x_test, y_test = source.arrays
        x_train, y_train = _subsample(x_train, y_train, max_train_examples, seed)
        x_test, y_test = _subsample(x_test, y_test, max_test_examples, seed + 1)
        num_val = int(len(x_train) * validation_split)
        order = np.random.default_rng(seed).permutation(len(x_train))
        val_index, train_index = order[:num_val], order[num_val:]
        images = x_train[train_index]
        train = tf.data.Dataset.from_tensor_slices((images, y_train[train_index]))
        val = tf.data.Dataset.from_tensor_slices((x_train[val_index], y_train[val_index])) if num_val else None
        test = tf.data.Dataset.from_tensor_slices((x_test, y_test))
        num_train = len(train_index)
    else:
        num_total = source.num_train if max_train_examples is None else min(source.num_train, max_train_examples)
        num_val = int(num_total * validation_split)
        full = source.train.take(num_total)
        val = full.take(num_val) if num_val else None
        train = full.skip(num_val)
        test = source.test if max_test_examples is None else source.test.take(max_test_examples)
        num_train = num_total - num_val

    native = source.image_shape[:2]
    size = choose_image_size(native, image_size, min_size, default_size)
    mean = pixel_mean(train, native, size, images)
    eval_view = eval_transform(size, native)
    cache = source.arrays is None and num_train <= CACHE_LIMIT
    one_hot = _one_hot(source.num_classes)
    val_ds = None if val is None else make_pipeline(val, batch_size, eval_view, training=False,
                                                    cache=cache).map(one_hot)
    test_ds = make_pipeline(test, batch_size, eval_view, training=False).map(one_hot)
    return PreparedData(source, size, mean, num_train, train, val_ds, test_ds, batch_size, seed, cache)
