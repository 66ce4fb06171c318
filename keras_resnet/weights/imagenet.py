"""keras.applications' module functions: `preprocess_input` and `decode_predictions` over ImageNet's 1000 classes.

The class list (WordNet ids in the standard sorted order, with torchvision's
names) ships in the package, so decoding needs no download.
"""

from __future__ import annotations

import functools
import json
import os

import numpy as np

NUM_CLASSES = 1000


@functools.lru_cache(maxsize=1)
def class_index() -> tuple:
    """((wnid, name), ...) of the 1000 ImageNet-1k classes, by class index."""
    with open(os.path.join(os.path.dirname(__file__), "imagenet_classes.json"), encoding="utf-8") as f:
        return tuple(tuple(entry) for entry in json.load(f))


def decode_predictions(preds, top: int = 5) -> list:
    """The `top` classes of each prediction, as keras.applications' decode_predictions.

    Args:
        preds: scores of shape (samples, 1000): probabilities or logits.
        top: how many classes per sample.

    Returns:
        One list per sample of (wnid, class name, score) tuples, best first.

    Raises:
        ValueError: `preds` is not (samples, 1000), or `top` is not 1..1000.
    """
    preds = np.asarray(preds)
    if preds.ndim != 2 or preds.shape[1] != NUM_CLASSES:
        raise ValueError("decode_predictions expects a batch of ImageNet predictions, shape (samples, 1000). "
                         f"Received: shape {preds.shape}")
    if not (isinstance(top, int) and 1 <= top <= NUM_CLASSES):
        raise ValueError(f"top must be an integer from 1 to 1000. Received: top={top!r}")
    classes = class_index()
    results = []
    for scores in preds:
        best = np.argsort(scores)[::-1][:top]
        results.append([(classes[i][0], classes[i][1], scores[i]) for i in best])
    return results


def preprocess_input(x, data_format=None):
    """Return `x` unchanged: keras_resnet models normalise inside the model.

    As keras.applications' ConvNeXt and EfficientNetV2: models built with
    published weights include their checkpoint's normalisation
    (`include_preprocessing=True`) and take raw 0-255 RGB pixels, and models
    trained by this package carry their training mean. Kept so that code
    written for `keras.applications.resnet` runs unchanged.

    Args:
        x: images, any array or tensor.
        data_format: accepted for compatibility; unused.

    Returns:
        `x`, unchanged.
    """
    return x
