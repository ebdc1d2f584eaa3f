"""``fastinit warmup``: compile the CPU kernels into Numba's disk cache ahead of time.

A kernel's first compilation takes seconds (``benchmarks/first_call.py``
measures each); from the disk cache it loads in milliseconds. ``warmup``
compiles the kernels that the named functions run, for the chosen dtypes, in
worker processes (one per core by default: the compiler holds a process-wide
lock, so threads would not help) with a progress bar, for container images
and CI jobs::

    fastinit warmup --all                          # every initializer and activation, 4 dtypes
    fastinit warmup normal_ trunc_normal_ gelu     # what these run
    fastinit warmup --all --dtypes float32,bfloat16 --jobs 2

Each kernel is compiled with exactly the signature the library's own call
builds (``cpu.runtime.kernel_for``), so the cache entry is the one a later call
loads. Numba writes each entry to a temporary file and renames it into place,
so workers (or processes of other jobs) compiling the same kernel at once
leave a valid cache (``tests/test_warmup.py`` runs two at once). The cache
lives where Numba puts it: ``NUMBA_CACHE_DIR`` if set (inherited by the
workers), else next to the package's sources, or a per-user directory when
those are read-only.
"""
from __future__ import annotations

import itertools
import os
import sys
import time

import numpy as np

from . import distributions as D
from . import storage as S
from .storage import KINDS


_TRUNC = ("trunc",)  # the truncated normal: central, full and far-tail variants, chosen per call by the bounds
#: what each initializer runs: samplers (``D.*`` codes, or _TRUNC), "bits" (raw words) or "constant"
_INIT_NEEDS = {
    "uniform_": (D.UNIFORM,), "xavier_uniform_": (D.UNIFORM,), "kaiming_uniform_": (D.UNIFORM,),
    "glorot_uniform_": (D.UNIFORM,), "lecun_uniform_": (D.UNIFORM,), "he_uniform_": (D.UNIFORM,),
    "normal_": (D.NORMAL,), "xavier_normal_": (D.NORMAL,), "kaiming_normal_": (D.NORMAL,),
    "trunc_normal_": _TRUNC, "glorot_normal_": _TRUNC, "lecun_normal_": _TRUNC, "he_normal_": _TRUNC,
    "variance_scaling_": (D.UNIFORM, D.NORMAL) + _TRUNC,
    "orthogonal_": ("orthogonal",), "sparse_": (D.NORMAL, "bits"), "random_bits": ("bits",),
    "constant_": ("constant",), "zeros_": ("constant",), "ones_": ("constant",), "eye_": ("constant",),
    "dirac_": ("constant",),
}


def _activations():
    from . import _act_registry as R  # the entries (numba only: no kernel is built by importing it)
    return R


def names():
    """Every name ``warmup`` accepts: initializers (with or without the
    trailing underscore) and activations (and their aliases)."""
    return sorted(_INIT_NEEDS) + _activations().names()


def _init_jobs(need, kinds):
    if need == "bits":
        return [("fill", D.BITS, S.KIND_U32)]
    if need == "orthogonal":
        return [("fill", D.NORMAL, S.KIND_F64)]  # float64 draws, QR in numpy, on every device
    if need == "constant":
        return [("constant", k) for k in kinds]
    if need == _TRUNC[0]:
        # the bounds pick one of three codes (distributions._prepare_trunc); float64 outputs
        # run one kernel for all three (D.kernel_code)
        return [("fill", d, k) for k in kinds
                for d in dict.fromkeys(D.kernel_code(c, k) for c in (D.TRUNC_NORMAL_CENTRAL, D.TRUNC_NORMAL,
                                                                     D.TRUNC_NORMAL_WIDE))]
    return [("fill", need, k) for k in kinds]


def _act_jobs(name, kinds):
    A = _activations()
    e = A.lookup(name)
    choices = [[(k, v) for v in vals] for k, vals in e.choices.items()]
    codes = {}
    for combo in itertools.product(*choices):
        code, prm = e.resolve(A.check_params(e, dict(combo)))
        tag = e.name + "".join(f" {k}={v}" for k, v in combo)
        codes.setdefault(code, (tag, prm))
    return [("act", code, tag, prm, e.gated, k) for code, (tag, prm) in codes.items() for k in kinds]


def jobs(targets, dtypes=tuple(KINDS)):
    """The kernels (as job tuples) that ``targets`` (names, see ``names``) run
    for ``dtypes``, without duplicates, the slowest to compile first.

    Raises ValueError for an unknown name or dtype (nothing is compiled)."""
    bad = [d for d in dtypes if d not in KINDS]
    if bad:
        raise ValueError(f"unknown dtype(s) {', '.join(map(repr, bad))}; valid: {', '.join(KINDS)}")
    kinds = [KINDS[d] for d in dtypes]
    A = _activations()
    out = []
    for t in targets:
        key = t if t in _INIT_NEEDS else t + "_"
        if key in _INIT_NEEDS:
            for need in _INIT_NEEDS[key]:
                out += _init_jobs(need, kinds)
        elif A.ALIASES.get(t, t) in A.ACTIVATIONS:
            out += _act_jobs(t, kinds)
        else:
            raise ValueError(f"unknown name {t!r}; valid names: {', '.join(names())}")
    seen, uniq = set(), []
    for j in out:
        key = (j[0], j[1], j[-1])  # an activation's kernel is (code, kind), whatever the alias
        if key not in seen:
            seen.add(j)
            seen.add(key)
            uniq.append(j)
    # the samplers with long float math compile several times longer than the rest: first, so
    # the workers finish together
    slow = {D.TRUNC_NORMAL: 0, D.TRUNC_NORMAL_CENTRAL: 0, D.TRUNC_NORMAL_WIDE: 1, D.NORMAL: 2}
    return sorted(uniq, key=lambda j: slow.get(j[1], 3) if j[0] == "fill" else 3)


def label(job):
    """A short name of a job for the progress bar."""
    kname = {v: k for k, v in KINDS.items()}
    kname[S.KIND_U32] = "uint32"
    if job[0] == "fill":
        dname = {getattr(D, n): n.lower() for n in ("UNIFORM", "NORMAL", "TRUNC_NORMAL", "TRUNC_NORMAL_WIDE",
                                                    "TRUNC_NORMAL_CENTRAL", "BITS")}
        return f"{dname.get(job[1], job[1])} {kname[job[2]]}"
    if job[0] == "constant":
        return f"constant {kname[job[1]]}"
    return f"{job[2]} {kname[job[-1]]}"


def compile_job(job):
    """Compile (or load from the cache) one job's kernel, with the signature a
    library call builds; returns the seconds it took."""
    t0 = time.perf_counter()
    if job[0] == "fill":
        from .cpu import fill, runtime
        _, dist, kind = job
        out = np.zeros((1, 8), S.STORAGE[kind])
        runtime.kernel_for(fill.fill_rows, (out, np.zeros(1, np.uint64)), fill._FILL_SCALARS, (dist, kind))
    elif job[0] == "constant":
        from .cpu import constant, runtime
        a = np.zeros(runtime.SMALL + 1, S.STORAGE[job[1]])  # above SMALL: the kernel path
        constant.set_all(a, a.dtype.type(0))
    else:
        from .cpu import elementwise as ew
        _, code, _, prm, gated, kind = job
        arrays = tuple(np.zeros(8, S.STORAGE[kind]) for _ in range(6 if gated else 4))
        ew.run(arrays, prm, ew.FUSED, code, kind, gated)
    return time.perf_counter() - t0


class _TextBar:
    """A plain progress line on stderr when tqdm is not installed."""

    def __init__(self, total, desc):
        self.n, self.total, self.desc = 0, total, desc
        self._show("")

    def _show(self, what):
        w = 30
        done = w * self.n // max(1, self.total)
        sys.stderr.write(f"\r{self.desc} [{'#' * done}{'.' * (w - done)}] {self.n}/{self.total} {what:<32}")
        sys.stderr.flush()

    def update(self, k=1):
        self.n += k
        self._show("")

    def set_postfix_str(self, s):
        self._show(s)

    def close(self):
        sys.stderr.write("\n")


def _bar(total, desc, enabled):
    if not enabled:
        return None
    try:
        from tqdm import tqdm
    except ImportError:
        return _TextBar(total, desc)
    return tqdm(total=total, desc=desc, unit="kernel")


def warmup(targets=None, dtypes=tuple(KINDS), workers=None, progress=True):
    """Compile the kernels of ``targets`` (None: every name) for ``dtypes``
    into the disk cache, in ``workers`` processes (default: one per core).

    Returns ``{label: seconds}`` per kernel (compile or cache-load time in its worker).
    """
    todo = jobs(names() if targets is None else targets, dtypes)
    workers = max(1, min(len(todo), workers or os.cpu_count() or 1))
    times = {}
    bar = _bar(len(todo), "fastinit warmup", progress)
    if workers == 1:
        for j in todo:
            times[label(j)] = compile_job(j)
            if bar is not None:
                bar.set_postfix_str(label(j))
                bar.update()
    else:
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor, as_completed
        # spawn: fresh interpreters (forking a process whose Numba has threads is unsafe)
        with ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn")) as ex:
            futs = {ex.submit(compile_job, j): j for j in todo}
            for f in as_completed(futs):
                times[label(futs[f])] = f.result()
                if bar is not None:
                    bar.set_postfix_str(label(futs[f]))
                    bar.update()
    if bar is not None:
        bar.close()
    return times


def add_parser(sub):
    """Register the ``warmup`` subcommand on ``fastinit``'s argparse subparsers."""
    w = sub.add_parser("warmup", help="compile the CPU kernels into the disk cache (container images, CI)",
                       description="Compile the kernels the named initializers and activations run into Numba's "
                                   "disk cache, in parallel worker processes. NUMBA_CACHE_DIR picks the cache.")
    w.add_argument("names", nargs="*", help="initializers (normal_, trunc_normal, ...) and activations (gelu, ...)")
    w.add_argument("--all", action="store_true", help="every initializer and activation")
    w.add_argument("--dtypes", default=",".join(KINDS), help="comma-separated: float32,float64,float16,bfloat16")
    w.add_argument("--jobs", "-j", type=int, default=None, help="worker processes (default: one per core)")
    w.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    w.set_defaults(fn=_cmd_warmup)
    return w


def _cmd_warmup(args):
    if args.all == bool(args.names):
        print("fastinit warmup: give names or --all (not both)", file=sys.stderr)
        return 2
    if args.jobs is not None and args.jobs < 1:
        print(f"fastinit warmup: --jobs must be >= 1, got {args.jobs}", file=sys.stderr)
        return 2
    dtypes = tuple(d.strip() for d in args.dtypes.split(",") if d.strip())
    try:
        todo = jobs(names() if args.all else args.names, dtypes)
    except ValueError as e:
        print(f"fastinit warmup: {e}", file=sys.stderr)
        return 2
    t0 = time.perf_counter()
    times = warmup(None if args.all else args.names, dtypes, args.jobs, progress=not args.quiet)
    print(f"{len(todo)} kernels in the cache ({time.perf_counter() - t0:.1f} s; "
          f"slowest: {max(times, key=times.get)} {max(times.values()):.1f} s)")
    return 0


__all__ = ["warmup", "jobs", "names", "compile_job", "add_parser"]
