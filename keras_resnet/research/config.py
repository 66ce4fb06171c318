"""The research commands' settings, without TensorFlow: the paper's experiments (`ReproduceConfig`) and the
benchmark beside keras.applications (`BenchmarkConfig`).

`keras-resnet reproduce` and `keras-resnet benchmark` define their flags from
these fields; `keras_resnet.research.experiments` and `.benchmark` run them.
"""

from __future__ import annotations

import dataclasses
from typing import Optional

from keras_resnet.arch import specs
from keras_resnet.data.augmentations import AUGMENTATIONS
from keras_resnet.settings import at_least, fraction, one_or_more_of, setting
from keras_resnet.train.config import RunSettings, time_budget_setting
from keras_resnet.train.precision import DTYPES
from keras_resnet.train.recipes import RECIPES

__all__ = ["BENCHMARK_TASKS", "EXPERIMENTS", "REPRODUCE_BUDGET", "BenchmarkConfig", "ReproduceConfig"]

EXPERIMENTS = ("degradation", "responses", "lesion", "table6")
# The default budget of degradation, responses and lesion, sized so that the
# 8 default nets (plain and residual 20/32/44/56) train within 45 minutes on
# 2 CPU cores (docs/REPRODUCTION.md has the measured time). Table 6 defaults
# to its recipe's length (the paper's 64k iterations) on all the data.
# Deep nets at lr 0.1 diverge in their first steps and do not recover within
# a short budget (docs/REPRODUCTION.md), so every depth ramps up over the
# first epoch (78 steps of 10,000 images at batch 128), as Goyal et al. do.
REPRODUCE_BUDGET = dict(epochs=4, max_train_examples=10_000, max_test_examples=2_000, warmup_steps=78)


def _cifar_depths(name, value):
    for depth in value:
        if depth < 8 or (depth - 2) % 6:
            raise ValueError(f"--{name} takes CIFAR depths 6n+2 (8, 14, 20, 26, 32, ...). Received: {name}="
                             f"{','.join(map(str, value))}")


@dataclasses.dataclass
class ReproduceConfig(RunSettings):
    """The paper's experiments (`keras_resnet.research.experiments`); `keras-resnet reproduce` fills it from flags.

    The budget fields left as None take the experiment's default: a short
    budget for degradation/responses/lesion, the recipe's 64k iterations
    for table6 (see `keras_resnet.research.experiments.budget`).
    """

    experiment: str = setting("degradation", "degradation, responses, lesion or table6.", choices=EXPERIMENTS,
                              flag=False)
    model_dir: Optional[str] = setting(None, "Where the nets (a run directory each) and the figures and numbers "
                                       "go; default runs/reproduce_<dataset>.")
    depths: tuple = setting((20, 32, 44, 56), "CIFAR depths 6n+2: each is trained as plain<d> and resnet<d> "
                            "(table6: resnet<d> only).", check=_cifar_depths)
    recipe: str = setting("cifar", "Training recipe of every net (see train's --recipe).",
                          choices=tuple(RECIPES))
    train_steps: Optional[int] = setting(None, "Total training steps per net (overrides --epochs).",
                                         check=at_least(1))
    dtype: str = setting("float32", "float32, mixed_bfloat16, mixed_float16 or auto (see train's --dtype).",
                         choices=DTYPES)
    validation_split: float = setting(0.0, "Fraction of the training images held out (the paper trains on all "
                                      "of them and reports test error).", check=fraction)
    time_budget: Optional[str] = time_budget_setting("each net, as train's --time_budget")
    epochs: Optional[int] = setting(None, f"Epochs per net; default {REPRODUCE_BUDGET['epochs']} (table6: the "
                                    "recipe's length).", check=at_least(1))
    max_train_examples: Optional[int] = setting(None, "Training images per net; default "
                                                f"{REPRODUCE_BUDGET['max_train_examples']} (table6: all).",
                                                check=at_least(1))
    max_test_examples: Optional[int] = setting(None, "Test images; default "
                                               f"{REPRODUCE_BUDGET['max_test_examples']} (table6: all).",
                                               check=at_least(1))
    warmup_steps: Optional[int] = setting(None, "A linear learning-rate warm-up over this many steps for every "
                                          f"net; default {REPRODUCE_BUDGET['warmup_steps']} (table6: the "
                                          "recipe's, the paper's 0.01 for 400 steps on depth >= 110).",
                                          check=at_least(0))
    lesion_depth: int = setting(56, "lesion: the depth whose plain and residual nets lose blocks (one of "
                                "--depths).", check=at_least(8))
    lesion_max_deleted: int = setting(8, "lesion: delete up to this many blocks at random.", check=at_least(1))
    lesion_draws: int = setting(3, "lesion: random draws for each number of deleted blocks.", check=at_least(1))
    eval_examples: Optional[int] = setting(None, "responses and lesion: test images each measurement uses; "
                                           "default all of the (--max_test_examples) test set.", check=at_least(1))

    def __post_init__(self):
        if self.model_dir is None:
            self.model_dir = f"runs/reproduce_{self.dataset}"


BENCHMARK_TASKS = ("inference", "train", "latency", "pipeline", "batchnorm", "profile")


def _threads(name, value):
    if not value or any(threads < 1 for threads in value):
        raise ValueError(f"--{name} takes thread counts >= 1. Received: {name}={','.join(map(str, value))}")


@dataclasses.dataclass
class BenchmarkConfig:
    """A benchmark (`keras_resnet.research.benchmark`); `keras-resnet benchmark` fills it from flags."""

    model: str = setting("resnet50", "A name of keras_resnet.list_models(); keras.applications' counterpart "
                         "(ResNet50/101/152, their V2) is measured beside it in the same run.",
                         check=specs.check_model_name)
    batch_size: int = setting(32, "Images per step (inference and training).", check=at_least(1))
    image_size: Optional[int] = setting(None, "Input side; default the model's (224 for the ImageNet nets).",
                                        check=at_least(1))
    tasks: tuple = setting(("inference", "train"), "What to measure: inference, train (a training step), "
                           "latency (batch-1 latency of the four LiteRT files, the ONNX file on ONNX Runtime and "
                           "the TensorFlow graph), pipeline (the training input "
                           "pipeline on --dataset against a training step on synthetic tensors), batchnorm (the "
                           "normalisation layer alone, fused kernel against Keras's, on 56x56x64 activations), profile (a "
                           "tf.profiler trace of each subject's training step, its op time charged by op type and by "
                           "layer class; CPU only).",
                           check=one_or_more_of(BENCHMARK_TASKS))
    dtypes: tuple = setting(("float32",), "Dtype policies: float32, mixed_bfloat16, mixed_float16 (GPU), or auto: "
                            "every policy a training run's --dtype=auto would time here, and the report names the "
                            "one it would pick (with --xla, XLA's too).", check=one_or_more_of(DTYPES))
    xla: bool = setting(False, "Also measure every model task with XLA (jit_compile=True).")
    stride_in_1x1: bool = setting(True, "Also measure keras_resnet with the stride on the 1x1 (Caffe's "
                                  "placement, keras.applications' multiply-adds).")
    keras_batchnorm: bool = setting(False, "Also measure keras_resnet's net with Keras's own BatchNormalization "
                                    "in place of its fused-kernel layer (what the fused kernel gains).")
    warmup_rounds: int = setting(1, "Untimed rounds first (tracing, compilation, caches).", check=at_least(0))
    rounds: int = setting(5, "Timed rounds; the median is reported. Subjects alternate round by round.",
                          check=at_least(1))
    steps_per_round: int = setting(3, "Batches in a round.", check=at_least(1))
    threads: tuple = setting((1, 2), "latency: LiteRT's and ONNX Runtime's threads.", check=_threads)
    dataset: str = setting("fashion_mnist", "pipeline: the data set whose training pipeline is timed (checked "
                           "with --tasks=pipeline).")
    data_dir: Optional[str] = setting(None, "pipeline: where the data set is (see train's --data_dir).")
    augmentation: str = setting("cifar", "pipeline: the training augmentation.", choices=AUGMENTATIONS)
    output: str = setting("benchmark.json", "The JSON report; a markdown table is written beside it (.md).")
