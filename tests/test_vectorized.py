"""The hot loops must stay SIMD: a structural check of the generated code (no timing).

Each property is stated for the instruction set the code is compiled for, not for one
CPU's mnemonics, and checked for two targets on any x86-64 machine: the host and the
other vector width (``znver3``: AVX2, 256-bit; ``sapphirerapids``: AVX-512), compiled in
subprocesses by ``tests/asm_dump.py`` (Numba fixes its target at import). Nothing
compiled for a foreign target runs.
"""
import os
import pathlib
import platform
import re
import subprocess
import sys
import json

import pytest

from asm_dump import ACT_CASES, FILL_CASES

X86 = platform.machine() in ("x86_64", "AMD64")
pytestmark = pytest.mark.skipif(not X86, reason="checks x86-64 AVX2/AVX-512 code generation")

#: a named target for each vector width: the one the host is not gets compiled too
OTHER_TARGET = {True: "znver3", False: "sapphirerapids"}
#: what the other width compiles: the kernels whose instruction choice differs between AVX2 and
#: AVX-512 (Box-Muller, 16-bit word pairs, an activation per storage kind); every case on the host.
#: Compiling uncached twins is the cost here (~20 s a kernel on a busy 2-core machine).
OTHER_CASES = ["fill-normal-f32", "fill-normal-bf16", "act-gelu-f32", "act-mish-bf16"]


def _host_avx512():
    import llvmlite.binding as ll
    return bool(ll.get_host_cpu_features().get("avx512f", False))


def _host_avx2():
    import llvmlite.binding as ll
    return bool(ll.get_host_cpu_features().get("avx2", False))


@pytest.fixture(scope="module")
def targets(tmp_path_factory):
    """{target label: (info, {case: asm})} for the host and the other vector width,
    compiled in two concurrent subprocesses."""
    here = pathlib.Path(__file__).resolve().parent
    jobs = {}
    runs = [("host", None, None), (OTHER_TARGET[_host_avx512()], OTHER_TARGET[_host_avx512()], OTHER_CASES)]
    if not _host_avx2():
        # an x86-64 host without AVX2: check both named targets instead
        runs = [("znver3", "znver3", None), ("sapphirerapids", "sapphirerapids", None)]
    for label, cpu, cases in runs:
        out = tmp_path_factory.mktemp(f"asm-{label}")
        env = dict(os.environ)
        env.pop("NUMBA_CPU_NAME", None)
        env.pop("NUMBA_CPU_FEATURES", None)
        if cpu:
            env.update(NUMBA_CPU_NAME=cpu, NUMBA_CPU_FEATURES="")
        env["PYTHONPATH"] = os.pathsep.join([str(here.parent), env.get("PYTHONPATH", "")])
        argv = [sys.executable, str(here / "asm_dump.py"), str(out)] + ([",".join(cases)] if cases else [])
        jobs[label] = (out, subprocess.Popen(argv, env=env,
                                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
    result = {}
    for label, (out, proc) in jobs.items():
        log, _ = proc.communicate(timeout=900)
        assert proc.returncode == 0, f"asm_dump for {label} failed:\n{log}"
        info = json.loads((out / "target.json").read_text())
        result[label] = (info, {p.stem: p.read_text() for p in out.glob("*.s")})
    isas = {("avx512" if info["avx512"] else "avx2") for info, _ in result.values()}
    assert isas == {"avx2", "avx512"}, f"both vector widths must be compiled, got {isas}"
    return result


def _each_target(targets, case):
    """The targets ``case`` was compiled for (every one compiles ``OTHER_CASES``)."""
    for label, (info, asm) in targets.items():
        if case in asm:
            yield label, info, asm, ("zmm" if info["avx512"] else "ymm")


def _loop_bodies(asm):
    """The instructions between each label and the backward jump that closes its loop."""
    lines = asm.splitlines()
    labels = {ln.rstrip(":"): i for i, ln in enumerate(lines) if re.match(r"^\.LBB\d+_\d+:", ln)}
    for i, ln in enumerate(lines):
        m = re.match(r"\s+j\w+\s+(\.LBB\d+_\d+)", ln)
        if m and m.group(1) in labels and labels[m.group(1)] < i:
            yield "\n".join(lines[labels[m.group(1)] + 1:i + 1])


def _stores(body):
    """The instructions of ``body`` that write memory (AT&T syntax: memory operand last)."""
    return [ln.strip() for ln in body.splitlines()
            if re.match(r"\s+\w+\s+[^(]*,\s*-?\w*\(%\w+(,%\w+,\d)?\)\s*$", ln)
            and not re.match(r"\s+(cmp|test)", ln)]


@pytest.mark.parametrize("case", [c[0] for c in FILL_CASES])
def test_fill_kernel_is_vectorized(targets, case):
    for label, info, asms, wide in _each_target(targets, case):
        asm = asms[case]
        where = f"{case} on {label} ({info['cpu']})"
        assert asm.count(wide) > 100, f"{where}: the fill loop does not use {wide} vectors"
        assert asm.count("vpmuludq") >= 20, f"{where}: Philox multiplies are no longer vector vpmuludq"
        if "-normal-" in case:
            assert "vsqrtps" in asm and "vdivps" in asm, f"{where}: the Box-Muller math is not vectorized"
            # the sampler loop: constants hoisted (_fmath.hoisted / _fmath.opaque), so at most a
            # few broadcasts per iteration (28 per 8 pairs before hoisting); two Box-Muller chains
            body = next(b for b in _loop_bodies(asm) if "vsqrtps" in b)
            n_bcast = body.count("vbroadcastss") + body.count("vpbroadcastd") + body.count("movabsq")
            assert n_bcast <= 4, f"{where}: {n_bcast} constant broadcasts per iteration: hoisting lost"
            assert body.count("vsqrtps") == 2 and body.count("vdivps") == 2, where
            assert re.search(rf"vsqrtps\s.*{wide}", body), f"{where}: the sampler loop is not {wide}-wide"
            if info["fma"]:
                # the log and sincos polynomials are explicit FMAs (_fmath.neg2_log_odd23)
                assert body.count("vfmadd") >= 20, f"{where}: the Box-Muller polynomials lost their vector FMAs"
            if case.endswith("bf16"):
                # 16-bit values leave as 32-bit words (fill._store_block): pairs merged in
                # registers (AVX2: vpblendw; AVX-512: a word/dword permute), written by full-width
                # vector stores; no 16-bit packs, byte shuffles or 16-bit scalar stores
                stores = _stores(body)
                assert stores and all(wide in s for s in stores), f"{where}: stores {stores}"
                assert not re.search(r"vpackusdw|vpshufb|vpextrw|\bmovw\b", body), where
                merge = r"vpblendw" if not info["avx512"] else r"vpblendw|vperm[it]2[wd]|vpermd|vpermw"
                assert re.search(merge, body), f"{where}: no word-pair merge ({merge})"
        if case == "fill-trunccentral-bf16":
            # staged 16-bit: the float32 sampler loop (Giles' polynomial and the logf under it, FMA
            # Horner steps and no division since the FMA polynomials: _fmath.horner_fma, logf) is
            # vectorized: its FMAs are full-width vector FMAs
            body = max(_loop_bodies(asm), key=lambda b: b.count("vfmadd"))
            assert body.count("vfmadd") >= 16, f"{where}: the Giles polynomial lost its vector FMAs"
            assert re.search(rf"vfmadd\w*\s.*{wide}", body), f"{where}: the sampler loop is not {wide}-wide"


@pytest.mark.parametrize("case", [c[0] for c in ACT_CASES])
def test_activation_kernel_is_vectorized(targets, case):
    for label, info, asms, wide in _each_target(targets, case):
        asm = asms[case]
        where = f"{case} on {label} ({info['cpu']})"
        # AVX-512 targets may keep some loops 256-bit (LLVM's prefer-256 tuning on Intel):
        # vector work of either width counts, and the widest width must appear
        assert asm.count("ymm") + asm.count("zmm") > 200, f"{where}: the activation loops no longer vectorize"
        assert wide in asm, f"{where}: no {wide} vectors"
        # no libm call survived (exp/log/tanh/erf would stop the loop from vectorizing)
        assert not re.search(r"\$(expf?|logf?|log1pf?|expm1f?|tanhf?|erff?|erfcf?)\b", asm), where
        assert not re.search(r"call\w*\s+\*?\w*(exp|log|tanh|erf)", asm), where
        if info["fma"]:
            assert re.search(r"vfn?m(add|sub)\d+ps\s.*[yz]mm", asm), f"{where}: the polynomials lost their vector FMAs"


def test_targets_are_what_they_claim(targets):
    """The named targets really are the ISA they stand for (a check of the harness)."""
    assert set(OTHER_CASES) <= set(c[0] for c in FILL_CASES + ACT_CASES)
    for label, (info, asms) in targets.items():
        assert set(OTHER_CASES) <= set(asms), label
        if label == "znver3":
            assert not info["avx512"] and info["fma"]
        if label == "sapphirerapids":
            assert info["avx512"] and info["fma"]
        if label == "host":
            assert info["avx512"] == _host_avx512()
