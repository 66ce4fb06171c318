"""Image decoding: every promised format, to any channel count; what is not an image is named."""

import io

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from keras_resnet.data import images


def encode(array, fmt):
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format=fmt)
    return buffer.getvalue()


@pytest.mark.parametrize("fmt", ["GIF", "BMP", "WEBP", "PNG", "JPEG"])
@pytest.mark.parametrize("channels", [1, 3])
def test_every_format_decodes_to_any_channel_count(fmt, channels):
    grey = np.full((12, 10), 90, np.uint8)
    colour = np.stack([grey] * 3, -1)
    for source in (grey, colour):
        data = encode(source, fmt)
        assert images.image_format(data) in ("GIF", "BMP", "WebP", "PNG", "JPEG")
        image = images.decode_image(tf.constant(data), (6, 5), channels).numpy()
        assert image.shape == (6, 5, channels)
        # A uniform grey image stays that grey whatever the conversion (JPEG and GIF within their loss).
        np.testing.assert_allclose(image, 90, atol=3)


def test_undecodable_inputs_are_named():
    with pytest.raises(ValueError, match=r"notes.txt: not an image the model can decode \(JPEG, PNG"):
        images.check_images([encode(np.zeros((4, 4), np.uint8), "PNG"), b"hello"], ["a.png", "notes.txt"])
