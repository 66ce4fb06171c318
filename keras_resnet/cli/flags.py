"""Command-line flags from the settings dataclasses: one flag per field, grouped for `--help`, parsed with argparse.

A field (`keras_resnet.settings.setting`) gives its flag's help, default,
choices and `--help` group. The syntax is absl's, which the docs and scripts
have always used: `--name=value` or `--name value`, booleans as `--name`,
`--noname` or `--name=false`, lists comma-separated (`--formats=saved_model,onnx`).
A mistyped flag is refused with the nearest valid one.
"""

from __future__ import annotations

import argparse
import dataclasses
import difflib
import sys
import typing
from typing import Optional, Sequence

# The order of the `--help` sections; a group not named here follows them.
GROUP_ORDER = ("model", "data", "schedule", "hardware", "evaluation", "run", "export", "search", "search space",
               "experiment", "benchmark", "weights", "prediction", "logging")
_METAVARS = {int: "INT", float: "FLOAT", str: "TEXT"}
# Prefixes absl-style flags accept for a boolean's false value.
NO_PREFIX = "--no"

__all__ = ["ArgumentParser", "add_settings", "order_groups", "settings_from", "suggest"]


def _kind(cls, field) -> type:
    """The flag type of a field: its annotation without Optional."""
    hint = typing.get_type_hints(cls)[field.name]
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    return args[0] if typing.get_origin(hint) is typing.Union and args else hint


def _flag_fields(cls) -> list:
    return [f for f in dataclasses.fields(cls) if f.metadata.get("flag", True) and f.metadata]


def _bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("true", "1", "yes"):
        return True
    if lowered in ("false", "0", "no"):
        return False
    raise argparse.ArgumentTypeError(f"{text!r} is not true or false")


class _BoolAction(argparse.Action):
    """`--name`, `--name=true|false` or `--noname`, as absl's boolean flags."""

    def __init__(self, option_strings, dest, default=None, help=None):
        super().__init__(option_strings, dest, nargs="?", default=default, type=_bool, help=help, metavar="BOOL")

    def __call__(self, parser, namespace, values, option_string=None):
        if option_string.startswith(NO_PREFIX) and option_string[len(NO_PREFIX):] == self.dest:
            if values is not None:
                parser.error(f"{option_string} takes no value")
            setattr(namespace, self.dest, False)
        else:
            setattr(namespace, self.dest, True if values is None else values)

    def format_usage(self) -> str:
        return f"--[no]{self.dest}"


class _HelpFormatter(argparse.HelpFormatter):
    """Wide help, each flag as `--name=VALUE` (absl's syntax), booleans as `--[no]name`."""

    def __init__(self, prog):
        super().__init__(prog, max_help_position=34, width=118)

    def _format_action_invocation(self, action):
        if not action.option_strings:
            return super()._format_action_invocation(action)
        if isinstance(action, _BoolAction):
            return f"--[no]{action.dest}"
        if action.nargs == 0:
            return ", ".join(action.option_strings)
        return f"{action.option_strings[0]}={self._metavar_formatter(action, action.dest.upper())(1)[0]}"

    def _format_usage(self, usage, actions, groups, prefix):
        if usage is None:
            usage = f"{self._prog} [flags]" + "".join(
                f" {action.metavar or action.dest}" for action in actions if not action.option_strings)
        return super()._format_usage(usage, actions, groups, prefix)


def suggest(word: str, valid: Sequence[str]) -> str:
    """`; did you mean X?` for the nearest of `valid` to `word`, or an empty string."""
    close = difflib.get_close_matches(word, list(valid), n=1, cutoff=0.6)
    return f"; did you mean {close[0]}?" if close else ""


class ArgumentParser(argparse.ArgumentParser):
    """argparse with absl's flag syntax, no abbreviations, and a suggestion for a mistyped flag.

    Usage errors print the usage line and one error line, and exit 2 (as
    argparse and every command-line tool's convention); `--help` exits 0.
    """

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", _HelpFormatter)
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def parse_args(self, args=None, namespace=None):
        args = list(sys.argv[1:] if args is None else args)
        namespace, unknown = self.parse_known_args(args, namespace)
        flags = [a for a in unknown if a.startswith("-")]
        if flags:
            name = flags[0].split("=", 1)[0]
            valid = [s for action in self._actions for s in action.option_strings]
            self.error(f"unknown flag {name}{suggest(name, valid)} (--help lists them all)")
        if unknown:
            self.error(f"unexpected argument(s): {' '.join(unknown)}")
        return namespace


def _item_type(like):
    if isinstance(like, bool):
        return _bool
    if isinstance(like, (int, float)):
        return type(like)
    return str


def _default_text(default) -> str:
    if isinstance(default, tuple):
        return ",".join(str(v).lower() if isinstance(v, bool) else str(v) for v in default)
    if isinstance(default, bool):
        return str(default).lower()
    return str(default)


def add_settings(parser: argparse.ArgumentParser, cls, exclude: Sequence[str] = (),
                 default_group: Optional[str] = None, groups: Optional[dict] = None) -> None:
    """Add one flag per field of the settings dataclass `cls` to `parser`, under its help group.

    Args:
        parser: the command's parser.
        cls: a settings dataclass (its fields made with `keras_resnet.settings.setting`).
        exclude: fields not to add (another dataclass of the command defines them).
        default_group: the section of fields that name none; default the class's name.
        groups: the sections made so far ({title: argparse group}), shared across the command's classes.
    """
    groups = {} if groups is None else groups
    for field in _flag_fields(cls):
        if field.name in exclude:
            continue
        title = field.metadata.get("group") or default_group or cls.__name__
        if title not in groups:
            groups[title] = parser.add_argument_group(title)
        group = groups[title]
        kind, help_text = _kind(cls, field), field.metadata.get("help", "")
        default = field.default if field.default is not dataclasses.MISSING else None
        choices = field.metadata.get("choices")
        if default is not None and default != ():
            help_text += f" (default: {_default_text(default)})"
        if kind is bool:
            group.add_argument(f"--{field.name}", f"{NO_PREFIX}{field.name}", action=_BoolAction, default=default,
                               help=help_text)
            continue
        if kind is tuple:
            like = default[0] if default else ""
            if choices:
                help_text += f" [one or more of: {','.join(map(str, choices))}]"
            group.add_argument(f"--{field.name}", default=default, type=_ListOf(field.name, _item_type(like)),
                               metavar="A,B,..", help=help_text)
            continue
        kind = kind if kind in (int, float) else str
        group.add_argument(f"--{field.name}", default=default, type=kind, choices=choices,
                           metavar="{" + ",".join(map(str, choices)) + "}" if choices else _METAVARS[kind],
                           help=help_text)


class _ListOf:
    """A comma-separated flag value as a tuple of `item`s; a bad item names the flag and the whole value."""

    def __init__(self, name: str, item):
        self.name, self.item = name, item
        self.__name__ = "list"

    def __call__(self, text: str) -> tuple:
        items = []
        for part in (p.strip() for p in text.split(",")):
            if not part:
                continue
            try:
                items.append(self.item(part))
            except (ValueError, argparse.ArgumentTypeError):
                kind = "true or false" if self.item is _bool else f"a {self.item.__name__}"
                raise argparse.ArgumentTypeError(f"{part!r} is not {kind}. Received: --{self.name}={text}") from None
        return tuple(items)


def order_groups(parser: argparse.ArgumentParser) -> None:
    """Put the `--help` sections in GROUP_ORDER (argparse's own two first), others after them as added."""
    rank = {title: i for i, title in enumerate(GROUP_ORDER)}
    own = parser._action_groups[:2]  # positionals and options: argparse keeps its groups in this list
    rest = sorted(parser._action_groups[2:], key=lambda g: rank.get(g.title, len(rank)))
    parser._action_groups[:] = own + rest


def settings_from(args: argparse.Namespace, cls, **values):
    """An instance of the settings dataclass `cls` from the parsed `args` (`values` take precedence)."""
    for field in _flag_fields(cls):
        if field.name not in values and hasattr(args, field.name):
            values[field.name] = getattr(args, field.name)
    return cls(**values)
