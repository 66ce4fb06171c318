"""scripts/convert_weights.py: checkpoint in, .weights.h5 out, parity printed; a misfit writes nothing."""

import os

import keras
import numpy as np
import pytest

import keras_resnet

from helpers import infer, run_script

pytestmark = pytest.mark.slow  # end-to-end: scripts, training, export, search or experiments


def _run(*args):
    return run_script("convert_weights.py", *args, env=dict(TF_CPP_MIN_LOG_LEVEL="2"))


def test_a_keras_applications_file_converts_with_exact_parity_and_loads_with_its_preprocessing(tmp_path):
    reference = keras.applications.ResNet50(weights=None, input_shape=(64, 64, 3))
    source = str(tmp_path / "resnet50.h5")
    reference.save(source)
    out = str(tmp_path / "r50.weights.h5")
    done = _run(f"--input={source}", "--model=resnet50", f"--output={out}", "--image_size=64", "--num_images=2")
    assert done.returncode == 0, done.stderr
    assert "267 tensors assigned" in done.stdout
    assert "parity against keras.applications.ResNet50 on 2 random images" in done.stdout
    assert "top-1 agreement 100%" in done.stdout
    model = keras_resnet.ResNet50(weights=out, stride_in_1x1=True, input_shape=(64, 64, 3))
    assert model.get_layer("preprocessing").get_config()["reverse_channels"] is True
    pixels = np.random.default_rng(0).uniform(0, 255, (2, 64, 64, 3)).astype("float32")
    expected = infer(reference, keras.applications.resnet.preprocess_input(pixels.copy()))
    np.testing.assert_allclose(infer(model, pixels), expected, atol=1e-5)


def test_a_checkpoint_of_another_depth_writes_nothing(tmp_path):
    source = str(tmp_path / "resnet50.h5")
    keras.applications.ResNet50(weights=None).save(source)
    out = tmp_path / "r101.weights.h5"
    done = _run(f"--input={source}", "--model=resnet101", f"--output={out}", "--image_size=64")
    assert done.returncode == 1
    assert "error: Cannot import into 'resnet101': layer 'conv4_block7_1_conv'" in done.stderr
    assert not out.exists() and sorted(os.listdir(tmp_path)) == ["resnet50.h5"]


def test_a_keras_hub_preset_converts_naming_its_own_network(tmp_path):
    from helpers import hub_preset

    preset = str(tmp_path / "resnet_18_preset")
    config = dict(input_conv_filters=[64], input_conv_kernel_sizes=[7], stackwise_num_filters=[64, 128, 256, 512],
                  stackwise_num_blocks=[2, 2, 2, 2], stackwise_num_strides=[1, 2, 2, 2], block_type="basic_block",
                  use_pre_activation=False)
    hub_preset(preset, config, classes=3)
    out = str(tmp_path / "r18.weights.h5")
    done = _run(f"--input={preset}", f"--output={out}", "--image_size=64", "--num_images=2")
    assert done.returncode == 0, done.stderr
    assert f"{preset} (keras_hub) -> {out}: 102 tensors assigned" in done.stdout
    assert "parity against keras_hub.models.ResNetImageClassifier on 2 random images" in done.stdout
    assert "top-1 agreement 100%" in done.stdout
    model = keras_resnet.ResNet18(weights=out, classes=3, input_shape=(64, 64, 3))
    assert model.get_layer("preprocessing").get_config()["mean"] == [123.675, 116.28, 103.53]
