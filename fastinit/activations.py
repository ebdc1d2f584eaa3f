"""Activations with their gradients, fused: the public array API.

The activations themselves are the entries of ``fastinit._act_registry``
(``ACTIVATIONS``, re-exported here): each is one ``_entry(...)`` next to its
math, a jitted ``f(x, p) -> (f(x), f'(x))`` written once for float32 and
float64 (``fastinit._act_math``'s type-generic helpers pick the vectorizable
float32 code or libm), with its parameters (torch's names and defaults), their
checks, the torch expression it must match and an independent reference
formula the tests evaluate in extended precision. This module checks the
arrays of a call (device, shape, dtype, outputs, overlap) and runs the entry
through ``fastinit._act_ops.launch``; the kernels (``fastinit/cpu/elementwise.py``,
``fastinit/gpu/elementwise.py``) know no activation: they inline whichever
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

Accuracy: ``MAX_ULP`` (``MAX_ULP64`` for float64), re-measured by
``tests/test_activations.py`` on every run (2**20 + 1 points over [-20, 20]
against the entry's reference in 80-bit long double; gradient errors in ulps
of ``max(|f'|, 1/16)``, because near a zero of f' (gelu' at -0.75, silu' at
-1.28) every float32 evaluation of ``Phi(x) + x phi(x)`` cancels). Everything
is also within torch's float32 tolerance (rtol 1.3e-6, atol 1e-5) of the
reference on [-100, 100].
Two known, documented limits: gelu at x < -13, where the result nears the
float32 underflow (1e-37), and gelu(approximate="tanh") for x < -3, whose
condition number ``|x f'/f| ~ 0.2 |x|**3`` (the input's own rounding moves
the result by that many half-ulps: torch's ``1 + tanh`` loses everything
there, fastinit's ``x sigmoid(2u)`` keeps the value to ~cond/2 ulp).
"""
from __future__ import annotations

import numpy as np

from ._act_ops import launch
from ._act_registry import ACTIVATIONS, MAX_ULP, MAX_ULP64, Activation, names  # re-exported: the public API
from ._act_registry import BACKWARD, FORWARD, FUSED, FUSED_D, bind_args, check_params, lookup
from .dispatch import as_source, as_target, device_of, empty_like, float_kind, is_torch_tensor, memory_span, same_device

__all__ = ["ACTIVATIONS", "Activation", "forward", "backward", "fused", "names"]

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
    e = lookup(name)
    p = check_params(e, params)
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
    launch(e, p, mode, srcs, g, views, kind)
    return [a for _, a in results]


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
    return _call(name, x, None, FORWARD, [("out", out)], params)[0]


def backward(name, grad_out, x, *, out=None, **params):
    """``grad_in = grad_out * f'(x)``, recomputed from ``x`` (nothing saved).

    ``out`` (or a pair for gated activations) receives the result; for
    ``swiglu``/``geglu`` the return is ``(grad_a, grad_b)`` with
    ``grad_a = grad_out * b * act'(a)`` and ``grad_b = grad_out * act(a)``.
    torch: what ``y.backward(grad_out)`` leaves in ``x.grad``, including at
    the kinks (``relu'(0) = 0``).
    """
    e = lookup(name)
    if grad_out is None:
        raise TypeError("grad_out must be an array; use fused(name, x) for f'(x) alone")
    n = 2 if e.gated else 1
    outs = _pair(out, n, "out")
    names_ = ("out_a", "out_b") if e.gated else ("out",)
    r = _call(name, x, grad_out, BACKWARD, list(zip(names_, outs)), params)
    return tuple(r) if e.gated else r[0]


def fused(name, x, grad_out=None, *, out=None, grad_in=None, **params):
    """``(y, g)`` in one pass over memory: ``y = f(x)`` and ``g = grad_out *
    f'(x)``, or ``g = f'(x)`` when ``grad_out`` is None.

    For ``swiglu``/``geglu``, ``x = (a, b)`` and ``g`` is ``(grad_a, grad_b)``
    (``grad_in`` a pair too). ``out``/``grad_in`` follow ``forward``'s rules.
    """
    e = lookup(name)
    n = 2 if e.gated else 1
    gi = _pair(grad_in, n, "grad_in")
    names_ = ("grad_a", "grad_b") if e.gated else ("grad_in",)
    mode = FUSED if grad_out is not None else FUSED_D
    r = _call(name, x, grad_out, mode, [("out", out)] + list(zip(names_, gi)), params)
    return (r[0], (r[1], r[2])) if e.gated else (r[0], r[1])


def _convenience(e):
    def fn(*args, out=None, **params):
        inputs, params = bind_args(e, args, params)
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
