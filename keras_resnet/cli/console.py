"""The entry points of the `keras-resnet` command (console script, `python -m keras_resnet`, `scripts/*.py`).

They hold SIGINT and SIGTERM before anything is imported that starts a thread
(numpy's BLAS, TensorFlow): a thread started meanwhile never takes them, so
they reach the main thread, or stay pending for the watchdog of a wait in
TensorFlow's C++ code (`keras_resnet.train.distribute.bounded_wait`).
`cli.main.main` releases them for the command, or, for a multi-worker run,
once its cluster has joined.
"""

import signal
import sys

from keras_resnet.cli import STOP_SIGNALS  # the cli package itself imports no thread-starting module

__all__ = ["console", "run_script"]


def console() -> None:
    """`keras-resnet`: `main()` with the process's arguments; exits with its status."""
    signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    from keras_resnet.cli.main import main

    sys.exit(main())


def run_script(command: str) -> None:
    """A `scripts/<name>.py` alias: `keras-resnet <command>` with the script's arguments; exits with its status."""
    signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    from keras_resnet.cli.main import main

    sys.exit(main([command, *sys.argv[1:]]))
