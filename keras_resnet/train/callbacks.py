"""The callbacks of every training run: a loud stop on a NaN loss, a backup that survives a kill mid-write, and a
history published whole each epoch."""

from __future__ import annotations

import csv
import io
import json
import math
import os

import keras

from keras_resnet.files import write_text

__all__ = ["NonFiniteLossError", "StopOnNonFiniteLoss", "Backup", "HistoryLog"]


class NonFiniteLossError(FloatingPointError):
    """The training loss became NaN or Inf."""


class StopOnNonFiniteLoss(keras.callbacks.Callback):
    """Raise as soon as the loss is NaN/Inf.

    Raising (rather than keras.callbacks.TerminateOnNaN's stop flag) ends
    `fit` before epoch-end callbacks run, so BackupAndRestore keeps the last
    good epoch instead of backing up NaN weights.
    """

    def __init__(self, backup_dir: str, model_dir: str):
        super().__init__()
        self.backup_dir, self.model_dir = backup_dir, model_dir
        self.epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is None or math.isfinite(float(loss)):
            return
        where = f"Training loss became {float(loss)} at epoch {self.epoch + 1}, step {batch + 1}. Stopped; "
        # A relaunch on the same model_dir must keep every setting, so a lower rate needs a new directory.
        advice = (f"to train with a lower rate, relaunch with a smaller --learning_rate and a new --model_dir "
                  f"({self.model_dir!r} resumes only these settings)")
        if os.path.isdir(self.backup_dir) and os.listdir(self.backup_dir):
            raise NonFiniteLossError(
                where + f"the last good epoch is kept in {self.backup_dir}, and the same command resumes from "
                f"it (after checking the data); {advice}.")
        raise NonFiniteLossError(
            where + f"no epoch had finished, so there is no backup; {advice}, or check the data.")


class Backup(keras.callbacks.BackupAndRestore):
    """Keras's BackupAndRestore, keeping the previous epoch's backup beside the latest.

    Keras writes the backup in place, so a kill mid-write leaves it damaged;
    with `double_checkpoint` Keras then resumes from the epoch before. A
    backup damaged beyond that is named, with how to start over, instead of
    h5py's or json's own error.
    """

    def __init__(self, backup_dir: str):
        super().__init__(backup_dir, delete_checkpoint=False, double_checkpoint=True)

    def on_train_begin(self, logs=None):
        try:
            super().on_train_begin(logs)
        except (OSError, json.JSONDecodeError) as error:
            reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            raise ValueError(f"The run's backup in {self.backup_dir} is damaged ({reason}), and so is the one "
                             f"before it: the run cannot resume. Delete {self.backup_dir} to start it over in "
                             "the same --model_dir, or pass another --model_dir.") from None


class HistoryLog(keras.callbacks.Callback):
    """keras.callbacks.CSVLogger's history.csv (epoch, then the logs' keys sorted; a resumed run appends), each
    epoch's file published whole.

    CSVLogger appends to an open file, so a kill just after an epoch's backup
    could leave the file empty or cut mid-row; here every epoch rewrites the
    file under a temporary name and renames it (`keras_resnet.files.write_text`).
    """

    def __init__(self, path: str):
        super().__init__()
        self.path = path

    def on_epoch_end(self, epoch, logs=None):
        logs = dict(logs or {})
        rows = []
        if os.path.isfile(self.path):
            with open(self.path, newline="") as f:
                rows = [row for row in csv.reader(f) if row]
        header = rows[0] if rows else ["epoch", *sorted(logs)]
        if not rows:
            rows = [header]
        rows.append([str(epoch)] + [str(logs[k]) if k in logs else "NA" for k in header[1:]])
        text = io.StringIO()
        csv.writer(text, lineterminator="\n").writerows(rows)
        write_text(self.path, text.getvalue())
