#!/usr/bin/env bash
# One call on a lent GPU machine (the `device` tool; see BENCHMARKS.md "GPU"):
# the real-GPU tests, then `fastinit bench --device cuda`. Logs and JSON go to
# $OUT (the tool brings that folder back), the summary to stdout.
#
#   bash benchmarks/gpu_check.sh [tests|bench|profile|all] [extra bench args...]
#
# tests: tests/test_gpu.py on the real GPU (pytest-xdist, 16 workers: the CPU
# references compile in parallel); bench: `fastinit bench --device cuda` with the
# extra args; profile: Nsight Compute on the fill kernels (gpu_profile.py);
# all: the three.
#
# The machine's numpy 2.5 breaks numba-cuda 0.30 (GPU_NOTES.md), so a numpy 2.4
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
if [ "$what" = bench ] || [ "$what" = all ]; then
    python3 -c 'import sys; from fastinit.cli import main; sys.exit(main())' bench --device cuda \
        --json "$OUT/bench_gpu.json" "$@" 2>&1 | tee "$OUT/bench_gpu.log" || rc=1
fi
if [ "$what" = profile ] || [ "$what" = all ]; then
    ncu --kernel-name regex:fill_blocks --launch-skip 2 --launch-count 4 --section SpeedOfLight \
        --section InstructionStats --section Occupancy python3 benchmarks/gpu_profile.py \
        > "$OUT/ncu.log" 2>&1 || rc=1
    grep -E "^  fill_blocks|Duration|DRAM Throughput|Executed Instructions  |Achieved Occupancy" \
        "$OUT/ncu.log" | sed -E 's/\[v[0-9]+,[^]]*\]\(Array<([a-z ]+),.*/ \1/' | cut -c1-90
fi
exit $rc
