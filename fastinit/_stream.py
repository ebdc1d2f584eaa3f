"""The stream contract: seeds, streams, and Philox4x32-10.

This module is the only place that knows how a value's random word is found.

Contract (stable across versions, devices, thread counts, chunkings and shards)
-------------------------------------------------------------------------------
* ``seed`` is an int in ``[0, 2**64)``. The Philox key is
  ``(seed & 0xFFFFFFFF, seed >> 32)``.
* ``stream`` is an int in ``[0, 2**64)`` or a ``str``; a string maps to
  ``int.from_bytes(blake2b(s.encode("utf-8"), digest_size=8).digest(), "little")``.
* Element ``n`` (the flat C-order index in the *logical*, unsharded tensor,
  ``0 <= n < 2**64``) lives in block ``b = n // 4`` at word ``w = n % 4``. The
  counter of block ``b`` is ``(b & 0xFFFFFFFF, b >> 32, stream & 0xFFFFFFFF,
  stream >> 32)`` and the raw word of element ``n`` is word ``w`` of
  ``Philox4x32-10(counter, key)`` exactly as Random123 defines it.

The round functions below are plain Python on unsigned 64-bit integers that hold
32-bit values. Keeping every lane 64 bits wide is deliberate: LLVM then turns each
32x32->64 multiply into one ``vpmuludq`` per four lanes, with no shuffles. The
32-bit-lane formulation vectorized too, but with shuffles and spills, and ran at
0.45 G words/s per thread against 1.05 for this one (AVX2 Zen 3, 2026-11-22,
/tmp prototype; the 64-bit form without stores reaches 1.55).
"""
from __future__ import annotations

import hashlib
import numbers
import sys
import threading
from typing import NamedTuple

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic

__all__ = [
    "PHILOX_M0", "PHILOX_M1", "PHILOX_W0", "PHILOX_W1",
    "philox4x32_10", "stream_id", "key_words", "check_seed", "check_offset",
    "MASK32", "SHIFT32", "TWO", "THREE", "BLOCK_MOD",
    "manual_seed", "initial_seed", "seed_from_generator", "Draw", "draw_words",
]

U64 = np.uint64
PHILOX_M0 = U64(0xD2511F53)
PHILOX_M1 = U64(0xCD9E8D57)
PHILOX_W0 = U64(0x9E3779B9)
PHILOX_W1 = U64(0xBB67AE85)
_MASK = U64(0xFFFFFFFF)
_S32 = U64(32)
#: uint64 constants of the index -> (block, word) mapping, shared by the kernels:
#: element n is word n & 3 of block (n >> 2) mod 2**62 (indices wrap mod 2**64)
MASK32 = _MASK
SHIFT32 = _S32
TWO = U64(2)
THREE = U64(3)
BLOCK_MOD = U64((1 << 62) - 1)

_TWO64 = 1 << 64


@intrinsic
def _mul_wide32(typingctx, m, c):
    """``m * (c & 0xFFFFFFFF)`` as uint64 for uint64 ``m`` and ``c`` (``m`` below
    2**32): the Philox round's 32 x 32 -> 64-bit product.

    CPU: the IR of ``m * uint64(uint32(c))`` (trunc, zext, ``mul i64``), exactly
    what Numba emitted for that expression before this intrinsic existed, so the
    CPU code is unchanged (the x86 assembly of the fill kernels compared equal).
    CUDA: one inline-PTX ``mul.wide.u32``. From the expression above libNVVM
    (CUDA 13.0) emitted ``mul.lo.s64`` on the masked operand and ptxas added the
    high words' zero product back: uniform float32's fast loop had 95 SASS
    instructions per block, 71 with this (sm_90, ``benchmarks/gpu_ptx.py``).
    """
    if not (isinstance(m, types.Integer) and isinstance(c, types.Integer)):
        return None
    sig = types.uint64(types.uint64, types.uint64)

    def codegen(context, builder, signature, args):
        i32, i64 = ir.IntType(32), ir.IntType(64)
        mv = context.cast(builder, args[0], signature.args[0], types.uint64)
        cv = context.cast(builder, args[1], signature.args[1], types.uint64)
        c32 = builder.trunc(cv, i32)
        if builder.module.triple.startswith("nvptx"):
            fnty = ir.FunctionType(i64, [i32, i32])
            asm = ir.InlineAsm(fnty, "mul.wide.u32 $0, $1, $2;", "=l,r,r")
            return builder.call(asm, [builder.trunc(mv, i32), c32])
        return builder.mul(mv, builder.zext(c32, i64))

    return sig, codegen


def _round(c0, c1, c2, c3, k0, k1):
    # c0 and c2 are below 2**32: a 32x32 -> 64-bit product (``_mul_wide32``). On the
    # CPU this is the IR of ``M * uint64(uint32(c))``, which made the tiles faster than
    # the 64x64 product (benchmarks/tile_rates.py, one thread, best of two rounds each,
    # 2026-11-23: raw bits 1.049 -> 1.141, uniform 1.158 -> 1.216, normal 0.567 -> 0.587
    # G elements/s); on the GPU one mul.wide.u32 (IMAD.WIDE.U32).
    p0 = _mul_wide32(PHILOX_M0, c0)
    p1 = _mul_wide32(PHILOX_M1, c2)
    return (p1 >> _S32) ^ c1 ^ k0, p1 & _MASK, (p0 >> _S32) ^ c3 ^ k1, p0 & _MASK


_round_jit = njit(inline="always")(_round)


def _philox(c0, c1, c2, c3, k0, k1):
    # Ten rounds written out: a Python loop would keep LLVM from vectorizing the caller.
    rnd = _round_jit
    c0, c1, c2, c3 = rnd(c0, c1, c2, c3, k0, k1)
    k0 = (k0 + PHILOX_W0) & _MASK
    k1 = (k1 + PHILOX_W1) & _MASK
    c0, c1, c2, c3 = rnd(c0, c1, c2, c3, k0, k1)
    k0 = (k0 + PHILOX_W0) & _MASK
    k1 = (k1 + PHILOX_W1) & _MASK
    c0, c1, c2, c3 = rnd(c0, c1, c2, c3, k0, k1)
    k0 = (k0 + PHILOX_W0) & _MASK
    k1 = (k1 + PHILOX_W1) & _MASK
    c0, c1, c2, c3 = rnd(c0, c1, c2, c3, k0, k1)
    k0 = (k0 + PHILOX_W0) & _MASK
    k1 = (k1 + PHILOX_W1) & _MASK
    c0, c1, c2, c3 = rnd(c0, c1, c2, c3, k0, k1)
    k0 = (k0 + PHILOX_W0) & _MASK
    k1 = (k1 + PHILOX_W1) & _MASK
    c0, c1, c2, c3 = rnd(c0, c1, c2, c3, k0, k1)
    k0 = (k0 + PHILOX_W0) & _MASK
    k1 = (k1 + PHILOX_W1) & _MASK
    c0, c1, c2, c3 = rnd(c0, c1, c2, c3, k0, k1)
    k0 = (k0 + PHILOX_W0) & _MASK
    k1 = (k1 + PHILOX_W1) & _MASK
    c0, c1, c2, c3 = rnd(c0, c1, c2, c3, k0, k1)
    k0 = (k0 + PHILOX_W0) & _MASK
    k1 = (k1 + PHILOX_W1) & _MASK
    c0, c1, c2, c3 = rnd(c0, c1, c2, c3, k0, k1)
    k0 = (k0 + PHILOX_W0) & _MASK
    k1 = (k1 + PHILOX_W1) & _MASK
    return rnd(c0, c1, c2, c3, k0, k1)


#: Philox4x32-10 of one block. All six arguments and the four results are
#: ``uint64`` values below ``2**32``. Inlined into every kernel that uses it.
philox4x32_10 = njit(inline="always")(_philox)


def _check_u64(value, name):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int in [0, 2**64), got {type(value).__name__} {value!r}")
    value = int(value)
    if not 0 <= value < _TWO64:
        raise ValueError(f"{name} must be an int in [0, 2**64), got {value}")
    return value


def check_seed(seed):
    """Return ``seed`` as a Python int after checking it lies in ``[0, 2**64)``."""
    return _check_u64(seed, "seed")


def check_offset(offset):
    """Return ``offset`` as a Python int after checking it lies in ``[0, 2**64)``."""
    return _check_u64(offset, "offset")


def stream_id(stream):
    """Map a ``stream`` argument (int or str) to its 64-bit integer.

    A ``str`` maps to the little-endian value of its 8-byte BLAKE2b digest of the
    UTF-8 bytes: stable across Python versions, processes and machines (unlike
    ``hash()``), e.g. ``stream_id("layers.3.mlp.w1")``.
    """
    if isinstance(stream, str):
        digest = hashlib.blake2b(stream.encode("utf-8"), digest_size=8).digest()
        return int.from_bytes(digest, "little")
    if isinstance(stream, (bool, np.bool_)) or not isinstance(stream, numbers.Integral):
        raise TypeError(
            f"stream must be an int in [0, 2**64) or a str, got {type(stream).__name__} {stream!r}")
    return _check_u64(stream, "stream")


def key_words(seed, stream):
    """The (k0, k1, s0, s1) words the kernels take, as numpy uint64 values."""
    seed = check_seed(seed)
    stream = stream_id(stream)
    return (U64(seed & 0xFFFFFFFF), U64(seed >> 32),
            U64(stream & 0xFFFFFFFF), U64(stream >> 32))


# ------------------------------------------------------------------ the default generator
# Key derivation stays with the key (as JAX's prng.py keeps it): a call's (seed, stream,
# generator) -> the Philox words, and the default generator that ``seed=None`` draws from.
# With ``seed=None`` a call takes the default seed (``manual_seed``; 0 at import) and, when
# ``stream`` is None too, the next stream of a counter (0, 1, 2, ...) that ``manual_seed``
# resets: successive calls differ and a whole sequence of calls is reproducible. With
# ``seed`` given and ``stream`` omitted, the stream is 0.
_DEFAULT_SEED = 0
_gen_lock = threading.Lock()
_gen = {"seed": _DEFAULT_SEED, "next": 0}


def manual_seed(seed):
    """Seed the default generator (used when ``seed=None``) and reset its stream counter.

    The default seed at import is 0. Like ``torch.manual_seed``.
    """
    seed = check_seed(seed)
    with _gen_lock:
        _gen["seed"] = seed
        _gen["next"] = 0


def initial_seed():
    """The default generator's seed."""
    return _gen["seed"]


def seed_from_generator(generator):
    """The fastinit seed a ``torch.Generator`` stands for: one integer in [0, 2**63 - 1)
    drawn from it, ``int(torch.randint(0, 2**63 - 1, (), generator=generator, dtype=torch.int64))``
    (on the generator's device), which advances it like any torch random call.

    Every random initializer's ``generator=`` argument uses this as its ``seed`` (its
    ``stream`` stays as given, 0 by default): so torch code that passes a seeded generator to
    ``nn.init`` functions gets reproducible values, and successive calls differ as the
    generator advances. Raises ``TypeError`` for anything but a ``torch.Generator``.
    """
    torch = _torch_of(generator)
    return int(torch.randint(0, 2**63 - 1, (), generator=generator, device=generator.device,
                             dtype=torch.int64))


def _torch_of(generator):
    """torch, if ``generator`` is a ``torch.Generator``; else ``TypeError``. Imports nothing:
    a ``torch.Generator`` exists only once torch is imported."""
    torch = sys.modules.get("torch")
    if torch is None or not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator or None, got {type(generator).__name__}")
    return torch


class Draw(NamedTuple):
    """The keyword-only arguments every random initializer takes: where its values come from
    (``draw_words`` turns them into the kernels' key and stream words)."""
    seed: object = None
    stream: object = None
    global_shape: object = None
    start: object = None
    generator: object = None


def draw_words(draw):
    """Philox key and stream words of a call (a ``Draw``); the default generator's when its
    seed is None. Checks everything before drawing from a ``generator`` (a bad call leaves it
    as it was)."""
    seed, stream, generator = draw.seed, draw.stream, draw.generator
    if generator is not None:
        if seed is not None:
            raise TypeError("pass seed= or generator= (which draws the seed), not both")
        _torch_of(generator)
        stream = stream_id(0 if stream is None else stream)
        return key_words(seed_from_generator(generator), stream)
    if seed is None:
        with _gen_lock:
            seed = _gen["seed"]
            if stream is None:
                stream = _gen["next"]
                _gen["next"] = (stream + 1) % (1 << 64)
    elif stream is None:
        stream = 0
    return key_words(seed, stream)
