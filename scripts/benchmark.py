"""`keras-resnet benchmark`, from a clone: `python scripts/benchmark.py --help` lists the flags (see keras_resnet/cli/benchmark.py)."""

from keras_resnet.cli.console import run_script

run_script("benchmark")
