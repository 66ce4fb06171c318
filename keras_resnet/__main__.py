"""`python -m keras_resnet <command> [flags]`: the same as the `keras-resnet` command."""

from keras_resnet.cli.console import console

if __name__ == "__main__":
    console()
