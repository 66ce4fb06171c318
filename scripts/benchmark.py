"""`keras-resnet benchmark` from a clone (keras_resnet/cli/benchmark.py); `--help` lists its flags."""

from keras_resnet.cli.console import run_script

run_script("benchmark")
