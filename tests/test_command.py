"""The `keras-resnet` command (keras_resnet.cli.main): subcommands, grouped help before TensorFlow, suggestions."""

import dataclasses
import os
import signal
import socket
import subprocess
import sys

import pytest

from keras_resnet import extras
from keras_resnet.cli import flags, main as command
from keras_resnet.export.config import ExportConfig
from keras_resnet.train.config import TrainConfig
from keras_resnet.version import DISTRIBUTION, __version__

from helpers import ROOT


# Run in a fresh process: any import of TensorFlow, Keras, keras-tuner or an extra's package fails.
BLOCK_HEAVY = """
import importlib.abc, sys
HEAVY = ("tensorflow", "keras", "keras_tuner", "tensorflow_datasets", "keras_hub", "mediapipe", "ai_edge_litert",
         "onnx", "onnxruntime", "tf2onnx", "jax", "torch", "grpc")
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in HEAVY:
            raise ImportError(name + " is blocked in this test")
sys.meta_path.insert(0, Block())
from keras_resnet.cli.main import main
"""


def run_blocked(*argv):
    code = BLOCK_HEAVY + f"sys.exit(main({list(argv)!r}))"
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=ROOT)


def help_text(name: str) -> str:
    return command.parser_for(name).format_help()


@pytest.mark.parametrize("name", list(command.COMMANDS))
def test_help_exits_0_and_imports_no_tensorflow_nor_any_extra(name):
    out = run_blocked(name, "--help")
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.startswith(f"usage: keras-resnet {name} [flags]")
    assert out.stderr == ""


def test_train_help_lists_every_flag_of_its_settings_grouped_with_defaults_and_choices():
    text = help_text("train")
    sections = [line[:-1] for line in text.splitlines() if line and not line.startswith(" ") and line.endswith(":")]
    assert sections == ["options", "model", "data", "schedule", "hardware", "evaluation", "run", "export", "logging"]
    for cls in (TrainConfig, ExportConfig):
        for field in dataclasses.fields(cls):
            if not field.metadata.get("flag", True):
                assert f"--{field.name}" not in text, field.name  # set by callers (reproduce), not by users
                continue
            assert f"  --{field.name}=" in text or f"  --[no]{field.name} " in text, field.name
    flat = " ".join(text.split())  # help wraps lines
    assert "--model=TEXT A name of keras_resnet.list_models()" in flat and "(default: resnet20)" in flat
    assert "--recipe={cifar,imagenet,wrn,fast,finetune}" in flat
    assert "(default: saved_model,tflite) [one or more of: saved_model,tflite,onnx]" in flat
    # Only the command's own flags: none of absl's or TensorFlow's.
    for foreign in ("--helpfull", "--flagfile", "--logtostderr", "--only_check_args", "--xla_"):
        assert foreign not in text


def test_each_flag_sits_in_its_fields_group():
    text = help_text("train")
    blocks = {}
    for block in text.split("\n\n"):
        title, _, body = block.partition(":\n")
        blocks[title.strip()] = body
    for field in dataclasses.fields(TrainConfig):
        if field.metadata.get("flag", True):
            body = blocks[field.metadata["group"]]
            assert f"--{field.name}=" in body or f"--[no]{field.name} " in body, field.name


def test_flags_parse_as_absl_wrote_them():
    parser = command.parser_for("train")
    args = parser.parse_args(["--model=resnet8", "--epochs", "3", "--nodownload", "--sync_bn",
                              "--overwrite=false", "--formats=saved_model,onnx", "--quantizations=int8"])
    train = flags.settings_from(args, TrainConfig)
    export = flags.settings_from(args, ExportConfig)
    assert (train.model, train.epochs, train.download, train.sync_bn) == ("resnet8", 3, False, True)
    assert (export.overwrite, export.formats, export.quantizations) == (False, ("saved_model", "onnx"), ("int8",))
    assert flags.settings_from(parser.parse_args([]), TrainConfig) == TrainConfig()


@pytest.mark.parametrize("argv, message", [
    (["train", "--epoch=3"], "keras-resnet train: error: unknown flag --epoch; did you mean --epochs?"),
    (["train", "--modle=resnet8"], "keras-resnet train: error: unknown flag --modle; did you mean --model?"),
    (["train", "--dtype=float64"], "argument --dtype: invalid choice: 'float64'"),
    (["train", "--epochs=three"], "argument --epochs: invalid int value: 'three'"),
    (["train", "--download=maybe"], "argument --download/--nodownload: 'maybe' is not true or false"),
    (["tune", "--momentum=abc,0.9"], "argument --momentum: 'abc' is not a float. Received: --momentum=abc,0.9"),
    (["trian"], "keras-resnet: error: unknown command 'trian'; did you mean train? (commands: train, export, "),
    (["exprot"], "keras-resnet: error: unknown command 'exprot'; did you mean export?"),
])
def test_a_mistyped_flag_or_command_is_refused_with_the_nearest_valid_one(argv, message):
    out = run_blocked(*argv)
    assert out.returncode == 2
    assert message in out.stderr
    assert "Traceback" not in out.stderr


def test_version_and_overview():
    out = run_blocked("--version")
    assert (out.returncode, out.stdout) == (0, f"{DISTRIBUTION} {__version__}\n")
    out = run_blocked()
    assert out.returncode == 0
    for name in command.COMMANDS:
        assert f"\n  {name} " in out.stdout


def test_python_dash_m_is_the_command():
    out = subprocess.run([sys.executable, "-m", "keras_resnet", "--version"], capture_output=True, text=True,
                         timeout=60, cwd=ROOT)
    assert (out.returncode, out.stdout) == (0, f"{DISTRIBUTION} {__version__}\n")


def test_a_format_whose_extra_is_missing_is_one_line_naming_the_install(monkeypatch, tmp_path):
    monkeypatch.setitem(__import__("keras_resnet.export.config").export.config.FORMAT_MODULES, "onnx",
                        ("onnxruntime", "no_such_module_for_this_test"))
    config = ExportConfig(export_dir=str(tmp_path / "e"), formats=("onnx",))
    with pytest.raises(extras.MissingExtraError) as raised:
        config.validate()
    assert str(raised.value) == (f'--formats=onnx needs no_such_module_for_this_test (the export extra): '
                                 f'pip install "{DISTRIBUTION}[export]"')
    assert not os.path.exists(tmp_path / "e")
    ExportConfig(export_dir=str(tmp_path / "e"), formats=("saved_model",)).validate()  # its packages are here


def test_require_names_only_the_missing_modules_and_knows_its_extras():
    extras.require("anything", "hub", ["json"])
    with pytest.raises(extras.MissingExtraError, match=r"^save_preset needs nope_a, nope_b \(the hub extra\): "
                                                       r'pip install "resnet-keras\[hub\]"$'):
        extras.require("save_preset", "hub", ["json", "nope_a", "nope_b"])
    with pytest.raises(ValueError, match="Unknown extra 'gpu'; known: export, hub"):
        extras.require("x", "gpu", ["json"])


def test_the_extras_modules_are_what_pyproject_installs():
    """Each extra's modules come from its requirements: the names differ (ai-edge-litert, tensorflow-serving-api)."""
    import tomllib

    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
        project = tomllib.load(f)["project"]
    assert project["name"] == DISTRIBUTION
    requirements = project["optional-dependencies"]
    distributions = {"ai_edge_litert": "ai-edge-litert", "mediapipe": "mediapipe",
                     "tensorflow_serving": "tensorflow-serving-api", "tf2onnx": "tf2onnx", "onnx": "onnx",
                     "onnxruntime": "onnxruntime", "keras_hub": "keras-hub"}
    for extra, modules in extras.EXTRA_MODULES.items():
        names = {r.split(">")[0].split("<")[0].split(";")[0].split("[")[0].strip() for r in requirements[extra]}
        assert {distributions[m] for m in modules} <= names, extra
    core = " ".join(project["dependencies"])
    for heavy in ("keras-hub", "tensorflow-text", "mediapipe", "onnx", "ai-edge-litert"):
        assert heavy not in core
    assert "<2.22" not in core  # no core requirement pins TensorFlow's minor version


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT])
def test_sigterm_and_sigint_end_a_command_in_one_line_naming_the_signal(stop, tmp_path):
    """Here a REST call to a server that accepts and never answers; before, SIGTERM ended it without a word and
    SIGINT with a KeyboardInterrupt traceback."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        from PIL import Image

        image = str(tmp_path / "tiny.png")
        Image.new("L", (4, 4), 100).save(image)
        proc = subprocess.Popen([sys.executable, "-m", "keras_resnet", "predict",
                                 f"--server=http://127.0.0.1:{server.getsockname()[1]}", "--model_name=m",
                                 "--timeout=60", image], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)
        try:
            connection, _ = server.accept()  # the client is waiting for its reply now
            proc.send_signal(stop)
            out, err = proc.communicate(timeout=20)
            connection.close()
        finally:
            proc.kill()
    assert (proc.returncode, err) == (128 + stop, f"stopped by {stop.name}\n")
