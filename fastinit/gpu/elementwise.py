"""GPU elementwise kernels (activations): ``fastinit.cpu.elementwise`` on the GPU.

Same four modes, same arrays, same math: the activation's ``(x, p) -> (f, f')``
of ``fastinit._act_registry.MATH`` is compiled for the device, 16-bit
data is widened to float32 and rounded back once with ``storage.codec``.
One kernel per (activation, mode, kind, gated), built on first use
(``_act_kernel``, ``_gated_kernel``). A thread takes four consecutive
elements per grid step, read and written with one vector access per array
(16 bytes for float32, 8 for 16-bit; ``runtime.load4`` / ``store4``) when the
arrays are aligned there, element by element otherwise:
BENCHMARKS.md "GPU facts" measured that wide accesses are what reaches the bandwidth limit
(98% vs 72% for the fill).

float32 (and 16-bit) results are the CPU's bits: the float32 math is
``+ - * /``, ``sqrt``, selects, bit casts and explicit ``fma`` only, compiled
without FMA contraction (``runtime``). float64 math calls libm on the CPU and
libdevice on the GPU (``exp``, ``log1p``, ``erfc``, ...): those agree to a
few ulp, not bit for bit.
"""
from __future__ import annotations

import numpy as np
from numba import njit

from .._act_registry import BACKWARD, FORWARD, FUSED, MATH
from ..storage import KIND_BF16, KIND_F64, codec
from . import runtime as rt

cuda = rt.cuda()

I64 = np.int64
F32 = np.float32


@njit(inline="always")
def _p32(prm):
    return F32(prm[0]), F32(prm[1]), F32(prm[2]), F32(prm[3])


@njit(inline="always")
def _p64(prm):
    return prm[0], prm[1], prm[2], prm[3]


_KERNELS = {}


def _kernel(code, mode, kind, gated):
    """The kernel of (math ``code``, mode, kind, gated), built on first use."""
    key = (code, mode, kind, gated)
    kernel = _KERNELS.get(key)
    if kernel is None:
        build = _gated_kernel if gated else _act_kernel
        kernel = _KERNELS[key] = build(MATH[code], mode, kind)
    return kernel


def _act_kernel(fn, mode, kind):
    """``act(x, g, y, gi, n, prm)``: ``cpu.elementwise.act_1d`` over the whole
    arrays, four elements per thread and grid step, for math ``fn``."""
    ld, st = codec(kind)
    params = _p64 if kind == KIND_F64 else _p32
    with_g = mode == BACKWARD or mode == FUSED
    load4, store4, aligned = rt.load4, rt.store4, rt.aligned
    bf16, pack, store2 = kind == KIND_BF16, rt.bf16_packed_any, rt.store2x32

    # The per-element math is one jitted function from raw loads to stored
    # values: under the simulator the kernel body is Python, and a float32
    # returned to Python becomes a float64 that would change the math after it.
    @njit(inline="always")
    def elem(xr, gr, prm):
        p = params(prm)
        f, d = fn(ld(xr), p)
        if mode == BACKWARD or mode == FUSED:
            return st(f), st(ld(gr) * d)
        return st(f), st(d)

    if bf16:
        # bfloat16 results rounded in pairs by one cvt.rn.bf16x2.f32 each and stored
        # packed (runtime.bf16_packed_any): the integer rounding with its NaN select took
        # ~8 SASS instructions per value (benchmarks/gpu_ptx.py --acts)
        @njit(inline="always")
        def elem_f(xr, gr, prm):
            p = params(prm)
            f, d = fn(ld(xr), p)
            if mode == BACKWARD or mode == FUSED:
                return f, ld(gr) * d
            return f, d

        @njit(inline="always")
        def quad(x0, x1, x2, x3, g0, g1, g2, g3, prm):
            y0, d0 = elem_f(x0, g0, prm)
            y1, d1 = elem_f(x1, g1, prm)
            y2, d2 = elem_f(x2, g2, prm)
            y3, d3 = elem_f(x3, g3, prm)
            return pack(y0, y1), pack(y2, y3), pack(d0, d1), pack(d2, d3)

    def act(x, g, y, gi, n, prm):
        t = I64(cuda.grid(1))
        step = I64(cuda.gridsize(1))
        items = (n + 3) // 4
        while t < items:
            i = t * 4
            if (i + 4 <= n and aligned(x, i) and (not with_g or aligned(g, i))
                    and (mode == BACKWARD or aligned(y, i)) and (mode == FORWARD or aligned(gi, i))):
                x0, x1, x2, x3 = load4(x, i)
                if with_g:
                    g0, g1, g2, g3 = load4(g, i)
                else:
                    g0, g1, g2, g3 = x0, x1, x2, x3
                if bf16:
                    y01, y23, d01, d23 = quad(x0, x1, x2, x3, g0, g1, g2, g3, prm)
                    if mode != BACKWARD:
                        store2(y, i, y01, y23)
                    if mode != FORWARD:
                        store2(gi, i, d01, d23)
                else:
                    y0, d0 = elem(x0, g0, prm)
                    y1, d1 = elem(x1, g1, prm)
                    y2, d2 = elem(x2, g2, prm)
                    y3, d3 = elem(x3, g3, prm)
                    if mode != BACKWARD:
                        store4(y, i, y0, y1, y2, y3)
                    if mode != FORWARD:
                        store4(gi, i, d0, d1, d2, d3)
            else:
                for j in range(i, min(i + 4, n)):
                    xr = x[j]
                    yv, gv = elem(xr, g[j] if with_g else xr, prm)
                    if mode != BACKWARD:
                        y[j] = yv
                    if mode != FORWARD:
                        gi[j] = gv
            t += step
    return rt.jit(act)


def _gated_kernel(fn, mode, kind):
    """``gated_act(a, b, g, y, ga, gb, n, prm)``: ``cpu.elementwise.gated_1d``
    over the whole arrays, four elements per thread and grid step."""
    ld, st = codec(kind)
    params = _p64 if kind == KIND_F64 else _p32
    with_g = mode == BACKWARD or mode == FUSED
    load4, store4, aligned = rt.load4, rt.store4, rt.aligned

    @njit(inline="always")  # one jitted function from loads to stored values: see _act_kernel
    def gated_elem(ar, br, gr, prm):
        p = params(prm)
        f, d = fn(ld(ar), p)
        bv = ld(br)
        if mode == BACKWARD or mode == FUSED:
            gv = ld(gr)
            return st(f * bv), st(gv * bv * d), st(gv * f)
        return st(f * bv), st(bv * d), st(f)

    def gated_act(a, b, g, y, ga, gb, n, prm):
        t = I64(cuda.grid(1))
        step = I64(cuda.gridsize(1))
        items = (n + 3) // 4
        while t < items:
            i = t * 4
            if (i + 4 <= n and aligned(a, i) and aligned(b, i) and (not with_g or aligned(g, i))
                    and (mode == BACKWARD or aligned(y, i))
                    and (mode == FORWARD or (aligned(ga, i) and aligned(gb, i)))):
                a0, a1, a2, a3 = load4(a, i)
                b0, b1, b2, b3 = load4(b, i)
                if with_g:
                    g0, g1, g2, g3 = load4(g, i)
                else:
                    g0, g1, g2, g3 = a0, a1, a2, a3
                y0, p0, q0 = gated_elem(a0, b0, g0, prm)
                y1, p1, q1 = gated_elem(a1, b1, g1, prm)
                y2, p2, q2 = gated_elem(a2, b2, g2, prm)
                y3, p3, q3 = gated_elem(a3, b3, g3, prm)
                if mode != BACKWARD:
                    store4(y, i, y0, y1, y2, y3)
                if mode != FORWARD:
                    store4(ga, i, p0, p1, p2, p3)
                    store4(gb, i, q0, q1, q2, q3)
            else:
                for j in range(i, min(i + 4, n)):
                    ar = a[j]
                    yv, gav, gbv = gated_elem(ar, b[j], g[j] if with_g else ar, prm)
                    if mode != BACKWARD:
                        y[j] = yv
                    if mode != FORWARD:
                        ga[j] = gav
                        gb[j] = gbv
            t += step
    return rt.jit(gated_act)


def run(arrays, prm, mode, code, kind, gated=False):
    """``fastinit.cpu.elementwise.run`` for 1-D contiguous device arrays."""
    n = arrays[0].size
    if n == 0:
        return
    prm = tuple(float(v) for v in prm) + (0.0,) * (4 - len(prm))
    rt.launch(_kernel(code, mode, kind, gated), (n + 3) // 4, *arrays, n, prm)


__all__ = ["run"]
