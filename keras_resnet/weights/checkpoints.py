"""Published checkpoints (torchvision, timm, keras.applications) imported exactly into keras_resnet models.

A checkpoint is read into plain arrays, every variable of the target model is
paired with exactly one source tensor (converted: OIHW -> HWIO, (out, in) ->
(in, out), keras.applications' conv biases and BN epsilon folded into the BN
statistics), and only when every pair fits and no source tensor is left over
is anything assigned. The format is found from the file's content, not its
name.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import struct
from typing import Optional, Union

import keras
import numpy as np

from keras_resnet.arch.layers import CLASSIFIER
from keras_resnet.weights import torch_files
from keras_resnet.weights.h5_files import META_KEY, natural_order

# Formats `sniff` tells apart.
KERAS_RESNET = "keras_resnet"  # a .weights.h5 written by this package
TORCH = "torch"  # torch.save of a state dict: .pth / .pt
SAFETENSORS = "safetensors"
KERAS_APPLICATIONS = "keras.applications"  # its .h5 / .weights.h5 (ResNet50/101/152 and their V2)
FORMATS = (KERAS_RESNET, TORCH, SAFETENSORS, KERAS_APPLICATIONS)

KERAS_APPLICATIONS_BN_EPSILON = 1.001e-5
_HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"


@dataclasses.dataclass
class Checkpoint:
    """A checkpoint's tensors, read into numpy.

    Attributes:
        format: one of FORMATS except KERAS_RESNET.
        tensors: torch-style {"layer1.0.conv1.weight": array} for TORCH and
            SAFETENSORS; {"conv1_conv": [kernel, bias]} (per layer, Keras's
            variable order) for KERAS_APPLICATIONS.
        source: where it came from, for messages.
        bn_epsilon: the epsilon of the checkpoint's batch norms.
    """

    format: str
    tensors: dict
    source: str
    bn_epsilon: float = 1e-5


def sniff(path: Union[str, os.PathLike]) -> str:
    """The format of a weights file, from its content.

    Raises:
        ValueError: missing, empty or of no format listed in FORMATS.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise ValueError(f"Weights file not found. Received: weights={path!r}")
    with open(path, "rb") as f:
        head = f.read(16)
    if head.startswith(_HDF5_MAGIC):
        return _sniff_hdf5(path)
    # safetensors first: its header length is little-endian, so its first
    # byte can be a pickle's 0x80 (one header length in 256).
    if len(head) >= 9:
        (header_size,) = struct.unpack("<Q", head[:8])
        if head[8:9] == b"{" and 0 < header_size < os.path.getsize(path):
            return SAFETENSORS
    if head.startswith(b"PK\x03\x04"):
        return _sniff_zip(path)
    if head[:1] == b"\x80":  # torch.save's legacy format: a bare pickle
        return TORCH
    raise ValueError(_NOT_WEIGHTS.format(path=path))


_NOT_WEIGHTS = ("{path!r} is not a weights file this package reads: valid are keras_resnet's .weights.h5, torch's "
                ".pth/.pt, .safetensors and keras.applications' .h5/.weights.h5 (formats are recognised by content).")


def _sniff_zip(path: str) -> str:
    """TORCH for torch.save's zip (`<name>/data.pkl`); a .keras archive or any other zip is refused, saying which."""
    import zipfile

    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except (zipfile.BadZipFile, OSError) as error:
        raise ValueError(f"{path!r} is a damaged zip archive ({error}): {_NOT_WEIGHTS.format(path=path)}") from None
    if any(name.endswith("/data.pkl") or name == "data.pkl" for name in names):
        return TORCH
    if "config.json" in names and "model.weights.h5" in names:
        raise ValueError(f"{path!r} is a Keras model archive (.keras), not a weights file: load the model with "
                         "keras_resnet.load_model(path); to start from its weights, write them with "
                         "keras_resnet.save_weights(model, 'model.weights.h5') and pass that file.")
    raise ValueError(_NOT_WEIGHTS.format(path=path))


def _sniff_hdf5(path: str) -> str:
    import h5py


    try:
        with h5py.File(path, "r") as f:
            if "layer_names" in f.attrs or "model_weights" in f:
                return KERAS_APPLICATIONS  # Keras 2's (legacy) weights or model file
            if "layers" in f:
                # keras.applications' ResNets have a bias on their first conv; ours only with META_KEY.
                return KERAS_APPLICATIONS if ("layers/conv2d/vars/1" in f and META_KEY not in f.attrs) \
                    else KERAS_RESNET
    except OSError as error:
        raise ValueError(f"{path!r} is not a readable weights file (truncated or another format): {error}") from None
    raise ValueError(f"{path!r} is an HDF5 file but holds no Keras weights.")


def read(source) -> Checkpoint:
    """Read a checkpoint: a file path, a keras.applications model, or a state dict of arrays.

    Raises:
        ValueError: unreadable or truncated, a `.pth` whose pickle names anything
            a state dict does not need (refused unrun), or not a checkpoint format.
    """
    if isinstance(source, keras.Model):
        return _from_keras_model(source, f"the keras.applications model {source.name!r}")
    if isinstance(source, dict):
        return Checkpoint(TORCH, {k: np.asarray(v) for k, v in source.items()}, "a state dict")
    path = os.fspath(source)
    kind = sniff(path)
    if kind == TORCH:
        return Checkpoint(TORCH, _read_torch(path), path)
    if kind == SAFETENSORS:
        from safetensors import SafetensorError
        from safetensors.numpy import load_file

        try:
            return Checkpoint(SAFETENSORS, dict(load_file(path)), path)
        except (SafetensorError, OSError, ValueError) as error:
            raise ValueError(f"{path!r} is not a readable .safetensors file (truncated?): {error}") from None
    if kind == KERAS_APPLICATIONS:
        return _read_keras_applications(path)
    raise ValueError(f"{path!r} is a keras_resnet .weights.h5 file: load it with keras_resnet.load_weights "
                     "(or weights=path), not as a foreign checkpoint.")


def _read_torch(path: str) -> dict:
    """A torch `.pth`/`.pt` state dict as float32 arrays, read without torch (`torch_files`: nothing of it runs)."""
    state = torch_files.read_state_dict(path)
    for key in ("state_dict", "model"):  # training checkpoints wrap the state dict
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if not isinstance(state, dict):
        raise ValueError(f"{path!r} holds a {type(state).__name__}, not a state dict.")
    return {k: np.asarray(v, np.float32) for k, v in state.items() if isinstance(v, np.ndarray)}


def _read_keras_applications(path: str) -> Checkpoint:
    import h5py

    with h5py.File(path, "r") as f:
        group = f["model_weights"] if "model_weights" in f else f
        if "layer_names" in group.attrs:
            tensors = {}
            for layer in group.attrs["layer_names"]:
                layer = layer.decode() if isinstance(layer, bytes) else layer
                names = [n.decode() if isinstance(n, bytes) else n for n in group[layer].attrs["weight_names"]]
                if names:
                    tensors[layer] = [np.asarray(group[layer][n]) for n in names]
            return Checkpoint(KERAS_APPLICATIONS, tensors, path, KERAS_APPLICATIONS_BN_EPSILON)
    return _from_keras_model(_keras_applications_model_for(path), path)


def _layer_counts(path: str) -> tuple:
    """(convs, batch norms, dense layers) of a Keras 3 .weights.h5, whose layers are keyed by class."""
    import h5py

    with h5py.File(path, "r") as f:
        kinds = [key.rstrip("_0123456789") for key in f["layers"].keys()] if "layers" in f else []
    return kinds.count("conv2d"), kinds.count("batch_normalization"), kinds.count("dense")


def _keras_applications_model_for(path: str) -> keras.Model:
    """Keras 3's .weights.h5 is keyed by layer order, not name: find the model it loads into."""
    convs, bns, dense = _layer_counts(path)
    candidates = []
    for name, blocks in (("ResNet50", 16), ("ResNet101", 33), ("ResNet152", 50)):
        # Bottlenecks have 3 convs, plus conv1 and 4 projections; v1 normalises each, v2 pre-activates each
        # block (3 BNs) and adds post_bn. Counting them spares building every candidate.
        for candidate, norms in ((name, 3 * blocks + 5), (name + "V2", 3 * blocks + 1)):
            if (convs, bns) == (3 * blocks + 5, norms):
                candidates.append(candidate)
    tried = []
    for name in candidates or ["ResNet50", "ResNet101", "ResNet152", "ResNet50V2", "ResNet101V2", "ResNet152V2"]:
        for include_top in (True, False) if not candidates else (dense > 0,):
            model = getattr(keras.applications, name)(weights=None, include_top=include_top,
                                                      input_shape=(64, 64, 3) if not include_top else None)
            try:
                model.load_weights(path)
                return model
            except (ValueError, KeyError):
                tried.append(f"{name}(include_top={include_top})")
    raise ValueError(f"{path!r} looks like a keras.applications weights file (biased convs) but fits none of "
                     f"{', '.join(tried)}.")


def _from_keras_model(model: keras.Model, source: str) -> Checkpoint:
    tensors, epsilons = {}, set()
    for layer in model.layers:
        if layer.weights:
            tensors[layer.name] = [np.asarray(keras.ops.convert_to_numpy(w)) for w in layer.weights]
        if isinstance(layer, keras.layers.BatchNormalization):
            epsilons.add(float(layer.epsilon))
    if len(epsilons) > 1:
        raise ValueError(f"{source} mixes BN epsilons {sorted(epsilons)}; expected keras.applications' one.")
    return Checkpoint(KERAS_APPLICATIONS, tensors, source, epsilons.pop() if epsilons else 1e-5)


# ------------------------------------------------------------------ mapping

_LAYER = re.compile(r"conv(\d+)_block(\d+)_(\d)_(conv|bn)")
_SE_LAYER = re.compile(r"conv(\d+)_block(\d+)_se_(reduce|expand)")
_TORCH_VAR = {"kernel": "weight", "gamma": "weight", "beta": "bias", "moving_mean": "running_mean",
              "moving_variance": "running_var", "bias": "bias"}
_TORCH_IGNORED = ("num_batches_tracked",)


_TORCH_FIXED = {
    "conv1_conv": "conv1", "conv1_bn": "bn1", CLASSIFIER: "fc",
    # ResNet-C's deep stem: timm's conv1 = Sequential(conv, bn, relu, conv, bn, relu, conv), then bn1.
    "conv1_1_conv": "conv1.0", "conv1_1_bn": "conv1.1", "conv1_2_conv": "conv1.3", "conv1_2_bn": "conv1.4",
    "conv1_3_conv": "conv1.6", "conv1_3_bn": "bn1",
}


def _torch_prefix(layer: str, avg_down: bool = False) -> Optional[str]:
    """The torchvision/timm module of one of our layers (the weights contract, in one place).

    `avg_down`: the model has ResNet-D projections, whose timm downsample is
    Sequential(pool, conv, bn) on every projecting block.
    """
    if layer in _TORCH_FIXED:
        return _TORCH_FIXED[layer]
    match = _SE_LAYER.fullmatch(layer)
    if match:
        stage, block, which = match.groups()
        return f"layer{int(stage) - 1}.{int(block) - 1}.se.{'fc1' if which == 'reduce' else 'fc2'}"
    match = _LAYER.fullmatch(layer)
    if not match:
        return None
    stage, block, index, kind = match.groups()
    base = f"layer{int(stage) - 1}.{int(block) - 1}."
    if index == "0":
        first = 1 if avg_down else 0
        return base + f"downsample.{first if kind == 'conv' else first + 1}"
    return base + f"{kind}{index}"


def _variables(model: keras.Model):
    """(layer, variable name, variable) for every weight of `model`, in layer order."""
    for layer in model.layers:
        for variable in layer.weights:
            yield layer, variable.name.split("/")[-1], variable


def _fail(model, message: str):
    raise ValueError(f"Cannot import into {model.name!r}: {message}")


def _torch_assignments(model: keras.Model, ckpt: Checkpoint) -> tuple:
    values, used = [], set()
    avg_down = any(layer.name.endswith("_0_pool") for layer in model.layers)
    for layer, var_name, variable in _variables(model):
        prefix = _torch_prefix(layer.name, avg_down)
        if prefix is None:
            _fail(model, f"its layer {layer.name!r} ({var_name}) holds weights no torchvision/timm checkpoint has "
                         "(a preprocessing mean? build without mean/mean_shape).")
        key = f"{prefix}.{_TORCH_VAR[var_name]}"
        if key not in ckpt.tensors:
            _fail(model, f"{key!r} is missing from {ckpt.source} (needed for {layer.name}/{var_name}, shape "
                         f"{tuple(variable.shape)}): another depth, block type or shortcut option?")
        value = ckpt.tensors[key]
        if value.ndim == 4:
            value = value.transpose(2, 3, 1, 0)  # OIHW -> HWIO
        elif value.ndim == 2:
            value = value.T  # (out, in) -> (in, out)
        _check_shape(model, key, value, layer.name, var_name, variable)
        values.append((variable, value))
        used.add(key)
    return values, used


def _keras_applications_assignments(model: keras.Model, ckpt: Checkpoint) -> tuple:
    values, used = [], set()  # a conv's bias is used through its BN
    for layer, var_name, variable in _variables(model):
        name = layer.name
        if name not in ckpt.tensors:
            _fail(model, f"layer {name!r} is missing from {ckpt.source} (needed for its {var_name}, shape "
                         f"{tuple(variable.shape)}): another depth or shortcut option?")
        tensors = ckpt.tensors[name]
        used.add(name)
        if isinstance(layer, keras.layers.BatchNormalization):
            gamma, beta, mean, var = (t.astype(np.float64) for t in tensors)
            conv = name[:-3] + "_conv"
            bias = ckpt.tensors.get(conv, [None, None])[1:2]
            bias = bias[0].astype(np.float64) if bias and bias[0] is not None else 0.0
            # BN(conv + b) with eps_k == BN(conv) with mean - b and var + eps_k - eps.
            folded = {"gamma": gamma, "beta": beta, "moving_mean": mean - bias,
                      "moving_variance": var + ckpt.bn_epsilon - float(layer.epsilon)}
            value = folded[var_name]
        elif var_name == "kernel":
            value = tensors[0]
        elif var_name == "bias" and isinstance(layer, (keras.layers.Dense, keras.layers.Conv2D)):
            value = tensors[1]  # the classifier's, and v2's convs that no BN follows
        else:
            _fail(model, f"its layer {name!r} ({var_name}) has no counterpart in a keras.applications ResNet.")
        _check_shape(model, f"{name}[{var_name}]", value, name, var_name, variable)
        values.append((variable, value))
    return values, used


def _check_shape(model, key, value, layer, var_name, variable):
    if tuple(value.shape) != tuple(variable.shape):
        _fail(model, f"{key!r} has shape {tuple(value.shape)} (converted) but {layer}/{var_name} has "
                     f"{tuple(variable.shape)}: another depth, width, block type or number of classes?")


def import_checkpoint(model: keras.Model, source, *, skip_head: Union[bool, str] = False) -> dict:
    """Assign a published checkpoint to every weight of `model`, exactly, or nothing.

    Args:
        model: a keras_resnet model of the checkpoint's architecture: stride
            on the 3x3 (default) for torchvision/timm, `stride_in_1x1=True`
            for keras.applications. Without a top, the checkpoint's
            classifier is left unused, as in keras.applications.
        source: a file (format found from its content), a keras.applications
            model object, or a torch-style state dict of arrays.
        skip_head: True: leave the model's classifier as it is (a new head)
            instead of requiring the checkpoint's; "if_other_classes": only
            where the checkpoint's has another number of classes.

    Returns:
        {"format", "source", "assigned": number of variables, "head": whether
        the classifier was imported}.

    Raises:
        ValueError: unreadable source, or the first tensor that does not fit:
            missing, of another shape, or left over (another depth, stride
            placement, width or head). Nothing is assigned then.
    """
    ckpt = read(source)
    info = json.loads(getattr(model, "identity", None) or "{}")
    stride_in_1x1 = info.get("stride_in_1x1")
    if ckpt.format in (TORCH, SAFETENSORS) and stride_in_1x1:
        _fail(model, f"{ckpt.source} is a torchvision/timm checkpoint, whose bottlenecks stride on the 3x3 "
                     "(v1.5); the model strides on the 1x1. Build it with stride_in_1x1=False.")
    preact = ckpt.format == KERAS_APPLICATIONS and "post_bn" in ckpt.tensors
    if ckpt.format == KERAS_APPLICATIONS and preact != any(layer.name == "post_bn" for layer in model.layers):
        _fail(model, f"{ckpt.source} is a keras.applications {'v2 (pre-activation)' if preact else 'v1'} "
                     f"checkpoint and the model is not: build a {'resnet<depth>v2' if preact else 'resnet<depth>'} "
                     "model (ResNet50V2 .. or ResNet50 ..).")
    if ckpt.format == KERAS_APPLICATIONS and not preact and stride_in_1x1 is False:
        _fail(model, f"{ckpt.source} is a keras.applications (MSRA Caffe, v1) checkpoint, whose bottlenecks "
                     "stride on the 1x1; the model strides on the 3x3. Build it with stride_in_1x1=True.")
    if preact and stride_in_1x1:
        _fail(model, f"{ckpt.source} is a keras.applications v2 checkpoint, whose bottlenecks stride on the 3x3; "
                     "the model strides on the 1x1. Build it with stride_in_1x1=False.")
    has_head = any(layer.name == CLASSIFIER for layer in model.layers)
    if skip_head == "if_other_classes":
        skip_head = has_head and _classes(ckpt) != model.get_layer(CLASSIFIER).kernel.shape[-1]
    target = _HeadlessView(model) if skip_head and has_head else model
    if ckpt.format == KERAS_APPLICATIONS:
        values, used = _keras_applications_assignments(target, ckpt)
        head_keys = {CLASSIFIER}
        left = [k for k in ckpt.tensors if k not in used]
    else:
        values, used = _torch_assignments(target, ckpt)
        head_keys = {"fc.weight", "fc.bias"}
        left = [k for k in ckpt.tensors if k not in used and not k.endswith(_TORCH_IGNORED)]
    if not has_head or skip_head:
        left = [k for k in left if k not in head_keys]
    if left:
        first = sorted(left, key=natural_order)[0]
        _fail(model, f"{ckpt.source} has {len(left)} tensor(s) the model lacks, first {first!r} "
                     "(another depth, block type or shortcut option?).")
    for variable, value in values:
        variable.assign(np.asarray(value, dtype=variable.dtype))
    return {"format": ckpt.format, "source": ckpt.source, "assigned": len(values),
            "head": has_head and not skip_head}


def _classes(ckpt: Checkpoint) -> Optional[int]:
    if ckpt.format == KERAS_APPLICATIONS:
        head = ckpt.tensors.get(CLASSIFIER)
        return int(head[0].shape[-1]) if head else None
    head = ckpt.tensors.get("fc.weight")
    return int(head.shape[0]) if head is not None else None


class _HeadlessView:
    """A model's layers without its classifier, for `skip_head`."""

    def __init__(self, model):
        self.name = model.name
        self.layers = [layer for layer in model.layers if layer.name != CLASSIFIER]
