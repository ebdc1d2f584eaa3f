"""distributions.SAMPLERS: one entry per distribution is all a new one needs."""
import math

import numba
import numpy as np
import pytest
from numba import njit, types

from fastinit import distributions as D
from fastinit import storage
from fastinit._fmath import logf, top_bits_odd_f32
from fastinit._stream import key_words
from fastinit.cpu import fill, runtime

from philox_ref import words


def test_table_is_keyed_by_each_entrys_code():
    assert set(D.SAMPLERS) == {D.UNIFORM, D.NORMAL, D.TRUNC_NORMAL, D.TRUNC_NORMAL_WIDE, D.TRUNC_NORMAL_CENTRAL,
                               D.BITS}
    for code, s in D.SAMPLERS.items():
        assert s.code == code and s.loop in D.LOOPS


def test_a_loop_strategy_is_checked():
    with pytest.raises(ValueError, match="loop must be one of"):
        D.Sampler(99, None, None, None, loop="unrolled")


def test_prepare_gives_the_code_and_the_constants_the_math_reads():
    assert D.prepare(D.UNIFORM, -1.5, 2.0) == (D.UNIFORM, (-1.5, 3.5))
    assert D.prepare(D.NORMAL, 0.25, 2.0) == (D.NORMAL, (0.25, 2.0))
    assert D.prepare(D.BITS) == (D.BITS, ())
    # the truncated normal's codes share one prepare, which picks the variant by the bounds
    for code in (D.TRUNC_NORMAL, D.TRUNC_NORMAL_WIDE, D.TRUNC_NORMAL_CENTRAL):
        assert D.prepare(code, 0.0, 1.0, -2.0, 2.0)[0] == D.TRUNC_NORMAL_CENTRAL
        assert D.prepare(code, 0.0, 1.0, -3.5, 3.5)[0] == D.TRUNC_NORMAL
        assert D.prepare(code, 0.0, 1.0, 8.0, 9.0)[0] == D.TRUNC_NORMAL_WIDE
    code, prm = D.prepare(D.TRUNC_NORMAL, 1.0, 2.0, 0.0, 5.0)  # a' = -0.5, b' = 2: reflected
    pa = 0.5 * math.erfc(2.0 / math.sqrt(2.0))  # Phi(-2)
    assert prm[0] == pytest.approx(pa, rel=1e-15) and prm[4] == -2.0 and prm[5:] == (0.0, 5.0)
    with pytest.raises(ValueError, match="too little to sample"):
        D.prepare(D.TRUNC_NORMAL, 0.0, 1.0, 40.0, 41.0)


def test_float64_outputs_share_a_kernel_where_the_float64_math_is_the_same():
    for code in (D.TRUNC_NORMAL, D.TRUNC_NORMAL_CENTRAL):
        assert D.kernel_code(code, storage.KIND_F64) == D.TRUNC_NORMAL_WIDE
        assert D.kernel_code(code, storage.KIND_F32) == code
    for code in (D.UNIFORM, D.NORMAL, D.TRUNC_NORMAL_WIDE):
        assert D.kernel_code(code, storage.KIND_F64) == code


# ------------------------------------------------------------------ a new distribution, one entry
_EXPONENTIAL = 50  # a code no real sampler uses


@njit(inline="always")
def _exp32(x, prm):
    u = top_bits_odd_f32(x, 8) * np.float32(2.0 ** -24)  # ((x >> 9) + 1/2) 2**-23, exact, in (0, 1)
    return np.float32(-np.float32(prm[0])) * logf(u)


@njit(inline="always")
def _exp64(x, prm):
    return -prm[0] * np.log((np.float64(x) + 0.5) * 2.0 ** -32)


def _prepare_exponential(rate):
    return _EXPONENTIAL, (1.0 / rate,)


def test_a_new_distribution_is_one_entry(monkeypatch):
    """An exponential sampler added as one ``Sampler`` (and nothing else) runs in the CPU
    fill kernel: its prepare, its math, its loop strategy, its code as the kernel's literal.
    A twin of the kernel without the disk cache, since this file is outside the package
    whose source stamps the cache."""
    monkeypatch.setitem(D.SAMPLERS, _EXPONENTIAL, D.Sampler(_EXPONENTIAL, _exp32, _exp64, _prepare_exponential))
    code, prm = D.prepare(_EXPONENTIAL, 4.0)
    prm = tuple(prm) + (0.0,) * 7
    twin = njit(nogil=True, error_model="numpy")(fill.fill_rows.py_func)
    n, offset = 1031, 5  # head, body (whole tiles and a part) and tail
    out = np.empty((1, n), np.float32)
    starts = np.array([offset], np.uint64)
    sig = (numba.typeof(out), numba.typeof(starts)) + fill._FILL_SCALARS + (types.literal(code),
                                                                         types.literal(storage.KIND_F32))
    try:
        kernel = runtime.specialize(twin, sig)
        k0, k1, s0, s1 = key_words(7, 3)
        kernel(out, starts, 0, 1, 0, n, k0, k1, s0, s1, prm, 0, code, storage.KIND_F32)
    finally:
        D._PAIRS.pop((_EXPONENTIAL, storage.KIND_F32), None)
    x = words(7, 3, offset, n).astype(np.float64)
    ref = -0.25 * np.log((np.floor(x / 512) + 0.5) * 2.0 ** -23)
    np.testing.assert_allclose(out[0], ref, rtol=3e-7, atol=1e-7)
    assert out.min() > 0 and abs(out.mean() - 0.25) < 0.05
