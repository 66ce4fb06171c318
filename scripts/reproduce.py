"""`keras-resnet reproduce`, from a clone: `python scripts/reproduce.py --help` lists the flags (see keras_resnet/cli/reproduce.py)."""

from keras_resnet.cli.console import run_script

run_script("reproduce")
