"""Clients for exported models: local SavedModel and TFLite, TF Serving REST and gRPC.

Each returns [(labels, scores)] per image, best first.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from typing import Sequence

import numpy as np
import tensorflow as tf

from keras_resnet import export


def resolve_version(path: str) -> str:
    """A SavedModel directory: `path` itself, or its newest integer version."""
    if os.path.isfile(os.path.join(path, "saved_model.pb")):
        return path
    versions = sorted((int(d) for d in os.listdir(path) if d.isdigit()), reverse=True) if os.path.isdir(path) else []
    if not versions:
        raise ValueError(f"No SavedModel in {path!r} (neither saved_model.pb nor integer version directories)")
    return os.path.join(path, str(versions[0]))


def predict_saved_model(path: str, images: Sequence[bytes]) -> list:
    """Run encoded images through a SavedModel's bytes signature."""
    loaded = tf.saved_model.load(resolve_version(path))
    try:
        out = loaded.signatures[export.BYTES_SIGNATURE](image_bytes=tf.constant(list(images)))
    except tf.errors.InvalidArgumentError as error:
        raise ValueError(f"The model could not decode an image: {error.message.splitlines()[0]}") from None
    return [([l.decode() for l in row], [float(s) for s in srow])
            for row, srow in zip(out["labels"].numpy(), out["scores"].numpy())]


def predict_tflite(path: str, images: Sequence[bytes], top_k: int = 5) -> list:
    """Decode images as the SavedModel does and run them through a .tflite file."""
    runner = export.TFLiteClassifier(path)
    labels_file = os.path.join(os.path.dirname(path), "labels.txt")
    num_classes = int(runner.output["shape"][-1])
    labels = [str(i) for i in range(num_classes)]
    if os.path.isfile(labels_file):
        with open(labels_file) as f:
            labels = f.read().splitlines()
    channels = int(runner.input["shape"][-1])
    try:
        pixels = export.decode_images(tf.constant(list(images)), runner.input_size, channels).numpy()
    except tf.errors.InvalidArgumentError as error:
        raise ValueError(f"Could not decode an image: {error.message.splitlines()[0]}") from None
    probabilities = runner(pixels)
    results = []
    for p in probabilities:
        order = np.argsort(-p)[:top_k]
        results.append(([labels[i] for i in order], [float(p[i]) for i in order]))
    return results


def predict_rest(server: str, model_name: str, images: Sequence[bytes], timeout: float = 30.0) -> list:
    """POST to TF Serving's REST API: {server}/v1/models/{model_name}:predict."""
    url = f"{server.rstrip('/')}/v1/models/{model_name}:predict"
    body = json.dumps(export.rest_request(images)).encode()
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return export.parse_rest_response(json.loads(response.read()))
    except urllib.error.HTTPError as error:
        raise ValueError(f"TF Serving answered {error.code}: {error.read().decode(errors='replace')}") from None


def predict_grpc(address: str, model_name: str, images: Sequence[bytes], timeout: float = 30.0) -> list:
    """Call TF Serving's gRPC PredictionService."""
    import grpc
    from tensorflow_serving.apis import prediction_service_pb2_grpc

    with grpc.insecure_channel(address) as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        try:
            response = stub.Predict(export.grpc_request(model_name, images), timeout)
        except grpc.RpcError as error:
            raise ValueError(f"TF Serving gRPC call failed: {error.code().name}: {error.details()}") from None
    return export.parse_grpc_response(response)
