"""The run directory: atomic files, leftovers cleared, identity checked."""

import json
import os
import subprocess
import sys

import pytest

from keras_resnet import run_dir


def test_atomic_write_keeps_the_old_file_when_the_writer_dies(tmp_path):
    path = str(tmp_path / "run.json")
    run_dir.write_json(path, {"epochs": 1})
    with pytest.raises(KeyboardInterrupt):
        with run_dir.atomic_path(path) as tmp:
            with open(tmp, "w") as f:
                f.write('{"epo')
            raise KeyboardInterrupt("killed while writing")
    assert json.loads(open(path).read()) == {"epochs": 1}
    assert os.listdir(tmp_path) == ["run.json"]


def test_leftovers_of_a_killed_writer_are_removed_on_start(tmp_path):
    (tmp_path / ".tmp-abc.weights.h5").write_bytes(b"half")
    (tmp_path / "history.csv").write_text("epoch\n0\n")
    run = run_dir.RunDir(str(tmp_path))
    run.start({"model": "resnet8"}, ["a", "b"])
    assert sorted(os.listdir(tmp_path)) == ["history.csv", "labels.txt", "run.json"]
    assert run.labels() == ["a", "b"] and run.read_run() == {"model": "resnet8"}


def test_identity_check_names_every_difference_and_writes_nothing(tmp_path):
    run_dir.write_json(str(tmp_path / "run.json"), {"model": "resnet8", "recipe": "fast", "batch_size": 32})
    before = sorted(os.listdir(tmp_path))
    run = run_dir.RunDir(str(tmp_path))
    run.check_identity({"model": "resnet8", "recipe": "fast", "batch_size": 32})  # the same run: fine
    with pytest.raises(ValueError, match=r"recipe: 'fast' there, 'cifar' now, batch_size: 32 there, 64 now.*"
                                         r"another --model_dir to start a new run"):
        run.check_identity({"model": "resnet8", "recipe": "cifar", "batch_size": 64})
    assert sorted(os.listdir(tmp_path)) == before


def test_workers_write_apart_and_unfinished_runs_do_not_load(tmp_path):
    worker = run_dir.RunDir(str(tmp_path), is_chief=False, task_index=2)
    assert worker.path("final.keras") == str(tmp_path / "workers" / "2" / "final.keras")
    with pytest.raises(ValueError, match="is not a finished scripts/train.py --model_dir"):
        run_dir.RunDir(str(tmp_path)).load()


def test_published_files_get_the_umasks_mode_like_any_other_file(tmp_path):
    old = os.umask(0o022)
    try:
        path = run_dir.write_text(str(tmp_path / "labels.txt"), "a\n")
        assert os.stat(path).st_mode & 0o777 == 0o644
        os.umask(0o027)
        assert os.stat(run_dir.write_text(str(tmp_path / "b.txt"), "b\n")).st_mode & 0o777 == 0o640
    finally:
        os.umask(old)


def test_a_held_directory_is_refused_naming_the_holder_and_a_killed_holders_lock_does_not_block(tmp_path):
    with run_dir.DirectoryLock(str(tmp_path), "run", "model_dir"):
        with pytest.raises(ValueError, match=rf"--model_dir='{tmp_path}' is in use by a running run \(pid "
                                             rf"{os.getpid()} on .*\): wait for it to end, or pass another "
                                             r"--model_dir"):
            run_dir.DirectoryLock(str(tmp_path), "run", "model_dir").__enter__()
    # A holder killed with SIGKILL leaves its lock file, but not its lock.
    code = (f"import os, signal; from keras_resnet import run_dir; "
            f"run_dir.DirectoryLock({str(tmp_path)!r}, 'run', 'model_dir').__enter__(); "
            f"print('held', flush=True); os.kill(os.getpid(), signal.SIGKILL)")
    killed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert killed.stdout.strip() == "held" and killed.returncode == -9
    with run_dir.DirectoryLock(str(tmp_path), "run", "model_dir") as lock:
        assert lock.fd is not None


def test_an_unusable_directory_is_refused_naming_it(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match=r"--model_dir='.*file': '.*file' is a file, not a directory"):
        run_dir.check_writable_dir(str(tmp_path / "file"), "model_dir")
    with pytest.raises(ValueError, match=r"--export_dir='.*dir' lies under '.*file', which is a file: no directory"):
        run_dir.check_writable_dir(str(tmp_path / "file" / "sub" / "dir"), "export_dir")
    run_dir.check_writable_dir(str(tmp_path / "new" / "dir"), "model_dir")  # made when needed
    assert sorted(os.listdir(tmp_path)) == ["file"]
