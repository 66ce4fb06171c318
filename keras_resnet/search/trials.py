"""A search's record of its trials: `trials.json`, one record a trial, and `trials.txt` rendered from it.

Only the process that holds the oracle writes them (the one process of a
single-process search, or the chief of a distributed one), atomically, each
time a trial starts, ends or loses its worker. A record holds the trial's
id, hyperparameters, status and score, and its runs: which worker ran it,
from when to when, and whether that worker was lost before it reported (a
killed worker's trial is run again, by another worker or by the same one
relaunched).
"""

from __future__ import annotations

import datetime
import json
import os
from typing import Optional

import keras_tuner

from keras_resnet.files import write_json, write_text
from keras_resnet.train.run_dir import TRIALS_FILE, TRIALS_TABLE

__all__ = ["TrialsLog", "render"]

REPORTED, LOST = "reported", "lost"


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


@keras_tuner.synchronized
def _trial_states(oracle) -> list:
    """(id, status, score, values) of every trial, read under the oracle's lock (a chief's RPCs change them)."""
    return [(t.trial_id, t.status, t.score, dict(t.hyperparameters.values)) for t in oracle.trials.values()]


class TrialsLog:
    """The runs of a search's trials, written to `root`/trials.json and trials.txt.

    A relaunched search reads the runs recorded before, so a resumed
    search keeps its history.

    Args:
        root: the search's model_dir.
        objective: the metric the search optimises (trials.txt's score column).
        direction: "max" or "min": how trials.txt ranks them.
    """

    def __init__(self, root: str, objective: str, direction: str):
        self.root, self.objective, self.direction = root, objective, direction
        self.runs: dict = {}
        path = os.path.join(root, TRIALS_FILE)
        if os.path.isfile(path):
            with open(path) as f:
                self.runs = {record["trial_id"]: record["runs"] for record in json.load(f)["trials"]}

    def started(self, trial_id: str, worker: str) -> None:
        """A worker starts the trial (a run still open had lost its worker: it is closed as lost)."""
        runs = self.runs.setdefault(trial_id, [])
        if runs and runs[-1]["ended"] is None:
            self.ended(trial_id, LOST)
        runs.append(dict(worker=worker, started=_now(), ended=None, outcome=None))

    def ended(self, trial_id: str, outcome: str = REPORTED) -> None:
        """The trial's open run ends: its worker `REPORTED` the result, or was `LOST` before it did."""
        runs = self.runs.get(trial_id)
        if runs and runs[-1]["ended"] is None:
            runs[-1].update(ended=_now(), outcome=outcome)

    def worker(self, trial_id: str) -> Optional[str]:
        """The worker running the trial now (None when no run is open)."""
        runs = self.runs.get(trial_id)
        return runs[-1]["worker"] if runs and runs[-1]["ended"] is None else None

    def records(self, oracle) -> list:
        """One record a trial of `oracle`, by id: its values, status, score and runs."""
        records = []
        for trial_id, status, score, values in sorted(_trial_states(oracle), key=lambda state: _order(state[0])):
            runs = self.runs.get(trial_id, [])
            last = runs[-1] if runs else {}
            records.append(dict(trial_id=trial_id, status=status, score=score, hyperparameters=values,
                                worker=last.get("worker"), started=last.get("started"), ended=last.get("ended"),
                                runs=runs))
        return records

    def write(self, oracle) -> list:
        """Write trials.json and trials.txt (atomically) from `oracle`'s trials; returns the records."""
        records = self.records(oracle)
        write_json(os.path.join(self.root, TRIALS_FILE),
                   dict(objective=self.objective, direction=self.direction, trials=records))
        write_text(os.path.join(self.root, TRIALS_TABLE), render(records, self.objective, self.direction) + "\n")
        return records


def _order(trial_id: str) -> tuple:
    """keras-tuner's ids are numbers, zero-padded to the width of max_trials (which a relaunch may raise)."""
    return (0, int(trial_id), "") if trial_id.isdigit() else (1, 0, trial_id)


def _minutes(record: dict) -> str:
    if not record["started"] or not record["ended"]:
        return "-"
    start, end = (datetime.datetime.fromisoformat(record[k]) for k in ("started", "ended"))
    return f"{(end - start).total_seconds() / 60:.1f}"


def render(records: list, objective: str, direction: str) -> str:
    """The trials as a table: completed ones best first, then the rest by id.

    Columns: trial, the objective, status, the worker of its last run, that
    run's minutes, then every hyperparameter.
    """
    scored = [r for r in records if r["status"] == "COMPLETED" and r["score"] is not None]
    scored.sort(key=lambda r: r["score"], reverse=direction == "max")
    rest = sorted((r for r in records if r not in scored), key=lambda r: _order(r["trial_id"]))
    keys = sorted({k for r in records for k in r["hyperparameters"]})
    lines = [" | ".join(["trial", objective, "status", "worker", "minutes"] + keys)]
    for r in scored + rest:
        score = "-" if r["score"] is None else f"{r['score']:.4f}"
        values = [f"{v:.4g}" if isinstance(v, float) else str(v)
                  for v in (r["hyperparameters"].get(k, "") for k in keys)]
        lines.append(" | ".join([r["trial_id"], score, r["status"], str(r["worker"] or "-"), _minutes(r)] + values))
    return "\n".join(lines)
