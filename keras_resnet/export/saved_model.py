"""SavedModel for TF Serving: the serving graph, its signatures, warm-up, models.config, atomic publish.

A version directory appears only by an atomic rename after the reloaded
SavedModel matched the Keras model, so a server polling the base directory
never sees half of one. Each version records the digest of the weights it
was exported from, so exporting the same weights again reuses it.
"""

from __future__ import annotations

import json
import os
from typing import Optional, Sequence

import keras
import numpy as np
import tensorflow as tf

from keras_resnet.data import images as images_lib
from keras_resnet.export import serving
from keras_resnet.export.artifacts import (TOLERANCES, ArtifactReport, ExportVerificationError, compare, model_input,
                                           weights_digest)
from keras_resnet.export.export_dir import ExportDir
from keras_resnet.files import remove_leftovers, staged_dir, write_labels, write_text

WARMUP_FILE = os.path.join("assets.extra", "tf_serving_warmup_requests")
SOURCE_FILE = os.path.join("assets.extra", "keras_resnet_source.json")
PIXEL_RANGE = (0.0, 255.0)


def serving_archive(model: keras.Model, labels: Sequence[str], top_k: int = 5) -> keras.export.ExportArchive:
    """The TF Serving graph: two signatures over one Keras classifier.

    serving_default(images: float32 [N, H, W, C], 0-255, any H and W) and
    serving_bytes(image_bytes: string [N], encoded images; REST clients send
    {"b64": ...}) both return probabilities [N, classes] and the top-k
    classes, scores and labels. Non-finite or out-of-range pixels, a wrong
    channel count and undecodable bytes are InvalidArgument errors that say so.

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
    low, high = PIXEL_RANGE

    def classify(images):
        # Sessions do not enforce the signature's shape: say what is wrong
        # instead of failing inside the first convolution or answering NaN.
        checks = [
            tf.debugging.assert_equal(
                tf.shape(images)[-1], channels,
                message=f"images must be float32 [N, H, W, {channels}] with values 0-255; wrong channel count"),
            tf.debugging.assert_all_finite(images, message="images hold NaN or Inf pixels; send values 0-255"),
            tf.debugging.assert_greater_equal(
                tf.reduce_min(tf.concat([tf.reshape(images, [-1]), [low]], 0)), low,
                message="images hold pixels below 0: send raw pixels 0-255, not normalised ones"),
            tf.debugging.assert_less_equal(
                tf.reduce_max(tf.concat([tf.reshape(images, [-1]), [high]], 0)), high,
                message="images hold pixels above 255: send raw pixels 0-255"),
        ]
        with tf.control_dependencies(checks):
            images = tf.identity(images)
        size = tf.shape(images)[1:3]
        images = tf.cond(tf.reduce_all(size == (height, width)), lambda: images,
                         lambda: tf.image.resize(images, (height, width)))
        # oneDNN's batch norm rejects an empty batch; answer it with empty outputs.
        probabilities = tf.cond(tf.shape(images)[0] > 0,
                                lambda: tf.cast(model(images, training=False), tf.float32),
                                lambda: tf.zeros((0, num_classes), tf.float32))
        scores, classes = tf.math.top_k(probabilities, k)
        return {"probabilities": probabilities, "classes": classes, "scores": scores,
                "labels": tf.gather(tf.constant(label_list), classes)}

    def serve_bytes(image_bytes):
        return classify(images_lib.decode_images(image_bytes, (height, width), channels))

    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint(serving.SERVING_DEFAULT, classify,
                         input_signature=[tf.TensorSpec([None, None, None, channels], tf.float32, name="images")])
    archive.add_endpoint(serving.BYTES_SIGNATURE, serve_bytes,
                         input_signature=[tf.TensorSpec([None], tf.string, name="image_bytes")])
    return archive


def versions(base_dir: str) -> list:
    """The integer versions under `base_dir`, ascending."""
    if not os.path.isdir(base_dir):
        return []
    return sorted(int(d) for d in os.listdir(base_dir) if d.isdigit())


def next_version(base_dir: str) -> int:
    """The next free integer version under `base_dir` (TF Serving layout)."""
    return max(versions(base_dir), default=0) + 1


def find_version(base_dir: str, digest: str) -> Optional[int]:
    """The newest version exported from weights with this digest, or None."""
    for version in reversed(versions(base_dir)):
        path = os.path.join(base_dir, str(version), SOURCE_FILE)
        if os.path.isfile(path):
            with open(path) as f:
                if json.load(f).get("weights_sha256") == digest:
                    return version
    return None


def _warmup_requests(path: str, model_name: str, images: np.ndarray) -> None:
    from tensorflow_serving.apis import model_pb2, predict_pb2, prediction_log_pb2

    os.makedirs(os.path.dirname(path), exist_ok=True)
    with tf.io.TFRecordWriter(path) as writer:
        for i in range(len(images)):
            request = predict_pb2.PredictRequest(
                model_spec=model_pb2.ModelSpec(name=model_name, signature_name=serving.SERVING_DEFAULT))
            request.inputs["images"].CopyFrom(tf.make_tensor_proto(images[i: i + 1].astype(np.float32)))
            log = prediction_log_pb2.PredictionLog(predict_log=prediction_log_pb2.PredictLog(request=request))
            writer.write(log.SerializeToString())


def export_saved_model(model: keras.Model, base_dir: str, labels: Sequence[str], samples: np.ndarray,
                       version: Optional[int] = None, overwrite: bool = False, top_k: int = 5,
                       model_name: Optional[str] = None, digest: Optional[str] = None) -> ArtifactReport:
    """Write a verified SavedModel to `base_dir/<version>/`.

    Without `version`, weights already exported under `base_dir` are not
    published again: the existing version is verified and reported (reused).

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
        digest: the weights' `weights_digest`, where the caller has it.

    Returns:
        The verification report.

    Raises:
        ValueError: the version exists and `overwrite` is False, or a bad argument.
        ExportVerificationError: the reloaded SavedModel differs from Keras.
    """
    digest = digest or weights_digest(model)
    if os.path.isdir(base_dir):
        remove_leftovers(base_dir)  # staging folders of a killed export
    if version is None and not overwrite:
        existing = find_version(base_dir, digest)
        if existing is not None:
            report = verify_saved_model(model, os.path.join(base_dir, str(existing)), samples)
            report.reused = True
            return report
    version = next_version(base_dir) if version is None else version
    if not isinstance(version, int) or version < 1:
        raise ValueError(f"SavedModel versions are integers >= 1. Received: version={version!r}")
    final = os.path.join(base_dir, str(version))
    if os.path.exists(final) and not overwrite:
        raise ValueError(f"{final} exists: pick another --version, or pass --overwrite to replace it.")
    model_input(model)
    model_name = model_name or os.path.basename(os.path.normpath(base_dir))
    # Staged under a dot-name (TF Serving only loads directories named by an integer), published whole.
    with staged_dir(final) as export_path:
        serving_archive(model, labels, top_k).write_out(export_path, verbose=False)
        write_labels(os.path.join(export_path, "assets"), labels)
        write_text(os.path.join(export_path, SOURCE_FILE), json.dumps({"weights_sha256": digest}) + "\n")
        _warmup_requests(os.path.join(export_path, WARMUP_FILE), model_name, samples[:4])
        report = verify_saved_model(model, export_path, samples)
        report.path = final
        if not report.ok:
            raise ExportVerificationError(
                f"SavedModel differs from the Keras model by {report.max_abs_diff:.3g} "
                f"(tolerance {report.tolerance:g}); nothing was published.")
    return report


def serving_scores(path: str, images: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """The probabilities a SavedModel's serving_default gives `images` (float32 0-255), in batches."""
    signature = tf.saved_model.load(path).signatures[serving.SERVING_DEFAULT]
    return np.concatenate([
        signature(images=tf.constant(images[i:i + batch_size], tf.float32))["probabilities"].numpy()
        for i in range(0, len(images), batch_size)])


def verify_saved_model(model: keras.Model, path: str, samples: np.ndarray) -> ArtifactReport:
    """Reload a SavedModel and compare its serving_default with Keras."""
    got = serving_scores(path, samples)
    reference = keras.ops.convert_to_numpy(model(samples, training=False)).astype(np.float32)
    diff, agreement = compare(reference, got)
    return ArtifactReport("saved_model", path, diff, agreement, TOLERANCES["saved_model"])


def write_models_config(layout: ExportDir) -> str:
    """Write TF Serving's models.config for every model of the export directory `layout`.

    Each subdirectory holding integer versions is one model, served under
    its directory name from its absolute path.
    """
    entries = []
    for name in sorted(os.listdir(layout.root)):
        path = layout.saved_model_base(name)
        if os.path.isdir(path) and versions(path):
            entries.append("  config {\n"
                           f"    name: \"{name}\"\n"
                           f"    base_path: \"{os.path.abspath(path)}\"\n"
                           "    model_platform: \"tensorflow\"\n"
                           "  }\n")
    return write_text(layout.models_config, "model_config_list {\n" + "".join(entries) + "}\n")
