"""A model's options, written once: the frozen dataclass `ModelOptions`.

The builder takes it (`ResNet(spec, **options)`), `ResNet.get_config`
stores its fields, `build` and the applications accept its fields by name,
the blocks get their `BlockOptions` from it, the weights files record its
`identity`, and the documented table is `options_table()`. A new option is
one field here, with its help, and the place in the builder that uses it.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any, Callable, Optional, Tuple, Union

from keras_resnet.arch import specs as specs_lib
from keras_resnet.arch.blocks import BlockOptions
from keras_resnet.arch.layers import DATA_FORMATS, NORMALIZATIONS
from keras_resnet.arch.specs import ResNetSpec

POOLINGS = (None, "avg", "max")


def _option(default, help: str, default_text: Optional[str] = None):
    """A field with its documentation: what it does and, when the spec or Keras sets it, where its default is from."""
    return dataclasses.field(default=default, metadata=dict(help=help, default_text=default_text))


@dataclasses.dataclass(frozen=True)
class ModelOptions:
    """How a network of the table is built; `resolve` fills the spec's defaults and checks every value.

    The fields are `ResNet`'s keyword arguments and its `get_config()`;
    `options_table()` documents them.
    """

    include_top: bool = _option(True, "global average pooling and the dense classifier, `predictions`")
    input_shape: Optional[Tuple[Optional[int], ...]] = _option(
        None, "(height, width, channels), or (channels, height, width) for channels_first",
        "the spec's with the top, any size without it")
    pooling: Optional[str] = _option(None, "without the top: `None` (the last feature map), `\"avg\"` or `\"max\"`")
    classes: Optional[int] = _option(None, "classes of the top", "the spec's (1000 or 10)")
    classifier_activation: Union[str, Callable, None] = _option(
        "softmax", "activation of the top, e.g. `\"softmax\"` or `None` for logits")
    shortcut: Optional[str] = _option(
        None, "`\"A\"` zero-pad + subsample (no parameters), `\"B\"` projection where the shape changes, `\"C\"` "
        "projection everywhere; plain nets have none", "A for CIFAR nets, B for ImageNet nets")
    stride_in_1x1: bool = _option(False, "put a bottleneck's stride on its first 1x1 (Caffe, keras.applications) "
                                  "instead of the 3x3 (torchvision \"v1.5\")")
    zero_init_residual: bool = _option(False, "start the last BN gamma of each residual branch at 0")
    width_multiplier: float = _option(1.0, "scale every conv's filters (Wide ResNets)")
    synchronized_bn: bool = _option(False, "batch statistics over all replicas of a `tf.distribute` strategy")
    mean_shape: Optional[Tuple[int, ...]] = _option(
        None, "a first layer, `preprocessing`, that subtracts a mean of this shape, (H, W, C) or (C,), and scales by "
        "1/255: the model takes raw 0-255 pixels (`mean=` gives its value and sets it)", "none")
    preprocessing: Optional[str] = _option(
        None, "a first layer, `preprocessing`, applying a published checkpoint's normalisation to raw 0-255 RGB "
        "pixels: `\"torchvision\"` (mean/std, also timm's), `\"caffe\"` (BGR, mean subtraction: "
        "keras.applications' v1 weights) or `\"tf\"` (x / 127.5 - 1: its v2 weights)", "set by `weights`")
    features_only: bool = _option(False, "output `{\"C2\": ..., \"C5\": ...}`, each stage's last feature map "
                                  "(`build_backbone`)")
    dtype: Optional[str] = _option(None, "a Keras dtype policy given to every layer (`\"mixed_bfloat16\"`, ...); "
                                   "the classifier stays float32", "Keras's global policy")
    data_format: Optional[str] = _option(None, "`\"channels_last\"` or `\"channels_first\"`; layer names and weight "
                                         "shapes are the same in both", "`keras.config.image_data_format()`")
    drop_path_rate: float = _option(
        0.0, "stochastic depth (Huang et al. 2016): while training, the last block's residual branch is dropped "
        "per sample with this probability and block l of L with l/L of it (their p_L = 0.5 is `0.5`); a "
        "`DropPath` layer per block, the identity at inference, left out of exports (`inference_copy`); "
        "ResNets only")
    dropout_rate: float = _option(0.0, "dropout between the two convs of every basic block while training (Wide "
                                  "ResNets' 0.3), left out of exports; basic-block nets only")

    def resolve(self, spec: ResNetSpec, mean: Any = None, default_data_format: str = "channels_last") -> "ModelOptions":
        """These options with the spec's defaults filled in, every value checked.

        Args:
            spec: the network.
            mean: a training mean's value; its shape becomes `mean_shape`.
            default_data_format: the layout when `data_format` is None
                (the builder passes `keras.config.image_data_format()`).

        Returns:
            A `ModelOptions` with no default left to resolve (dtype as a policy name).

        Raises:
            ValueError: an option outside its valid values for `spec`, named with what is valid.
        """
        data_format = self.data_format or default_data_format
        first = data_format == "channels_first"
        input_shape = self.input_shape
        if input_shape is None:
            top = self.include_top and not self.features_only
            height, width, channels = spec.input_shape if top else (None, None, spec.input_shape[2])
            input_shape = (channels, height, width) if first else (height, width, channels)
        shortcut = self.shortcut or spec.shortcut
        mean_shape = self.mean_shape
        if mean is not None:
            mean_shape = _shape_of(mean)
        resolved = dataclasses.replace(
            self, data_format=data_format, shortcut=shortcut.upper() if isinstance(shortcut, str) else shortcut,
            classes=spec.classes if self.classes is None else self.classes,
            input_shape=tuple(input_shape) if isinstance(input_shape, (tuple, list)) else input_shape,
            mean_shape=None if mean_shape is None else tuple(int(d) for d in mean_shape))
        resolved._check(spec)
        return dataclasses.replace(
            resolved, include_top=bool(self.include_top), stride_in_1x1=bool(self.stride_in_1x1),
            zero_init_residual=bool(self.zero_init_residual), synchronized_bn=bool(self.synchronized_bn),
            features_only=bool(self.features_only), width_multiplier=float(self.width_multiplier),
            drop_path_rate=float(self.drop_path_rate), dropout_rate=float(self.dropout_rate),
            dtype=None if self.dtype is None else _policy_name(self.dtype))

    def _check(self, spec: ResNetSpec) -> None:
        if self.data_format not in DATA_FORMATS:
            raise ValueError(f"data_format must be one of {DATA_FORMATS}. Received: data_format={self.data_format!r}")
        if self.pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of None, 'avg', 'max'. Received: pooling={self.pooling!r}")
        classes = self.classes
        if self.include_top and (not isinstance(classes, int) or isinstance(classes, bool) or classes < 1):
            raise ValueError(f"classes must be an integer >= 1 when include_top=True. Received: classes={classes!r}")
        if self.shortcut not in specs_lib.SHORTCUT_OPTIONS:
            raise ValueError(f"Unknown shortcut option; valid: 'A', 'B', 'C'. Received: shortcut={self.shortcut!r}")
        width = self.width_multiplier
        if not (isinstance(width, (int, float)) and width > 0):
            raise ValueError(f"width_multiplier must be a number > 0. Received: width_multiplier={width!r}")
        narrowest = max(1, int(round(spec.stages[0].filters * width)))
        if spec.block == specs_lib.BOTTLENECK and int(narrowest * spec.width_per_group / 64) < 1:
            raise ValueError(f"width_multiplier={width} leaves {spec.name}'s first 3x3 conv less than one "
                             f"channel per group ({spec.width_per_group} per group at width 1.0); use at least "
                             f"{64 / spec.width_per_group / spec.stages[0].filters:.4g}.")
        self._check_input_shape(spec)
        self._check_preprocessing()
        self._check_regularisation(spec)

    def _check_input_shape(self, spec: ResNetSpec) -> None:
        shape, first = self.input_shape, self.data_format == "channels_first"
        layout = "(channels, height, width)" if first else "(height, width, channels)"
        if len(shape) != 3:
            raise ValueError(f"input_shape must be {layout} ({self.data_format}). Received: input_shape={shape}")
        channels, sides = (shape[0], shape[1:]) if first else (shape[2], shape[:2])
        if not (isinstance(channels, int) and channels >= 1):
            raise ValueError(f"input_shape {layout} needs a known channel count >= 1. Received: input_shape={shape}")
        for side in sides:
            if side is not None and side < spec.min_size:
                raise ValueError(f"{spec.name} needs inputs of at least {spec.min_size}x{spec.min_size} pixels "
                                 f"(total stride {spec.min_size}). Received: input_shape={shape}")

    def _check_preprocessing(self) -> None:
        if self.preprocessing is None:
            return
        if self.preprocessing not in NORMALIZATIONS:
            raise ValueError(f"preprocessing must be None or one of {sorted(NORMALIZATIONS)}. "
                             f"Received: preprocessing={self.preprocessing!r}")
        if self.mean_shape is not None:
            raise ValueError("Give either a training mean (mean/mean_shape) or a checkpoint's preprocessing, "
                             f"not both. Received: preprocessing={self.preprocessing!r}, "
                             f"mean_shape={list(self.mean_shape)}")
        if self.input_shape[0 if self.data_format == "channels_first" else -1] != 3:
            raise ValueError(f"preprocessing={self.preprocessing!r} normalises RGB images: input_shape needs 3 "
                             f"channels. Received: input_shape={self.input_shape}")

    def _check_regularisation(self, spec: ResNetSpec) -> None:
        rate = self.drop_path_rate
        if not (isinstance(rate, (int, float)) and 0 <= rate < 1):
            raise ValueError(f"drop_path_rate must be a number in [0, 1). Received: drop_path_rate={rate!r}")
        if rate and not spec.residual:
            raise ValueError(f"drop_path_rate drops residual branches; {spec.name} is a plain net, which has none. "
                             f"Received: drop_path_rate={rate}")
        rate = self.dropout_rate
        if not (isinstance(rate, (int, float)) and 0 <= rate < 1):
            raise ValueError(f"dropout_rate must be a number in [0, 1). Received: dropout_rate={rate!r}")
        if rate and spec.block != specs_lib.BASIC:
            raise ValueError(f"dropout_rate drops units between a basic block's two convs (Wide ResNets); "
                             f"{spec.name} has {spec.block} blocks. Received: dropout_rate={rate}")

    def block_options(self, spec: ResNetSpec) -> BlockOptions:
        """What every block of `spec` needs of these (resolved) options."""
        return BlockOptions(
            residual=spec.residual, shortcut=self.shortcut, stride_in_1x1=self.stride_in_1x1,
            zero_init_residual=self.zero_init_residual, synchronized_bn=self.synchronized_bn, dtype=self.dtype,
            data_format=self.data_format, groups=spec.groups, width_per_group=spec.width_per_group,
            avg_down=spec.avg_down, se_ratio=spec.se_ratio, drop_path_rate=self.drop_path_rate,
            preact=spec.preact, conv_bias=spec.conv_bias, dropout_rate=self.dropout_rate)

    def config(self) -> dict:
        """The fields as `get_config` stores them (JSON types)."""
        values = {field.name: getattr(self, field.name) for field in dataclasses.fields(self)}
        for name in ("input_shape", "mean_shape"):
            if values[name] is not None:
                values[name] = list(values[name])
        return values

    def identity(self, spec: ResNetSpec) -> str:
        """The architecture facts the weights' shapes do not show, as the JSON stored in weights files.

        `keras_resnet.weights.h5_files` compares them key by key before loading.
        """
        return json.dumps({
            "model": spec.name,
            "residual": spec.residual,
            "block": spec.block,
            "blocks": [stage.blocks for stage in spec.stages],
            "shortcut": self.shortcut if spec.residual else None,
            "stride_in_1x1": self.stride_in_1x1 if spec.block == specs_lib.BOTTLENECK else None,
            "width_multiplier": self.width_multiplier,
            "channels": self.input_shape[0 if self.data_format == "channels_first" else -1],
            "mean_shape": None if self.mean_shape is None else list(self.mean_shape),
            "preprocessing": self.preprocessing,
        }, sort_keys=True)


OPTION_NAMES = tuple(field.name for field in dataclasses.fields(ModelOptions))


def split_options(kwargs: dict) -> tuple:
    """(`ModelOptions` of the option keywords in `kwargs`, the other keywords)."""
    options = {key: value for key, value in kwargs.items() if key in OPTION_NAMES}
    rest = {key: value for key, value in kwargs.items() if key not in OPTION_NAMES}
    if isinstance(options.get("input_shape"), list):
        options["input_shape"] = tuple(options["input_shape"])
    if isinstance(options.get("mean_shape"), list):
        options["mean_shape"] = tuple(options["mean_shape"])
    return ModelOptions(**options), rest


def options_table() -> str:
    """The documented table of the options: name, what it does, default (markdown)."""
    rows = ["| option | what it does | default |", "|---|---|---|"]
    for field in dataclasses.fields(ModelOptions):
        default = field.metadata["default_text"] or f"`{field.default!r}`"
        rows.append(f"| `{field.name}` | {field.metadata['help']} | {default} |")
    return "\n".join(rows)


def _shape_of(value) -> tuple:
    import numpy as np

    return tuple(np.shape(value))


def _policy_name(dtype: str) -> str:
    import keras

    return keras.dtype_policies.get(dtype).name
