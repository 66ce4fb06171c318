"""The serving protocol: TF Serving's REST and gRPC wire formats, and the LiteRT runner.

Light on purpose: importing this module imports neither Keras nor
TensorFlow, so a client that only sends HTTP requests stays small. The
functions that need TensorFlow (decoding, protos) import it when called.
"""

from __future__ import annotations

import base64
import os
from typing import Sequence

import numpy as np

from keras_resnet.data.images import as_rgb

SERVING_DEFAULT = "serving_default"
BYTES_SIGNATURE = "serving_bytes"


def rest_request(image_bytes: Sequence[bytes], signature_name: str = BYTES_SIGNATURE) -> dict:
    """The JSON body of a TF Serving REST predict call with encoded images.

    TF Serving decodes {"b64": ...} into the string input `image_bytes`.
    """
    return {
        "signature_name": signature_name,
        "instances": [{"image_bytes": {"b64": base64.b64encode(b).decode("ascii")}} for b in image_bytes],
    }


NOT_OURS = ("export the model with `keras-resnet export`, whose signatures return the top classes' labels and "
            "scores")


def parse_rest_response(body, expected: int) -> list:
    """[(labels, scores)] per image from a REST predict response (row format) for `expected` images.

    Raises:
        ValueError: a reply that is not one prediction of labels and scores per image, saying what it is.
    """
    predictions = body.get("predictions") if isinstance(body, dict) else None
    if predictions is None:
        shown = sorted(body) if isinstance(body, dict) else type(body).__name__
        raise ValueError(f"TF Serving's reply has no predictions (it holds {shown}): {NOT_OURS}.")
    if not isinstance(predictions, list) or len(predictions) != expected:
        count = len(predictions) if isinstance(predictions, list) else type(predictions).__name__
        raise ValueError(f"TF Serving answered {count} prediction(s) for {expected} image(s): every image needs one; "
                         "check the server's model and batching settings.")
    results = []
    for prediction in predictions:
        if not (isinstance(prediction, dict) and isinstance(prediction.get("labels"), list)
                and isinstance(prediction.get("scores"), list)
                and len(prediction["labels"]) == len(prediction["scores"])):
            kind = "bare tensors (a plain Keras export's outputs)" if not isinstance(prediction, dict) else \
                f"outputs {sorted(prediction)}"
            raise ValueError(f"TF Serving's predictions are {kind}, not labels and scores: {NOT_OURS}.")
        results.append(([l.decode() if isinstance(l, bytes) else str(l) for l in prediction["labels"]],
                         [float(s) for s in prediction["scores"]]))
    return results


def grpc_request(model_name: str, image_bytes: Sequence[bytes], signature_name: str = BYTES_SIGNATURE):
    """A tensorflow-serving-api PredictRequest for encoded images."""
    import tensorflow as tf
    from tensorflow_serving.apis import model_pb2, predict_pb2

    request = predict_pb2.PredictRequest(
        model_spec=model_pb2.ModelSpec(name=model_name, signature_name=signature_name))
    request.inputs["image_bytes"].CopyFrom(tf.make_tensor_proto(list(image_bytes), dtype=tf.string))
    return request


def parse_grpc_response(response, expected: int) -> list:
    """[(labels, scores)] per image from a PredictResponse for `expected` images.

    Raises:
        ValueError: a reply without labels and scores, or with another count than `expected`.
    """
    import tensorflow as tf

    if "labels" not in response.outputs or "scores" not in response.outputs:
        raise ValueError(f"TF Serving's reply holds {sorted(response.outputs)}, not labels and scores: {NOT_OURS}.")
    labels = tf.make_ndarray(response.outputs["labels"])
    scores = tf.make_ndarray(response.outputs["scores"])
    if len(labels) != expected or len(scores) != expected:
        raise ValueError(f"TF Serving answered {len(labels)} prediction(s) for {expected} image(s): every image "
                         "needs one; check the server's model and batching settings.")
    return [([l.decode() for l in row], [float(s) for s in srow]) for row, srow in zip(labels, scores)]


class TFLiteClassifier:
    """Runs a .tflite classifier with LiteRT on float32 0-255 images."""

    def __init__(self, path: str):
        """Load `path` with LiteRT's interpreter.

        Raises:
            ValueError: `path` is missing or not a model LiteRT can load (named).
        """
        from ai_edge_litert.interpreter import Interpreter

        if not os.path.isfile(path):
            raise ValueError(f"{path}: no such .tflite file")
        try:
            self.interpreter = Interpreter(model_path=path)
            self.interpreter.allocate_tensors()
        except (ValueError, RuntimeError) as error:
            raise ValueError(f"{path}: not a .tflite model LiteRT can load: "
                             f"{str(error).strip().splitlines()[0]}") from None
        self.input = self.interpreter.get_input_details()[0]
        self.output = self.interpreter.get_output_details()[0]

    @property
    def input_size(self) -> tuple:
        return tuple(int(d) for d in self.input["shape"][1:3])

    @property
    def channels(self) -> int:
        return int(self.input["shape"][-1])

    def __call__(self, images: np.ndarray) -> np.ndarray:
        """Probabilities [N, classes] of float32 [N, H, W, C] 0-255 images.

        Grey images given to an RGB file (a camera-ready export of a grey
        net) go in as a camera would give them: grey in every channel.
        """
        images = np.asarray(images, np.float32)
        if images.ndim == 4 and self.channels == 3:
            images = as_rgb(images)
        outputs = []
        for image in images:
            x = image[None]
            if self.input["dtype"] != np.float32:
                scale, zero = self.input["quantization"]
                x = np.clip(np.round(x / (scale or 1.0) + zero), 0, 255).astype(self.input["dtype"])
            self.interpreter.set_tensor(self.input["index"], x)
            self.interpreter.invoke()
            y = self.interpreter.get_tensor(self.output["index"])
            if self.output["dtype"] != np.float32:
                scale, zero = self.output["quantization"]
                y = (y.astype(np.float32) - zero) * scale
            outputs.append(y[0])
        return np.stack(outputs) if outputs else np.zeros((0, int(self.output["shape"][-1])), np.float32)

    def quantization(self) -> dict:
        return {
            "input_dtype": np.dtype(self.input["dtype"]).name,
            "input_scale": float(self.input["quantization"][0]),
            "input_zero_point": int(self.input["quantization"][1]),
            "output_dtype": np.dtype(self.output["dtype"]).name,
        }
