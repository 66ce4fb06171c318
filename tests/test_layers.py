import keras
import numpy as np
import pytest

import keras_resnet
from keras_resnet.layers import NORMALIZATIONS, DropPath, InputNormalization, ZeroPadShortcut


def test_zero_pad_shortcut_subsamples_and_pads_evenly():
    x = np.arange(2 * 4 * 4 * 2, dtype="float32").reshape(2, 4, 4, 2) + 1
    y = keras.ops.convert_to_numpy(ZeroPadShortcut(6, strides=2)(x))
    assert y.shape == (2, 2, 2, 6)
    np.testing.assert_array_equal(y[..., 2:4], x[:, ::2, ::2, :])
    np.testing.assert_array_equal(y[..., :2], 0)
    np.testing.assert_array_equal(y[..., 4:], 0)


def test_zero_pad_shortcut_has_no_weights_and_round_trips():
    layer = ZeroPadShortcut(32, strides=2, name="s")
    assert layer.compute_output_shape((None, 15, 16, 16)) == (None, 8, 8, 32)
    clone = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer))
    assert clone.get_config() == layer.get_config()
    layer(np.zeros((1, 4, 4, 16), "float32"))
    assert layer.weights == []


@pytest.mark.parametrize("kind", ["torchvision", "caffe"])
def test_input_normalization_matches_the_checkpoints_own_preprocessing(kind, tmp_path):
    x = np.random.default_rng(0).uniform(0, 255, (2, 4, 4, 3)).astype("float32")
    layer = InputNormalization(**NORMALIZATIONS[kind])
    if kind == "caffe":
        expected = keras.applications.resnet.preprocess_input(x.copy())
    else:
        expected = (x / 255.0 - [0.485, 0.456, 0.406]) / [0.229, 0.224, 0.225]
    np.testing.assert_allclose(keras.ops.convert_to_numpy(layer(x)), expected, rtol=1e-5, atol=1e-4)
    assert layer.weights == []  # constants of the checkpoint, not weights
    model = keras_resnet.ResNet18(input_shape=(32, 32, 3), preprocessing=kind)
    model.save(tmp_path / "m.keras")
    loaded = keras_resnet.load_model(str(tmp_path / "m.keras"))
    assert loaded.get_layer("preprocessing").get_config() == model.get_layer("preprocessing").get_config()


def test_input_normalization_needs_one_positive_std_per_channel():
    with pytest.raises(ValueError, match="std > 0"):
        InputNormalization(mean=(1, 2, 3), std=(1, 0, 1))


def test_drop_path_is_the_identity_at_inference_and_drops_whole_samples_in_training(tmp_path):
    layer = DropPath(0.25, seed=3)
    x = np.random.default_rng(0).uniform(0.5, 1.5, (4000, 2, 2, 3)).astype("float32")
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(layer(x, training=False)), x)
    y = keras.ops.convert_to_numpy(layer(x, training=True))
    dropped = np.all(y == 0, axis=(1, 2, 3))
    np.testing.assert_allclose(y[~dropped], x[~dropped] / 0.75, rtol=1e-6)  # kept samples scaled, whole
    assert abs(dropped.mean() - 0.25) < 0.03
    model = keras.Sequential([keras.Input((2, 2, 3)), layer])
    model.save(tmp_path / "d.keras")
    loaded = keras.models.load_model(tmp_path / "d.keras")
    assert (loaded.layers[-1].rate, loaded.layers[-1].seed, loaded.weights) == (0.25, 3, [])
    with pytest.raises(ValueError, match=r"DropPath rate must be in \[0, 1\). Received: rate=1.0"):
        DropPath(1.0)
