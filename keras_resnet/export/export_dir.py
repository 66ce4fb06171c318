"""An export directory's layout, written once: where each format's files of a model go.

```
<export_dir>/
  <name>/<version>/        a SavedModel version (the model base path TF Serving serves <name> from)
  models.config            TF Serving's model config: every <name>/ holding versions
  tflite/<name>/           the LiteRT files, with their labels and model card
  onnx/<name>/             the ONNX file and its labels
  .<name>.export.json      what the last export of <name> was asked and reported
```

`keras_resnet.train.run_dir.RunDir` is its counterpart for a training run.
"""

from __future__ import annotations

import dataclasses
import os

__all__ = ["ExportDir", "MODELS_CONFIG", "RECORD_SUFFIX", "SUMMARY"]

MODELS_CONFIG = "models.config"
RECORD_SUFFIX = ".export.json"
# The layout in a line, for --export_dir's help.
SUMMARY = ("SavedModels in <export_dir>/<name>/<version>/, LiteRT files in <export_dir>/tflite/<name>/, the ONNX file "
           "in <export_dir>/onnx/<name>/")


@dataclasses.dataclass(frozen=True)
class ExportDir:
    """The layout under `root` (see the module's docstring).

    Attributes:
        root: the export directory (`--export_dir`).
    """

    root: str

    def saved_model_base(self, name: str) -> str:
        """The model base path of `name`: its SavedModel versions are its integer-named folders."""
        return os.path.join(self.root, name)

    def saved_model_version(self, name: str, version: int) -> str:
        return os.path.join(self.saved_model_base(name), str(version))

    def tflite_dir(self, name: str) -> str:
        return os.path.join(self.root, "tflite", name)

    def onnx_dir(self, name: str) -> str:
        return os.path.join(self.root, "onnx", name)

    def record(self, name: str) -> str:
        """What the last export of `name` was asked and reported (a hidden JSON file)."""
        return os.path.join(self.root, f".{name}{RECORD_SUFFIX}")

    @property
    def models_config(self) -> str:
        return os.path.join(self.root, MODELS_CONFIG)
