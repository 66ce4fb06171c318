"""Training: a run of `TrainConfig` as a short list of named steps.

`scripts/train.py` parses flags into a `TrainConfig` and calls `train`
(then exports, with --export_dir). Everything that can be wrong with a
config is checked by `validate` before any data is read or any directory
is written.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from typing import Callable, Optional, Sequence

import keras
import tensorflow as tf

from keras_resnet import factory, settings
from keras_resnet.arch import specs, transforms
from keras_resnet.data.augmentations import TTA_MODES
from keras_resnet.data import pipelines, sources
from keras_resnet.data.augmentations import CROP_PADDING
from keras_resnet.files import check_writable_dir
from keras_resnet.train import autotune, budget, distribute, evaluation, optimizers, precision, recipes, reports
from keras_resnet.train import timed_fit
from keras_resnet.train.callbacks import Backup, HistoryLog, NonFiniteLossError, StopOnNonFiniteLoss
from keras_resnet.train.config import IDENTITY_OF_OLDER_RUNS, RunSettings, TrainConfig
from keras_resnet.train.evaluation import flip_tta_accuracy
from keras_resnet.train.run_dir import (BACKUP_DIR, BEST_WEIGHTS, CURVES_FILE, HISTORY_FILE, LOGS_DIR,
                                       RunDir, RunRecord, check_classes)
from keras_resnet.weights.h5_files import SaveBest
from keras_resnet.weights.resolve import WeightsSource, resolve_weights

log = logging.getLogger("keras_resnet")

__all__ = ["TrainConfig", "RunPlan", "NonFiniteLossError", "StopOnNonFiniteLoss", "HistoryLog", "validate",
           "prepare_data", "train", "flip_tta_accuracy", "TTA_MODES"]


@dataclasses.dataclass(frozen=True)
class RunPlan:
    """A training run resolved once by `validate` and passed along: nothing is looked up or resolved again.

    Attributes:
        config: the settings as given.
        spec: the network.
        recipe: the training recipe, with --label_smoothing in place of its own.
        dtype: the dtype policy; "auto" until `_choose_configuration`
            measures it (a resumed run's recorded choice at once).
        xla: "on", "off", or "auto" until measured with the dtype.
        weights: what --weights is (`WeightsSource`; nothing is downloaded yet).
        augmentation: --augmentation, else the recipe's.
        identity: the settings that shape the trajectory, the recipe's
            defaults filled in (what run.json records and a relaunch must match).
        recorded: a resumed run's recorded configuration (`autotune.Choice.to_json`), or None.
    """

    config: TrainConfig
    spec: specs.ResNetSpec
    recipe: recipes.Recipe
    dtype: str
    xla: str
    weights: WeightsSource
    augmentation: str
    identity: dict
    recorded: Optional[dict] = None


def _identity(config: TrainConfig, spec: specs.ResNetSpec, recipe: recipes.Recipe, dtype: str,
              augmentation: str) -> dict:
    """The run's identity with the recipe's defaults filled in, so equal runs compare equal."""
    batch_size = config.batch_size or recipe.batch_size
    return dict(
        config.identity(spec), dtype=dtype, batch_size=batch_size, augmentation=augmentation,
        weight_decay=recipe.weight_decay if config.weight_decay is None else config.weight_decay,
        label_smoothing=recipe.label_smoothing,
        learning_rate=(recipe.learning_rate * batch_size / recipe.batch_size if config.learning_rate is None
                       else config.learning_rate))


def validate(config: TrainConfig) -> RunPlan:
    """Check every setting, and the model_dir, without reading data or building a model.

    Returns:
        The run's `RunPlan`.

    Raises:
        ValueError: the first thing wrong, saying what is valid.
    """
    settings.validate(config)
    if config.time_budget is not None:
        given = [f"--{name}" for name in ("epochs", "train_steps") if getattr(config, name) is not None]
        if given:
            raise ValueError(f"--time_budget plans the run's length itself: leave out {' and '.join(given)}, or "
                             f"--time_budget. Received: time_budget={config.time_budget!r}")
        if config.strategy in ("multi_worker_mirrored", "tpu"):
            raise ValueError(f"--time_budget plans from this machine's measured step, and the workers of "
                             f"--strategy={config.strategy} would plan apart: give --epochs or --train_steps.")
    spec = specs.get_spec(config.model)
    gpus = tf.config.list_physical_devices("GPU")
    dtype, xla = config.dtype, config.xla
    if dtype == "mixed_float16" and config.strategy != "tpu" and not gpus:
        raise ValueError(
            "--dtype=mixed_float16 needs a GPU: this run has none, and CPUs have no float16 "
            "arithmetic (TF emulates it, slower than float32). Use --dtype=mixed_bfloat16 "
            "(fast on CPUs with AMX or AVX512_BF16 and on TPUs), float32, or auto.")
    if dtype == "mixed_bfloat16" and config.strategy != "tpu" and not gpus \
            and not precision.cpu_has_native_bfloat16():
        # Correct but slow, so a warning: the user may mean it (to test a bfloat16 run before moving it).
        log.warning("--dtype=mixed_bfloat16 on a CPU without AMX or AVX512_BF16: TensorFlow emulates bfloat16 "
                    "there, and its convolution gradients ran 6 to 22x slower than in float32 on such a CPU "
                    "(docs/BENCHMARKS.md), so this run will train several times slower than --dtype=float32 "
                    "(or auto, which does not try bfloat16 here).")
    earlier = RunDir(config.model_dir).record()
    recorded = earlier.configuration if earlier is not None else None
    if earlier is not None and dtype == "auto":  # a resumed run keeps the dtype it trained in
        dtype = recorded["dtype"] if recorded else earlier.settings.get("dtype", dtype)
    if recorded and xla == "auto":
        xla = "on" if recorded["xla"] else "off"
    if config.freeze not in transforms.freeze_choices(spec):
        raise ValueError(f"--freeze must be one of {', '.join(transforms.freeze_choices(spec))} for {spec.name}. "
                         f"Received: freeze={config.freeze!r}")
    if config.freeze != "none" and not config.weights:
        raise ValueError(f"--freeze={config.freeze} keeps pretrained layers as loaded: it needs --weights "
                         "(imagenet, a checkpoint name or a file).")
    recipe = recipes.get_recipe(config.recipe)
    older_runs = dict(IDENTITY_OF_OLDER_RUNS, label_smoothing=recipe.label_smoothing)
    if config.label_smoothing is not None:
        recipe = dataclasses.replace(recipe, label_smoothing=config.label_smoothing)
    if recipe.finetunes and not config.weights:
        raise ValueError(f"--recipe={config.recipe} fine-tunes pretrained weights: give --weights, or use "
                         "another recipe.")
    weights = resolve_weights(spec, config.weights)
    if config.stochastic_depth and not spec.residual:
        raise ValueError(f"--stochastic_depth drops residual branches; {spec.name} is a plain net, which has none. "
                         f"Received: stochastic_depth={config.stochastic_depth}")
    if config.dropout and spec.block != specs.BASIC:
        raise ValueError(f"--dropout drops units between a basic block's two convs (Wide ResNets); {spec.name} has "
                         f"{spec.block} blocks. Received: dropout={config.dropout}")
    augmentation = config.augmentation or recipe.augmentation
    if config.crop_padding != CROP_PADDING and augmentation != "cifar":
        source = "--augmentation" if config.augmentation else f"--recipe={config.recipe}"
        raise ValueError(f"--crop_padding sets the cifar augmentation's padding; this run's augmentation is "
                         f"{augmentation} ({source}): use --augmentation=cifar, or leave --crop_padding out. "
                         f"Received: crop_padding={config.crop_padding}")
    if config.image_size is not None and config.image_size < spec.min_size:
        raise ValueError(f"{spec.name} needs images of at least {spec.min_size} px. "
                         f"Received: image_size={config.image_size}")
    check_writable_dir(config.model_dir, "model_dir")
    identity = _identity(config, spec, recipe, dtype, augmentation)
    RunDir(config.model_dir).check_identity(identity, absent=older_runs)
    return RunPlan(config, spec, recipe, dtype, xla, weights, augmentation, identity, recorded)


def _global_batch_size(plan: RunPlan, strategy) -> int:
    batch_size = plan.config.batch_size or plan.recipe.batch_size
    replicas = strategy.num_replicas_in_sync
    if batch_size % replicas:
        raise ValueError(f"--batch_size={batch_size} (global) must divide evenly over the {replicas} replicas of "
                         f"--strategy={plan.config.strategy}; use a multiple of {replicas}.")
    return batch_size


def prepare_data(config: RunSettings, spec: specs.ResNetSpec, batch_size: int) -> pipelines.PreparedData:
    """The run's data: loaded, split, subsampled and sized for its model, as `train` uses it.

    A search prepares its trials' data with it too (`config` a `TuneConfig`, `spec` the smallest net it searches).
    """
    source = sources.load_dataset(config.dataset, config.data_dir, download=config.download,
                                  skip_bad_images=config.skip_bad_images, prepare_data_dir=config.prepare_data_dir)
    return pipelines.prepare_data(
        source, batch_size=batch_size, min_size=spec.min_size, default_size=spec.input_shape[:2],
        image_size=getattr(config, "image_size", None), validation_split=config.validation_split,
        max_train_examples=config.max_train_examples, max_test_examples=config.max_test_examples, seed=config.seed)


def _choose_configuration(plan: RunPlan, prepared: pipelines.PreparedData, run_recipe: recipes.RunRecipe,
                          strategy, batch_size: int) -> tuple:
    """(the plan with its dtype and XLA setting resolved, the `autotune.Choice`): measured on the run's own model,
    input and batch where --dtype or --xla is auto, cached per machine; a budgeted run's choice always carries its
    step's speed."""
    options = autotune.candidates(plan.dtype, plan.xla, gpu=precision.has_gpu(),
                                  native_bfloat16=precision.cpu_has_native_bfloat16())
    classes = prepared.source.num_classes

    def build(candidate: autotune.Candidate) -> keras.Model:
        # The run's model and compilation without its weights (nothing is downloaded or read for a measurement).
        trial = dataclasses.replace(plan, dtype=candidate.dtype, xla="on" if candidate.xla else "off",
                                    weights=WeightsSource(None))
        return _build_model(trial, prepared, run_recipe, strategy)

    config = plan.config
    # What the step's speed depends on (not the seed or the learning rate, so that another seed finds the cache).
    facts = {key: plan.identity.get(key) for key in ("model", "shortcut", "width_multiplier", "stochastic_depth",
                                                      "dropout", "freeze", "sync_bn")}
    facts.update(batch_size=batch_size, input_shape=list(prepared.input_shape), classes=classes,
                 replicas=strategy.num_replicas_in_sync)
    if plan.recorded and options == [autotune.Candidate(plan.recorded["dtype"], plan.recorded["xla"])]:
        choice = autotune.Choice.from_json(plan.recorded, "resumed")
    else:
        make_step = autotune.stepper(build, batch_size, prepared.input_shape, classes)
        choice = autotune.resolve(options, make_step, batch_size, run_recipe.total_steps, facts,
                                  multi_worker=config.strategy in ("multi_worker_mirrored", "tpu"),
                                  run_seconds=plan.identity["time_budget"])
    keras.utils.set_random_seed(config.seed)  # the measurement's builds drew from the generators
    dtype = choice.candidate.dtype
    resolved = dataclasses.replace(plan, dtype=dtype, xla="on" if choice.candidate.xla else "off",
                                   identity=dict(plan.identity, dtype=dtype))
    return resolved, choice


def _build_model(plan: RunPlan, prepared: pipelines.PreparedData, run_recipe: recipes.RunRecipe,
                 strategy) -> keras.Model:
    config = plan.config
    # A published checkpoint brings its own input normalisation; else the model subtracts the data's mean.
    normalisation = dict(mean=prepared.mean) if plan.weights.preprocessing is None else {}
    if plan.weights.preprocessing is not None and prepared.input_shape[-1] != 3:
        raise ValueError(f"--weights={config.weights} was trained on RGB images, but {config.dataset} has "
                         f"{prepared.input_shape[-1]} channel(s): use RGB data, or train without --weights.")
    with strategy.scope():
        model = factory.build_resnet(
            plan.spec, input_shape=prepared.input_shape, classes=prepared.source.num_classes,
            shortcut=config.shortcut, width_multiplier=config.width_multiplier, synchronized_bn=config.sync_bn,
            weights=plan.weights, drop_path_rate=config.stochastic_depth, dropout_rate=config.dropout,
            dtype=plan.dtype, **normalisation, data_format="channels_last")  # the input pipelines are NHWC
        frozen = transforms.freeze(model, config.freeze)
        if frozen:
            log.info("Frozen (kept as loaded, BN in inference mode): %d layers, %s .. %s", len(frozen), frozen[0],
                     frozen[-1])
        return optimizers.compile_model(model, optimizers.make_optimizer(plan.recipe, run_recipe),
                                        run_recipe.weight_decay, plan.recipe.label_smoothing, plan.xla == "on")


def _callbacks(run_dir: RunDir, monitor: str, extra: Sequence[keras.callbacks.Callback]) -> list:
    backup_dir = run_dir.path(BACKUP_DIR)
    callbacks = [
        StopOnNonFiniteLoss(backup_dir, run_dir.root),
        Backup(backup_dir),
        SaveBest(run_dir.path(BEST_WEIGHTS), monitor),
        HistoryLog(run_dir.path(HISTORY_FILE)),
    ]
    if run_dir.is_chief:
        callbacks.append(keras.callbacks.TensorBoard(run_dir.path(LOGS_DIR), update_freq="epoch", profile_batch=0))
    return callbacks + list(extra)


def train(config: TrainConfig, extra_callbacks: Sequence[keras.callbacks.Callback] = (), strategy=None,
          follow_up: Optional[budget.FollowUp] = None, elapsed: Optional[Callable[[], float]] = None) -> dict:
    """Train, evaluate and save a network as `config` says.

    Relaunching with the same config resumes from the last finished epoch
    (`Backup`, Keras's BackupAndRestore, in `model_dir/backup`); a relaunch
    with other trajectory settings is refused (see `validate`). With
    `config.time_budget` the steps are planned to fit (`keras_resnet.train.budget`).

    Args:
        config: the run.
        extra_callbacks: more Keras callbacks.
        strategy: an already created strategy (else made from config).
        follow_up: what the caller runs after the training within the budget
            (an export's files); the evaluation and TTA are known here.
        elapsed: the seconds since the run started, which the budget counts
            (default: since this call; the command counts from its own start).

    Returns:
        A dict with test_loss, test_accuracy (and test_accuracy_flip_tta
        with `config.tta="flip"`), per_class_accuracy, weakest_class,
        epochs_run, initial_epoch, seconds (time spent per phase), paths of
        what was written, and the Keras model under "model".

    Raises:
        ValueError: a bad config or missing data, found before any file is written;
            `budget.BudgetTooShortError`: a budget that cannot hold the least run.
        NonFiniteLossError: the loss became NaN/Inf.
        distribute.WorkerLostError: a worker of a multi-worker run was lost.
    """
    if elapsed is None:
        origin = time.monotonic()
        elapsed = lambda: time.monotonic() - origin  # noqa: E731
    # The threads TensorFlow starts before the cluster's wait must not take SIGINT or SIGTERM (`bounded_wait`).
    with distribute.stop_signals_held(config.strategy == "multi_worker_mirrored" and strategy is None):
        plan = validate(config)
        strategy = strategy or distribute.make_strategy(config.strategy, config.num_gpus, config.tpu,
                                                        config.cluster_timeout)
    batch_size = _global_batch_size(plan, strategy)
    role = distribute.cluster_role(strategy)
    run_dir = RunDir(config.model_dir, role.is_chief, role.task_index)
    # a second launch on this model_dir is refused before it reads any data
    with run_dir.lock(), distribute.workers_watched(strategy):
        return _train(plan, strategy, batch_size, run_dir, extra_callbacks, follow_up, elapsed)


def _run_recipe(plan: RunPlan, batch_size: int, num_train: int, **length) -> recipes.RunRecipe:
    config = plan.config
    length = length or dict(epochs=config.epochs, train_steps=config.train_steps)
    return recipes.for_run(plan.recipe, batch_size, num_train, plan.spec.depth, learning_rate=config.learning_rate,
                        weight_decay=config.weight_decay, warmup_steps=config.warmup_steps,
                        default_warmup_steps=config.default_warmup_steps, **length)


def _budget_plan(plan: RunPlan, choice: autotune.Choice, earlier: Optional[RunRecord], prepared, batch_size: int,
                 follow_up: Optional[budget.FollowUp], spent: float) -> budget.BudgetPlan:
    """The budgeted run's plan: a relaunch's recorded one, else the steps that fit after `spent` seconds."""
    if earlier is not None and earlier.budget:
        return budget.BudgetPlan.from_json(earlier.budget)
    config = plan.config
    test_images = prepared.source.num_test
    if config.max_test_examples is not None:
        test_images = min(test_images, config.max_test_examples)
    follow_up = dataclasses.replace(follow_up or budget.FollowUp(0), test_images=test_images,
                                    tta=config.tta == "flip")
    step_seconds = batch_size / choice.images_per_second
    reserved = budget.reserve(follow_up, step_seconds, batch_size)
    return budget.plan(plan.identity["time_budget"], spent, step_seconds,
                       recipes.steps_in_an_epoch(prepared.num_train, batch_size), reserved,
                       measured="cached" if choice.how == "cached" else "measured")


def _train(plan: RunPlan, strategy, batch_size: int, run_dir: RunDir,
           extra_callbacks: Sequence[keras.callbacks.Callback], follow_up: Optional[budget.FollowUp],
           elapsed: Callable[[], float]) -> dict:
    config, spec = plan.config, plan.spec
    keras.utils.set_random_seed(config.seed)

    prepared = prepare_data(config, spec, batch_size)
    source = prepared.source
    earlier = run_dir.record()
    if earlier is not None:  # a relaunch: its classes are part of the run's identity, checked before any write
        check_classes(run_dir.root, earlier.class_names, source.class_names)
    train_ds = prepared.train_pipeline(plan.augmentation, config.crop_padding)
    budgeted = plan.identity["time_budget"] is not None
    # A budgeted run measures its step under the least run's recipe, then lays the recipe over its plan.
    run_recipe = _run_recipe(plan, batch_size, prepared.num_train, **(
        dict(epochs=budget.MIN_EPOCHS) if budgeted else {}))
    plan, choice = _choose_configuration(plan, prepared, run_recipe, strategy, batch_size)
    timed = None
    if budgeted:  # a budget too short is refused here, before anything is written
        timed = _budget_plan(plan, choice, earlier, prepared, batch_size, follow_up, elapsed())
        run_recipe = _run_recipe(plan, batch_size, prepared.num_train, train_steps=timed.total_steps)
    steps_per_epoch = min(run_recipe.steps_per_epoch, run_recipe.total_steps)
    epochs = -(-run_recipe.total_steps // steps_per_epoch)
    settings = {k: v for k, v in plan.identity.items() if k not in ("model", "dataset")}
    record = RunRecord(
        model=spec.name, dataset=config.dataset, class_names=tuple(source.class_names),
        data_dir=os.path.abspath(config.data_dir) if config.data_dir else None,
        input_size=tuple(prepared.image_size), channels=prepared.input_shape[-1],
        max_test_examples=config.max_test_examples, settings=settings, configuration=choice.to_json(),
        budget=timed.to_json() if timed else None)
    run_dir.start(record)
    model = _build_model(plan, prepared, run_recipe, strategy)
    distribute.prepare_for_strategy(model, strategy, train_ds)
    warmup = (f"{run_recipe.warmup_steps} steps of {run_recipe.warmup} warm-up" if run_recipe.warmup_steps
              else "no warm-up")
    if run_recipe.warmup_cut_from:
        warmup += f" (the default {run_recipe.warmup_cut_from}, cut to half this short run)"
    log.info("%s on %s: %d train images %s, batch %d over %d replica(s), %d epochs x %d steps, lr %.4g "
             "(%s), wd %.1e, label smoothing %g, %s (%s)",
             spec.name, config.dataset, prepared.num_train, prepared.image_size, batch_size,
             strategy.num_replicas_in_sync, epochs, steps_per_epoch, run_recipe.learning_rate, warmup,
             run_recipe.weight_decay, plan.recipe.label_smoothing, choice.candidate.label, choice.how)
    for line in choice.table() + (timed.lines() if timed else []):  # each candidate's speed; the budget's plan
        log.info("%s", line)
    monitor = "val_accuracy" if prepared.val_ds is not None else "accuracy"
    callbacks = _callbacks(run_dir, monitor, extra_callbacks)
    # The pipeline shuffles; fit's own shuffle does not apply to datasets.
    fit_args = dict(validation_data=prepared.val_ds, verbose=config.verbose, shuffle=False)
    training_began, stopped_at = elapsed(), None
    if timed is None:
        history = model.fit(train_ds, epochs=epochs, steps_per_epoch=steps_per_epoch, callbacks=callbacks,
                            **fit_args)
        epochs_trained = list(history.epoch)
    else:
        def correct(times: tuple) -> budget.BudgetPlan:
            step_seconds, end_seconds, trace_seconds = times
            corrected = budget.correct(timed, elapsed(), step_seconds, end_seconds, trace_seconds,
                                       steps_per_epoch, recipes.decay_start(plan.recipe, run_recipe))
            if corrected.correction["applied"]:
                relaid = _run_recipe(plan, batch_size, prepared.num_train, train_steps=corrected.total_steps)
                with strategy.scope():
                    optimizers.relay_schedule(model.optimizer, plan.recipe, relaid)
                model.make_train_function(force=True)
            log.info("%s", corrected.correction["summary"])
            run_dir.amend(dataclasses.replace(record, budget=corrected.to_json()))
            return corrected

        # A relaunch keeps its plan's steps, whatever time is left: only the launch that planned has a deadline.
        history, timed, stopped_at = timed_fit.fit(model, train_ds, timed, callbacks, elapsed, correct,
                                                   deadline=earlier is None, **fit_args)
        epochs_trained = list(history.epoch)
        if stopped_at is not None:
            log.info("Training stopped at its deadline, %s into the run, at step %s of the %s planned: the steps "
                     "ran slower than the first epoch's.", budget.format_duration(timed.deadline),
                     f"{stopped_at:,}", f"{timed.total_steps:,}")
        epochs = timed.epochs
    training_ended = elapsed()
    final_weights, final_model = run_dir.save_final(model)
    test_loss, test_accuracy = model.evaluate(prepared.test_ds, verbose=0)
    title = f"{spec.name} on {config.dataset}"
    result = dict(
        test_loss=float(test_loss), test_accuracy=float(test_accuracy),
        initial_epoch=int(epochs_trained[0] if epochs_trained else epochs), epochs_run=len(epochs_trained),
        epochs=epochs, steps_per_epoch=steps_per_epoch, final_model=final_model, final_weights=final_weights,
        best_weights=run_dir.path(BEST_WEIGHTS), class_names=list(source.class_names),
        num_train=prepared.num_train)
    if config.tta == "flip":
        result["test_accuracy_flip_tta"] = flip_tta_accuracy(model, prepared.test_ds, strategy)
    result.update(evaluation.class_report(model, prepared.test_ds, source.class_names, run_dir, title))
    result["curves"] = reports.plot_history(run_dir.path(HISTORY_FILE), run_dir.path(CURVES_FILE), title,
                                            test_accuracy=float(test_accuracy)) if run_dir.is_chief else None
    now = elapsed()
    result["seconds"] = dict(setup=round(training_began, 1),
                             training=round(training_ended - training_began, 1),
                             after_training=round(now - training_ended, 1), total=round(now, 1))
    if timed is not None:
        result["budget"] = dict(seconds=timed.budget, total_steps=timed.total_steps,
                                corrected=bool(timed.correction and timed.correction["applied"]),
                                stopped_at_deadline=stopped_at)
    if run_dir.is_chief:
        run_dir.write_result(result)
    return dict(result, model=model)
