import pytest

import keras_resnet


@pytest.mark.slow
@pytest.mark.parametrize(
    "name, torchvision_gflops",
    [  # torchvision's published cost of its weights (`_ops`, GFLOPS counting a multiply-add once): an independent count
        ("resnet18", 1.814),
        ("resnet34", 3.664),
        ("resnet50", 4.089),
        ("resnet101", 7.801),
        ("resnet152", 11.514),
    ],
)
def test_macs_at_224_match_torchvision_to_its_rounding_and_table1_within_10_percent(name, torchvision_gflops):
    model = keras_resnet.build(name, input_shape=(224, 224, 3))
    macs = keras_resnet.count_macs(model)
    assert abs(macs - torchvision_gflops * 1e9) <= 0.0005e9
    # The paper's Table 1 rounds, and counts 7.6 and 11.3 G for the two deepest (its own count, not ours).
    assert abs(macs - keras_resnet.get_spec(name).macs_paper) / keras_resnet.get_spec(name).macs_paper < 0.10


@pytest.mark.slow
@pytest.mark.parametrize(
    "name, expected",
    [
        ("resnext50_32x4d", 4_230_479_872),
        ("resnext101_32x8d", 16_414_015_488),
        ("resnext101_64x4d", 15_460_270_080),
        ("wide_resnet50_2", 11_398_021_120),
        ("wide_resnet101_2", 22_753_050_624),
    ],
)
def test_grouped_and_wide_macs_match_torchvision_to_its_rounding(name, expected):
    macs = keras_resnet.count_macs(keras_resnet.build(name, input_shape=(224, 224, 3)))
    assert macs == expected
    # torchvision publishes GFLOPS (its multiply-adds) to three decimals.
    assert abs(macs - keras_resnet.get_spec(name).macs_paper) <= 0.0005e9


def test_stride_in_1x1_is_the_cheaper_caffe_placement():
    model = keras_resnet.ResNet50(input_shape=(224, 224, 3), stride_in_1x1=True)
    assert keras_resnet.count_macs(model) == 3_857_973_248


def test_count_macs_needs_a_known_size():
    model = keras_resnet.ResNet18(include_top=False)
    with pytest.raises(ValueError, match="known input size"):
        keras_resnet.count_macs(model)


def test_v2_macs_equal_keras_applications_own_graph():
    import keras

    ours = keras_resnet.count_macs(keras_resnet.build("resnet50v2"))
    assert ours == keras_resnet.count_macs(keras.applications.ResNet50V2(weights=None)) == 3_482_255_360
    # Striding in a stage's last 3x3 runs the next stage's first block at the low resolution: less than v1's 4.09 G.
