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
        family: "imagenet" (7x7 stem + max pool) or "cifar" (3x3/16 stem).
        block: "basic" (two 3x3 convs) or "bottleneck" (1x1, 3x3, 1x1 x4).
        stages: the stages in order.
        stem_filters: output channels of the first conv.
        residual: False for the plain twin (same layers, no shortcuts).
        shortcut: default shortcut option, "A", "B" or "C".
        input_shape: default input (height, width, channels).
        classes: default number of classes.
        macs_paper: published multiply-adds at 224x224: Table 1 for the
            paper's ImageNet nets, torchvision's for ResNeXt and Wide ResNet.
        params: trainable parameters with the default head and shortcut;
            an oracle for tests (None where the paper gives no number).
        groups: cardinality of every bottleneck's 3x3 conv (ResNeXt, Xie et
            al. 2017); 1 for ResNet.
        width_per_group: bottleneck width per group at the first stage; the
            3x3 width of a stage of `filters` is
            filters * width_per_group / 64 * groups (torchvision's rule:
            64 for ResNet, 4 for ResNeXt-32x4d, 128 for Wide ResNet-50-2).
        params_source: who counted `params`.
        deep_stem: ResNet-C's stem (He et al. 2019, "Bag of Tricks"): three
            3x3 convs of stem_filters/2, stem_filters/2 and stem_filters
            channels, the first strided, instead of the 7x7.
        avg_down: ResNet-D's projection shortcut: a 2x2 average pool does the
            striding and the 1x1 conv keeps stride 1.
        se_ratio: squeeze-and-excitation (Hu et al. 2018) on each block's
            residual branch, reducing its channels by this ratio (1/16, to a
            multiple of 8 as timm rounds); 0 for none.
        preact: pre-activation ordering (He et al. 2016, "Identity
            Mappings", v2): BN-ReLU before every conv, no BN or ReLU on the
            identity path; a block's pre-activation feeds its projection;
            the stem is a bare conv and a final BN-ReLU (`post_bn`) precedes
            the pooling.
        stride_last: the stride of a stage sits in its last block, not its
            first (keras.applications' v2); a stage that only strides
            subsamples its shortcut (1x1 max pool, keras's).
        conv_bias: the convs that no BN follows carry a bias (keras.
            applications' v2: conv1, each projection and each last 1x1).
        widen_factor: Wide ResNet's k on CIFAR (Zagoruyko & Komodakis 2016):
            every stage is k times wider (already in `stages`) and depth
            counts as in their paper, 6n+4; None for other nets.
        inf_pool_padding: the stem's max pool pads with -inf, as PyTorch's
            MaxPool2d does (timm's ResNetV2, keras-hub's v2), not with zeros;
            they differ where the pool's input can be negative, after a
            pre-activation stem's bare conv.
        project_first: the first block of every stage projects its shortcut
            even where the shape is kept (PaddleClas's ResNet-vd basic nets,
            keras-hub's resnet_vd_18/34).
    """

    name: str
    depth: int
    family: str
    block: str
    stages: tuple
    stem_filters: int
    residual: bool
    shortcut: str
    input_shape: tuple
    classes: int
    macs_paper: Optional[float] = None
    params: Optional[int] = None
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
        total = 4 if self.family == "imagenet" else 1  # strided stem and max pool
        for stage in self.stages:
            total *= stage.stride
        return total


# Trainable parameters as published (PAPER.md): torchvision's counts for the
# ImageNet nets (option B, 1000 classes), option A with 10 classes for CIFAR.
_IMAGENET_PARAMS = {
    18: 11_689_512,
    34: 21_797_672,
    50: 25_557_032,
    101: 44_549_160,
    152: 60_192_808,
}
_IMAGENET_MACS = {18: 1.8e9, 34: 3.6e9, 50: 3.8e9, 101: 7.6e9, 152: 11.3e9}
_CIFAR_PARAMS = {
    20: 269_722,
    32: 464_154,
    44: 658_586,
    56: 853_018,
    110: 1_727_962,
    1202: 19_421_274,
}


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
        family="imagenet",
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
        params=_IMAGENET_PARAMS[depth] if residual else None,
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
        family="cifar",
        block=BASIC,
        stages=stages,
        stem_filters=16,
        residual=residual,
        shortcut="A",
        input_shape=(32, 32, 3),
        classes=10,
        # Option A adds no parameters, so a plain twin has the same count.
        params=_CIFAR_PARAMS.get(depth),
        params_source="Table 6 (rounded there)" if depth in _CIFAR_PARAMS else None,
    )


# The follow-ups that change only the bottleneck's 3x3 conv: ResNeXt (Xie et al.
# 2017) groups it, Wide ResNet (Zagoruyko & Komodakis 2016, torchvision's
# ImageNet variant) widens it. name: (depth, groups, width_per_group, params
# with 1000 classes, multiply-adds at 224x224), both as torchvision counts them.
GROUPED_BOTTLENECKS = {
    "resnext50_32x4d": (50, 32, 4, 25_028_904, 4.23e9),
    "resnext101_32x8d": (101, 32, 8, 88_791_336, 16.414e9),
    "resnext101_64x4d": (101, 64, 4, 83_455_272, 15.46e9),
    "wide_resnet50_2": (50, 1, 128, 68_883_240, 11.398e9),
    "wide_resnet101_2": (101, 1, 128, 126_886_696, 22.753e9),
}


def grouped_spec(name: str) -> ResNetSpec:
    """The spec of a ResNeXt or Wide ResNet of `GROUPED_BOTTLENECKS`."""
    if name not in GROUPED_BOTTLENECKS:
        raise ValueError(f"No ResNeXt or Wide ResNet named {name!r}; known: {sorted(GROUPED_BOTTLENECKS)}.")
    depth, groups, width_per_group, params, macs = GROUPED_BOTTLENECKS[name]
    return dataclasses.replace(imagenet_spec(depth), name=name, macs_paper=macs, params=params,
                               groups=groups, width_per_group=width_per_group, params_source="torchvision")


# ResNet-D (He et al. 2019: the deep stem of ResNet-C and the average-pooled
# projection), as timm builds it; trainable parameters counted by timm.
RESNET_D_PARAMS = {
    18: 11_708_744,
    34: 21_816_904,
    50: 25_576_264,
    101: 44_568_392,
    152: 60_212_040,
}


def resnet_d_spec(depth: int) -> ResNetSpec:
    """The spec of timm's resnet<depth>d (depth 18, 34, 50, 101, 152)."""
    if depth not in RESNET_D_PARAMS:
        raise ValueError(f"No ResNet-D of depth {depth}; known depths: {sorted(RESNET_D_PARAMS)}. "
                         f"Received: depth={depth}")
    return dataclasses.replace(imagenet_spec(depth), name=f"resnet{depth}d", macs_paper=None,
                               params=RESNET_D_PARAMS[depth], params_source="timm", deep_stem=True,
                               avg_down=True)


# Squeeze-and-excitation nets as timm builds them; parameters counted by timm.
SE_NETS = {
    "seresnet50": ("resnet50", 28_088_024),
    "seresnext50_32x4d": ("resnext50_32x4d", 27_559_896),
}


def se_spec(name: str) -> ResNetSpec:
    """The spec of a squeeze-and-excitation net of `SE_NETS`."""
    if name not in SE_NETS:
        raise ValueError(f"No squeeze-and-excitation net named {name!r}; known: {sorted(SE_NETS)}.")
    base, params = SE_NETS[name]
    return dataclasses.replace(MODEL_SPECS[base], name=name, macs_paper=None, params=params, params_source="timm",
                               se_ratio=1 / 16)


# Pre-activation ResNets as keras.applications lays them out (ResNet50V2 ..):
# bottleneck stages of Table 1 striding in their last block (conv5 not at
# all), biased convs where no BN follows. Trainable parameters as
# keras.applications counts them; all weights with BN statistics in
# `PREACT_IMAGENET_TOTALS`.
PREACT_IMAGENET_PARAMS = {50: 25_568_360, 101: 44_577_896, 152: 60_236_904}
PREACT_IMAGENET_TOTALS = {50: 25_613_800, 101: 44_675_560, 152: 60_380_648}


def preact_imagenet_spec(depth: int) -> ResNetSpec:
    """The spec of keras.applications' ResNet<depth>V2 (depth 50, 101, 152)."""
    if depth not in PREACT_IMAGENET_TOTALS:
        raise ValueError(f"No pre-activation ImageNet ResNet of depth {depth}; known depths: "
                         f"{sorted(PREACT_IMAGENET_TOTALS)}. Received: depth={depth}")
    base = imagenet_spec(depth)
    stages = tuple(dataclasses.replace(stage, stride=1 if i == len(base.stages) - 1 else 2)
                   for i, stage in enumerate(base.stages))
    return dataclasses.replace(base, name=f"resnet{depth}v2", stages=stages, params=PREACT_IMAGENET_PARAMS[depth],
                               macs_paper=None,  # Table 1's are v1's: v2 strides elsewhere
                               params_source="keras.applications", preact=True, stride_last=True, conv_bias=True)


# Pre-activation ResNets as timm builds them (its resnetv2_50 ..) and keras-hub
# ports them: Table 1's stages striding in their first block, no conv biases,
# the stem's max pool padded with -inf. Trainable parameters of this build,
# equal to keras-hub's ResNetBackbone with timm's 1000-class head.
TIMM_PREACT_PARAMS = {50: 25_549_352, 101: 44_541_480, 152: 60_185_128}


def timm_preact_spec(depth: int) -> ResNetSpec:
    """The spec of timm's resnetv2_<depth> (depth 50, 101, 152): keras-hub's resnet_v2 presets."""
    if depth not in TIMM_PREACT_PARAMS:
        raise ValueError(f"No timm-style pre-activation ResNet of depth {depth}; known depths: "
                         f"{sorted(TIMM_PREACT_PARAMS)}. Received: depth={depth}")
    return dataclasses.replace(imagenet_spec(depth), name=f"resnetv2_{depth}", params=TIMM_PREACT_PARAMS[depth],
                               macs_paper=None, params_source="keras-hub", preact=True,
                               inf_pool_padding=True)


# PaddleClas's ResNet-vd basic nets (keras-hub's resnet_vd_18/34): ResNet-D
# whose first block projects its shortcut even in the first stage. Trainable
# parameters of this build, equal to keras-hub's with a 1000-class head. Its
# bottleneck nets are timm's resnet<depth>d.
RESNET_VD_PARAMS = {18: 11_712_968, 34: 21_821_128}


def resnet_vd_spec(depth: int) -> ResNetSpec:
    """The spec of PaddleClas's ResNet<depth>_vd of basic blocks (depth 18, 34)."""
    if depth not in RESNET_VD_PARAMS:
        raise ValueError(f"No ResNet-vd of basic blocks of depth {depth}; known depths: {sorted(RESNET_VD_PARAMS)} "
                         f"(the bottleneck ones are resnet<depth>d). Received: depth={depth}")
    return dataclasses.replace(resnet_d_spec(depth), name=f"resnet{depth}_vd", params=RESNET_VD_PARAMS[depth],
                               params_source="keras-hub", project_first=True)


# The CIFAR nets of "Identity Mappings" (He et al. 2016): projection
# shortcuts, basic blocks for ResNet-110 (6n+2), bottlenecks of 16/32/64
# (x4) for ResNet-164 and ResNet-1001 (9n+2). Exact counts of this build,
# 10 classes; the paper rounds them (1.7M, 1.7M, 10.2M).
PREACT_CIFAR_PARAMS = {110: 1_730_522, 164: 1_703_258, 1001: 10_327_706}
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
    params = PREACT_CIFAR_PARAMS.get(depth) if block == default else None
    name = f"preact_resnet{depth}" + ("" if block == default else f"_{block}")
    return ResNetSpec(name=name, depth=depth, family="cifar", block=block, stages=stages,
                      stem_filters=16, residual=True, shortcut="B", input_shape=(32, 32, 3), classes=10,
                      params=params, params_source=f"this build (the paper: {PREACT_CIFAR_PAPER[depth] / 1e6:.1f}M)"
                      if params else None, preact=True)


# Wide ResNets on CIFAR (Zagoruyko & Komodakis 2016): pre-activation basic
# blocks k times wider, depth 6n+4. Exact counts of this build, 10 classes;
# the paper's: WRN-28-10 36.5M, WRN-16-8 11.0M.
WRN_PARAMS = {(16, 8): 10_961_370, (28, 10): 36_479_194}
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
    params = WRN_PARAMS.get((depth, widen_factor))
    return ResNetSpec(name=f"wrn{depth}_{widen_factor}", depth=depth, family="cifar", block=BASIC, stages=stages,
                      stem_filters=16, residual=True, shortcut="B", input_shape=(32, 32, 3), classes=10,
                      params=params, params_source=f"this build (the paper: {WRN_PAPER[depth, widen_factor] / 1e6:.1f}M)"
                      if params else None, preact=True, widen_factor=widen_factor)


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
    for depth in RESNET_D_PARAMS:
        specs[f"resnet{depth}d"] = resnet_d_spec(depth)
    for depth in RESNET_VD_PARAMS:
        specs[f"resnet{depth}_vd"] = resnet_vd_spec(depth)
    for depth in PREACT_IMAGENET_TOTALS:
        specs[f"resnet{depth}v2"] = preact_imagenet_spec(depth)
    for depth in TIMM_PREACT_PARAMS:
        specs[f"resnetv2_{depth}"] = timm_preact_spec(depth)
    for depth in PREACT_CIFAR_PARAMS:
        specs[f"preact_resnet{depth}"] = preact_cifar_spec(depth)
    for depth, k in WRN_PARAMS:
        specs[f"wrn{depth}_{k}"] = wrn_spec(depth, k)
    return specs


MODEL_SPECS = _named_specs()
MODEL_SPECS.update({name: se_spec(name) for name in SE_NETS})

def function_name(spec: ResNetSpec) -> str:
    """The name of the network's `keras.applications`-style function: ResNet50, PlainNet20, ResNeXt50_32x4d,
    WideResNet50_2, ResNet50D, ResNet18_vd, SEResNet50, SEResNeXt50_32x4d, ResNet50V2 (keras.applications'),
    ResNetV2_50 (timm's), PreActResNet164, WideResNet28_10."""
    depth = spec.depth
    name = {
        "plain": f"PlainNet{depth}",
        "resnet": f"ResNet{depth}",
        "resnext": f"ResNeXt{depth}_{spec.groups}x{spec.width_per_group}d",
        "wide": f"WideResNet{depth}_{spec.width_per_group // 64}",
        "resnet_d": f"ResNet{depth}_vd" if spec.project_first else f"ResNet{depth}D",
        "preact": (f"ResNet{depth}V2" if spec.stride_last else f"ResNetV2_{depth}") if spec.family == "imagenet"
        else f"PreActResNet{depth}",
        "wrn": f"WideResNet{depth}_{spec.widen_factor}",
    }[family(spec)]
    return ("SE" if spec.se_ratio else "") + name


def application_names() -> dict:
    """{function name: network name} for every network of the table, in its order (`keras_resnet.ResNet50`, ...)."""
    return {function_name(spec): name for name, spec in MODEL_SPECS.items()}


def register(spec: ResNetSpec) -> None:
    """Add a network to the table under `spec.name`.

    It is then everywhere a network of the table is: `list_models()`,
    `get_spec`, `build`, its `keras_resnet.<Name>` function (`function_name`)
    and that function's row in the API reference.

    Raises:
        ValueError: the network's name, or its function's, is taken.
    """
    if spec.name in MODEL_SPECS:
        raise ValueError(f"A network named {spec.name!r} is already in the table.")
    taken = application_names()
    if function_name(spec) in taken:
        raise ValueError(f"{spec.name!r} would be keras_resnet.{function_name(spec)}, which is already the "
                         f"function of {taken[function_name(spec)]!r}.")
    MODEL_SPECS[spec.name] = spec


# Bounds on a spec read from a file (a .keras model's config): generous beside every published ResNet (at most 2,048
# filters a stage before expansion, 999 blocks in preact_resnet1001, 4 stages), so a crafted file cannot ask a
# build for terabytes or hours.
SPEC_BOUNDS = dict(stages=8, filters=8192, blocks=4096, stride=4, groups=1024, width_per_group=8192,
                   stem_filters=8192, widen_factor=64, classes=100_000, channels=64, side=8192)


def check_bounds(spec: "ResNetSpec") -> None:
    """Refuse a spec outside `SPEC_BOUNDS`, before anything is built.

    Raises:
        ValueError: naming the field, its value and the bound.
    """
    bounds = SPEC_BOUNDS

    def refuse(field, value, bound):
        raise ValueError(f"The network's spec asks for {field}={value}, over the {bound} that bounds a spec read from "
                         f"a file (every published ResNet is far within it): the file is damaged or not one of ours.")

    stages = tuple(spec.stages)
    if not 1 <= len(stages) <= bounds["stages"]:
        refuse("stages", len(stages), bounds["stages"])
    for stage in stages:
        for field in ("filters", "blocks", "stride"):
            value = getattr(stage, field)
            if not isinstance(value, int) or not 1 <= value <= bounds[field]:
                refuse(f"stage {field}", value, bounds[field])
    total = sum(stage.blocks for stage in stages)
    if total > bounds["blocks"]:
        refuse("blocks", total, bounds["blocks"])
    for field in ("groups", "width_per_group", "stem_filters", "classes"):
        value = getattr(spec, field)
        if not isinstance(value, int) or not 1 <= value <= bounds[field]:
            refuse(field, value, bounds[field])
    if spec.widen_factor is not None and not 1 <= spec.widen_factor <= bounds["widen_factor"]:
        refuse("widen_factor", spec.widen_factor, bounds["widen_factor"])
    *sides, channels = tuple(spec.input_shape)
    if not (isinstance(channels, int) and 1 <= channels <= bounds["channels"]):
        refuse("channels", channels, bounds["channels"])
    for side in sides:
        if side is not None and not 1 <= side <= bounds["side"]:
            refuse("input side", side, bounds["side"])


# What `family` returns, for a family's flag choices.
FAMILY_NAMES = ("plain", "resnet", "resnext", "wide", "resnet_d", "preact", "wrn")


def family(spec: ResNetSpec) -> str:
    """The family a network belongs to, from its fields: "plain", "resnet", "resnext", "wide" (torchvision's
    ImageNet Wide ResNets), "resnet_d", "preact" (v2 and the CIFAR pre-activation nets) or "wrn" (CIFAR Wide
    ResNets). Squeeze-and-excitation is an add-on to any of them (`se_ratio`)."""
    if spec.widen_factor:
        return "wrn"
    if spec.preact:
        return "preact"
    if spec.avg_down:
        return "resnet_d"
    if spec.groups > 1:
        return "resnext"
    if spec.width_per_group != 64:
        return "wide"
    return "resnet" if spec.residual else "plain"


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
        name: a name of `list_models()` ("resnet50", "plain20"), any
            "resnet<6n+2>"/"plain<6n+2>" (e.g. "resnet8"), any
            pre-activation CIFAR depth "preact_resnet<d>" (basic blocks,
            6n+2, below 164; bottlenecks, 9n+2, from 164; a "_basic" or
            "_bottleneck" suffix chooses the other), any Wide ResNet
            "wrn<6n+4>_<k>" (e.g. "wrn40_4"), or the family "resnet"/"plain"
            together with `depth`.
        depth: with a family name, the depth: an ImageNet depth of Table 1 or
            any CIFAR depth 6n+2.

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
            raise ValueError(
                f"Family name {name!r} needs a depth, e.g. build('{key}', depth=8). "
                f"Received: depth=None"
            )
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
