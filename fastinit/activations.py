"""Activations with their gradients, fused: the registry and the public API.

Every entry of the registry (``ACTIVATIONS``) is one ``_entry(...)`` call next
to its math: a jitted ``f(x, p) -> (f(x), f'(x))`` written once for float32 and
float64 (``fastinit._fmath``'s type-generic helpers pick the vectorizable
float32 code or libm), its parameters with torch's names and defaults, their
checks, the torch expression it must match and an independent reference
formula the tests evaluate in extended precision. The CPU kernels
(``fastinit/cpu/elementwise.py``) know no activation: they run whichever
entry's math the call names, in one pass over memory.

API (numpy arrays of float32, float64, float16 or ml_dtypes.bfloat16; 16-bit
inputs are computed in float32 and rounded once, like torch does)::

    forward(name, x, *, out=None, **params) -> y
    backward(name, grad_out, x, *, out=None, **params) -> grad_in   # recomputes from x
    fused(name, x, grad_out=None, *, out=None, grad_in=None, **params) -> (y, g)
        # one pass: g = grad_out * f'(x), or f'(x) when grad_out is None

Gated forms (``swiglu``, ``geglu``: ``y = act(a) * b``) take ``x = (a, b)`` and
return both gradients as a pair. Per-name conveniences (``gelu(x,
approximate="tanh")``, ...) call ``forward``. ``fastinit.torch`` wraps all of
them as autograd functions and modules.

Semantics are torch's (the installed version's; tests compare): values,
gradients at the kinks (``relu'(0) = 0``, ``leaky_relu'(0) = negative_slope``,
``hardtanh'(min_val) = 0``, ``elu'(0) = alpha``...) and what a NaN input's
gradient is. At ``x = +-inf`` fastinit returns the limit where torch returns
NaN from ``inf * 0`` (gelu, silu, mish, hardswish at -inf, softsign at
+-inf, the gelu/silu gradients at +inf): each entry's ``inf_limits`` says which, and
``tests/test_activations.py`` checks every limit in float32 and float64.

Accuracy: ``MAX_ULP`` below, re-measured by ``tests/test_activations.py`` on
every run (2**20 + 1 points over [-20, 20] against the entry's reference in
80-bit long double; gradient errors in ulps of ``max(|f'|, 1/16)``, because
near a zero of f' (gelu' at -0.75, silu' at -1.28) every float32 evaluation
of ``Phi(x) + x phi(x)`` cancels). Everything is also within torch's
float32 tolerance (rtol 1.3e-6, atol 1e-5) of the reference on [-100, 100].
Two known, documented limits: gelu at x < -13, where the result nears the
float32 underflow (1e-37), and gelu(approximate="tanh") for x < -3, whose
condition number ``|x f'/f| ~ 0.2 |x|**3`` (the input's own rounding moves
the result by that many half-ulps: torch's ``1 + tanh`` loses everything
there, fastinit's ``x sigmoid(2u)`` keeps the value to ~cond/2 ulp).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from numba import njit

from ._fmath import by_type, const, expm1_exp, ndtr2, sigmoid2, softplus3, tanh3, where
from .cpu import elementwise as _ew
from .dispatch import (as_source, as_target, device_of, elementwise_kernels, empty_like, float_kind,
                       is_torch_tensor, memory_span, same_device)

__all__ = ["ACTIVATIONS", "Activation", "forward", "backward", "fused", "names"]

_MATH_CODES = {}


def _math(fn):
    """Register a jitted ``(x, p) -> (y, dy)`` with the kernels; returns its code."""
    code = len(_MATH_CODES)
    _MATH_CODES[fn] = code
    _ew.register(code, fn)
    return code


@dataclass(frozen=True)
class Activation:
    """One registry entry. ``resolve(params) -> (code, numeric params)`` picks
    the kernel math; ``torch(torch, *inputs, **params)`` is torch's own
    expression; ``module`` the ``torch.nn`` class name fastinit.torch mirrors;
    ``reference(m, x, **params) -> (y, dy)`` the independent
    formula (``m`` provides exp, expm1, log1p, tanh, cosh, tanhshrink, erfc, sqrt, pi, where for the
    precision the test wants)."""
    name: str
    formula: str
    params: dict
    resolve: object
    torch: object
    reference: object
    check: object = None
    gated: bool = False
    aliases: tuple = ()
    choices: dict = field(default_factory=dict)
    inf_limits: str = ""
    module: str = ""


ACTIVATIONS = {}
_ALIASES = {}


def _entry(name, formula, math_code=None, *, params=None, resolve=None, torch, reference, check=None,
           gated=False, aliases=(), choices=None, inf_limits="", module=None):
    params = dict(params or {})
    if resolve is None:
        keys = tuple(params)

        def resolve(p, _code=math_code, _keys=keys):
            return _code, tuple(float(p[k]) for k in _keys)
    e = Activation(name, formula, params, resolve, torch, reference, check, gated, tuple(aliases),
                   dict(choices or {}), inf_limits, module or name.capitalize())
    ACTIVATIONS[name] = e
    for a in aliases:
        _ALIASES[a] = name
    return e


def names():
    """Sorted names of every activation (aliases included)."""
    return sorted(list(ACTIVATIONS) + list(_ALIASES))


# ------------------------------------------------------------------ the math
# Each f(x, p) returns (f(x), f'(x)) in x's float type; p = 4 params, same type.
# Comparisons are written the way torch's kernels write them so a NaN input
# takes the branch torch's does (its gradient is what torch gives).
# BIG = 1000: past it every exp-based factor is exactly 0 in float32 and
# float64, so clamping x there keeps inf * 0 from making NaN.

@njit(inline="always")
def _relu(x, p):
    z = const(x, 0.0)
    y = where(x <= z, z, x)
    return y, where(y <= z, z, const(x, 1.0))  # torch: threshold_backward on the result


@njit(inline="always")
def _hardtanh(x, p):
    lo, hi = p[0], p[1]
    y = where(x <= lo, lo, where(x >= hi, hi, x))
    return y, where((x <= lo) | (x >= hi), const(x, 0.0), const(x, 1.0))


@njit(inline="always")
def _leaky_relu(x, p):
    pos = x > const(x, 0.0)
    return where(pos, x, x * p[0]), where(pos, const(x, 1.0), p[0])


@njit(inline="always")
def _elu(x, p):
    # torch's elu(x, alpha, scale, input_scale); the derivative is taken on the
    # left branch at 0 (x <= 0), like torch's elu_backward
    alpha, scale, iscale = p[0], p[1], p[2]
    em1, e = expm1_exp(x * iscale)
    neg = x <= const(x, 0.0)
    return (where(neg, scale * alpha * em1, scale * x),
            where(neg, scale * alpha * iscale * e, scale))


@njit(inline="always")
def _gelu(x, p):
    big = const(x, 1000.0)
    cdf, pdf = ndtr2(x)
    xl = where(x < -big, -big, x)
    xd = where(xl > big, big, xl)
    return xl * cdf, cdf + xd * pdf


@njit(inline="always")
def _gelu_tanh(x, p):
    # 0.5 (1 + tanh u) = sigmoid(2u): no cancellation for x << 0
    big = const(x, 1000.0)
    k0 = const(x, 0.7978845608028654)  # sqrt(2 / pi)
    k1 = const(x, 0.044715)
    u = k0 * (x + k1 * (x * x * x))
    s, c = sigmoid2(const(x, 2.0) * u)
    xl = where(x < -big, -big, x)
    xd = where(xl > big, big, xl)
    du = k0 * (const(x, 1.0) + const(x, 3.0) * k1 * (xd * xd))
    return xl * s, s + const(x, 2.0) * xd * s * c * du


@njit(inline="always")
def _silu(x, p):
    big = const(x, 1000.0)
    s, c = sigmoid2(x)
    xl = where(x < -big, -big, x)
    xd = where(xl > big, big, xl)
    return xl * s, s * (const(x, 1.0) + xd * c)


@njit(inline="always")
def _mish(x, p):
    # tanh(softplus x) = n / (n + 2), n = e (e + 2), e = exp(x): one exp, no log;
    # 1 - tanh^2 = 4 (n + 1) / (n + 2)^2, written to never overflow
    big = const(x, 1000.0)
    one = const(x, 1.0)
    two = const(x, 2.0)
    # past the clamp tanh(softplus x) = 1 and x sech^2(softplus x) sigmoid(x) ~ 4 x e^(-2x) is below
    # half an ulp of 1: float32 from x = 20; float64 only from x ~ 21 (at 40: 7e-33)
    lim = by_type(x, 20.0, 40.0)
    xc = where(x > lim, lim, x)
    em1, e = expm1_exp(xc)
    n = e * (e + two)
    inv = one / (n + two)
    t = n * inv
    sech2 = const(x, 4.0) * inv * ((n + one) * inv)
    sig = e / (one + e)
    xl = where(x < -big, -big, x)
    xd = where(xl > big, big, xl)
    return xl * t, t + xd * sech2 * sig


@njit(inline="always")
def _sigmoid(x, p):
    s, c = sigmoid2(x)
    return s, s * c


@njit(inline="always")
def _tanh(x, p):
    t, dt, sh = tanh3(x)
    return t, dt


@njit(inline="always")
def _tanhshrink(x, p):
    t, dt, sh = tanh3(x)
    return sh, t * t


@njit(inline="always")
def _softplus(x, p):
    # log1p(exp(z)) = max(z, 0) + log1p(exp(-|z|)): never overflows; p[2] = 1 / beta
    beta, threshold, ibeta = p[0], p[1], p[2]
    z = x * beta
    l, s, c = softplus3(z)
    lin = z > threshold
    zp = where(z > const(x, 0.0), z, const(x, 0.0))
    return where(lin, x, (zp + l) * ibeta), where(lin, const(x, 1.0), s)


@njit(inline="always")
def _log_sigmoid(x, p):
    l, s, c = softplus3(x)
    xm = where(x < const(x, 0.0), x, const(x, 0.0))
    return xm - l, c


@njit(inline="always")
def _hardsigmoid(x, p):
    z = const(x, 0.0)
    six = const(x, 6.0)
    r = x + const(x, 3.0)
    r = where(r < z, z, where(r > six, six, r))
    inside = (x > const(x, -3.0)) & (x < const(x, 3.0))
    return r / six, where(inside, const(x, 1.0) / six, z)


@njit(inline="always")
def _hardswish(x, p):
    # torch's hardswish_backward: 0 for x <= -3, x/3 + 1/2 for x < 3, else 1 (so NaN -> 1)
    z = const(x, 0.0)
    six = const(x, 6.0)
    r = x + const(x, 3.0)
    r = where(r < z, z, where(r > six, six, r))
    lo = x <= const(x, -3.0)
    y = where(lo, z, x * r / six)  # the limit 0 at -inf, not -inf * 0
    d = where(lo, z, where(x < const(x, 3.0), x / const(x, 3.0) + const(x, 0.5), const(x, 1.0)))
    return y, d


@njit(inline="always")
def _softsign(x, p):
    a = abs(x)
    r = const(x, 1.0) / (const(x, 1.0) + a)
    lim = where(x > const(x, 0.0), const(x, 1.0), const(x, -1.0))
    # x / (1 + |x|) divided, as torch: x * r loses bits where r is subnormal (|x| > 1e38)
    return where(a == const(x, np.inf), lim, x / (const(x, 1.0) + a)), r * r


@njit(inline="always")
def _hardshrink(x, p):
    lam = p[0]
    zero = (x >= -lam) & (x <= lam)
    return where(zero, const(x, 0.0), x), where(zero, const(x, 0.0), const(x, 1.0))


@njit(inline="always")
def _softshrink(x, p):
    lam = p[0]
    zero = (x >= -lam) & (x <= lam)
    return (where(zero, const(x, 0.0), where(x > lam, x - lam, x + lam)),
            where(zero, const(x, 0.0), const(x, 1.0)))


_RELU, _HARDTANH, _LEAKY, _ELU = _math(_relu), _math(_hardtanh), _math(_leaky_relu), _math(_elu)
_GELU, _GELU_TANH, _SILU, _MISH = _math(_gelu), _math(_gelu_tanh), _math(_silu), _math(_mish)
_SIGMOID, _TANH, _TANHSHRINK = _math(_sigmoid), _math(_tanh), _math(_tanhshrink)
_SOFTPLUS, _LOGSIG, _HSIG, _HSWISH = _math(_softplus), _math(_log_sigmoid), _math(_hardsigmoid), _math(_hardswish)
_SOFTSIGN, _HSHRINK, _SSHRINK = _math(_softsign), _math(_hardshrink), _math(_softshrink)


# ------------------------------------------------------------------ checks
def _finite(name):
    def check(p):
        v = p[name]
        if not math.isfinite(v):
            raise ValueError(f"{name} must be a finite number; got {v!r}")
    return check


def _all(*checks):
    def check(p):
        for c in checks:
            c(p)
    return check


def _nonzero(name):
    def check(p):
        if p[name] == 0:
            raise ValueError(f"{name} must be nonzero; got {p[name]!r}")
    return check


def _nonneg(name):
    def check(p):
        if p[name] < 0:
            raise ValueError(f"{name} must be >= 0; got {p[name]!r}")
    return check


def _hardtanh_check(p):
    _finite("min_val")(p)
    _finite("max_val")(p)
    if not p["min_val"] < p["max_val"]:
        raise ValueError(f"min_val must be less than max_val; got min_val={p['min_val']!r}, "
                         f"max_val={p['max_val']!r}")


_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946
_GELU_MODES = {"none": _GELU, "tanh": _GELU_TANH}


def _gelu_ref(m, x, approximate="none"):
    if approximate == "tanh":  # 0.5 (1 + tanh u) = sigmoid(2 u), 1 - tanh(u)**2 = 1 / cosh(u)**2
        k = m.sqrt(2 / m.pi)
        u = k * (x + 0.044715 * x ** 3)
        s = _sig_ref(m, 2 * u)
        return x * s, s + 0.5 * x * k * (1 + 3 * 0.044715 * x * x) / m.cosh(u) ** 2
    cdf = 0.5 * m.erfc(-x / m.sqrt(2))
    return x * cdf, cdf + x * m.exp(-x * x / 2) / m.sqrt(2 * m.pi)


def _sig_ref(m, x):
    return 1 / (1 + m.exp(-x))


# ------------------------------------------------------------------ the registry
_entry("relu", "max(x, 0)", _RELU,
       module="ReLU", torch=lambda t, x: t.nn.functional.relu(x),
       reference=lambda m, x: (m.where(x > 0, x, 0 * x), m.where(x > 0, 1 + 0 * x, 0 * x)))
_entry("relu6", "min(max(x, 0), 6)", resolve=lambda p: (_HARDTANH, (0.0, 6.0)),
       module="ReLU6", torch=lambda t, x: t.nn.functional.relu6(x),
       reference=lambda m, x: (m.where(x > 6, 6 + 0 * x, m.where(x > 0, x, 0 * x)),
                               m.where((x > 0) & (x < 6), 1 + 0 * x, 0 * x)))
_entry("leaky_relu", "x if x > 0 else negative_slope * x", _LEAKY, params={"negative_slope": 0.01},
       check=_finite("negative_slope"),
       module="LeakyReLU",
       torch=lambda t, x, negative_slope=0.01: t.nn.functional.leaky_relu(x, negative_slope),
       reference=lambda m, x, negative_slope=0.01: (m.where(x > 0, x, negative_slope * x),
                                                    m.where(x > 0, 1 + 0 * x, negative_slope + 0 * x)))
_entry("elu", "x if x > 0 else alpha * (exp(x) - 1)", params={"alpha": 1.0},
       resolve=lambda p: (_ELU, (float(p["alpha"]), 1.0, 1.0)), check=_finite("alpha"),
       module="ELU", torch=lambda t, x, alpha=1.0: t.nn.functional.elu(x, alpha),
       reference=lambda m, x, alpha=1.0: (m.where(x > 0, x, alpha * m.expm1(x)),
                                          m.where(x > 0, 1 + 0 * x, alpha * m.exp(x))))
_entry("selu", "scale * (x if x > 0 else alpha * (exp(x) - 1)), torch's alpha and scale",
       resolve=lambda p: (_ELU, (_SELU_ALPHA, _SELU_SCALE, 1.0)),
       module="SELU", torch=lambda t, x: t.nn.functional.selu(x),
       reference=lambda m, x: (_SELU_SCALE * m.where(x > 0, x, _SELU_ALPHA * m.expm1(x)),
                               _SELU_SCALE * m.where(x > 0, 1 + 0 * x, _SELU_ALPHA * m.exp(x))))
_entry("celu", "x if x > 0 else alpha * (exp(x / alpha) - 1)", params={"alpha": 1.0},
       resolve=lambda p: (_ELU, (float(p["alpha"]), 1.0, 1.0 / float(p["alpha"]))),
       check=_all(_finite("alpha"), _nonzero("alpha")),
       module="CELU", torch=lambda t, x, alpha=1.0: t.nn.functional.celu(x, alpha),
       reference=lambda m, x, alpha=1.0: (m.where(x > 0, x, alpha * m.expm1(x / alpha)),
                                          m.where(x > 0, 1 + 0 * x, m.exp(x / alpha))))
_entry("gelu", "x * Phi(x); approximate='tanh': 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))",
       params={"approximate": "none"}, choices={"approximate": tuple(_GELU_MODES)},
       resolve=lambda p: (_GELU_MODES[p["approximate"]], ()),
       module="GELU",
       torch=lambda t, x, approximate="none": t.nn.functional.gelu(x, approximate=approximate),
       reference=_gelu_ref, inf_limits="gelu(-inf) = 0 and gelu'(+inf) = 1 (torch: NaN)")
_entry("silu", "x * sigmoid(x)", _SILU, aliases=("swish",),
       module="SiLU", torch=lambda t, x: t.nn.functional.silu(x),
       reference=lambda m, x: (x * _sig_ref(m, x), _sig_ref(m, x) * (1 + x * (1 - _sig_ref(m, x)))),
       inf_limits="silu(-inf) = 0 and silu'(+-inf) = 1, 0 (torch: NaN)")
_entry("mish", "x * tanh(softplus(x))", _MISH,
       torch=lambda t, x: t.nn.functional.mish(x),
       reference=lambda m, x: (x * m.tanh(m.log1p(m.exp(x))),
                               m.tanh(m.log1p(m.exp(x))) + x * (1 - m.tanh(m.log1p(m.exp(x))) ** 2)
                               * _sig_ref(m, x)),
       inf_limits="mish(-inf) = 0 and mish'(+-inf) = 1, 0 (torch: NaN)")
_entry("sigmoid", "1 / (1 + exp(-x))", _SIGMOID,
       torch=lambda t, x: t.sigmoid(x),
       reference=lambda m, x: (_sig_ref(m, x), _sig_ref(m, x) * _sig_ref(m, -x)))
_entry("tanh", "tanh(x)", _TANH,
       torch=lambda t, x: t.tanh(x),
       reference=lambda m, x: (m.tanh(x), 1 / m.cosh(x) ** 2))
_entry("softplus", "log(1 + exp(beta x)) / beta, x where beta x > threshold",
       params={"beta": 1.0, "threshold": 20.0},
       resolve=lambda p: (_SOFTPLUS, (float(p["beta"]), float(p["threshold"]), 1.0 / float(p["beta"]))),
       check=_all(_finite("beta"), _nonzero("beta"), _finite("threshold")),
       torch=lambda t, x, beta=1.0, threshold=20.0: t.nn.functional.softplus(x, beta, threshold),
       reference=lambda m, x, beta=1.0, threshold=20.0: (
           m.where(x * beta > threshold, x, m.log1p(m.exp(x * beta)) / beta),
           m.where(x * beta > threshold, 1 + 0 * x, _sig_ref(m, x * beta))))
_entry("hardsigmoid", "min(max(x + 3, 0), 6) / 6", _HSIG,
       torch=lambda t, x: t.nn.functional.hardsigmoid(x),
       reference=lambda m, x: (m.where(x > 3, 1 + 0 * x, m.where(x > -3, (x + 3) / 6, 0 * x)),
                               m.where((x > -3) & (x < 3), 1 / 6 + 0 * x, 0 * x)))
_entry("hardswish", "x * min(max(x + 3, 0), 6) / 6", _HSWISH,
       torch=lambda t, x: t.nn.functional.hardswish(x),
       reference=lambda m, x: (m.where(x > 3, x, m.where(x > -3, x * (x + 3) / 6, 0 * x)),
                               m.where(x >= 3, 1 + 0 * x, m.where(x > -3, x / 3 + 0.5, 0 * x))),
       inf_limits="hardswish(-inf) = 0 (torch: NaN)")
_entry("hardtanh", "min(max(x, min_val), max_val)", _HARDTANH,
       params={"min_val": -1.0, "max_val": 1.0}, check=_hardtanh_check,
       torch=lambda t, x, min_val=-1.0, max_val=1.0: t.nn.functional.hardtanh(x, min_val, max_val),
       reference=lambda m, x, min_val=-1.0, max_val=1.0: (
           m.where(x > max_val, max_val + 0 * x, m.where(x < min_val, min_val + 0 * x, x)),
           m.where((x > min_val) & (x < max_val), 1 + 0 * x, 0 * x)))
_entry("softsign", "x / (1 + |x|)", _SOFTSIGN,
       torch=lambda t, x: t.nn.functional.softsign(x),
       reference=lambda m, x: (x / (1 + abs(x)), 1 / (1 + abs(x)) ** 2),
       inf_limits="softsign(+-inf) = +-1, softsign'(+-inf) = 0 (torch: NaN)")
_entry("log_sigmoid", "log(sigmoid(x)) = -softplus(-x)", _LOGSIG, aliases=("logsigmoid",),
       module="LogSigmoid", torch=lambda t, x: t.nn.functional.logsigmoid(x),
       reference=lambda m, x: (-m.log1p(m.exp(-x)), _sig_ref(m, -x)))
_entry("tanhshrink", "x - tanh(x)", _TANHSHRINK,
       torch=lambda t, x: t.nn.functional.tanhshrink(x),
       reference=lambda m, x: (m.tanhshrink(x), m.tanh(x) ** 2))
_entry("hardshrink", "x if |x| > lambd else 0", _HSHRINK, params={"lambd": 0.5},
       check=_finite("lambd"),
       torch=lambda t, x, lambd=0.5: t.nn.functional.hardshrink(x, lambd),
       reference=lambda m, x, lambd=0.5: (m.where(abs(x) > lambd, x, 0 * x),
                                          m.where(abs(x) > lambd, 1 + 0 * x, 0 * x)))
_entry("softshrink", "x - lambd if x > lambd, x + lambd if x < -lambd, else 0", _SSHRINK,
       params={"lambd": 0.5}, check=_all(_finite("lambd"), _nonneg("lambd")),
       torch=lambda t, x, lambd=0.5: t.nn.functional.softshrink(x, lambd),
       reference=lambda m, x, lambd=0.5: (m.where(x > lambd, x - lambd, m.where(x < -lambd, x + lambd, 0 * x)),
                                          m.where(abs(x) > lambd, 1 + 0 * x, 0 * x)))
_entry("swiglu", "silu(a) * b", _SILU, gated=True,
       module="SwiGLU", torch=lambda t, a, b: t.nn.functional.silu(a) * b,
       reference=ACTIVATIONS["silu"].reference)
_entry("geglu", "gelu(a, approximate) * b", params={"approximate": "none"},
       choices={"approximate": tuple(_GELU_MODES)}, gated=True,
       resolve=lambda p: (_GELU_MODES[p["approximate"]], ()),
       module="GeGLU",
       torch=lambda t, a, b, approximate="none": t.nn.functional.gelu(a, approximate=approximate) * b,
       reference=_gelu_ref)


#: Max error in float32 ulps, (f(x), f'(x)), over [-20, 20] (see module doc).
#: Measured 2026-11-22 (x86-64 with FMA; the bits are the same without FMA).
MAX_ULP = {
    "relu": (0.0, 0.0), "relu6": (0.0, 0.0), "leaky_relu": (0.85, 0.1), "elu": (1.0, 0.9),
    "selu": (1.8, 1.7), "celu": (1.0, 0.9), "gelu": (8.7, 9.6), "gelu_tanh": (180.0, 9.7),
    "silu": (3.6, 5.9), "mish": (4.2, 11.2), "sigmoid": (2.7, 4.3), "tanh": (1.2, 2.5),
    "softplus": (2.0, 2.6), "hardsigmoid": (0.4, 0.4), "hardswish": (1.0, 2.7), "hardtanh": (0.0, 0.0),
    "softsign": (0.5, 1.9), "log_sigmoid": (2.0, 2.6), "tanhshrink": (3.4, 3.2),
    "hardshrink": (0.0, 0.0), "softshrink": (0.0, 0.0),
}
#: float64: the same measure on 2**16 + 1 points (gelu_tanh: its condition
#: number, ~0.2 |x|**3, again; the rest is libm's accuracy).
MAX_ULP64 = {
    "relu": (0.0, 0.0), "relu6": (0.0, 0.0), "leaky_relu": (0.5, 0.1), "elu": (0.8, 0.6),
    "selu": (1.7, 1.7), "celu": (0.8, 0.6), "gelu": (4.1, 7.1), "gelu_tanh": (1110.0, 9.2),
    "silu": (3.1, 4.6), "mish": (3.9, 10.3), "sigmoid": (2.6, 3.6), "tanh": (0.9, 2.0),
    "softplus": (1.5, 2.3), "hardsigmoid": (0.4, 0.1), "hardswish": (0.4, 2.7), "hardtanh": (0.0, 0.0),
    "softsign": (0.5, 1.9), "log_sigmoid": (1.5, 2.3), "tanhshrink": (2.5, 2.4),
    "hardshrink": (0.0, 0.0), "softshrink": (0.0, 0.0),
}


# ------------------------------------------------------------------ API
def _lookup(name):
    if not isinstance(name, str):
        raise TypeError(f"name must be a str, one of: {', '.join(names())}; got {type(name).__name__}")
    e = ACTIVATIONS.get(_ALIASES.get(name, name))
    if e is None:
        raise ValueError(f"unknown activation {name!r}; valid names: {', '.join(names())}")
    return e


def _params(e, given):
    unknown = sorted(set(given) - set(e.params))
    if unknown:
        valid = ", ".join(e.params) or "none"
        raise TypeError(f"{e.name}() got unexpected parameter(s) {', '.join(map(repr, unknown))}; "
                        f"valid parameters: {valid}")
    p = dict(e.params)
    p.update(given)
    for k, v in p.items():
        if k in e.choices:
            if v not in e.choices[k]:
                raise ValueError(f"{k} must be one of {', '.join(map(repr, e.choices[k]))}; got {v!r}")
        elif isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)):
            raise TypeError(f"{k} must be a real number; got {v!r}")
        else:
            p[k] = float(v)
    if e.check is not None:
        e.check(p)
    return p


_INPUT_DTYPES = "float16, bfloat16, float32, float64"
_ARRAYS = "a numpy.ndarray or a GPU array (CuPy, Numba, __cuda_array_interface__)"


def _check_array(a, name):
    if device_of(a) is None or is_torch_tensor(a):
        raise TypeError(f"{name} must be {_ARRAYS} (use fastinit.torch for torch tensors); "
                        f"got {type(a).__name__}")


def _source(a, name):
    """(1-D C-contiguous kernel view, kind) of an input array."""
    _check_array(a, name)
    try:
        float_kind(a.dtype)
    except TypeError:
        raise TypeError(f"{name} dtype must be one of {_INPUT_DTYPES}; got {a.dtype}") from None
    return as_source(a, name)


def _dest(out, like, name):
    """Output buffer: ``out`` checked (device, shape, dtype, writable, contiguous) or a new array."""
    if out is None:
        arr = empty_like(like)
    else:
        _check_array(out, name)
        if tuple(out.shape) != tuple(like.shape):
            raise ValueError(f"{name} has shape {tuple(out.shape)}; expected {tuple(like.shape)} "
                             "(the shape of x)")
        if out.dtype != like.dtype:
            raise TypeError(f"{name} has dtype {out.dtype}; expected {like.dtype} (the dtype of x)")
        arr = out
    view, _ = as_target(arr, name)
    return arr, view.reshape(view.size)


def _same_memory(o, i):
    if isinstance(o, np.ndarray) and isinstance(i, np.ndarray):
        return (o.__array_interface__["data"][0] == i.__array_interface__["data"][0]
                and o.strides == i.strides)
    return memory_span(o) == memory_span(i)


def _overlaps(a, b):
    if isinstance(a, np.ndarray) and isinstance(b, np.ndarray):
        return np.may_share_memory(a, b)
    (a0, a1), (b0, b1) = memory_span(a), memory_span(b)
    return a0 < b1 and b0 < a1 and a1 > a0 and b1 > b0


def _no_partial_overlap(outs, ins):
    for oname, o in outs:
        for iname, i in ins:
            if _overlaps(o, i) and not _same_memory(o, i):
                raise ValueError(f"{oname} overlaps {iname} without being the same array; "
                                 "in-place (out=x) is fine, shifted views are not")
    for j, (n1, a) in enumerate(outs):
        for n2, b in outs[j + 1:]:
            if _overlaps(a, b):
                raise ValueError(f"{n1} and {n2} must not share memory")


def _inputs(e, x):
    if e.gated:
        if not (isinstance(x, (tuple, list)) and len(x) == 2):
            raise TypeError(f"{e.name} is gated: pass x=(a, b), two arrays of one shape")
        a, b = x
        for n, v in (("a", a), ("b", b)):
            _check_array(v, n)
        if tuple(a.shape) != tuple(b.shape):
            raise ValueError(f"a and b must have the same shape; got {tuple(a.shape)} and {tuple(b.shape)}")
        if a.dtype != b.dtype:
            raise TypeError(f"a and b must have the same dtype; got {a.dtype} and {b.dtype}")
        return [("a", a), ("b", b)]
    return [("x", x)]


def _call(name, x, grad_out, mode, outs, params):
    e = _lookup(name)
    p = _params(e, params)
    ins = _inputs(e, x)
    like = ins[0][1]
    same_device(ins + [("grad_out", grad_out)] + list(outs))
    srcs = []
    kind = None
    for n, a in ins:
        s, kind = _source(a, n)
        srcs.append(s)
    g = None
    if grad_out is not None:
        _check_array(grad_out, "grad_out")
        if tuple(grad_out.shape) != tuple(like.shape):
            raise ValueError(f"grad_out has shape {tuple(grad_out.shape)}; expected {tuple(like.shape)} "
                             "(the shape of x)")
        if grad_out.dtype != like.dtype:
            raise TypeError(f"grad_out has dtype {grad_out.dtype}; expected {like.dtype} (the dtype of x)")
        g, _ = _source(grad_out, "grad_out")
    results, views = [], []
    for oname, o in outs:
        arr, v = _dest(o, like, oname)
        results.append((oname, arr))
        views.append(v)
    _no_partial_overlap([(n, a) for (n, a), (_, o) in zip(results, outs) if o is not None],
                        ins + ([("grad_out", grad_out)] if grad_out is not None else []))
    _launch(e, p, mode, srcs, g, views, kind)
    return [a for _, a in results]


def _launch(e, p, mode, srcs, g, views, kind):
    """Run entry ``e`` (checked params ``p``) on flat, contiguous kernel views
    (numpy on the CPU, Numba device arrays on the GPU: ``dispatch``):
    ``srcs`` = [x] or [a, b], ``g`` (or None), ``views`` = the outputs the
    mode writes (y / gi / y, gi; gated: y / ga, gb / y, ga, gb). 16-bit data
    comes as uint16 with ``kind`` saying which format (fastinit.torch uses this)."""
    code, prm = e.resolve(p)
    g = srcs[0] if g is None else g
    kernels = elementwise_kernels(srcs[0])
    if e.gated:
        a, b = srcs
        if mode == _ew.FORWARD:
            arrays = (a, b, g, views[0], a, a)
        elif mode == _ew.BACKWARD:
            arrays = (a, b, g, a, views[0], views[1])
        else:
            arrays = (a, b, g, views[0], views[1], views[2])
    else:
        xs = srcs[0]
        if mode == _ew.FORWARD:
            arrays = (xs, g, views[0], xs)
        elif mode == _ew.BACKWARD:
            arrays = (xs, g, xs, views[0])
        else:
            arrays = (xs, g, views[0], views[1])
    kernels.run(arrays, prm, mode, code, kind, gated=e.gated)


def _pair(out, n, name):
    if out is None:
        return (None,) * n
    if n == 1:
        return (out,)
    if not (isinstance(out, (tuple, list)) and len(out) == n):
        raise TypeError(f"{name} must be None or a pair of arrays (grad_a, grad_b) for a gated activation")
    return tuple(out)


def forward(name, x, *, out=None, **params):
    """``y = f(x)`` for the activation ``name`` (see ``names()``).

    Parameters
    ----------
    name : str
        Activation name, torch's (``"gelu"``, ``"leaky_relu"``, ...).
    x : array or (array, array)
        A numpy array, or a GPU array (CuPy, Numba device array, anything with
        ``__cuda_array_interface__``): the work runs where the data is, and
        every array of the call must be on one device. float16, bfloat16,
        float32 or float64, any shape; ``(a, b)`` for the gated
        ``swiglu``/``geglu``. 16-bit inputs are computed in float32.
    out : array, optional
        Where to write ``y`` (x's shape and dtype, writable, C-contiguous);
        ``out=x`` computes in place.
    **params
        The activation's parameters, torch's names and defaults.

    Returns
    -------
    array
        ``y`` (``out`` when given; else a new array of x's kind: numpy, CuPy
        or a Numba device array).

    Notes
    -----
    torch: ``torch.nn.functional.<name>(x, **params)``. Deterministic: each
    element depends on its own input only, for any thread count; float32 and
    16-bit results are the same bits on CPU and GPU (float64: libm vs
    libdevice, a few ulp).
    """
    return _call(name, x, None, _ew.FORWARD, [("out", out)], params)[0]


def backward(name, grad_out, x, *, out=None, **params):
    """``grad_in = grad_out * f'(x)``, recomputed from ``x`` (nothing saved).

    ``out`` (or a pair for gated activations) receives the result; for
    ``swiglu``/``geglu`` the return is ``(grad_a, grad_b)`` with
    ``grad_a = grad_out * b * act'(a)`` and ``grad_b = grad_out * act(a)``.
    torch: what ``y.backward(grad_out)`` leaves in ``x.grad``, including at
    the kinks (``relu'(0) = 0``).
    """
    e = _lookup(name)
    if grad_out is None:
        raise TypeError("grad_out must be an array; use fused(name, x) for f'(x) alone")
    n = 2 if e.gated else 1
    outs = _pair(out, n, "out")
    names_ = ("out_a", "out_b") if e.gated else ("out",)
    r = _call(name, x, grad_out, _ew.BACKWARD, list(zip(names_, outs)), params)
    return tuple(r) if e.gated else r[0]


def fused(name, x, grad_out=None, *, out=None, grad_in=None, **params):
    """``(y, g)`` in one pass over memory: ``y = f(x)`` and ``g = grad_out *
    f'(x)``, or ``g = f'(x)`` when ``grad_out`` is None.

    For ``swiglu``/``geglu``, ``x = (a, b)`` and ``g`` is ``(grad_a, grad_b)``
    (``grad_in`` a pair too). ``out``/``grad_in`` follow ``forward``'s rules.
    """
    e = _lookup(name)
    n = 2 if e.gated else 1
    gi = _pair(grad_in, n, "grad_in")
    names_ = ("grad_a", "grad_b") if e.gated else ("grad_in",)
    mode = _ew.FUSED if grad_out is not None else _ew.FUSED_D
    r = _call(name, x, grad_out, mode, [("out", out)] + list(zip(names_, gi)), params)
    return (r[0], (r[1], r[2])) if e.gated else (r[0], r[1])


def _bind(e, args, params):
    """Split ``args`` into the input tensors/arrays and the entry's parameters
    given positionally (torch's order), merged into ``params``."""
    nin = 2 if e.gated else 1
    pnames = list(e.params)
    if len(args) < nin:
        raise TypeError(f"{e.name}() needs {'a, b' if e.gated else 'x'}")
    extra = args[nin:]
    if len(extra) > len(pnames):
        raise TypeError(f"{e.name}() takes at most {nin + len(pnames)} positional arguments")
    for k, v in zip(pnames, extra):
        if k in params:
            raise TypeError(f"{e.name}() got multiple values for {k!r}")
        params[k] = v
    return args[:nin], params


def _convenience(e):
    def fn(*args, out=None, **params):
        inputs, params = _bind(e, args, params)
        return forward(e.name, tuple(inputs) if e.gated else inputs[0], out=out, **params)

    sig = ("a, b" if e.gated else "x") + "".join(f", {k}={v!r}" for k, v in e.params.items())
    fn.__name__ = fn.__qualname__ = e.name
    fn.__doc__ = (f"{e.name}({sig}, *, out=None)\n\n``{e.formula}``, torch's semantics; "
                  f"``forward({e.name!r}, ...)``. Gradients: ``backward``/``fused``.")
    return fn


for _e in list(ACTIVATIONS.values()):
    globals()[_e.name] = _convenience(_e)
    __all__.append(_e.name)
    for _a in _e.aliases:
        globals()[_a] = globals()[_e.name]
        __all__.append(_a)
del _e
