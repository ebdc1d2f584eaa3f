"""fastinit.torch.init_mode: a model's own init code (torch.nn.init, tensor methods,
transformers' _init_weights) routed to fastinit on each tensor's qualified-name stream."""
import math
import sys
import threading

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import fastinit as fi  # noqa: E402
from fastinit import _torch_route as R  # noqa: E402
from fastinit.torch import init_mode  # noqa: E402

nn = torch.nn
SEED = 7
W = "0.weight"          # (6, 8) Linear weight
C = "1.weight"          # (6, 4, 3) Conv1d weight


def _net():
    net = nn.Sequential(nn.Linear(8, 6), nn.Conv1d(4, 6, 3))
    net.register_buffer("scale", torch.zeros(5))
    return net


def _a(t):
    return t.detach().numpy().copy()


def _eq(t, expected):
    np.testing.assert_array_equal(_a(t), np.asarray(expected))


# (torch.nn.init name, tensor, args, kwargs, the allocating fastinit call it must equal)
CASES = [
    ("uniform_", W, (-0.5, 1.5), {}, lambda s, st: fi.uniform(s, -0.5, 1.5, seed=SEED, stream=st)),
    ("normal_", W, (), {"mean": 0.5, "std": 2.0}, lambda s, st: fi.normal(s, 0.5, 2.0, seed=SEED, stream=st)),
    ("trunc_normal_", W, (0.1, 0.5, -0.2, 0.9), {},
     lambda s, st: fi.trunc_normal(s, 0.1, 0.5, -0.2, 0.9, seed=SEED, stream=st)),
    ("constant_", W, (0.25,), {}, lambda s, st: fi.constant(s, 0.25)),
    ("ones_", W, (), {}, lambda s, st: fi.ones(s)),
    ("zeros_", "scale", (), {}, lambda s, st: fi.zeros(s)),
    ("eye_", W, (), {}, lambda s, st: fi.eye(s)),
    ("dirac_", C, (2,), {}, lambda s, st: fi.dirac(s, 2)),
    ("xavier_uniform_", W, (), {"gain": 2.0}, lambda s, st: fi.xavier_uniform(s, gain=2.0, seed=SEED, stream=st)),
    ("xavier_normal_", C, (0.5,), {}, lambda s, st: fi.xavier_normal(s, 0.5, seed=SEED, stream=st)),
    ("kaiming_uniform_", W, (), {"a": math.sqrt(5)},
     lambda s, st: fi.kaiming_uniform(s, a=math.sqrt(5), seed=SEED, stream=st)),
    ("kaiming_normal_", C, (), {"mode": "FAN_OUT", "nonlinearity": "relu"},
     lambda s, st: fi.kaiming_normal(s, mode="fan_out", nonlinearity="relu", seed=SEED, stream=st)),
    ("orthogonal_", W, (0.5,), {}, lambda s, st: fi.orthogonal(s, 0.5, seed=SEED, stream=st)),
    ("sparse_", W, (0.3,), {"std": 0.1}, lambda s, st: fi.sparse(s, 0.3, 0.1, seed=SEED, stream=st)),
    ("normal_", "scale", (1.0, 3.0), {}, lambda s, st: fi.normal(s, 1.0, 3.0, seed=SEED, stream=st)),
]


@pytest.mark.parametrize("name,where,args,kwargs,expected", CASES, ids=[f"{c[0]}-{c[1]}" for c in CASES])
def test_nn_init_functions_are_fastinit_on_the_qualified_name_stream(name, where, args, kwargs, expected):
    net = _net()
    t = net.get_parameter(where) if where != "scale" else net.scale
    with init_mode(net, seed=SEED) as m:
        assert m is net
        out = getattr(nn.init, name)(t, *args, **kwargs)
    assert out is t
    _eq(t, expected(tuple(t.shape), where))


def test_tensor_methods_and_legacy_aliases():
    net = _net()
    w, b = net[0].weight, net[0].bias
    with init_mode(net, seed=SEED, prefix="enc."):
        d = w.data
        assert d.normal_(mean=0.5, std=2.0) is d
        _eq(w, fi.normal((6, 8), 0.5, 2.0, seed=SEED, stream="enc.0.weight"))
        w.detach().uniform_(-1.0, 2.0)
        _eq(w, fi.uniform((6, 8), -1.0, 2.0, seed=SEED, stream="enc.0.weight"))
        w.data.uniform_(**{"from": -3.0, "to": 3.0})
        _eq(w, fi.uniform((6, 8), -3.0, 3.0, seed=SEED, stream="enc.0.weight"))
        b.data.fill_(torch.tensor(1.5))
        _eq(b, np.full(6, 1.5, np.float32))
        b.data.zero_()
        _eq(b, np.zeros(6, np.float32))
        net.scale.normal_(0.0, 0.0)                      # torch: N(mean, 0) is the mean
        _eq(net.scale, np.zeros(5, np.float32))
        with pytest.warns(FutureWarning, match="nn.init.normal_"):
            nn.init.normal(w, 0.0, 0.02)                 # torch's deprecated alias
        _eq(w, fi.normal((6, 8), 0.0, 0.02, seed=SEED, stream="enc.0.weight"))


def test_views_map_to_regions_of_the_parameter():
    net = _net()
    w = net[0].weight
    full = fi.uniform((6, 8), seed=SEED, stream=W)
    with init_mode(net, seed=SEED):
        w.data.uniform_()
        w.data[:, 2:5].normal_(std=3.0)                  # a column block: its region of the full tensor
        full[:, 2:5] = fi.normal((6, 8), 0.0, 3.0, seed=SEED, stream=W)[:, 2:5]
        _eq(w, full)
        nn.init.trunc_normal_(w[1], std=0.5, a=-1.0, b=1.0)   # a row, through nn.init (no_grad inside)
        full[1] = fi.trunc_normal((6, 8), 0.0, 0.5, -1.0, 1.0, seed=SEED, stream=W)[1]
        _eq(w, full)
        w.data.view(-1)[5:20].uniform_(-2.0, -1.0)       # a contiguous run of the flattened tensor
        full.reshape(-1)[5:20] = fi.uniform((48,), -2.0, -1.0, seed=SEED, stream=W)[5:20]
        _eq(w, full)
        nn.init.eye_(w.data[2:6, 0:4])                   # structure on the view itself, as torch
        full[2:6, 0:4] = np.eye(4)
        _eq(w, full)
        nn.init.orthogonal_(w.data[0:3])                 # a block: its own stream, name + region
        full[0:3] = fi.orthogonal((3, 8), seed=SEED, stream=W + "[0:3,0:8]")
        _eq(w, full)
        nn.init.orthogonal_(w.T)                         # the transposed view is orthogonal, as in torch
        full = fi.orthogonal((8, 6), seed=SEED, stream=W + "[0:6,0:8]").T
        _eq(w, full)
        with pytest.raises(ValueError, match="2 dimensions"):
            nn.init.orthogonal_(w.data[1])
        # torch computes fans from the view: kaiming_uniform_(w.T) uses fan_in = w.shape[0]
        nn.init.kaiming_uniform_(w.T, a=0.0)
        bound = math.sqrt(3.0) * math.sqrt(2.0) / math.sqrt(6)
        _eq(w, fi.uniform((6, 8), -bound, bound, seed=SEED, stream=W))
        before = _a(w)
        with pytest.raises(ValueError, match="not a box"):
            w.data[:, ::2].normal_()                     # a stepped view is refused, nothing written
        _eq(w, before)
        w.data[:, ::2].fill_(4.0)                        # a constant on it: torch's own fill (same values)
        before[:, ::2] = 4.0
        _eq(w, before)
        with pytest.raises(ValueError, match="not a box"):
            w.data.view(torch.float16)[1:3].normal_()   # its bytes seen as another dtype
        _eq(w, before)


def test_other_tensors_go_to_torch_unchanged():
    def draws():
        torch.manual_seed(0)
        xs = [torch.empty(6, 8) for _ in range(5)]
        nn.init.trunc_normal_(xs[0])
        xs[1].normal_(0.0, 2.0)
        nn.init.kaiming_uniform_(xs[2], a=math.sqrt(5))
        nn.init.orthogonal_(xs[3])
        nn.init.xavier_normal_(xs[4])
        lin = nn.Linear(8, 6)                            # constructed inside: torch's own reset
        return [x.clone() for x in xs] + [lin.weight.detach().clone()]

    reference = draws()
    net = _net()
    with init_mode(net, seed=SEED):
        inside = draws()
    for r, x in zip(reference, inside):
        assert torch.equal(r, x)


def test_everything_is_restored_on_exit_and_on_exception():
    originals = {n: getattr(nn.init, n) for n in R._NAMES + tuple(R._LEGACY)}
    by_name = nn.modules.activation.xavier_uniform_      # torch imports it by name there
    net = _net()
    with init_mode(net, seed=SEED):
        assert nn.init.trunc_normal_ is not originals["trunc_normal_"]
        assert nn.modules.activation.xavier_uniform_ is not by_name
        nn.modules.activation.xavier_uniform_(net[0].weight)   # the by-name import is routed too
        _eq(net[0].weight, fi.xavier_uniform((6, 8), seed=SEED, stream=W))
    with pytest.raises(KeyError):
        with init_mode(net, seed=SEED):
            raise KeyError("boom")
    assert {n: getattr(nn.init, n) for n in originals} == originals
    assert nn.modules.activation.xavier_uniform_ is by_name
    assert torch._C._len_torch_function_stack() == 0
    assert R._installed["count"] == 0 and not R._stack()
    torch.manual_seed(3)
    net[0].weight.data.normal_()                         # after exit: torch's values again
    torch.manual_seed(3)
    assert torch.equal(net[0].weight.detach(), torch.empty(6, 8).normal_())


def test_names_imported_from_torch_nn_init_are_routed(monkeypatch):
    import types
    user = types.ModuleType("user_model_code")           # as `from torch.nn.init import trunc_normal_ as tn`
    user.tn = R._TORCH["trunc_normal_"]
    monkeypatch.setitem(sys.modules, "user_model_code", user)
    net = _net()
    with init_mode(net, seed=SEED):
        user.tn(net[0].weight, std=0.02, a=-0.04, b=0.04)
    _eq(net[0].weight, fi.trunc_normal((6, 8), 0.0, 0.02, -0.04, 0.04, seed=SEED, stream=W))
    assert user.tn is R._TORCH["trunc_normal_"]


def test_kept_references_routed_or_refused():
    kept = {n: R._TORCH[n] for n in ("normal_", "xavier_uniform_", "trunc_normal_")}   # e.g. a dict of initializers
    net = _net()
    w = net[0].weight
    with init_mode(net, seed=SEED):
        kept["normal_"](w, 0.0, 0.5)                     # seen by the function mode
        _eq(w, fi.normal((6, 8), 0.0, 0.5, seed=SEED, stream=W))
        kept["xavier_uniform_"](w)                       # its inner uniform_ is routed: the same bits
        _eq(w, fi.xavier_uniform((6, 8), seed=SEED, stream=W))
        with pytest.raises(RuntimeError, match="trunc_normal_"):
            kept["trunc_normal_"](w)                     # rejection sampling through temporaries: refused


def test_generator_seeds_from_the_generator():
    net = _net()
    w = net[0].weight
    g = torch.Generator().manual_seed(11)
    g2 = torch.Generator().manual_seed(11)
    with init_mode(net, seed=SEED):
        nn.init.normal_(w, 0.0, 1.0, generator=g)
        s1 = R._seed_from_generator(g2)
        _eq(w, fi.normal((6, 8), seed=s1, stream=W))
        w.data.uniform_(-1.0, 1.0, generator=g)          # the generator advanced: the next seed
        _eq(w, fi.uniform((6, 8), -1.0, 1.0, seed=R._seed_from_generator(g2), stream=W))
    assert torch.equal(g.get_state(), g2.get_state())
    assert 0 <= s1 < 2**63


def test_torch_errors_and_unsupported_calls():
    net = _net()
    w = net[0].weight
    before = _a(w)
    with init_mode(net, seed=SEED):
        with pytest.raises(RuntimeError, match="leaf Variable"):
            w.normal_()                                  # grad mode on: torch's own error
        with pytest.raises(NotImplementedError, match="exponential_"):
            w.data.exponential_()
        with pytest.raises(ValueError, match="std"):
            nn.init.normal_(w, 0.0, -1.0)
    _eq(w, before)
    bn = nn.BatchNorm1d(4)
    with init_mode(bn, seed=SEED):
        bn.num_batches_tracked.fill_(5)
        nn.init.zeros_(bn.num_batches_tracked)           # int64 buffer: torch's own zero_
        assert int(bn.num_batches_tracked) == 0
        with pytest.raises(TypeError, match="int64"):
            nn.init.normal_(bn.num_batches_tracked)
        nn.init.normal_(bn.running_mean)
        _eq(bn.running_mean, fi.normal((4,), seed=SEED, stream="running_mean"))
    with pytest.raises(TypeError, match="module"):
        init_mode(torch.zeros(3), seed=0)
    with pytest.raises(ValueError, match="seed"):
        init_mode(net, seed=-1)
    with pytest.raises(TypeError, match="prefix"):
        init_mode(net, seed=0, prefix=3)


def test_nesting_and_other_threads():
    outer, inner = _net(), nn.Linear(3, 2)
    with init_mode(outer, seed=1):
        with init_mode(inner, seed=2):
            nn.init.normal_(inner.weight)
            nn.init.normal_(outer[0].weight)             # the outer context still routes its own model
        nn.init.uniform_(outer[0].bias)
        torch.manual_seed(9)
        expected = torch.empty(6, 8).normal_()
        torch.manual_seed(9)
        other = threading.Thread(target=lambda: nn.init.normal_(outer[0].weight))   # the replaced function
        other.start()
        other.join()
        got_thread = outer[0].weight.detach().clone()    # another thread: torch's values
    _eq(inner.weight, fi.normal((2, 3), seed=2, stream="weight"))
    _eq(outer[0].bias, fi.uniform((6,), seed=1, stream="0.bias"))
    assert torch.equal(got_thread, expected)


def test_bfloat16_and_transformers_16_bit_orthogonal():
    hf_init = pytest.importorskip("transformers.initialization")
    net = _net().to(torch.bfloat16)
    w = net[0].weight

    def bits(t):
        return t.detach().view(torch.int16).numpy()

    with init_mode(net, seed=SEED):
        # transformers' own orthogonal_ runs torch's in a float32 temporary for 16-bit tensors and copies it in
        hf_init.orthogonal_(w, gain=2.0)
        np.testing.assert_array_equal(bits(w), fi.orthogonal((6, 8), 2.0, seed=SEED, stream=W,
                                                             dtype="bfloat16").view(np.int16))
        w.data.normal_(0.0, 0.02)
        np.testing.assert_array_equal(bits(w), fi.normal((6, 8), 0.0, 0.02, seed=SEED, stream=W,
                                                         dtype="bfloat16").view(np.int16))
    assert not hasattr(hf_init.orthogonal_, "_fastinit_routed")


# ------------------------------------------------------------------ a real third-party model


def _transformers():
    return pytest.importorskip("transformers")


def _llama_config():
    return _transformers().LlamaConfig(
        hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
        vocab_size=256, max_position_embeddings=64, initializer_range=0.03)


def _llama_meta_init(seed):
    """Built on the meta device (transformers skips init there), given storage, then
    initialized by its own init_weights under init_mode."""
    tr = _transformers()
    with torch.device("meta"):
        model = tr.LlamaForCausalLM(_llama_config())
    model.to_empty(device="cpu")
    with init_mode(model, seed=seed):
        model.init_weights()
    return model


def test_transformers_llama_init_weights_is_fastinit_per_parameter():
    from scipy import stats
    model = _llama_meta_init(SEED)
    std = 0.03
    params = dict(model.named_parameters())
    assert len(params) == 21
    for name, p in params.items():
        got = _a(p)
        if p.ndim == 2:                                  # Linear and Embedding weights: normal(0, initializer_range)
            np.testing.assert_array_equal(got, fi.normal(tuple(p.shape), 0.0, std, seed=SEED, stream=name))
            assert stats.kstest(got.ravel() / std, "norm").pvalue > 1e-3, name
        else:                                            # RMSNorm weights: ones
            assert "norm" in name and np.all(got == 1.0), name
    # the rotary buffers are recomputed by transformers' own code (copy_ goes to torch)
    rot = model.model.rotary_emb
    assert torch.equal(rot.inv_freq, rot.original_inv_freq) and float(rot.inv_freq[0]) == 1.0


def test_transformers_llama_reproducible_and_independent_of_construction():
    tr = _transformers()
    a = _llama_meta_init(SEED)
    b = _llama_meta_init(SEED)
    torch.manual_seed(123)                               # constructed normally: torch's init first...
    c = tr.LlamaForCausalLM(_llama_config())
    with init_mode(c, seed=SEED):                        # ...then its _init_weights applied under init_mode
        c.apply(c._init_weights)
    sa, sb, sc = a.state_dict(), b.state_dict(), c.state_dict()
    assert sa.keys() == sc.keys()
    for k in sa:
        assert torch.equal(sa[k], sb[k]) and torch.equal(sa[k], sc[k]), k
    d = _llama_meta_init(SEED + 1)
    assert not torch.equal(d.lm_head.weight, a.lm_head.weight)


def test_transformers_gpt2_biases_tied_weights_and_scaled_projections():
    tr = _transformers()
    cfg = tr.GPT2Config(n_embd=32, n_layer=2, n_head=2, n_positions=16, vocab_size=128, initializer_range=0.02)
    with torch.device("meta"):
        model = tr.GPT2LMHeadModel(cfg)
    model.to_empty(device="cpu")
    with init_mode(model, seed=SEED):
        model.init_weights()
    assert model.lm_head.weight is model.transformer.wte.weight      # tied: one tensor, its first name
    scaled = 0.02 / math.sqrt(2 * cfg.n_layer)
    for name, p in model.named_parameters():
        got = _a(p)
        if name.endswith("c_proj.weight"):               # GPT-2's residual scaling, set after Conv1D's normal_
            np.testing.assert_array_equal(got, fi.normal(tuple(p.shape), 0.0, scaled, seed=SEED, stream=name))
        elif p.ndim == 2:
            np.testing.assert_array_equal(got, fi.normal(tuple(p.shape), 0.0, 0.02, seed=SEED, stream=name))
        elif name.endswith("bias"):
            assert np.all(got == 0.0), name
        else:
            assert np.all(got == 1.0), name


# ------------------------------------------------------------------ DTensor parameters (2 gloo ranks)
def _dtensor_worker(rank, world, port, out):
    import torch.distributed as dist
    from torch.distributed.tensor import Replicate, Shard, distribute_tensor, init_device_mesh

    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world)
    try:
        mesh = init_device_mesh("cpu", (world,))
        net = nn.Sequential(nn.Linear(8, 6), nn.Linear(6, 5), nn.Linear(5, 4))
        places = {"0.weight": Shard(1), "0.bias": Replicate(), "1.weight": Shard(0), "1.bias": Shard(0),
                  "2.weight": Shard(0), "2.bias": Replicate()}           # (5, 6) and (5,) on Shard(0): uneven
        for name, place in places.items():
            mod, attr = net[int(name[0])], name[2:]
            setattr(mod, attr, nn.Parameter(distribute_tensor(getattr(mod, attr).detach(), mesh, [place])))
        with init_mode(net, seed=SEED):
            nn.init.trunc_normal_(net[0].weight, std=0.02, a=-0.03, b=0.03)   # the parameter itself
            net[1].weight.data.normal_(0.0, 0.5)                              # .data of it
            net[0].bias.data.fill_(0.5)
            with torch.no_grad():
                net[1].bias.to_local().uniform_(-1.0, 1.0)                    # its local shard
            nn.init.kaiming_uniform_(net[2].weight, a=math.sqrt(5))
            nn.init.zeros_(net[2].bias)
        full = {n: p.full_tensor() for n, p in net.named_parameters()}
        if rank == 0:
            torch.save(full, out)
    finally:
        dist.destroy_process_group()


def test_dtensor_parameters_gather_to_the_single_process_values(tmp_path):
    import socket
    pytest.importorskip("torch.distributed.tensor")
    import torch.distributed as dist
    if not dist.is_available() or not dist.is_gloo_available():
        pytest.skip("torch.distributed with gloo is not available")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    out = tmp_path / "full.pt"
    torch.multiprocessing.spawn(_dtensor_worker, args=(2, port, str(out)), nprocs=2)
    full = torch.load(out)
    _eq(full["0.weight"], fi.trunc_normal((6, 8), 0.0, 0.02, -0.03, 0.03, seed=SEED, stream="0.weight"))
    _eq(full["1.weight"], fi.normal((5, 6), 0.0, 0.5, seed=SEED, stream="1.weight"))
    _eq(full["0.bias"], np.full(6, 0.5, np.float32))
    _eq(full["1.bias"], fi.uniform((5,), -1.0, 1.0, seed=SEED, stream="1.bias"))
    _eq(full["2.weight"], fi.kaiming_uniform((4, 5), a=math.sqrt(5), seed=SEED, stream="2.weight"))
    _eq(full["2.bias"], np.zeros(4, np.float32))
