"""GPU elementwise kernels (activations): ``fastinit.cpu.elementwise`` on the GPU.

Same four modes, same arrays, same math: the activation's ``(x, p) -> (f, f')``
registered in ``cpu.elementwise._MATH`` is compiled for the device, 16-bit
data is widened to float32 and rounded back once with ``distributions.codec``.
One kernel per (activation, mode, kind, gated), built on first use; one
element per thread and grid step, so consecutive threads touch consecutive
addresses (coalesced).

float32 (and 16-bit) results are the CPU's bits: the float32 math is
``+ - * /``, ``sqrt``, selects, bit casts and explicit ``fma`` only, compiled
without FMA contraction (``runtime``). float64 math calls libm on the CPU and
libdevice on the GPU (``exp``, ``log1p``, ``erfc``, ...): those agree to a
few ulp, not bit for bit.
"""
from __future__ import annotations

import numpy as np
from numba import njit

from ..cpu.elementwise import _MATH, BACKWARD, FORWARD, FUSED
from ..distributions import KIND_F64, codec
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
    key = (code, mode, kind, gated)
    kernel = _KERNELS.get(key)
    if kernel is not None:
        return kernel
    fn = _MATH[code]
    ld, st = codec(kind)
    params = _p64 if kind == KIND_F64 else _p32

    # The per-element math is one jitted function from raw loads to stored
    # values: under the simulator the kernel body is Python, and a float32
    # returned to Python becomes a float64 that would change the math after it.
    if not gated:
        @njit(inline="always")
        def elem(xr, gr, prm):
            p = params(prm)
            f, d = fn(ld(xr), p)
            if mode == BACKWARD or mode == FUSED:
                return st(f), st(ld(gr) * d)
            return st(f), st(d)

        def act(x, g, y, gi, n, prm):
            i = I64(cuda.grid(1))
            step = I64(cuda.gridsize(1))
            while i < n:
                if mode == BACKWARD or mode == FUSED:
                    yv, gv = elem(x[i], g[i], prm)
                else:
                    xr = x[i]
                    yv, gv = elem(xr, xr, prm)
                if mode != BACKWARD:
                    y[i] = yv
                if mode != FORWARD:
                    gi[i] = gv
                i += step
        kernel = rt.jit(act)
    else:
        @njit(inline="always")
        def gated_elem(ar, br, gr, prm):
            p = params(prm)
            f, d = fn(ld(ar), p)
            bv = ld(br)
            if mode == BACKWARD or mode == FUSED:
                gv = ld(gr)
                return st(f * bv), st(gv * bv * d), st(gv * f)
            return st(f * bv), st(bv * d), st(f)

        def gated_act(a, b, g, y, ga, gb, n, prm):
            i = I64(cuda.grid(1))
            step = I64(cuda.gridsize(1))
            while i < n:
                if mode == BACKWARD or mode == FUSED:
                    yv, gav, gbv = gated_elem(a[i], b[i], g[i], prm)
                else:
                    ar = a[i]
                    yv, gav, gbv = gated_elem(ar, b[i], ar, prm)
                if mode != BACKWARD:
                    y[i] = yv
                if mode != FORWARD:
                    ga[i] = gav
                    gb[i] = gbv
                i += step
        kernel = rt.jit(gated_act)
    _KERNELS[key] = kernel
    return kernel


def run(arrays, prm, mode, code, kind, gated=False):
    """``fastinit.cpu.elementwise.run`` for 1-D contiguous device arrays."""
    n = arrays[0].size
    if n == 0:
        return
    prm = tuple(float(v) for v in prm) + (0.0,) * (4 - len(prm))
    rt.launch(_kernel(code, mode, kind, gated), n, *arrays, n, prm)


__all__ = ["run"]
