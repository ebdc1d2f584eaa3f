"""The activation registry: what each activation is, read by both backends and the API.

One home for everything the layers above and below need to agree on:

* the kernel **modes** (``FORWARD``, ``BACKWARD``, ``FUSED``, ``FUSED_D``: what a
  kernel pass reads and writes, see ``fastinit/cpu/elementwise.py``) and how many
  outputs each writes (``N_OUT``);
* each activation's **math**: a jitted ``f(x, p) -> (f(x), f'(x))`` written once for
  float32 and float64 with the type-generic helpers of ``fastinit._act_math``, and
  its **code**, the compile-time literal the kernels specialize on (``MATH``: code
  -> function; both backends inline ``MATH[code]``);
* each **entry** (``ACTIVATIONS``): name, formula, parameters with torch's names and
  defaults, their checks, the torch expression it must match, an independent
  reference formula the tests evaluate in extended precision, the ``torch.nn``
  class name ``fastinit.torch`` mirrors, the limits at +-inf where it differs from
  torch, and its measured accuracy (``MAX_ULP``, ``MAX_ULP64``).

Data flows one way: ``fastinit.activations`` (the array API), ``fastinit.torch``
(autograd adapters), warmup and the benchmarks look entries up here and run them
through ``fastinit._act_ops.launch``; the kernels (``cpu/elementwise.py``,
``gpu/elementwise.py``) read ``MATH`` and the modes; this module imports neither.
Adding an activation is one ``_entry(...)`` below plus its math function (and the
measured errors the tests hold it to); the kernels, the API, ``fastinit.torch``,
``fastinit warmup`` and the benchmarks pick it up. Codes are given at import in the
order of the entries, so every process numbers the math the same way (the on-disk
kernel cache keys on the code; its stamp covers this file).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from numba import njit

from ._act_math import by_type, const, expm1_exp, ndtr2, sigmoid2, softplus3, tanh3, where

__all__ = ["FORWARD", "BACKWARD", "FUSED", "FUSED_D", "N_OUT", "MATH", "ACTIVATIONS", "ALIASES", "Activation",
           "MAX_ULP", "MAX_ULP64", "code_of", "names", "lookup", "check_params", "bind_args"]

# ------------------------------------------------------------------ modes
#: what one kernel pass writes: ``y = f(x)``; ``gi = g f'(x)``; both; ``y`` and ``f'(x)``
FORWARD, BACKWARD, FUSED, FUSED_D = 0, 1, 2, 3

#: outputs written per element, by (gated, mode): y / gi / y, gi (gated: y / ga, gb / y, ga, gb)
N_OUT = {False: {FORWARD: 1, BACKWARD: 1, FUSED: 2, FUSED_D: 2},
         True: {FORWARD: 1, BACKWARD: 2, FUSED: 3, FUSED_D: 3}}

# ------------------------------------------------------------------ codes
#: code -> jitted ``f(x, p) -> (f(x), f'(x))`` (inline): what the kernels compile
MATH = {}
_CODES = {}


def _register(fn):
    if fn not in _CODES:
        _CODES[fn] = len(MATH)
        MATH[_CODES[fn]] = fn


def code_of(fn):
    """The kernels' literal code of a registered math function (KeyError if an
    entry does not list it: codes are given only at import, never on a call)."""
    return _CODES[fn]


# ------------------------------------------------------------------ entries
@dataclass(frozen=True)
class Activation:
    """One registry entry. ``resolve(params) -> (code, numeric params)`` picks
    the kernel math; ``torch(torch, *inputs, **params)`` is torch's own
    expression; ``module`` the ``torch.nn`` class name fastinit.torch mirrors;
    ``reference(m, x, **params) -> (y, dy)`` the independent
    formula (``m`` provides exp, expm1, log1p, tanh, cosh, tanhshrink, erfc, sqrt, pi, where for the
    precision the test wants); ``math`` the functions ``resolve`` may pick."""
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
    math: tuple = ()


ACTIVATIONS = {}
#: alias -> entry name
ALIASES = {}


def _entry(name, formula, fn, *, params=None, resolve=None, torch, reference, check=None,
           gated=False, aliases=(), choices=None, inf_limits="", module=None):
    """Add entry ``name`` with its math function ``fn`` (or a tuple of them,
    ``resolve`` choosing one by the parameters). Without ``resolve``: the one
    function, the parameters in their order as its ``p``."""
    maths = fn if isinstance(fn, tuple) else (fn,)
    for f in maths:
        _register(f)
    params = dict(params or {})
    if resolve is None:
        keys = tuple(params)

        def resolve(p, _code=code_of(maths[0]), _keys=keys):
            return _code, tuple(float(p[k]) for k in _keys)
    e = Activation(name, formula, params, resolve, torch, reference, check, gated, tuple(aliases),
                   dict(choices or {}), inf_limits, module or name.capitalize(), maths)
    ACTIVATIONS[name] = e
    for a in aliases:
        ALIASES[a] = name
    return e


def names():
    """Sorted names of every activation (aliases included)."""
    return sorted(list(ACTIVATIONS) + list(ALIASES))


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
_GELU_MODES = {"none": _gelu, "tanh": _gelu_tanh}


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
_entry("relu", "max(x, 0)", _relu,
       module="ReLU", torch=lambda t, x: t.nn.functional.relu(x),
       reference=lambda m, x: (m.where(x > 0, x, 0 * x), m.where(x > 0, 1 + 0 * x, 0 * x)))
_entry("relu6", "min(max(x, 0), 6)", _hardtanh, resolve=lambda p: (code_of(_hardtanh), (0.0, 6.0)),
       module="ReLU6", torch=lambda t, x: t.nn.functional.relu6(x),
       reference=lambda m, x: (m.where(x > 6, 6 + 0 * x, m.where(x > 0, x, 0 * x)),
                               m.where((x > 0) & (x < 6), 1 + 0 * x, 0 * x)))
_entry("leaky_relu", "x if x > 0 else negative_slope * x", _leaky_relu, params={"negative_slope": 0.01},
       check=_finite("negative_slope"),
       module="LeakyReLU",
       torch=lambda t, x, negative_slope=0.01: t.nn.functional.leaky_relu(x, negative_slope),
       reference=lambda m, x, negative_slope=0.01: (m.where(x > 0, x, negative_slope * x),
                                                    m.where(x > 0, 1 + 0 * x, negative_slope + 0 * x)))
_entry("elu", "x if x > 0 else alpha * (exp(x) - 1)", _elu, params={"alpha": 1.0},
       resolve=lambda p: (code_of(_elu), (float(p["alpha"]), 1.0, 1.0)), check=_finite("alpha"),
       module="ELU", torch=lambda t, x, alpha=1.0: t.nn.functional.elu(x, alpha),
       reference=lambda m, x, alpha=1.0: (m.where(x > 0, x, alpha * m.expm1(x)),
                                          m.where(x > 0, 1 + 0 * x, alpha * m.exp(x))))
_entry("selu", "scale * (x if x > 0 else alpha * (exp(x) - 1)), torch's alpha and scale", _elu,
       resolve=lambda p: (code_of(_elu), (_SELU_ALPHA, _SELU_SCALE, 1.0)),
       module="SELU", torch=lambda t, x: t.nn.functional.selu(x),
       reference=lambda m, x: (_SELU_SCALE * m.where(x > 0, x, _SELU_ALPHA * m.expm1(x)),
                               _SELU_SCALE * m.where(x > 0, 1 + 0 * x, _SELU_ALPHA * m.exp(x))))
_entry("celu", "x if x > 0 else alpha * (exp(x / alpha) - 1)", _elu, params={"alpha": 1.0},
       resolve=lambda p: (code_of(_elu), (float(p["alpha"]), 1.0, 1.0 / float(p["alpha"]))),
       check=_all(_finite("alpha"), _nonzero("alpha")),
       module="CELU", torch=lambda t, x, alpha=1.0: t.nn.functional.celu(x, alpha),
       reference=lambda m, x, alpha=1.0: (m.where(x > 0, x, alpha * m.expm1(x / alpha)),
                                          m.where(x > 0, 1 + 0 * x, m.exp(x / alpha))))
_entry("gelu", "x * Phi(x); approximate='tanh': 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))",
       (_gelu, _gelu_tanh), params={"approximate": "none"}, choices={"approximate": tuple(_GELU_MODES)},
       resolve=lambda p: (code_of(_GELU_MODES[p["approximate"]]), ()),
       module="GELU",
       torch=lambda t, x, approximate="none": t.nn.functional.gelu(x, approximate=approximate),
       reference=_gelu_ref, inf_limits="gelu(-inf) = 0 and gelu'(+inf) = 1 (torch: NaN)")
_entry("silu", "x * sigmoid(x)", _silu, aliases=("swish",),
       module="SiLU", torch=lambda t, x: t.nn.functional.silu(x),
       reference=lambda m, x: (x * _sig_ref(m, x), _sig_ref(m, x) * (1 + x * (1 - _sig_ref(m, x)))),
       inf_limits="silu(-inf) = 0 and silu'(+-inf) = 1, 0 (torch: NaN)")
_entry("mish", "x * tanh(softplus(x))", _mish,
       torch=lambda t, x: t.nn.functional.mish(x),
       reference=lambda m, x: (x * m.tanh(m.log1p(m.exp(x))),
                               m.tanh(m.log1p(m.exp(x))) + x * (1 - m.tanh(m.log1p(m.exp(x))) ** 2)
                               * _sig_ref(m, x)),
       inf_limits="mish(-inf) = 0 and mish'(+-inf) = 1, 0 (torch: NaN)")
_entry("sigmoid", "1 / (1 + exp(-x))", _sigmoid,
       torch=lambda t, x: t.sigmoid(x),
       reference=lambda m, x: (_sig_ref(m, x), _sig_ref(m, x) * _sig_ref(m, -x)))
_entry("tanh", "tanh(x)", _tanh,
       torch=lambda t, x: t.tanh(x),
       reference=lambda m, x: (m.tanh(x), 1 / m.cosh(x) ** 2))
_entry("softplus", "log(1 + exp(beta x)) / beta, x where beta x > threshold", _softplus,
       params={"beta": 1.0, "threshold": 20.0},
       resolve=lambda p: (code_of(_softplus), (float(p["beta"]), float(p["threshold"]), 1.0 / float(p["beta"]))),
       check=_all(_finite("beta"), _nonzero("beta"), _finite("threshold")),
       torch=lambda t, x, beta=1.0, threshold=20.0: t.nn.functional.softplus(x, beta, threshold),
       reference=lambda m, x, beta=1.0, threshold=20.0: (
           m.where(x * beta > threshold, x, m.log1p(m.exp(x * beta)) / beta),
           m.where(x * beta > threshold, 1 + 0 * x, _sig_ref(m, x * beta))))
_entry("hardsigmoid", "min(max(x + 3, 0), 6) / 6", _hardsigmoid,
       torch=lambda t, x: t.nn.functional.hardsigmoid(x),
       reference=lambda m, x: (m.where(x > 3, 1 + 0 * x, m.where(x > -3, (x + 3) / 6, 0 * x)),
                               m.where((x > -3) & (x < 3), 1 / 6 + 0 * x, 0 * x)))
_entry("hardswish", "x * min(max(x + 3, 0), 6) / 6", _hardswish,
       torch=lambda t, x: t.nn.functional.hardswish(x),
       reference=lambda m, x: (m.where(x > 3, x, m.where(x > -3, x * (x + 3) / 6, 0 * x)),
                               m.where(x >= 3, 1 + 0 * x, m.where(x > -3, x / 3 + 0.5, 0 * x))),
       inf_limits="hardswish(-inf) = 0 (torch: NaN)")
_entry("hardtanh", "min(max(x, min_val), max_val)", _hardtanh,
       params={"min_val": -1.0, "max_val": 1.0}, check=_hardtanh_check,
       torch=lambda t, x, min_val=-1.0, max_val=1.0: t.nn.functional.hardtanh(x, min_val, max_val),
       reference=lambda m, x, min_val=-1.0, max_val=1.0: (
           m.where(x > max_val, max_val + 0 * x, m.where(x < min_val, min_val + 0 * x, x)),
           m.where((x > min_val) & (x < max_val), 1 + 0 * x, 0 * x)))
_entry("softsign", "x / (1 + |x|)", _softsign,
       torch=lambda t, x: t.nn.functional.softsign(x),
       reference=lambda m, x: (x / (1 + abs(x)), 1 / (1 + abs(x)) ** 2),
       inf_limits="softsign(+-inf) = +-1, softsign'(+-inf) = 0 (torch: NaN)")
_entry("log_sigmoid", "log(sigmoid(x)) = -softplus(-x)", _log_sigmoid, aliases=("logsigmoid",),
       module="LogSigmoid", torch=lambda t, x: t.nn.functional.logsigmoid(x),
       reference=lambda m, x: (-m.log1p(m.exp(-x)), _sig_ref(m, -x)))
_entry("tanhshrink", "x - tanh(x)", _tanhshrink,
       torch=lambda t, x: t.nn.functional.tanhshrink(x),
       reference=lambda m, x: (m.tanhshrink(x), m.tanh(x) ** 2))
_entry("hardshrink", "x if |x| > lambd else 0", _hardshrink, params={"lambd": 0.5},
       check=_finite("lambd"),
       torch=lambda t, x, lambd=0.5: t.nn.functional.hardshrink(x, lambd),
       reference=lambda m, x, lambd=0.5: (m.where(abs(x) > lambd, x, 0 * x),
                                          m.where(abs(x) > lambd, 1 + 0 * x, 0 * x)))
_entry("softshrink", "x - lambd if x > lambd, x + lambd if x < -lambd, else 0", _softshrink,
       params={"lambd": 0.5}, check=_all(_finite("lambd"), _nonneg("lambd")),
       torch=lambda t, x, lambd=0.5: t.nn.functional.softshrink(x, lambd),
       reference=lambda m, x, lambd=0.5: (m.where(x > lambd, x - lambd, m.where(x < -lambd, x + lambd, 0 * x)),
                                          m.where(abs(x) > lambd, 1 + 0 * x, 0 * x)))
_entry("swiglu", "silu(a) * b", _silu, gated=True,
       module="SwiGLU", torch=lambda t, a, b: t.nn.functional.silu(a) * b,
       reference=ACTIVATIONS["silu"].reference)
_entry("geglu", "gelu(a, approximate) * b", (_gelu, _gelu_tanh), params={"approximate": "none"},
       choices={"approximate": tuple(_GELU_MODES)}, gated=True,
       resolve=lambda p: (code_of(_GELU_MODES[p["approximate"]]), ()),
       module="GeGLU",
       torch=lambda t, a, b, approximate="none": t.nn.functional.gelu(a, approximate=approximate) * b,
       reference=_gelu_ref)


#: Max error in float32 ulps, (f(x), f'(x)), over [-20, 20], measured as ``fastinit.activations``
#: says (its "Accuracy"; ``tests/test_activations.py`` re-measures them).
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


# ------------------------------------------------------------------ lookups and parameter checks
def lookup(name):
    """The entry of ``name`` (an alias too); TypeError/ValueError listing the valid names."""
    if not isinstance(name, str):
        raise TypeError(f"name must be a str, one of: {', '.join(names())}; got {type(name).__name__}")
    e = ACTIVATIONS.get(ALIASES.get(name, name))
    if e is None:
        raise ValueError(f"unknown activation {name!r}; valid names: {', '.join(names())}")
    return e


def check_params(e, given):
    """Entry ``e``'s parameters: its defaults updated with ``given`` (a dict), each
    checked (a choice, or a real number made float; then the entry's ``check``).
    TypeError/ValueError naming the parameter and what is allowed."""
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


def bind_args(e, args, params):
    """``(inputs, params)``: ``args`` split into the input tensors/arrays (x, or a
    and b) and the entry's parameters given positionally (torch's order), merged
    into the dict ``params`` (a parameter given both ways is a TypeError)."""
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

