"""The `keras-resnet` command: its subcommands, their flags from the settings dataclasses, quiet logs, one-line errors.

`keras_resnet.cli.main` dispatches `keras-resnet <command>`; each command is a
module here (`train`, `export`, ...) that names its settings dataclasses and
runs the library. The flags are parsed before TensorFlow is imported (the
settings live in TensorFlow-free modules), so `--help` and a mistyped flag
answer at once. Unless `--verbosity` is given, TensorFlow's C++ and absl INFO
logs are silenced before TensorFlow is imported, so a user sees progress bars,
a line per phase and the result tables.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import signal
import sys
from typing import Callable, Optional, Sequence

from keras_resnet.extras import MissingExtraError

# The processes a command starts (a search's workers) log as it does: `set_verbose` exports VERBOSE_ENV to them.
VERBOSE_ENV = "KERAS_RESNET_VERBOSE"
VERBOSE = os.environ.get(VERBOSE_ENV) == "1"
# The signals a user stops a command with: held while threads start (`cli.console`), reported in one line (`run`).
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)

__all__ = ["STOP_SIGNALS", "VERBOSE_ENV", "Stopped", "import_tensorflow", "native_stderr_silenced", "quiet", "run", "set_verbose"]


def set_verbose(verbosity: Optional[int]) -> None:
    """Show TensorFlow's own logs (at absl `verbosity`) when it is not None, else keep them quiet.

    Called before TensorFlow is imported: TF_CPP_MIN_LOG_LEVEL is read once, at its import.
    """
    global VERBOSE
    VERBOSE = VERBOSE or verbosity is not None
    if VERBOSE:
        os.environ[VERBOSE_ENV] = "1"
        if verbosity is not None:
            from absl import logging as absl_logging

            absl_logging.set_verbosity(verbosity)
    else:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


@contextlib.contextmanager
def native_stderr_silenced():
    """In quiet mode, close standard error at the descriptor level for the block.

    For lines TensorFlow's and LiteRT's C++ code prints straight to the
    descriptor (before TF_CPP_MIN_LOG_LEVEL applies, or outside its logging).
    Python exceptions still propagate and are reported after the block.
    """
    if VERBOSE:
        yield
        return
    sys.stderr.flush()
    saved, null = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(null)
        os.close(saved)


def import_tensorflow() -> None:
    """Import TensorFlow; in quiet mode without its C++ start-up lines (CUDA probing, ...).

    SIGINT and SIGTERM are blocked while it loads, so that the threads it
    starts never take them: they reach the main thread, where Python handles
    them, or stay pending during a wait in C++ (`train.distribute.bounded_wait`).
    """
    if not VERBOSE:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    try:
        with native_stderr_silenced():
            importlib.import_module("tensorflow")
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def quiet() -> None:
    """Our phase lines as plain lines on stdout; TensorFlow's absl INFO logs hidden unless --verbosity."""
    ours = logging.getLogger("keras_resnet")
    if not ours.handlers:  # absl's root handler would filter and decorate them
        handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(logging.Formatter("%(message)s"))
        ours.addHandler(handler)
        ours.setLevel(logging.INFO)
        ours.propagate = False
    if VERBOSE:
        return
    from absl import logging as absl_logging

    absl_logging.set_verbosity(absl_logging.ERROR)
    logging.getLogger("tensorflow").setLevel(logging.ERROR)


class Stopped(BaseException):
    """SIGTERM arrived: raised in the main thread as SIGINT raises KeyboardInterrupt, so `run` ends in one line."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


def _stop(signum, frame):
    raise Stopped(signum)


def run(main: Callable[..., int], *args, errors: Sequence[type] = (ValueError,)) -> int:
    """`main(*args)`, turning a user's mistake into one line on stderr and exit status 1.

    The mistakes are `errors`, a missing extra (`MissingExtraError`, whose
    line says what to install), and an `OSError` on a named path (a folder that
    cannot be made or written, a file that cannot be read): the line names the
    path and the system's reason. SIGINT and SIGTERM end it with one line
    naming the signal (status 130 and 143, as a shell reports them); every file
    this package publishes is written whole or not at all.

    Returns:
        `main`'s exit status, 1 for a mistake, 128 + the signal's number for a signal.
    """
    quiet()
    previous = signal.signal(signal.SIGTERM, _stop)
    try:
        return main(*args) or 0
    except KeyboardInterrupt:
        print("stopped by SIGINT", file=sys.stderr)
        return 128 + signal.SIGINT
    except Stopped as stopped:
        print(f"stopped by {signal.Signals(stopped.signum).name}", file=sys.stderr)
        return 128 + stopped.signum
    except (MissingExtraError, *errors) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except OSError as error:
        if error.filename is None:
            raise
        print(f"error: {error.filename}: {error.strerror or error}", file=sys.stderr)
        return 1
    finally:
        signal.signal(signal.SIGTERM, previous)
