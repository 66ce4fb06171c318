"""Minimal reproduction: bfloat16 convolution gradients on a CPU without bfloat16 instructions.

Standalone (TensorFlow only). Times one 3x3 convolution's forward pass and its two gradients
(Conv2DBackpropInput, Conv2DBackpropFilter) in float32 and in bfloat16, and prints the CPU's bfloat16
flags. On an AVX2-only CPU the bfloat16 forward pass ran at float32's speed, but the gradients ran about
10x slower, which makes mixed_bfloat16 training there many times slower than float32.

    python tf_bfloat16_conv_backprop.py                 # ResNet-20's first stage: 128 x 32x32x16, 3x3, 16 filters
    python tf_bfloat16_conv_backprop.py 32 56 64        # ResNet-50's conv2 stage: 32 x 56x56x64, 3x3, 64 filters
"""
import statistics
import sys
import time

import tensorflow as tf

BATCH, SIDE, CHANNELS = (int(a) for a in sys.argv[1:4]) if len(sys.argv) > 3 else (128, 32, 16)
ROUNDS, CALLS = 7, 5


def ops(dtype):
    x = tf.cast(tf.random.stateless_normal((BATCH, SIDE, SIDE, CHANNELS), (0, 0)), dtype)
    k = tf.cast(tf.random.stateless_normal((3, 3, CHANNELS, CHANNELS), (0, 1)) * 0.1, dtype)
    dy = tf.cast(tf.random.stateless_normal((BATCH, SIDE, SIDE, CHANNELS), (0, 2)), dtype)
    input_sizes, filter_sizes = tf.shape(x), tf.shape(k)
    return {
        "Conv2D": tf.function(lambda: tf.raw_ops.Conv2D(input=x, filter=k, strides=[1, 1, 1, 1], padding="SAME")),
        "Conv2DBackpropInput": tf.function(lambda: tf.raw_ops.Conv2DBackpropInput(
            input_sizes=input_sizes, filter=k, out_backprop=dy, strides=[1, 1, 1, 1], padding="SAME")),
        "Conv2DBackpropFilter": tf.function(lambda: tf.raw_ops.Conv2DBackpropFilter(
            input=x, filter_sizes=filter_sizes, out_backprop=dy, strides=[1, 1, 1, 1], padding="SAME")),
    }


def main():
    flags = ""
    try:
        with open("/proc/cpuinfo") as f:
            flags = next(line for line in f if line.startswith("flags"))
    except (OSError, StopIteration):
        pass
    print(f"TensorFlow {tf.__version__}; CPU flags: " + ", ".join(
        f"{flag}={flag in flags.split()}" for flag in ("avx2", "avx512f", "avx512_bf16", "amx_bf16")))
    subjects = {(name, dtype.name): fn for dtype in (tf.float32, tf.bfloat16) for name, fn in ops(dtype).items()}
    times = {key: [] for key in subjects}
    for fn in subjects.values():
        fn().numpy()  # warm-up
    for _ in range(ROUNDS):  # alternate, so drift hits every subject alike
        for key, fn in subjects.items():
            start = time.perf_counter()
            for _ in range(CALLS):
                fn().numpy()
            times[key].append(1000 * (time.perf_counter() - start) / CALLS)
    print(f"| op ({BATCH} x {SIDE}x{SIDE}x{CHANNELS}, 3x3, {CHANNELS} filters) | float32 ms | bfloat16 ms | "
          "bfloat16 / float32 |")
    print("|---|---|---|---|")
    for name in ("Conv2D", "Conv2DBackpropInput", "Conv2DBackpropFilter"):
        f32, bf16 = (statistics.median(times[name, d]) for d in ("float32", "bfloat16"))
        print(f"| {name} | {f32:.1f} | {bf16:.1f} | {bf16 / f32:.2f}x |")


if __name__ == "__main__":
    main()
