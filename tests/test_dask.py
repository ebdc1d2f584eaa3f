"""fastinit.dask and Zarr writes on the real engines: Dask's threaded scheduler, a
distributed.LocalCluster of worker processes (one per module), real Zarr v3 stores,
a worker killed mid-write, a ``fastinit make`` process killed mid-write and resumed."""
import os
import pickle
import signal
import subprocess
import sys
import textwrap
import threading
import time

import numpy as np
import pytest

import fastinit as fi

da = pytest.importorskip("dask.array")
zarr = pytest.importorskip("zarr")
distributed = pytest.importorskip("distributed")

import fastinit.dask as fd  # noqa: E402
from fastinit import cli, io  # noqa: E402

from conftest import requires_bf16, requires_torch  # noqa: E402

SHAPE = (40, 30)
# (name, positional parameters, keyword parameters): every initializer fastinit.dask has
CASES = [
    ("uniform", (-0.5, 2.0), {}), ("normal", (0.1, 0.02), {}), ("trunc_normal", (0.0, 1.0, -1.0, 2.5), {}),
    ("trunc_normal", (0.0, 1.0, 2.0, 3.0), {}), ("xavier_uniform", (1.5,), {}), ("xavier_normal", (), {}),
    ("kaiming_uniform", (5 ** 0.5,), {}), ("kaiming_normal", (0, "fan_out", "relu"), {}),
    ("orthogonal", (2.0,), {}), ("sparse", (0.3,), {}), ("variance_scaling", (2.0, "fan_avg", "uniform"), {}),
    ("variance_scaling", (1.0, "fan_in", "truncated_normal"), {"in_axis": 0, "out_axis": 1}),
    ("glorot_uniform", (), {}), ("glorot_normal", (), {}), ("he_uniform", (), {}), ("he_normal", (), {}),
    ("lecun_uniform", (), {}), ("lecun_normal", (), {}),
]
FILLS = [("constant", (2.5,), {}), ("zeros", (), {}), ("ones", (), {}), ("eye", (), {})]


def same_bits(a, b):
    a, b = np.asarray(a), np.asarray(b)
    assert a.shape == b.shape and a.dtype == b.dtype
    np.testing.assert_array_equal(a.view(f"u{a.itemsize}"), b.view(f"u{b.itemsize}"))


def blocks_of(x):
    """Every block computed alone, with the region of the full array it covers."""
    starts = [np.concatenate(([0], np.cumsum(c)[:-1])) for c in x.chunks]
    for idx in np.ndindex(*x.numblocks):
        region = tuple(slice(int(starts[a][i]), int(starts[a][i]) + x.chunks[a][i]) for a, i in enumerate(idx))
        yield x.blocks[idx], region


# ------------------------------------------------------------------ values
@pytest.mark.parametrize("name,args,kw", CASES + FILLS, ids=[f"{c[0]}{i}" for i, c in enumerate(CASES + FILLS)])
def test_every_initializer_equals_in_memory_call(name, args, kw):
    rnd = {"seed": 3, "stream": "w.1"} if (name, args, kw) in CASES else {}
    ref = getattr(fi, name)(SHAPE, *args, **kw, **rnd)
    x = getattr(fd, name)(SHAPE, *args, **kw, **rnd, chunks=(7, 11))
    assert isinstance(x, da.Array) and x.numblocks == (6, 3) and x.dtype == ref.dtype
    same_bits(x.compute(scheduler="threads"), ref)
    for block, region in list(blocks_of(x))[::4]:  # any block computed alone is its region
        same_bits(block.compute(scheduler="sync"), ref[region])


@pytest.mark.parametrize("dtype", ["float64", "float16", pytest.param("bfloat16", marks=requires_bf16)])
@pytest.mark.parametrize("name,args", [("normal", (0.0, 0.5)), ("trunc_normal", (0.0, 1.0, -2.0, 1.0)),
                                       ("kaiming_uniform", (5 ** 0.5,))])
def test_dtypes_equal_in_memory_call(name, args, dtype):
    ref = getattr(fi, name)((33, 17), *args, seed=9, dtype=dtype)
    same_bits(getattr(fd, name)((33, 17), *args, seed=9, dtype=dtype, chunks=(5, 6)).compute(), ref)


def test_any_chunking_and_rechunk_give_the_same_array():
    shape = (23, 19, 10)
    ref = fi.normal(shape, std=0.02, seed=11, stream="layer")
    for chunks in ["auto", 4, (5, -1, 3), ((1, 22), (19,), (3, 3, 4)), {0: 7}, "1 KiB",
                   ((23,), (2,) * 9 + (1,), (10,))]:
        x = fd.normal(shape, std=0.02, seed=11, stream="layer", chunks=chunks)
        same_bits(x.compute(), ref)
        same_bits(x.rechunk((6, 7, 4)).compute(), ref)
    x = fd.normal(shape, std=0.02, seed=11, stream="layer", chunks=(5, 4, 3))
    for block, region in blocks_of(x):
        same_bits(block.compute(), ref[region])
    same_bits(x[3:17, 5, ::2].compute(), ref[3:17, 5, ::2])


def test_random_bits_and_scalar_and_empty_shapes():
    ref = fi.random_bits((13, 9), seed=1, stream=4, offset=2**64 - 50)  # wraps modulo 2**64 inside
    x = fd.random_bits((13, 9), seed=1, stream=4, offset=2**64 - 50, chunks=(4, 4))
    same_bits(x.compute(), ref)
    for block, region in blocks_of(x):
        same_bits(block.compute(), ref[region])
    same_bits(fd.normal((), seed=2).compute(), fi.normal((), seed=2))
    same_bits(fd.uniform((0, 5), seed=2, chunks=2).compute(), fi.uniform((0, 5), seed=2))
    same_bits(fd.eye((9, 13), chunks=(4, 5)).compute(), fi.eye((9, 13)))


def test_graph_is_one_small_task_per_block():
    x = fd.kaiming_uniform((4096, 4096), a=5 ** 0.5, seed=0, stream="w", chunks=256)
    graph = dict(x.__dask_graph__())
    assert len(graph) == 256 == x.npartitions
    per_task = [len(pickle.dumps(task)) for task in graph.values()]
    assert max(per_task) < 1000  # 715 bytes: the spec and Dask's block_info (offset, shape); never an array
    assert len(pickle.dumps(graph)) < 1000 * 256
    orth = dict(fd.orthogonal((64, 64), seed=0, chunks=16).__dask_graph__())
    assert len(orth) == 16 + 1  # one whole-matrix task (QR is not blockwise) and the 16 slices
    assert len(pickle.dumps(orth)) < 4000


def test_default_generator_is_drawn_once_per_array_and_not_by_a_bad_call():
    fi.manual_seed(7)
    with pytest.raises(ValueError, match="std must be > 0"):
        fd.normal((30,), std=-1.0)
    a = fd.normal((30,), chunks=4)
    b = fd.normal((30,), chunks=7)
    fi.manual_seed(7)
    same_bits(a.compute(), fi.normal((30,)))
    same_bits(b.compute(), fi.normal((30,)))
    fi.manual_seed(0)


@requires_torch
def test_torch_generator_draws_the_seed_once():
    import torch
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    same_bits(fd.normal((50, 20), generator=g1, chunks=7).compute(), fi.normal((50, 20), generator=g2))
    same_bits(fd.normal((50, 20), generator=g1, chunks=9).compute(), fi.normal((50, 20), generator=g2))


# ------------------------------------------------------------------ errors, before any task exists
@pytest.mark.parametrize("name,args,kw", [
    ("normal", (0.0, -1.0), {}), ("uniform", (1.0, 0.0), {}), ("trunc_normal", (0.0, 1.0, 3.0, 2.0), {}),
    ("kaiming_uniform", (0, "fan_avg"), {}), ("kaiming_normal", (0, "fan_in", "swish"), {}),
    ("variance_scaling", (1.0, "fan_in", "cauchy"), {}), ("sparse", (1.5,), {}), ("normal", (), {"dtype": "int8"}),
    ("normal", (), {"seed": -1}), ("normal", (), {"stream": 2**64}), ("normal", (), {"device": "tpu"}),
    ("xavier_uniform", (), {"shape": (5,)}), ("orthogonal", (), {"shape": (7,)}), ("eye", (), {"shape": (2, 3, 4)}),
    ("normal", (), {"mean": float("nan")}), ("sparse", (0.1,), {"shape": (3, 4, 5)}),
])
def test_errors_are_the_in_memory_ones(name, args, kw):
    kw = dict(kw)
    shape = kw.pop("shape", SHAPE)
    if name != "eye":
        kw.setdefault("seed", 1)
    with pytest.raises((ValueError, TypeError)) as want:
        getattr(fi, name)(shape, *args, **kw)
    with pytest.raises(want.type) as got:
        getattr(fd, name)(shape, *args, **kw, chunks=5)
    assert str(got.value) == str(want.value)


@pytest.mark.parametrize("chunks,msg", [
    (((3, 3), (30,)), "do not fit shape"), (((20, 21), (30,)), "do not fit shape"), (2.5, "is not an int"),
    ((4, 2.0), "is not an int"), (-2, "not a positive int or -1"), (0, "not a positive int or -1"),
    (((50, -10), (30,)), "negative"), (((40,), (30, 0)), "do not tile"), ("3.5", "byte size"),
    ((4,), "same length"), (True, "not an int"),
])
def test_bad_chunks_are_refused_clearly(chunks, msg):
    with pytest.raises(ValueError, match=msg):
        fd.normal(SHAPE, seed=0, chunks=chunks)


def test_global_shape_is_refused():
    with pytest.raises(TypeError, match="slice the Dask array"):
        fd.normal(SHAPE, seed=0, global_shape=(80, 30))


def test_cuda_blocks_or_what_to_install():
    try:
        import cupy  # noqa: F401
        from fastinit.gpu import runtime
        runtime.cuda()
    except Exception:  # noqa: BLE001 - no CuPy, numba-cuda or GPU here
        with pytest.raises(ImportError, match=r"pip install|numba-cuda|no usable CUDA GPU") as e:
            fd.normal(SHAPE, seed=0, device="cuda")
        assert "cuda" in str(e.value)
        return
    x = fd.normal(SHAPE, seed=0, device="cuda", chunks=(7, 11))
    assert type(x._meta).__module__.startswith("cupy")
    same_bits(x.compute().get(), fi.normal(SHAPE, seed=0))
    same_bits(fd.random_bits(SHAPE, seed=0, device="cuda", chunks=9).compute().get(), fi.random_bits(SHAPE, seed=0))


def test_import_fastinit_imports_no_dask():
    code = ("import sys, fastinit, fastinit.io, fastinit.cli; fastinit.normal((4,), seed=0); "
            "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed', 'zarr')); "
            "assert not bad, bad")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr


# ------------------------------------------------------------------ Zarr, threads
def read(path):
    return zarr.open_array(str(path), mode="r")[...]


def test_to_zarr_threads(tmp_path):
    # blocks = Zarr chunks: Dask's to_zarr writes them as they are (no rechunk, so no
    # warning, and no lock: mode "a") and the store holds the in-memory array
    import warnings
    x = fd.he_normal((64, 48), seed=4, chunks=(16, 24))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        x.to_zarr(str(tmp_path / "w.zarr"), compressors=None)
    z = zarr.open_array(str(tmp_path / "w.zarr"), mode="r")
    assert z.chunks == (16, 24)
    same_bits(z[...], fi.he_normal((64, 48), seed=4))
    # Dask fuses our blocks with its store: one task makes a block and writes it
    import dask
    (stored,) = dask.optimize(x.to_zarr(str(tmp_path / "v.zarr"), compressors=None, compute=False))
    assert len(dict(stored.__dask_graph__())) == x.npartitions == 8


def test_make_zarr_command_threads(tmp_path, capsys):
    out = tmp_path / "w.zarr"
    assert cli.main(["make", "normal", "--shape", "100,70", "--seed", "5", "--stream", "enc.w", "-p", "std=0.02",
                     "--chunks", "16,35", "-o", str(out)]) == 0
    assert capsys.readouterr().out.strip() == str(out)
    z = zarr.open_array(str(out), mode="r")
    assert z.chunks == (16, 35) and z.compressors == ()
    assert z.attrs["fastinit"]["initializer"] == "normal" and z.attrs["fastinit"]["stream_name"] == "enc.w"
    same_bits(z[...], fi.normal((100, 70), std=0.02, seed=5, stream="enc.w"))
    assert sorted(os.listdir(tmp_path)) == ["w.zarr"]  # no partial store or marker left
    assert ".fastinit-done" not in os.listdir(out)
    # the finished store is kept by --resume, refused without a flag, replaced by --overwrite
    assert cli.main(["make", "normal", "--shape", "100,70", "--seed", "5", "--stream", "enc.w", "-p", "std=0.02",
                     "--chunks", "16,35", "--resume", "-o", str(out)]) == 0
    assert "14 of 14 chunks were already complete" in capsys.readouterr().err
    assert cli.main(["make", "normal", "--shape", "100,70", "--seed", "6", "-o", str(out)]) == 2
    assert "exists; pass --resume" in capsys.readouterr().err
    assert cli.main(["make", "normal", "--shape", "100,70", "--seed", "6", "--resume", "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert "holds a different array" in err and "seed 5 (asked 6)" in err and "pass --overwrite" in err
    assert cli.main(["make", "uniform", "--shape", "30", "--seed", "6", "--overwrite", "--progress", "-o",
                     str(out)]) == 0
    assert "100% Completed" in capsys.readouterr().err  # Dask's own progress bar
    same_bits(read(out), fi.uniform((30,), seed=6))
    assert sorted(os.listdir(tmp_path)) == ["w.zarr"]


@pytest.mark.parametrize("argv,msg", [
    (["make", "gauss", "--shape", "4,4"], "unknown initializer"),
    (["make", "dirac", "--shape", "4,4,3"], "dirac needs the whole tensor"),
    (["make", "normal", "--shape", "4,4", "-p", "std=-1"], "std must be > 0"),
    (["make", "kaiming_normal", "--shape", "4", "-p", "mode=fan_avg"], "mode must be one of"),
    (["make", "normal", "--shape", "4,4", "--dtype", "int8"], "dtype must be one of"),
    (["make", "normal", "--shape", "4,4", "--dtype", "bf16"], "Zarr v3 has no bfloat16"),
    (["make", "normal", "--shape", "4,4", "--chunks", "3,3,3"], "same length"),
    (["make", "normal", "--shape", "40,4", "--chunks=-3,4"], "not a positive int or -1"),
    (["make", "normal", "--shape", "40,4", "--chunks", "0,4"], "not a positive int or -1"),
    (["make", "normal", "--shape", "40,4", "--chunks", "2.5,4"], "byte size"),
    (["make", "normal", "--shape", "4,4", "--seed", "-3"], "seed must be"),
    (["make", "normal", "--shape", "4,4", "--workers", "0"], "workers must be a positive int"),
])
def test_make_zarr_bad_input_writes_nothing(tmp_path, capsys, argv, msg):
    assert cli.main(argv + ["-o", str(tmp_path / "bad.zarr")]) == 2
    assert msg in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_make_zarr_only_flags_on_npy(tmp_path, capsys):
    assert cli.main(["make", "normal", "--shape", "4,4", "--workers", "2", "-o", str(tmp_path / "w.npy")]) == 2
    assert "--workers apply to Zarr stores" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_make_zarr_resume_after_injected_failure(tmp_path, monkeypatch):
    out = tmp_path / "w.zarr"
    real, lock, calls = io._store_block, threading.Lock(), []

    def flaky(*args):
        with lock:
            calls.append(1)
            n = len(calls)
        if n == 6:
            raise OSError(28, "No space left on device")
        return real(*args)
    monkeypatch.setattr(io, "_store_block", flaky)
    kw = dict(params={"a": -0.1, "b": 0.3}, seed=2, stream=9, chunks=(8, 25))
    with pytest.raises(RuntimeError, match="run again with --resume"):
        io.make_zarr("trunc_normal", (100, 50), out, **kw)
    _, partial, _ = io.zarr_paths(out)
    assert not out.exists() and os.path.isdir(partial)
    done = len(os.listdir(os.path.join(partial, ".fastinit-done")))
    assert 4 <= done < 26  # 5 calls done or in flight before the 6th failed
    with pytest.raises(FileExistsError, match="an interrupted run left"):
        io.make_zarr("trunc_normal", (100, 50), out, **kw)
    with pytest.raises(FileExistsError, match="holds a different array"):
        io.make_zarr("trunc_normal", (100, 50), out, **{**kw, "seed": 3}, resume=True)
    time.sleep(0.5)  # a task in flight when the error came may still record its chunk
    done = len(os.listdir(os.path.join(partial, ".fastinit-done")))
    r = io.make_zarr("trunc_normal", (100, 50), out, **kw, resume=True)
    assert r == {"path": os.fspath(out), "chunks": 26, "written": 26 - done, "skipped": done}
    same_bits(read(out), fi.trunc_normal((100, 50), a=-0.1, b=0.3, seed=2, stream=9))
    assert sorted(os.listdir(tmp_path)) == ["w.zarr"]


def test_make_zarr_resume_after_the_process_is_killed(tmp_path):
    # a `fastinit make` process, slowed to 30 ms a chunk, is SIGKILLed once 8 of its 128
    # chunks are recorded; --resume writes the rest and the store is the in-memory array
    out = tmp_path / "k.zarr"
    _, partial, _ = io.zarr_paths(out)
    argv = ["make", "normal", "--shape", "512,64", "--chunks", "4,64", "--seed", "8", "-o", str(out)]
    code = textwrap.dedent(f"""
        import sys, time
        from fastinit import cli, io
        real = io._store_block
        def slow(*args):
            time.sleep(0.03)
            return real(*args)
        io._store_block = slow
        sys.exit(cli.main({argv!r}))
    """)
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    done_dir = os.path.join(partial, ".fastinit-done")
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None:
        if os.path.isdir(done_dir) and len(os.listdir(done_dir)) >= 8:
            break
        time.sleep(0.01)
    assert proc.poll() is None, proc.communicate()
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not out.exists()
    done = len(os.listdir(done_dir))
    assert 8 <= done < 128
    r = subprocess.run([sys.executable, "-m", "fastinit.cli"] + argv + ["--resume"], capture_output=True, text=True,
                       timeout=600)
    assert r.returncode == 0, r.stderr
    assert f"{done} of 128 chunks were already complete" in r.stderr
    same_bits(read(out), fi.normal((512, 64), seed=8))
    assert sorted(os.listdir(tmp_path)) == ["k.zarr"]
    assert not [f for _, _, fs in os.walk(out) for f in fs if f.endswith(".partial")]


# ------------------------------------------------------------------ a LocalCluster of worker processes
@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1, dashboard_address=None)
    c = distributed.Client(cluster, set_as_default=False)
    yield c
    c.close()
    cluster.close()


def test_cluster_compute_any_chunking(client):
    shape = (96, 80)
    ref = fi.kaiming_normal(shape, mode="fan_out", seed=21, stream="enc")
    arrays = [fd.kaiming_normal(shape, mode="fan_out", seed=21, stream="enc", chunks=c)
              for c in [(16, 80), (25, 33), ((1, 95), (80,))]]
    arrays.append(arrays[1].rechunk((40, 17)))
    for got in client.gather(client.compute(arrays)):
        same_bits(got, ref)
    pids = client.run(os.getpid)
    assert len(set(pids.values())) == 2 and os.getpid() not in pids.values()  # real worker processes


def test_cluster_to_zarr_and_make(client, tmp_path):
    x = fd.normal((120, 64), std=0.5, seed=3, chunks=(16, 32))
    client.compute(x.to_zarr(str(tmp_path / "a.zarr"), compressors=None, compute=False)).result()
    same_bits(read(tmp_path / "a.zarr"), fi.normal((120, 64), std=0.5, seed=3))
    assert cli.main(["make", "normal", "--shape", "120,64", "--seed", "3", "-p", "std=0.5", "--chunks", "8,64",
                     "--scheduler", client.scheduler.address, "-o", str(tmp_path / "b.zarr")]) == 0
    same_bits(read(tmp_path / "b.zarr"), read(tmp_path / "a.zarr"))


def test_cluster_worker_killed_mid_to_zarr(client, tmp_path):
    # one worker process SIGKILLs itself once 6 of the 64 chunks are in the store; the
    # scheduler reschedules its tasks and the store is bit-identical to a clean run
    store, sentinel = str(tmp_path / "f.zarr"), str(tmp_path / "killed")

    def die_once(block):
        chunks = os.path.join(store, "c")
        n = sum(len(fs) for _, _, fs in os.walk(chunks)) if os.path.isdir(chunks) else 0
        if n >= 6:
            try:
                os.close(os.open(sentinel, os.O_CREAT | os.O_EXCL))
            except FileExistsError:
                return block
            os.kill(os.getpid(), signal.SIGKILL)
        return block

    x = fd.normal((512, 32), seed=13, stream="big", chunks=(8, 32))
    before = set(client.run(os.getpid).values())
    client.compute(x.map_blocks(die_once, dtype=x.dtype).to_zarr(store, compressors=None, compute=False)).result()
    assert os.path.exists(sentinel)  # a worker really died mid-write
    deadline = time.monotonic() + 60
    while len(client.scheduler_info()["workers"]) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert set(client.run(os.getpid).values()) != before  # the nanny started a new worker process
    same_bits(read(store), fi.normal((512, 32), seed=13, stream="big"))


def test_make_zarr_workers_localcluster(tmp_path, capsys):
    out = tmp_path / "w.zarr"
    assert cli.main(["make", "lecun_normal", "--shape", "64,40", "--seed", "1", "--chunks", "16,20",
                     "--workers", "2", "--progress", "-o", str(out)]) == 0
    assert "100%" in capsys.readouterr().err  # distributed's progress bar
    same_bits(read(out), fi.lecun_normal((64, 40), seed=1))


def test_benchmark_script_runs(tmp_path, capsys):
    # benchmarks/dask_zarr.py must not rot: a tiny run without the clusters
    import importlib.util
    import pathlib
    path = pathlib.Path(__file__).resolve().parent.parent / "benchmarks" / "dask_zarr.py"
    spec = importlib.util.spec_from_file_location("dask_zarr", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    mod.main(["--size", "1MiB", "--chunk", "256KiB", "--rounds", "1", "--skip-cluster", "--dir", str(tmp_path)])
    out = capsys.readouterr().out
    assert "fastinit / zeros: median per-round ratio" in out and "fastinit / Dask's" in out
    assert "fastinit identical True" in out and "Dask identical False" in out
    assert list(tmp_path.iterdir()) == []  # the stores are cleaned up


def test_initializer_lookup():
    assert fd.initializer("he_normal") is fd.he_normal
    with pytest.raises(ValueError, match="no initializer 'dirac'"):
        fd.initializer("dirac")


@pytest.mark.parametrize("name,shape,chunks,kw", [
    ("normal", (), "auto", {"seed": 1}), ("normal", (0, 5), "auto", {"seed": 1}),
    ("normal", (3, 0, 2), "auto", {"seed": 1}),
    ("orthogonal", (20, 12), (8, 12), {"seed": 3}), ("eye", (5, 7), (2, 3), {}), ("zeros", (20, 12), (8, 12), {}),
])
def test_make_zarr_edge_shapes_and_whole_matrix(tmp_path, name, shape, chunks, kw):
    out = tmp_path / "e.zarr"
    io.make_zarr(name, shape, out, chunks=chunks, **kw)
    same_bits(read(out), getattr(fi, name)(shape, **kw))
