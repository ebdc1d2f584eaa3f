"""Writing initialized tensors to disk: ``.npy`` and ``.safetensors`` files, and Zarr v3 stores.

``make`` writes a file through a memory map in row chunks (shards along axis 0 with
``global_shape``/``start``), atomically: a temporary file beside the target, then
``os.replace``. ``make_zarr`` writes a Zarr v3 store through Dask (the threaded
scheduler, a ``distributed.LocalCluster``, or an existing cluster): every block of
``fastinit.dask.<name>`` is made and written by one task on the worker that runs
it, into its own Zarr chunk, so no lock is needed; the store is built beside the
target and renamed at the end, and ``resume=True`` finishes an interrupted run by
writing only the chunks it had not completed. Both hold exactly the values of the
in-memory call ``fastinit.<name>(shape, ..., seed=, stream=)``: the bits do not
depend on the chunks, the workers or the retries.

Used by the ``fastinit make`` command (``fastinit.cli``); Dask and Zarr are imported
only by ``make_zarr``.
"""
from __future__ import annotations

import json
import math
import os
import shutil
import sys
import tempfile

import numpy as np

from . import init as _init

_SAFETENSORS_DTYPES = {"float32": "F32", "float64": "F64", "float16": "F16", "bfloat16": "BF16"}


def make(name, shape, path, dtype="float32", seed=0, stream=0, params=None, chunk_bytes=1 << 28,
         progress=None):
    """Write ``fastinit.<name>(shape, **params, dtype, seed, stream)`` to ``path``
    (.npy or .safetensors), filled in row chunks of about ``chunk_bytes`` through
    a memory map, atomically (temporary file + rename). Returns ``path``.

    Chunks are shards along axis 0 (``global_shape``/``start``), so the file
    holds exactly the values of the in-memory call.
    """
    import fastinit as fi
    from .dispatch import resolve_dtype
    params = dict(params or {})
    fn_ = getattr(fi, f"{name}_", None)
    if fn_ is None or name not in _MAKEABLE:
        raise ValueError(f"unknown initializer {name!r}; choose one of {', '.join(sorted(_MAKEABLE))}")
    dt = resolve_dtype(dtype)
    shape = tuple(int(s) for s in shape)
    ext = os.path.splitext(path)[1].lower()
    if ext not in (".npy", ".safetensors"):
        raise ValueError(f"output file must end in .npy or .safetensors (or .zarr: make_zarr), got {path!r}")
    # validate every argument on a tiny shard before touching the disk
    probe_shape = (min(1, shape[0]),) + shape[1:] if shape else ()
    if name not in _WHOLE:  # the deterministic fills take no seed, stream or shard (as _fill_chunks calls them)
        fn_(np.empty(probe_shape, dt), **params,
            **({"seed": seed, "stream": stream, "global_shape": shape, "start": (0,) * len(shape)}
               if name in _RANDOM else {}))
    nbytes = math.prod(shape) * dt.itemsize
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".fastinit-", suffix=ext, dir=directory)
    try:
        if ext == ".npy":
            header = _npy_header(dt, shape)
        else:
            meta = {"weight": {"dtype": _SAFETENSORS_DTYPES[dt.name], "shape": list(shape),
                               "data_offsets": [0, nbytes]},
                    "__metadata__": {"fastinit": json.dumps({"name": name, "seed": seed, "stream": stream,
                                                             "params": params})}}
            blob = json.dumps(meta, separators=(",", ":")).encode()
            blob += b" " * (-len(blob) % 8)
            header = len(blob).to_bytes(8, "little") + blob
        total = len(header) + nbytes
        try:
            os.posix_fallocate(fd, 0, total)  # a full disk fails here, before any data is written
        except OSError as e:
            raise OSError(e.errno, f"cannot reserve {total:,} bytes for {path}: {e.strerror}") from None
        os.write(fd, header)
        if nbytes:
            mm = np.memmap(tmp, dtype=dt, mode="r+", offset=len(header), shape=shape)
            _fill_chunks(name, fn_, mm, shape, params, seed, stream, chunk_bytes, progress)
            mm.flush()
            del mm
        os.fsync(fd)
        os.close(fd)
        fd = None
        os.replace(tmp, path)
    except BaseException:
        if fd is not None:
            os.close(fd)
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


# names without the trailing "_", from fastinit.init's tables (the one list of initializers)
_MAKEABLE = {name[:-1] for name in _init.INITIALIZERS}
_RANDOM = _MAKEABLE - {name[:-1] for name in _init.DETERMINISTIC_INITIALIZERS}  # take seed= and stream=
_WHOLE = {"orthogonal", "sparse", "eye", "dirac"}  # need the whole tensor at once


def _npy_header(dt, shape):
    from numpy.lib import format as npformat
    import io
    buf = io.BytesIO()
    descr = npformat.dtype_to_descr(dt) if dt.name != "bfloat16" else "<V2"
    if dt.name == "bfloat16":
        raise ValueError(".npy cannot describe bfloat16; write .safetensors for bfloat16")
    npformat.write_array_header_1_0(buf, {"descr": descr, "fortran_order": False, "shape": shape})
    return buf.getvalue()


def _fill_chunks(name, fn_, mm, shape, params, seed, stream, chunk_bytes, progress):
    if name in _WHOLE or len(shape) == 0:
        kw = {"seed": seed, "stream": stream} if name in _RANDOM else {}
        fn_(mm, **params, **kw)
        if progress:
            progress(1, 1)
        return
    row_bytes = max(1, mm.nbytes // max(shape[0], 1))
    step = max(1, chunk_bytes // row_bytes)
    kw = {"seed": seed, "stream": stream} if name in _RANDOM else {}
    for r0 in range(0, shape[0], step):
        r1 = min(shape[0], r0 + step)
        shard = mm[r0:r1]
        if name in _RANDOM:
            fn_(shard, **params, **kw, global_shape=shape, start=(r0,) + (0,) * (len(shape) - 1))
        else:
            fn_(shard, **params)
        if progress:
            progress(r1, shape[0])


# ------------------------------------------------------------------ Zarr through Dask
#: what make_zarr can write: the initializers fastinit.dask has (dirac needs the whole tensor)
_ZARRABLE = _MAKEABLE - {"dirac"}
_DONE = ".fastinit-done"  # inside the partial store: one empty file per completed chunk
_INSTALL_DASK = "pip install 'fastinit-kernels[dask]'"


def zarr_paths(path):
    """``(target, partial, old)``: the store, the partial store a run builds beside it
    (renamed onto the target at the end; ``resume`` continues it), and where an
    overwritten store is parked for the instant of the swap."""
    target = os.path.abspath(os.fspath(path)).rstrip(os.sep)
    d, base = os.path.split(target)
    return target, os.path.join(d, f".{base}.fastinit-partial"), os.path.join(d, f".{base}.fastinit-old")


def _store_block(path, block, start, done_dir, mark):
    """Write one block into its Zarr chunk(s) of the store at ``path``, then record it
    done (an empty file): a chunk is recorded only once its bytes are in the store
    (Zarr's LocalStore writes each chunk to a temporary file and renames it)."""
    import zarr
    # write every chunk as it is: skipping the check for chunks equal to the fill value
    # saves a pass over each block (a fastinit block is never all zeros unless it is zeros)
    z = zarr.open_array(path, mode="r+").with_config({"write_empty_chunks": True})
    z[tuple(slice(s, s + n) for s, n in zip(start, block.shape))] = block
    with open(os.path.join(done_dir, mark), "wb"):
        pass
    return np.ones((1,) * block.ndim, bool)


def _skipped(nd):
    return np.ones((1,) * nd, bool)


def _stored_spec(path):
    """The ``fastinit`` attribute of the Zarr array at ``path``, or None when there is
    no readable Zarr array there."""
    try:
        with open(os.path.join(path, "zarr.json")) as f:
            meta = json.load(f)
    except (OSError, ValueError):
        return None
    return meta.get("attributes", {}).get("fastinit")


def _spec_diff(have, want):
    if have is None:
        return "no fastinit Zarr array"
    return ", ".join(f"{k} {have.get(k)!r} (asked {want[k]!r})" for k in want if have.get(k) != want[k])


def _clean_partial_files(store):
    """Remove the temporary files a killed Zarr write can leave (``*.partial``)."""
    for root, _, files in os.walk(store):
        for f in files:
            if f.endswith(".partial"):
                os.unlink(os.path.join(root, f))


def make_zarr(name, shape, path, *, dtype="float32", seed=0, stream=0, params=None, chunks="auto",
              workers=None, scheduler=None, resume=False, overwrite=False, progress=False):
    """Write ``fastinit.<name>(shape, **params, dtype, seed, stream)`` to a Zarr v3 store
    through Dask.

    Parameters
    ----------
    name : str
        An allocating initializer of ``fastinit.dask`` ("normal", "kaiming_uniform", ...).
    shape : tuple of int
    path : str or os.PathLike
        The store (a directory, conventionally ``*.zarr``).
    dtype : {"float32", "float64", "float16"}
        Zarr v3 has no bfloat16 (write ``.safetensors`` for it).
    seed, stream, params
        As the in-memory call takes them.
    chunks : "auto", int, str or tuple
        Dask blocks = Zarr chunks (regular: equal sizes but the last on each axis), so
        every task writes whole chunks of its own and no lock is needed. "auto":
        ``dask.config`` ``array.chunk-size`` (128 MiB).
    workers : int, optional
        Run on a new ``distributed.LocalCluster`` of this many worker processes (one
        thread each).
    scheduler : str, optional
        Address of a running Dask scheduler (its workers must see ``path``).
        Default (neither): Dask's threaded scheduler in this process.
    resume : bool
        Continue the partial store an interrupted run left, writing only the chunks it
        had not completed; a finished store with the same array is left as it is.
    overwrite : bool
        Replace an existing store (kept until the new one is complete).
    progress : bool
        Dask's progress bar on stderr (``dask.diagnostics.ProgressBar``, or
        ``distributed.progress`` on a cluster).

    Returns
    -------
    dict
        ``path``, ``chunks`` (total), ``written`` and ``skipped`` (already complete).

    Raises
    ------
    ValueError, TypeError, ImportError, FileExistsError
        Bad arguments (the in-memory API's own errors), an unknown name, bfloat16,
        irregular chunks, or a store that exists without ``resume``/``overwrite``:
        all before anything is written.
    RuntimeError
        A run that failed midway; the partial store stays for ``resume``.

    Notes
    -----
    Atomic: the store is built at ``.<name>.fastinit-partial`` beside ``path`` and
    renamed onto it when every chunk is recorded complete (one empty marker file per
    chunk, written after the chunk). A process or worker killed midway loses at most
    the chunks in flight; ``resume`` rewrites exactly the unrecorded ones, with the
    same bits. Durability against a power loss is the file system's (no fsync).
    """
    plan, want = _zarr_plan(name, shape, params, seed, stream, chunks, dtype, workers, scheduler)
    target, partial, old = zarr_paths(path)
    if not os.path.isdir(os.path.dirname(target)):
        raise FileNotFoundError(f"directory {os.path.dirname(target)} does not exist")
    nblocks = math.prod(len(c) for c in plan.chunks)
    if not _open_partial(path, plan, want, resume, overwrite):  # a finished store, kept as it is
        return {"path": os.fspath(path), "chunks": nblocks, "written": 0, "skipped": nblocks}
    done_dir = os.path.join(partial, _DONE)
    flags, todo = _write_graph(plan, partial, done_dir)
    try:
        _run(flags, workers, scheduler, progress)
    except Exception as e:
        n = len(os.listdir(done_dir))
        raise RuntimeError(f"writing {path} failed after {n} of {nblocks} chunks ({type(e).__name__}: {e}); "
                           f"they are kept in {partial}: run again with --resume (resume=True) to finish") from e
    missing = nblocks - len(os.listdir(done_dir))
    if missing:  # cannot happen unless another process removed markers meanwhile
        raise RuntimeError(f"{missing} of {nblocks} chunks of {partial} are not recorded complete; "
                           "run again with --resume")
    shutil.rmtree(done_dir)
    if os.path.lexists(target):  # overwrite: the old store stays until the new one is complete
        if os.path.lexists(old):
            _remove(old)
        os.rename(target, old)
        os.rename(partial, target)
        _remove(old)
    else:
        os.rename(partial, target)
    return {"path": os.fspath(path), "chunks": nblocks, "written": todo, "skipped": nblocks - todo}


def _zarr_plan(name, shape, params, seed, stream, chunks, dtype, workers, scheduler):
    """``make_zarr``'s arguments checked -> (``fastinit.dask`` plan, the ``fastinit`` attribute
    the store holds), before anything is written."""
    params = dict(params or {})
    if name not in _ZARRABLE:
        extra = "; dirac needs the whole tensor: write .npy" if name == "dirac" else ""
        raise ValueError(f"unknown initializer {name!r}; choose one of {', '.join(sorted(_ZARRABLE))}{extra}")
    if workers is not None and scheduler is not None:
        raise ValueError("pass workers (a new LocalCluster) or scheduler (a running one), not both")
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 1):
        raise ValueError(f"workers must be a positive int, got {workers!r}")
    try:
        import dask.array  # noqa: F401
        import zarr  # noqa: F401
        from . import dask as fdask
    except ImportError as e:
        raise ImportError(f"writing Zarr needs dask, distributed and zarr: {_INSTALL_DASK} ({e})") from None
    kw = {"seed": seed, "stream": stream} if name in _RANDOM else {}
    plan = fdask._plan(name, shape, (), {**params, **kw}, chunks, dtype, "cpu")  # validates every argument
    spec, shape = plan.spec, plan.spec.shape
    if spec.dtype == "bfloat16":
        raise ValueError("Zarr v3 has no bfloat16 data type; write .safetensors for bfloat16")
    for ax, c in enumerate(plan.chunks):
        if any(b != c[0] for b in c[:-1]) or (c and c[-1] > c[0]):
            raise ValueError(f"Zarr needs regular chunks (equal sizes, the last may be smaller); axis {ax} has {c}")
    want = json.loads(json.dumps({
        "initializer": name, "shape": list(shape), "dtype": spec.dtype, "params": params,
        "seed": spec.kwargs.get("seed"), "stream": spec.kwargs.get("stream"),
        "chunks": [c[0] if c else 0 for c in plan.chunks]}))
    if name in _RANDOM and isinstance(stream, str):
        want["stream_name"] = stream
    return plan, want


def _open_partial(path, plan, want, resume, overwrite):
    """What exists decides, before anything is written: False for a finished store that
    ``resume`` keeps; else the partial store is ready to write into (created, or an
    interrupted run's continued or replaced) and True."""
    import zarr
    target, partial, _ = zarr_paths(path)
    if os.path.lexists(target) and not overwrite:
        if not resume:
            raise FileExistsError(f"{path} exists; pass --resume (resume=True) to keep a finished store or "
                                  "finish an interrupted one, or --overwrite (overwrite=True) to replace it")
        have = _stored_spec(target)
        if have != want:
            raise FileExistsError(f"{path} exists and holds a different array ({_spec_diff(have, want)}); "
                                  "pass --overwrite to replace it")
        return False
    if os.path.lexists(partial):
        have = _stored_spec(partial)
        if resume and have is not None and have != want:
            raise FileExistsError(f"{partial} (an interrupted run) holds a different array "
                                  f"({_spec_diff(have, want)}); pass --overwrite to start over")
        if not resume and not overwrite:
            raise FileExistsError(f"an interrupted run left {partial}; pass --resume to finish it or "
                                  "--overwrite to start over")
        if have is None or not resume:  # unreadable (killed while being created) or replaced
            shutil.rmtree(partial)
    if os.path.lexists(partial):
        _clean_partial_files(partial)
    else:
        zarr.create_array(store=partial, shape=plan.spec.shape,
                          chunks=tuple(max(c[0], 1) if c else 1 for c in plan.chunks),
                          dtype=np.dtype(plan.spec.dtype), compressors=None, fill_value=0,
                          attributes={"fastinit": want}, zarr_format=3, config={"write_empty_chunks": True})
    os.makedirs(os.path.join(partial, _DONE), exist_ok=True)
    return True


def _write_graph(plan, partial, done_dir):
    """(Dask array of one flag per chunk, chunks to write): one task per chunk not yet
    recorded in ``done_dir``, making the block (``fastinit.dask``'s own task, inline) and
    writing it into ``partial``."""
    import dask.array as da
    from dask.highlevelgraph import HighLevelGraph
    done = set(os.listdir(done_dir))
    nd = len(plan.spec.shape)
    wname = f"fastinit-zarr-{plan.name}"
    dsk, todo = {}, 0
    for idx, start, bshape in plan.blocks():
        mark = ".".join(map(str, idx)) or "0"
        if mark in done:
            dsk[(wname,) + idx] = (_skipped, nd)
        else:
            dsk[(wname,) + idx] = (_store_block, partial, plan.task(start, bshape), start, done_dir, mark)
            todo += 1
    if todo:
        dsk.update(plan.extra())
    flags = da.Array(HighLevelGraph.from_collections(wname, dsk, dependencies=()), wname,
                     tuple((1,) * len(c) for c in plan.chunks), meta=np.empty((0,) * nd, bool))
    return flags, todo


def _remove(path):
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path)
    else:
        os.unlink(path)


def _run(flags, workers, scheduler, progress):
    """Compute the write tasks: Dask's threads, a new LocalCluster or a running cluster,
    with Dask's own progress bar on stderr."""
    import contextlib
    if workers is None and scheduler is None:
        from dask.diagnostics import ProgressBar
        with ProgressBar(out=sys.stderr) if progress else contextlib.nullcontext():
            flags.compute(scheduler="threads")
        return
    try:
        from distributed import Client, LocalCluster
        from distributed import progress as dist_progress
    except ImportError as e:
        raise ImportError(f"workers/scheduler need distributed: {_INSTALL_DASK} ({e})") from None
    with contextlib.ExitStack() as stack:
        if workers is not None:
            cluster = stack.enter_context(LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                                       dashboard_address=None))
            client = stack.enter_context(Client(cluster, set_as_default=False))
        else:
            client = stack.enter_context(Client(scheduler, set_as_default=False))
        future = client.compute(flags)
        if progress:
            with contextlib.redirect_stdout(sys.stderr), client.as_current():  # the text bar writes to stdout
                dist_progress(future)
            print(file=sys.stderr)
        future.result()
