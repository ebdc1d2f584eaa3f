"""The GPU fill kernels' instruction budget, checked without a GPU.

``benchmarks/gpu_ptx.py --check`` compiles each fill kernel's fast path for sm_90 the
way ``fastinit.gpu.runtime`` does (no FMA contraction, no LTO), disassembles the cubin
and fails when the SASS instructions per Philox block of the hot loop, or the registers,
exceed ``FILL_TARGETS`` (issue 18: the kernels are issue-bound, so every instruction
per block is bandwidth lost). It runs in a subprocess: the script patches numba-cuda's
device lookups to compile with no driver.

Needs the ``cuda`` extra's numba-cuda, libNVVM and nvJitLink wheels plus nvdisasm and
cuobjdump (``pip install nvidia-cuda-nvdisasm nvidia-cuda-cuobjdump``); skips where any
is absent (CI's test extra has none of them), and under the CUDA simulator.
"""
import importlib.util
import json
import os
import subprocess
import sys

import pytest
from conftest import repo_root


def _toolchain():
    if os.environ.get("NUMBA_ENABLE_CUDASIM") == "1":
        return "the CUDA simulator is on: no cubin to read"
    for mod in ("numba_cuda", "cuda.bindings"):
        try:
            if importlib.util.find_spec(mod) is None:
                return f"no {mod} (pip install 'fastinit-kernels[cuda]')"
        except ModuleNotFoundError:
            return f"no {mod} (pip install 'fastinit-kernels[cuda]')"
    sys.path.insert(0, os.path.join(repo_root(), "benchmarks"))
    try:
        import gpu_ptx
    finally:
        sys.path.pop(0)
    missing = [t for t in ("nvdisasm", "cuobjdump") if gpu_ptx.tool(t) is None]
    if missing:
        return f"no {' '.join(missing)} (pip install nvidia-cuda-nvdisasm nvidia-cuda-cuobjdump)"
    return None


def test_fill_fast_paths_within_their_sass_targets(tmp_path):
    why = _toolchain()
    if why:
        pytest.skip(why)
    out = tmp_path / "sass.json"
    env = dict(os.environ)
    env.pop("NUMBA_ENABLE_CUDASIM", None)
    r = subprocess.run([sys.executable, "benchmarks/gpu_ptx.py", "--check", "--json", str(out), "--only",
                        "uniform float32", "uniform bfloat16", "normal float32", "normal bfloat16",
                        "trunc_normal central float32"],
                       cwd=repo_root(), env=env, capture_output=True, text=True, timeout=1800)
    text = r.stdout + r.stderr
    if r.returncode != 0 and ("NvvmSupportError" in text or "libNVVM cannot be found" in text):
        pytest.skip("no libNVVM (the cuda extra's nvidia-nvvm wheel, or CUDA_HOME): " + text[-300:])
    assert r.returncode == 0, text[-4000:]
    rows = {row["kernel"]: row for row in json.loads(out.read_text())["rows"]}
    assert len(rows) == 5, rows
    for label, row in rows.items():
        sass, regs = row["target"]
        assert row["per_block"] <= sass and row["registers"] <= regs, (label, row)
        # Philox4x32-10: 20 products of 32 x 32 -> 64 bits, one IMAD.WIDE.U32 each (_stream._mul_wide32);
        # the 64 x 64 products it replaced took an extra add of the zero high word each
        assert row["classes"]["int mul"] <= 20, (label, row)
