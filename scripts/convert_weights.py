"""`keras-resnet convert`, from a clone: `python scripts/convert_weights.py --help` lists the flags (see keras_resnet/cli/convert.py)."""

from keras_resnet.cli.console import run_script

run_script("convert")
