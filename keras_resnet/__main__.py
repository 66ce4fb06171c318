"""`python -m keras_resnet <command> [flags]`: the same as the `keras-resnet` command."""

import sys

from keras_resnet.cli.main import main

if __name__ == "__main__":
    sys.exit(main())
