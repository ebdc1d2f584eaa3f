"""Numba-CUDA plumbing for the GPU kernels: import with clear errors, exact
compilation, launch configuration, and the 16-byte loads and stores.

Exactness: no FMA contraction
-----------------------------
libNVVM contracts ``a * b + c`` into one ``fma`` by default (its ``-fma=1``),
and ptxas fuses a ``mul.f32`` feeding an ``add.f32`` too. The CPU kernels
round every product and sum on its own (Numba without ``fastmath``) and write
every fused step explicitly (``_fmath.fma``, ``llvm.fma``, ``fma.rn`` in PTX),
so the GPU must not fuse anything else, or uniform's ``lo + span * u`` would
differ from the CPU in the last bit. Numba-CUDA has no public switch for it,
so ``jit`` turns LTO off and ``launch`` compiles (which makes the PTX and
the cubin) while ``nvvm.compile_ir`` adds ``fma=False`` (``_exact_codegen``
says why both); libNVVM then emits ``mul.rn.f32``/``add.rn.f32``, which
ptxas never fuses (checked on the PTX of the uniform kernel: with the default,
one ``fma.rn.f32``; with ``fma=False``, ``mul.rn.f32`` + ``add.rn.f32``;
numba-cuda 0.30.4, libNVVM of CUDA 13.0, sm_90, 2026-11-23).

The simulator
-------------
Under ``NUMBA_ENABLE_CUDASIM=1`` ``numba.cuda`` runs kernels as Python on
the CPU, each CUDA thread a Python thread: the kernels' ``@njit`` callees run
compiled for the CPU, the intrinsics below have Python twins, and launches
use a small grid (the grid-stride loops cover any size).
"""
from __future__ import annotations

import contextlib
import threading

import numpy as np

import numba
from llvmlite import ir
from numba import types
from numba.extending import intrinsic

#: True when numba.cuda is Numba's CUDA simulator (kernels run as Python)
SIM = bool(numba.config.ENABLE_CUDASIM)

INSTALL_HINT = "pip install 'fastinit-kernels[cuda]' (CuPy, numba-cuda and numpy<2.5)"

#: threads per block; grid-stride loops over one wave of resident blocks
#: (``_grid_blocks``), at most BLOCKS_PER_SM per SM
THREADS = 256
BLOCKS_PER_SM = 16
#: the simulator's launch: 2 blocks of 8 Python threads
SIM_GRID = (2, 8)

_cuda = None


def cuda():
    """``numba.cuda`` after checking it can run kernels here, or an error that
    says what is missing and what to install."""
    global _cuda
    if _cuda is not None:
        return _cuda
    try:
        from numba import cuda as c
    except Exception as e:  # noqa: BLE001 - any import failure gets the same advice
        hint = ""
        if "row_stack" in str(e):
            hint = " (numba-cuda 0.30 does not import with numpy 2.5: install numpy<2.5)"
        raise ImportError(f"the GPU backend needs numba-cuda: {INSTALL_HINT}; "
                          f"importing numba.cuda failed: {e}{hint}") from e
    if not SIM and not c.is_available():
        raise RuntimeError("no usable CUDA GPU found (numba.cuda.is_available() is False: no GPU, "
                           f"no driver, or no CUDA runtime for numba-cuda); {INSTALL_HINT}")
    _cuda = c
    return c


def probe():
    """``(numba.cuda, SIM)`` when GPU kernels can run here (a GPU, or the
    simulator), else ``(None, False)``: for tests and benchmarks that skip."""
    try:
        return cuda(), SIM
    except (ImportError, RuntimeError):
        return None, False


_COMPILE_LOCK = threading.Lock()


@contextlib.contextmanager
def _no_fma_contraction():
    """Compile with libNVVM's ``-fma=0`` (see the module docstring)."""
    from numba.cuda.cudadrv import nvvm
    original = getattr(nvvm, "compile_ir", None)
    if original is None:
        raise RuntimeError("this numba-cuda has no nvvm.compile_ir: fastinit cannot turn off FMA "
                           f"contraction and would lose bit equality with the CPU; {INSTALL_HINT}")

    def compile_ir(llvmir, **options):
        options["fma"] = False
        return original(llvmir, **options)

    with _COMPILE_LOCK:
        nvvm.compile_ir = compile_ir
        try:
            yield
        finally:
            nvvm.compile_ir = original


def _exact_codegen(compiled):
    """Check that a compiled kernel's cubin came from FMA-free PTX, and keep
    ``fma=False`` on its code library for any later PTX (``inspect_asm``,
    another compute capability).

    numba-cuda compiles and links a kernel in ``compile`` (it binds at once), so
    ``launch`` compiles while ``compile_ir`` adds ``fma=False``, and ``jit``
    turns LTO off: where nvJitLink is installed numba-cuda 0.30 links with LTO
    by default, and nvJitLink's own code generation contracts ``a * b + c``
    again whatever the NVVM options said. Measured on the lent H100
    (2026-11-23, numba-cuda 0.30.4): PTX with ``mul.rn.f32`` + ``add.rn.f32``
    and no ``fma``, yet 4 ``FFMA`` in the LTO cubin's SASS and uniform float32
    1 ulp off the CPU in 452 of 1221 elements; from the PTX without LTO the
    SASS has ``FMUL`` + ``FADD`` (reproduced here with nvJitLink 13.0 and no
    GPU). Our kernels call nothing outside their own module: LTO has nothing
    to gain.
    """
    lib = getattr(compiled, "_codelibrary", None)
    options = getattr(lib, "_nvvm_options", None)
    if not isinstance(options, dict) or getattr(lib, "_lto", True):
        raise RuntimeError("this numba-cuda compiled a fastinit kernel with LTO or keeps its code "
                           "generation options elsewhere: FMA contraction may be on, which would break "
                           f"bit equality with the CPU; tested with numba-cuda 0.30.4 ({INSTALL_HINT})")
    options["fma"] = False


_COMPILED = {}
_SM = {}


def resident_blocks(regs, threads=THREADS, threads_per_sm=2048, regs_per_sm=65536):
    """Blocks of ``threads`` threads that fit on one SM at once for a kernel of ``regs``
    registers per thread and no shared memory: registers are allocated per warp in
    units of 256 (8 per thread). H100/H200: 2048 threads and 65536 registers per SM,
    so 40 registers -> 6 blocks of 256, 54 -> 4, 32 or fewer -> 8."""
    per_thread = max(8, -(-int(regs) // 8) * 8)
    return max(1, min(threads_per_sm // threads, regs_per_sm // (per_thread * threads), BLOCKS_PER_SM))


def _grid_blocks(c, compiled):
    """The grid-stride kernels' largest grid: exactly one wave, every SM holding as many
    blocks as fit (``resident_blocks``). A grid of a fixed 16 blocks per SM ran in
    waves of unequal occupancy: at 46 registers 5 blocks fit per SM, so 16 took 4
    waves, the last one a fifth full (16 / 5 = 3.2: ~20% of the time at low
    occupancy). Falls back to 16 per SM where the driver does not report registers."""
    dev = c.get_current_device()
    sm = _SM.get(dev.id)
    if sm is None:
        sm = _SM[dev.id] = (dev.MULTIPROCESSOR_COUNT,
                            getattr(dev, "MAX_THREADS_PER_MULTIPROCESSOR", 2048),
                            getattr(dev, "MAX_REGISTERS_PER_MULTIPROCESSOR", 65536))
    try:
        regs = compiled.regs_per_thread
    except Exception:  # noqa: BLE001 - an older numba-cuda or driver: the fixed grid
        return sm[0] * BLOCKS_PER_SM
    return sm[0] * resident_blocks(regs, THREADS, sm[1], sm[2])


def launch(kernel, items, *args):
    """Run the grid-stride ``kernel`` over ``items`` work items on the current
    device, compiling it exactly (no FMA contraction) once per argument types.

    Stream: the one the arrays were handed over on (``__cuda_array_interface__``
    v3 ``stream``: torch's and CuPy's current stream), so the kernel is ordered
    after the producer's work and before the consumer's, with no host sync;
    the legacy default stream for arrays that name none."""
    c = cuda()
    if items <= 0:
        return
    if SIM:
        kernel[SIM_GRID](*args)
        return
    argtypes = tuple(kernel.typeof_pyval(a) for a in args)
    key = (kernel, argtypes)
    grid = _COMPILED.get(key)
    if grid is None:
        with _no_fma_contraction():
            compiled = kernel.compile(argtypes)
            _exact_codegen(compiled)
        grid = _COMPILED[key] = _grid_blocks(c, compiled)
    stream = next((a.stream for a in args if getattr(a, "stream", 0)), 0)
    blocks = max(1, min(-(-items // THREADS), grid))
    kernel[blocks, THREADS, stream](*args)


def as_device_array(obj):
    """Zero-copy Numba view of a ``__cuda_array_interface__`` array, on the
    current device; its ``stream`` is the producer's (no host sync here:
    ``launch`` runs on that stream)."""
    c = cuda()
    return c.as_cuda_array(obj) if SIM else c.as_cuda_array(obj, sync=False)


def to_device(host_array, like):
    """Copy a small host array (row starts, indices) to the device on the
    stream ``launch`` will use for ``like``, so the kernel sees it complete."""
    return cuda().to_device(host_array, stream=getattr(like, "stream", 0) or 0)


def jit(fn, max_registers=None):
    """``numba.cuda.jit`` for a kernel (lazy: compiled by ``launch``), without
    LTO (``_exact_codegen`` says why); ``max_registers``: ptxas' register cap."""
    if SIM:
        return cuda().jit(fn)
    if max_registers:
        return cuda().jit(fn, lto=False, max_registers=max_registers)
    return cuda().jit(fn, lto=False)


# ------------------------------------------------------------------ 16-byte stores
def _vector_width(dtype):
    """(elements per vector store, alignment in bytes) for an element type."""
    nbytes = dtype.bitwidth // 8
    per = max(1, min(4, 16 // nbytes))
    return per, per * nbytes


@intrinsic
def _store4_cuda(typingctx, arr, i, v0, v1, v2, v3):
    """``arr[i:i+4] = v0..v3`` as vector stores (``st.global.v4.f32`` for
    float32, two ``v2.f64`` for float64, one ``v4.u16`` for 16-bit); ``&arr[i]``
    must be aligned (``_aligned_cuda``)."""
    if not isinstance(arr, types.Array) or arr.ndim != 1:
        return None
    dt = arr.dtype
    sig = types.void(arr, types.int64, dt, dt, dt, dt)
    per, align = _vector_width(dt)

    def codegen(context, builder, signature, args):
        ary = context.make_array(signature.args[0])(context, builder, args[0])
        base = builder.gep(ary.data, [args[1]])
        elt = context.get_value_type(dt)
        vty = ir.VectorType(elt, per)
        vals = args[2:]
        for c0 in range(0, 4, per):
            vec = ir.Constant(vty, ir.Undefined)
            for k in range(per):
                vec = builder.insert_element(vec, vals[c0 + k], ir.Constant(ir.IntType(32), k))
            p = builder.bitcast(builder.gep(base, [ir.Constant(ir.IntType(64), c0)]), vty.as_pointer())
            builder.store(vec, p, align=align)
        return context.get_dummy_value()

    return sig, codegen


@intrinsic
def _aligned_cuda(typingctx, arr, i):
    """Whether ``&arr[i]`` is aligned for ``_store4_cuda``."""
    if not isinstance(arr, types.Array) or arr.ndim != 1:
        return None
    sig = types.boolean(arr, types.int64)
    _, align = _vector_width(arr.dtype)

    def codegen(context, builder, signature, args):
        ary = context.make_array(signature.args[0])(context, builder, args[0])
        i64 = ir.IntType(64)
        addr = builder.ptrtoint(builder.gep(ary.data, [args[1]]), i64)
        low = builder.and_(addr, ir.Constant(i64, align - 1))
        return builder.icmp_unsigned("==", low, ir.Constant(i64, 0))

    return sig, codegen


@intrinsic
def _load4_cuda(typingctx, arr, i):
    """``(arr[i], arr[i+1], arr[i+2], arr[i+3])`` as vector loads (the mirror of
    ``_store4_cuda``); ``&arr[i]`` must be aligned."""
    if not isinstance(arr, types.Array) or arr.ndim != 1:
        return None
    dt = arr.dtype
    sig = types.UniTuple(dt, 4)(arr, types.int64)
    per, align = _vector_width(dt)

    def codegen(context, builder, signature, args):
        ary = context.make_array(signature.args[0])(context, builder, args[0])
        base = builder.gep(ary.data, [args[1]])
        vty = ir.VectorType(context.get_value_type(dt), per)
        vals = []
        for c0 in range(0, 4, per):
            p = builder.bitcast(builder.gep(base, [ir.Constant(ir.IntType(64), c0)]), vty.as_pointer())
            vec = builder.load(p, align=align)
            vals += [builder.extract_element(vec, ir.Constant(ir.IntType(32), k)) for k in range(per)]
        return context.make_tuple(builder, signature.return_type, vals)

    return sig, codegen


def _load4_sim(arr, i):
    return arr[i], arr[i + 1], arr[i + 2], arr[i + 3]


def _store4_sim(arr, i, v0, v1, v2, v3):
    arr[i] = v0
    arr[i + 1] = v1
    arr[i + 2] = v2
    arr[i + 3] = v3


def _aligned_sim(arr, i):
    # the simulator's stores are plain; this takes the vector path on every
    # other block so that both paths of the kernels run in CI
    return (i // 4) % 2 == 0


@intrinsic
def _bf16_pair_cuda(typingctx, a, b):
    """``(bfloat16 bits of a, bfloat16 bits of b)`` for float32 ``a`` and ``b``: one
    ``cvt.rn.bf16x2.f32`` (one F2FP on sm_90) instead of ~5 integer instructions each.

    Same bits as ``_fmath.f32_to_bf16_bits`` for every finite float32 (the only inputs
    the samplers make): ``cvt.rn`` is IEEE round-to-nearest-even, subnormals kept (no
    ``.ftz``), overflow to inf; the integer form ``(b + 0x7FFF + lsb) >> 16`` is the
    same rounding on the bit pattern. ``benchmarks/bf16_rounding.py`` checks the integer
    form against an independent nearest-even emulation on all 2**32 inputs, and
    ``tests/test_gpu.py`` the device's bits against the CPU's on a real GPU. PTX puts
    its first source in the high half, so ``b`` goes first.
    """
    if a != types.float32 or b != types.float32:
        return None
    sig = types.UniTuple(types.uint16, 2)(types.float32, types.float32)

    def codegen(context, builder, signature, args):
        i16, i32, f32 = ir.IntType(16), ir.IntType(32), ir.FloatType()
        asm = ir.InlineAsm(ir.FunctionType(i32, [f32, f32]), "cvt.rn.bf16x2.f32 $0, $1, $2;", "=r,f,f")
        r = builder.call(asm, [args[1], args[0]])
        lo = builder.trunc(r, i16)
        hi = builder.trunc(builder.lshr(r, ir.Constant(i32, 16)), i16)
        return context.make_tuple(builder, signature.return_type, [lo, hi])

    return sig, codegen


@intrinsic
def _bf16_packed_cuda(typingctx, a, b):
    """``_bf16_pair_cuda`` left packed: one uint32, ``a``'s bits in the low half
    (the lower address when stored little-endian)."""
    if a != types.float32 or b != types.float32:
        return None
    sig = types.uint32(types.float32, types.float32)

    def codegen(context, builder, signature, args):
        i32, f32 = ir.IntType(32), ir.FloatType()
        asm = ir.InlineAsm(ir.FunctionType(i32, [f32, f32]), "cvt.rn.bf16x2.f32 $0, $1, $2;", "=r,f,f")
        return builder.call(asm, [args[1], args[0]])

    return sig, codegen


@intrinsic
def _store2x32_cuda(typingctx, arr, i, w0, w1):
    """``arr[i:i+4] = w0's halves, w1's halves`` for a 16-bit array (low half first):
    one ``st.global.v2.u32``; ``&arr[i]`` must be 8-byte aligned (``_aligned_cuda``)."""
    if not isinstance(arr, types.Array) or arr.ndim != 1 or arr.dtype.bitwidth != 16:
        return None
    sig = types.void(arr, types.int64, types.uint32, types.uint32)

    def codegen(context, builder, signature, args):
        ary = context.make_array(signature.args[0])(context, builder, args[0])
        vty = ir.VectorType(ir.IntType(32), 2)
        vec = ir.Constant(vty, ir.Undefined)
        vec = builder.insert_element(vec, args[2], ir.Constant(ir.IntType(32), 0))
        vec = builder.insert_element(vec, args[3], ir.Constant(ir.IntType(32), 1))
        p = builder.bitcast(builder.gep(ary.data, [args[1]]), vty.as_pointer())
        builder.store(vec, p, align=8)
        return context.get_dummy_value()

    return sig, codegen


def _store2x32_sim(arr, i, w0, w1):
    arr[i] = w0 & 0xFFFF
    arr[i + 1] = w0 >> 16
    arr[i + 2] = w1 & 0xFFFF
    arr[i + 3] = w1 >> 16


def _bf16_packed_sim():
    from numba import njit

    from .._fmath import f32_to_bf16_bits

    @njit(inline="always")
    def bf16_packed(a, b):
        return np.uint32(f32_to_bf16_bits(a)) | (np.uint32(f32_to_bf16_bits(b)) << np.uint32(16))
    return bf16_packed


def _bf16_packed_any_sim():
    from numba import njit

    from .._fmath import f32_to_bf16_bits_any

    @njit(inline="always")
    def bf16_packed_any(a, b):
        return np.uint32(f32_to_bf16_bits_any(a)) | (np.uint32(f32_to_bf16_bits_any(b)) << np.uint32(16))
    return bf16_packed_any


def _bf16_pair_sim():
    from numba import njit

    from .._fmath import f32_to_bf16_bits

    @njit(inline="always")
    def bf16_pair(a, b):
        return f32_to_bf16_bits(a), f32_to_bf16_bits(b)
    return bf16_pair


if SIM:
    load4, store4, aligned = _load4_sim, _store4_sim, _aligned_sim
    # the simulator runs the kernels' callees compiled for the CPU: the CPU's rounding
    bf16_pair, bf16_packed, store2x32 = _bf16_pair_sim(), _bf16_packed_sim(), _store2x32_sim
    bf16_packed_any = _bf16_packed_any_sim()
else:
    load4, store4, aligned = _load4_cuda, _store4_cuda, _aligned_cuda
    bf16_pair, bf16_packed, store2x32 = _bf16_pair_cuda, _bf16_packed_cuda, _store2x32_cuda
    #: for any input (the activations): cvt.rn keeps +-inf and makes every NaN the canonical
    #: NaN 0x7FFF, where the CPU keeps a NaN's sign (NaN payloads are not promised: README)
    bf16_packed_any = _bf16_packed_cuda


def device_address(arr):
    """The device address of ``arr``'s first element (0 under the simulator, whose
    vector stores are plain element stores: any address is aligned for them)."""
    if SIM:
        return 0
    return int(arr.__cuda_array_interface__["data"][0])


def vector_alignment(dtype):
    """Bytes ``store4`` needs ``&arr[i]`` aligned to, for a numpy dtype."""
    from numba import from_dtype
    return _vector_width(from_dtype(dtype))[1]


__all__ = ["SIM", "INSTALL_HINT", "cuda", "probe", "jit", "launch", "as_device_array", "to_device",
           "load4", "store4", "aligned", "bf16_pair", "bf16_packed", "bf16_packed_any", "store2x32",
           "device_address", "vector_alignment", "resident_blocks"]
