"""Independent references for the activation tests: each registry entry's
``reference`` formula evaluated in 80-bit long double (x86) or float64."""
import numpy as np
import math

_ERFC = np.vectorize(math.erfc, otypes=[np.float64])


def _taylor():
    import mpmath
    mpmath.mp.dps = 40
    c = mpmath.taylor(mpmath.tanh, 0, 61)
    return np.array([np.longdouble(mpmath.nstr(-c[k], 30)) for k in range(3, 62, 2)])  # x - tanh x = x^3 sum ...


_TANH_TAYLOR = _taylor()


class Math:
    """The ``m`` namespace a registry reference formula is evaluated with."""

    def __init__(self, dtype):
        self.dtype = np.dtype(dtype)
        self.pi = np.arccos(self.dtype.type(-1))

    def sqrt(self, v):
        return np.sqrt(np.asarray(v, self.dtype))

    def exp(self, x):
        with np.errstate(over="ignore", under="ignore"):
            return np.exp(x)

    def expm1(self, x):
        with np.errstate(over="ignore"):
            return np.expm1(x)

    def log1p(self, x):
        return np.log1p(x)

    def tanh(self, x):
        return np.tanh(x)

    def cosh(self, x):
        with np.errstate(over="ignore"):
            return np.cosh(x)

    def tanhshrink(self, x):
        # x - tanh(x) cancels for small x: its Taylor series there (mpmath's coefficients)
        small = np.abs(x) < 0.5
        s = x * x
        acc = np.zeros_like(x)
        for c in _TANH_TAYLOR[::-1]:
            acc = acc * s + c
        return np.where(small, x * s * acc, x - np.tanh(x))

    def erfc(self, x):
        # numpy has no long double erfc: float64 erfc at the float64-rounded
        # argument, plus the first-order term for what that rounding dropped
        x = np.asarray(x, self.dtype)
        x64 = x.astype(np.float64)
        d = (x - x64.astype(self.dtype))
        with np.errstate(under="ignore"):
            # glibc's erfc (< 1 ulp): scipy's is off by up to ~14 ulp near 1
            base = _ERFC(x64).astype(self.dtype)
            return base - d * (2 / np.sqrt(np.pi, dtype=self.dtype)) * np.exp(-x * x)

    def where(self, c, a, b):
        return np.where(c, a, b)


LD = Math(np.longdouble)


def reference(entry, x, **params):
    """(y, dy) of ``entry`` at float inputs ``x``, in long double."""
    xl = np.asarray(x).astype(np.longdouble)
    with np.errstate(all="ignore"):
        y, dy = entry.reference(LD, xl, **params)
    return np.broadcast_to(y, xl.shape).astype(np.longdouble), np.broadcast_to(dy, xl.shape).astype(np.longdouble)


def ulp_error(got, ref, dtype, floor=0.0):
    """Max error in units of ``dtype``'s ulp at the rounded reference (at
    ``max(|ref|, floor)`` with a floor), over points where the reference is a
    finite normal number of ``dtype``."""
    dt = np.dtype(dtype)
    r = np.maximum(np.abs(ref), floor).astype(dt)
    ok = np.isfinite(r) & (np.abs(r) >= np.finfo(dt).tiny) & np.isfinite(got)
    if not ok.any():
        return 0.0, None
    err = np.abs(got[ok].astype(np.longdouble) - ref[ok]) / np.spacing(np.abs(r[ok])).astype(np.longdouble)
    i = int(np.argmax(err))
    return float(err[i]), i
