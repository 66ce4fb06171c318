"""The benchmark's report: the ratios between what ran together, the configuration a run would pick, and the
markdown tables of `keras-resnet benchmark`."""

from __future__ import annotations

from typing import Optional

from keras_resnet.arch import specs
from keras_resnet.research import profiling
from keras_resnet.research.config import BenchmarkConfig

__all__ = ["comparisons", "auto_choice", "markdown"]


def comparisons(results: list) -> list:
    """Ratios within one task, dtype and XLA setting: keras_resnet against keras.applications, per image and per MAC;
    each dtype against float32; the pipeline against the synthetic step."""
    rows = []
    groups = {}
    for r in results:
        groups.setdefault((r.task, r.dtype, r.xla), []).append(r)
    for (task, dtype, xla), group in groups.items():
        twins = [r for r in group if r.subject.endswith(" keras_batchnorm")]
        if task in ("inference", "train"):
            for twin in twins:
                ours = next(r for r in group if r.subject == twin.subject[:-len(" keras_batchnorm")])
                rows.append(dict(task=task, dtype=dtype, xla=xla, what=f"{ours.subject} / {twin.subject}",
                                 per_image=ours.value / twin.value, per_mac=ours.value / twin.value))
        theirs = [r for r in group if r.subject.startswith("keras.applications")]
        if task in ("inference", "train") and theirs:
            for ours in (r for r in group if r.subject.startswith("keras_resnet") and r not in twins):
                rows.append(dict(task=task, dtype=dtype, xla=xla, what=f"{ours.subject} / {theirs[0].subject}",
                                 per_image=ours.value / theirs[0].value,
                                 per_mac=ours.gmacs_per_second / theirs[0].gmacs_per_second))
        if task == "batchnorm":
            for mode in ("training", "inference"):
                fused, keras_own = (next(r for r in group if r.subject == f"{name}, {mode}")
                                    for name in ("keras_resnet BatchNormalization", "keras.layers.BatchNormalization"))
                rows.append(dict(task=task, dtype=dtype, xla=xla, what=f"{fused.subject} / {keras_own.subject}",
                                 per_image=fused.value / keras_own.value, per_mac=None))
        if task == "pipeline":
            synthetic = next(r for r in group if "synthetic" in r.subject)
            for r in group:
                if r is not synthetic:
                    rows.append(dict(task=task, dtype=dtype, xla=xla, what=f"{r.subject} / {synthetic.subject}",
                                     per_image=r.value / synthetic.value, per_mac=None))
    base = {(r.task, r.subject, r.xla): r for r in results if r.dtype == "float32" and r.unit == "images/s"}
    for r in results:
        reference = base.get((r.task, r.subject, r.xla))
        if reference is not None and r.dtype != "float32":
            rows.append(dict(task=r.task, dtype=r.dtype, xla=r.xla, what=f"{r.subject}: {r.dtype} / float32",
                             per_image=r.value / reference.value, per_mac=None))
    # Every deployed form against LiteRT's float32 file on as many threads (TensorFlow: on all the cores).
    litert_float32 = {r.threads: r for r in results
                      if r.task == "latency" and r.subject.endswith("(LiteRT)") and r.dtype == "float32"}
    for r in results:
        reference = litert_float32.get(r.threads or max(litert_float32, default=0))
        if r.task == "latency" and reference is not None and r is not reference:
            threads = f"{r.threads} thread(s)" if r.threads else f"TensorFlow's pool / {reference.threads} thread(s)"
            rows.append(dict(task="latency", dtype=r.dtype, xla=False,
                             what=f"{r.subject} {r.dtype} / LiteRT float32 latency, {threads}",
                             per_image=r.value / reference.value, per_mac=None))
    return rows


def auto_choice(config: BenchmarkConfig, results: list) -> Optional[dict]:
    """With --dtypes=auto and a training task: the configuration a training run's autotuner would pick from these
    measurements (the fastest training step of the model as a run builds it), else None."""
    subject = f"keras_resnet {specs.get_spec(config.model).name}"  # as a run builds it, not a variant
    trained = [r for r in results if r.task == "train" and r.subject == subject]
    if "auto" not in config.dtypes or not trained:
        return None
    best = max(trained, key=lambda r: r.value)
    return {"dtype": best.dtype, "xla": best.xla, "subject": best.subject, "images_per_second": best.value}


def markdown(report: dict) -> str:
    """The report as markdown tables: every measurement, then the ratios."""
    m = report["machine"]
    lines = [f"Machine: {m['cpu']}, {m['cores']} cores (AMX bf16: {m['amx_bf16']}, AVX512_BF16: "
             f"{m['avx512_bf16']}), GPUs: {', '.join(m['gpus']) or 'none'}; Keras {m['keras']} on "
             f"{m['backend']} {m['backend_version']}."]
    if report["results"]:
        lines += ["", "| task | subject | dtype | XLA | batch | threads | median | rounds | GMAC/s (forward) | "
                  "peak RSS (MiB) |", "|---|---|---|---|---|---|---|---|---|---|"]
    for r in report["results"]:
        gmacs = f"{r['gmacs_per_second']:.1f}" if r["gmacs_per_second"] else ""
        rss = f"{r['peak_rss_mb']:.0f}" if r["peak_rss_mb"] else ""
        rounds = ", ".join(f"{v:.3g}" for v in r["rounds"])
        lines.append(f"| {r['task']} | {r['subject']} | {r['dtype']} | {'on' if r['xla'] else 'off'} | "
                     f"{r['batch_size']} | {r['threads'] or ''} | {r['value']:.3g} {r['unit']} | {rounds} | "
                     f"{gmacs} | {rss} |")
    if report["comparisons"]:
        lines += ["", "| task | dtype | XLA | ratio | per image | per multiply-add |", "|---|---|---|---|---|---|"]
    for c in report["comparisons"]:
        per_mac = f"{c['per_mac']:.3f}" if c["per_mac"] is not None else ""
        lines.append(f"| {c['task']} | {c['dtype']} | {'on' if c['xla'] else 'off'} | {c['what']} | "
                     f"{c['per_image']:.3f} | {per_mac} |")
    if report.get("auto"):
        auto = report["auto"]
        lines += ["", f"auto: {auto['dtype']}, XLA {'on' if auto['xla'] else 'off'} (the fastest training step of "
                      f"{auto['subject']}, {auto['images_per_second']:.3g} images/s)."]
    if report.get("profiles"):
        lines += ["", profiling.markdown(report["profiles"]).rstrip("\n")]
    return "\n".join(lines) + "\n"
