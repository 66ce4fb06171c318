"""The paper's measurements of a trained network, exactly: its layers' responses and its lesions."""

import keras
import numpy as np
import pytest

from keras_resnet import factory
from keras_resnet.research import analysis


def _images(n=6, side=16, seed=0):
    return np.random.default_rng(seed).uniform(0, 255, (n, side, side, 3)).astype("float32")


def test_layer_responses_one_std_per_3x3_layer_in_order():
    model = factory.build("resnet14", input_shape=(16, 16, 3), classes=4, mean=np.full((3,), 120.0))
    images = _images()
    measured = analysis.layer_responses(model, images, batch_size=4)
    convs = [layer.name for layer in model.layers
             if isinstance(layer, keras.layers.Conv2D) and layer.kernel_size == (3, 3)]
    assert len(convs) == 13 and [n for n, _ in measured] == [c.replace("_conv", "_bn") for c in convs]
    probe = keras.Model(model.inputs[0], model.get_layer("conv3_block1_2_bn").output)
    response = np.asarray(probe(images, training=False), np.float64)
    expected = np.mean(np.std(response, axis=(0, 1, 2)))
    assert dict(measured)["conv3_block1_2_bn"] == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("name", ["resnet14", "plain14"])
def test_lesioned_model_equals_the_original_when_nothing_is_deleted(name):
    model = factory.build(name, input_shape=(16, 16, 3), classes=4, mean=np.full((3,), 120.0))
    images = _images()
    np.testing.assert_array_equal(analysis.lesioned(model, [])(images), model(images))
    for block in analysis.block_names(model):
        assert not np.allclose(analysis.lesioned(model, [block])(images), model(images), atol=1e-6), block


def test_a_deleted_residual_block_is_exactly_its_shortcut():
    # With the last BN of every branch at gamma = beta = 0 a branch adds nothing,
    # so deleting any block (identity or option A's subsample + zero-pad) changes nothing.
    model = factory.build("resnet14", input_shape=(16, 16, 3), classes=4, mean=np.full((3,), 120.0),
                         zero_init_residual=True)
    images = _images()
    lesioned = analysis.lesioned(model, analysis.block_names(model))
    np.testing.assert_array_equal(lesioned(images), model(images))
    assert len(lesioned.layers) < len(model.layers)
    assert lesioned.get_layer("predictions") is model.get_layer("predictions")  # shared, not copied


def test_lesion_refuses_an_unknown_block():
    model = factory.build("resnet8", input_shape=(16, 16, 3), classes=4)
    with pytest.raises(ValueError, match=r"has no block\(s\) \['conv5_block1'\]; its blocks are conv2_block1"):
        analysis.lesioned(model, ["conv5_block1"])
