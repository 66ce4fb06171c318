"""A keras-hub preset directory's JSON files, read without keras-hub: which network and preprocessing a preset is.

A keras-hub preset is a directory: `config.json` (a `ResNetBackbone`'s config) and `model.weights.h5`; a classifier
adds `task.json`, `task.weights.h5` and `preprocessor.json` (its image converter's scale and offset). Reading them
first lets `keras_resnet.weights.hub_presets` refuse a preset of another network, naming the field that differs,
before keras-hub is imported or any weight is assigned.
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Optional, Union

import numpy as np

from keras_resnet.arch.layers import NORMALIZATIONS

CONFIG_FILE = "config.json"  # the backbone's config: what makes a directory a preset
TASK_FILE = "task.json"  # a classifier preset's task
PREPROCESSOR_FILE = "preprocessor.json"
CONVERTER_FILE = "image_converter.json"
BACKBONE_CLASS = "ResNetBackbone"
TASK_CLASS = "ResNetImageClassifier"
PREPROCESSOR_CLASS = "ResNetImageClassifierPreprocessor"
CONVERTER_CLASS = "ResNetImageConverter"


def is_preset(path) -> bool:
    """Whether `path` is a directory holding a keras-hub preset's `config.json`."""
    return isinstance(path, (str, os.PathLike)) and os.path.isfile(os.path.join(os.fspath(path), CONFIG_FILE))


@dataclasses.dataclass(frozen=True)
class Preset:
    """A keras-hub ResNet preset, read from its JSON files (no weights, no keras-hub import).

    Attributes:
        directory: where it is.
        config: its `ResNetBackbone` config.
        classes: its classifier's classes; None for a backbone preset.
        pooling: its classifier's pooling ("avg" or "max"); None for a backbone preset.
        preprocessing: the name in `NORMALIZATIONS` its image converter applies
            ("torchvision" for keras-hub's ImageNet presets), or None.
    """

    directory: str
    config: dict
    classes: Optional[int]
    pooling: Optional[str]
    preprocessing: Optional[str]

    def describe(self) -> str:
        c = self.config
        kind = "v2 " if c.get("use_pre_activation") else ""
        return (f"a keras-hub {kind}{c.get('block_type')} ResNet{' classifier' if self.classes else ' backbone'} "
                f"(blocks {c.get('stackwise_num_blocks')})")


def _read_json(directory: str, name: str) -> Optional[dict]:
    path = os.path.join(directory, name)
    if not os.path.isfile(path):
        return None
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError) as error:
        raise ValueError(f"{path!r} is not readable JSON ({error}): a damaged keras-hub preset?") from None


def read_preset(directory: Union[str, os.PathLike]) -> Preset:
    """Read a preset directory's JSON: its backbone config, classes and preprocessing.

    Raises:
        ValueError: not a keras-hub preset, a preset of another model than a
            ResNet, or an image converter whose normalisation is none of
            `NORMALIZATIONS`.
    """
    directory = os.fspath(directory)
    config = _read_json(directory, CONFIG_FILE)
    if config is None:
        raise ValueError(f"{directory!r} is not a keras-hub preset: it has no {CONFIG_FILE}.")
    # keras-hub builds each object from its registered_name, so that is checked too, not the class_name alone.
    named = {CONFIG_FILE: (config, BACKBONE_CLASS)}
    for file_name, expected in ((TASK_FILE, TASK_CLASS), (PREPROCESSOR_FILE, PREPROCESSOR_CLASS),
                                (CONVERTER_FILE, CONVERTER_CLASS)):
        values = _read_json(directory, file_name)
        if values is not None:
            named[file_name] = (values, expected)
    for file_name, (values, expected) in named.items():
        names = {values.get("class_name"), values.get("registered_name") or f"keras_hub>{expected}"}
        if names != {expected, f"keras_hub>{expected}"}:
            theirs = values.get("registered_name") or values.get("class_name")
            raise ValueError(f"{directory!r} is a keras-hub preset of {theirs!r} ({file_name}), not of a "
                             f"{expected}: keras_resnet imports ResNet presets only.")
    task = named.get(TASK_FILE, ({}, None))[0].get("config", {})
    return Preset(directory, config.get("config", {}), task.get("num_classes"), task.get("pooling"),
                  _preset_preprocessing(directory))


def _preset_preprocessing(directory: str) -> Optional[str]:
    preprocessor = _read_json(directory, PREPROCESSOR_FILE)
    if preprocessor is not None:
        converter = preprocessor.get("config", {}).get("image_converter") or {}
    else:
        converter = _read_json(directory, CONVERTER_FILE) or {}
    config = converter.get("config", {})
    return _normalization_name(config.get("scale"), config.get("offset"), directory)


def _per_channel(value, channels: int = 3) -> np.ndarray:
    return np.broadcast_to(np.asarray(value, np.float64), (channels,))


def _normalization_name(scale, offset, directory: str) -> Optional[str]:
    """The entry of `NORMALIZATIONS` that `x * scale + offset` on 0-255 pixels is."""
    if scale is None and offset is None:
        return None
    scale = _per_channel(1.0 if scale is None else scale)
    offset = _per_channel(0.0 if offset is None else offset)
    for name, norm in NORMALIZATIONS.items():
        if norm.get("reverse_channels"):
            continue
        std = np.asarray(norm["std"], np.float64)
        if np.allclose(scale, 1 / std, rtol=1e-6, atol=0) and \
                np.allclose(offset, -np.asarray(norm["mean"], np.float64) / std, rtol=1e-6, atol=1e-9):
            return name
    valid = ", ".join(name for name, norm in NORMALIZATIONS.items() if not norm.get("reverse_channels"))
    raise ValueError(f"{directory!r}'s image converter normalises with scale={scale.tolist()}, "
                     f"offset={offset.tolist()}, which is none of keras_resnet's preprocessings ({valid}).")
