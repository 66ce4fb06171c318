"""The paper's experiments on real data: degradation (Fig. 6), layer responses (Fig. 7), lesions, Table 6.

Every net is trained by `keras_resnet.train.training` in a run directory of its
own under `model_dir` (`<model_dir>/<net>`, Table 6's under
`<model_dir>/table6/<net>`), so a relaunch resumes a net cut short and a
later experiment reuses the nets an earlier one trained with the same
budget. Each experiment writes `<experiment>.json` and `.csv` (its numbers)
and, but for Table 6, `<experiment>.png` (`keras_resnet.research.figures`) into
`model_dir`; Table 6 writes `table6.md`.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import logging
import os
from typing import Optional, Sequence

import keras
import numpy as np

from keras_resnet import settings
from keras_resnet.arch import specs
from keras_resnet.data import pipelines
from keras_resnet.files import atomic_path, write_json
from keras_resnet.research import analysis, figures
from keras_resnet.train import distribute, recipes, reports, training
from keras_resnet.research.config import EXPERIMENTS, REPRODUCE_BUDGET, ReproduceConfig  # noqa: F401
from keras_resnet.train.config import RunSettings, TrainConfig
from keras_resnet.train.run_dir import HISTORY_FILE, RESULT_FILE, RunDir

log = logging.getLogger("keras_resnet")

__all__ = ["ReproduceConfig", "TestEachEpoch", "budget", "validate", "run", "degradation", "responses", "lesion",
           "table6"]


# Table 6 of the paper: CIFAR-10 test error (%) of the residual nets.
TABLE6_ERRORS = {20: 8.75, 32: 7.51, 44: 7.17, 56: 6.97, 110: 6.43, 1202: 7.93}

TEST_HISTORY = "test_history.csv"


class TestEachEpoch(keras.callbacks.Callback):
    """Evaluate on the test set after every epoch and append it to a CSV (Figure 6's bold curves).

    Args:
        test_ds: batched (images, one-hot labels).
        path: the CSV; rows `epoch,test_loss,test_accuracy` (a resumed run
            may repeat an epoch: readers keep the last row of each).
        write: False on the non-chief workers of a multi-worker run.
    """

    __test__ = False  # not a pytest class

    def __init__(self, test_ds, path: str, write: bool = True):
        super().__init__()
        self.test_ds, self.path, self.write = test_ds, path, write

    def on_epoch_end(self, epoch, logs=None):
        loss, accuracy = self.model.evaluate(self.test_ds, verbose=0)
        if not self.write:
            return
        new = not os.path.isfile(self.path)
        with open(self.path, "a", newline="") as f:
            writer = csv.writer(f)
            if new:
                writer.writerow(["epoch", "test_loss", "test_accuracy"])
            writer.writerow([epoch, float(loss), float(accuracy)])


def read_test_history(path: str) -> dict:
    """{epoch: test_accuracy} from a `TestEachEpoch` CSV, the last row of each epoch kept."""
    return {int(e): a for e, a in zip(*(reports.read_history(path).get(k, []) for k in ("epoch", "test_accuracy")))}


# ---------------------------------------------------------------- settings


def budget(config: ReproduceConfig) -> dict:
    """epochs, train_steps, time_budget (each net's), warm-up, max_train_examples and max_test_examples of every
    net of the experiment.

    Settings left as None take `REPRODUCE_BUDGET`'s; Table 6's take
    its recipe's length and warm-up (the paper's) on all the data.
    """
    if config.experiment == "table6":
        return dict(epochs=config.epochs, train_steps=config.train_steps, time_budget=config.time_budget,
                    warmup_steps=config.warmup_steps, max_train_examples=config.max_train_examples,
                    max_test_examples=config.max_test_examples)
    default = REPRODUCE_BUDGET
    given = (config.epochs, config.train_steps, config.time_budget)
    epochs = config.epochs if any(length is not None for length in given) else default["epochs"]
    # The budget's warm-up is a default, cut to half of a shorter run; an explicit --warmup_steps is kept exactly.
    return dict(epochs=epochs, train_steps=config.train_steps, time_budget=config.time_budget,
                warmup_steps=config.warmup_steps,
                default_warmup_steps=default["warmup_steps"],
                max_train_examples=config.max_train_examples or default["max_train_examples"],
                max_test_examples=config.max_test_examples or default["max_test_examples"])


def nets(config: ReproduceConfig) -> list:
    """Names of the nets the experiment trains, plain before residual, shallow before deep."""
    if config.experiment == "table6":
        return [f"resnet{d}" for d in config.depths]
    depths = (config.lesion_depth,) if config.experiment == "lesion" else config.depths
    return [f"{kind}{d}" for kind in ("plain", "resnet") for d in depths]


def train_config(config: ReproduceConfig, name: str) -> TrainConfig:
    """The training run of one net of the experiment."""
    shared = {f.name: getattr(config, f.name) for f in dataclasses.fields(RunSettings)}
    shared.update(budget(config))
    subdir = os.path.join("table6", name) if config.experiment == "table6" else name
    shared.update(model=name, model_dir=os.path.join(config.model_dir, subdir), recipe=config.recipe,
                  dtype=config.dtype)
    return TrainConfig(**shared)


def validate(config: ReproduceConfig) -> list:
    """Check every setting and every net's run directory before any data is read.

    Returns:
        The `TrainConfig` of each net.

    Raises:
        ValueError: the first thing wrong, saying what is valid.
    """
    settings.validate(config)
    if config.experiment == "lesion" and config.lesion_depth not in config.depths:
        raise ValueError(f"--lesion_depth={config.lesion_depth} must be one of --depths "
                         f"({','.join(map(str, config.depths))}), so that the lesioned nets are the trained ones.")
    configs = [train_config(config, name) for name in nets(config)]
    for cfg in configs:
        training.validate(cfg)
    return configs


# ---------------------------------------------------------------- training and data


def _prepared(cfg: TrainConfig) -> pipelines.PreparedData:
    """The data of a net's run, split exactly as `training.train` splits it."""
    batch_size = cfg.batch_size or recipes.get_recipe(cfg.recipe).batch_size
    return training.prepare_data(cfg, specs.get_spec(cfg.model), batch_size)


def trained(cfg: TrainConfig, prepared: pipelines.PreparedData) -> tuple:
    """(model, result) of a net: trained (or resumed) with its test error per epoch, or read back if finished."""
    run_dir = RunDir(cfg.model_dir)
    if run_dir.is_finished():
        model, _ = run_dir.load()
        with open(os.path.join(cfg.model_dir, RESULT_FILE)) as f:
            return model, json.load(f)
    recorder = TestEachEpoch(prepared.test_ds, os.path.join(cfg.model_dir, TEST_HISTORY),
                             write=distribute.cluster_role().is_chief)
    result = training.train(cfg, extra_callbacks=[recorder])
    return result.pop("model"), result


def _test_arrays(prepared: pipelines.PreparedData, limit: Optional[int]) -> tuple:
    images, labels = [], []
    for x, y in prepared.test_ds:
        images.append(x.numpy())
        labels.append(np.argmax(y.numpy(), axis=-1))
        if limit is not None and sum(len(i) for i in images) >= limit:
            break
    x, y = np.concatenate(images), np.concatenate(labels)
    return (x, y) if limit is None else (x[:limit], y[:limit])


def _error(model: keras.Model, images: np.ndarray, labels: np.ndarray, batch_size: int) -> float:
    """Top-1 test error in %."""
    predictions = model.predict(images, batch_size=batch_size, verbose=0)
    return float(100.0 * np.mean(np.argmax(predictions, axis=-1) != labels))


# ---------------------------------------------------------------- the experiments


def _write_csv(path: str, header: Sequence[str], rows: Sequence[Sequence]) -> str:
    with atomic_path(path) as tmp:
        with open(tmp, "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(header)
            writer.writerows(rows)
    return path


def _out(config: ReproduceConfig, name: str) -> str:
    return os.path.join(config.model_dir, name)


def _written(config: ReproduceConfig, result: dict, header: Sequence[str], rows: Sequence[Sequence],
             figure=None) -> dict:
    """`result` with "paths": its JSON, its rows as CSV and (with `figure`) its PNG, named after the experiment."""
    name = result["experiment"]
    paths = dict(json=write_json(_out(config, f"{name}.json"), result),
                 csv=_write_csv(_out(config, f"{name}.csv"), header, rows))
    if figure is not None:
        paths["png"] = figure(result, _out(config, f"{name}.png"))
    return dict(result, paths=paths)


def _label(spec: specs.ResNetSpec) -> str:
    return f"{'ResNet' if spec.residual else 'plain'}-{spec.depth}"


def degradation(config: ReproduceConfig, configs: Sequence[TrainConfig]) -> dict:
    """Figure 6: training and test error per epoch of plain and residual nets of each depth."""
    prepared = _prepared(configs[0])
    nets_, rows = {}, []
    for cfg in configs:
        spec = specs.get_spec(cfg.model)
        _, result = trained(cfg, prepared)
        history = reports.read_history(os.path.join(cfg.model_dir, HISTORY_FILE))
        tests = read_test_history(os.path.join(cfg.model_dir, TEST_HISTORY))
        epochs = [int(e) for e in history.get("epoch", [])]
        train_error = [100.0 * (1.0 - a) for a in history.get("accuracy", [])]
        test_error = [100.0 * (1.0 - tests[e]) if e in tests else float("nan") for e in epochs]
        nets_[spec.name] = dict(depth=spec.depth, residual=spec.residual, epochs=[e + 1 for e in epochs],
                                train_error=train_error, test_error=test_error,
                                final_test_error=100.0 * (1.0 - result["test_accuracy"]))
        rows += [(spec.name, spec.depth, spec.residual, e + 1, tr, te)
                 for e, tr, te in zip(epochs, train_error, test_error)]
    findings = {}
    for residual, kind in ((False, "plain"), (True, "resnet")):
        group = sorted((n["depth"], n) for n in nets_.values() if n["residual"] == residual)
        if len(group) > 1 and group[0][1]["train_error"] and group[-1][1]["train_error"]:
            (shallow, a), (deep, b) = group[0], group[-1]
            findings[f"{kind}{deep}_train_error_minus_{kind}{shallow}"] = b["train_error"][-1] - a["train_error"][-1]
            findings[f"{kind}{deep}_test_error_minus_{kind}{shallow}"] = b["final_test_error"] - a["final_test_error"]
    result = dict(experiment="degradation", dataset=config.dataset, budget=budget(config), nets=nets_,
                  findings=findings)
    return _written(config, result, ("net", "depth", "residual", "epoch", "train_error", "test_error"), rows,
                    figures.degradation)


def responses(config: ReproduceConfig, configs: Sequence[TrainConfig]) -> dict:
    """Figure 7: the std of every 3x3 layer's response in each trained net."""
    prepared = _prepared(configs[0])
    images, _ = _test_arrays(prepared, config.eval_examples)
    nets_, rows = {}, []
    for cfg in configs:
        spec = specs.get_spec(cfg.model)
        model, _ = trained(cfg, prepared)
        measured = analysis.layer_responses(model, images, prepared.batch_size)
        nets_[spec.name] = dict(depth=spec.depth, residual=spec.residual,
                                layers=[dict(layer=n, std=s) for n, s in measured],
                                mean_std=float(np.mean([s for _, s in measured])))
        rows += [(spec.name, spec.depth, spec.residual, i + 1, n, s) for i, (n, s) in enumerate(measured)]
    findings = {f"resnet{d}_mean_std_over_plain{d}": nets_[f"resnet{d}"]["mean_std"] / nets_[f"plain{d}"]["mean_std"]
                for d in config.depths}
    result = dict(experiment="responses", dataset=config.dataset, budget=budget(config), images=len(images),
                  nets=nets_, findings=findings)
    return _written(config, result, ("net", "depth", "residual", "index", "layer", "std"), rows, figures.responses)


def lesion(config: ReproduceConfig, configs: Sequence[TrainConfig]) -> dict:
    """Veit et al.: test error after deleting each block, then k random blocks, of plain and residual nets."""
    prepared = _prepared(configs[0])
    images, labels = _test_arrays(prepared, config.eval_examples)
    rng = np.random.default_rng(config.seed)
    nets_, rows = {}, []
    for cfg in configs:
        spec = specs.get_spec(cfg.model)
        model, _ = trained(cfg, prepared)
        base = _error(model, images, labels, prepared.batch_size)
        reshaping = {block: analysis.changes_shape(model, block) for block in analysis.block_names(model)}
        single = []
        for block, reshapes in reshaping.items():
            error = _error(analysis.lesioned(model, [block]), images, labels, prepared.batch_size)
            single.append(dict(block=block, changes_shape=reshapes, error=error))
            rows.append((spec.name, "single", 1, block, error))
        candidates = [b for b, reshapes in reshaping.items() if not reshapes]
        random_ = []
        for k in range(1, min(config.lesion_max_deleted, len(candidates)) + 1):
            errors = []
            for _ in range(config.lesion_draws):
                chosen = sorted(rng.choice(candidates, size=k, replace=False).tolist())
                errors.append(_error(analysis.lesioned(model, chosen), images, labels, prepared.batch_size))
                rows.append((spec.name, "random", k, " ".join(chosen), errors[-1]))
            random_.append(dict(deleted=k, mean_error=float(np.mean(errors)), std_error=float(np.std(errors)),
                                errors=errors))
        nets_[spec.name] = dict(depth=spec.depth, residual=spec.residual, error=base, single=single,
                                random=random_)
        log.info("%s: test error %.2f%%; one identity block deleted: %.2f%% on average", _label(spec), base,
                 np.mean([b["error"] for b in single if not b["changes_shape"]]))
    findings = {}
    for name, net in nets_.items():
        kept = [b["error"] for b in net["single"] if not b["changes_shape"]]
        findings[f"{name}_mean_error_one_identity_block_deleted"] = float(np.mean(kept))
        findings[f"{name}_error"] = net["error"]
    result = dict(experiment="lesion", dataset=config.dataset, budget=budget(config), images=len(images),
                  nets=nets_, findings=findings)
    return _written(config, result, ("net", "kind", "deleted", "blocks", "error"), rows, figures.lesion)


def table6(config: ReproduceConfig, configs: Sequence[TrainConfig]) -> dict:
    """Table 6: test error of ResNets trained with the recipe, beside the paper's CIFAR-10 errors."""
    prepared = _prepared(configs[0])
    nets_ = {}
    for cfg in configs:
        spec = specs.get_spec(cfg.model)
        _, result = trained(cfg, prepared)
        nets_[spec.name] = dict(depth=spec.depth, test_error=100.0 * (1.0 - result["test_accuracy"]),
                                paper_error=TABLE6_ERRORS.get(spec.depth), epochs=result["epochs"],
                                steps_per_epoch=result["steps_per_epoch"])
    comparable = config.dataset == "cifar10" and config.max_train_examples is None
    lines = [f"Table 6 on {config.dataset} ({config.recipe} recipe"
             + (f", {config.train_steps} steps" if config.train_steps else "")
             + (f", {config.epochs} epochs" if config.epochs else "") + ")", "",
             "| net | test error (%) | paper, CIFAR-10 (%) |", "|---|---|---|"]
    for name, net in nets_.items():
        paper = "-" if net["paper_error"] is None else f"{net['paper_error']:.2f}"
        lines.append(f"| ResNet-{net['depth']} | {net['test_error']:.2f} | {paper} |")
    if not comparable:
        lines += ["", "The paper's errors are CIFAR-10's with the full 64k-iteration recipe; these were measured "
                  "on other data or a smaller budget, so the columns are not comparable."]
    result = dict(experiment="table6", dataset=config.dataset, budget=budget(config), comparable=comparable,
                  nets=nets_)
    written = _written(config, result, ("net", "depth", "test_error", "paper_error"),
                       [(n, v["depth"], v["test_error"], v["paper_error"]) for n, v in nets_.items()])
    with atomic_path(_out(config, "table6.md")) as tmp:
        with open(tmp, "w") as f:
            f.write("\n".join(lines) + "\n")
    written["paths"]["md"] = _out(config, "table6.md")
    return dict(written, table="\n".join(lines))


_RUNNERS = dict(degradation=degradation, responses=responses, lesion=lesion, table6=table6)
assert set(_RUNNERS) == set(EXPERIMENTS)


def run(config: ReproduceConfig) -> dict:
    """Run one experiment: validate everything, train or reuse its nets, measure, write numbers and figure.

    Args:
        config: the experiment and its budget.

    Returns:
        The experiment's result (what its JSON holds) with "paths" of what was written.

    Raises:
        ValueError: a bad setting or a run directory of another configuration, before any work.
    """
    configs = validate(config)
    os.makedirs(config.model_dir, exist_ok=True)
    keras.utils.set_random_seed(config.seed)
    return _RUNNERS[config.experiment](config, configs)
