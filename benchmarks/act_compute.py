"""One-core, cache-resident throughput of the activation kernels: the compute
ceiling, without memory traffic (what decides whether a fused call can reach
the copy bandwidth).

    python benchmarks/act_compute.py gelu softplus sigmoid --dtype float32 --mode fused
"""
import argparse
import time

import numba
import numpy as np

from fastinit import _act_registry as R
from fastinit.cpu import elementwise as ew
from fastinit.cpu import runtime

MODES = {"forward": R.FORWARD, "backward": R.BACKWARD, "fused": R.FUSED, "fused_d": R.FUSED_D}
KINDS = {"float32": (ew.KIND_F32, np.float32), "float64": (ew.KIND_F64, np.float64),
         "bfloat16": (ew.KIND_BF16, np.uint16), "float16": (ew.KIND_F16, np.uint16)}


def measure(name, dtype="float32", mode="fused", n=1 << 15, calls=200, repeat=5):
    kind, dt = KINDS[dtype]
    x32 = np.random.default_rng(0).standard_normal(n).astype(np.float32) * 3
    if dtype == "bfloat16":
        x = (x32.view(np.uint32) >> 16).astype(np.uint16)
    elif dtype == "float16":
        x = x32.astype(np.float16).view(np.uint16)
    else:
        x = x32.astype(dt)
    one = {"bfloat16": 0x3F80, "float16": 0x3C00}.get(dtype, 1)  # 1.0 in the stored format
    g = np.full_like(x, one)  # (integer 1 would be a subnormal 16-bit float: x86 assists, 20x slower)
    y, gi = np.empty_like(x), np.empty_like(x)
    e = R.ACTIVATIONS[name]
    code, prm = e.resolve(R.check_params(e, {}))
    p4 = tuple(float(v) for v in prm) + (0.0,) * (4 - len(prm))
    sig = (numba.typeof(x),) * 4 + ew._SCALARS + (numba.types.literal(code), numba.types.literal(kind))
    k = runtime.specialize(ew.act_1d, sig)
    m = MODES[mode]
    k(x, g, y, gi, 0, n, p4, m, 0, code, kind)  # 0: regular stores (cache-resident)
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        for _ in range(calls):
            k(x, g, y, gi, 0, n, p4, m, 0, code, kind)
        best = min(best, time.perf_counter() - t)
    return n * calls / best / 1e9


def main():
    p = argparse.ArgumentParser()
    p.add_argument("names", nargs="+")
    p.add_argument("--dtype", default="float32", choices=list(KINDS))
    p.add_argument("--mode", default="fused", choices=list(MODES))
    a = p.parse_args()
    for name in a.names:
        print(f"{name} {a.dtype} {a.mode}: {measure(name, a.dtype, a.mode):.2f} G elements/s (one core, L2)")


if __name__ == "__main__":
    main()
