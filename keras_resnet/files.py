"""Files written so that a killed process leaves the old file or the new one, never half of one; directory locks;
and the check that a directory the user named can be written.

No TensorFlow, no Keras: the REST client and the LiteRT runner use it too.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import shutil
import tempfile
from typing import Any, Optional, Sequence

LABELS_FILE = "labels.txt"  # class names, one a line, line i = class id i: runs, exports, apps
TMP_PREFIX = ".tmp-"
OLD_PREFIX = ".old-"  # a published folder being replaced (`staged_dir`)
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


def _umask() -> int:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)  # elsewhere the umask is read by setting it
    os.umask(mask)
    return mask


def file_mode() -> int:
    """The mode a new file gets from this process's umask (0644 under 022), as `open` gives it."""
    return 0o666 & ~_umask()


def dir_mode() -> int:
    """The mode a new directory gets from this process's umask (0755 under 022), as `os.makedirs` gives it.

    A directory made by `tempfile.mkdtemp` (0700) and published by a rename takes this first.
    """
    return 0o777 & ~_umask()


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
    """Delete the temporary files and staging directories a killed writer left in `directory`; returns them."""
    found = sorted(glob.glob(os.path.join(directory, TMP_PREFIX + "*"))
                   + glob.glob(os.path.join(directory, OLD_PREFIX + "*")))
    for path in found:
        if os.path.isdir(path):
            shutil.rmtree(path, ignore_errors=True)
        elif os.path.exists(path):
            os.remove(path)
    return found


@contextlib.contextmanager
def staged_dir(final: str):
    """Yield an empty staging directory beside `final`; on success it replaces `final`, whole.

    For what is published as a folder of files that belong together (an
    export format's files and their labels): an exception, a full disk or a
    kill before the end leaves `final` as it was (a killed writer's staging
    folder is removed by the next one). An `OSError` that names no file (a full
    disk in a library's writer) is raised naming `final`.
    """
    final = os.path.abspath(final)
    parent = os.path.dirname(final)
    os.makedirs(parent, exist_ok=True)
    remove_leftovers(parent)
    staging = tempfile.mkdtemp(prefix=f"{TMP_PREFIX}{os.path.basename(final)}-", dir=parent)
    try:
        try:
            yield staging
        except OSError as error:
            if error.filename is None:
                raise OSError(error.errno, error.strerror or str(error), final) from error
            raise
        os.chmod(staging, dir_mode())  # mkdtemp's 0700 would hide the folder from other users
        if os.path.exists(final):
            old = tempfile.mkdtemp(prefix=f"{OLD_PREFIX}{os.path.basename(final)}-", dir=parent)
            os.rename(final, os.path.join(old, "previous"))
            os.rename(staging, final)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(staging, final)
    finally:
        if os.path.exists(staging):
            shutil.rmtree(staging, ignore_errors=True)


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
