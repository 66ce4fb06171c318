"""Is full-integer int8 faster than float32 in LiteRT on this CPU? Stacks of 3x3 convs alone (docs/BENCHMARKS.md).

    .venv/bin/python docs/benchmarks/litert_int8_conv.py

Batch 1, one interpreter thread, converted by the export's own `keras_resnet.export.litert.convert` and timed by the
benchmark's alternating rounds. A net of only convolutions leaves nothing but the conv kernels to compare: if int8
is not faster here, the ResNets' int8 files cannot be either. Each file runs twice: with XNNPACK (LiteRT's default
delegate, what apps and the export's verification use) and with LiteRT's built-in kernels alone (ruy for int8,
`OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES`), in case int8 pays on the other path.
"""
import statistics
import tempfile

import keras
import numpy as np
from ai_edge_litert.interpreter import Interpreter, OpResolverType

from keras_resnet.export import litert
from keras_resnet.research.benchmark import alternate

CASES = [(56, 64), (14, 256), (32, 16)]  # (side, channels): ResNet-50's stage 1 and 3 widths, a CIFAR net's first
LAYERS = 4
RESOLVERS = {"xnnpack": OpResolverType.AUTO, "builtin": OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES}

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
            content = litert.convert(model, quantization, workdir, representative)
            for kernels, resolver in RESOLVERS.items():
                interpreter = Interpreter(model_content=content, num_threads=1,
                                          experimental_op_resolver_type=resolver)
                interpreter.allocate_tensors()
                detail = interpreter.get_input_details()[0]
                interpreter.set_tensor(detail["index"], representative[:1].astype(detail["dtype"]))
                calls[f"{quantization} {kernels}"] = interpreter.invoke
    seconds = alternate(calls, warmup_rounds=1, rounds=5, steps_per_round=20)
    ms = {case: 1000 * statistics.median(t) / 20 for case, t in seconds.items()}
    macs = 9 * channels * channels * side * side * LAYERS
    cells = ", ".join(f"{case} {t:.3f} ms ({macs / t / 1e6:.1f} GMAC/s)" for case, t in ms.items())
    print(f"{LAYERS} conv3x3 {side}x{side}x{channels}: {cells}; int8 / float32 with XNNPACK "
          f"{ms['int8 xnnpack'] / ms['float32 xnnpack']:.3f}, int8 built-in / float32 XNNPACK "
          f"{ms['int8 builtin'] / ms['float32 xnnpack']:.3f}", flush=True)
