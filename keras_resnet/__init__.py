"""keras_resnet: the ResNets of He et al. (2015) for Keras 3.

The public names are imported on first use (PEP 562), so a light module such
as `keras_resnet.export.serving` can be imported without Keras or TensorFlow.

The package's folders are its layers, each importing only those below it:
`arch` (the networks), `weights` (checkpoints), `factory` and `applications`
(a network with its weights), `data`, `train`, `export`, `research`; `files`
and `settings` are the foundations, `cli` the scripts' shared front. The
registered Keras classes that `.keras` files name are registered as soon as
Keras is imported too, in either order, so `keras.saving.load_model` finds
them (`_register_with_keras`).
"""

import importlib
import importlib.abc
import importlib.machinery
import sys

from keras_resnet.arch import registry as _registry
from keras_resnet.version import __version__  # noqa: E402,F401

_EXPORTS = {
    "ResNetSpec": "arch.specs",
    "Stage": "arch.specs",
    "get_spec": "arch.specs",
    "list_models": "arch.specs",
    "BlockOptions": "arch.blocks",
    "ModelOptions": "arch.options",
    "options_table": "arch.options",
    "MeanSubtraction": "arch.layers",
    "ZeroPadShortcut": "arch.layers",
    "HorizontalFlip": "arch.layers",
    "DropPath": "arch.layers",
    "InputNormalization": "arch.layers",
    "FeatureInfo": "arch.builder",
    "ResNet": "arch.builder",
    "stage_output_names": "arch.builder",
    "load_model": "arch.transforms",
    "with_dtype": "arch.transforms",
    "inference_copy": "arch.transforms",
    "with_flip_tta": "arch.transforms",
    "freeze": "arch.transforms",
    "count_macs": "arch.flops",
    "save_weights": "weights.h5_files",
    "load_weights": "weights.h5_files",
    "import_checkpoint": "weights.checkpoints",
    "save_preset": "weights.hub_presets",
    "model_for_preset": "weights.hub_presets",
    "WeightsInfo": "weights.pretrained",
    "get_weights_info": "weights.pretrained",
    "list_weights": "weights.pretrained",
    "decode_predictions": "weights.imagenet",
    "preprocess_input": "weights.imagenet",
    "build": "factory",
    "build_backbone": "factory",
    "build_resnet": "factory",
    "APPLICATIONS": "applications",
}
# One `keras.applications`-style function per network of the table (`keras_resnet.arch.specs`: plain data, no Keras).
_EXPORTS.update({name: "applications" for name in _registry.application_names()})

__all__ = sorted(_EXPORTS)


def __getattr__(name):
    module = _EXPORTS.get(name) or ("applications" if name in _registry.application_names() else None)
    if module is None:
        raise AttributeError(f"module 'keras_resnet' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"keras_resnet.{module}"), name)
    globals()[name] = value
    _register_with_keras()
    return value


# The modules defining the registered classes a .keras file of ours names (ResNet, its layers, its schedules).
_REGISTERING = ("arch.layers", "arch.builder", "train.optimizers")


def _register_with_keras() -> None:
    """Import the registering modules, if Keras is loaded and none of ours is half-imported (cheap once done)."""
    if "keras" not in sys.modules or any(
            getattr(getattr(module, "__spec__", None), "_initializing", False)
            for name, module in list(sys.modules.items()) if name.startswith("keras_resnet.")):
        return
    for module in _REGISTERING:
        importlib.import_module(f"keras_resnet.{module}")


class _RegisterAfterKeras(importlib.abc.MetaPathFinder):
    """Registers our classes right after Keras itself is first imported, whoever imports it.

    Keras finds a class a `.keras` file names only if it is registered, and
    looks for no module outside Keras's own packages; importing Keras here
    would make every client of this package (the REST one too) load
    TensorFlow.
    """

    def find_spec(self, fullname, path=None, target=None):
        if fullname != "keras":
            return None
        sys.meta_path.remove(self)
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        exec_module = spec.loader.exec_module

        def exec_then_register(module):
            exec_module(module)
            _register_with_keras()

        spec.loader.exec_module = exec_then_register
        return spec


if "keras" in sys.modules:
    _register_with_keras()
else:
    sys.meta_path.insert(0, _RegisterAfterKeras())


def __dir__():
    return sorted(set(globals()) | set(_EXPORTS))
