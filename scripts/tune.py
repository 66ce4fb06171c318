"""Search ResNet hyperparameters with keras-tuner.

    python scripts/tune.py --dataset=fashion_mnist --tuner=random --max_trials=8 --epochs=2
    python scripts/tune.py --dataset=fashion_mnist --max_trials=8 --epochs=2 --workers=2

    # Across machines, with --model_dir on a filesystem both share:
    python scripts/tune.py --role=chief --oracle=0.0.0.0:8470 --workers=2 ...    # machine A
    python scripts/tune.py --role=worker --oracle=machine-a:8470 ...             # machine B

Every flag is a field of `keras_resnet.train.tuning.TuneConfig` or, for the
ranges searched, of `SearchSpace`. Relaunching with the same --model_dir
resumes the search (a killed chief too: its workers wait for it). The best model is
saved to <model_dir>/best/, ready for
`scripts/export.py --model_dir=<model_dir>/best`.
"""

from keras_resnet import cli

cli.import_tensorflow()
from keras_resnet.train.tuning import SearchSpace, TuneConfig  # noqa: E402

cli.define_flags(TuneConfig)
cli.define_flags(SearchSpace)


def main(argv):
    del argv
    from keras_resnet.train import tuning

    settings = cli.from_flags(TuneConfig, space=cli.from_flags(SearchSpace))
    result = tuning.search(settings)  # validates every flag before any trial
    if "worker" in result:
        print(f"worker {result['worker']}: ran {result['trials_run']} trial(s) for the search's chief at "
              f"{result['chief']}, which saves the best model")
        return 0
    print(result["table"])
    print(f"best {settings.objective} {result['score']:.4f}; test accuracy of the best model "
          f"{result['test_accuracy']:.4f}; {result['num_trials']} trial(s); best model in {result['best_dir']}")
    return 0


if __name__ == "__main__":
    cli.run(main)
