"""The fastest dtype policy and XLA setting for one run on this machine: measured, bounded, cached.

As cuDNN's autotuner times its algorithms, `resolve` times a few training
steps of the run's own model, batch and input in each candidate
configuration (`candidates`) and picks the fastest. Which configuration is
fastest differs between CPUs of the same flags and between models, so no
rule is read from the flags: they only say which candidates can be fast at
all (bfloat16 where the CPU computes it natively or there is a GPU, float16
on GPUs). The measurement is bounded (`MAX_FRACTION` of the run's expected
time, at most `MAX_SECONDS`), and its result is cached per machine
fingerprint, model, input, batch and library versions, so a resumed or
repeated run does not measure again.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import time
from typing import Callable, Optional, Sequence

import numpy as np

from keras_resnet.files import write_json
from keras_resnet.train.precision import machine

MAX_FRACTION = 0.05  # of the run's expected training time
MAX_SECONDS = 60.0
TIMED_STEPS = 5  # per candidate, after one untimed step that traces and compiles
# A shorter run cannot pay for a measurement (each candidate is built, compiled and stepped): it trains in the
# first candidate (float32 without XLA, or what was given).
MIN_STEPS = 200
CACHE_FILE = "autotune.json"  # under $KERAS_HOME/keras_resnet
NOT_MEASURED = "not measured: time budget spent"
CACHED = "cached"  # a timing taken by an earlier run of the same step on this machine


@dataclasses.dataclass(frozen=True)
class Candidate:
    """One configuration: a Keras dtype policy, and whether the train step is compiled with XLA."""

    dtype: str
    xla: bool

    @property
    def label(self) -> str:
        return self.dtype + (" + XLA" if self.xla else "")


@dataclasses.dataclass(frozen=True)
class Timing:
    """A candidate's measured speed (images a second), or None and why it was not measured."""

    candidate: Candidate
    images_per_second: Optional[float]
    note: str = ""


@dataclasses.dataclass(frozen=True)
class Choice:
    """The configuration a run trains in, and how it was found.

    Attributes:
        candidate: the chosen configuration.
        how: "measured", "cached" (measured before on this machine for this
            model, input and batch), "given" (one candidate: the flags fix it),
            "short run" (under `MIN_STEPS`) or "multi-worker" (workers would
            measure apart and could disagree; the first candidate).
        timings: the measurement (also for "cached").
    """

    candidate: Candidate
    how: str
    timings: tuple = ()

    @property
    def images_per_second(self) -> Optional[float]:
        """The chosen configuration's measured speed, where it was measured."""
        return next((t.images_per_second for t in self.timings if t.candidate == self.candidate), None)

    def table(self) -> list:
        """Lines for the run's header (which names the choice): each candidate's speed, the choice marked."""
        lines = []
        for timing in self.timings:
            speed = f"{timing.images_per_second:,.0f} img/s" if timing.images_per_second else timing.note
            if timing.note == CACHED:
                speed += " (cached)"
            mark = "  <- chosen" if timing.candidate == self.candidate else ""
            lines.append(f"  {timing.candidate.label:<24} {speed}{mark}")
        return lines

    def to_json(self) -> dict:
        """What run.json records."""
        return {"dtype": self.candidate.dtype, "xla": self.candidate.xla, "how": self.how,
                "timings": [{"dtype": t.candidate.dtype, "xla": t.candidate.xla,
                             "images_per_second": t.images_per_second, "note": t.note} for t in self.timings]}

    @classmethod
    def from_json(cls, values: dict, how: str) -> "Choice":
        timings = tuple(Timing(Candidate(t["dtype"], t["xla"]), t["images_per_second"], t.get("note", ""))
                        for t in values.get("timings", ()))
        return cls(Candidate(values["dtype"], values["xla"]), how, timings)


def candidates(dtype: str, xla: str, gpu: bool, native_bfloat16: bool) -> list:
    """The configurations worth timing, float32 without XLA first.

    Args:
        dtype: a run's --dtype: "auto" or a policy of `precision.DTYPES`.
        xla: a run's --xla: "auto", "on" or "off".
        gpu: a GPU is there.
        native_bfloat16: the CPU computes bfloat16 natively (AMX or AVX512_BF16).

    Returns:
        `Candidate`s: every dtype that can be fast here (or the given one)
        with XLA off and on (or as given).
    """
    if dtype == "auto":
        dtypes = ["float32"] + (["mixed_bfloat16"] if gpu or native_bfloat16 else []) + (
            ["mixed_float16"] if gpu else [])
    else:
        dtypes = [dtype]
    xlas = {"auto": [False, True], "on": [True], "off": [False]}[xla]
    return [Candidate(d, x) for d in dtypes for x in xlas]


def stepper(build: Callable[[Candidate], object], batch_size: int, input_shape: Sequence[int],
            classes: int) -> Callable[[Candidate], Callable[[], None]]:
    """`make_step` for `measure`: the compiled model `build(candidate)` returns, trained on one synthetic batch
    (raw 0-255 pixels of `input_shape`, one-hot labels)."""
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 255, (batch_size, *input_shape)).astype(np.float32)
    y = np.eye(classes, dtype=np.float32)[rng.integers(0, classes, batch_size)]

    def make_step(candidate: Candidate) -> Callable[[], None]:
        model = build(candidate)
        return lambda: model.train_on_batch(x, y)

    return make_step


def measure(options: Sequence[Candidate], make_step: Callable[[Candidate], Callable[[], None]], batch_size: int,
            run_steps: int, timer: Callable[[], float] = time.perf_counter,
            known: Optional[dict] = None, run_seconds: Optional[float] = None) -> list:
    """Time `TIMED_STEPS` training steps of each candidate, within the budget.

    The first candidate is always measured; its speed gives the run's
    expected time, and the others are measured while the time spent (their
    builds and compilations included) stays within `MAX_FRACTION` of it and
    `MAX_SECONDS`; any left are marked as not measured. A later candidate
    that fails to build or compile (XLA on an op it lacks) is marked failed.

    Args:
        options: the candidates, in order.
        make_step: builds the run's model in a candidate's configuration and
            returns a function running one training step on one batch.
        batch_size: images a step.
        run_steps: the run's training steps.
        timer: the clock (injected by tests).
        known: {candidate: images a second} an earlier run measured on this
            step: taken as they are (noted "cached"), not measured again.
        run_seconds: the run's time, where it is set (`--time_budget`) rather than its steps.

    Returns:
        A `Timing` per candidate.
    """
    start, budget, timings, known = timer(), MAX_SECONDS, [], known or {}

    def bound(speed: float) -> float:
        expected = run_seconds if run_seconds is not None else run_steps * batch_size / speed
        return min(MAX_SECONDS, MAX_FRACTION * expected)

    for candidate in options:
        if candidate in known:
            timings.append(Timing(candidate, known[candidate], CACHED))
            if len(timings) == 1:
                budget = bound(known[candidate])
            continue
        if timings and timer() - start > budget:
            timings.append(Timing(candidate, None, NOT_MEASURED))
            continue
        try:
            step = make_step(candidate)
            step()  # traces and compiles
            begin = timer()
            for _ in range(TIMED_STEPS):
                step()
        except Exception as error:  # noqa: BLE001 - a configuration this platform cannot run is not chosen
            if not timings:
                raise  # the first candidate is the fallback: its failure is the run's
            timings.append(Timing(candidate, None, f"failed: {type(error).__name__}: {str(error)[:120]}"))
            continue
        speed = TIMED_STEPS * batch_size / max(timer() - begin, 1e-9)
        timings.append(Timing(candidate, speed))
        if len(timings) == 1:
            budget = bound(speed)
    return timings


def fingerprint(facts: dict) -> str:
    """A key for `facts` (the machine's and the run's)."""
    return hashlib.sha256(json.dumps(facts, sort_keys=True, default=str).encode()).hexdigest()[:24]


def cache_path() -> str:
    """$KERAS_HOME/keras_resnet/autotune.json (KERAS_HOME defaults to ~/.keras)."""
    home = os.environ.get("KERAS_HOME", os.path.join(os.path.expanduser("~"), ".keras"))
    return os.path.join(home, "keras_resnet", CACHE_FILE)


def _read_cache(path: str) -> dict:
    try:
        with open(path, encoding="utf-8") as f:
            cache = json.load(f)
        return cache if isinstance(cache, dict) else {}
    except (OSError, ValueError):  # none yet, or damaged: measure again
        return {}


def complete(timings: Sequence[Timing]) -> bool:
    """Whether every candidate has an answer: a speed, or a failure (not one left out for the time budget)."""
    return bool(timings) and all(t.note != NOT_MEASURED for t in timings)


def _cached_choice(entry, options: Sequence[Candidate]) -> Optional[Choice]:
    """The cached choice, if the entry is whole and chose one of `options`; None for one to measure again.

    The cache is this package's own file: a damaged or hand-edited entry
    (`{}`, an unknown dtype) is measured again and overwritten, not trusted.
    """
    if not isinstance(entry, dict):
        return None
    try:
        choice = Choice.from_json(entry, "cached")
    except (KeyError, TypeError, ValueError, AttributeError):
        return None
    return choice if choice.candidate in list(options) else None


def resolve(options: Sequence[Candidate], make_step: Callable[[Candidate], Callable[[], None]], batch_size: int,
            run_steps: int, run_facts: dict, *, multi_worker: bool = False, path: Optional[str] = None,
            timer: Callable[[], float] = time.perf_counter, run_seconds: Optional[float] = None) -> Choice:
    """The configuration to train in: the only candidate, the cached choice, or the fastest measured.

    Args:
        options: `candidates(...)`.
        make_step: as for `measure`.
        batch_size: images a step.
        run_steps: the run's training steps.
        run_facts: what identifies the run's step (model, input shape, classes,
            batch, options); the machine's facts are added.
        multi_worker: the run spans workers, which must not choose apart.
        path: the cache file (default `cache_path()`).
        timer: the clock (injected by tests).
        run_seconds: a budgeted run's time (`--time_budget`): its plan needs the
            step's speed, so the chosen candidate is always measured (or
            cached), and the others within `MAX_FRACTION` of this time.

    Returns:
        A `Choice`.
    """
    options = list(options)
    if multi_worker:
        return Choice(options[0], "multi-worker")
    if len(options) == 1 and run_seconds is None:
        return Choice(options[0], "given")
    if run_steps < MIN_STEPS and run_seconds is None:
        return Choice(options[0], "short run")
    path = path or cache_path()
    key = fingerprint({"machine": machine(), "run": run_facts, "candidates": [c.label for c in options]})
    cached = _cached_choice(_read_cache(path).get(key), options)
    if cached is not None and complete(cached.timings):
        return cached
    # A measurement that left candidates out (a short run's budget) is not the machine's answer: its figures are
    # kept, and this run measures the rest within its own budget.
    known = {t.candidate: t.images_per_second for t in (cached.timings if cached else ()) if t.images_per_second}
    timings = measure(options, make_step, batch_size, run_steps, timer, known, run_seconds)
    best = max((t for t in timings if t.images_per_second), key=lambda t: t.images_per_second)
    how = "given" if len(options) == 1 else "measured" if len(known) < len(timings) else "cached"
    choice = Choice(best.candidate, how, tuple(timings))
    cache = _read_cache(path)  # another run may have written meanwhile
    stored = choice.to_json()
    stored["timings"] = [dict(t, note="" if t["note"] == CACHED else t["note"]) for t in stored["timings"]]
    cache[key] = stored
    try:
        write_json(path, cache)
    except OSError:  # a read-only home: the choice still holds for this run
        pass
    return choice
