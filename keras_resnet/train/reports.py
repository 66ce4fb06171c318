"""What a run reports: its history read back, training curves, and result lines."""

from __future__ import annotations

import csv
import os
from typing import Optional


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


def plot_history(csv_path: str, png_path: str, title: str) -> Optional[str]:
    """Training curves (loss and accuracy per epoch) from a CSVLogger file.

    Returns:
        `png_path`, or None when the history is empty.
    """
    history = read_history(csv_path)
    if not history.get("epoch"):
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from keras_resnet.files import atomic_path

    epochs = [e + 1 for e in history["epoch"]]
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, metric in zip(axes, ("loss", "accuracy")):
        for prefix, style in (("", "--"), ("val_", "-")):
            if prefix + metric in history:
                label = ("validation " if prefix else "training ") + metric
                ax.plot(epochs, history[prefix + metric], style, label=label)
        ax.set_xlabel("epoch")
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(title)
    fig.tight_layout()
    with atomic_path(png_path) as tmp:
        fig.savefig(tmp, dpi=100, format="png")
    plt.close(fig)
    return png_path


def training_summary(model: str, dataset: str, result: dict) -> str:
    """The one line scripts/train.py prints at the end of a run."""
    tta = result.get("test_accuracy_flip_tta")
    tta = "" if tta is None else f", with flip TTA {tta:.4f}"
    return (f"{model} on {dataset}: test loss {result['test_loss']:.4f}, test accuracy "
            f"{result['test_accuracy']:.4f}{tta} ({result['epochs_run']} epoch(s) run, from epoch "
            f"{result['initial_epoch'] + 1}; final model {result['final_model']})")
