"""Non-temporal (streaming) stores for the CPU kernels.

A regular store to a line that is not in cache first reads the line (the
read-for-ownership), so a big output costs a read and a write of memory per
line; a non-temporal store writes the whole line through a write-combining
buffer and reads nothing. Numba has no streaming store and LLVM's loop
vectorizer refuses a ``!nontemporal`` scalar store it cannot prove aligned
("nontemporal store instruction cannot be vectorized", checked in the loop
vectorizer's legality), so this module writes the vector store itself: one
64-byte line per ``_nt_line`` call, an explicit ``<N x T>`` store with
``!nontemporal`` metadata and ``align 64`` (``vmovntps``/``vmovntdq``/
``vmovntpd``, two ymm stores on AVX2, one zmm store where 512-bit vectors are
legal). The kernels compute into an L1 tile with regular stores and
``stream_copy`` moves the tile out: regular stores for the head and tail that
do not fill an aligned line, streaming stores for the lines between. A task
that streamed ends with ``sfence`` (``store_fence``): streaming stores are
weakly ordered, and the thread that hands the result on must not run ahead of
them.

Nothing here changes a value: the same bits are stored, only how.
"""
from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic

#: bytes per cache line (every x86-64 and Arm server CPU Numba targets)
LINE = 64


@intrinsic
def _address(typingctx, arr):
    """The address of ``arr``'s first element, as an int64."""
    def codegen(context, builder, sig, args):
        a = context.make_array(sig.args[0])(context, builder, args[0])
        return builder.ptrtoint(a.data, ir.IntType(64))
    return types.int64(arr), codegen


@intrinsic
def _nt_line(typingctx, dst, i, src, j):
    """Store the 64 bytes at ``src[j:]`` to ``dst[i:]`` with one non-temporal
    vector store; ``&dst[i]`` must be 64-byte aligned, ``src`` any (same dtype)."""
    if not (isinstance(dst, types.Array) and isinstance(src, types.Array) and dst.dtype == src.dtype):
        return None

    def codegen(context, builder, sig, args):
        ety = context.get_data_type(sig.args[0].dtype)
        size = context.get_abi_sizeof(ety)
        vty = ir.VectorType(ety, LINE // size)
        d = context.make_array(sig.args[0])(context, builder, args[0])
        s = context.make_array(sig.args[2])(context, builder, args[2])
        sp = builder.bitcast(builder.gep(s.data, [args[3]], inbounds=True), vty.as_pointer())
        dp = builder.bitcast(builder.gep(d.data, [args[1]], inbounds=True), vty.as_pointer())
        v = builder.load(sp, align=size)
        st = builder.store(v, dp, align=LINE)
        st.set_metadata("nontemporal", builder.module.add_metadata([ir.Constant(ir.IntType(32), 1)]))
        return context.get_dummy_value()
    return types.void(dst, i, src, j), codegen


@intrinsic
def store_fence(typingctx):
    """``sfence`` on x86 (orders the streaming stores before what follows);
    a sequentially consistent ``fence`` elsewhere."""
    def codegen(context, builder, sig, args):
        if builder.module.triple.startswith(("x86_64", "i686", "i386")):
            fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(ir.VoidType(), []),
                                                "llvm.x86.sse.sfence")
            builder.call(fn, [])
        else:
            builder.fence("seq_cst")
        return context.get_dummy_value()
    return types.void(), codegen


@njit(inline="always")
def line_head(dst, d0):
    """Elements of ``dst`` from ``d0`` up to the first 64-byte boundary, or -1
    if ``&dst[d0]`` is not a multiple of the item size (no element starts a line)."""
    size = dst.itemsize
    a = _address(dst) + d0 * size
    if a % size != 0:
        return -1
    return ((LINE - a % LINE) % LINE) // size


@njit(inline="always")
def stream_copy(dst, d0, src, n):
    """``dst[d0:d0 + n] = src[:n]``: streaming stores for the whole aligned
    lines, regular ones for the head and tail (same dtype, contiguous)."""
    per = LINE // dst.itemsize
    h = line_head(dst, d0)
    if h < 0 or h > n:
        h = n
    lines = (n - h) // per
    for k in range(h):
        dst[d0 + k] = src[k]
    for k in range(lines):
        _nt_line(dst, d0 + h + k * per, src, h + k * per)
    for k in range(h + lines * per, n):
        dst[d0 + k] = src[k]
