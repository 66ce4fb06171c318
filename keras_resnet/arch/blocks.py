"""Blocks, shortcuts and the stem: small functions over Keras tensors.

Layer names follow keras.applications (`conv2_block1_1_conv`) and are the
contract for saved and imported weights. Every layer gets the options' dtype
policy, so a model owns its precision instead of reading a global policy.
"""

from __future__ import annotations

import dataclasses
from typing import Optional

from keras import layers

from keras_resnet.arch.layers import BatchNormalization, DropPath, NegInfPadding2D, ZeroPadShortcut
from keras_resnet.arch.specs import BASIC, BOTTLENECK, ResNetSpec

BN_MOMENTUM = 0.9  # torchvision's 0.1 in Keras's convention
BN_EPSILON = 1e-5


@dataclasses.dataclass(frozen=True)
class BlockOptions:
    """How every block of one network is built.

    Attributes:
        residual: False for the plain twin (same layers, no shortcuts).
        shortcut: "A", "B" or "C" (paper section 3.3).
        stride_in_1x1: in bottlenecks, the stride on the first 1x1 (Caffe,
            keras.applications) instead of the 3x3 (torchvision "v1.5").
        zero_init_residual: start the last BN gamma of each branch at zero.
        synchronized_bn: batch statistics over all replicas of a strategy.
        dtype: the Keras dtype policy of every layer (None: Keras's global).
        data_format: "channels_last" (NHWC) or "channels_first" (NCHW).
        groups: the spec's cardinality of each bottleneck's 3x3 conv.
        width_per_group: the spec's bottleneck width per group (64: ResNet).
        avg_down: the spec's ResNet-D projection (average pool, then a
            stride-1 1x1 conv).
        se_ratio: the spec's squeeze-and-excitation ratio (0: none).
        drop_path_rate: stochastic depth's drop probability of the last
            block, falling linearly to 0 at the input (Huang et al.: this is
            1 - p_L); 0 for none.
        preact: the spec's pre-activation ordering (v2).
        conv_bias: the spec's bias on convs that no BN follows.
        dropout_rate: dropout between a basic block's convs (Wide ResNet's
            0.3); 0 for none.
    """

    residual: bool = True
    shortcut: str = "B"
    stride_in_1x1: bool = False
    zero_init_residual: bool = False
    synchronized_bn: bool = False
    dtype: Optional[str] = None
    data_format: str = "channels_last"
    groups: int = 1
    width_per_group: int = 64
    avg_down: bool = False
    se_ratio: float = 0.0
    drop_path_rate: float = 0.0
    preact: bool = False
    conv_bias: bool = False
    dropout_rate: float = 0.0

    @property
    def channel_axis(self) -> int:
        return 1 if self.data_format == "channels_first" else -1


def conv(x, filters: int, kernel_size: int, strides: int, name: str, options: BlockOptions, groups: int = 1,
         use_bias: bool = False, zero_kernel: bool = False):
    """A conv named `{name}_conv`, padded symmetrically where it strides (`{name}_pad`)."""
    padding = "same"
    if strides > 1 and kernel_size > 1:
        # Symmetric padding as in the paper's Caffe/torchvision nets; TF's
        # "same" pads only bottom/right for stride 2, which would shift
        # every imported weight by a pixel.
        x = layers.ZeroPadding2D(kernel_size // 2, data_format=options.data_format, name=f"{name}_pad",
                                 dtype=options.dtype)(x)
        padding = "valid"
    return layers.Conv2D(filters, kernel_size, strides=strides, padding=padding, groups=groups, use_bias=use_bias,
                         data_format=options.data_format,
                         kernel_initializer="zeros" if zero_kernel else "he_normal", name=f"{name}_conv",
                         dtype=options.dtype)(x)


def bn_relu(x, name: str, options: BlockOptions, activation: bool = True, zero_gamma: bool = False):
    """BN [-> ReLU], named `{name}_bn/_relu`."""
    x = BatchNormalization(
        axis=options.channel_axis, momentum=BN_MOMENTUM, epsilon=BN_EPSILON,
        gamma_initializer="zeros" if zero_gamma else "ones",
        synchronized=options.synchronized_bn, name=f"{name}_bn", dtype=options.dtype)(x)
    if activation:
        x = layers.ReLU(name=f"{name}_relu", dtype=options.dtype)(x)
    return x


def conv_bn(x, filters: int, kernel_size: int, strides: int, name: str, options: BlockOptions,
            activation: bool = True, zero_gamma: bool = False, groups: int = 1):
    """Conv (no bias, `groups` groups) -> BN [-> ReLU], named `{name}_conv/_bn/_relu`."""
    x = conv(x, filters, kernel_size, strides, name, options, groups=groups)
    return bn_relu(x, name, options, activation=activation, zero_gamma=zero_gamma)


def shortcut(x, filters: int, strides: int, name: str, options: BlockOptions, project: bool = False):
    """The shortcut branch of a block.

    Option A: identity, or subsample + zero-pad where the shape changes.
    Option B: a 1x1 projection where the shape changes (or `project` says
    so: a spec's `project_first`), identity elsewhere.
    Option C: a 1x1 projection on every block.
    ResNet-D projections average-pool 2x2 where they stride (timm's
    ceil_mode, count_include_pad=False: Keras's "same") and project at stride 1.
    """
    changes = strides != 1 or x.shape[options.channel_axis] != filters
    if options.shortcut == "C" or (options.shortcut == "B" and (changes or project)):
        return bn_relu(_projection(x, filters, strides, name, options), f"{name}_0", options, activation=False)
    if changes:
        return ZeroPadShortcut(filters, strides, data_format=options.data_format, name=f"{name}_0_pad",
                               dtype=options.dtype)(x)
    return x


def _projection(x, filters: int, strides: int, name: str, options: BlockOptions):
    """A shortcut's 1x1 conv `{name}_0_conv`, after ResNet-D's 2x2 average pool where it strides."""
    if options.avg_down and strides > 1:
        x = layers.AveragePooling2D(strides, strides, padding="same", data_format=options.data_format,
                                    name=f"{name}_0_pool", dtype=options.dtype)(x)
        strides = 1
    # Only a pre-activation projection has no BN after it, hence a bias where the spec asks.
    return conv(x, filters, 1, strides, f"{name}_0", options, use_bias=options.conv_bias and options.preact)


def _branch_tail(y, name: str, options: BlockOptions, drop_rate: float):
    """Squeeze-and-excitation and drop-path on a residual branch, where the options ask for them."""
    if options.se_ratio:
        y = squeeze_excite(y, name, options)
    if drop_rate:
        y = DropPath(drop_rate, name=f"{name}_drop", dtype=options.dtype)(y)
    return y


def squeeze_excite(x, name: str, options: BlockOptions):
    """Scale each channel by a gate computed from all channels' means (Hu et al. 2018; timm's SEModule)."""
    channels = x.shape[options.channel_axis]
    v = channels * options.se_ratio
    reduced = max(8, int(v + 4) // 8 * 8)  # timm's make_divisible(v, 8, round_limit=0)
    s = layers.GlobalAveragePooling2D(data_format=options.data_format, keepdims=True, name=f"{name}_se_squeeze",
                                      dtype=options.dtype)(x)
    s = layers.Conv2D(reduced, 1, data_format=options.data_format, name=f"{name}_se_reduce",
                      dtype=options.dtype)(s)
    s = layers.ReLU(name=f"{name}_se_relu", dtype=options.dtype)(s)
    s = layers.Conv2D(channels, 1, activation="sigmoid", data_format=options.data_format, name=f"{name}_se_expand",
                      dtype=options.dtype)(s)
    return layers.Multiply(name=f"{name}_se_excite", dtype=options.dtype)([x, s])


def _merge(x, y, filters: int, strides: int, name: str, options: BlockOptions, drop_rate: float, project: bool):
    y = _branch_tail(y, name, options, drop_rate)
    if options.residual:
        y = layers.Add(name=f"{name}_add", dtype=options.dtype)(
            [shortcut(x, filters, strides, name, options, project), y])
    return layers.ReLU(name=f"{name}_out", dtype=options.dtype)(y)


def basic_block(x, filters: int, strides: int, name: str, options: BlockOptions, drop_rate: float = 0.0,
                project: bool = False):
    """Two 3x3 convs; output channels = filters. `drop_rate`: stochastic depth of the branch; `project`: a
    projection shortcut whatever the shape (option B)."""
    y = conv_bn(x, filters, 3, strides, f"{name}_1", options)
    if options.dropout_rate:
        y = layers.Dropout(options.dropout_rate, name=f"{name}_dropout", dtype=options.dtype)(y)
    y = conv_bn(y, filters, 3, 1, f"{name}_2", options, activation=False,
                zero_gamma=options.zero_init_residual)
    return _merge(x, y, filters, strides, name, options, drop_rate, project)


def bottleneck_block(x, filters: int, strides: int, name: str, options: BlockOptions, drop_rate: float = 0.0,
                     project: bool = False):
    """1x1 reduce, 3x3 (grouped for ResNeXt), 1x1 expand; output channels = 4 * filters."""
    # Both the 1x1 (Caffe, keras.applications) and the 3x3 (torchvision,
    # "v1.5") placements of the stride are in use by published weights.
    stride_1x1, stride_3x3 = (strides, 1) if options.stride_in_1x1 else (1, strides)
    width = int(filters * options.width_per_group / 64) * options.groups
    y = conv_bn(x, width, 1, stride_1x1, f"{name}_1", options)
    y = conv_bn(y, width, 3, stride_3x3, f"{name}_2", options, groups=options.groups)
    y = conv_bn(y, 4 * filters, 1, 1, f"{name}_3", options, activation=False,
                zero_gamma=options.zero_init_residual)
    return _merge(x, y, 4 * filters, strides, name, options, drop_rate, project)


def preact_shortcut(x, pre, filters: int, strides: int, name: str, options: BlockOptions, project: bool = False):
    """The shortcut of a pre-activation block: `x` the block's input, `pre` its BN-ReLU.

    Projections (where the channels change under option B, on every block
    under C) start from the shared pre-activation, as in He et al.'s code and
    keras.applications; where only the resolution changes (keras.applications'
    v2), B subsamples `x` with a 1x1 max pool, as keras does; option A
    subsamples and zero-pads `x`.
    """
    changes_channels = x.shape[options.channel_axis] != filters
    if options.shortcut == "C" or (options.shortcut == "B" and (changes_channels or project)):
        return _projection(pre, filters, strides, name, options)
    if options.shortcut == "A" and (changes_channels or strides > 1):
        return ZeroPadShortcut(filters, strides, data_format=options.data_format, name=f"{name}_0_pad",
                               dtype=options.dtype)(x)
    if strides > 1:
        return layers.MaxPooling2D(1, strides, data_format=options.data_format, name=f"{name}_0_subsample",
                                   dtype=options.dtype)(x)
    return x


def _preact_merge(x, pre, y, filters: int, strides: int, name: str, options: BlockOptions, drop_rate: float,
                  project: bool):
    y = _branch_tail(y, name, options, drop_rate)
    # keras.applications' v2 names the addition, a block's output, `_out`.
    return layers.Add(name=f"{name}_out", dtype=options.dtype)(
        [preact_shortcut(x, pre, filters, strides, name, options, project), y])


def preact_basic_block(x, filters: int, strides: int, name: str, options: BlockOptions, drop_rate: float = 0.0,
                       project: bool = False):
    """BN-ReLU-3x3 twice (He et al. 2016's v2; Wide ResNet's with dropout between); output channels = filters."""
    pre = bn_relu(x, f"{name}_preact", options)
    y = conv(pre, filters, 3, strides, f"{name}_1", options)
    y = bn_relu(y, f"{name}_1", options)
    if options.dropout_rate:
        y = layers.Dropout(options.dropout_rate, name=f"{name}_dropout", dtype=options.dtype)(y)
    y = conv(y, filters, 3, 1, f"{name}_2", options, use_bias=options.conv_bias,
             zero_kernel=options.zero_init_residual)
    return _preact_merge(x, pre, y, filters, strides, name, options, drop_rate, project)


def preact_bottleneck_block(x, filters: int, strides: int, name: str, options: BlockOptions,
                            drop_rate: float = 0.0, project: bool = False):
    """BN-ReLU before each of 1x1, 3x3 and 1x1 x4 (keras.applications' ResNet50V2 block); output 4 * filters."""
    stride_1x1, stride_3x3 = (strides, 1) if options.stride_in_1x1 else (1, strides)
    width = int(filters * options.width_per_group / 64) * options.groups
    pre = bn_relu(x, f"{name}_preact", options)
    y = conv(pre, width, 1, stride_1x1, f"{name}_1", options)
    y = bn_relu(y, f"{name}_1", options)
    y = conv(y, width, 3, stride_3x3, f"{name}_2", options, groups=options.groups)
    y = bn_relu(y, f"{name}_2", options)
    y = conv(y, 4 * filters, 1, 1, f"{name}_3", options, use_bias=options.conv_bias,
             zero_kernel=options.zero_init_residual)
    return _preact_merge(x, pre, y, 4 * filters, strides, name, options, drop_rate, project)


BLOCKS: dict = {BASIC: basic_block, BOTTLENECK: bottleneck_block}
PREACT_BLOCKS: dict = {BASIC: preact_basic_block, BOTTLENECK: preact_bottleneck_block}


def head_norm(x, options: BlockOptions):
    """A pre-activation net's final BN-ReLU, `post_bn`/`post_relu` as in keras.applications."""
    return bn_relu(x, "post", options)


def stem(x, spec: ResNetSpec, filters: int, options: BlockOptions):
    """conv1 (and pool1 for the ImageNet nets); ResNet-C's is three 3x3 convs, conv1_1 .. conv1_3.

    A pre-activation net's conv1 is a bare conv (biased where the spec says):
    the first block's BN-ReLU follows it.
    """
    if spec.preact:
        x = conv(x, filters, 7 if spec.layout == "imagenet" else 3, 2 if spec.layout == "imagenet" else 1,
                 "conv1", options, use_bias=options.conv_bias)
        if spec.layout == "imagenet":
            # keras.applications' v2 max-pools the conv's output zero-padded, timm's -inf-padded.
            padding = NegInfPadding2D if spec.inf_pool_padding else layers.ZeroPadding2D
            x = padding(1, data_format=options.data_format, name="pool1_pad", dtype=options.dtype)(x)
            x = layers.MaxPooling2D(3, strides=2, data_format=options.data_format, name="pool1_pool",
                                    dtype=options.dtype)(x)
        return x
    if spec.layout == "imagenet":
        if spec.deep_stem:
            x = conv_bn(x, filters // 2, 3, 2, "conv1_1", options)
            x = conv_bn(x, filters // 2, 3, 1, "conv1_2", options)
            x = conv_bn(x, filters, 3, 1, "conv1_3", options)
        else:
            x = conv_bn(x, filters, 7, 2, "conv1", options)
        x = layers.ZeroPadding2D(1, data_format=options.data_format, name="pool1_pad", dtype=options.dtype)(x)
        # Zero padding equals -inf padding here: the input is post-ReLU.
        return layers.MaxPooling2D(3, strides=2, data_format=options.data_format, name="pool1_pool",
                                   dtype=options.dtype)(x)
    return conv_bn(x, filters, 3, 1, "conv1", options)
