"""Training throughput at 28x28x1 on synthetic tensors (docs/BENCHMARKS.md, time to accuracy): median step of one fit.

    .venv/bin/python docs/benchmarks/fashion_mnist_throughput.py resnet8,resnet14,resnet20,wrn10_2,wrn16_2 256
    S=32 .venv/bin/python docs/benchmarks/fashion_mnist_throughput.py resnet18 256 10
    DTYPE=mixed_bfloat16 XLA=1 .venv/bin/python docs/benchmarks/fashion_mnist_throughput.py resnet8 256 20
"""
import os
import sys
import time

import keras
import numpy as np
import tensorflow as tf

import keras_resnet

names = sys.argv[1].split(","); bs = int(sys.argv[2]); steps = int(sys.argv[3]) if len(sys.argv) > 3 else 20
S = int(os.environ.get("S", 28))
x = np.random.rand(bs, S, S, 1).astype("float32") * 255
y = keras.utils.to_categorical(np.random.randint(0, 10, bs), 10)
class T(keras.callbacks.Callback):
    def on_train_batch_begin(self, b, logs=None): self.t=time.time()
    def on_train_batch_end(self, b, logs=None): self.times.append(time.time()-self.t)
for n in names:
    kw = {}
    if ":" in n:
        n, w = n.split(":"); kw["width_multiplier"] = float(w)
    m = keras_resnet.build(n, input_shape=(S, S, 1), classes=10, dtype=os.environ.get("DTYPE"), **kw)
    m.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.9, nesterov=True), loss="categorical_crossentropy", jit_compile=bool(os.environ.get("XLA")))
    ds = tf.data.Dataset.from_tensors((x, y)).repeat()
    t = T(); t.times = []
    m.fit(ds, steps_per_epoch=steps + 2, epochs=1, verbose=0, callbacks=[t])
    med = float(np.median(t.times[2:]))
    print(f"{n} {kw} {m.dtype_policy.name} xla={bool(os.environ.get('XLA'))} bs={bs} macs={keras_resnet.count_macs(m)/1e6:.1f}M img/s={bs/med:.0f} epoch60k={60000*med/bs:.0f}s", flush=True)
