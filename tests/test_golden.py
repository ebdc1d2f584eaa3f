"""Golden digests: a net under every bit fastinit promises (README, "The stream contract").

Each case is a sha256 over the little-endian bytes of 2**16 consecutive values (the
activations: over a fixed grid), recomputed here and compared with ``tests/data/golden.json``:

* every sampler code and branch (uniform, normal, truncated normal central / both tails /
  one tail reflected / infinite bounds / far tail on float64 math, float64 math) x every storage
  kind (float32, float64, float16, bfloat16), at logical offsets 0, 2**31 + 1, 2**34 - 2**15 + 3
  (its run crosses the counter's high word) and 2**64 - 2**16 (the last elements), through the
  public initializers with ``global_shape``/``start``, so nothing of that size is allocated;
  2-D shards (one run per row, odd starts); raw words (``random_bits``, also wrapping past 2**64);
* the fan-based initializers (kaiming, xavier, variance scaling with its truncated normal, sparse)
  once each;
* every activation (and its parametrized variants) in float32 and float64, ``(f, f')`` over
  ``GRID32``/``GRID64`` (a dense grid over [-20, 20] in steps of 2**-11, tails up to the largest
  finite value, +-0, subnormals; not +-inf or NaN, whose limits ``tests/test_activations.py``
  checks), and 16-bit outputs of the activations' float16/bfloat16 path.

float32 and 16-bit values use only IEEE-754 basic operations and explicit FMAs: their digests hold
on every machine. Cases that go through libm (float64 normal and truncated normal, the far-tail
truncated normal, float64 activations) are compared only where libm gives the bits it gave when
the digests were made (``libm_fingerprint``: exp, expm1, log, log1p, erf, erfc, tanh over a grid);
elsewhere they are skipped, saying so (the README promises them only within a few ulp).

A failure names the digests that moved. When a change of bits is deliberate (and the README's
compatibility note says so), regenerate the file with::

    python tests/test_golden.py --regen

and commit it with the change.
"""
from __future__ import annotations

import hashlib
import json
import math
import pathlib
import sys

import numpy as np
import pytest

import fastinit as fi
from fastinit import activations as A
from fastinit import distributions as D

GOLDEN = pathlib.Path(__file__).parent / "data" / "golden.json"
REGEN = "python tests/test_golden.py --regen"
N = 1 << 16

try:
    import ml_dtypes
    BF16 = np.dtype(ml_dtypes.bfloat16)
except ImportError:  # bfloat16 cases skip
    BF16 = None

KINDS = ("float32", "float64", "float16", "bfloat16")
#: logical offsets of the 1-D cases
OFFSETS = {"0": 0, "2**31+1": (1 << 31) + 1, "2**34-2**15+3": (1 << 34) - (1 << 15) + 3,
           "2**64-2**16": (1 << 64) - N}
SEED, STREAM = 2026, "golden"


def digest(*arrays):
    """sha256 of the arrays' little-endian bytes, in order (16-bit kinds as their bit patterns)."""
    h = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(a)
        if a.dtype.itemsize == 2:
            a = a.view(np.uint16)
        h.update(a.astype(a.dtype.newbyteorder("<"), copy=False).tobytes())
    return h.hexdigest()


# ---------------------------------------------------------------- the samplers
def _mv(mean, std):
    return dict(mean=mean, std=std)


#: name -> (initializer, params, sampler code the host must choose for float32 and 16-bit kinds)
DISTS = {
    "uniform": (fi.uniform, dict(a=-0.3, b=0.7), D.UNIFORM),
    "normal": (fi.normal, _mv(0.0, 1.0), D.NORMAL),
    "normal_m0.1_s0.02": (fi.normal, _mv(0.1, 0.02), D.NORMAL),
    "trunc_central": (fi.trunc_normal, dict(mean=0.1, std=0.02, a=0.06, b=0.14), D.TRUNC_NORMAL_CENTRAL),
    "trunc_both_tails": (fi.trunc_normal, dict(mean=0.0, std=1.0, a=-4.0, b=4.0), D.TRUNC_NORMAL),
    "trunc_upper_reflected": (fi.trunc_normal, dict(mean=0.5, std=2.0, a=3.5, b=8.5), D.TRUNC_NORMAL),
    "trunc_infinite": (fi.trunc_normal, dict(mean=0.0, std=1.0, a=-math.inf, b=math.inf), D.TRUNC_NORMAL),
    "trunc_far_upper": (fi.trunc_normal, dict(mean=0.0, std=1.0, a=8.0, b=9.0), D.TRUNC_NORMAL_WIDE),
    "trunc_far_lower": (fi.trunc_normal, dict(mean=1.0, std=0.5, a=-14.0, b=-13.5), D.TRUNC_NORMAL_WIDE),
}
#: sampler codes whose float32 math calls libm (the float64 math always does, but for uniform)
_LIBM32 = {D.TRUNC_NORMAL_WIDE}


def _dtype(kind):
    return BF16 if kind == "bfloat16" else np.dtype(kind)


def _dist_libm(name, kind):
    fn, _, code = DISTS[name]
    return code in _LIBM32 or (kind == "float64" and code != D.UNIFORM)


def _dist_digests(name, kind):
    fn, params, _ = DISTS[name]
    out = {}
    for tag, off in OFFSETS.items():
        v = fn((N,), **params, dtype=kind, seed=SEED, stream=STREAM, global_shape=(1 << 64,), start=(off,))
        out[f"{name}/{kind}/@{tag}"] = digest(v)
    # a 2-D shard: one run per row, odd row and column starts
    v = fn((64, 1024), **params, dtype=kind, seed=SEED, stream=STREAM, global_shape=(1 << 20, 1 << 20),
           start=((1 << 19) + 1, 777))
    out[f"{name}/{kind}/shard"] = digest(v)
    return out


def _bits_digests():
    out = {}
    offsets = dict(OFFSETS, **{"2**64-2**15 (wraps)": (1 << 64) - (1 << 15)})
    for tag, off in offsets.items():
        out[f"random_bits/uint32/@{tag}"] = digest(fi.random_bits((N,), seed=SEED, stream=STREAM, offset=off))
    return out


# ---------------------------------------------------------------- fan-based initializers
def _fan_cases():
    kw = dict(seed=SEED, stream=STREAM)
    shape = (256, 256)
    return {
        "kaiming_uniform_a=sqrt5": lambda: fi.kaiming_uniform(shape, a=math.sqrt(5), **kw),
        "kaiming_normal_fan_out_relu": lambda: fi.kaiming_normal(shape, mode="fan_out", nonlinearity="relu", **kw),
        "xavier_uniform_gain2": lambda: fi.xavier_uniform((128, 64, 3, 3), gain=2.0, **kw),
        "xavier_normal": lambda: fi.xavier_normal(shape, **kw),
        "he_normal (variance_scaling truncated)": lambda: fi.he_normal((3, 3, 64, 128), **kw),
        "glorot_uniform": lambda: fi.glorot_uniform(shape, **kw),
        "variance_scaling_fan_avg_normal_bf16": lambda: fi.variance_scaling(
            shape, 0.5, "fan_avg", "normal", dtype="bfloat16", **kw),
        "kaiming_uniform_shard": lambda: fi.kaiming_uniform((64, 1024), a=math.sqrt(5), global_shape=(4096, 4096),
                                                            start=(1000, 3), **kw),
        "sparse_0.3": lambda: fi.sparse(shape, 0.3, **kw),
    }


# ---------------------------------------------------------------- activations
def _span(lo, hi, count, dtype):
    """About ``count`` values whose bit patterns are evenly spaced in [lo, hi) (``dtype`` float)."""
    ut = np.uint32 if dtype == np.float32 else np.uint64
    return np.arange(lo, hi, (hi - lo) // count + 1, dtype=ut).view(dtype)


def _signed(a):
    return np.concatenate([a, -a])


def _make_grid32():
    dense = np.arange(-20 * 2048, 20 * 2048 + 1, dtype=np.int64).astype(np.float32) / np.float32(2048)  # exact
    tails = _span(0x41A00001, 0x7F800000, 4096, np.float32)  # (20, FLT_MAX]
    small = _span(0x00800000, 0x39000000, 4096, np.float32)  # normals below the dense grid's step 2**-11
    sub = _span(1, 0x00800000, 256, np.float32)              # subnormals
    return np.concatenate([dense, _signed(tails), _signed(small), _signed(sub),
                           np.array([0.0, -0.0, np.finfo(np.float32).max, -np.finfo(np.float32).max], np.float32)])


def _make_grid64():
    shifted = np.arange(-20 * 2048, 20 * 2048, dtype=np.int64) / 2048.0 + 1.0 / 3 / 2048  # off the float32 grid
    tails = _span(0x4034000000000001, 0x7FF0000000000000, 4096, np.float64)  # (20, DBL_MAX]
    small = _span(0x0010000000000000, 0x3F40000000000000, 4096, np.float64)  # normals below 2**-11
    sub = _span(1, 1 << 52, 256, np.float64)                                 # subnormals
    return np.concatenate([GRID32.astype(np.float64), shifted, _signed(tails), _signed(small), _signed(sub),
                           [np.finfo(np.float64).max, -np.finfo(np.float64).max]])


GRID32 = _make_grid32()
GRID64 = _make_grid64()

#: parametrized variants beyond each entry's defaults
ACT_VARIANTS = [("gelu", {"approximate": "tanh"}), ("geglu", {"approximate": "tanh"}),
                ("leaky_relu", {"negative_slope": 0.2}), ("elu", {"alpha": 0.5}), ("celu", {"alpha": 2.0}),
                ("softplus", {"beta": 2.0, "threshold": 10.0}), ("softplus", {"beta": -1.5}),
                ("hardtanh", {"min_val": -2.0, "max_val": 3.0}), ("hardshrink", {"lambd": 0.3}),
                ("softshrink", {"lambd": 1.0})]
#: 16-bit kinds: the float32 math of the entries above rounded once; these names cover the
#: load/store codecs of both kernels (one-input and gated) without compiling every entry twice more
ACT_16 = [("gelu", {}), ("silu", {}), ("relu", {}), ("softplus", {}), ("tanh", {}), ("swiglu", {})]


def _act_cases():
    return [(n, {}) for n in A.ACTIVATIONS] + ACT_VARIANTS


def _act_key(name, params, dtype):
    return "act/" + name + "".join(f"-{k}={v}" for k, v in params.items()) + f"/{dtype}"


def _act_digest(name, params, dtype):
    if dtype in ("float32", "float64"):
        x = GRID32 if dtype == "float32" else GRID64
    else:
        with np.errstate(over="ignore"):  # the tails beyond the 16-bit range round to inf: dropped
            x = GRID32.astype(_dtype(dtype))
        x = x[np.isfinite(x.astype(np.float32))]  # no +-inf: their limits are tested elsewhere
    if A.ACTIVATIONS[name].gated:
        y, (ga, gb) = A.fused(name, (x, x[::-1].copy()), **params)
        return digest(y, ga, gb)
    y, d = A.fused(name, x, **params)
    return digest(y, d)


# ---------------------------------------------------------------- libm fingerprint
def libm_fingerprint():
    """sha256 of the libm functions the float64 math calls, over a fixed grid, as Numba calls them."""
    from numba import njit

    @njit(cache=False)
    def probe(x, out):
        for i in range(x.size):
            v = x[i]
            out[i, 0] = math.exp(v)
            out[i, 1] = math.expm1(v)
            out[i, 2] = math.log(abs(v) + 1e-300)
            out[i, 3] = math.log1p(abs(v))
            out[i, 4] = math.erf(v)
            out[i, 5] = math.erfc(v)
            out[i, 6] = math.tanh(v)

    x = np.concatenate([np.arange(-2 ** 15, 2 ** 15) / 2 ** 10 + 1.0 / 7 / 2 ** 10, [1e-300, 1e-20, 1e20, 700.0]])
    out = np.empty((x.size, 7))
    probe(x, out)
    return digest(out)


# ---------------------------------------------------------------- the table of cases
def cases():
    """name -> (function computing {digest key: sha256}, needs the golden libm?, skip reason or None)."""
    table = {}
    for name in DISTS:
        for kind in KINDS:
            skip = "ml_dtypes is not installed" if kind == "bfloat16" and BF16 is None else None
            table[f"{name}/{kind}"] = (lambda n=name, k=kind: _dist_digests(n, k), _dist_libm(name, kind), skip)
    table["random_bits"] = (_bits_digests, False, None)
    for name, fn in _fan_cases().items():
        skip = "ml_dtypes is not installed" if "bf16" in name and BF16 is None else None
        table[f"init/{name}"] = (lambda n=name, f=fn: {f"init/{n}": digest(f())}, False, skip)
    for name, params in _act_cases():
        for dtype in ("float32", "float64"):
            key = _act_key(name, params, dtype)
            table[key] = (lambda n=name, p=params, d=dtype, k=key: {k: _act_digest(n, p, d)}, dtype == "float64",
                          None)
    for name, params in ACT_16:
        for dtype in ("float16", "bfloat16"):
            key = _act_key(name, params, dtype)
            skip = "ml_dtypes is not installed" if dtype == "bfloat16" and BF16 is None else None
            table[key] = (lambda n=name, p=params, d=dtype, k=key: {k: _act_digest(n, p, d)}, False, skip)
    return table


CASES = cases()


def _load():
    return json.loads(GOLDEN.read_text())


@pytest.fixture(scope="module")
def golden():
    if not GOLDEN.exists():
        pytest.fail(f"{GOLDEN} is missing; create it with `{REGEN}`")
    return _load()


@pytest.fixture(scope="module")
def same_libm(golden):
    return libm_fingerprint() == golden["libm_fingerprint"]


@pytest.mark.parametrize("case", sorted(CASES))
def test_digest(case, golden, same_libm):
    compute, libm, skip = CASES[case]
    if skip:
        pytest.skip(skip)
    if libm and not same_libm:
        pytest.skip(f"{case} calls libm, which here differs from the one {GOLDEN.name} was made with "
                    f"({golden['platform']}); float64 and far-tail bits are promised within a few ulp only")
    got = compute()
    want = {k: golden["digests"].get(k) for k in got}
    moved = sorted(k for k in got if got[k] != want[k])
    assert not moved, (f"golden digest(s) moved: {', '.join(moved)}. If the change of bits is deliberate, "
                       f"regenerate with `{REGEN}` and say so in the README's compatibility note.")


@pytest.mark.parametrize("name", sorted(DISTS))
def test_cases_take_the_branch_they_name(name):
    """The host picks the sampler code each case is meant to cover (else the case covers another)."""
    _, params, code = DISTS[name]
    if code in (D.UNIFORM, D.NORMAL):
        return
    assert D.prepare(D.TRUNC_NORMAL, params["mean"], params["std"], params["a"], params["b"])[0] == code


def test_grids_are_finite_and_cover_the_ranges():
    for g, ft in ((GRID32, np.float32), (GRID64, np.float64)):
        fi_ = np.finfo(ft)
        assert np.isfinite(g).all()
        assert g.max() == fi_.max and g.min() == -fi_.max
        assert ((g != 0) & (np.abs(g) < fi_.tiny)).sum() >= 128  # subnormals
        assert np.signbit(g[g == 0]).any() and (~np.signbit(g[g == 0])).any()  # +0 and -0
        dense = g[np.abs(g) <= 20]
        assert dense.size >= 80000


def test_every_case_has_a_digest_and_none_is_stale(golden):
    """A case added without regenerating (or a digest left for a removed case) fails here."""
    names = {k.rsplit("/@", 1)[0].removesuffix("/shard") for k in golden["digests"]}
    expected = {"random_bits/uint32" if c == "random_bits" else c for c in CASES}
    assert names == expected, (f"cases without a digest: {sorted(expected - names)}; digests without a case: "
                               f"{sorted(names - expected)}; regenerate with `{REGEN}`")


def regenerate():
    import platform
    digests = {}
    for case in sorted(CASES):
        compute, _, skip = CASES[case]
        if skip:
            raise SystemExit(f"cannot regenerate {case}: {skip}")
        digests.update(compute())
    data = {
        "about": f"sha256 digests of fastinit's values (tests/test_golden.py); regenerate with `{REGEN}`",
        "platform": f"{platform.system()} {platform.machine()} {' '.join(platform.libc_ver())}".strip(),
        "libm_fingerprint": libm_fingerprint(),
        "digests": dict(sorted(digests.items())),
    }
    GOLDEN.write_text(json.dumps(data, indent=1) + "\n")
    print(f"wrote {len(digests)} digests to {GOLDEN}")


if __name__ == "__main__":
    if sys.argv[1:] != ["--regen"]:
        raise SystemExit(f"usage: {REGEN}")
    regenerate()
