"""Where a first call's time goes with an empty Numba cache (cold) and from the disk cache (warm).

Each call runs in a fresh process with its own empty ``NUMBA_CACHE_DIR``; Numba's
event API (``numba.core.event``) records every compilation (``numba:compile``,
per dispatcher and signature) and the time spent holding the LLVM lock
(``numba:llvm_lock``: optimisation and code generation). Printed per call:
wall time, the call's own CPU time and the whole process's (robust when other
processes load the machine; the call's excludes the interpreter start and the
imports), the compile events (top-level ones: nested compilations count inside
their parent) and LLVM's share. Then the same call again in a new process on
the now-filled cache (warm).

``--passes`` adds the biggest compiler passes of the cold call, each pass's own
time (Numba's pass manager, nested compilations subtracted, summed over every
function compiled) and how many functions went through Numba's front end
(``translate_bytecode``: once per compiled function and once per call site
Numba's IR inliner expands).

    python benchmarks/first_call.py                    # the calls of issue 22
    python benchmarks/first_call.py --passes "fi.normal((256, 256), seed=0)"
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile

CALLS = {
    "kaiming_uniform_": "fi.kaiming_uniform_(np.empty((256, 256), np.float32), seed=0)",
    "normal_": "fi.normal_(np.empty((256, 256), np.float32), seed=0)",
    "trunc_normal_": "fi.trunc_normal_(np.empty((256, 256), np.float32), std=0.02, seed=0)",
    "gelu (fused)": "fi.activations.fused('gelu', np.ones(4096, np.float32), np.ones(4096, np.float32))",
    "constant_ (big)": "fi.constant_(np.empty(1 << 22, np.float32), 0.5)",
    "model init": ("import torch; m = torch.nn.Sequential(torch.nn.Embedding(1000, 64), torch.nn.Linear(64, 64), "
                   "torch.nn.LayerNorm(64)); fi.kaiming_uniform_(m[1].weight, a=5 ** 0.5, seed=0); "
                   "fi.uniform_(m[1].bias, -0.1, 0.1, seed=1); fi.normal_(m[0].weight, seed=2); "
                   "fi.ones_(m[2].weight); fi.zeros_(m[2].bias); "
                   "fi.trunc_normal_(torch.empty(64, 64), std=0.02, seed=3)"),
}

CHILD = r"""
import json, resource, sys, time
from collections import defaultdict
t0 = time.perf_counter()
from numba.core import event
from numba.core.compiler_machinery import PassManager
passes, nested, frontends = defaultdict(float), [], [0]
_run_pass = PassManager._runPass
def timed_pass(self, index, pss, state):
    nested.append(0.0)
    t = time.perf_counter()
    try:
        return _run_pass(self, index, pss, state)
    finally:
        dt = time.perf_counter() - t
        passes[pss.name()] += dt - nested.pop()
        frontends[0] += pss.name() == "translate_bytecode"
        if nested:
            nested[-1] += dt
PassManager._runPass = timed_pass
class Rec(event.Listener):
    def __init__(self):
        self.stack, self.out, self.llvm = [], [], 0.0
    def on_start(self, ev):
        self.stack.append((ev.kind, ev.data, time.perf_counter()))
    def on_end(self, ev):
        kind, data, t = self.stack.pop()
        dt = time.perf_counter() - t
        if kind == "numba:compile" and not any(k == "numba:compile" for k, _, _ in self.stack):
            d = data.get("dispatcher")
            self.out.append((getattr(d, "__qualname__", str(d)), dt))
        if kind == "numba:llvm_lock":
            self.llvm += dt
rec = Rec()
for k in ("numba:compile", "numba:llvm_lock"):
    event.register(k, rec)
import numpy as np
import fastinit as fi
t1 = time.perf_counter()
ru1 = resource.getrusage(resource.RUSAGE_SELF)
exec(sys.argv[1])
t2 = time.perf_counter()
ru = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({"import_s": t1 - t0, "call_s": t2 - t1, "cpu_s": ru.ru_utime + ru.ru_stime,
                  "call_cpu_s": ru.ru_utime + ru.ru_stime - ru1.ru_utime - ru1.ru_stime,
                  "compiles": rec.out, "llvm_s": rec.llvm,
                  "passes": sorted(passes.items(), key=lambda x: -x[1])[:5], "frontends": frontends[0]}))
"""


def measure(call, cache_dir):
    env = dict(os.environ, NUMBA_CACHE_DIR=cache_dir)
    r = subprocess.run([sys.executable, "-c", CHILD, call], env=env, capture_output=True, text=True)
    if r.returncode:
        raise RuntimeError(r.stderr[-2000:])
    return json.loads(r.stdout.strip().splitlines()[-1])


def main(argv):
    show_passes = "--passes" in argv
    argv = [a for a in argv if a != "--passes"]
    calls = {c: c for c in argv} if argv else CALLS
    for label, call in calls.items():
        with tempfile.TemporaryDirectory() as d:
            cold = measure(call, d)
            warm = measure(call, d)
        comp = ", ".join(f"{n} {t:.2f}" for n, t in sorted(cold["compiles"], key=lambda x: -x[1]))
        print(f"{label}: cold call {cold['call_s']:.2f} s wall, {cold['call_cpu_s']:.2f} s CPU "
              f"(process CPU {cold['cpu_s']:.2f} s, "
              f"LLVM {cold['llvm_s']:.2f} s; compiles: {comp or 'none'}); "
              f"warm call {warm['call_s']:.3f} s (import {warm['import_s']:.2f} s)", flush=True)
        if show_passes:
            top = ", ".join(f"{n} {t:.2f}" for n, t in cold["passes"])
            print(f"    cold passes (own s): {top}; front ends run: {cold['frontends']}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
