"""What a run reports, without TensorFlow: its history read back, its figures (training curves, confusion matrix,
wrong test images), per-class accuracy, and the result and budget lines."""

from __future__ import annotations

import csv
import os
from typing import Optional, Sequence

import numpy as np

from keras_resnet.train.budget import format_duration


def read_history(path: str) -> dict:
    """{column: [value per epoch]} from a CSVLogger file ({} if there is none)."""
    if not os.path.isfile(path):
        return {}
    with open(path) as f:
        rows = list(csv.DictReader(f))
    history = {}
    for row in rows:
        for key, value in row.items():
            try:
                number = float(value)
            except (TypeError, ValueError):
                number = float("nan")
            history.setdefault(key, []).append(number)
    return history


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, png_path: str) -> str:
    from keras_resnet.files import atomic_path

    with atomic_path(png_path) as tmp:
        fig.savefig(tmp, dpi=100, format="png")
    _pyplot().close(fig)
    return png_path


def plot_history(csv_path: str, png_path: str, title: str, test_accuracy: Optional[float] = None) -> Optional[str]:
    """Training curves (loss and accuracy per epoch) from a history.csv, the test accuracy marked.

    Only the curves the history holds are drawn and named (no validation
    entry without a validation split).

    Returns:
        `png_path`, or None when the history is empty.
    """
    history = read_history(csv_path)
    if not history.get("epoch"):
        return None
    plt = _pyplot()
    epochs = [e + 1 for e in history["epoch"]]
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, metric in zip(axes, ("loss", "accuracy")):
        for prefix, style, name in (("", "--", "training"), ("val_", "-", "validation")):
            values = history.get(prefix + metric, [])
            if any(v == v for v in values):  # a column of NaN ("NA") has nothing to draw
                ax.plot(epochs, values, style, label=f"{name} {metric}")
        if metric == "accuracy" and test_accuracy is not None:
            ax.plot([epochs[-1]], [test_accuracy], "k*", markersize=10, label=f"test accuracy {test_accuracy:.4f}")
        ax.set_xlabel("epoch")
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend()
    fig.suptitle(title)
    fig.tight_layout()
    return _save(fig, png_path)


# The confusion matrix shows at most this many classes (the weakest) with their names; more would be unreadable.
MAX_MATRIX_CLASSES = 30


def confusion_matrix(labels: np.ndarray, predicted: np.ndarray, num_classes: int) -> np.ndarray:
    """Counts: row the true class, column the predicted one."""
    matrix = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(matrix, (labels, predicted), 1)
    return matrix


def per_class_accuracy(matrix: np.ndarray, class_names: Sequence[str]) -> dict:
    """{class name: the fraction of its test images classified as it} (classes without test images left out)."""
    totals = matrix.sum(axis=1)
    return {name: float(matrix[i, i] / totals[i]) for i, name in enumerate(class_names) if totals[i]}


def plot_confusion_matrix(matrix: np.ndarray, class_names: Sequence[str], png_path: str, title: str) -> str:
    """The confusion matrix normalised over each true class, with the class names (the weakest
    `MAX_MATRIX_CLASSES` where there are more)."""
    totals = np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    normalised = matrix / totals
    shown = np.arange(len(class_names))
    if len(shown) > MAX_MATRIX_CLASSES:
        shown = np.sort(np.argsort(np.diag(normalised))[:MAX_MATRIX_CLASSES])
        title += f" (the {MAX_MATRIX_CLASSES} weakest of {len(class_names)} classes)"
    part = normalised[np.ix_(shown, shown)]
    names = [class_names[i] for i in shown]
    plt = _pyplot()
    side = max(5.0, 0.45 * len(names) + 2.5)
    fig, ax = plt.subplots(figsize=(side + 1, side))
    image = ax.imshow(part, cmap="Blues", vmin=0.0, vmax=1.0)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="fraction of the true class")
    ax.set_xticks(range(len(names)), names, rotation=45, ha="right")
    ax.set_yticks(range(len(names)), names)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    if len(names) <= 15:
        for (i, j), value in np.ndenumerate(part):
            if value >= 0.005:
                ax.text(j, i, f"{value:.2f}", ha="center", va="center", fontsize=8,
                        color="white" if value > 0.5 else "black")
    ax.set_title(title)
    fig.tight_layout()
    return _save(fig, png_path)


def plot_errors(images: np.ndarray, labels: Sequence[int], predicted: Sequence[int], confidence: Sequence[float],
                class_names: Sequence[str], png_path: str, title: str) -> str:
    """A grid of wrongly classified test images (raw pixels, NHWC), each titled with its true and predicted class
    and the prediction's probability."""
    plt = _pyplot()
    count = len(images)
    columns = min(4, max(1, count))
    rows = max(1, -(-count // columns))
    fig, axes = plt.subplots(rows, columns, figsize=(2.6 * columns, 2.9 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, image, true, guess, p in zip(axes.flat, images, labels, predicted, confidence):
        pixels = np.clip(np.asarray(image, dtype=np.float32), 0, 255).astype(np.uint8)
        if pixels.shape[-1] == 1:
            ax.imshow(pixels[..., 0], cmap="gray", vmin=0, vmax=255)
        else:
            ax.imshow(pixels[..., :3])
        ax.set_title(f"true: {class_names[true]}\npredicted: {class_names[guess]} ({p:.2f})", fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    return _save(fig, png_path)


def training_summary(model: str, dataset: str, result: dict) -> str:
    """The one line scripts/train.py prints at the end of a run."""
    tta = result.get("test_accuracy_flip_tta")
    tta = "" if tta is None else f", with flip TTA {tta:.4f}"
    weakest = result.get("weakest_class")
    weakest = "" if weakest is None else (f"; weakest class {weakest} "
                                          f"({result['per_class_accuracy'][weakest]:.4f})")
    return (f"{model} on {dataset}: test loss {result['test_loss']:.4f}, test accuracy "
            f"{result['test_accuracy']:.4f}{tta}{weakest} ({result['epochs_run']} epoch(s) run, from epoch "
            f"{result['initial_epoch'] + 1}; final model {result['final_model']})")


def budget_summary(result: dict) -> str:
    """The line a --time_budget run ends with: the time used against the budget, phase by phase."""
    seconds, plan = result["seconds"], result["budget"]
    phases = [f"{format_duration(seconds[key])} {name}" for key, name in (
        ("setup", "data, measurement and model"), ("training", "training"),
        ("after_training", "evaluation and figures"), ("export", "export")) if key in seconds]
    corrected = ", corrected after epoch 1" if plan["corrected"] else ""
    stopped = plan.get("stopped_at_deadline")
    stopped = f", stopped at its deadline at step {stopped:,}" if stopped else ""
    return (f"Time: {format_duration(seconds['total'])} of the {format_duration(plan['seconds'])} budget "
            f"({', '.join(phases)}); {plan['total_steps']:,} steps planned{corrected}{stopped}")
