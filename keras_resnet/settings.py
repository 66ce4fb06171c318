"""Settings written once: a dataclass field carries its flag's help, its choices and its check.

`keras_resnet.cli` defines one absl flag per field, and `validate` runs every
check before any work. Each settings dataclass lives beside what it configures
(`train.config.TrainConfig`, `search.config.TuneConfig`, `export.exporter.ExportConfig`, ...).
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Optional


def setting(default, help: str, *, choices: Optional[tuple] = None, check: Optional[Callable] = None,
            flag: bool = True, group: Optional[str] = None):
    """A dataclass field with its flag's help, its valid choices, its check and its help group.

    `check(name, value)` raises a ValueError naming the flag; it is not
    called for None (the "use the default" value). `choices` of a tuple
    field are the values each item may take. `group` heads the flag's section
    of `--help` (model, data, schedule, ...); default the dataclass's.
    """
    return dataclasses.field(default=default, metadata=dict(help=help, choices=choices, check=check, flag=flag,
                                                            group=group))


def at_least(low: int) -> Callable:
    def check(name, value):
        if value < low:
            raise ValueError(f"--{name} must be >= {low}. Received: {name}={value}")
    return check


def between(low: int, high: int, why: str = "") -> Callable:
    """A check that a number lies in [low, high]; `why` says why the bound is there."""
    def check(name, value):
        if not low <= value <= high:
            raise ValueError(f"--{name} must be in [{low}, {high}]{why}. Received: {name}={value}")
    return check


def fraction(name, value):
    if not 0 <= value < 1:
        raise ValueError(f"--{name} must be in [0, 1). Received: {name}={value}")


def non_negative(name, value):
    if value < 0:
        raise ValueError(f"--{name} must be >= 0. Received: {name}={value}")


def positive(name, value):
    if value <= 0:
        raise ValueError(f"--{name} must be > 0. Received: {name}={value}")


def one_or_more_of(choices: tuple) -> Callable:
    def check(name, value):
        if not value or any(item not in choices for item in value):
            raise ValueError(f"--{name} takes one or more of {', '.join(choices)}. Received: "
                             f"{name}={','.join(map(str, value))}")
    return check


def validate(config) -> None:
    """Run every field's choices and check; raise the first ValueError."""
    for field in dataclasses.fields(config):
        value = getattr(config, field.name)
        if value is None or not field.metadata:
            continue
        choices = field.metadata.get("choices")
        if choices and not isinstance(value, tuple) and value not in choices:
            raise ValueError(f"Unknown {field.name} {value!r}; known: {', '.join(map(str, choices))}")
        check = field.metadata.get("check")
        if check is not None:
            check(field.name, value)
