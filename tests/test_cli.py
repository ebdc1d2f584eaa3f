"""The fastinit command: make round-trips, atomic writes, clear errors; info; bench."""
import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest

import fastinit as fi
from fastinit import cli

from conftest import requires_bf16


def test_make_npy_round_trip_in_chunks(tmp_path):
    out = tmp_path / "w.npy"
    ticks = []
    cli.make("normal", (1000, 77), str(out), seed=5, stream="enc.w", params={"std": 0.02},
             chunk_bytes=4096, progress=lambda d, t: ticks.append(d))
    assert len(ticks) > 10  # really filled in chunks
    np.testing.assert_array_equal(np.load(out), fi.normal((1000, 77), std=0.02, seed=5, stream="enc.w"))


@pytest.mark.parametrize("name,params", [("kaiming_uniform", {"a": 2.2360679775}), ("trunc_normal", {"a": -1.0}),
                                         ("orthogonal", {"gain": 2.0}), ("sparse", {"sparsity": 0.5}),
                                         ("eye", {}), ("glorot_normal", {}), ("ones", {}),
                                         ("constant", {"val": -0.75})])
def test_make_matches_in_memory_call(tmp_path, name, params):
    # the deterministic fills take no seed or stream (make used to pass them: a TypeError for ones/constant)
    out = tmp_path / "w.npy"
    cli.make(name, (64, 48), str(out), seed=3, stream=1, params=params, chunk_bytes=1024)
    kw = {"seed": 3, "stream": 1} if name + "_" not in fi.init.DETERMINISTIC_INITIALIZERS else {}
    np.testing.assert_array_equal(np.load(out), getattr(fi, name)((64, 48), **params, **kw))


@requires_bf16
@pytest.mark.parametrize("dtype", ["bfloat16", "float16", "float32"])
def test_make_safetensors(tmp_path, dtype):
    from safetensors.numpy import load_file
    out = tmp_path / "w.safetensors"
    cli.make("he_normal", (128, 96), str(out), dtype=dtype, seed=9, chunk_bytes=2048)
    got = load_file(str(out))["weight"]
    ref = fi.he_normal((128, 96), seed=9, dtype=dtype)
    assert got.shape == ref.shape and got.dtype.itemsize == ref.dtype.itemsize
    np.testing.assert_array_equal(got.view(np.uint8), ref.view(np.uint8))


def test_cli_process_round_trip(tmp_path):
    out = tmp_path / "n.npy"
    r = subprocess.run([sys.executable, "-m", "fastinit.cli", "make", "normal", "--shape", "300,200",
                        "--seed", "5", "-o", str(out)], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    np.testing.assert_array_equal(np.load(out), fi.normal((300, 200), seed=5))


@pytest.mark.parametrize("argv,msg", [
    (["make", "gauss", "--shape", "4,4"], "unknown initializer"),
    (["make", "normal", "--shape", "4,4", "-p", "std=-1"], "std must be > 0"),
    (["make", "kaiming_normal", "--shape", "4", "-p", "mode=fan_avg"], "mode must be one of"),
    (["make", "normal", "--shape", "4,4", "--dtype", "int8"], "dtype must be one of"),
    (["make", "normal", "--shape", "4,4", "--dtype", "bf16"], ".npy cannot describe bfloat16"),
])
def test_make_bad_arguments_leave_no_file(tmp_path, capsys, argv, msg):
    out = tmp_path / "bad.npy"
    assert cli.main(argv + ["-o", str(out)]) == 2
    assert msg in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_make_wrong_extension(tmp_path, capsys):
    assert cli.main(["make", "normal", "--shape", "4,4", "-o", str(tmp_path / "w.pt")]) == 2
    assert ".npy or .safetensors" in capsys.readouterr().err


def test_make_full_disk_leaves_no_partial_file(tmp_path, monkeypatch, capsys):
    def no_space(fd, off, length):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(os, "posix_fallocate", no_space)
    out = tmp_path / "big.npy"
    assert cli.main(["make", "normal", "--shape", "64,64", "-o", str(out)]) == 2
    assert "No space left on device" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_make_failure_midway_keeps_old_file(tmp_path, monkeypatch):
    out = tmp_path / "w.npy"
    np.save(out, np.zeros(3))
    calls = {"n": 0}
    real = fi.normal_

    def flaky(*a, **k):
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("boom")
        return real(*a, **k)
    monkeypatch.setattr(fi, "normal_", flaky)
    with pytest.raises(RuntimeError):
        cli.make("normal", (100, 10), str(out), chunk_bytes=400)
    np.testing.assert_array_equal(np.load(out), np.zeros(3))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w.npy"]


def test_info_runs():
    r = subprocess.run([sys.executable, "-m", "fastinit.cli", "info"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "simd" in r.stdout and "gpu" in r.stdout and "threads" in r.stdout


def test_bench_smoke(tmp_path):
    js, png = tmp_path / "b.json", tmp_path / "b.png"
    assert cli.main(["bench", "--size", "65536", "--json", str(js), "--plot", str(png)]) == 0
    result = json.loads(js.read_text())
    ops = {(r["op"], r["dtype"]) for r in result["rows"]}
    assert ("normal", "bfloat16") in ops and ("trunc_normal", "float32") in ops
    assert all(r["fastinit_s"] > 0 and r["fill_s"] > 0 for r in result["rows"])
    assert png.stat().st_size > 1000
    acts = {(r["op"], r["dtype"]) for r in result["activation_rows"]}
    assert ("gelu:fused", "float32") in acts
    assert all(r["bytes"] == 4 * (2 if r["dtype"] == "float32" else 1) * 2 for r in result["activation_rows"])


def test_bench_activations_all_modes_and_errors(capsys):
    from fastinit import bench
    res = bench.act_run(n=4096, dtypes=("float32",), repeat=1, acts=("swiglu", "gelu_tanh"),
                        modes=bench.ACT_MODES)
    assert [r["op"] for r in res["rows"]] == [f"{a}:{m}" for a in ("swiglu", "gelu_tanh") for m in bench.ACT_MODES]
    assert bench.act_bytes("swiglu", "fused", 4) == 24 and bench.act_bytes("gelu", "forward", 2) == 4
    table = bench.format_act_table(res)
    assert "swiglu:backward" in table and "% of copy bandwidth" in table
    assert cli.main(["bench", "--size", "4096", "--ops", "uniform", "--acts", "gelu,nope"]) == 2
    assert "unknown activation(s) nope" in capsys.readouterr().err
    assert cli.main(["bench", "--size", "4096", "--ops", "uniform,gauss", "--acts", "none"]) == 2
    assert "unknown op(s) gauss; choose from uniform," in capsys.readouterr().err


def test_command_lists_every_initializer_and_op(capsys):
    # the help comes from the library's own tables (fastinit.init.INITIALIZERS, bench.OPS): none missing
    from fastinit import bench
    for cmd in ("bench", "make"):
        with pytest.raises(SystemExit):
            cli.main([cmd, "--help"])
        words = set(re.findall(r"[a-z_]+", capsys.readouterr().out))
        names = bench.OPS if cmd == "bench" else [n[:-1] for n in fi.init.INITIALIZERS]
        assert set(names) <= words, (cmd, set(names) - words)
    assert "constant" in bench.OPS and set(fi.init.INITIALIZERS) >= set(fi.init.RANDOM_INITIALIZERS)


def test_bench_run_float16():
    from fastinit import bench
    result = bench.run(n=8192, dtypes=("float16",), repeat=1, ops=("uniform", "normal"))
    assert [r["op"] for r in result["rows"]] == ["uniform", "normal"]
    assert "float16" in bench.format_table(result)


def test_bench_cuda_says_what_is_missing(capsys):
    from fastinit.gpu import runtime
    if runtime.probe()[0] is not None:
        pytest.skip("a GPU is usable here")
    assert cli.main(["bench", "--device", "cuda"]) == 2
    err = capsys.readouterr().err
    assert "--device cuda" in err and ("no usable CUDA GPU" in err or "numba-cuda" in err)


def test_tile_rates_script_runs(capsys):
    # benchmarks/tile_rates.py (per-thread kernel speeds) must not rot: tiny run
    import importlib.util
    import pathlib
    path = pathlib.Path(__file__).resolve().parent.parent / "benchmarks" / "tile_rates.py"
    spec = importlib.util.spec_from_file_location("tile_rates", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    mod.main(["--log2n", "6", "--rounds", "1"])
    lines = [ln.split() for ln in capsys.readouterr().out.splitlines()[1:]]
    assert len(lines) == len(mod.CASES)
    assert all(float(ln[-2]) > 0 for ln in lines)  # best rate
    assert all(ln[-1] == "-" or float(ln[-1]) > 0 for ln in lines)  # median ratio to float32
    assert [ln[-1] for ln in lines if ln[-3] == "float32"] == ["1.000"] * 4
    assert mod.clock_ghz(10**6) > 0
    cyc = mod.rounding_cycles(3.0, reps=2)
    assert set(cyc) == {"float16", "bfloat16", "float32 copy"} and all(c > 0 for c in cyc.values())


def test_task_size_script_runs_and_restores_task(capsys):
    # benchmarks/task_size.py (thread-pool task size sweep) must not rot: tiny run
    import importlib.util
    import pathlib
    from fastinit.cpu import runtime
    path = pathlib.Path(__file__).resolve().parent.parent / "benchmarks" / "task_size.py"
    spec = importlib.util.spec_from_file_location("task_size", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    task, per = runtime.TASK, runtime.PER_THREAD
    mod.main(["--log2n", "14", "--rounds", "1", "--tasks", "12,14", "--per-thread", "4,1"])
    assert (runtime.TASK, runtime.PER_THREAD) == (task, per)
    lines = capsys.readouterr().out.splitlines()[1:]
    assert [ln.split(":")[0] for ln in lines] == [
        "TASK 2**12, 4 per thread", "TASK 2**12, 1 per thread", "TASK 2**14, 4 per thread", "TASK 2**14, 1 per thread"]
    assert all(float(w) > 0 for ln in lines for w in ln.split(":")[1].split()[1::2])


def test_dtype_parity_script_runs(capsys):
    # benchmarks/dtype_parity.py (16-bit vs float32, interleaved) must not rot: tiny run
    import importlib.util
    import pathlib
    path = pathlib.Path(__file__).resolve().parent.parent / "benchmarks" / "dtype_parity.py"
    spec = importlib.util.spec_from_file_location("dtype_parity", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    mod.main(["--log2n", "13", "--rounds", "1", "--ops", "uniform,normal"])
    out = capsys.readouterr().out
    rows = {}
    for ln in out.splitlines():
        rows.setdefault(ln.split()[0], ln.split()[1:])  # the table row, not the summary line
    assert len(rows["uniform"]) == len(rows["normal"]) == 7  # 3 rates, 2 best ratios, 2 medians
    assert all(float(v) > 0 for v in rows["uniform"] + rows["normal"])
    assert "% of the fill's rate" in out


@pytest.mark.parametrize("n", [0, 1, 65535, 200003])
@pytest.mark.parametrize("dtype", ["float32", "float16", "float64"])
def test_bandwidth_references_write_every_element(n, dtype):
    # the fill/copy the benchmarks divide by: one chunk per thread, every element written
    from fastinit import bench
    out = np.zeros((n,), dtype)
    bench.parallel_fill(out)
    assert ((out.view(np.uint16) if out.itemsize == 2 else out) == 1).all()  # 16-bit: bit pattern 1
    src = (np.arange(n) % 2048).astype(dtype)  # exact in float16 too
    dst = np.zeros_like(src)
    bench.parallel_copy(dst, src)
    np.testing.assert_array_equal(dst, src)


def test_interleaved_rounds_alternate_and_ratios_are_per_round():
    # bench.interleaved_times: every call once per round, odd rounds reversed;
    # median_ratio divides round by round (a slow round cancels)
    from fastinit import bench
    order = []
    calls = {k: (lambda k=k: order.append(k)) for k in "abc"}
    times = bench.interleaved_times(calls, 3)
    assert order == list("abc" "cba" "abc")
    assert all(len(v) == 3 and min(v) >= 0 for v in times.values())
    assert bench.interleaved(calls, 1).keys() == calls.keys()
    t = {"ref": [1.0, 10.0, 1.0], "x": [2.0, 20.0, 4.0]}  # x half as fast, then a quarter
    assert bench.median_ratio(t, "ref", "x") == 0.5
