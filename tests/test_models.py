import dataclasses
import json
import textwrap

import keras
import numpy as np
import pytest

import keras_resnet
from keras_resnet import applications

from helpers import channels_first, requires_jax, run_on_jax, small_model
from published_counts import PARAMS  # tests/goldens

ALL = keras_resnet.list_models()


def trainable(model) -> int:
    return int(sum(np.prod(w.shape) for w in model.trainable_weights))


# plain1202 repeats plain110's blocks: every block after a stage's first has the same weights at any depth, so
# the count is linear in the blocks per stage and two shallow builds give it exactly; its own build (19 s here)
# would add nothing that resnet1202's (built below and shared with its round trip) does not check, the same
# graph with the additions. preact_resnet1001, the only 1000-layer bottleneck net, is built.
BY_REPETITION = {"plain1202": ("plain110", "plain116")}


def trainable_by_name(name: str) -> int:
    if name not in BY_REPETITION:
        return trainable(small_model(name))
    (a, b), blocks = BY_REPETITION[name], lambda n: keras_resnet.get_spec(n).stages[0].blocks
    count_a, count_b = trainable(small_model(a)), trainable(small_model(b))
    return count_a + (blocks(name) - blocks(a)) * (count_b - count_a) // (blocks(b) - blocks(a))


@pytest.mark.slow
@pytest.mark.parametrize("name", ALL)
def test_trainable_params_match_the_paper(name):
    spec = keras_resnet.get_spec(name)
    count = trainable_by_name(name)
    if spec.residual:
        assert count == PARAMS[name] and spec.params_source
    else:
        # A plain twin has exactly the parameters of its option-A ResNet
        # (the CIFAR nets' default, whose count its own case asserts).
        twin = name.replace("plain", "resnet")
        if spec.layout == "cifar":
            assert count == PARAMS[twin]
        else:
            assert count == trainable(small_model(twin, shortcut="A"))


def test_shortcut_options_add_exactly_the_projections():
    a = trainable(small_model("resnet34", shortcut="A"))
    b = trainable(small_model("resnet34", shortcut="B"))
    c = trainable(small_model("resnet34", shortcut="c"))
    # B adds a 1x1 conv + BN at the three stage transitions.
    assert b - a == (64 * 128 + 2 * 128) + (128 * 256 + 2 * 256) + (256 * 512 + 2 * 512)
    assert a == 21_623_848 and b == 21_797_672
    # C projects every one of the 16 blocks.
    projections = [(64, 64)] * 3 + [(64, 128)] + [(128, 128)] * 3 + [(128, 256)] + \
        [(256, 256)] * 5 + [(256, 512)] + [(512, 512)] * 2
    assert c - a == sum(i * o + 2 * o for i, o in projections)
    assert not any(isinstance(l, keras.layers.Conv2D) and l.name.endswith("_0_conv")
                   for l in small_model("plain34").layers)


def test_cifar_option_b_projects_only_where_the_shape_changes():
    a = trainable(small_model("resnet20"))
    b = trainable(small_model("resnet20", shortcut="B"))
    assert b - a == (16 * 32 + 2 * 32) + (32 * 64 + 2 * 64)


@pytest.mark.slow
@pytest.mark.parametrize("name", ALL)
def test_output_shapes_with_and_without_top(name):
    spec = keras_resnet.get_spec(name)
    if name in BY_REPETITION:  # its shapes are its twin's: the same stages and head, fewer blocks (see above)
        twin = keras_resnet.get_spec(BY_REPETITION[name][0])
        assert [(s.filters, s.stride) for s in spec.stages] == [(s.filters, s.stride) for s in twin.stages]
        assert (spec.layout, spec.classes, spec.input_shape, spec.block) == (
            twin.layout, twin.classes, twin.input_shape, twin.block)
        name, spec = twin.name, twin
    model = small_model(name)
    assert model.output_shape == (None, spec.classes)
    side = 64 if spec.layout == "imagenet" else 32
    final = side // spec.min_size
    last = keras_resnet.stage_output_names(spec)[f"C{len(spec.stages) + 1}"]
    full = not (spec.groups > 1 or spec.width_per_group != 64 or spec.avg_down or spec.se_ratio or spec.preact) \
        or spec.name in ("resnet50v2", "preact_resnet164", "wrn16_8")
    if spec.depth > 200 or not full:
        # Another build of a 4,200-layer net costs 20 s, ResNeXt, Wide and
        # ResNet-D share their ResNet's stages (test_specs), and one net of
        # each pre-activation layout is checked in full; the last stage's
        # shape on the cached model says the same.
        final = 32 // spec.min_size
        assert tuple(model.get_layer(last).output.shape) == (None, final, final, spec.num_features)
        return
    features = keras_resnet.build(name, include_top=False, input_shape=(side, side, 1))
    assert features.output_shape == (None, final, final, spec.num_features)
    assert features.layers[-1].name == last


# Every layout of the table; the 1202s and preact_resnet1001 repeat the blocks
# of the 110s and preact_resnet164 (a channels_first build costs 30 s), and
# the deeper ResNeXt, Wide, ResNet-D and v2 nets repeat the blocks of their
# 50-layer (and resnet18d's, wrn16_8's) twins. Here rather than in
# test_data_format: the channels_last twin is the cached model of the tests above.
LAYOUTS = [name for name in ALL
           if keras_resnet.get_spec(name).depth < 1000
           and name not in ("resnext101_32x8d", "resnext101_64x4d", "wide_resnet101_2", "resnet34d", "resnet101d",
                            "resnet152d", "resnet34_vd", "seresnext50_32x4d", "resnet101v2", "resnet152v2",
                            "resnetv2_101", "resnetv2_152", "wrn28_10")]


@pytest.mark.slow
@pytest.mark.parametrize("name", LAYOUTS)
def test_every_model_builds_channels_first_with_the_same_layers_and_weights(name):
    last = small_model(name)
    height, width, channels = last.input_shape[1:]
    first = channels_first(lambda: keras_resnet.build(name, input_shape=(channels, height, width)))
    assert first.get_config()["data_format"] == "channels_first"
    assert [layer.name for layer in first.layers] == [layer.name for layer in last.layers]
    assert [tuple(w.shape) for w in first.weights] == [tuple(w.shape) for w in last.weights]
    assert first.count_params() == last.count_params()
    assert first.output_shape == last.output_shape
    assert keras_resnet.count_macs(first) == keras_resnet.count_macs(last)
    assert first.identity == last.identity  # weights files load into either format


# Pooling is appended after the last stage whatever the net (a build of a
# ResNet-152 costs 5 s): one net of each stem and block kind.
@pytest.mark.parametrize("name", ["resnet20", "resnet18", "resnet50v2"])
def test_pooling_without_top_gives_one_vector_per_image(name):
    spec = keras_resnet.get_spec(name)
    last = keras_resnet.stage_output_names(spec)[f"C{len(spec.stages) + 1}"]
    x = np.random.default_rng(0).uniform(0, 255, (2, 64, 64, 1)).astype("float32")
    for pooling, layer, reduce in (("avg", "avg_pool", np.mean), ("max", "max_pool", np.max)):
        pooled = keras_resnet.build(name, include_top=False, pooling=pooling, input_shape=(64, 64, 1))
        assert pooled.output_shape == (None, spec.num_features)
        assert [l.name for l in pooled.layers[-2:]] == [last, layer]
        # The pooled vector is that reduction of the last stage's feature map.
        maps = keras.Model(pooled.input, pooled.get_layer(last).output)
        np.testing.assert_allclose(keras.ops.convert_to_numpy(pooled(x)),
                                   reduce(keras.ops.convert_to_numpy(maps(x)), axis=(1, 2)), rtol=1e-5, atol=1e-6)


# A .keras file holds a net's spec and options, and loading rebuilds it from
# the table, so one net per kind of block and stem serialises what the
# deeper ones do (they repeat the same blocks more times): the paper's
# ImageNet 18, 34 (basic) and 50 (bottleneck), the CIFAR 20 and its plain
# twin; resnet1202 covers the deep CIFAR path, 4,200 layers (the 110s repeat
# the 20s' blocks, plain1202 is resnet1202's graph less the additions, 50 s a
# round trip). Of the follow-ups, one
# net per spec field (groups, width, deep stem and pooled projections, SE;
# v2's stride and biases, pre-activation bottlenecks, Wide ResNets' widening).
ROUND_TRIPS = [name for name in ALL if name not in (
    "resnet101", "resnet152", "plain101", "plain152", "resnet32", "resnet44", "resnet56", "resnet110", "plain32",
    "plain44", "plain56", "plain110", "plain1202", "resnext101_32x8d", "resnext101_64x4d", "wide_resnet101_2", "resnet34d", "resnet50d",
    "resnet101d", "resnet152d", "resnet34_vd", "seresnext50_32x4d", "resnet101v2", "resnet152v2", "resnetv2_101",
    "resnetv2_152", "preact_resnet110",
    "preact_resnet1001", "wrn28_10")]


@pytest.mark.slow
@pytest.mark.parametrize("name", ROUND_TRIPS)
def test_keras_round_trip_gives_equal_outputs_and_config(name, tmp_path):
    # Serialisation does not depend on width: above 30M parameters a quarter
    # width keeps the files (up to 500 MB at full width) small.
    big = PARAMS.get(name, 0) > 30_000_000
    model = small_model(name, width_multiplier=0.25) if big else small_model(name)
    assert not any(isinstance(layer, keras.layers.Lambda) for layer in model.layers)
    path = str(tmp_path / f"{name}.keras")
    model.save(path)
    loaded = keras_resnet.load_model(path)
    assert [l.name for l in loaded.layers] == [l.name for l in model.layers]
    if len(model.layers) < 1000:
        x = np.random.default_rng(0).uniform(0, 1, (2,) + model.input_shape[1:]).astype("float32")
        # training=True normalises with batch statistics: an untrained deep
        # net overflows float32 with BN's initial moving statistics.
        expected = keras.ops.convert_to_numpy(model(x, training=True))
        got = keras.ops.convert_to_numpy(loaded(x, training=True))
        assert np.isfinite(expected).all()
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-6)
    else:  # the same layers in the same order with the same weights compute the same function; two eager
        # passes through 4,200 layers would cost more than the round trip itself
        for mine, theirs in zip(model.weights, loaded.weights):
            assert mine.path == theirs.path
            np.testing.assert_array_equal(keras.ops.convert_to_numpy(mine), keras.ops.convert_to_numpy(theirs))
    # JSON-normalised: Keras writes build shapes as tuples, reads them as lists.
    assert json.loads(json.dumps(loaded.get_config())) == json.loads(json.dumps(model.get_config()))
    clone = type(model).from_config(model.get_config()) if len(model.layers) < 1000 else loaded
    assert trainable(clone) == trainable(model)


def test_resnext_groups_its_3x3_convs_and_wide_widens_them():
    resnext = small_model("resnext50_32x4d")
    conv = resnext.get_layer("conv2_block1_2_conv")
    assert (conv.groups, conv.filters, tuple(conv.kernel.shape)) == (32, 128, (3, 3, 4, 128))
    assert [resnext.get_layer(f"conv{s}_block1_2_conv").filters for s in (2, 3, 4, 5)] == [128, 256, 512, 1024]
    assert resnext.get_layer("conv2_block1_3_conv").filters == 256
    wide = small_model("wide_resnet50_2")
    conv = wide.get_layer("conv2_block1_2_conv")
    assert (conv.groups, conv.filters, wide.get_layer("conv2_block1_1_conv").filters) == (1, 128, 128)
    assert wide.get_layer("conv5_block3_3_conv").filters == 2048
    options = keras_resnet.build("resnext50_32x4d", input_shape=(32, 32, 3), shortcut="C", stride_in_1x1=True,
                                 zero_init_residual=True, width_multiplier=0.5)
    conv = options.get_layer("conv3_block1_2_conv")
    assert (conv.groups, conv.filters, conv.strides) == (32, 128, (1, 1))
    assert options.get_layer("conv3_block1_1_conv").strides == (2, 2)
    assert "conv2_block2_0_conv" in [layer.name for layer in options.layers]  # option C: every block projects
    with pytest.raises(ValueError, match="width_multiplier=0.2 leaves resnext50_32x4d's first 3x3 conv less than "
                                         "one channel per group .* use at least 0.25"):
        keras_resnet.build("resnext50_32x4d", width_multiplier=0.2)


def _inbound(model, layer_name):
    """Names of the layers feeding `layer_name`."""
    node = model.get_layer(layer_name)._inbound_nodes[0]
    return [t._keras_history.operation.name for t in node.input_tensors]


def test_v2_is_keras_applications_layout():
    model = small_model("resnet50v2")
    names = [layer.name for layer in model.layers]
    # conv1 is a bare biased conv; each block's BN-ReLU feeds its branch and its projection.
    assert "conv1_bn" not in names and model.get_layer("conv1_conv").use_bias
    assert _inbound(model, "conv2_block1_0_conv") == ["conv2_block1_preact_relu"]
    assert _inbound(model, "conv2_block1_1_conv") == ["conv2_block1_preact_relu"]
    assert [model.get_layer(f"conv2_block1_{i}_conv").use_bias for i in (0, 1, 2, 3)] == [True, False, False, True]
    # The stage strides in its last block, whose shortcut is a 1x1 max pool of the block's raw input.
    assert [model.get_layer(f"conv2_block{j}_2_conv").strides for j in (1, 2, 3)] == [(1, 1), (1, 1), (2, 2)]
    assert _inbound(model, "conv2_block3_0_subsample") == ["conv2_block2_out"]
    assert all(model.get_layer(f"conv5_block{j}_2_conv").strides == (1, 1) for j in (1, 2, 3))
    # No ReLU after the addition: the identity path stays clean; a final BN-ReLU before the pooling.
    assert isinstance(model.get_layer("conv2_block2_out"), keras.layers.Add)
    assert _inbound(model, "conv3_block1_preact_bn") == ["conv2_block3_out"]
    assert _inbound(model, "avg_pool") == ["post_relu"]
    assert [f.reduction for f in model.feature_info] == [8, 16, 32, 32]  # keras's stage outputs, stride last
    backbone = keras_resnet.build_backbone("preact_resnet20", input_shape=(32, 32, 3))
    assert {k: tuple(v.shape) for k, v in backbone.output.items()} == {
        "C2": (None, 32, 32, 16), "C3": (None, 16, 16, 32), "C4": (None, 8, 8, 64)}
    assert keras_resnet.stage_output_names(backbone)["C4"] == "post_relu"  # normalised, as the pooling sees it


def test_preact_cifar_and_wide_blocks_compose_with_the_options():
    model = small_model("preact_resnet164")
    assert _inbound(model, "conv2_block1_preact_bn") == ["conv1_conv"]
    assert model.get_layer("conv2_block1_0_conv").filters == 64 and not model.get_layer("conv1_conv").use_bias
    wrn = keras_resnet.build("wrn10_4", dropout_rate=0.3, zero_init_residual=True, drop_path_rate=0.2)
    assert [wrn.get_layer(f"conv{s}_block1_1_conv").filters for s in (2, 3, 4)] == [64, 128, 256]
    assert _inbound(wrn, "conv2_block1_2_conv") == ["conv2_block1_dropout"]
    assert wrn.get_layer("conv2_block1_dropout").rate == 0.3
    assert not np.any(keras.ops.convert_to_numpy(wrn.get_layer("conv4_block1_2_conv").kernel))  # zero-init: last conv
    assert wrn.get_layer("conv4_block1_drop").rate == pytest.approx(0.2)
    # Option A: no projections, the shortcut subsamples and zero-pads the raw input.
    a = keras_resnet.build("preact_resnet20", shortcut="A")
    assert not [layer for layer in a.layers if layer.name.endswith("_0_conv")]
    assert _inbound(a, "conv3_block1_0_pad") == ["conv2_block3_out"]
    c = keras_resnet.build("preact_resnet20", shortcut="C", width_multiplier=0.5)
    assert _inbound(c, "conv2_block2_0_conv") == ["conv2_block2_preact_relu"]  # C: every block projects
    assert c.get_layer("conv4_block3_0_conv").filters == 32
    # Exports drop dropout and drop-path: both are the identity at inference.
    kept = [layer.name for layer in keras_resnet.inference_copy(wrn).layers if "drop" in layer.name]
    assert kept == []
    with pytest.raises(ValueError, match="dropout_rate drops units between a basic block's two convs .* "
                                         "preact_resnet164 has bottleneck blocks"):
        keras_resnet.build("preact_resnet164", dropout_rate=0.3)
    with pytest.raises(ValueError, match=r"dropout_rate must be a number in \[0, 1\). Received: dropout_rate=1"):
        keras_resnet.build("wrn16_8", dropout_rate=1)


def test_resnet_d_has_a_deep_stem_and_average_pooled_projections():
    model = small_model("resnet50d")
    names = [layer.name for layer in model.layers]
    assert [model.get_layer(f"conv1_{i}_conv").filters for i in (1, 2, 3)] == [32, 32, 64]
    assert model.get_layer("conv1_1_conv").strides == (2, 2) and "conv1_conv" not in names
    # Stride-2 projections pool first; conv2's stride-1 projection does not.
    assert [n for n in names if n.endswith("_0_pool")] == ["conv3_block1_0_pool", "conv4_block1_0_pool",
                                                           "conv5_block1_0_pool"]
    pool = model.get_layer("conv4_block1_0_pool")
    assert (pool.pool_size, pool.strides, pool.padding) == ((2, 2), (2, 2), "same")
    assert model.get_layer("conv4_block1_0_conv").strides == (1, 1)
    assert "conv2_block1_0_conv" in names
    assert keras_resnet.freeze(keras_resnet.build("resnet18d", input_shape=(32, 32, 3)), "conv1") == [
        "conv1_1_pad", "conv1_1_conv", "conv1_1_bn", "conv1_1_relu", "conv1_2_conv", "conv1_2_bn", "conv1_2_relu",
        "conv1_3_conv", "conv1_3_bn", "conv1_3_relu", "pool1_pad", "pool1_pool"]


def test_squeeze_excitation_gates_each_residual_branch():
    model = small_model("seresnet50")
    # timm's rounding: 256 / 16 = 16 and 2048 / 16 = 128 channels in the squeeze.
    assert model.get_layer("conv2_block1_se_reduce").filters == 16
    assert model.get_layer("conv5_block3_se_reduce").filters == 128
    assert model.get_layer("conv5_block3_se_expand").filters == 2048
    add = model.get_layer("conv3_block2_add")
    assert "conv3_block2_se_excite" in [node.operation.name for node in add._inbound_nodes[0].parent_nodes]
    assert model.get_layer("conv3_block2_se_squeeze").get_config()["keepdims"] is True


def test_stochastic_depth_decays_linearly_and_leaves_inference_and_exports_alone(tmp_path):
    model = keras_resnet.build("resnet20", drop_path_rate=0.5)
    rates = [layer.rate for layer in model.layers if isinstance(layer, keras_resnet.DropPath)]
    np.testing.assert_allclose(rates, [0.5 * l / 9 for l in range(1, 10)])  # Huang et al.: 1 - p_l = l/L (1 - p_L)
    assert [layer.name for layer in model.layers if isinstance(layer, keras_resnet.DropPath)][-1] == (
        "conv4_block3_drop")
    model.save(tmp_path / "sd.keras")
    assert keras_resnet.load_model(str(tmp_path / "sd.keras")).get_config()["drop_path_rate"] == 0.5
    copy = keras_resnet.inference_copy(model)
    assert not any(isinstance(layer, keras_resnet.DropPath) for layer in copy.layers)
    assert [w.shape for w in copy.weights] == [w.shape for w in model.weights]
    x = np.random.default_rng(0).uniform(0, 1, (2, 32, 32, 3)).astype("float32")
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(copy(x)), keras.ops.convert_to_numpy(model(x)))
    bottleneck = keras_resnet.build("resnext50_32x4d", drop_path_rate=0.2, width_multiplier=0.25,
                                    input_shape=(32, 32, 3))
    assert bottleneck.get_layer("conv5_block3_drop").rate == pytest.approx(0.2)
    with pytest.raises(ValueError, match="plain20 is a plain net, which has none"):
        keras_resnet.build("plain20", drop_path_rate=0.5)
    with pytest.raises(ValueError, match=r"drop_path_rate must be a number in \[0, 1\)"):
        keras_resnet.build("resnet20", drop_path_rate=1.5)


def test_resnet50_feature_map_as_in_the_issue():
    model = keras_resnet.ResNet50(include_top=False, input_shape=(224, 224, 3))
    assert model.output_shape == (None, 7, 7, 2048)
    assert keras_resnet.ResNet50(include_top=False, pooling="avg", input_shape=(224, 224, 3)).output_shape == (None, 2048)
    assert keras_resnet.ResNet50(include_top=False).input_shape == (None, None, None, 3)


def test_layer_names_are_deterministic_and_follow_keras_applications():
    names = [l.name for l in keras_resnet.ResNet50(input_shape=(32, 32, 3)).layers]
    assert names == [l.name for l in keras_resnet.ResNet50(input_shape=(32, 32, 3)).layers]
    for expected in ("conv1_conv", "pool1_pool", "conv2_block1_0_conv", "conv2_block1_1_conv",
                     "conv3_block4_out", "conv5_block3_3_bn", "avg_pool", "predictions"):
        assert expected in names
    cifar = [l.name for l in small_model("resnet20").layers]
    # Option A: parameter-free shortcuts only where the shape changes.
    assert [n for n in cifar if n.endswith("_0_pad")] == ["conv3_block1_0_pad", "conv4_block1_0_pad"]


def test_stride_placement():
    v15 = keras_resnet.ResNet50(input_shape=(64, 64, 3))
    caffe = keras_resnet.ResNet50(input_shape=(64, 64, 3), stride_in_1x1=True)
    assert v15.get_layer("conv3_block1_2_conv").strides == (2, 2)
    assert v15.get_layer("conv3_block1_1_conv").strides == (1, 1)
    assert caffe.get_layer("conv3_block1_1_conv").strides == (2, 2)
    assert caffe.get_layer("conv3_block1_2_conv").strides == (1, 1)
    assert trainable(v15) == trainable(caffe)


def test_bn_after_every_conv_he_init_and_zero_init_residual():
    model = keras_resnet.ResNet18(input_shape=(32, 32, 3), zero_init_residual=True)
    for layer in model.layers:
        if isinstance(layer, keras.layers.Conv2D):
            assert layer.use_bias is False
            assert isinstance(layer.kernel_initializer, keras.initializers.HeNormal)
            assert isinstance(model.get_layer(layer.name[:-4] + "bn"), keras.layers.BatchNormalization)
    gamma = keras.ops.convert_to_numpy(model.get_layer("conv2_block1_2_bn").gamma)
    np.testing.assert_array_equal(gamma, 0)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(model.get_layer("conv2_block1_1_bn").gamma), 1)
    # With every branch silenced, each block is ReLU(shortcut): an identity on its post-ReLU input.
    x = np.random.default_rng(0).uniform(0, 1, (1, 32, 32, 3)).astype("float32")
    probe = keras.Model(model.input, [model.get_layer("pool1_pool").output, model.get_layer("conv2_block2_out").output])
    before, after = (keras.ops.convert_to_numpy(t) for t in probe(x, training=False))
    np.testing.assert_allclose(after, before, atol=1e-6)


def test_width_multiplier_widens_every_conv():
    wide = keras_resnet.build("resnet", depth=8, width_multiplier=2)
    assert wide.get_layer("conv1_conv").filters == 32
    assert wide.get_layer("conv4_block1_2_conv").filters == 128
    assert wide.output_shape == (None, 10)


def test_any_cifar_depth_builds():
    model = keras_resnet.build("resnet", depth=8, classes=3, input_shape=(28, 28, 1))
    assert model.output_shape == (None, 3)
    assert model.name == "resnet8"
    assert keras_resnet.build("plain14").name == "plain14"


def test_backbone_returns_every_stage():
    backbone = keras_resnet.build_backbone("resnet50", input_shape=(64, 64, 3))
    shapes = {k: tuple(v.shape) for k, v in backbone.output.items()}
    assert shapes == {"C2": (None, 16, 16, 256), "C3": (None, 8, 8, 512),
                      "C4": (None, 4, 4, 1024), "C5": (None, 2, 2, 2048)}
    assert set(keras_resnet.build_backbone("resnet20").output) == {"C2", "C3", "C4"}
    assert keras_resnet.stage_output_names(keras_resnet.get_spec("resnet101"))["C4"] == "conv4_block23_out"


def test_input_tensor_is_used():
    tensor = keras.Input((40, 40, 3))
    model = keras_resnet.ResNet20(input_tensor=tensor)
    assert model.inputs[0] is tensor


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(input_shape=(32, 32)), r"input_shape must be \(height, width, channels\) \(channels_last\). Received: input_shape=\(32, 32\)"),
        (dict(input_shape=(16, 16, 3)), r"resnet50 needs inputs of at least 32x32 .* Received: input_shape=\(16, 16, 3\)"),
        (dict(classes=0), "classes must be an integer >= 1 .* Received: classes=0"),
        (dict(pooling="mean", include_top=False), "pooling must be one of None, 'avg', 'max'. Received: pooling='mean'"),
        (dict(shortcut="D"), "Unknown shortcut option; valid: 'A', 'B', 'C'. Received: shortcut='D'"),
        (dict(weights="imagenet_v9"), "Unknown checkpoint 'imagenet_v9' for 'resnet50'; valid: 'imagenet', "),
        (dict(weights=3), "weights must be None, 'imagenet', a checkpoint name or a file path"),
        (dict(weights="/nonexistent.weights.h5"), "Weights file not found"),
        (dict(width_multiplier=0), "width_multiplier must be a number > 0"),
        (dict(dropout=0.5), r"Unknown argument\(s\) \['dropout'\]"),
    ],
)
def test_bad_input_raises_a_clear_error(kwargs, message):
    with pytest.raises(ValueError, match=message):
        keras_resnet.build("resnet50", **kwargs)


def test_weights_file_round_trip_and_mismatches(tmp_path):
    model = keras_resnet.build("resnet", depth=8)
    path = str(tmp_path / "r8.weights.h5")
    model.save_weights(path)
    again = keras_resnet.build("resnet", depth=8, weights=path)
    x = np.ones((1, 32, 32, 3), "float32")
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(again(x)), keras.ops.convert_to_numpy(model(x)))
    with pytest.raises(ValueError, match=r"classifier has kernel shape \(64, 10\) \(10 classes\).*classes=10"):
        keras_resnet.build("resnet", depth=8, classes=5, weights=path)
    headless = keras_resnet.build("resnet", depth=8, include_top=False, weights=path)
    assert headless.output_shape == (None, None, None, 64)
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(headless.get_layer("conv4_block1_2_conv").kernel),
        keras.ops.convert_to_numpy(model.get_layer("conv4_block1_2_conv").kernel))
    with pytest.raises(ValueError, match="does not fit 'resnet14'"):
        keras_resnet.build("resnet", depth=14, weights=path)
    other = tmp_path / "model.h5"
    other.write_bytes(b"x")
    with pytest.raises(ValueError, match="is not a weights file this package reads: valid are"):
        keras_resnet.build("resnet", depth=8, weights=str(other))


def test_applications_exist_for_every_model():
    assert len(applications.APPLICATIONS) == len(ALL)
    for camel, function in applications.APPLICATIONS.items():
        assert getattr(keras_resnet, camel) is function
    assert sorted(applications.APPLICATIONS)[:3] == ["PlainNet101", "PlainNet110", "PlainNet1202"]
    assert {"ResNeXt50_32x4d", "ResNeXt101_64x4d", "WideResNet101_2", "ResNet50V2", "PreActResNet1001",
            "WideResNet28_10"} <= set(applications.APPLICATIONS)
    assert keras_resnet.ResNet20().name == "resnet20"
    assert keras_resnet.ResNeXt50_32x4d(weights=None, input_shape=(32, 32, 3)).name == "resnext50_32x4d"


@pytest.mark.slow
@requires_jax
def test_models_run_on_the_jax_backend():
    code = textwrap.dedent(
        """
        import sys
        import numpy as np
        import keras
        import keras_resnet
        assert keras.backend.backend() == "jax"
        m = keras_resnet.ResNet20()
        assert sum(int(np.prod(w.shape)) for w in m.trainable_weights) == 269_722
        y = m.predict(np.zeros((2, 32, 32, 3), "float32"), verbose=0)
        assert y.shape == (2, 10) and np.allclose(y.sum(-1), 1, atol=1e-5)
        # Bottlenecks on JAX: test_data_format's JAX run builds ResNet-50 and ResNet50V2 and compares their outputs.
        w = keras_resnet.build("wrn10_2", dropout_rate=0.3, drop_path_rate=0.2)  # pre-activation, dropout
        assert w(np.ones((2, 32, 32, 3), "float32"), training=True).shape == (2, 10)
        assert "tensorflow" not in sys.modules, "model code imported tensorflow"
        print("ok")
        """
    )
    run_on_jax(code, timeout=300)


def test_a_saved_model_is_its_spec_and_options(tmp_path):
    model = keras_resnet.ResNet110(shortcut="B", zero_init_residual=True)
    config = model.get_config()
    assert "layers" not in config and config["spec"]["name"] == "resnet110"
    assert (config["shortcut"], config["zero_init_residual"]) == ("B", True)
    path = tmp_path / "r110.keras"
    model.save(str(path))
    import zipfile

    assert len(zipfile.ZipFile(path).read("config.json")) < 3_000  # not a 1,000-layer graph dump
    loaded = keras.saving.load_model(str(path))  # plain Keras: the class rebuilds from the table
    assert isinstance(loaded, keras_resnet.ResNet)
    assert json.loads(json.dumps(loaded.get_config())) == json.loads(json.dumps(config))


def _edited_copy(source, target, edit):
    import zipfile

    with zipfile.ZipFile(source) as original, zipfile.ZipFile(target, "w") as copy:
        for item in original.infolist():
            data = original.read(item)
            if item.filename == "config.json":
                config = json.loads(data)
                edit(config)
                data = json.dumps(config).encode()
            copy.writestr(item, data)
    return str(target)


@pytest.mark.parametrize("edit, message", [
    (lambda c: c["config"]["spec"]["stages"][0].update(filters=300_000),
     r"asks for stage filters=300000, over the 8192 that bounds a spec read from a file"),
    (lambda c: c["config"]["spec"]["stages"][0].update(blocks=200_000),
     r"asks for stage blocks=200000, over the 4096"),
    (lambda c: c["config"]["spec"].pop("stages"), r"The network's spec is malformed \(KeyError: 'stages'\)"),
    (lambda c: c.update(class_name="NoSuchNet", registered_name="elsewhere>NoSuchNet"),
     r"Could not locate class 'NoSuchNet'.*\(a model of another package, or of a keras_resnet newer than this one\)$"),
])
def test_a_crafted_keras_file_is_refused_before_anything_is_built(tmp_path, edit, message):
    """A [3,3,300000,300000] kernel or 200,000 blocks used to be allocated or built for minutes; Keras's TypeError
    for an unknown class came through where a ValueError is documented."""
    path = str(tmp_path / "net.keras")
    keras_resnet.build("resnet8", input_shape=(16, 16, 1), classes=3).save(path)
    crafted = _edited_copy(path, tmp_path / "crafted.keras", edit)
    with pytest.raises(ValueError, match=f"^Could not load '{crafted}': .*{message}"):
        keras_resnet.load_model(crafted)


def test_the_model_owns_its_dtype_and_a_float32_copy_is_a_rebuild():
    before = keras.config.dtype_policy().name
    model = keras_resnet.build("resnet8", dtype="mixed_bfloat16")
    assert keras.config.dtype_policy().name == before  # no global round trip
    assert model.dtype_policy.name == "mixed_bfloat16"
    assert model.get_layer("conv1_conv").compute_dtype == "bfloat16"
    assert model.get_layer("predictions").compute_dtype == "float32"  # softmax kept in float32
    copy = keras_resnet.with_dtype(model, "float32")
    assert {layer.dtype_policy.name for layer in copy.layers} == {"float32"}
    x = np.random.default_rng(0).uniform(0, 1, (2, 32, 32, 3)).astype("float32")
    np.testing.assert_allclose(keras.ops.convert_to_numpy(copy(x)), keras.ops.convert_to_numpy(model(x)), atol=2e-2)
    assert keras_resnet.with_dtype(copy, "float32") is copy


def test_flip_tta_averages_each_image_with_its_mirror_and_round_trips(tmp_path):
    model = keras_resnet.build("resnet8", input_shape=(16, 16, 1), classes=4)
    tta = keras_resnet.with_flip_tta(model)
    assert tta.name == "resnet8_flip_tta" and tta.count_params() == model.count_params()
    x = np.random.default_rng(0).uniform(0, 255, (3, 16, 16, 1)).astype("float32")
    mirrored = x[:, :, ::-1]
    predict = lambda m, images: keras.ops.convert_to_numpy(m(images))  # noqa: E731
    expected = (predict(model, x) + predict(model, mirrored)) / 2
    np.testing.assert_allclose(predict(tta, x), expected, atol=1e-6)
    np.testing.assert_allclose(predict(tta, mirrored), expected, atol=1e-6)  # blind to the mirror
    path = str(tmp_path / "tta.keras")
    tta.save(path)
    np.testing.assert_allclose(predict(keras_resnet.load_model(path), x), expected, atol=1e-6)
    # The mirror takes the model's own layout (TensorFlow's CPU kernels cannot run channels_first).
    nchw = keras_resnet.build("resnet8", input_shape=(1, 16, 16), classes=4, data_format="channels_first")
    assert keras_resnet.with_flip_tta(nchw).get_layer("mirror").data_format == "channels_first"
    assert tta.get_layer("mirror").data_format == "channels_last"


def test_flip_tta_refuses_a_model_with_several_outputs():
    backbone = keras_resnet.build_backbone("resnet8", input_shape=(16, 16, 1))
    with pytest.raises(ValueError, match="with_flip_tta needs a model with one 4-D image input and one output"):
        keras_resnet.with_flip_tta(backbone)


def test_feature_info_is_recorded_while_building():
    model = keras_resnet.ResNet50(include_top=False, input_shape=(64, 64, 3))
    assert [(f.key, f.layer, f.channels, f.reduction) for f in model.feature_info] == [
        ("C2", "conv2_block3_out", 256, 4), ("C3", "conv3_block4_out", 512, 8),
        ("C4", "conv4_block6_out", 1024, 16), ("C5", "conv5_block3_out", 2048, 32)]
    with pytest.raises(ValueError, match="was not built by keras_resnet"):
        keras_resnet.stage_output_names(keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)]))


def cifar_trainable(n: int, classes: int = 10) -> int:
    """Trainable weights of the paper's CIFAR ResNet with n blocks a stage (option A), counted by hand: 3x3 convs
    without bias, two BN weights a channel, and the dense head."""
    count = 3 * 3 * 3 * 16 + 2 * 16  # the first conv and its BN
    for i, width in enumerate((16, 32, 64)):
        first_in = width if i == 0 else width // 2
        count += 9 * first_in * width + 9 * width * width + 4 * width  # a stage's first block
        count += (n - 1) * (2 * 9 * width * width + 4 * width)
    return count + 64 * classes + classes


def test_a_network_added_to_the_table_is_a_function_a_listed_model_and_a_row_of_the_reference():
    from keras_resnet.arch import registry, specs

    assert trainable(small_model("resnet20")) == cifar_trainable(3)  # the hand count holds for a known row
    spec = specs.cifar_spec(26)
    assert "resnet26" not in keras_resnet.list_models() and not hasattr(keras_resnet, "ResNet26")
    registry.register(spec)
    try:
        assert keras_resnet.list_models()[-1] == "resnet26"
        model = keras_resnet.ResNet26(input_shape=(32, 32, 3))
        assert model.name == "resnet26" and trainable(model) == cifar_trainable(4)
        assert "ResNet26" in keras_resnet.APPLICATIONS and keras_resnet.ResNet26.__name__ == "ResNet26"
        assert ("| `ResNet26` | ResNet of depth 26 (cifar, basic blocks, blocks per stage [4, 4, 4]). | input 32x32, "
                "10 classes, shortcut option A |") in applications.reference()
        with pytest.raises(ValueError, match="A network named 'resnet26' is already in the table"):
            registry.register(spec)
        with pytest.raises(ValueError, match="'another_resnet20' would be keras_resnet.ResNet20, which is already the function of 'resnet20'"):
            registry.register(dataclasses.replace(specs.get_spec("resnet20"), name="another_resnet20"))
    finally:
        del specs.MODEL_SPECS["resnet26"]
        vars(keras_resnet).pop("ResNet26", None)  # the package caches what it resolved
    assert "ResNet26" not in keras_resnet.APPLICATIONS
