"""Initializer rates of one checkout, for an A/B between two commits run as alternating processes.

    PYTHONPATH=/path/to/checkout-a python benchmarks/branch_ab.py A
    PYTHONPATH=/path/to/checkout-b python benchmarks/branch_ab.py B     # then A, B again

Prints G elements/s (best of 5 after a warm-up call, default threads) for uniform_, normal_,
trunc_normal_ (std 0.02 on [-0.04, 0.04]) and kaiming_uniform_ on 2**26 float32 elements.
Each checkout compiles into its own ``__pycache__``: run each once before timing.
"""
import time, numpy as np, fastinit as fi, sys
n = 1 << 26
out = {}
for name, f in [("uniform_", lambda a: fi.uniform_(a, seed=1)), ("normal_", lambda a: fi.normal_(a, seed=1)),
                ("trunc_normal_", lambda a: fi.trunc_normal_(a, std=0.02, a=-0.04, b=0.04, seed=1)),
                ("kaiming_uniform_", lambda a: fi.kaiming_uniform_(a.reshape(8192, -1), a=5**0.5, seed=1))]:
    a = np.empty(n, np.float32); f(a)
    ts = []
    for _ in range(5):
        t = time.perf_counter(); f(a); ts.append(time.perf_counter() - t)
    out[name] = n / min(ts) / 1e9
print(sys.argv[1], " ".join(f"{k} {v:.2f}" for k, v in out.items()))
