"""TFLite metadata and camera-ready input, read back as Android's MediaPipe Tasks read them.

MediaPipe's Python `ImageClassifier` is the same C++ task as its Android
library: what it sees here is what an app sees. A grey run (real
Fashion-MNIST) and an RGB run (crops of the photographs scikit-learn ships)
are trained for a few steps and exported; every quantization is classified
on real test images.
"""

import os

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_resnet
from keras_resnet.arch.layers import GRAYSCALE_WEIGHTS, RGBToGrayscale
from keras_resnet.data import archives, sources as data
from keras_resnet.export import exporter as export, litert, litert_metadata
from keras_resnet.train import training

pytestmark = pytest.mark.slow  # end-to-end: scripts, training, export, search or experiments

QUANTIZED_AGREEMENT = 0.9
TEST_IMAGES = 64


def _train_and_export(base, **config):
    model_dir, export_dir = str(base / "run"), str(base / "exported")
    training.train(training.TrainConfig(model="resnet8", model_dir=model_dir, epochs=2, batch_size=64,
                                        recipe="fast", verbose=0, validation_split=0.0, download=False, **config))
    export.export_model(model_dir, export_dir, formats=["tflite"], num_samples=16, eval_examples=0)
    model = keras_resnet.load_model(os.path.join(model_dir, "final.keras"))
    return dict(model=model, folder=os.path.join(export_dir, "tflite", "resnet8"))


def _photo_folder(root, side=32, train=48, test=16, seed=0):
    """Crops of scikit-learn's two sample photographs, one class each: real RGB images."""
    import sklearn.datasets

    photos = os.path.join(os.path.dirname(sklearn.datasets.__file__), "images")
    rng = np.random.default_rng(seed)
    for name in ("china", "flower"):
        with open(os.path.join(photos, f"{name}.jpg"), "rb") as f:
            photo = tf.io.decode_jpeg(f.read()).numpy()
        for split, count in (("train", train), ("val", test)):
            os.makedirs(os.path.join(root, split, name))
            for i in range(count):
                y, x = rng.integers(0, photo.shape[0] - side), rng.integers(0, photo.shape[1] - side)
                png = tf.io.encode_png(photo[y:y + side, x:x + side]).numpy()
                with open(os.path.join(root, split, name, f"{i}.png"), "wb") as f:
                    f.write(png)
    return root


@pytest.fixture(scope="module")
def grey_run(tmp_path_factory):
    if not os.path.isdir(archives.DEBIAN_FASHION_MNIST):
        pytest.skip("Debian's dataset-fashion-mnist is not installed (scripts/setup.sh installs it)")
    run = _train_and_export(tmp_path_factory.mktemp("grey"), dataset="fashion_mnist", max_train_examples=512,
                            max_test_examples=TEST_IMAGES)
    x_test, y_test = data.load_dataset("fashion_mnist", download=False).arrays[2:]
    run.update(images=x_test[:TEST_IMAGES].reshape(-1, 28, 28, 1), labels=list(archives.FASHION_MNIST_LABELS))
    return run


@pytest.fixture(scope="module")
def rgb_run(tmp_path_factory):
    base = tmp_path_factory.mktemp("rgb")
    folder = _photo_folder(str(base / "photos"))
    run = _train_and_export(base, dataset="image_folder", data_dir=folder)
    source = data.load_dataset("image_folder", folder, download=False)
    run.update(images=np.stack([image.numpy() for image, _ in source.test]), labels=["china", "flower"])
    return run


def _classify(path, images):
    """MediaPipe ImageClassifier's categories, every class, for uint8 [N, H, W, 1 or 3] images."""
    import mediapipe as mp
    from mediapipe.tasks.python import BaseOptions, vision

    options = vision.ImageClassifierOptions(base_options=BaseOptions(model_asset_path=path), max_results=-1)
    results = []
    with vision.ImageClassifier.create_from_options(options) as classifier:
        for image in litert.as_rgb(images).astype(np.uint8):
            frame = mp.Image(image_format=mp.ImageFormat.SRGB, data=np.ascontiguousarray(image))
            results.append(classifier.classify(frame).classifications[0].categories)
    return results


@pytest.mark.parametrize("run_name", ["grey_run", "rgb_run"])
@pytest.mark.parametrize("quantization", litert.QUANTIZATIONS)
def test_mediapipe_classifies_every_file_with_the_runs_labels_as_keras_does(run_name, quantization, request):
    run = request.getfixturevalue(run_name)
    path = os.path.join(run["folder"], f"resnet8_{quantization}.tflite")
    keras_top1 = np.argmax(run["model"].predict(run["images"].astype(np.float32), verbose=0), -1)
    results = _classify(path, run["images"])
    top1 = np.array([categories[0].index for categories in results])
    agreement = float(np.mean(top1 == keras_top1))
    assert agreement == 1.0 if quantization == "float32" else agreement >= QUANTIZED_AGREEMENT, agreement
    for categories in results:
        assert sorted(c.index for c in categories) == list(range(len(run["labels"])))
        assert all(c.category_name == run["labels"][c.index] for c in categories)
        scores = np.array([c.score for c in categories])
        assert np.all((scores >= 0) & (scores <= 1)) and abs(scores.sum() - 1) < 0.02, scores


def test_the_metadata_reads_back_as_written(grey_run, rgb_run):
    metadata_fb = litert_metadata.metadata_fb

    for run, channels in ((grey_run, 1), (rgb_run, 3)):
        for quantization in litert.QUANTIZATIONS:
            with open(os.path.join(run["folder"], f"resnet8_{quantization}.tflite"), "rb") as f:
                metadata = litert_metadata.read(f.read())
            assert metadata["name"] == "resnet8"
            assert metadata["author"] == f"keras_resnet {keras_resnet.__version__}"
            assert metadata["version"].startswith("weights sha256:") and len(metadata["version"]) == 31
            assert ("converted to grey inside the file" in metadata["description"]) == (channels == 1)
            assert metadata["min_parser_version"] == litert_metadata.MIN_PARSER_VERSION
            assert metadata["input"] == {"name": "image", "color_space": metadata_fb.ColorSpaceType.RGB,
                                         "mean": [0.0, 0.0, 0.0], "std": [1.0, 1.0, 1.0]}
            assert metadata["output"]["labels"] == run["labels"]
            assert metadata["output"]["labels_file"] == "labels.txt"
            assert metadata["output"]["labels_file_type"] == metadata_fb.AssociatedFileType.TENSOR_AXIS_LABELS
            assert (metadata["output"]["min"], metadata["output"]["max"]) == ([0.0], [1.0])


def test_only_first_release_schema_fields_are_written(rgb_run):
    """What makes MIN_PARSER_VERSION right: none of the fields later schema versions added."""
    metadata_fb = litert_metadata.metadata_fb

    with open(os.path.join(rgb_run["folder"], "resnet8_float32.tflite"), "rb") as f:
        flatbuffer = f.read()
    from tensorflow.lite.tools import flatbuffer_utils

    parsed = flatbuffer_utils.convert_bytearray_to_object(bytearray(flatbuffer))
    buffer = next(parsed.buffers[m.buffer] for m in parsed.metadata if m.name.decode() == "TFLITE_METADATA")
    metadata = metadata_fb.ModelMetadataT.InitFromObj(
        metadata_fb.ModelMetadata.GetRootAsModelMetadata(bytes(buffer.data), 0))
    graph = metadata.subgraphMetadata[0]
    assert graph.inputProcessUnits is None and graph.outputProcessUnits is None  # 1.1.0
    assert graph.inputTensorGroups is None and graph.outputTensorGroups is None  # 1.2.0
    assert graph.customMetadata is None  # 1.5.0
    files = graph.outputTensorMetadata[0].associatedFiles
    assert [f.version for f in files] == [None]  # 1.4.1
    assert all(f.type == metadata_fb.AssociatedFileType.TENSOR_AXIS_LABELS for f in files)  # not 1.0.1 / 1.4.0
    units = graph.inputTensorMetadata[0].processUnits
    assert [u.optionsType for u in units] == [metadata_fb.ProcessUnitOptions.NormalizationOptions]


def test_a_grey_nets_files_take_rgb_and_its_int8_file_raw_pixels(grey_run):
    from ai_edge_litert.interpreter import Interpreter

    for quantization in litert.QUANTIZATIONS:
        interpreter = Interpreter(model_path=os.path.join(grey_run["folder"], f"resnet8_{quantization}.tflite"))
        detail = interpreter.get_input_details()[0]
        assert list(detail["shape"]) == [1, 28, 28, 3]
        if quantization == "int8":
            assert detail["dtype"] == np.uint8 and detail["quantization"] == (1.0, 0)


def test_populate_refuses_a_wrong_label_count_and_a_second_metadata(rgb_run, tmp_path):
    model = litert.camera_ready(keras_resnet.build("resnet", depth=8, input_shape=(32, 32, 3), classes=3))
    flatbuffer = litert.convert(model, "float32", str(tmp_path))
    info = litert_metadata.ClassifierInfo(name="m", description="d", version="1", labels=["a", "b", "c"])
    with pytest.raises(ValueError, match="2 labels for a model of 3 classes"):
        litert_metadata.populate(flatbuffer, litert_metadata.ClassifierInfo("m", "d", "1", ["a", "b"]))
    populated = litert_metadata.populate(flatbuffer, info)
    with pytest.raises(ValueError, match="already carries TFLite metadata"):
        litert_metadata.populate(populated, info)
    with pytest.raises(ValueError, match="carries no TFLite metadata"):
        litert_metadata.read(flatbuffer)


def test_rgb_to_grayscale_is_tensorflows_conversion_and_camera_ready_wraps_only_grey_nets(tmp_path):
    rgb = np.random.default_rng(0).uniform(0, 255, (2, 5, 7, 3)).astype(np.float32)
    np.testing.assert_allclose(RGBToGrayscale()(rgb), tf.image.rgb_to_grayscale(rgb), rtol=1e-6, atol=1e-4)
    assert GRAYSCALE_WEIGHTS == (0.2989, 0.5870, 0.1140)
    grey = keras_resnet.build("resnet", depth=8, input_shape=(28, 28, 1), classes=10)
    camera = litert.camera_ready(grey)
    assert camera.input_shape == (None, 28, 28, 3) and camera.layers[1].name == litert.GRAYSCALE_LAYER
    x = rgb[:, :5, :5].repeat(6, 1).repeat(6, 2)[:, :28, :28]
    np.testing.assert_allclose(camera(x), grey(tf.image.rgb_to_grayscale(x)), atol=1e-6)
    camera.save(tmp_path / "camera.keras")
    reloaded = keras.saving.load_model(tmp_path / "camera.keras")
    np.testing.assert_allclose(reloaded(x), camera(x), atol=1e-6)
    colour = keras_resnet.build("resnet", depth=8, input_shape=(32, 32, 3), classes=10)
    assert litert.camera_ready(colour) is colour
    with pytest.raises(ValueError, match="takes 2 channels"):
        litert.camera_ready(keras_resnet.build("resnet", depth=8, input_shape=(32, 32, 2), classes=10))


def test_an_interrupted_export_leaves_the_previous_files_whole(rgb_run, tmp_path, monkeypatch):
    """The variants, labels.txt and the card are published together: an interrupt after the first file (here, in
    the second's conversion) used to leave a folder with only the float32 file and no labels."""
    import shutil

    folder = tmp_path / "resnet8"
    shutil.copytree(rgb_run["folder"], folder)
    before = {name: (folder / name).read_bytes() for name in os.listdir(folder)}
    convert, calls = litert.convert, []

    def interrupted(*args, **kwargs):
        calls.append(args[1])
        if len(calls) == 2:
            raise KeyboardInterrupt
        return convert(*args, **kwargs)

    monkeypatch.setattr(litert, "convert", interrupted)
    samples = rgb_run["images"][:4].astype(np.float32)
    with pytest.raises(KeyboardInterrupt):
        litert.export_tflite(rgb_run["model"], str(folder), rgb_run["labels"], samples,
                             quantizations=("float32", "float16"), name="resnet8")
    assert calls == ["float32", "float16"]
    assert {name: (folder / name).read_bytes() for name in os.listdir(folder)} == before
    assert os.listdir(tmp_path) == ["resnet8"]  # no staging folder left
