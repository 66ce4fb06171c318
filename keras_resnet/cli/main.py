"""`keras-resnet <command> [flags]`: the package's one command (a console script, and `python -m keras_resnet`).

The commands are the modules of this folder, each with its SUMMARY, EXAMPLE,
ERRORS, `add_arguments(parser)` and `main(args)`. Everything is parsed before
TensorFlow is imported: `--help`, `--version` and a mistyped flag or command
answer in well under two seconds, and TensorFlow's own flags never show.
"""

from __future__ import annotations

import signal
import sys
from typing import Optional, Sequence

from keras_resnet import cli
from keras_resnet.cli import benchmark, convert, export, flags, models, predict, reproduce, train, tune
from keras_resnet.version import DISTRIBUTION, __version__

PROG = "keras-resnet"
COMMANDS = {"train": train, "export": export, "predict": predict, "tune": tune, "convert": convert,
            "benchmark": benchmark, "reproduce": reproduce, "models": models}

__all__ = ["COMMANDS", "PROG", "main", "parser_for"]


def _overview() -> str:
    width = max(map(len, COMMANDS))
    lines = [f"usage: {PROG} [--version] [--help] <command> [flags]", "",
             "The ResNets of He et al. (2015) and their descendants for Keras 3: train, export, serve, search.", "",
             "commands:"]
    lines += [f"  {name:<{width}}  {module.SUMMARY}" for name, module in COMMANDS.items()]
    lines += ["", f"'{PROG} <command> --help' lists a command's flags, e.g.:",
              f"  {train.EXAMPLE}"]
    return "\n".join(lines)


def parser_for(command: str) -> flags.ArgumentParser:
    """The argument parser of `command` (a key of COMMANDS), with its flags grouped for --help."""
    module = COMMANDS[command]
    parser = flags.ArgumentParser(prog=f"{PROG} {command}", description=module.SUMMARY,
                                  epilog=f"example: {module.EXAMPLE}")
    module.add_arguments(parser)
    logging_group = parser.add_argument_group("logging")
    logging_group.add_argument("--verbosity", type=int, default=None, metavar="INT",
                               help="Show TensorFlow's own logs, at this absl verbosity (0: INFO); quiet if unset.")
    flags.order_groups(parser)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run `keras-resnet` with `argv` (default sys.argv[1:]).

    Returns:
        The exit status: 0 on success and for --help and --version, 1 for a
        user's mistake found while running (one line on stderr), 2 for a
        mistyped command or flag.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(_overview())
        return 0
    if argv[0] in ("-V", "--version"):
        print(f"{DISTRIBUTION} {__version__}")
        return 0
    command = argv[0]
    if command not in COMMANDS:
        kind = "flag" if command.startswith("-") else "command"
        print(f"{PROG}: error: unknown {kind} {command!r}{flags.suggest(command, list(COMMANDS))} "
              f"(commands: {', '.join(COMMANDS)})", file=sys.stderr)
        return 2
    parser = parser_for(command)
    try:
        args = parser.parse_args(argv[1:])
    except SystemExit as exit_:  # --help (0) or a usage error (2), already printed by argparse
        return exit_.code if isinstance(exit_.code, int) else 2
    cli.set_verbose(args.verbosity)
    module = COMMANDS[command]
    # The entry points hold SIGINT and SIGTERM (`cli.console`); a multi-worker run releases them once its cluster
    # has joined (`train.distribute.stop_signals_held`), every other command now.
    if getattr(args, "strategy", None) != "multi_worker_mirrored":
        signal.pthread_sigmask(signal.SIG_UNBLOCK, cli.STOP_SIGNALS)
    return cli.run(module.main, args, errors=module.ERRORS)
