"""scripts/benchmark.py's library: one round on tiny models, checking the report's structure (no timing asserts)."""

import json
import os

import pytest

from keras_resnet.research import benchmark
from keras_resnet.train import autotune, precision

from helpers import make_idx_dataset

pytestmark = pytest.mark.slow  # end-to-end: scripts, training, export, search or experiments


def small(tmp_path, **kwargs):
    values = dict(model="resnet8", batch_size=2, warmup_rounds=0, rounds=2, steps_per_round=1, threads=(1,),
                  output=str(tmp_path / "bench.json"))
    values.update(kwargs)
    return benchmark.BenchmarkConfig(**values)


def test_a_report_compares_with_keras_applications_per_image_and_per_mac(tmp_path):
    report = benchmark.run(small(tmp_path, model="resnet50", image_size=32, tasks=("inference",)))
    subjects = [(r["task"], r["subject"]) for r in report["results"]]
    names = ["keras_resnet resnet50", "keras_resnet resnet50 stride_in_1x1", "keras.applications ResNet50"]
    assert subjects == [("inference", n) for n in names]
    for r in report["results"]:
        assert r["unit"] == "images/s" and len(r["rounds"]) == 2 and r["value"] > 0 and r["macs"] > 0
        assert r["gmacs_per_second"] == pytest.approx(r["value"] * r["macs"] / 1e9)
    # The Caffe placement has keras.applications' multiply-adds (its convs' biases are not multiply-adds).
    macs = {r["subject"]: r["macs"] for r in report["results"]}
    assert macs["keras_resnet resnet50 stride_in_1x1"] == macs["keras.applications ResNet50"] < macs[names[0]]
    ratios = [(c["task"], c["what"]) for c in report["comparisons"]]
    assert ratios == [("inference", f"{n} / keras.applications ResNet50") for n in names[:2]]
    assert json.load(open(report["paths"]["json"]))["machine"]["cores"] == os.cpu_count()
    table = open(report["paths"]["markdown"]).read()
    assert "| inference | keras.applications ResNet50 | float32 | off | 2 |" in table


def test_the_fused_batchnorm_is_compared_with_keras_own_and_auto_names_the_fastest_step(tmp_path):
    report = benchmark.run(small(tmp_path, tasks=("train",), keras_batchnorm=True, image_size=32, dtypes=("auto",)))
    # auto: the dtypes a training run's autotuner would time on this machine (float32 alone without native bfloat16)
    worth = [c.dtype for c in autotune.candidates("auto", "off", gpu=False,
                                                   native_bfloat16=precision.cpu_has_native_bfloat16())]
    subjects = [(r["dtype"], r["subject"]) for r in report["results"]]
    assert subjects == [(d, s) for d in worth for s in ("keras_resnet resnet8", "keras_resnet resnet8 keras_batchnorm")]
    assert len({r["macs"] for r in report["results"]}) == 1
    ratio = report["comparisons"][0]
    assert ratio["what"] == "keras_resnet resnet8 / keras_resnet resnet8 keras_batchnorm"
    values = [r["value"] for r in report["results"]]
    assert ratio["per_image"] == pytest.approx(values[0] / values[1])
    fastest = max((r for r in report["results"] if r["subject"] == "keras_resnet resnet8"), key=lambda r: r["value"])
    assert report["auto"] == {"dtype": fastest["dtype"], "xla": False, "subject": fastest["subject"],
                              "images_per_second": fastest["value"]}
    assert f"auto: {fastest['dtype']}, XLA off (the fastest training step of " in open(
        report["paths"]["markdown"]).read()


@pytest.mark.kernels
def test_a_profile_charges_each_subjects_training_step(tmp_path):
    # One dtype keeps the suite short: float32 is profiled in test_profiling, and bfloat16 adds the casts.
    report = benchmark.run(small(tmp_path, tasks=("profile",), keras_batchnorm=True, image_size=32,
                                 dtypes=("mixed_bfloat16",)))
    assert report["results"] == [] and report["comparisons"] == []
    names = ["keras_resnet resnet8", "keras_resnet resnet8 keras_batchnorm"]
    assert [(p["dtype"], p["subject"]) for p in report["profiles"]] == [("mixed_bfloat16", n) for n in names]
    for profile in report["profiles"]:
        assert profile["steps"] == 1 and profile["batch_size"] == 2
        assert os.path.dirname(profile["trace_dir"]) == str(tmp_path / "bench_traces")
        assert sum(r["share"] for r in profile["by_layer"]) == pytest.approx(1.0)
        types = {r["op_type"] for r in profile["by_op_type"]}
        # keras_resnet's layer runs TensorFlow's fused kernel; Keras's own runs separate ops.
        fused = not profile["subject"].endswith("keras_batchnorm")
        assert ("FusedBatchNormV3" in types) == fused and ("SquaredDifference" in types) != fused
        assert "Cast" in types
    table = open(report["paths"]["markdown"]).read()
    assert "| | keras_resnet resnet8, mixed_bfloat16 | keras_resnet resnet8 keras_batchnorm, mixed_bfloat16 |" in table
    assert "| BatchNormalization |" in table and "| Conv2DBackpropFilter |" in table
    assert "| task | subject |" not in table


def test_the_normalisation_layer_alone_fused_against_keras(tmp_path):
    report = benchmark.run(small(tmp_path, tasks=("batchnorm",), dtypes=("float32", "mixed_bfloat16")))
    subjects = [(r["dtype"], r["subject"]) for r in report["results"]]
    names = [f"{layer}, {mode}" for layer in ("keras_resnet BatchNormalization", "keras.layers.BatchNormalization")
             for mode in ("training", "inference")]
    assert subjects == [(d, n) for d in ("float32", "mixed_bfloat16") for n in names]
    assert all(r["value"] > 0 and r["unit"] == "images/s" for r in report["results"])
    ratios = [(c["dtype"], c["what"]) for c in report["comparisons"] if c["task"] == "batchnorm"]
    assert ratios == [(d, f"keras_resnet BatchNormalization, {m} / keras.layers.BatchNormalization, {m}")
                      for d in ("float32", "mixed_bfloat16") for m in ("training", "inference")] + [
        ("mixed_bfloat16", f"{n}: mixed_bfloat16 / float32") for n in names]


def test_training_steps_deployed_latency_and_the_input_pipeline(tmp_path):
    data_dir = make_idx_dataset(str(tmp_path / "data"))
    report = benchmark.run(small(tmp_path, tasks=("train", "pipeline", "latency"), data_dir=data_dir))
    train = [r for r in report["results"] if r["task"] == "train"]
    assert [r["subject"] for r in train] == ["keras_resnet resnet8"] and train[0]["value"] > 0
    pipeline = [r for r in report["results"] if r["task"] == "pipeline"]
    assert [r["subject"] for r in pipeline] == ["fashion_mnist pipeline alone (cifar)", "train step, synthetic tensors",
                                                "train step fed by the pipeline"]
    latency = [(r["subject"], r["dtype"], r["threads"], r["unit"], r["batch_size"])
               for r in report["results"] if r["task"] == "latency"]
    assert latency == [("keras_resnet resnet8 (LiteRT)", q, 1, "ms", 1)
                       for q in ("float32", "float16", "dynamic_int8", "int8")] + [
        ("keras_resnet resnet8 (ONNX Runtime)", "float32", 1, "ms", 1),
        ("keras_resnet resnet8 (TensorFlow)", "float32", None, "ms", 1)]
    assert all(r["value"] > 0 for r in report["results"] if r["task"] == "latency")
    whats = [c["what"] for c in report["comparisons"]]
    assert "train step fed by the pipeline / train step, synthetic tensors" in whats
    assert "keras_resnet resnet8 (LiteRT) int8 / LiteRT float32 latency, 1 thread(s)" in whats
    assert "keras_resnet resnet8 (ONNX Runtime) float32 / LiteRT float32 latency, 1 thread(s)" in whats
    assert "keras_resnet resnet8 (TensorFlow) float32 / LiteRT float32 latency, TensorFlow's pool / 1 thread(s)" \
        in whats


@pytest.mark.parametrize("changes, message", [
    (dict(tasks=("inference", "speed")), "--tasks takes one or more of inference, train, latency, pipeline, batchnorm"),
    (dict(dtypes=("float64",)), "--dtypes takes one or more of float32"),
    (dict(dtypes=("mixed_float16",)), "mixed_float16 needs a GPU"),
    (dict(model="resnet51"), "Unknown model 'resnet51'"),
    (dict(tasks=("pipeline",), dataset="no_such_data"), "no_such_data"),
])
def test_bad_settings_fail_before_any_work(tmp_path, changes, message):
    with pytest.raises(ValueError, match=message):
        benchmark.run(small(tmp_path, **changes))
    assert not os.listdir(tmp_path)


def test_a_profile_is_refused_where_gpus_would_run_the_ops(tmp_path, monkeypatch):
    real = benchmark.machine()
    monkeypatch.setattr(benchmark, "machine", lambda: dict(real, gpus=["/physical_device:GPU:0"]))
    with pytest.raises(ValueError, match="--tasks=profile charges host CPU op events.*CUDA_VISIBLE_DEVICES"):
        benchmark.run(small(tmp_path, tasks=("profile",)))
    assert not os.listdir(tmp_path)
