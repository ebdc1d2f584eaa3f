"""Whole-model initialization for torch: every layer's default ``reset_parameters``
(torch 2.13) as fastinit calls, and ``materialize`` for models built on the meta device.

``reset_parameters(model, seed=s)`` writes every parameter and buffer of every
submodule with the distribution and formula of that layer's own
``reset_parameters`` in torch, but drawn by fastinit's kernels on the stream named
by the tensor's qualified name (``prefix + "blocks.3.mlp.up.weight"``). A value is
therefore a pure function of ``(seed, qualified name, logical index)``: it does
not depend on construction order, on which other modules exist, on the device,
or on how the tensor is sharded (every write goes through
``fastinit._torch_shard.fill_tensor``, which fills a DTensor's local shard at
its global offsets).

The layer table (torch's source, ``torch/nn/modules``, 2.13):

===========================================  ==========================================================
layer                                        what its ``reset_parameters`` does (fastinit function)
===========================================  ==========================================================
Linear (and subclasses that keep its reset)  weight ``kaiming_uniform_(a=sqrt(5))``; bias
                                             ``uniform_(-1/sqrt(fan_in), 1/sqrt(fan_in))``, 0 when fan_in = 0
Bilinear                                     weight and bias ``uniform_(-1/sqrt(in1), 1/sqrt(in1))``
Conv1/2/3d, ConvTranspose1/2/3d              as Linear, fans of the weight as stored: ``(out, in/groups, *k)``,
                                             transposed ``(in, out/groups, *k)`` (fan_in = out/groups * k)
Embedding, EmbeddingBag                      weight ``normal_(0, 1)``, then row ``padding_idx`` = 0
LayerNorm, GroupNorm, RMSNorm                weight 1, bias 0 (when affine)
BatchNorm1/2/3d, SyncBatchNorm,              running_mean 0, running_var 1, num_batches_tracked 0 (when
InstanceNorm1/2/3d                           tracking); weight 1, bias 0 (when affine)
MultiheadAttention                           in_proj_weight (or q/k/v_proj_weight) ``xavier_uniform_``;
                                             in_proj_bias 0 and out_proj.bias 0; bias_k, bias_v
                                             ``xavier_normal_`` (out_proj.weight: Linear's, its child)
RNN, LSTM, GRU, RNNCell, LSTMCell, GRUCell   every parameter ``uniform_(-1/sqrt(hidden), 1/sqrt(hidden))``
Transformer                                  after its children: ``xavier_uniform_`` on every parameter of
                                             dim > 1
PReLU                                        weight = ``init`` (0.25 by default)
AdaptiveLogSoftmaxWithLoss                   nothing of its own (its reset only resets its Linear children)
===========================================  ==========================================================

Order is torch's: a module's reset runs after its children's (``Module.apply``
order), so MultiheadAttention's zero ``out_proj.bias`` and Transformer's
``xavier_uniform_`` win over what the children's Linear wrote.

Tensors set by several calls. A tensor set by one distribution call holds
exactly what the allocating fastinit function gives for the same arguments, with
``stream`` its qualified name: an ``nn.Linear`` ``fc1`` weight equals
``fastinit.kaiming_uniform(w.shape, a=math.sqrt(5), seed=s, stream=prefix + "fc1.weight")``.
Every call on a tensor uses the tensor's own qualified name as the stream, so
when several calls write the same tensor, the last one wins on the elements it
writes: MultiheadAttention's ``out_proj.bias`` is 0 and a Transformer's
``encoder.layers.0.linear1.weight`` equals ``fastinit.xavier_uniform(shape,
seed=s, stream="encoder.layers.0.linear1.weight")``; an Embedding weight is
``fastinit.normal(shape, seed=s, stream=name)`` with row ``padding_idx``
zeroed. A packed tensor (MultiheadAttention's ``in_proj_weight``, an LSTM's
``weight_ih_l0`` holding four gates) is one call on the whole tensor, as in
torch. A write that a later whole-tensor write overwrites is skipped (the bits are
the same, the time is not spent). A parameter shared by several modules (tied
weights) has one qualified name, the first ``named_parameters()`` gives; every
write to it uses that name, and the module visited last (post-order) wins.

Other module types. A module whose class (or the nearest class in its MRO that
defines ``reset_parameters`` / ``_reset_parameters``) is not in the table but
has such a method has it called, in the same post-order, under
``fastinit.torch.init_mode``, which sends its ``torch.nn.init`` calls and
initializing tensor methods on the model's tensors to fastinit on the tensors'
streams. A module with direct parameters that neither a table entry, its own
reset method nor an ancestor's reset method covers is an error listing them,
raised before anything is written. Buffers that nothing covers keep their values
in ``reset_parameters`` (as torch's ``reset_parameters`` keeps them); in
``materialize`` of a meta model they would hold garbage, so they are an error.

Non-float tensors (``num_batches_tracked``, int64) take their constant through
torch's own ``fill_`` (fastinit's kernels write float types only).
"""
from __future__ import annotations

import math
import numbers

import torch

from . import init as _init
from ._stream import check_seed

__all__ = ["reset_parameters", "materialize"]

_FLOAT_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)
_RANDOM = {_init.uniform_, _init.normal_, _init.kaiming_uniform_, _init.xavier_uniform_, _init.xavier_normal_}


# ------------------------------------------------------------------ the layer table
# Each rule maps a module to its reset as a list of writes:
# (path of the tensor relative to the module, fastinit in-place function, args, row of dim 0 or None).
def _uniform_or_zero(path, bound):
    # torch: uniform_(-0, 0) gives zeros; fastinit's uniform_ needs a < b
    return (path, _init.uniform_, (-bound, bound), None) if bound > 0 else (path, _init.zeros_, (), None)


def _fan_in(shape):
    return shape[1] * math.prod(shape[2:]) if len(shape) >= 2 else 0


def _linear(m):  # nn.Linear and nn.modules.conv._ConvNd (the same recipe, linear.py and conv.py)
    writes = [("weight", _init.kaiming_uniform_, (), None, {"a": math.sqrt(5)})]
    if m.bias is not None:
        fan_in = _fan_in(tuple(m.weight.shape))
        writes.append(_uniform_or_zero("bias", 1 / math.sqrt(fan_in) if fan_in > 0 else 0))
    return writes


def _bilinear(m):
    if m.in1_features <= 0:  # torch raises the same
        raise ValueError(f"in1_features must be > 0, but got (in1_features={m.in1_features})")
    bound = 1 / math.sqrt(m.weight.size(1))
    writes = [_uniform_or_zero("weight", bound)]
    if m.bias is not None:
        writes.append(_uniform_or_zero("bias", bound))
    return writes


def _embedding(m):
    writes = [("weight", _init.normal_, (0.0, 1.0), None)]
    if m.padding_idx is not None:
        writes.append(("weight", _init.zeros_, (), m.padding_idx % m.weight.shape[0]))
    return writes


def _affine(m, flag):
    writes = []
    if getattr(m, flag):
        writes.append(("weight", _init.ones_, (), None))
        if getattr(m, "bias", None) is not None:
            writes.append(("bias", _init.zeros_, (), None))
    return writes


def _norm_base(m):  # BatchNorm*, SyncBatchNorm, InstanceNorm* (batchnorm.py: reset_running_stats, then affine)
    writes = []
    if m.track_running_stats:
        writes += [("running_mean", _init.zeros_, (), None), ("running_var", _init.ones_, (), None),
                   ("num_batches_tracked", _init.zeros_, (), None)]
    return writes + _affine(m, "affine")


def _mha(m):
    if m._qkv_same_embed_dim:
        writes = [("in_proj_weight", _init.xavier_uniform_, (), None)]
    else:
        writes = [(p, _init.xavier_uniform_, (), None) for p in ("q_proj_weight", "k_proj_weight", "v_proj_weight")]
    if m.in_proj_bias is not None:
        writes += [("in_proj_bias", _init.zeros_, (), None), ("out_proj.bias", _init.zeros_, (), None)]
    for p in ("bias_k", "bias_v"):
        if getattr(m, p) is not None:
            writes.append((p, _init.xavier_normal_, (), None))
    return writes


def _rnn(m):  # RNNBase and RNNCellBase: every parameter (recursively, as torch's self.parameters())
    stdv = 1.0 / math.sqrt(m.hidden_size) if m.hidden_size > 0 else 0
    return [_uniform_or_zero(name, stdv) for name, _ in m.named_parameters()]


def _transformer(m):
    return [(name, _init.xavier_uniform_, (), None) for name, p in m.named_parameters() if p.dim() > 1]


def _prelu(m):
    return [("weight", _init.constant_, (float(m.init),), None)]


def _rules():
    nn = torch.nn
    from torch.nn.modules.batchnorm import _NormBase
    from torch.nn.modules.conv import _ConvNd
    from torch.nn.modules.rnn import RNNBase, RNNCellBase
    return {
        nn.Linear: _linear, _ConvNd: _linear, nn.Bilinear: _bilinear,
        nn.Embedding: _embedding, nn.EmbeddingBag: _embedding,
        nn.LayerNorm: lambda m: _affine(m, "elementwise_affine"),
        nn.RMSNorm: lambda m: _affine(m, "elementwise_affine"),
        nn.GroupNorm: lambda m: _affine(m, "affine"),
        _NormBase: _norm_base,
        nn.MultiheadAttention: _mha, RNNBase: _rnn, RNNCellBase: _rnn,
        nn.Transformer: _transformer, nn.PReLU: _prelu,
        nn.AdaptiveLogSoftmaxWithLoss: lambda m: [],
    }


_RULES = None
_RESET_NAMES = ("reset_parameters", "_reset_parameters")


def _resolve(m):
    """(rule or None, reset method name or None) of module ``m``: the nearest class in
    its MRO that defines a reset method decides (lazy mixins are looked through,
    since an initialized lazy module resets as its base)."""
    global _RULES
    if _RULES is None:
        _RULES = _rules()
    from torch.nn.modules.lazy import LazyModuleMixin
    for cls in type(m).__mro__:
        if cls in _RULES:
            return _RULES[cls], None
        if issubclass(cls, LazyModuleMixin) and cls.__module__.startswith("torch.nn."):
            continue
        for meth in _RESET_NAMES:
            if meth in cls.__dict__:
                return None, meth
    return None, None


# ------------------------------------------------------------------ planning
def _postorder(root):
    """[(qualified name, module)], children before their parent, each module once."""
    seen, out = set(), []

    def visit(m, name):
        if id(m) in seen:
            return
        seen.add(id(m))
        for cname, c in m._modules.items():
            if c is not None:
                visit(c, f"{name}.{cname}" if name else cname)
        out.append((name, m))

    visit(root, "")
    return out


def _tensor_names(root):
    """id(tensor) -> (qualified name, tensor, is_buffer); the first name torch lists for a shared tensor."""
    names = {}
    for name, t in root.named_parameters():
        names.setdefault(id(t), (name, t, False))
    for name, t in root.named_buffers():
        if t is not None:
            names.setdefault(id(t), (name, t, True))
    return names


def _device_key(t):
    return str(t.device)


def _check_args(module, seed, prefix):
    if not isinstance(module, torch.nn.Module):
        raise TypeError(f"module must be a torch.nn.Module; got {type(module).__name__}")
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise TypeError(f"seed must be an int in [0, 2**64); got {seed!r}")
    check_seed(seed)
    if not isinstance(prefix, str):
        raise TypeError(f"prefix must be a str (prepended as is to each qualified name); got {prefix!r}")


def _plan(root, *, meta_ok=False, for_materialize=False):
    """Validate ``root`` and list its steps in post-order, writing nothing.

    Returns ``[("write", qualified name, tensor, fn, args, kwargs, row) | ("route", name, module, method)]``.
    """
    from torch.nn.modules.lazy import LazyModuleMixin
    names = _tensor_names(root)
    lazy = [n or type(root).__name__ for n, m in _postorder(root)
            if isinstance(m, LazyModuleMixin) and m.has_uninitialized_params()]
    if lazy:
        raise ValueError(f"lazy module(s) with uninitialized parameters: {', '.join(lazy)}; run a forward pass "
                         "(or initialize_parameters) first so their shapes are known")
    devices = {}
    for name, t, _ in names.values():
        devices.setdefault(_device_key(t), name)
    if len(devices) > 1:
        listed = ", ".join(f"{d} (e.g. {n})" for d, n in devices.items())
        raise ValueError(f"the model's tensors are on several devices: {listed}; put it on one device "
                         "(or build it on meta and call materialize)")
    if not meta_ok and "meta" in devices:
        raise ValueError("the model is on the meta device (no storage to write): call "
                         "fastinit.torch.materialize(module, device, seed=...) instead")

    steps, covered, routed_prefixes = [], set(), []
    for mname, m in _postorder(root):
        rule, meth = _resolve(m)
        if rule is not None:
            for w in rule(m):
                path, fn, args, row = w[:4]
                kwargs = w[4] if len(w) > 4 else {}
                t = _tensor_at(m, path)
                if t is None:
                    continue
                qname, _, _ = names[id(t)]
                if fn in _RANDOM and t.dtype not in _FLOAT_DTYPES:
                    raise TypeError(f"{qname} has dtype {t.dtype}; fastinit writes "
                                    "float16, bfloat16, float32 and float64")
                covered.add(id(t))
                steps.append(("write", qname, t, fn, args, kwargs, row))
        elif meth is not None and _has_tensors(m):
            _init_mode()  # ImportError now, before anything is written
            steps.append(("route", mname, m, meth))
            routed_prefixes.append(mname)

    def under_route(qname):
        return any(p == "" or qname == p or qname.startswith(p + ".") for p in routed_prefixes)

    orphans = [n for n, t, buf in names.values() if not buf and id(t) not in covered and not under_route(n)]
    if orphans:
        raise ValueError(
            "no initialization rule covers parameter(s) " + ", ".join(orphans) + ": their modules are not "
            "torch layers fastinit knows and neither they nor an enclosing module define reset_parameters "
            "(or _reset_parameters); give the module a reset_parameters (it then runs under "
            "fastinit.torch.init_mode), or run the model's own init code under fastinit.torch.init_mode "
            "(e.g. transformers' model.init_weights()) instead of reset_parameters")
    if for_materialize:
        stale = [n for n, t, buf in names.values() if buf and id(t) not in covered and not under_route(n)]
        if stale:
            raise ValueError(
                "buffer(s) " + ", ".join(stale) + " were computed at construction and are lost on the meta "
                "device, and no rule or reset_parameters recomputes them; give their module a "
                "reset_parameters that sets them, or build that module on the target device")
    return _drop_overwritten(steps)


def _tensor_at(m, path):
    """The parameter or buffer at ``path`` under ``m`` (``"out_proj.bias"``), or None."""
    mod_path, _, leaf = path.rpartition(".")
    owner = m.get_submodule(mod_path) if mod_path else m
    t = owner._parameters.get(leaf) if leaf in owner._parameters else owner._buffers.get(leaf)
    return t


def _has_tensors(m):
    return any(True for _ in m.parameters()) or any(b is not None for b in m.buffers())


def _drop_overwritten(steps):
    """Skip a write that a later whole-tensor write overwrites with no routed call in between."""
    keep = [True] * len(steps)
    later_whole = set()
    for i in range(len(steps) - 1, -1, -1):
        s = steps[i]
        if s[0] == "route":
            later_whole.clear()
            continue
        key = id(s[2])
        if key in later_whole:
            keep[i] = False
        elif s[6] is None:
            later_whole.add(key)
    return [s for s, k in zip(steps, keep) if k]


# ------------------------------------------------------------------ execution
def _init_mode():
    from ._torch_route import init_mode  # imported lazily: its own module, written separately
    return init_mode


def _write(t, fn, args, kwargs, row, *, seed, stream):
    from ._torch_shard import _dtensor_regions, _is_dtensor, fill_tensor
    if fn not in _RANDOM and not t.dtype.is_floating_point:
        # an integer buffer (num_batches_tracked): torch's own fill_, as its reset does
        value = {_init.zeros_: 0, _init.ones_: 1}.get(fn, args[0] if args else 0)
        (t if row is None else t[row]).fill_(value)
    elif row is not None:  # one row of dim 0 (Embedding's padding_idx): only the shard that holds it
        if _is_dtensor(t):
            for view, _, start in _dtensor_regions(t, None, None):
                if start[0] <= row < start[0] + view.shape[0]:
                    fill_tensor(view[row - start[0]], fn, *args, **kwargs)
        else:
            fill_tensor(t[row], fn, *args, **kwargs)
    elif fn in _RANDOM:
        fill_tensor(t, fn, *args, seed=seed, stream=stream, **kwargs)
    else:
        fill_tensor(t, fn, *args, **kwargs)


def _run(root, steps, seed, prefix):
    with torch.no_grad():
        for s in steps:
            if s[0] == "write":
                _, qname, t, fn, args, kwargs, row = s
                _write(t, fn, args, kwargs, row, seed=seed, stream=prefix + qname)
            else:
                _, _, m, meth = s
                with _init_mode()(root, seed=seed, prefix=prefix):
                    getattr(m, meth)()
    return root


def reset_parameters(module, *, seed, prefix=""):
    """Initialize every parameter and buffer of ``module`` as torch's layer defaults
    would, on fastinit's kernels, each tensor on the stream ``prefix + qualified name``.

    Parameters
    ----------
    module : torch.nn.Module
        On one device (CPU, CUDA, or DTensor parameters on a mesh), not meta.
    seed : int in [0, 2**64)
        Philox key shared by every tensor of the model.
    prefix : str, optional
        Prepended as is to every qualified name to form its stream (e.g. ``"model."``),
        so a submodule initialized alone can match the whole model's values.

    Returns
    -------
    torch.nn.Module
        ``module``, written in place.

    Raises
    ------
    ValueError
        A lazy module with uninitialized parameters, tensors on several devices or on
        meta, parameters that no rule or reset method covers, a Bilinear with
        ``in1_features <= 0`` — all before anything is written.
    TypeError
        A non-module, a bad ``seed``/``prefix``, a non-float parameter under a random rule.

    Notes
    -----
    torch equivalent: ``module.apply(lambda m: m.reset_parameters())`` (children
    before parents), with values that depend only on ``(seed, prefix + qualified
    name, logical index)``: the same for any construction order, set of other
    modules, device or sharding. See the module docstring for the table and the
    rule for tensors written by several calls.
    """
    _check_args(module, seed, prefix)
    return _run(module, _plan(module), seed, prefix)


def materialize(module, device="cpu", *, seed, prefix=""):
    """Give a model built under ``torch.device("meta")`` real storage on ``device`` and
    initialize every tensor as ``reset_parameters`` does.

    Each tensor is allocated once (``module.to_empty(device=device)``: untouched
    memory, no zeros written) and then filled in place, so the peak memory is the
    model's bytes. DTensor parameters (``fully_shard``, ``distribute_tensor`` on a
    meta model) get their local shards allocated and each rank fills only its own.

    A model that is not on meta: if its tensors are already on ``device`` it is
    re-initialized in place, exactly as ``reset_parameters``; on another device it is
    an error (moving it is the caller's choice: ``module.to(device)`` first).

    Parameters
    ----------
    module : torch.nn.Module
    device : str or torch.device, default "cpu"
    seed : int in [0, 2**64)
    prefix : str, optional

    Returns
    -------
    torch.nn.Module
        ``module``, materialized and initialized in place.

    Raises
    ------
    ValueError
        A model partly on meta, on another device than ``device``, or any error of
        ``reset_parameters``; buffers computed at construction that nothing recomputes
        (they are lost on meta). All before anything is allocated or written.
    """
    _check_args(module, seed, prefix)
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise ValueError(f"device must be a torch device such as 'cpu' or 'cuda'; got {device!r}") from None
    if dev.type == "meta":
        raise ValueError("device must be a real device ('cpu', 'cuda', ...), not 'meta'")
    tensors = [t for t in module.parameters()] + [b for b in module.buffers() if b is not None]
    on_meta = [t.is_meta for t in tensors]
    if any(on_meta) and not all(on_meta):
        names = _tensor_names(module)
        real = [n for n, t, _ in names.values() if not t.is_meta]
        raise ValueError(f"the model is partly on meta and partly on {tensors[on_meta.index(False)].device} "
                         f"(e.g. {', '.join(real[:5])}); build all of it on meta, or use reset_parameters")
    if tensors and not any(on_meta):
        here = {t.device for t in tensors}
        if any(d.type != dev.type or (dev.index is not None and d.index not in (None, dev.index)) for d in here):
            raise ValueError(f"the model is not on meta but on {', '.join(sorted(map(str, here)))}, not on "
                             f"{dev}: move it first (module.to(device)) or build it under torch.device('meta')")
        return reset_parameters(module, seed=seed, prefix=prefix)
    _plan(module, meta_ok=True, for_materialize=True)  # every error before anything is allocated
    module.to_empty(device=dev)
    return _run(module, _plan(module, for_materialize=True), seed, prefix)
