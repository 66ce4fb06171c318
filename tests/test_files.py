"""Atomic files, the umask's modes, directory locks and the writable-directory check."""

import json
import os
import subprocess
import sys

import pytest

from keras_resnet import files


def test_atomic_write_keeps_the_old_file_when_the_writer_dies(tmp_path):
    path = str(tmp_path / "run.json")
    files.write_json(path, {"epochs": 1})
    with pytest.raises(KeyboardInterrupt):
        with files.atomic_path(path) as tmp:
            with open(tmp, "w") as f:
                f.write('{"epo')
            raise KeyboardInterrupt("killed while writing")
    assert json.loads(open(path).read()) == {"epochs": 1}
    assert os.listdir(tmp_path) == ["run.json"]


def test_published_files_get_the_umasks_mode_like_any_other_file(tmp_path):
    old = os.umask(0o022)
    try:
        path = files.write_text(str(tmp_path / "labels.txt"), "a\n")
        assert os.stat(path).st_mode & 0o777 == 0o644
        os.umask(0o027)
        assert os.stat(files.write_text(str(tmp_path / "b.txt"), "b\n")).st_mode & 0o777 == 0o640
    finally:
        os.umask(old)


@pytest.mark.slow
def test_a_held_directory_is_refused_naming_the_holder_and_a_killed_holders_lock_does_not_block(tmp_path):
    with files.DirectoryLock(str(tmp_path), "run", "model_dir"):
        with pytest.raises(ValueError, match=rf"--model_dir='{tmp_path}' is in use by a running run \(pid "
                                             rf"{os.getpid()} on .*\): wait for it to end, or pass another "
                                             r"--model_dir"):
            files.DirectoryLock(str(tmp_path), "run", "model_dir").__enter__()
    # A holder killed with SIGKILL leaves its lock file, but not its lock.
    code = (f"import os, signal; from keras_resnet import files; "
            f"files.DirectoryLock({str(tmp_path)!r}, 'run', 'model_dir').__enter__(); "
            f"print('held', flush=True); os.kill(os.getpid(), signal.SIGKILL)")
    killed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert killed.stdout.strip() == "held" and killed.returncode == -9
    with files.DirectoryLock(str(tmp_path), "run", "model_dir") as lock:
        assert lock.fd is not None


def test_an_unusable_directory_is_refused_naming_it(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match=r"--model_dir='.*file': '.*file' is a file, not a directory"):
        files.check_writable_dir(str(tmp_path / "file"), "model_dir")
    with pytest.raises(ValueError, match=r"--export_dir='.*dir' lies under '.*file', which is a file: no directory"):
        files.check_writable_dir(str(tmp_path / "file" / "sub" / "dir"), "export_dir")
    files.check_writable_dir(str(tmp_path / "new" / "dir"), "model_dir")  # made when needed
    assert sorted(os.listdir(tmp_path)) == ["file"]
