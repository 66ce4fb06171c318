"""The run directory (`--model_dir`): its files, its identity, and reading a run back.

Training, tuning and export all go through `RunDir`; no other module knows a
file name of a run. Every file it publishes is written under a temporary
name and renamed, so a killed process leaves either the old file or the new
one, never half of one.

    model_dir/
      run.json            what the run is: its identity (the settings that
                          shape its trajectory) plus classes, labels, input
      labels.txt          class names, one a line
      result.json         test loss/accuracy and paths, once finished
      final.weights.h5    final weights (with the model's identity)
      final.keras         final model (config = spec + options)
      best.weights.h5     best epoch on the validation split
      history.csv, training_curves.png, logs/ (TensorBoard), backup/
      workers/<i>/        the same, for non-chief workers of a cluster
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import tempfile
from typing import Any, Optional, Sequence

RUN_FILE = "run.json"
RESULT_FILE = "result.json"
LABELS_FILE = "labels.txt"
FINAL_MODEL = "final.keras"
FINAL_WEIGHTS = "final.weights.h5"
BEST_WEIGHTS = "best.weights.h5"
HISTORY_FILE = "history.csv"
CURVES_FILE = "training_curves.png"
BACKUP_DIR = "backup"
LOGS_DIR = "logs"
WORKERS_DIR = "workers"
TMP_PREFIX = ".tmp-"


@contextlib.contextmanager
def atomic_path(path: str, suffix: str = ""):
    """Yield a temporary path beside `path`; rename it onto `path` on success.

    On an exception the temporary file is removed and `path` is untouched.
    `suffix` keeps an extension a writer insists on (".weights.h5").
    """
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=TMP_PREFIX, suffix=suffix or os.path.splitext(path)[1], dir=directory)
    os.close(fd)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def write_text(path: str, text: str) -> str:
    """Write `text` to `path` atomically."""
    with atomic_path(path) as tmp:
        with open(tmp, "w") as f:
            f.write(text)
    return path


def labels_text(labels: Sequence[str]) -> str:
    """The content of a labels file: one class name a line, line i = class id i."""
    return "".join(f"{label}\n" for label in labels)


def write_labels(directory: str, labels: Sequence[str]) -> str:
    """Write `directory`/labels.txt atomically; returns its path."""
    return write_text(os.path.join(directory, LABELS_FILE), labels_text(labels))


def write_json(path: str, value: Any) -> str:
    """Write `value` as indented JSON to `path` atomically."""
    return write_text(path, json.dumps(value, indent=2, default=list) + "\n")


def remove_leftovers(directory: str) -> list:
    """Delete the temporary files a killed writer left in `directory`; returns them."""
    found = sorted(glob.glob(os.path.join(directory, TMP_PREFIX + "*")))
    for path in found:
        if os.path.isfile(path):
            os.remove(path)
    return found


class RunDir:
    """One run's directory, as seen by one process of a (possibly distributed) run.

    Args:
        root: the `--model_dir`.
        is_chief: the chief writes `root`; other workers write
            `root/workers/<task_index>` (two processes saving one file corrupt it).
        task_index: this worker's index.
    """

    def __init__(self, root: str, is_chief: bool = True, task_index: int = 0):
        self.root = root
        self.is_chief = is_chief
        self.work = root if is_chief else os.path.join(root, WORKERS_DIR, str(task_index))

    def path(self, name: str) -> str:
        """Where this process writes `name`."""
        return os.path.join(self.work, name)

    # ------------------------------------------------------------ identity

    def read_run(self) -> Optional[dict]:
        """The run.json of an earlier launch, or None."""
        path = os.path.join(self.root, RUN_FILE)
        if not os.path.isfile(path):
            return None
        try:
            with open(path) as f:
                return json.load(f)
        except (OSError, json.JSONDecodeError) as error:
            raise ValueError(f"{path} is unreadable ({error}): pick another --model_dir, or delete it.") from None

    def check_identity(self, identity: dict, absent: Optional[dict] = None) -> None:
        """Refuse a directory that holds a run with other settings.

        Args:
            identity: the settings that shape this run's trajectory.
            absent: settings added after older runs were recorded, each with
                the value those runs had (their run.json lacks the key).

        Raises:
            ValueError: naming every setting that differs, before any work.
        """
        saved = self.read_run()
        if saved is None:
            return
        saved = {**(absent or {}), **saved}
        diff = {k: (saved.get(k), v) for k, v in identity.items() if saved.get(k) != v}
        if diff:
            described = ", ".join(f"{k}: {a!r} there, {b!r} now" for k, (a, b) in diff.items())
            raise ValueError(
                f"--model_dir={self.root!r} holds a run of another configuration ({described}). A relaunch "
                "resumes only the same run: pass the same flags to resume it, or another --model_dir to "
                "start a new run.")

    def start(self, run_info: dict, class_names: Sequence[str]) -> None:
        """Create the directory, clear a killed writer's leftovers, record the run (chief)."""
        os.makedirs(self.work, exist_ok=True)
        remove_leftovers(self.work)
        if self.is_chief:
            write_json(os.path.join(self.root, RUN_FILE), run_info)
            write_labels(self.root, class_names)

    # ------------------------------------------------------------ results

    def save_final(self, model) -> tuple:
        """Publish final.weights.h5 and final.keras atomically; returns their paths."""
        from keras_resnet import weights

        weights_path = weights.save_weights(model, self.path(FINAL_WEIGHTS))
        model_path = self.path(FINAL_MODEL)
        with atomic_path(model_path, suffix=".keras") as tmp:
            model.save(tmp)
        return weights_path, model_path

    def write_result(self, result: dict) -> str:
        return write_json(self.path(RESULT_FILE), result)

    # ------------------------------------------------------------ reading back

    def is_finished(self) -> bool:
        return os.path.isfile(os.path.join(self.root, RESULT_FILE))

    def labels(self) -> Optional[list]:
        path = os.path.join(self.root, LABELS_FILE)
        if not os.path.isfile(path):
            return None
        with open(path) as f:
            return f.read().splitlines()

    def load(self) -> tuple:
        """(final model, run.json) of a finished run.

        Raises:
            ValueError: the directory holds no finished run.
        """
        from keras_resnet import models

        run = self.read_run()
        model_path = os.path.join(self.root, FINAL_MODEL)
        if run is None or not os.path.isfile(model_path):
            raise ValueError(f"{self.root!r} is not a finished scripts/train.py --model_dir "
                             f"(it needs {RUN_FILE} and {FINAL_MODEL}).")
        return models.load_model(model_path), run
