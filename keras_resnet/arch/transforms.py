"""Model transforms: a built network in another dtype, without its training-only layers, with flip TTA, frozen,
or loaded from a `.keras` file."""

from __future__ import annotations

import os
import zipfile
from typing import Any, Optional

import keras
from keras import layers

from keras_resnet.arch import specs as specs_lib
from keras_resnet.arch.builder import ResNet
from keras_resnet.arch.layers import CLASSIFIER, PREPROCESSING, HorizontalFlip
from keras_resnet.arch.specs import ResNetSpec

def with_dtype(model: keras.Model, dtype: str) -> keras.Model:
    """The same network and weights computing under another dtype policy.

    A net trained under mixed_bfloat16 keeps float32 weights; serving on
    CPUs and TFLite want float32 graphs, so exports start from this copy.

    Raises:
        ValueError: `model` is not a `ResNet`.
    """
    return _rebuilt(model, "with_dtype", dtype=keras.dtype_policies.get(dtype).name)


def inference_copy(model: keras.Model) -> keras.Model:
    """The same network and weights as a float32 graph without training-only layers.

    Exports start from it: serving on CPUs and TFLite want float32, and a
    net trained with stochastic depth or dropout loses its `DropPath` and
    `Dropout` layers (the identity at inference; they hold no weights).

    Raises:
        ValueError: `model` is not a `ResNet`.
    """
    return _rebuilt(model, "inference_copy", dtype="float32", drop_path_rate=0.0, dropout_rate=0.0)


def _rebuilt(model: keras.Model, caller: str, **changes: Any) -> keras.Model:
    if not isinstance(model, ResNet):
        raise ValueError(f"{caller} needs a keras_resnet ResNet model. Received: {type(model).__name__}")
    config = model.get_config()
    if all(config.get(key) == value for key, value in changes.items()):
        return model
    copy = ResNet.from_config({**config, **changes})
    # By name: dropping weightless layers can change the graph's layer order.
    for layer in copy.layers:
        if layer.weights:
            layer.set_weights(model.get_layer(layer.name).get_weights())
    return copy


def with_flip_tta(model: keras.Model, data_format: Optional[str] = None) -> keras.Model:
    """Flip test-time augmentation: `model`'s output averaged over each image and its mirror image.

    The evaluation trick of fast CIFAR recipes (airbench): a classifier
    trained with random flips scores each test image twice, as it is and
    mirrored left to right, and averages the two outputs (class
    probabilities for the package's classifiers). It costs two forward passes
    and adds no weights: the returned model shares `model`'s layers.

    Args:
        model: a single-input, single-output model of images.
        data_format: the images' layout; default the model's own (a
            `ResNet`'s), else `keras.config.image_data_format()`.

    Returns:
        A functional model with `model`'s input and output shapes, named
        `<model.name>_flip_tta`.

    Raises:
        ValueError: `model` does not take one 4-D image input and give one output.
    """
    if len(model.inputs) != 1 or len(model.outputs) != 1 or len(model.inputs[0].shape) != 4:
        raise ValueError(f"with_flip_tta needs a model with one 4-D image input and one output. Received: "
                         f"{model.name} with inputs {[tuple(x.shape) for x in model.inputs]} and "
                         f"{len(model.outputs)} output(s)")
    if data_format is None:
        data_format = model.get_config().get("data_format") if isinstance(model, ResNet) else None
    data_format = data_format or keras.config.image_data_format()
    inputs = keras.Input(batch_shape=model.inputs[0].shape, dtype=model.inputs[0].dtype, name="images")
    mirrored = HorizontalFlip(data_format=data_format, dtype=model.inputs[0].dtype, name="mirror")(inputs)
    # float32: a bfloat16 mean of two near-equal probabilities would tie classes.
    outputs = layers.Average(name="flip_average", dtype="float32")([model(inputs), model(mirrored)])
    return keras.Model(inputs, outputs, name=f"{model.name}_flip_tta")


def load_model(path: str, **kwargs: Any) -> keras.Model:
    """`keras.saving.load_model` with a clear error for a missing or damaged file.

    Raises:
        ValueError: the file is missing, not a .keras archive, truncated, names a class that is not registered,
            or holds a network spec outside `keras_resnet.arch.saved_specs.SPEC_BOUNDS`.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise ValueError(f"No such model file: {path!r}")

    if path.endswith(".keras") and not zipfile.is_zipfile(path):
        raise ValueError(f"{path!r} is not a complete .keras archive (truncated or another format); "
                         "re-save it, or use the run's final.weights.h5 with the same build arguments.")
    try:
        return keras.saving.load_model(path, **kwargs)
    except (OSError, zipfile.BadZipFile, KeyError, EOFError) as error:
        raise ValueError(f"Could not load {path!r}: {error}") from error
    except TypeError as error:  # Keras's "Could not locate class ...": a class nobody registered
        reason = str(error).strip().split(" Full object config")[0].splitlines()[0] if str(error).strip() else \
            "TypeError"
        raise ValueError(f"Could not load {path!r}: {reason} (a model of another package, or of a keras_resnet "
                         "newer than this one)") from None
    except ValueError as error:  # a spec out of bounds, or malformed (`saved_specs.spec_from_config`)
        raise ValueError(f"Could not load {path!r}: {error}") from None


def freeze_choices(spec: ResNetSpec) -> tuple:
    """Valid `freeze` values for a network: none, backbone, conv1 (the stem) .. its last stage."""
    return ("none", "backbone", "conv1") + tuple(f"conv{i + 2}" for i in range(len(spec.stages)))


def freeze(model: keras.Model, upto: str) -> list:
    """Freeze a model's first layers for fine-tuning.

    Frozen layers are `trainable=False`: their weights stay as loaded and
    their batch norms run in inference mode, keeping the pretrained
    statistics (Keras 3 semantics; keras-team/keras#9214).

    Args:
        model: a keras_resnet model.
        upto: "none"; "backbone" (everything but the classifier); or "conv1"
            (the input normalisation and stem) .. "conv5" (that stage and all
            before it).

    Returns:
        The names of the layers frozen.

    Raises:
        ValueError: `upto` is not valid for this model.
    """
    spec = getattr(model, "spec", None) or specs_lib.get_spec(model.name)
    valid = freeze_choices(spec)
    if upto not in valid:
        raise ValueError(f"freeze must be one of {', '.join(valid)} for {spec.name}. Received: freeze={upto!r}")
    if upto == "none":
        return []
    if upto == "backbone":
        chosen = [layer for layer in model.layers if layer.name != CLASSIFIER]
    else:
        last = int(upto[len("conv"):])
        prefixes = (PREPROCESSING, "pool1_") + tuple(f"conv{k}_" for k in range(1, last + 1))
        if last == len(spec.stages) + 1:
            prefixes += ("post_",)  # a pre-activation net's final BN-ReLU closes its last stage
        chosen = [layer for layer in model.layers if layer.name.startswith(prefixes)]
    for layer in chosen:
        layer.trainable = False
    return [layer.name for layer in chosen]
