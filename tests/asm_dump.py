"""Compile the hot kernels for one code-generation target and write their assembly.

Used by ``tests/test_vectorized.py`` in a subprocess, one per target, because Numba
fixes its target CPU at import (``NUMBA_CPU_NAME`` / ``NUMBA_CPU_FEATURES``): so one
machine can check the code LLVM emits for an AVX2 CPU (``znver3``) and for an
AVX-512 one (``sapphirerapids``) without running it. Nothing compiled here is
executed, so a target the host cannot run is fine.

    NUMBA_CPU_NAME=znver3 NUMBA_CPU_FEATURES= python tests/asm_dump.py OUTDIR [CASE,CASE,...]

writes ``OUTDIR/<case>.s`` for every case of ``CASES`` (or those named) and
``OUTDIR/target.json`` (the CPU name and whether AVX-512 code generation is enabled).
"""
from __future__ import annotations

import json
import pathlib
import sys

#: fill cases: (name, distribution code name, storage kind name, numpy dtype name)
FILL_CASES = [("fill-uniform-f32", "UNIFORM", "KIND_F32", "float32"),
              ("fill-normal-f32", "NORMAL", "KIND_F32", "float32"),
              ("fill-normal-bf16", "NORMAL", "KIND_BF16", "uint16"),
              ("fill-trunc-f32", "TRUNC_NORMAL", "KIND_F32", "float32"),
              ("fill-trunccentral-bf16", "TRUNC_NORMAL_CENTRAL", "KIND_BF16", "uint16")]
#: activation cases: (name, activation, storage kind name)
ACT_CASES = [("act-gelu-f32", "gelu", "KIND_F32"), ("act-softplus-f32", "softplus", "KIND_F32"),
             ("act-tanh-f32", "tanh", "KIND_F32"), ("act-mish-bf16", "mish", "KIND_BF16")]
CASES = [c[0] for c in FILL_CASES + ACT_CASES]


def target_info():
    """The CPU Numba compiles for and whether it enables AVX-512 (from LLVM's own
    target description, so a named CPU reports its own features, not the host's)."""
    import llvmlite.binding as ll
    from numba.core import config
    name = config.CPU_NAME or ll.get_host_cpu_name()
    if config.CPU_FEATURES is not None and config.CPU_FEATURES != "":
        feats = config.CPU_FEATURES
    elif config.CPU_NAME:
        # features "" = the named CPU's defaults: ask LLVM which it has
        ll.initialize_all_targets()
        ll.initialize_all_asmprinters()
        tm = ll.Target.from_default_triple().create_target_machine(cpu=name, features="")
        feats = _probe_features(tm)
    else:
        feats = ",".join(("+" if v else "-") + k for k, v in ll.get_host_cpu_features().items())
    return {"cpu": name, "avx512": "+avx512f" in feats.split(","), "fma": "+fma" in feats.split(",")}


def _probe_features(tm):
    """Features of a named CPU: compile a tiny module and read which registers it may use."""
    import llvmlite.binding as ll
    ir = ('define void @f(<16 x float>* %p, <16 x float> %a, <16 x float> %b, <16 x float> %c) {\n'
          '  %m = call <16 x float> @llvm.fma.v16f32(<16 x float> %a, <16 x float> %b, <16 x float> %c)\n'
          '  store <16 x float> %m, <16 x float>* %p, align 64\n  ret void\n}\n'
          'declare <16 x float> @llvm.fma.v16f32(<16 x float>, <16 x float>, <16 x float>)\n')
    mod = ll.parse_assembly(ir)
    asm = tm.emit_assembly(mod)
    feats = []
    if "zmm" in asm:
        feats.append("+avx512f")
    if "vfmadd" in asm:
        feats.append("+fma")
    return ",".join(feats)


def dump(outdir, cases=None):
    import numba
    import numpy as np
    from numba import njit, types

    from fastinit import _act_registry as R
    from fastinit import distributions as D
    from fastinit.cpu import elementwise as ew
    from fastinit.cpu import fill

    out = pathlib.Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    for name, dist, kind, dtype in FILL_CASES:
        if cases is not None and name not in cases:
            continue
        # an uncached twin of the kernel: Numba disables inspection of cached code
        twin = njit(error_model="numpy")(fill.fill_rows.py_func)
        arr = np.empty((1, 64), dtype)
        sig = (numba.typeof(arr), numba.typeof(np.zeros(1, np.uint64))) + fill._FILL_SCALARS + (
            types.literal(getattr(D, dist)), types.literal(getattr(fill, kind)))
        twin.compile(sig)
        (out / f"{name}.s").write_text(twin.inspect_asm(sig))
    for name, act, kind in ACT_CASES:
        if cases is not None and name not in cases:
            continue
        e = R.ACTIVATIONS[act]
        code, _ = e.resolve(R.check_params(e, {}))
        twin = njit(error_model="numpy")(ew.act_1d.py_func)
        arr = np.zeros(8, np.float32 if kind == "KIND_F32" else np.uint16)
        sig = (numba.typeof(arr),) * 4 + ew._SCALARS + (types.literal(code), types.literal(getattr(ew, kind)))
        twin.compile(sig)
        (out / f"{name}.s").write_text(twin.inspect_asm(sig))
    (out / "target.json").write_text(json.dumps(target_info()))


if __name__ == "__main__":
    dump(sys.argv[1], sys.argv[2].split(",") if len(sys.argv) > 2 else None)
