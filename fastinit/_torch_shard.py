"""Fill one torch tensor -- a plain tensor, a view of one, or a DTensor's local
shard -- with exactly its region of a logical fastinit tensor.

``fill_tensor`` is the one primitive the whole-model code (``fastinit.torch``'s
``reset_parameters``, ``materialize`` and ``init_mode``) writes through::

    fill_tensor(w, fastinit.init.kaiming_uniform_, a=math.sqrt(5), seed=0, stream="fc1.weight")

leaves in ``w`` exactly what ``fastinit.kaiming_uniform(w.shape, a=math.sqrt(5), seed=0,
stream="fc1.weight")`` returns, whatever ``w`` is:

* a contiguous CPU or CUDA tensor: written in place through fastinit's
  zero-copy view (``fastinit.dispatch``; CUDA tensors run the GPU kernels);
* a non-contiguous view (a column slice, a transposed parameter): a contiguous
  temporary of the view's size is filled, then copied in with ``copy_`` (one
  extra view-sized buffer);
* with ``global_shape=G, start=S``: ``w`` is the region ``S .. S + w.shape`` of a
  logical tensor of shape ``G`` (fans come from ``G``);
* a ``torch.distributed.tensor.DTensor``: each rank fills only its local shard
  (``to_local()``, in place), at the shard's offsets in the global tensor,
  computed from the placements and the mesh by torch's own
  ``torch.distributed.tensor._utils._get_shard_size_and_offsets`` (the helper
  behind ``compute_local_shape_and_global_offset``). ``Shard(d)`` on any dim with
  ``torch.chunk`` semantics (uneven splits, empty shards), ``Replicate``, any
  number of mesh dims and ``_StridedShard`` (FSDP2 over TP: the local shard is
  several disjoint runs of the global tensor along a dim; each run is filled
  at its own offsets). ``Partial`` is refused: a partial value has no region.
  No collective runs and no rank allocates more than its local shard (plus the
  temporaries above); the gathered tensor equals the single-process result bit
  for bit, for any mesh, world size and placement.

Non-random initializers (``constant_``, ``zeros_``, ``ones_``) take no seed;
``eye_`` and ``dirac_`` on a region write exactly that region of the full
identity/Dirac tensor (zeros, then the ones that fall inside).
``orthogonal_`` on a region still factors the full matrix (QR does not shard)
and ``sparse_`` sorts the shard's columns over all rows: their workspace is
global-sized, as documented in ``fastinit.init``.

Reproducibility: every value is a function of ``(seed, stream, logical index)``,
so it does not depend on the device, the thread count, the sharding or the order
in which tensors are filled.
"""
from __future__ import annotations

import functools
import inspect
import itertools
import sys

import numpy as np
import torch

from . import init as _init
from ._stream import check_seed, stream_id
from .dispatch import as_target

__all__ = ["fill_tensor"]

_FLOAT = (torch.float16, torch.bfloat16, torch.float32, torch.float64)
# values that do not depend on the element's position: a region is just filled
_POSITION_FREE = (_init.constant_, _init.zeros_, _init.ones_)
_INPLACE = tuple(getattr(_init, n) for n in _init.__all__ if n.endswith("_") and callable(getattr(_init, n)))


@functools.lru_cache(maxsize=None)
def _keywords(fn):
    """(takes seed/stream, takes global_shape/start) of an initializer."""
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False, False
    return "seed" in params and "stream" in params, "global_shape" in params and "start" in params


def _check_init_fn(init_fn):
    if not callable(init_fn):
        raise TypeError(f"init_fn must be a fastinit in-place initializer; got {init_fn!r}")
    random, region = _keywords(init_fn)
    if init_fn in _INPLACE or (random and region):
        return random, region
    name = getattr(init_fn, "__module__", "?") + "." + getattr(init_fn, "__qualname__", repr(init_fn))
    raise TypeError(f"init_fn must be one of fastinit.init's in-place initializers "
                    f"({', '.join(f.__name__ for f in _INPLACE)}) or a function taking keyword "
                    f"seed=, stream=, global_shape=, start=; got {name}")


def _check_tensor(t, name="t"):
    if not isinstance(t, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor; got {type(t).__name__}")
    if t.device.type == "meta":
        raise ValueError(f"{name} is on the meta device and has no storage to fill: materialize the "
                         "module first (fastinit.torch.materialize, or module.to_empty(device=...))")
    if t.device.type not in ("cpu", "cuda"):
        raise TypeError(f"{name} is on {t.device}; fastinit fills tensors on cpu and cuda")
    if t.layout != torch.strided:
        raise TypeError(f"{name} must be a dense (strided) tensor; got layout {t.layout}")
    if t.dtype not in _FLOAT:
        raise TypeError(f"{name} dtype must be one of float16, bfloat16, float32, float64; got {t.dtype}")
    if any(st == 0 and n > 1 for n, st in zip(t.shape, t.stride())):
        raise ValueError(f"{name} has elements sharing memory (an expand()ed view, stride {tuple(t.stride())}): "
                         "they cannot hold different values; fill the tensor it was expanded from")


def _is_dtensor(t):
    mod = sys.modules.get("torch.distributed.tensor")
    return mod is not None and isinstance(t, mod.DTensor)


def fill_tensor(t, init_fn, *args, seed=None, stream=None, global_shape=None, start=None, **kwargs):
    """Run fastinit in-place initializer ``init_fn(t, *args, **kwargs)`` so that
    ``t`` holds exactly its region of the logical tensor named by ``(seed, stream)``.

    Parameters
    ----------
    t : torch.Tensor or torch.distributed.tensor.DTensor
        CPU or CUDA, float16/bfloat16/float32/float64; any strides. A DTensor
        is filled through its local shard only.
    init_fn : callable
        A fastinit in-place initializer (``fastinit.init.uniform_``, ``normal_``,
        ``trunc_normal_``, ``kaiming_uniform_``, ..., ``constant_``, ``eye_``,
        ``dirac_``), or any function with keyword ``seed``, ``stream``,
        ``global_shape`` and ``start`` that fills a contiguous tensor in place.
    *args, **kwargs
        The initializer's own arguments (``a=math.sqrt(5)``, ``std=0.02``, ...).
    seed : int in [0, 2**64)
        Required by random initializers; ignored by the others.
    stream : int in [0, 2**64) or str, optional
        Stream id (a str is hashed by ``fastinit.stream_id``); default 0. The
        whole-model code uses the tensor's qualified name (``"blocks.3.mlp.up.weight"``).
    global_shape, start : tuple of int, optional
        ``t`` is the region ``start .. start + t.shape`` of a logical tensor of
        shape ``global_shape`` (default: ``t`` is the whole tensor). For a DTensor
        they place the DTensor's own global tensor inside a larger one.

    Returns
    -------
    t
        The argument, filled in place.

    Raises
    ------
    TypeError, ValueError
        Bad tensor (meta device, non-float dtype), bad initializer, missing seed,
        a region that does not fit, an initializer that cannot fill a region, a
        ``Partial`` placement: before anything is written.

    Notes
    -----
    ``fill_tensor(t, fastinit.init.normal_, 0.0, 0.02, seed=s, stream="wte.weight")``
    is the reproducible counterpart of ``torch.nn.init.normal_(t, 0.0, 0.02)``;
    every value is a function of ``(seed, stream, logical index)`` only, so a shard,
    a slice or a DTensor on any mesh holds the same bits as the same region of the
    single-process tensor (``tests/test_torch_shard.py``).
    """
    random, region_ok = _check_init_fn(init_fn)
    if random:
        if seed is None:
            raise TypeError(f"{init_fn.__name__} is random: fill_tensor needs seed= (an int in [0, 2**64))")
        seed = check_seed(seed)
        stream = stream_id(0 if stream is None else stream)
    if _is_dtensor(t):
        regions = _dtensor_regions(t, global_shape, start)
    else:
        _check_tensor(t)
        g, s = _init._region(tuple(t.shape), global_shape, start)
        regions = [(t, g, s)]
    for view, g, s in regions:
        _check_fits(init_fn, region_ok, view, g, s)
    for view, g, s in regions:
        _fill_region(view, init_fn, args, kwargs, random, seed, stream, g, s)
    return t


def _is_whole(shape, g, s):
    return tuple(shape) == tuple(g) and not any(s)


def _check_fits(init_fn, region_ok, view, g, s):
    """An initializer without global_shape can fill only the whole tensor (or
    anything, when its values do not depend on the position)."""
    if region_ok or init_fn in _POSITION_FREE or init_fn in (_init.eye_, _init.dirac_):
        return
    if not _is_whole(view.shape, g, s):
        raise TypeError(f"{init_fn.__name__} takes no global_shape=/start=, so it cannot fill the region "
                        f"start={s} shape={tuple(view.shape)} of global_shape={g}")


def _fill_region(view, init_fn, args, kwargs, random, seed, stream, g, s):
    contiguous = view.is_contiguous()
    # the kernels write through a zero-copy view of a contiguous tensor; a strided
    # view gets a contiguous temporary of its own size, copied in afterwards
    target = view if contiguous else torch.empty(view.shape, dtype=view.dtype, device=view.device)
    whole = _is_whole(view.shape, g, s)
    if init_fn is _init.eye_ and not whole:
        if args or kwargs:
            raise TypeError(f"eye_ takes no arguments; got {args or ''} {kwargs or ''}")
        _eye_region(target, g, s)
    elif init_fn is _init.dirac_ and not whole:
        groups = inspect.signature(_init.dirac_).bind(target, *args, **kwargs).arguments.get("groups", 1)
        _dirac_region(target, groups, g, s)
    elif random:
        init_fn(target, *args, seed=seed, stream=stream, global_shape=g, start=s, **kwargs)
    elif _keywords(init_fn)[1]:
        init_fn(target, *args, global_shape=g, start=s, **kwargs)
    else:
        init_fn(target, *args, **kwargs)
    if not contiguous:
        view.detach().copy_(target)


def _ones_at(target, g, s, coords):
    """Zero ``target`` (the region ``s .. s + target.shape`` of a tensor of shape
    ``g``), then set to 1 those global coordinates ``coords`` (k, ndim) inside it."""
    arr, kind = as_target(target, "t")
    _init._set_all(arr, kind, 0.0)
    if arr.size == 0 or len(coords) == 0:
        return
    lo = np.asarray(s, np.int64)
    local = np.asarray(coords, np.int64) - lo
    inside = np.all((local >= 0) & (local < np.asarray(arr.shape, np.int64)), axis=1)
    if inside.any():
        _init._put(arr, kind, np.ravel_multi_index(tuple(local[inside].T), arr.shape), 1.0)


def _eye_region(target, g, s):
    if len(g) != 2:
        raise ValueError(f"eye_ needs a 2-D tensor, got {len(g)} dimensions")
    # global diagonal entries (i, i) that can fall in the region
    lo = max(s[0], s[1])
    hi = min(s[0] + target.shape[0], s[1] + target.shape[1])
    i = np.arange(lo, max(lo, hi), dtype=np.int64)
    _ones_at(target, g, s, np.stack([i, i], axis=1))


def _dirac_region(target, groups, g, s):
    groups = _init._dirac_groups(g, groups)
    per = g[0] // groups
    center = [n // 2 for n in g[2:]]
    coords = [[k * per + d, d] + center for k in range(groups) for d in range(min(per, g[1]))]
    _ones_at(target, g, s, np.array(coords, np.int64).reshape(-1, len(g)))


# ------------------------------------------------------------------ DTensor geometry
def _dtensor_regions(dt, global_shape, start):
    """``[(view of dt's local tensor, global_shape, start), ...]``: the local shard as
    disjoint boxes of the global tensor (one for Shard/Replicate; several when a
    ``_StridedShard`` makes a dim's indices non-contiguous)."""
    from torch.distributed.tensor import Partial, Replicate, Shard
    from torch.distributed.tensor._utils import _get_shard_size_and_offsets
    from torch.distributed.tensor.placement_types import _StridedShard

    placements = tuple(dt.placements)
    for p in placements:
        if isinstance(p, Partial):
            raise ValueError(f"cannot fill a DTensor with placement {p} ({placements}): a Partial value is "
                             "a sum of per-rank terms, not a region of the tensor; fill it as Replicate "
                             "or Shard and redistribute")
        if not isinstance(p, (Shard, _StridedShard, Replicate)):
            raise ValueError(f"cannot fill a DTensor with placement {p!r} ({placements}); supported: "
                             "Shard, _StridedShard, Replicate")
    gshape = tuple(dt.shape)
    outer_g, outer_s = _init._region(gshape, global_shape, start)
    mesh = dt.device_mesh
    with torch.no_grad():
        local = dt.to_local()
    _check_tensor(local, "the DTensor's local tensor")
    coord = mesh.get_coordinate()
    if coord is None:  # this rank is not in the mesh: it holds nothing
        return []
    key = (gshape, placements, tuple(mesh.shape), tuple(int(c) for c in coord))
    try:
        size, boxes = _local_boxes(*key)
    except TypeError:  # an unhashable placement: the same computation, uncached
        size, boxes = _local_boxes.__wrapped__(*key)
    if size != tuple(local.shape):
        raise ValueError(f"the DTensor's local tensor has shape {tuple(local.shape)} but its placements "
                         f"{placements} on mesh {tuple(mesh.shape)} give {size} at coordinate {list(coord)}")
    if local.numel() == 0:  # still run the initializer: it checks its arguments on every rank
        return [(local, outer_g, outer_s)]
    return [(local[tuple(slice(lo, lo + n) for lo, _, n in box)], outer_g,
             tuple(o + g for o, (_, g, _) in zip(outer_s, box))) for box in boxes]


@functools.lru_cache(maxsize=4096)
def _local_boxes(gshape, placements, mesh_shape, coord):
    """(local shape, boxes): each box one (local start, global start, length) per dim,
    together covering the local shard. Per tensor dim, the global index of each local
    index is composed over the mesh dims left to right by torch's own helper, as
    ``compute_local_shape_and_global_offset`` does, keeping every index (that function
    keeps only the first, which is not enough for ``_StridedShard``). Cached: a model
    repeats a few shapes, each geometry is computed once per process."""
    from torch.distributed.tensor import Replicate
    try:
        from torch.distributed.tensor._utils import _get_shard_size_and_offsets
    except ImportError:  # pragma: no cover - depends on the torch version
        raise ImportError("fastinit's DTensor support needs torch's "
                          "torch.distributed.tensor._utils._get_shard_size_and_offsets (there in torch 2.13; "
                          f"this is torch {torch.__version__})") from None
    size = list(gshape)
    index = [None] * len(gshape)
    for mdim, p in enumerate(placements):
        if isinstance(p, Replicate):
            continue
        d = p.dim if p.dim >= 0 else p.dim + len(gshape)
        n, idx = _get_shard_size_and_offsets(size[d], mesh_shape[mdim], coord[mdim], p, index[d], gshape[d], False)
        size[d] = int(n)
        index[d] = idx[:0] if n == 0 else idx
    runs = [[(0, 0, n)] if index[d] is None or n == 0 else _runs(index[d]) for d, n in enumerate(size)]
    return tuple(size), tuple(itertools.product(*runs))


def _runs(idx):
    """Maximal runs of consecutive global indices (``idx``: a 1-D integer tensor):
    [(local start, global start, length), ...]; numpy, not a Python loop (a 32000-row
    embedding shard is one run found in microseconds)."""
    a = idx.numpy() if isinstance(idx, torch.Tensor) else np.asarray(idx)
    a = a.astype(np.int64, copy=False)
    cut = np.flatnonzero(np.diff(a) != 1) + 1
    lo = np.concatenate(([0], cut))
    hi = np.concatenate((cut, [a.size]))
    return [(int(i), int(a[i]), int(j - i)) for i, j in zip(lo, hi)]
