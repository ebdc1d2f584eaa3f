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


def test_in_place_returns_its_argument_and_zero_elements_are_noops():
    a = np.empty((4, 5), np.float32)
    assert fi.normal_(a, seed=0) is a
    z = np.empty((0, 5), np.float32)
    for name in ("uniform_", "normal_", "trunc_normal_", "xavier_uniform_", "kaiming_normal_",
                 "orthogonal_", "glorot_normal_"):
        assert getattr(fi, name)(z, seed=0) is z
    assert fi.sparse_(np.empty((0, 3), np.float32), 0.5, seed=0).size == 0
    assert fi.random_bits(0, seed=1).shape == (0,)


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
