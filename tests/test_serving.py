"""The serving protocol module: light to import, decodes every promised format for any channel count."""

import io
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from keras_resnet import serving

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def encode(array, fmt):
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format=fmt)
    return buffer.getvalue()


def test_the_rest_client_imports_neither_keras_nor_tensorflow():
    code = ("import sys; import keras_resnet.predict, keras_resnet.serving; "
            "print(sorted(m for m in ('keras', 'tensorflow') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("fmt", ["GIF", "BMP", "WEBP", "PNG", "JPEG"])
@pytest.mark.parametrize("channels", [1, 3])
def test_every_format_decodes_to_any_channel_count(fmt, channels):
    grey = np.full((12, 10), 90, np.uint8)
    colour = np.stack([grey] * 3, -1)
    for source in (grey, colour):
        data = encode(source, fmt)
        assert serving.image_format(data) in ("GIF", "BMP", "WebP", "PNG", "JPEG")
        image = serving.decode_image(tf.constant(data), (6, 5), channels).numpy()
        assert image.shape == (6, 5, channels)
        # A uniform grey image stays that grey whatever the conversion (JPEG and GIF within their loss).
        np.testing.assert_allclose(image, 90, atol=3)


def test_undecodable_inputs_are_named():
    with pytest.raises(ValueError, match=r"notes.txt: not an image the model can decode \(JPEG, PNG"):
        serving.check_images([encode(np.zeros((4, 4), np.uint8), "PNG"), b"hello"], ["a.png", "notes.txt"])


def test_rest_request_round_trips():
    images = [b"\x89PNG\r\n\x1a\nabc", b"GIF89a..."]
    body = serving.rest_request(images)
    assert body["signature_name"] == serving.BYTES_SIGNATURE
    assert serving.decode_rest_request(body) == images
