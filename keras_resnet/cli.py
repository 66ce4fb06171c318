"""What the scripts share: flags defined from the settings dataclasses, quiet logs, one-line errors.

Import this module first in a script: unless the command line asks for
`--verbosity`, it silences TensorFlow's C++ and absl INFO logs before
TensorFlow is imported, so a user sees progress bars, a line per phase and
the result tables.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib
import logging
import os
import sys
import typing
from typing import Callable

# The processes a script's run starts (a search's workers) log as it does: `run` exports VERBOSE_ENV to them.
VERBOSE_ENV = "KERAS_RESNET_VERBOSE"
VERBOSE = os.environ.get(VERBOSE_ENV) == "1" or any(
    arg.startswith(("--verbosity", "-v=", "--v=")) or arg == "-v" for arg in sys.argv[1:])
if not VERBOSE:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from absl import app, flags  # noqa: E402

FLAGS = flags.FLAGS


def _kind(cls, field) -> type:
    """The flag type of a field: its annotation without Optional."""
    hint = typing.get_type_hints(cls)[field.name]
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    return args[0] if typing.get_origin(hint) is typing.Union and args else hint


def _flag_fields(cls):
    return [f for f in dataclasses.fields(cls) if f.metadata.get("flag", True)]


def define_flags(cls) -> None:
    """Define one absl flag per field of a settings dataclass (help, default and choices from the field)."""
    for field in _flag_fields(cls):
        kind, help_text = _kind(cls, field), field.metadata.get("help", "")
        default = field.default if field.default is not dataclasses.MISSING else None
        choices = field.metadata.get("choices")
        if kind is bool:
            flags.DEFINE_bool(field.name, default, help_text)
        elif kind is tuple:
            flags.DEFINE_list(field.name, [str(v).lower() if isinstance(v, bool) else str(v) for v in default],
                              help_text)
        elif choices and kind is str:
            flags.DEFINE_enum(field.name, default, list(choices), help_text)
        elif kind is int:
            flags.DEFINE_integer(field.name, default, help_text)
        elif kind is float:
            flags.DEFINE_float(field.name, default, help_text)
        else:
            flags.DEFINE_string(field.name, default, help_text)


def _parse_item(name: str, text: str, like):
    text = text.strip()
    try:
        if isinstance(like, bool):
            if text.lower() not in ("true", "false"):
                raise ValueError
            return text.lower() == "true"
        if isinstance(like, int):
            return int(text)
        if isinstance(like, float):
            return float(text)
    except ValueError:
        kind = "true or false" if isinstance(like, bool) else f"a {type(like).__name__}"
        raise ValueError(f"--{name}: {text!r} is not {kind}. Received: --{name}={','.join(FLAGS[name].value)}") \
            from None
    return text.upper() if name == "shortcuts" else text


def from_flags(cls, **values):
    """An instance of a settings dataclass from the parsed flags (`values` take precedence)."""
    for field in _flag_fields(cls):
        if field.name in values:
            continue
        value = FLAGS[field.name].value
        if _kind(cls, field) is tuple:
            like = field.default[0] if field.default else ""
            value = tuple(_parse_item(field.name, item, like) for item in value)
        values[field.name] = value
    return cls(**values)


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
    """Import TensorFlow; in quiet mode without its C++ start-up lines (CUDA probing, ...)."""
    with native_stderr_silenced():
        importlib.import_module("tensorflow")


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


def run(main: Callable, errors: tuple = (ValueError,)) -> None:
    """`app.run(main)`, turning a user's mistake into one line on stderr and exit status 1.

    The mistakes are `errors`, and an `OSError` on a named path (a folder
    that cannot be made or written, a file that cannot be read): the line
    names the path and the system's reason.
    """

    def wrapped(argv):
        if VERBOSE:
            os.environ[VERBOSE_ENV] = "1"
        quiet()
        try:
            return main(argv)
        except errors as error:
            print(f"error: {error}", file=sys.stderr)
            return 1
        except OSError as error:
            if error.filename is None:
                raise
            print(f"error: {error.filename}: {error.strerror or error}", file=sys.stderr)
            return 1

    app.run(lambda argv: sys.exit(wrapped(argv)))
