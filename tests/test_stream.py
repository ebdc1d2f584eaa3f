"""The stream contract: known answers, a plain-NumPy reference, 64-bit indices,
string streams, and invariance under threads, tiling and sharding."""
import hashlib
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

import fastinit as fi
from fastinit._stream import philox4x32_10
from numba import njit
from fastinit.cpu import fill, runtime
from philox_ref import words

from conftest import DATA, repo_root


def kat_vectors():
    rows = []
    for line in (DATA / "philox_kat.txt").read_text().splitlines():
        if line.startswith("philox4x32 10 "):
            f = line.split()
            rows.append([int(v, 16) for v in f[2:]])
    assert len(rows) == 3
    return rows


def test_kat_file_matches_shared_copy():
    shared = repo_root().parent / "shared" / "philox_kat.txt"
    if not shared.exists():
        pytest.skip("../shared/philox_kat.txt is not beside this checkout")
    assert shared.read_text() == (DATA / "philox_kat.txt").read_text()


@njit
def _philox(c0, c1, c2, c3, k0, k1):
    return philox4x32_10(c0, c1, c2, c3, k0, k1)


@pytest.mark.parametrize("row", kat_vectors())
def test_random123_known_answers(row):
    c0, c1, c2, c3, k0, k1, *expected = row
    got = _philox(*(np.uint64(v) for v in (c0, c1, c2, c3, k0, k1)))
    assert [int(v) for v in got] == expected
    # and through the public API wherever the block is addressable (n = 4 b < 2**64)
    block = c0 | (c1 << 32)
    if 4 * block + 3 < 2**64:
        bits = fi.random_bits(4, seed=k0 | (k1 << 32), stream=c2 | (c3 << 32), offset=4 * block)
        assert [int(v) for v in bits] == expected


@pytest.mark.parametrize("offset", [0, 1, 3, 4 * (2**32) - 6, 2**32 - 2, 2**40 + 5, 2**64 - 7, 12345678901234])
@pytest.mark.parametrize("seed,stream", [(0, 0), (2**64 - 1, 2**63 + 11), (123456789, 42)])
def test_bits_match_numpy_reference(offset, seed, stream):
    n = 4103  # head, vector body and tail, several tiles under the test fixture
    got = fi.random_bits(n, seed=seed, stream=stream, offset=offset)
    np.testing.assert_array_equal(got, words(seed, stream, offset, n))


def test_random_slices_match_reference():
    rng = np.random.default_rng(7)
    for _ in range(20):
        seed = int(rng.integers(0, 2**63)) * 2 + 1
        stream = int(rng.integers(0, 2**63))
        offset = int(rng.integers(0, 2**62))
        n = int(rng.integers(1, 3000))
        np.testing.assert_array_equal(fi.random_bits(n, seed=seed, stream=stream, offset=offset),
                                      words(seed, stream, offset, n))


def test_bits_shape_and_slices_agree():
    full = fi.random_bits((37, 53), seed=9, stream=3)
    for off in (0, 1, 100, 1000):
        np.testing.assert_array_equal(fi.random_bits(50, seed=9, stream=3, offset=off),
                                      full.ravel()[off:off + 50])


def test_string_stream_is_documented_blake2b():
    name = "layers.3.mlp.w1"
    expect = int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), "little")
    assert fi.stream_id(name) == expect
    np.testing.assert_array_equal(fi.random_bits(64, seed=1, stream=name),
                                  fi.random_bits(64, seed=1, stream=expect))
    assert not np.array_equal(fi.normal(64, seed=1, stream="a"), fi.normal(64, seed=1, stream="b"))


def test_seed_words_layout():
    # key = (seed & 0xFFFFFFFF, seed >> 32): seeds differing only in the high word differ
    a = fi.random_bits(16, seed=5)
    b = fi.random_bits(16, seed=5 + (1 << 32))
    assert not np.array_equal(a, b)
    np.testing.assert_array_equal(b, words(5 + (1 << 32), 0, 0, 16))


def test_tiling_does_not_change_values(monkeypatch):
    shape = (3, 1001, 7)
    ref = {name: fi.normal(shape, seed=4, stream=name, dtype="float32") for name in ("x",)}
    for task, small in ((4, 1), (1 << 7, 1 << 5), (1 << 30, 1 << 30)):
        monkeypatch.setattr(runtime, "TASK", task)
        monkeypatch.setattr(runtime, "SMALL", small)
        np.testing.assert_array_equal(fi.normal(shape, seed=4, stream="x"), ref["x"])
        np.testing.assert_array_equal(fi.random_bits(5000, seed=4, offset=3),
                                      words(4, 0, 3, 5000))


SCRIPT = r"""
import hashlib, numpy as np, fastinit as fi, numba
from fastinit.cpu import runtime
runtime.TASK = 1 << 14; runtime.SMALL = 1 << 10
h = hashlib.sha256()
for f in (fi.uniform, fi.normal, fi.trunc_normal):
    for dt in ("float32", "float64", "float16"):
        h.update(f((333, 517), seed=11, stream=2, dtype=dt).tobytes())
h.update(fi.random_bits(100003, seed=3, offset=2**40 - 1).tobytes())
print(numba.get_num_threads(), h.hexdigest())
"""


def test_thread_count_invariance():
    outs = []
    for nt in ("1", "2"):
        env = dict(os.environ, NUMBA_NUM_THREADS=nt)
        r = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True,
                           timeout=600)
        assert r.returncode == 0, r.stderr
        outs.append(r.stdout.split())
    assert outs[0][0] == "1" and outs[1][0] == "2"
    assert outs[0][1] == outs[1][1]


SHARD_CASES = [
    ((64, 48), (16, 20), (5, 7)),
    ((64, 48), (64, 20), (0, 28)),
    ((64, 48), (10, 48), (30, 0)),
    ((8, 6, 5, 5), (3, 2, 5, 4), (4, 1, 0, 1)),
    ((8, 6, 5, 5), (8, 6, 2, 5), (0, 0, 3, 0)),
    ((1000,), (333,), (667,)),
]


@pytest.mark.parametrize("gshape,shape,start", SHARD_CASES)
@pytest.mark.parametrize("name", ["uniform_", "normal_", "trunc_normal_", "kaiming_uniform_",
                                  "kaiming_normal_", "xavier_uniform_", "xavier_normal_",
                                  "glorot_uniform_", "he_normal_", "lecun_normal_", "orthogonal_", "sparse_"])
def test_shard_holds_region_of_full_tensor(name, gshape, shape, start):
    fn = getattr(fi, name)
    args = (0.25,) if name == "sparse_" else ()
    if len(gshape) < 2 and name not in ("uniform_", "normal_", "trunc_normal_"):
        pytest.skip("fans and orthogonal need >= 2-D")
    if name == "sparse_" and len(gshape) != 2:
        pytest.skip("sparse_ is 2-D only")
    full = fn(np.empty(gshape, np.float32), *args, seed=21, stream="w")
    shard = fn(np.empty(shape, np.float32), *args, seed=21, stream="w", global_shape=gshape, start=start)
    region = tuple(slice(s, s + n) for s, n in zip(start, shape))
    np.testing.assert_array_equal(shard, full[region])


def test_default_generator_sequence_is_reproducible():
    fi.manual_seed(1234)
    a1, a2 = fi.normal(100), fi.uniform(100)
    fi.manual_seed(1234)
    b1, b2 = fi.normal(100), fi.uniform(100)
    np.testing.assert_array_equal(a1, b1)
    np.testing.assert_array_equal(a2, b2)
    assert not np.array_equal(fi.normal(100), b1)
    # the n-th call of the default generator is stream n of the manual seed
    np.testing.assert_array_equal(a1, fi.normal(100, seed=1234, stream=0))
    np.testing.assert_array_equal(a2, fi.uniform(100, seed=1234, stream=1))
    assert fi.initial_seed() == 1234
    fi.manual_seed(0)


def test_seed_without_stream_is_stream_zero():
    np.testing.assert_array_equal(fi.normal(50, seed=3), fi.normal(50, seed=3, stream=0))


def _bits16(a):
    return np.asarray(a).view(np.uint16)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
@pytest.mark.parametrize("fn,args", [(fi.uniform_, ()), (fi.normal_, ()),
                                     (fi.trunc_normal_, ()),  # [-2, 2]: the central sampler
                                     (fi.trunc_normal_, (0.0, 1.0, 2.0, 3.0))])
def test_16bit_outputs_at_any_alignment_tiling_and_shard(fn, args, dtype, monkeypatch):
    """16-bit bodies are written as 32-bit words (two values each) at whatever
    address the output starts; a view 2, 4 or 6 bytes into its buffer, odd tile
    widths and shard rows that start mid-block must all hold the same values."""
    if dtype == "bfloat16":
        ml_dtypes = pytest.importorskip("ml_dtypes")
        dt = np.dtype(ml_dtypes.bfloat16)
    else:
        dt = np.dtype(dtype)
    n = 4099
    ref = fn(np.empty(n, dt), *args, seed=6, stream="al")
    for k in range(4):
        o = np.empty(n + k, dt)[k:]
        np.testing.assert_array_equal(_bits16(fn(o, *args, seed=6, stream="al")), _bits16(ref))
    monkeypatch.setattr(runtime, "TASK", 37)
    monkeypatch.setattr(runtime, "SMALL", 1)
    np.testing.assert_array_equal(_bits16(fn(np.empty(n, dt), *args, seed=6, stream="al")), _bits16(ref))
    full = fn(np.empty((40, 61), dt), *args, seed=6, stream="al")
    shard = fn(np.empty((13, 29), dt), *args, seed=6, stream="al", global_shape=(40, 61), start=(3, 5))
    np.testing.assert_array_equal(_bits16(shard), _bits16(full[3:16, 5:34]))


@pytest.mark.parametrize("dtype", ["float32", "float64", "float16"])
def test_kernel_cache_tells_aligned_from_unaligned_outputs(dtype):
    """``runtime.kernel_for`` caches compiled kernels by what ``numba.typeof`` reads
    from an array; an output 1 byte into its buffer (not aligned to its dtype)
    must get its own, correct kernel, before and after an aligned call."""
    dt = np.dtype(dtype)
    ref = fi.normal((37, 33), seed=3, dtype=dtype)
    raw = np.zeros(ref.nbytes + 1, np.uint8)
    o = raw[1:].view(dt).reshape(ref.shape)
    assert not o.flags.aligned
    fi.normal_(o, seed=3)
    np.testing.assert_array_equal(o.view(f"u{dt.itemsize}"), ref.view(f"u{dt.itemsize}"))
    again = fi.normal_(np.empty(ref.shape, dt), seed=3)
    np.testing.assert_array_equal(again.view(f"u{dt.itemsize}"), ref.view(f"u{dt.itemsize}"))
    kdt = np.dtype(np.uint16) if dt.itemsize == 2 else dt  # 16-bit kernels see bit patterns
    keys = {k[1][0] for k in runtime._KERNELS if k[0] is fill.fill_rows and k[1][0][0] == kdt}
    assert {k[5] for k in keys} >= {True, False}


def _f16_digest():
    h = hashlib.sha256()
    for f in (fi.uniform_, fi.normal_):
        h.update(f(np.empty(4099, np.float16), seed=4, stream="be").view(np.uint16).tobytes())
    return h.hexdigest()


ONE_BY_ONE = """
import fastinit as fi
from fastinit.cpu import fill
fill._WORD_PAIRS = False  # before the first compile: the big-endian store path
from test_stream import _f16_digest
print(_f16_digest())
"""


def test_16bit_one_by_one_stores_equal_word_pairs(tmp_path):
    """Where word pairs are not used (``fill._WORD_PAIRS`` False: big-endian
    hosts) 16-bit values are stored one by one; same values. A fresh Numba
    cache directory, so the process compiles its own kernels (~15 s)."""
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path),
               PYTHONPATH=os.pathsep.join([str(pathlib.Path(__file__).parent), os.environ.get("PYTHONPATH", "")]))
    r = subprocess.run([sys.executable, "-c", ONE_BY_ONE], env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split()[-1] == _f16_digest()
