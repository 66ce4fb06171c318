"""The run directory: its record written and read back, leftovers cleared, identity checked."""

import json
import os

import pytest

from keras_resnet.files import write_json
from keras_resnet.train import run_dir


def test_leftovers_of_a_killed_writer_are_removed_on_start_and_the_record_reads_back_as_written(tmp_path):
    (tmp_path / ".tmp-abc.weights.h5").write_bytes(b"half")
    (tmp_path / "history.csv").write_text("epoch\n0\n")
    run = run_dir.RunDir(str(tmp_path))
    record = run_dir.RunRecord(model="resnet8", dataset="mnist", class_names=("a", "b"), input_size=(28, 28),
                               channels=1, max_test_examples=40, settings={"recipe": "fast", "batch_size": 32})
    run.start(record)
    assert sorted(os.listdir(tmp_path)) == ["history.csv", "labels.txt", "run.json"]
    assert run.labels() == ["a", "b"] and run.record() == record
    assert json.loads((tmp_path / "run.json").read_text()) == {
        "recipe": "fast", "batch_size": 32, "model": "resnet8", "dataset": "mnist", "classes": 2,
        "class_names": ["a", "b"], "data_dir": None, "input_size": [28, 28], "channels": 1, "max_test_examples": 40}


def test_a_damaged_record_is_named_with_what_to_do(tmp_path):
    (tmp_path / "run.json").write_text('{"model": "resnet8"')
    with pytest.raises(ValueError, match=r"run.json is unreadable .*: pick another --model_dir, or delete it"):
        run_dir.RunDir(str(tmp_path)).record()


def test_identity_check_names_every_difference_and_writes_nothing(tmp_path):
    write_json(str(tmp_path / "run.json"), {"model": "resnet8", "dataset": "mnist", "class_names": ["a"],
                                            "recipe": "fast", "batch_size": 32})
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


def test_class_changes_are_named():
    run_dir.check_classes("r", ["a", "b"], ["a", "b"])
    with pytest.raises(ValueError, match=r"\(removed b\)"):
        run_dir.check_classes("r", ["a", "b"], ["a"])
    with pytest.raises(ValueError, match=r"\(added c; removed b, e\)"):
        run_dir.check_classes("r", ["a", "b", "e"], ["a", "c"])
    with pytest.raises(ValueError, match=r"\(reordered: b, a \(was a, b\)\)"):
        run_dir.check_classes("r", ["a", "b"], ["b", "a"])
