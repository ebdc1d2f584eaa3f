"""Compile every GPU kernel without a GPU: SASS per block of the hot loops (default), or
the PTX survey of every kernel (``--ptx``).

SASS table (the default, and ``tests/test_sass.py``)
----------------------------------------------------
For each fill kernel's fast path (one unsharded, 16-byte aligned tensor: the loop that
computes one Philox block and makes one vector store per iteration), the SASS instructions
of the loop body per block: a static count from the loop's label to its back-edge branch,
the branch and NOPs excluded, and the out-of-line slow paths of ``div.rn``/``sqrt.rn``
(the blocks their guards skip) not counted; by class, with the kernel's registers
(``cuobjdump -res-usage``). ``--acts``: the activation kernels' vector path, per 4
elements. Needs numba-cuda, libNVVM and nvJitLink (the ``cuda`` extra's wheels) plus
``nvdisasm`` and ``cuobjdump`` (``pip install nvidia-cuda-nvdisasm nvidia-cuda-cuobjdump``,
~5 MB); no GPU, no driver. ``--check`` exits 1 when a fill kernel exceeds its target in
``FILL_TARGETS`` (SASS per block, registers); ``--json PATH`` writes the rows.

    python benchmarks/gpu_ptx.py [--cc 9.0] [--acts] [--check] [--json rows.json] [--only 'uniform float32' ...]

PTX survey (``--ptx``)
----------------------

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
trunc_normal 55 (+ libdevice's DFMA in its float64 tail path). Any kernel that
fails to compile is listed at the end and the exit status is 1.

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


def ptx_survey(cc):

    from numba import types

    from fastinit import _act_registry as R
    from fastinit import distributions as D
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
    gated_codes = {R.code_of(fn) for e in R.ACTIVATIONS.values() if e.gated for fn in e.math}
    prm4 = types.UniTuple(types.float64, 4)
    for code in sorted(R.MATH):
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

# ------------------------------------------------------------------ SASS per block
#: fast-path targets: label -> (max SASS instructions per Philox block of 4 elements,
#: max registers). Instructions: issue 18's targets. Registers: 40 where it costs no
#: instruction (uniform); normal and the truncated normal are uncapped
#: (``fastinit.gpu.fill.FAST_MAX_REGISTERS`` says why) and held to what they take now.
FILL_TARGETS = {
    "bits uint32": (52, 40),
    "uniform float32": (70, 40),
    "uniform bfloat16": (72, 40),
    "normal float32": (205, 56),
    "normal bfloat16": (210, 56),
    "trunc_normal central float32": (230, 52),  # issue 18's 330 until its FMA polynomials (225, 48 registers)
}

#: instruction classes of the table, by opcode (the part before the first ".");
#: IMAD's moves and adds are told apart by their full opcode
_CLASSES = {
    "move": ("MOV", "UMOV", "S2R", "S2UR", "CS2R", "R2UR", "IMAD.MOV", "IMAD.U32"),
    "int mul": ("IMAD",),
    "int": ("IADD3", "IADD", "VIADD", "LOP3", "LOP", "SHF", "LEA", "ISETP", "IMNMX", "VIMNMX", "PRMT", "SEL",
            "IABS", "FLO", "POPC", "BMSK", "SGXT", "ULOP3", "UIADD3", "USHF", "ULEA", "UISETP", "USEL", "UPRMT",
            "IMAD.IADD", "IMAD.SHL", "IMAD.X"),
    "float": ("FADD", "FMUL", "FFMA", "FSETP", "FSEL", "FMNMX", "FCHK", "FSET", "HADD2", "HMUL2", "HFMA2",
              "DADD", "DMUL", "DFMA", "DSETP"),
    "mufu": ("MUFU",),
    "convert": ("I2F", "F2I", "F2F", "F2FP", "I2FP", "FRND"),
    "memory": ("STG", "LDG", "LDC", "ULDC", "LD", "ST"),
    "control": ("BRA", "CALL", "BSSY", "BSYNC", "EXIT", "RET", "WARPSYNC", "BPT", "PLOP3", "P2R", "R2P"),
}
CLASS_NAMES = tuple(_CLASSES) + ("other",)
_FULL = {op: c for c, ops in _CLASSES.items() for op in ops if "." in op}
_BASE = {op: c for c, ops in _CLASSES.items() for op in ops if "." not in op}


def instruction_class(op):
    """The table's class of a SASS opcode (``IMAD.WIDE.U32`` -> ``int mul``)."""
    parts = op.split(".")
    for n in range(len(parts), 1, -1):
        c = _FULL.get(".".join(parts[:n]))
        if c:
            return c
    return _BASE.get(parts[0], "other")


def tool(name):
    """Path of a CUDA binary tool: PATH, ``$CUDA_HOME/bin``, then the nvidia-* wheels."""
    import os
    found = shutil.which(name)
    if found:
        return found
    for base in filter(None, (os.environ.get("CUDA_HOME"), os.environ.get("CUDA_PATH"))):
        cand = os.path.join(base, "bin", name)
        if os.path.exists(cand):
            return cand
    try:
        import nvidia
    except ImportError:
        return None
    for root in getattr(nvidia, "__path__", []):
        for sub in ("cu13/bin", "cu12/bin", "cuda_nvcc/bin", f"cuda_{name}/bin"):
            cand = os.path.join(root, sub, name)
            if os.path.exists(cand):
                return cand
    return None


_INSN = re.compile(r"/\*[0-9a-f]{4,}\*/\s+(@!?U?P[T0-9]+\s+)?([A-Z][A-Z0-9_.]*)(.*?);")
_LABEL = re.compile(r"^(\.L_x_\d+):")
_TARGET = re.compile(r"`\((\.L_x_\d+)\)")


def parse_sass(text):
    """``[(kind, value)]`` of a kernel's ``nvdisasm -c`` text: ``("label", name)`` or
    ``("insn", (predicate, opcode, operands))`` in program order."""
    items = []
    for line in text.splitlines():
        m = _LABEL.match(line.strip())
        if m:
            items.append(("label", m.group(1)))
            continue
        m = _INSN.search(line)
        if m:
            items.append(("insn", ((m.group(1) or "").strip(), m.group(2), m.group(3))))
    return items


def loops(items):
    """``[(start, end)]`` item ranges of the loops: a label and a later branch back to
    it (``start`` the label, ``end`` the back-edge); self-loops (trap ``BRA``) excluded."""
    where = {v: i for i, (k, v) in enumerate(items) if k == "label"}
    found = []
    for i, (k, v) in enumerate(items):
        if k != "insn" or not v[1].startswith("BRA"):
            continue
        t = _TARGET.search(v[2])
        if t and t.group(1) in where and where[t.group(1)] < i:
            body = [x for x in items[where[t.group(1)] + 1:i] if x[0] == "insn"]
            if body:
                found.append((where[t.group(1)], i))
    return found


def _slow_path(region):
    """Whether the instructions a branch skips are an out-of-line slow path of
    ``div.rn``/``sqrt.rn``/``rcp.rn``: a ``*_slowpath`` call and no global memory access."""
    ops = [v for k, v in region if k == "insn"]
    return (any(v[1].startswith("CALL") and "slowpath" in v[2] for v in ops)
            and not any(v[1].startswith(("LDG", "STG")) for v in ops))


def path_ops(items, span):
    """Opcodes on the fall-through path of a loop (the vector path of the activation
    kernels: their scalar path is a forward branch away): from the loop's label, falling
    through predicated branches except those over a slow path, following unconditional
    ones, to the back-edge (excluded, as are NOPs)."""
    s, e = span
    where = {v: i for i, (k, v) in enumerate(items) if k == "label"}
    ops, i, seen = [], s + 1, 0
    while i < e and seen < 100000:
        seen += 1
        k, v = items[i]
        if k == "insn" and v[1] != "NOP":
            t = _TARGET.search(v[2]) if v[1].startswith("BRA") else None
            j = where.get(t.group(1), -1) if t else -1
            if t and j == s:
                break  # the back-edge
            ops.append(v[1])
            if t and not v[0] and j > i:
                i = j  # an unconditional forward branch: follow it
                continue
            if t and v[0] and i < j <= e and _slow_path(items[i + 1:j]):
                i = j
                continue
        i += 1
    return ops


def loop_ops(items, span):
    """Opcodes of a loop body on its common path: without the back-edge branch, NOPs,
    and the out-of-line slow paths of ``div.rn``/``sqrt.rn`` (a block that a predicated
    forward branch skips and that calls a ``*_slowpath`` routine; the branch itself
    counts, it executes every iteration)."""
    s, e = span
    where = {v: i for i, (k, v) in enumerate(items) if k == "label"}
    ops, i = [], s + 1
    while i < e:
        k, v = items[i]
        if k == "insn" and v[1] != "NOP":
            ops.append(v[1])
            t = _TARGET.search(v[2]) if v[1].startswith("BRA") and v[0] else None
            j = where.get(t.group(1), -1) if t else -1
            if i < j <= e and _slow_path(items[i + 1:j]):
                i = j
                continue
        i += 1
    return ops


def hot_loop(items, store_prefix="STG.E"):
    """Opcodes of the fast path's loop: of the loops that make a vector store
    (``STG.E.128``/``STG.E.64``) without a predicate, the smallest."""
    best = None
    for span in loops(items):
        s, e = span
        body = [v for k, v in items[s + 1:e] if k == "insn"]
        wide = [v for v in body if v[1].startswith(store_prefix) and v[1].split(".")[-1] in ("128", "64")]
        if not any(not v[0] for v in wide):
            continue
        ops = loop_ops(items, span)
        if best is None or len(ops) < len(best):
            best = ops
    return best


def registers(cuobjdump, cubin_path):
    out = subprocess.run([cuobjdump, "-res-usage", cubin_path], capture_output=True, text=True).stdout
    regs = [int(r) for r in re.findall(r"REG:(\d+)", out)]
    return max(regs) if regs else None


class Sass:
    """Compiles kernels for ``cc`` without a GPU and reads their SASS."""

    def __init__(self, cc=(9, 0)):
        self.cc = cc
        self.nvdisasm, self.cuobjdump = tool("nvdisasm"), tool("cuobjdump")
        missing = [n for n, p in (("nvdisasm", self.nvdisasm), ("cuobjdump", self.cuobjdump)) if p is None]
        if missing:
            raise RuntimeError(f"{', '.join(missing)} not found: pip install nvidia-cuda-nvdisasm "
                               "nvidia-cuda-cuobjdump (or put a CUDA toolkit's bin on PATH)")
        _patch_numba_cuda(cc)

    def compile(self, kernel, argtypes):
        """``(nvdisasm text, registers)`` of ``kernel`` for ``argtypes``, compiled the
        way ``runtime.launch`` compiles it (no FMA contraction, no LTO)."""
        from fastinit.gpu import runtime as rt
        with rt._no_fma_contraction():
            k = kernel.compile(argtypes)
        rt._exact_codegen(k)
        cubin = k.library.get_cubin(cc=self.cc)
        with tempfile.NamedTemporaryFile(suffix=".cubin") as f:
            f.write(getattr(cubin, "code", cubin))
            f.flush()
            text = subprocess.run([self.nvdisasm, "-c", f.name], capture_output=True, text=True,
                                  check=True).stdout
            return text, registers(self.cuobjdump, f.name)


def row(label, text, regs, target=None):
    items = parse_sass(text)
    ops = hot_loop(items)
    counts = {c: 0 for c in CLASS_NAMES}
    for op in ops or ():
        counts[instruction_class(op)] += 1
    return {"kernel": label, "per_block": len(ops) if ops is not None else None, "registers": regs,
            "classes": counts, "target": target}


def fill_rows(sass, which=None):
    """Rows of the fill kernels' fast paths: uniform/normal/trunc central x float32/bfloat16."""
    from numba import types

    from fastinit import distributions as D
    from fastinit.gpu import fill as gf
    storage = {D.KIND_F32: types.float32, D.KIND_F64: types.float64, D.KIND_F16: types.uint16,
               D.KIND_BF16: types.uint16, D.KIND_U32: types.uint32}
    names = {D.KIND_F32: "float32", D.KIND_F64: "float64", D.KIND_F16: "float16", D.KIND_BF16: "bfloat16",
             D.KIND_U32: "uint32"}
    dists = (("bits", D.BITS, (D.KIND_U32,)),
             ("uniform", D.UNIFORM, (D.KIND_F32, D.KIND_BF16, D.KIND_F16, D.KIND_F64)),
             ("normal", D.NORMAL, (D.KIND_F32, D.KIND_BF16, D.KIND_F16)),
             ("trunc_normal central", D.TRUNC_NORMAL_CENTRAL, (D.KIND_F32, D.KIND_BF16)),
             ("trunc_normal", D.TRUNC_NORMAL, (D.KIND_F32,)))
    prm8 = types.UniTuple(types.float64, 8)
    rows = []
    for name, dist, kinds in dists:
        for kind in kinds:
            label = f"{name} {names[kind]}"
            if which and label not in which:
                continue
            if hasattr(gf, "fast_kernel_signature"):
                kernel, argtypes = gf.fast_kernel_signature(dist, kind, storage[kind], prm8)
            else:  # before the fast path had its own kernel (HEAD 05d226b): the shared one
                kernel = gf._fill_kernel(dist, kind)
                argtypes = (storage[kind][::1], types.uint64[::1]) + (types.int64,) * 3 + (types.uint64,) * 4 \
                    + (prm8,)
            text, regs = sass.compile(kernel, argtypes)
            rows.append(row(label, text, regs, FILL_TARGETS.get(label)))
    return rows


def act_row(label, text, regs):
    """A row of an activation kernel: the fall-through (vector) path of its loop that
    loads with ``LDG.E.128``/``LDG.E.64`` (``path_ops``): 4 elements per iteration."""
    items = parse_sass(text)
    best = None
    for span in loops(items):
        s, e = span
        body = [v for k, v in items[s + 1:e] if k == "insn"]
        if any(not v[0] and v[1].startswith("LDG") and v[1].split(".")[-1] in ("128", "64") for v in body):
            ops = path_ops(items, span)
            if best is None or len(body) > best[0]:
                best = (len(body), ops)
    ops = best[1] if best else None
    counts = {c: 0 for c in CLASS_NAMES}
    for op in ops or ():
        counts[instruction_class(op)] += 1
    return {"kernel": label, "per_block": len(ops) if ops is not None else None, "registers": regs,
            "classes": counts, "target": None}


def act_rows(sass):
    """Rows of the activation kernels (one input, not gated): relu, silu, gelu, gelu_tanh
    x float32/bfloat16 x forward/fused (forward + backward); per 4 elements."""
    from numba import types

    from fastinit import _act_registry as R
    from fastinit import distributions as D
    from fastinit.gpu import elementwise as ge
    prm4 = types.UniTuple(types.float64, 4)
    rows = []
    for name, act, params in (("relu", "relu", {}), ("silu", "silu", {}), ("gelu", "gelu", {}),
                              ("gelu_tanh", "gelu", {"approximate": "tanh"})):
        e = R.ACTIVATIONS[act]
        code = e.resolve(R.check_params(e, params))[0]
        for kind, st, kname in ((D.KIND_F32, types.float32, "float32"), (D.KIND_BF16, types.uint16, "bfloat16")):
            for mode, mname in ((0, "forward"), (2, "fused")):
                text, regs = sass.compile(ge._kernel(code, mode, kind, False), (st[::1],) * 4 + (types.int64, prm4))
                rows.append(act_row(f"act {name} {mname} {kname}", text, regs))
    return rows


def format_rows(rows):
    head = "| kernel | SASS per block | registers | " + " | ".join(CLASS_NAMES) + " | target (SASS, registers) |"
    lines = [head, "|---|" + "---:|" * (len(CLASS_NAMES) + 3)]
    for r in rows:
        lines.append(f"| {r['kernel']} | {r['per_block']} | {r['registers']} | "
                     + " | ".join(str(r["classes"][c]) for c in CLASS_NAMES)
                     + f" | {'%d, %d' % tuple(r['target']) if r['target'] is not None else ''} |")
    return "\n".join(lines)


def over_target(rows):
    """Messages for rows past their target or the register cap (fill fast paths)."""
    bad = []
    for r in rows:
        if r["target"] is None:
            continue
        if r["per_block"] is None:
            bad.append(f"{r['kernel']}: no fast-path loop found in the SASS")
            continue
        sass, regs = r["target"]
        if r["per_block"] > sass:
            bad.append(f"{r['kernel']}: {r['per_block']} SASS instructions per block > target {sass}")
        if r["registers"] is None or r["registers"] > regs:
            bad.append(f"{r['kernel']}: {r['registers']} registers > target {regs}")
    return bad


def sass_main(args, cc):
    import json
    t0 = time.perf_counter()
    sass = Sass(cc)
    rows = [] if args.acts_only else fill_rows(sass, set(args.only) if args.only else None)
    if args.acts or args.acts_only:
        rows += act_rows(sass)
    print(format_rows(rows))
    print(f"sm_{cc[0]}{cc[1]}, {time.perf_counter() - t0:.0f} s")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"cc": list(cc), "rows": rows}, f, indent=1)
    bad = over_target(rows)
    for b in bad:
        print("OVER TARGET", b)
    return 1 if args.check and bad else 0


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cc", default="9.0", help="compute capability, e.g. 9.0 or 8.0")
    ap.add_argument("--ptx", action="store_true", help="the PTX survey of every kernel instead of the SASS table")
    ap.add_argument("--check", action="store_true", help="exit 1 when a fill fast path exceeds its target")
    ap.add_argument("--json", help="write the SASS rows to this file")
    ap.add_argument("--acts", action="store_true", help="also the activation kernels (per 4 elements)")
    ap.add_argument("--acts-only", action="store_true", help="only the activation kernels")
    ap.add_argument("--only", nargs="*", help="fill rows to compile, e.g. 'uniform float32'")
    args = ap.parse_args(argv)
    cc = tuple(int(v) for v in args.cc.split("."))
    if not args.ptx:
        return sass_main(args, cc)
    _patch_numba_cuda(cc)
    return ptx_survey(cc)


if __name__ == "__main__":
    sys.exit(main())
