"""ModelOptions: the spec's defaults filled in once, the config and identity it gives, and what it refuses."""

import dataclasses
import json

import pytest

import keras_resnet
from keras_resnet.arch.options import OPTION_NAMES, ModelOptions, split_options


def test_resolve_fills_the_spec_defaults_for_each_layout():
    spec = keras_resnet.get_spec("resnet20")
    resolved = ModelOptions().resolve(spec)
    assert (resolved.shortcut, resolved.classes, resolved.input_shape, resolved.data_format) == (
        "A", 10, (32, 32, 3), "channels_last")
    assert ModelOptions(data_format="channels_first").resolve(spec).input_shape == (3, 32, 32)
    assert ModelOptions(features_only=True).resolve(spec).input_shape == (None, None, 3)
    assert ModelOptions(shortcut="b").resolve(spec).shortcut == "B"
    assert ModelOptions().resolve(keras_resnet.get_spec("resnet50")).shortcut == "B"
    assert ModelOptions(dtype="mixed_bfloat16").resolve(spec).dtype == "mixed_bfloat16"


def test_a_mean_sets_the_mean_shape_and_the_preprocessing_layer():
    spec = keras_resnet.get_spec("resnet8")
    resolved = ModelOptions(input_shape=(28, 28, 1)).resolve(spec, mean=[[[1.0]] * 28] * 28)
    assert resolved.mean_shape == (28, 28, 1)
    with pytest.raises(ValueError, match=r"Give either a training mean .* or a checkpoint's preprocessing"):
        ModelOptions(preprocessing="torchvision").resolve(spec, mean=[1.0, 2.0, 3.0])


def test_the_config_is_every_field_and_rebuilds_the_same_options():
    model = keras_resnet.build("resnet8", input_shape=(28, 28, 1), mean_shape=(28, 28, 1), width_multiplier=2)
    config = model.get_config()
    assert set(config) == set(OPTION_NAMES) | {"spec", "name", "trainable"}
    json.dumps(config)  # JSON types only: a .keras file holds it
    options, rest = split_options({k: v for k, v in config.items() if k != "spec"})
    assert options == model.options and rest == {"name": "resnet8", "trainable": True}
    assert keras_resnet.ResNet.from_config(config).options == model.options


def test_the_identity_holds_what_the_weights_shapes_do_not_show():
    spec = keras_resnet.get_spec("resnet20")
    a = json.loads(ModelOptions().resolve(spec).identity(spec))
    b = json.loads(ModelOptions(shortcut="B").resolve(spec).identity(spec))
    assert {k for k in a if a[k] != b[k]} == {"shortcut"}
    assert a == {"model": "resnet20", "residual": True, "block": "basic", "blocks": [3, 3, 3], "shortcut": "A",
                 "stride_in_1x1": None, "width_multiplier": 1.0, "channels": 3, "mean_shape": None,
                 "preprocessing": None}


def test_block_options_carry_the_spec_and_the_resolved_options():
    spec = keras_resnet.get_spec("resnext50_32x4d")
    blocks = ModelOptions(zero_init_residual=True).resolve(spec).block_options(spec)
    assert (blocks.groups, blocks.width_per_group, blocks.shortcut, blocks.zero_init_residual) == (32, 4, "B", True)
    assert dataclasses.is_dataclass(blocks) and blocks.residual


@pytest.mark.parametrize("options, message", [
    (dict(pooling="mean"), "pooling must be one of None, 'avg', 'max'. Received: pooling='mean'"),
    (dict(classes=0), "classes must be an integer >= 1 when include_top=True. Received: classes=0"),
    (dict(shortcut="D"), "Unknown shortcut option; valid: 'A', 'B', 'C'. Received: shortcut='D'"),
    (dict(data_format="NCHW"), "data_format must be one of"),
    (dict(input_shape=(2, 2, 3)), "resnet20 needs inputs of at least 4x4 pixels"),
    (dict(dropout_rate=1.0), r"dropout_rate must be a number in \[0, 1\)"),
])
def test_each_bad_option_is_refused_naming_it(options, message):
    with pytest.raises(ValueError, match=message):
        ModelOptions(**options).resolve(keras_resnet.get_spec("resnet20"))
