"""The run directory (`--model_dir`): its files, its identity, and reading a run back.

Training, tuning and export all go through `RunDir`; no other module knows a
file name of a run. What a run is, its run.json, is a `RunRecord`. Every file it publishes is written under a temporary
name and renamed, so a killed process leaves either the old file or the new
one, never half of one.

    model_dir/
      run.json            what the run is: its identity (the settings that
                          shape its trajectory) plus classes, labels, input
      labels.txt          class names, one a line
      result.json         test loss/accuracy, per-class accuracy, times and
                          paths, once finished
      final.weights.h5    final weights (with the model's identity)
      final.keras         final model (config = spec + options)
      best.weights.h5     best epoch on the validation split
      history.csv, training_curves.png, logs/ (TensorBoard), backup/
      confusion_matrix.png  normalised, with the class names
      errors.png          the most confidently wrong test images
      workers/<i>/        the same, for non-chief workers of a cluster

A search's model_dir (`keras_resnet.search.tuning`):

    model_dir/
      search.json         the settings that shape its trials (a relaunch must match)
      trials.json         a record a trial: values, status, score, each run's worker
                          and times (`keras_resnet.search.trials`); trials.txt, its table
      best_hyperparameters.json, best/ (a run directory of the best model)
      search/             keras-tuner's own state: the oracle, a folder a trial
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
from typing import Any, Dict, Optional, Sequence, Tuple

from keras_resnet.arch.transforms import load_model
from keras_resnet.files import LABELS_FILE, DirectoryLock, atomic_path, remove_leftovers, write_json, write_labels
from keras_resnet.weights.h5_files import save_weights

SEARCH_FILE = "search.json"
TRIALS_FILE = "trials.json"
TRIALS_TABLE = "trials.txt"
RUN_FILE = "run.json"
RESULT_FILE = "result.json"
FINAL_MODEL = "final.keras"
FINAL_WEIGHTS = "final.weights.h5"
BEST_WEIGHTS = "best.weights.h5"
HISTORY_FILE = "history.csv"
CURVES_FILE = "training_curves.png"
CONFUSION_FILE = "confusion_matrix.png"
ERRORS_FILE = "errors.png"
BACKUP_DIR = "backup"
LOGS_DIR = "logs"
WORKERS_DIR = "workers"


def refuse_another_identity(root: str, what: str, saved: dict, identity: dict) -> None:
    """Raise a ValueError naming every setting of `identity` that differs from what `root` recorded.

    Values are compared as their JSON (what the directory recorded).
    """
    now = json.loads(json.dumps(identity, default=list))
    diff = {k: (saved.get(k), v) for k, v in now.items() if saved.get(k) != v}
    if diff:
        described = ", ".join(f"{k}: {a!r} there, {b!r} now" for k, (a, b) in diff.items())
        raise ValueError(
            f"--model_dir={root!r} holds a {what} of another configuration ({described}). A relaunch "
            f"resumes only the same {what}: pass the same flags to resume it, or another --model_dir to "
            f"start a new {what}.")


def check_classes(model_dir: str, recorded: Sequence[str], found: Sequence[str]) -> None:
    """Refuse to resume a run on data whose classes (names and order) are not the ones it was trained on.

    Its outputs are those classes: a class added, removed or renamed would
    shift every label (a renamed folder sorts elsewhere) or change the head.

    Raises:
        ValueError: naming the classes added, removed or renamed, and what to do instead.
    """
    recorded, found = list(recorded), list(found)
    if recorded == found:
        return
    removed = [c for c in recorded if c not in found]
    added = [c for c in found if c not in recorded]
    changes = []
    if len(recorded) == len(found) and removed and len(removed) == len(added):
        moved = [(a, b) for a, b in zip(recorded, found) if a != b and a in removed and b in added]
        if len(moved) == len(removed):
            changes.append("renamed " + ", ".join(f"{a} -> {b}" for a, b in moved))
            removed = added = []
    if added:
        changes.append("added " + ", ".join(added))
    if removed:
        changes.append("removed " + ", ".join(removed))
    if not changes:
        changes.append(f"reordered: {', '.join(found)} (was {', '.join(recorded)})")
    raise ValueError(
        f"--model_dir={model_dir!r} holds a run trained on other classes ({'; '.join(changes)}): a relaunch resumes "
        f"only the same classes. Train a new run with another --model_dir, or fine-tune from this one there with "
        f"--weights={os.path.join(model_dir, FINAL_WEIGHTS)} (a new classifier is made for the new classes).")


def check_search(root: str, identity: dict) -> None:
    """Refuse a search directory that holds a search with other settings (its search.json).

    A search recorded before search.json existed is resumed under the
    current flags, which it then records.
    """
    path = os.path.join(root, SEARCH_FILE)
    if os.path.isfile(path):
        try:
            with open(path) as f:
                saved = json.load(f)
        except (OSError, json.JSONDecodeError) as error:
            raise ValueError(f"{path} is unreadable ({error}): pick another --model_dir, or delete it.") from None
        refuse_another_identity(root, "search", saved, identity)


@dataclasses.dataclass(frozen=True)
class RunRecord:
    """What a run is, as its run.json holds it: written once when the run starts, read back by export.

    Attributes:
        model: the network's name.
        dataset: the data set's name.
        class_names: the class of each output, in order (also in labels.txt).
        data_dir: where the data was read from (None: its default place).
        input_size: the (height, width) the model was trained at.
        channels: the input's channels.
        max_test_examples: the test images the run was evaluated on (None: all).
        settings: the settings that shape a training run's trajectory (its
            identity: recipe, batch size, dtype, seed, ...); a relaunch must match them.
        hyperparameters: a search's best trial's values (a search's best model).
        test_accuracy: a search's best model's test accuracy.
        configuration: the dtype and XLA setting the run trains in and how
            they were chosen (`keras_resnet.train.autotune.Choice.to_json`):
            each candidate's measured speed; a resumed run keeps them.
        budget: a `--time_budget` run's plan and its correction
            (`keras_resnet.train.budget.BudgetPlan.to_json`); a resumed run keeps it.
    """

    model: str
    dataset: str
    class_names: Tuple[str, ...]
    data_dir: Optional[str] = None
    input_size: Optional[Tuple[int, int]] = None
    channels: Optional[int] = None
    max_test_examples: Optional[int] = None
    settings: Dict[str, Any] = dataclasses.field(default_factory=dict)
    hyperparameters: Optional[Dict[str, Any]] = None
    test_accuracy: Optional[float] = None
    configuration: Optional[Dict[str, Any]] = None
    budget: Optional[Dict[str, Any]] = None

    def to_json(self) -> dict:
        """run.json's content: flat, the settings beside the record's own fields, and `classes`."""
        values = {**self.settings, "model": self.model, "dataset": self.dataset, "classes": len(self.class_names),
                  "class_names": list(self.class_names), "data_dir": self.data_dir,
                  "input_size": None if self.input_size is None else list(self.input_size),
                  "channels": self.channels, "max_test_examples": self.max_test_examples}
        for name in ("hyperparameters", "test_accuracy", "configuration", "budget"):
            if getattr(self, name) is not None:
                values[name] = getattr(self, name)
        return values

    @classmethod
    def from_json(cls, values: dict) -> "RunRecord":
        """The record of a run.json (every key that is not a field of the record is a setting)."""
        values = dict(values)
        values.pop("classes", None)
        own = {field.name for field in dataclasses.fields(cls)} - {"settings"}
        fields = {name: values.pop(name) for name in list(values) if name in own}
        fields["class_names"] = tuple(fields.get("class_names", ()))
        if fields.get("input_size") is not None:
            fields["input_size"] = tuple(fields["input_size"])
        return cls(**fields, settings=values)


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

    def lock(self):
        """The chief's hold on the directory for the run (`DirectoryLock`); workers write apart and take none."""
        return DirectoryLock(self.root, "run", "model_dir") if self.is_chief else contextlib.nullcontext()

    # ------------------------------------------------------------ identity

    def record(self) -> Optional[RunRecord]:
        """The run.json of an earlier launch, or None: the one reader of a run record."""
        path = os.path.join(self.root, RUN_FILE)
        if not os.path.isfile(path):
            return None
        try:
            with open(path) as f:
                return RunRecord.from_json(json.load(f))
        except (OSError, json.JSONDecodeError, TypeError, KeyError) as error:
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
        saved = self.record()
        if saved is not None:
            refuse_another_identity(self.root, "run", {**(absent or {}), **saved.to_json()}, identity)

    def start(self, record: RunRecord) -> None:
        """Create the directory, clear a killed writer's leftovers, record the run (chief): the one writer."""
        os.makedirs(self.work, exist_ok=True)
        remove_leftovers(self.work)
        if self.is_chief:
            write_json(os.path.join(self.root, RUN_FILE), record.to_json())
            write_labels(self.root, record.class_names)

    def amend(self, record: RunRecord) -> None:
        """Rewrite run.json with what the run learned of itself after it started (a budget's correction)."""
        if self.is_chief:
            write_json(os.path.join(self.root, RUN_FILE), record.to_json())

    # ------------------------------------------------------------ results

    def save_final(self, model) -> tuple:
        """Publish final.weights.h5 and final.keras atomically; returns their paths."""
        weights_path = save_weights(model, self.path(FINAL_WEIGHTS))
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
        """(final model, its `RunRecord`) of a finished run.

        Raises:
            ValueError: the directory holds no finished run.
        """
        self.check_finished()
        return load_model(os.path.join(self.root, FINAL_MODEL)), self.record()

    def check_finished(self) -> None:
        """Raise a ValueError unless the directory holds a finished run (run.json and final.keras)."""
        if not (os.path.isfile(os.path.join(self.root, RUN_FILE))
                and os.path.isfile(os.path.join(self.root, FINAL_MODEL))):
            raise ValueError(f"{self.root!r} is not a finished scripts/train.py --model_dir "
                             f"(it needs {RUN_FILE} and {FINAL_MODEL}).")
