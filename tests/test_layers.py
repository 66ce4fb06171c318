import numpy as np
import keras

from keras_resnet.layers import ZeroPadShortcut


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
