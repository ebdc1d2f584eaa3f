"""Route a model's own initialization code to fastinit: ``init_mode``.

Real models initialize in their own code: Hugging Face ``_init_weights``
(``init.normal_(module.weight, std=...)``, ``module.weight.data.normal_(...)``,
``.zero_()``, ``.fill_(1.0)``), torchtitan ``init_weights``
(``nn.init.trunc_normal_``), third-party ``reset_parameters``. Under ::

    with fastinit.torch.init_mode(model, seed=0):
        model.init_weights()                       # or model.apply(model._init_weights)

every such call on a parameter or buffer of ``model`` (or a view of one) runs on
fastinit's kernels, through ``fastinit._torch_shard.fill_tensor``, on the stream
named by the tensor's qualified name (``prefix + "model.layers.0.mlp.up_proj.weight"``).
A tensor set by one call holds exactly what the allocating fastinit function gives,
e.g. ``init.normal_(w, 0.0, 0.02)`` on ``lm_head.weight`` leaves
``fastinit.normal(w.shape, 0.0, 0.02, seed=0, stream="lm_head.weight")``: the values
do not depend on construction order, on the other modules, on the device or on the
sharding (a DTensor parameter is filled shard by shard).

What is routed
--------------
* The ``torch.nn.init`` functions ``uniform_``, ``normal_``, ``trunc_normal_``,
  ``constant_``, ``ones_``, ``zeros_``, ``eye_``, ``dirac_``, ``xavier_uniform_``,
  ``xavier_normal_``, ``kaiming_uniform_``, ``kaiming_normal_``, ``orthogonal_``,
  ``sparse_`` and torch's deprecated aliases (``nn.init.normal`` ...). They are
  replaced while a context is active, not just observed: ``trunc_normal_``,
  ``xavier_*``, ``kaiming_normal_``, ``orthogonal_`` and ``sparse_`` never reach
  ``__torch_function__`` and ``trunc_normal_`` samples by rejection through
  temporaries, so routing their inner tensor calls would give other distributions.
  Every module-level name bound to one of torch's functions is replaced (``torch.nn.init``
  itself and any module that did ``from torch.nn.init import trunc_normal_``), and so
  are the entries of ``transformers.initialization.TORCH_INIT_FUNCTIONS``, through which
  transformers 5's ``init.*`` wrappers call torch (their ``_is_hf_initialized`` check
  still applies), plus ``transformers.initialization.orthogonal_``, whose 16-bit path
  would otherwise copy in torch's values from a float32 temporary.
* The tensor methods init code calls, seen by a ``torch.overrides.TorchFunctionMode``:
  ``normal_(mean, std)``, ``uniform_(from, to)``, ``fill_(value)``, ``zero_()``.
  ``random_``, ``bernoulli_``, ``exponential_``, ``log_normal_``, ``cauchy_`` and
  ``geometric_`` on a model tensor have no fastinit counterpart and raise
  ``NotImplementedError`` (nothing written). ``copy_`` is not an initializer: it goes
  to torch.
* Semantics are torch's: absolute bounds for ``trunc_normal_``; ``mode``/``nonlinearity``
  for ``kaiming_*``; ``gain`` for ``xavier_*``/``orthogonal_``; ``uniform_(a, a)`` and
  ``normal_(mean, 0)`` fill the constant; zero-element tensors are left to torch (a
  no-op); return values are torch's (the tensor passed). A tensor method on a leaf
  parameter that requires grad, with grad mode on, goes to torch, which raises
  before writing, as without the context.

Views
-----
A view of a parameter or buffer (``.data``, ``.detach()``, ``w[0]``, ``w[:, :k]``,
``w.T``, ``w.view(-1)``) counts as that tensor, with its own region. The view is
found through its storage, offset and strides:

* a box of the tensor, in any dimension order (slices with step 1, integer indices,
  ``.T``/``permute``): elementwise draws (``uniform_``, ``normal_``, ``trunc_normal_``,
  the ``xavier_*``/``kaiming_*`` draws) write exactly the box's region of the full
  tensor's values (``fastinit.normal(w.shape, ...)[box]``), element ``w[i, j]`` always
  taking the value of its own logical index ``(i, j)`` in ``w``;
* a contiguous run of a contiguous tensor (``w.view(-1)``, ``w.reshape(a, b, c)``):
  the run's flat region of the full tensor;
* fans and gains come from the view's own shape, as torch computes them (that is
  what ``kaiming_uniform_(w.T)`` asks for); ``orthogonal_``, ``sparse_``, ``eye_``
  and ``dirac_`` build their structure on the view itself, as torch does, a random
  one on the stream ``name + "[s0:e0,s1:e1]"`` (the box in the tensor's coordinates;
  ``"[lo:hi]"`` for a flat run) so that blocks of one weight differ;
* any other view (a step other than 1, a broadcast, a view as another dtype): a
  random initializer raises ``ValueError`` before writing; a constant one goes to
  torch (same values).

What goes to torch unchanged
----------------------------
Tensors that are not the model's (temporaries, other modules' tensors, tensors built
from a parameter by a copy such as ``w.to(torch.float32)`` of a bfloat16 ``w``), and
the model's tensors of dtypes fastinit does not write (integer buffers such as
``num_batches_tracked`` for the constant initializers; a random initializer on one
raises ``TypeError``). Parameters and buffers are looked up as they are when the
context is entered; one created inside it is not the model's.

``generator=``
--------------
Accepted wherever torch takes it: the seed is one 63-bit integer drawn from the
generator (advancing it like any torch random call; ``_seed_from_generator``), the
stream stays the tensor's qualified name. Without a generator the seed is
``init_mode``'s.

Threads and nesting
-------------------
Routing applies to the thread that entered the context: the replaced functions are
process-wide while any context is active but send other threads' calls to torch, and
torch's function-mode stack is per thread. Contexts nest (the innermost whose model
owns the tensor routes it), and are exited in the reverse order they were entered, as
``with`` does; everything is restored on exit, also on an exception. A reference to one
of torch's functions that is not a module-level name (kept in a dict, a closure, a
``functools.partial``) is not replaced: ``xavier_*``, ``kaiming_normal_``, ``ones_``,
``zeros_``, ``eye_`` and ``dirac_`` reached that way still give the routed values
(their inner tensor calls are routed, with the same bits); ``uniform_``, ``normal_``,
``constant_`` and ``kaiming_uniform_`` are seen by the function mode; ``trunc_normal_``,
``orthogonal_`` and ``sparse_`` reached that way raise ``RuntimeError`` on a model
tensor, naming the function, rather than mix torch's values in.
"""
from __future__ import annotations

import functools
import inspect
import math
import numbers
import sys
import threading
import warnings

import torch
from torch.overrides import TorchFunctionMode

from . import init as _fi
from ._stream import check_seed
from ._torch_shard import fill_tensor
from .fans import TORCH_AXES, calculate_gain, compute_fans

__all__ = ["init_mode"]

_FLOAT = (torch.float16, torch.bfloat16, torch.float32, torch.float64)

# torch's own functions, captured at import; kept in dicts (not module globals) so that
# the scan for module-level references below never replaces our own copies
_NAMES = ("uniform_", "normal_", "trunc_normal_", "constant_", "ones_", "zeros_", "eye_", "dirac_",
          "xavier_uniform_", "xavier_normal_", "kaiming_uniform_", "kaiming_normal_", "orthogonal_",
          "sparse_")
_TORCH = {n: getattr(torch.nn.init, n) for n in _NAMES}
_SIGS = {n: inspect.signature(f) for n, f in _TORCH.items()}
# torch's deprecated aliases (``nn.init.normal`` -> ``normal_``): closures over the originals
_LEGACY = {n[:-1]: getattr(torch.nn.init, n[:-1]) for n in _NAMES if callable(getattr(torch.nn.init, n[:-1], None))}

_ELEMENTWISE = {"uniform_": _fi.uniform_, "normal_": _fi.normal_, "trunc_normal_": _fi.trunc_normal_}
_FAN = {"xavier_uniform_": _fi.xavier_uniform_, "xavier_normal_": _fi.xavier_normal_,
        "kaiming_uniform_": _fi.kaiming_uniform_, "kaiming_normal_": _fi.kaiming_normal_}
_STRUCTURED = {"orthogonal_": _fi.orthogonal_, "sparse_": _fi.sparse_}
_FIXED = {"constant_": _fi.constant_, "ones_": _fi.ones_, "zeros_": _fi.zeros_, "eye_": _fi.eye_,
          "dirac_": _fi.dirac_}

# torch functions that cannot be routed from the inner tensor calls they make: running one
# of them on a model tensor (through a reference we could not replace) is refused
_OPAQUE = {torch.nn.init._no_grad_trunc_normal_.__code__: "torch.nn.init.trunc_normal_",
           _TORCH["trunc_normal_"].__code__: "torch.nn.init.trunc_normal_",
           _TORCH["orthogonal_"].__code__: "torch.nn.init.orthogonal_",
           _TORCH["sparse_"].__code__: "torch.nn.init.sparse_"}

_T = torch.Tensor
_METHODS = {_T.normal_: "normal_", _T.uniform_: "uniform_", _T.fill_: "fill_", _T.zero_: "zero_"}
_NO_COUNTERPART = {_T.random_: "random_", _T.bernoulli_: "bernoulli_", _T.exponential_: "exponential_",
                   _T.log_normal_: "log_normal_", _T.cauchy_: "cauchy_", _T.geometric_: "geometric_"}
# the torch.nn.init functions that call handle_torch_function: the mode sees them when
# they are reached through a reference we did not replace
_DISPATCHING = {f: n for n, f in _TORCH.items() if n in ("uniform_", "normal_", "constant_", "kaiming_uniform_")}

_tls = threading.local()


def _stack():
    s = getattr(_tls, "stack", None)
    if s is None:
        s = _tls.stack = []
    return s


class _Busy:
    """While fastinit writes (or inspects a tensor), the mode passes every call through."""

    def __enter__(self):
        _tls.busy = getattr(_tls, "busy", 0) + 1

    def __exit__(self, *exc):
        _tls.busy -= 1


def _busy():
    return getattr(_tls, "busy", 0) > 0


def _seed_from_generator(g):
    """The seed a ``generator=`` argument stands for: one 63-bit integer drawn from ``g``
    (advancing it like any torch random call), the rule of ``fastinit.init.seed_from_generator``."""
    return _fi.seed_from_generator(g)


# ------------------------------------------------------------------ the model's tensors
class _Hit:
    """Where a tensor lies in one of the model's tensors: ``kind`` is "whole" (the tensor
    itself or a same-layout alias; ``region``, if set, is the tensor to fill instead, the
    DTensor whose local tensor was passed), "box" (a box, any dim order), "flat" (a
    contiguous run of a contiguous tensor) or "other"; ``region``/``gshape``/``start`` place
    it for ``fill_tensor``; ``tag`` names a sub-region for the structured initializers."""

    __slots__ = ("name", "kind", "region", "gshape", "start", "tag")

    def __init__(self, name, kind, region=None, gshape=None, start=None, tag=""):
        self.name, self.kind, self.region, self.gshape, self.start, self.tag = name, kind, region, gshape, start, tag

    def target(self, t):
        """What a "whole" hit fills: ``t`` detached (the same memory), or the DTensor."""
        return (self.region if self.region is not None else t).detach()


def _is_dtensor(t):
    mod = sys.modules.get("torch.distributed.tensor")
    return mod is not None and isinstance(t, mod.DTensor)


def _storage_key(t):
    try:
        return t.device, t.untyped_storage().data_ptr()
    except (RuntimeError, NotImplementedError, TypeError):
        return None


class _Model:
    """The parameters and buffers of one module, by identity and by storage."""

    def __init__(self, module, seed, prefix):
        self.seed, self.prefix = seed, prefix
        self.by_id, self.by_storage = {}, {}
        seen = set()
        for name, t in list(module.named_parameters()) + list(module.named_buffers()):
            if id(t) in seen:
                continue
            seen.add(id(t))
            self.by_id[id(t)] = (name, t)
            local = t._local_tensor if _is_dtensor(t) else t
            if local.device.type == "meta" or local.numel() == 0:
                continue
            key = _storage_key(local)
            if key is not None and key[1]:
                self.by_storage.setdefault(key, []).append((name, t))

    def locate(self, t):
        e = self.by_id.get(id(t))
        if e is not None and e[1] is t:
            return _Hit(e[0], "whole")
        if _is_dtensor(t):
            return self._locate_dtensor(t)
        key = _storage_key(t)
        if key is None or t.device.type == "meta":
            return None
        for name, p in self.by_storage.get(key, ()):
            if _is_dtensor(p):
                lp = p._local_tensor  # its local shard itself: the DTensor, filled at its offsets
                if (t.shape == lp.shape and t.stride() == lp.stride() and t.dtype == lp.dtype
                        and t.storage_offset() == lp.storage_offset()):
                    return _Hit(name, "whole", region=p)
                continue
            hit = _place(name, t, p)
            if hit is not None:
                return hit
        return None

    def _locate_dtensor(self, t):
        key = _storage_key(t._local_tensor)
        other = None
        for name, p in self.by_storage.get(key, ()) if key else ():
            if not _is_dtensor(p):
                continue
            lt, lp = t._local_tensor, p._local_tensor
            if (t.shape == p.shape and tuple(t.placements) == tuple(p.placements) and lt.shape == lp.shape
                    and lt.stride() == lp.stride() and lt.storage_offset() == lp.storage_offset()):
                return _Hit(name, "whole")
            other = other or _Hit(name, "other")  # a slice of a DTensor parameter: no region for it
        return other


def _place(name, t, p):
    """The region of ``p`` that view ``t`` covers (a ``_Hit``), or None when ``t`` lies
    outside ``p``'s memory."""
    if t.numel() == 0:
        return None
    if t.dtype != p.dtype:  # a view as another dtype: offsets count other units, compare bytes
        lo_t, hi_t = _byte_range(t)
        lo_p, hi_p = _byte_range(p)
        return _Hit(name, "other") if lo_t < hi_p and lo_p < hi_t else None
    off = t.storage_offset() - p.storage_offset()
    t_hi = off + sum((n - 1) * s for n, s in zip(t.shape, t.stride()))
    p_hi = sum((n - 1) * s for n, s in zip(p.shape, p.stride()))
    if off < 0 or t_hi > p_hi:
        return None
    box = _box(t, p, off)
    if box is not None:
        start, size, order = box
        if tuple(t.shape) == tuple(p.shape) and not any(start) and order == sorted(order):
            return _Hit(name, "whole")
        region = p.detach()[tuple(slice(s, s + n) for s, n in zip(start, size))]
        tag = "[" + ",".join(f"{s}:{s + n}" for s, n in zip(start, size)) + "]"
        return _Hit(name, "box", region, tuple(p.shape), tuple(start), tag)
    if t.is_contiguous() and p.is_contiguous():
        n = t.numel()
        return _Hit(name, "flat", p.detach().reshape(-1)[off:off + n], (p.numel(),), (off,), f"[{off}:{off + n}]")
    return _Hit(name, "other")


def _byte_range(t):
    """[first byte, last byte + 1) of ``t``'s elements in its storage."""
    size = t.element_size()
    lo = t.storage_offset() * size
    return lo, lo + (sum((n - 1) * s for n, s in zip(t.shape, t.stride())) + 1) * size


def _box(t, p, off):
    """(start, size, order) when ``t`` is ``p[start:start+size]`` with its dims of size > 1
    in the order ``order`` of ``p``'s dims; None otherwise."""
    dims = [d for d in range(p.ndim) if p.shape[d] > 1]
    stride_dim = {}
    for d in dims:
        if p.stride(d) in stride_dim or p.stride(d) == 0:
            return None
        stride_dim[p.stride(d)] = d
    start, rem = [0] * p.ndim, off
    for d in sorted(dims, key=lambda d: -p.stride(d)):
        start[d], rem = divmod(rem, p.stride(d))
        if start[d] >= p.shape[d]:
            return None
    if rem:
        return None
    size, order = [1] * p.ndim, []
    for n, s in zip(t.shape, t.stride()):
        if n == 1:
            continue
        d = stride_dim.get(s)
        if d is None or d in order or start[d] + n > p.shape[d]:
            return None
        order.append(d)
        size[d] = n
    return start, size, order


def _find(t):
    """(model, hit) of the innermost active context of this thread that owns ``t``."""
    if not isinstance(t, torch.Tensor) or _busy():
        return None
    stack = _stack()
    if not stack:
        return None
    with _Busy():
        for model in reversed(stack):
            hit = model.locate(t)
            if hit is not None:
                return model, hit
    return None


# ------------------------------------------------------------------ routing
def _num(v):
    return v.item() if isinstance(v, torch.Tensor) and v.numel() == 1 else v


def _route(name, t, params, generator, model, hit, torch_call):
    """Write ``name(t, **params)`` with fastinit; ``torch_call()`` runs torch's own op
    (for what stays with torch). Returns ``t``."""
    if name in _FIXED:
        if t.dtype not in _FLOAT or hit.kind == "other":
            return torch_call()
        args = {"constant_": ("val",), "dirac_": ("groups",)}.get(name, ())
        with torch.no_grad():
            fill_tensor(hit.target(t) if hit.kind == "whole" else t.detach(), _FIXED[name],
                        *(_num(params[a]) for a in args))
        return t
    if t.dtype not in _FLOAT:
        raise TypeError(f"init_mode: {name} on '{hit.name}' of dtype {t.dtype}: fastinit draws float16, "
                        "bfloat16, float32 and float64 tensors only")
    if hit.kind == "other":
        raise ValueError(f"init_mode: {name} on a view of '{hit.name}' (shape {tuple(t.shape)}, strides "
                         f"{t.stride()}, dtype {t.dtype}) that is not a box or a contiguous run of it; "
                         "initialize the tensor, or a slice of it with step 1")
    seed = model.seed if generator is None else _seed_from_generator(generator)
    stream = model.prefix + hit.name
    whole = hit.kind == "whole"
    with torch.no_grad():
        if name in _STRUCTURED:
            p = ("gain",) if name == "orthogonal_" else ("sparsity", "std")
            # built on the view's own shape (torch's semantics), a sub-region on its own stream
            fill_tensor(hit.target(t) if whole else t.detach(), _STRUCTURED[name], *(_num(params[a]) for a in p),
                        seed=seed, stream=stream + ("" if whole else hit.tag))
            return t
        if name in _FAN:
            mode = params.get("mode", "fan_in")
            mode = mode.lower() if isinstance(mode, str) else mode
            if whole:
                p = (params["gain"],) if name.startswith("xavier") else (params["a"], mode, params["nonlinearity"])
                fill_tensor(hit.target(t), _FAN[name], *(_num(x) for x in p),
                            seed=seed, stream=stream)
                return t
            # torch's formula on the view's own shape, drawn on the view's region
            fan_in, fan_out = compute_fans(tuple(t.shape), *TORCH_AXES)
            if name.startswith("xavier"):
                std = _num(params["gain"]) * math.sqrt(2.0 / float(fan_in + fan_out))
            else:
                if mode not in ("fan_in", "fan_out"):
                    raise ValueError(f"mode must be one of fan_in, fan_out; got {params['mode']!r}")
                fan = fan_in if mode == "fan_in" else fan_out
                std = calculate_gain(params["nonlinearity"], _num(params["a"])) / math.sqrt(fan)
            if name.endswith("uniform_"):
                bound = math.sqrt(3.0) * std
                name, params = "uniform_", {"a": -bound, "b": bound}
            else:
                name, params = "normal_", {"mean": 0.0, "std": std}
        keys = {"uniform_": ("a", "b"), "normal_": ("mean", "std"), "trunc_normal_": ("mean", "std", "a", "b")}[name]
        vals = [_num(params[k]) for k in keys]
        const = None
        if name == "uniform_" and _real(vals[0]) and vals[0] == vals[1]:
            const = vals[0]  # torch: U(a, a) = a
        elif name == "normal_" and _real(vals[1]) and vals[1] == 0:
            const = vals[0]  # torch: N(mean, 0) = mean
        target, kw = (hit.target(t), {}) if whole else (hit.region, {"global_shape": hit.gshape, "start": hit.start})
        if const is not None:
            fill_tensor(target, _fi.constant_, const)
        else:
            fill_tensor(target, _ELEMENTWISE[name], *vals, seed=seed, stream=stream, **kw)
    return t


def _real(v):
    return isinstance(v, numbers.Real) and not isinstance(v, bool)


def _nn_init(name, args, kwargs):
    """Body of the replacement of ``torch.nn.init.<name>``."""
    torch_fn = _TORCH[name]
    try:
        ba = _SIGS[name].bind(*args, **kwargs)
    except TypeError:
        return torch_fn(*args, **kwargs)  # torch's own error
    ba.apply_defaults()
    params = dict(ba.arguments)
    t = params.pop("tensor")
    found = _find(t)
    if found is None:
        return torch_fn(*args, **kwargs)
    model, hit = found
    with _Busy():
        if t.numel() == 0:
            return torch_fn(*args, **kwargs)  # torch's no-op (and its warning)
        return _route(name, t, params, params.pop("generator", None), model, hit,
                      lambda: torch_fn(*args, **kwargs))


def _check_frames(what):
    """Refuse a model-tensor call made from inside one of torch's init functions that
    cannot be routed from its inner calls (reached through a reference not replaced)."""
    f = sys._getframe(2)
    for _ in range(6):
        if f is None:
            return
        fn = _OPAQUE.get(f.f_code)
        if fn is not None:
            raise RuntimeError(f"init_mode: {fn} is running on '{what}' through a reference init_mode did not "
                               "replace (one kept in a dict, closure or functools.partial); its rejection/QR/randperm "
                               f"steps would mix torch's values in. Call it as {fn}(...) or import it by name "
                               "at module level")
        f = f.f_back


def _method_params(name, args, kwargs):
    """torch's signatures of the routed tensor methods -> (params, generator), or None."""
    rest, kw = list(args[1:]), dict(kwargs)
    gen = kw.pop("generator", None)
    spec = {"normal_": ("mean", 0.0, "std", 1.0), "uniform_": ("from", 0.0, "to", 1.0),
            "fill_": ("value", None), "zero_": ()}[name]
    keys, defaults = spec[0::2], spec[1::2]
    if len(rest) > len(keys):
        return None
    out = {}
    for i, (k, d) in enumerate(zip(keys, defaults)):
        if i < len(rest):
            if k in kw:
                return None
            out[k] = rest[i]
        else:
            out[k] = kw.pop(k, d)
    if kw or any(v is None for v in out.values()) or (gen is not None and name in ("fill_", "zero_")):
        return None
    return out, gen


class _Mode(TorchFunctionMode):
    """Sees tensor methods (and the dispatching nn.init functions) on the model's tensors."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if _busy():
            return func(*args, **kwargs)
        name = _DISPATCHING.get(func)
        if name is not None:  # torch's own nn.init function, reached through a kept reference
            return _nn_init(name, args, kwargs)
        name = _METHODS.get(func)
        if name is None and func not in _NO_COUNTERPART and func is not _T.copy_:
            return func(*args, **kwargs)
        found = _find(args[0]) if args else None
        if found is None:
            return func(*args, **kwargs)
        model, hit = found
        _check_frames(model.prefix + hit.name)
        if func is _T.copy_:
            return func(*args, **kwargs)
        if name is None:
            raise NotImplementedError(f"init_mode: Tensor.{_NO_COUNTERPART[func]} on '{model.prefix + hit.name}' has "
                                      "no fastinit counterpart; use normal_, uniform_, fill_, zero_ or torch.nn.init")
        t = args[0]
        parsed = _method_params(name, args, kwargs)
        if parsed is None or (torch.is_grad_enabled() and t.requires_grad) or t.numel() == 0:
            return func(*args, **kwargs)  # torch's own error (or no-op), before anything is written
        params, gen = parsed
        with _Busy():
            if name == "fill_":
                value = _num(params["value"])
                if not isinstance(value, numbers.Real):
                    return func(*args, **kwargs)
                return _route("constant_", t, {"val": float(value)}, None, model, hit, lambda: func(*args, **kwargs))
            if name == "zero_":
                return _route("zeros_", t, {}, None, model, hit, lambda: func(*args, **kwargs))
            if name == "uniform_":
                params = {"a": params["from"], "b": params["to"]}
            return _route(name, t, params, gen, model, hit, lambda: func(*args, **kwargs))


# ------------------------------------------------------------------ replacing torch's functions
def _dispatcher(name):
    torch_fn = _TORCH[name]

    @functools.wraps(torch_fn)
    def routed(*args, **kwargs):
        return _nn_init(name, args, kwargs)

    routed._fastinit_routed = name
    return routed


def _legacy_dispatcher(old, name):
    def routed(*args, **kwargs):
        warnings.warn(f"`nn.init.{old}` is now deprecated in favor of `nn.init.{name}`.", FutureWarning, stacklevel=2)
        return _nn_init(name, args, kwargs)

    routed.__name__ = routed.__qualname__ = old
    routed.__doc__ = _LEGACY[old].__doc__
    routed._fastinit_routed = old
    return routed


_REPLACEMENT = {id(_TORCH[n]): _dispatcher(n) for n in _NAMES}
_REPLACEMENT.update({id(f): _legacy_dispatcher(old, old + "_") for old, f in _LEGACY.items()})
_ORIGINAL = {id(f): f for f in list(_TORCH.values()) + list(_LEGACY.values())}

_install_lock = threading.Lock()
_installed = {"count": 0, "patches": []}
_scan_cache = {}  # module name -> (module, len(vars), names bound to torch's functions)


def _hf_orthogonal(hf_fn):
    @functools.wraps(hf_fn)
    def routed(tensor, gain=1, generator=None):
        if _find(tensor) is None or getattr(tensor, "_is_hf_initialized", False):
            return hf_fn(tensor, gain=gain, generator=generator)
        return _nn_init("orthogonal_", (tensor,), {"gain": gain, "generator": generator})

    routed._fastinit_routed = "orthogonal_"
    return routed


def _targets():
    """[(dict, key, replacement)]: every module-level name bound to one of torch's init
    functions, and transformers' table of them."""
    out = []
    me = sys.modules.get(__name__)
    for mname, mod in list(sys.modules.items()):
        try:
            d = getattr(mod, "__dict__", None)
        except Exception:  # an odd object in sys.modules whose __getattr__ raises
            continue
        if mod is me or not isinstance(d, dict):
            continue
        cached = _scan_cache.get(mname)
        if cached is not None and cached[0] is mod and cached[1] == len(d):
            keys = cached[2]
        else:
            try:
                if not _ORIGINAL.keys() & set(map(id, list(d.values()))):
                    keys = ()
                else:
                    keys = tuple(k for k, v in list(d.items()) if id(v) in _ORIGINAL and _ORIGINAL[id(v)] is v)
            except RuntimeError:  # the module's dict changed under us (another thread importing)
                keys = ()
            _scan_cache[mname] = (mod, len(d), keys)
        for k in keys:
            v = d.get(k)
            if v is not None and _ORIGINAL.get(id(v)) is v:
                out.append((d, k, _REPLACEMENT[id(v)]))
    hf = sys.modules.get("transformers.initialization")
    if hf is not None:
        table = getattr(hf, "TORCH_INIT_FUNCTIONS", None)
        if isinstance(table, dict):
            for k, v in table.items():
                if _ORIGINAL.get(id(v)) is v:
                    out.append((table, k, _REPLACEMENT[id(v)]))
        hf_orth = getattr(hf, "orthogonal_", None)
        if callable(hf_orth) and not hasattr(hf_orth, "_fastinit_routed"):
            out.append((hf.__dict__, "orthogonal_", _hf_orthogonal(hf_orth)))
    return out


def _install():
    with _install_lock:
        _installed["count"] += 1
        if _installed["count"] > 1:
            return
        patches = []
        try:
            for d, k, new in _targets():
                patches.append((d, k, d[k], new))
                d[k] = new
        except BaseException:
            _restore(patches)
            _installed["count"] -= 1
            raise
        _installed["patches"] = patches


def _restore(patches):
    for d, k, old, new in reversed(patches):
        if d.get(k) is new:  # leave a name someone else rebound meanwhile
            d[k] = old


def _uninstall():
    with _install_lock:
        _installed["count"] -= 1
        if _installed["count"] == 0:
            _restore(_installed["patches"])
            _installed["patches"] = []


# ------------------------------------------------------------------ the context
class _InitMode:
    """The context ``init_mode`` returns (entered once)."""

    def __init__(self, module, seed, prefix):
        self._module, self._seed, self._prefix = module, seed, prefix
        self._model = self._mode = None
        self._used = False

    def __enter__(self):
        if self._used:
            raise RuntimeError("an init_mode context can be entered only once; call init_mode(...) again")
        self._used = True
        self._model = _Model(self._module, self._seed, self._prefix)
        _install()
        try:
            _stack().append(self._model)
            self._mode = _Mode()
            self._mode.__enter__()
        except BaseException:
            self._leave()
            raise
        return self._module

    def __exit__(self, *exc):
        try:
            if self._mode is not None:
                self._mode.__exit__(*exc)
        finally:
            self._leave()
        return False

    def _leave(self):
        stack = _stack()
        for i in range(len(stack) - 1, -1, -1):
            if stack[i] is self._model:
                del stack[i]
                break
        _uninstall()


def init_mode(module, *, seed, prefix=""):
    """Context under which ``module``'s own init code runs on fastinit's kernels.

    Inside ``with init_mode(model, seed=s):``, every ``torch.nn.init`` function and
    the initializing tensor methods (``normal_``, ``uniform_``, ``fill_``, ``zero_``)
    called on a parameter or buffer of ``model``, or on a view of one, write what
    fastinit gives for the same arguments on the stream ``prefix + qualified_name``,
    through ``fastinit._torch_shard.fill_tensor`` (so CUDA tensors take the GPU kernels
    and DTensor parameters are filled shard by shard). Other tensors go to torch
    unchanged. The module docstring of ``fastinit._torch_route`` lists what is routed,
    how views map to regions, what stays with torch, ``generator=``, threads and nesting.

    Parameters
    ----------
    module : torch.nn.Module
        Its parameters and buffers (``named_parameters()``/``named_buffers()``, a
        shared tensor under its first name) are looked up when the context is entered.
    seed : int in [0, 2**64)
        fastinit seed of every routed call that passes no ``generator=``.
    prefix : str
        Prepended to every qualified name to form the stream (e.g. ``"model0."``).

    Returns
    -------
    context manager
        ``with`` gives ``module``. Everything replaced is restored on exit, also on
        an exception.

    Raises
    ------
    TypeError, ValueError
        A bad ``module``, ``seed`` or ``prefix``, before anything is replaced. Inside
        the context: a random initializer on a view that is not a box or contiguous run
        of its tensor, or on a tensor of a dtype fastinit does not draw, before writing.

    Examples
    --------
    A transformers model built on the meta device, then initialized by its own code::

        with torch.device("meta"):
            model = LlamaForCausalLM(config)
        model.to_empty(device="cpu")
        with fastinit.torch.init_mode(model, seed=0):
            model.init_weights()
        # model.lm_head.weight == fastinit.normal(shape, 0.0, config.initializer_range,
        #                                         seed=0, stream="lm_head.weight")

    Notes
    -----
    torch equivalent: the same code without the context (torch's global generator;
    values depend on the construction order and the device). Reproducible: every value
    is a function of ``(seed, stream, logical index)`` only.
    """
    if not isinstance(module, torch.nn.Module):
        raise TypeError(f"module must be a torch.nn.Module; got {type(module).__name__}")
    seed = check_seed(seed)
    if not isinstance(prefix, str):
        raise TypeError(f"prefix must be a str; got {type(prefix).__name__}")
    return _InitMode(module, seed, prefix)
