"""Images: encoded bytes decoded, sniffed and converted to a model's channels, alike for training and serving.

Light on purpose: importing this module imports neither Keras nor
TensorFlow; the functions that decode import TensorFlow when called.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

IMAGE_FORMATS = "JPEG, PNG, GIF (first frame), BMP or WebP"


def decode_image(data, size: Sequence[int], channels: int):
    """Decode one encoded image into float32 [H, W, channels] at `size`.

    Any of JPEG, PNG, GIF, BMP and WebP, with any channel count: colour is
    converted to grey (or grey repeated to colour) and alpha dropped, since
    GIF, BMP and WebP decoders refuse to convert channels themselves.
    """
    import tensorflow as tf

    height, width = size
    image = tf.cast(tf.io.decode_image(data, channels=0, expand_animations=False), tf.float32)
    image = tf.image.resize(to_channels(image, channels), (height, width))
    return tf.ensure_shape(image, (height, width, channels))


def to_channels(image, channels: int):
    """A decoded [H, W, any] image with `channels` (1 or 3) channels: RGB to grey by
    `tf.image.rgb_to_grayscale` (the weights of `keras_resnet.arch.layers.GRAYSCALE_WEIGHTS`), grey repeated
    to RGB, alpha dropped. Training data and serving decode grey images with it alike.
    """
    import tensorflow as tf

    found = tf.shape(image)[-1]
    if channels == 1:
        return tf.cond(found >= 3, lambda: tf.image.rgb_to_grayscale(image[..., :3]), lambda: image[..., :1])
    return tf.cond(found >= 3, lambda: image[..., :3], lambda: tf.tile(image[..., :1], [1, 1, 3]))


def decode_images(image_bytes, size: Sequence[int], channels: int):
    """Decode a batch of encoded images into float32 [N, H, W, C] at `size`.

    The same function runs inside the SavedModel's bytes signature and in
    `scripts/predict.py` for TFLite, so both see identical pixels.
    """
    import tensorflow as tf

    height, width = size
    return tf.map_fn(lambda data: decode_image(data, size, channels), image_bytes,
                     fn_output_signature=tf.TensorSpec((height, width, channels), tf.float32))


def as_rgb(images: np.ndarray) -> np.ndarray:
    """[N, H, W, 1] grey images as the RGB a camera would give (grey in every channel); RGB as it is."""
    images = np.asarray(images, np.float32)
    return np.repeat(images, 3, axis=-1) if images.shape[-1] == 1 else images


_MAGIC = ((b"\xff\xd8\xff", "JPEG"), (b"\x89PNG\r\n\x1a\n", "PNG"), (b"GIF87a", "GIF"), (b"GIF89a", "GIF"),
          (b"BM", "BMP"))


def image_format(data: bytes):
    """The format of encoded image bytes from their signature ("PNG", ...), or None."""
    for magic, name in _MAGIC:
        if data.startswith(magic):
            return name
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WebP"
    return None


def check_images(images: Sequence[bytes], names: Sequence[str]) -> None:
    """Raise a ValueError naming the first input that is not an image of a known format."""
    for data, name in zip(images, names):
        if image_format(data) is None:
            raise ValueError(f"{name}: not an image the model can decode ({IMAGE_FORMATS}); "
                             f"its first bytes are {bytes(data[:8])!r}")
