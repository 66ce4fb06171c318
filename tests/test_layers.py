import keras
import numpy as np
import pytest

import keras_resnet
from keras_resnet.arch.layers import (NORMALIZATIONS, BatchNormalization, DropPath, HorizontalFlip, InputNormalization,
                                      NegInfPadding2D, ZeroPadShortcut)


def test_zero_pad_shortcut_subsamples_and_pads_evenly():
    x = np.arange(2 * 4 * 4 * 2, dtype="float32").reshape(2, 4, 4, 2) + 1
    y = keras.ops.convert_to_numpy(ZeroPadShortcut(6, strides=2)(x))
    assert y.shape == (2, 2, 2, 6)
    np.testing.assert_array_equal(y[..., 2:4], x[:, ::2, ::2, :])
    np.testing.assert_array_equal(y[..., :2], 0)
    np.testing.assert_array_equal(y[..., 4:], 0)


@pytest.mark.parametrize("data_format, width_axis", [("channels_last", 2), ("channels_first", 3)])
def test_horizontal_flip_mirrors_the_width_axis_in_both_layouts(data_format, width_axis):
    x = np.arange(2 * 3 * 4 * 5, dtype="float32").reshape(2, 3, 4, 5)
    layer = HorizontalFlip(data_format=data_format, name="mirror")
    for training in (False, True):  # unlike RandomFlip, always and never at random
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(layer(x, training=training)),
                                      np.flip(x, axis=width_axis))
    assert layer.weights == [] and layer.compute_output_shape((None, 3, 4, 5)) == (None, 3, 4, 5)
    clone = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer))
    assert clone.get_config() == layer.get_config() and clone.data_format == data_format
    with pytest.raises(ValueError, match="data_format must be one of"):
        HorizontalFlip(data_format="NHWC")


def test_zero_pad_shortcut_has_no_weights_and_round_trips():
    layer = ZeroPadShortcut(32, strides=2, name="s")
    assert layer.compute_output_shape((None, 15, 16, 16)) == (None, 8, 8, 32)
    clone = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer))
    assert clone.get_config() == layer.get_config()
    layer(np.zeros((1, 4, 4, 16), "float32"))
    assert layer.weights == []


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_neg_inf_padding_makes_a_max_pool_pad_as_pytorchs(data_format):
    x = -np.arange(1, 1 + 2 * 4 * 4 * 3, dtype="float32").reshape(2, 4, 4, 3)  # all negative, as a bare conv's can be
    layer = NegInfPadding2D(1, data_format=data_format, name="pool1_pad")
    pool = keras.layers.MaxPooling2D(3, strides=2, data_format=data_format)
    given = x if data_format == "channels_last" else x.transpose(0, 3, 1, 2)
    y = keras.ops.convert_to_numpy(pool(layer(given)))
    y = y if data_format == "channels_last" else y.transpose(0, 2, 3, 1)
    # PyTorch's MaxPool2d(3, 2, padding=1): window (i, j) covers rows 2i-1 .. 2i+1 of the unpadded input, clipped.
    expected = np.stack([np.stack([x[:, max(2 * i - 1, 0):2 * i + 2, max(2 * j - 1, 0):2 * j + 2].max(axis=(1, 2))
                                   for j in range(2)], axis=1) for i in range(2)], axis=1)
    np.testing.assert_array_equal(y, expected)
    assert (y < 0).all()  # zero padding would have put 0 in the border windows
    assert layer.compute_output_shape((None, 4, 4, 3) if data_format == "channels_last" else (None, 3, 4, 4)) == (
        (None, 6, 6, 3) if data_format == "channels_last" else (None, 3, 6, 6))
    clone = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer))
    assert clone.get_config() == layer.get_config() and layer.weights == []


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


def _twin_batchnorms(policy, shape, axis=-1, seed=0):
    """keras_resnet's BatchNormalization and Keras's with equal, non-trivial weights."""
    rng = np.random.default_rng(seed)
    ours = BatchNormalization(axis=axis, momentum=0.9, epsilon=1e-5, dtype=policy)
    theirs = keras.layers.BatchNormalization(axis=axis, momentum=0.9, epsilon=1e-5, dtype=policy)
    ours.build(shape)
    theirs.build(shape)
    channels = shape[axis]
    theirs.set_weights([1 + 0.3 * rng.normal(size=channels), 0.3 * rng.normal(size=channels),
                        rng.normal(size=channels), 1 + rng.uniform(size=channels)])
    ours.set_weights(theirs.get_weights())
    return ours, theirs, rng


@pytest.mark.parametrize("policy, tolerance", [("float32", 1e-5), ("mixed_bfloat16", 0.0)])
def test_fused_batchnorm_equals_keras_in_training_and_inference(policy, tolerance):
    """Same outputs, gradients and moving statistics as keras.layers.BatchNormalization (biased variance)."""
    import tensorflow as tf

    shape = (8, 5, 5, 6)
    ours, theirs, rng = _twin_batchnorms(policy, shape)
    assert ours._fused(tf.zeros(shape, ours.compute_dtype), None)
    x = tf.constant((rng.normal(size=shape) * 3 + 1).astype("float32"))
    weights = tf.constant(rng.normal(size=shape).astype("float32"))
    outputs, gradients = [], []
    for layer in (ours, theirs):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = layer(x, training=True)
            loss = tf.reduce_sum(tf.cast(y, tf.float32) * weights)
        outputs.append(np.asarray(tf.cast(y, tf.float32)))
        gradients.append([np.asarray(g) for g in tape.gradient(loss, [x, layer.gamma.value, layer.beta.value])])
    assert keras.backend.standardize_dtype(y.dtype) == ours.compute_dtype
    np.testing.assert_allclose(outputs[0], outputs[1], atol=max(tolerance, 1e-6))
    for a, b in zip(*gradients):  # the gradients of x, gamma and beta
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)
    for a, b in zip(ours.get_weights(), theirs.get_weights()):  # the moving mean and variance moved alike
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(np.asarray(tf.cast(ours(x, training=False), tf.float32)),
                               np.asarray(tf.cast(theirs(x, training=False), tf.float32)), atol=max(tolerance, 1e-5))


def test_fused_batchnorm_leaves_what_its_kernel_cannot_do_to_keras():
    import tensorflow as tf

    ours, theirs, rng = _twin_batchnorms("float32", (4, 3, 5, 5), axis=1)  # channels_first
    assert not ours._fused(tf.zeros((4, 3, 5, 5)), None)
    x = rng.normal(size=(4, 3, 5, 5)).astype("float32")
    np.testing.assert_array_equal(ours(x, training=True), theirs(x, training=True))
    frozen, _, _ = _twin_batchnorms("float32", (2, 4, 4, 3))
    frozen.trainable = False  # a frozen layer normalises with its moving statistics, as Keras's does
    before = frozen.get_weights()
    frozen(rng.normal(size=(2, 4, 4, 3)).astype("float32"), training=True)
    for a, b in zip(before, frozen.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_models_use_the_fused_batchnorm_and_round_trip(tmp_path):
    model = keras_resnet.build("resnet8", input_shape=(16, 16, 1), classes=3)
    norms = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    assert len(norms) == 7 and all(type(layer) is BatchNormalization for layer in norms)
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    assert all(type(loaded.get_layer(layer.name)) is BatchNormalization for layer in norms)
    x = np.random.default_rng(0).uniform(0, 255, (2, 16, 16, 1)).astype("float32")
    np.testing.assert_array_equal(model.predict(x, verbose=0), loaded.predict(x, verbose=0))
