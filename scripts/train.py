"""Train a ResNet: `python scripts/train.py --model=resnet20 --dataset=fashion_mnist`.

Every flag is a field of `keras_resnet.config.TrainConfig`. A relaunch with
the same flags and --model_dir resumes from the last finished epoch; with
--export_dir the final model is then exported and verified.
"""

from keras_resnet import cli

cli.import_tensorflow()
from keras_resnet import config  # noqa: E402

cli.define_flags(config.TrainConfig)


def main(argv):
    del argv
    from keras_resnet import reports, training

    settings = cli.from_flags(config.TrainConfig)
    result = training.train(settings)  # validates every flag before any work
    print(reports.training_summary(settings.model, settings.dataset, result))
    if settings.export_dir:
        from keras_resnet import export

        with cli.native_stderr_silenced():  # LiteRT's converter and interpreter print from C++
            exported = export.export_model(settings.model_dir, settings.export_dir, formats=settings.formats)
        print(export.format_reports(exported))
    return 0


if __name__ == "__main__":
    cli.run(main, errors=(ValueError, FloatingPointError, RuntimeError))
