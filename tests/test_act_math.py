"""The activations' math helpers (``fastinit._act_math``): each function's max error
in ulps against an independent reference, within the figure its docstring states.

Every output is measured in ulps of its own float type at the rounded reference, over
the points where that reference is a finite normal number (``act_ref.ulp_error``).
References: 80-bit long double numpy (``act_ref.LD``: exp, expm1, log1p, tanh, cosh,
the Taylor series of x - tanh x), float64 ``erfc`` with the rounding correction for
float32's normal CDF, mpmath (40 digits) for float64's. pytest measures on 2**19
float32 / 2**14 float64 points; the docstrings quote the larger of those maxima and the
denser grids' of

    PYTHONPATH=. python tests/test_act_math.py          # 2**23 float32, 2**17 float64 points
"""
import sys

import numpy as np
import pytest
from numba import njit

from act_ref import LD, ulp_error
from fastinit import _act_math as M

F32, F64 = np.float32, np.float64

#: the docstrings' figures (the larger of this grid's and the dense grid's maxima, rounded up):
#: (function, float type) -> max ulp of each output
BOUND = {
    ("expf", "float32"): (1.04,),
    ("expm1_exp", "float32"): (1.76, 1.04),
    ("expf_ext", "float32"): (1.19,),
    ("log1pf_rcp", "float32"): (1.19,),
    ("softplus3", "float32"): (1.89, 2.70, 2.70),
    ("tanh3", "float32"): (1.24, 2.60, 3.80),
    ("sigmoid2", "float32"): (2.74, 2.74),
    ("ndtr2", "float32"): (5.79, 2.17),
    ("expm1_exp", "float64"): (0.74, 0.51),
    ("softplus3", "float64"): (1.29, 2.05, 2.05),
    ("tanh3", "float64"): (0.96, 2.79, 3.22),
    ("sigmoid2", "float64"): (2.13, 1.90),
    ("ndtr2", "float64"): (2.78, 505.0),
}


# ---------------------------------------------------------------- jitted loops over a helper
def _loop(fn, nargs, nout):
    """``call(*arrays) -> (nout, n) array``: ``fn`` applied elementwise in a jitted loop
    (the helpers are inline device functions, not ufuncs)."""
    if nargs == 1 and nout == 1:
        @njit
        def run(a, b, c, out):
            for i in range(a.size):
                out[0, i] = fn(a[i])
    elif nargs == 1 and nout == 2:
        @njit
        def run(a, b, c, out):
            for i in range(a.size):
                out[0, i], out[1, i] = fn(a[i])
    elif nargs == 1:
        @njit
        def run(a, b, c, out):
            for i in range(a.size):
                out[0, i], out[1, i], out[2, i] = fn(a[i])
    elif nargs == 2:
        @njit
        def run(a, b, c, out):
            for i in range(a.size):
                out[0, i] = fn(a[i], b[i])
    else:
        @njit
        def run(a, b, c, out):
            for i in range(a.size):
                out[0, i] = fn(a[i], b[i], c[i])

    def call(*args):
        a = args[0]
        b, c = (list(args[1:]) + [a, a])[:2]
        out = np.empty((nout, a.size), a.dtype)
        run(a, b, c, out)
        return out
    return call


# ---------------------------------------------------------------- grids
def _grid(dtype, lo, hi, n):
    """``n`` evenly spaced points of [lo, hi] and ``n`` points whose bit patterns are
    evenly spaced over the magnitudes of the range (both signs where it has them)."""
    dt = np.dtype(dtype)
    ut = np.uint32 if dt == F32 else np.uint64
    lin = np.linspace(lo, hi, n).astype(dt)
    top = np.array(max(abs(lo), abs(hi)), dt).view(ut)
    mags = np.linspace(1, int(top), n // 2).astype(ut).view(dt)
    pts = np.concatenate([lin, mags, -mags, np.array([0.0, lo, hi], dt)])
    return np.unique(pts[(pts >= lo) & (pts <= hi)])


def _sig(x):
    return 1 / (1 + LD.exp(-x))


def _mp_ndtr(x):
    import mpmath
    mpmath.mp.dps = 40
    cdf = np.array([np.longdouble(mpmath.nstr(mpmath.ncdf(mpmath.mpf(float(v))), 30)) for v in x])
    pdf = np.array([np.longdouble(mpmath.nstr(mpmath.npdf(mpmath.mpf(float(v))), 30)) for v in x])
    return cdf, pdf


def _ld_ndtr(x):
    xl = x.astype(np.longdouble)
    return 0.5 * LD.erfc(-xl / np.sqrt(np.longdouble(2))), LD.exp(-xl * xl / 2) / np.sqrt(2 * LD.pi)


def _ld(f):
    """A reference evaluated on the long double inputs, as a tuple of outputs."""
    def ref(*xs):
        with np.errstate(all="ignore"):
            out = f(*[x.astype(np.longdouble) for x in xs])
        return out if isinstance(out, tuple) else (out,)
    return ref


#: name -> reference of each output
REFS = {
    "expf": _ld(LD.exp),
    "expm1_exp": _ld(lambda x: (LD.expm1(x), LD.exp(x))),
    "softplus3": _ld(lambda z: (LD.log1p(LD.exp(-abs(z))), _sig(z), _sig(-z))),
    "tanh3": _ld(lambda x: (LD.tanh(x), 1 / LD.cosh(x) ** 2, LD.tanhshrink(x))),
    "sigmoid2": _ld(lambda x: (_sig(x), _sig(-x))),
    "ndtr2": _ld(_ld_ndtr),
}
#: (name, float type) -> (jitted helper, outputs, grid (lo, hi)); float64's normal CDF against mpmath
CASES = {
    ("expf", "float32"): (M.expf, 1, (-104.0, 89.0)),
    ("expm1_exp", "float32"): (M.expm1_exp_f32, 2, (-104.0, 89.0)),
    ("softplus3", "float32"): (M.softplus_parts_f32, 3, (-200.0, 200.0)),
    ("tanh3", "float32"): (M.tanh_parts, 3, (-20.0, 20.0)),
    ("sigmoid2", "float32"): (M.sigmoid_parts, 2, (-110.0, 110.0)),
    ("ndtr2", "float32"): (M.ndtr_parts, 2, (-15.0, 15.0)),
    ("expm1_exp", "float64"): (M.expm1_exp, 2, (-745.0, 709.0)),
    ("softplus3", "float64"): (M.softplus3, 3, (-800.0, 800.0)),
    ("tanh3", "float64"): (M.tanh3, 3, (-40.0, 40.0)),
    ("sigmoid2", "float64"): (M.sigmoid2, 2, (-760.0, 760.0)),
    ("ndtr2", "float64"): (M.ndtr2, 2, (-38.0, 38.0)),
}


def measure(name, dtype, n):
    """Max ulp error of each output of one helper over its grid of about ``n`` points."""
    dt = np.dtype(dtype)
    if name == "expf_ext":  # exp(hi + lo), |lo| up to 4 ulp of hi: the split exp(-x*x/2) of ndtr2
        hi = _grid(F32, -104.0, 89.0, n)
        lo = (np.sin(np.arange(hi.size) * 0.7) * 4 * np.spacing(np.abs(hi))).astype(F32)
        got = _loop(M.expf_ext, 2, 1)(hi, lo)
        ref = (LD.exp(hi.astype(np.longdouble) + lo.astype(np.longdouble)),)
    elif name == "log1pf_rcp":  # as softplus calls it: w = 1 + u and rw = 1 / w rounded
        u = _grid(F32, 0.0, 2.0 ** 60, n)
        u = np.concatenate([u, np.linspace(0, 1, n, dtype=F32)])
        w = (F32(1) + u).astype(F32)
        got = _loop(M.log1pf_rcp, 3, 1)(u, w, (F32(1) / w).astype(F32))
        ref = (LD.log1p(u.astype(np.longdouble)),)
    else:
        fn, nout, (lo, hi) = CASES[name, dtype]
        x = _grid(dt, lo, hi, n)
        got = _loop(fn, 1, nout)(x)
        ref = _mp_ndtr(x) if (name, dtype) == ("ndtr2", "float64") else REFS[name](x)
    with np.errstate(over="ignore"):  # references beyond the type's range: not counted
        return tuple(round(ulp_error(g, r, dt)[0], 3) for g, r in zip(got, ref))


@pytest.mark.parametrize("name,dtype", sorted(BOUND), ids=lambda v: v)
def test_ulp_error_within_docstring(name, dtype):
    n = 2 ** 18 if dtype == "float32" else 2 ** 13
    errs = measure(name, dtype, n)
    assert all(e <= b for e, b in zip(errs, BOUND[name, dtype])), (errs, BOUND[name, dtype])


def test_ldexp_rounds_once_like_libm():
    # p 2**k in two exact power-of-two steps: the same bits as C's ldexpf, subnormals and
    # overflow included
    rng = np.random.default_rng(5)
    p = (rng.random(2 ** 16) + 1).astype(F32) * np.where(rng.random(2 ** 16) < 0.5, -1, 1).astype(F32)
    k = rng.integers(-252, 255, 2 ** 16).astype(F32)
    got = _loop(M.ldexp_f32, 2, 1)(p, k)[0]
    with np.errstate(over="ignore"):
        ref = np.ldexp(p, k.astype(np.int32))
    np.testing.assert_array_equal(got, ref)


def test_hi12_split_is_exact():
    x = _grid(F32, 0.0, 20.0, 2 ** 14)
    x = x[x >= 2.0 ** -60]  # hi * hi a normal float32
    hi = _loop(M.hi12_f32, 1, 1)(x)[0]
    assert ((hi.view(np.uint32) & 0xFFF) == 0).all() and (hi <= x).all() and (x - hi < x * 2.0 ** -11).all()
    assert ((hi.astype(F64) ** 2).astype(F32).astype(F64) == hi.astype(F64) ** 2).all()  # hi * hi exact


if __name__ == "__main__":
    for name, dtype in sorted(BOUND):
        n = 2 ** 22 if dtype == "float32" else 2 ** 16
        print(f"{name:<12} {dtype:<8} {measure(name, dtype, n)}", flush=True)
    sys.exit(0)
