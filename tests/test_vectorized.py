"""The hot loops must stay SIMD: a structural check of the generated code (no timing)."""
import platform

import llvmlite.binding as ll
import numba
import numpy as np
import pytest
from numba import njit, types

from fastinit import distributions as D
from fastinit.cpu import fill

X86_AVX2 = platform.machine() in ("x86_64", "AMD64") and ll.get_host_cpu_features().get("avx2", False)


@pytest.mark.skipif(not X86_AVX2, reason="checks x86 AVX2/AVX-512 code generation")
@pytest.mark.parametrize("dist,kind,dtype", [(D.UNIFORM, fill.KIND_F32, np.float32),
                                             (D.NORMAL, fill.KIND_F32, np.float32),
                                             (D.NORMAL, fill.KIND_BF16, np.uint16),
                                             (D.TRUNC_NORMAL, fill.KIND_F32, np.float32),
                                             (D.TRUNC_NORMAL_CENTRAL, fill.KIND_BF16, np.uint16)])
def test_fill_kernel_is_vectorized(dist, kind, dtype):
    # an uncached twin of the kernel: Numba disables inspection of cached code
    twin = njit(error_model="numpy")(fill.fill_rows.py_func)
    out = np.empty((1, 64), dtype)
    sig = (numba.typeof(out), numba.typeof(np.zeros(1, np.uint64))) + fill._FILL_SCALARS + (
        types.literal(dist), types.literal(kind))
    twin.compile(sig)
    asm = twin.inspect_asm(sig)
    vec = asm.count("ymm") + asm.count("zmm")
    assert vec > 100, "the fill loop no longer vectorizes"
    assert asm.count("vpmuludq") >= 20, "Philox multiplies are no longer vector vpmuludq"
    if dist == D.NORMAL:
        assert "vsqrtps" in asm and "vdivps" in asm, "the Box-Muller math is not vectorized"
        # the sampler loop: its constants are _fmath.hoisted (broadcast before the
        # loop), not re-broadcast from the constant pool at every use (28
        # vbroadcastss per 8 pairs before); two Box-Muller chains per iteration
        # (planar buf)
        body = next(b for b in _loop_bodies(asm) if "vsqrtps" in b)
        # (float constants by _fmath.hoisted, the bit tricks' integer ones by
        # _fmath.opaque: 1 broadcast left per iteration, 2026-11-23)
        n_bcast = body.count("vbroadcastss") + body.count("vpbroadcastd") + body.count("movabsq")
        assert n_bcast <= 4, f"{n_bcast} constant broadcasts per iteration: hoisting lost"
        assert body.count("vsqrtps") == 2 and body.count("vdivps") == 2
        if ll.get_host_cpu_features().get("fma", False):
            # the log and sincos polynomials are explicit FMAs (_fmath.neg2_log_odd23)
            assert body.count("vfmadd") >= 20, "the Box-Muller polynomials lost their vector FMAs"
        if kind == fill.KIND_BF16:
            # 16-bit values leave as 32-bit words (fill._store_block): a pair
            # merged by vpblendw, no 16-bit packs and byte shuffles
            assert "vpblendw" in body and "vpackusdw" not in body and "vpshufb" not in body
    if dist == D.TRUNC_NORMAL_CENTRAL:
        # staged 16-bit: the float32 sampler loop (4 Giles chains) is vectorized
        assert "vdivps" in asm and asm.count("vfmadd") + asm.count("vmulps") >= 40


def _loop_bodies(asm):
    """The instructions between each label and the backward jump that closes its loop."""
    import re
    lines = asm.splitlines()
    labels = {ln.rstrip(":"): i for i, ln in enumerate(lines) if re.match(r"^\.LBB\d+_\d+:", ln)}
    for i, ln in enumerate(lines):
        m = re.match(r"\s+j\w+\s+(\.LBB\d+_\d+)", ln)
        if m and m.group(1) in labels and labels[m.group(1)] < i:
            yield "\n".join(lines[labels[m.group(1)] + 1:i + 1])


@pytest.mark.skipif(not X86_AVX2, reason="checks x86 AVX2/AVX-512 code generation")
@pytest.mark.parametrize("name,kind", [("gelu", "f32"), ("softplus", "f32"), ("tanh", "f32"), ("mish", "bf16")])
def test_activation_kernel_is_vectorized(name, kind):
    import re

    from fastinit import activations as A
    from fastinit.cpu import elementwise as ew
    e = A.ACTIVATIONS[name]
    code, _ = e.resolve(A._params(e, {}))
    twin = njit(error_model="numpy")(ew.act_1d.py_func)
    arr = np.zeros(8, np.float32 if kind == "f32" else np.uint16)
    k = ew.KIND_F32 if kind == "f32" else ew.KIND_BF16
    sig = (numba.typeof(arr),) * 4 + ew._SCALARS + (types.literal(code), types.literal(k))
    twin.compile(sig)
    asm = twin.inspect_asm(sig)
    assert asm.count("ymm") + asm.count("zmm") > 200, "the activation loops no longer vectorize"
    # no libm call survived (exp/log/tanh/erf would stop the loop from vectorizing)
    assert not re.search(r"\$(expf?|logf?|log1pf?|expm1f?|tanhf?|erff?|erfcf?)\b", asm)
    if ll.get_host_cpu_features().get("fma", False):
        assert re.search(r"vfn?m(add|sub)\d+ps\s.*ymm", asm), "the polynomials lost their vector FMAs"
