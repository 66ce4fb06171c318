"""A spec as a saved model holds it: its dict in a `.keras` file's config, read back and bounded before a build.

A file can be damaged or crafted: `spec_from_config` refuses a malformed spec or one outside `SPEC_BOUNDS` in one
line, before anything is built.
"""

from __future__ import annotations

import dataclasses

from keras_resnet.arch import specs

# Fields that files saved by earlier versions hold and this version no longer has: `family` is now `layout`; the
# published parameter counts (`params`) moved out of the table into the tests' oracles.
_RENAMED = {"family": "layout"}
_RETIRED = ("params",)


def spec_config(spec: specs.ResNetSpec) -> dict:
    """The spec as plain data, for a model's `get_config`."""
    return dataclasses.asdict(spec)


def spec_from_config(config: dict) -> specs.ResNetSpec:
    """The spec a model's config holds, checked against `SPEC_BOUNDS`.

    Raises:
        ValueError: the spec is malformed or out of bounds (the file is damaged or not one of ours).
    """
    values = {_RENAMED.get(key, key): value for key, value in config.items() if key not in _RETIRED}
    try:
        values["stages"] = tuple(specs.Stage(**s) for s in values["stages"])
        values["input_shape"] = tuple(values["input_shape"])
        spec = specs.ResNetSpec(**values)
    except (KeyError, TypeError) as error:
        raise ValueError(f"The network's spec is malformed ({type(error).__name__}: {error}): the file is damaged "
                         "or not one of ours.") from None
    check_bounds(spec)
    return spec


# Bounds on a spec read from a file (a .keras model's config): generous beside every published ResNet (at most 2,048
# filters a stage before expansion, 999 blocks in preact_resnet1001, 4 stages), so a crafted file cannot ask a
# build for terabytes or hours.
SPEC_BOUNDS = dict(stages=8, filters=8192, blocks=4096, stride=4, groups=1024, width_per_group=8192,
                   stem_filters=8192, widen_factor=64, classes=100_000, channels=64, side=8192)


def check_bounds(spec: specs.ResNetSpec) -> None:
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
