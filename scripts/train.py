"""`keras-resnet train`, from a clone: `python scripts/train.py --help` lists the flags (see keras_resnet/cli/train.py)."""

from keras_resnet.cli.console import run_script

run_script("train")
