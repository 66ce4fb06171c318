"""`weights=` resolved: what a name, a file or None means for a network, checked before the model is built."""

from __future__ import annotations

import dataclasses
import os
from typing import Optional

import keras

from keras_resnet.arch.specs import BOTTLENECK, ResNetSpec
from keras_resnet.weights import checkpoints, h5_files, hub_preset_files, hub_presets, pretrained

@dataclasses.dataclass(frozen=True)
class WeightsSource:
    """What a `weights=` argument means for one network: found and checked, not yet read whole or downloaded.

    This base is no weights at all (random initialisation); each kind of source is a subclass that describes,
    fetches (once) and loads itself: `RegistryWeights`, `WeightsFile`, `PresetWeights`.

    Attributes:
        weights: the argument as given (None, a checkpoint name or a path).
        preprocessing: the input normalisation the weights expect ("torchvision", "caffe", "tf") or None.
        classes: the classes of a keras-hub classifier preset, which a model built for it has unless others are
            asked for; else None.
    """

    weights: Optional[str] = None
    preprocessing: Optional[str] = None
    classes: Optional[int] = None

    def describe(self) -> str:
        """What the weights are, in a few words."""
        return "no weights (random initialisation)"

    def fetch(self) -> Optional[str]:
        """The local file the weights load from, downloading it the first time if it is published; None when
        there is nothing to fetch.

        Raises:
            OSError: the download failed.
            ValueError: the download's hash differs from the publisher's.
        """
        return None

    def load(self, model: keras.Model, classes: Optional[int] = None, any_preprocessing: bool = False) -> None:
        """Assign the weights to `model`, checked tensor by tensor (nothing, for no weights).

        Args:
            model: the network built for them.
            classes: the classes asked for explicitly (None: the checkpoint's);
                other classes than the checkpoint's get a new classifier.
            any_preprocessing: a `.weights.h5` may load into a model with
                another input normalisation.

        Raises:
            ValueError: the weights do not fit the model, named tensor by tensor.
        """


@dataclasses.dataclass(frozen=True)
class RegistryWeights(WeightsSource):
    """A published checkpoint of the registry (`keras_resnet.list_weights`), converted on first use.

    Attributes:
        info: its registry entry.
    """

    info: Optional[pretrained.WeightsInfo] = None
    _fetched: list = dataclasses.field(default_factory=list, compare=False, hash=False, repr=False)

    def describe(self) -> str:
        return f"the published checkpoint {self.info.model}/{self.info.name}"

    def fetch(self) -> str:
        if not self._fetched:  # once per source: the build fetches before it builds, the load reads the same file
            self._fetched.append(pretrained.fetch(self.info))
        return self._fetched[0]

    def load(self, model: keras.Model, classes: Optional[int] = None, any_preprocessing: bool = False) -> None:
        skip_head = classes is not None and classes != self.info.classes
        h5_files.load_weights(model, self.fetch(), skip_head=skip_head, any_preprocessing=True)


@dataclasses.dataclass(frozen=True)
class WeightsFile(WeightsSource):
    """A checkpoint file: this package's `.weights.h5`, a torchvision/timm `.pth` or `.safetensors`, or
    keras.applications' `.h5`.

    Attributes:
        path: the file.
        format: what `checkpoints.sniff` found it to be (one of `checkpoints.FORMATS`).
    """

    path: str = ""
    format: str = ""

    def describe(self) -> str:
        return f"the {self.format} file {self.path}"

    def fetch(self) -> str:
        return self.path

    def load(self, model: keras.Model, classes: Optional[int] = None, any_preprocessing: bool = False) -> None:
        if self.format == checkpoints.KERAS_RESNET:
            h5_files.load_weights(model, self.path, any_preprocessing=any_preprocessing)
        else:
            checkpoints.import_checkpoint(model, self.path,
                                          skip_head="if_other_classes" if classes is not None else False)


@dataclasses.dataclass(frozen=True)
class PresetWeights(WeightsSource):
    """A keras-hub ResNet preset directory, read from its JSON files.

    Attributes:
        preset: what was read of it.
    """

    preset: Optional[hub_preset_files.Preset] = None

    def describe(self) -> str:
        return f"the keras-hub preset {self.preset.directory}"

    def fetch(self) -> str:
        return self.preset.directory

    def load(self, model: keras.Model, classes: Optional[int] = None, any_preprocessing: bool = False) -> None:
        hub_presets.import_preset(model, self.preset, skip_head="if_other_classes" if classes is not None else False)


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
        A `WeightsSource` (a `RegistryWeights`, `WeightsFile` or `PresetWeights`, or the base for None); pass it
        as `weights=` to build with it.

    Raises:
        ValueError: unknown checkpoint name, missing file or unknown format.
    """
    if isinstance(weights, WeightsSource):
        return weights
    if weights is None:
        return WeightsSource()
    if not isinstance(weights, (str, os.PathLike)):
        raise ValueError("weights must be None, 'imagenet', a checkpoint name or a file path. "
                         f"Received: weights={weights!r}")
    weights = os.fspath(weights)
    if os.path.isdir(weights):
        preset = hub_preset_files.read_preset(weights)
        return PresetWeights(weights, preset.preprocessing, preset.classes, preset=preset)
    if not os.path.exists(weights) and os.sep not in weights and "." not in weights:
        stride = bool(stride_in_1x1) if spec.block == BOTTLENECK else None
        info = pretrained.get_weights_info(spec.name, weights, stride)
        return RegistryWeights(weights, info.preprocessing, info=info)
    kind = checkpoints.sniff(weights)
    if kind == checkpoints.KERAS_RESNET:
        h5_files.check_file(weights)
        # A file converted from a checkpoint brings that checkpoint's normalisation back with it.
        preprocessing = h5_files.stored_preprocessing(weights)
    elif kind == checkpoints.KERAS_APPLICATIONS:  # keras.applications' v2 and v1 modes
        preprocessing = "tf" if spec.preact else "caffe"
    else:
        preprocessing = "torchvision"
    return WeightsFile(weights, preprocessing, path=weights, format=kind)


def weights_preprocessing(spec: ResNetSpec, weights, stride_in_1x1: bool = False) -> Optional[str]:
    """The input normalisation that `weights` expects, checked without downloading or reading it whole.

    Returns:
        "torchvision", "caffe" or "tf" for a published checkpoint (name or file,
        or a `.weights.h5` converted from one); None otherwise.

    Raises:
        ValueError: unknown checkpoint name, missing file or unknown format.
    """
    return resolve_weights(spec, weights, stride_in_1x1).preprocessing
