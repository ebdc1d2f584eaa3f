"""fastinit.torch.reset_parameters / materialize: every torch layer's default
(distribution against torch's own samples and against its formula), exact
equality with the allocating fastinit calls, torch's order, stream independence,
meta -> materialize, and bad input."""
import math
from collections import OrderedDict

import numpy as np
import pytest

from conftest import requires_torch

torch = pytest.importorskip("torch")
stats = pytest.importorskip("scipy.stats")
ft = pytest.importorskip("fastinit.torch")
import fastinit  # noqa: E402

pytestmark = requires_torch
nn = torch.nn
SQRT5 = math.sqrt(5)
REPEATS = 4  # builds pooled per case, so that small tensors (biases) still give the KS test samples


def _np(t):
    return t.detach().to(torch.float64).numpy()


# ------------------------------------------------------------------ the formula of each tensor
# Written from torch 2.13's source (torch/nn/modules/*.py, reset_parameters), in float64:
# name -> ("u", bound) U(-bound, bound) | ("n", std) N(0, std**2) | ("c", value) | ("emb", padding row)
def _fans(shape):
    rf = math.prod(shape[2:])
    return shape[1] * rf, shape[0] * rf


def _kaiming_sqrt5(shape):  # gain sqrt(2 / (1 + 5)), bound = gain * sqrt(3 / fan_in) = 1 / sqrt(fan_in)
    return 1.0 / math.sqrt(_fans(shape)[0])


def spec_linear(m):
    s = {"weight": ("u", _kaiming_sqrt5(m.weight.shape))}
    if m.bias is not None:
        s["bias"] = ("u", 1 / math.sqrt(_fans(m.weight.shape)[0]))
    return s


def spec_bilinear(m):
    b = 1 / math.sqrt(m.in1_features)
    return {"weight": ("u", b), "bias": ("u", b)}


def spec_embedding(m):
    return {"weight": ("emb", m.padding_idx)}


def spec_norm(m):
    s = {}
    if getattr(m, "weight", None) is not None:
        s["weight"] = ("c", 1.0)
    if getattr(m, "bias", None) is not None:
        s["bias"] = ("c", 0.0)
    if getattr(m, "running_mean", None) is not None:
        s.update(running_mean=("c", 0.0), running_var=("c", 1.0), num_batches_tracked=("c", 0))
    return s


def _xavier_u(shape):
    fi, fo = _fans(shape)
    return math.sqrt(6 / (fi + fo))


def spec_mha(m):
    s = {"out_proj.weight": ("u", _kaiming_sqrt5(m.out_proj.weight.shape))}
    for n in ("in_proj_weight", "q_proj_weight", "k_proj_weight", "v_proj_weight"):
        if getattr(m, n) is not None:
            s[n] = ("u", _xavier_u(getattr(m, n).shape))
    if m.in_proj_bias is not None:
        s.update({"in_proj_bias": ("c", 0.0), "out_proj.bias": ("c", 0.0)})
    for n in ("bias_k", "bias_v"):
        if getattr(m, n) is not None:
            fi, fo = _fans(getattr(m, n).shape)
            s[n] = ("n", math.sqrt(2 / (fi + fo)))
    return s


def spec_rnn(m):
    return {n: ("u", 1 / math.sqrt(m.hidden_size)) for n, _ in m.named_parameters()}


def spec_transformer(m):
    s = {}
    for n, p in m.named_parameters():
        if p.dim() > 1:
            s[n] = ("u", _xavier_u(p.shape))
        elif n.endswith("in_proj_bias") or n.endswith("out_proj.bias"):
            s[n] = ("c", 0.0)
        elif ".norm" in n:
            s[n] = ("c", 1.0 if n.endswith("weight") else 0.0)
        else:  # a Linear's bias: 1 / sqrt(fan_in of its weight)
            s[n] = ("u", 1 / math.sqrt(m.get_parameter(n[:-len("bias")] + "weight").shape[1]))
    return s


def spec_prelu(m):
    return {"weight": ("c", m.init)}


CASES = {
    "Linear(64,48)": (lambda: nn.Linear(64, 48), spec_linear),
    "Linear(7,300)": (lambda: nn.Linear(7, 300), spec_linear),
    "Linear(33,5,nobias)": (lambda: nn.Linear(33, 5, bias=False), spec_linear),
    "Bilinear(20,30,16)": (lambda: nn.Bilinear(20, 30, 16), spec_bilinear),
    "Conv1d(6,8,5)": (lambda: nn.Conv1d(6, 8, 5), spec_linear),
    "Conv2d(8,12,3,g4)": (lambda: nn.Conv2d(8, 12, 3, groups=4), spec_linear),
    "Conv3d(4,6,233)": (lambda: nn.Conv3d(4, 6, (2, 3, 3)), spec_linear),
    "ConvTranspose1d(6,8,3)": (lambda: nn.ConvTranspose1d(6, 8, 3), spec_linear),
    "ConvTranspose2d(8,12,3,g2)": (lambda: nn.ConvTranspose2d(8, 12, 3, groups=2), spec_linear),
    "ConvTranspose3d(4,6,2)": (lambda: nn.ConvTranspose3d(4, 6, 2), spec_linear),
    "Embedding(300,16,pad3)": (lambda: nn.Embedding(300, 16, padding_idx=3), spec_embedding),
    "EmbeddingBag(200,8,pad-1)": (lambda: nn.EmbeddingBag(200, 8, padding_idx=-1), spec_embedding),
    "LayerNorm(6,5)": (lambda: nn.LayerNorm((6, 5)), spec_norm),
    "GroupNorm(2,6)": (lambda: nn.GroupNorm(2, 6), spec_norm),
    "RMSNorm(8)": (lambda: nn.RMSNorm(8), spec_norm),
    "BatchNorm1d(7)": (lambda: nn.BatchNorm1d(7), spec_norm),
    "BatchNorm2d(5,nobias)": (lambda: nn.BatchNorm2d(5, bias=False), spec_norm),
    "BatchNorm3d(3)": (lambda: nn.BatchNorm3d(3), spec_norm),
    "InstanceNorm1d(4)": (lambda: nn.InstanceNorm1d(4), spec_norm),
    "InstanceNorm2d(5,affine,track)": (lambda: nn.InstanceNorm2d(5, affine=True, track_running_stats=True),
                                       spec_norm),
    "InstanceNorm3d(3,affine)": (lambda: nn.InstanceNorm3d(3, affine=True), spec_norm),
    "MHA(32,4,bias_kv)": (lambda: nn.MultiheadAttention(32, 4, add_bias_kv=True), spec_mha),
    "MHA(24,2,kdim,vdim)": (lambda: nn.MultiheadAttention(24, 2, kdim=10, vdim=12), spec_mha),
    "MHA(16,2,nobias)": (lambda: nn.MultiheadAttention(16, 2, bias=False), spec_mha),
    "RNN(10,20,2)": (lambda: nn.RNN(10, 20, 2), spec_rnn),
    "LSTM(8,16,proj4,bi)": (lambda: nn.LSTM(8, 16, proj_size=4, bidirectional=True), spec_rnn),
    "GRU(6,12)": (lambda: nn.GRU(6, 12), spec_rnn),
    "RNNCell(5,30)": (lambda: nn.RNNCell(5, 30), spec_rnn),
    "LSTMCell(4,20)": (lambda: nn.LSTMCell(4, 20), spec_rnn),
    "GRUCell(6,10)": (lambda: nn.GRUCell(6, 10), spec_rnn),
    "Transformer(16,2,1,1,24)": (lambda: nn.Transformer(16, 2, 1, 1, 24, batch_first=True), spec_transformer),
    "PReLU(3,0.1)": (lambda: nn.PReLU(3, init=0.1), spec_prelu),
}


def _tensors(m):
    out = dict(m.named_parameters())
    out.update((n, b) for n, b in m.named_buffers() if b is not None)
    return out


def _check_formula(x, spec, name):
    kind, v = spec
    if kind == "c":
        assert np.all(x == np.float32(v)), f"{name}: expected all {v}"  # float32 models
    elif kind == "u":
        assert np.all(np.abs(x) <= v), f"{name}: outside [-{v}, {v}]"
        assert stats.kstest(x, "uniform", args=(-v, 2 * v)).pvalue > 1e-3, f"{name}: not U(-{v}, {v})"
    elif kind == "n":
        assert stats.kstest(x, "norm", args=(0.0, v)).pvalue > 1e-3, f"{name}: not N(0, {v}**2)"


@pytest.mark.parametrize("case", list(CASES))
def test_layer_default_matches_torch(case):
    """Each tensor: torch's own samples and fastinit's pass a two-sample KS test, fastinit's
    pass the formula (bounds and a one-sample KS against the exact distribution), and the
    deterministic ones are equal to torch's."""
    factory, spec_fn = CASES[case]
    ours, theirs = {}, {}
    for r in range(REPEATS):
        torch.manual_seed(100 + r)
        ref = factory()
        m = factory()
        ft.reset_parameters(m, seed=7 + r)
        for n, t in _tensors(ref).items():
            theirs.setdefault(n, []).append(_np(t))
        for n, t in _tensors(m).items():
            ours.setdefault(n, []).append(_np(t))
    spec = spec_fn(m)
    assert set(spec) == set(ours), f"the spec covers {sorted(spec)}, the module has {sorted(ours)}"
    for n, s in spec.items():
        a, b = np.concatenate([x.ravel() for x in ours[n]]), np.concatenate([x.ravel() for x in theirs[n]])
        if s[0] == "emb":
            rows = [x.copy() for x in ours[n]]
            pad = s[1] % rows[0].shape[0]
            for x, y in zip(rows, theirs[n]):
                assert np.all(x[pad] == 0) and np.all(y[pad] == 0)
            a = np.concatenate([np.delete(x, pad, 0).ravel() for x in rows])
            b = np.concatenate([np.delete(y, pad, 0).ravel() for y in theirs[n]])
            s = ("n", 1.0)
        _check_formula(a, s, n)
        if s[0] == "c":
            np.testing.assert_array_equal(a, b)
        else:
            assert stats.ks_2samp(a, b).pvalue > 1e-3, f"{case} {n}: fastinit vs torch samples differ"


# ------------------------------------------------------------------ exact values
def test_single_call_tensors_equal_the_allocating_functions():
    torch.manual_seed(0)
    m = nn.Sequential(OrderedDict(
        fc1=nn.Linear(12, 9), conv=nn.Conv2d(4, 6, 3, groups=2), tconv=nn.ConvTranspose2d(6, 4, 2, groups=2),
        emb=nn.Embedding(20, 5, padding_idx=4), attn=nn.MultiheadAttention(8, 2, add_bias_kv=True),
        lstm=nn.LSTM(3, 5), bil=nn.Bilinear(3, 4, 2)))
    s = 11
    ft.reset_parameters(m, seed=s, prefix="net.")
    got = {n: t.detach().numpy() for n, t in m.state_dict().items()}
    exp = {
        "fc1.weight": fastinit.kaiming_uniform((9, 12), a=SQRT5, seed=s, stream="net.fc1.weight"),
        "fc1.bias": fastinit.uniform((9,), -1 / math.sqrt(12), 1 / math.sqrt(12), seed=s, stream="net.fc1.bias"),
        "conv.weight": fastinit.kaiming_uniform((6, 2, 3, 3), a=SQRT5, seed=s, stream="net.conv.weight"),
        "conv.bias": fastinit.uniform((6,), -1 / math.sqrt(18), 1 / math.sqrt(18), seed=s, stream="net.conv.bias"),
        # transposed: weight (in, out/groups, k, k), fan_in = out/groups * k * k = 2 * 4
        "tconv.weight": fastinit.kaiming_uniform((6, 2, 2, 2), a=SQRT5, seed=s, stream="net.tconv.weight"),
        "tconv.bias": fastinit.uniform((4,), -1 / math.sqrt(8), 1 / math.sqrt(8), seed=s, stream="net.tconv.bias"),
        "attn.in_proj_weight": fastinit.xavier_uniform((24, 8), seed=s, stream="net.attn.in_proj_weight"),
        "attn.in_proj_bias": np.zeros(24, np.float32),
        "attn.bias_k": fastinit.xavier_normal((1, 1, 8), seed=s, stream="net.attn.bias_k"),
        "attn.bias_v": fastinit.xavier_normal((1, 1, 8), seed=s, stream="net.attn.bias_v"),
        "attn.out_proj.weight": fastinit.kaiming_uniform((8, 8), a=SQRT5, seed=s, stream="net.attn.out_proj.weight"),
        "attn.out_proj.bias": np.zeros(8, np.float32),
        "lstm.weight_ih_l0": fastinit.uniform((20, 3), -1 / math.sqrt(5), 1 / math.sqrt(5), seed=s,
                                              stream="net.lstm.weight_ih_l0"),
        "bil.weight": fastinit.uniform((2, 3, 4), -1 / math.sqrt(3), 1 / math.sqrt(3), seed=s,
                                       stream="net.bil.weight"),
    }
    emb = fastinit.normal((20, 5), seed=s, stream="net.emb.weight")
    emb[4] = 0
    exp["emb.weight"] = emb
    for n, e in exp.items():
        np.testing.assert_array_equal(got[n], e, err_msg=n)


def test_16_bit_and_float64_models_hold_the_allocating_bits():
    m = nn.Linear(10, 6).to(torch.bfloat16)
    ft.reset_parameters(m, seed=2)
    exp = fastinit.kaiming_uniform((6, 10), a=SQRT5, dtype="bfloat16", seed=2, stream="weight")
    assert np.array_equal(m.weight.detach().view(torch.int16).numpy(), exp.view(np.int16))
    m = nn.Linear(10, 6).double()
    ft.reset_parameters(m, seed=2)
    np.testing.assert_array_equal(m.weight.detach().numpy(),
                                  fastinit.kaiming_uniform((6, 10), a=SQRT5, dtype="float64", seed=2, stream="weight"))


def test_layouts_and_autograd_state_are_kept():
    conv = nn.Conv2d(4, 6, 3).to(memory_format=torch.channels_last)  # a strided weight: torch fills it logically
    w = conv.weight
    ft.reset_parameters(conv, seed=8)
    assert conv.weight is w and w.is_contiguous(memory_format=torch.channels_last)
    assert w.requires_grad and w.is_leaf and w.grad_fn is None
    np.testing.assert_array_equal(w.detach().contiguous().numpy(),
                                  fastinit.kaiming_uniform((6, 4, 3, 3), a=SQRT5, seed=8, stream="weight"))


def test_order_parent_after_children():
    mha = nn.MultiheadAttention(8, 2)
    ft.reset_parameters(mha, seed=1)
    assert torch.all(mha.out_proj.bias == 0)  # Linear set it, MHA zeroed it
    t = nn.Transformer(8, 2, 1, 1, 12, batch_first=True)
    ft.reset_parameters(t, seed=1)
    w = t.encoder.layers[0].linear1.weight  # Linear's kaiming, then Transformer's xavier on its own stream
    np.testing.assert_array_equal(w.detach().numpy(), fastinit.xavier_uniform((12, 8), seed=1,
                                  stream="encoder.layers.0.linear1.weight"))
    np.testing.assert_array_equal(
        t.decoder.layers[0].multihead_attn.out_proj.weight.detach().numpy(),
        fastinit.xavier_uniform((8, 8), seed=1, stream="decoder.layers.0.multihead_attn.out_proj.weight"))
    assert torch.all(t.decoder.layers[0].multihead_attn.out_proj.bias == 0)
    b = t.encoder.layers[0].linear1.bias  # dim 1: Linear's default stays
    np.testing.assert_array_equal(b.detach().numpy(), fastinit.uniform((12,), -1 / math.sqrt(8), 1 / math.sqrt(8),
                                  seed=1, stream="encoder.layers.0.linear1.bias"))


def test_tied_weight_has_one_name_and_the_last_module_wins():
    m = nn.Sequential(OrderedDict(emb=nn.Embedding(10, 4), head=nn.Linear(4, 10, bias=False)))
    m.head.weight = m.emb.weight
    ft.reset_parameters(m, seed=3)
    np.testing.assert_array_equal(m.emb.weight.detach().numpy(),
                                  fastinit.kaiming_uniform((10, 4), a=SQRT5, seed=3, stream="emb.weight"))


def test_values_do_not_depend_on_other_modules_or_construction_order():
    torch.manual_seed(0)
    a = nn.Sequential(OrderedDict(x=nn.Linear(6, 4), y=nn.Conv1d(2, 3, 3)))
    b = nn.Sequential(OrderedDict(z=nn.GRU(3, 4), y=nn.Conv1d(2, 3, 3), w=nn.LayerNorm(5), x=nn.Linear(6, 4)))
    ft.reset_parameters(a, seed=9)
    ft.reset_parameters(b, seed=9)
    for n in ("x.weight", "x.bias", "y.weight", "y.bias"):
        assert torch.equal(a.get_parameter(n), b.get_parameter(n)), n
    # a submodule alone, with the prefix of its place in the model
    x = nn.Linear(6, 4)
    ft.reset_parameters(x, seed=9, prefix="x.")
    assert torch.equal(x.weight, a.x.weight) and torch.equal(x.bias, a.x.bias)
    # another seed, another value; another name, another value
    ft.reset_parameters(x, seed=10, prefix="x.")
    assert not torch.equal(x.weight, a.x.weight)
    assert not torch.equal(a.x.weight[:, :3], a.y.weight.reshape(-1, 6)[:4, :3])


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.norm = nn.RMSNorm(8)
        self.attn = nn.MultiheadAttention(8, 2, batch_first=True)
        self.up = nn.Linear(8, 16)
        self.bn = nn.BatchNorm1d(16)
        self.emb = nn.Embedding(11, 8, padding_idx=0)


def test_meta_then_materialize_equals_cpu_reset_bit_for_bit():
    cpu = nn.Sequential(Block(), Block(), nn.LSTM(8, 4))
    ft.reset_parameters(cpu, seed=5)
    with torch.device("meta"):
        meta = nn.Sequential(Block(), Block(), nn.LSTM(8, 4))
    out = ft.materialize(meta, "cpu", seed=5)
    assert out is meta
    ours, ref = meta.state_dict(), cpu.state_dict()
    assert list(ours) == list(ref)
    for n in ref:
        assert ours[n].device.type == "cpu"
        assert torch.equal(ours[n], ref[n]), n
    # the LSTM's flat weights follow the new storage: it runs
    meta[2](torch.zeros(3, 1, 8))


def test_materialize_a_model_not_on_meta():
    m = nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3))
    ref = nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3))
    ft.reset_parameters(ref, seed=1)
    w = m[0].weight
    m[1].running_mean.fill_(5.0)
    ft.materialize(m, "cpu", seed=1)  # already on cpu: re-initialized in place
    assert m[0].weight is w
    for a, b in zip(m.state_dict().values(), ref.state_dict().values()):
        assert torch.equal(a, b)
    before = m[0].weight.clone()
    with pytest.raises(ValueError, match="not on meta but on cpu"):
        ft.materialize(m, "cuda", seed=2)
    assert torch.equal(m[0].weight, before)


# ------------------------------------------------------------------ bad input, before anything is written
class Bare(nn.Module):  # a direct parameter, no rule, no reset method
    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(torch.full((3,), 7.0))
        self.fc = nn.Linear(3, 3)


def test_uncovered_parameter_is_an_error_before_anything_is_written():
    m = nn.Sequential(nn.Linear(3, 3), Bare())
    before = {n: t.clone() for n, t in m.state_dict().items()}
    with pytest.raises(ValueError, match=r"1\.scale"):
        ft.reset_parameters(m, seed=0)
    for n, t in m.state_dict().items():
        assert torch.equal(t, before[n]), n


class Computed(nn.Module):  # a buffer computed at construction, which meta loses
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 3)
        self.register_buffer("freqs", torch.arange(3.0), persistent=False)


def test_buffers_a_meta_model_lost_are_an_error():
    m = Computed()
    ft.reset_parameters(m, seed=0)  # on cpu: the buffer keeps its value, as torch's reset keeps it
    assert torch.equal(m.freqs, torch.arange(3.0))
    with torch.device("meta"):
        m = Computed()
    with pytest.raises(ValueError, match="freqs"):
        ft.materialize(m, seed=0)
    assert m.fc.weight.is_meta  # nothing allocated


def test_device_and_argument_errors():
    with torch.device("meta"):
        meta = nn.Linear(3, 3)
    with pytest.raises(ValueError, match="materialize"):
        ft.reset_parameters(meta, seed=0)
    mixed = nn.Sequential(nn.Linear(3, 3), meta)
    before = mixed[0].weight.clone()
    with pytest.raises(ValueError, match="several devices"):
        ft.reset_parameters(mixed, seed=0)
    with pytest.raises(ValueError, match="partly on meta"):
        ft.materialize(mixed, seed=0)
    assert torch.equal(mixed[0].weight, before) and mixed[1].weight.is_meta
    lazy = nn.Sequential(nn.Linear(3, 3), nn.LazyLinear(4))
    with pytest.raises(ValueError, match="lazy module.*1"):
        ft.reset_parameters(lazy, seed=0)
    lazy(torch.zeros(2, 3))  # initialized: it is a Linear now
    ft.reset_parameters(lazy, seed=0)
    np.testing.assert_array_equal(lazy[1].weight.detach().numpy(),
                                  fastinit.kaiming_uniform((4, 3), a=SQRT5, seed=0, stream="1.weight"))
    lin = nn.Linear(3, 3)
    with pytest.raises(TypeError, match="seed"):
        ft.reset_parameters(lin, seed=None)
    with pytest.raises(TypeError, match="seed"):
        ft.reset_parameters(lin, seed=1.5)
    with pytest.raises(ValueError):
        ft.reset_parameters(lin, seed=-1)
    with pytest.raises(TypeError, match="prefix"):
        ft.reset_parameters(lin, seed=0, prefix=3)
    with pytest.raises(TypeError, match="torch.nn.Module"):
        ft.reset_parameters(torch.zeros(3), seed=0)
    with pytest.raises(ValueError, match="device"):
        ft.materialize(meta, "nowhere", seed=0)
    with pytest.raises(ValueError, match="meta"):
        ft.materialize(meta, "meta", seed=0)
    with pytest.raises(TypeError, match="dtype"):
        ft.reset_parameters(_int_linear(), seed=0)


def _int_linear():
    m = nn.Linear(3, 3)
    m.weight = nn.Parameter(torch.zeros(3, 3, dtype=torch.int32), requires_grad=False)
    return m


# ------------------------------------------------------------------ other module types: their own reset, routed
def _has_route():
    try:
        import fastinit._torch_route  # noqa: F401
    except ImportError:
        return False
    return True


class Custom(nn.Module):
    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(6, 5))
        self.table = nn.ParameterList([nn.Parameter(torch.empty(4))])  # covered by this module's reset
        self.reset_parameters()

    def reset_parameters(self):
        nn.init.trunc_normal_(self.weight, std=0.02, a=-0.04, b=0.04)
        nn.init.ones_(self.table[0])


class MyLinear(nn.Linear):  # overrides Linear's reset: its own code runs, not the table's
    def reset_parameters(self):
        nn.init.zeros_(self.bias)
        nn.init.normal_(self.weight, std=0.5)


@pytest.mark.skipif(not _has_route(), reason="fastinit._torch_route (init_mode) is not there yet")
def test_unknown_modules_run_their_own_reset_under_init_mode():
    m = nn.Sequential(OrderedDict(c=Custom(), lin=MyLinear(3, 4), fc=nn.Linear(3, 4)))
    ft.reset_parameters(m, seed=4)
    np.testing.assert_array_equal(m.c.weight.detach().numpy(),
                                  fastinit.trunc_normal((6, 5), 0.0, 0.02, -0.04, 0.04, seed=4, stream="c.weight"))
    assert torch.all(m.c.table[0] == 1)
    np.testing.assert_array_equal(m.lin.weight.detach().numpy(),
                                  fastinit.normal((4, 3), 0.0, 0.5, seed=4, stream="lin.weight"))
    assert torch.all(m.lin.bias == 0)
    np.testing.assert_array_equal(m.fc.weight.detach().numpy(),
                                  fastinit.kaiming_uniform((4, 3), a=SQRT5, seed=4, stream="fc.weight"))
    with torch.device("meta"):
        mm = nn.Sequential(OrderedDict(c=Custom(), lin=MyLinear(3, 4), fc=nn.Linear(3, 4)))
    ft.materialize(mm, seed=4)
    for a, b in zip(mm.state_dict().values(), m.state_dict().values()):
        assert torch.equal(a, b)


# ------------------------------------------------------------------ meta -> fully_shard -> materialize on 2 gloo ranks
RANK_SCRIPT = r"""
import os, sys, torch, torch.distributed as dist
from torch.distributed.fsdp import fully_shard
import fastinit.torch as ft
sys.path.insert(0, os.environ["FASTINIT_TEST_DIR"])
from test_torch_model import sharded_model
rank, world, port, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world)
with torch.device("meta"):
    model = sharded_model()
fully_shard(model[0])  # a Linear of its own (FSDPLinear: the Linear rule still applies)
fully_shard(model)
ft.materialize(model, "cpu", seed=21, prefix="m.")
local = {n: (type(p).__name__, str(p.placements), p.to_local().shape[0]) for n, p in model.named_parameters()}
full = {n: p.full_tensor() for n, p in model.named_parameters()}
full.update((n, b.clone()) for n, b in model.named_buffers())
if rank == 0:
    torch.save({"full": full, "local": local}, out)
dist.destroy_process_group()
"""


def sharded_model():
    return nn.Sequential(nn.Linear(8, 12), nn.Embedding(9, 6, padding_idx=6), nn.BatchNorm1d(5),
                         nn.MultiheadAttention(6, 2), nn.Conv1d(4, 7, 3), nn.RMSNorm(6))


def test_meta_fully_shard_materialize_on_two_gloo_ranks_equals_one_process(tmp_path):
    import os
    import pathlib
    import socket
    import subprocess
    import sys
    ref = sharded_model()
    ft.reset_parameters(ref, seed=21, prefix="m.")  # also compiles/loads what the ranks need
    here = pathlib.Path(__file__).resolve().parent
    script = tmp_path / "rank.py"
    script.write_text(RANK_SCRIPT)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = dict(os.environ, FASTINIT_TEST_DIR=str(here), NUMBA_NUM_THREADS="1", OMP_NUM_THREADS="1",
               PYTHONPATH=os.pathsep.join([str(here.parent), str(here), os.environ.get("PYTHONPATH", "")]))
    out = tmp_path / "full.pt"
    procs = [subprocess.Popen([sys.executable, str(script), str(r), "2", str(port), str(out)], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for r in range(2)]
    logs = []
    try:
        for p in procs:
            logs.append(p.communicate(timeout=300)[0])
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    assert [p.returncode for p in procs] == [0, 0], "\n".join(x[-3000:] for x in logs)
    got = torch.load(out)
    # every parameter really was a DTensor sharded on dim 0; the Embedding's 9 rows split 5 + 4 and
    # its padding row 6 lives on rank 1 only
    assert all(kind == "DTensor" and "Shard(dim=0)" in pl for kind, pl, _ in got["local"].values())
    assert got["local"]["1.weight"][2] == 5
    ours = got["full"]
    for n, t in ref.state_dict().items():
        assert torch.equal(ours[n], t), n
