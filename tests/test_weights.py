"""Weights files: identity stored and checked, every mismatch a ValueError, nothing assigned on failure."""

import os

import h5py
import keras
import numpy as np
import pytest

import keras_resnet
from keras_resnet.weights import h5_files as weights


def _kernel(model, name="conv1_conv"):
    return keras.ops.convert_to_numpy(model.get_layer(name).kernel).copy()


def test_save_weights_records_the_identity_and_round_trips(tmp_path):
    model = keras_resnet.build("resnet8", input_shape=(16, 16, 1), mean=np.full((16, 16, 1), 7.0))
    path = weights.save_weights(model, str(tmp_path / "r8.weights.h5"))
    with h5py.File(path, "r") as f:
        stored = f.attrs[weights.META_KEY]
    assert '"residual": true' in stored and '"mean_shape": [16, 16, 1]' in stored
    again = keras_resnet.build("resnet8", input_shape=(16, 16, 1), mean_shape=(16, 16, 1), weights=path)
    np.testing.assert_array_equal(_kernel(again), _kernel(model))
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(again.get_layer("preprocessing").mean), 7.0)
    assert [p for p in tmp_path.iterdir()] == [tmp_path / "r8.weights.h5"]  # no temporary left


@pytest.mark.parametrize(
    "saved, loaded, message",
    [
        (dict(name="resnet20"), dict(name="plain20"),
         r"another network than 'plain20': residual .*: True in the file, False in the model"),
        (dict(name="resnet50", stride_in_1x1=True), dict(name="resnet50"),
         r"bottleneck stride on the 1x1 .*: True in the file, False in the model"),
        (dict(name="resnet20", shortcut="B"), dict(name="resnet20", shortcut="A"),
         r"shortcut option: 'B' in the file, 'A' in the model"),
        (dict(name="resnet8", width_multiplier=2), dict(name="resnet8"),
         r"width_multiplier: 2.0 in the file, 1.0 in the model"),
        (dict(name="resnet8"), dict(name="resnet8", channels=1), r"input channels: 3 in the file, 1 in the model"),
    ],
)
def test_a_file_of_another_network_is_refused_naming_the_difference(tmp_path, saved, loaded, message):
    def make(name, channels=3, **options):
        side = 32
        return keras_resnet.build(name, input_shape=(side, side, channels), **options)

    path = weights.save_weights(make(**saved), str(tmp_path / "w.weights.h5"))
    target = make(**loaded)
    before = _kernel(target, "conv2_block1_1_conv")
    with pytest.raises(ValueError, match=message):
        weights.load_weights(target, path)
    np.testing.assert_array_equal(_kernel(target, "conv2_block1_1_conv"), before)


def test_a_runs_weights_without_its_preprocessing_say_to_load_final_keras(tmp_path):
    run_model = keras_resnet.build("resnet8", input_shape=(28, 28, 1), mean=np.full((28, 28, 1), 33.0))
    # A Keras-written file (no identity): the layout comparison still finds the mean.
    path = str(tmp_path / "final.weights.h5")
    run_model.save_weights(path)
    with pytest.raises(ValueError, match=r"carries its run's preprocessing .*final.keras.*mean_shape=\[28, 28, 1\]"):
        keras_resnet.ResNet20(input_shape=(28, 28, 1), weights=path)
    bare = str(tmp_path / "bare.weights.h5")
    keras_resnet.build("resnet8", input_shape=(28, 28, 1)).save_weights(bare)
    with pytest.raises(ValueError, match="has a preprocessing layer .* the weights file has none"):
        keras_resnet.build("resnet8", input_shape=(28, 28, 1), mean_shape=(28, 28, 1), weights=bare)


def test_truncated_and_foreign_files_name_the_path(tmp_path):
    model = keras_resnet.build("resnet8")
    good = weights.save_weights(model, str(tmp_path / "good.weights.h5"))
    truncated = tmp_path / "cut.weights.h5"
    truncated.write_bytes(open(good, "rb").read()[:5000])
    with pytest.raises(ValueError, match=r"cut.weights.h5' is not a readable weights file"):
        keras_resnet.build("resnet8", weights=str(truncated))
    foreign = tmp_path / "other.weights.h5"
    with h5py.File(foreign, "w") as f:
        f["x"] = np.zeros(3)
    with pytest.raises(ValueError, match=r"other.weights.h5' is an HDF5 file but holds no Keras weights"):
        keras_resnet.build("resnet8", weights=str(foreign))


def test_headless_models_take_the_body_of_a_file_with_a_head(tmp_path):
    model = keras_resnet.build("resnet8", classes=4)
    path = weights.save_weights(model, str(tmp_path / "w.weights.h5"))
    headless = keras_resnet.build("resnet8", include_top=False, weights=path)
    np.testing.assert_array_equal(_kernel(headless, "conv4_block1_2_conv"), _kernel(model, "conv4_block1_2_conv"))


def test_a_wider_net_is_not_reported_as_a_classes_mismatch(tmp_path):
    path = str(tmp_path / "wide.weights.h5")
    keras_resnet.build("resnet8", width_multiplier=2).save_weights(path)  # plain Keras file: no identity
    with pytest.raises(ValueError, match=r"does not fit 'resnet8' .*another depth, width"):
        keras_resnet.build("resnet8", weights=path)


def test_save_best_keeps_the_best_epoch_across_a_resume(tmp_path):
    model = keras_resnet.build("resnet8")
    path = str(tmp_path / "best.weights.h5")
    best = weights.SaveBest(path, "val_accuracy")
    best.set_model(model)
    best.on_train_begin()
    best.on_epoch_end(0, {"val_accuracy": 0.5})
    saved = _kernel(model)
    model.get_layer("conv1_conv").kernel.assign(np.zeros_like(saved))
    best.on_epoch_end(1, {"val_accuracy": 0.4})  # worse: not written
    resumed = weights.SaveBest(path, "val_accuracy")  # a relaunch reads the score back
    resumed.set_model(model)
    resumed.on_train_begin()
    assert resumed.best == 0.5
    resumed.on_epoch_end(2, {"val_accuracy": 0.45})
    weights.load_weights(model, path)
    np.testing.assert_array_equal(_kernel(model), saved)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best.weights.h5"]


def test_weights_files_take_the_umasks_mode_so_other_users_can_read_them(tmp_path):
    """mkstemp makes 0600 files: published as they were, a serving account could not read a run's weights."""
    model = keras_resnet.build("resnet8", input_shape=(16, 16, 1), classes=3)
    previous = os.umask(0o022)
    try:
        path = weights.save_weights(model, str(tmp_path / "final.weights.h5"))
        best = weights.SaveBest(str(tmp_path / "best.weights.h5"), "accuracy")
        best.set_model(model)
        best.on_epoch_end(0, {"accuracy": 0.5})
    finally:
        os.umask(previous)
    assert os.stat(path).st_mode & 0o777 == 0o644
    assert os.stat(tmp_path / "best.weights.h5").st_mode & 0o777 == 0o644


def test_each_kind_of_source_describes_itself_and_a_published_checkpoint_is_fetched_once(tmp_path, monkeypatch):
    from keras_resnet.arch import specs
    from keras_resnet.weights import pretrained, resolve

    spec = specs.get_spec("resnet18")
    assert resolve.resolve_weights(spec, None).describe() == "no weights (random initialisation)"
    published = keras_resnet.build("resnet18", input_shape=(64, 64, 3), include_preprocessing=True,
                                   preprocessing="torchvision")
    path = weights.save_weights(published, str(tmp_path / "resnet18.weights.h5"))
    as_file = resolve.resolve_weights(spec, path)
    assert isinstance(as_file, resolve.WeightsFile) and as_file.describe() == f"the keras_resnet file {path}"
    fetched = []

    def fetch(info):  # the registry's download and conversion, served from the file above
        fetched.append(info.name)
        return path

    monkeypatch.setattr(pretrained, "fetch", fetch)
    source = resolve.resolve_weights(spec, "imagenet")
    assert isinstance(source, resolve.RegistryWeights)
    assert source.describe() == f"the published checkpoint resnet18/{source.info.name}"
    model = keras_resnet.build("resnet18", input_shape=(64, 64, 3), weights=source)
    assert fetched == [source.info.name]  # the build fetches before it builds; the load reads the same file
    np.testing.assert_array_equal(_kernel(model), _kernel(published))
