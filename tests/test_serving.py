"""The serving protocol: light to import, TF Serving's REST and gRPC wire formats."""

import subprocess
import sys

import pytest

from keras_resnet.export import serving

from helpers import ROOT


@pytest.mark.slow
def test_the_rest_client_imports_neither_keras_nor_tensorflow():
    code = ("import sys; import keras_resnet.export.predict, keras_resnet.export.serving, keras_resnet.data.images; "
            "print(sorted(m for m in ('keras', 'tensorflow') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "[]"


def test_rest_request_is_tf_servings_row_format_with_base64_binaries():
    # TF Serving's REST API: binary values go as {"b64": <standard base64>} under the input's name, one per instance.
    body = serving.rest_request([b"\x89PNG\r\n\x1a\n", b"GIF89a"])
    assert body == {"signature_name": "serving_bytes",
                    "instances": [{"image_bytes": {"b64": "iVBORw0KGgo="}}, {"image_bytes": {"b64": "R0lGODlh"}}]}
    assert serving.rest_request([b"abc"], "serving_default")["signature_name"] == "serving_default"


