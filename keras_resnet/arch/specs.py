"""The table of networks: plain data, readable without TensorFlow.

Every network of He et al. (2015) is one `ResNetSpec`. The builder in
`keras_resnet.arch.builder` turns a spec into a Keras model; nothing else in the
package knows a depth or a stage layout.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Optional

BASIC = "basic"
BOTTLENECK = "bottleneck"
BLOCK_EXPANSION = {BASIC: 1, BOTTLENECK: 4}

SHORTCUT_OPTIONS = ("A", "B", "C")

# Table 1 of the paper: blocks per stage for the ImageNet nets.
IMAGENET_DEPTHS = {
    18: (BASIC, (2, 2, 2, 2)),
    34: (BASIC, (3, 4, 6, 3)),
    50: (BOTTLENECK, (3, 4, 6, 3)),
    101: (BOTTLENECK, (3, 4, 23, 3)),
    152: (BOTTLENECK, (3, 8, 36, 3)),
}
IMAGENET_FILTERS = (64, 128, 256, 512)

# Section 4.2: depth 6n+2, three stages of n basic blocks.
CIFAR_NAMED_DEPTHS = (20, 32, 44, 56, 110, 1202)
CIFAR_FILTERS = (16, 32, 64)


@dataclasses.dataclass(frozen=True)
class Stage:
    """One stage (conv2_x, conv3_x, ...): `blocks` blocks, the first strided."""

    filters: int
    blocks: int
    stride: int


@dataclasses.dataclass(frozen=True)
class ResNetSpec:
    """The architecture of one network.

    Attributes:
        name: registry name, e.g. "resnet50" or "plain20".
        depth: number of weighted layers, as the paper counts them.
        layout: "imagenet" (Table 1's 7x7 stem and max pool) or "cifar" (section 4.2's 3x3 stem of 16 channels).
        block: "basic" (two 3x3 convs) or "bottleneck" (1x1, 3x3, 1x1 x4).
        stages: the stages in order.
        stem_filters: output channels of the first conv.
        residual: False for the plain twin (same layers, no shortcuts).
        shortcut: default shortcut option, "A", "B" or "C".
        input_shape: default input (height, width, channels).
        classes: default number of classes.
        macs_paper: published multiply-adds at 224x224: Table 1 for the paper's ImageNet nets, torchvision's for ResNeXt
            and Wide ResNet.
        groups: cardinality of every bottleneck's 3x3 conv (ResNeXt, Xie et al. 2017); 1 for ResNet.
        width_per_group: bottleneck width per group at the first stage; the 3x3 width of a stage of `filters` is filters
            * width_per_group / 64 * groups (torchvision's rule: 64 for ResNet, 4 for ResNeXt-32x4d, 128 for Wide
            ResNet-50-2).
        params_source: whose published count of trainable parameters (with the default head and shortcut) this build's
            equals: torchvision, timm, keras.applications, keras-hub or the paper (tests/goldens/published_counts.py
            holds the counts); None where none is published.
        deep_stem: ResNet-C's stem (He et al. 2019, "Bag of Tricks"): three 3x3 convs of stem_filters/2, stem_filters/2
            and stem_filters channels, the first strided, instead of the 7x7.
        avg_down: ResNet-D's projection shortcut: a 2x2 average pool does the striding and the 1x1 conv keeps stride 1.
        se_ratio: squeeze-and-excitation (Hu et al. 2018) on each block's residual branch, reducing its channels by this
            ratio (1/16, to a multiple of 8 as timm rounds); 0 for none.
        preact: pre-activation ordering (He et al. 2016, "Identity Mappings", v2): BN-ReLU before every conv, no BN or
            ReLU on the identity path; a block's pre-activation feeds its projection; the stem is a bare conv and a
            final BN-ReLU (`post_bn`) precedes the pooling.
        stride_last: the stride of a stage sits in its last block, not its first (keras.applications' v2); a stage that
            only strides subsamples its shortcut (1x1 max pool, keras's).
        conv_bias: the convs that no BN follows carry a bias (keras.applications' v2: conv1, each projection and each
            last 1x1).
        widen_factor: Wide ResNet's k on CIFAR (Zagoruyko & Komodakis 2016): every stage is k times wider (already in
            `stages`) and depth counts as in their paper, 6n+4; None for other nets.
        inf_pool_padding: the stem's max pool pads with -inf, as PyTorch's MaxPool2d does (timm's ResNetV2, keras-hub's
            v2), not with zeros; they differ where the pool's input can be negative, after a pre-activation stem's bare
            conv.
        project_first: the first block of every stage projects its shortcut even where the shape is kept (PaddleClas's
            ResNet-vd basic nets, keras-hub's resnet_vd_18/34).
    """

    name: str
    depth: int
    layout: str
    block: str
    stages: tuple
    stem_filters: int
    residual: bool
    shortcut: str
    input_shape: tuple
    classes: int
    macs_paper: Optional[float] = None
    groups: int = 1
    width_per_group: int = 64
    params_source: Optional[str] = None
    deep_stem: bool = False
    avg_down: bool = False
    se_ratio: float = 0.0
    preact: bool = False
    stride_last: bool = False
    conv_bias: bool = False
    widen_factor: Optional[int] = None
    inf_pool_padding: bool = False
    project_first: bool = False

    @property
    def expansion(self) -> int:
        return BLOCK_EXPANSION[self.block]

    @property
    def num_features(self) -> int:
        """Channels of the last feature map."""
        return self.stages[-1].filters * self.expansion

    @property
    def min_size(self) -> int:
        """Smallest input side that leaves every stage a map of >= 1 pixel."""
        total = 4 if self.layout == "imagenet" else 1  # strided stem and max pool
        for stage in self.stages:
            total *= stage.stride
        return total


# Multiply-adds at 224x224 as Table 1 gives them.
_IMAGENET_MACS = {18: 1.8e9, 34: 3.6e9, 50: 3.8e9, 101: 7.6e9, 152: 11.3e9}
# The CIFAR depths whose counts Table 6 gives (rounded there).
_CIFAR_COUNTED = (20, 32, 44, 56, 110, 1202)


def imagenet_spec(depth: int, residual: bool = True) -> ResNetSpec:
    """The spec of an ImageNet net of Table 1 (depth 18, 34, 50, 101, 152)."""
    if depth not in IMAGENET_DEPTHS:
        raise ValueError(
            f"No ImageNet ResNet of depth {depth}; known depths: "
            f"{sorted(IMAGENET_DEPTHS)}. Received: depth={depth}"
        )
    block, counts = IMAGENET_DEPTHS[depth]
    stages = tuple(
        Stage(filters, blocks, 1 if i == 0 else 2)
        for i, (filters, blocks) in enumerate(zip(IMAGENET_FILTERS, counts))
    )
    return ResNetSpec(
        name=f"{'resnet' if residual else 'plain'}{depth}",
        depth=depth,
        layout="imagenet",
        block=block,
        stages=stages,
        stem_filters=64,
        residual=residual,
        shortcut="B",
        input_shape=(224, 224, 3),
        classes=1000,
        macs_paper=_IMAGENET_MACS[depth],
        # Only the residual count is published: a plain twin equals its
        # option-A ResNet, which tests derive rather than hard-code.
        params_source="torchvision" if residual else None,
    )


def cifar_spec(depth: int, residual: bool = True) -> ResNetSpec:
    """The spec of a CIFAR net of section 4.2 (depth 6n+2, any n >= 1)."""
    if depth < 8 or (depth - 2) % 6:
        raise ValueError(
            f"CIFAR ResNets have depth 6n+2 with n >= 1 (8, 14, 20, 26, 32, ...). "
            f"Received: depth={depth}"
        )
    n = (depth - 2) // 6
    stages = tuple(
        Stage(filters, n, 1 if i == 0 else 2) for i, filters in enumerate(CIFAR_FILTERS)
    )
    return ResNetSpec(
        name=f"{'resnet' if residual else 'plain'}{depth}",
        depth=depth,
        layout="cifar",
        block=BASIC,
        stages=stages,
        stem_filters=16,
        residual=residual,
        shortcut="A",
        input_shape=(32, 32, 3),
        classes=10,
        # Option A adds no parameters, so a plain twin has the same count.
        params_source="Table 6 (rounded there)" if depth in _CIFAR_COUNTED else None,
    )


# The follow-ups that change only the bottleneck's 3x3 conv: ResNeXt (Xie et al. 2017) groups it, Wide ResNet
# (Zagoruyko & Komodakis 2016, torchvision's ImageNet variant) widens it. name: (depth, groups, width_per_group,
# multiply-adds at 224x224 as torchvision counts them).
GROUPED_BOTTLENECKS = {
    "resnext50_32x4d": (50, 32, 4, 4.23e9),
    "resnext101_32x8d": (101, 32, 8, 16.414e9),
    "resnext101_64x4d": (101, 64, 4, 15.46e9),
    "wide_resnet50_2": (50, 1, 128, 11.398e9),
    "wide_resnet101_2": (101, 1, 128, 22.753e9),
}


def grouped_spec(name: str) -> ResNetSpec:
    """The spec of a ResNeXt or Wide ResNet of `GROUPED_BOTTLENECKS`."""
    if name not in GROUPED_BOTTLENECKS:
        raise ValueError(f"No ResNeXt or Wide ResNet named {name!r}; known: {sorted(GROUPED_BOTTLENECKS)}.")
    depth, groups, width_per_group, macs = GROUPED_BOTTLENECKS[name]
    return dataclasses.replace(imagenet_spec(depth), name=name, macs_paper=macs,
                               groups=groups, width_per_group=width_per_group, params_source="torchvision")


# ResNet-D (He et al. 2019: the deep stem of ResNet-C and the average-pooled projection), as timm builds it.
RESNET_D_DEPTHS = (18, 34, 50, 101, 152)


def resnet_d_spec(depth: int) -> ResNetSpec:
    """The spec of timm's resnet<depth>d (depth 18, 34, 50, 101, 152)."""
    if depth not in RESNET_D_DEPTHS:
        raise ValueError(f"No ResNet-D of depth {depth}; known depths: {list(RESNET_D_DEPTHS)}. "
                         f"Received: depth={depth}")
    return dataclasses.replace(imagenet_spec(depth), name=f"resnet{depth}d", macs_paper=None, params_source="timm",
                               deep_stem=True,
                               avg_down=True)


# Squeeze-and-excitation nets as timm builds them: name: the net they add SE to.
SE_NETS = {"seresnet50": "resnet50", "seresnext50_32x4d": "resnext50_32x4d"}


def se_spec(name: str) -> ResNetSpec:
    """The spec of a squeeze-and-excitation net of `SE_NETS`."""
    if name not in SE_NETS:
        raise ValueError(f"No squeeze-and-excitation net named {name!r}; known: {sorted(SE_NETS)}.")
    return dataclasses.replace(MODEL_SPECS[SE_NETS[name]], name=name, macs_paper=None, params_source="timm",
                               se_ratio=1 / 16)


# Pre-activation ResNets as keras.applications lays them out (ResNet50V2 ..): bottleneck stages of Table 1 striding in
# their last block (conv5 not at all), biased convs where no BN follows.
PREACT_IMAGENET_DEPTHS = (50, 101, 152)


def preact_imagenet_spec(depth: int) -> ResNetSpec:
    """The spec of keras.applications' ResNet<depth>V2 (depth 50, 101, 152)."""
    if depth not in PREACT_IMAGENET_DEPTHS:
        raise ValueError(f"No pre-activation ImageNet ResNet of depth {depth}; known depths: "
                         f"{list(PREACT_IMAGENET_DEPTHS)}. Received: depth={depth}")
    base = imagenet_spec(depth)
    stages = tuple(dataclasses.replace(stage, stride=1 if i == len(base.stages) - 1 else 2)
                   for i, stage in enumerate(base.stages))
    return dataclasses.replace(base, name=f"resnet{depth}v2", stages=stages,
                               macs_paper=None,  # Table 1's are v1's: v2 strides elsewhere
                               params_source="keras.applications", preact=True, stride_last=True, conv_bias=True)


# Pre-activation ResNets as timm builds them (its resnetv2_50 ..) and keras-hub ports them: Table 1's stages striding
# in their first block, no conv biases, the stem's max pool padded with -inf. Its parameters are keras-hub's
# ResNetBackbone's with timm's 1000-class head.
TIMM_PREACT_DEPTHS = (50, 101, 152)


def timm_preact_spec(depth: int) -> ResNetSpec:
    """The spec of timm's resnetv2_<depth> (depth 50, 101, 152): keras-hub's resnet_v2 presets."""
    if depth not in TIMM_PREACT_DEPTHS:
        raise ValueError(f"No timm-style pre-activation ResNet of depth {depth}; known depths: "
                         f"{list(TIMM_PREACT_DEPTHS)}. Received: depth={depth}")
    return dataclasses.replace(imagenet_spec(depth), name=f"resnetv2_{depth}", macs_paper=None,
                               params_source="keras-hub", preact=True,
                               inf_pool_padding=True)


# PaddleClas's ResNet-vd basic nets (keras-hub's resnet_vd_18/34): ResNet-D whose first block projects its shortcut
# even in the first stage; its parameters are keras-hub's with a 1000-class head. Its bottleneck nets are timm's
# resnet<depth>d.
RESNET_VD_DEPTHS = (18, 34)


def resnet_vd_spec(depth: int) -> ResNetSpec:
    """The spec of PaddleClas's ResNet<depth>_vd of basic blocks (depth 18, 34)."""
    if depth not in RESNET_VD_DEPTHS:
        raise ValueError(f"No ResNet-vd of basic blocks of depth {depth}; known depths: {list(RESNET_VD_DEPTHS)} "
                         f"(the bottleneck ones are resnet<depth>d). Received: depth={depth}")
    return dataclasses.replace(resnet_d_spec(depth), name=f"resnet{depth}_vd", params_source="keras-hub",
                               project_first=True)


# The CIFAR nets of "Identity Mappings" (He et al. 2016): projection shortcuts, basic blocks for ResNet-110 (6n+2),
# bottlenecks of 16/32/64 (x4) for ResNet-164 and ResNet-1001 (9n+2). The paper's parameter counts, rounded there,
# with 10 classes.
PREACT_CIFAR_PAPER = {110: 1.7e6, 164: 1.7e6, 1001: 10.2e6}
PREACT_BOTTLENECK_FROM = 164


def preact_cifar_spec(depth: int, block: Optional[str] = None) -> ResNetSpec:
    """The spec of a pre-activation CIFAR ResNet.

    Args:
        depth: 6n+2 for basic blocks, 9n+2 for bottlenecks.
        block: "basic" or "bottleneck"; default bottleneck from depth 164 on
            (the paper's ResNet-164 and ResNet-1001), basic below (ResNet-110).

    Raises:
        ValueError: the depth does not fit the block.
    """
    default = BOTTLENECK if depth >= PREACT_BOTTLENECK_FROM else BASIC
    block = block or default
    if block not in BLOCK_EXPANSION:
        raise ValueError(f"block must be 'basic' or 'bottleneck'. Received: block={block!r}")
    per_block = 2 if block == BASIC else 3
    if depth < 3 * per_block + 2 or (depth - 2) % (3 * per_block):
        named = ("preact_resnet<depth> uses basic blocks below depth 164 and bottlenecks from it; add _basic or "
                 "_bottleneck to the name for the other; ")
        raise ValueError(f"Pre-activation CIFAR ResNets of {block} blocks have depth {3 * per_block}n+2 "
                         f"({3 * per_block + 2}, {6 * per_block + 2}, ...); {named}Received: depth={depth}")
    n = (depth - 2) // (3 * per_block)
    stages = tuple(Stage(filters, n, 1 if i == 0 else 2) for i, filters in enumerate(CIFAR_FILTERS))
    # The paper's counts are for its own block choice at each depth.
    counted = depth in PREACT_CIFAR_PAPER and block == default
    name = f"preact_resnet{depth}" + ("" if block == default else f"_{block}")
    return ResNetSpec(name=name, depth=depth, layout="cifar", block=block, stages=stages,
                      stem_filters=16, residual=True, shortcut="B", input_shape=(32, 32, 3), classes=10,
                      params_source=f"this build (the paper: {PREACT_CIFAR_PAPER[depth] / 1e6:.1f}M)"
                      if counted else None, preact=True)


# Wide ResNets on CIFAR (Zagoruyko & Komodakis 2016): pre-activation basic blocks k times wider, depth 6n+4. The
# paper's parameter counts, rounded there, with 10 classes.
WRN_PAPER = {(16, 8): 11.0e6, (28, 10): 36.5e6}


def wrn_spec(depth: int, widen_factor: int) -> ResNetSpec:
    """The spec of a CIFAR Wide ResNet WRN-<depth>-<widen_factor> (depth 6n+4, n >= 1; k >= 1)."""
    if depth < 10 or (depth - 4) % 6:
        raise ValueError(f"Wide ResNets have depth 6n+4 with n >= 1 (10, 16, 22, 28, 40, ...). "
                         f"Received: depth={depth}")
    if not isinstance(widen_factor, int) or widen_factor < 1:
        raise ValueError(f"A Wide ResNet's widen factor k is an integer >= 1. Received: widen_factor={widen_factor!r}")
    n = (depth - 4) // 6
    stages = tuple(Stage(filters * widen_factor, n, 1 if i == 0 else 2) for i, filters in enumerate(CIFAR_FILTERS))
    counted = (depth, widen_factor) in WRN_PAPER
    return ResNetSpec(name=f"wrn{depth}_{widen_factor}", depth=depth, layout="cifar", block=BASIC, stages=stages,
                      stem_filters=16, residual=True, shortcut="B", input_shape=(32, 32, 3), classes=10,
                      params_source=f"this build (the paper: {WRN_PAPER[depth, widen_factor] / 1e6:.1f}M)"
                      if counted else None, preact=True, widen_factor=widen_factor)


def _named_specs() -> dict:
    specs = {}
    for residual in (True, False):
        for depth in IMAGENET_DEPTHS:
            spec = imagenet_spec(depth, residual)
            specs[spec.name] = spec
        for depth in CIFAR_NAMED_DEPTHS:
            spec = cifar_spec(depth, residual)
            specs[spec.name] = spec
    for name in GROUPED_BOTTLENECKS:
        specs[name] = grouped_spec(name)
    for depth in RESNET_D_DEPTHS:
        specs[f"resnet{depth}d"] = resnet_d_spec(depth)
    for depth in RESNET_VD_DEPTHS:
        specs[f"resnet{depth}_vd"] = resnet_vd_spec(depth)
    for depth in PREACT_IMAGENET_DEPTHS:
        specs[f"resnet{depth}v2"] = preact_imagenet_spec(depth)
    for depth in TIMM_PREACT_DEPTHS:
        specs[f"resnetv2_{depth}"] = timm_preact_spec(depth)
    for depth in PREACT_CIFAR_PAPER:
        specs[f"preact_resnet{depth}"] = preact_cifar_spec(depth)
    for depth, k in WRN_PAPER:
        specs[f"wrn{depth}_{k}"] = wrn_spec(depth, k)
    return specs


MODEL_SPECS = _named_specs()
MODEL_SPECS.update({name: se_spec(name) for name in SE_NETS})


_NAME_RE = re.compile(r"^(resnet|plain)[_-]?(\d+)$")
_PREACT_RE = re.compile(r"^preact[_-]?resnet[_-]?(\d+)(?:[_-](basic|bottleneck))?$")
_WRN_RE = re.compile(r"^wrn[_-]?(\d+)[_-](\d+)$")


def list_models() -> list:
    """Names of every registered network, ResNets first, by family and depth."""
    return list(MODEL_SPECS)


def check_model_name(flag: str, value: str) -> None:
    """A settings check (`keras_resnet.settings.setting`): `value` names a network of the table.

    Raises:
        ValueError: an unknown name, with the valid ones.
    """
    get_spec(value)


def get_spec(name: str, depth: Optional[int] = None) -> ResNetSpec:
    """Look a network up by name, or build the spec of any CIFAR depth.

    Args:
        name: a name of `list_models()` ("resnet50", "plain20"), any "resnet<6n+2>"/"plain<6n+2>" (e.g. "resnet8"),
            any pre-activation CIFAR depth "preact_resnet<d>" (basic blocks, 6n+2, below 164; bottlenecks, 9n+2, from
            164; a "_basic" or "_bottleneck" suffix chooses the other), any Wide ResNet "wrn<6n+4>_<k>" (e.g.
            "wrn40_4"), or the family "resnet"/"plain" together with `depth`.
        depth: with a family name, the depth: an ImageNet depth of Table 1 or any CIFAR depth 6n+2.

    Returns:
        The `ResNetSpec`.

    Raises:
        ValueError: the name or depth is unknown.
    """
    if not isinstance(name, str):
        raise ValueError(f"Model name must be a string. Received: name={name!r}")
    key = name.lower()
    if key in ("resnet", "plain"):
        if depth is None:
            raise ValueError(f"Family name {name!r} needs a depth, e.g. build('{key}', depth=8). Received: depth=None")
        key = f"{key}{depth}"
    elif depth is not None:
        raise ValueError(
            f"depth= is only valid with the family names 'resnet' or 'plain'. "
            f"Received: name={name!r}, depth={depth}"
        )
    if key in MODEL_SPECS:
        return MODEL_SPECS[key]
    match = _NAME_RE.match(key)
    if match:
        residual = match.group(1) == "resnet"
        d = int(match.group(2))
        if d in IMAGENET_DEPTHS:
            return imagenet_spec(d, residual)
        if d >= 8 and (d - 2) % 6 == 0:
            return cifar_spec(d, residual)
    match = _PREACT_RE.match(key)
    if match:
        return preact_cifar_spec(int(match.group(1)), match.group(2))
    match = _WRN_RE.match(key)
    if match:
        return wrn_spec(int(match.group(1)), int(match.group(2)))
    raise ValueError(
        f"Unknown model {name!r}" + (f" with depth={depth}" if depth is not None else "")
        + f"; known: {', '.join(list_models())}; "
        "or any CIFAR depth 6n+2 as 'resnet<depth>' / 'plain<depth>', 'preact_resnet<depth>' (6n+2 below 164, "
        "9n+2 from 164) or 'wrn<6n+4>_<k>'."
    )
