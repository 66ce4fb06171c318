"""`keras-resnet benchmark`: measure a network beside keras.applications' counterpart.

Every flag is a field of `keras_resnet.research.config.BenchmarkConfig`. Writes
a JSON report and a markdown table (--output) and prints the table.
"""

from __future__ import annotations

import argparse

from keras_resnet import cli
from keras_resnet.cli import flags
from keras_resnet.research.config import BenchmarkConfig

SUMMARY = "Benchmark a network beside keras.applications' (throughput, latency, pipeline, profile)."
EXAMPLE = "keras-resnet benchmark --model=resnet50 --tasks=inference,train"
ERRORS = (ValueError,)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    flags.add_settings(parser, BenchmarkConfig, default_group="benchmark")


def main(args: argparse.Namespace) -> int:
    config = flags.settings_from(args, BenchmarkConfig)
    cli.import_tensorflow()
    from keras_resnet.research import benchmark, benchmark_report

    report = benchmark.run(config)
    print(benchmark_report.markdown(report))
    print("wrote " + ", ".join(report["paths"].values()))
    return 0
