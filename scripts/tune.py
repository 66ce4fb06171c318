"""`keras-resnet tune` from a clone (keras_resnet/cli/tune.py); `--help` lists its flags."""

from keras_resnet.cli.console import run_script

run_script("tune")
