"""channels_first builds: the same layers and weights as channels_last, the same outputs where the backend runs NCHW."""

import textwrap

import keras
import numpy as np
import pytest

import keras_resnet

from helpers import channels_first, goldens, requires_jax, run_on_jax


def test_backbones_and_option_a_follow_the_format():
    first = channels_first(lambda: keras_resnet.build_backbone("resnet20", input_shape=(3, 32, 32)))
    assert {k: tuple(v.shape) for k, v in first.output.items()} == {
        "C2": (None, 16, 32, 32), "C3": (None, 32, 16, 16), "C4": (None, 64, 8, 8)}
    assert [f.channels for f in first.feature_info] == [16, 32, 64]
    with pytest.raises(ValueError, match=r"input_shape \(channels, height, width\) needs a known channel count"):
        channels_first(lambda: keras_resnet.ResNet20(input_shape=(None, 32, 32)))


@pytest.mark.kernels
def test_tensorflow_on_cpu_runs_nchw_convolutions_with_onednn_and_refuses_them_without():
    """TensorFlow's own CPU kernels take NHWC only; oneDNN's (TF_ENABLE_ONEDNN_OPTS) take NCHW too.

    CI runs this test both ways (.ci/run), whatever the machine's default.
    """
    import tensorflow as tf
    from tensorflow.python.framework import test_util

    keras.utils.set_random_seed(0)
    first = channels_first(lambda: keras_resnet.build("resnet8", input_shape=(3, 16, 16), classifier_activation=None))
    if tf.config.list_physical_devices("GPU"):
        pytest.skip("a GPU runs NCHW convolutions")
    x = np.random.default_rng(0).uniform(0, 255, (2, 16, 16, 3)).astype("float32")
    if not test_util.IsMklEnabled():
        with pytest.raises(tf.errors.UnimplementedError, match="only supports the NHWC tensor format on the CPU"):
            first(x.transpose(0, 3, 1, 2))
        return
    last = keras_resnet.build("resnet8", input_shape=(16, 16, 3), classifier_activation=None)
    last.set_weights(first.get_weights())
    # Logits, to a tolerance relative to their size: the two layouts sum in different orders, and a random net's
    # large logits turn float32 rounding into softmax differences of 2.5e-5 (seen on this project's CI).
    expected = keras.ops.convert_to_numpy(last(x, training=False))
    np.testing.assert_allclose(keras.ops.convert_to_numpy(first(x.transpose(0, 3, 1, 2), training=False)), expected,
                               rtol=0, atol=1e-5 * np.abs(expected).max())


@pytest.mark.slow
@requires_jax
def test_the_same_weights_give_the_same_outputs_in_both_formats_on_jax():
    code = textwrap.dedent(
        """
        import numpy as np
        import keras
        import keras_resnet
        assert keras.backend.backend() == "jax"
        rng = np.random.default_rng(0)
        build, backbone = keras_resnet.build, keras_resnet.build_backbone

        # Random statistics, scales and shifts, so that every layer's layout
        # shows; the kernels keep their He initialisation and the gammas stay
        # near 1, so the signal survives to the logits (N(0, 0.2) gammas
        # shrink it 2x a layer: plain14's logits came out the same for any
        # input), and the training mean keeps its 0-255 values.
        def value(v):
            if v.path.startswith("preprocessing/") or v.path.endswith("kernel"):
                return keras.ops.convert_to_numpy(v)
            if "variance" in v.path:
                return rng.uniform(0.5, 2.0, v.shape)
            return rng.uniform(0.5, 1.5, v.shape) if v.path.endswith("gamma") else rng.normal(0, 0.2, v.shape)

        cases = [
            ("resnet8", dict(input_shape=(16, 16, 3)), (build, backbone)),   # option A: subsample + channel pad
            ("plain14", dict(input_shape=(16, 16, 3), mean=rng.uniform(0, 255, (16, 16, 3)).astype("float32")),
             (build,)),
            ("resnet18", dict(input_shape=(32, 32, 3), preprocessing="caffe"), (backbone,)),  # BGR flip on axis 1
            ("resnet50", dict(input_shape=(32, 32, 3), stride_in_1x1=True, preprocessing="torchvision"), (build,)),
            # v2: pre-activation, biased convs, a 1x1 max-pool subsample where a stage strides in its last block.
            ("resnet50v2", dict(input_shape=(32, 32, 3), preprocessing="tf"), (backbone,)),
        ]
        for name, kwargs, makers in cases:
            h, w, c = kwargs["input_shape"]
            for make in makers:
                extra = dict(classifier_activation=None) if make is keras_resnet.build else {}
                last = make(name, **kwargs, **extra)
                keras.config.set_image_data_format("channels_first")
                first = make(name, **dict(kwargs, input_shape=(c, h, w)), **extra)
                keras.config.set_image_data_format("channels_last")
                values = [value(v) for v in last.weights]
                last.set_weights(values)
                first.set_weights(values)
                x = rng.uniform(0, 255, (2, h, w, c)).astype("float32")
                # predict compiles the whole net once (1.5 s for ResNet-50 here) where
                # an eager call compiles each op's shapes (6 s).
                a, b = last.predict(x, verbose=0), first.predict(np.transpose(x, (0, 3, 1, 2)), verbose=0)
                pairs = [(a[k], b[k]) for k in a] if isinstance(a, dict) else [(a, b)]
                for y_last, y_first in pairs:
                    y_last, y_first = np.asarray(y_last), np.asarray(y_first)
                    if y_last.ndim == 4:  # feature maps show any spatial or channel mix-up
                        y_first = np.transpose(y_first, (0, 2, 3, 1))
                    # The two images' outputs differ: the input reaches them.
                    assert not np.allclose(y_last[0], y_last[1], rtol=0.01, atol=0.01 * np.abs(y_last).max())
                    assert np.abs(y_last).max() > 0
                    np.testing.assert_allclose(y_first, y_last, rtol=1e-4, atol=1e-4 * np.abs(y_last).max())
        print("ok")
        """
    )
    run_on_jax(code, timeout=600)


def test_weights_and_checkpoints_load_into_either_format(tmp_path):

    from safetensors.numpy import save_file

    last = keras_resnet.build("resnet8", input_shape=(16, 16, 3), mean_shape=(16, 16, 3))
    path = keras_resnet.save_weights(last, str(tmp_path / "r8.weights.h5"))
    first = channels_first(lambda: keras_resnet.build("resnet8", input_shape=(3, 16, 16), mean_shape=(16, 16, 3),
                                                        weights=path))
    for a, b in zip(first.weights, last.weights):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b))
    import random_weights  # tests/goldens, on the path (pytest.ini)

    golden = goldens()
    checkpoint = str(tmp_path / "r18.safetensors")
    save_file(random_weights.draw(golden["torchvision/resnet18"]["keys"], 0), checkpoint)
    r18 = channels_first(lambda: keras_resnet.ResNet18(input_shape=(3, 32, 32), weights=checkpoint))
    assert r18.get_layer("preprocessing").get_config()["data_format"] == "channels_first"


def test_training_builds_channels_last_whatever_the_global_format(tmp_path):
    from keras_resnet.train import training

    from helpers import make_idx_dataset

    idx = make_idx_dataset(str(tmp_path / "data"), num_train=32, num_test=8)
    config = training.TrainConfig(model="resnet8", dataset="mnist", data_dir=idx, model_dir=str(tmp_path / "run"),
                                  batch_size=16, train_steps=1, verbose=0, download=False)
    result = channels_first(lambda: training.train(config))
    assert result["model"].get_config()["data_format"] == "channels_last"
