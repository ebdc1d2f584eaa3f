"""fastinit._torch_shard.fill_tensor: plain tensors, views and regions hold exactly
their part of the single-process tensor; DTensor shards (gloo, several local
processes started here) gather to it bit for bit."""
import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import fastinit  # noqa: E402
from fastinit import init as I  # noqa: E402
from fastinit._torch_shard import fill_tensor  # noqa: E402

SEED = 1234
G = (12, 10)

# (in-place initializer, its arguments): every random initializer with global_shape
RANDOM_CASES = [
    (I.uniform_, (-0.5, 2.0), {}),
    (I.normal_, (0.1, 0.02), {}),
    (I.trunc_normal_, (), dict(std=0.5, a=-1.0, b=1.0)),
    (I.xavier_uniform_, (), dict(gain=0.7)),
    (I.xavier_normal_, (), {}),
    (I.kaiming_uniform_, (), dict(a=math.sqrt(5))),
    (I.kaiming_normal_, (), dict(mode="fan_out", nonlinearity="relu")),
    (I.orthogonal_, (), dict(gain=2.0)),
    (I.sparse_, (0.3,), dict(std=0.1)),
    (I.variance_scaling_, (2.0, "fan_avg", "truncated_normal"), {}),
    (I.lecun_normal_, (), {}),
]
IDS = [fn.__name__ for fn, _, _ in RANDOM_CASES]


def full(fn, args, kwargs, shape=G, dtype=torch.float32, stream="blk.0.w"):
    """The single-process reference: the whole tensor filled by fastinit itself."""
    t = torch.empty(shape, dtype=dtype)
    return fn(t, *args, seed=SEED, stream=stream, **kwargs)


_INT = {2: torch.int16, 4: torch.int32, 8: torch.int64}


def bits(t):
    """The tensor's bits as integers (so -0.0 != 0.0 and NaN payloads count)."""
    t = t.detach().contiguous()
    return t.view(_INT[t.element_size()])


def assert_bits(a, b):
    assert tuple(a.shape) == tuple(b.shape) and a.dtype == b.dtype
    assert torch.equal(bits(a), bits(b))


# ------------------------------------------------------------------ plain tensors
@pytest.mark.parametrize("fn,args,kwargs", RANDOM_CASES, ids=IDS)
def test_whole_tensor_equals_allocating_form(fn, args, kwargs):
    t = torch.empty(G)
    out = fill_tensor(t, fn, *args, seed=SEED, stream="blk.0.w", **kwargs)
    assert out is t
    ref = getattr(fastinit, fn.__name__[:-1])(G, *args, seed=SEED, stream="blk.0.w", **kwargs)
    assert np.array_equal(t.numpy(), ref)


@pytest.mark.parametrize("fn,args,kwargs", RANDOM_CASES, ids=IDS)
def test_regions_and_views_hold_their_part(fn, args, kwargs):
    ref = full(fn, args, kwargs)
    # a region as its own contiguous tensor
    r = torch.empty(5, 4)
    fill_tensor(r, fn, *args, seed=SEED, stream="blk.0.w", global_shape=G, start=(3, 6), **kwargs)
    assert_bits(r, ref[3:8, 6:10])
    # a non-contiguous column slice of a parameter: only its columns change
    p = torch.nn.Parameter(torch.full(G, 7.0))
    fill_tensor(p[:, 2:7], fn, *args, seed=SEED, stream="blk.0.w", global_shape=G, start=(0, 2), **kwargs)
    assert_bits(p[:, 2:7], ref[:, 2:7])
    assert (p[:, :2] == 7).all() and (p[:, 7:] == 7).all()
    assert p.requires_grad and p.grad is None


def test_transposed_view_is_the_logical_tensor_of_its_shape():
    w = torch.empty(10, 12)
    fill_tensor(w.t(), I.kaiming_uniform_, a=math.sqrt(5), seed=SEED, stream="w")
    ref = full(I.kaiming_uniform_, (), dict(a=math.sqrt(5)), shape=(12, 10), stream="w")
    assert_bits(w.t(), ref)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float64])
def test_dtypes_in_regions(dtype):
    ref = full(I.normal_, (0.0, 1.0), {}, dtype=dtype)
    t = torch.zeros(G, dtype=dtype)
    for rows in (slice(0, 5), slice(5, 12)):
        fill_tensor(t[rows, 1:], I.normal_, 0.0, 1.0, seed=SEED, stream="blk.0.w", global_shape=G,
                    start=(rows.start, 1))
    assert_bits(t[:, 1:], ref[:, 1:])
    assert (t[:, 0] == 0).all()


def test_int_stream_and_default_stream():
    a, b = torch.empty(4, 4), torch.empty(4, 4)
    fill_tensor(a, I.uniform_, seed=3)
    fill_tensor(b, I.uniform_, seed=3, stream=0)
    assert_bits(a, b)
    assert np.array_equal(a.numpy(), fastinit.uniform((4, 4), seed=3))


@pytest.mark.parametrize("fn,val", [(I.zeros_, 0.0), (I.ones_, 1.0), (I.constant_, -0.25)])
def test_constant_fills_on_regions(fn, val):
    p = torch.full((6, 8), 9.0)
    args = (val,) if fn is I.constant_ else ()
    fill_tensor(p[1:4, 2:5], fn, *args, global_shape=(6, 8), start=(1, 2))
    expect = torch.full((6, 8), 9.0)
    expect[1:4, 2:5] = val
    assert torch.equal(p, expect)


@pytest.mark.parametrize("shape", [(5, 7), (7, 5), (6, 6)])
def test_eye_regions_are_regions_of_the_identity(shape):
    ref = torch.eye(*shape)
    for r0, c0, h, w in [(0, 0, shape[0], shape[1]), (1, 2, 3, 4), (4, 0, 1, 5), (0, 3, 5, 2), (2, 2, 0, 3)]:
        h, w = min(h, shape[0] - r0), min(w, shape[1] - c0)
        t = torch.full((h, w), 5.0)
        fill_tensor(t, I.eye_, global_shape=shape, start=(r0, c0))
        assert torch.equal(t, ref[r0:r0 + h, c0:c0 + w]), (r0, c0, h, w)
    p = torch.full((shape[1], shape[0]), 5.0)  # transposed view
    fill_tensor(p.t(), I.eye_)
    assert torch.equal(p.t(), ref)


@pytest.mark.parametrize("shape,groups", [((6, 4, 3), 1), ((8, 3, 3, 3), 2), ((4, 6, 3, 1, 2), 4)])
def test_dirac_regions_are_regions_of_torch_dirac(shape, groups):
    ref = torch.nn.init.dirac_(torch.empty(shape), groups=groups)
    per = shape[0] // groups
    for lo in range(0, shape[0], max(1, per - 1)):
        hi = min(shape[0], lo + per)
        t = torch.full((hi - lo,) + shape[1:], 3.0)
        fill_tensor(t, I.dirac_, groups, global_shape=shape, start=(lo,) + (0,) * (len(shape) - 1))
        assert torch.equal(t, ref[lo:hi])
    c = torch.full(shape, 3.0)
    sl = (slice(None), slice(1, None)) + (slice(None),) * (len(shape) - 2)
    fill_tensor(c[sl], I.dirac_, groups=groups, global_shape=shape, start=(0, 1) + (0,) * (len(shape) - 2))
    assert torch.equal(c[sl], ref[sl])
    assert (c[:, :1] == 3).all()


# ------------------------------------------------------------------ bad input: clear errors, nothing written
def _untouched(t, call, exc, match):
    before = t.clone()
    with pytest.raises(exc, match=match):
        call()
    assert torch.equal(t, before)


def test_meta_tensor_is_refused():
    with torch.device("meta"):
        t = torch.empty(4, 4)
    with pytest.raises(ValueError, match="meta device.*materialize"):
        fill_tensor(t, I.normal_, seed=0)


def test_bad_inputs_write_nothing():
    t = torch.full((4, 6), 2.0)
    _untouched(t, lambda: fill_tensor(t, I.normal_), TypeError, "needs seed=")
    _untouched(t, lambda: fill_tensor(t, torch.nn.init.normal_, seed=0), TypeError, "init_fn must be one of")
    _untouched(t, lambda: fill_tensor(t, I.normal_, seed=-1), ValueError, "seed")
    _untouched(t, lambda: fill_tensor(t, I.normal_, seed=0, stream=1.5), TypeError, "stream")
    _untouched(t, lambda: fill_tensor(t, I.normal_, seed=0, start=(0, 0)), ValueError, "needs global_shape")
    _untouched(t, lambda: fill_tensor(t, I.normal_, seed=0, global_shape=(4, 5)), ValueError, "does not fit")
    _untouched(t, lambda: fill_tensor(t[:, 1:], I.kaiming_uniform_, mode="fan_middle", seed=0), ValueError,
               "mode")
    _untouched(t, lambda: fill_tensor(t, I.eye_, 1, global_shape=(5, 6)), TypeError, "eye_ takes no")
    _untouched(t, lambda: fill_tensor(t, I.dirac_, global_shape=(4, 6)), ValueError, "dirac_ needs")
    c = torch.full((4, 2, 3), 2.0)  # dirac_'s own checks of groups, on the global shape
    _untouched(c, lambda: fill_tensor(c[:2], I.dirac_, 0, global_shape=(4, 2, 3)), ValueError,
               "groups must be a positive int, got 0")
    _untouched(c, lambda: fill_tensor(c[:2], I.dirac_, 3, global_shape=(4, 2, 3)), ValueError,
               r"dim 0 \(4\) must be divisible by groups \(3\)")
    base = torch.zeros(1, 6)
    _untouched(base, lambda: fill_tensor(base.expand(4, 6), I.normal_, seed=0), ValueError, "expand")
    with pytest.raises(TypeError, match="layout"):
        fill_tensor(torch.zeros(3, 3).to_sparse(), I.zeros_)
    with pytest.raises(TypeError, match="torch.Tensor"):
        fill_tensor(np.zeros(3, np.float32), I.normal_, seed=0)
    with pytest.raises(TypeError, match="dtype"):
        fill_tensor(torch.zeros(3, dtype=torch.int32), I.zeros_)


def test_custom_initializer_with_region_keywords():
    def half_normal_(t, *, seed, stream, global_shape=None, start=None):
        I.normal_(t, seed=seed, stream=stream, global_shape=global_shape, start=start)
        return t.abs_()

    p = torch.zeros(G)
    fill_tensor(p[2:9], half_normal_, seed=SEED, stream="s", global_shape=G, start=(2, 0))
    assert_bits(p[2:9], full(I.normal_, (), {}, stream="s")[2:9].abs())


# ------------------------------------------------------------------ DTensor / FSDP2 / TP on gloo
def _worker_module():
    import importlib.util
    import pathlib
    path = pathlib.Path(__file__).with_name("shard_worker.py")
    spec = importlib.util.spec_from_file_location("fastinit_shard_worker", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


W = _worker_module()


def _free_port():
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _single_process(world):
    """name -> the tensor one process gets from fastinit's own initializer (no fill_tensor)."""
    ref = {}
    for name, (_, _, fn, args, kwargs, shape, dtype) in W.tensor_cases(world).items():
        extra = dict(seed=W.SEED, stream=name) if W.is_random(fn) else {}
        if name in W.INSIDE:  # the region of the larger tensor
            (g, st) = W.INSIDE[name]
            big = fn(torch.empty(g, dtype=dtype), *args, **extra, **kwargs)
            ref[name] = big[tuple(slice(a, a + n) for a, n in zip(st, shape))]
            continue
        ref[name] = fn(torch.empty(shape, dtype=dtype), *args, **extra, **kwargs)
    import fastinit.torch as ft
    for case in W.model_cases(world):
        if case.startswith("rules"):  # the single-process reset_parameters of the same model
            model = ft.reset_parameters(W.Small(), seed=W.SEED)
        else:  # fastinit's initializers on the whole parameters (no fill_tensor)
            model = W.build_model()
            W.init_model(model, lambda p, fn, *a, **k: fn(p.data, *a, **k))
        for pname, p in model.named_parameters():
            ref[f"{case}:{pname}"] = p.detach()
    return ref


def run_ranks(world, out, tmp_path, timeout=400):
    """Start ``world`` gloo ranks of tests/shard_worker.py (fastinit from this checkout)."""
    import os
    import pathlib
    import subprocess
    import sys
    root = pathlib.Path(__file__).resolve().parents[1]
    env = dict(os.environ, NUMBA_NUM_THREADS="1", OMP_NUM_THREADS="1",
               PYTHONPATH=os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")]))
    port = _free_port()
    procs, logs = [], []
    for rank in range(world):
        log = open(tmp_path / f"rank{rank}.log", "w+")
        logs.append(log)
        procs.append(subprocess.Popen([sys.executable, str(root / "tests" / "shard_worker.py"), str(rank),
                                       str(world), str(port), str(out)], env=env, stdout=log,
                                      stderr=subprocess.STDOUT))
    try:
        codes = [p.wait(timeout=timeout) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    text = ""
    for rank, log in enumerate(logs):
        log.seek(0)
        text += f"--- rank {rank}\n" + log.read()[-3000:]
        log.close()
    assert codes == [0] * world, text


@pytest.mark.parametrize("world", [1, 2, 4])
def test_dtensor_fsdp2_tp_shards_gather_to_single_process_bits(world, tmp_path):
    # references first: they also compile every kernel the ranks load from the disk cache
    ref = _single_process(world)
    out = tmp_path / "gathered.pt"
    run_ranks(world, out, tmp_path)
    got = torch.load(out)
    assert set(got["gathered"]) == set(ref)
    bad = [name for name in ref if not (got["gathered"][name].dtype == ref[name].dtype
                                        and torch.equal(bits(got["gathered"][name]), bits(ref[name])))]
    assert not bad, f"gathered != single-process for {bad}"
    pl = got["placements"]
    # the layouts the issue names were really exercised
    assert pl["fsdp:0.weight"] == pl["fsdp_meta:0.weight"] == "(Shard(dim=0),)"
    assert pl["tp:0.weight"] == "(Shard(dim=0),)" and pl["tp:2.weight"] == "(Shard(dim=1),)"
    assert pl["fsdp_tp:0.weight"].startswith("(_StridedShard(dim=0, sf=2)" if world % 2 == 0 else "(Shard")
    assert pl["rules_tp:emb.weight"] == "(Shard(dim=0),)" and pl["rules_fsdp_meta:up.weight"] == "(Shard(dim=0),)"
    assert pl["rules_fsdp_tp_meta:up.weight"].startswith("(_StridedShard" if world % 2 == 0 else "(Shard")
    assert (ref["rules_tp:emb.weight"][3] == 0).all()  # the padding row, on one rank of the TP mesh
    assert "Partial" in got["partial"] and "placement" in got["partial"]
    assert "meta device" in got["meta"]


def test_benchmark_model_init_dist_smoke():
    """benchmarks/model_init_dist.py runs end to end (a 1-layer model; its figures live in BENCHMARKS.md)."""
    import pathlib
    import subprocess
    import sys
    root = pathlib.Path(__file__).resolve().parents[1]
    p = subprocess.run([sys.executable, str(root / "benchmarks" / "model_init_dist.py"), "--scale", "0.03",
                        "--layers", "1", "--rounds", "1"], capture_output=True, text=True, timeout=600, cwd=root)
    assert p.returncode == 0, p.stderr[-3000:]
    assert "median slower-rank / single" in p.stdout
