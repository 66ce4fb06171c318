"""The optional extras: which feature needs which packages, and the one-line message when they are missing.

The core install builds, loads and trains the networks. An export needs the
`export` extra (LiteRT, MediaPipe's metadata, ONNX, TF Serving's protos), a
keras-hub preset the `hub` extra; each feature asks here when it is used, and
no import of the core needs either.
"""

from __future__ import annotations

import importlib.util
from typing import Sequence

from keras_resnet.version import DISTRIBUTION

# What each extra installs, by the modules its features import.
EXTRA_MODULES = {
    "export": ("ai_edge_litert", "mediapipe", "tensorflow_serving", "tf2onnx", "onnx", "onnxruntime"),
    "hub": ("keras_hub",),
}

__all__ = ["EXTRA_MODULES", "MissingExtraError", "install_command", "missing", "require"]


class MissingExtraError(ImportError):
    """A feature was asked for whose optional packages are not installed."""


def install_command(extra: str) -> str:
    """The pip command that installs `extra`, e.g. `pip install "resnet-keras[export]"`."""
    return f'pip install "{DISTRIBUTION}[{extra}]"'


def missing(modules: Sequence[str]) -> list:
    """The modules of `modules` that cannot be imported here (found without importing them)."""
    absent = []
    for module in modules:
        try:
            found = importlib.util.find_spec(module) is not None
        except (ImportError, ValueError):  # a parent package missing, or a half-installed one
            found = False
        if not found:
            absent.append(module)
    return absent


def require(feature: str, extra: str, modules: Sequence[str]) -> None:
    """Raise `MissingExtraError` naming `feature`, the missing modules and the install command, if any is missing.

    Args:
        feature: what was asked for, as the user wrote it (`--formats=onnx`, `save_preset`).
        extra: the extra that installs `modules` (a key of `EXTRA_MODULES`).
        modules: the modules `feature` imports.

    Raises:
        MissingExtraError: one line, e.g. `--formats=onnx needs tf2onnx, onnxruntime (the export extra):
            pip install "resnet-keras[export]"`.
    """
    if extra not in EXTRA_MODULES:
        raise ValueError(f"Unknown extra {extra!r}; known: {', '.join(EXTRA_MODULES)}")
    absent = missing(modules)
    if absent:
        raise MissingExtraError(f"{feature} needs {', '.join(absent)} (the {extra} extra): {install_command(extra)}")
