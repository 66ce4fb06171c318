"""Benchmark a network beside keras.applications': `python scripts/benchmark.py --model=resnet50`.

Every flag is a field of `keras_resnet.research.benchmark.BenchmarkConfig`; the
measurements are `keras_resnet.research.benchmark`. Writes a JSON report and a
markdown table (--output) and prints the table.
"""

from keras_resnet import cli

cli.import_tensorflow()
from keras_resnet.research.benchmark import BenchmarkConfig  # noqa: E402

cli.define_flags(BenchmarkConfig)


def main(argv):
    del argv
    from keras_resnet.research import benchmark

    report = benchmark.run(cli.from_flags(BenchmarkConfig))
    print(benchmark.markdown(report))
    print("wrote " + ", ".join(report["paths"].values()))
    return 0


if __name__ == "__main__":
    cli.run(main, errors=(ValueError,))
