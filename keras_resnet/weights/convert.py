"""A checkpoint file converted to a `.weights.h5`, with a parity check against its own framework.

`scripts/convert_weights.py` calls `convert`. The reference is the
checkpoint's own implementation run on the same raw pixels:
keras.applications (always installed) for its files; keras-hub (always
installed) for its presets; torchvision where torch and torchvision are
installed for state dicts; otherwise the report says the parity was not
checked, and the import's own exactness (every tensor used once, shapes
checked) is what holds.
"""

from __future__ import annotations

import os
from typing import Optional

import keras
import numpy as np

from keras_resnet.arch import specs
from keras_resnet.arch.builder import ResNet
from keras_resnet.arch.layers import CLASSIFIER, NORMALIZATIONS
from keras_resnet.files import check_writable_dir
from keras_resnet.weights import checkpoints, h5_files, hub_preset_files, hub_presets
from keras_resnet.weights.resolve import weights_preprocessing


def _reference_keras_applications(path: str, spec, pixels: np.ndarray):
    ckpt = checkpoints.read(path)
    name = {50: "ResNet50", 101: "ResNet101", 152: "ResNet152"}.get(spec.depth)
    if name is None or spec.block != specs.BOTTLENECK or spec.layout != "imagenet":
        return None, f"keras.applications has no {spec.name}"
    name += "V2" if spec.preact else ""
    reference = getattr(keras.applications, name)(weights=None, input_shape=pixels.shape[1:],
                                                  include_top=CLASSIFIER in ckpt.tensors)
    for layer in reference.layers:
        if layer.weights:
            layer.set_weights(ckpt.tensors[layer.name])
    module = keras.applications.resnet_v2 if spec.preact else keras.applications.resnet
    inputs = module.preprocess_input(pixels.copy())
    return np.asarray(reference.predict(inputs, verbose=0)), f"keras.applications.{name}"


def _reference_torch(path: str, spec, pixels: np.ndarray):
    try:
        import torch
        import torchvision
    except ImportError:
        return None, "torch and torchvision are not installed here"
    factory = getattr(torchvision.models, spec.name, None)
    if factory is None:
        return None, f"torchvision has no {spec.name}"
    ckpt = checkpoints.read(path)
    net = factory(num_classes=int(ckpt.tensors["fc.weight"].shape[0])).eval()
    net.load_state_dict({k: torch.from_numpy(np.asarray(v)) for k, v in ckpt.tensors.items()}, strict=False)
    norm = NORMALIZATIONS["torchvision"]
    x = (pixels - np.asarray(norm["mean"], np.float32)) / np.asarray(norm["std"], np.float32)
    with torch.no_grad():
        out = torch.softmax(net(torch.from_numpy(x.transpose(0, 3, 1, 2).copy())), -1).numpy()
    return out, f"torchvision.models.{spec.name}"


def _reference_keras_hub(path: str, spec, pixels: np.ndarray):
    import keras_hub

    preset = hub_preset_files.read_preset(path)
    if preset.classes is None:  # a backbone: its feature map, after the preset's own image converter if it has one
        has_converter = os.path.isfile(os.path.join(path, hub_preset_files.CONVERTER_FILE))
        inputs = keras_hub.layers.ImageConverter.from_preset(path)(pixels) if has_converter else pixels
        backbone = keras_hub.models.Backbone.from_preset(path)
        return np.asarray(backbone.predict(inputs, verbose=0)), f"keras_hub.models.{type(backbone).__name__}"
    classifier = keras_hub.models.ImageClassifier.from_preset(path)
    out = classifier.predict(pixels, verbose=0)  # its preprocessor normalises the raw pixels
    if classifier.activation is None:  # keras-hub's presets give logits; keras_resnet's top gives probabilities
        out = keras.ops.softmax(out)
    return np.asarray(keras.ops.convert_to_numpy(out)), f"keras_hub.models.{type(classifier).__name__}"


def convert(source: str, model: Optional[str], output: str, *, stride_in_1x1: Optional[bool] = None,
            image_size: int = 224, num_images: int = 4, seed: int = 0) -> dict:
    """Import a checkpoint file into `model`, save it as a `.weights.h5`, and compare with its own framework.

    Args:
        source: the checkpoint (.pth/.pt, .safetensors, keras.applications .h5)
            or a keras-hub ResNet preset directory.
        model: a name of `keras_resnet.list_models()` ("resnet50"); for a
            preset, None names the network the preset is.
        output: the `.weights.h5` to write (atomically); load it with
            `weights=output`, which also restores the checkpoint's
            preprocessing.
        stride_in_1x1: default: True for keras.applications' v1 files, else False.
        image_size: side of the random test images.
        num_images: how many.
        seed: their seed.

    Returns:
        {"output", "format", "assigned", "reference" (or None), "reason",
        "max_abs_diff", "top1_agreement" (None for a backbone's feature maps)}.

    Raises:
        ValueError: a bad argument, or a checkpoint that does not fit; the
            output is not written then.
    """
    if not os.fspath(output).endswith(".weights.h5"):
        raise ValueError(f"output must be a .weights.h5 path. Received: output={output!r}")
    check_writable_dir(os.path.dirname(os.path.abspath(output)), "output", repr(os.fspath(output)))
    preset = hub_preset_files.read_preset(source) if hub_preset_files.is_preset(source) else None
    if model is None and preset is None:
        raise ValueError(f"model is needed for {source!r}: a name of keras_resnet.list_models(), e.g. resnet50 "
                         "(only a keras-hub preset names its own network).")
    spec = specs.get_spec(model or hub_presets.model_for_preset(preset))
    kind = checkpoints.sniff(source) if preset is None else "keras_hub"
    if kind == checkpoints.KERAS_RESNET:
        raise ValueError(f"{source!r} is already a keras_resnet .weights.h5 file.")
    keras_file = kind == checkpoints.KERAS_APPLICATIONS
    if stride_in_1x1 is None:  # keras.applications' v1 strides on the 1x1, its v2 and torchvision on the 3x3
        stride_in_1x1 = keras_file and not spec.preact
    top = {} if preset is None else {"include_top": preset.classes is not None, "classes": preset.classes}
    preprocessing = weights_preprocessing(spec, source, stride_in_1x1) if preset is None else preset.preprocessing
    net = ResNet(spec, input_shape=(image_size, image_size, 3), stride_in_1x1=stride_in_1x1,
                 preprocessing=preprocessing, **top)
    if preset is None:
        report = checkpoints.import_checkpoint(net, source)
        reference_of = _reference_keras_applications if keras_file else _reference_torch
    else:
        report, reference_of = hub_presets.import_preset(net, preset), _reference_keras_hub
    pixels = np.random.default_rng(seed).uniform(0, 255, (num_images, image_size, image_size, 3)).astype(np.float32)
    ours = np.asarray(net.predict(pixels, verbose=0))
    reference, reason = reference_of(source, spec, pixels)
    h5_files.save_weights(net, output)
    result = {"output": output, "format": report["format"], "assigned": report["assigned"],
              "reference": None, "reason": reason, "max_abs_diff": None, "top1_agreement": None}
    if reference is not None and reference.shape == ours.shape:
        classified = ours.ndim == 2  # a backbone preset's parity is of its feature maps
        result.update(reference=reason, reason=None, max_abs_diff=float(np.abs(reference - ours).max()),
                      top1_agreement=float((reference.argmax(-1) == ours.argmax(-1)).mean()) if classified else None)
    return result
