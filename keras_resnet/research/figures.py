"""The paper's figures drawn from the numbers `keras_resnet.research.experiments` measured (PNG, matplotlib)."""

from __future__ import annotations

import contextlib
from typing import Iterator


@contextlib.contextmanager
def _figure(path: str, columns: int, rows: int = 1, size=(6, 4.5)) -> Iterator:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from keras_resnet.files import atomic_path

    fig, axes = plt.subplots(rows, columns, figsize=(size[0] * columns, size[1] * rows), squeeze=False)
    try:
        yield fig, axes
        fig.tight_layout()
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=100, format="png")
    finally:
        plt.close(fig)


def degradation(result: dict, path: str) -> str:
    """Figure 6: training error (dashed) and test error (bold) per epoch; plain nets left, ResNets right."""
    import matplotlib.pyplot as plt

    nets = result["nets"]
    depths = sorted({net["depth"] for net in nets.values()})
    colours = dict(zip(depths, plt.get_cmap("tab10").colors))
    top = max([e for net in nets.values() for e in net["train_error"] + net["test_error"] if e == e] + [1.0])
    with _figure(path, 2) as (fig, axes):
        for ax, residual in zip(axes[0], (False, True)):
            for name, net in nets.items():
                if net["residual"] != residual:
                    continue
                colour = colours[net["depth"]]
                ax.plot(net["epochs"], net["train_error"], "--", color=colour, linewidth=1)
                ax.plot(net["epochs"], net["test_error"], "-", color=colour, linewidth=2.2,
                        label=f"{'ResNet' if residual else 'plain'}-{net['depth']}")
            ax.set_title(("ResNets" if residual else "Plain nets") + " (dashed: training, bold: test)")
            ax.set_xlabel("epoch")
            ax.set_ylabel("error (%)")
            ax.set_ylim(0, min(100.0, top * 1.05))
            ax.grid(alpha=0.3)
            ax.legend()
        fig.suptitle(f"Degradation on {result['dataset']} (He et al. 2015, Figure 6)")
    return path


def responses(result: dict, path: str) -> str:
    """Figure 7: std of each 3x3 layer's response, in layer order (top) and sorted by magnitude (bottom)."""
    nets = result["nets"]
    with _figure(path, 1, 2, size=(9, 3.8)) as (fig, axes):
        for name, net in nets.items():
            stds = [layer["std"] for layer in net["layers"]]
            style = "-" if net["residual"] else "--"
            label = f"{'ResNet' if net['residual'] else 'plain'}-{net['depth']}"
            axes[0][0].plot(range(1, len(stds) + 1), stds, style, marker=".", label=label)
            axes[1][0].plot(range(1, len(stds) + 1), sorted(stds, reverse=True), style, marker=".", label=label)
        axes[0][0].set_xlabel("layer index (original)")
        axes[1][0].set_xlabel("layer index (sorted by magnitude)")
        for ax in axes[:, 0]:
            ax.set_ylabel("std of response")
            ax.grid(alpha=0.3)
            ax.legend(ncol=2, fontsize="small")
        fig.suptitle(f"3x3 layer responses on {result['dataset']} (He et al. 2015, Figure 7)")
    return path


def lesion(result: dict, path: str) -> str:
    """Test error after deleting one block (left) and k random blocks (right), plain vs residual."""
    nets = result["nets"]
    with _figure(path, 2) as (fig, axes):
        left, right = axes[0]
        for name, net in nets.items():
            label = f"{'ResNet' if net['residual'] else 'plain'}-{net['depth']}"
            line, = left.plot(range(1, len(net["single"]) + 1), [b["error"] for b in net["single"]], marker=".",
                              label=label)
            left.axhline(net["error"], color=line.get_color(), linestyle=":", linewidth=1)
            counts = [0] + [r["deleted"] for r in net["random"]]
            means = [net["error"]] + [r["mean_error"] for r in net["random"]]
            stds = [0.0] + [r["std_error"] for r in net["random"]]
            right.errorbar(counts, means, yerr=stds, marker="o", capsize=3, color=line.get_color(), label=label)
        left.set_xlabel("deleted block (1 = first); dotted: nothing deleted")
        left.set_title("One block deleted at test time")
        right.set_xlabel("blocks deleted at random (identity-shortcut blocks)")
        right.set_title("Several blocks deleted (mean +/- std over draws)")
        for ax in (left, right):
            ax.set_ylabel("test error (%)")
            ax.set_ylim(0, 100)
            ax.grid(alpha=0.3)
            ax.legend()
        fig.suptitle(f"Lesions on {result['dataset']} (Veit et al. 2016)")
    return path
