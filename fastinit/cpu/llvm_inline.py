"""CPU twins of the ``@njit(inline="always")`` math: inlined by LLVM, not by Numba.

The samplers (``distributions``), the float math under them (``_fmath``) and Philox
(``_stream``) are written once for both devices as ``@njit(inline="always")``
functions: Numba inlines them into the caller's IR before typing, which is what
the CUDA kernels need (their code is retargeted from the Python source). On the
CPU that inliner was most of a kernel's first compile: it re-runs Numba's whole
front end on the callee *at every call site*, recursively, with no cache, so a
function reached through k nested call sites is translated k times. The float32
truncated normal's kernel (``fill_rows``) translated 964 function bodies and
spent 17.0 of its 31.3 s of compile passes in ``inline_inlinables`` alone
(2-core Zen 5, 2026-12-01, per-pass times of ``benchmarks/first_call.py
--passes``).

``twin(fn)`` is the same Python function compiled as an ordinary Numba function
with LLVM's ``alwaysinline`` attribute (Numba's ``forceinline`` option), whose
calls to other ``inline="always"`` functions go to *their* twins: each function
is typed and lowered once per signature, and LLVM inlines every call when it
optimizes the linked kernel, before vectorizing its loops
(``tests/test_vectorized.py`` checks the loops stay vector code on both ISAs).
The operations are the same, so the values are the same bits
(``tests/test_golden.py``): LLVM inlining changes no floating-point operation
(no ``fastmath``), and ``error_model="numpy"`` is the kernels' own (a division
raises nothing, as when the body was inlined into them).

The kernels' literal overloads (``cpu/fill.py``, ``cpu/elementwise.py``) take
``OPTIONS`` as their ``jit_options`` for the same reason: Numba compiles an
``@overload(inline="always")`` implementation in full before inlining it, then
types it again to inline it. With both, cold first calls, process CPU seconds,
main vs this (alternating, load 9-12 on the 2 cores, 2026-12-01): kaiming_uniform_
7.0 -> 2.4, normal_ 12.0 -> 3.2, trunc_normal_ 34.1 -> 3.5, fused gelu 4.6 -> 3.4.

The CUDA kernels are unchanged: they keep Numba's IR inlining of the same Python
functions (the twins are CPU-target dispatchers, made only by the CPU kernels).
"""
from __future__ import annotations

import threading
import types as pytypes

from numba import njit
from numba.core.registry import CPUDispatcher

#: jit options of a function LLVM inlines: ``forceinline`` (``alwaysinline``), the kernels'
#: error model, and no Python or C wrappers (never called from Python: less to compile)
OPTIONS = dict(forceinline=True, error_model="numpy", no_cpython_wrapper=True, no_cfunc_wrapper=True)

_TWINS = {}
_LOCK = threading.RLock()


def _inline_always(obj):
    return isinstance(obj, CPUDispatcher) and obj.targetoptions.get("inline") == "always"


def _swap(obj):
    return twin(obj) if _inline_always(obj) else obj


def twin(fn):
    """The CPU twin of the ``@njit(inline="always")`` dispatcher ``fn`` (memoized): its
    Python function compiled with ``forceinline=True, error_model="numpy"``, every
    global or closure variable that names an ``inline="always"`` function replaced
    by that function's twin. Anything else is returned as it is."""
    if not _inline_always(fn):
        return fn
    with _LOCK:
        tw = _TWINS.get(fn)
        if tw is not None:
            return tw
        py = fn.py_func
        code = py.__code__
        glb = py.__globals__
        names = [n for n in code.co_names if n in glb and _inline_always(glb[n])]
        if names:
            glb = dict(glb)
            for n in names:
                glb[n] = twin(glb[n])
        closure = py.__closure__
        if closure:
            closure = tuple(pytypes.CellType(_swap(c.cell_contents)) for c in closure)
        clone = pytypes.FunctionType(code, glb, py.__name__, py.__defaults__, closure)
        clone.__qualname__ = py.__qualname__
        clone.__module__ = py.__module__
        clone.__doc__ = py.__doc__
        tw = _TWINS[fn] = njit(**OPTIONS)(clone)
        return tw
