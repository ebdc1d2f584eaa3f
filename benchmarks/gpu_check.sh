#!/usr/bin/env bash
# One call on a lent GPU machine (the `device` tool; see BENCHMARKS.md "GPU"):
# the real-GPU tests, then `fastinit bench --device cuda`. Logs and JSON go to
# $OUT (the tool brings that folder back), the summary to stdout.
#
#   bash benchmarks/gpu_check.sh [tests|sass|bench|profile|all] [extra bench args...]
#
# tests: tests/test_gpu.py on the real GPU (pytest-xdist, 16 workers: the CPU
# references compile in parallel; includes cvt.rn.bf16x2 on all 2**32 float32);
# sass: benchmarks/gpu_ptx.py --check --acts (SASS per block, registers; the same
# table a CPU-only machine prints); bench: `fastinit bench --device cuda` with the
# extra args (bench.gpu_times: CUDA events, interleaved rounds, median of 10; the SM
# clock sampled every 500 ms into $OUT/clocks.csv while it runs); profile: Nsight
# Compute on the fill kernels (gpu_profile.py); all: the four.
#
# The machine's numpy 2.5 breaks numba-cuda 0.30 (BENCHMARKS.md "GPU facts"), so a numpy 2.4
# wheel carried in .whl/ goes first on PYTHONPATH when present.
set -u -o pipefail
what=${1:-all}; shift || true
OUT=${OUT:-$PWD/gpu-out}; mkdir -p "$OUT"
if ls .whl/*.whl >/dev/null 2>&1; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/site .whl/*.whl || exit 1
    export PYTHONPATH=/tmp/site
fi
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm,clocks.mem,memory.total \
    --format=csv | tee "$OUT/smi.txt"
python3 - <<'EOF' | tee "$OUT/versions.txt"
import numpy, numba, torch, cupy, ml_dtypes
import numba.cuda as c
print("numpy", numpy.__version__, "numba", numba.__version__, "torch", torch.__version__,
      "cupy", cupy.__version__, "ml_dtypes", ml_dtypes.__version__, "gpu", c.get_current_device().name)
EOF
rc=0
if [ "$what" = tests ] || [ "$what" = all ]; then
    python3 -m pytest -q -rs -p no:cacheprovider -n 16 --durations=15 tests/test_gpu.py \
        --junitxml="$OUT/gpu-junit.xml" 2>&1 | tee "$OUT/test_gpu.log" | tail -40 || rc=1
fi
if [ "$what" = sass ] || [ "$what" = all ]; then
    python3 benchmarks/gpu_ptx.py --check --acts --json "$OUT/sass.json" 2>&1 | tee "$OUT/sass.log" || rc=1
fi
if [ "$what" = bench ] || [ "$what" = all ]; then
    nvidia-smi --query-gpu=timestamp,clocks.sm,clocks.mem,power.draw,temperature.gpu --format=csv \
        -lms 500 > "$OUT/clocks.csv" 2>&1 &
    smi=$!
    python3 -c 'import sys; from fastinit.cli import main; sys.exit(main())' bench --device cuda \
        --json "$OUT/bench_gpu.json" "$@" 2>&1 | tee "$OUT/bench_gpu.log" || rc=1
    kill "$smi" 2>/dev/null
    python3 - "$OUT" <<'EOF2' | tee -a "$OUT/bench_gpu.log"
import csv, json, sys
out = sys.argv[1]
rows = json.load(open(f"{out}/bench_gpu.json")).get("sm_clock_mhz", {})
print("SM clock read by bench.gpu_times (MHz, after warm-up and after the rounds):", rows)
mhz = [int(r[1].split()[0]) for r in csv.reader(open(f"{out}/clocks.csv")) if r and r[1].strip()[:1].isdigit()]
if mhz:
    print(f"SM clock over the run (nvidia-smi every 500 ms): min {min(mhz)} median {sorted(mhz)[len(mhz) // 2]} "
          f"max {max(mhz)} MHz, {len(mhz)} samples")
EOF2
fi
if [ "$what" = profile ] || [ "$what" = all ]; then
    ncu --kernel-name regex:fill_ --launch-skip 2 --launch-count 4 --section SpeedOfLight \
        --section InstructionStats --section Occupancy python3 benchmarks/gpu_profile.py \
        > "$OUT/ncu.log" 2>&1 || rc=1
    grep -E "^  fill_(blocks|fast)|Duration|DRAM Throughput|Executed Instructions  |Achieved Occupancy" \
        "$OUT/ncu.log" | sed -E 's/\[v[0-9]+,[^]]*\]\(Array<([a-z ]+),.*/ \1/' | cut -c1-90
fi
exit $rc
