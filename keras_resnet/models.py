"""Builders: blocks, shortcuts and the network, as small functions.

Layer names follow keras.applications (`conv2_block1_1_conv`, `predictions`)
and are the contract for saved and imported weights. Every layer is a stock
Keras layer or one of `keras_resnet.layers`, and only `keras.ops` runs inside
the graph, so the models build on the TensorFlow, JAX and PyTorch backends.
"""

from __future__ import annotations

import contextlib
import os
import sys
from typing import Any, Callable, Optional, Sequence, Union

import keras
import numpy as np
from keras import layers

from keras_resnet import specs as specs_lib
from keras_resnet.layers import MeanSubtraction, ZeroPadShortcut
from keras_resnet.specs import BOTTLENECK, ResNetSpec

BN_MOMENTUM = 0.9  # torchvision's 0.1 in Keras's convention
BN_EPSILON = 1e-5
POOLINGS = (None, "avg", "max")

# Keras walks a functional graph recursively (build, save, load, clone); a
# CIFAR net of depth 1202 has ~4,200 layers and needs several frames each.
_FRAMES_PER_LAYER = 12


@contextlib.contextmanager
def deep_recursion(num_layers: int):
    """Raise Python's recursion limit for graphs of `num_layers` layers."""
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(max(old, 2_000 + _FRAMES_PER_LAYER * num_layers))
    try:
        yield
    finally:
        sys.setrecursionlimit(old)


def _approx_layers(spec: ResNetSpec) -> int:
    per_block = 12 if spec.block == BOTTLENECK else 9
    return 16 + per_block * sum(stage.blocks for stage in spec.stages)


# ---------------------------------------------------------------- blocks


def conv_bn(
    x,
    filters: int,
    kernel_size: int,
    strides: int,
    name: str,
    activation: bool = True,
    zero_gamma: bool = False,
    synchronized: bool = False,
):
    """Conv (no bias) -> BN [-> ReLU], named `{name}_conv/_bn/_relu`.

    `synchronized` makes BN average its statistics over all replicas of a
    tf.distribute strategy (sync BN).
    """
    padding = "same"
    if strides > 1 and kernel_size > 1:
        # Symmetric padding as in the paper's Caffe/torchvision nets; TF's
        # "same" pads only bottom/right for stride 2, which would shift
        # every imported weight by a pixel.
        x = layers.ZeroPadding2D(kernel_size // 2, name=f"{name}_pad")(x)
        padding = "valid"
    x = layers.Conv2D(
        filters,
        kernel_size,
        strides=strides,
        padding=padding,
        use_bias=False,
        kernel_initializer="he_normal",
        name=f"{name}_conv",
    )(x)
    x = layers.BatchNormalization(
        axis=-1,
        momentum=BN_MOMENTUM,
        epsilon=BN_EPSILON,
        gamma_initializer="zeros" if zero_gamma else "ones",
        synchronized=synchronized,
        name=f"{name}_bn",
    )(x)
    if activation:
        x = layers.ReLU(name=f"{name}_relu")(x)
    return x


def shortcut(x, filters: int, strides: int, option: str, name: str, synchronized: bool = False):
    """The shortcut branch of a block (paper section 3.3).

    Option A: identity, or subsample + zero-pad where the shape changes.
    Option B: a 1x1 projection where the shape changes, identity elsewhere.
    Option C: a 1x1 projection on every block.
    """
    changes = strides != 1 or x.shape[-1] != filters
    if option == "C" or (option == "B" and changes):
        return conv_bn(x, filters, 1, strides, f"{name}_0", activation=False,
                       synchronized=synchronized)
    if changes:
        return ZeroPadShortcut(filters, strides, name=f"{name}_0_pad")(x)
    return x


def basic_block(x, filters: int, strides: int, name: str, options: dict):
    """Two 3x3 convs; output channels = filters."""
    sync = options["synchronized_bn"]
    y = conv_bn(x, filters, 3, strides, f"{name}_1", synchronized=sync)
    y = conv_bn(
        y, filters, 3, 1, f"{name}_2", activation=False,
        zero_gamma=options["zero_init_residual"], synchronized=sync,
    )
    return _merge(x, y, filters, strides, name, options)


def bottleneck_block(x, filters: int, strides: int, name: str, options: dict):
    """1x1 reduce, 3x3, 1x1 expand; output channels = 4 * filters."""
    # Both the 1x1 (Caffe, keras.applications) and the 3x3 (torchvision,
    # "v1.5") placements of the stride are in use by published weights.
    stride_1x1, stride_3x3 = (strides, 1) if options["stride_in_1x1"] else (1, strides)
    sync = options["synchronized_bn"]
    y = conv_bn(x, filters, 1, stride_1x1, f"{name}_1", synchronized=sync)
    y = conv_bn(y, filters, 3, stride_3x3, f"{name}_2", synchronized=sync)
    y = conv_bn(
        y, 4 * filters, 1, 1, f"{name}_3", activation=False,
        zero_gamma=options["zero_init_residual"], synchronized=sync,
    )
    return _merge(x, y, 4 * filters, strides, name, options)


def _merge(x, y, filters: int, strides: int, name: str, options: dict):
    if options["residual"]:
        s = shortcut(x, filters, strides, options["shortcut"], name, options["synchronized_bn"])
        y = layers.Add(name=f"{name}_add")([s, y])
    return layers.ReLU(name=f"{name}_out")(y)


BLOCKS: dict = {specs_lib.BASIC: basic_block, BOTTLENECK: bottleneck_block}


def stem(x, spec: ResNetSpec, filters: int, synchronized: bool = False):
    """conv1 (and pool1 for the ImageNet nets)."""
    if spec.family == "imagenet":
        x = conv_bn(x, filters, 7, 2, "conv1", synchronized=synchronized)
        x = layers.ZeroPadding2D(1, name="pool1_pad")(x)
        # Zero padding equals -inf padding here: the input is post-ReLU.
        return layers.MaxPooling2D(3, strides=2, name="pool1_pool")(x)
    return conv_bn(x, filters, 3, 1, "conv1", synchronized=synchronized)


def stage_output_names(model_or_spec: Union[keras.Model, ResNetSpec]) -> dict:
    """Layer names of every stage's output, keyed C2, C3, ...

    Args:
        model_or_spec: a model built by this package, or its spec.

    Returns:
        {"C2": "conv2_block3_out", ...}, one entry per stage.
    """
    if isinstance(model_or_spec, ResNetSpec):
        return {
            f"C{i + 2}": f"conv{i + 2}_block{stage.blocks}_out"
            for i, stage in enumerate(model_or_spec.stages)
        }
    names = {}
    for layer in model_or_spec.layers:
        parts = layer.name.split("_")
        if len(parts) == 3 and parts[0].startswith("conv") and parts[2] == "out":
            names[f"C{parts[0][4:]}"] = layer.name  # later blocks overwrite
    if not names:
        raise ValueError(
            f"Model {model_or_spec.name!r} has no keras_resnet stage outputs "
            "(layers named conv<k>_block<j>_out)."
        )
    return names


# ---------------------------------------------------------------- builder


def _validate(spec, include_top, weights, input_shape, pooling, classes, shortcut_opt,
              width_multiplier):
    if keras.config.image_data_format() != "channels_last":
        raise ValueError(
            "keras_resnet models are channels_last (TensorFlow on CPU supports no "
            "other). Received: keras.config.image_data_format()="
            f"{keras.config.image_data_format()!r}"
        )
    if pooling not in POOLINGS:
        raise ValueError(
            f"pooling must be one of None, 'avg', 'max'. Received: pooling={pooling!r}"
        )
    if include_top and (not isinstance(classes, int) or isinstance(classes, bool)
                        or classes < 1):
        raise ValueError(
            f"classes must be an integer >= 1 when include_top=True. Received: classes={classes!r}"
        )
    if shortcut_opt not in specs_lib.SHORTCUT_OPTIONS:
        raise ValueError(
            f"Unknown shortcut option; valid: 'A', 'B', 'C'. Received: shortcut={shortcut_opt!r}"
        )
    if not (isinstance(width_multiplier, (int, float)) and width_multiplier > 0):
        raise ValueError(
            f"width_multiplier must be a number > 0. Received: width_multiplier={width_multiplier!r}"
        )
    if weights is not None and weights != "imagenet" and not isinstance(weights, (str, os.PathLike)):
        raise ValueError(
            "weights must be None, 'imagenet' or the path of a .weights.h5 file. "
            f"Received: weights={weights!r}"
        )
    if input_shape is not None:
        shape = tuple(input_shape)
        if len(shape) != 3:
            raise ValueError(
                "input_shape must be (height, width, channels). "
                f"Received: input_shape={input_shape}"
            )
        if not (isinstance(shape[2], int) and shape[2] >= 1):
            raise ValueError(
                f"input_shape needs a known channel count >= 1. Received: input_shape={input_shape}"
            )
        for side in shape[:2]:
            if side is not None and side < spec.min_size:
                raise ValueError(
                    f"{spec.name} needs inputs of at least {spec.min_size}x{spec.min_size} "
                    f"pixels (total stride {spec.min_size}). Received: input_shape={input_shape}"
                )


def build_resnet(
    spec: ResNetSpec,
    *,
    include_top: bool = True,
    weights: Optional[str] = None,
    input_tensor=None,
    input_shape: Optional[Sequence[Optional[int]]] = None,
    pooling: Optional[str] = None,
    classes: Optional[int] = None,
    classifier_activation: Union[str, Callable, None] = "softmax",
    name: Optional[str] = None,
    shortcut: Optional[str] = None,
    stride_in_1x1: bool = False,
    zero_init_residual: bool = False,
    width_multiplier: float = 1.0,
    synchronized_bn: bool = False,
    mean=None,
) -> keras.Model:
    """Build the Keras functional model of `spec`.

    Args:
        spec: the architecture (see `keras_resnet.specs`).
        include_top: add global average pooling and the dense classifier.
        weights: None, or the path of a `.weights.h5` file saved from a
            keras_resnet model of the same architecture. "imagenet" is
            reserved for published weights, which cannot be imported yet.
        input_tensor: optional Keras tensor to use as the input.
        input_shape: (height, width, channels); defaults to the spec's input
            with the top and to (None, None, 3) without it.
        pooling: without the top, None (the last feature map), "avg" or "max".
        classes: classes of the top; defaults to the spec's (1000 ImageNet,
            10 CIFAR).
        classifier_activation: activation of the top, e.g. "softmax" or None.
        name: model name; defaults to the spec's name.
        shortcut: "A", "B" or "C"; defaults to the spec's (A for CIFAR, B for
            ImageNet). Ignored by plain nets, which have no shortcuts.
        stride_in_1x1: in bottleneck blocks put the stride on the first 1x1
            conv (Caffe, keras.applications) instead of the 3x3 (torchvision).
        zero_init_residual: start the last BN gamma of every residual branch
            at zero, so each block starts as the identity.
        width_multiplier: scale every conv's filters (Wide ResNets).
        synchronized_bn: batch statistics over all replicas of a
            tf.distribute strategy.
        mean: per-pixel (H, W, C) or per-channel (C,) mean. When given, the
            model takes raw 0-255 pixels and its first layer, "preprocessing",
            subtracts the mean and scales by 1/255 (the paper's
            normalisation, inside the model so that serving matches training).

    Returns:
        A `keras.Model`.

    Raises:
        ValueError: an argument is outside its valid values, or the weights
            file does not fit the model.
    """
    classes = spec.classes if classes is None else classes
    shortcut_opt = (shortcut or spec.shortcut)
    shortcut_opt = shortcut_opt.upper() if isinstance(shortcut_opt, str) else shortcut_opt
    _validate(spec, include_top, weights, input_shape, pooling, classes, shortcut_opt,
              width_multiplier)
    if weights == "imagenet":
        raise ValueError(
            "weights='imagenet' is not available: keras_resnet does not yet import "
            "published weights, and none can be downloaded here. Use weights=None, or "
            "the path of a .weights.h5 file saved from a keras_resnet model."
        )
    if weights is not None and not os.path.isfile(weights):
        raise ValueError(f"Weights file not found. Received: weights={weights!r}")

    if input_shape is None:
        input_shape = spec.input_shape if include_top else (None, None, spec.input_shape[2])
    if input_tensor is None:
        inputs = layers.Input(shape=tuple(input_shape), name="input")
    elif keras.backend.is_keras_tensor(input_tensor):
        inputs = input_tensor
    else:
        inputs = layers.Input(tensor=input_tensor, shape=tuple(input_shape), name="input")

    def widen(filters: int) -> int:
        return max(1, int(round(filters * width_multiplier)))

    options = dict(
        residual=spec.residual,
        shortcut=shortcut_opt,
        stride_in_1x1=bool(stride_in_1x1),
        zero_init_residual=bool(zero_init_residual),
        synchronized_bn=bool(synchronized_bn),
    )
    block_fn = BLOCKS[spec.block]
    with deep_recursion(_approx_layers(spec)):
        x = inputs
        if mean is not None:
            x = MeanSubtraction(np.shape(mean), mean=mean, name="preprocessing")(x)
        x = stem(x, spec, widen(spec.stem_filters), options["synchronized_bn"])
        for i, stage in enumerate(spec.stages):
            for j in range(stage.blocks):
                x = block_fn(
                    x,
                    widen(stage.filters),
                    stage.stride if j == 0 else 1,
                    f"conv{i + 2}_block{j + 1}",
                    options,
                )
        if include_top:
            x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
            # Keep the softmax in float32 under mixed precision.
            head_dtype = "float32" if keras.config.dtype_policy().name.startswith("mixed") else None
            x = layers.Dense(
                classes,
                activation=classifier_activation,
                dtype=head_dtype,
                name="predictions",
            )(x)
        elif pooling == "avg":
            x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
        elif pooling == "max":
            x = layers.GlobalMaxPooling2D(name="max_pool")(x)

        model_inputs = (
            keras.utils.get_source_inputs(input_tensor) if input_tensor is not None else inputs
        )
        model = keras.Model(model_inputs, x, name=name or spec.name)
        if weights is not None:
            load_weights(model, weights)
    return model


def load_weights(model: keras.Model, path: str) -> None:
    """Load a `.weights.h5` file into `model`, checking that it fits first.

    Args:
        model: a keras_resnet model.
        path: a `.weights.h5` file saved with `model.save_weights`.

    Raises:
        ValueError: the file is of another format, has another classifier
            head, or does not fit the architecture.
    """
    path = os.fspath(path)
    if not path.endswith(".weights.h5"):
        raise ValueError(
            "weights must be a '.weights.h5' file written by model.save_weights(). "
            f"Received: weights={path!r}"
        )
    saved = _saved_head(path)
    if saved is not None:
        try:
            head = model.get_layer("predictions")
        except ValueError:
            head = None
        if head is not None and tuple(head.kernel.shape) != saved:
            raise ValueError(
                f"The weights file's classifier has kernel shape {saved} "
                f"({saved[-1]} classes) but the model's has {tuple(head.kernel.shape)} "
                f"({head.kernel.shape[-1]} classes): pass classes={saved[-1]}, or "
                f"include_top=False. Received: weights={path!r}"
            )
    try:
        model.load_weights(path)
    except Exception as error:  # Keras raises several types for a mismatch
        raise ValueError(
            f"The weights file does not fit {model.name!r} (built with these "
            f"arguments): {error}. Received: weights={path!r}"
        ) from error


def _saved_head(path: str) -> Optional[tuple]:
    """Kernel shape of the classifier stored in a .weights.h5 file."""
    import h5py

    # Keras 3 keys weights by layer class and order, not by layer name; the
    # classifier is the only Dense layer of every keras_resnet model.
    with h5py.File(path, "r") as f:
        group = f.get("layers/dense/vars")
        if group is None or "0" not in group:
            return None
        return tuple(group["0"].shape)


# ---------------------------------------------------------------- public API

_OPTION_NAMES = (
    "shortcut", "stride_in_1x1", "zero_init_residual", "width_multiplier", "synchronized_bn", "mean",
)


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
    valid = set(_OPTION_NAMES) | {
        "include_top", "weights", "input_tensor", "input_shape", "pooling", "classes",
        "classifier_activation", "name",
    }
    unknown = sorted(set(kwargs) - valid)
    if unknown:
        raise ValueError(
            f"Unknown argument(s) {unknown}; valid: {sorted(valid)}. "
            f"Received: {', '.join(f'{k}={kwargs[k]!r}' for k in unknown)}"
        )
    return build_resnet(spec, **kwargs)


def build_backbone(name: str, /, depth: Optional[int] = None, **kwargs: Any) -> keras.Model:
    """A feature extractor returning every stage's output, for detection.

    Args:
        name, depth: as for `build`.
        **kwargs: as for `build`, except include_top and pooling.

    Returns:
        A model whose output is a dict {"C2": ..., "C5": ...} (C2..C4 for the
        CIFAR nets) of the last feature map of each stage.
    """
    for key in ("include_top", "pooling"):
        if key in kwargs:
            raise ValueError(f"build_backbone takes no {key}. Received: {key}={kwargs[key]!r}")
    model = build(name, depth, include_top=False, **kwargs)
    with deep_recursion(len(model.layers)):
        outputs = {
            key: model.get_layer(layer).output
            for key, layer in stage_output_names(model).items()
        }
        return keras.Model(model.inputs, outputs, name=f"{model.name}_backbone")


def load_model(path: str, **kwargs: Any) -> keras.Model:
    """`keras.saving.load_model` with room for the deepest nets' recursion."""
    with deep_recursion(20_000):
        return keras.saving.load_model(path, **kwargs)


def _application(model_name: str) -> Callable[..., keras.Model]:
    spec = specs_lib.MODEL_SPECS[model_name]

    def application(
        include_top: bool = True,
        weights: Optional[str] = None,
        input_tensor=None,
        input_shape: Optional[Sequence[Optional[int]]] = None,
        pooling: Optional[str] = None,
        classes: Optional[int] = None,
        classifier_activation: Union[str, Callable, None] = "softmax",
        name: Optional[str] = None,
        **options: Any,
    ) -> keras.Model:
        return build(
            model_name,
            include_top=include_top,
            weights=weights,
            input_tensor=input_tensor,
            input_shape=input_shape,
            pooling=pooling,
            classes=classes,
            classifier_activation=classifier_activation,
            name=name,
            **options,
        )

    kind = "ResNet" if spec.residual else "plain (no-shortcut) net"
    default_input = "x".join(str(s) for s in spec.input_shape[:2])
    application.__doc__ = (
        f"{kind} of depth {spec.depth} ({spec.family}, {spec.block} blocks, "
        f"blocks per stage {[s.blocks for s in spec.stages]}).\n\n"
        f"Defaults: input {default_input}, {spec.classes} classes"
        + (f", shortcut option {spec.shortcut}" if spec.residual else "")
        + ".\nArguments as `keras.applications`; options (shortcut, stride_in_1x1, "
        "zero_init_residual, width_multiplier) as `keras_resnet.build_resnet`."
    )
    return application


def _camel(model_name: str) -> str:
    spec = specs_lib.MODEL_SPECS[model_name]
    return f"{'ResNet' if spec.residual else 'PlainNet'}{spec.depth}"


APPLICATIONS = {}
for _model_name in specs_lib.MODEL_SPECS:
    _fn = _application(_model_name)
    _fn.__name__ = _fn.__qualname__ = _camel(_model_name)
    APPLICATIONS[_fn.__name__] = _fn
del _model_name, _fn

ResNet18 = APPLICATIONS["ResNet18"]
ResNet34 = APPLICATIONS["ResNet34"]
ResNet50 = APPLICATIONS["ResNet50"]
ResNet101 = APPLICATIONS["ResNet101"]
ResNet152 = APPLICATIONS["ResNet152"]
ResNet20 = APPLICATIONS["ResNet20"]
ResNet32 = APPLICATIONS["ResNet32"]
ResNet44 = APPLICATIONS["ResNet44"]
ResNet56 = APPLICATIONS["ResNet56"]
ResNet110 = APPLICATIONS["ResNet110"]
ResNet1202 = APPLICATIONS["ResNet1202"]
PlainNet18 = APPLICATIONS["PlainNet18"]
PlainNet34 = APPLICATIONS["PlainNet34"]
PlainNet50 = APPLICATIONS["PlainNet50"]
PlainNet101 = APPLICATIONS["PlainNet101"]
PlainNet152 = APPLICATIONS["PlainNet152"]
PlainNet20 = APPLICATIONS["PlainNet20"]
PlainNet32 = APPLICATIONS["PlainNet32"]
PlainNet44 = APPLICATIONS["PlainNet44"]
PlainNet56 = APPLICATIONS["PlainNet56"]
PlainNet110 = APPLICATIONS["PlainNet110"]
PlainNet1202 = APPLICATIONS["PlainNet1202"]
