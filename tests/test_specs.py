import pytest

from keras_resnet.arch import registry, saved_specs, specs

from published_counts import PARAMS  # tests/goldens


def test_list_models_has_every_network_of_the_paper_and_its_plain_twin():
    names = specs.list_models()
    depths = [18, 34, 50, 101, 152, 20, 32, 44, 56, 110, 1202]
    assert names == [f"resnet{d}" for d in depths] + [f"plain{d}" for d in depths] + [
        "resnext50_32x4d", "resnext101_32x8d", "resnext101_64x4d", "wide_resnet50_2", "wide_resnet101_2"] + [
        f"resnet{d}d" for d in (18, 34, 50, 101, 152)] + ["resnet18_vd", "resnet34_vd"] + [
        "resnet50v2", "resnet101v2", "resnet152v2", "resnetv2_50", "resnetv2_101", "resnetv2_152"] + [
        "preact_resnet110", "preact_resnet164", "preact_resnet1001", "wrn16_8", "wrn28_10", "seresnet50",
        "seresnext50_32x4d"]


@pytest.mark.parametrize("depth", [50, 101, 152])
def test_v2_is_table_1_striding_in_each_stages_last_block(depth):
    spec = specs.get_spec(f"resnet{depth}v2")
    resnet = specs.get_spec(f"resnet{depth}")
    assert [s.blocks for s in spec.stages] == [s.blocks for s in resnet.stages]
    assert [s.stride for s in spec.stages] == [2, 2, 2, 1]
    assert (spec.preact, spec.stride_last, spec.conv_bias, spec.params_source) == (
        True, True, True, "keras.applications")
    assert spec.min_size == resnet.min_size == 32


@pytest.mark.parametrize("name, block, blocks, paper", [
    ("preact_resnet110", "basic", 18, 1.7e6),
    ("preact_resnet164", "bottleneck", 18, 1.7e6),
    ("preact_resnet1001", "bottleneck", 111, 10.2e6),
])
def test_preact_cifar_nets_are_the_papers(name, block, blocks, paper):
    spec = specs.get_spec(name)
    assert (spec.block, [s.blocks for s in spec.stages], spec.shortcut, spec.preact) == (
        block, [blocks] * 3, "B", True)
    assert [s.filters for s in spec.stages] == [16, 32, 64] and spec.stem_filters == 16
    assert specs.PREACT_CIFAR_PAPER[spec.depth] == paper
    assert abs(PARAMS[name] - paper) <= 0.02 * paper  # the tolerance for the paper's rounding


def test_any_preact_depth_and_any_wrn_by_name():
    assert specs.get_spec("preact_resnet56").block == "basic"
    assert specs.get_spec("preact-resnet-200").stages[0].blocks == 22
    spec = specs.get_spec("preact_resnet1202_basic")
    assert (spec.name, spec.block, spec.stages[0].blocks, spec.params_source) == ("preact_resnet1202_basic", "basic", 200,
                                                                            None)
    assert specs.get_spec("preact_resnet110_bottleneck").stages[0].blocks == 12
    with pytest.raises(ValueError, match=r"bottleneck blocks have depth 9n\+2 .* add _basic or _bottleneck"):
        specs.get_spec("preact_resnet1202")
    wrn = specs.get_spec("wrn40_4")
    assert ([s.filters for s in wrn.stages], wrn.stages[0].blocks, wrn.widen_factor) == ([64, 128, 256], 6, 4)
    assert specs.get_spec("WRN-28-10") == specs.get_spec("wrn28_10")
    for (depth, k), paper in specs.WRN_PAPER.items():
        assert abs(PARAMS[specs.wrn_spec(depth, k).name] - paper) <= 0.01 * paper
    with pytest.raises(ValueError, match=r"6n\+4 .* Received: depth=27"):
        specs.get_spec("wrn27_10")
    with pytest.raises(ValueError, match="integer >= 1. Received: widen_factor=0"):
        specs.wrn_spec(28, 0)


@pytest.mark.parametrize("name, depth, groups, width_per_group", [
    ("resnext50_32x4d", 50, 32, 4),
    ("resnext101_32x8d", 101, 32, 8),
    ("resnext101_64x4d", 101, 64, 4),
    ("wide_resnet50_2", 50, 1, 128),
    ("wide_resnet101_2", 101, 1, 128),
])
def test_resnext_and_wide_are_the_resnet_table_with_another_3x3(name, depth, groups, width_per_group):
    spec = specs.get_spec(name)
    resnet = specs.get_spec(f"resnet{depth}")
    assert (spec.groups, spec.width_per_group, spec.params_source) == (groups, width_per_group, "torchvision")
    assert (spec.stages, spec.block, spec.stem_filters, spec.num_features) == (
        resnet.stages, resnet.block, resnet.stem_filters, resnet.num_features)
    assert specs.get_spec(name.upper()) is spec
    with pytest.raises(ValueError, match="No ResNeXt or Wide ResNet named 'resnext50'"):
        specs.grouped_spec("resnext50")


@pytest.mark.parametrize("name", specs.list_models())
def test_spec_layer_count_matches_depth(name):
    spec = specs.get_spec(name)
    convs_per_block = 3 if spec.block == specs.BOTTLENECK else 2
    weighted = 1 + convs_per_block * sum(s.blocks for s in spec.stages) + 1
    # Wide ResNets' depth is 6n+4 for the 6n+2 weighted layers of a CIFAR ResNet (their paper's convention).
    assert weighted + (2 if spec.widen_factor else 0) == spec.depth


def test_cifar_depth_is_6n_plus_2_for_any_n():
    spec = specs.get_spec("resnet", depth=8)
    assert [s.blocks for s in spec.stages] == [1, 1, 1]
    assert [s.filters for s in spec.stages] == [16, 32, 64]
    assert specs.get_spec("resnet14").stages[0].blocks == 2
    assert specs.get_spec("plain", depth=26).residual is False


def test_imagenet_table1():
    assert [s.blocks for s in specs.get_spec("resnet152").stages] == [3, 8, 36, 3]
    assert specs.get_spec("resnet50").num_features == 2048
    assert specs.get_spec("resnet34").num_features == 512
    assert specs.get_spec("resnet50").min_size == 32
    assert specs.get_spec("resnet20").min_size == 4


@pytest.mark.parametrize(
    "args, message",
    [
        (("resnet51",), "Unknown model 'resnet51'; known: resnet18, resnet34"),
        (("resnet", 9), "Unknown model 'resnet' with depth=9"),
        (("resnet",), "needs a depth"),
        (("resnet20", 20), "depth= is only valid"),
        ((50,), "Model name must be a string"),
    ],
)
def test_bad_names(args, message):
    with pytest.raises(ValueError, match=message):
        specs.get_spec(*args)


def test_cifar_spec_rejects_bad_depth():
    with pytest.raises(ValueError, match=r"6n\+2 .* Received: depth=21"):
        specs.cifar_spec(21)


@pytest.mark.parametrize("depth", [18, 34, 50, 101, 152])
def test_resnet_d_is_the_resnet_table_with_a_deep_stem_and_pooled_projections(depth):
    spec = specs.get_spec(f"resnet{depth}d")
    resnet = specs.get_spec(f"resnet{depth}")
    assert (spec.deep_stem, spec.avg_down, spec.params_source) == (True, True, "timm")
    assert (spec.stages, spec.block, spec.stem_filters) == (resnet.stages, resnet.block, resnet.stem_filters)
    assert not (resnet.deep_stem or resnet.avg_down)


def test_resnet_d_rejects_other_depths():
    with pytest.raises(ValueError, match=r"No ResNet-D of depth 26; known depths: \[18, 34, 50, 101, 152\]"):
        specs.resnet_d_spec(26)


def test_squeeze_excitation_nets_are_their_base_with_se():
    for name, base in (("seresnet50", "resnet50"), ("seresnext50_32x4d", "resnext50_32x4d")):
        spec, plain = specs.get_spec(name), specs.get_spec(base)
        assert (spec.se_ratio, spec.params_source) == (1 / 16, "timm")
        assert (spec.stages, spec.groups, spec.width_per_group) == (plain.stages, plain.groups, plain.width_per_group)
    with pytest.raises(ValueError, match="No squeeze-and-excitation net named 'seresnet20'"):
        specs.se_spec("seresnet20")


def test_every_network_has_one_family():
    families = {name: registry.family(specs.get_spec(name)) for name in specs.list_models()}
    assert [families[n] for n in ("resnet50", "plain20", "resnext50_32x4d", "wide_resnet50_2", "resnet50d",
                                  "resnet50v2", "preact_resnet164", "wrn28_10", "seresnet50", "seresnext50_32x4d")] == [
        "resnet", "plain", "resnext", "wide", "resnet_d", "preact", "preact", "wrn", "resnet", "resnext"]
    assert set(families.values()) == {"plain", "resnet", "resnext", "wide", "resnet_d", "preact", "wrn"}


def test_every_network_of_the_table_is_within_the_bounds_of_a_spec_read_from_a_file():
    for name in specs.list_models():
        saved_specs.check_bounds(specs.get_spec(name))
    saved_specs.check_bounds(specs.get_spec("resnet", depth=2000))  # 333 blocks a stage
