"""The time-to-accuracy trials of docs/BENCHMARKS.md: a standalone Keras loop over keras_resnet models on Fashion-MNIST.

    .venv/bin/python docs/benchmarks/fashion_mnist_trial.py --model=resnet8 --epochs=10 --xla=1
    .venv/bin/python docs/benchmarks/fashion_mnist_trial.py --model=resnet14 --epochs=6
    .venv/bin/python docs/benchmarks/fashion_mnist_trial.py --model=resnet8 --epochs=10 --xla=1 --ema=0.998
    .venv/bin/python docs/benchmarks/fashion_mnist_trial.py --model=resnet8 --epochs=10 --xla=1 \
        --ema_sweep=0.99,0.995,0.998 --recal=100

--ema: Keras's optimizer EMA (trainable weights only). --ema_sweep: moving averages of the same run's trainable
weights with each momentum (Keras's formula, kept beside the training), each scored after --recal training
batches recompute the batch-norm statistics for it (SWA's update_bn: the plain mean of their batch statistics),
beside the trained weights with and without that recomputation.
"""
import json
import time

T0 = time.time()
import argparse

import keras
import numpy as np
import tensorflow as tf

import keras_resnet
from keras_resnet.data import sources as data

p = argparse.ArgumentParser()
p.add_argument("--model", default="resnet14"); p.add_argument("--epochs", type=int, default=6)
p.add_argument("--bs", type=int, default=256); p.add_argument("--lr", type=float, default=0.2)
p.add_argument("--wd", type=float, default=5e-4); p.add_argument("--ls", type=float, default=0.1)
p.add_argument("--pad", type=int, default=2); p.add_argument("--warm", type=float, default=1.0)
p.add_argument("--width", type=float, default=1.0); p.add_argument("--seed", type=int, default=0)
p.add_argument("--xla", type=int, default=0); p.add_argument("--ema", type=float, default=0)
p.add_argument("--ema_sweep", default=""); p.add_argument("--recal", type=int, default=100)
a = p.parse_args()
keras.utils.set_random_seed(a.seed)
src = data.load_dataset("fashion_mnist", None)
xtr, ytr, xte, yte = src.arrays
xtr = xtr.astype("float32"); xte = xte.astype("float32")
if xtr.ndim == 3: xtr = xtr[..., None]; xte = xte[..., None]
mean = xtr.mean(0)
m = keras_resnet.build(a.model, input_shape=(28, 28, 1), classes=10, mean=mean, width_multiplier=a.width)
steps = len(xtr) // a.bs; total = steps * a.epochs; warm = int(a.warm * steps)
sched = keras.optimizers.schedules.CosineDecay(0.0, total - warm, warmup_target=a.lr, warmup_steps=warm)
opt = keras.optimizers.SGD(sched, momentum=0.9, nesterov=True, use_ema=a.ema > 0, ema_momentum=a.ema or 0.99)
for l in m.layers:
    if isinstance(l, (keras.layers.Conv2D, keras.layers.Dense)): l.kernel.regularizer = keras.regularizers.L2(a.wd / 2)
m.compile(opt, keras.losses.CategoricalCrossentropy(label_smoothing=a.ls), metrics=["accuracy"], jit_compile=bool(a.xla))
def aug(x, y):
    if a.pad:
        x = tf.pad(x, [[a.pad, a.pad], [a.pad, a.pad], [0, 0]])
        x = tf.image.random_crop(x, (28, 28, 1))
    return tf.image.random_flip_left_right(x), tf.one_hot(y, 10)
ds = (tf.data.Dataset.from_tensor_slices((xtr, ytr)).shuffle(60000, seed=a.seed).map(aug, num_parallel_calls=tf.data.AUTOTUNE)
      .batch(a.bs, drop_remainder=True).repeat().prefetch(tf.data.AUTOTUNE))
def evaluate():
    p1 = m.predict(xte, batch_size=1000, verbose=0); p2 = m.predict(xte[:, :, ::-1], batch_size=1000, verbose=0)
    return float((p1.argmax(1) == yte).mean()), float(((p1 + p2).argmax(1) == yte).mean())
class Ev(keras.callbacks.Callback):
    def on_epoch_end(self, e, logs=None):
        t = time.time(); acc = evaluate(); self.eval_time += time.time() - t
        print(f"epoch {e+1} loss {logs['loss']:.4f} train_acc {logs['accuracy']:.4f} test {acc} t={time.time()-T0:.0f}s", flush=True)
class Averages(keras.callbacks.Callback):
    def __init__(self, momenta):
        super().__init__(); self.momenta = momenta; self.avg = {k: None for k in momenta}
    def on_train_batch_end(self, b, logs=None):
        w = [v.numpy() for v in self.model.trainable_variables]
        for k in self.momenta:
            a = self.avg[k]
            self.avg[k] = w if a is None else [np.float32(k) * x + np.float32(1 - k) * y for x, y in zip(a, w)]
def recalibrate(batches):
    bns = [l for l in m._flatten_layers() if isinstance(l, keras.layers.BatchNormalization)]
    momenta = [l.momentum for l in bns]
    for k, (x, _) in enumerate(ds.take(batches)):
        for l in bns: l.momentum = k / (k + 1)
        m(x, training=True)
    for l, mo in zip(bns, momenta): l.momentum = mo
ev = Ev(); ev.eval_time = 0
sweep = [float(k) for k in a.ema_sweep.split(",") if k]
averages = Averages(sweep)
print(f"setup {time.time()-T0:.0f}s", flush=True)
t1 = time.time()
m.fit(ds, epochs=a.epochs, steps_per_epoch=steps, verbose=0, callbacks=[ev] + ([averages] if sweep else []))
fit = time.time() - t1 - ev.eval_time
acc = evaluate()
if sweep:
    trained = m.get_weights(); scores = {"trained": acc}
    recalibrate(a.recal); scores["trained_recal"] = evaluate()
    for k in sweep:
        m.set_weights(trained)
        for v, x in zip(m.trainable_variables, averages.avg[k]): v.assign(x)
        scores[f"ema{k}"] = evaluate(); recalibrate(a.recal); scores[f"ema{k}_recal"] = evaluate()
    print(json.dumps(scores), flush=True)
print(json.dumps(dict(vars(a), fit_s=round(fit), total_s=round(time.time() - T0 - ev.eval_time), test=acc[0], test_tta=acc[1])), flush=True)
