"""torch checkpoints read without torch: real torch.save files read exactly, and nothing of a hostile file runs."""

import os
import pickle
import shutil
import struct
import subprocess
import sys
import time
import zipfile

import keras
import numpy as np
import pytest

import keras_resnet
from keras_resnet.weights import checkpoints, torch_files

FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures", "torch")  # made by make_fixtures.py, with torch


def _fixture(name: str) -> str:
    return os.path.join(FIXTURES, name)


@pytest.mark.parametrize("name", ["layouts", "layouts_legacy", "resnet18_eighth"])
def test_torch_save_files_read_exactly_as_torch_reads_them(name):
    """Offsets, transposed and strided views of one storage, float16, bfloat16, int64, float64, bool, empty;
    the zip format and the legacy one."""
    got = torch_files.read_state_dict(_fixture(f"{name}.pth"))
    reference = np.load(_fixture(f"{name}.npz"))
    assert len(got) == len(reference.files)
    for key in reference.files:
        if key.endswith(".bfloat16_bits"):
            value = got[key[:-len(".bfloat16_bits")]]
            assert str(value.dtype) == "bfloat16"
            np.testing.assert_array_equal(value.view(np.int16), reference[key])
        else:
            assert (got[key].dtype, got[key].shape) == (reference[key].dtype, reference[key].shape), key
            np.testing.assert_array_equal(got[key], reference[key])
    if name.startswith("layouts"):
        assert got._metadata == {"": {"version": 1}}  # nn.Module.state_dict()'s attribute survives
        assert got["transposed"].flags.c_contiguous and got["offset_view"][0, 0] == 17.0


def test_a_wrapped_training_checkpoint_reads_and_imports_its_state_dict():
    state = torch_files.read_state_dict(_fixture("wrapped.pth"))
    assert state["epoch"] == 3 and state["state_dict"]["w"].tolist() == [[1.0, 1.0], [1.0, 1.0]]
    assert checkpoints.read(_fixture("wrapped.pth")).tensors.keys() == {"w"}


def test_a_pth_imports_as_exactly_as_the_same_state_dict_given_as_arrays():
    path = _fixture("resnet18_eighth.pth")
    options = dict(input_shape=(64, 64, 3), width_multiplier=0.125, classifier_activation=None)
    from_file = keras_resnet.build("resnet18", weights=path, **options)
    reference = np.load(_fixture("resnet18_eighth.npz"))
    from_arrays = keras_resnet.build("resnet18", preprocessing="torchvision", **options)
    keras_resnet.import_checkpoint(from_arrays, {k: reference[k] for k in reference.files})
    for a, b in zip(from_file.weights, from_arrays.weights):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b))
    pixels = np.random.default_rng(0).uniform(0, 255, (2, 64, 64, 3)).astype(np.float32)
    np.testing.assert_array_equal(from_file.predict(pixels, verbose=0), from_arrays.predict(pixels, verbose=0))


def test_a_whole_module_is_refused_naming_its_class():
    with pytest.raises(ValueError, match=r"was refused: it names torch\.nn\.modules\.conv\.Conv2d, which a state "
                                         r"dict does not need.*nothing in it was run"):
        torch_files.read_state_dict(_fixture("module.pth"))


class _Hostile:
    """What an attacker pickles: loading it with pickle (or torch.load without weights_only) runs a command."""

    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


@pytest.mark.parametrize("layout", ["zip", "legacy"])
def test_a_hostile_pickle_is_refused_and_runs_nothing(tmp_path, layout):
    marker = tmp_path / "pwned"
    payload = pickle.dumps({"conv1.weight": _Hostile(str(marker))}, protocol=2)
    path = tmp_path / "resnet18-f37072fd.pth"
    if layout == "zip":
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("resnet18-f37072fd/data.pkl", payload)
    else:
        path.write_bytes(payload)  # a bare pickle stream, as torch's legacy files are
    with pytest.raises(ValueError, match=r"was refused: .*names posix\.system"):
        torch_files.read_state_dict(str(path))
    with pytest.raises(ValueError, match=r"names posix\.system"):
        keras_resnet.build("resnet18", weights=str(path), input_shape=(64, 64, 3), width_multiplier=0.125)
    assert not marker.exists()


def test_a_damaged_storage_is_named_not_read_past(tmp_path):
    source, damaged = _fixture("layouts.pth"), tmp_path / "layouts.pth"
    with zipfile.ZipFile(source) as original, zipfile.ZipFile(damaged, "w") as copy:
        for item in original.infolist():
            data = original.read(item)
            copy.writestr(item, data[:8] if item.filename.endswith("/data/0") else data)
    with pytest.raises(ValueError, match="layouts.pth.*(storage 0 holds|reaches element)"):
        torch_files.read_state_dict(str(damaged))
    truncated = tmp_path / "cut.pth"
    shutil.copy(_fixture("layouts_legacy.pth"), truncated)
    truncated.write_bytes(truncated.read_bytes()[:-20])
    with pytest.raises(ValueError, match="not a readable torch checkpoint"):
        torch_files.read_state_dict(str(truncated))


# Hostile files, each small, each read under a memory limit in a process of its own: they used to ask for 13.4 GiB,
# inflate 6 MB to 6 GiB, run 136 s to a MemoryError, or end in a RecursionError traceback.
def _op_global(module: str, name: str) -> bytes:
    return b"c" + module.encode() + b"\n" + name.encode() + b"\n"


def _op_str(text: str) -> bytes:
    data = text.encode()
    return b"X" + struct.pack("<I", len(data)) + data


def _op_int(value: int) -> bytes:
    return b"J" + struct.pack("<i", value)


def _op_tuple(*items: bytes) -> bytes:
    return b"(" + b"".join(items) + b"t"


def _tensor_pickle(size, stride, numel: int = 1) -> bytes:
    """A protocol-2 data.pkl of {"w": a float tensor of `size` and `stride` over storage "0" of `numel` floats}."""
    storage = _op_tuple(_op_str("storage"), _op_global("torch", "FloatStorage"), _op_str("0"), _op_str("cpu"),
                        _op_int(numel)) + b"Q"
    tensor = _op_global("torch._utils", "_rebuild_tensor_v2") + _op_tuple(
        storage, _op_int(0), _op_tuple(*map(_op_int, size)), _op_tuple(*map(_op_int, stride)), b"\x89", b"N") + b"R"
    return b"\x80\x02}" + _op_str("w") + tensor + b"s."


def _read_limited(path, setup: str = "", memory_gib: float = 1.5):
    """read_state_dict(path) in a fresh process whose address space is capped; returns its outcome line."""
    code = ("import resource, sys\n"
            f"resource.setrlimit(resource.RLIMIT_AS, ({int(memory_gib * 2**30)}, {int(memory_gib * 2**30)}))\n"
            "from keras_resnet.weights import torch_files\n" + setup +
            "try:\n"
            f"    value = torch_files.read_state_dict({str(path)!r})\n"
            "    print('read', type(value).__name__)\n"
            "except ValueError as error:\n"
            "    print('refused', error)\n")
    start = time.monotonic()
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr[-2000:]
    assert time.monotonic() - start < 30
    return out.stdout.strip()


def test_a_stride_0_tensor_that_would_repeat_its_storage_to_13_gib_is_refused(tmp_path):
    path = tmp_path / "stride0.pth"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("stride0/data.pkl", _tensor_pickle((60_000, 60_000), (0, 0)))
        archive.writestr("stride0/data/0", struct.pack("<f", 1.0))
    assert path.stat().st_size < 1000
    assert _read_limited(path) == (f"refused {str(path)!r} was refused: a tensor of size (60000, 60000) and stride "
                                   "(0, 0) repeats the 1 elements of its storage to 3600000000.")


def test_a_storage_that_inflates_past_the_cap_is_refused_unread(tmp_path):
    """The cap is 4 GiB; here 1 MiB, so that the test's archive stays small (1 KB for 16 MiB of zeros)."""
    path = tmp_path / "bomb.pth"
    numel = 4 * 2**20
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("bomb/data.pkl", _tensor_pickle((numel,), (1,), numel))
        archive.writestr("bomb/data/0", bytes(4 * numel))
    assert path.stat().st_size < 100_000
    outcome = _read_limited(path, setup="torch_files.MAX_BYTES = 2**20\n", memory_gib=1.0)
    assert outcome == f"refused {str(path)!r} was refused: storage 0 inflates to 16,777,216 bytes, over this " \
                      "reader's cap of 0.000976562 GiB."
    assert torch_files.MAX_BYTES == 4 * 2**30


def _legacy(main: bytes) -> bytes:
    """A legacy-format file: magic, protocol, system info, the main pickle, its (empty) storage keys."""
    header = b"".join(pickle.dumps(v, protocol=2) for v in (torch_files._LEGACY_MAGIC, 1001,
                                                             {"little_endian": True}))
    return header + main + pickle.dumps([], protocol=2)


def test_shared_references_are_resolved_once_not_expanded(tmp_path):
    """A billion laughs: 40 levels of a list holding the level below twice, 2**40 leaves once expanded."""
    laughs = ["lol"]
    for _ in range(40):
        laughs = [laughs, laughs]
    path = tmp_path / "laughs.pth"
    path.write_bytes(_legacy(pickle.dumps(laughs, protocol=2)))
    assert path.stat().st_size < 1000
    assert _read_limited(path) == "read list"
    value = torch_files.read_state_dict(str(path))
    assert value[0] is value[1]  # shared as the file shares it
    with pytest.raises(ValueError, match="holds a list, not a state dict"):
        checkpoints.read(str(path))


def test_nesting_deeper_than_any_state_dict_is_refused(tmp_path):
    depth = 5000
    path = tmp_path / "deep.pth"
    path.write_bytes(_legacy(b"\x80\x02" + b"]" * depth + _op_str("x") + b"a" * depth + b"."))
    assert _read_limited(path) == (f"refused {str(path)!r} was refused: it nests containers deeper than 64 (a state "
                                   "dict nests two or three).")
