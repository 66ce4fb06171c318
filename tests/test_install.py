"""The package as a user installs it: the wheel, with only the core requirements, in a fresh virtualenv outside the
repository. Run by .ci/run after the suite (`pytest -m install`): the install takes a minute or two."""

import os
import subprocess
import sys
import venv

import pytest

from keras_resnet.version import DISTRIBUTION, __version__

from helpers import ROOT, make_idx_dataset

pytestmark = [pytest.mark.install, pytest.mark.slow]

# The extras' distributions: none may come with the core install.
EXTRA_DISTRIBUTIONS = ("keras-hub", "tensorflow-text", "mediapipe", "ai-edge-litert", "tf2onnx", "onnx",
                       "onnxruntime", "tensorflow-serving-api")


def run(args, cwd, timeout=900, env=None):
    environment = dict(os.environ, **(env or {}))
    if not env or "TF_CPP_MIN_LOG_LEVEL" not in env:
        environment.pop("TF_CPP_MIN_LOG_LEVEL", None)  # as a user's shell: the command decides (conftest sets it)
    return subprocess.run(args, capture_output=True, text=True, timeout=timeout, cwd=cwd, env=environment)


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """(the virtualenv's bin directory, a working directory outside the repository, the wheel)."""
    base = tmp_path_factory.mktemp("user")
    dist = base / "dist"
    built = run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(dist), ROOT], cwd=str(base))
    assert built.returncode == 0, built.stderr[-3000:]
    wheels = sorted(dist.glob("*.whl"))
    assert [w.name for w in wheels] == [f"{DISTRIBUTION.replace('-', '_')}-{__version__}-py3-none-any.whl"]
    venv.create(base / "venv", with_pip=True)
    bin_dir = base / "venv" / "bin"
    pip = run([str(bin_dir / "python"), "-m", "pip", "install", "-q", str(wheels[0])], cwd=str(base))
    assert pip.returncode == 0, pip.stderr[-3000:]
    work = base / "work"
    work.mkdir()
    return bin_dir, work, wheels[0]


def test_the_wheel_metadata_passes_twine_check(installed):
    _, work, wheel = installed
    out = run([sys.executable, "-m", "twine", "check", "--strict", str(wheel)], cwd=str(work))
    assert out.returncode == 0, out.stdout + out.stderr
    assert "PASSED" in out.stdout


def test_the_core_install_has_no_extra(installed):
    bin_dir, work, _ = installed
    listed = run([str(bin_dir / "python"), "-m", "pip", "list", "--format=freeze"], cwd=str(work)).stdout.lower()
    names = {line.split("==")[0] for line in listed.splitlines()}
    assert DISTRIBUTION in names
    assert sorted(names & set(EXTRA_DISTRIBUTIONS)) == []


def test_import_and_a_keras_applications_style_model(installed):
    bin_dir, work, _ = installed
    code = ("import keras_resnet, sys; m = keras_resnet.ResNet50(include_top=False); "
            "print(keras_resnet.__file__.startswith(sys.prefix), m.output_shape, m.count_params())")
    out = run([str(bin_dir / "python"), "-c", code], cwd=str(work), env={"TF_CPP_MIN_LOG_LEVEL": "3"})
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.split("\n")[-2] == "True (None, None, None, 2048) 23561152"


def test_the_command_its_version_and_help(installed):
    bin_dir, work, _ = installed
    out = run([str(bin_dir / "keras-resnet"), "--version"], cwd=str(work))
    assert (out.returncode, out.stdout) == (0, f"{DISTRIBUTION} {__version__}\n")
    out = run([str(bin_dir / "python"), "-m", "keras_resnet", "--version"], cwd=str(work))
    assert (out.returncode, out.stdout) == (0, f"{DISTRIBUTION} {__version__}\n")
    out = run([str(bin_dir / "keras-resnet"), "train", "--help"], cwd=str(work))
    assert out.returncode == 0 and out.stderr == ""
    assert "  --model=TEXT" in out.stdout and "  --epochs=INT" in out.stdout
    assert "--helpfull" not in out.stdout


def test_a_tiny_training_then_an_export_format_whose_extra_is_missing(installed):
    bin_dir, work, _ = installed
    data = make_idx_dataset(str(work / "data"), num_train=64, num_test=16)
    common = ["--model=resnet8", "--dataset=mnist", f"--data_dir={data}", "--train_steps=1", "--batch_size=16",
              "--verbose=0", "--max_test_examples=16"]
    out = run([str(bin_dir / "keras-resnet"), "train", *common, "--model_dir=run"], cwd=str(work))
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stderr == ""
    assert out.stdout.splitlines()[-1].startswith("resnet8 on mnist: test loss")
    assert os.path.isfile(work / "run" / "final.keras")
    out = run([str(bin_dir / "keras-resnet"), "train", *common, "--model_dir=run2", "--export_dir=exports",
               "--formats=onnx"], cwd=str(work))
    assert out.returncode == 1
    assert out.stderr == (f'error: --formats=onnx needs tf2onnx, onnx, onnxruntime (the export extra): '
                          f'pip install "{DISTRIBUTION}[export]"\n')
    assert not os.path.exists(work / "run2") and not os.path.exists(work / "exports")  # refused before any work
    # A keras-hub preset, likewise, when it is asked for.
    code = ("import keras_resnet\n"
            "try:\n    keras_resnet.save_preset(keras_resnet.ResNet18(weights=None), 'preset')\n"
            "except ImportError as e:\n    print(type(e).__name__, e)")
    out = run([str(bin_dir / "python"), "-c", code], cwd=str(work), env={"TF_CPP_MIN_LOG_LEVEL": "3"})
    assert out.stdout.strip().splitlines()[-1] == (f'MissingExtraError save_preset needs keras_hub (the hub extra): '
                                                   f'pip install "{DISTRIBUTION}[hub]"')
