"""Fine-tuning pretrained weights: frozen layers bit-identical, the head-first optimizer, refusals."""

import json
import os

import keras
import numpy as np
import pytest
import tensorflow as tf
from safetensors.numpy import save_file

import keras_resnet
from keras_resnet.train import optimizers, training

from helpers import goldens

import random_weights  # tests/goldens, on the path (pytest.ini)

pytestmark = pytest.mark.slow  # end-to-end: scripts, training, export, search or experiments

GOLDEN = goldens()["torchvision/resnet18"]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("ckpt") / "resnet18.safetensors")
    save_file(random_weights.draw(GOLDEN["keys"], GOLDEN["seed"]), path)
    return path


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """Three RGB classes, each a colour, 32x32 PNGs."""
    root = tmp_path_factory.mktemp("images")
    rng = np.random.default_rng(0)
    for split, n in (("train", 16), ("val", 4)):
        for k, cls in enumerate(("red", "green", "blue")):
            os.makedirs(root / split / cls)
            for i in range(n):
                image = rng.integers(0, 60, (32, 32, 3)).astype(np.uint8)
                image[..., k] += 150
                (root / split / cls / f"{i}.png").write_bytes(tf.io.encode_png(image).numpy())
    return str(root)


def _values(model, names):
    return {n: [keras.ops.convert_to_numpy(w).copy() for w in model.get_layer(n).weights] for n in names}


def _config(folder, model_dir, **kwargs):
    settings = dict(model="resnet18", dataset="image_folder", data_dir=folder, model_dir=str(model_dir),
                    batch_size=8, train_steps=3, verbose=0, validation_split=0.0, recipe="finetune")
    settings.update(kwargs)
    return training.TrainConfig(**settings)


def test_a_frozen_backbone_stays_bit_identical_and_the_new_head_learns(folder, checkpoint, tmp_path):
    result = training.train(_config(folder, tmp_path / "run", weights=checkpoint, freeze="backbone"))
    model = result["model"]
    reference = keras_resnet.ResNet18(weights=checkpoint, input_shape=model.input_shape[1:])
    body = [layer.name for layer in model.layers if layer.weights and layer.name != "predictions"]
    trained, loaded = _values(model, body), _values(reference, body)
    for name in body:  # kernels, gammas, betas and the BN moving statistics
        for a, b in zip(trained[name], loaded[name]):
            np.testing.assert_array_equal(a, b, err_msg=name)
    assert model.get_layer("predictions").kernel.shape == (512, 3)
    assert isinstance(model.get_layer("preprocessing"), keras_resnet.InputNormalization)
    assert json.load(open(tmp_path / "run" / "run.json"))["weights"] == checkpoint
    # The exported/saved model takes raw pixels and carries the checkpoint's normalisation.
    again = keras_resnet.load_model(result["final_model"])
    assert again.get_layer("preprocessing").get_config()["std"][0] == pytest.approx(0.229 * 255)


def test_freeze_up_to_a_stage_keeps_exactly_those_layers(checkpoint):
    model = keras_resnet.ResNet18(weights=checkpoint, classes=3, input_shape=(32, 32, 3))
    frozen = keras_resnet.freeze(model, "conv3")
    assert frozen[0] == "preprocessing" and "conv3_block2_out" in frozen and "conv4_block1_1_conv" not in frozen
    assert not model.get_layer("conv3_block2_2_bn").trainable and model.get_layer("conv4_block1_1_bn").trainable
    with pytest.raises(ValueError, match="freeze must be one of none, backbone, conv1, conv2, conv3, conv4, conv5"):
        keras_resnet.freeze(model, "conv6")
    # A pre-activation net's final BN-ReLU belongs to its last stage.
    v2 = keras_resnet.build("wrn10_1")
    assert "post_bn" in keras_resnet.freeze(v2, "conv4") and v2.get_layer("predictions").trainable


def test_the_finetune_optimizer_trains_the_head_first_then_the_backbone(checkpoint):
    model = keras_resnet.ResNet18(weights=checkpoint, classes=3, input_shape=(32, 32, 3))
    optimizer = optimizers.FinetuneSGD(head_steps=2, backbone_factor=0.1, learning_rate=0.05, momentum=0.9)
    optimizers.compile_model(model, optimizer, weight_decay=1e-4)
    x = np.random.default_rng(1).uniform(0, 255, (8, 32, 32, 3)).astype("float32")
    y = keras.utils.to_categorical(np.arange(8) % 3, 3)
    kernel = lambda name: keras.ops.convert_to_numpy(model.get_layer(name).kernel).copy()  # noqa: E731
    conv, head = kernel("conv2_block1_1_conv"), kernel("predictions")
    model.fit(x, y, batch_size=4, epochs=1, verbose=0)  # 2 steps: the head phase
    np.testing.assert_array_equal(kernel("conv2_block1_1_conv"), conv)
    assert not np.array_equal(kernel("predictions"), head)
    model.fit(x, y, batch_size=4, epochs=1, verbose=0)
    assert not np.array_equal(kernel("conv2_block1_1_conv"), conv)
    restored = keras.optimizers.deserialize(keras.optimizers.serialize(optimizer))
    assert (restored.head_steps, restored.backbone_factor) == (2, 0.1)


@pytest.mark.parametrize("kwargs, message", [
    (dict(freeze="backbone"), "--freeze=backbone keeps pretrained layers as loaded: it needs --weights"),
    (dict(freeze="conv9", weights="imagenet"), "--freeze must be one of none, backbone, conv1"),
    (dict(recipe="finetune"), "--recipe=finetune fine-tunes pretrained weights: give --weights"),
    (dict(weights="torchvision_v9"), "Unknown checkpoint 'torchvision_v9' for 'resnet18'"),
    (dict(weights="missing.safetensors"), "Weights file not found"),
])
def test_bad_finetuning_settings_fail_before_any_work(folder, tmp_path, kwargs, message):
    settings = dict(recipe="fast")
    settings.update(kwargs)
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        training.train(_config(folder, tmp_path / "run", **settings))
    assert not (tmp_path / "run").exists()


def test_pretrained_weights_need_rgb_data(checkpoint, tmp_path):
    from helpers import make_idx_dataset

    idx = make_idx_dataset(str(tmp_path / "gray"), num_train=32, num_test=8, side=32)
    config = training.TrainConfig(model="resnet18", dataset="mnist", data_dir=idx, model_dir=str(tmp_path / "run"),
                                  batch_size=8, train_steps=1, verbose=0, weights=checkpoint, recipe="finetune",
                                  download=False)
    with pytest.raises(ValueError, match="trained on RGB images, but mnist has 1 channel"):
        training.train(config)
