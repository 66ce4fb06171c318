"""keras.applications-style entry points: `ResNet50(include_top=False)`, one per registered network."""

from __future__ import annotations

import collections.abc
import dataclasses
import functools
import inspect
import re
from typing import Any, Callable, Optional, Sequence, Union

import keras

from keras_resnet.arch import registry, specs as specs_lib
from keras_resnet.arch.options import ModelOptions
from keras_resnet.factory import build



def _kind(spec: specs_lib.ResNetSpec) -> str:
    """One line on what the network is and where it comes from, for its application's docstring."""
    kind = {
        "plain": "plain (no-shortcut) net",
        "resnet": "ResNet",
        "resnext": f"ResNeXt (3x3 convs of {spec.groups} groups, {spec.width_per_group} channels each at the "
                   "first stage)",
        "wide": f"Wide ResNet (3x3 convs {spec.width_per_group // 64}x wide)",
        "resnet_d": "ResNet-D (deep 3x3 stem, average-pooled projections; He et al. 2019)"
                    + (", PaddleClas's vd: every stage's first block projects" if spec.project_first else ""),
        "preact": "Pre-activation ResNet (He et al. 2016, \"Identity Mappings\")"
                  + (", keras.applications' v2 layout" if spec.stride_last
                     else ", timm's ResNetV2 layout" if spec.inf_pool_padding else ""),
        "wrn": f"Wide ResNet WRN-{spec.depth}-{spec.widen_factor} (Zagoruyko & Komodakis 2016; pre-activation)",
    }[registry.family(spec)]
    return f"Squeeze-and-excitation {kind} (Hu et al. 2018)" if spec.se_ratio else kind


# The arguments every application takes, as keras.applications documents its own.
_ARGUMENTS_DOC = """Args:
    include_top: whether to include the classifier (global average pooling and a dense layer).
    weights: None (random initialisation), "imagenet" (the network's default published weights), a name of
        `keras_resnet.list_weights(model)`, a checkpoint file (.weights.h5, .pth, .safetensors,
        keras.applications .h5) or a keras-hub preset directory.
    input_tensor: a Keras tensor to use as the model's input.
    input_shape: (height, width, channels) without the batch; default the network's. Without the top, height
        and width may be None.
    pooling: without the top: None (the last feature map), "avg" or "max" (global pooling).
    classes: the classifier's classes; default the network's (a new head when it differs from the weights').
    classifier_activation: the top's activation, "softmax" by default; None returns logits.
    name: the model's name; default the network's.
    **options: the fields of `keras_resnet.ModelOptions` (shortcut, stride_in_1x1, zero_init_residual,
        width_multiplier, dtype, data_format, drop_path_rate, dropout_rate, preprocessing, ...; see
        `keras_resnet.options_table()`), plus `mean` (a per-pixel training mean for the preprocessing layer)
        and `include_preprocessing` (False: the model takes already-normalised inputs).

Returns:
    A `keras_resnet.ResNet`, a functional `keras.Model` (or a functional model over `input_tensor`'s graph).

Raises:
    ValueError: an argument out of range (an input smaller than the network's minimum, weights for
        another network, an unknown option), before anything is built or downloaded.
"""


@functools.lru_cache(maxsize=None)
def _application(model_name: str, spec: specs_lib.ResNetSpec) -> Callable[..., keras.Model]:

    def application(include_top: bool = True, weights: Optional[str] = None, input_tensor=None,
                    input_shape: Optional[Sequence[Optional[int]]] = None, pooling: Optional[str] = None,
                    classes: Optional[int] = None, classifier_activation: Union[str, Callable, None] = "softmax",
                    name: Optional[str] = None, **options: Any) -> keras.Model:
        return build(model_name, include_top=include_top, weights=weights, input_tensor=input_tensor,
                     input_shape=input_shape, pooling=pooling, classes=classes,
                     classifier_activation=classifier_activation, name=name, **options)

    kind = _kind(spec)
    default_input = "x".join(str(s) for s in spec.input_shape[:2])
    application.__doc__ = (
        f"{kind} of depth {spec.depth} ({spec.layout}, {spec.block} blocks, "
        f"blocks per stage {[s.blocks for s in spec.stages]}).\n\n"
        f"Defaults: input {default_input}, {spec.classes} classes"
        + (f", shortcut option {spec.shortcut}" if spec.residual else "")
        + ".\n\n" + _ARGUMENTS_DOC)
    application.__name__ = application.__qualname__ = registry.function_name(spec)
    application.__signature__ = _SIGNATURE
    return application


def _signature() -> inspect.Signature:
    """keras.applications' arguments, then every `ModelOptions` field by keyword: what `help()` and IDEs show."""
    parameters = [
        inspect.Parameter("include_top", inspect.Parameter.POSITIONAL_OR_KEYWORD, default=True, annotation=bool),
        inspect.Parameter("weights", inspect.Parameter.POSITIONAL_OR_KEYWORD, default=None,
                          annotation=Optional[str]),
        inspect.Parameter("input_tensor", inspect.Parameter.POSITIONAL_OR_KEYWORD, default=None),
        inspect.Parameter("input_shape", inspect.Parameter.POSITIONAL_OR_KEYWORD, default=None,
                          annotation=Optional[Sequence[Optional[int]]]),
        inspect.Parameter("pooling", inspect.Parameter.POSITIONAL_OR_KEYWORD, default=None,
                          annotation=Optional[str]),
        inspect.Parameter("classes", inspect.Parameter.POSITIONAL_OR_KEYWORD, default=None,
                          annotation=Optional[int]),
        inspect.Parameter("classifier_activation", inspect.Parameter.POSITIONAL_OR_KEYWORD, default="softmax",
                          annotation=Union[str, Callable, None]),
        inspect.Parameter("name", inspect.Parameter.POSITIONAL_OR_KEYWORD, default=None, annotation=Optional[str]),
    ]
    taken = {p.name for p in parameters}
    parameters += [inspect.Parameter(field.name, inspect.Parameter.KEYWORD_ONLY, default=field.default,
                                     annotation=field.type)
                   for field in dataclasses.fields(ModelOptions) if field.name not in taken]
    parameters += [inspect.Parameter("mean", inspect.Parameter.KEYWORD_ONLY, default=None),
                   inspect.Parameter("include_preprocessing", inspect.Parameter.KEYWORD_ONLY, default=None,
                                     annotation=Optional[bool])]
    return inspect.Signature(parameters, return_annotation=keras.Model)


_SIGNATURE = _signature()

class _Applications(collections.abc.Mapping):
    """{function name: application} for every network of the table, read live: a network added with
    `keras_resnet.arch.registry.register` is in it, and is `keras_resnet.<its function name>`."""

    def __getitem__(self, function_name: str) -> Callable[..., keras.Model]:
        model_name = registry.application_names()[function_name]
        return _application(model_name, specs_lib.MODEL_SPECS[model_name])

    def __iter__(self):
        return iter(registry.application_names())

    def __len__(self) -> int:
        return len(specs_lib.MODEL_SPECS)


APPLICATIONS = _Applications()
"""{function name: application}: one `keras.applications`-style function per network of the table."""
__all__ = ["APPLICATIONS", "reference", *APPLICATIONS]


def __getattr__(name: str) -> Callable[..., keras.Model]:
    try:
        return APPLICATIONS[name]
    except KeyError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None


def reference() -> str:
    """The applications' API reference in markdown (docs/api/factory.md): the signature, its arguments, every function.

    Returns:
        The markdown, generated from `APPLICATIONS` and their shared signature and docstring.
    """
    parameters = []
    for parameter in _SIGNATURE.parameters.values():
        if parameter.kind is inspect.Parameter.KEYWORD_ONLY and "*" not in parameters:
            parameters.append("*")
        parameters.append(str(parameter.replace(annotation=inspect.Parameter.empty)))
    lines = ["Every network of the table is a function of `keras_resnet`, as `keras.applications` offers its own; "
             "all take the same arguments and return a `keras.Model`:", "", "```python",
             "keras_resnet.ResNet50(", *[f"    {p}," for p in parameters], ") -> keras.Model", "```", ""]
    args, _, rest = _ARGUMENTS_DOC.partition("\n\nReturns:\n")
    lines += ["| argument | meaning |", "|---|---|"]
    for entry in re.split(r"\n    (?=\S)", args)[1:]:
        name, _, meaning = entry.partition(": ")
        lines.append(f"| `{name}` | {' '.join(meaning.split())} |")
    returns, _, raises = rest.partition("\n\nRaises:\n")
    lines += ["", f"**Returns**: {' '.join(returns.split())}", "",
              f"**Raises**: {' '.join(raises.split()).replace('ValueError: ', '`ValueError`: ', 1)}", "",
              "| function | network | defaults |", "|---|---|---|"]
    for name, function in APPLICATIONS.items():
        what, _, defaults = function.__doc__.partition("\n\n")
        defaults = defaults.split("\n\n")[0].removeprefix("Defaults: ").rstrip(".")
        lines.append(f"| `{name}` | {what} | {defaults} |")
    return "\n".join(lines)
