"""keras_resnet: the ResNets of He et al. (2015) for Keras 3.

The public names are imported on first use (PEP 562), so a light module such
as `keras_resnet.serving` can be imported without Keras or TensorFlow.
"""

import importlib

__version__ = "0.1.0"

_EXPORTS = {
    "count_macs": "flops",
    "MeanSubtraction": "layers",
    "ZeroPadShortcut": "layers",
    "ResNetSpec": "specs",
    "Stage": "specs",
    "get_spec": "specs",
    "list_models": "specs",
    "BlockOptions": "blocks",
    "save_weights": "weights",
    "load_weights": "weights",
    "APPLICATIONS": "applications",
    "FeatureInfo": "models",
    "ResNet": "models",
    "build": "models",
    "build_backbone": "models",
    "build_resnet": "models",
    "load_model": "models",
    "stage_output_names": "models",
    "with_dtype": "models",
    "inference_copy": "models",
    "with_flip_tta": "models",
    "HorizontalFlip": "layers",
    "DropPath": "layers",
    "freeze": "models",
    "InputNormalization": "layers",
    "import_checkpoint": "checkpoints",
    "WeightsInfo": "pretrained",
    "get_weights_info": "pretrained",
    "list_weights": "pretrained",
    "decode_predictions": "imagenet",
    "preprocess_input": "imagenet",
}
_APPLICATION_NAMES = [f"{kind}{depth}" for kind in ("ResNet", "PlainNet")
                      for depth in (18, 34, 50, 101, 152, 20, 32, 44, 56, 110, 1202)] + [
    "ResNeXt50_32x4d", "ResNeXt101_32x8d", "ResNeXt101_64x4d", "WideResNet50_2", "WideResNet101_2",
    "ResNet18D", "ResNet34D", "ResNet50D", "ResNet101D", "ResNet152D", "SEResNet50", "SEResNeXt50_32x4d",
    "ResNet50V2", "ResNet101V2", "ResNet152V2", "PreActResNet110", "PreActResNet164", "PreActResNet1001",
    "WideResNet16_8", "WideResNet28_10"]
_EXPORTS.update({name: "applications" for name in _APPLICATION_NAMES})

__all__ = sorted(_EXPORTS)


def __getattr__(name):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'keras_resnet' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"keras_resnet.{module}"), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_EXPORTS))
