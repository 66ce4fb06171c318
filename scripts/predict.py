"""`keras-resnet predict` from a clone (keras_resnet/cli/predict.py); `--help` lists its flags."""

from keras_resnet.cli.console import run_script

run_script("predict")
