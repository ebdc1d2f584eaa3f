"""Streaming (non-temporal) stores: the same bits as regular stores, and the
generated code really streams (``vmovntps``/``vmovntdq``/``vmovntpd``, ymm on
AVX2, zmm where AVX-512 makes 512-bit vectors legal, and an ``sfence``)."""
import os
import platform
import re
import subprocess
import sys

import llvmlite.binding as ll
import ml_dtypes
import numba
import numpy as np
import pytest
from numba import njit, types

import fastinit as fi
from fastinit import _act_registry as R
from fastinit import activations as A
from fastinit.cpu import constant, fill, ntstore, runtime

X86 = platform.machine() in ("x86_64", "AMD64")
NT = re.compile(r"vmovnt(ps|pd|dq)\s+%([xyz]mm)\d+")


def streamed_registers(asm):
    """The vector register kinds the streaming stores in ``asm`` use (``{"ymm"}``...)."""
    return {m.group(2) for m in NT.finditer(asm)}


def expected_register(features):
    """What the streaming line store must be for these CPU features: one zmm
    store with AVX-512, two ymm stores with AVX2 (64-byte ``<N x T>`` vectors)."""
    if features.get("avx512f", False):
        return "zmm"
    if features.get("avx2", False) or features.get("avx", False):
        return "ymm"
    return "xmm"


@pytest.fixture
def stream_all(monkeypatch):
    """Every output streams (threshold 0); ``regular()`` switches it back."""
    def set_(on):
        monkeypatch.setattr(runtime, "STREAM_BYTES", 0 if on else None)
        monkeypatch.setattr(runtime, "STREAM_WRITE_ONLY_BYTES", 0 if on else None)
    set_(True)
    return set_


def _bits(a):
    return np.ascontiguousarray(a).view(np.uint8)


# ------------------------------------------------------------------ same bits
@pytest.mark.parametrize("name,dtype", [("uniform", "float32"), ("uniform", "bfloat16"), ("normal", "float32"),
                                        ("normal", "float64"), ("trunc_normal", "float16")])
def test_fill_streamed_equals_regular(stream_all, name, dtype):
    # > runtime.SMALL elements (threads) and an odd length: heads, tails and task edges
    n = 3 * runtime.SMALL + 7
    fn = getattr(fi, name)
    streamed = fn((n,), dtype=dtype, seed=11)
    stream_all(False)
    regular = fn((n,), dtype=dtype, seed=11)
    assert np.array_equal(_bits(streamed), _bits(regular))


def test_fill_shard_rows_streamed(stream_all):
    # a 2-D shard: one run per row, each row misaligned differently
    full = fi.normal((7, 40001), seed=3)
    part = np.zeros((7, 30001), np.float32)
    fi.normal_(part, seed=3, global_shape=(7, 40001), start=(0, 5))
    assert np.array_equal(_bits(part), _bits(full[:, 5:30006]))


def test_random_bits_streamed(stream_all):
    a = fi.random_bits((3 * runtime.SMALL + 3,), seed=5, offset=3)
    stream_all(False)
    b = fi.random_bits((3 * runtime.SMALL + 3,), seed=5, offset=3)
    assert np.array_equal(a, b)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16, ml_dtypes.bfloat16])
def test_constant_streamed(stream_all, dtype):
    n = 3 * runtime.SMALL + 5
    base = np.full(n + 1, 7, dtype)
    a = base[1:]  # misaligned by one element
    fi.constant_(a, 0.1)
    assert np.array_equal(_bits(a), _bits(np.full(n, np.float32(0.1) if dtype != np.float64 else 0.1, dtype)))
    assert base[0] == 7
    fi.zeros_(a)
    assert not a.any() and base[0] == 7


@pytest.mark.parametrize("name", ["gelu", "relu", "swiglu"])
@pytest.mark.parametrize("dtype", [np.float32, ml_dtypes.bfloat16])
def test_activations_streamed(stream_all, name, dtype):
    rng = np.random.default_rng(1)
    n = 2 * runtime.SMALL + 3

    def arr(off):
        return rng.standard_normal(n + off).astype(dtype)[off:]  # differently misaligned
    x = (arr(1), arr(3)) if name == "swiglu" else arr(1)
    g = arr(2)
    calls = [lambda: A.fused(name, x, g), lambda: A.forward(name, x), lambda: A.backward(name, g, x),
             lambda: A.fused(name, x)]
    streamed = [c() for c in calls]
    stream_all(False)
    regular = [c() for c in calls]

    def flat(r):
        return [y for z in r for y in flat(z)] if isinstance(r, (tuple, list)) else [_bits(r)]
    assert all(np.array_equal(s, r) for s, r in zip(flat(streamed), flat(regular)))


def test_stream_copy_any_alignment():
    @njit
    def copy(dst, d0, src, n):
        ntstore.stream_copy(dst, d0, src, n)
        ntstore.store_fence()
    for dtype in (np.float32, np.float64, np.uint16):
        src = np.arange(300).astype(dtype)
        for d0 in (0, 1, 5, 17):
            for n in (0, 3, 40, 250):
                dst = np.zeros(400, dtype)
                copy(dst, d0, src, n)
                assert np.array_equal(dst[d0:d0 + n], src[:n])
                assert not dst[:d0].any() and not dst[d0 + n:].any()


def test_threshold(monkeypatch):
    w = runtime.STREAM_WRITE_ONLY_BYTES
    assert runtime.streams(w, write_only=True) == 1 and runtime.streams(w - 1, write_only=True) == 0
    monkeypatch.setattr(runtime, "STREAM_BYTES", 1 << 20)
    assert runtime.streams(1 << 20) == 1 and runtime.streams((1 << 20) - 1) == 0
    monkeypatch.setattr(runtime, "STREAM_BYTES", None)
    assert runtime.streams(1 << 40) == 0


# ------------------------------------------------------------------ generated code
def _asm_of_kernels():
    """Streamed register kinds and fences of uncached twins (Numba disables
    inspection of cached code) of the three kernels, float32."""
    from fastinit.cpu import elementwise as ew
    out = {}
    arr = np.zeros(64, np.float32)
    twin = njit(error_model="numpy")(constant.set_range.py_func)
    sig = (numba.typeof(arr), types.int64, types.int64, types.float32, types.int64)
    twin.compile(sig)
    out["constant"] = twin.inspect_asm(sig)
    e = R.ACTIVATIONS["relu"]
    code, _ = e.resolve(R.check_params(e, {}))
    twin = njit(error_model="numpy")(ew.act_1d.py_func)
    sig = (numba.typeof(arr),) * 4 + ew._SCALARS + (types.literal(code), types.literal(ew.KIND_F32))
    twin.compile(sig)
    out["relu"] = twin.inspect_asm(sig)
    return {k: (sorted(streamed_registers(a)), a.count("sfence")) for k, a in out.items()}


@pytest.mark.skipif(not X86, reason="checks x86 code generation")
def test_fill_kernel_streams_on_host():
    twin = njit(error_model="numpy")(fill.fill_rows.py_func)
    out = np.empty((1, 64), np.float32)
    sig = (numba.typeof(out), numba.typeof(np.zeros(1, np.uint64))) + fill._FILL_SCALARS + (
        types.literal(fi.distributions.UNIFORM), types.literal(fill.KIND_F32))
    twin.compile(sig)
    asm = twin.inspect_asm(sig)
    features = ll.get_host_cpu_features() if numba.config.CPU_FEATURES is None else {
        f[1:]: f[0] == "+" for f in numba.config.CPU_FEATURES.split(",") if f}
    assert streamed_registers(asm) == {expected_register(features)}
    assert "sfence" in asm
    assert asm.count("ymm") + asm.count("zmm") > 100, "the fill loop no longer vectorizes"


# (cpu name, features, register): AVX2 (Zen 3) and AVX-512 (Sapphire Rapids) targets,
# whatever the host (NUMBA_CPU_FEATURES replaces the host's features)
TARGETS = [("znver3", "+avx2,+fma", "ymm"), ("sapphirerapids", "+avx512f,+avx512bw,+avx512vl", "zmm")]


@pytest.mark.skipif(not X86, reason="checks x86 code generation")
@pytest.mark.parametrize("cpu,features,register", TARGETS)
def test_streaming_stores_per_isa(cpu, features, register):
    env = dict(os.environ, NUMBA_CPU_NAME=cpu, NUMBA_CPU_FEATURES=features)
    code = ("import sys; sys.path.insert(0, %r); import test_streaming as t; print(repr(t._asm_of_kernels()))"
            % os.path.dirname(__file__))
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    got = eval(r.stdout.strip().splitlines()[-1])
    assert expected_register({"avx512f": register == "zmm", "avx2": True}) == register
    for kernel, (regs, fences) in got.items():
        assert regs == [register], f"{kernel} on {cpu}: streaming stores use {regs}, expected {register}"
        assert fences >= 1, f"{kernel} on {cpu}: no sfence"


def test_bench_references_write_what_they_say():
    from fastinit import bench
    n = 5 * runtime.SMALL + 3
    out = np.zeros(n + 1, np.float32)[1:]
    bench.stream_fill(out)
    assert (out == 1).all()
    rng = np.random.default_rng(2)
    x, g = rng.standard_normal(n).astype(np.float32), rng.standard_normal(n).astype(np.float32)
    want = (x.view(np.uint32) ^ g.view(np.uint32)).view(np.float32)
    for stream in (True, False):
        y, gi = np.zeros(n, np.float32), np.zeros(n, np.float32)
        bench.stream_streams([x, g], [y, gi], stream=stream)
        assert np.array_equal(y.view(np.uint32), want.view(np.uint32))
        assert np.array_equal(gi.view(np.uint32), want.view(np.uint32))
