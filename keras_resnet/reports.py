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

    from keras_resnet.run_dir import atomic_path

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
