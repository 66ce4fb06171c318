"""What the paper measures in a trained network: its layers' responses (Fig. 7) and the network with blocks deleted.

`layer_responses` gives the standard deviation of every 3x3 layer's response; `lesioned` deletes residual
branches (Veit et al. 2016). `keras_resnet.research.experiments` runs them over trained nets; they take any
keras_resnet model.
"""

from __future__ import annotations

import re
from typing import Sequence

import keras
import numpy as np

from keras_resnet.arch import blocks

__all__ = ["response_layers", "layer_responses", "block_names", "changes_shape", "lesioned"]

_BLOCK_OUT = re.compile(r"^(conv\d+_block\d+)_out$")


def response_layers(model: keras.Model) -> list:
    """The BN layer after every 3x3 convolution, in the network's order."""
    return [layer.name[:-len("conv")] + "bn" for layer in model.layers
            if isinstance(layer, keras.layers.Conv2D) and tuple(layer.kernel_size) == (3, 3)]


def layer_responses(model: keras.Model, images: np.ndarray, batch_size: int = 256) -> list:
    """The standard deviation of every 3x3 layer's response, as in the paper's Figure 7.

    A response is the output of a 3x3 conv's BN, before the ReLU or the
    addition. Its std is taken per channel over the images and positions
    (the model in inference mode), then averaged over the channels.

    Args:
        model: a trained keras_resnet model (channels_last).
        images: raw 0-255 test images, (N, H, W, C).
        batch_size: images per forward pass.

    Returns:
        [(layer name, std)], one per 3x3 conv, in the network's order.
    """
    names = response_layers(model)
    probe = keras.Model(model.inputs[0], [model.get_layer(n).output for n in names])
    # Per layer: values seen per channel, their sums and their sums of squares.
    counts, sums, squares = [0] * len(names), [0.0] * len(names), [0.0] * len(names)
    for start in range(0, len(images), batch_size):
        outputs = probe(images[start:start + batch_size], training=False)
        for i, output in enumerate(outputs):
            flat = np.asarray(keras.ops.convert_to_numpy(output), np.float64).reshape(-1, output.shape[-1])
            counts[i] += len(flat)
            sums[i] = sums[i] + flat.sum(axis=0)
            squares[i] = squares[i] + np.square(flat).sum(axis=0)
    stds = []
    for name, n, total, total_sq in zip(names, counts, sums, squares):
        variance = np.maximum(total_sq / n - np.square(total / n), 0.0)
        stds.append((name, float(np.mean(np.sqrt(variance)))))
    return stds


def block_names(model: keras.Model) -> list:
    """The residual (or plain) blocks of a keras_resnet model, in order: ["conv2_block1", ...]."""
    return [m.group(1) for m in (_BLOCK_OUT.match(layer.name) for layer in model.layers) if m]


def changes_shape(model: keras.Model, block: str) -> bool:
    """Whether a block subsamples or widens (its shortcut is not the identity)."""
    first = model.get_layer(f"{block}_1_conv").input.shape
    return tuple(first) != tuple(model.get_layer(f"{block}_out").output.shape)


def lesioned(model: keras.Model, deleted: Sequence[str]) -> keras.Model:
    """The trained model with the named blocks' residual branches deleted (Veit et al. 2016).

    A deleted block outputs its shortcut: the identity, or where the block
    changes shape the parameter-free subsample and zero-pad of option A
    (a ResNet's trained projection, with option B). A plain net is cut the
    same way, so both lose the same layers. Layers are shared with `model`.

    Args:
        model: a keras_resnet model.
        deleted: names of `block_names(model)`.

    Returns:
        A functional model over the same layers.

    Raises:
        ValueError: a name that is not a block of the model.
    """
    known = block_names(model)
    unknown = [b for b in deleted if b not in known]
    if unknown:
        raise ValueError(f"{model.name} has no block(s) {unknown}; its blocks are {', '.join(known)}.")
    deleted = set(deleted)
    block_inputs, branch_free = {}, {}
    options = blocks.BlockOptions(shortcut="A")

    def call(layer, *args, **kwargs):
        block = "_".join(layer.name.split("_")[:2])
        if block in deleted:
            block_inputs.setdefault(block, args[0])
            if layer.name == f"{block}_add":  # [shortcut, branch] -> shortcut
                branch_free[block] = args[0][0]
                return args[0][0]
            if layer.name == f"{block}_out":
                if block not in branch_free:  # a plain block: option A's shortcut
                    x = block_inputs[block]
                    y = args[0]
                    strides = int(x.shape[1]) // int(y.shape[1])
                    branch_free[block] = blocks.shortcut(x, int(y.shape[-1]), strides, f"{block}_lesion", options)
                return layer(branch_free[block], **kwargs)
        return layer(*args, **kwargs)

    return keras.models.clone_model(model, clone_function=lambda layer: layer, call_function=call)
