"""fastinit initializers as lazy Dask arrays: the same bits for any chunking.

``fastinit.dask.normal((65536, 65536), std=0.02, seed=0, chunks=(8192, 8192))`` is a
``dask.array.Array`` whose every block is filled by ``fastinit.normal`` with
``global_shape=`` the full shape and ``start=`` the block's offset. Since each value
is a function of ``(seed, stream, logical index)`` only (``fastinit._stream``), the
array holds exactly what the in-memory call returns, bit for bit, whatever the
chunking, after any ``rechunk``, on any scheduler, and for a block computed alone.
Dask's own ``dask.array.random`` draws one seed per chunk in block order, so its
values change with the chunking (dask issues 1684 and 3537).

Every random initializer of ``fastinit`` in its allocating form has a lazy twin
here with the same name, parameters and semantics (fans from the full shape), plus
``random_bits`` and the deterministic ``constant``, ``zeros``, ``ones`` and ``eye``::

    x = fastinit.dask.kaiming_uniform((4096, 1024), a=5 ** 0.5, seed=0, chunks=1024)
    x.to_zarr("w.zarr")                      # each block written where it was made
    assert (x.compute() == fastinit.kaiming_uniform((4096, 1024), a=5 ** 0.5, seed=0)).all()

The graph holds one small task per block: the task names a module-level function
and carries the block's offset and shape and the call's few parameters, never an
array (``tests/test_dask.py`` bounds its pickled size). ``orthogonal`` is the
exception the math imposes: QR is not blockwise, so one task computes the whole
matrix (``O(rows * cols)`` float64 on one worker, as ``torch.nn.init.orthogonal_``
needs) and the block tasks slice it.

Arguments are validated when the array is built, before any task exists: the
in-memory function itself runs on a zero-size region of the full shape
(``global_shape=shape``), so a bad ``std``, ``mode``, ``dtype``, seed or stream
raises the very same error. ``chunks`` goes through Dask's ``normalize_chunks``
("auto", an int, a byte size like "64 MiB", per-axis sizes or explicit tuples)
and chunks that do not tile the shape, or that are not positive ints, are refused
with a ValueError naming the axis.

Threads: a block fills on one thread when the array has at least as many blocks
as fastinit has threads, because Dask already runs blocks in parallel (as Dask
sets ``OMP_NUM_THREADS=1`` on its workers); with fewer blocks each block uses
fastinit's thread pool. The values never depend on it.

``device="cuda"`` gives CuPy blocks (``meta`` a CuPy array) with the same bits;
it needs CuPy, numba-cuda and a GPU, and says what to install when they are
missing. Importing ``fastinit`` never imports this module or Dask.
"""
from __future__ import annotations

import contextlib
import inspect
import math
import numbers
import re
from dataclasses import dataclass, field

import numpy as np

import dask.array as da
from dask.array.core import normalize_chunks
from dask.base import tokenize
from dask.highlevelgraph import HighLevelGraph

from . import init as _init
from .dispatch import check_device

__all__ = ["uniform", "normal", "trunc_normal", "xavier_uniform", "xavier_normal", "kaiming_uniform",
           "kaiming_normal", "orthogonal", "sparse", "variance_scaling", "glorot_uniform", "glorot_normal",
           "he_uniform", "he_normal", "lecun_uniform", "lecun_normal", "random_bits", "constant", "zeros",
           "ones", "eye", "RANDOM", "initializer"]

#: the random initializers (allocating names): blocks filled with global_shape/start
RANDOM = ("uniform", "normal", "trunc_normal", "xavier_uniform", "xavier_normal", "kaiming_uniform",
          "kaiming_normal", "sparse", "variance_scaling", "glorot_uniform", "glorot_normal", "he_uniform",
          "he_normal", "lecun_uniform", "lecun_normal")
_WHOLE = ("orthogonal",)  # one task computes the whole tensor (QR is not blockwise)
_FILLS = ("constant", "zeros", "ones")  # no randomness, no region


# ------------------------------------------------------------------ the per-block tasks
@dataclass(frozen=True)
class _Spec:
    """What every block task of one array needs; small, and opaque to Dask's graph
    traversal (a dataclass is neither a task tuple nor a key)."""
    name: str             # fastinit allocating function, looked up on the worker
    args: tuple           # its positional parameters (floats, strings)
    kwargs: dict = field(default_factory=dict)  # its keyword parameters, seed and stream resolved to ints
    dtype: str = "float32"
    device: str = "cpu"
    shape: tuple = ()     # the full (global) shape
    threads: int = 0      # fastinit threads per block; 0: fastinit's default


@contextlib.contextmanager
def _threads(n):
    """Run fastinit's fills with ``n`` threads in this thread (numba's setting is
    thread-local, so other Dask threads are not affected); 0 leaves it alone."""
    if not n:
        yield
        return
    import numba
    prev = numba.get_num_threads()
    numba.set_num_threads(max(1, min(n, numba.config.NUMBA_NUM_THREADS)))
    try:
        yield
    finally:
        numba.set_num_threads(prev)


def _block(spec, start, bshape):
    """One block: ``fastinit.<name>(bshape, ..., global_shape=spec.shape, start=start)``."""
    import fastinit
    fn = getattr(fastinit, spec.name)
    region = {"global_shape": spec.shape, "start": start} if spec.name in RANDOM else {}
    with _threads(spec.threads):
        return fn(bshape, *spec.args, dtype=spec.dtype, device=spec.device, **region, **spec.kwargs)


def _from_info(spec, kind, block_info=None):
    """A block of a map_blocks array: its offset and shape from Dask's ``block_info``."""
    info = block_info[None]
    start = tuple(lo for lo, _ in info["array-location"])
    bshape = tuple(info["chunk-shape"])
    return {"bits": _bits_block, "eye": _eye_block}.get(kind, _block)(spec, start, bshape)


def _whole(spec):
    """The whole tensor in one task (orthogonal)."""
    return _block(spec, None, spec.shape)


def _slice(full, start, bshape):
    return full[tuple(slice(s, s + n) for s, n in zip(start, bshape))].copy()


def _eye_block(spec, start, bshape):
    """Block of the identity: zeros, and ones where global row == global column
    (``eye_`` stores exactly 1 in every dtype)."""
    import fastinit
    out = fastinit.zeros(bshape, dtype=spec.dtype, device=spec.device)
    (r0, c0), (nr, nc) = start, bshape
    lo, hi = max(r0, c0), min(r0 + nr, c0 + nc)
    if hi > lo:
        i = np.arange(lo, hi)
        if spec.device == "cuda":
            import cupy
            i = cupy.asarray(i)
        out[i - r0, i - c0] = 1
    return out


def _bits_block(spec, start, bshape):
    """Raw words of a block: element ``(i, ...)`` holds the word of logical element
    ``offset + flat index in the full shape`` (``random_bits``'s contract)."""
    from . import distributions as D
    from .dispatch import empty, fill_kernels, gpu_view
    from ._stream import key_words
    out = empty(bshape, np.uint32, spec.device)
    if out.size == 0:
        return out
    rows, cols, starts = _init._runs(bshape, spec.shape, start)
    starts = starts + np.uint64(spec.kwargs["offset"])  # uint64 arrays wrap modulo 2**64, as the contract says
    view = out if isinstance(out, np.ndarray) else gpu_view(out)
    with _threads(spec.threads):
        fill_kernels(view).fill(view.reshape(rows, cols), starts,
                                key_words(spec.kwargs["seed"], spec.kwargs["stream"]), (), D.BITS, D.KIND_U32)
    return out


# ------------------------------------------------------------------ chunks
_BYTES = re.compile(r"\s*\d+(\.\d+)?\s*[kKMGTPE]?i?B\s*")  # "64 MiB", "1GB": Dask's byte sizes, unit required


def _check_chunk_spec(chunks):
    """Refuse what normalize_chunks would pass through or fail on obscurely:
    floats, bools, zero, negative sizes other than -1 (= the whole axis)."""
    def bad(why):
        raise ValueError(f"chunks {chunks!r}: {why}; use 'auto', a byte size like '64 MiB', an int, -1 "
                         "(the whole axis) per axis, or per-axis tuples of positive ints that add up to the shape")

    def leaf(c, explicit):
        if c is None or (isinstance(c, str) and (c == "auto" or _BYTES.fullmatch(c))):
            return
        if isinstance(c, str):
            bad(f"{c!r} is neither 'auto' nor a byte size with its unit")
        if isinstance(c, bool) or not isinstance(c, numbers.Integral):
            bad(f"{c!r} is not an int")
        if explicit and c < 0:
            bad(f"block size {c} is negative")
        if not explicit and (c == 0 or c < -1):
            bad(f"chunk size {c} is not a positive int or -1")

    if isinstance(chunks, dict):
        for v in chunks.values():
            leaf(v, False)
        return
    if isinstance(chunks, (tuple, list)):
        for c in chunks:
            if isinstance(c, (tuple, list)):
                for b in c:
                    leaf(b, True)
            else:
                leaf(c, False)
        return
    leaf(chunks, False)


def _normalize(chunks, shape, dtype):
    """Dask's ``normalize_chunks`` with errors that say what is wrong."""
    _check_chunk_spec(chunks)
    try:
        norm = normalize_chunks(chunks, shape, dtype=dtype)
    except (ValueError, TypeError, ZeroDivisionError) as e:
        raise ValueError(f"chunks {chunks!r} do not fit shape {shape}: {e}") from None
    for ax, (c, n) in enumerate(zip(norm, shape)):
        if sum(c) != n or any(b < 0 or (b == 0 and n) for b in c):
            raise ValueError(f"chunks {chunks!r}: axis {ax} has blocks {c}, which do not tile its size {n} "
                             "(positive ints adding up to it)")
    return norm


# ------------------------------------------------------------------ building an array
class _Plan:
    """A fastinit Dask array before it is one: its spec, chunks, meta, and the task of
    each block (``fastinit.io`` builds its Zarr write tasks around the same ones)."""

    def __init__(self, kind, spec, chunks, meta):
        self.kind, self.spec, self.chunks, self.meta = kind, spec, chunks, meta
        self.name = f"fastinit-{spec.name}-{tokenize(kind, spec, chunks)}"
        self.full_key = (self.name + "-whole",)

    def starts(self):
        return [np.concatenate(([0], np.cumsum(c)[:-1])).astype(int).tolist() if c else [] for c in self.chunks]

    def blocks(self):
        """``(index, start, bshape)`` of every block, in C order."""
        starts = self.starts()
        for idx in np.ndindex(*[len(c) for c in self.chunks]):
            yield (idx, tuple(starts[a][i] for a, i in enumerate(idx)),
                   tuple(self.chunks[a][i] for a, i in enumerate(idx)))

    def task(self, start, bshape):
        """The task that makes one block (a tuple Dask runs; no arrays in it)."""
        if self.kind == "whole":
            return (_slice, self.full_key, start, bshape)
        fn = {"bits": _bits_block, "eye": _eye_block}.get(self.kind, _block)
        return (fn, self.spec, start, bshape)

    def extra(self):
        """Tasks the blocks depend on (the whole matrix of orthogonal)."""
        return {self.full_key: (_whole, self.spec)} if self.kind == "whole" else {}

    def array(self):
        if self.kind != "whole":
            # a Blockwise layer (map_blocks): built lazily, and fused by Dask's optimizer with
            # blockwise consumers such as to_zarr's store, so one task makes a block and
            # writes it, on the worker that made it
            return da.map_blocks(_from_info, self.spec, self.kind, name=self.name, chunks=self.chunks,
                                 dtype=self.meta.dtype, meta=self.meta)
        dsk = dict(self.extra())
        for idx, start, bshape in self.blocks():
            dsk[(self.name,) + idx] = self.task(start, bshape)
        graph = HighLevelGraph.from_collections(self.name, dsk, dependencies=())
        return da.Array(graph, self.name, self.chunks, meta=self.meta)


def _meta(probe):
    """Zero-size array of the probe's type and dtype, with its number of dimensions."""
    return probe[(slice(0, 0),) * probe.ndim] if probe.ndim else probe.reshape(())


def _plan(name, shape, args, kwargs, chunks, dtype, device):
    import fastinit
    if "global_shape" in kwargs or "start" in kwargs:
        raise TypeError(f"fastinit.dask.{name} builds the full tensor and takes no global_shape/start; "
                        "slice the Dask array (x[a:b]) for a region")
    shape = _init._check_shape(shape)
    device = check_device(device)
    nd = len(shape)
    kwargs = dict(kwargs)
    kind = "whole" if name in _WHOLE else ("eye" if name == "eye" else ("fill" if name in _FILLS else "random"))
    if kind in ("random", "whole"):
        seed, stream, generator = kwargs.pop("seed", None), kwargs.pop("stream", None), kwargs.pop("generator", None)
        # The in-memory function checks every argument on a one-element region of the full
        # shape (a zero-size one for orthogonal, whose any region is a whole QR, and for an
        # empty shape): fans from global_shape, the same errors. Stand-ins for a seed/stream
        # the default generator or a torch.Generator will supply, so a bad call draws nothing.
        one = kind == "random" and all(shape)
        probe_shape = (1,) * nd if one else ((0,) + shape[1:] if nd else ())
        check = {"seed": 0 if seed is None or generator is not None else seed,
                 "stream": 0 if stream is None else stream}
        probe = getattr(fastinit, name)(probe_shape, *args, dtype=dtype, device=device, global_shape=shape,
                                        start=(0,) * nd, **check, **kwargs)
        if generator is not None and seed is not None:
            raise TypeError("pass seed= or generator= (which draws the seed), not both")
        # the seed and stream this call stands for, drawn once, here: every block gets the same
        k0, k1, s0, s1 = _init._words(_init._Draw(seed=seed, stream=stream, generator=generator))
        kwargs["seed"], kwargs["stream"] = int(k0) | (int(k1) << 32), int(s0) | (int(s1) << 32)
    else:
        probe = getattr(fastinit, name)((0,) + shape[1:] if nd else (), *args, dtype=dtype, device=device, **kwargs)
    dt = np.dtype(probe.dtype)
    norm = _normalize(chunks, shape, dt)
    return _Plan(kind, _spec(name, args, kwargs, dt, device, shape, norm), norm, _meta(probe))


def _spec(name, args, kwargs, dt, device, shape, chunks):
    nblocks = math.prod(len(c) for c in chunks)
    import numba
    threads = 1 if nblocks >= numba.config.NUMBA_NUM_THREADS else 0
    return _Spec(name, tuple(args), kwargs, dt.name, device, shape, threads)


# ------------------------------------------------------------------ the public functions
_EXTRA_DOC = """
Dask form
---------
Returns a lazy ``dask.array.Array`` of ``shape`` that holds exactly
``fastinit.{name}(shape, ...)``: every block is ``fastinit.{name}`` of the block's
shape with ``global_shape=shape`` and ``start=`` its offset, so the values do not
depend on ``chunks``, ``rechunk``, the scheduler or retries. Fans come from the full
shape. Extra keyword-only parameters:

chunks : "auto", int, str, tuple or dict
    Block sizes, as ``dask.array`` takes them (``normalize_chunks``); "auto" (default)
    follows ``dask.config`` ``array.chunk-size``.
dtype : {{"float32", "float64", "float16", "bfloat16"}}
device : {{"cpu", "cuda"}}
    "cuda": CuPy blocks (the same bits), needs CuPy, numba-cuda and a GPU.

Arguments are checked when the array is built (the in-memory function validates
them on a zero-size region), before any task runs. ``seed=None`` takes the default
generator's seed and next stream once, at build time, like one in-memory call.
"""


def _signature(fn_, name):
    """``(shape, <the in-place function's parameters>, *, chunks, dtype, seed, stream, device)``."""
    P = inspect.Parameter
    params = [P("shape", P.POSITIONAL_OR_KEYWORD)]
    for p in list(inspect.signature(fn_).parameters.values())[1:]:
        if p.name not in ("global_shape", "start"):
            params.append(p)
    kw_at = next((i for i, p in enumerate(params) if p.kind == P.KEYWORD_ONLY), len(params))
    params[kw_at:kw_at] = [P("chunks", P.KEYWORD_ONLY, default="auto"), P("dtype", P.KEYWORD_ONLY, default="float32")]
    params.append(P("device", P.KEYWORD_ONLY, default="cpu"))
    return inspect.Signature(params)


def initializer(name):
    """The lazy Dask form of ``fastinit.<name>`` (an allocating name such as "normal")."""
    if name not in RANDOM + _WHOLE + _FILLS + ("eye",):
        raise ValueError(f"fastinit.dask has no initializer {name!r}; choose one of "
                         f"{', '.join(sorted(RANDOM + _WHOLE + _FILLS + ('eye',)))}")
    return globals()[name]


def _lazy(name):
    fn_ = getattr(_init, name + "_")

    def make(shape, *args, chunks="auto", dtype="float32", device="cpu", **kwargs):
        return _plan(name, shape, args, kwargs, chunks, dtype, device).array()

    make.__name__ = make.__qualname__ = name
    make.__module__ = __name__
    make.__signature__ = _signature(fn_, name)
    make.__doc__ = (f"Lazy Dask form of ``fastinit.{name}``.\n\n" + inspect.cleandoc(fn_.__doc__ or "")
                    + "\n" + _EXTRA_DOC.format(name=name))
    return make


for _name in RANDOM + _WHOLE + _FILLS + ("eye",):
    globals()[_name] = _lazy(_name)
del _name


def random_bits(shape, *, seed, stream=0, offset=0, chunks="auto", device="cpu"):
    """Raw Philox words as a lazy Dask array: element ``i`` (flat C index in ``shape``)
    is the word of logical element ``offset + i``, exactly ``fastinit.random_bits``.

    Parameters
    ----------
    shape : int or tuple of int
    seed : int in [0, 2**64)
    stream : int in [0, 2**64) or str
    offset : int in [0, 2**64); indices wrap modulo 2**64
    chunks : "auto", int, str, tuple or dict
        As ``dask.array`` takes them.
    device : {"cpu", "cuda"}

    Returns
    -------
    dask.array.Array of uint32 (numpy or CuPy blocks), the same words for any chunking.
    """
    import fastinit
    from ._stream import check_offset, check_seed, stream_id
    shape = _init._check_shape(shape)
    device = check_device(device)
    probe = fastinit.random_bits((0,) * len(shape), seed=seed, stream=stream, offset=offset, device=device)
    kwargs = {"seed": check_seed(seed), "stream": stream_id(stream), "offset": check_offset(offset)}
    norm = _normalize(chunks, shape, np.dtype(np.uint32))
    return _Plan("bits", _spec("random_bits", (), kwargs, np.dtype(np.uint32), device, shape, norm), norm,
                 _meta(probe)).array()

