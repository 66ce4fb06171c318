"""The README's model table: `keras-resnet models --count` (parameters and multiply-adds of every net)."""

import sys

from keras_resnet.cli.main import main

sys.exit(main(["models", "--count", *sys.argv[1:]]))
