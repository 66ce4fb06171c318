"""`weights=` resolved: what a name, a file or None means for a network, checked before the model is built."""

from __future__ import annotations

import dataclasses
import os
from typing import Optional

import keras

from keras_resnet.arch.specs import BOTTLENECK, ResNetSpec
from keras_resnet.weights import checkpoints, files as weights_lib, hub_presets, pretrained

PRESET = "keras_hub"  # a WeightsSource's kind for a keras-hub preset directory


@dataclasses.dataclass(frozen=True)
class WeightsSource:
    """What a `weights=` argument means for one network: found and checked, not yet read whole or downloaded.

    Attributes:
        weights: the argument as given (None, a checkpoint name or a path).
        kind: None, "registry", `PRESET` (a keras-hub preset directory), or the
            file format `checkpoints.sniff` found.
        where: the registry entry (`WeightsInfo`), the file's path, or the
            `hub_presets.Preset` read from the directory.
        preprocessing: the input normalisation the weights expect ("torchvision",
            "caffe", "tf") or None.
        classes: the classes of a keras-hub classifier preset, which a model
            built for it has unless others are asked for; else None.
    """

    weights: Optional[str]
    kind: Optional[str] = None
    where: object = None
    preprocessing: Optional[str] = None
    classes: Optional[int] = None

    def fetch(self) -> Optional[str]:
        """A published checkpoint's converted file, downloaded and converted on first use; else None.

        Raises:
            OSError: the download failed.
            ValueError: the download's hash differs from the publisher's.
        """
        return pretrained.fetch(self.where) if self.kind == "registry" else None

    def load(self, model: keras.Model, classes: Optional[int] = None, any_preprocessing: bool = False) -> None:
        """Assign the weights to `model`, checked tensor by tensor.

        Args:
            model: the network built for them.
            classes: the classes asked for explicitly (None: the checkpoint's);
                other classes than the checkpoint's get a new classifier.
            any_preprocessing: a `.weights.h5` may load into a model with
                another input normalisation.

        Raises:
            ValueError: the weights do not fit the model, named tensor by tensor.
        """
        if self.kind is None:
            return
        if self.kind == "registry":
            skip_head = classes is not None and classes != self.where.classes
            weights_lib.load_weights(model, self.fetch(), skip_head=skip_head, any_preprocessing=True)
        elif self.kind == PRESET:
            hub_presets.import_preset(model, self.where,
                                      skip_head="if_other_classes" if classes is not None else False)
        elif self.kind == checkpoints.KERAS_RESNET:
            weights_lib.load_weights(model, self.where, any_preprocessing=any_preprocessing)
        else:
            checkpoints.import_checkpoint(model, self.where,
                                          skip_head="if_other_classes" if classes is not None else False)


def resolve_weights(spec: ResNetSpec, weights, stride_in_1x1: bool = False) -> WeightsSource:
    """Find what `weights` is for `spec`, without downloading or reading it whole.

    Args:
        spec: the network.
        weights: None; "imagenet" or another name of `list_weights(spec.name)`;
            or a file (this package's `.weights.h5`, a torchvision/timm
            `.pth`/`.safetensors`, keras.applications' `.h5`), or a keras-hub
            ResNet preset directory.
        stride_in_1x1: the bottleneck stride placement asked for (it picks
            among a network's published checkpoints).

    Returns:
        A `WeightsSource`; pass it as `weights=` to build with it.

    Raises:
        ValueError: unknown checkpoint name, missing file or unknown format.
    """
    if isinstance(weights, WeightsSource):
        return weights
    if weights is None:
        return WeightsSource(None)
    if not isinstance(weights, (str, os.PathLike)):
        raise ValueError("weights must be None, 'imagenet', a checkpoint name or a file path. "
                         f"Received: weights={weights!r}")
    weights = os.fspath(weights)
    if os.path.isdir(weights):
        preset = hub_presets.read_preset(weights)
        return WeightsSource(weights, PRESET, preset, preset.preprocessing, preset.classes)
    if not os.path.exists(weights) and os.sep not in weights and "." not in weights:
        stride = bool(stride_in_1x1) if spec.block == BOTTLENECK else None
        info = pretrained.get_weights_info(spec.name, weights, stride)
        return WeightsSource(weights, "registry", info, info.preprocessing)
    kind = checkpoints.sniff(weights)
    if kind == checkpoints.KERAS_RESNET:
        weights_lib.check_file(weights)
        # A file converted from a checkpoint brings that checkpoint's normalisation back with it.
        return WeightsSource(weights, kind, weights, weights_lib.stored_preprocessing(weights))
    if kind == checkpoints.KERAS_APPLICATIONS:  # keras.applications' v2 and v1 modes
        return WeightsSource(weights, kind, weights, "tf" if spec.preact else "caffe")
    return WeightsSource(weights, kind, weights, "torchvision")


def weights_preprocessing(spec: ResNetSpec, weights, stride_in_1x1: bool = False) -> Optional[str]:
    """The input normalisation that `weights` expects, checked without downloading or reading it whole.

    Returns:
        "torchvision", "caffe" or "tf" for a published checkpoint (name or file,
        or a `.weights.h5` converted from one); None otherwise.

    Raises:
        ValueError: unknown checkpoint name, missing file or unknown format.
    """
    return resolve_weights(spec, weights, stride_in_1x1).preprocessing
