"""Reproduce the paper's experiments: `python scripts/reproduce.py degradation` (or responses, lesion, table6).

Every flag is a field of `keras_resnet.research.experiments.ReproduceConfig`; the
experiments are `keras_resnet.research.experiments`. The nets are trained (or
resumed, or reused) under --model_dir, where each experiment writes its
figure and numbers.
"""

from keras_resnet import cli

cli.import_tensorflow()
from keras_resnet.research.experiments import EXPERIMENTS, ReproduceConfig  # noqa: E402

cli.define_flags(ReproduceConfig)

def main(argv):
    if len(argv) != 2 or argv[1] not in EXPERIMENTS:
        given = " ".join(argv[1:]) or "nothing"
        raise ValueError(f"Name one experiment: {', '.join(EXPERIMENTS)} "
                         f"(e.g. scripts/reproduce.py degradation). Received: {given}")
    from keras_resnet.research import experiments

    settings = cli.from_flags(ReproduceConfig, experiment=argv[1])
    result = experiments.run(settings)  # validates every flag and run directory before any work
    if "table" in result:
        print(result["table"])
    for key, value in result.get("findings", {}).items():
        print(f"{key}: {value:.4g}")
    print("wrote " + ", ".join(result["paths"].values()))
    return 0

if __name__ == "__main__":
    cli.run(main, errors=(ValueError, FloatingPointError, RuntimeError))
