"""torch checkpoints read without torch: real torch.save files read exactly, and nothing of a hostile file runs."""

import os
import pickle
import shutil
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
