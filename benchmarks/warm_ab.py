"""Warm-kernel rates of one checkout by thread CPU time, for an A/B between two checkouts on a busy machine.

    NUMBA_NUM_THREADS=1 PYTHONPATH=/path/to/checkout-a python benchmarks/warm_ab.py A
    NUMBA_NUM_THREADS=1 PYTHONPATH=/path/to/checkout-b python benchmarks/warm_ab.py B   # then A, B again

With one Numba thread a fill runs in the calling thread, so ``time.thread_time`` measures the
kernel's own CPU time: other processes on the cores stretch the wall time, much less the CPU time
(``branch_ab.py``'s 2-thread wall rates spread by up to 60% inside one checkout at load 9 on the
2-core Zen 5; these by a few percent). Prints G elements/s, best of 30 calls after a warm-up call:
uniform_, normal_, trunc_normal_ (std 0.02 on [-0.04, 0.04]: the central variant; and on the default
bounds: ``trunc_full``) on 2**18 float32 and bfloat16 elements, then fused activations (gelu,
softplus, tanh float32, mish bfloat16, swiglu float32) on 2**16 elements. Each checkout compiles
into its own ``__pycache__``: run each once before timing.
"""
import sys
import time

import ml_dtypes
import numpy as np

import fastinit as fi


def best_rate(n, f, calls=30):
    f()
    ts = []
    for _ in range(calls):
        t = time.thread_time()
        f()
        ts.append(time.thread_time() - t)
    return n / min(ts) / 1e9


def main(label):
    out = {}
    n = 1 << 18
    for dt, tag in ((np.float32, "f32"), (ml_dtypes.bfloat16, "bf16")):
        a = np.empty(n, dt)
        for name, f in [("uniform", lambda: fi.uniform_(a, seed=1)), ("normal", lambda: fi.normal_(a, seed=1)),
                        ("trunc", lambda: fi.trunc_normal_(a, std=0.02, a=-0.04, b=0.04, seed=1)),
                        ("trunc_full", lambda: fi.trunc_normal_(a, std=0.02, seed=1))]:
            out[f"{name}_{tag}"] = best_rate(n, f)
    n = 1 << 16
    for name, dt in [("gelu", np.float32), ("softplus", np.float32), ("tanh", np.float32),
                     ("mish", ml_dtypes.bfloat16), ("swiglu", np.float32)]:
        x = np.linspace(-5, 5, n).astype(dt)
        g = np.ones(n, dt)
        arg = (x, x) if name == "swiglu" else x
        out[name] = best_rate(n, lambda: fi.activations.fused(name, arg, g))
    print(label, " ".join(f"{k} {v:.3f}" for k, v in out.items()), flush=True)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "")
