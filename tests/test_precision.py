"""The hardware facts --dtype=auto and --xla=auto start from: which candidates can be fast, and what a figure
belongs to."""

import builtins

from keras_resnet.train import autotune, precision


def fake_cpuinfo(monkeypatch, tmp_path, flags: str) -> None:
    real_open = builtins.open
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(f"processor : 0\nmodel name : Test CPU 9000\nflags : {flags}\n")
    monkeypatch.setattr(builtins, "open",
                        lambda path, *a, **k: real_open(cpuinfo if path == "/proc/cpuinfo" else path, *a, **k))


def test_bfloat16_is_tried_only_where_the_cpu_computes_it_or_there_is_a_gpu(monkeypatch, tmp_path):
    for flags, native in (("fpu avx2 amx_bf16 amx_tile", True), ("fpu avx512f avx512_bf16", True),
                          ("fpu avx2 fma", False)):
        fake_cpuinfo(monkeypatch, tmp_path, flags)
        assert precision.cpu_has_native_bfloat16() is native
        assert precision.cpu() == ("Test CPU 9000", set(flags.split()))
        labels = [c.label for c in autotune.candidates("auto", "auto", gpu=False, native_bfloat16=native)]
        assert labels == ["float32", "float32 + XLA"] + (["mixed_bfloat16", "mixed_bfloat16 + XLA"] if native else [])
    labels = [c.label for c in autotune.candidates("auto", "off", gpu=True, native_bfloat16=False)]
    assert labels == ["float32", "mixed_bfloat16", "mixed_float16"]
    # Given values are honoured: one candidate, nothing to measure.
    assert autotune.candidates("mixed_bfloat16", "on", gpu=False, native_bfloat16=False) == [
        autotune.Candidate("mixed_bfloat16", True)]


def test_machine_names_the_cpu_and_the_kernel_library_asked_for(monkeypatch, tmp_path):
    fake_cpuinfo(monkeypatch, tmp_path, "fpu avx2 fma")
    monkeypatch.setenv("TF_ENABLE_ONEDNN_OPTS", "1")
    facts = precision.machine()
    assert (facts["cpu"], facts["avx2"], facts["amx_bf16"], facts["onednn"]) == ("Test CPU 9000", True, False, "1")
