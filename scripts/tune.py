"""Search ResNet hyperparameters with keras-tuner.

    python scripts/tune.py --dataset=fashion_mnist --tuner=random --max_trials=8 --epochs=2

Every flag is a field of `keras_resnet.train.tuning.TuneConfig` or, for the
ranges searched, of `SearchSpace`. Relaunching with the same --model_dir
resumes the search. The best model is saved to <model_dir>/best/, ready for
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
    print(result["table"])
    print(f"best {settings.objective} {result['score']:.4f}; test accuracy of the best model "
          f"{result['test_accuracy']:.4f}; {result['num_trials']} trial(s); best model in {result['best_dir']}")
    return 0


if __name__ == "__main__":
    cli.run(main)
