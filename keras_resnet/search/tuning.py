"""Hyperparameter search with keras-tuner over what the paper varies: the tuners, and the search that runs them.

`scripts/tune.py` parses flags into a `TuneConfig` and calls `search`, which runs the trials of a
`ResNetHyperModel` (`keras_resnet.search.hypermodel`) in this process, or serves them to worker processes as a
chief, or runs them as a worker (`keras_resnet.search.cluster`).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import socket
import sys
from typing import Optional

import grpc
import keras
import keras_tuner
import tensorflow as tf

from keras_resnet import settings
from keras_resnet.arch import specs
from keras_resnet.data import pipelines, sources
from keras_resnet.files import DirectoryLock, check_writable_dir, write_json
from keras_resnet.search import cluster, trials
from keras_resnet.search.cluster import CHIEF, WORKER, SearchRole
from keras_resnet.search.config import LAYOUTS, OBJECTIVES, TUNERS, SearchSpace, TuneConfig  # noqa: F401
from keras_resnet.search.hypermodel import ResNetHyperModel
from keras_resnet.search.trials import TrialsLog
from keras_resnet.train import addresses, distribute, precision, recipes
from keras_resnet.train import training
from keras_resnet.train.run_dir import SEARCH_FILE, RunDir, RunRecord, check_search

log = logging.getLogger("keras_resnet")

__all__ = ["LAYOUTS", "OBJECTIVES", "TUNERS", "SearchSpace", "TuneConfig", "ResNetHyperModel", "validate",
           "make_tuner", "search", "worker_main"]


def validate(config: TuneConfig) -> SearchRole:
    """Check the search's settings before any data is read or any trial runs.

    Returns:
        This process's part in the search (`cluster.resolve_role`).

    Raises:
        ValueError: the first thing wrong, saying what is valid.
    """
    settings.validate(config)
    if config.time_budget is not None and config.epochs is not None:
        raise ValueError("--time_budget plans each trial's length itself: leave out --epochs, or --time_budget. "
                         f"Received: time_budget={config.time_budget!r}, epochs={config.epochs}")
    if config.time_budget is not None and config.tuner == "hyperband":
        raise ValueError("--tuner=hyperband gives its trials epochs as their resource (--epochs): --time_budget "
                         "takes the random or bayesian tuner.")
    if config.dtype == "mixed_float16" and not precision.has_gpu():
        raise ValueError("--dtype=mixed_float16 needs a GPU: this search has none, and CPUs have no float16 "
                         "arithmetic. Use --dtype=mixed_bfloat16, float32, or auto.")
    if config.objective.startswith("val_") and not 0 < config.validation_split < 1:
        raise ValueError(f"Objective {config.objective} needs a validation split in (0, 1). "
                         f"Received: validation_split={config.validation_split}")
    config.space.validate()
    role = cluster.resolve_role(config.role, config.oracle, config.worker_id, config.workers,
                                       advertise=config.advertise)
    if config.workers:
        split = cluster.shares(config.workers, cluster.visible_gpus(), os.sched_getaffinity(0))
        role = dataclasses.replace(role, local_shares=tuple(split))
    check_writable_dir(config.model_dir, "model_dir")
    if role.kind != WORKER:  # a worker checks the chief's search.json once it has reached the chief
        check_search(config.model_dir, config.identity())
    return role


class _RecordsTrials:
    """A tuner that counts the trials it runs and, given a `TrialsLog`, records their runs in it.

    A single-process search records its trials this way; a chief records its
    workers' from their calls instead (`cluster.Chief`).
    """

    trials_log: Optional[TrialsLog] = None
    trials_run: int = 0

    def on_trial_begin(self, trial):
        if self.trials_log is not None:
            self.trials_log.started(trial.trial_id, self.tuner_id)
            self.trials_log.write(self.oracle)
        super().on_trial_begin(trial)

    def on_trial_end(self, trial):
        super().on_trial_end(trial)
        self.trials_run += 1
        if self.trials_log is not None:
            self.trials_log.ended(trial.trial_id)
            self.trials_log.write(self.oracle)


class RandomSearch(_RecordsTrials, keras_tuner.RandomSearch):
    """keras-tuner's random search, recording its trials."""


class BayesianOptimization(_RecordsTrials, keras_tuner.BayesianOptimization):
    """keras-tuner's Bayesian optimisation, recording its trials."""


class Hyperband(_RecordsTrials, keras_tuner.Hyperband):
    """keras-tuner's Hyperband, recording its trials."""


def make_tuner(config: TuneConfig, hypermodel: ResNetHyperModel, strategy=None,
               trials_log: Optional[TrialsLog] = None) -> keras_tuner.Tuner:
    """The keras-tuner tuner; `overwrite=False`, so a relaunch resumes the search.

    Args:
        config: the search.
        hypermodel: what it builds.
        strategy: the tf.distribute strategy each trial trains under.
        trials_log: where the tuner records the runs of its trials (a
            single-process search's); None records nothing.
    """
    common = dict(
        objective=keras_tuner.Objective(config.objective, OBJECTIVES[config.objective]),
        executions_per_trial=config.executions_per_trial,
        directory=config.model_dir,
        project_name="search",
        overwrite=False,
        seed=config.seed,
        distribution_strategy=strategy,
        max_retries_per_trial=config.trial_retries,
    )
    if config.tuner == "hyperband":
        tuner = Hyperband(hypermodel, max_epochs=config.epochs, factor=3, hyperband_iterations=1, **common)
    else:
        cls = RandomSearch if config.tuner == "random" else BayesianOptimization
        tuner = cls(hypermodel, max_trials=config.max_trials, **common)
    tuner.trials_log = trials_log
    return tuner


@dataclasses.dataclass
class TrialData:
    """What every trial of a search trains and is scored on.

    Attributes:
        source: the data set.
        prepared: it split, subsampled and sized (training's `prepare_data`).
        hypermodel: the search space's model builder.
        train: the augmented training pipeline `tuner.search` is given.
        fit: the arguments of each trial's fit (epochs, steps, validation data).
    """

    source: sources.DataSource
    prepared: pipelines.PreparedData
    hypermodel: ResNetHyperModel
    train: tf.data.Dataset
    fit: dict


def _prepare(config: TuneConfig) -> TrialData:
    """The search's data and hypermodel, and what each trial's fit gets."""
    keras.utils.set_random_seed(config.seed)
    # Training's own preparation; the smallest nets searched (CIFAR family) set the minimum and default sizes.
    prepared = training.prepare_data(config, specs.get_spec("resnet20"), config.batch_size)
    source = prepared.source
    augmented, plain = prepared.train_pipeline("cifar"), prepared.train_pipeline("none")
    steps_per_epoch = recipes.steps_in_an_epoch(prepared.num_train, config.batch_size)
    hypermodel = ResNetHyperModel(prepared.input_shape, source.num_classes, prepared.mean,
                                  steps_per_epoch * (config.epochs or 1), config.space,
                                  train_data={True: augmented, False: plain}, dtype=config.dtype, xla=config.xla,
                                  batch_size=config.batch_size, steps_per_epoch=steps_per_epoch,
                                  time_budget=config.identity()["time_budget"])
    fit = dict(epochs=config.epochs, steps_per_epoch=steps_per_epoch,
               validation_data=prepared.val_ds, verbose=config.verbose, shuffle=False)
    return TrialData(source, prepared, hypermodel, augmented, fit)


def search(config: TuneConfig, strategy=None) -> dict:
    """Run (or resume) a search, or one worker of a distributed search.

    A search runs every trial here, or (`--workers`, `--role=chief`, or
    keras-tuner's chief variables) serves them to worker processes. It then
    saves the best model for scripts/export.py, writing
    `model_dir/best_hyperparameters.json`, `trials.json`, `trials.txt` and
    `best/` (final.keras, run.json, labels.txt: a train.py-style model_dir).

    Returns:
        For a search: a dict with the best hyperparameters, its score, the
        trials table, the number of trials, and the best model. For a worker:
        its id, the chief's address and the number of trials it ran.

    Raises:
        ValueError: bad settings (before any work), a model_dir in use, a
            chief that does not answer, or every worker gone before the end.
    """
    # The threads TensorFlow starts before a cluster's wait must not take SIGINT or SIGTERM (`bounded_wait`).
    with distribute.stop_signals_held(config.strategy == "multi_worker_mirrored" and strategy is None):
        role = validate(config)
        if role.kind != CHIEF and strategy is None and config.strategy != "default":
            strategy = distribute.make_strategy(config.strategy, config.num_gpus,
                                                cluster_timeout=config.cluster_timeout)
    replicas = strategy.num_replicas_in_sync if strategy is not None else 1
    if config.batch_size % replicas:
        raise ValueError(f"--batch_size={config.batch_size} must divide evenly over the {replicas} replicas")
    if role.kind == WORKER:
        return _work(config, role, strategy)
    with DirectoryLock(config.model_dir, "search", "model_dir"):
        write_json(os.path.join(config.model_dir, SEARCH_FILE), config.identity())
        return _search(config, role, strategy)


def _search(config: TuneConfig, role: SearchRole, strategy) -> dict:
    if role.kind == CHIEF:
        cluster.leave_gpus_to_workers()
    prepared = _prepare(config)
    record = TrialsLog(config.model_dir, config.objective, OBJECTIVES[config.objective])
    if role.kind == CHIEF:
        tuner = make_tuner(config, prepared.hypermodel)  # the chief builds models only to learn the space
        _serve(config, role, tuner, record)
    else:
        tuner = make_tuner(config, prepared.hypermodel, strategy, trials_log=record)
        tuner.search(prepared.train, **prepared.fit)
    return _results(config, tuner, prepared, record)


def _serve(config: TuneConfig, role: SearchRole, tuner: keras_tuner.Tuner, record: TrialsLog) -> None:
    """Serve the search's trials to its workers until it is done (nothing, for a finished search)."""
    tuner.oracle.verbose = config.verbose
    chief = cluster.Chief(tuner.oracle, record, config.worker_timeout)  # before a save overwrites the state
    tuner.save()  # the tuner's file is what makes a relaunched chief reload the oracle's state
    if chief.has_ended():
        return
    port = chief.serve(role.address)
    local = None
    try:
        if role.local_shares:
            near = f"{'127.0.0.1' if role.host in addresses.WILDCARDS else role.host}:{port}"
            local = _start_workers(config, role.local_shares, near)
        chief.say(f"serving the search at {role.host}:{port}"
                  + (f", to {len(role.local_shares)} worker(s) on this machine" if local else "")
                  + ("" if role.local_only else f"; {role.joining(port)}"))
        chief.run(local, remote=not role.local_only)
    finally:
        if local is not None:
            local.stop()
        chief.stop()


def _start_workers(config: TuneConfig, split: tuple, address: str) -> cluster.LocalWorkers:
    """Start a worker process here for each share of `split`, each running `worker_main`."""
    host = socket.gethostname()
    names = [f"{host}-{i}" for i in range(len(split))]
    # A progress bar per worker would interleave: their lines go one an epoch.
    verbose = 2 if config.verbose == 1 else config.verbose
    payloads = {name: dataclasses.replace(config, role=WORKER, oracle=address, worker_id=name, workers=0,
                                          verbose=verbose) for name in names}
    package_root = os.path.dirname(os.path.dirname(os.path.abspath(settings.__file__)))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")])))
    for variable in (cluster.ENV_ID, cluster.ENV_IP, cluster.ENV_PORT):
        env.pop(variable, None)  # each worker's role is in its settings
    command = [sys.executable, "-c", "from keras_resnet import cli; cli.import_tensorflow(); cli.quiet(); "
                                     "from keras_resnet.search import tuning; tuning.worker_main()"]
    return cluster.LocalWorkers(command, payloads, dict(zip(names, split)), env)


def worker_main() -> None:
    """A worker process started by `search` on this machine: its `TuneConfig` arrives pickled on stdin."""
    config = cluster.settle_worker()
    try:
        search(config)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(1)


def _work(config: TuneConfig, role: SearchRole, strategy) -> dict:
    """Run trials for the chief of `role` until it says the search is done."""
    client = cluster.join(role, config.chief_timeout)
    replicas = strategy.num_replicas_in_sync if strategy is not None else 1
    log.info("worker %s: working for the chief at %s; each trial trains on %d replica(s) (--strategy=%s)",
             role.worker_id, role.address, replicas, config.strategy)
    try:
        if not os.path.isfile(os.path.join(config.model_dir, SEARCH_FILE)):
            raise ValueError(f"--model_dir={config.model_dir!r} holds no search: a worker writes each trial's "
                             "weights where the chief reads them, so pass the chief's --model_dir (across "
                             "machines, a directory they share).")
        check_search(config.model_dir, config.identity())
        prepared = _prepare(config)
        tuner = make_tuner(config, prepared.hypermodel, strategy)
        client.adopt(tuner)
        client.beat()
        try:
            tuner.search(prepared.train, **prepared.fit)
        except grpc.RpcError:
            raise ValueError(f"worker {role.worker_id} lost the search's chief at {role.address} for more than "
                             f"{config.chief_timeout:g} s (--chief_timeout): relaunch it to go on.") from None
    finally:
        client.close()
    return dict(worker=role.worker_id, chief=role.address, trials_run=tuner.trials_run)


def _results(config: TuneConfig, tuner: keras_tuner.Tuner, data: TrialData, record: TrialsLog) -> dict:
    """The best trial's model evaluated and saved as `best/`, with the trials' record."""
    records = record.write(tuner.oracle)
    best_hp = tuner.get_best_hyperparameters(1)[0]
    best_trial = tuner.oracle.get_best_trials(1)[0]
    checkpoint = tuner._get_checkpoint_fname(best_trial.trial_id)  # keras-tuner's file of a trial's weights
    if not os.path.isfile(checkpoint):
        raise ValueError(f"the best trial's weights are not at {checkpoint}: its worker wrote them elsewhere. Every "
                         "worker must write to the chief's --model_dir (across machines, a directory they share).")
    best_model = tuner.get_best_models(1)[0]
    best_name = data.hypermodel.model_name(best_hp.copy())
    write_json(os.path.join(config.model_dir, "best_hyperparameters.json"),
               {"score": best_trial.score, "objective": config.objective, "model": best_name,
                "values": best_hp.values})
    test_loss, test_accuracy = best_model.evaluate(data.prepared.test_ds, verbose=0)
    best = RunDir(os.path.join(config.model_dir, "best"))
    source = data.source
    best.start(RunRecord(model=best_name, dataset=config.dataset, class_names=tuple(source.class_names),
                         data_dir=os.path.abspath(config.data_dir) if config.data_dir else None,
                         max_test_examples=config.max_test_examples, hyperparameters=best_hp.values,
                         test_accuracy=float(test_accuracy)))
    best.save_final(best_model)
    return dict(best_hyperparameters=best_hp.values, score=best_trial.score,
                table=trials.render(records, config.objective, OBJECTIVES[config.objective]),
                num_trials=len(tuner.oracle.trials), model=best_model, test_accuracy=float(test_accuracy),
                test_loss=float(test_loss), best_dir=best.root, trials=records)
