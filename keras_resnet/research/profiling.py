"""Where a training step's time goes: a tf.profiler trace of a few steps, summed by op type and by layer class.

TensorFlow on a CPU records each executed op as a host event named
"<op name>:<op type>"; the op name carries the name scopes of the Keras layer
that made it (and "gradient_tape" for its gradient), so each op's time can be
charged to an op type and to a layer class, forward or backward. What is
summed is op time: ops that run side by side on the inter-op threads both
count, so the total can exceed the step's wall time. The trace stays on disk
for TensorBoard's profile plugin. GPU kernels are not in these host events,
so summaries are for CPU runs only.

Which kernel library runs an op shows in its type: TensorFlow's own kernels
record the op's type ("Conv2D"), oneDNN's (TF_ENABLE_ONEDNN_OPTS, on by
default on Intel CPUs with AVX512) record "_MklNativeConv2D" or
"_MklMatMul". Both are charged to the operation (`op_type`), so a profile
reads the same whichever library ran it.
"""

from __future__ import annotations

import dataclasses
import glob
import os
import re
import statistics
import time
from typing import Optional

import keras
import numpy as np

BACKWARD_SCOPE = "gradient_tape"
LOSS_SCOPE = "compile_loss"
# Charged to no layer: the optimizer's update, the loss, and the rest of the step (gradient sums, counters).
OPTIMIZER, LOSS, OTHER = "(optimizer)", "(loss)", "(other)"
_SUFFIX = re.compile(r"_\d+$")
_ONEDNN = re.compile(r"^_Mkl(Native)?")


def op_type(recorded: str) -> str:
    """The operation an event's type names: oneDNN's kernels ("_MklNativeConv2D", "_MklMatMul") as their op."""
    if recorded.startswith("__inference_"):  # a compiled function (XLA): drop its trace counter
        return _SUFFIX.sub("", recorded)
    return _ONEDNN.sub("", recorded)


@dataclasses.dataclass
class StepProfile:
    """A profiled training step.

    Attributes:
        subject: what ran, e.g. "keras_resnet resnet20".
        dtype: the Keras dtype policy.
        xla: compiled with jit_compile=True (XLA clusters are then charged
            as single ops, to no layer).
        batch_size: images per step.
        steps: profiled steps (after untimed warm-up steps).
        step_ms: median wall time of a profiled step, in ms (the profiler
            adds its own overhead).
        op_ms: summed op time per step, in ms.
        by_op_type: [{"op_type", "ms", "share"}], ms per step, share of
            `op_ms`, largest first.
        by_layer: [{"layer", "forward_ms", "backward_ms", "ms", "share"}]:
            the same time charged to Keras layer classes, or to
            (optimizer), (loss) and (other); largest first.
        trace_dir: the tf.profiler log directory (TensorBoard --logdir).
    """

    subject: str
    dtype: str
    xla: bool
    batch_size: int
    steps: int
    step_ms: float
    op_ms: float
    by_op_type: list
    by_layer: list
    trace_dir: str


def layer_classes(model: keras.Model) -> dict:
    """{layer name: class name} of every layer, nested models' layers included (the innermost name wins)."""
    classes = {}
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            classes.update(layer_classes(layer))
        classes.setdefault(layer.name, type(layer).__name__)
    return classes


def charge(op_name: str, classes: dict, optimizer_scope: str) -> tuple:
    """(layer class or bucket, backward?) for one op name.

    Keras name scopes repeat a layer's name with a "_<n>" suffix per call
    ("conv1_bn_1"); the innermost scope that names a layer wins. The
    optimizer's update goes to the optimizer even where a scope inside it
    names the layer whose variable it updates.
    """
    scopes = op_name.split("/")[:-1]
    backward = BACKWARD_SCOPE in scopes
    if optimizer_scope in scopes:
        return OPTIMIZER, backward
    for scope in reversed(scopes):
        for name in (scope, _SUFFIX.sub("", scope)):
            if name in classes:
                return classes[name], backward
    if LOSS_SCOPE in scopes:
        return LOSS, backward
    return OTHER, backward


def op_events(xspace) -> list:
    """[(op name, op type, seconds)] of every TensorFlow op executed on the host CPU in an XSpace."""
    events = []
    for plane in xspace.planes:
        if not plane.name.startswith("/host:"):
            continue
        metadata = plane.event_metadata
        for line in plane.lines:
            for event in line.events:
                meta = metadata[event.metadata_id]
                # Op events are "<name>:<type>" with the type as display name; tf.data and executor
                # events are not.
                if meta.display_name and meta.name.endswith(":" + meta.display_name):
                    events.append((meta.name[:-len(meta.display_name) - 1], op_type(meta.display_name),
                                   event.duration_ps * 1e-12))
    return events


def summarize(events: list, classes: dict, optimizer_scope: str, steps: int) -> tuple:
    """Sum op events per step by op type and by layer class.

    Args:
        events: `op_events`' list.
        classes: `layer_classes` of the profiled model.
        optimizer_scope: the optimizer's name scope (its `name`).
        steps: how many steps the events cover.

    Returns:
        (op ms per step, by_op_type, by_layer) as in `StepProfile`.

    Raises:
        ValueError: no op events (the trace recorded nothing to charge).
    """
    if not events:
        raise ValueError("The trace holds no TensorFlow op events: nothing ran on the host CPU while profiling.")
    per_type, forward, backward = {}, {}, {}
    for name, op_type, seconds in events:
        ms = 1000 * seconds / steps
        per_type[op_type] = per_type.get(op_type, 0.0) + ms
        layer, is_backward = charge(name, classes, optimizer_scope)
        side = backward if is_backward else forward
        side[layer] = side.get(layer, 0.0) + ms
    total = sum(per_type.values())
    by_op_type = [{"op_type": t, "ms": ms, "share": ms / total}
                  for t, ms in sorted(per_type.items(), key=lambda item: -item[1])]
    layers = set(forward) | set(backward)
    by_layer = [{"layer": layer, "forward_ms": forward.get(layer, 0.0), "backward_ms": backward.get(layer, 0.0),
                 "ms": forward.get(layer, 0.0) + backward.get(layer, 0.0)} for layer in layers]
    for row in by_layer:
        row["share"] = row["ms"] / total
    by_layer.sort(key=lambda row: -row["ms"])
    return total, by_op_type, by_layer


def read_trace(trace_dir: str):
    """The newest XSpace (.xplane.pb) tf.profiler wrote under `trace_dir`."""
    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    paths = glob.glob(os.path.join(trace_dir, "plugins", "profile", "*", "*.xplane.pb"))
    if not paths:
        raise FileNotFoundError(f"tf.profiler wrote no .xplane.pb under {trace_dir}")
    xspace = xplane_pb2.XSpace()
    with open(max(paths, key=os.path.getmtime), "rb") as f:
        xspace.ParseFromString(f.read())
    return xspace


def profile_training(model: keras.Model, x: np.ndarray, y: np.ndarray, trace_dir: str, steps: int = 3,
                     warmup_steps: int = 1, subject: Optional[str] = None,
                     dtype: Optional[str] = None) -> StepProfile:
    """Profile `steps` training steps of a compiled model on one batch and charge their time.

    Args:
        model: a compiled Keras model (TensorFlow backend).
        x: one batch of inputs.
        y: its targets.
        trace_dir: where tf.profiler writes its trace.
        steps: profiled steps.
        warmup_steps: untimed steps first (at least one, so tracing and
            the first call's allocations stay out of the profile).
        subject: the name to report; default the model's.
        dtype: the dtype policy to report; default the model's (a clone's
            model-level policy can differ from its layers').

    Returns:
        The `StepProfile`.

    Raises:
        ValueError: steps < 1, or an uncompiled model.
    """
    import tensorflow as tf

    if steps < 1:
        raise ValueError(f"steps must be >= 1. Received: steps={steps}")
    if not getattr(model, "compiled", False):
        raise ValueError(f"Model {model.name!r} is not compiled: profile_training needs its train step.")
    for _ in range(max(1, warmup_steps)):
        model.train_on_batch(x, y)
    walls = []
    tf.profiler.experimental.start(trace_dir)
    try:
        for _ in range(steps):
            start = time.perf_counter()
            model.train_on_batch(x, y)
            walls.append(time.perf_counter() - start)
    finally:
        tf.profiler.experimental.stop()
    op_ms, by_op_type, by_layer = summarize(op_events(read_trace(trace_dir)), layer_classes(model),
                                            model.optimizer.name, steps)
    return StepProfile(subject or model.name, dtype or model.dtype_policy.name, bool(model.jit_compile), len(x), steps,
                       1000 * statistics.median(walls), op_ms, by_op_type, by_layer, trace_dir)


def _cell(row: Optional[dict]) -> str:
    return f"{row['ms']:.1f} ({100 * row['share']:.1f} %)" if row else ""


def markdown(profiles: list, top: int = 15) -> str:
    """Side-by-side tables of StepProfile dicts: ms per step (share of op time) by layer class, then by op type.

    The op-type table keeps the `top` types with the largest share in any
    profile and sums the rest into one row.
    """
    if not profiles:
        return ""
    header = "| | " + " | ".join(f"{p['subject']}, {p['dtype']}{', XLA' if p['xla'] else ''}"
                                for p in profiles) + " |"
    rule = "|---" * (len(profiles) + 1) + "|"
    lines = ["Where a training step's time goes (tf.profiler; ms per step of summed op time, and its share):", "",
             header, rule,
             "| step wall time (profiled) | " + " | ".join(f"{p['step_ms']:.1f}" for p in profiles) + " |",
             "| summed op time | " + " | ".join(f"{p['op_ms']:.1f}" for p in profiles) + " |"]

    def rows(key: str, field: str, limit: Optional[int]) -> list:
        tables = [{row[key]: row for row in p[field]} for p in profiles]
        names = sorted(set().union(*tables), key=lambda n: -max(t[n]["share"] for t in tables if n in t))
        out = [f"| {name} | " + " | ".join(_cell(t.get(name)) for t in tables) + " |" for name in names[:limit]]
        if limit is not None and len(names) > limit:
            rest = [sum(t[n]["ms"] for n in names[limit:] if n in t) for t in tables]
            out.append(f"| {len(names) - limit} other op types | " + " | ".join(
                _cell({"ms": ms, "share": ms / p["op_ms"]}) for ms, p in zip(rest, profiles)) + " |")
        return out

    if any(p["xla"] for p in profiles):
        lines += ["", "XLA compiles the whole step into one cluster: its time shows as one op, charged to no layer."]
    lines += ["", "By layer class (forward and backward):", "", header, rule] + rows("layer", "by_layer", None)
    lines += ["", "By op type:", "", header, rule] + rows("op_type", "by_op_type", top)
    return "\n".join(lines) + "\n"
