"""One gloo rank of tests/test_torch_shard.py's multi-process runs (not collected by pytest).

``python tests/shard_worker.py RANK WORLD PORT OUT``: joins a gloo process group on
127.0.0.1:PORT, fills every DTensor case of ``tensor_cases(WORLD)`` and every model of
``model_cases(WORLD)`` (FSDP2, meta + to_empty, TP, FSDP2 x TP) with
``fastinit._torch_shard.fill_tensor``, gathers each with ``full_tensor()`` and rank 0
saves ``{name: gathered tensor}`` (plus the placements seen) to OUT. The test compares
them with the single-process result. The case tables live here so the test and the
ranks read the same ones.
"""
from __future__ import annotations

import math
import os
import sys
import time

import torch

from fastinit import init as I

SEED = 20261201


def mesh_2d(world):
    """(outer, inner) mesh shape of a 2-D case: inner (TP) size 2 when it fits."""
    return (world // 2, 2) if world % 2 == 0 else (world, 1)


def tensor_cases(world):
    """name -> (mesh shape, placements, init_fn, args, kwargs, global shape, dtype)."""
    from torch.distributed.tensor import Replicate, Shard
    from torch.distributed.tensor.placement_types import _StridedShard

    m1, m2 = (world,), mesh_2d(world)
    f32, bf16 = torch.float32, torch.bfloat16
    ss = _StridedShard(0, split_factor=m2[1])
    return {
        "s0_even": (m1, [Shard(0)], I.kaiming_uniform_, (), dict(a=math.sqrt(5)), (8, 6), f32),
        "s0_uneven": (m1, [Shard(0)], I.normal_, (0.0, 0.02), {}, (7, 5), f32),
        "s0_empty_shards": (m1, [Shard(0)], I.trunc_normal_, (), dict(std=0.5), (3, 5), f32),
        "s1_uneven": (m1, [Shard(1)], I.xavier_uniform_, (), {}, (5, 7), f32),
        "s2_3d": (m1, [Shard(2)], I.uniform_, (-1.0, 1.0), {}, (3, 4, 5), f32),
        "s_neg1": (m1, [Shard(-1)], I.normal_, (), {}, (4, 6), f32),
        "replicate": (m1, [Replicate()], I.kaiming_normal_, (), {}, (6, 5), f32),
        "s0_bf16": (m1, [Shard(0)], I.normal_, (0.0, 1.0), {}, (9, 4), bf16),
        "s1_eye": (m1, [Shard(1)], I.eye_, (), {}, (5, 7), f32),
        "s0_dirac": (m1, [Shard(0)], I.dirac_, (2,), {}, (6, 4, 3, 3), f32),
        "s1_orthogonal": (m1, [Shard(1)], I.orthogonal_, (), {}, (6, 8), f32),
        "s0_sparse": (m1, [Shard(0)], I.sparse_, (0.3,), {}, (10, 6), f32),
        "s0_ones": (m1, [Shard(0)], I.ones_, (), {}, (5, 3), f32),
        "2d_s0_s1": (m2, [Shard(0), Shard(1)], I.normal_, (), {}, (7, 9), f32),
        "2d_s0_s0": (m2, [Shard(0), Shard(0)], I.uniform_, (), {}, (9, 4), f32),
        "2d_rep_s1": (m2, [Replicate(), Shard(1)], I.kaiming_uniform_, (), {}, (6, 7), f32),
        "2d_s1_rep": (m2, [Shard(1), Replicate()], I.normal_, (), {}, (6, 7), bf16),
        "2d_strided_s0": (m2, [ss, Shard(0)], I.normal_, (), {}, (12, 3), f32),
        "2d_strided_s0_uneven": (m2, [ss, Shard(0)], I.kaiming_uniform_, (), {}, (9, 5), f32),
        "2d_strided_eye": (m2, [ss, Shard(0)], I.eye_, (), {}, (10, 7), f32),
        # local shards made of several disjoint runs of rows (torch's own example layout)
        "strided_1d": (m1, [_StridedShard(0, split_factor=2)], I.normal_, (), {}, (7, 3), f32),
        "strided_1d_dim1": (m1, [_StridedShard(1, split_factor=3)], I.xavier_normal_, (), {}, (4, 11), f32),
        "2d_s0_strided": (m2, [Shard(0), _StridedShard(0, split_factor=2)], I.normal_, (), {}, (8, 3), f32),
        "2d_s0_strided_uneven": (m2, [Shard(0), _StridedShard(0, split_factor=2)], I.kaiming_uniform_, (), {},
                                 (11, 4), f32),
        "2d_strided_s1_eye": (m2, [Shard(1), _StridedShard(1, split_factor=2)], I.eye_, (), {}, (6, 9), f32),
        # the DTensor is itself the region start=(3, 1) of a (10, 9) logical tensor
        "2d_s0_s1_inside_larger": (m2, [Shard(0), Shard(1)], I.kaiming_normal_, (), {}, (7, 8), f32),
    }


#: tensor cases whose DTensor is a region of a larger logical tensor: name -> (global_shape, start)
INSIDE = {"2d_s0_s1_inside_larger": ((10, 9), (3, 1))}


def is_random(fn):
    return fn not in (I.eye_, I.dirac_, I.ones_, I.zeros_, I.constant_)


def build_model():
    return torch.nn.Sequential(torch.nn.Linear(6, 10), torch.nn.LayerNorm(10), torch.nn.Linear(10, 3))


def init_model(model, fill):
    """Every parameter by ``fill(p, init_fn, *args, seed=, stream=name)``: the test's
    fixed rule (2-D: kaiming_uniform_(a=sqrt 5); 1-D: uniform_(-0.1, 0.1))."""
    for name, p in model.named_parameters():
        if p.ndim >= 2:
            fill(p, I.kaiming_uniform_, a=math.sqrt(5), seed=SEED, stream=name)
        else:
            fill(p, I.uniform_, -0.1, 0.1, seed=SEED, stream=name)


class Small(torch.nn.Module):
    """Embedding (with a padding row) -> Linear -> LayerNorm -> Linear, for the
    fastinit.torch.reset_parameters / materialize cases."""

    def __init__(self):
        super().__init__()
        self.emb = torch.nn.Embedding(11, 6, padding_idx=3)
        self.up = torch.nn.Linear(6, 10)
        self.norm = torch.nn.LayerNorm(10)
        self.down = torch.nn.Linear(10, 5)


def model_cases(world):
    """fill_tensor on every parameter (init_model), then fastinit.torch's
    reset_parameters (plain build) and materialize (meta build)."""
    return ["fsdp", "fsdp_meta", "tp", "fsdp_tp",
            "rules_fsdp", "rules_fsdp_meta", "rules_tp", "rules_tp_meta", "rules_fsdp_tp_meta"]


def _tp_plan(case):
    from torch.distributed.tensor.parallel import ColwiseParallel, RowwiseParallel
    if case.startswith("rules"):
        # Embedding rows sharded (its padding row lands on one rank), up by columns of x, down by rows
        return {"emb": RowwiseParallel(), "up": ColwiseParallel(), "down": RowwiseParallel()}
    return {"0": ColwiseParallel(), "2": RowwiseParallel()}


def make_model(case, world, meshes):
    """The model of ``case``, sharded; meta cases stay on meta (fsdp_meta: to_empty here)."""
    from torch.distributed.fsdp import fully_shard
    from torch.distributed.tensor.parallel import parallelize_module

    build = Small if case.startswith("rules") else build_model
    if case.endswith("meta"):
        with torch.device("meta"):
            model = build()
    else:
        model = build()
    kind = case.removeprefix("rules_").removesuffix("_meta")
    if kind == "fsdp":
        mesh = meshes((world,), None)
        for sub in model.children():
            if any(True for _ in sub.parameters()):
                fully_shard(sub, mesh=mesh)
        fully_shard(model, mesh=mesh)
    elif kind == "tp":
        parallelize_module(model, meshes((world,), None), _tp_plan(case))
    elif kind == "fsdp_tp":
        mesh = meshes(mesh_2d(world), ("dp", "tp"))
        parallelize_module(model, mesh["tp"], _tp_plan(case))
        fully_shard(model, mesh=mesh["dp"])
    if case == "fsdp_meta":
        model.to_empty(device="cpu")
    return model


def init_case(case, model):
    """Initialize ``model`` the way ``case`` says (what the single-process reference does too)."""
    import fastinit.torch as ft
    from fastinit._torch_shard import fill_tensor

    if not case.startswith("rules"):
        init_model(model, fill_tensor)
    elif case.endswith("meta"):
        ft.materialize(model, "cpu", seed=SEED)
    else:
        ft.reset_parameters(model, seed=SEED)


def _log(rank, what, t0):
    if os.environ.get("FASTINIT_SHARD_LOG"):
        print(f"rank {rank}: {what} done at {time.perf_counter() - t0:.1f} s", file=sys.stderr, flush=True)


def run(rank, world, port, out):
    import torch.distributed as dist
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.tensor import DTensor, Partial, Shard, distribute_tensor

    from fastinit._torch_shard import fill_tensor

    torch.set_num_threads(1)
    t0 = time.perf_counter()
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world)
    cache = {}

    def meshes(shape, names):
        key = (shape, names)
        if key not in cache:
            cache[key] = init_device_mesh("cpu", shape, mesh_dim_names=names)
        return cache[key]

    gathered, placements = {}, {}
    _log(rank, "process group", t0)
    for name, (mshape, pl, fn, args, kwargs, shape, dtype) in tensor_cases(world).items():
        dt = distribute_tensor(torch.full(shape, 7.0, dtype=dtype), meshes(mshape, None), pl, src_data_rank=None)
        local = dt.to_local()
        ptr = local.data_ptr()
        extra = dict(seed=SEED, stream=name) if is_random(fn) else {}
        if name in INSIDE:
            extra.update(global_shape=INSIDE[name][0], start=INSIDE[name][1])
        assert fill_tensor(dt, fn, *args, **extra, **kwargs) is dt
        assert dt.to_local().data_ptr() == ptr  # filled in place, storage kept
        full = dt.full_tensor()
        placements[name] = str(dt.placements)
        if rank == 0:
            gathered[name] = full
    _log(rank, "tensor cases", t0)
    for case in model_cases(world):
        model = make_model(case, world, meshes)
        init_case(case, model)
        for pname, p in model.named_parameters():
            # TP leaves the parameters of modules outside its plan (the LayerNorm) plain
            full = p.full_tensor() if isinstance(p, DTensor) else p.detach()
            placements[f"{case}:{pname}"] = str(p.placements) if isinstance(p, DTensor) else "plain"
            assert isinstance(p, DTensor) or case.endswith(("tp", "tp_meta")), (case, pname)
            if rank == 0:
                gathered[f"{case}:{pname}"] = full
    _log(rank, "model cases", t0)
    # Partial: refused with the placement named, nothing written
    part = DTensor.from_local(torch.full((2, 3), 5.0), meshes((world,), None), [Partial()])
    try:
        fill_tensor(part, I.normal_, seed=SEED, stream="p")
        refused = "no error"
    except ValueError as e:
        refused = str(e) if torch.equal(part.to_local(), torch.full((2, 3), 5.0)) else "written"
    # a meta DTensor: the clear error too
    with torch.device("meta"):
        meta = distribute_tensor(torch.empty(4, 4), meshes((world,), None), [Shard(0)])
    try:
        fill_tensor(meta, I.normal_, seed=SEED, stream="m")
        meta_err = "no error"
    except ValueError as e:
        meta_err = str(e)
    if rank == 0:
        torch.save({"gathered": gathered, "placements": placements, "partial": refused, "meta": meta_err}, out)
    dist.barrier()
    dist.destroy_process_group()


if __name__ == "__main__":
    run(int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4])
