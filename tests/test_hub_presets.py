"""keras-hub presets both ways: keras-hub's own ResNets (random weights, non-trivial BN statistics, saved with
`save_to_preset`) import exactly, keras_resnet models save as presets keras-hub loads, and a misfit assigns and
writes nothing."""

import json
import os
import shutil

import keras
import numpy as np
import pytest

import keras_resnet
from keras_resnet.arch import specs
from keras_resnet.weights import convert, hub_preset_files, hub_presets

from helpers import HUB_TORCHVISION, hub_preset, infer
from published_counts import PARAMS  # tests/goldens

IMAGENET = dict(stackwise_num_filters=[64, 128, 256, 512], stackwise_num_strides=[1, 2, 2, 2])
STEM = dict(input_conv_filters=[64], input_conv_kernel_sizes=[7])
DEEP_STEM = dict(input_conv_filters=[32, 32, 64], input_conv_kernel_sizes=[3, 3, 3])
# keras-hub's configs of its presets' networks, written out as keras-hub's resnet_presets and its timm converter
# give them: v1 basic and bottleneck, v2 (timm's resnetv2), vd of basic blocks (PaddleClas's) and of bottlenecks.
HUB_CONFIGS = {
    "resnet18": dict(**STEM, **IMAGENET, stackwise_num_blocks=[2, 2, 2, 2], block_type="basic_block",
                     use_pre_activation=False),
    "resnet50": dict(**STEM, **IMAGENET, stackwise_num_blocks=[3, 4, 6, 3], block_type="bottleneck_block",
                     use_pre_activation=False),
    "resnetv2_50": dict(**STEM, **IMAGENET, stackwise_num_blocks=[3, 4, 6, 3], block_type="bottleneck_block",
                        use_pre_activation=True),
    "resnet18_vd": dict(**DEEP_STEM, **IMAGENET, stackwise_num_blocks=[2, 2, 2, 2], block_type="basic_block_vd",
                        use_pre_activation=False),
    "resnet50d": dict(**DEEP_STEM, **IMAGENET, stackwise_num_blocks=[3, 4, 6, 3], block_type="bottleneck_block_vd",
                      use_pre_activation=False),
}
EXPRESSIBLE = ["resnet18", "resnet34", "resnet50", "resnet101", "resnet152", "resnet50d", "resnet101d",
               "resnet152d", "resnet18_vd", "resnet34_vd", "resnetv2_50", "resnetv2_101", "resnetv2_152"]
CLASSES = 5
SIDE = 64


def relative_diff(got, expected) -> float:
    got, expected = np.asarray(got, np.float64), np.asarray(expected, np.float64)
    return float(np.abs(got - expected).max() / np.abs(expected).max())


def pixels(seed: int = 1):
    return np.random.default_rng(seed).uniform(0, 255, (2, SIDE, SIDE, 3)).astype("float32")


def normalised(x):
    return x * np.asarray(HUB_TORCHVISION["scale"], np.float32) + np.asarray(HUB_TORCHVISION["offset"], np.float32)


def test_the_networks_keras_hub_builds_are_these_and_each_other_is_refused_saying_why():
    for name in specs.list_models():
        spec = specs.get_spec(name)
        if name in EXPRESSIBLE:
            config = hub_presets.backbone_config(spec)
            if name in HUB_CONFIGS:
                assert config == {field: HUB_CONFIGS[name][field] for field in hub_presets.CONFIG_FIELDS}
        else:
            with pytest.raises(ValueError, match=f"keras-hub's ResNetBackbone cannot express {name}: "):
                hub_presets.backbone_config(spec)
    why = {
        "plain18": "a plain net has no shortcuts",
        "resnet20": "the CIFAR nets have neither",
        "resnext50_32x4d": "neither ResNeXt's grouped nor Wide ResNet's widened",
        "seresnet50": "no squeeze-and-excitation",
        "resnet50v2": "keras.applications' v2 layout .* keras-hub's v2 is timm's: resnetv2_50.",
        "resnet18d": "timm's resnet18d does not: use resnet18_vd.",
    }
    for name, reason in why.items():
        with pytest.raises(ValueError, match=reason):
            hub_presets.backbone_config(specs.get_spec(name))
    with pytest.raises(ValueError, match="its shortcut option A .*keras-hub's project only where the shape changes"):
        hub_presets.backbone_config(specs.get_spec("resnet18"), shortcut="A")
    with pytest.raises(ValueError, match="keras-hub's bottlenecks stride on the 3x3"):
        hub_presets.backbone_config(specs.get_spec("resnet50"), stride_in_1x1=True)
    # The new networks have keras-hub's exact counts: its backbone's weights plus a 1000-class head.
    assert [(specs.get_spec(n).params_source, PARAMS[n]) for n in ("resnetv2_50", "resnet18_vd")] == [
        ("keras-hub", 25_549_352), ("keras-hub", 11_712_968)]


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(HUB_CONFIGS))
def test_a_keras_hub_preset_imports_exactly_and_saves_back_as_one_keras_hub_loads(name, tmp_path):
    import keras_hub

    classifier = name in ("resnet18", "resnetv2_50", "resnet18_vd")
    source, back = str(tmp_path / "hub"), str(tmp_path / "ours")
    hub = hub_preset(source, HUB_CONFIGS[name], classes=CLASSES if classifier else None)
    assert hub_presets.model_for_preset(source) == name
    x = pixels()
    if classifier:
        ours = keras_resnet.build(name, weights=source, input_shape=(SIDE, SIDE, 3), classifier_activation=None)
        assert ours.get_layer(keras_resnet.arch.layers.PREPROCESSING).mean == (123.675, 116.28, 103.53)
        # keras-hub's preprocessor normalises the raw pixels (an eager call: predict would trace the net first)
        expected = infer(hub, hub.preprocessor.image_converter(x))
        assert relative_diff(infer(ours, x), expected) <= 1e-4
    else:
        ours = keras_resnet.build(name, weights=source, include_top=False, input_shape=(SIDE, SIDE, 3))
        expected = infer(hub, normalised(x))
        assert relative_diff(infer(ours, normalised(x)), expected) <= 1e-4

    previous = os.umask(0o022)
    try:
        keras_resnet.save_preset(ours, back)
    finally:
        os.umask(previous)
    assert json.load(open(os.path.join(back, "config.json")))["class_name"] == "ResNetBackbone"
    assert os.stat(back).st_mode & 0o777 == 0o755  # the umask's, not mkdtemp's 0700: other users load it
    if classifier:  # the task holds the backbone: one load checks both, and the preprocessor saved with them
        loaded = keras_hub.models.ImageClassifier.from_preset(back)
        assert relative_diff(infer(loaded, loaded.preprocessor.image_converter(x)), expected) <= 1e-4
    else:
        loaded = keras_hub.models.Backbone.from_preset(back)
        assert relative_diff(infer(loaded, normalised(x)), expected) <= 1e-4


@pytest.fixture(scope="module")
def resnet18_preset(tmp_path_factory):
    """keras-hub's ResNet-18 classifier of 5 classes, with its preprocessor."""
    directory = str(tmp_path_factory.mktemp("hub") / "resnet18")
    hub_preset(directory, HUB_CONFIGS["resnet18"], classes=CLASSES)
    return directory


def values(model):
    return [keras.ops.convert_to_numpy(w).copy() for w in model.weights]


def unchanged(model, before) -> bool:
    return all(np.array_equal(a, b) for a, b in zip(values(model), before))


def test_a_preset_of_another_network_is_refused_naming_the_first_field_with_nothing_assigned(resnet18_preset):
    model = keras_resnet.build("resnet34", input_shape=(SIDE, SIDE, 3), classes=CLASSES)
    before = values(model)
    with pytest.raises(ValueError, match=r"is a keras-hub basic_block ResNet classifier \(blocks \[2, 2, 2, 2\]\), "
                                         r"not resnet34: its stackwise_num_blocks is \[2, 2, 2, 2\], resnet34's is "
                                         r"\[3, 4, 6, 3\]\. It is keras_resnet's resnet18\."):
        hub_presets.import_preset(model, resnet18_preset)
    assert unchanged(model, before)
    # Same config, another tensor: a one-channel input, named at its first tensor, nothing assigned.
    model = keras_resnet.build("resnet18", input_shape=(SIDE, SIDE, 1), classes=CLASSES)
    before = values(model)
    with pytest.raises(ValueError, match=r"keras-hub's conv1_conv/kernel is of shape \(7, 7, 3, 64\); "
                                         r"conv1_conv/kernel has shape \(7, 7, 1, 64\)"):
        hub_presets.import_preset(model, resnet18_preset)
    assert unchanged(model, before)


def test_heads_follow_the_classes_asked_for(resnet18_preset, tmp_path):
    import keras_hub

    hub = keras_hub.models.ImageClassifier.from_preset(resnet18_preset)
    x = pixels()
    features = keras_resnet.build("resnet18", weights=resnet18_preset, include_top=False, input_shape=(SIDE, SIDE, 3))
    np.testing.assert_allclose(infer(features, x), infer(hub.backbone, normalised(x)), rtol=1e-4, atol=1e-4)
    other = keras_resnet.build("resnet18", weights=resnet18_preset, classes=3, input_shape=(SIDE, SIDE, 3))
    assert other.get_layer("predictions").kernel.shape == (512, 3)  # a new head on the imported body
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(other.get_layer("conv5_block2_2_conv").kernel),
                                  keras.ops.convert_to_numpy(hub.backbone.get_layer("stack3_block1_2_conv").kernel))
    backbone_only = str(tmp_path / "backbone")
    hub.backbone.save_to_preset(backbone_only)
    with pytest.raises(ValueError, match="is a backbone preset, with no classifier: build the model with "
                                         "include_top=False, or give classes= for a new head."):
        keras_resnet.build("resnet18", weights=backbone_only, input_shape=(SIDE, SIDE, 3))


def test_a_preset_that_is_no_resnet_or_normalises_otherwise_is_refused_in_one_line(resnet18_preset, tmp_path):
    other = tmp_path / "efficientnet"
    other.mkdir()
    (other / "config.json").write_text(json.dumps({"class_name": "EfficientNetBackbone", "config": {}}))
    with pytest.raises(ValueError, match=r"is a keras-hub preset of 'EfficientNetBackbone' \(config\.json\), not of "
                                         r"a ResNetBackbone"):
        keras_resnet.build("resnet18", weights=str(other))
    odd = str(tmp_path / "odd")
    shutil.copytree(resnet18_preset, odd)
    path = os.path.join(odd, "preprocessor.json")
    config = json.load(open(path))
    config["config"]["image_converter"]["config"]["scale"] = 1 / 255
    json.dump(config, open(path, "w"))
    with pytest.raises(ValueError, match=r"normalises with scale=\[0.00392.*none of keras_resnet's preprocessings "
                                         r"\(torchvision, tf\)"):
        keras_resnet.build("resnet18", weights=odd)


def test_save_preset_refuses_what_keras_hub_cannot_express_and_overwrites_nothing(tmp_path):
    target = tmp_path / "cifar"
    with pytest.raises(ValueError, match="cannot express resnet20: .*CIFAR nets have neither"):
        keras_resnet.save_preset(keras_resnet.build("resnet20"), str(target))
    assert not target.exists()
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="exists and is not an empty directory"):
        keras_resnet.save_preset(keras_resnet.build("resnet18", input_shape=(SIDE, SIDE, 3)), str(taken))
    assert os.listdir(taken) == ["notes.txt"] and (taken / "notes.txt").read_text() == "mine"


def test_convert_needs_a_model_unless_the_source_is_a_preset(tmp_path):
    # A preset names its network (scripts/convert_weights.py converts one in test_convert); a file does not.
    source = tmp_path / "weights.pth"
    source.write_bytes(b"\x80\x02}q\x00.")
    with pytest.raises(ValueError, match="model is needed for .*only a keras-hub preset names its own network"):
        convert.convert(str(source), None, str(tmp_path / "x.weights.h5"))


@pytest.mark.parametrize("file_name, registered", [("config.json", "keras_hub>GemmaBackbone"),
                                                   ("task.json", "keras_hub>GemmaCausalLM")])
def test_a_preset_registered_as_another_class_is_refused_before_keras_hub_builds_it(tmp_path, file_name,
                                                                                      registered):
    """keras-hub builds from registered_name: a ResNetBackbone class_name beside another class's registered_name
    used to build a GemmaBackbone before failing."""
    ours = {"config.json": ("ResNetBackbone", {}), "task.json": ("ResNetImageClassifier", {"num_classes": 3})}
    for name, (class_name, config) in ours.items():
        values = {"class_name": class_name, "registered_name": f"keras_hub>{class_name}", "config": config}
        if name == file_name:
            values["registered_name"] = registered
        (tmp_path / name).write_text(json.dumps(values))
    with pytest.raises(ValueError, match=f"is a keras-hub preset of '{registered}' \\({file_name}\\), not of a "):
        hub_preset_files.read_preset(str(tmp_path))
    with pytest.raises(ValueError, match="keras_resnet imports ResNet presets only"):
        keras_resnet.build("resnet18", weights=str(tmp_path))
