"""How values are stored: the output kinds, their numpy dtypes and their codecs.

Every kernel (both devices, fills and activations) computes in float32 or
float64 and stores one of five output kinds:

=========  ===================  ==============================================
kind       storage dtype        stored value
=========  ===================  ==============================================
KIND_F32   float32              the float32 value
KIND_F64   float64              the float64 value (the float64 math)
KIND_F16   uint16 (IEEE half)   the float32 value rounded to nearest-even
KIND_BF16  uint16 (bfloat16)    the float32 value rounded to nearest-even
KIND_U32   uint32               the raw Philox word (``random_bits``)
=========  ===================  ==============================================

16-bit kinds are written through ``uint16`` views (numpy has no bfloat16 and
the kernels need the bits, not ml_dtypes' scalar type). The kernels are
specialized on the kind as a compile-time literal, so these codes are part of
every cached kernel's signature. The bit conversions themselves (``fptrunc``
to half, bfloat16's integer rounding) are ``fastinit._fmath`` intrinsics; this
module says which one each kind uses, in one place for both devices.
"""
from __future__ import annotations

import numpy as np
from numba import njit

from ._fmath import bf16_bits_to_f32, f16_bits_to_f32, f32_to_bf16_bits, f32_to_bf16_bits_any, f32_to_f16_bits

#: output kinds: how a value is stored (16-bit kinds as uint16 bit patterns)
KIND_F32, KIND_F64, KIND_F16, KIND_BF16, KIND_U32 = 0, 1, 2, 3, 4

#: the float kinds by numpy dtype name (``bfloat16``: ml_dtypes')
KINDS = {"float32": KIND_F32, "float64": KIND_F64, "float16": KIND_F16, "bfloat16": KIND_BF16}
#: kind -> the numpy dtype the kernels see (16-bit kinds as their bits)
STORAGE = {KIND_F32: np.dtype(np.float32), KIND_F64: np.dtype(np.float64), KIND_F16: np.dtype(np.uint16),
           KIND_BF16: np.dtype(np.uint16), KIND_U32: np.dtype(np.uint32)}


@njit(inline="always")
def _identity(v):
    return v


@njit(inline="always")
def _to_f16(v):
    return f32_to_f16_bits(v)


@njit(inline="always")
def _from_f16(v):
    return f16_bits_to_f32(v)


@njit(inline="always")
def _from_bf16(v):
    return bf16_bits_to_f32(v)


@njit(inline="always")
def _to_bf16_any(v):
    return f32_to_bf16_bits_any(v)


_STORE = {KIND_F16: _to_f16, KIND_BF16: f32_to_bf16_bits}


def store_fn(kind):
    """The jitted ``v -> stored value`` of a sampler's float32 value for an
    output ``kind``: nearest-even 16-bit bit patterns for float16/bfloat16
    (finite values only: samplers never make NaN), identity otherwise: the
    rounding ``distributions.pair_sampler`` applies."""
    return _STORE.get(kind, _identity)


def codec(kind):
    """``(load, store)`` jitted functions of an output kind for data that may
    hold anything (the activations' inputs and results): 16-bit bit patterns
    <-> float32 (exact widening; nearest-even rounding that keeps inf and NaN),
    identities for float32/float64. Both devices' elementwise kernels use it."""
    if kind == KIND_F16:
        return _from_f16, _to_f16
    if kind == KIND_BF16:
        return _from_bf16, _to_bf16_any
    return _identity, _identity


def storage_scalar(value, kind):
    """``value`` (a Python float) as the scalar the kernels store for ``kind``:
    float32/float64, or the uint16 bits of the float32 value rounded to
    nearest-even for float16/bfloat16 (torch's ``fill_`` rounds through float
    the same way)."""
    if kind == KIND_F64:
        return np.float64(value)
    f = np.float32(value)
    if kind == KIND_F32:
        return f
    return np.uint16(codec(kind)[1](f))  # the kernels' own rounding


__all__ = ["KIND_F32", "KIND_F64", "KIND_F16", "KIND_BF16", "KIND_U32", "KINDS", "STORAGE", "store_fn",
           "codec", "storage_scalar"]
