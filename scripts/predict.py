"""`keras-resnet predict`, from a clone: `python scripts/predict.py --help` lists the flags (see keras_resnet/cli/predict.py)."""

from keras_resnet.cli.console import run_script

run_script("predict")
