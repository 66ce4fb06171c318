"""Custom layers, registered so that `.keras` files load without `Lambda`."""

from __future__ import annotations

import keras
from keras import ops

PACKAGE = "keras_resnet"
DATA_FORMATS = ("channels_last", "channels_first")

# The layer names other modules address (weights import, freezing, exports): part of the weights contract.
INPUT = "input"
PREPROCESSING = "preprocessing"  # the input normalisation: a training mean or a checkpoint's preprocessing
CLASSIFIER = "predictions"  # the top's Dense layer


def _check_format(data_format: str) -> str:
    if data_format not in DATA_FORMATS:
        raise ValueError(f"data_format must be one of {DATA_FORMATS}. Received: data_format={data_format!r}")
    return data_format


@keras.saving.register_keras_serializable(package=PACKAGE)
class ZeroPadShortcut(keras.layers.Layer):
    """Shortcut option A: subsample by `strides`, zero-pad the new channels.

    Parameter-free (paper section 3.3). The extra channels are split evenly
    before and after the input's, as in the widely used CIFAR reference
    implementations, so their weights import by position.

    Args:
        filters: output channels (>= input channels).
        strides: spatial subsampling factor; keeps every `strides`-th pixel,
            starting at the first, like a strided 1x1 convolution.
        data_format: "channels_last" or "channels_first".
    """

    def __init__(self, filters: int, strides: int = 1, data_format: str = "channels_last", **kwargs):
        super().__init__(**kwargs)
        self.filters = int(filters)
        self.strides = int(strides)
        self.data_format = _check_format(data_format)

    def compute_output_shape(self, input_shape):
        def sub(size):
            return None if size is None else -(-size // self.strides)

        if self.data_format == "channels_first":
            batch, _, height, width = input_shape
            return (batch, self.filters, sub(height), sub(width))
        batch, height, width, _ = input_shape
        return (batch, sub(height), sub(width), self.filters)

    def call(self, inputs):
        first = self.data_format == "channels_first"
        x = inputs
        if self.strides > 1:
            s = self.strides
            x = x[:, :, ::s, ::s] if first else x[:, ::s, ::s, :]
        channels = inputs.shape[1 if first else -1]
        extra = self.filters - channels
        if extra < 0:
            raise ValueError(f"ZeroPadShortcut cannot shrink channels: input has {channels}, filters={self.filters}")
        if extra:
            pad = [extra // 2, extra - extra // 2]
            x = ops.pad(x, [[0, 0], pad, [0, 0], [0, 0]] if first else [[0, 0], [0, 0], [0, 0], pad])
        return x

    def get_config(self):
        config = super().get_config()
        config.update(filters=self.filters, strides=self.strides, data_format=self.data_format)
        return config


@keras.saving.register_keras_serializable(package=PACKAGE)
class NegInfPadding2D(keras.layers.Layer):
    """Pad height and width by `padding` pixels of -inf on every side, for a max pool that pads as PyTorch's.

    A max pool after zero padding takes 0 at the border wherever its input
    there is negative; PyTorch's `MaxPool2d(padding=1)` (timm's ResNetV2
    stem, and keras-hub's port of it) never picks a padded value.

    Args:
        padding: pixels added before and after each spatial side.
        data_format: "channels_last" or "channels_first".
    """

    def __init__(self, padding: int = 1, data_format: str = "channels_last", **kwargs):
        super().__init__(**kwargs)
        self.padding = int(padding)
        self.data_format = _check_format(data_format)

    def compute_output_shape(self, input_shape):
        def grow(size):
            return None if size is None else size + 2 * self.padding

        if self.data_format == "channels_first":
            batch, channels, height, width = input_shape
            return (batch, channels, grow(height), grow(width))
        batch, height, width, channels = input_shape
        return (batch, grow(height), grow(width), channels)

    def call(self, inputs):
        p = [self.padding, self.padding]
        widths = [[0, 0], [0, 0], p, p] if self.data_format == "channels_first" else [[0, 0], p, p, [0, 0]]
        return ops.pad(inputs, widths, constant_values=float("-inf"))

    def get_config(self):
        config = super().get_config()
        config.update(padding=self.padding, data_format=self.data_format)
        return config


@keras.saving.register_keras_serializable(package=PACKAGE)
class MeanSubtraction(keras.layers.Layer):
    """The paper's input normalisation: subtract the mean, then scale.

    Takes raw pixels (0-255). The mean, per pixel (H, W, C) or per channel
    (C,), is a non-trainable weight, so it travels in every saved model and
    training, evaluation and serving preprocess identically.

    Args:
        mean_shape: shape of the mean, (H, W, C) or (C,), in both data formats
            (so weights files fit either).
        scale: factor applied after the subtraction.
        mean: initial value of the mean; zeros if None.
        data_format: "channels_last" or "channels_first" (of the inputs).
    """

    def __init__(self, mean_shape, scale: float = 1.0 / 255.0, mean=None, data_format: str = "channels_last",
                 **kwargs):
        super().__init__(**kwargs)
        self.mean_shape = tuple(int(d) for d in mean_shape)
        self.scale = float(scale)
        self._initial_mean = mean
        self.data_format = _check_format(data_format)

    def build(self, input_shape):
        initial = self._initial_mean
        self.mean = self.add_weight(
            name="mean",
            shape=self.mean_shape,
            initializer=(
                "zeros" if initial is None
                else keras.initializers.Constant(ops.convert_to_numpy(initial))
            ),
            trainable=False,
        )

    def call(self, inputs):
        x = ops.cast(inputs, self.compute_dtype)
        mean = ops.cast(self.mean, self.compute_dtype)
        if self.data_format == "channels_first":
            mean = ops.transpose(mean, (2, 0, 1)) if len(self.mean_shape) == 3 else ops.reshape(mean, (-1, 1, 1))
        return (x - mean) * ops.cast(self.scale, self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(mean_shape=self.mean_shape, scale=self.scale, data_format=self.data_format)
        return config


# tf.image.rgb_to_grayscale's weights (ITU-R BT.601 luma), which decode grey images for training and serving.
GRAYSCALE_WEIGHTS = (0.2989, 0.5870, 0.1140)


@keras.saving.register_keras_serializable(package=PACKAGE)
class RGBToGrayscale(keras.layers.Layer):
    """RGB pixels [..., 3] to one grey channel [..., 1], as `tf.image.rgb_to_grayscale` computes it.

    The first layer of a camera-ready export of a net trained on grey images
    (`keras_resnet.export.litert.camera_ready`): a phone's RGB frame goes in as it is.
    Channels-last only, like every export.
    """

    def call(self, inputs):
        weights = ops.convert_to_tensor(GRAYSCALE_WEIGHTS, dtype=self.compute_dtype)
        return ops.sum(ops.cast(inputs, self.compute_dtype) * weights, axis=-1, keepdims=True)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], 1)


@keras.saving.register_keras_serializable(package=PACKAGE)
class InputNormalization(keras.layers.Layer):
    """A pretrained checkpoint's own input normalisation, on raw 0-255 RGB pixels.

    `y = (x[..., order] - mean) / std`, with mean and std in pixel units and
    fixed by the checkpoint, so they are config, not weights: torchvision and
    timm use mean (0.485, 0.456, 0.406) * 255 and std (0.229, 0.224, 0.225) *
    255; the MSRA Caffe weights of keras.applications reverse RGB to BGR and
    subtract (103.939, 116.779, 123.68) with std 1.

    Args:
        mean: per-channel mean, in the order after reordering.
        std: per-channel standard deviation.
        reverse_channels: feed the channels in reverse order (RGB -> BGR).
        data_format: "channels_last" or "channels_first".
    """

    def __init__(self, mean, std, reverse_channels: bool = False, data_format: str = "channels_last", **kwargs):
        super().__init__(**kwargs)
        self.mean = tuple(float(m) for m in mean)
        self.std = tuple(float(s) for s in std)
        self.reverse_channels = bool(reverse_channels)
        self.data_format = _check_format(data_format)
        if len(self.mean) != len(self.std) or not all(s > 0 for s in self.std):
            raise ValueError(f"mean and std need one value per channel, std > 0. Received: mean={mean}, std={std}")

    def call(self, inputs):
        x = ops.cast(inputs, self.compute_dtype)
        first = self.data_format == "channels_first"
        if self.reverse_channels:
            x = ops.flip(x, axis=1 if first else -1)
        shape = (-1, 1, 1) if first else (-1,)
        mean = ops.reshape(ops.convert_to_tensor(self.mean, dtype=self.compute_dtype), shape)
        scale = ops.reshape(ops.convert_to_tensor([1.0 / s for s in self.std], dtype=self.compute_dtype), shape)
        return (x - mean) * scale

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(mean=list(self.mean), std=list(self.std), reverse_channels=self.reverse_channels,
                      data_format=self.data_format)
        return config


@keras.saving.register_keras_serializable(package=PACKAGE)
class DropPath(keras.layers.Layer):
    """Stochastic depth (Huang et al. 2016): drop a residual branch per sample while training.

    A dropped sample's branch is zero; a kept one is scaled by 1 / (1 - rate)
    (timm's DropPath), so at inference the layer returns its input as it is
    and leaves no op in an exported graph.

    Args:
        rate: probability of dropping the branch, in [0, 1).
        seed: seed of its random draws.
    """

    def __init__(self, rate: float, seed=None, **kwargs):
        super().__init__(**kwargs)
        if not 0 <= rate < 1:
            raise ValueError(f"DropPath rate must be in [0, 1). Received: rate={rate}")
        self.rate = float(rate)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, inputs, training=False):
        if not training or self.rate == 0:
            return inputs
        keep = 1.0 - self.rate
        shape = (ops.shape(inputs)[0],) + (1,) * (len(inputs.shape) - 1)
        draw = keras.random.uniform(shape, seed=self.seed_generator, dtype=self.compute_dtype)
        return inputs * ops.floor(keep + draw) / keep

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(rate=self.rate, seed=self.seed)
        return config


@keras.saving.register_keras_serializable(package=PACKAGE)
class HorizontalFlip(keras.layers.Layer):
    """Mirror images left to right, in training and at inference alike.

    `keras.layers.RandomFlip` flips at random and only while training; this
    is the fixed mirror that flip test-time augmentation needs
    (`keras_resnet.with_flip_tta`).

    Args:
        data_format: "channels_last" or "channels_first": where the width axis is.
    """

    def __init__(self, data_format: str = "channels_last", **kwargs):
        super().__init__(**kwargs)
        self.data_format = _check_format(data_format)

    def call(self, inputs):
        return ops.flip(inputs, axis=2 if self.data_format == "channels_last" else 3)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(data_format=self.data_format)
        return config


# The input normalisations of published checkpoints, in pixel units (0-255 RGB in).
NORMALIZATIONS = {
    "torchvision": dict(mean=(0.485 * 255, 0.456 * 255, 0.406 * 255), std=(0.229 * 255, 0.224 * 255, 0.225 * 255)),
    "caffe": dict(mean=(103.939, 116.779, 123.68), std=(1.0, 1.0, 1.0), reverse_channels=True),
    # keras.applications' "tf" mode, its v2 ResNets': x / 127.5 - 1.
    "tf": dict(mean=(127.5, 127.5, 127.5), std=(127.5, 127.5, 127.5)),
}


_FUSED_DTYPES = ("float16", "bfloat16", "float32")


@keras.saving.register_keras_serializable(package=PACKAGE)
class BatchNormalization(keras.layers.BatchNormalization):
    """`keras.layers.BatchNormalization` on TensorFlow's fused kernel where that kernel applies.

    The same layer, weights, arguments and arithmetic as Keras's (the moving
    averages take the biased batch variance; statistics are float32 under
    mixed precision), but on the TensorFlow backend a 4-D channels-last input
    goes through one `FusedBatchNormV3` op (oneDNN's kernel on CPUs, cuDNN's
    on GPUs) instead of Keras's moments, casts and element-wise ops. The
    kernel takes bfloat16/float16 activations as they are and keeps its
    statistics in float32, so mixed precision makes no float32 copy of every
    activation around each normalisation: on this project's CPU the layer
    alone trained 1.5x faster than Keras's in float32 and 2.4x in bfloat16
    (`scripts/benchmark.py --tasks=batchnorm`; docs/BENCHMARKS.md). Anything
    else (other backends, channels_first, masks, renorm, synchronized
    statistics, no scale or centre) is Keras's layer unchanged.
    """

    def _fused(self, inputs, mask) -> bool:
        return (keras.backend.backend() == "tensorflow" and mask is None and not self.renorm
                and not self.synchronized and self.scale and self.center and len(inputs.shape) == 4
                and self.axis % 4 == 3 and keras.backend.standardize_dtype(inputs.dtype) in _FUSED_DTYPES)

    def call(self, inputs, training=None, mask=None):
        if not self._fused(inputs, mask):
            return super().call(inputs, training=training, mask=mask)
        import tensorflow as tf

        gamma, beta = tf.cast(self.gamma, tf.float32), tf.cast(self.beta, tf.float32)
        if training and self.trainable:
            empty = tf.constant([], tf.float32)
            # The raw op keeps epsilon exact (tf.nn's wrapper raises it to 1.001e-5).
            outputs, mean, variance = tf.raw_ops.FusedBatchNormV3(
                x=inputs, scale=gamma, offset=beta, mean=empty, variance=empty, epsilon=self.epsilon,
                data_format="NHWC", is_training=True)[:3]
            # The kernel returns the Bessel-corrected variance; Keras averages the biased one.
            count = tf.cast(tf.size(inputs, out_type=tf.int64) // tf.cast(tf.shape(inputs)[-1], tf.int64),
                            tf.float32)
            variance = variance * tf.maximum(count - 1.0, 0.0) / tf.maximum(count, 1.0)
            self.moving_mean.assign(self.moving_mean * self.momentum
                                    + tf.cast(mean, self.moving_mean.dtype) * (1.0 - self.momentum))
            self.moving_variance.assign(self.moving_variance * self.momentum
                                        + tf.cast(variance, self.moving_variance.dtype) * (1.0 - self.momentum))
        else:
            outputs = tf.raw_ops.FusedBatchNormV3(
                x=inputs, scale=gamma, offset=beta, mean=tf.cast(self.moving_mean, tf.float32),
                variance=tf.cast(self.moving_variance, tf.float32), epsilon=self.epsilon, data_format="NHWC",
                is_training=False)[0]
        return tf.cast(outputs, self.compute_dtype)
