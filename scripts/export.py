"""`keras-resnet export`, from a clone: `python scripts/export.py --help` lists the flags (see keras_resnet/cli/export.py)."""

from keras_resnet.cli.console import run_script

run_script("export")
