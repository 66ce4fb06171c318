import io
import os
import pickle
import tarfile

import numpy as np
import pytest
import tensorflow as tf

from keras_resnet.data import archives, catalog, pipelines, sources as data

from helpers import make_idx_dataset, write_idx


def test_read_idx_round_trip_and_bad_header(tmp_path):
    array = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    write_idx(str(tmp_path / "a.gz"), array)
    np.testing.assert_array_equal(archives.read_idx(str(tmp_path / "a.gz")), array)
    (tmp_path / "bad").write_bytes(b"\x00\x00\x0d\x01\x00\x00\x00\x01x")
    with pytest.raises(ValueError, match="not an IDX file"):
        archives.read_idx(str(tmp_path / "bad"))
    whole = (tmp_path / "a.gz").read_bytes()
    (tmp_path / "cut.gz").write_bytes(whole[: len(whole) // 2])
    with pytest.raises(ValueError, match=r"cut.gz is damaged \(a truncated or corrupt gzip file"):
        archives.read_idx(str(tmp_path / "cut.gz"))


def test_fashion_mnist_from_idx_files_in_data_dir(tmp_path):
    make_idx_dataset(str(tmp_path / "fashion_mnist"), 50, 20)
    source = data.load_dataset("fashion_mnist", str(tmp_path), download=False)
    assert (source.num_train, source.num_test, source.num_classes) == (50, 20, 10)
    assert source.image_shape == (28, 28, 1)
    assert source.class_names[9] == "Ankle boot"
    image, label = next(iter(source.train))
    assert image.dtype == tf.uint8 and image.shape == (28, 28, 1) and label.dtype == tf.int32


@pytest.mark.skipif(not os.path.isdir(archives.DEBIAN_FASHION_MNIST),
                    reason="Debian's dataset-fashion-mnist is not installed")
def test_real_fashion_mnist_from_debian_package():
    source = data.load_dataset("fashion_mnist", download=False)
    x_train, y_train, x_test, y_test = source.arrays
    assert x_train.shape == (60_000, 28, 28, 1) and x_test.shape == (10_000, 28, 28, 1)
    assert np.bincount(y_train).tolist() == [6000] * 10
    assert np.bincount(y_test).tolist() == [1000] * 10


def test_missing_data_says_where_it_looked(tmp_path):
    with pytest.raises(ValueError, match=f"No mnist IDX files .* in .*{tmp_path}"):
        data.load_dataset("mnist", str(tmp_path), download=False)
    with pytest.raises(ValueError, match="No cifar10 archive"):
        data.load_dataset("cifar10", str(tmp_path), download=False)
    with pytest.raises(ValueError, match="image_folder needs --data_dir"):
        data.load_dataset("image_folder", None)


def _cifar_images(n, seed):
    rng = np.random.default_rng(seed)
    hwc = rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8)
    return hwc, hwc.transpose(0, 3, 1, 2).reshape(n, 3072)


def _tar(path, members):
    with tarfile.open(path, "w:gz") as tar:
        for name, payload in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))


def test_cifar10_python_archive(tmp_path):
    members, expected = {}, []
    for i in range(1, 6):
        hwc, flat = _cifar_images(4, i)
        expected.append(hwc)
        members[f"cifar-10-batches-py/data_batch_{i}"] = pickle.dumps({b"data": flat, b"labels": [i] * 4})
    test_hwc, test_flat = _cifar_images(3, 9)
    members["cifar-10-batches-py/test_batch"] = pickle.dumps({b"data": test_flat, b"labels": [0, 1, 2]})
    members["cifar-10-batches-py/batches.meta"] = pickle.dumps(
        {b"label_names": [n.encode() for n in archives.CIFAR10_LABELS]})
    _tar(str(tmp_path / "cifar-10-python.tar.gz"), members)
    source = data.load_dataset("cifar10", str(tmp_path), download=False)
    x_train, y_train, x_test, y_test = source.arrays
    np.testing.assert_array_equal(x_train, np.concatenate(expected))
    np.testing.assert_array_equal(x_test, test_hwc)
    assert y_train.tolist() == [i for i in range(1, 6) for _ in range(4)]
    assert source.class_names == archives.CIFAR10_LABELS and source.image_shape == (32, 32, 3)


def test_cifar10_and_cifar100_binary_archives(tmp_path):
    hwc, flat = _cifar_images(2, 0)
    records = np.concatenate([np.array([[7], [3]], np.uint8), flat], axis=1).tobytes()
    members = {f"cifar-10-batches-bin/data_batch_{i}.bin": records for i in range(1, 6)}
    members["cifar-10-batches-bin/test_batch.bin"] = records
    _tar(str(tmp_path / "cifar-10-binary.tar.gz"), members)
    x_train, y_train, x_test, y_test = data.load_dataset("cifar10", str(tmp_path), download=False).arrays
    assert x_train.shape == (10, 32, 32, 3) and y_test.tolist() == [7, 3]
    np.testing.assert_array_equal(x_test, hwc)

    folder = tmp_path / "cifar-100-binary"
    folder.mkdir()
    rec100 = np.concatenate([np.array([[1, 42], [2, 99]], np.uint8), flat], axis=1).tobytes()
    (folder / "train.bin").write_bytes(rec100)
    (folder / "test.bin").write_bytes(rec100)
    source = data.load_dataset("cifar100", str(tmp_path), download=False)
    assert source.arrays[1].tolist() == [42, 99] and source.num_classes == 100


def test_image_folder(tmp_path):
    for split, n in (("train", 3), ("val", 1)):
        for cls in ("cat", "dog"):
            os.makedirs(tmp_path / split / cls)
            for i in range(n):
                png = tf.io.encode_png(np.full((20 + i, 30, 3), 100, np.uint8)).numpy()
                (tmp_path / split / cls / f"{i}.png").write_bytes(png)
    source = data.load_dataset("image_folder", str(tmp_path))
    assert source.class_names == ("cat", "dog") and (source.num_train, source.num_test) == (6, 2)
    assert source.image_shape == (None, None, 3)
    shapes = sorted(tuple(x.shape) for x, _ in source.train)
    assert shapes[0] == (20, 30, 3) and shapes[-1] == (22, 30, 3)
    with pytest.raises(ValueError, match="No class subfolders"):
        data.load_dataset("image_folder", str(tmp_path / "train" / "cat"))
    os.makedirs(tmp_path / "train" / "bag")
    (tmp_path / "train" / "bag" / "notes.txt").write_text("not an image")
    with pytest.raises(ValueError, match=r"Class folder\(s\) without images .*: bag\. Each subfolder is a class"):
        data.load_dataset("image_folder", str(tmp_path))


def test_image_folder_classes_named_like_splits_and_images_in_class_subfolders(tmp_path):
    """Without a train/ folder every subfolder is a class, test/ too; a class's subfolders hold its images too."""
    png = tf.io.encode_png(np.full((8, 8, 3), 100, np.uint8)).numpy()
    for path in ("ant/0.png", "test/0.png", "test/1.png", "val/a/b/0.png", "val/1.png"):
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_bytes(png)
    source = data.load_dataset("image_folder", str(tmp_path))
    assert source.class_names == ("ant", "test", "val")
    assert source.num_train + source.num_test == 5
    labels = sorted(int(y) for _, y in source.train.concatenate(source.test))
    assert labels == [0, 1, 1, 2, 2]
    # Beside train/, val/ is the held-out split; one without the classes' images is named.
    split = tmp_path / "split"
    (split / "train" / "ant").mkdir(parents=True)
    (split / "train" / "ant" / "0.png").write_bytes(png)
    (split / "val" / "other").mkdir(parents=True)
    with pytest.raises(ValueError, match=r"No images .* under '.*val'/<class>/: the held-out split holds the "
                                         r"training split's class folders \(ant\)"):
        data.load_dataset("image_folder", str(split))


def test_image_folders_convert_channels_as_serving_and_the_camera_ready_exports_do(tmp_path):
    rgb = np.random.default_rng(0).integers(0, 256, (6, 5, 3), dtype=np.uint8)
    grey = rgb[..., :1]
    for cls, image in (("colour", rgb), ("grey", grey)):
        os.makedirs(tmp_path / cls)
        (tmp_path / cls / "0.png").write_bytes(tf.io.encode_png(image).numpy())
        (tmp_path / cls / "1.png").write_bytes(tf.io.encode_png(image).numpy())
    as_grey = {int(y): x.numpy() for x, y in data.load_image_folder(str(tmp_path), channels=1).train}
    np.testing.assert_array_equal(as_grey[0], tf.image.rgb_to_grayscale(rgb).numpy())
    np.testing.assert_array_equal(as_grey[1], grey)
    as_rgb = {int(y): x.numpy() for x, y in data.load_image_folder(str(tmp_path), channels=3).train}
    np.testing.assert_array_equal(as_rgb[0], rgb)
    np.testing.assert_array_equal(as_rgb[1], np.repeat(grey, 3, -1))


def test_tfds_path_with_mock_data():
    import tensorflow_datasets as tfds

    with tfds.testing.mock_data(num_examples=6):
        source = data.load_dataset("cifar10", None)
        assert source.num_classes == 10 and source.image_shape == (32, 32, 3)
        image, label = next(iter(source.train))
        assert image.shape == (32, 32, 3) and label.dtype == tf.int32


def test_unknown_dataset():
    with pytest.raises(ValueError, match="Unknown dataset 'cifar11'; offline: fashion_mnist"):
        catalog.check_dataset_name("cifar11")
    catalog.check_dataset_name("imagenette")


def test_cifar_augmentation_pads_crops_and_flips():
    tf.random.set_seed(0)
    image = tf.constant(np.arange(32 * 32 * 3).reshape(32, 32, 3) % 251, tf.uint8)
    augment = pipelines.train_transform("cifar", (32, 32), (32, 32))
    outputs = [augment(image).numpy() for _ in range(20)]
    assert all(o.shape == (32, 32, 3) and o.dtype == np.float32 for o in outputs)
    # A crop of the 4-pixel zero pad shows zero borders some of the time.
    assert any((o[0] == 0).all() or (o[:, 0] == 0).all() for o in outputs)
    assert len({o.tobytes() for o in outputs}) > 1
    centre = pipelines.eval_transform((32, 32), (32, 32))
    np.testing.assert_array_equal(centre(image).numpy(), image.numpy().astype(np.float32))


def _shifts(image: np.ndarray, padding: int) -> dict:
    """Every view of `image` and its mirror shifted by up to `padding` pixels, zero-filled, by (flip, dy, dx)."""
    h, w = image.shape[:2]
    views = {}
    for flip, source in ((False, image), (True, image[:, ::-1])):
        padded = np.pad(source, [(padding, padding), (padding, padding), (0, 0)])
        for dy in range(-padding, padding + 1):
            for dx in range(-padding, padding + 1):
                views[(flip, dy, dx)] = padded[padding + dy:padding + dy + h, padding + dx:padding + dx + w]
    return views


@pytest.mark.parametrize("padding", [0, 2, 4])
def test_cifar_augmentation_crops_within_its_padding(padding):
    tf.random.set_seed(padding)
    image = np.random.default_rng(0).integers(1, 256, (28, 28, 1)).astype(np.float32)  # no zeros: pads show
    augment = pipelines.train_transform("cifar", (28, 28), (28, 28), crop_padding=padding)
    views = _shifts(image, padding)
    seen = set()
    for _ in range(200):
        out = augment(tf.constant(image, tf.uint8)).numpy()
        [key] = [k for k, v in views.items() if np.array_equal(v, out)]
        seen.add(key)
    # Every shift is within the padding, and 200 crops reach its edge both ways.
    assert max(max(abs(dy), abs(dx)) for _, dy, dx in seen) == padding
    assert {dy for _, dy, _ in seen} >= {-padding, padding} and {f for f, _, _ in seen} == {False, True}
    with pytest.raises(ValueError, match=r"crop_padding must be an integer >= 0. Received: crop_padding=-1"):
        pipelines.train_transform("cifar", (28, 28), crop_padding=-1)


def test_a_padding_that_would_make_crops_mostly_padding_is_refused():
    pipelines.train_transform("cifar", (28, 28), crop_padding=7)  # a quarter of the side
    with pytest.raises(ValueError, match=r"^--crop_padding=100 on 28x28 images would make crops mostly padding: give "
                                         r"at most a quarter of the side, 7 here"):
        pipelines.train_transform("cifar", (28, 28), crop_padding=100)
    pipelines.train_transform("none", (28, 28), crop_padding=100)  # only the cifar augmentation pads


def test_imagenet_augmentation_and_centre_view_on_variable_sizes():
    image = tf.constant(np.random.default_rng(0).integers(0, 255, (300, 400, 3)), tf.uint8)
    augment = pipelines.train_transform("imagenet", (224, 224))
    out = augment(image).numpy()
    assert out.shape == (224, 224, 3) and out.min() >= 0 and out.max() <= 255
    assert pipelines.eval_transform((64, 64))(image).shape == (64, 64, 3)
    with pytest.raises(ValueError, match="Unknown augmentation"):
        pipelines.train_transform("autoaugment", (32, 32))


def test_pixel_mean_is_the_mean_image(tmp_path):
    make_idx_dataset(str(tmp_path), 30, 10)
    source = data.load_dataset("mnist", str(tmp_path), download=False)
    mean = pipelines.pixel_mean(source.train, source.image_shape[:2], (28, 28), source.arrays[0])
    np.testing.assert_allclose(mean, source.arrays[0].mean(axis=0), rtol=1e-6)
    streamed = pipelines.pixel_mean(source.train, source.image_shape[:2], (28, 28))
    np.testing.assert_allclose(streamed, mean, rtol=1e-5)
    resized = pipelines.pixel_mean(source.train, source.image_shape[:2], (32, 32))
    assert resized.shape == (32, 32, 1)


def test_pipeline_batches_and_shards_by_data():
    ds = tf.data.Dataset.from_tensor_slices((np.zeros((10, 4, 4, 1), np.uint8), np.arange(10, dtype=np.int32)))
    batches = list(pipelines.make_pipeline(ds, 4, pipelines.eval_transform((4, 4), (4, 4)), training=True, seed=1,
                                      drop_remainder=True))
    assert [b[0].shape[0] for b in batches] == [4, 4]
    assert batches[0][0].dtype == tf.float32


def test_tfds_prepares_a_data_set_end_to_end(tmp_path):
    import fake_tfds.fake_digits  # noqa: F401  (registers the builder)

    with pytest.raises(ValueError, match=r"fake_digits is not prepared in --data_dir=.*which is only read: pass "
                                         r"--prepare_data_dir"):
        data.load_dataset("fake_digits", str(tmp_path))
    assert os.listdir(tmp_path) == []
    source = data.load_dataset("fake_digits", str(tmp_path), prepare_data_dir=True)
    assert (source.num_train, source.num_test, source.class_names) == (20, 6, ("even", "odd"))
    images, labels = next(iter(source.train.batch(20)))
    assert tuple(images.shape) == (20, 8, 8, 1) and np.bincount(labels.numpy()).tolist() == [10, 10]
    assert os.path.isdir(tmp_path / "fake_digits" / "1.0.0")


def test_cifar10_in_a_folder_of_other_data_is_refused_before_any_download(tmp_path):
    make_idx_dataset(str(tmp_path / "fashion"))
    before = sorted(os.listdir(tmp_path / "fashion"))
    with pytest.raises(ValueError, match=r"No cifar10 archive .* in --data_dir=.*fashion.*which is only read: put one "
                                         r"there, pass --prepare_data_dir"):
        data.load_dataset("cifar10", str(tmp_path / "fashion"))
    assert sorted(os.listdir(tmp_path / "fashion")) == before


def test_a_failed_download_is_one_line(tmp_path, monkeypatch):
    import requests
    import tensorflow_datasets as tfds

    import fake_tfds.fake_digits  # noqa: F401  (registers the builder)

    def offline(self, *args, **kwargs):
        raise requests.ConnectionError("Failed to resolve 'storage.googleapis.com'")

    monkeypatch.setattr(tfds.core.DatasetBuilder, "download_and_prepare", offline)
    with pytest.raises(ValueError, match=r"tensorflow-datasets could not download fake_digits \(Failed to resolve "
                                         r"'storage.googleapis.com'\): check the network"):
        data.load_dataset("fake_digits", str(tmp_path), prepare_data_dir=True)


def test_an_explicit_data_dir_without_the_data_is_an_error(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match=r"No fashion_mnist IDX files .*empty.*leave --data_dir out"):
        data.load_dataset("fashion_mnist", str(tmp_path / "empty"))
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(ValueError, match=r"--data_dir must be a folder .*file.txt' is a file"):
        data.load_dataset("fashion_mnist", str(tmp_path / "file.txt"))


def test_undecodable_images_are_named_before_training_or_skipped(tmp_path):
    for split in ("train", "val"):
        for cls in ("cat", "dog"):
            folder = tmp_path / split / cls
            folder.mkdir(parents=True)
            for i in range(2):
                (folder / f"{i}.png").write_bytes(tf.io.encode_png(np.full((6, 6, 3), 40 * i, np.uint8)).numpy())
    good = (tmp_path / "val" / "dog" / "0.png").read_bytes()
    (tmp_path / "val" / "dog" / "0.png").write_bytes(good[:30])  # truncated: only a full decode finds it
    (tmp_path / "train" / "cat" / "notes.jpg").write_bytes(b"not an image")
    with pytest.raises(ValueError, match=r"2 file\(s\) .* not decodable images .*notes.jpg.*0.png.*--skip_bad_images"):
        data.load_dataset("image_folder", str(tmp_path))
    assert sorted(data.find_unreadable([str(tmp_path / "train" / "cat" / "notes.jpg")], full_decode=False)) == [
        str(tmp_path / "train" / "cat" / "notes.jpg")]
    source = data.load_dataset("image_folder", str(tmp_path), skip_bad_images=True)
    assert (source.num_train, source.num_test) == (4, 3)
