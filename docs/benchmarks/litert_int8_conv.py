"""Is full-integer int8 faster than float32 in LiteRT on this CPU? Stacks of 3x3 convs alone (docs/BENCHMARKS.md).

    .venv/bin/python docs/benchmarks/litert_int8_conv.py

Batch 1, one interpreter thread (XNNPACK, LiteRT's default delegate), converted by the export's own
`keras_resnet.litert.convert` and timed by the benchmark's alternating rounds. A net of only convolutions leaves
nothing but the conv kernels to compare: if int8 is not faster here, the ResNets' int8 files cannot be either.
"""
import statistics
import tempfile

import keras
import numpy as np
from ai_edge_litert.interpreter import Interpreter

from keras_resnet import litert
from keras_resnet.benchmark import alternate

CASES = [(56, 64), (14, 256), (32, 16)]  # (side, channels): ResNet-50's stage 1 and 3 widths, a CIFAR net's first
LAYERS = 4

rng = np.random.default_rng(0)
for side, channels in CASES:
    x = inputs = keras.Input((side, side, channels))
    for _ in range(LAYERS):
        x = keras.layers.Conv2D(channels, 3, padding="same", activation="relu")(x)
    model = keras.Model(inputs, x)
    representative = rng.uniform(0, 255, (8, side, side, channels)).astype("float32")
    calls = {}
    with tempfile.TemporaryDirectory() as workdir:
        for quantization in ("float32", "int8"):
            interpreter = Interpreter(model_content=litert.convert(model, quantization, workdir, representative),
                                      num_threads=1)
            interpreter.allocate_tensors()
            detail = interpreter.get_input_details()[0]
            interpreter.set_tensor(detail["index"], representative[:1].astype(detail["dtype"]))
            calls[quantization] = interpreter.invoke
    seconds = alternate(calls, warmup_rounds=1, rounds=5, steps_per_round=20)
    ms = {q: 1000 * statistics.median(t) / 20 for q, t in seconds.items()}
    macs = 9 * channels * channels * side * side * LAYERS
    print(f"{LAYERS} conv3x3 {side}x{side}x{channels}: float32 {ms['float32']:.3f} ms "
          f"({macs / ms['float32'] / 1e6:.1f} GMAC/s), int8 {ms['int8']:.3f} ms ({macs / ms['int8'] / 1e6:.1f} GMAC/s), "
          f"int8 / float32 {ms['int8'] / ms['float32']:.3f}", flush=True)
