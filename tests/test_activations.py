"""Activations: values and gradients against independent references (long
double), torch (values, autograd gradients, kinks, extremes, NaN), the four
kernel modes against each other, 16-bit rounding, gated forms and every error."""
import math

import numpy as np
import pytest

from act_ref import reference, ulp_error
from conftest import HAS_ML_DTYPES, requires_torch
from fastinit import activations as A

BASE = [(n, {}) for n, e in A.ACTIVATIONS.items() if not e.gated] + [("gelu", {"approximate": "tanh"})]
VARIANTS = [("leaky_relu", {"negative_slope": 0.2}), ("elu", {"alpha": 0.5}), ("celu", {"alpha": 2.0}),
            ("softplus", {"beta": 2.0, "threshold": 10.0}), ("softplus", {"beta": -1.5}),
            ("hardtanh", {"min_val": -2.0, "max_val": 3.0}), ("hardshrink", {"lambd": 0.3}),
            ("softshrink", {"lambd": 1.0}), ("elu", {"alpha": 0.0})]
CASES = BASE + VARIANTS


def key(name, params):
    return "gelu_tanh" if params.get("approximate") == "tanh" else name


def case_id(c):
    return c[0] + "".join(f"-{k}={v}" for k, v in c[1].items())


def kinks(name, p):
    """Points where the piecewise entries change formula."""
    lam = p.get("lambd", 0.5)
    return {"relu": [0.0], "relu6": [0.0, 6.0], "leaky_relu": [0.0], "elu": [0.0], "selu": [0.0],
            "celu": [0.0], "hardsigmoid": [-3.0, 3.0], "hardswish": [-3.0, 3.0],
            "hardtanh": [p.get("min_val", -1.0), p.get("max_val", 1.0)], "hardshrink": [-lam, lam],
            "softshrink": [-lam, lam], "softplus": [p.get("threshold", 20.0) / p.get("beta", 1.0)]}.get(name, [])


def ids(cases):
    return [case_id(c) for c in cases]


TORCH_CASES = [c for c in CASES if c != ("elu", {"alpha": 0.0})]
KINK_CASES = [c for c in CASES if kinks(*c)]
GATED = [("swiglu", {}), ("geglu", {}), ("geglu", {"approximate": "tanh"})]
SPECIAL = np.array([-np.inf, -1e4, -88.0, -20.0, -1.0, -0.0, 0.0, 1.0, 20.0, 88.0, 1e4, np.inf, np.nan])
GRID = np.linspace(-20, 20, 2 ** 20 + 1)
WIDE = np.linspace(-100, 100, 2 ** 17 + 1)


# ---------------------------------------------------------------- accuracy
@pytest.mark.parametrize("name,params", BASE, ids=ids(BASE))
def test_float32_ulp_error_vs_long_double_reference(name, params):
    x = GRID.astype(np.float32)
    y, d = A.fused(name, x, **params)
    ry, rd = reference(A.ACTIVATIONS[name], x, **params)
    uy, _ = ulp_error(y, ry, np.float32)
    ud, _ = ulp_error(d, rd, np.float32, floor=1 / 16)
    my, md = A.MAX_ULP[key(name, params)]
    assert uy <= my and ud <= md, (uy, ud)


@pytest.mark.parametrize("name,params", CASES, ids=ids(CASES))
def test_float32_within_torch_tolerance_of_reference(name, params):
    # torch.testing's float32 default (rtol 1.3e-6, atol 1e-5), >= 10**6 points plus specials
    x = np.concatenate([GRID, WIDE, SPECIAL[np.isfinite(SPECIAL)]]).astype(np.float32)
    y, d = A.fused(name, x, **params)
    ry, rd = reference(A.ACTIVATIONS[name], x, **params)
    np.testing.assert_allclose(y, ry.astype(np.float64), rtol=1.3e-6, atol=1e-5)
    np.testing.assert_allclose(d, rd.astype(np.float64), rtol=1.3e-6, atol=1e-5)


@pytest.mark.parametrize("name,params", BASE, ids=ids(BASE))
def test_float64_ulp_error_past_the_grid(name, params):
    """|x| from 20 to 1e300: the clamps and saturations that keep float32 exact must
    keep float64 within its grid's bounds too (mish' was 76 ulp off at x = 1000)."""
    far = np.geomspace(20.0, 1e300, 97)
    x = np.concatenate([far, -far]) if key(name, params) != "gelu_tanh" else far  # tanh-gelu: cond ~ |x|**3
    y, d = A.fused(name, x, **params)
    ry, rd = reference(A.ACTIVATIONS[name], x, **params)
    uy, _ = ulp_error(y, ry, np.float64)
    ud, _ = ulp_error(d, rd, np.float64, floor=1 / 16)
    my, md = A.MAX_ULP64[key(name, params)]
    # at least 1 ulp: the grid's exact entries round here (softshrink's x - lambd; hardswish is
    # torch's x * 6 / 6)
    assert uy <= max(my, 1.0) and ud <= max(md, 1.0), (uy, ud)


@pytest.mark.parametrize("name,params", BASE, ids=ids(BASE))
def test_float64_ulp_error(name, params):
    x = GRID[::16].copy()
    y, d = A.fused(name, x, **params)
    ry, rd = reference(A.ACTIVATIONS[name], x, **params)
    uy, _ = ulp_error(y, ry, np.float64)
    ud, _ = ulp_error(d, rd, np.float64, floor=1 / 16)
    my, md = A.MAX_ULP64[key(name, params)]
    assert uy <= my and ud <= md, (uy, ud)


# ---------------------------------------------------------------- kernel modes
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name,params", CASES, ids=ids(CASES))
def test_modes_agree_exactly(name, params, dtype):
    rng = np.random.default_rng(3)
    x = (rng.standard_normal(10_007) * 6).astype(dtype)  # ragged: vector body + scalar tail
    x[:13] = SPECIAL
    g = rng.standard_normal(x.size).astype(dtype)
    y = A.forward(name, x, **params)
    gi = A.backward(name, g, x, **params)
    y2, gi2 = A.fused(name, x, g, **params)
    y3, d = A.fused(name, x, **params)
    np.testing.assert_array_equal(y, y2)
    np.testing.assert_array_equal(y, y3)
    np.testing.assert_array_equal(gi, gi2)
    np.testing.assert_array_equal(A.backward(name, np.ones_like(x), x, **params), d)
    # an element's bits do not depend on its position (vector body vs scalar tail, tiles)
    y4, d4 = A.fused(name, x[3:], **params)
    np.testing.assert_array_equal(y4, y3[3:])
    np.testing.assert_array_equal(d4, d[3:])


def test_shapes_layouts_in_place_and_empty():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((7, 9, 11)).astype(np.float32)
    y, d = A.fused("gelu", x)
    assert y.shape == d.shape == x.shape and y.dtype == np.float32
    xt = np.asfortranarray(x)  # a strided input is read through a contiguous copy
    np.testing.assert_array_equal(A.forward("gelu", xt), y)
    np.testing.assert_array_equal(A.forward("gelu", x[:, ::2]), y[:, ::2])
    z = x.copy()
    assert A.forward("gelu", z, out=z) is z
    np.testing.assert_array_equal(z, y)
    out = np.empty_like(x)
    assert A.forward("gelu", x, out=out) is out
    e = np.empty((0, 3), np.float32)
    assert A.forward("silu", e).shape == (0, 3)
    assert A.forward("silu", np.ones((), np.float32)).shape == ()


def test_conveniences_and_aliases():
    x = np.linspace(-4, 4, 1001).astype(np.float32)
    np.testing.assert_array_equal(A.gelu(x, approximate="tanh"), A.forward("gelu", x, approximate="tanh"))
    np.testing.assert_array_equal(A.leaky_relu(x, 0.2), A.forward("leaky_relu", x, negative_slope=0.2))
    np.testing.assert_array_equal(A.swish(x), A.silu(x))
    np.testing.assert_array_equal(A.forward("logsigmoid", x), A.log_sigmoid(x))
    b = np.cos(x)
    np.testing.assert_array_equal(A.swiglu(x, b), A.forward("swiglu", (x, b)))
    assert "swish" in A.names() and "gelu" in A.names()
    assert "x * Phi(x)" in A.gelu.__doc__


# ---------------------------------------------------------------- 16-bit
def _f16_cases():
    out = [("float16", n) for n in ("gelu", "silu", "relu", "softplus", "tanh")]
    if HAS_ML_DTYPES:
        out += [("bfloat16", n) for n in ("gelu", "silu", "relu", "softplus", "tanh")]
    return out


@pytest.mark.parametrize("dtype,name", _f16_cases())
def test_16bit_is_float32_math_rounded_once(dtype, name):
    if dtype == "bfloat16":
        import ml_dtypes
        dt = np.dtype(ml_dtypes.bfloat16)
    else:
        dt = np.dtype(np.float16)
    rng = np.random.default_rng(1)
    x = (rng.standard_normal(5003) * 5).astype(dt)
    x[:13] = SPECIAL.astype(dt)
    g = rng.standard_normal(x.size).astype(dt)
    y, gi = A.fused(name, x, g)
    assert y.dtype == dt and gi.dtype == dt
    y32, d32 = A.fused(name, x.astype(np.float32))
    want = (g.astype(np.float32) * d32).astype(dt)
    for got, exp in ((y, y32.astype(dt)), (gi, want)):
        nan = np.isnan(exp.astype(np.float32))
        np.testing.assert_array_equal(np.isnan(got.astype(np.float32)), nan)
        # bit-exact except a NaN's sign bit, which IEEE leaves to the operation order
        np.testing.assert_array_equal(got.view(np.uint16)[~nan], exp.view(np.uint16)[~nan])


# ---------------------------------------------------------------- torch
def _torch_grads(name, params, x, g, dtype="float32"):
    import torch
    e = A.ACTIVATIONS[name]
    xt = torch.tensor(x, dtype=getattr(torch, dtype), requires_grad=True)
    y = e.torch(torch, xt, **params)
    y.backward(torch.tensor(g, dtype=getattr(torch, dtype)))
    return y.detach().numpy(), xt.grad.numpy()


@requires_torch
@pytest.mark.parametrize("name,params", TORCH_CASES, ids=ids(TORCH_CASES))
def test_matches_torch_values_and_gradients(name, params):
    rng = np.random.default_rng(7)
    x = np.concatenate([rng.standard_normal(100_000) * 5, np.linspace(-30, 30, 6001)]).astype(np.float32)
    g = rng.standard_normal(x.size).astype(np.float32)
    ty, tg = _torch_grads(name, params, x, g)
    y, gi = A.fused(name, x, g, **params)
    np.testing.assert_allclose(y, ty, rtol=1.3e-6, atol=1e-5)
    np.testing.assert_allclose(gi, tg, rtol=1.3e-6, atol=1e-5)


@requires_torch
@pytest.mark.parametrize("name,params", KINK_CASES, ids=ids(KINK_CASES))
def test_kinks_match_torch_autograd_exactly(name, params):
    pts = np.array(kinks(name, params), np.float64)
    x = np.concatenate([pts, np.nextafter(pts, -np.inf), np.nextafter(pts, np.inf)]).astype(np.float32)
    ty, tg = _torch_grads(name, params, x, np.ones_like(x))
    y, d = A.fused(name, x, **params)
    if name != "softplus":  # softplus: the value at its threshold is log1p(exp) math, not exact
        np.testing.assert_array_equal(y, ty)
    np.testing.assert_array_equal(d, tg)


def limits_at_infinity(name, p):
    """``{x: (f(x), f'(x))}`` at ``x = -inf, +inf``: the mathematical limits of each
    activation (torch's parameters and defaults), written from the formulas, never
    taken from torch (whose value at +-inf is NaN for some and varies with the CPU
    and its vector kernels)."""
    inf = math.inf
    s = p.get("negative_slope", 0.01)
    alpha = p.get("alpha", 1.0)
    beta = p.get("beta", 1.0)
    selu_scale, selu_alpha = 1.0507009873554804934193349852946, 1.6732632423543772848170429916717
    leaky_neg = -inf if s > 0 else (inf if s < 0 else 0.0)
    return {
        "relu": {-inf: (0.0, 0.0), inf: (inf, 1.0)},
        "relu6": {-inf: (0.0, 0.0), inf: (6.0, 0.0)},
        "leaky_relu": {-inf: (leaky_neg, s), inf: (inf, 1.0)},
        "elu": {-inf: (-alpha, 0.0), inf: (inf, 1.0)},
        "selu": {-inf: (-selu_scale * selu_alpha, 0.0), inf: (inf, selu_scale)},
        "celu": {-inf: (-alpha, 0.0), inf: (inf, 1.0)},
        "gelu": {-inf: (0.0, 0.0), inf: (inf, 1.0)},
        "silu": {-inf: (0.0, 0.0), inf: (inf, 1.0)},
        "mish": {-inf: (0.0, 0.0), inf: (inf, 1.0)},
        "sigmoid": {-inf: (0.0, 0.0), inf: (1.0, 0.0)},
        "tanh": {-inf: (-1.0, 0.0), inf: (1.0, 0.0)},
        # beta > 0: log(1 + e^(beta x)) / beta -> 0 and x; beta < 0: the linear branch
        # (beta x > threshold) holds at -inf, the log branch -> 0 at +inf
        "softplus": ({-inf: (0.0, 0.0), inf: (inf, 1.0)} if beta > 0 else {-inf: (-inf, 1.0), inf: (0.0, 0.0)}),
        "hardsigmoid": {-inf: (0.0, 0.0), inf: (1.0, 0.0)},
        "hardswish": {-inf: (0.0, 0.0), inf: (inf, 1.0)},
        "hardtanh": {-inf: (p.get("min_val", -1.0), 0.0), inf: (p.get("max_val", 1.0), 0.0)},
        "softsign": {-inf: (-1.0, 0.0), inf: (1.0, 0.0)},
        "log_sigmoid": {-inf: (-inf, 1.0), inf: (0.0, 0.0)},
        "tanhshrink": {-inf: (-inf, 1.0), inf: (inf, 1.0)},
        "hardshrink": {-inf: (-inf, 1.0), inf: (inf, 1.0)},
        "softshrink": {-inf: (-inf, 1.0), inf: (inf, 1.0)},
    }[name]


def test_every_activation_has_its_limits():
    """A new activation must come with its limits (a KeyError names it)."""
    for n, e in A.ACTIVATIONS.items():
        if not e.gated:
            assert set(limits_at_infinity(n, {})) == {-math.inf, math.inf}


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name,params", CASES, ids=ids(CASES))
def test_limits_at_infinity(name, params, dtype):
    """f(+-inf) and f'(+-inf) are the mathematical limits, in float32 and float64."""
    lim = limits_at_infinity(name, params)
    x = np.array([-np.inf, np.inf], dtype)
    y, d = A.fused(name, x, **params)
    for i, xi in enumerate((-math.inf, math.inf)):
        fy, fd = (np.asarray(v, dtype) for v in lim[xi])
        # a limit of 0 is met by -0.0 too (gelu(-inf) = -inf * 0+)
        assert y[i] == fy and d[i] == fd, (xi, y[i], d[i], fy, fd)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name,params", GATED, ids=ids(GATED))
def test_gated_limits_at_infinity(name, params, dtype):
    """swiglu/geglu: ``y = act(a) b`` at ``a = +-inf`` with finite b, both gradients."""
    act = "silu" if name == "swiglu" else "gelu"
    lim = limits_at_infinity(act, {})
    a = np.array([-np.inf, np.inf], dtype)
    b = np.array([2.0, 2.0], dtype)
    y, (ga, gb) = A.fused(name, (a, b), np.ones_like(a), **params)
    for i, xi in enumerate((-math.inf, math.inf)):
        fy, fd = lim[xi]
        assert y[i] == np.asarray(fy * 2.0, dtype) and ga[i] == np.asarray(fd * 2.0, dtype), (xi, y[i], ga[i])
        assert gb[i] == np.asarray(fy, dtype), (xi, gb[i])


@requires_torch
@pytest.mark.parametrize("name,params", CASES, ids=ids(CASES))
def test_finite_extremes_and_nan_like_torch(name, params):
    """Large finite inputs against torch; NaN propagates (the +-inf limits: above)."""
    x = SPECIAL[np.isfinite(SPECIAL)].astype(np.float32)
    ty, tg = _torch_grads(name, params, x, np.ones_like(x))
    y, d = A.fused(name, x, **params)
    np.testing.assert_allclose(y, ty, rtol=1.3e-6, atol=1e-5)
    np.testing.assert_allclose(d, tg, rtol=1.3e-6, atol=1e-5)
    for dtype in ("float32", "float64"):
        yn, dn = A.fused(name, np.array([np.nan], dtype), **params)
        assert np.isnan(yn[0]), "NaN must propagate"


@requires_torch
@pytest.mark.parametrize("name,params", GATED, ids=ids(GATED))
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_gated_match_torch(name, params, dtype):
    import torch
    rng = np.random.default_rng(5)
    a = (rng.standard_normal(20_011) * 4).astype(dtype)
    b = rng.standard_normal(a.size).astype(dtype)
    g = rng.standard_normal(a.size).astype(dtype)
    at = torch.tensor(a, requires_grad=True)
    bt = torch.tensor(b, requires_grad=True)
    yt = A.ACTIVATIONS[name].torch(torch, at, bt, **params)
    yt.backward(torch.tensor(g))
    # float64: torch's 0.5 x (1 + tanh u) cancels to 0 where fastinit keeps ~1e-14
    tol = dict(rtol=1.3e-6, atol=1e-5) if dtype == "float32" else dict(rtol=1e-12, atol=1e-12)
    y, (ga, gb) = A.fused(name, (a, b), g, **params)
    np.testing.assert_allclose(y, yt.detach().numpy(), **tol)
    np.testing.assert_allclose(ga, at.grad.numpy(), **tol)
    np.testing.assert_allclose(gb, bt.grad.numpy(), **tol)
    np.testing.assert_array_equal(A.forward(name, (a, b), **params), y)
    ga2, gb2 = A.backward(name, g, (a, b), **params)
    np.testing.assert_array_equal(ga2, ga)
    np.testing.assert_array_equal(gb2, gb)
    y3, (da, db) = A.fused(name, (a, b), **params)  # grad_out = 1
    np.testing.assert_array_equal(y3, y)
    np.testing.assert_array_equal(db, A.forward("gelu" if name == "geglu" else "silu", a, **params))


# ---------------------------------------------------------------- errors
def _x():
    return np.linspace(-2, 2, 64).astype(np.float32)


@pytest.mark.parametrize("call,exc,match", [
    (lambda x: A.forward("gelux", x), ValueError, "unknown activation 'gelux'; valid names: .*gelu"),
    (lambda x: A.forward(3, x), TypeError, "name must be a str"),
    (lambda x: A.forward("gelu", x, approximate="fast"), ValueError, "approximate must be one of 'none', 'tanh'"),
    (lambda x: A.forward("gelu", x, alpha=1.0), TypeError, "unexpected parameter.*'alpha'.*approximate"),
    (lambda x: A.forward("relu", x, inplace=True), TypeError, "valid parameters: none"),
    (lambda x: A.forward("softplus", x, beta=0), ValueError, "beta must be nonzero"),
    (lambda x: A.forward("softplus", x, threshold=math.nan), ValueError, "threshold must be a finite"),
    (lambda x: A.forward("hardtanh", x, min_val=1.0, max_val=1.0), ValueError, "min_val must be less than max_val"),
    (lambda x: A.forward("celu", x, alpha=0.0), ValueError, "alpha must be nonzero"),
    (lambda x: A.forward("softshrink", x, lambd=-0.1), ValueError, "lambd must be >= 0"),
    (lambda x: A.forward("leaky_relu", x, negative_slope="0.1"), TypeError, "negative_slope must be a real"),
    (lambda x: A.forward("elu", x, alpha=True), TypeError, "alpha must be a real"),
    (lambda x: A.forward("gelu", x.astype(np.int32)), TypeError, "x dtype must be one of float16, bfloat16"),
    (lambda x: A.forward("gelu", list(x)), TypeError, "x must be a numpy.ndarray"),
    (lambda x: A.backward("gelu", x[:10], x), ValueError, r"grad_out has shape \(10,\); expected \(64,\)"),
    (lambda x: A.backward("gelu", x.astype(np.float64), x), TypeError, "grad_out has dtype float64"),
    (lambda x: A.backward("gelu", None, x), TypeError, "grad_out must be an array"),
    (lambda x: A.forward("gelu", x, out=np.empty(63, np.float32)), ValueError, r"out has shape \(63,\)"),
    (lambda x: A.forward("gelu", x, out=np.empty(64, np.float64)), TypeError, "out has dtype float64"),
    (lambda x: A.fused("gelu", x, grad_in=np.empty((8, 8), np.float32)), ValueError, "grad_in has shape"),
    (lambda x: A.fused("gelu", x, out=x, grad_in=x), ValueError, "out and grad_in must not share memory"),
    (lambda x: A.forward("swiglu", x), TypeError, r"swiglu is gated: pass x=\(a, b\)"),
    (lambda x: A.forward("swiglu", (x, x[:5])), ValueError, "a and b must have the same shape"),
    (lambda x: A.forward("swiglu", (x, x.astype(np.float64))), TypeError, "a and b must have the same dtype"),
    (lambda x: A.backward("swiglu", x, (x, x), out=np.empty_like(x)), TypeError, "pair of arrays"),
], ids=lambda v: v if isinstance(v, str) else "")
def test_errors_are_clear_and_nothing_is_written(call, exc, match):
    x = _x()
    before = x.copy()
    with pytest.raises(exc, match=match):
        call(x)
    np.testing.assert_array_equal(x, before)


def test_bad_outputs_are_not_written():
    x = _x()
    ro = np.zeros_like(x)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="out is read-only"):
        A.forward("gelu", x, out=ro)
    nc = np.zeros((64, 2), np.float32)[:, 0]
    with pytest.raises(ValueError, match="out must be C-contiguous"):
        A.forward("gelu", x, out=nc)
    assert not nc.any()
    buf = np.zeros(65, np.float32)
    buf[:64] = x
    with pytest.raises(ValueError, match="out overlaps x"):
        A.forward("gelu", buf[:64], out=buf[1:])
    ok = np.zeros_like(x)
    with pytest.raises(ValueError, match="grad_in has shape"):
        A.fused("gelu", x, out=ok, grad_in=np.zeros(3, np.float32))
    assert not ok.any()
