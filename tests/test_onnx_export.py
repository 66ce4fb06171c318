"""ONNX export: the file ONNX Runtime loads, its opset, dynamic batch and labels, verified against Keras."""

import json
import os

import keras
import numpy as np
import onnx
import pytest

import keras_resnet
from keras_resnet.export import onnx as onnx_export
from keras_resnet.export.artifacts import ExportVerificationError

LABELS = [f"class {i}" for i in range(10)]


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    folder = str(tmp_path_factory.mktemp("onnx") / "resnet8")
    model = keras_resnet.build("resnet", depth=8, input_shape=(28, 28, 1), classes=10,
                               mean=np.full((28, 28, 1), 72.0, np.float32))
    samples = np.random.default_rng(0).uniform(0, 255, (8, 28, 28, 1)).astype(np.float32)
    report = onnx_export.export_onnx(model, folder, LABELS, samples, "resnet8")
    return dict(model=model, folder=folder, report=report, path=os.path.join(folder, "resnet8.onnx"))


def test_the_file_takes_raw_pixels_in_any_batch_and_matches_keras(exported):
    runner = onnx_export.ONNXClassifier(exported["path"])
    assert exported["report"].path == exported["path"] and exported["report"].max_abs_diff <= 1e-4
    assert [d.dim_param or d.dim_value for d in onnx.load(exported["path"]).graph.input[0].type.tensor_type.shape.dim] \
        == ["batch", 28, 28, 1]
    assert runner.input.name == onnx_export.INPUT_NAME
    for batch in (1, 7):
        x = np.random.default_rng(batch).uniform(0, 255, (batch, 28, 28, 1)).astype(np.float32)
        expected = keras.ops.convert_to_numpy(exported["model"](x, training=False))
        got = runner(x)
        assert got.shape == (batch, 10)
        assert np.max(np.abs(got - expected)) <= 1e-4
        assert np.array_equal(got.argmax(-1), expected.argmax(-1))


def test_the_opset_and_labels_are_recorded_in_the_file_and_its_card(exported):
    assert onnx_export.opset(exported["path"]) == onnx_export.OPSET == 18
    assert onnx_export.ONNXClassifier(exported["path"]).labels() == LABELS
    card = json.load(open(os.path.join(exported["folder"], "resnet8.json")))
    assert card["opset"] == 18 and card["labels"] == LABELS and card["input"]["shape"] == ["batch", 28, 28, 1]
    assert open(os.path.join(exported["folder"], "labels.txt")).read().splitlines() == LABELS
    props = {p.key: p.value for p in onnx.load(exported["path"]).metadata_props}
    assert props["name"] == "resnet8" and json.loads(props["labels"]) == LABELS


def test_a_file_onnx_runtime_cannot_load_is_named(tmp_path):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a model")
    with pytest.raises(ValueError, match=f"{bad}: not an ONNX model ONNX Runtime can load"):
        onnx_export.ONNXClassifier(str(bad))
    with pytest.raises(ValueError, match="no such .onnx file"):
        onnx_export.ONNXClassifier(str(tmp_path / "missing.onnx"))


def test_a_file_that_differs_from_keras_is_not_published(exported, tmp_path, monkeypatch):
    monkeypatch.setitem(onnx_export.TOLERANCES, "onnx", -1.0)
    samples = np.full((2, 28, 28, 1), 100.0, np.float32)
    with pytest.raises(ExportVerificationError, match="ONNX differs from the Keras model"):
        onnx_export.export_onnx(exported["model"], str(tmp_path / "out"), LABELS, samples, "resnet8")
    assert os.listdir(tmp_path) == []  # nothing published, no staging folder left


def test_a_failed_export_leaves_the_previous_one_whole(exported, tmp_path, monkeypatch):
    """The file, its labels and its card are published together: a failure (a full disk, here) keeps the last ones."""
    import shutil

    folder = tmp_path / "resnet8"
    shutil.copytree(exported["folder"], folder)
    before = {name: (folder / name).read_bytes() for name in os.listdir(folder)}

    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(onnx_export, "write_labels", full_disk)
    samples = np.full((2, 28, 28, 1), 100.0, np.float32)
    with pytest.raises(OSError) as raised:
        onnx_export.export_onnx(exported["model"], str(folder), LABELS, samples, "resnet8")
    assert raised.value.filename == str(folder)  # a disk-full error names where it was writing
    assert {name: (folder / name).read_bytes() for name in os.listdir(folder)} == before
    assert sorted(os.listdir(tmp_path)) == ["resnet8"]


def test_a_network_tf2onnx_cannot_convert_is_refused_before_any_work(tmp_path):
    """ResNeXt's grouped convolutions failed after minutes, with the SavedModel published and an empty onnx/ left."""
    from keras_resnet.export import exporter

    path = str(tmp_path / "resnext.keras")
    keras_resnet.build("resnext50_32x4d", input_shape=(32, 32, 3), classes=3).save(path)
    with pytest.raises(ValueError, match=r"^--formats=onnx: tf2onnx cannot convert resnext50_32x4d's grouped "
                                         r"convolutions \(16, e.g. conv2_block1_2_conv"):
        exporter.export_model(path, str(tmp_path / "exports"), formats=("saved_model", "onnx"), eval_examples=None)
    assert not os.path.exists(tmp_path / "exports")
