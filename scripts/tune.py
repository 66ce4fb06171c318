"""`keras-resnet tune`, from a clone: `python scripts/tune.py --help` lists the flags (see keras_resnet/cli/tune.py)."""

from keras_resnet.cli.console import run_script

run_script("tune")
