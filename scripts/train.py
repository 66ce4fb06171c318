"""`keras-resnet train` from a clone (keras_resnet/cli/train.py); `--help` lists its flags."""

from keras_resnet.cli.console import run_script

run_script("train")
