"""The time-to-accuracy trials of docs/BENCHMARKS.md: a standalone Keras loop over keras_resnet models on Fashion-MNIST.

    .venv/bin/python docs/benchmarks/fashion_mnist_trial.py --model=resnet8 --epochs=10 --xla=1
    .venv/bin/python docs/benchmarks/fashion_mnist_trial.py --model=resnet14 --epochs=6
"""
import time, json
T0 = time.time()
import keras, tensorflow as tf
import keras_resnet
from keras_resnet import data
import argparse
p = argparse.ArgumentParser()
p.add_argument("--model", default="resnet14"); p.add_argument("--epochs", type=int, default=6)
p.add_argument("--bs", type=int, default=256); p.add_argument("--lr", type=float, default=0.2)
p.add_argument("--wd", type=float, default=5e-4); p.add_argument("--ls", type=float, default=0.1)
p.add_argument("--pad", type=int, default=2); p.add_argument("--warm", type=float, default=1.0)
p.add_argument("--width", type=float, default=1.0); p.add_argument("--seed", type=int, default=0)
p.add_argument("--xla", type=int, default=0); p.add_argument("--ema", type=float, default=0)
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
ev = Ev(); ev.eval_time = 0
print(f"setup {time.time()-T0:.0f}s", flush=True)
t1 = time.time()
m.fit(ds, epochs=a.epochs, steps_per_epoch=steps, verbose=0, callbacks=[ev])
fit = time.time() - t1 - ev.eval_time
acc = evaluate()
print(json.dumps(dict(vars(a), fit_s=round(fit), total_s=round(time.time() - T0 - ev.eval_time), test=acc[0], test_tta=acc[1])), flush=True)
