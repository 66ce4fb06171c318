"""`keras-resnet convert`: a published checkpoint to a keras_resnet .weights.h5, with its parity to the original.

    keras-resnet convert --input=resnet50-11ad3fa6.pth --model=resnet50 --output=resnet50_tv2.weights.h5
    keras-resnet convert --input=resnet_v2_50_imagenet/ --output=resnetv2_50.weights.h5

The format (torch .pth/.pt, .safetensors, keras.applications .h5/.weights.h5)
is found from the file's content; a directory is a keras-hub preset, which
names its own network (and needs the hub extra).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
from typing import Optional

from keras_resnet import cli, extras
from keras_resnet.arch import specs
from keras_resnet.cli import flags
from keras_resnet.settings import at_least, setting, validate

SUMMARY = "Convert a torchvision/timm/keras.applications checkpoint or a keras-hub preset, with its parity."
EXAMPLE = "keras-resnet convert --input=resnet50-11ad3fa6.pth --model=resnet50 --output=resnet50.weights.h5"
ERRORS = (ValueError,)


def _required(name, value):
    if not value:
        raise ValueError(f"--{name} is required")


@dataclasses.dataclass
class ConvertConfig:
    """The checkpoint to convert, the network it is for, and where the .weights.h5 goes."""

    input: Optional[str] = setting(None, "The checkpoint file, or a keras-hub preset directory (required).")
    model: Optional[str] = setting(None, "The keras_resnet model it is for, e.g. resnet50; a keras-hub preset "
                                   "names its own.", check=specs.check_model_name)
    output: Optional[str] = setting(None, "The .weights.h5 to write (required).")
    stride_in_1x1: str = setting("auto", "Bottleneck stride on the 1x1: auto is true for keras.applications "
                                 "files, false otherwise.", choices=("auto", "true", "false"))
    image_size: int = setting(224, "Side of the random images the parity is measured on.", check=at_least(1))
    num_images: int = setting(4, "How many.", check=at_least(1))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    flags.add_settings(parser, ConvertConfig, default_group="weights")


def main(args: argparse.Namespace) -> int:
    config = flags.settings_from(args, ConvertConfig)
    _required("input", config.input)
    _required("output", config.output)
    validate(config)
    if os.path.isdir(config.input):
        extras.require("a keras-hub preset (--input=<directory>)", "hub", extras.EXTRA_MODULES["hub"])
    cli.import_tensorflow()
    from keras_resnet.weights import convert

    stride = {"auto": None, "true": True, "false": False}[config.stride_in_1x1]
    result = convert.convert(config.input, config.model, config.output, stride_in_1x1=stride,
                             image_size=config.image_size, num_images=config.num_images)
    print(f"{config.input} ({result['format']}) -> {result['output']}: {result['assigned']} tensors assigned")
    if result["reference"] and result["top1_agreement"] is None:
        print(f"parity against {result['reference']} on {config.num_images} random images: max |diff| of the "
              f"feature maps {result['max_abs_diff']:.2e}")
    elif result["reference"]:
        print(f"parity against {result['reference']} on {config.num_images} random images: max |diff| of "
              f"probabilities {result['max_abs_diff']:.2e}, top-1 agreement {result['top1_agreement']:.0%}")
    else:
        print(f"parity not measured: {result['reason']}")
    return 0
