"""`keras-resnet reproduce` from a clone (keras_resnet/cli/reproduce.py); `--help` lists its flags."""

from keras_resnet.cli.console import run_script

run_script("reproduce")
