"""Minimal reproduction: Keras 3's BatchNormalization on TensorFlow does not use the fused kernel.

Standalone (TensorFlow and Keras only). On the TensorFlow backend, keras.layers.BatchNormalization
computes moments, casts and element-wise ops itself instead of calling TensorFlow's FusedBatchNormV3
(which tf.keras 2 used); under mixed_bfloat16 it also upcasts every activation to float32 and back.
This script counts the ops of one training step of the layer alone (forward, backward, moving-average
update) and times it against the same step on tf.raw_ops.FusedBatchNormV3, in float32 and bfloat16.

    python keras_batchnorm_fused.py            # ResNet-50's conv2-stage activations, 32 x 56x56x64
"""
import statistics
import time

import keras
import tensorflow as tf

SHAPE, ROUNDS, CALLS = (32, 56, 56, 64), 9, 5


def keras_step(dtype):
    layer = keras.layers.BatchNormalization(dtype=dtype)
    layer.build(SHAPE)
    return layer, lambda x: layer(x, training=True)


def fused_step(dtype):
    # The same layer on TensorFlow's kernel: statistics in float32, activations as they are. (The kernel's
    # variance is Bessel-corrected where Keras averages the biased one: a scalar factor, left out here.)
    layer = keras.layers.BatchNormalization(dtype=dtype)
    layer.build(SHAPE)

    def call(x):
        y, mean, var = tf.raw_ops.FusedBatchNormV3(
            x=x, scale=tf.cast(layer.gamma, tf.float32), offset=tf.cast(layer.beta, tf.float32),
            mean=tf.constant([], tf.float32), variance=tf.constant([], tf.float32), epsilon=layer.epsilon,
            data_format="NHWC", is_training=True)[:3]
        layer.moving_mean.assign(layer.moving_mean * layer.momentum + mean * (1 - layer.momentum))
        layer.moving_variance.assign(layer.moving_variance * layer.momentum + var * (1 - layer.momentum))
        return y
    return layer, call


def train_function(make, dtype):
    layer, call = make(dtype)
    compute = tf.bfloat16 if dtype == "mixed_bfloat16" else tf.float32
    x = tf.cast(tf.random.stateless_normal(SHAPE, (0, 0)), compute)
    w = tf.cast(tf.random.stateless_normal(SHAPE, (0, 1)), compute)

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = tf.reduce_sum(tf.cast(call(x) * w, tf.float32))
        return tape.gradient(loss, [x, layer.gamma, layer.beta])

    return step


def main():
    print(f"TensorFlow {tf.__version__}, Keras {keras.__version__}, activations {SHAPE}")
    steps = {(name, dtype): train_function(make, dtype) for name, make in (("keras", keras_step),
                                                                            ("fused", fused_step))
             for dtype in ("float32", "mixed_bfloat16")}
    ops = {key: len(step.get_concrete_function().graph.get_operations()) for key, step in steps.items()}
    times = {key: [] for key in steps}
    for step in steps.values():
        [g.numpy() for g in step()]  # warm-up
    for _ in range(ROUNDS):  # alternate, so drift hits every subject alike
        for key, step in steps.items():
            start = time.perf_counter()
            for _ in range(CALLS):
                [g.numpy() for g in step()]
            times[key].append(SHAPE[0] * CALLS / (time.perf_counter() - start))
    print("| layer | dtype | ops in the training graph | images/s (median) |")
    print("|---|---|---|---|")
    for (name, dtype), rates in times.items():
        print(f"| {name} | {dtype} | {ops[name, dtype]} | {statistics.median(rates):.0f} |")
    for name in ("keras", "fused"):
        ratio = statistics.median(times[name, "mixed_bfloat16"]) / statistics.median(times[name, "float32"])
        print(f"{name}: mixed_bfloat16 / float32 = {ratio:.2f}x")


if __name__ == "__main__":
    main()
