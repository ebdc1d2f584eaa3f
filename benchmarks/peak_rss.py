"""Peak resident memory of one large initialization, against the output's size.

    python benchmarks/peak_rss.py [GiB] [op]      (default: 6 GiB float32, normal)

Runs the call in a fresh process and reads ru_maxrss; the budget is
output + 1% + 64 MiB (issue #2). Prints one line and exits non-zero over budget.
"""
import json
import subprocess
import sys

CHILD = r"""
import resource, json, sys, numpy as np, fastinit as fi
gib, op = float(sys.argv[1]), sys.argv[2]
fi.normal((64, 64), seed=0); fi.trunc_normal((64, 64), seed=0); fi.uniform((64, 64), seed=0)  # JIT first
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
n = int(gib * 2**30) // 4
a = getattr(fi, op)((n // 4096, 4096), seed=1)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps({"op": op, "output_bytes": a.nbytes, "baseline_rss": base, "peak_rss": peak}))
"""


def main():
    gib = float(sys.argv[1]) if len(sys.argv) > 1 else 6.0
    op = sys.argv[2] if len(sys.argv) > 2 else "normal"
    out = subprocess.run([sys.executable, "-c", CHILD, str(gib), op], capture_output=True, text=True, check=True)
    r = json.loads(out.stdout)
    extra = r["peak_rss"] - r["baseline_rss"] - r["output_bytes"]
    budget = 0.01 * r["output_bytes"] + 64 * 2**20
    print(f"{op}: output {r['output_bytes'] / 2**30:.2f} GiB, peak RSS {r['peak_rss'] / 2**30:.3f} GiB "
          f"(interpreter+JIT baseline {r['baseline_rss'] / 2**20:.0f} MiB); extra over output+baseline "
          f"{extra / 2**20:.1f} MiB, budget {budget / 2**20:.0f} MiB -> {'OK' if extra <= budget else 'OVER'}")
    sys.exit(0 if extra <= budget else 1)


if __name__ == "__main__":
    main()
