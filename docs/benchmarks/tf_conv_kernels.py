"""How fast are TensorFlow's 3x3 convolutions at a CIFAR net's widths on this CPU? (docs/BENCHMARKS.md, time to accuracy)

    .venv/bin/python docs/benchmarks/tf_conv_kernels.py

One 3x3 stride-1 convolution at each CIFAR stage's shape for Fashion-MNIST (28x28x16, 14x14x32, 7x7x64; the same
multiply-adds each), batch 256, float32, all cores: the forward convolution and both gradients (`Conv2DBackpropInput`
for the input, `Conv2DBackpropFilter` for the kernel) as TensorFlow runs them in a graph (oneDNN) and compiled with
XLA (`jit_compile`, as `scripts/train.py --enable_xla`). A training step of the main job's ResNet-8 is mostly these
three; their rate is the ceiling on its images/s. Median of the benchmark's alternating rounds.
"""
import statistics

import numpy as np
import tensorflow as tf

from keras_resnet.research.benchmark import alternate

BATCH = 256
SHAPES = [(28, 16), (14, 32), (7, 64)]  # (side, channels) of ResNet-8/14/20's three stages on 28x28 input
STEPS = 5

for side, channels in SHAPES:
    rng = np.random.default_rng(0)
    x = tf.constant(rng.standard_normal((BATCH, side, side, channels), np.float32))
    dy = tf.constant(rng.standard_normal((BATCH, side, side, channels), np.float32))
    w = tf.constant(rng.standard_normal((3, 3, channels, channels), np.float32))
    ops = {
        "forward": (lambda x, w, dy: tf.nn.conv2d(x, w, 1, "SAME")),
        "input gradient": (lambda x, w, dy: tf.raw_ops.Conv2DBackpropInput(
            input_sizes=tf.shape(x), filter=w, out_backprop=dy, strides=[1, 1, 1, 1], padding="SAME")),
        "kernel gradient": (lambda x, w, dy: tf.raw_ops.Conv2DBackpropFilter(
            input=x, filter_sizes=tf.shape(w), out_backprop=dy, strides=[1, 1, 1, 1], padding="SAME")),
    }
    calls = {}
    for xla in (False, True):
        for name, op in ops.items():
            function = tf.function(op, jit_compile=xla)
            calls[f"{name}{', XLA' if xla else ''}"] = (lambda f=function: f(x, w, dy).numpy())
    seconds = alternate(calls, warmup_rounds=1, rounds=7, steps_per_round=STEPS)
    macs = BATCH * side * side * 9 * channels * channels
    cells = ", ".join(f"{name} {1000 * statistics.median(t) / STEPS:.1f} ms "
                      f"({macs * STEPS / statistics.median(t) / 1e9:.1f} GMAC/s)" for name, t in seconds.items())
    print(f"conv3x3 {side}x{side}x{channels}, batch {BATCH}, {macs / 1e9:.2f} GMAC: {cells}", flush=True)
