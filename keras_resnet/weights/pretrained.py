"""Published ImageNet weights: the registry, download, hash check, conversion and cache.

Each entry is one published checkpoint with where it comes from, the hash its
publisher states, what input it expects, how good it is as published, and its
licence. `weights="imagenet"` is the best entry (published top-1) for the
network and its stride placement. A checkpoint is downloaded from its
publisher with `keras.utils.get_file`, its hash checked before anything reads
it (torchvision's files carry a SHA-256 prefix in their names, which
torchvision's own `check_hash` verifies; keras.applications' md5s come from
its source), converted once (`checkpoints.import_checkpoint`; a `.pth` is read
without torch and without running its pickle) into a `.weights.h5` in the
Keras cache (`$KERAS_HOME/models/keras_resnet`, default `~/.keras`), and read
from there afterwards; the download itself is not kept. A mirror is tried only
where its own hash is known; an entry without a publisher's hash is marked
unpinned and its download logs a warning.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
import re
import shutil
import tempfile
from typing import Optional, Tuple

import keras

from keras_resnet.arch.builder import ResNet
from keras_resnet.weights import checkpoints, h5_files

log = logging.getLogger("keras_resnet")

_TIMM_HUB = "https://huggingface.co/timm/{}/resolve/main/model.safetensors"
_TORCHVISION = "https://download.pytorch.org/models/{}"
_KERAS_APPLICATIONS = "https://storage.googleapis.com/tensorflow/keras-applications/resnet/{}"
# timm's "ResNet strikes back" A1 release; its name carries its SHA-256 prefix, as torchvision's do.
_TIMM_RSB = ("https://github.com/huggingface/pytorch-image-models/releases/download/v0.1-rsb-weights/"
             "resnet50_a1_0-14fe96d1.pth")


@dataclasses.dataclass(frozen=True)
class WeightsInfo:
    """One published checkpoint.

    Attributes:
        model: the keras_resnet model it fits ("resnet50").
        name: its name in `list_weights(model)`.
        url: the file downloaded: the publisher's own.
        file_hash: the file's hash as its publisher states it (torchvision's
            and timm's: the SHA-256 prefix in the file's name; keras.applications':
            the md5 in its source), or None where none is stated (unpinned).
        hash_algorithm: "sha256" or "md5" (keras.applications publishes md5).
        format: a `checkpoints` format.
        stride_in_1x1: the bottleneck stride placement it was trained with.
        preprocessing: its input normalisation (`layers.NORMALIZATIONS`).
        input_size, resize, crop_pct, interpolation: its evaluation transform
            (resize the shorter side to `resize`, centre-crop `input_size`).
        top1, top5: ImageNet-1k validation accuracy as published (%).
        license: the weights' licence.
        origin: the publisher's own copy or page.
        classes: classes of its classifier.
        mirrors: other copies, (url, hash): one is tried when the publisher's
            download fails, only if its hash is known (timm's hub copies of the
            torchvision files publish none, so they are recorded, not used).
    """

    model: str
    name: str
    url: str
    file_hash: Optional[str]
    hash_algorithm: str
    format: str
    stride_in_1x1: bool
    preprocessing: str
    input_size: int
    resize: int
    crop_pct: float
    interpolation: str
    top1: float
    top5: Optional[float]
    license: str
    origin: str
    classes: int = 1000
    mirrors: Tuple[Tuple[str, Optional[str]], ...] = ()

    @property
    def pinned(self) -> bool:
        """Whether the download is checked against a hash its publisher states."""
        return self.file_hash is not None


def name_hash(file_name: str) -> str:
    """The SHA-256 prefix torchvision (and timm) put in a file's name: "resnet50-11ad3fa6.pth" -> "11ad3fa6".

    Raises:
        ValueError: the name carries none.
    """
    match = re.fullmatch(r".*-([0-9a-f]{8,64})\.pth", file_name)
    if match is None:
        raise ValueError(f"{file_name!r} carries no SHA-256 prefix in its name (<name>-<hex>.pth)")
    return match.group(1)


def _torchvision(model, name, timm_tag, origin_file, top1, top5, resize):
    url = _TORCHVISION.format(origin_file)
    return WeightsInfo(
        model, name, url, name_hash(origin_file), "sha256", checkpoints.TORCH, False, "torchvision", 224, resize,
        round(224 / resize, 4), "bilinear", top1, top5, "BSD-3-Clause", url,
        mirrors=((_TIMM_HUB.format(f"{model}.{timm_tag}"), None),))


def _keras_applications(model, name, file_name, md5, top1, top5, v2=False):
    if v2:  # trained by the Keras team, pre-activation, stride on the 3x3, inputs x / 127.5 - 1
        license, origin = "MIT (keras-team/keras-applications)", "https://keras.io/api/applications/resnet/"
    else:
        license = "MIT (KaimingHe/deep-residual-networks), converted by keras.applications"
        origin = "https://github.com/KaimingHe/deep-residual-networks"
    return WeightsInfo(
        model, name, _KERAS_APPLICATIONS.format(file_name), md5, "md5", checkpoints.KERAS_APPLICATIONS, not v2,
        "tf" if v2 else "caffe", 224, 256, 0.875, "bilinear", top1, top5, license, origin)


def _msra(model, file_name, md5, top1, top5):
    return _keras_applications(model, "msra_caffe", file_name, md5, top1, top5)


def _keras_v2(model, md5, top1, top5):
    return _keras_applications(model, "keras", f"{model}_weights_tf_dim_ordering_tf_kernels.h5", md5, top1, top5,
                               v2=True)


# Accuracies: torchvision's model docs (single 224 crop), keras.applications'
# table (keras.io), and timm's "ResNet strikes back" paper (A1, 224).
REGISTRY = (
    _torchvision("resnet18", "torchvision_v1", "tv_in1k", "resnet18-f37072fd.pth", 69.758, 89.078, 256),
    _torchvision("resnet34", "torchvision_v1", "tv_in1k", "resnet34-b627a593.pth", 73.314, 91.420, 256),
    _torchvision("resnet50", "torchvision_v1", "tv_in1k", "resnet50-0676ba61.pth", 76.130, 92.862, 256),
    _torchvision("resnet50", "torchvision_v2", "tv2_in1k", "resnet50-11ad3fa6.pth", 80.858, 95.434, 232),
    _torchvision("resnet101", "torchvision_v1", "tv_in1k", "resnet101-63fe2227.pth", 77.374, 93.546, 256),
    _torchvision("resnet101", "torchvision_v2", "tv2_in1k", "resnet101-cd907fc2.pth", 81.886, 95.780, 232),
    _torchvision("resnet152", "torchvision_v1", "tv_in1k", "resnet152-394f9c45.pth", 78.312, 94.046, 256),
    _torchvision("resnet152", "torchvision_v2", "tv2_in1k", "resnet152-f82ba261.pth", 82.284, 96.002, 232),
    _torchvision("resnext50_32x4d", "torchvision_v1", "tv_in1k", "resnext50_32x4d-7cdf4587.pth", 77.618, 93.698,
                 256),
    _torchvision("resnext50_32x4d", "torchvision_v2", "tv2_in1k", "resnext50_32x4d-1a0047aa.pth", 81.198, 95.340,
                 232),
    _torchvision("resnext101_32x8d", "torchvision_v1", "tv_in1k", "resnext101_32x8d-8ba56ff5.pth", 79.312,
                 94.526, 256),
    _torchvision("resnext101_32x8d", "torchvision_v2", "tv2_in1k", "resnext101_32x8d-110c445d.pth", 82.834,
                 96.228, 232),
    # torchvision's only resnext101_64x4d checkpoint, trained with its newer recipe.
    _torchvision("resnext101_64x4d", "torchvision_v1", "tv_in1k", "resnext101_64x4d-173b62eb.pth", 83.246,
                 96.454, 232),
    _torchvision("wide_resnet50_2", "torchvision_v1", "tv_in1k", "wide_resnet50_2-95faca4d.pth", 78.468, 94.086,
                 256),
    _torchvision("wide_resnet50_2", "torchvision_v2", "tv2_in1k", "wide_resnet50_2-9ba9bcbe.pth", 81.602, 95.758,
                 232),
    _torchvision("wide_resnet101_2", "torchvision_v1", "tv_in1k", "wide_resnet101_2-32ee1156.pth", 78.848,
                 94.284, 256),
    _torchvision("wide_resnet101_2", "torchvision_v2", "tv2_in1k", "wide_resnet101_2-d733dc28.pth", 82.510,
                 96.020, 232),
    WeightsInfo("resnet50", "timm_a1", _TIMM_RSB, name_hash(_TIMM_RSB.rsplit("/", 1)[1]), "sha256",
                checkpoints.TORCH, False, "torchvision", 224, 236, 0.95, "bicubic", 80.4, None, "Apache-2.0",
                _TIMM_RSB, mirrors=((_TIMM_HUB.format("resnet50.a1_in1k"), None),)),
    _msra("resnet50", "resnet50_weights_tf_dim_ordering_tf_kernels.h5", "2cb95161c43110f7111970584f804107",
          74.9, 92.1),
    _msra("resnet101", "resnet101_weights_tf_dim_ordering_tf_kernels.h5", "f1aeb4b969a6efcfb50fad2f0c20cfc5",
          76.4, 92.8),
    _msra("resnet152", "resnet152_weights_tf_dim_ordering_tf_kernels.h5", "100835be76be38e30d865e96f2aaae62",
          76.6, 93.1),
    # keras.applications' own v2 weights (md5s from keras's resnet.py, accuracies from keras.io's table).
    _keras_v2("resnet50v2", "3ef43a0b657b3be2300d5770ece849e0", 76.0, 93.0),
    _keras_v2("resnet101v2", "6343647c601c52e1368623803854d971", 77.2, 93.8),
    _keras_v2("resnet152v2", "a49b44d1979771252814e80f8ec446f9", 78.0, 94.2),
)


def list_weights(model: Optional[str] = None) -> list:
    """Names of the published checkpoints of `model` (all models' "model/name" without it).

    Raises:
        ValueError: `model` has none.
    """
    if model is None:
        return [f"{w.model}/{w.name}" for w in REGISTRY]
    names = [w.name for w in REGISTRY if w.model == model]
    if not names:
        raise ValueError(f"No published weights for {model!r}; models with some: "
                         f"{sorted({w.model for w in REGISTRY})}.")
    return names


def get_weights_info(model: str, name: str, stride_in_1x1: Optional[bool] = None) -> WeightsInfo:
    """The registry entry for `weights=name` ("imagenet" or a name of `list_weights(model)`).

    Args:
        model: a model name ("resnet50").
        name: "imagenet" (the best published for that stride placement) or
            a checkpoint name.
        stride_in_1x1: the model's bottleneck stride placement (None for
            basic-block nets, where it does not apply).

    Raises:
        ValueError: no such checkpoint, or one of the other stride placement.
    """
    entries = [w for w in REGISTRY if w.model == model]
    if not entries:
        raise ValueError(f"weights={name!r}: no published weights for {model!r} are registered here; models "
                         f"with some: {sorted({w.model for w in REGISTRY})}. Use weights=None or a checkpoint "
                         "file path (.weights.h5, .pth, .safetensors).")
    if name == "imagenet":
        fitting = [w for w in entries if stride_in_1x1 is None or w.stride_in_1x1 == bool(stride_in_1x1)]
        return max(fitting, key=lambda w: w.top1)
    match = [w for w in entries if w.name == name]
    if not match:
        raise ValueError(f"Unknown checkpoint {name!r} for {model!r}; valid: 'imagenet', "
                         f"{', '.join(repr(w.name) for w in entries)}, or a file path.")
    info = match[0]
    if stride_in_1x1 is not None and info.stride_in_1x1 != bool(stride_in_1x1):
        raise ValueError(f"{model}/{name} was trained with the bottleneck stride on the "
                         f"{'1x1' if info.stride_in_1x1 else '3x3'}: build with "
                         f"stride_in_1x1={info.stride_in_1x1}.")
    return info


def cache_dir() -> str:
    """Where converted checkpoints are kept: `$KERAS_HOME/models/keras_resnet`."""
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return os.path.join(home, "models", "keras_resnet")


def converted_path(info: WeightsInfo) -> str:
    return os.path.join(cache_dir(), f"{info.model}_{info.name}.weights.h5")


def _verify(path: str, info: WeightsInfo, url: str, file_hash: Optional[str]) -> None:
    """Check a download against its publisher's hash (a prefix of the digest is accepted, as torchvision does)."""
    if not file_hash:
        return
    digest = hashlib.new(info.hash_algorithm)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    actual = digest.hexdigest()
    if not actual.startswith(file_hash.lower()):
        raise ValueError(f"The download of {info.model}/{info.name} from {url} has {info.hash_algorithm} "
                         f"{actual}, but the publisher's is {file_hash}: the file is damaged or was replaced. "
                         "Nothing was cached.")


def _download(info: WeightsInfo, staging: str) -> Tuple[str, str]:
    """(path, url) of the checkpoint downloaded into `staging` and verified: the publisher's file, else a mirror
    whose hash is known.

    Raises:
        ValueError: a download's hash differs from the one stated (no other copy is tried then).
        OSError: no copy could be downloaded.
    """
    sources = [(info.url, info.file_hash)] + [(url, file_hash) for url, file_hash in info.mirrors if file_hash]
    failures = []
    for url, file_hash in sources:
        try:
            path = keras.utils.get_file(fname=os.path.basename(url), origin=url, cache_dir=staging,
                                        cache_subdir="download")
        except Exception as error:  # get_file raises bare Exceptions for network failures
            failures.append(f"{url}: {error}")
            continue
        _verify(path, info, url, file_hash)
        return path, url
    raise OSError(f"Could not download {info.model}/{info.name} ({'; '.join(failures)}). Without a network, "
                  "download the file elsewhere and pass its path as weights=.")


def fetch(info: WeightsInfo) -> str:
    """The converted `.weights.h5` of a checkpoint, downloaded, verified and converted on first use.

    Returns:
        Its path in `cache_dir()`.

    Raises:
        ValueError: the download's hash differs from the publisher's, or it
            does not convert exactly; nothing is cached then.
        OSError: the file could not be downloaded (no network?).
    """
    target = converted_path(info)
    if os.path.isfile(target):
        return target
    if not info.pinned:
        log.warning("%s/%s: its publisher states no hash, so the download from %s cannot be verified.",
                    info.model, info.name, info.url)
    os.makedirs(cache_dir(), exist_ok=True)
    staging = tempfile.mkdtemp(prefix=".download-", dir=cache_dir())
    try:
        path, url = _download(info, staging)
        model = ResNet(info.model, stride_in_1x1=info.stride_in_1x1, classes=info.classes, dtype="float32")
        checkpoints.import_checkpoint(model, path)
        h5_files.save_weights(model, target, {"keras_resnet_source": url})
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target
