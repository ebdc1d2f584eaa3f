"""torch drop-ins for fastinit's activations: autograd functions, functional
forms and ``nn.Module`` classes (needs the torch extra; ``import fastinit``
never imports this module or torch).

Each activation is a ``torch.autograd.Function`` whose forward runs the
kernel of the tensor's device (CPU: a zero-copy numpy view; CUDA: a zero-copy
Numba device array through ``__cuda_array_interface__``, so nothing leaves
the GPU) and saves only its input; the
backward recomputes ``f'(x)`` from it in one fused pass (``grad_out * f'(x)``),
so no activation-sized intermediate is kept. A thin adapter: the entries
come from ``fastinit._act_registry``, the kernels run through
``fastinit._act_ops.launch``. Functional names and module names, parameters
and defaults are torch's::

    import fastinit.torch as ft
    y = ft.gelu(x, approximate="tanh")        # torch.nn.functional.gelu
    m = ft.GELU(approximate="tanh")           # torch.nn.GELU
    y = ft.swiglu(a, b)                       # silu(a) * b, both gradients
    ft.SwiGLU()(x)                            # halves of the last dim: silu(x1) * x2

Tensors: float32, float64, float16 and bfloat16 on the CPU or a CUDA GPU
(16-bit computed in float32 and rounded once, like torch). A non-contiguous
input is made contiguous first (one copy). GPU kernels run on torch's current
stream (the one the tensors name through ``__cuda_array_interface__``;
``fastinit.gpu.runtime.launch``), ordered after the producer's work with no host
sync. The backward is not itself differentiable (double
backward raises). Values and gradients match torch's own modules within its
float32 tolerance (gradients at kinks exactly): ``tests/test_torch_adapter.py``.
"""
from __future__ import annotations

import torch
from torch.autograd.function import once_differentiable

from ._act_ops import launch
from ._act_registry import ACTIVATIONS, BACKWARD, FORWARD, N_OUT, bind_args, check_params, lookup
from .dispatch import as_target

__all__ = ["ActivationFunction", "GatedActivationFunction", "Activation"]

def _check(t, name):
    if not isinstance(t, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor; got {type(t).__name__}")


def _view(t, name="x"):
    """Flat kernel view and kind of a contiguous tensor (dispatch's view: numpy
    on the CPU, a Numba device array on CUDA, uint16 for 16-bit types; device
    and dtype errors come from there)."""
    a, kind = as_target(t.detach(), name)
    return a.reshape(a.size), kind


def _run(entry, p, mode, inputs, g=None):
    xs = [i.contiguous() for i in inputs]
    srcs, kind = [], None
    for x in xs:
        a, kind = _view(x)
        srcs.append(a)
    gv = _view(g.contiguous(), "grad")[0] if g is not None else None
    outs = [torch.empty_like(xs[0], memory_format=torch.contiguous_format) for _ in range(N_OUT[entry.gated][mode])]
    launch(entry, p, mode, srcs, gv, [_view(o)[0] for o in outs], kind)
    return outs


class ActivationFunction(torch.autograd.Function):
    """``y = f(x)``; saves x; backward = the fused ``grad * f'(x)`` kernel."""

    @staticmethod
    def forward(ctx, x, entry, p):
        ctx.act = (entry, p)
        ctx.save_for_backward(x)
        return _run(entry, p, FORWARD, [x])[0]

    @staticmethod
    @once_differentiable
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        entry, p = ctx.act
        return _run(entry, p, BACKWARD, [x], grad)[0], None, None


class GatedActivationFunction(torch.autograd.Function):
    """``y = act(a) * b``; saves a and b; backward gives both gradients."""

    @staticmethod
    def forward(ctx, a, b, entry, p):
        ctx.act = (entry, p)
        ctx.save_for_backward(a, b)
        return _run(entry, p, FORWARD, [a, b])[0]

    @staticmethod
    @once_differentiable
    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        entry, p = ctx.act
        ga, gb = _run(entry, p, BACKWARD, [a, b], grad)
        return ga, gb, None, None


def apply(name, *inputs, **params):
    """Run activation ``name`` on tensor(s) through autograd (one input, or
    ``a, b`` for the gated ``swiglu``/``geglu``)."""
    e = lookup(name)
    p = check_params(e, params)
    names = ("a", "b") if e.gated else ("x",)
    if len(inputs) != len(names):
        raise TypeError(f"{e.name} takes {len(names)} tensor(s) ({', '.join(names)}); got {len(inputs)}")
    for t, n in zip(inputs, names):
        _check(t, n)
    if len({t.device for t in inputs}) > 1:
        raise TypeError(f"a is on {inputs[0].device} but b is on {inputs[1].device}: "
                        "pass tensors of one device")
    if e.gated:
        a, b = inputs
        if a.shape != b.shape:
            raise ValueError(f"a and b must have the same shape; got {tuple(a.shape)} and {tuple(b.shape)}")
        if a.dtype != b.dtype:
            raise TypeError(f"a and b must have the same dtype; got {a.dtype} and {b.dtype}")
        return GatedActivationFunction.apply(a, b, e, p)
    return ActivationFunction.apply(inputs[0], e, p)


def _functional(e):
    def fn(*args, **params):
        if params.pop("inplace", False):
            raise ValueError(f"{e.name}: inplace=True is not supported (the fused backward needs x); "
                             "use inplace=False")
        tensors, params = bind_args(e, args, params)
        return apply(e.name, *tensors, **params)

    sig = ("a, b" if e.gated else "input") + "".join(f", {k}={v!r}" for k, v in e.params.items())
    fn.__name__ = fn.__qualname__ = e.name
    fn.__doc__ = (f"{e.name}({sig})\n\n``{e.formula}`` with autograd; torch: "
                  f"``torch.nn.functional.{e.name}``. Saves only its input.")
    return fn


class Activation(torch.nn.Module):
    """Base of the module classes: ``forward(x)`` (gated: ``forward(a, b=None)``,
    with ``b=None`` splitting the last dimension in halves a, b)."""

    _name = None

    def __init__(self, *args, inplace=False, **params):
        super().__init__()
        if inplace:
            raise ValueError(f"{type(self).__name__}: inplace=True is not supported (the fused backward "
                             "needs x); use inplace=False")
        e = ACTIVATIONS[self._name]
        pnames = list(e.params)
        if len(args) > len(pnames):
            raise TypeError(f"{type(self).__name__} takes at most {len(pnames)} positional parameters")
        for k, v in zip(pnames, args):
            params[k] = v
        self._entry = e
        self._p = check_params(e, params)
        for k, v in self._p.items():
            setattr(self, k, v)

    def forward(self, x, b=None):
        e = self._entry
        if e.gated:
            if b is None:
                x, b = x.chunk(2, dim=-1)
            return apply(e.name, x, b, **self._p)
        if b is not None:
            raise TypeError(f"{type(self).__name__}.forward takes one tensor")
        return apply(e.name, x, **self._p)

    def extra_repr(self):
        return ", ".join(f"{k}={v!r}" for k, v in self._p.items())


for _name, _e in ACTIVATIONS.items():
    _f = _functional(_e)
    globals()[_name] = _f
    __all__.append(_name)
    for _al in _e.aliases:
        globals()[_al] = _f
        __all__.append(_al)
    _cls = type(_e.module, (Activation,), {
        "_name": _name,
        "__doc__": f"``{_e.formula}``; drop-in for ``torch.nn.{_e.module}`` "
                   f"(parameters: {', '.join(f'{k}={v!r}' for k, v in _e.params.items()) or 'none'})."})
    _cls.__module__ = __name__
    globals()[_e.module] = _cls
    __all__.append(_e.module)
del _name, _e, _f, _cls

# whole-model initialization: layer defaults table, reset_parameters, materialize
from ._torch_model import materialize, reset_parameters  # noqa: E402
__all__ += ["reset_parameters", "materialize"]
from ._torch_route import init_mode  # noqa: E402  (a model's own init code routed to fastinit)
__all__ += ["init_mode"]
from ._torch_shard import fill_tensor  # noqa: E402  (one tensor, view, region or DTensor shard)
__all__ += ["fill_tensor"]
