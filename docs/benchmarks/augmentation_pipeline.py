"""The cifar augmentation's cost on Fashion-MNIST: image by image (the pipeline's map) against whole batches.

Iterates one epoch of the main job's training pipeline (60,000 images, batch 256, pad 2, crop, flip) without a
model, three times each way, and prints the wall and CPU seconds an epoch: the CPU the input takes from the
training step on a machine whose cores the step also uses.

    TF_ENABLE_ONEDNN_OPTS=1 .venv/bin/python docs/benchmarks/augmentation_pipeline.py
"""

import time

import numpy as np
import tensorflow as tf

from keras_resnet.data import pipelines, sources

BATCH, PADDING = 256, 2


def batch_crop_flip(images, padding: int):
    """Pad, crop back and flip a whole batch (NHWC), each image its own offsets and flip."""
    shape = tf.shape(images)
    n, height, width = shape[0], shape[1], shape[2]
    padded = tf.pad(images, [[0, 0], [padding, padding], [padding, padding], [0, 0]])
    dy = tf.random.uniform((n,), 0, 2 * padding + 1, tf.int32)
    dx = tf.random.uniform((n,), 0, 2 * padding + 1, tf.int32)
    rows = dy[:, None] + tf.range(height)[None]
    cols = dx[:, None] + tf.range(width)[None]
    flip = tf.random.uniform((n,)) < 0.5
    cols = tf.where(flip[:, None], tf.reverse(cols, axis=[1]), cols)
    cropped = tf.gather(padded, rows, axis=1, batch_dims=1)
    return tf.gather(cropped, cols, axis=2, batch_dims=1)


def per_image(train):
    view = pipelines.train_transform("cifar", (28, 28), (28, 28), PADDING)
    return pipelines.make_pipeline(train, BATCH, view, training=True, seed=0, drop_remainder=True)


def per_batch(train):
    view = pipelines.eval_transform((28, 28), (28, 28))
    dataset = pipelines.make_pipeline(train, BATCH, view, training=True, seed=0, drop_remainder=True)
    return dataset.map(lambda x, y: (batch_crop_flip(x, PADDING), y), num_parallel_calls=tf.data.AUTOTUNE)


def epoch_seconds(dataset, steps: int) -> tuple:
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in dataset.take(steps):
        pass
    return time.perf_counter() - wall, time.process_time() - cpu


def main():
    source = sources.load_dataset("fashion_mnist", None, download=False)
    x, y = source.arrays[0], source.arrays[1]
    train = tf.data.Dataset.from_tensor_slices((x, y))
    steps = len(x) // BATCH
    batch = next(iter(per_batch(train).take(1)))[0].numpy()
    assert batch.shape == (BATCH, 28, 28, 1) and batch.dtype == np.float32
    for name, make in (("image by image", per_image), ("whole batches", per_batch)):
        epoch_seconds(make(train), 20)  # warm up
        runs = [epoch_seconds(make(train), steps) for _ in range(3)]
        print(f"{name:16s} wall " + ", ".join(f"{w:.2f}" for w, _ in runs) + " s; CPU "
              + ", ".join(f"{c:.2f}" for _, c in runs) + f" s an epoch of {steps} batches")


if __name__ == "__main__":
    main()
