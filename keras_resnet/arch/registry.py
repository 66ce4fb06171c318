"""The table's names: each network's family, its `keras_resnet.<Name>` function, and adding a network to the table.

TensorFlow-free, as `specs` is: the package's public names (`keras_resnet.ResNet50`, its `__all__`, the API
reference) are derived from here, so a network registered is a function everywhere.
"""

from __future__ import annotations

from keras_resnet.arch import specs


# What `family` returns, for a family's flag choices.
FAMILY_NAMES = ("plain", "resnet", "resnext", "wide", "resnet_d", "preact", "wrn")


def family(spec: specs.ResNetSpec) -> str:
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


def function_name(spec: specs.ResNetSpec) -> str:
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
        "preact": (f"ResNet{depth}V2" if spec.stride_last else f"ResNetV2_{depth}") if spec.layout == "imagenet"
        else f"PreActResNet{depth}",
        "wrn": f"WideResNet{depth}_{spec.widen_factor}",
    }[family(spec)]
    return ("SE" if spec.se_ratio else "") + name


def application_names() -> dict:
    """{function name: network name} for every network of the table, in its order (`keras_resnet.ResNet50`, ...)."""
    return {function_name(spec): name for name, spec in specs.MODEL_SPECS.items()}


def register(spec: specs.ResNetSpec) -> None:
    """Add a network to the table under `spec.name`.

    It is then everywhere a network of the table is: `list_models()`,
    `get_spec`, `build`, its `keras_resnet.<Name>` function (`function_name`)
    and that function's row in the API reference.

    Raises:
        ValueError: the network's name, or its function's, is taken.
    """
    if spec.name in specs.MODEL_SPECS:
        raise ValueError(f"A network named {spec.name!r} is already in the table.")
    taken = application_names()
    if function_name(spec) in taken:
        raise ValueError(f"{spec.name!r} would be keras_resnet.{function_name(spec)}, which is already the "
                         f"function of {taken[function_name(spec)]!r}.")
    specs.MODEL_SPECS[spec.name] = spec
