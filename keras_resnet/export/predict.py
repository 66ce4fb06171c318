"""Clients for exported models: local SavedModel, TFLite and ONNX, TF Serving REST and gRPC.

Each returns [(labels, scores)] per image, best first, and names the file of
an input it cannot decode. The REST client imports neither Keras nor
TensorFlow.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import time
import urllib.parse
import zipfile
from typing import Optional, Sequence

import numpy as np

from keras_resnet.data import images as images_lib
from keras_resnet.export import serving
from keras_resnet.files import LABELS_FILE


def _names(images: Sequence[bytes], names: Optional[Sequence[str]]) -> list:
    return list(names) if names is not None else [f"image {i + 1}" for i in range(len(images))]


def _decode_each(images: Sequence[bytes], names: Sequence[str], size, channels: int) -> np.ndarray:
    """Decode images one by one, so an undecodable one is named."""
    import tensorflow as tf

    pixels = []
    for data, name in zip(images, names):
        try:
            pixels.append(images_lib.decode_image(tf.constant(data), size, channels).numpy())
        except tf.errors.InvalidArgumentError as error:
            raise ValueError(f"{name}: could not decode the image ({images_lib.IMAGE_FORMATS} expected): "
                             f"{error.message.splitlines()[0]}") from None
    return np.stack(pixels)


def resolve_version(path: str) -> str:
    """A SavedModel directory: `path` itself, or its newest integer version."""
    if os.path.isfile(os.path.join(path, "saved_model.pb")):
        return path
    versions = sorted((int(d) for d in os.listdir(path) if d.isdigit()), reverse=True) if os.path.isdir(path) else []
    if not versions:
        raise ValueError(f"No SavedModel in {path!r} (neither saved_model.pb nor integer version directories)")
    return os.path.join(path, str(versions[0]))


def predict_saved_model(path: str, images: Sequence[bytes], names: Optional[Sequence[str]] = None) -> list:
    """Run encoded images through a SavedModel's bytes signature (as TF Serving would)."""
    import tensorflow as tf

    names = _names(images, names)
    images_lib.check_images(images, names)
    loaded = tf.saved_model.load(resolve_version(path))
    try:
        out = loaded.signatures[serving.BYTES_SIGNATURE](image_bytes=tf.constant(list(images)))
    except tf.errors.InvalidArgumentError as error:
        channels = loaded.signatures[serving.SERVING_DEFAULT].structured_input_signature[1]["images"].shape[-1]
        _decode_each(images, names, (8, 8), channels)  # names the file that does not decode
        raise ValueError(f"The model refused the images: {error.message.splitlines()[0]}") from None
    return [([l.decode() for l in row], [float(s) for s in srow])
            for row, srow in zip(out["labels"].numpy(), out["scores"].numpy())]


def predict_tflite(path: str, images: Sequence[bytes], top_k: int = 5,
                   names: Optional[Sequence[str]] = None) -> list:
    """Decode images as the SavedModel does and run them through a .tflite file."""
    names = _names(images, names)
    images_lib.check_images(images, names)
    runner = serving.TFLiteClassifier(path)
    labels = tflite_labels(path, int(runner.output["shape"][-1]))
    return _top_k(runner(_decode_each(images, names, runner.input_size, runner.channels)), labels, top_k)


def predict_onnx(path: str, images: Sequence[bytes], top_k: int = 5,
                 names: Optional[Sequence[str]] = None) -> list:
    """Decode images as the SavedModel does and run them through an .onnx file with ONNX Runtime."""
    from keras_resnet.export.onnx import ONNXClassifier

    names = _names(images, names)
    images_lib.check_images(images, names)
    runner = ONNXClassifier(path)
    return _top_k(runner(_decode_each(images, names, runner.input_size, runner.channels)), runner.labels(), top_k)


def _top_k(probabilities: np.ndarray, labels: Sequence[str], top_k: int) -> list:
    results = []
    for p in probabilities:
        order = np.argsort(-p)[:top_k]
        results.append(([labels[i] for i in order], [float(p[i]) for i in order]))
    return results


def tflite_labels(path: str, num_classes: int) -> list:
    """A .tflite file's class names: the labels packed in its metadata, else labels.txt beside it, else ids."""
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as packed:
            if LABELS_FILE in packed.namelist():
                return packed.read(LABELS_FILE).decode().splitlines()
    return _labels_beside(path, num_classes)


def _labels_beside(path: str, num_classes: int) -> list:
    labels_file = os.path.join(os.path.dirname(path), LABELS_FILE)
    if os.path.isfile(labels_file):
        with open(labels_file) as f:
            return f.read().splitlines()
    return [str(i) for i in range(num_classes)]


# The largest REST reply read: the top classes of thousands of images fit in a few megabytes.
MAX_REPLY_BYTES = 64 * 2**20
_CHUNK = 64 * 2**10


def predict_rest(server: str, model_name: str, images: Sequence[bytes], timeout: float = 30.0,
                 names: Optional[Sequence[str]] = None) -> list:
    """POST to TF Serving's REST API: {server}/v1/models/{model_name}:predict.

    `timeout` bounds the whole call (connecting, sending, and reading the
    reply), not each read; a reply over MAX_REPLY_BYTES is refused unread.

    Raises:
        ValueError: an undecodable image (named), the server's error, no whole
            reply within `timeout`, a reply too large, or one that is not a
            prediction of labels and scores per image.
    """
    images_lib.check_images(images, _names(images, names))
    url = urllib.parse.urlsplit(f"{server.rstrip('/')}/v1/models/{model_name}:predict")
    if url.scheme not in ("http", "https") or not url.hostname:
        raise ValueError(f"--server takes http://HOST:PORT or https://HOST:PORT. Received: {server!r}")
    body = json.dumps(serving.rest_request(images)).encode()
    deadline = time.monotonic() + timeout
    connection_class = http.client.HTTPSConnection if url.scheme == "https" else http.client.HTTPConnection
    connection = connection_class(url.hostname, url.port, timeout=timeout)
    late = ValueError(f"TF Serving at {server} gave no whole reply within --timeout={timeout:g} s.")
    try:
        connection.request("POST", url.path, body=body, headers={"Content-Type": "application/json"})
        sock = connection.sock  # the response reads from it after the connection lets it go
        sock.settimeout(max(deadline - time.monotonic(), 0.001))
        response = connection.getresponse()
        length = response.getheader("Content-Length")
        if length is not None and length.isdigit() and int(length) > MAX_REPLY_BYTES:
            raise ValueError(f"TF Serving's reply announces {int(length):,} bytes, over the {MAX_REPLY_BYTES:,} this "
                             f"client reads for {len(images)} image(s): is {server} TF Serving?")
        chunks, size = [], 0
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise late
            sock.settimeout(left)
            chunk = response.read1(_CHUNK) if hasattr(response, "read1") else response.read(_CHUNK)
            if not chunk:
                break
            size += len(chunk)
            if size > MAX_REPLY_BYTES:
                raise ValueError(f"TF Serving's reply passed {MAX_REPLY_BYTES:,} bytes for {len(images)} image(s); "
                                 f"it was not read further: is {server} TF Serving?")
            chunks.append(chunk)
    except (socket.timeout, TimeoutError):
        raise late from None
    except (OSError, http.client.HTTPException) as error:
        raise ValueError(f"TF Serving at {server} could not be reached or broke off: {error}") from None
    finally:
        connection.close()
    text = b"".join(chunks)
    if response.status != 200:
        raise ValueError(f"TF Serving answered {response.status}: {text.decode(errors='replace')[:500]}")
    try:
        reply = json.loads(text)
    except ValueError:
        raise ValueError(f"TF Serving's reply is not JSON: {text[:200]!r}") from None
    return serving.parse_rest_response(reply, len(images))


def predict_grpc(address: str, model_name: str, images: Sequence[bytes], timeout: float = 30.0,
                 names: Optional[Sequence[str]] = None) -> list:
    """Call TF Serving's gRPC PredictionService."""
    import grpc
    from tensorflow_serving.apis import prediction_service_pb2_grpc

    images_lib.check_images(images, _names(images, names))
    with grpc.insecure_channel(address) as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        try:
            response = stub.Predict(serving.grpc_request(model_name, images), timeout)
        except grpc.RpcError as error:
            raise ValueError(f"TF Serving gRPC call failed: {error.code().name}: {error.details()}") from None
    return serving.parse_grpc_response(response, len(images))
