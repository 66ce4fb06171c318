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

SEARCH_FILE = "search.json"
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
LOCK_FILE = ".lock"


def check_writable_dir(path: str, flag: str, given: Optional[str] = None) -> None:
    """Refuse, before any work, a directory the user named that cannot be written.

    Args:
        path: the directory (it need not exist yet).
        flag: the flag that named it, for the message.
        given: the flag's value, where it names a file in `path`.

    Raises:
        ValueError: one line naming the path and what is wrong: it is a file,
            it lies under a file, or this user may not write where it would be.
    """
    named = f"--{flag}={given if given is not None else path!r}"
    target = os.path.abspath(path)
    if os.path.exists(target) and not os.path.isdir(target):
        raise ValueError(f"{named}: {path!r} is a file, not a directory: name a directory (it is made if missing).")
    existing = target
    while not os.path.exists(existing):
        existing = os.path.dirname(existing)
    if not os.path.isdir(existing):
        raise ValueError(f"{named} lies under {existing!r}, which is a file: no directory can be made there.")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ValueError(f"{named}: {existing!r} is not writable by this user.")


def file_mode() -> int:
    """The mode a new file gets from this process's umask (0644 under 022), as `open` gives it."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return 0o666 & ~int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)  # elsewhere the umask is read by setting it
    os.umask(mask)
    return 0o666 & ~mask


@contextlib.contextmanager
def atomic_path(path: str, suffix: str = ""):
    """Yield a temporary path beside `path`; rename it onto `path` on success.

    On an exception the temporary file is removed and `path` is untouched.
    `suffix` keeps an extension a writer insists on (".weights.h5"). The
    published file has the mode the umask gives (mkstemp's is 0600), so a
    server or an app build running as another user can read it.
    """
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=TMP_PREFIX, suffix=suffix or os.path.splitext(path)[1], dir=directory)
    os.close(fd)
    try:
        yield tmp
        os.chmod(tmp, file_mode())
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


class DirectoryLock:
    """One process's exclusive hold on a directory: a run's, a search's or an export's.

    An advisory `flock` on `<directory>/.lock`, which records the holder's
    pid, host and start. The kernel releases the lock when the process ends
    however it ends, so a killed run's lock never blocks its resume (a lock
    cannot go stale); a second launch while the first runs is refused at once,
    naming the first. A holder that ends having written nothing (a start
    that failed) leaves no lock file, nor the directories it made for it.

    Args:
        directory: the directory to hold (created if missing).
        what: what holds it, for the message ("run", "search", "export").
        flag: the flag that names the directory, for the message.
    """

    def __init__(self, directory: str, what: str, flag: str):
        self.directory, self.what, self.flag = directory, what, flag
        self.fd, self.made = None, []

    def __enter__(self) -> "DirectoryLock":
        import fcntl
        import socket
        import time

        missing = os.path.abspath(self.directory)
        while not os.path.exists(missing):
            self.made.append(missing)
            missing = os.path.dirname(missing)
        os.makedirs(self.directory, exist_ok=True)
        fd = os.open(os.path.join(self.directory, LOCK_FILE), os.O_RDWR | os.O_CREAT, file_mode())
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 512).decode(errors="replace").strip() or "another process"
            os.close(fd)
            self.made = []
            raise ValueError(f"--{self.flag}={self.directory!r} is in use by a running {self.what} ({holder}): "
                             f"wait for it to end, or pass another --{self.flag}.") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"pid {os.getpid()} on {socket.gethostname()}, since "
                     f"{time.strftime('%Y-%m-%d %H:%M:%S')}\n".encode())
        self.fd = fd
        return self

    def __exit__(self, *exc) -> None:
        import fcntl

        if os.listdir(self.directory) == [LOCK_FILE]:  # nothing was written: leave nothing behind
            os.remove(os.path.join(self.directory, LOCK_FILE))
            for made in self.made:  # deepest first; one another process has written to stays
                with contextlib.suppress(OSError):
                    os.rmdir(made)
        fcntl.flock(self.fd, fcntl.LOCK_UN)
        os.close(self.fd)
        self.fd = None


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
        if saved is not None:
            refuse_another_identity(self.root, "run", {**(absent or {}), **saved}, identity)

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

        self.check_finished()
        return models.load_model(os.path.join(self.root, FINAL_MODEL)), self.read_run()

    def check_finished(self) -> None:
        """Raise a ValueError unless the directory holds a finished run (run.json and final.keras)."""
        if not (os.path.isfile(os.path.join(self.root, RUN_FILE))
                and os.path.isfile(os.path.join(self.root, FINAL_MODEL))):
            raise ValueError(f"{self.root!r} is not a finished scripts/train.py --model_dir "
                             f"(it needs {RUN_FILE} and {FINAL_MODEL}).")
