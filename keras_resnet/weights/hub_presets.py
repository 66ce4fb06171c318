"""keras-hub's ResNet presets, both ways: a preset directory imported exactly, a keras_resnet model saved as one.

keras-hub builds the same networks as this package under other layer names (`stack0_block0_1_conv` for
`conv2_block1_1_conv`): `hub_layer_name` is that contract, and one pairing serves both directions. keras-hub itself
reads and writes the files; a preset's JSON is read first (`keras_resnet.weights.hub_preset_files`), so a preset of
another network is refused, naming the first config field that differs, before keras-hub is imported or any weight
is assigned.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from typing import Optional, Union

import keras
import numpy as np

from keras_resnet import extras
from keras_resnet.arch import specs as specs_lib
from keras_resnet.arch.layers import CLASSIFIER, PREPROCESSING, InputNormalization, MeanSubtraction
from keras_resnet.arch.specs import BASIC, ResNetSpec
from keras_resnet.files import TMP_PREFIX, dir_mode
from keras_resnet.weights.h5_files import natural_order
from keras_resnet.weights.hub_preset_files import Preset, read_preset

HUB_CLASSIFIER = "predictions"  # keras-hub's ImageClassifier's dense layer

# The architecture fields of a ResNetBackbone config, compared in this order.
CONFIG_FIELDS = ("block_type", "use_pre_activation", "input_conv_filters", "input_conv_kernel_sizes",
                 "stackwise_num_filters", "stackwise_num_blocks", "stackwise_num_strides")


def _keras_hub(feature: str):
    """keras_hub, imported only by those who use a preset (8 s of imports), or a one-line `MissingExtraError`."""
    extras.require(feature, "hub", extras.EXTRA_MODULES["hub"])
    import keras_hub

    return keras_hub


# ------------------------------------------------------------------ the contract


_STEM = re.compile(r"conv1_(\d)_(conv|bn)")
_BLOCK = re.compile(r"conv(\d+)_block(\d+)_(\d|preact)_(conv|bn)")


def hub_layer_name(layer: str) -> Optional[str]:
    """keras-hub's name of one of our weighted layers; None where keras-hub has no such layer.

    conv1_conv/bn and post_bn keep their names; ResNet-D's deep stem
    conv1_1..3 is keras-hub's conv1..3; block j of stage i (conv{i}_block{j})
    is stack{i-2}_block{j-1}, its pre-activation `_preact_bn` keras-hub's
    `_pre_activation_bn`; the classifier is the ImageClassifier's
    `predictions`.
    """
    if layer in ("conv1_conv", "conv1_bn", "post_bn"):
        return layer
    if layer == CLASSIFIER:
        return HUB_CLASSIFIER
    match = _STEM.fullmatch(layer)
    if match:
        return f"conv{match.group(1)}_{match.group(2)}"
    match = _BLOCK.fullmatch(layer)
    if match:
        stage, block, index, kind = match.groups()
        index = "pre_activation" if index == "preact" else index
        return f"stack{int(stage) - 2}_block{int(block) - 1}_{index}_{kind}"
    return None


def backbone_config(spec: ResNetSpec, shortcut: Optional[str] = None, stride_in_1x1: bool = False,
                    width_multiplier: float = 1.0) -> dict:
    """The `ResNetBackbone` config fields (`CONFIG_FIELDS`) that build `spec` with these options.

    Raises:
        ValueError: a network keras-hub's ResNetBackbone cannot express, saying why.
    """
    why = _inexpressible(spec, shortcut or spec.shortcut, stride_in_1x1, width_multiplier)
    if why:
        raise ValueError(f"keras-hub's ResNetBackbone cannot express {spec.name}: {why}")
    deep = spec.deep_stem
    return {
        "block_type": ("basic_block" if spec.block == BASIC else "bottleneck_block") + ("_vd" if spec.avg_down else ""),
        "use_pre_activation": spec.preact,
        "input_conv_filters": [spec.stem_filters // 2, spec.stem_filters // 2, spec.stem_filters] if deep
        else [spec.stem_filters],
        "input_conv_kernel_sizes": [3, 3, 3] if deep else [7],
        "stackwise_num_filters": [stage.filters for stage in spec.stages],
        "stackwise_num_blocks": [stage.blocks for stage in spec.stages],
        "stackwise_num_strides": [stage.stride for stage in spec.stages],
    }


def _inexpressible(spec: ResNetSpec, shortcut: str, stride_in_1x1: bool, width_multiplier: float) -> Optional[str]:
    """Why keras-hub's ResNetBackbone cannot build this network, or None."""
    if not spec.residual:
        return "a plain net has no shortcuts, and keras-hub's blocks always add one."
    if spec.layout != "imagenet":
        return "keras-hub's ResNets have ImageNet's strided 7x7 stem and max pool; the CIFAR nets have neither."
    if spec.groups > 1 or spec.width_per_group != 64:
        return "keras-hub's bottlenecks have neither ResNeXt's grouped nor Wide ResNet's widened 3x3 convs."
    if spec.se_ratio:
        return "keras-hub's ResNets have no squeeze-and-excitation."
    if shortcut != "B":
        return (f"its shortcut option {shortcut} ({'zero-padded' if shortcut == 'A' else 'projected everywhere'}); "
                "keras-hub's project only where the shape changes (option B).")
    if stride_in_1x1:
        return "keras-hub's bottlenecks stride on the 3x3; this model strides on the 1x1 (stride_in_1x1=True)."
    if width_multiplier != 1.0:
        return f"keras-hub's first stage has 64 filters; width_multiplier={width_multiplier} changes that."
    if spec.stride_last or spec.conv_bias or (spec.preact and not spec.inf_pool_padding):
        return ("it is keras.applications' v2 layout (stride in each stage's last block, biased convs); keras-hub's "
                f"v2 is timm's: resnetv2_{spec.depth}.")
    if spec.deep_stem != spec.avg_down or (spec.avg_down and spec.preact):
        return "keras-hub pairs the deep stem with average-pooled projections, in v1 blocks only."
    if spec.avg_down and spec.block == BASIC and not spec.project_first:
        return (f"keras-hub's basic_block_vd projects the shortcut of the first stage's first block (PaddleClas's "
                f"ResNet-vd); timm's {spec.name} does not: use resnet{spec.depth}_vd.")
    return None


def _network(model: keras.Model) -> tuple:
    """(spec, identity) of a keras_resnet model, from the identity it carries."""
    identity = json.loads(getattr(model, "identity", None) or "{}")
    if "model" not in identity:
        raise ValueError(f"{model.name!r} was not built by keras_resnet (it has no identity): build it with "
                         "keras_resnet.build(name) or an application such as keras_resnet.ResNet50.")
    return specs_lib.get_spec(identity["model"]), identity


def _model_config(model: keras.Model) -> tuple:
    """(spec, identity, the ResNetBackbone config fields) of a keras_resnet model."""
    spec, identity = _network(model)
    config = backbone_config(spec, identity.get("shortcut"), bool(identity.get("stride_in_1x1")),
                             identity.get("width_multiplier", 1.0))
    return spec, identity, config


def _differences(preset: Preset, expected: dict) -> list:
    return [(field, preset.config.get(field), expected[field]) for field in CONFIG_FIELDS
            if _normalised(preset.config.get(field)) != _normalised(expected[field])]


def _normalised(value):
    return list(value) if isinstance(value, (list, tuple)) else value


def _as_preset(preset: Union[str, os.PathLike, Preset]) -> Preset:
    return preset if isinstance(preset, Preset) else read_preset(preset)


def model_for_preset(preset: Union[str, os.PathLike, Preset]) -> str:
    """The name in `list_models()` of the network a preset is.

    Args:
        preset: the preset directory, or the `Preset` read from it.

    Raises:
        ValueError: not a ResNet preset, or one of a network this package does not list.
    """
    preset = _as_preset(preset)
    for name in specs_lib.list_models():
        spec = specs_lib.get_spec(name)
        if _inexpressible(spec, spec.shortcut, False, 1.0) is None and not _differences(preset, backbone_config(spec)):
            return name
    fields = ", ".join(f"{field}={preset.config.get(field)!r}" for field in CONFIG_FIELDS)
    raise ValueError(f"{preset.directory!r} is {preset.describe()} that no network of keras_resnet.list_models() "
                     f"is ({fields}).")


# ------------------------------------------------------------------ pairing and both directions


def _fail(model_name: str, message: str):
    raise ValueError(f"Cannot pair {model_name!r} with the keras-hub preset: {message}")


def _pairs(model: keras.Model, backbone, classifier, model_name: str) -> list:
    """(our variable, keras-hub's variable) for every weight of `model`, each of keras-hub's used exactly once.

    `classifier`: the ImageClassifier whose `predictions` is paired with our
    classifier; None to leave our classifier out (a new head, or none).
    """
    hub = {layer.name: layer for layer in backbone.layers if layer.weights}
    if classifier is not None:
        hub[HUB_CLASSIFIER] = classifier.get_layer(HUB_CLASSIFIER)
    pairs, used = [], set()
    for layer in model.layers:
        if not layer.weights or (layer.name == CLASSIFIER and classifier is None):
            continue
        name = hub_layer_name(layer.name)
        if name is None or name not in hub:
            _fail(model_name, f"its layer {layer.name!r} has no counterpart{f' {name!r}' if name else ''} in "
                              "keras-hub's network.")
        theirs = {variable.name.split("/")[-1]: variable for variable in hub[name].weights}
        for variable in layer.weights:
            key = variable.name.split("/")[-1]
            other = theirs.get(key)
            if other is None or tuple(other.shape) != tuple(variable.shape):
                got = "missing" if other is None else f"of shape {tuple(other.shape)}"
                _fail(model_name, f"keras-hub's {name}/{key} is {got}; {layer.name}/{key} has shape "
                                  f"{tuple(variable.shape)} (another width, input channels or number of classes?).")
            pairs.append((variable, other))
        used.add(name)
    left = sorted((name for name in hub if name not in used), key=natural_order)
    if left:
        _fail(model_name, f"keras-hub's network has {len(left)} weighted layer(s) the model lacks, first {left[0]!r}.")
    return pairs


def import_preset(model: keras.Model, preset: Union[str, os.PathLike, Preset], *,
                  skip_head: Union[bool, str] = False) -> dict:
    """Assign a keras-hub ResNet preset's weights to every weight of `model`, exactly, or nothing.

    Args:
        model: a keras_resnet model of the preset's network (`model_for_preset`
            names it). Without a top, a classifier preset's head is left unused.
        preset: the preset directory (`save_to_preset`'s, or a downloaded
            Kaggle or Hugging Face preset), or the `Preset` read from it.
        skip_head: True: leave the model's classifier as it is (a new head);
            "if_other_classes": only where the preset's has another number of
            classes (or it has none).

    Returns:
        {"format": "keras_hub", "source", "assigned", "head": whether the
        classifier was imported}.

    Raises:
        ValueError: not a ResNet preset, or another network: the first config
            field or tensor that differs is named, and nothing is assigned.
    """
    preset = _as_preset(preset)
    directory = preset.directory
    spec, _, expected = _model_config(model)
    differences = _differences(preset, expected)
    if differences:
        field, theirs, ours = differences[0]
        try:
            hint = f" It is keras_resnet's {model_for_preset(preset)}."
        except ValueError:
            hint = ""
        raise ValueError(f"{directory!r} is {preset.describe()}, not {spec.name}: its {field} is {theirs!r}, "
                         f"{spec.name}'s is {ours!r}.{hint}")
    has_head = any(layer.name == CLASSIFIER for layer in model.layers)
    if skip_head == "if_other_classes":
        skip_head = has_head and preset.classes != model.get_layer(CLASSIFIER).kernel.shape[-1]
    head = has_head and not skip_head
    if head and preset.classes is None:
        raise ValueError(f"{directory!r} is a backbone preset, with no classifier: build the model with "
                         "include_top=False, or give classes= for a new head.")
    if head and preset.pooling != "avg":
        raise ValueError(f"{directory!r}'s classifier pools with {preset.pooling!r}; keras_resnet's top averages: "
                         "build the model with include_top=False (and pooling='max') for its backbone.")
    keras_hub = _keras_hub(f"weights={directory!r} (a keras-hub preset)")

    if head:
        classifier = keras_hub.models.ImageClassifier.from_preset(directory)
        backbone = classifier.backbone
    else:
        classifier, backbone = None, keras_hub.models.Backbone.from_preset(directory)
    pairs = _pairs(model, backbone, classifier, model.name)
    for ours, theirs in pairs:
        ours.assign(keras.ops.cast(theirs.value, ours.dtype))
    return {"format": "keras_hub", "source": directory, "assigned": len(pairs), "head": head}


def _converter_arguments(model: keras.Model) -> Optional[dict]:
    """The image converter's scale, offset and size that apply the model's `preprocessing` layer, or None."""
    layer = next((layer for layer in model.layers if layer.name == PREPROCESSING), None)
    if layer is None:
        return None
    if isinstance(layer, InputNormalization):
        if layer.reverse_channels:
            raise ValueError(f"{model.name!r} reverses its input channels (Caffe's BGR), which keras-hub's image "
                             "converter cannot: build it with include_preprocessing=False to save it as a preset.")
        scale = [1.0 / s for s in layer.std]
        offset = [-m / s for m, s in zip(layer.mean, layer.std)]
    elif isinstance(layer, MeanSubtraction) and len(layer.mean_shape) == 1:
        mean = keras.ops.convert_to_numpy(layer.mean).astype(np.float64)
        scale = [layer.scale] * len(mean)
        offset = (-mean * layer.scale).tolist()
    else:
        raise ValueError(f"{model.name!r} subtracts a per-pixel mean {tuple(layer.mean_shape)}, which keras-hub's "
                         "image converter (a scale and offset per channel) cannot.")
    first = getattr(layer, "data_format", "channels_last") == "channels_first"
    height, width = model.input_shape[2:4] if first else model.input_shape[1:3]
    return {"scale": scale, "offset": offset,
            "image_size": (height, width) if height is not None and width is not None else None}


def save_preset(model: keras.Model, directory: Union[str, os.PathLike]) -> str:
    """Write `model` as a keras-hub preset that `keras_hub.models.Backbone.from_preset` loads.

    With a classifier, the preset is a `ResNetImageClassifier` (and
    `keras_hub.models.ImageClassifier.from_preset` loads it), with a
    preprocessor whose image converter applies the model's `preprocessing`
    layer. A model without a top is a backbone preset, whose output is the
    last feature map (keras-hub's backbones do not pool); its preprocessing
    goes to `image_converter.json`.

    Args:
        model: a keras_resnet network that keras-hub's ResNetBackbone builds:
            ResNet-18 .. 152, ResNet-D (resnet50d ..; resnet18_vd and
            resnet34_vd, PaddleClas's) and timm's pre-activation resnetv2_*.
        directory: a new or empty directory; written whole or not at all.

    Returns:
        The directory.

    Raises:
        ValueError: a network keras-hub cannot express (option-A CIFAR
            shortcuts, plain nets, ResNeXt, ...), or a directory that exists
            and is not empty; nothing is written then.
    """
    directory = os.path.abspath(os.fspath(directory))
    _, identity, config = _model_config(model)
    converter_arguments = _converter_arguments(model)
    if os.path.exists(directory) and (not os.path.isdir(directory) or os.listdir(directory)):
        raise ValueError(f"{directory!r} exists and is not an empty directory: name a new one, so that no preset "
                         "is overwritten.")
    keras_hub = _keras_hub("save_preset")
    backbone = keras_hub.models.ResNetBackbone(**config, image_shape=(None, None, identity["channels"]),
                                               dtype=model.dtype_policy.variable_dtype)
    classifier = None
    if any(layer.name == CLASSIFIER for layer in model.layers):
        head = model.get_layer(CLASSIFIER)
        preprocessor = None
        if converter_arguments is not None:
            preprocessor = keras_hub.models.ResNetImageClassifierPreprocessor(
                image_converter=keras_hub.layers.ResNetImageConverter(**converter_arguments))
        classifier = keras_hub.models.ResNetImageClassifier(
            backbone=backbone, num_classes=int(head.units), preprocessor=preprocessor, pooling="avg",
            activation=keras.activations.serialize(head.activation) if head.activation else None)
    for ours, theirs in _pairs(model, backbone, classifier, model.name):
        theirs.assign(keras.ops.cast(ours.value, theirs.dtype))
    parent = os.path.dirname(directory)
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=TMP_PREFIX, dir=parent)
    try:
        (classifier or backbone).save_to_preset(tmp)
        if classifier is None and converter_arguments is not None:
            keras_hub.layers.ResNetImageConverter(**converter_arguments).save_to_preset(tmp)
        if os.path.isdir(directory):
            os.rmdir(directory)  # empty, checked above
        os.chmod(tmp, dir_mode())  # mkdtemp's 0700 would hide the preset from other users
        os.rename(tmp, directory)
    finally:
        if os.path.exists(tmp):
            shutil.rmtree(tmp)
    return directory
