"""The search's trial record: runs kept across a relaunch, and the table rendered from it."""

import keras_tuner

from keras_resnet.search.trials import LOST, TrialsLog, render


def oracle_with_trials(directory, scores):
    def build(hp):
        hp.Float("x", 0.0, 1.0)

    tuner = keras_tuner.RandomSearch(hypermodel=build, objective=keras_tuner.Objective("val_loss", "min"),
                                     max_trials=9, directory=str(directory), project_name="search", seed=1)
    for score in scores:
        trial = tuner.oracle.create_trial("tuner0")
        if score is not None:
            tuner.oracle.update_trial(trial.trial_id, {"val_loss": score})
            trial.status = "COMPLETED"
            tuner.oracle.end_trial(trial)
    return tuner.oracle


def test_the_log_keeps_every_run_across_a_relaunch_and_ranks_by_the_objectives_direction(tmp_path):
    oracle = oracle_with_trials(tmp_path, [0.9, 0.2, None])
    log = TrialsLog(str(tmp_path), "val_loss", "min")
    log.started("0", "w0")
    log.ended("0", LOST)
    log.started("0", "w1")
    log.ended("0")
    log.started("1", "w1")
    log.ended("1")
    log.started("2", "w0")
    records = log.write(oracle)
    assert [(r["trial_id"], r["status"], r["worker"]) for r in records] == [
        ("0", "COMPLETED", "w1"), ("1", "COMPLETED", "w1"), ("2", "RUNNING", "w0")]
    assert [(run["worker"], run["outcome"]) for run in records[0]["runs"]] == [("w0", "lost"), ("w1", "reported")]
    assert records[2]["ended"] is None and records[0]["hyperparameters"] == oracle.trials["0"].hyperparameters.values

    again = TrialsLog(str(tmp_path), "val_loss", "min")  # a relaunched search reads the runs back
    assert again.runs == log.runs
    assert again.worker("2") == "w0" and again.worker("0") is None
    table = (tmp_path / "trials.txt").read_text().splitlines()
    assert table[0] == "trial | val_loss | status | worker | minutes | x"
    assert [line.split(" | ")[:5] for line in table[1:]] == [
        ["1", "0.2000", "COMPLETED", "w1", "0.0"], ["0", "0.9000", "COMPLETED", "w1", "0.0"],
        ["2", "-", "RUNNING", "w0", "-"]]


def test_the_table_gives_a_runs_minutes():
    record = dict(trial_id="3", status="COMPLETED", score=0.5, hyperparameters={"lr": 0.1}, worker="w",
                  started="2026-01-01T10:00:00+00:00", ended="2026-01-01T10:01:30+00:00", runs=[])
    assert render([record], "val_accuracy", "max").splitlines()[1] == "3 | 0.5000 | COMPLETED | w | 1.5 | 0.1"
