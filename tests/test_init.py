"""Initializer formulas against torch.nn.init (and JAX's documented constants),
deterministic initializers against torch exactly, in-place torch tensors."""
import math

import numpy as np
import pytest

import fastinit as fi
from fastinit.fans import compute_fans

from conftest import FLOAT_DTYPES, requires_bf16, requires_torch

SHAPES = [(64, 32), (128, 3), (16, 8, 3), (32, 16, 3, 3), (8, 4, 3, 3, 3), (1, 1)]
NONLIN = [("linear", None), ("conv2d", None), ("sigmoid", None), ("tanh", None), ("relu", None),
          ("leaky_relu", None), ("leaky_relu", 0.2), ("leaky_relu", math.sqrt(5)), ("selu", None)]


@requires_torch
@pytest.mark.parametrize("shape", SHAPES)
def test_fans_match_torch(shape):
    import torch
    assert compute_fans(shape, in_axis=1, out_axis=0) == \
        torch.nn.init._calculate_fan_in_and_fan_out(torch.empty(shape))


def test_keras_fans():
    # Keras/JAX conv kernel (kh, kw, in, out)
    assert compute_fans((3, 5, 16, 32)) == (3 * 5 * 16, 3 * 5 * 32)
    assert compute_fans((16, 32)) == (16, 32)


@requires_torch
@pytest.mark.parametrize("nl,param", NONLIN)
def test_gain_matches_torch(nl, param):
    import torch
    assert fi.calculate_gain(nl, param) == pytest.approx(torch.nn.init.calculate_gain(nl, param), rel=1e-15)


def _torch_bound(kind, shape, **kw):
    """torch's own bound/std for the shape, from torch's helper functions."""
    import torch
    fan_in, fan_out = torch.nn.init._calculate_fan_in_and_fan_out(torch.empty(shape))
    if kind.startswith("xavier"):
        std = kw.get("gain", 1.0) * math.sqrt(2.0 / (fan_in + fan_out))
    else:
        fan = fan_in if kw.get("mode", "fan_in") == "fan_in" else fan_out
        std = torch.nn.init.calculate_gain(kw.get("nonlinearity", "leaky_relu"), kw.get("a", 0)) / math.sqrt(fan)
    return math.sqrt(3.0) * std if kind.endswith("uniform_") else std


@requires_torch
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("kind,kw", [
    ("kaiming_uniform_", {"a": math.sqrt(5)}),  # nn.Linear / nn.Conv2d default
    ("kaiming_uniform_", {"nonlinearity": "relu", "mode": "fan_out"}),
    ("kaiming_normal_", {"nonlinearity": "relu"}),
    ("kaiming_normal_", {"a": 0.1, "mode": "fan_out"}),
    ("xavier_uniform_", {"gain": 2.0}),
    ("xavier_normal_", {}),
])
def test_fan_based_initializers_use_torchs_formula(shape, kind, kw):
    """Exact: the initializer equals the base distribution with torch's bound/std."""
    got = getattr(fi, kind)(np.empty(shape, np.float32), **kw, seed=3, stream="w")
    b = _torch_bound(kind, shape, **kw)
    if kind.endswith("uniform_"):
        ref = fi.uniform_(np.empty(shape, np.float32), -b, b, seed=3, stream="w")
    else:
        ref = fi.normal_(np.empty(shape, np.float32), 0.0, b, seed=3, stream="w")
    np.testing.assert_array_equal(got, ref)


@requires_torch
def test_linear_layer_default_init_statistics():
    """nn.Linear(1024, 512) default init: same support and std as torch's."""
    import torch
    lin = torch.nn.Linear(1024, 512)
    ours = fi.kaiming_uniform_(torch.empty(512, 1024), a=math.sqrt(5), seed=0)
    bound = 1 / math.sqrt(1024)
    assert float(ours.abs().max()) <= bound and float(ours.abs().max()) > 0.999 * bound
    assert float(ours.std()) == pytest.approx(float(lin.weight.detach().std()), rel=0.01)
    assert float(ours.std()) == pytest.approx(bound / math.sqrt(3), rel=0.005)


@requires_torch
@pytest.mark.parametrize("shape,gain", [((30, 50), 1.0), ((50, 30), 2.0), ((16, 4, 3, 3), 0.5), ((7, 7), 1.0)])
def test_orthogonal_follows_torchs_algorithm(shape, gain):
    import torch
    got = fi.orthogonal(shape, gain, seed=5, dtype="float64")
    rows = shape[0]
    cols = math.prod(shape) // rows
    flat = torch.from_numpy(fi.normal((rows, cols), seed=5, dtype="float64"))
    if rows < cols:
        flat = flat.t()
    q, r = torch.linalg.qr(flat)
    q *= torch.diag(r, 0).sign()
    if rows < cols:
        q = q.t()
    np.testing.assert_allclose(got, (q * gain).reshape(shape).numpy(), rtol=1e-10, atol=1e-12)
    m = got.reshape(rows, cols)
    small = m @ m.T if rows <= cols else m.T @ m
    np.testing.assert_allclose(small, gain**2 * np.eye(min(rows, cols)), atol=1e-12)


@pytest.mark.parametrize("sparsity", [0.0, 0.1, 0.5, 0.99])
def test_sparse_exact_zeros_per_column(sparsity):
    rows, cols = 200, 37
    got = fi.sparse((rows, cols), sparsity, std=0.02, seed=4)
    nz = math.ceil(sparsity * rows)
    assert ((got == 0).sum(axis=0) == nz).all()
    dense = fi.normal((rows, cols), 0.0, 0.02, seed=4)
    keep = got != 0
    np.testing.assert_array_equal(got[keep], dense[keep])


@requires_torch
@pytest.mark.parametrize("shape,groups", [((8, 8, 3), 1), ((16, 4, 3, 3), 4), ((6, 2, 3, 3, 3), 2),
                                          ((4, 8, 5, 5), 1)])
def test_dirac_matches_torch(shape, groups):
    import torch
    ref = torch.nn.init.dirac_(torch.empty(shape), groups).numpy()
    np.testing.assert_array_equal(fi.dirac(shape, groups), ref)


@requires_torch
@pytest.mark.parametrize("shape", [(5, 5), (3, 7), (7, 3)])
def test_eye_matches_torch(shape):
    import torch
    np.testing.assert_array_equal(fi.eye(shape), torch.nn.init.eye_(torch.empty(shape)).numpy())


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
def test_constants(dtype):
    assert (fi.constant((3, 4), 2.5, dtype=dtype).astype(np.float64) == 2.5).all()
    assert (fi.ones((3, 4), dtype=dtype).astype(np.float64) == 1).all()
    assert (fi.zeros((3, 4), dtype=dtype).astype(np.float64) == 0).all()


def test_variance_scaling_constants():
    shape = (3, 3, 64, 128)  # Keras/JAX conv kernel
    fan_in, fan_out = 9 * 64, 9 * 128
    n = 400_000
    big = (n // 128, 128)
    # uniform limits
    v = fi.glorot_uniform(shape, seed=1)
    lim = math.sqrt(6 / (fan_in + fan_out))
    assert np.abs(v).max() <= lim and np.abs(v).max() > 0.99 * lim
    v = fi.he_uniform(shape, seed=1)
    assert np.abs(v).max() <= math.sqrt(6 / fan_in)
    # truncated normal keeps the requested variance and is cut at 2 std/0.8796...
    for fn, var in ((fi.he_normal, 2 / big[0]), (fi.lecun_normal, 1 / big[0]),
                    (fi.glorot_normal, 2 / (big[0] + big[1]))):
        w = fn(big, seed=2).astype(np.float64)
        assert w.var() == pytest.approx(var, rel=0.01)
        assert np.abs(w).max() <= 2 * math.sqrt(var) / 0.87962566103423978 * (1 + 1e-6)
    w = fi.variance_scaling(big, 3.0, "fan_out", "normal", seed=3).astype(np.float64)
    assert w.var() == pytest.approx(3.0 / big[1], rel=0.01)
    w2 = fi.variance_scaling(big, 3.0, "fan_out", "untruncated_normal", seed=3)
    np.testing.assert_array_equal(w.astype(np.float32), w2)
    # torch layout through in_axis/out_axis
    t = fi.variance_scaling((128, 64, 3, 3), 2.0, "fan_in", "uniform", in_axis=1, out_axis=0, seed=4)
    k = fi.kaiming_uniform((128, 64, 3, 3), nonlinearity="relu", seed=4)
    np.testing.assert_allclose(t, k, rtol=1e-6, atol=0)


def test_trunc_std_constant_is_the_truncated_normal_std():
    from scipy import stats
    assert fi.init.TRUNC_STD_2SIGMA == pytest.approx(stats.truncnorm(-2, 2).std(), rel=1e-15)


def test_in_place_returns_its_argument_and_zero_elements_are_noops(recwarn):
    a = np.empty((4, 5), np.float32)
    assert fi.normal_(a, seed=0) is a
    z = np.empty((0, 5), np.float32)
    for name in ("uniform_", "normal_", "trunc_normal_", "xavier_uniform_", "orthogonal_", "glorot_normal_"):
        assert getattr(fi, name)(z, seed=0) is z
    assert fi.sparse_(np.empty((0, 3), np.float32), 0.5, seed=0).size == 0
    assert fi.random_bits(0, seed=1).shape == (0,)
    assert not recwarn.list  # torch warns only in kaiming_*


EMPTY_WARNING = "Initializing zero-element tensors is a no-op"


@pytest.mark.parametrize("name", ["kaiming_uniform_", "kaiming_normal_"])
@pytest.mark.parametrize("shape", [(0, 5), (3, 0, 2), (0,)])
def test_kaiming_warns_on_zero_element_tensors_like_torch(name, shape):
    z = np.empty(shape, np.float32)
    with pytest.warns(UserWarning, match=EMPTY_WARNING) as rec:
        assert getattr(fi, name)(z, seed=0) is z
    assert len(rec) == 1 and rec[0].filename == __file__  # points at the caller, as torch's stacklevel=2
    with pytest.warns(UserWarning, match=EMPTY_WARNING):
        assert getattr(fi.init, name[:-1])(shape, seed=0).shape == shape  # allocating form too
    with pytest.raises(ValueError, match="mode must be one of"):  # arguments are still checked
        getattr(fi, name)(z, mode="fan_avg", seed=0)


@requires_torch
@pytest.mark.parametrize("name", ["kaiming_uniform_", "kaiming_normal_"])
def test_kaiming_zero_element_warning_is_torchs(name):
    import torch
    with pytest.warns(UserWarning) as ours:
        getattr(fi, name)(torch.empty(0, 5), seed=0)
    with pytest.warns(UserWarning) as theirs:
        getattr(torch.nn.init, name)(torch.empty(0, 5))
    assert [str(w.message) for w in ours] == [str(w.message) for w in theirs] == [EMPTY_WARNING]


def test_zero_element_kaiming_takes_its_default_generator_stream():
    # a zero-element call is still a call: the next default-generator stream is the same with or without the warning
    fi.manual_seed(11)
    with pytest.warns(UserWarning):
        fi.kaiming_uniform_(np.empty((0, 4), np.float32))
    after = fi.normal(8)
    fi.manual_seed(11)
    fi.normal_(np.empty((0, 4), np.float32))
    np.testing.assert_array_equal(fi.normal(8), after)
    fi.manual_seed(0)


# ---------------------------------------------------------------- generator= (torch's keyword)
RANDOM_CALLS = {
    "uniform_": ((), {"a": -1.0, "b": 2.0}), "normal_": ((), {"std": 0.5}), "trunc_normal_": ((), {}),
    "xavier_uniform_": ((), {}), "xavier_normal_": ((), {"gain": 2.0}), "kaiming_uniform_": ((), {"a": math.sqrt(5)}),
    "kaiming_normal_": ((), {"mode": "fan_out"}), "orthogonal_": ((), {}), "sparse_": ((0.25,), {}),
    "variance_scaling_": ((1.0, "fan_avg", "uniform"), {}), "glorot_uniform_": ((), {}), "glorot_normal_": ((), {}),
    "he_uniform_": ((), {}), "he_normal_": ((), {}), "lecun_uniform_": ((), {}), "lecun_normal_": ((), {}),
}


def test_every_random_initializer_takes_generator():
    assert set(RANDOM_CALLS) == set(fi.init.RANDOM_INITIALIZERS) | {"variance_scaling_"}


@requires_torch
@pytest.mark.parametrize("name", sorted(RANDOM_CALLS))
def test_generator_is_one_seed_draw(name):
    """generator=g is seed=seed_from_generator(g) (one torch.randint draw) with the stream as given."""
    import torch
    args, kw = RANDOM_CALLS[name]
    fn = getattr(fi, name)
    g = torch.Generator().manual_seed(1234)
    ref = torch.Generator().manual_seed(1234)
    expect_seed = int(torch.randint(0, 2**63 - 1, (), generator=ref, dtype=torch.int64))
    a = fn(np.empty((16, 12), np.float32), *args, **kw, generator=g, stream="w")
    b = fn(np.empty((16, 12), np.float32), *args, **kw, seed=expect_seed, stream="w")
    np.testing.assert_array_equal(a, b)
    # g advanced exactly like the one draw: the next values agree with the reference generator's
    assert torch.equal(torch.rand(4, generator=g), torch.rand(4, generator=ref))
    # the allocating form takes it too, and a re-seeded generator reproduces the values
    alloc = getattr(fi.init, name[:-1])
    np.testing.assert_array_equal(alloc((16, 12), *args, **kw, generator=g.manual_seed(1234), stream="w"), a)


@requires_torch
def test_seed_from_generator_rule():
    import torch
    g = torch.Generator().manual_seed(7)
    seeds = [fi.init.seed_from_generator(g) for _ in range(50)]
    g.manual_seed(7)
    assert seeds == [int(torch.randint(0, 2**63 - 1, (), generator=g, dtype=torch.int64)) for _ in range(50)]
    assert all(isinstance(s, int) and 0 <= s < 2**63 for s in seeds) and len(set(seeds)) == 50
    # successive calls with one generator differ; the default stream is 0
    g.manual_seed(7)
    x, y = fi.normal(6, generator=g), fi.normal(6, generator=g)
    assert not np.array_equal(x, y)
    np.testing.assert_array_equal(x, fi.normal(6, seed=seeds[0], stream=0))
    # the module's default generator is not touched
    fi.manual_seed(3)
    first = fi.normal(4)
    fi.manual_seed(3)
    fi.normal(4, generator=g)
    np.testing.assert_array_equal(fi.normal(4), first)
    fi.manual_seed(0)


@requires_torch
def test_generator_into_torch_tensor_matches_numpy():
    import torch
    t = torch.empty(32, 48, dtype=torch.bfloat16)
    fi.kaiming_uniform_(t, a=math.sqrt(5), generator=torch.Generator().manual_seed(5))
    ref = fi.kaiming_uniform((32, 48), a=math.sqrt(5), dtype="bfloat16",
                             seed=fi.init.seed_from_generator(torch.Generator().manual_seed(5)))
    np.testing.assert_array_equal(t.view(torch.int16).numpy().view(np.uint16), ref.view(np.uint16))


def test_zero_dim_tensor():
    v = fi.normal((), seed=3)
    assert v.shape == () and v == fi.normal(1, seed=3)[0]


@requires_torch
@pytest.mark.parametrize("tdtype", ["float32", "float64", "float16", "bfloat16"])
def test_torch_cpu_tensors_are_filled_in_place(tdtype):
    import torch
    dt = getattr(torch, tdtype)
    lin = torch.nn.Linear(48, 32).to(dt)
    ptr = lin.weight.data_ptr()
    out = fi.kaiming_uniform_(lin.weight, a=math.sqrt(5), seed=7)
    assert out is lin.weight and lin.weight.data_ptr() == ptr
    ref = fi.kaiming_uniform((32, 48), a=math.sqrt(5), seed=7, dtype=tdtype)
    np.testing.assert_array_equal(lin.weight.detach().float().numpy(), ref.astype(np.float32))
    fi.zeros_(lin.bias)
    assert float(lin.bias.detach().abs().sum()) == 0


@requires_bf16
def test_bfloat16_numpy_arrays():
    import ml_dtypes
    a = np.empty((10, 10), ml_dtypes.bfloat16)
    fi.xavier_normal_(a, seed=1)
    ref = fi.xavier_normal((10, 10), seed=1).astype(ml_dtypes.bfloat16)
    np.testing.assert_array_equal(a.view(np.uint16), ref.view(np.uint16))
