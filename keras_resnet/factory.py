"""The public builders: a network by name, with `weights=` resolved and loaded.

Above both `arch` (the builder) and `weights` (the checkpoints), as timm's
`_builder`: the weights import builds networks from `arch` alone, and only
this module puts a network and its weights together.
"""

from __future__ import annotations

from typing import Any, Optional, Union

import keras

from keras_resnet.arch import specs as specs_lib
from keras_resnet.arch.builder import ResNet, over_tensor
from keras_resnet.arch.options import OPTION_NAMES, split_options
from keras_resnet.arch.specs import ResNetSpec
from keras_resnet.weights.resolve import WeightsSource, resolve_weights

# keras.applications' arguments beside the options, and the builders' own.
APPLICATION_ARGUMENTS = ("include_top", "weights", "input_tensor", "input_shape", "pooling", "classes",
                         "classifier_activation", "name")
BUILD_ARGUMENTS = tuple(dict.fromkeys(APPLICATION_ARGUMENTS + OPTION_NAMES + ("mean", "include_preprocessing")))


def build_resnet(spec: ResNetSpec, *, weights: Union[str, WeightsSource, None] = None, input_tensor=None,
                 include_preprocessing: Optional[bool] = None, **kwargs: Any) -> keras.Model:
    """Build the Keras model of `spec`, as keras.applications does.

    Args:
        spec: the architecture (see `keras_resnet.arch.specs`).
        weights: None (random initialisation); "imagenet" (the best published
            checkpoint for the network and its stride placement); a name of
            `keras_resnet.list_weights(model)` ("torchvision_v1",
            "torchvision_v2", "timm_a1", "msra_caffe", "keras"); a file: this
            package's `.weights.h5`, a torchvision/timm `.pth`/`.pt` or
            `.safetensors` state dict, or keras.applications' `.h5` /
            `.weights.h5` (its format is found from its content); a keras-hub
            ResNet preset directory (a classifier's sets the default
            `classes`); or a `WeightsSource` already resolved. Published checkpoints are
            downloaded once and cached converted. With include_top=False, or
            other `classes` for a named checkpoint, the classifier is not
            loaded.
        input_tensor: optional Keras tensor to use as the input; the model
            then is a plain functional model over that graph.
        include_preprocessing: apply the checkpoint's own input normalisation
            inside the model, which then takes raw 0-255 RGB pixels (default:
            True when the weights come from a published checkpoint). With
            False, normalise the inputs as the checkpoint expects yourself.
        **kwargs: `mean`, `name` and the fields of `ModelOptions`.

    Returns:
        A `ResNet` (a `keras.Model`), or a functional `keras.Model` over
        `input_tensor`'s graph.

    Raises:
        ValueError: an argument is outside its valid values, or the weights
            do not fit the model (named tensor by tensor).
        OSError: a published checkpoint could not be downloaded.
    """
    source = resolve_weights(spec, weights, kwargs.get("stride_in_1x1", False))
    if include_preprocessing is None:
        include_preprocessing = source.preprocessing is not None
    if include_preprocessing:
        if source.preprocessing is None and kwargs.get("preprocessing") is None:
            raise ValueError("include_preprocessing=True applies a published checkpoint's normalisation, but "
                             f"weights={source.weights!r} is not one: pass preprocessing='torchvision', 'caffe' or "
                             "'tf', or weights from a checkpoint.")
        kwargs["preprocessing"] = kwargs.get("preprocessing") or source.preprocessing
    source.fetch()  # a download fails before the network is built
    classes = kwargs.get("classes")
    if classes is None and source.classes is not None and kwargs.get("include_top", True):
        kwargs["classes"] = source.classes  # a keras-hub classifier's, as its from_preset gives them
    if input_tensor is None:
        model = ResNet(spec, **kwargs)
    else:
        mean, name = kwargs.pop("mean", None), kwargs.pop("name", None)
        options, unknown = split_options(kwargs)
        if unknown:
            raise ValueError(f"Unknown argument(s) {sorted(unknown)}; valid: {sorted(BUILD_ARGUMENTS)}")
        model = over_tensor(spec, input_tensor, options, mean, name)
    source.load(model, classes, any_preprocessing=include_preprocessing is False)
    return model


def build(name: str, /, depth: Optional[int] = None, **kwargs: Any) -> keras.Model:
    """Build a network by name.

    Args:
        name: a name of `list_models()` ("resnet50", "plain56"), any
            "resnet<6n+2>" for a CIFAR depth outside the paper's six, or the
            family "resnet"/"plain" with `depth`.
        depth: with a family name, the depth (e.g. build("resnet", depth=8)).
        **kwargs: the keyword arguments of `build_resnet`.

    Returns:
        A `keras.Model`.

    Raises:
        ValueError: unknown name or depth, or an invalid argument.
    """
    spec = specs_lib.get_spec(name, depth)
    unknown = sorted(set(kwargs) - set(BUILD_ARGUMENTS))
    if unknown:
        raise ValueError(f"Unknown argument(s) {unknown}; valid: {sorted(BUILD_ARGUMENTS)}. "
                         f"Received: {', '.join(f'{k}={kwargs[k]!r}' for k in unknown)}")
    return build_resnet(spec, **kwargs)


def build_backbone(name: str, /, depth: Optional[int] = None, **kwargs: Any) -> keras.Model:
    """A feature extractor returning every stage's output, for detection.

    Args:
        name: as for `build`.
        depth: as for `build`.
        **kwargs: as for `build`, except include_top and pooling.

    Returns:
        A model whose output is a dict {"C2": ..., "C5": ...} (C2..C4 for the
        CIFAR nets) of the last feature map of each stage.

    Raises:
        ValueError: as for `build`, or include_top/pooling given.
    """
    for key in ("include_top", "pooling"):
        if key in kwargs:
            raise ValueError(f"build_backbone takes no {key}. Received: {key}={kwargs[key]!r}")
    return build(name, depth, include_top=False, features_only=True, **kwargs)
