"""PyTorch checkpoints (`torch.save`'s zip format) read without torch, and without running their pickle's code.

A `.pth` file is a zip archive: `<archive>/data.pkl`, a pickle of the state dict whose tensors refer to their
storages by key, and `<archive>/data/<key>`, each storage's raw bytes (little-endian unless `<archive>/byteorder`
says otherwise). `torch.load` unpickles `data.pkl` with torch's classes, and a pickle may name any callable, so
a malicious file can run code when it is loaded. `read_state_dict` unpickles with `StateDictUnpickler`, which
resolves only the globals a state dict needs (the tensor rebuild functions, the storage types and
`collections.OrderedDict`) to functions of this module, and refuses any other global by name before anything is
called: nothing of the file runs.

The legacy format (torch before 1.6, or `_use_new_zipfile_serialization=False`: the same pickle, then the
storages' bytes, in one stream) is read the same way.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import io
import os
import pickle
import threading
import zipfile
from typing import Any, Dict, Optional

import numpy as np


def _bfloat16():
    import ml_dtypes  # installed with Keras and TensorFlow: numpy has no bfloat16 of its own

    return ml_dtypes.bfloat16


# torch's typed storages and dtypes (as `torch.<name>` in a pickle) and the numpy dtype of their elements.
_STORAGES = {
    "FloatStorage": "float32", "DoubleStorage": "float64", "HalfStorage": "float16", "BFloat16Storage": "bfloat16",
    "LongStorage": "int64", "IntStorage": "int32", "ShortStorage": "int16", "CharStorage": "int8",
    "ByteStorage": "uint8", "BoolStorage": "bool",
}
_DTYPES = {
    "float32": "float32", "float": "float32", "float64": "float64", "double": "float64", "float16": "float16",
    "half": "float16", "bfloat16": "bfloat16", "int64": "int64", "long": "int64", "int32": "int32", "int": "int32",
    "int16": "int16", "short": "int16", "int8": "int8", "uint8": "uint8", "bool": "bool",
}


# What a checkpoint may ask this reader for: the tensors it decodes, all together (the largest published ResNet,
# wide_resnet101_2, holds 0.5 GB), and the depth of its nested containers (a state dict nests two or three deep).
MAX_BYTES = 4 * 2**30
MAX_DEPTH = 64


def _numpy_dtype(name: str) -> np.dtype:
    return np.dtype(_bfloat16()) if name == "bfloat16" else np.dtype(name)


@dataclasses.dataclass(frozen=True)
class _Kind:
    """A storage type or a dtype named in the pickle: only its element type is kept."""

    name: str
    dtype: str


@dataclasses.dataclass
class _Pending:
    """A legacy file's storage, whose bytes follow the pickle, or a tensor over one: resolved after the pickle."""

    key: str
    dtype: str = ""
    numel: int = 0
    tensor: tuple = ()


def _rebuild_tensor(storage: np.ndarray, offset: int, size, stride, *_: Any) -> np.ndarray:
    """torch._utils._rebuild_tensor_v2's arguments to the array they describe (a copy, C-contiguous)."""
    if isinstance(storage, _Pending):
        return _Pending(storage.key, tensor=(offset, tuple(size), tuple(stride)))
    size, stride = tuple(int(n) for n in size), tuple(int(s) for s in stride)
    if len(size) != len(stride) or offset < 0 or any(s < 0 for s in stride) or any(n < 0 for n in size):
        raise pickle.UnpicklingError(f"a tensor of size {size} and stride {stride} at offset {offset} is malformed")
    if 0 in size:
        return np.zeros(size, storage.dtype)
    last = offset + sum((n - 1) * s for n, s in zip(size, stride))
    if last >= storage.size:
        raise pickle.UnpicklingError(f"a tensor of size {size}, stride {stride} and offset {offset} reaches element "
                                     f"{last} of a storage of {storage.size}")
    numel = int(np.prod(size, dtype=object))
    if numel > storage.size - offset:
        # Only a view that repeats elements (a stride of 0) is larger than its storage: a state dict saves none,
        # and copying one could ask for far more memory than the file holds.
        raise pickle.UnpicklingError(f"a tensor of size {size} and stride {stride} repeats the {storage.size} "
                                     f"elements of its storage to {numel}")
    _Budget.take(numel * storage.itemsize)
    view = np.lib.stride_tricks.as_strided(storage[offset:], shape=size,
                                           strides=tuple(s * storage.itemsize for s in stride), writeable=False)
    return np.array(view, order="C")


class _Budget:
    """The bytes a read may still decode (`MAX_BYTES`), for the read under way in this thread."""

    _local = threading.local()

    @classmethod
    @contextlib.contextmanager
    def of(cls, limit: int):
        cls._local.left = limit
        try:
            yield
        finally:
            cls._local.left = None

    @classmethod
    def take(cls, size: int) -> None:
        left = getattr(cls._local, "left", None)
        if left is None:
            return
        if size > left:
            raise pickle.UnpicklingError(f"its tensors need more than {MAX_BYTES / 2**30:g} GiB (this reader's cap; "
                                         "the largest published ResNet needs 0.5 GiB)")
        cls._local.left = left - size


def _rebuild_tensor_v3(storage: np.ndarray, offset: int, size, stride, requires_grad, hooks, dtype: _Kind,
                       *_: Any) -> np.ndarray:
    """torch._utils._rebuild_tensor_v3: as v2, its storage untyped and its element type given."""
    if isinstance(dtype, _Kind) and storage.dtype == np.uint8 and dtype.dtype != "uint8":
        storage = storage.view(_numpy_dtype(dtype.dtype))
    return _rebuild_tensor(storage, offset, size, stride)


def _rebuild_parameter(data: np.ndarray, *_: Any) -> np.ndarray:
    """torch._utils._rebuild_parameter(_with_state): a Parameter is its data here."""
    return data


# Every callable a state dict's pickle may name, resolved to this module's own functions.
_ALLOWED = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
    ("torch._utils", "_rebuild_tensor_v3"): _rebuild_tensor_v3,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter,
}


class StateDictUnpickler(pickle.Unpickler):
    """Unpickles a `data.pkl` of a torch zip checkpoint into numpy arrays, refusing every global it does not need.

    Args:
        file: the `data.pkl` stream.
        archive: the open zip archive, where the storages are.
        prefix: the archive's top folder (`"<name>/"`).
        byteorder: "little" or "big", the storages' byte order.
    """

    def __init__(self, file, archive: Optional[zipfile.ZipFile], prefix: str, byteorder: str = "little"):
        super().__init__(file)
        self.archive, self.prefix, self.byteorder = archive, prefix, byteorder
        self.storages: Dict[str, np.ndarray] = {}

    def find_class(self, module: str, name: str):
        allowed = _ALLOWED.get((module, name))
        if allowed is not None:
            return allowed
        if module == "torch" and name in _STORAGES:
            return _Kind(name, _STORAGES[name])
        if module == "torch" and name in ("UntypedStorage", "ByteStorage"):
            return _Kind(name, "uint8")
        if module == "torch" and name in _DTYPES:
            return _Kind(name, _DTYPES[name])
        raise pickle.UnpicklingError(
            f"it names {module}.{name}, which a state dict does not need; a checkpoint naming other callables could "
            "run code when loaded, so it is refused and nothing in it was run")

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage" and isinstance(pid[1], _Kind)):
            raise pickle.UnpicklingError(f"an unknown persistent reference {pid!r}")
        _, kind, key, _location, numel = pid
        key = str(key)
        if key not in self.storages:
            dtype = _numpy_dtype(kind.dtype).newbyteorder("<" if self.byteorder == "little" else ">")
            name = f"{self.prefix}data/{key}"
            size = self.archive.getinfo(name).file_size
            if size > MAX_BYTES:  # the zip header's size, which its decompression is held to
                raise pickle.UnpicklingError(f"storage {key} inflates to {size:,} bytes, over this reader's cap of "
                                             f"{MAX_BYTES / 2**30:g} GiB")
            _Budget.take(size)
            data = self.archive.read(name)
            storage = np.frombuffer(data, dtype=dtype)
            if storage.size < int(numel):
                raise pickle.UnpicklingError(f"storage {key} holds {storage.size} elements, not {numel}")
            self.storages[key] = storage.astype(storage.dtype.newbyteorder("="), copy=False)
        return self.storages[key]


class _LegacyUnpickler(StateDictUnpickler):
    """The legacy format's main pickle: its storages are read after it, from the same stream."""

    def __init__(self, file):
        super().__init__(file, None, "")
        self.pending: Dict[str, _Pending] = {}

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and len(pid) == 6 and pid[0] == "storage" and isinstance(pid[1], _Kind)):
            raise pickle.UnpicklingError(f"an unknown persistent reference {pid!r}")
        _, kind, key, _location, numel, view = pid
        if view is not None:
            raise pickle.UnpicklingError("a storage view (torch < 1.0's format), which this reader does not take")
        return self.pending.setdefault(str(key), _Pending(str(key), kind.dtype, int(numel)))


class _PlainUnpickler(pickle.Unpickler):
    """The legacy format's header pickles: numbers and a dict, no globals at all."""

    def find_class(self, module: str, name: str):
        raise pickle.UnpicklingError(f"its header names {module}.{name}, which a checkpoint header does not")


_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C


def _read_legacy(path: str) -> Any:
    with open(path, "rb") as f:
        if _PlainUnpickler(f).load() != _LEGACY_MAGIC:
            raise ValueError(f"{path!r} is a pickle but not a torch checkpoint (no torch magic number).")
        _PlainUnpickler(f).load()  # protocol version
        info = _PlainUnpickler(f).load()
        little = not isinstance(info, dict) or info.get("little_endian", True)
        unpickler = _LegacyUnpickler(f)
        result = unpickler.load()
        keys = [str(key) for key in _PlainUnpickler(f).load()]
        storages = {}
        left = os.fstat(f.fileno()).st_size
        for key in keys:
            if key not in unpickler.pending:
                raise pickle.UnpicklingError(f"storage {key} is listed but no tensor uses it")
            pending = unpickler.pending[key]
            numel = int(np.frombuffer(f.read(8), "<i8" if little else ">i8")[0])
            dtype = _numpy_dtype(pending.dtype).newbyteorder("<" if little else ">")
            if not 0 <= numel * dtype.itemsize <= left - f.tell():
                raise EOFError(f"storage {key} claims {numel} elements, more than the file holds")
            data = f.read(numel * dtype.itemsize)
            if len(data) != numel * dtype.itemsize:
                raise EOFError(f"storage {key} is cut short")
            storages[key] = np.frombuffer(data, dtype).astype(dtype.newbyteorder("="), copy=False)
    return _resolve(result, storages)


def _resolve(value: Any, storages: Dict[str, np.ndarray], done: Optional[dict] = None, depth: int = 0) -> Any:
    """`value` with every pending tensor of a legacy file built from its storage.

    An object the pickle shares is resolved once and shared again (a "billion
    laughs" of shared lists is not expanded), and nesting is bounded.
    """
    done = {} if done is None else done
    if depth > MAX_DEPTH:
        raise pickle.UnpicklingError(f"it nests containers deeper than {MAX_DEPTH} (a state dict nests two or three)")
    if id(value) in done:
        return done[id(value)]
    if isinstance(value, _Pending):
        if not value.tensor:
            raise pickle.UnpicklingError(f"storage {value.key} is used outside a tensor")
        if value.key not in storages:
            raise pickle.UnpicklingError(f"storage {value.key} is used but not stored")
        resolved = _rebuild_tensor(storages[value.key], *value.tensor)
    elif isinstance(value, dict):
        resolved = type(value)((k, _resolve(v, storages, done, depth + 1)) for k, v in value.items())
        if hasattr(value, "__dict__"):
            resolved.__dict__.update(value.__dict__)
    elif isinstance(value, (list, tuple)):
        resolved = type(value)(_resolve(v, storages, done, depth + 1) for v in value)
    else:
        return value
    done[id(value)] = resolved
    return resolved


def is_legacy(path: str) -> bool:
    """Whether `path` is torch's legacy checkpoint format (a bare pickle stream, not a zip archive)."""
    with open(path, "rb") as f:
        return f.read(1) == b"\x80" and not zipfile.is_zipfile(path)


def read_state_dict(path: str) -> Any:
    """The object a `.pth`/`.pt` file holds (a state dict: names to numpy arrays), read without torch.

    Tensors come back as numpy arrays with their dtype (bfloat16 as `ml_dtypes.bfloat16`), shape and values,
    whatever their storage's offset and strides; other values (an epoch number, a nested dict) as they are.

    Raises:
        ValueError: the file names any callable a state dict does not need (it is named; nothing of the
            file runs), or is damaged.
    """
    path = os.fspath(path)
    try:
        with _Budget.of(MAX_BYTES):
            return _read(path)
    except pickle.UnpicklingError as error:
        raise ValueError(f"{path!r} was refused: {error}.") from None
    except RecursionError:
        raise ValueError(f"{path!r} was refused: it nests containers too deep for a state dict.") from None
    except (zipfile.BadZipFile, KeyError, EOFError, OSError, TypeError, ValueError) as error:
        if isinstance(error, ValueError) and str(error).startswith(repr(path)):
            raise
        raise ValueError(f"{path!r} is not a readable torch checkpoint (truncated or damaged): {error}") from None


def _read(path: str) -> Any:
    if is_legacy(path):
        return _read_legacy(path)
    with zipfile.ZipFile(path) as archive:
        pickles = [n for n in archive.namelist() if n == "data.pkl" or n.endswith("/data.pkl")]
        if len(pickles) != 1:
            raise ValueError(f"{path!r} is a zip archive but not a torch checkpoint (no single data.pkl).")
        prefix = pickles[0][:-len("data.pkl")]
        byteorder = "little"
        if f"{prefix}byteorder" in archive.namelist():
            byteorder = archive.read(f"{prefix}byteorder").decode().strip()
            if byteorder not in ("little", "big"):
                raise ValueError(f"{path!r} declares an unknown byte order {byteorder!r}.")
        if archive.getinfo(pickles[0]).file_size > MAX_BYTES:
            raise pickle.UnpicklingError(f"its data.pkl inflates past {MAX_BYTES / 2**30:g} GiB")
        unpickler = StateDictUnpickler(io.BytesIO(archive.read(pickles[0])), archive, prefix, byteorder)
        return _resolve(unpickler.load(), {})
