"""A trained classifier on its test set: flip TTA accuracy, and what the run learned class by class (per-class
accuracy, the confusion matrix and the most confidently wrong images, as figures beside the run)."""

from __future__ import annotations

from typing import Sequence

import keras
import numpy as np
import tensorflow as tf

from keras_resnet.arch import transforms
from keras_resnet.train import reports
from keras_resnet.train.run_dir import CONFUSION_FILE, ERRORS_FILE, RunDir

# The most confidently wrong test images errors.png shows.
ERRORS_SHOWN = 16

__all__ = ["flip_tta_accuracy", "test_predictions", "images_at", "class_report", "ERRORS_SHOWN"]


def flip_tta_accuracy(model: keras.Model, dataset: tf.data.Dataset, strategy=None) -> float:
    """Top-1 accuracy with flip test-time augmentation (`transforms.with_flip_tta`).

    Args:
        model: a trained classifier of NHWC images.
        dataset: batches of (images, one-hot labels), as `prepare_data`'s test_ds.
        strategy: the strategy `model` was built under; default the current one.

    Returns:
        The fraction of images whose class, from the outputs averaged over
        the image and its mirror image, is the label.
    """
    strategy = strategy or tf.distribute.get_strategy()
    with strategy.scope():
        tta = transforms.with_flip_tta(model, data_format="channels_last")
        # evaluate needs a loss; only the accuracy is read.
        tta.compile(loss=keras.losses.CategoricalCrossentropy(),
                    metrics=[keras.metrics.CategoricalAccuracy(name="accuracy")])
    return float(tta.evaluate(dataset, verbose=0, return_dict=True)["accuracy"])


def test_predictions(model: keras.Model, dataset: tf.data.Dataset) -> tuple:
    """(probabilities (n, classes), true classes (n,)) of every test image, in the data set's order."""
    probabilities = np.asarray(model.predict(dataset, verbose=0), dtype=np.float32)
    labels = np.concatenate([np.argmax(y, axis=-1) for _, y in dataset.as_numpy_iterator()])
    return probabilities, labels


def images_at(dataset: tf.data.Dataset, indices: Sequence[int]) -> np.ndarray:
    """The test images at `indices` (in that order), read batch by batch: the test set is never held whole."""
    wanted = {int(i): k for k, i in enumerate(indices)}
    found, start = {}, 0
    for images, _ in dataset.as_numpy_iterator():
        for offset in range(len(images)):
            if start + offset in wanted:
                found[start + offset] = images[offset]
        start += len(images)
        if len(found) == len(wanted):
            break
    return np.stack([found[int(i)] for i in indices]) if len(indices) else np.zeros((0,))


def class_report(model: keras.Model, dataset: tf.data.Dataset, class_names: Sequence[str], run_dir: RunDir,
                 title: str) -> dict:
    """Per-class accuracy, and (by the chief) confusion_matrix.png and errors.png in the run's directory.

    Returns:
        {"per_class_accuracy": {class: accuracy}, "weakest_class": its name, "confusion_matrix": path,
        "errors": path} (no paths on workers but the chief).
    """
    probabilities, labels = test_predictions(model, dataset)
    predicted = probabilities.argmax(axis=-1)
    matrix = reports.confusion_matrix(labels, predicted, len(class_names))
    accuracy = reports.per_class_accuracy(matrix, class_names)
    result = dict(per_class_accuracy=accuracy, weakest_class=min(accuracy, key=accuracy.get) if accuracy else None)
    if not run_dir.is_chief:
        return result
    result["confusion_matrix"] = reports.plot_confusion_matrix(
        matrix, class_names, run_dir.path(CONFUSION_FILE), f"{title}: confusion matrix on {len(labels):,} test images")
    wrong = np.flatnonzero(predicted != labels)
    worst = wrong[np.argsort(-probabilities[wrong, predicted[wrong]], kind="stable")][:ERRORS_SHOWN]
    result["errors"] = reports.plot_errors(
        images_at(dataset, worst), labels[worst], predicted[worst], probabilities[worst, predicted[worst]],
        class_names, run_dir.path(ERRORS_FILE),
        f"{title}: the {len(worst)} most confidently wrong of {len(wrong):,} errors")
    return result
