"""The ``fastinit`` command: ``bench``, ``info`` and ``make``."""
from __future__ import annotations

import argparse
import sys

from .io import make, make_zarr  # noqa: F401  (``cli.make`` predates fastinit.io; the command's writers)


def _unknown(what, names, allowed, extra=""):
    """Say which of ``names`` are not in ``allowed`` (True if any, after printing it)."""
    unknown = [n for n in names if n not in allowed]
    if unknown:
        print(f"fastinit bench: unknown {what}(s) {', '.join(unknown)}; choose from {', '.join(allowed)}{extra}",
              file=sys.stderr)
    return bool(unknown)


def _acts_arg(args, bench):
    """The activations ``--acts`` asks for, or None (after saying why) for an unknown one."""
    every = tuple(a[0] for a in bench.ACTS)
    acts = every if args.full else bench.QUICK_ACTS
    if args.acts:
        acts = () if args.acts == "none" else (every if args.acts == "all" else tuple(args.acts.split(",")))
    return None if _unknown("activation", acts, every, ", or all / none") else acts


def _ops_arg(args, bench):
    """The ops ``--ops`` asks for (None: the device's default), or False (after saying why) for an
    unknown one."""
    if not args.ops:
        return None
    ops = tuple(args.ops.split(","))
    return False if _unknown("op", ops, bench.OPS) else ops


def _cmd_bench_gpu(args, bench):
    """``fastinit bench --device cuda``: the same tables on the current GPU."""
    from .gpu import runtime
    try:
        runtime.cuda()
    except (ImportError, RuntimeError) as e:
        print(f"fastinit bench --device cuda: {e}", file=sys.stderr)
        return 2
    n = args.size or ((1 << 30) if args.full else (1 << 28))
    repeat = args.repeat or (5 if args.full else 3)
    dtypes = tuple(args.dtypes.split(",")) if args.dtypes else ("float32", "bfloat16")
    ops = _ops_arg(args, bench)
    acts = _acts_arg(args, bench)
    if acts is None or ops is False:
        return 2
    print(f"fastinit bench --device cuda: {n:,} elements per op, median of {max(repeat, 10)} after "
          f"{bench.GPU_WARMUP_S:g} s of warm-up", file=sys.stderr)

    def progress(s):
        print(f"  {s} ...", file=sys.stderr)

    result = bench.gpu_run(n=n, dtypes=dtypes, repeat=repeat, ops=ops, progress=progress)
    print(bench.format_table(result))
    if acts:
        modes = bench.ACT_MODES if args.full else ("fused",)
        ar = bench.gpu_act_run(n=min(n, 1 << 26), dtypes=dtypes[:1], repeat=repeat, acts=acts, modes=modes,
                               progress=progress)
        print()
        print(bench.format_act_table(ar))
        result["activation_rows"] = ar["rows"]
    if args.json:
        bench.save(result, args.json)
    if args.plot:
        bench.plot(result, args.plot)
    return 0


def _cmd_bench(args):
    from . import bench
    if args.device == "cuda":
        return _cmd_bench_gpu(args, bench)
    ops, acts = _ops_arg(args, bench), _acts_arg(args, bench)
    if ops is False or acts is None:  # said why, before any timing
        return 2
    n = args.size or ((1 << 28) if args.full else (1 << 23))
    # default run: 5 interleaved rounds of 32 MiB calls (best of 2 swung normal float32
    # 0.77-1.37 G elements/s between runs); the 3 extra rounds cost a few seconds
    repeat = 3 if args.full else 5
    print(f"fastinit bench: {n:,} elements per op ({n * 4 / 2**20:.0f} MiB as float32), best of "
          f"{args.repeat or repeat} interleaved rounds; comparing with NumPy and torch where installed",
          file=sys.stderr)
    dtypes = ("float32", "bfloat16", "float16") if args.full else ("float32", "bfloat16")
    if args.dtypes:
        dtypes = tuple(args.dtypes.split(","))
    result = bench.run(n=n, dtypes=dtypes, repeat=args.repeat or repeat, ops=ops,
                       progress=lambda s: print(f"  {s} ...", file=sys.stderr))
    print(bench.format_table(result))
    if acts:
        na = args.size or ((1 << 26) if args.full else (1 << 23))
        modes = bench.ACT_MODES if args.full else ("fused",)
        # default run: float32 only, so the main job (compiles included) stays near 2 minutes
        # (2 m 14 s in a fresh venv, 2026-11-23; 17 s with the compiled kernels cached)
        adt = tuple(d for d in dtypes if d != "float16") if (args.full or args.dtypes) else ("float32",)
        adt = adt or ("float32",)
        print(f"activations: {na:,} elements, modes {', '.join(modes)} (fused = forward + gradient in one "
              "pass; torch: eager forward + autograd backward)", file=sys.stderr)
        ares = bench.act_run(n=na, dtypes=adt, repeat=args.repeat or min(repeat, 3), acts=acts, modes=modes,
                             progress=lambda s: print(f"  {s} ...", file=sys.stderr))
        print()
        print(bench.format_act_table(ares))
        result["activation_rows"] = ares["rows"]
    if args.json:
        bench.save(result, args.json)
        print(f"saved {args.json}", file=sys.stderr)
    if args.plot:
        bench.plot(result, args.plot)
        print(f"saved {args.plot}", file=sys.stderr)
    return 0


def _cmd_info(args):
    import importlib.util

    import numba

    from . import __version__
    from .bench import machine_info
    info = machine_info()
    for mod in ("torch", "ml_dtypes", "cupy", "scipy"):
        if importlib.util.find_spec(mod) is None:
            info[mod] = None
        elif mod == "torch" and info.get("torch") is None:
            import torch
            info["torch"] = torch.__version__
        elif mod != "torch":
            info[mod] = getattr(__import__(mod), "__version__", "installed")
    info["threading_layer_threads"] = numba.config.NUMBA_NUM_THREADS
    info["gpu"] = _gpu_status()
    info["default_device"] = __import__("fastinit").get_default_device()
    info["fastinit"] = __version__
    width = max(len(k) for k in info)
    for k, v in info.items():
        print(f"{k:<{width}}  {v if v is not None else 'not installed'}")
    return 0


def _gpu_status():
    """The GPU the backend would use, or what is missing (info imports numba.cuda
    only here, in the command, never on ``import fastinit``)."""
    import shutil
    import subprocess
    found = None
    if shutil.which("nvidia-smi"):
        try:
            found = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"],
                                   capture_output=True, text=True, timeout=10).stdout.strip() or None
        except (OSError, subprocess.SubprocessError):
            pass
    try:
        from .bench import gpu_name
        from .gpu import runtime
        runtime.cuda()
        return f"{gpu_name()} (fastinit GPU backend ready)"
    except (ImportError, RuntimeError) as e:
        return f"{found}, but: {e}" if found else "none found"


def _parse_shape(text):
    try:
        dims = tuple(int(s) for s in text.replace("x", ",").split(",") if s.strip())
    except ValueError:
        raise SystemExit(f"fastinit make: --shape must be comma-separated ints like 4096,4096; got {text!r}")
    if not dims or any(d < 0 for d in dims):
        raise SystemExit(f"fastinit make: --shape must be non-negative ints; got {text!r}")
    return dims


def _parse_params(items):
    params = {}
    for item in items or ():
        if "=" not in item:
            raise SystemExit(f"fastinit make: --param takes key=value, got {item!r}")
        k, v = item.split("=", 1)
        try:
            params[k] = int(v) if v.lstrip("-").isdigit() else float(v)
        except ValueError:
            params[k] = v
    return params


def _cmd_make(args):
    shape = _parse_shape(args.shape)
    stream = int(args.stream) if args.stream.isdigit() else args.stream

    def bar(done, total):
        if sys.stderr.isatty() or args.progress:
            w = 40
            k = int(w * done / max(total, 1))
            print(f"\r[{'#' * k}{'.' * (w - k)}] {done}/{total} rows", end="" if done < total else "\n",
                  file=sys.stderr, flush=True)

    if args.output.rstrip("/\\").lower().endswith(".zarr"):
        return _cmd_make_zarr(args, shape, stream)
    zarr_only = [f for f, v in (("--chunks", args.chunks), ("--workers", args.workers),
                                ("--scheduler", args.scheduler), ("--resume", args.resume)) if v]
    if zarr_only:
        print(f"fastinit make: {', '.join(zarr_only)} apply to Zarr stores (-o DIR.zarr), not to {args.output}",
              file=sys.stderr)
        return 2
    try:
        make(args.name, shape, args.output, dtype=args.dtype, seed=args.seed, stream=stream,
             params=_parse_params(args.param), progress=bar)
    except (ValueError, TypeError, OSError, ImportError) as e:
        print(f"fastinit make: {e}", file=sys.stderr)
        return 2
    print(args.output)
    return 0


def _parse_chunks(text):
    """``--chunks``: comma-separated ints (-1: the whole axis), or a string Dask reads
    ("auto", a byte size such as "256MiB")."""
    if text is None:
        return "auto"
    t = text.strip()
    parts = t.replace("x", ",").split(",")
    if all(p.strip().lstrip("-").isdigit() for p in parts):
        return tuple(int(p) for p in parts)
    return t


def _cmd_make_zarr(args, shape, stream):
    """``fastinit make ... -o DIR.zarr``: a Zarr v3 store written through Dask."""
    try:
        r = make_zarr(args.name, shape, args.output, dtype=args.dtype, seed=args.seed, stream=stream,
                      params=_parse_params(args.param), chunks=_parse_chunks(args.chunks), workers=args.workers,
                      scheduler=args.scheduler, resume=args.resume, overwrite=args.overwrite,
                      progress=sys.stderr.isatty() or args.progress)
    except (ValueError, TypeError, OSError, ImportError) as e:
        print(f"fastinit make: {e}", file=sys.stderr)
        return 2
    except RuntimeError as e:  # failed midway: the partial store is kept for --resume
        print(f"fastinit make: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("fastinit make: interrupted; the chunks written so far are kept: run again with --resume",
              file=sys.stderr)
        return 130
    if r["skipped"]:
        print(f"fastinit make: {r['skipped']} of {r['chunks']} chunks were already complete, wrote {r['written']}",
              file=sys.stderr)
    print(args.output)
    return 0


def main(argv=None):
    from . import bench
    from .init import INITIALIZERS
    p = argparse.ArgumentParser(prog="fastinit", description="Fast, reproducible weight initialization.")
    sub = p.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("bench", help="compare fastinit with NumPy and torch on this machine")
    b.add_argument("--full", action="store_true", help="1 GiB float32 per op, float16 too, 3 repeats (slow)")
    b.add_argument("--size", type=int, default=None,
                   help="elements per op (default 2**23; --full 2**28, activations 2**26)")
    b.add_argument("--ops", help=f"comma-separated subset of {','.join(bench.OPS)} (default: "
                                 f"{','.join(bench.CPU_OPS)}; cuda: {','.join(bench.QUICK_OPS)}, never orthogonal)")
    b.add_argument("--dtypes", help="comma-separated subset of float32,bfloat16,float16")
    b.add_argument("--acts", help="activations to time: comma-separated (relu,gelu,gelu_tanh,swiglu,...), "
                                  "'all' or 'none' (default gelu fused, float32; --full: all, 3 modes)")
    b.add_argument("--repeat", type=int, default=None, help="timed calls per op (best is kept)")
    b.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    b.add_argument("--json", metavar="FILE", help="save the run as JSON")
    b.add_argument("--plot", metavar="FILE.png", help="save a bar chart (matplotlib)")
    b.set_defaults(fn=_cmd_bench)
    i = sub.add_parser("info", help="versions, threads, SIMD level, GPU")
    i.set_defaults(fn=_cmd_info)
    m = sub.add_parser("make", help="write an initialized tensor to .npy, .safetensors or a Zarr store")
    m.add_argument("name", help=f"initializer: {', '.join(n[:-1] for n in INITIALIZERS)}")
    m.add_argument("--shape", required=True, help="e.g. 65536,65536")
    m.add_argument("--dtype", default="float32", help="float32, float64, float16, bfloat16 (bf16)")
    m.add_argument("--seed", type=int, default=0)
    m.add_argument("--stream", default="0", help="int or name")
    m.add_argument("--param", "-p", action="append", metavar="KEY=VALUE",
                   help="initializer argument, e.g. -p std=0.02 -p mode=fan_out (repeatable)")
    m.add_argument("-o", "--output", required=True,
                   help="FILE.npy, FILE.safetensors, or DIR.zarr (a Zarr v3 store written through Dask)")
    m.add_argument("--progress", action="store_true", help="progress bar even when not a terminal")
    m.add_argument("--chunks", help="Zarr: chunk shape, e.g. 8192,8192 (-1: the whole axis), or a size like 256MiB "
                                    "(default auto: Dask's array.chunk-size, 128 MiB)")
    where = m.add_mutually_exclusive_group()
    where.add_argument("--workers", type=int, metavar="N",
                       help="Zarr: write on a new Dask LocalCluster of N worker processes (default: Dask's threads)")
    where.add_argument("--scheduler", metavar="ADDRESS",
                       help="Zarr: write on a running Dask cluster (tcp://host:8786) whose workers see the output path")
    m.add_argument("--resume", action="store_true",
                   help="Zarr: finish an interrupted run, writing only the chunks it had not completed")
    m.add_argument("--overwrite", action="store_true",
                   help="Zarr: replace an existing store (kept until the new one is complete)")
    m.set_defaults(fn=_cmd_make)
    from .probe import add_parser as _add_probe  # fastinit probe: signal propagation (fastinit/probe.py)
    _add_probe(sub)
    from .warmup import add_parser as _warmup_parser
    _warmup_parser(sub)
    args = p.parse_args(argv)
    return args.fn(args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
