"""Export a trained model: validate the request once, then SavedModel, LiteRT and ONNX files, each verified.

The exported graphs take raw 0-255 pixels: the model's own first layer
subtracts the training mean (see `keras_resnet.arch.layers.MeanSubtraction`).
The formats live in `keras_resnet.export.saved_model`, `keras_resnet.export.litert` and
`keras_resnet.export.onnx`.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from typing import Any, Optional, Sequence

import keras
import numpy as np
import tensorflow as tf

from keras_resnet.arch import transforms
from keras_resnet.arch.builder import ResNet
from keras_resnet.arch.layers import PREPROCESSING, InputNormalization, MeanSubtraction
from keras_resnet.data import pipelines, sources
from keras_resnet.export import saved_model as saved_model_lib
from keras_resnet.export.artifacts import (FORMATS, ArtifactReport, ExportVerificationError, artifact_table,
                                           model_input, top1_accuracy, weights_digest)
from keras_resnet.export.config import ExportConfig
from keras_resnet.export.export_dir import ExportDir
from keras_resnet.export.serving import TFLiteClassifier
from keras_resnet.files import DirectoryLock, write_json
from keras_resnet.train.run_dir import RunDir, RunRecord
from keras_resnet.weights import imagenet

log = logging.getLogger("keras_resnet")
# Full-integer int8 calibrates on this many training images, drawn from the split's first CALIBRATION_POOL.
CALIBRATION_IMAGES = 100
CALIBRATION_POOL = 10_000

__all__ = ["FORMATS", "ArtifactReport", "ExportConfig", "ExportVerificationError", "export_model", "format_reports",
           "load_source"]


def check_source(source: str, eval_examples: Optional[int] = None) -> None:
    """Refuse, without loading anything, a source that is neither a finished run nor a .keras file.

    Raises:
        ValueError: saying what export needs.
    """
    if os.path.isdir(source):
        RunDir(source).check_finished()
    elif not (source.endswith(".keras") and os.path.isfile(source)):
        raise ValueError(f"Export needs a train.py --model_dir or a .keras file. Received: {source!r}")
    elif eval_examples:
        raise ValueError(f"eval_examples={eval_examples} needs labelled test images: export from a "
                         "scripts/train.py --model_dir (its data set is reloaded), or leave it out.")


def load_source(source: str) -> tuple:
    """(float32 model, its `RunRecord` or None) from a scripts/train.py --model_dir or a .keras file.

    A net trained under mixed precision keeps float32 weights; serving on
    CPUs and TFLite want float32 graphs, so exports start from a float32 copy
    (`transforms.inference_copy`, which also leaves out stochastic depth).

    Raises:
        ValueError: `source` is neither a finished run nor a .keras file.
    """
    check_source(source)
    if os.path.isdir(source):
        model, run = RunDir(source).load()
    else:
        model, run = transforms.load_model(source), None
    if isinstance(model, ResNet):
        model = transforms.inference_copy(model)
    return model, run


def _test_data(run: Optional[RunRecord], model: keras.Model, num_samples: int, eval_examples: Optional[int],
               seed: int = 0) -> tuple:
    """(verification images, representative images or None, (images, labels) to evaluate or None).

    Images are float32 0-255. From the run's own data set: the test split's
    first images verify, its first `eval_examples` (default as many as the
    run was tested on: its --max_test_examples, else all) measure
    accuracy, 100 training images drawn by `seed` calibrate int8. A bare .keras
    file has no data: random pixels verify, and nothing is evaluated.
    """
    height, width, channels = model_input(model)
    if run is None:
        rng = np.random.default_rng(seed)
        return rng.uniform(0, 255, (num_samples, height, width, channels)).astype(np.float32), None, None
    source = sources.load_dataset(run.dataset, run.data_dir, download=False)
    view = pipelines.eval_transform((height, width), source.image_shape[:2])

    def take(ds, n):
        images, labels = [], []
        for x, y in ds.take(n).map(lambda x, y: (view(x), y), num_parallel_calls=tf.data.AUTOTUNE).batch(512):
            images.append(x.numpy().astype(np.float32))
            labels.append(y.numpy())
        return np.concatenate(images), np.concatenate(labels)

    if eval_examples is None:
        eval_examples = run.max_test_examples or source.num_test
    num_eval = min(eval_examples, source.num_test)
    images, labels = take(source.test, max(num_samples, num_eval))
    # The calibration images are chosen by `seed` alone: a tf.data shuffle's draw would also follow TensorFlow's
    # global seed, which train.py sets and export.py does not, so the same weights would quantize differently.
    pool = min(CALIBRATION_POOL, source.num_train)
    chosen = tf.constant(np.random.default_rng(seed).choice(pool, min(CALIBRATION_IMAGES, pool), replace=False))
    calibration = source.train.take(pool).enumerate().filter(
        lambda i, example: tf.reduce_any(tf.equal(i, chosen))).map(lambda i, example: example)
    representative, _ = take(calibration, CALIBRATION_IMAGES)
    evaluation = (images[:num_eval], labels[:num_eval]) if num_eval else None
    return images[:num_samples], representative, evaluation


def _evaluate(reports: Sequence[ArtifactReport], model: keras.Model, images: np.ndarray,
              labels: np.ndarray) -> None:
    """Fill in each report's top-1 test accuracy, and the Keras model's, on the same images."""
    reference = top1_accuracy(model.predict(images, batch_size=256, verbose=0), labels)
    for report in reports:
        if report.artifact == "saved_model":
            scores = saved_model_lib.serving_scores(report.path, images)
        elif report.artifact == "onnx":
            from keras_resnet.export.onnx import ONNXClassifier

            scores = ONNXClassifier(report.path)(images)
        else:
            scores = TFLiteClassifier(report.path)(images)
        report.accuracy, report.reference_accuracy = top1_accuracy(scores, labels), reference
        report.eval_examples = len(labels)


def export_model(source: str, export_dir: str = "saved_models", config: Optional[ExportConfig] = None,
                 **options: Any) -> list:
    """Export a trained model as `keras-resnet export` does.

    Args:
        source: a `keras-resnet train` --model_dir, or a .keras file.
        export_dir: where the files go (`keras_resnet.export.export_dir.ExportDir` lays them out).
        config: the whole export, as the commands hold it (its `export_dir` then wins); else built from
            `export_dir` and `options`.
        **options: the other fields of `ExportConfig` (formats,
            quantizations, name, version, overwrite, num_samples,
            eval_examples, top_k), by keyword.

    Returns:
        One `ArtifactReport` per artifact.

    Raises:
        ValueError: bad arguments, found before any conversion.
        ExportVerificationError: an artifact does not match the Keras model.
    """
    if config is None:
        unknown = sorted(set(options) - {field.name for field in dataclasses.fields(ExportConfig)})
        if unknown:
            raise ValueError(f"Unknown export option(s) {unknown}; valid: "
                             f"{', '.join(field.name for field in dataclasses.fields(ExportConfig))}")
        config = ExportConfig(export_dir=export_dir, **options)
    elif options:
        raise ValueError(f"export_model takes a config or options, not both: {sorted(options)} given with a config")
    config.validate()
    check_source(source, config.eval_examples)
    with DirectoryLock(config.export_dir, "export", "export_dir"):
        return _export(source, config)


def check_onnx_convertible(model: keras.Model, name: str) -> None:
    """Refuse, before anything is converted or published, a model tf2onnx cannot convert.

    Keras compiles a grouped convolution (ResNeXt's 3x3 convs) as a nested
    function call, for which ONNX has no op: tf2onnx fails after minutes.

    Raises:
        ValueError: naming the layers and what to export instead.
    """
    grouped = [layer.name for layer in model.layers if getattr(layer, "groups", 1) > 1]
    if grouped:
        raise ValueError(f"--formats=onnx: tf2onnx cannot convert {name}'s grouped convolutions ({len(grouped)}, e.g. "
                         f"{grouped[0]}: Keras compiles them as nested function calls ONNX has no op for). Leave onnx "
                         "out of --formats; saved_model and tflite export it.")


def _export(source: str, config: ExportConfig) -> list:
    export_dir, formats, version = config.export_dir, config.formats, config.version
    quantizations = config.quantizations
    model, run = load_source(source)
    name = config.name or (run.model if run else model.name)
    if "onnx" in formats:
        check_onnx_convertible(model, name)
    # What this export is: the same request of the same weights publishes nothing new.
    request = dict(weights_sha256=weights_digest(model), formats=sorted(formats), quantizations=sorted(quantizations),
                   num_samples=config.num_samples, top_k=config.top_k, eval_examples=config.eval_examples)
    layout = ExportDir(export_dir)
    record = layout.record(name)
    if version is None and not config.overwrite:
        reused = _reuse(record, request)
        if reused is not None:
            log.info("%s: these weights were already exported as asked; nothing is converted or published again",
                     name)
            return reused
    base = layout.saved_model_base(name)
    if "saved_model" in formats and version is not None and not config.overwrite \
            and os.path.exists(layout.saved_model_version(name, version)):
        raise ValueError(f"{layout.saved_model_version(name, version)} exists: pick another --version, "
                         "or pass --overwrite to replace it.")
    labels = list(run.class_names) if run and run.class_names else _default_labels(model)
    samples, representative, evaluation = _test_data(run, model, config.num_samples, config.eval_examples)
    log.info("Exporting %s (%s) to %s, each artifact verified on %d images%s", name, ", ".join(formats), export_dir,
             len(samples), "" if evaluation is None else f" and evaluated on {len(evaluation[1])} test images")
    if "tflite" in formats:
        from keras_resnet.export import litert  # imports MediaPipe (the export extra) only when asked for

        litert.check_samples(quantizations, representative)
    reports = []
    if "saved_model" in formats:
        reports.append(saved_model_lib.export_saved_model(model, base, labels, samples, version, config.overwrite,
                                                          config.top_k, name, request["weights_sha256"]))
        saved_model_lib.write_models_config(layout)
    if "tflite" in formats:
        mean = None
        if PREPROCESSING in [layer.name for layer in model.layers] \
                and isinstance(model.get_layer(PREPROCESSING), MeanSubtraction):
            mean = keras.ops.convert_to_numpy(model.get_layer(PREPROCESSING).mean)
        reports += litert.export_tflite(model, layout.tflite_dir(name), labels, samples,
                                        quantizations, representative, name, mean, request["weights_sha256"])
    if "onnx" in formats:
        from keras_resnet.export import onnx as onnx_export

        reports.append(onnx_export.export_onnx(model, layout.onnx_dir(name), labels, samples, name))
    if evaluation is not None:
        _evaluate(reports, model, *evaluation)
    write_json(record, dict(request, reports=[dataclasses.asdict(r) for r in reports]))
    return reports


def _reuse(record: str, request: dict) -> Optional[list]:
    """The reports of an earlier export of the same request, all of whose files are still there; else None."""
    if not os.path.isfile(record):
        return None
    try:
        with open(record) as f:
            saved = json.load(f)
        reports = [ArtifactReport(**dict(r, reused=True)) for r in saved.pop("reports")]
    except (OSError, ValueError, TypeError, KeyError):
        return None  # unreadable or of another version of this package: export again
    if saved != request or not all(os.path.exists(r.path) for r in reports):
        return None
    return reports


def _default_labels(model: keras.Model) -> list:
    """Class names of a model exported without a run: ImageNet's for a 1000-class pretrained model."""
    classes = int(model.output_shape[-1])
    pretrained = PREPROCESSING in [layer.name for layer in model.layers] and \
        isinstance(model.get_layer(PREPROCESSING), InputNormalization)
    if pretrained and classes == imagenet.NUM_CLASSES:
        return [name for _, name in imagenet.class_index()]
    return [str(i) for i in range(classes)]


def format_reports(reports: Sequence[ArtifactReport]) -> str:
    """A table of the verification results; a reused SavedModel version is marked."""
    table = artifact_table(reports)
    reused = [r.path for r in reports if r.reused]
    if reused:
        table += "\n" + "\n".join(f"{path}: already exported from these weights; not published again"
                                  for path in reused)
    return table
