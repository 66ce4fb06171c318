"""`keras-resnet export` from a clone (keras_resnet/cli/export.py); `--help` lists its flags."""

from keras_resnet.cli.console import run_script

run_script("export")
