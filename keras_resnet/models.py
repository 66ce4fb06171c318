"""The builder: a spec from the table plus options -> a Keras model.

`ResNet` is a functional `keras.Model` whose config is its spec and options
(as keras-hub's backbones): a saved `.keras` file holds those, not a
4,000-layer graph, and loading rebuilds the network from them. Only
`keras.ops` runs inside the graph, so the models build on the TensorFlow, JAX
and PyTorch backends.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import sys
from typing import Any, Callable, Optional, Sequence, Union

import keras
import numpy as np
from keras import layers

from keras_resnet import specs as specs_lib
from keras_resnet import weights as weights_lib
from keras_resnet.blocks import BLOCKS, PREACT_BLOCKS, BlockOptions, head_norm, stem
from keras_resnet.layers import (DATA_FORMATS, NORMALIZATIONS, PACKAGE, HorizontalFlip, InputNormalization,
                                 MeanSubtraction)
from keras_resnet.specs import BOTTLENECK, ResNetSpec

POOLINGS = (None, "avg", "max")

# Keras builds a functional graph recursively; a CIFAR net of depth 1202
# has ~4,200 layers and needs several frames each.
_FRAMES_PER_LAYER = 12


@contextlib.contextmanager
def _deep_recursion(spec: ResNetSpec):
    per_block = 12 if spec.block == BOTTLENECK else 9
    num_layers = 16 + per_block * sum(stage.blocks for stage in spec.stages)
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(max(old, 2_000 + _FRAMES_PER_LAYER * num_layers))
    try:
        yield
    finally:
        sys.setrecursionlimit(old)


@dataclasses.dataclass(frozen=True)
class FeatureInfo:
    """One stage's output, recorded while building (timm's feature_info).

    Attributes:
        key: "C2", "C3", ... (the stage's output stride is 2**k for Ck).
        layer: the layer whose output it is, e.g. "conv2_block3_out".
        channels: its channel count.
        reduction: its total stride relative to the input.
    """

    key: str
    layer: str
    channels: int
    reduction: int


def _mixed(dtype: Optional[str]) -> bool:
    policy = keras.dtype_policies.get(dtype) if dtype else keras.config.dtype_policy()
    return policy.compute_dtype != policy.variable_dtype


def _assemble(inputs, spec: ResNetSpec, options: BlockOptions, width_multiplier: float, mean_shape,
              mean, include_top: bool, pooling, classes: int, classifier_activation, features_only: bool,
              preprocessing: Optional[str] = None):
    """Lay the network's layers over `inputs`; returns (outputs, feature info)."""

    def widen(filters: int) -> int:
        return max(1, int(round(filters * width_multiplier)))

    x = inputs
    fmt = options.data_format
    if mean_shape is not None:
        x = MeanSubtraction(mean_shape, mean=mean, data_format=fmt, name="preprocessing", dtype=options.dtype)(x)
    elif preprocessing is not None:
        x = InputNormalization(**NORMALIZATIONS[preprocessing], data_format=fmt, name="preprocessing",
                               dtype=options.dtype)(x)
    x = stem(x, spec, widen(spec.stem_filters), options)
    reduction = 4 if spec.family == "imagenet" else 1
    block_fn = (PREACT_BLOCKS if spec.preact else BLOCKS)[spec.block]
    features, stage_outputs = [], {}
    total, index = sum(stage.blocks for stage in spec.stages), 0
    output_names = stage_output_names(spec)
    for i, stage in enumerate(spec.stages):
        strided = stage.blocks - 1 if spec.stride_last else 0
        for j in range(stage.blocks):
            index += 1
            # Huang et al.'s linear rule: block l of L survives with p_l = 1 - l / L * (1 - p_L).
            x = block_fn(x, widen(stage.filters), stage.stride if j == strided else 1,
                         f"conv{i + 2}_block{j + 1}", options, options.drop_path_rate * index / total)
        reduction *= stage.stride
        if spec.preact and i == len(spec.stages) - 1:
            x = head_norm(x, options)  # the last stage's output is normalised, as timm's and keras's
        features.append(FeatureInfo(f"C{i + 2}", output_names[f"C{i + 2}"],
                                    int(x.shape[options.channel_axis]), reduction))
        stage_outputs[f"C{i + 2}"] = x
    if features_only:
        return stage_outputs, tuple(features)
    if include_top:
        x = layers.GlobalAveragePooling2D(data_format=fmt, name="avg_pool", dtype=options.dtype)(x)
        # Keep the softmax in float32 under mixed precision.
        x = layers.Dense(classes, activation=classifier_activation, name="predictions",
                         dtype="float32" if _mixed(options.dtype) else options.dtype)(x)
    elif pooling == "avg":
        x = layers.GlobalAveragePooling2D(data_format=fmt, name="avg_pool", dtype=options.dtype)(x)
    elif pooling == "max":
        x = layers.GlobalMaxPooling2D(data_format=fmt, name="max_pool", dtype=options.dtype)(x)
    return x, tuple(features)


def _validate(spec, include_top, input_shape, pooling, classes, shortcut, width_multiplier, data_format):
    if data_format not in DATA_FORMATS:
        raise ValueError(f"data_format must be one of {DATA_FORMATS}. Received: data_format={data_format!r}")
    if pooling not in POOLINGS:
        raise ValueError(f"pooling must be one of None, 'avg', 'max'. Received: pooling={pooling!r}")
    if include_top and (not isinstance(classes, int) or isinstance(classes, bool) or classes < 1):
        raise ValueError(f"classes must be an integer >= 1 when include_top=True. Received: classes={classes!r}")
    if shortcut not in specs_lib.SHORTCUT_OPTIONS:
        raise ValueError(f"Unknown shortcut option; valid: 'A', 'B', 'C'. Received: shortcut={shortcut!r}")
    if not (isinstance(width_multiplier, (int, float)) and width_multiplier > 0):
        raise ValueError(f"width_multiplier must be a number > 0. Received: width_multiplier={width_multiplier!r}")
    narrowest = max(1, int(round(spec.stages[0].filters * width_multiplier)))
    if spec.block == specs_lib.BOTTLENECK and int(narrowest * spec.width_per_group / 64) < 1:
        raise ValueError(f"width_multiplier={width_multiplier} leaves {spec.name}'s first 3x3 conv less than one "
                         f"channel per group ({spec.width_per_group} per group at width 1.0); use at least "
                         f"{64 / spec.width_per_group / spec.stages[0].filters:.4g}.")
    shape = tuple(input_shape)
    layout = "(channels, height, width)" if data_format == "channels_first" else "(height, width, channels)"
    if len(shape) != 3:
        raise ValueError(f"input_shape must be {layout} ({data_format}). Received: input_shape={input_shape}")
    channels, sides = (shape[0], shape[1:]) if data_format == "channels_first" else (shape[2], shape[:2])
    if not (isinstance(channels, int) and channels >= 1):
        raise ValueError(f"input_shape {layout} needs a known channel count >= 1. Received: input_shape={input_shape}")
    for side in sides:
        if side is not None and side < spec.min_size:
            raise ValueError(
                f"{spec.name} needs inputs of at least {spec.min_size}x{spec.min_size} "
                f"pixels (total stride {spec.min_size}). Received: input_shape={input_shape}")


@keras.saving.register_keras_serializable(package=PACKAGE)
class ResNet(keras.Model):
    """A network of the table as a functional Keras model.

    Args:
        spec: a `ResNetSpec`, its dict (from `get_config`) or a name of
            `list_models()`.
        include_top: global average pooling and the dense classifier.
        input_shape: (height, width, channels), or (channels, height, width)
            for channels_first; default the spec's with the top, any size
            without it.
        pooling: without the top, None (the last feature map), "avg" or "max".
        classes: classes of the top; default the spec's.
        classifier_activation: activation of the top, e.g. "softmax" or None.
        shortcut: "A", "B" or "C"; default the spec's. Plain nets ignore it.
        stride_in_1x1: bottleneck stride on the first 1x1 (Caffe).
        zero_init_residual: the last BN gamma of every branch starts at zero.
        width_multiplier: scale every conv's filters.
        synchronized_bn: batch statistics over all replicas of a strategy.
        mean_shape: with a mean, the model takes raw 0-255 pixels and its first
            layer, "preprocessing", subtracts the mean and scales by 1/255.
        mean: initial value of that mean, (H, W, C) or (C,); sets mean_shape.
        preprocessing: a pretrained checkpoint's input normalisation applied
            inside the model to raw 0-255 RGB pixels: "torchvision" (mean/std,
            also timm's), "caffe" (BGR, mean subtraction:
            keras.applications' v1 weights) or "tf" (x / 127.5 - 1: its v2
            weights); None for none.
        features_only: output {"C2": ..., "C5": ...}, each stage's last map.
        name: model name; default the spec's.
        dtype: a Keras dtype policy ("float32", "mixed_bfloat16", ...) given
            to every layer; None follows Keras's global policy.
        data_format: "channels_last" or "channels_first"; default
            `keras.config.image_data_format()`, as in keras.applications.
            Layer names and weight shapes are the same in both.
        drop_path_rate: stochastic depth (Huang et al. 2016): the last
            block's residual branch is dropped with this probability while
            training, block l of L with l / L of it (their p_L = 0.5 is 0.5);
            a `DropPath` layer per block, the identity at inference. ResNets
            only.
        dropout_rate: dropout between the two convs of every basic block
            while training (Wide ResNet's 0.3, Zagoruyko & Komodakis 2016);
            basic-block nets only.
    """

    def __init__(self, spec: Union[ResNetSpec, dict, str], *, include_top: bool = True,
                 input_shape: Optional[Sequence[Optional[int]]] = None, pooling: Optional[str] = None,
                 classes: Optional[int] = None, classifier_activation: Union[str, Callable, None] = "softmax",
                 shortcut: Optional[str] = None, stride_in_1x1: bool = False, zero_init_residual: bool = False,
                 width_multiplier: float = 1.0, synchronized_bn: bool = False, mean_shape=None, mean=None,
                 preprocessing: Optional[str] = None, features_only: bool = False, name: Optional[str] = None,
                 dtype: Optional[str] = None, data_format: Optional[str] = None, drop_path_rate: float = 0.0,
                 dropout_rate: float = 0.0, **kwargs: Any):
        spec = _as_spec(spec)
        settings = _settings(spec, include_top, input_shape, pooling, classes, classifier_activation,
                             shortcut, stride_in_1x1, zero_init_residual, width_multiplier,
                             synchronized_bn, mean_shape, mean, features_only, dtype, preprocessing, data_format,
                             drop_path_rate, dropout_rate)
        with _deep_recursion(spec):
            inputs = layers.Input(shape=settings["input_shape"], name="input")
            outputs, features = _assemble(inputs, spec, settings.pop("options"), settings["width_multiplier"],
                                          settings["mean_shape"], mean, include_top, pooling,
                                          settings["classes"], classifier_activation, features_only,
                                          settings["preprocessing"])
            super().__init__(inputs, outputs, name=name or spec.name + ("_backbone" if features_only else ""),
                             **kwargs)
        if dtype is not None:  # Functional ignores a dtype argument
            self.dtype_policy = dtype
        self.spec = spec
        self.feature_info = features
        self.identity = weights_lib.identity(spec, settings)
        self._settings = settings

    def get_config(self) -> dict:
        config = {"spec": dataclasses.asdict(self.spec), "name": self.name, "trainable": self.trainable}
        config.update(self._settings)
        # Rebuilt from its spec, the model would forget fine-tuning's frozen layers (and their optimizer slots).
        frozen = [layer.name for layer in self.layers if layer.weights and not layer.trainable]
        if frozen:
            config["frozen_layers"] = frozen
        activation = config["classifier_activation"]
        if activation is not None and not isinstance(activation, str):
            config["classifier_activation"] = keras.saving.serialize_keras_object(activation)
        return config

    @classmethod
    def from_config(cls, config: dict, custom_objects=None) -> "ResNet":
        config = dict(config)
        activation = config.get("classifier_activation")
        if isinstance(activation, dict):
            config["classifier_activation"] = keras.saving.deserialize_keras_object(
                activation, custom_objects=custom_objects)
        frozen = set(config.pop("frozen_layers", ()))
        model = cls(**config)
        for layer in model.layers:
            if layer.name in frozen:
                layer.trainable = False
        return model


def _as_spec(spec) -> ResNetSpec:
    if isinstance(spec, ResNetSpec):
        return spec
    if isinstance(spec, str):
        return specs_lib.get_spec(spec)
    if isinstance(spec, dict):
        values = dict(spec)
        values["stages"] = tuple(specs_lib.Stage(**s) for s in values["stages"])
        values["input_shape"] = tuple(values["input_shape"])
        return ResNetSpec(**values)
    raise ValueError(f"spec must be a ResNetSpec, its dict or a model name. Received: spec={spec!r}")


def _settings(spec, include_top, input_shape, pooling, classes, classifier_activation, shortcut,
              stride_in_1x1, zero_init_residual, width_multiplier, synchronized_bn, mean_shape, mean,
              features_only, dtype, preprocessing=None, data_format=None, drop_path_rate=0.0,
              dropout_rate=0.0) -> dict:
    """Validate the options once and resolve their defaults from the spec."""
    classes = spec.classes if classes is None else classes
    shortcut = shortcut or spec.shortcut
    shortcut = shortcut.upper() if isinstance(shortcut, str) else shortcut
    data_format = data_format or keras.config.image_data_format()
    first = data_format == "channels_first"
    if input_shape is None:
        top = include_top and not features_only
        height, width, channels = spec.input_shape if top else (None, None, spec.input_shape[2])
        input_shape = (channels, height, width) if first else (height, width, channels)
    input_shape = tuple(input_shape) if isinstance(input_shape, (tuple, list)) else input_shape
    _validate(spec, include_top, input_shape, pooling, classes, shortcut, width_multiplier, data_format)
    if mean is not None:
        mean_shape = np.shape(mean)
    if preprocessing is not None:
        if preprocessing not in NORMALIZATIONS:
            raise ValueError(f"preprocessing must be None or one of {sorted(NORMALIZATIONS)}. "
                             f"Received: preprocessing={preprocessing!r}")
        if mean_shape is not None:
            raise ValueError("Give either a training mean (mean/mean_shape) or a checkpoint's preprocessing, "
                             f"not both. Received: preprocessing={preprocessing!r}, mean_shape={mean_shape}")
        if input_shape[0 if first else -1] != 3:
            raise ValueError(f"preprocessing={preprocessing!r} normalises RGB images: input_shape needs 3 "
                             f"channels. Received: input_shape={input_shape}")
    if not (isinstance(drop_path_rate, (int, float)) and 0 <= drop_path_rate < 1):
        raise ValueError(f"drop_path_rate must be a number in [0, 1). Received: drop_path_rate={drop_path_rate!r}")
    if drop_path_rate and not spec.residual:
        raise ValueError(f"drop_path_rate drops residual branches; {spec.name} is a plain net, which has none. "
                         f"Received: drop_path_rate={drop_path_rate}")
    if not (isinstance(dropout_rate, (int, float)) and 0 <= dropout_rate < 1):
        raise ValueError(f"dropout_rate must be a number in [0, 1). Received: dropout_rate={dropout_rate!r}")
    if dropout_rate and spec.block != specs_lib.BASIC:
        raise ValueError(f"dropout_rate drops units between a basic block's two convs (Wide ResNets); {spec.name} "
                         f"has {spec.block} blocks. Received: dropout_rate={dropout_rate}")
    if dtype is not None:
        dtype = keras.dtype_policies.get(dtype).name
    options = BlockOptions(residual=spec.residual, shortcut=shortcut, stride_in_1x1=bool(stride_in_1x1),
                           zero_init_residual=bool(zero_init_residual), synchronized_bn=bool(synchronized_bn),
                           dtype=dtype, data_format=data_format, groups=spec.groups,
                           width_per_group=spec.width_per_group, avg_down=spec.avg_down,
                           se_ratio=spec.se_ratio, drop_path_rate=float(drop_path_rate), preact=spec.preact,
                           conv_bias=spec.conv_bias, dropout_rate=float(dropout_rate))
    return dict(
        options=options, include_top=bool(include_top), input_shape=input_shape, pooling=pooling,
        classes=classes, classifier_activation=classifier_activation, shortcut=shortcut,
        stride_in_1x1=options.stride_in_1x1, zero_init_residual=options.zero_init_residual,
        width_multiplier=float(width_multiplier), synchronized_bn=options.synchronized_bn,
        mean_shape=None if mean_shape is None else [int(d) for d in mean_shape],
        features_only=bool(features_only), dtype=dtype, preprocessing=preprocessing, data_format=data_format,
        drop_path_rate=float(drop_path_rate), dropout_rate=float(dropout_rate))


def stage_output_names(model_or_spec: Union[keras.Model, ResNetSpec]) -> dict:
    """Layer names of every stage's output, keyed C2, C3, ...

    Args:
        model_or_spec: a model built by this package, or its spec.

    Returns:
        {"C2": "conv2_block3_out", ...}, one entry per stage.

    Raises:
        ValueError: the model was not built by keras_resnet.
    """
    if isinstance(model_or_spec, ResNetSpec):
        names = {f"C{i + 2}": f"conv{i + 2}_block{stage.blocks}_out" for i, stage in enumerate(model_or_spec.stages)}
        if model_or_spec.preact:  # the final BN-ReLU belongs to the last stage
            names[f"C{len(model_or_spec.stages) + 1}"] = "post_relu"
        return names
    features = getattr(model_or_spec, "feature_info", None)
    if not features:
        raise ValueError(f"Model {model_or_spec.name!r} was not built by keras_resnet (it has no feature_info).")
    return {f.key: f.layer for f in features}


# ---------------------------------------------------------------- public API

_OPTION_NAMES = ("shortcut", "stride_in_1x1", "zero_init_residual", "width_multiplier", "synchronized_bn",
                 "mean", "mean_shape", "dtype", "preprocessing", "include_preprocessing", "data_format",
                 "drop_path_rate", "dropout_rate")
_APPLICATION_NAMES = ("include_top", "weights", "input_tensor", "input_shape", "pooling", "classes",
                      "classifier_activation", "name")


def build_resnet(spec: ResNetSpec, *, weights: Optional[str] = None, input_tensor=None,
                 include_preprocessing: Optional[bool] = None, **kwargs: Any) -> keras.Model:
    """Build the Keras model of `spec`, as keras.applications does.

    Args:
        spec: the architecture (see `keras_resnet.specs`).
        weights: None (random initialisation); "imagenet" (the best published
            checkpoint for the network and its stride placement); a name of
            `keras_resnet.list_weights(model)` ("torchvision_v1",
            "torchvision_v2", "timm_a1", "msra_caffe", "keras"); or a file: this
            package's `.weights.h5`, a torchvision/timm `.pth`/`.pt` or
            `.safetensors` state dict, or keras.applications' `.h5` /
            `.weights.h5` (its format is found from its content). Published
            checkpoints are downloaded once and cached converted. With
            include_top=False, or other `classes` for a named checkpoint, the
            classifier is not loaded.
        input_tensor: optional Keras tensor to use as the input; the model
            then is a plain functional model over that graph.
        include_preprocessing: apply the checkpoint's own input normalisation
            inside the model, which then takes raw 0-255 RGB pixels (default:
            True when the weights come from a published checkpoint). With
            False, normalise the inputs as the checkpoint expects yourself.
        **kwargs: the arguments of `ResNet` (include_top, input_shape,
            pooling, classes, classifier_activation, name, shortcut,
            stride_in_1x1, zero_init_residual, width_multiplier,
            synchronized_bn, mean, mean_shape, preprocessing, features_only,
            dtype, data_format, drop_path_rate, dropout_rate).

    Returns:
        A `ResNet` (a `keras.Model`), or a functional `keras.Model` over
        `input_tensor`'s graph.

    Raises:
        ValueError: an argument is outside its valid values, or the weights
            do not fit the model (named tensor by tensor).
        OSError: a published checkpoint could not be downloaded.
    """
    source = _weights_source(spec, weights, kwargs, any_preprocessing=include_preprocessing is False)
    if include_preprocessing is None:
        include_preprocessing = source.preprocessing is not None
    if include_preprocessing:
        if source.preprocessing is None and kwargs.get("preprocessing") is None:
            raise ValueError("include_preprocessing=True applies a published checkpoint's normalisation, but "
                             f"weights={weights!r} is not one: pass preprocessing='torchvision', 'caffe' or 'tf', or "
                             "weights from a checkpoint.")
        kwargs["preprocessing"] = kwargs.get("preprocessing") or source.preprocessing
    if input_tensor is None:
        model = ResNet(spec, **kwargs)
    else:
        model = _over_tensor(spec, input_tensor, **kwargs)
    source.load(model)
    return model


@dataclasses.dataclass
class _WeightsSource:
    """What `weights=` resolved to, checked before the model is built."""

    load: Callable[[keras.Model], None]
    preprocessing: Optional[str] = None


def weights_preprocessing(spec: ResNetSpec, weights, stride_in_1x1: bool = False) -> Optional[str]:
    """The input normalisation that `weights` expects, checked without downloading or reading it whole.

    Returns:
        "torchvision", "caffe" or "tf" for a published checkpoint (name or file,
        or a `.weights.h5` converted from one); None otherwise.

    Raises:
        ValueError: unknown checkpoint name, missing file or unknown format.
    """
    return _resolve_weights(spec, weights, stride_in_1x1)[2]


def _resolve_weights(spec: ResNetSpec, weights, stride_in_1x1) -> tuple:
    """(kind, registry entry or path, preprocessing) of a `weights=` argument."""
    from keras_resnet import checkpoints, pretrained

    if weights is None:
        return None, None, None
    if not isinstance(weights, (str, os.PathLike)):
        raise ValueError("weights must be None, 'imagenet', a checkpoint name or a file path. "
                         f"Received: weights={weights!r}")
    weights = os.fspath(weights)
    if not os.path.exists(weights) and os.sep not in weights and "." not in weights:
        stride = bool(stride_in_1x1) if spec.block == BOTTLENECK else None
        info = pretrained.get_weights_info(spec.name, weights, stride)
        return "registry", info, info.preprocessing
    kind = checkpoints.sniff(weights)
    if kind == checkpoints.KERAS_RESNET:
        weights_lib.check_file(weights)
        # A file converted from a checkpoint brings that checkpoint's normalisation back with it.
        return kind, weights, weights_lib.stored_preprocessing(weights)
    if kind == checkpoints.KERAS_APPLICATIONS:
        return kind, weights, "tf" if spec.preact else "caffe"  # keras.applications' v2 and v1 modes
    return kind, weights, "torchvision"


def _weights_source(spec: ResNetSpec, weights, kwargs: dict, any_preprocessing: bool) -> _WeightsSource:
    from keras_resnet import checkpoints, pretrained

    kind, where, preprocessing = _resolve_weights(spec, weights, kwargs.get("stride_in_1x1"))
    # Other classes than a checkpoint's (asked for explicitly) get a new classifier.
    other_classes = kwargs.get("classes") is not None
    if kind is None:
        return _WeightsSource(lambda model: None)
    if kind == "registry":
        path = pretrained.fetch(where)
        skip_head = other_classes and kwargs["classes"] != where.classes
        return _WeightsSource(
            lambda model: weights_lib.load_weights(model, path, skip_head=skip_head, any_preprocessing=True),
            preprocessing)
    if kind == checkpoints.KERAS_RESNET:
        return _WeightsSource(lambda model: weights_lib.load_weights(model, where,
                                                                     any_preprocessing=any_preprocessing),
                              preprocessing)
    return _WeightsSource(lambda model: checkpoints.import_checkpoint(
        model, where, skip_head="if_other_classes" if other_classes else False), preprocessing)


def _over_tensor(spec, input_tensor, *, name=None, **kwargs) -> keras.Model:
    """The network over a user's tensor: keras.applications' `input_tensor`."""
    if not keras.backend.is_keras_tensor(input_tensor):
        shape = kwargs.get("input_shape") or tuple(input_tensor.shape[1:])
        input_tensor = layers.Input(tensor=input_tensor, shape=tuple(shape), name="input")
    kwargs.setdefault("input_shape", tuple(input_tensor.shape[1:]))
    settings = _settings(spec, **{k: kwargs.get(k, v) for k, v in _DEFAULTS.items()})
    with _deep_recursion(spec):
        outputs, features = _assemble(
            input_tensor, spec, settings["options"], settings["width_multiplier"], settings["mean_shape"],
            kwargs.get("mean"), settings["include_top"], settings["pooling"], settings["classes"],
            settings["classifier_activation"], settings["features_only"], settings["preprocessing"])
        model = keras.Model(keras.utils.get_source_inputs(input_tensor), outputs, name=name or spec.name)
    if settings["dtype"] is not None:
        model.dtype_policy = settings["dtype"]
    model.feature_info = features
    model.identity = weights_lib.identity(spec, settings)
    return model


_DEFAULTS = dict(include_top=True, input_shape=None, pooling=None, classes=None, classifier_activation="softmax",
                 shortcut=None, stride_in_1x1=False, zero_init_residual=False, width_multiplier=1.0,
                 synchronized_bn=False, mean_shape=None, mean=None, features_only=False, dtype=None,
                 preprocessing=None, data_format=None, drop_path_rate=0.0, dropout_rate=0.0)


def build(name: str, /, depth: Optional[int] = None, **kwargs: Any) -> keras.Model:
    """Build a network by name.

    Args:
        name: a name of `list_models()` ("resnet50", "plain56"), any
            "resnet<6n+2>" for a CIFAR depth outside the paper's six, or the
            family "resnet"/"plain" with `depth`.
        depth: with a family name, the depth (e.g. build("resnet", depth=8)).
        **kwargs: the keyword arguments of `build_resnet`.

    Returns:
        A `keras.Model`.

    Raises:
        ValueError: unknown name or depth, or an invalid argument.
    """
    spec = specs_lib.get_spec(name, depth)
    valid = set(_OPTION_NAMES) | set(_APPLICATION_NAMES) | {"features_only"}
    unknown = sorted(set(kwargs) - valid)
    if unknown:
        raise ValueError(f"Unknown argument(s) {unknown}; valid: {sorted(valid)}. "
                         f"Received: {', '.join(f'{k}={kwargs[k]!r}' for k in unknown)}")
    return build_resnet(spec, **kwargs)


def build_backbone(name: str, /, depth: Optional[int] = None, **kwargs: Any) -> keras.Model:
    """A feature extractor returning every stage's output, for detection.

    Args:
        name, depth: as for `build`.
        **kwargs: as for `build`, except include_top and pooling.

    Returns:
        A model whose output is a dict {"C2": ..., "C5": ...} (C2..C4 for the
        CIFAR nets) of the last feature map of each stage.

    Raises:
        ValueError: as for `build`, or include_top/pooling given.
    """
    for key in ("include_top", "pooling"):
        if key in kwargs:
            raise ValueError(f"build_backbone takes no {key}. Received: {key}={kwargs[key]!r}")
    return build(name, depth, include_top=False, features_only=True, **kwargs)


def with_dtype(model: keras.Model, dtype: str) -> keras.Model:
    """The same network and weights computing under another dtype policy.

    A net trained under mixed_bfloat16 keeps float32 weights; serving on
    CPUs and TFLite want float32 graphs, so exports start from this copy.

    Raises:
        ValueError: `model` is not a `ResNet`.
    """
    return _rebuilt(model, "with_dtype", dtype=keras.dtype_policies.get(dtype).name)


def inference_copy(model: keras.Model) -> keras.Model:
    """The same network and weights as a float32 graph without training-only layers.

    Exports start from it: serving on CPUs and TFLite want float32, and a
    net trained with stochastic depth or dropout loses its `DropPath` and
    `Dropout` layers (the identity at inference; they hold no weights).

    Raises:
        ValueError: `model` is not a `ResNet`.
    """
    return _rebuilt(model, "inference_copy", dtype="float32", drop_path_rate=0.0, dropout_rate=0.0)


def _rebuilt(model: keras.Model, caller: str, **changes: Any) -> keras.Model:
    if not isinstance(model, ResNet):
        raise ValueError(f"{caller} needs a keras_resnet ResNet model. Received: {type(model).__name__}")
    config = model.get_config()
    if all(config.get(key) == value for key, value in changes.items()):
        return model
    copy = ResNet.from_config({**config, **changes})
    # By name: dropping weightless layers can change the graph's layer order.
    for layer in copy.layers:
        if layer.weights:
            layer.set_weights(model.get_layer(layer.name).get_weights())
    return copy


def with_flip_tta(model: keras.Model, data_format: Optional[str] = None) -> keras.Model:
    """Flip test-time augmentation: `model`'s output averaged over each image and its mirror image.

    The evaluation trick of fast CIFAR recipes (airbench): a classifier
    trained with random flips scores each test image twice, as it is and
    mirrored left to right, and averages the two outputs (class
    probabilities for the package's classifiers). It costs two forward passes
    and adds no weights: the returned model shares `model`'s layers.

    Args:
        model: a single-input, single-output model of images.
        data_format: the images' layout; default the model's own (a
            `ResNet`'s), else `keras.config.image_data_format()`.

    Returns:
        A functional model with `model`'s input and output shapes, named
        `<model.name>_flip_tta`.

    Raises:
        ValueError: `model` does not take one 4-D image input and give one output.
    """
    if len(model.inputs) != 1 or len(model.outputs) != 1 or len(model.inputs[0].shape) != 4:
        raise ValueError(f"with_flip_tta needs a model with one 4-D image input and one output. Received: "
                         f"{model.name} with inputs {[tuple(x.shape) for x in model.inputs]} and "
                         f"{len(model.outputs)} output(s)")
    if data_format is None:
        data_format = model.get_config().get("data_format") if isinstance(model, ResNet) else None
    data_format = data_format or keras.config.image_data_format()
    inputs = keras.Input(batch_shape=model.inputs[0].shape, dtype=model.inputs[0].dtype, name="images")
    mirrored = HorizontalFlip(data_format=data_format, dtype=model.inputs[0].dtype, name="mirror")(inputs)
    # float32: a bfloat16 mean of two near-equal probabilities would tie classes.
    outputs = layers.Average(name="flip_average", dtype="float32")([model(inputs), model(mirrored)])
    return keras.Model(inputs, outputs, name=f"{model.name}_flip_tta")


def load_model(path: str, **kwargs: Any) -> keras.Model:
    """`keras.saving.load_model` with a clear error for a missing or damaged file.

    Raises:
        ValueError: the file is missing, not a .keras archive, or truncated.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise ValueError(f"No such model file: {path!r}")
    import zipfile

    if path.endswith(".keras") and not zipfile.is_zipfile(path):
        raise ValueError(f"{path!r} is not a complete .keras archive (truncated or another format); "
                         "re-save it, or use the run's final.weights.h5 with the same build arguments.")
    try:
        return keras.saving.load_model(path, **kwargs)
    except (OSError, zipfile.BadZipFile, KeyError, EOFError) as error:
        raise ValueError(f"Could not load {path!r}: {error}") from error


def freeze_choices(spec: ResNetSpec) -> tuple:
    """Valid `freeze` values for a network: none, backbone, conv1 (the stem) .. its last stage."""
    return ("none", "backbone", "conv1") + tuple(f"conv{i + 2}" for i in range(len(spec.stages)))


def freeze(model: keras.Model, upto: str) -> list:
    """Freeze a model's first layers for fine-tuning.

    Frozen layers are `trainable=False`: their weights stay as loaded and
    their batch norms run in inference mode, keeping the pretrained
    statistics (Keras 3 semantics; keras-team/keras#9214).

    Args:
        model: a keras_resnet model.
        upto: "none"; "backbone" (everything but the classifier); or "conv1"
            (the input normalisation and stem) .. "conv5" (that stage and all
            before it).

    Returns:
        The names of the layers frozen.

    Raises:
        ValueError: `upto` is not valid for this model.
    """
    spec = getattr(model, "spec", None) or specs_lib.get_spec(model.name)
    valid = freeze_choices(spec)
    if upto not in valid:
        raise ValueError(f"freeze must be one of {', '.join(valid)} for {spec.name}. Received: freeze={upto!r}")
    if upto == "none":
        return []
    if upto == "backbone":
        chosen = [layer for layer in model.layers if layer.name != "predictions"]
    else:
        last = int(upto[len("conv"):])
        prefixes = ("preprocessing", "pool1_") + tuple(f"conv{k}_" for k in range(1, last + 1))
        if last == len(spec.stages) + 1:
            prefixes += ("post_",)  # a pre-activation net's final BN-ReLU closes its last stage
        chosen = [layer for layer in model.layers if layer.name.startswith(prefixes)]
    for layer in chosen:
        layer.trainable = False
    return [layer.name for layer in chosen]
