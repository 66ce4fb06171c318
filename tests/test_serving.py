"""The serving protocol: light to import, TF Serving's REST and gRPC wire formats."""

import os
import subprocess
import sys

import pytest

from keras_resnet.export import serving

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.slow
def test_the_rest_client_imports_neither_keras_nor_tensorflow():
    code = ("import sys; import keras_resnet.export.predict, keras_resnet.export.serving, keras_resnet.data.images; "
            "print(sorted(m for m in ('keras', 'tensorflow') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "[]"


def test_rest_request_round_trips():
    images = [b"\x89PNG\r\n\x1a\nabc", b"GIF89a..."]
    body = serving.rest_request(images)
    assert body["signature_name"] == serving.BYTES_SIGNATURE
    assert serving.decode_rest_request(body) == images
