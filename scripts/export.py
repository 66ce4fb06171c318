"""Export a trained model for TF Serving (SavedModel), Android (LiteRT) and ONNX Runtime, verified.

    python scripts/export.py --model_dir=runs/resnet20_fashion_mnist --export_dir=saved_models

Every flag but --model_dir/--model_path is a field of `keras_resnet.export.exporter.ExportConfig`.
"""

import dataclasses
from typing import Optional

from keras_resnet import cli

cli.import_tensorflow()
from keras_resnet.export.exporter import ExportConfig  # noqa: E402
from keras_resnet.settings import setting  # noqa: E402


@dataclasses.dataclass
class ExportCommand(ExportConfig):
    """scripts/export.py: what to export, and `ExportConfig` with a default --export_dir."""

    export_dir: str = setting("saved_models", "Base directory of the exports.")
    model_dir: Optional[str] = setting(None, "A scripts/train.py --model_dir (or use --model_path).")
    model_path: Optional[str] = setting(None, "A .keras file saved from a keras_resnet model.")


cli.define_flags(ExportCommand)


def main(argv):
    del argv
    from keras_resnet.export import exporter

    command = cli.from_flags(ExportCommand)
    if bool(command.model_dir) == bool(command.model_path):
        raise ValueError("pass exactly one of --model_dir or --model_path")
    options = {k: v for k, v in vars(command).items() if k not in ("export_dir", "model_dir", "model_path")}
    with cli.native_stderr_silenced():  # LiteRT's converter and interpreter print from C++
        reports = exporter.export_model(command.model_dir or command.model_path, command.export_dir, **options)
    print(exporter.format_reports(reports))
    return 0


if __name__ == "__main__":
    from keras_resnet.export.artifacts import ExportVerificationError

    cli.run(main, errors=(ValueError, ExportVerificationError))
