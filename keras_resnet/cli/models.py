"""`keras-resnet models`: the table of networks, from the specs; with --count, their parameters and multiply-adds."""

from __future__ import annotations

import argparse
import dataclasses
from typing import Optional

from keras_resnet import cli
from keras_resnet.arch import registry, specs
from keras_resnet.cli import flags
from keras_resnet.settings import setting, validate

SUMMARY = "List the networks (the table of specs); --count builds each to count parameters and multiply-adds."
EXAMPLE = "keras-resnet models --family=resnext"
ERRORS = (ValueError,)


def _models(name, value):
    for model in value:
        specs.check_model_name(name, model)


@dataclasses.dataclass
class ModelsConfig:
    """Which networks to list, and whether to build them to count."""

    models: tuple = setting((), "Networks to list (default: all of keras_resnet.list_models()).", check=_models)
    family: Optional[str] = setting(None, "Only this family.", choices=registry.FAMILY_NAMES)
    count: bool = setting(False, "Build each network to count its trainable parameters and multiply-adds "
                          "(seconds per network; the deepest take a minute).")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    flags.add_settings(parser, ModelsConfig, default_group="models")


def _blocks(spec: specs.ResNetSpec) -> str:
    blocks = ",".join(str(s.blocks) for s in spec.stages)
    if spec.groups > 1:
        blocks += f"; 3x3 in {spec.groups} groups of {spec.width_per_group}"
    elif spec.width_per_group != 64:
        blocks += f"; 3x3 {spec.width_per_group // 64}x wide"
    if spec.deep_stem:
        blocks += "; deep stem"
    if spec.avg_down:
        blocks += "; pooled projections"
    if spec.project_first:
        blocks += "; each stage's first block projects"
    if spec.se_ratio:
        blocks += f"; SE 1/{round(1 / spec.se_ratio)}"
    if spec.widen_factor:
        blocks += f"; {spec.widen_factor}x wide"
    if spec.preact:
        blocks += "; pre-activation" + (", stride in each stage's last block" if spec.stride_last else
                                         ", -inf-padded max pool" if spec.inf_pool_padding else "")
    return blocks


def main(args: argparse.Namespace) -> int:
    config = flags.settings_from(args, ModelsConfig)
    validate(config)
    names = [n for n in (config.models or specs.list_models())
             if config.family is None or registry.family(specs.get_spec(n)) == config.family]
    header = ["model", "family", "input", "blocks"]
    if config.count:
        header += ["trainable params", "params as counted by", "multiply-adds", "published multiply-adds"]
        cli.import_tensorflow()
        from keras_resnet.arch.flops import count_macs
        from keras_resnet.factory import build
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for name in names:
        spec = specs.get_spec(name)
        side = spec.input_shape[0]
        row = [name, registry.family(spec), f"{side}x{side}x{spec.input_shape[2]}", f"{spec.block} {_blocks(spec)}"]
        if config.count:
            model = build(name)
            params = sum(int(w.numpy().size) for w in model.trainable_weights)
            macs = count_macs(model)
            source = "torchvision" if registry.family(spec) in ("resnext", "wide") else "Table 1"
            paper = (f"{spec.macs_paper / 1e9:.{1 if source == 'Table 1' else 3}f} G ({source})"
                     if spec.macs_paper else "")
            counted = spec.params_source or ("its option-A ResNet's" if not spec.residual else "")
            row += [f"{params:,}", counted, f"{macs / 1e9:.3f} G", paper]
        print("| " + " | ".join(row) + " |")
    return 0
