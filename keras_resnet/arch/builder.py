"""The builder: a spec from the table plus `ModelOptions` -> a Keras model.

`ResNet` is a functional `keras.Model` whose config is its spec and options
(as keras-hub's backbones): a saved `.keras` file holds those, not a
4,000-layer graph, and loading rebuilds the network from them. Only
`keras.ops` runs inside the graph, so the models build on the TensorFlow, JAX
and PyTorch backends.
"""

from __future__ import annotations

import contextlib
import dataclasses
import sys
from typing import Any, Optional, Union

import keras
from keras import layers

from keras_resnet.arch import saved_specs, specs as specs_lib
from keras_resnet.arch.blocks import BLOCKS, PREACT_BLOCKS, head_norm, stem
from keras_resnet.arch.layers import (CLASSIFIER, INPUT, NORMALIZATIONS, PACKAGE, PREPROCESSING, InputNormalization,
                                      MeanSubtraction)
from keras_resnet.arch.options import ModelOptions, split_options
from keras_resnet.arch.specs import BOTTLENECK, ResNetSpec

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


def _assemble(inputs, spec: ResNetSpec, options: ModelOptions, mean=None):
    """Lay the network's layers over `inputs` as the resolved `options` say; returns (outputs, feature info)."""

    def widen(filters: int) -> int:
        return max(1, int(round(filters * options.width_multiplier)))

    x = inputs
    blocks = options.block_options(spec)
    fmt = options.data_format
    if options.mean_shape is not None:
        x = MeanSubtraction(options.mean_shape, mean=mean, data_format=fmt, name=PREPROCESSING,
                            dtype=options.dtype)(x)
    elif options.preprocessing is not None:
        x = InputNormalization(**NORMALIZATIONS[options.preprocessing], data_format=fmt, name=PREPROCESSING,
                               dtype=options.dtype)(x)
    x = stem(x, spec, widen(spec.stem_filters), blocks)
    reduction = 4 if spec.layout == "imagenet" else 1
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
                         f"conv{i + 2}_block{j + 1}", blocks, blocks.drop_path_rate * index / total,
                         project=spec.project_first and j == 0)
        reduction *= stage.stride
        if spec.preact and i == len(spec.stages) - 1:
            x = head_norm(x, blocks)  # the last stage's output is normalised, as timm's and keras's
        features.append(FeatureInfo(f"C{i + 2}", output_names[f"C{i + 2}"],
                                    int(x.shape[blocks.channel_axis]), reduction))
        stage_outputs[f"C{i + 2}"] = x
    if options.features_only:
        return stage_outputs, tuple(features)
    if options.include_top:
        x = layers.GlobalAveragePooling2D(data_format=fmt, name="avg_pool", dtype=options.dtype)(x)
        # Keep the softmax in float32 under mixed precision.
        x = layers.Dense(options.classes, activation=options.classifier_activation, name=CLASSIFIER,
                         dtype="float32" if _mixed(options.dtype) else options.dtype)(x)
    elif options.pooling == "avg":
        x = layers.GlobalAveragePooling2D(data_format=fmt, name="avg_pool", dtype=options.dtype)(x)
    elif options.pooling == "max":
        x = layers.GlobalMaxPooling2D(data_format=fmt, name="max_pool", dtype=options.dtype)(x)
    return x, tuple(features)


def _resolve(spec: ResNetSpec, options: ModelOptions, mean) -> ModelOptions:
    return options.resolve(spec, mean, default_data_format=keras.config.image_data_format())


@keras.saving.register_keras_serializable(package=PACKAGE)
class ResNet(keras.Model):
    """A network of the table as a functional Keras model.

    Args:
        spec: a `ResNetSpec`, its dict (from `get_config`) or a name of
            `list_models()`.
        mean: with a training mean, the model takes raw 0-255 pixels and its
            first layer, "preprocessing", subtracts this mean and scales by
            1/255; its shape, (H, W, C) or (C,), becomes `mean_shape`.
        name: model name; default the spec's.
        **kwargs: the fields of `ModelOptions` (include_top, input_shape,
            pooling, classes, classifier_activation, shortcut, stride_in_1x1,
            ...; `keras_resnet.options_table()` documents them), then
            `keras.Model`'s own keyword arguments.

    Attributes:
        spec: the `ResNetSpec`.
        options: the resolved `ModelOptions`.
        feature_info: a `FeatureInfo` per stage.
        identity: the architecture facts stored in weights files.

    Raises:
        ValueError: an option outside its valid values for the spec.
    """

    def __init__(self, spec: Union[ResNetSpec, dict, str], *, mean=None, name: Optional[str] = None, **kwargs: Any):
        spec = _as_spec(spec)
        options, model_kwargs = split_options(kwargs)
        options = _resolve(spec, options, mean)
        with _deep_recursion(spec):
            inputs = layers.Input(shape=options.input_shape, name=INPUT)
            outputs, features = _assemble(inputs, spec, options, mean)
            super().__init__(inputs, outputs, name=name or spec.name + ("_backbone" if options.features_only else ""),
                             **model_kwargs)
        if options.dtype is not None:  # Functional ignores a dtype argument
            self.dtype_policy = options.dtype
        self.spec = spec
        self.options = options
        self.feature_info = features
        self.identity = options.identity(spec)

    def get_config(self) -> dict:
        config = {"spec": saved_specs.spec_config(self.spec), "name": self.name, "trainable": self.trainable}
        config.update(self.options.config())
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
    if isinstance(spec, dict):  # from a file (a .keras model's config): bounded before anything is built
        return saved_specs.spec_from_config(spec)
    raise ValueError(f"spec must be a ResNetSpec, its dict or a model name. Received: spec={spec!r}")


def over_tensor(spec: ResNetSpec, input_tensor, options: ModelOptions, mean=None,
                name: Optional[str] = None) -> keras.Model:
    """The network over a user's tensor (keras.applications' `input_tensor`): a plain functional model.

    Raises:
        ValueError: an option outside its valid values for the spec.
    """
    if not keras.backend.is_keras_tensor(input_tensor):
        shape = options.input_shape or tuple(input_tensor.shape[1:])
        input_tensor = layers.Input(tensor=input_tensor, shape=tuple(shape), name=INPUT)
    if options.input_shape is None:
        options = dataclasses.replace(options, input_shape=tuple(input_tensor.shape[1:]))
    options = _resolve(spec, options, mean)
    with _deep_recursion(spec):
        outputs, features = _assemble(input_tensor, spec, options, mean)
        model = keras.Model(keras.utils.get_source_inputs(input_tensor), outputs, name=name or spec.name)
    if options.dtype is not None:
        model.dtype_policy = options.dtype
    model.feature_info = features
    model.identity = options.identity(spec)
    return model


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
