"""Published checkpoints imported exactly: keras.applications against its own model, torchvision/timm against goldens."""

import zipfile

import keras
import numpy as np
import pytest
from safetensors.numpy import save_file

import keras_resnet
from keras_resnet.weights import checkpoints

from helpers import goldens, infer

import random_weights  # tests/goldens, on the path (pytest.ini)
from published_counts import PREACT_IMAGENET_TOTALS

GOLDENS = goldens()
SIZE = 64


def _randomised_keras_application(name: str, seed: int = 0) -> keras.Model:
    """keras.applications' model with non-trivial BN statistics and conv biases."""
    model = getattr(keras.applications, name)(weights=None, input_shape=(SIZE, SIZE, 3))
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            shape = layer.gamma.shape
            layer.set_weights([rng.uniform(0.5, 1.5, shape), rng.normal(0, 0.1, shape),
                               rng.normal(0, 0.1, shape), rng.uniform(0.5, 2.0, shape)])
        elif isinstance(layer, keras.layers.Conv2D) and layer.use_bias:  # v2: only where no BN follows
            kernel, bias = layer.get_weights()
            layer.set_weights([kernel, rng.normal(0, 0.1, bias.shape)])
        elif isinstance(layer, keras.layers.Dense):
            kernel, bias = layer.get_weights()
            layer.set_weights([rng.normal(0, 0.05, kernel.shape), rng.normal(0, 0.1, bias.shape)])
    return model


def _logits_of(model):
    """A copy of a keras.applications model's graph up to its logits (softmax off)."""
    model.layers[-1].activation = keras.activations.linear
    return model


@pytest.mark.slow
@pytest.mark.parametrize("name", ["ResNet50", "ResNet101", "ResNet152"])
def test_keras_applications_import_gives_its_logits(name):
    reference = _logits_of(_randomised_keras_application(name))
    pixels = random_weights.images(3, 2, SIZE)
    expected = infer(reference, keras.applications.resnet.preprocess_input(pixels.copy()))
    model = keras_resnet.build(name.lower(), input_shape=(SIZE, SIZE, 3), stride_in_1x1=True,
                               preprocessing="caffe", classifier_activation=None)
    report = checkpoints.import_checkpoint(model, reference)
    assert report == {"format": "keras.applications", "source": f"the keras.applications model {reference.name!r}",
                      "assigned": len(model.weights), "head": True}
    logits = infer(model, pixels)
    np.testing.assert_allclose(logits, expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())
    assert (logits.argmax(-1) == expected.argmax(-1)).all()


@pytest.mark.slow
@pytest.mark.parametrize("depth", [50, 101, 152])
def test_keras_applications_v2_imports_exactly_with_its_layer_names(depth):
    reference = _logits_of(_randomised_keras_application(f"ResNet{depth}V2"))
    pixels = random_weights.images(5, 2, SIZE)
    expected = infer(reference, keras.applications.resnet_v2.preprocess_input(pixels.copy()))
    model = keras_resnet.build(f"resnet{depth}v2", input_shape=(SIZE, SIZE, 3), preprocessing="tf",
                               classifier_activation=None)
    # All weights, BN statistics included, as keras.applications counts them (keras.io's table).
    assert model.count_params() == reference.count_params() == PREACT_IMAGENET_TOTALS[depth]
    assert {l.name for l in model.layers if l.weights} == {l.name for l in reference.layers if l.weights}
    report = checkpoints.import_checkpoint(model, reference)
    assert report["assigned"] == len(model.weights) and report["head"] is True
    logits = infer(model, pixels)
    np.testing.assert_allclose(logits, expected, rtol=1e-4, atol=1e-5 * np.abs(expected).max())
    assert (logits.argmax(-1) == expected.argmax(-1)).all()
    if depth == 50:  # a v1 model strides on the 1x1 and has no post_bn: refused, nothing assigned
        v1 = keras_resnet.build("resnet50", input_shape=(SIZE, SIZE, 3), stride_in_1x1=True)
        _refused(v1, reference, "is a keras.applications v2 (pre-activation) checkpoint and the model is not")
        _refused(keras_resnet.build("resnet50v2", input_shape=(SIZE, SIZE, 3), stride_in_1x1=True), reference,
                 "keras.applications v2 checkpoint", "stride_in_1x1=False")


@pytest.mark.slow
def test_a_keras_applications_v2_file_brings_its_preprocessing(tmp_path):
    reference = _logits_of(_randomised_keras_application("ResNet50V2", seed=2))
    path = str(tmp_path / "resnet50v2.weights.h5")
    reference.save_weights(path)
    assert checkpoints.sniff(path) == checkpoints.KERAS_APPLICATIONS
    pixels = random_weights.images(6, 2, SIZE)
    expected = infer(reference, keras.applications.resnet_v2.preprocess_input(pixels.copy()))
    model = keras_resnet.ResNet50V2(input_shape=(SIZE, SIZE, 3), weights=path, classifier_activation=None)
    assert model.get_layer("preprocessing").get_config()["mean"] == [127.5] * 3
    np.testing.assert_allclose(infer(model, pixels), expected, rtol=1e-4,
                               atol=1e-5 * np.abs(expected).max())


@pytest.mark.slow
@pytest.mark.parametrize("suffix", [".h5", ".weights.h5"])
def test_keras_applications_files_import_as_the_model_does(tmp_path, suffix):
    reference = _logits_of(_randomised_keras_application("ResNet50", seed=1))
    path = str(tmp_path / f"resnet50{suffix}")
    reference.save(path) if suffix == ".h5" else reference.save_weights(path)
    assert checkpoints.sniff(path) == checkpoints.KERAS_APPLICATIONS
    pixels = random_weights.images(4, 2, SIZE)
    expected = infer(reference, keras.applications.resnet.preprocess_input(pixels.copy()))
    # weights=<file> adds the checkpoint's own preprocessing: raw pixels in.
    model = keras_resnet.ResNet50(input_shape=(SIZE, SIZE, 3), stride_in_1x1=True, weights=path,
                                  classifier_activation=None)
    assert model.get_layer("preprocessing").get_config()["reverse_channels"] is True
    np.testing.assert_allclose(infer(model, pixels), expected, rtol=1e-4,
                               atol=1e-4 * np.abs(expected).max())


@pytest.mark.slow
@pytest.mark.parametrize("golden", sorted(GOLDENS))
def test_torchvision_and_timm_safetensors_match_their_own_logits(tmp_path, golden):
    data = GOLDENS[golden]
    path = str(tmp_path / "model.safetensors")
    save_file(random_weights.draw(data["keys"], data["seed"]), path)
    model = keras_resnet.build(golden.split("/")[1], weights=path, input_shape=(data["size"], data["size"], 3),
                               classifier_activation=None)
    assert model.get_layer("preprocessing").get_config()["reverse_channels"] is False
    logits = infer(model, random_weights.images(data["image_seed"], data["batch"], data["size"]))
    expected = np.asarray(data["logits"], np.float32)
    # Measured: 7e-7 of the largest logit (float32 summation order).
    np.testing.assert_allclose(logits, expected, rtol=1e-4, atol=1e-5 * np.abs(expected).max())
    assert (logits.argmax(-1) == expected.argmax(-1)).all()


def test_a_state_dict_imports_without_the_head_into_a_headless_model():
    data = GOLDENS["torchvision/resnet18"]
    state = random_weights.draw(data["keys"], data["seed"])
    model = keras_resnet.ResNet18(include_top=False, input_shape=(SIZE, SIZE, 3))
    report = checkpoints.import_checkpoint(model, state)
    assert report["head"] is False and report["assigned"] == len(model.weights)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(model.get_layer("conv2_block1_1_conv").kernel),
                                  state["layer1.0.conv1.weight"].transpose(2, 3, 1, 0))


def _weights_of(model):
    return [keras.ops.convert_to_numpy(w).copy() for w in model.weights]


def _refused(model, source, *fragments, **kwargs):
    before = _weights_of(model)
    with pytest.raises(ValueError) as error:
        checkpoints.import_checkpoint(model, source, **kwargs)
    for fragment in fragments:
        assert fragment in str(error.value)
    for a, b in zip(before, _weights_of(model)):  # nothing assigned
        np.testing.assert_array_equal(a, b)


def test_another_depth_is_refused_naming_the_first_tensor():
    r18 = random_weights.draw(GOLDENS["torchvision/resnet18"]["keys"], 0)
    model = keras_resnet.ResNet34(input_shape=(SIZE, SIZE, 3))
    _refused(model, r18, "'layer1.2.conv1.weight' is missing", "'resnet34'")
    r34_keys = [(k.replace("layer1.1.", "layer1.2."), s) for k, s in GOLDENS["torchvision/resnet18"]["keys"]
                if k.startswith("layer1.1.")]
    r34_like = {**r18, **random_weights.draw(r34_keys, 1)}
    _refused(keras_resnet.ResNet18(input_shape=(SIZE, SIZE, 3)), r34_like, "10 tensor(s) the model lacks",
             "'layer1.2.bn1.bias'")


def test_another_head_or_width_is_refused_and_skip_head_keeps_the_new_head():
    r18 = random_weights.draw(GOLDENS["torchvision/resnet18"]["keys"], 0)
    model = keras_resnet.ResNet18(input_shape=(SIZE, SIZE, 3), classes=10)
    _refused(model, r18, "'fc.weight' has shape (512, 1000)", "predictions/kernel")
    head = _weights_of(model)[-2:]
    checkpoints.import_checkpoint(model, r18, skip_head=True)
    for a, b in zip(head, _weights_of(model)[-2:]):
        np.testing.assert_array_equal(a, b)
    _refused(keras_resnet.ResNet18(input_shape=(SIZE, SIZE, 3), width_multiplier=0.5), r18,
             "'conv1.weight' has shape (7, 7, 3, 64)")


@pytest.mark.slow
def test_stride_placement_is_checked_both_ways():
    r50 = random_weights.draw(GOLDENS["torchvision/resnet50"]["keys"], 0)
    _refused(keras_resnet.ResNet50(input_shape=(SIZE, SIZE, 3), stride_in_1x1=True), r50,
             "stride on the 3x3 (v1.5)", "stride_in_1x1=False")
    _refused(keras_resnet.ResNet50(input_shape=(SIZE, SIZE, 3)), _randomised_keras_application("ResNet50"),
             "stride on the 1x1", "stride_in_1x1=True")


@pytest.mark.slow
def test_unreadable_files_are_named(tmp_path):
    data = GOLDENS["torchvision/resnet18"]
    path = tmp_path / "r18.safetensors"
    save_file(random_weights.draw(data["keys"], 0), str(path))
    truncated = tmp_path / "cut.safetensors"
    truncated.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    model = keras_resnet.ResNet18(input_shape=(SIZE, SIZE, 3))
    _refused(model, str(truncated), str(truncated))
    text = tmp_path / "notes.pth"
    text.write_text("not weights")
    _refused(model, str(text), "is not a weights file this package reads")
    cut_h5 = tmp_path / "cut.h5"
    keras.applications.ResNet50(weights=None).save(str(tmp_path / "full.h5"))
    cut_h5.write_bytes((tmp_path / "full.h5").read_bytes()[:4096])
    _refused(keras_resnet.ResNet50(stride_in_1x1=True), str(cut_h5), "not a readable weights file")


def test_a_safetensors_header_length_ending_in_0x80_is_not_taken_for_a_pickle(tmp_path):
    # timm's resnet50d state dict has such a header: 1 length in 256 does.
    path = tmp_path / "w.safetensors"
    for length in range(1, 300):
        save_file({"k" * length: np.zeros(1, np.float32)}, str(path))
        if path.read_bytes()[:1] == b"\x80":
            break
    assert path.read_bytes()[:1] == b"\x80"
    assert checkpoints.sniff(str(path)) == checkpoints.SAFETENSORS
    legacy_pickle = tmp_path / "w.pth"
    legacy_pickle.write_bytes(b"\x80\x02" + b"\0" * 64)
    assert checkpoints.sniff(str(legacy_pickle)) == checkpoints.TORCH


def test_a_keras_archive_or_another_zip_as_weights_is_named_for_what_it_is(tmp_path):
    model = keras_resnet.build("resnet", depth=8, input_shape=(32, 32, 3))
    model.save(tmp_path / "run.keras")
    _refused(model, str(tmp_path / "run.keras"), "is a Keras model archive (.keras), not a weights file: load "
             "the model with keras_resnet.load_model(path)")
    with zipfile.ZipFile(tmp_path / "photos.zip", "w") as archive:
        archive.writestr("a.txt", "not weights")
    _refused(model, str(tmp_path / "photos.zip"), "is not a weights file this package reads")
    (tmp_path / "cut.pth").write_bytes(b"PK\x03\x04" + b"\0" * 64)
    _refused(model, str(tmp_path / "cut.pth"), "is a damaged zip archive")


def test_a_run_mean_model_refuses_a_checkpoint():
    model = keras_resnet.ResNet18(input_shape=(SIZE, SIZE, 3), mean_shape=(3,))
    _refused(model, random_weights.draw(GOLDENS["torchvision/resnet18"]["keys"], 0), "preprocessing")
