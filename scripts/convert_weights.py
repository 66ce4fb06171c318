"""`keras-resnet convert` from a clone (keras_resnet/cli/convert.py): `--help` lists its flags."""

from keras_resnet.cli.console import run_script

run_script("convert")
