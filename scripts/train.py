"""Train a ResNet: `python scripts/train.py --model=resnet20 --dataset=fashion_mnist`.

Every flag is a field of `keras_resnet.train.config.TrainConfig`, or of
`keras_resnet.export.exporter.ExportConfig` (--export_dir and the export's
options). A relaunch with the same flags and --model_dir resumes from the last
finished epoch; with --export_dir the final model is then exported and verified.
"""

from keras_resnet import cli

cli.import_tensorflow()
from keras_resnet.export.exporter import ExportConfig  # noqa: E402
from keras_resnet.train.config import TrainConfig  # noqa: E402

cli.define_flags(TrainConfig)
cli.define_flags(ExportConfig)


def main(argv):
    del argv
    from keras_resnet.export import exporter
    from keras_resnet.train import reports, training

    settings = cli.from_flags(TrainConfig)
    export = cli.from_flags(ExportConfig)
    if export.export_dir:
        export.validate()  # before training, so a bad export flag costs no training
    result = training.train(settings)  # validates every flag before any work
    print(reports.training_summary(settings.model, settings.dataset, result))
    if export.export_dir:
        options = {k: v for k, v in vars(export).items() if k != "export_dir"}
        with cli.native_stderr_silenced():  # LiteRT's converter and interpreter print from C++
            exported = exporter.export_model(settings.model_dir, export.export_dir, **options)
        print(exporter.format_reports(exported))
    return 0


if __name__ == "__main__":
    cli.run(main, errors=(ValueError, FloatingPointError, RuntimeError))
