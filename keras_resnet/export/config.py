"""What an export is asked for (`ExportConfig`): its formats, quantizations and checks, without TensorFlow.

The command line defines its export flags from these fields and validates
them before anything is imported or trained; `exporter.export_model` runs them.
"""

from __future__ import annotations

import dataclasses
from typing import Iterable, Optional

from keras_resnet import extras, settings
from keras_resnet.export.export_dir import SUMMARY as LAYOUT
from keras_resnet.export.artifacts import DEFAULT_FORMATS, FORMATS
from keras_resnet.files import check_writable_dir
from keras_resnet.settings import at_least, setting

QUANTIZATIONS = ("float32", "float16", "dynamic_int8", "int8")
# The modules each format imports; all come with the export extra.
FORMAT_MODULES = {
    "saved_model": ("tensorflow_serving",),  # its warm-up requests are TF Serving's protos
    "tflite": ("ai_edge_litert", "mediapipe"),
    "onnx": ("tf2onnx", "onnx", "onnxruntime"),
}

__all__ = ["ExportConfig", "FORMAT_MODULES", "QUANTIZATIONS", "check_quantizations"]


def check_quantizations(quantizations: Iterable[str]) -> list:
    """Validate quantization names before any conversion.

    Returns:
        The names, as a list.

    Raises:
        ValueError: an unknown name.
    """
    quantizations = list(quantizations)
    bad = sorted(set(quantizations) - set(QUANTIZATIONS))
    if bad:
        raise ValueError(f"Unknown quantization(s) {bad}; known: {', '.join(QUANTIZATIONS)}")
    return quantizations


def _formats(name, value):
    unknown = sorted(set(value) - set(FORMATS))
    if unknown or not value:
        raise ValueError(f"Unknown export format(s) {unknown}; --{name} takes one or more of {', '.join(FORMATS)}. "
                         f"Received: {name}={','.join(value)}")


def _quantizations(name, value):
    check_quantizations(value)


def _version(name, value):
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"SavedModel versions are integers >= 1. Received: {name}={value!r}")


def _eval_examples(name, value):
    if not isinstance(value, int) or value < 0:
        raise ValueError(f"{name} must be an integer >= 0 (0: no accuracy; default the whole test split). "
                         f"Received: {name}={value!r}")


@dataclasses.dataclass
class ExportConfig:
    """What an export writes: `export_model`'s options, and the export flags of the train and export commands."""

    export_dir: Optional[str] = setting(None, f"Export and verify the model here: {LAYOUT}.",
                                        group="export")
    formats: tuple = setting(DEFAULT_FORMATS, "Any of saved_model (TF Serving), tflite (LiteRT files for Android, "
                             "with TFLite metadata) and onnx (ONNX Runtime).", check=_formats, choices=FORMATS,
                             group="export")
    quantizations: tuple = setting(QUANTIZATIONS, "TFLite variants.", check=_quantizations, choices=QUANTIZATIONS,
                                   group="export")
    name: Optional[str] = setting(None, "Model name (TF Serving's); default the run's model name.", group="export")
    version: Optional[int] = setting(None, "SavedModel version; default the next free one (or the one already "
                                     "exported from the same weights).", check=_version, group="export")
    overwrite: bool = setting(False, "Replace an existing SavedModel version.", group="export")
    num_samples: int = setting(64, "Test images to verify each artifact on.", check=at_least(1), group="export")
    eval_examples: Optional[int] = setting(None, "Test images on which every artifact's top-1 accuracy (and the "
                                           "Keras model's) is measured; default as many as the run was tested on "
                                           "(its whole test split unless --max_test_examples), 0 to skip.",
                                           check=_eval_examples, group="export")
    top_k: int = setting(5, "Classes returned by the serving signatures.", check=at_least(1), group="export")

    def __post_init__(self):
        self.formats, self.quantizations = tuple(self.formats), tuple(self.quantizations)

    def artifact_count(self) -> int:
        """The files an export writes, verifies and evaluates: a SavedModel, a LiteRT file a quantization, an ONNX
        file, as asked."""
        return sum(len(self.quantizations) if fmt == "tflite" else 1 for fmt in self.formats)

    def validate(self) -> None:
        """Check every option, that the formats' packages are installed, and that export_dir can be written,
        before anything is loaded.

        Raises:
            ValueError: the first thing wrong, saying what is valid.
            keras_resnet.extras.MissingExtraError: a format whose packages (the export extra) are missing.
        """
        settings.validate(self)
        for fmt in self.formats:
            extras.require(f"--formats={fmt}", "export", FORMAT_MODULES[fmt])
        if self.export_dir:
            check_writable_dir(self.export_dir, "export_dir")
