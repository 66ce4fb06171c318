"""How an exported artifact is checked against the Keras model it came from."""

from __future__ import annotations

import dataclasses
import hashlib
from typing import Optional

import numpy as np

# Largest max-abs difference from the Keras model each float artifact may show.
TOLERANCES = {"saved_model": 1e-5, "float32": 1e-4, "float16": 1e-2, "onnx": 1e-4}
# What export writes: a SavedModel for TF Serving, LiteRT files for Android, an ONNX file for ONNX Runtime.
FORMATS = ("saved_model", "tflite", "onnx")
DEFAULT_FORMATS = ("saved_model", "tflite")


class ExportVerificationError(RuntimeError):
    """An exported artifact does not reproduce the Keras model."""


@dataclasses.dataclass
class ArtifactReport:
    """How one artifact compares with the Keras model on the sample inputs.

    `reused` marks an artifact that was already published for these weights.
    `accuracy` and `reference_accuracy` (the Keras model's) are top-1 on
    `eval_examples` labelled test images, when the export evaluated them.
    """

    artifact: str
    path: str
    max_abs_diff: float
    top1_agreement: float
    tolerance: Optional[float]
    reused: bool = False
    accuracy: Optional[float] = None
    reference_accuracy: Optional[float] = None
    eval_examples: int = 0

    @property
    def ok(self) -> bool:
        return self.tolerance is None or self.max_abs_diff <= self.tolerance

    @property
    def accuracy_drop(self) -> Optional[float]:
        """Percentage points of test accuracy lost against the Keras model (None: not evaluated)."""
        if self.accuracy is None or self.reference_accuracy is None:
            return None
        return 100.0 * (self.reference_accuracy - self.accuracy)


def compare(reference: np.ndarray, got: np.ndarray) -> tuple:
    """(max |difference|, top-1 agreement) of two [N, classes] score arrays."""
    if not len(got):
        return 0.0, 1.0
    diff = float(np.max(np.abs(reference.astype(np.float64) - got.astype(np.float64))))
    return diff, float(np.mean(np.argmax(reference, -1) == np.argmax(got, -1)))


def top1_accuracy(scores: np.ndarray, labels: np.ndarray) -> float:
    """Fraction of rows of [N, classes] `scores` whose arg-max is the row's label."""
    labels = np.asarray(labels).reshape(-1)
    if len(scores) != len(labels) or not len(labels):
        raise ValueError(f"Need as many scores as labels, at least one. Received: {len(scores)} scores, "
                         f"{len(labels)} labels")
    return float(np.mean(np.argmax(scores, -1) == labels))


def model_input(model) -> tuple:
    """(height, width, channels) of a model with a fixed input size.

    Raises:
        ValueError: the model takes inputs of any size.
    """
    shape = tuple(model.input_shape[1:])
    if len(shape) != 3 or None in shape:
        raise ValueError(
            f"Export needs a model with a fixed input size; {model.name!r} takes {model.input_shape}. "
            "Build it with input_shape=(height, width, channels).")
    return shape


def weights_digest(model) -> str:
    """SHA-256 of a model's weights: which weights an artifact was exported from."""
    digest = hashlib.sha256()
    for value in model.get_weights():
        digest.update(np.ascontiguousarray(value).tobytes())
    return digest.hexdigest()


def artifact_table(reports) -> str:
    """A table of export verification results (`ArtifactReport`s), with test accuracy where evaluated."""
    lines = [f"{'artifact':<22} {'max |diff|':>11} {'top-1 agree':>12} {'tolerance':>10} {'test acc':>9} "
             f"{'vs Keras':>9}  path"]
    for r in reports:
        tolerance = f"{r.tolerance:g}" if r.tolerance is not None else "-"
        accuracy = f"{r.accuracy:.2%}" if r.accuracy is not None else "-"
        drop = f"{0.0 - r.accuracy_drop + 0.0:+.2f} pt" if r.accuracy_drop is not None else "-"
        lines.append(f"{r.artifact:<22} {r.max_abs_diff:>11.3g} {r.top1_agreement:>12.1%} {tolerance:>10} "
                     f"{accuracy:>9} {drop:>9}  {r.path}")
    evaluated = [r for r in reports if r.reference_accuracy is not None]
    if evaluated:
        lines.append(f"test acc: top-1 on the run's {evaluated[0].eval_examples} test images; the Keras model "
                     f"itself: {evaluated[0].reference_accuracy:.2%}")
    return "\n".join(lines)
