"""weights="imagenet" and named checkpoints: registry, download from a local server, hash check, conversion cache."""

import dataclasses
import hashlib
import http.server
import os
import threading

import keras
import numpy as np
import pytest
from safetensors.numpy import save_file

import keras_resnet
from keras_resnet.weights import pretrained

from helpers import goldens, infer

import random_weights  # tests/goldens, on the path (pytest.ini)

GOLDEN = goldens()["torchvision/resnet18"]


def test_the_registry_is_complete_and_imagenet_picks_the_best_for_the_stride_placement():
    assert pretrained.list_weights("resnet50") == ["torchvision_v1", "torchvision_v2", "timm_a1", "msra_caffe"]
    assert pretrained.list_weights("resnet18") == ["torchvision_v1"]
    for info in pretrained.REGISTRY:
        assert info.url.startswith("https://") and info.license and info.top1 > 60
        assert info.preprocessing == {"msra_caffe": "caffe", "keras": "tf"}.get(info.name, "torchvision")
        assert info.stride_in_1x1 == (info.name == "msra_caffe")
        assert info.pinned  # every download is checked against its publisher's hash
        if info.hash_algorithm == "md5":  # keras.applications' own, from its source
            assert len(info.file_hash) == 32 and info.format == "keras.applications"
        else:  # torchvision's and timm's: the SHA-256 prefix in the publisher's file name, as torch.hub checks it
            assert info.url.endswith(f"-{info.file_hash}.pth") and info.format == "torch"
            assert all(mirror_hash is None for _, mirror_hash in info.mirrors)  # the hub copies publish none
    assert pretrained.get_weights_info("resnet50", "imagenet", False).name == "torchvision_v2"
    assert pretrained.get_weights_info("resnet152", "imagenet", True).name == "msra_caffe"
    assert pretrained.get_weights_info("resnet34", "imagenet", None).name == "torchvision_v1"
    for model in ("resnext50_32x4d", "resnext101_32x8d", "wide_resnet50_2", "wide_resnet101_2"):
        assert pretrained.list_weights(model) == ["torchvision_v1", "torchvision_v2"]
        assert pretrained.get_weights_info(model, "imagenet", None).name == "torchvision_v2"
    assert pretrained.list_weights("resnext101_64x4d") == ["torchvision_v1"]
    for depth, top1 in ((50, 76.0), (101, 77.2), (152, 78.0)):  # keras.applications' own v2 weights
        info = pretrained.get_weights_info(f"resnet{depth}v2", "imagenet", False)
        assert (info.name, info.top1, info.hash_algorithm) == ("keras", top1, "md5")
        assert info.url == ("https://storage.googleapis.com/tensorflow/keras-applications/resnet/"
                            f"resnet{depth}v2_weights_tf_dim_ordering_tf_kernels.h5")
    assert {info.model for info in pretrained.REGISTRY} <= set(keras_resnet.list_models())
    wide = pretrained.get_weights_info("wide_resnet50_2", "imagenet")
    assert wide.url == "https://download.pytorch.org/models/wide_resnet50_2-9ba9bcbe.pth"
    assert wide.file_hash == "9ba9bcbe"
    assert wide.mirrors == (("https://huggingface.co/timm/wide_resnet50_2.tv2_in1k/resolve/main/model.safetensors",
                             None),)
    with pytest.raises(ValueError, match="carries no SHA-256 prefix"):
        pretrained.name_hash("resnet50.pth")


@pytest.mark.parametrize("call, message", [
    (lambda: keras_resnet.ResNet50(weights="torchvision_v3"), "Unknown checkpoint 'torchvision_v3' for 'resnet50'"),
    (lambda: keras_resnet.ResNet50(weights="msra_caffe"), "stride_in_1x1=True"),
    (lambda: keras_resnet.ResNet20(weights="imagenet"), "no published weights for 'resnet20'"),
    (lambda: keras_resnet.PlainNet18(weights="imagenet"), "no published weights for 'plain18'"),
    (lambda: keras_resnet.ResNet18(weights="missing/r18.safetensors"), "Weights file not found"),
    (lambda: keras_resnet.ResNet18(include_preprocessing=True), "include_preprocessing=True"),
])
def test_bad_weights_arguments_fail_before_any_download(call, message, tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        call()
    assert not (tmp_path / "models").exists()


class _Server:
    """Serves one file on 127.0.0.1 and counts the requests."""

    def __init__(self, payload: bytes):
        self.requests = 0
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                outer.requests += 1
                self.send_response(200)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args):
                pass

        self.httpd = http.server.HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_port}/resnet18.safetensors"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def served_resnet18(tmp_path, monkeypatch):
    """resnet18/torchvision_v1 in the registry pointing at a local server with the golden weights."""
    path = tmp_path / "resnet18.safetensors"
    save_file(random_weights.draw(GOLDEN["keys"], GOLDEN["seed"]), str(path))
    payload = path.read_bytes()
    server = _Server(payload)
    entry = dataclasses.replace(pretrained.get_weights_info("resnet18", "torchvision_v1"), url=server.url,
                                file_hash=hashlib.sha256(payload).hexdigest()[:8])
    monkeypatch.setattr(pretrained, "REGISTRY", (entry,) + tuple(
        w for w in pretrained.REGISTRY if (w.model, w.name) != ("resnet18", "torchvision_v1")))
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    yield server
    server.close()


@pytest.mark.slow
def test_imagenet_weights_download_convert_cache_and_match_the_reference(served_resnet18):
    size = GOLDEN["size"]
    pixels = random_weights.images(GOLDEN["image_seed"], GOLDEN["batch"], size)
    model = keras_resnet.ResNet18(weights="imagenet", input_shape=(size, size, 3), classifier_activation=None)
    expected = np.asarray(GOLDEN["logits"], np.float32)
    np.testing.assert_allclose(infer(model, pixels), expected, rtol=1e-4,
                               atol=1e-5 * np.abs(expected).max())
    cache = os.path.join(os.environ["KERAS_HOME"], "models", "keras_resnet")
    assert sorted(os.listdir(cache)) == ["resnet18_torchvision_v1.weights.h5"]  # converted only
    assert served_resnet18.requests == 1
    # Cached: no second request. Other classes: the head is new, the body the checkpoint's.
    again = keras_resnet.ResNet18(weights="torchvision_v1", input_shape=(size, size, 3), classes=7)
    assert served_resnet18.requests == 1
    assert again.get_layer("predictions").kernel.shape == (512, 7)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(again.get_layer("conv1_conv").kernel),
                                  keras.ops.convert_to_numpy(model.get_layer("conv1_conv").kernel))
    backbone = keras_resnet.ResNet18(weights="imagenet", include_top=False, include_preprocessing=False,
                                     pooling="avg")
    assert "preprocessing" not in [layer.name for layer in backbone.layers]
    assert backbone.output_shape == (None, 512)


def test_a_wrong_hash_is_refused_and_nothing_is_cached(served_resnet18, monkeypatch):
    entry = dataclasses.replace(pretrained.REGISTRY[0], file_hash="0" * 64)
    monkeypatch.setattr(pretrained, "REGISTRY", (entry,))
    with pytest.raises(ValueError, match="damaged or was replaced. Nothing was cached"):
        keras_resnet.ResNet18(weights="imagenet")
    cache = os.path.join(os.environ["KERAS_HOME"], "models", "keras_resnet")
    assert os.listdir(cache) == []


def test_an_unreachable_host_says_to_pass_a_file(tmp_path, monkeypatch):
    entry = dataclasses.replace(pretrained.get_weights_info("resnet18", "torchvision_v1"),
                                url="http://127.0.0.1:9/resnet18.safetensors")  # discard port: refused
    monkeypatch.setattr(pretrained, "REGISTRY", (entry,))
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    with pytest.raises(OSError, match="pass its path as weights="):
        keras_resnet.ResNet18(weights="imagenet")
    assert os.listdir(tmp_path / "models" / "keras_resnet") == []


def _closed_port_url() -> str:
    """A URL on 127.0.0.1 where nothing listens: a download from it fails at once."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/resnet18-f37072fd.pth"


@pytest.mark.slow
def test_a_mirror_is_tried_only_where_its_hash_is_known(served_resnet18, monkeypatch):
    entry = pretrained.REGISTRY[0]
    unpinned_mirror = dataclasses.replace(entry, url=_closed_port_url(), mirrors=((served_resnet18.url, None),))
    monkeypatch.setattr(pretrained, "REGISTRY", (unpinned_mirror,))
    with pytest.raises(OSError, match="Could not download resnet18/torchvision_v1 .*Without a network"):
        keras_resnet.ResNet18(weights="imagenet")
    assert served_resnet18.requests == 0
    cache = os.path.join(os.environ["KERAS_HOME"], "models", "keras_resnet")
    assert os.listdir(cache) == []
    pinned_mirror = dataclasses.replace(unpinned_mirror, mirrors=((served_resnet18.url, entry.file_hash),))
    monkeypatch.setattr(pretrained, "REGISTRY", (pinned_mirror,))
    keras_resnet.ResNet18(weights="imagenet")
    assert served_resnet18.requests == 1 and os.listdir(cache) == ["resnet18_torchvision_v1.weights.h5"]


def test_an_unpinned_entry_says_its_download_cannot_be_verified(monkeypatch, caplog, tmp_path):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    unpinned = dataclasses.replace(pretrained.get_weights_info("resnet18", "torchvision_v1"), file_hash=None,
                                   url=_closed_port_url(), mirrors=())
    monkeypatch.setattr(pretrained, "REGISTRY", (unpinned,))
    with caplog.at_level("WARNING", logger="keras_resnet"), pytest.raises(OSError, match="Could not download"):
        keras_resnet.ResNet18(weights="imagenet")
    assert f"resnet18/torchvision_v1: its publisher states no hash, so the download from {unpinned.url} cannot " \
           "be verified" in caplog.text
