"""Compile every GPU kernel to PTX without a GPU, and report what matters for speed.

Needs numba-cuda (>= 0.30), libNVVM (a CUDA toolkit: ``CUDA_HOME``) and NVRTC
(``pip install 'nvidia-cuda-nvrtc==13.0.*'``), but no driver: Numba-CUDA asks the
driver for the device's compute capability, which this script answers itself
(``--cc``, default 9.0 = H100/H200) by patching three of its lookups. A
development tool, not a test: CI has no numba-cuda, and the patches touch
Numba-CUDA internals (checked with numba-cuda 0.30.4).

For each kernel it prints the global stores (``st.global.v4.f32`` = the 16-byte
store), local-memory traffic (spills; should be 0) and ``fma.rn`` counts
(float32 kernels: only the explicit ``_fmath.fma`` calls; float64 ones also
libdevice's own); with ``cuobjdump`` on PATH and nvJitLink installed
(``pip install nvidia-nvjitlink==13.0.* nvidia-cuda-cuobjdump nvidia-cuda-nvdisasm``)
also the ``FFMA``/``DFMA`` count of the cubin numba-cuda links, which is what runs
(the first H100 run found a cubin with FFMAs from FMA-free PTX:
``runtime._exact_codegen``). Read it with care: ptxas expands the correctly
rounded ``div.rn``/``sqrt.rn`` into Newton steps with FFMAs (22 for one of each,
exact by construction), so only kernels without them must show 0 (uniform, the
raw bits); 2026-11-23, all 168 kernels, 442 s: uniform 0 FFMA, normal 57,
trunc_normal 55 (+ libdevice's DFMA in its float64 tail path). Any kernel that fails to compile is listed at the end and the
exit status is 1.

    CUDA_HOME=/usr/local/cuda-13.0 python benchmarks/gpu_ptx.py

2026-11-23, numba-cuda 0.30.4, CUDA 13.0 libNVVM, sm_90: every fill kernel
(5 samplers x 4 dtypes, raw bits) and every activation kernel (float32 x 4 modes,
float64/float16/bfloat16 fused, gated silu/gelu) compiled, no local memory, 62 s
(119 s once store_values was added, with tests sharing the 2 cores);
fills store with st.global.v4.f32 / v2.f64 / v4.u16, activations also load with
ld.global.v4.f32 / v4.u16 / v2.f64.
"""
from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
import time
import types as pytypes


def _patch_numba_cuda(cc):
    """Let Numba-CUDA compile (not run) kernels with no driver present."""
    import numba.cuda.codegen as codegen
    import numba.cuda.compiler as compiler
    import numba.cuda.dispatcher as dispatcher
    from numba import cuda

    dev = pytypes.SimpleNamespace(compute_capability=cc)
    dispatcher.get_current_device = lambda: dev
    compiler.get_current_device = lambda: dev
    codegen.CUDACodeLibrary._ensure_cc = lambda self, c: c or cc
    dispatcher._Kernel.bind = lambda self: self._codelibrary.get_asm_str()
    cuda.is_available = lambda: True


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cc", default="9.0", help="compute capability, e.g. 9.0 or 8.0")
    args = ap.parse_args(argv)
    cc = tuple(int(v) for v in args.cc.split("."))
    _patch_numba_cuda(cc)

    from numba import types

    from fastinit import activations as A
    from fastinit import distributions as D
    from fastinit.cpu import elementwise as ce
    from fastinit.gpu import elementwise as ge
    from fastinit.gpu import fill as gf
    from fastinit.gpu import runtime as rt

    storage = {D.KIND_F32: types.float32, D.KIND_F64: types.float64, D.KIND_F16: types.uint16,
               D.KIND_BF16: types.uint16, D.KIND_U32: types.uint32}
    failed = []

    cuobjdump = shutil.which("cuobjdump")

    def ptx_of(kernel, argtypes, label):
        try:
            with rt._no_fma_contraction():
                k = kernel.compile(argtypes)
            rt._exact_codegen(k)
            return k, k.library.get_asm_str(cc=cc)
        except Exception as e:  # noqa: BLE001 - report every failure, keep going
            failed.append((label, str(e).splitlines()[0][:300]))
            return None

    def sass_fma(k):
        """FFMA/DFMA in the cubin numba-cuda links (needs nvJitLink and cuobjdump;
        the first H100 run had FFMAs in the LTO cubin of FMA-free PTX)."""
        if cuobjdump is None:
            return ""
        try:
            cubin = k.library.get_cubin(cc=cc)
        except Exception as e:  # noqa: BLE001 - no nvJitLink here: PTX only
            return f" (no cubin: {str(e).splitlines()[0][:40]})"
        with tempfile.NamedTemporaryFile(suffix=".cubin") as f:
            f.write(getattr(cubin, "code", cubin))
            f.flush()
            sass = subprocess.run([cuobjdump, "-sass", f.name], capture_output=True, text=True).stdout
        return f" FFMA {sass.count('FFMA')} DFMA {sass.count('DFMA')}"

    def report(label, compiled):
        if compiled is None:
            return
        k, ptx = compiled
        stores = sorted(set(re.findall(r"st\.global(?:\.v\d)?\.\w+", ptx)))
        local = ptx.count("ld.local") + ptx.count("st.local")
        print(f"{label:<34} stores {','.join(stores):<40} local {local:<4} fma.rn {ptx.count('fma.rn')}"
              f"{sass_fma(k)}")

    t0 = time.perf_counter()
    prm8 = types.UniTuple(types.float64, 8)
    for dist in (D.BITS, D.UNIFORM, D.NORMAL, D.TRUNC_NORMAL, D.TRUNC_NORMAL_WIDE):
        kinds = (D.KIND_U32,) if dist == D.BITS else (D.KIND_F32, D.KIND_F64, D.KIND_F16, D.KIND_BF16)
        for kind in kinds:
            argtypes = (storage[kind][::1], types.uint64[::1]) + (types.int64,) * 3 + (types.uint64,) * 4 + (prm8,)
            report(f"fill dist={dist} kind={kind}", ptx_of(gf._fill_kernel(dist, kind), argtypes, (dist, kind)))
    for kind in (D.KIND_F32, D.KIND_F64, D.KIND_F16, D.KIND_BF16):
        src = types.float64 if kind == D.KIND_F64 else types.float32
        report(f"store_values kind={kind}", ptx_of(gf._cast_kernel(kind), (storage[kind][::1], src[::1], types.int64),
                                                   ("cast", kind)))
    gated_codes = (A._SILU, A._GELU, A._GELU_TANH)
    prm4 = types.UniTuple(types.float64, 4)
    for code in sorted(ce._MATH):
        for kind in (D.KIND_F32, D.KIND_F64, D.KIND_F16, D.KIND_BF16):
            for mode in ((0, 1, 2, 3) if kind == D.KIND_F32 else (2,)):
                for gated in ((False, True) if code in gated_codes else (False,)):
                    arr = storage[kind][::1]
                    argtypes = (arr,) * (6 if gated else 4) + (types.int64, prm4)
                    label = f"act code={code} kind={kind} mode={mode}{' gated' if gated else ''}"
                    report(label, ptx_of(ge._kernel(code, mode, kind, gated), argtypes, label))
    print(f"{time.perf_counter() - t0:.0f} s")
    for label, err in failed:
        print("FAILED", label, err)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
