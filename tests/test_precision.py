"""What --dtype=auto resolves to, from the CPU's flags (and a GPU when there is one)."""

from keras_resnet.train import precision


def test_auto_dtype_follows_the_hardware(monkeypatch, tmp_path):
    monkeypatch.setattr(precision, "has_gpu", lambda: False)
    import builtins

    real_open = builtins.open
    for flags, expected in (("fpu avx2 amx_bf16 amx_tile", "mixed_bfloat16"), ("fpu avx512f avx512_bf16",
                                                                               "mixed_bfloat16"),
                            ("fpu avx2 fma", "float32")):
        cpuinfo = tmp_path / "cpuinfo"
        cpuinfo.write_text(f"processor : 0\nflags : {flags}\n")
        monkeypatch.setattr(builtins, "open",
                            lambda path, *a, **k: real_open(cpuinfo if path == "/proc/cpuinfo" else path, *a, **k))
        assert precision.resolve_dtype("auto") == expected
    assert precision.resolve_dtype("float32") == "float32"
