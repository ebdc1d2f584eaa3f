"""The CPU kernels' runtime: thread pool, kernel specializer, cache stamp, streaming policy.

The kernels themselves (``fill.fill_rows``, ``constant.set_range``,
``elementwise.act_1d``/``gated_1d``) are serial, ``nogil=True`` and
``cache=True``; this module runs them (``tiles``/``run_tiles``: a small
thread pool over tiles of the output), finds their compiled specializations
(``specialize``/``kernel_for``: literal-typed entry points, looked up once),
makes the on-disk cache safe (``_stamp_dependencies``, ``_lock_saves``) and
says which outputs go out with streaming stores (``streams``). It mirrors
``fastinit/gpu/runtime.py``, the same plumbing for the GPU kernels.

Why Python threads and not ``parallel=True``
--------------------------------------------
A small thread pool runs tiles of the serial kernels. Measured on a 2-core
AVX2 machine (2026-11-22): a ``parallel=True`` driver costs ~0.45 s of
compilation in every new process per (distribution, dtype), cannot be cached
safely (numba#4807: cache corruption when processes compile concurrently),
and a ``prange`` body that inlines the Philox loop lost vectorization (0.46 vs
1.9 G elements/s for uniform). The cached serial kernel loads in milliseconds.
Tiling does not change any value: every element is a function of its logical
index only.
"""
from __future__ import annotations

import hashlib
import os
import pathlib
import threading
from concurrent.futures import ThreadPoolExecutor

import numba
from numba import types

# ---------------------------------------------------------------- cache stamp
#: the package whose source every cached kernel's stamp covers
_PACKAGE = pathlib.Path(__file__).resolve().parents[1]
_SOURCE_DIGEST = None


def source_digest():
    """sha256 over every ``fastinit/**/*.py`` (relative path and bytes, in path order).

    A cached kernel can inline code from any fastinit module (the samplers, the
    float math, the Philox rounds, the store paths, the activations' registered
    math, ...); hashing the whole package is the rule that needs no list kept by
    hand. Computed once per process: 29 files, 0.45 MB, 0.7 ms (Zen 5, warm page cache).
    """
    global _SOURCE_DIGEST
    if _SOURCE_DIGEST is None:
        h = hashlib.sha256()
        for p in sorted(_PACKAGE.rglob("*.py")):
            rel = p.relative_to(_PACKAGE).as_posix().encode()
            data = p.read_bytes()
            h.update(b"%d:%s:%d:" % (len(rel), rel, len(data)))
            h.update(data)
        _SOURCE_DIGEST = h.hexdigest()
    return _SOURCE_DIGEST


def _stamp_dependencies(dispatcher):
    """Fold the package's source (``source_digest``) into a cached kernel's stamp.

    Numba stamps a cache with the mtime and size of the function's own file
    only, so an edit (or upgrade) of ``_stream``, ``_fmath`` or
    ``distributions`` would keep loading the stale kernel: seen here, a fixed
    float64 sampler kept returning the old values. Any edit of the package now
    recompiles every kernel once. This uses Numba's private
    ``_cache._cache_file._source_stamp``; if that ever moves, caching still
    works as before and ``tests/test_cache.py`` fails to say so. Also makes the
    cache's saves safe across processes (``_lock_saves``).
    """
    cache_file = getattr(getattr(dispatcher, "_cache", None), "_cache_file", None)
    if cache_file is None or not hasattr(cache_file, "_source_stamp"):
        return None
    cache_file._source_stamp = (cache_file._source_stamp, source_digest())
    _lock_saves(cache_file)
    return cache_file._source_stamp


def _lock_saves(cache_file):
    """Make each save of a cache entry one step for every process sharing the cache.

    Numba (``caching.IndexDataCacheFile.save``) reads the function's index, adds the
    new key with the first free data-file number and replaces the index, with no lock:
    two processes saving *different* specializations at once (two test workers, two
    jobs of one user) both take number k, and one key can end up naming the other's
    code, which Numba then registers under the other signature (``specialize`` fails
    with a KeyError, in every later process too). An exclusive ``flock`` on a file
    beside the index around the save removes the race; loads need none (every file is
    written to a temporary name and renamed). Without ``fcntl`` (Windows) nothing changes.
    """
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not on POSIX
        return
    save = cache_file.save

    def locked_save(key, data):
        os.makedirs(cache_file._cache_path, exist_ok=True)
        with open(cache_file._index_path + ".lock", "ab") as fh:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
            try:
                save(key, data)
            finally:
                fcntl.flock(fh.fileno(), fcntl.LOCK_UN)

    cache_file.save = locked_save



# ---------------------------------------------------------------- thread driver
_POOL = None
_POOL_LOCK = threading.Lock()
_POOL_PID = None

#: elements per task at most (``tiles``: one task per thread below threads x TASK).
#: Each task costs ~20-25 us of Python and hand-over: 1 GiB float32, 2 threads, best of
#: 10 (2026-11-23): TASK 2**20 -> 2**24, uniform 2.29-2.31 -> 2.41-2.42, normal
#: 1.41-1.42 -> 1.46 G elements/s (2**26: no further gain)
TASK = 1 << 24
#: below this many elements, run in the calling thread
SMALL = 1 << 16
#: tasks per thread below threads x TASK elements (``benchmarks/task_size.py`` sweeps it)
PER_THREAD = 1


def _pool(n):
    global _POOL, _POOL_PID
    with _POOL_LOCK:
        if _POOL is None or _POOL_PID != os.getpid() or _POOL._max_workers < n:
            _POOL = ThreadPoolExecutor(max_workers=max(n, numba.config.NUMBA_NUM_THREADS),
                                       thread_name_prefix="fastinit")
            _POOL_PID = os.getpid()
        return _POOL


def tiles(rows, cols, nthreads):
    """Split a rows x cols fill into (r0, r1, c0, c1) tiles: one per thread, or
    of about TASK elements for big fills.

    One task per thread (``PER_THREAD``), not four as before: every element
    costs the same, so there is nothing to balance, and each task costs ~20 us
    (2 threads, float32, 2026-11-23, 4 -> 1 per thread: 2**20 elements uniform
    1.45 -> 1.68, normal 0.99 -> 1.08 G elements/s; 2**23: 1.98 -> 2.03, 1.22 ->
    1.23; 2**26: 2.16 -> 2.18, 1.29 -> 1.32; best of 9)."""
    total = rows * cols
    task = min(TASK, max(SMALL, -(-total // (PER_THREAD * nthreads))))
    cb = min(cols, max(4, -(-task // 4) * 4))
    rb = max(1, -(-task // cb))
    return [(r0, min(rows, r0 + rb), c0, min(cols, c0 + cb))
            for r0 in range(0, rows, rb) for c0 in range(0, cols, cb)]


def run_tiles(fn, rows, cols, *args):
    """Run ``fn(r0, r1, c0, c1, *args)`` over the tiles, on numba's thread count."""
    nthreads = numba.get_num_threads()
    if rows * cols <= SMALL or nthreads == 1:
        fn(0, rows, 0, cols, *args)
        return
    futures = [_pool(nthreads).submit(fn, *t, *args) for t in tiles(rows, cols, nthreads)]
    for f in futures:
        f.result()


_ENTRY = {}
_ENTRY_LOCK = threading.Lock()


def specialize(dispatcher, argtypes):
    """Compiled entry point of ``dispatcher`` for ``argtypes`` (literals included).

    Calling a dispatcher whose body uses ``literally`` from Python re-resolves
    the literal specialization on every call (~1.5 s each, measured); the entry
    point of the compiled overload is called directly instead (~11 us a call).
    """
    key = (dispatcher, argtypes)
    ep = _ENTRY.get(key)
    if ep is None:
        with _ENTRY_LOCK:
            ep = _ENTRY.get(key)
            if ep is None:
                dispatcher.compile(argtypes)
                ep = _ENTRY[key] = dispatcher.overloads[argtypes].entry_point
    return ep


_KERNELS = {}


def kernel_for(dispatcher, arrays, scalars, literals):
    """``specialize(dispatcher, ...)`` for these arrays (typed as Numba would),
    the scalar types ``scalars`` and the compile-time literals ``literals``.

    Keyed on what ``numba.typeof`` reads from an array (dtype, ndim, layout,
    writeable, aligned) instead of calling it: building the signature each call
    was ~70% of a small fill's ~90 us (64 x 64 float32 ``uniform_``, cProfile).
    """
    # id(scalars): callers pass module constants; hashing Numba types costs ~5 us a call
    key = (dispatcher, tuple((a.dtype, a.ndim, a.flags.c_contiguous, a.flags.f_contiguous,
                              a.flags.writeable, a.flags.aligned) for a in arrays), id(scalars), literals)
    ep = _KERNELS.get(key)
    if ep is None:
        sig = tuple(numba.typeof(a) for a in arrays) + scalars + tuple(types.literal(v) for v in literals)
        ep = _KERNELS[key] = specialize(dispatcher, sig)
    return ep


# ---------------------------------------------------------------- streaming stores
#: write-only fills (``constant_``, ``zeros_``, ...): outputs of at least this many bytes
#: go out with streaming stores (``ntstore``), smaller ones with regular stores, which
#: leave them in cache for the next op. ``benchmarks/streaming.py --threshold`` (Zen 5,
#: 2 threads, 32 MiB L3, other processes loading both cores, 2026-12-01), regular /
#: streamed time of ``constant_`` then the next op's read: 1-16 MiB 0.51-0.78 (streaming
#: slower: the read misses), 32 MiB 0.89, 64-256 MiB 1.26-1.38; 1 GiB alone 1.36.
STREAM_WRITE_ONLY_BYTES = 64 << 20
#: random fills and activations: the same, from this many output bytes; None: never.
#: Measured on the same loaded machine they were slower streamed at every size: uniform
#: float32 0.87-0.96 (256 KiB-128 MiB, fill + read), normal float32 0.88 at 1 GiB,
#: fused relu / gelu / sigmoid at 64 Mi elements 0.93 / 0.62 / 0.87 (CPU-starved kernels
#: pay for the extra tile pass and gain nothing on memory). Set it (``benchmarks/
#: streaming.py``) where a quiet machine shows the gain; the values do not change.
STREAM_BYTES = None


def streams(nbytes, write_only=False):
    """1 if an output of ``nbytes`` is written with streaming stores, else 0
    (``write_only``: a constant fill, ``STREAM_WRITE_ONLY_BYTES``; else ``STREAM_BYTES``)."""
    limit = STREAM_WRITE_ONLY_BYTES if write_only else STREAM_BYTES
    return 1 if limit is not None and nbytes >= limit else 0


__all__ = ["tiles", "run_tiles", "specialize", "kernel_for", "streams", "source_digest",
           "TASK", "SMALL", "PER_THREAD", "STREAM_BYTES", "STREAM_WRITE_ONLY_BYTES"]
