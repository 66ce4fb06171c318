"""Multiply-add counts, to compare with Table 1 of the paper."""

from __future__ import annotations

import math

import keras


def count_macs(model: keras.Model) -> int:
    """Multiply-adds of one forward pass of one image through `model`.

    Counts convolutions and dense layers, as Table 1 does; batch norm, ReLU,
    additions and pooling are left out.

    Args:
        model: a built functional model with a fully known input size.

    Returns:
        The number of multiply-adds.

    Raises:
        ValueError: the model's spatial input size is unknown.
    """
    total = 0
    for layer in model.layers:
        if isinstance(layer, keras.layers.Conv2D):
            out_shape = layer.output.shape
            if any(dim is None for dim in out_shape[1:]):
                raise ValueError(
                    f"count_macs needs a model with a known input size; layer "
                    f"{layer.name!r} has output shape {out_shape}. Build it with "
                    "input_shape=(height, width, channels) (channels first for channels_first)."
                )
            kh, kw, cin_per_group, cout = layer.kernel.shape
            spatial = out_shape[2:4] if layer.data_format == "channels_first" else out_shape[1:3]
            total += math.prod(spatial) * kh * kw * cin_per_group * cout
        elif isinstance(layer, keras.layers.Dense):
            total += math.prod(layer.kernel.shape)
    return int(total)
