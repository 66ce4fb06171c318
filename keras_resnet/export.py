"""Export for TF Serving (SavedModel) and Android (LiteRT/TFLite), verified.

Every artifact is reloaded and compared with the Keras model before it is
published; a SavedModel version directory appears only by an atomic rename,
so a TF Serving server polling the base directory never sees half of one.

The exported graphs take raw 0-255 pixels: the model's own first layer
subtracts the training mean (see `keras_resnet.layers.MeanSubtraction`).
"""

from __future__ import annotations

import base64
import dataclasses
import json
import os
import shutil
import tempfile
from typing import Iterable, Optional, Sequence

import keras
import numpy as np
import tensorflow as tf

TFLITE_QUANTIZATIONS = ("float32", "float16", "dynamic_int8", "int8")
# Largest max-abs difference from the Keras model each float artifact may show.
TOLERANCES = {"saved_model": 1e-5, "float32": 1e-4, "float16": 1e-2}
WARMUP_FILE = os.path.join("assets.extra", "tf_serving_warmup_requests")
BYTES_SIGNATURE = "serving_bytes"
INT8_NEEDS_SAMPLES = (
    "Full-integer int8 needs representative samples from the training data (about 100 images) to calibrate "
    "activation ranges: export from a scripts/train.py --model_dir (its data set is reloaded), pass "
    "representative images, or leave int8 out of --quantizations.")


class ExportVerificationError(RuntimeError):
    """An exported artifact does not reproduce the Keras model."""


@dataclasses.dataclass
class ArtifactReport:
    """How one artifact compares with the Keras model on the sample inputs."""

    artifact: str
    path: str
    max_abs_diff: float
    top1_agreement: float
    tolerance: Optional[float]

    @property
    def ok(self) -> bool:
        return self.tolerance is None or self.max_abs_diff <= self.tolerance


def model_input(model: keras.Model) -> tuple:
    """(height, width, channels) of a model with a fixed input size."""
    shape = tuple(model.input_shape[1:])
    if len(shape) != 3 or None in shape:
        raise ValueError(
            f"Export needs a model with a fixed input size; {model.name!r} takes {model.input_shape}. "
            "Build it with input_shape=(height, width, channels)."
        )
    return shape


def decode_images(image_bytes: tf.Tensor, size: Sequence[int], channels: int) -> tf.Tensor:
    """Decode a batch of JPEG/PNG/GIF/BMP bytes into float32 [N, H, W, C] at `size`.

    The same function runs inside the SavedModel's bytes signature and in
    `scripts/predict.py` for TFLite, so both see identical pixels.
    """
    height, width = size

    def one(data):
        image = tf.io.decode_image(data, channels=channels, expand_animations=False)
        image = tf.image.resize(tf.cast(image, tf.float32), (height, width))
        return tf.ensure_shape(image, (height, width, channels))

    return tf.map_fn(one, image_bytes, fn_output_signature=tf.TensorSpec((height, width, channels), tf.float32))


def serving_archive(model: keras.Model, labels: Sequence[str], top_k: int = 5):
    """The TF Serving graph: two signatures over one Keras classifier.

    serving_default(images: float32 [N, H, W, C], 0-255, any H and W) and
    serving_bytes(image_bytes: string [N], encoded images; REST clients send
    {"b64": ...}) both return probabilities [N, classes] and the top-k
    classes, scores and labels.

    Built with keras.export.ExportArchive: a plain tf.Module holding a Keras 3
    model saves, but its variables are missing when the SavedModel is loaded
    into a session, as TF Serving and saved_model_cli do.
    """
    height, width, channels = model_input(model)
    num_classes = int(model.output_shape[-1])
    if len(labels) != num_classes:
        raise ValueError(f"{len(labels)} labels for a model of {num_classes} classes")
    k = min(top_k, num_classes)
    label_list = [str(l) for l in labels]

    def classify(images):
        # Sessions do not enforce the signature's shape: say what is wrong
        # instead of failing inside the first convolution.
        check = tf.debugging.assert_equal(
            tf.shape(images)[-1], channels,
            message=f"images must be float32 [N, H, W, {channels}] with values 0-255; wrong channel count")
        with tf.control_dependencies([check]):
            images = tf.identity(images)
        size = tf.shape(images)[1:3]
        images = tf.cond(
            tf.reduce_all(size == (height, width)),
            lambda: images,
            lambda: tf.image.resize(images, (height, width)),
        )
        # oneDNN's batch norm rejects an empty batch; answer it with empty outputs.
        probabilities = tf.cond(
            tf.shape(images)[0] > 0,
            lambda: tf.cast(model(images, training=False), tf.float32),
            lambda: tf.zeros((0, num_classes), tf.float32),
        )
        scores, classes = tf.math.top_k(probabilities, k)
        return {
            "probabilities": probabilities,
            "classes": classes,
            "scores": scores,
            "labels": tf.gather(tf.constant(label_list), classes),
        }

    def serve_bytes(image_bytes):
        return classify(decode_images(image_bytes, (height, width), channels))

    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint("serving_default", classify,
                         input_signature=[tf.TensorSpec([None, None, None, channels], tf.float32, name="images")])
    archive.add_endpoint(BYTES_SIGNATURE, serve_bytes,
                         input_signature=[tf.TensorSpec([None], tf.string, name="image_bytes")])
    return archive


# ---------------------------------------------------------------- SavedModel


def next_version(base_dir: str) -> int:
    """The next free integer version under `base_dir` (TF Serving layout)."""
    if not os.path.isdir(base_dir):
        return 1
    versions = [int(d) for d in os.listdir(base_dir) if d.isdigit()]
    return max(versions, default=0) + 1


def _warmup_requests(path: str, model_name: str, images: np.ndarray) -> None:
    from tensorflow_serving.apis import model_pb2, predict_pb2, prediction_log_pb2

    os.makedirs(os.path.dirname(path), exist_ok=True)
    with tf.io.TFRecordWriter(path) as writer:
        for i in range(len(images)):
            request = predict_pb2.PredictRequest(
                model_spec=model_pb2.ModelSpec(name=model_name, signature_name="serving_default"))
            request.inputs["images"].CopyFrom(tf.make_tensor_proto(images[i: i + 1].astype(np.float32)))
            log = prediction_log_pb2.PredictionLog(predict_log=prediction_log_pb2.PredictLog(request=request))
            writer.write(log.SerializeToString())


def _compare(reference: np.ndarray, got: np.ndarray) -> tuple:
    diff = float(np.max(np.abs(reference.astype(np.float64) - got.astype(np.float64)))) if len(got) else 0.0
    agreement = float(np.mean(np.argmax(reference, -1) == np.argmax(got, -1))) if len(got) else 1.0
    return diff, agreement


def export_saved_model(
    model: keras.Model,
    base_dir: str,
    labels: Sequence[str],
    samples: np.ndarray,
    version: Optional[int] = None,
    overwrite: bool = False,
    top_k: int = 5,
    model_name: Optional[str] = None,
) -> ArtifactReport:
    """Write a verified SavedModel to `base_dir/<version>/`.

    Args:
        model: the Keras classifier (0-255 input, fixed size).
        base_dir: the model's base directory, e.g. saved_models/resnet20.
        labels: class names, index = class id.
        samples: float32 [N, H, W, C] 0-255 images for verification and the
            TF Serving warm-up requests.
        version: integer version; default the next free one.
        overwrite: replace an existing version.
        top_k: how many classes the signatures return.
        model_name: the name TF Serving serves it under (warm-up requests);
            default the base directory's name.

    Returns:
        The verification report.

    Raises:
        ValueError: the version exists and `overwrite` is False, or a bad argument.
        ExportVerificationError: the reloaded SavedModel differs from Keras.
    """
    if version is None:
        version = next_version(base_dir)
    if not isinstance(version, int) or version < 1:
        raise ValueError(f"SavedModel versions are integers >= 1. Received: version={version!r}")
    final = os.path.join(base_dir, str(version))
    if os.path.exists(final) and not overwrite:
        raise ValueError(f"{final} exists: pick another --version, or pass --overwrite to replace it.")
    model_input(model)
    model_name = model_name or os.path.basename(os.path.normpath(base_dir))
    os.makedirs(base_dir, exist_ok=True)
    # A dot-name: TF Serving only loads directories named by an integer.
    staging = tempfile.mkdtemp(prefix=f".tmp-{version}-", dir=base_dir)
    try:
        export_path = os.path.join(staging, "model")
        serving_archive(model, labels, top_k).write_out(export_path, verbose=False)
        os.makedirs(os.path.join(export_path, "assets"), exist_ok=True)
        with open(os.path.join(export_path, "assets", "labels.txt"), "w") as f:
            f.write("\n".join(labels) + "\n")
        _warmup_requests(os.path.join(export_path, WARMUP_FILE), model_name, samples[:4])
        report = verify_saved_model(model, export_path, samples)
        report.path = final
        if not report.ok:
            raise ExportVerificationError(
                f"SavedModel differs from the Keras model by {report.max_abs_diff:.3g} "
                f"(tolerance {report.tolerance:g}); nothing was published.")
        if os.path.exists(final):
            old = tempfile.mkdtemp(prefix=f".old-{version}-", dir=base_dir)
            os.rename(final, os.path.join(old, "v"))
            os.rename(export_path, final)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(export_path, final)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return report


def verify_saved_model(model: keras.Model, path: str, samples: np.ndarray) -> ArtifactReport:
    """Reload a SavedModel and compare its serving_default with Keras."""
    loaded = tf.saved_model.load(path)
    got = loaded.signatures["serving_default"](images=tf.constant(samples, tf.float32))["probabilities"].numpy()
    reference = keras.ops.convert_to_numpy(model(samples, training=False)).astype(np.float32)
    diff, agreement = _compare(reference, got)
    return ArtifactReport("saved_model", path, diff, agreement, TOLERANCES["saved_model"])


def write_models_config(root: str) -> str:
    """Write TF Serving's models.config for every model under `root`.

    Each subdirectory holding integer versions is one model, served under
    its directory name from its absolute path.
    """
    entries = []
    for name in sorted(os.listdir(root)):
        path = os.path.join(root, name)
        if os.path.isdir(path) and any(d.isdigit() for d in os.listdir(path)):
            entries.append(
                "  config {\n"
                f"    name: \"{name}\"\n"
                f"    base_path: \"{os.path.abspath(path)}\"\n"
                "    model_platform: \"tensorflow\"\n"
                "  }\n"
            )
    target = os.path.join(root, "models.config")
    with open(target, "w") as f:
        f.write("model_config_list {\n" + "".join(entries) + "}\n")
    return target


# ---------------------------------------------------------------- TFLite


def _converter(model: keras.Model, workdir: str):
    # TFLiteConverter.from_keras_model fails on Keras 3 models: go through a
    # SavedModel of the bare model (one fixed-size float32 input).
    path = os.path.join(workdir, "tflite_source")
    model.export(path, format="tf_saved_model", verbose=False)
    return tf.lite.TFLiteConverter.from_saved_model(path)


def convert_tflite(model: keras.Model, quantization: str, workdir: str,
                   representative: Optional[np.ndarray] = None) -> bytes:
    """Convert `model` to a .tflite flatbuffer.

    Args:
        quantization: "float32", "float16" (float16 weights), "dynamic_int8"
            (int8 weights, float activations) or "int8" (full integer, uint8
            input of raw pixels; needs `representative`).
        representative: float32 [N, H, W, C] 0-255 training images.

    Raises:
        ValueError: unknown quantization, or "int8" without samples.
    """
    if quantization not in TFLITE_QUANTIZATIONS:
        raise ValueError(f"Unknown quantization {quantization!r}; known: {', '.join(TFLITE_QUANTIZATIONS)}")
    if quantization == "int8" and (representative is None or len(representative) == 0):
        raise ValueError(INT8_NEEDS_SAMPLES)
    converter = _converter(model, workdir)
    if quantization == "float16":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    elif quantization == "dynamic_int8":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    elif quantization == "int8":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]

        def samples():
            for image in representative:
                yield [image[None].astype(np.float32)]

        converter.representative_dataset = samples
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        # Raw pixels are already 0-255 integers: a uint8 input needs no
        # conversion on the phone.
        converter.inference_input_type = tf.uint8
        converter.inference_output_type = tf.float32
    return converter.convert()


class TFLiteClassifier:
    """Runs a .tflite classifier with LiteRT on float32 0-255 images."""

    def __init__(self, path: str):
        from ai_edge_litert.interpreter import Interpreter

        self.interpreter = Interpreter(model_path=path)
        self.interpreter.allocate_tensors()
        self.input = self.interpreter.get_input_details()[0]
        self.output = self.interpreter.get_output_details()[0]

    @property
    def input_size(self) -> tuple:
        return tuple(int(d) for d in self.input["shape"][1:3])

    def __call__(self, images: np.ndarray) -> np.ndarray:
        outputs = []
        for image in np.asarray(images, np.float32):
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


def export_tflite(
    model: keras.Model,
    out_dir: str,
    labels: Sequence[str],
    samples: np.ndarray,
    quantizations: Iterable[str] = TFLITE_QUANTIZATIONS,
    representative: Optional[np.ndarray] = None,
    name: Optional[str] = None,
    mean: Optional[np.ndarray] = None,
) -> list:
    """Write verified .tflite files, labels.txt and an app card (JSON).

    Returns:
        An `ArtifactReport` per file.

    Raises:
        ValueError: a bad quantization name, or int8 without samples (checked
            before any conversion).
        ExportVerificationError: a float artifact differs from Keras beyond
            its tolerance (the file is removed).
    """
    quantizations = list(quantizations)
    for q in quantizations:
        if q not in TFLITE_QUANTIZATIONS:
            raise ValueError(f"Unknown quantization {q!r}; known: {', '.join(TFLITE_QUANTIZATIONS)}")
    if "int8" in quantizations and (representative is None or len(representative) == 0):
        raise ValueError(INT8_NEEDS_SAMPLES)
    height, width, channels = model_input(model)
    name = name or model.name
    os.makedirs(out_dir, exist_ok=True)
    reference = keras.ops.convert_to_numpy(model(samples, training=False)).astype(np.float32)
    reports, card_files = [], {}
    with tempfile.TemporaryDirectory() as workdir:
        for q in quantizations:
            path = os.path.join(out_dir, f"{name}_{q}.tflite")
            flatbuffer = convert_tflite(model, q, workdir, representative)
            tmp = path + ".partial"
            with open(tmp, "wb") as f:
                f.write(flatbuffer)
            runner = TFLiteClassifier(tmp)
            diff, agreement = _compare(reference, runner(samples))
            report = ArtifactReport(f"tflite_{q}", path, diff, agreement, TOLERANCES.get(q))
            reports.append(report)
            if not report.ok:
                os.remove(tmp)
                raise ExportVerificationError(
                    f"TFLite {q} differs from the Keras model by {diff:.3g} (tolerance {report.tolerance:g})")
            os.replace(tmp, path)
            card_files[q] = dict(file=os.path.basename(path), bytes=len(flatbuffer), **runner.quantization(),
                                 max_abs_diff=diff, top1_agreement=agreement)
    with open(os.path.join(out_dir, "labels.txt"), "w") as f:
        f.write("\n".join(labels) + "\n")
    card = {
        "model": name,
        "input": {"height": height, "width": width, "channels": channels, "layout": "NHWC",
                  "batch": 1, "dtype": "float32 (uint8 for int8)",
                  "range": "raw pixels 0-255, grayscale" if channels == 1 else "raw pixels 0-255, RGB"},
        "normalization": "inside the model: the training set's per-pixel mean is subtracted and the result "
                         "scaled by 1/255; feed unnormalised pixels",
        "output": {"name": "probabilities", "shape": [1, len(labels)], "activation": "softmax"},
        "labels_file": "labels.txt",
        "labels": list(labels),
        "files": card_files,
    }
    if mean is not None:
        card["mean_per_channel"] = [float(v) for v in np.asarray(mean).reshape(-1, channels).mean(0)]
    with open(os.path.join(out_dir, f"{name}.json"), "w") as f:
        json.dump(card, f, indent=2)
    return reports


# ---------------------------------------------------------------- clients


def rest_request(image_bytes: Sequence[bytes], signature_name: str = BYTES_SIGNATURE) -> dict:
    """The JSON body of a TF Serving REST predict call with encoded images.

    TF Serving decodes {"b64": ...} into the string input `image_bytes`.
    """
    return {
        "signature_name": signature_name,
        "instances": [{"image_bytes": {"b64": base64.b64encode(b).decode("ascii")}} for b in image_bytes],
    }


def decode_rest_request(body: dict) -> tf.Tensor:
    """Inverse of `rest_request` (what the server feeds the signature)."""
    return tf.constant([base64.b64decode(i["image_bytes"]["b64"]) for i in body["instances"]])


def grpc_request(model_name: str, image_bytes: Sequence[bytes], signature_name: str = BYTES_SIGNATURE):
    """A tensorflow-serving-api PredictRequest for encoded images."""
    from tensorflow_serving.apis import model_pb2, predict_pb2

    request = predict_pb2.PredictRequest(
        model_spec=model_pb2.ModelSpec(name=model_name, signature_name=signature_name))
    request.inputs["image_bytes"].CopyFrom(tf.make_tensor_proto(list(image_bytes), dtype=tf.string))
    return request


def parse_rest_response(body: dict) -> list:
    """[(labels, scores)] per image from a REST predict response (row format)."""
    return [([l.decode() if isinstance(l, bytes) else l for l in p["labels"]], list(p["scores"]))
            for p in body["predictions"]]


def parse_grpc_response(response) -> list:
    """[(labels, scores)] per image from a PredictResponse."""
    labels = tf.make_ndarray(response.outputs["labels"])
    scores = tf.make_ndarray(response.outputs["scores"])
    return [([l.decode() for l in row], [float(s) for s in srow]) for row, srow in zip(labels, scores)]


# ---------------------------------------------------------------- from a run


def as_float32(model: keras.Model) -> keras.Model:
    """`model` with float32 computation everywhere (same weights).

    A net trained under mixed_bfloat16 / mixed_float16 keeps float32
    weights; serving on CPUs and TFLite want float32 (or their own
    quantization) graphs, so exports start from this copy.
    """
    from keras_resnet import models

    if all(layer.dtype_policy.name == "float32" for layer in model.layers):
        return model

    def strip(node):
        if isinstance(node, dict):
            if node.get("class_name") in ("DTypePolicy", "FloatDTypePolicy") and "config" in node:
                return {**node, "config": {**node["config"], "name": "float32"}}
            return {k: strip(v) for k, v in node.items()}
        if isinstance(node, list):
            return [strip(v) for v in node]
        return node

    with models.deep_recursion(len(model.layers)):
        clone = keras.Model.from_config(strip(model.get_config()))
    clone.set_weights(model.get_weights())
    return clone


def _load_run(source: str) -> tuple:
    """(model, run metadata or {}) from a train.py model_dir or a .keras file."""
    from keras_resnet import models

    if os.path.isdir(source):
        run_file = os.path.join(source, "run.json")
        model_file = os.path.join(source, "final.keras")
        if not os.path.isfile(run_file) or not os.path.isfile(model_file):
            raise ValueError(
                f"{source!r} is not a finished scripts/train.py --model_dir (it needs run.json and final.keras).")
        with open(run_file) as f:
            run = json.load(f)
        return as_float32(models.load_model(model_file)), run
    if not (source.endswith(".keras") and os.path.isfile(source)):
        raise ValueError(f"Export needs a train.py --model_dir or a .keras file. Received: {source!r}")
    return as_float32(models.load_model(source)), {}


def _samples(run: dict, model: keras.Model, count: int, seed: int = 0) -> tuple:
    """(verification images, representative images or None), float32 0-255."""
    from keras_resnet import data as data_lib

    height, width, channels = model_input(model)
    if run.get("dataset"):
        source = data_lib.load_dataset(run["dataset"], run.get("data_dir"), download=False)
        view = data_lib.eval_transform((height, width), source.image_shape[:2])

        def take(ds, n):
            return np.stack([view(x).numpy() for x, _ in ds.take(n)]).astype(np.float32)

        return take(source.test, count), take(source.train.shuffle(10_000, seed=seed), 100)
    rng = np.random.default_rng(seed)
    return rng.uniform(0, 255, (count, height, width, channels)).astype(np.float32), None


def export_model(
    source: str,
    export_dir: str = "saved_models",
    name: Optional[str] = None,
    version: Optional[int] = None,
    overwrite: bool = False,
    formats: Sequence[str] = ("saved_model", "tflite"),
    quantizations: Sequence[str] = TFLITE_QUANTIZATIONS,
    num_samples: int = 64,
    top_k: int = 5,
) -> list:
    """Export a trained model as `scripts/export.py` does.

    Args:
        source: a scripts/train.py --model_dir, or a .keras file.
        export_dir: base directory: SavedModels go to <export_dir>/<name>/<version>/,
            TFLite files to <export_dir>/tflite/<name>/.
        name: model name; default the run's model name.
        version: SavedModel version; default the next free one.
        overwrite: replace an existing version.
        formats: "saved_model" and/or "tflite".
        quantizations: TFLite variants.
        num_samples: verification images (test split of the run's data set).
        top_k: classes returned by the serving signatures.

    Returns:
        One `ArtifactReport` per artifact.

    Raises:
        ValueError: bad arguments, found before any conversion.
        ExportVerificationError: an artifact does not match the Keras model.
    """
    unknown = sorted(set(formats) - {"saved_model", "tflite"})
    if unknown:
        raise ValueError(f"Unknown export format(s) {unknown}; known: saved_model, tflite")
    bad = sorted(set(quantizations) - set(TFLITE_QUANTIZATIONS))
    if bad:
        raise ValueError(f"Unknown quantization(s) {bad}; known: {', '.join(TFLITE_QUANTIZATIONS)}")
    if num_samples < 1:
        raise ValueError(f"num_samples must be >= 1. Received: num_samples={num_samples}")
    if version is not None and (not isinstance(version, int) or version < 1):
        raise ValueError(f"SavedModel versions are integers >= 1. Received: version={version!r}")
    model, run = _load_run(source)
    name = name or run.get("model") or model.name
    base = os.path.join(export_dir, name)
    if "saved_model" in formats and version is not None and os.path.exists(os.path.join(base, str(version))) \
            and not overwrite:
        raise ValueError(f"{os.path.join(base, str(version))} exists: pick another --version, "
                         "or pass --overwrite to replace it.")
    classes = int(model.output_shape[-1])
    labels = run.get("class_names") or [str(i) for i in range(classes)]
    samples, representative = _samples(run, model, num_samples)
    if "tflite" in formats and "int8" in quantizations and representative is None:
        raise ValueError(INT8_NEEDS_SAMPLES)
    reports = []
    if "saved_model" in formats:
        reports.append(export_saved_model(model, base, labels, samples, version, overwrite, top_k, name))
        write_models_config(export_dir)
    if "tflite" in formats:
        mean = None
        try:
            mean = keras.ops.convert_to_numpy(model.get_layer("preprocessing").mean)
        except ValueError:
            pass
        reports += export_tflite(model, os.path.join(export_dir, "tflite", name), labels, samples,
                                 quantizations, representative, name, mean)
    return reports


def format_reports(reports: Sequence[ArtifactReport]) -> str:
    """A table of the verification results."""
    lines = [f"{'artifact':<22} {'max |diff|':>11} {'top-1 agree':>12} {'tolerance':>10}  path"]
    for r in reports:
        tolerance = f"{r.tolerance:g}" if r.tolerance is not None else "-"
        lines.append(f"{r.artifact:<22} {r.max_abs_diff:>11.3g} {r.top1_agreement:>12.1%} {tolerance:>10}  {r.path}")
    return "\n".join(lines)
