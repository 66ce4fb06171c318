"""keras_resnet.research.profiling: charging a trace's op events to op types and layer classes, and a real profiled step."""

import os

import keras
import numpy as np
import pytest
from tensorflow.tsl.profiler.protobuf import xplane_pb2

import keras_resnet
from keras_resnet.research import profiling

CLASSES = {"conv1_conv": "Conv2D", "conv1_bn": "BatchNormalization", "predictions": "Dense"}


def xspace(events, plane="/host:CPU"):
    """An XSpace with one line of op events [(metadata name, display name, duration in ps)]."""
    space = xplane_pb2.XSpace()
    host = space.planes.add(name=plane)
    line = host.lines.add(name="tf_Compute")
    for i, (name, display, ps) in enumerate(events, start=1):
        host.event_metadata[i].id = i
        host.event_metadata[i].name = name
        host.event_metadata[i].display_name = display
        line.events.add(metadata_id=i, duration_ps=ps)
    return space


@pytest.mark.parametrize("op_name, expected", [
    ("StatefulPartitionedCall/resnet8_1/conv1_conv_1/convolution", ("Conv2D", False)),
    ("StatefulPartitionedCall/gradient_tape/resnet8_1/conv1_bn_1/FusedBatchNormGradV3", ("BatchNormalization", True)),
    ("StatefulPartitionedCall/sgd/Mul_36", ("(optimizer)", False)),
    ("StatefulPartitionedCall/sgd/conv1_conv_1/Mul", ("(optimizer)", False)),
    ("StatefulPartitionedCall/compile_loss/categorical_crossentropy/softmax_cross_entropy_with_logits",
     ("(loss)", False)),
    ("StatefulPartitionedCall/AddN_1", ("(other)", False)),
    # The innermost scope that names a layer wins.
    ("flip_tta_1/conv1_conv_1/convolution", ("Conv2D", False)),
])
def test_ops_are_charged_to_the_innermost_layer_or_a_bucket(op_name, expected):
    assert profiling.charge(op_name, CLASSES, "sgd") == expected


def test_op_events_sum_by_type_and_by_layer_per_step():
    space = xspace([
        ("m/conv1_conv_1/convolution:Conv2D", "Conv2D", 6_000_000_000),  # 6 ms
        ("m/gradient_tape/m/conv1_conv_1/convolution/Conv2DBackpropInput:Conv2DBackpropInput",
         "Conv2DBackpropInput", 10_000_000_000),
        ("m/conv1_bn_1/Cast:Cast", "Cast", 2_000_000_000),
        ("m/conv1_bn_1/FusedBatchNormV3:FusedBatchNormV3", "FusedBatchNormV3", 4_000_000_000),
        ("m/sgd/Mul:Mul", "Mul", 2_000_000_000),
        # Not op events: an executor region and a tf.data iterator.
        ("ExecutorState::Process", "", 50_000_000_000),
        ("Iterator::Root::Prefetch", "Iterator::Prefetch", 50_000_000_000),
    ])
    events = profiling.op_events(space)
    assert [e[1] for e in events] == ["Conv2D", "Conv2DBackpropInput", "Cast", "FusedBatchNormV3", "Mul"]
    assert events[0][0] == "m/conv1_conv_1/convolution" and events[0][2] == pytest.approx(0.006)
    total, by_type, by_layer = profiling.summarize(events, CLASSES, "sgd", steps=2)
    assert total == pytest.approx(12.0)
    assert [(r["op_type"], r["ms"]) for r in by_type] == [
        ("Conv2DBackpropInput", pytest.approx(5.0)), ("Conv2D", pytest.approx(3.0)),
        ("FusedBatchNormV3", pytest.approx(2.0)), ("Cast", pytest.approx(1.0)), ("Mul", pytest.approx(1.0))]
    assert [(r["layer"], r["forward_ms"], r["backward_ms"], r["share"]) for r in by_layer] == [
        ("Conv2D", pytest.approx(3.0), pytest.approx(5.0), pytest.approx(8 / 12)),
        ("BatchNormalization", pytest.approx(3.0), 0.0, pytest.approx(3 / 12)),
        ("(optimizer)", pytest.approx(1.0), 0.0, pytest.approx(1 / 12))]
    # A compiled (XLA) step is one op whose type loses its trace counter, so runs compare.
    [(_, op_type, _)] = profiling.op_events(xspace([
        ("StatefulPartitionedCall:__inference_one_step_on_data_5231", "__inference_one_step_on_data_5231", 1)]))
    assert op_type == "__inference_one_step_on_data"
    # oneDNN's kernels (on by default on Intel CPUs with AVX512) are charged to the operation they run.
    onednn = profiling.op_events(xspace([
        ("m/conv1_conv_1/convolution:_MklNativeConv2D", "_MklNativeConv2D", 3_000_000_000),
        ("m/conv1_conv_1/convolution:Conv2D", "Conv2D", 1_000_000_000),
        ("m/conv1_bn_1/FusedBatchNormV3:_MklNativeFusedBatchNormV3", "_MklNativeFusedBatchNormV3", 1_000_000_000),
        ("m/predictions_1/MatMul:_MklMatMul", "_MklMatMul", 1_000_000_000)]))
    assert [e[1] for e in onednn] == ["Conv2D", "Conv2D", "FusedBatchNormV3", "MatMul"]
    _, by_type, by_layer = profiling.summarize(onednn, CLASSES, "sgd", steps=1)
    assert [(r["op_type"], r["ms"]) for r in by_type][0] == ("Conv2D", pytest.approx(4.0))
    assert {r["layer"] for r in by_layer} == {"Conv2D", "BatchNormalization", "Dense"}
    # Device planes (GPU kernels) are not host op events.
    assert profiling.op_events(xspace([("a/b:Conv2D", "Conv2D", 1)], plane="/device:GPU:0")) == []
    with pytest.raises(ValueError, match="no TensorFlow op events"):
        profiling.summarize([], CLASSES, "sgd", steps=1)


@pytest.mark.kernels
def test_a_real_training_step_is_charged_to_the_model_layers(tmp_path):
    model = keras_resnet.build("resnet8", input_shape=(16, 16, 3), classes=10)
    model.compile(keras.optimizers.SGD(0.1, momentum=0.9), "categorical_crossentropy")
    x = np.random.default_rng(0).uniform(0, 255, (2, 16, 16, 3)).astype("float32")
    y = keras.utils.to_categorical([1, 2], 10)
    profile = profiling.profile_training(model, x, y, str(tmp_path / "trace"), steps=2)
    assert (profile.subject, profile.dtype, profile.xla, profile.batch_size, profile.steps) == (
        "resnet8", "float32", False, 2, 2)
    assert profile.step_ms > 0 and profile.op_ms > 0
    assert sum(r["share"] for r in profile.by_op_type) == pytest.approx(1.0)
    assert sum(r["ms"] for r in profile.by_layer) == pytest.approx(profile.op_ms)
    types = {r["op_type"] for r in profile.by_op_type}
    assert {"Conv2D", "Conv2DBackpropFilter", "FusedBatchNormV3", "FusedBatchNormGradV3"} <= types
    layers = {r["layer"]: r for r in profile.by_layer}
    for cls in ("Conv2D", "BatchNormalization", "ReLU", "Dense"):
        assert layers[cls]["forward_ms"] > 0 and layers[cls]["backward_ms"] > 0, cls
    assert set(layers) <= set(profiling.layer_classes(model).values()) | {"(optimizer)", "(loss)", "(other)"}
    assert any(name.endswith(".xplane.pb") for _, _, names in os.walk(profile.trace_dir) for name in names)


def test_profiling_needs_a_compiled_model_and_steps(tmp_path):
    model = keras_resnet.build("resnet8", input_shape=(16, 16, 3), classes=10)
    x, y = np.zeros((1, 16, 16, 3), "float32"), np.zeros((1, 10), "float32")
    with pytest.raises(ValueError, match="not compiled"):
        profiling.profile_training(model, x, y, str(tmp_path))
    model.compile("sgd", "categorical_crossentropy")
    with pytest.raises(ValueError, match="steps must be >= 1"):
        profiling.profile_training(model, x, y, str(tmp_path), steps=0)
    assert not os.listdir(tmp_path)


def test_markdown_sets_profiles_side_by_side_and_sums_the_rarest_op_types():
    def profile(subject, xla, types, layers):
        total = sum(types.values())
        return dict(subject=subject, dtype="float32", xla=xla, step_ms=10.0, op_ms=total,
                    by_op_type=[dict(op_type=t, ms=ms, share=ms / total) for t, ms in types.items()],
                    by_layer=[dict(layer=n, ms=ms, share=ms / total) for n, ms in layers.items()])

    table = profiling.markdown([
        profile("a", False, {"Conv2D": 6.0, "Mul": 3.0, "Cast": 1.0}, {"Conv2D": 6.0, "BatchNormalization": 4.0}),
        profile("b", True, {"__inference_one_step_on_data": 5.0}, {"(other)": 5.0})], top=1)
    lines = table.splitlines()
    assert "| | a, float32 | b, float32, XLA |" in lines
    assert "| summed op time | 10.0 | 5.0 |" in lines
    assert "| Conv2D | 6.0 (60.0 %) |  |" in lines and "| (other) |  | 5.0 (100.0 %) |" in lines
    # top=1 keeps the type with the largest share in any profile; the rest is one row per profile.
    assert "| __inference_one_step_on_data |  | 5.0 (100.0 %) |" in lines
    assert "| 3 other op types | 10.0 (100.0 %) | 0.0 (0.0 %) |" in lines
    assert any(line.startswith("XLA compiles the whole step") for line in lines)
    assert profiling.markdown([]) == ""
