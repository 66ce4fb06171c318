"""Scripts' flags come from the settings dataclasses; the main job's output is quiet."""

import dataclasses
import os
import re
import subprocess
import sys

import pytest

from keras_resnet import settings
from keras_resnet.train import autotune
from keras_resnet.train.config import TrainConfig
from keras_resnet.search.tuning import SearchSpace, TuneConfig

from helpers import make_idx_dataset, run_script

pytestmark = pytest.mark.slow  # end-to-end: scripts, training, export, search or experiments



def script(name, *args, env=None, timeout=300):
    return run_script(name, *args, env=env, timeout=timeout, tf_logs=True)  # as a user's shell: the script decides


def test_every_setting_is_a_flag_of_the_scripts_help():
    """The scripts are aliases of the command: their --help is its, exit 0, TensorFlow's and absl's flags absent."""
    out = script("train.py", "--help")
    assert out.returncode == 0 and out.stdout.startswith("usage: keras-resnet train [flags]")
    for field in dataclasses.fields(TrainConfig):
        if field.metadata.get("flag", True):
            assert f"--{field.name}=" in out.stdout or f"--[no]{field.name} " in out.stdout, field.name
    tune = script("tune.py", "--help").stdout
    for cls in (TuneConfig, SearchSpace):
        for field in dataclasses.fields(cls):
            if field.metadata.get("flag", True):
                assert f"--{field.name}=" in tune or f"--[no]{field.name} " in tune, field.name
    assert "--helpfull" not in out.stdout + tune


def test_a_bad_list_value_names_its_flag(tmp_path):
    out = script("tune.py", "--momentum=abc,0.9", f"--model_dir={tmp_path / 'x'}")
    assert out.returncode == 2  # a usage error, as argparse reports them
    assert "error: argument --momentum: 'abc' is not a float. Received: --momentum=abc,0.9" in out.stderr
    assert not os.path.exists(tmp_path / "x")


def test_an_unknown_export_format_is_refused_before_training(tmp_path):
    out = script("train.py", "--model=resnet8", "--formats=saved_model,pdf", f"--model_dir={tmp_path / 'x'}",
                 f"--export_dir={tmp_path / 'e'}")
    assert out.returncode == 1
    assert "--formats takes one or more of saved_model, tflite, onnx. Received: formats=saved_model,pdf" in out.stderr
    assert not os.path.exists(tmp_path / "x") and not os.path.exists(tmp_path / "e")


def test_a_second_launch_on_a_held_model_dir_is_refused_at_once(tmp_path):
    from keras_resnet import files

    with files.DirectoryLock(str(tmp_path / "run"), "run", "model_dir"):
        out = script("train.py", "--model=resnet8", f"--model_dir={tmp_path / 'run'}", "--dataset=mnist",
                     f"--data_dir={tmp_path / 'no_data_read'}")
        assert sorted(os.listdir(tmp_path / "run")) == [".lock"]  # the refused launch wrote nothing
    assert out.returncode == 1 and "Traceback" not in out.stderr
    assert f"is in use by a running run (pid {os.getpid()} on " in out.stderr
    assert not os.path.exists(tmp_path / "run")  # nor did the holder, which made the directory: none is left


def test_path_mistakes_are_one_line_errors_naming_the_path(tmp_path):
    (tmp_path / "file").write_text("x")
    out = script("export.py", f"--model_dir={tmp_path}", f"--export_dir={tmp_path / 'file' / 'exports'}")
    assert out.returncode == 1 and "Traceback" not in out.stderr
    assert f"error: --export_dir='{tmp_path / 'file' / 'exports'}' lies under '{tmp_path / 'file'}', which is a " \
           "file" in out.stderr
    # An OSError on a path that no check foresaw still reaches the user as one line naming it.
    code = ("import os, sys; from keras_resnet import cli\n"
            f"def main(): os.makedirs({str(tmp_path / 'file' / 'x')!r})\n"
            "sys.exit(cli.run(main))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 1 and out.stderr.strip() == f"error: {tmp_path / 'file' / 'x'}: Not a directory"


def test_the_main_job_prints_no_tensorflow_logs_unless_asked(tmp_path):
    data = make_idx_dataset(str(tmp_path / "data"), num_train=64, num_test=16)
    common = ["--model=resnet8", "--dataset=mnist", f"--data_dir={data}", "--train_steps=1", "--batch_size=16",
              "--verbose=0", "--nodownload", "--max_test_examples=16"]
    quiet = script("train.py", *common, f"--model_dir={tmp_path / 'quiet'}", f"--export_dir={tmp_path / 'exp'}",
                   "--formats=saved_model,tflite,onnx")
    assert quiet.returncode == 0, quiet.stderr[-3000:]
    assert quiet.stderr == "", quiet.stderr[-3000:]
    lines = quiet.stdout.splitlines()
    assert lines[0].startswith("resnet8 on mnist: 58 train images (28, 28), batch 16 over 1 replica(s)"), lines
    assert lines[1].startswith("resnet8 on mnist: test loss") and lines[2].startswith("Exporting resnet8")
    assert lines[2].endswith("each artifact verified on 16 images and evaluated on 16 test images")
    assert lines[3].split() == ["artifact", "max", "|diff|", "top-1", "agree", "tolerance", "test", "acc", "vs",
                                "Keras", "path"]
    assert len(lines) == 11, lines  # the table: a header, six artifacts and the Keras model's accuracy
    onnx_file = str(tmp_path / "exp" / "onnx" / "resnet8" / "resnet8.onnx")
    assert lines[9].startswith("onnx ") and lines[9].endswith(onnx_file)
    assert lines[10].startswith("test acc: top-1 on the run's 16 test images; the Keras model itself: ")
    # Asked for with --verbosity, TensorFlow's own lines appear (here before a bad flag's one-line error).
    loud = script("train.py", "--model=resnet9", f"--model_dir={tmp_path / 'loud'}", "--verbosity=0")
    assert loud.returncode == 1 and loud.stderr.splitlines()[-1].startswith("error: Unknown model 'resnet9'")
    assert len(loud.stderr.splitlines()) > 1


@pytest.mark.parametrize("field", [f for f in dataclasses.fields(TrainConfig) if f.metadata.get("choices")],
                         ids=lambda f: f.name)
def test_a_choice_flag_refuses_anything_else_naming_every_choice(field, tmp_path):
    # That each choice is accepted and runs is test_each_choice_is_one_the_library_runs's: the check reads the
    # same list, so accepting it here could not fail.
    base = TrainConfig(model_dir=str(tmp_path))
    with pytest.raises(ValueError, match=f"Unknown {field.name} 'bogus'; known: "
                                         f"{re.escape(', '.join(map(str, field.metadata['choices'])))}$"):
        settings.validate(dataclasses.replace(base, **{field.name: "bogus"}))


def test_each_choice_is_one_the_library_runs():
    import keras

    from keras_resnet.data import pipelines
    from keras_resnet.train import recipes

    fields = {f.name: f.metadata["choices"] for f in dataclasses.fields(TrainConfig) if f.metadata.get("choices")}
    assert set(fields) == {"strategy", "recipe", "augmentation", "dtype", "xla", "tta"}
    for name in fields["recipe"]:
        assert recipes.get_recipe(name).name == name
    for name in fields["augmentation"]:
        assert callable(pipelines.train_transform(name, (32, 32)))
    for name in fields["dtype"]:  # auto's candidates included, on any hardware
        for candidate in autotune.candidates(name, "auto", gpu=True, native_bfloat16=True):
            assert keras.dtype_policies.get(candidate.dtype).name in fields["dtype"]
    assert {c.xla for c in autotune.candidates("float32", "auto", gpu=False, native_bfloat16=False)} == {False, True}
    assert [c.xla for name in ("on", "off") for c in autotune.candidates("float32", name, False, False)] == [
        True, False]
    assert fields["tta"] == ("none", "flip")

