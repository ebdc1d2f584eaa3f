"""fastinit.torch: autograd drop-ins against torch's own modules, gradcheck in
float64, 16-bit tensors, layouts and errors."""
import pytest

from conftest import requires_torch

torch = pytest.importorskip("torch")
ft = pytest.importorskip("fastinit.torch")
from fastinit import activations as A  # noqa: E402

pytestmark = requires_torch

# (fastinit module, torch module) with non-default parameters where there are some
MODULES = [
    ("ReLU", (), {}), ("ReLU6", (), {}), ("LeakyReLU", (0.2,), {}), ("ELU", (), {"alpha": 0.7}),
    ("SELU", (), {}), ("CELU", (), {"alpha": 1.5}), ("GELU", (), {}), ("GELU", (), {"approximate": "tanh"}),
    ("SiLU", (), {}), ("Mish", (), {}), ("Sigmoid", (), {}), ("Tanh", (), {}),
    ("Softplus", (), {"beta": 2.0, "threshold": 5.0}), ("Hardsigmoid", (), {}), ("Hardswish", (), {}),
    ("Hardtanh", (-2.0, 0.5), {}), ("Softsign", (), {}), ("LogSigmoid", (), {}), ("Tanhshrink", (), {}),
    ("Hardshrink", (), {"lambd": 0.3}), ("Softshrink", (), {"lambd": 0.7}),
]


def _mid(cls, args, kwargs):
    return f"{cls}{args or ''}{kwargs or ''}"


@pytest.mark.parametrize("cls,args,kwargs", MODULES, ids=[_mid(*m) for m in MODULES])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_module_matches_torch_module(cls, args, kwargs, dtype):
    g = torch.Generator().manual_seed(0)
    x = (torch.randn(301, 67, generator=g, dtype=dtype) * 5)
    x[0, :5] = torch.tensor([0.0, -3.0, 3.0, 6.0, 1.0])  # kinks
    go = torch.randn(x.shape, generator=g, dtype=dtype)
    ours = getattr(ft, cls)(*args, **kwargs)
    ref = getattr(torch.nn, cls)(*args, **kwargs)
    x1 = x.clone().requires_grad_()
    x2 = x.clone().requires_grad_()
    y1 = ours(x1)
    y2 = ref(x2)
    y1.backward(go)
    y2.backward(go)
    tol = dict(rtol=1.3e-6, atol=1e-5) if dtype == torch.float32 else dict(rtol=1e-12, atol=1e-12)
    if cls == "Hardsigmoid" and dtype == torch.float64:
        # torch 2.13's float64 hardsigmoid is off by up to 3e-8 relative (a float32-precision
        # constant); fastinit's is within 0.33 ulp of float64 (test_activations.py)
        tol = dict(rtol=5e-8, atol=1e-12)
    torch.testing.assert_close(y1, y2, **tol)
    torch.testing.assert_close(x1.grad, x2.grad, **tol)
    assert y1.dtype == dtype and y1.shape == x.shape
    for k, v in kwargs.items():
        assert getattr(ours, k) == v
    assert cls in repr(ours)


@pytest.mark.parametrize("name", sorted(n for n, e in A.ACTIVATIONS.items() if not e.gated))
def test_gradcheck_float64(name):
    g = torch.Generator().manual_seed(1)
    x = torch.randn(40, generator=g, dtype=torch.float64) * 3
    # keep away from kinks (|x| = 0, 0.5, 1, 3, 6): finite differences straddling one are wrong
    for k in (0.0, 0.5, 1.0, 3.0, 6.0):
        x = torch.where((x.abs() - k).abs() < 1e-3, x + 0.01, x)
    x.requires_grad_()
    fn = getattr(ft, name)
    assert torch.autograd.gradcheck(fn, (x,), eps=1e-6, atol=1e-7, rtol=1e-6)
    if name == "gelu":
        assert torch.autograd.gradcheck(lambda t: fn(t, approximate="tanh"), (x,))


@pytest.mark.parametrize("name,kw", [("swiglu", {}), ("geglu", {}), ("geglu", {"approximate": "tanh"})])
def test_gated_gradcheck_and_module(name, kw):
    g = torch.Generator().manual_seed(2)
    a = (torch.randn(30, generator=g, dtype=torch.float64) * 2).requires_grad_()
    b = torch.randn(30, generator=g, dtype=torch.float64).requires_grad_()
    fn = getattr(ft, name)
    assert torch.autograd.gradcheck(lambda p, q: fn(p, q, **kw), (a, b))
    mod = (ft.SwiGLU() if name == "swiglu" else ft.GeGLU(**kw))
    x = torch.cat([a, b]).reshape(1, 60).detach()
    want = A.ACTIVATIONS[name].torch(torch, a, b, **kw)
    torch.testing.assert_close(mod(x).reshape(-1), want.detach().reshape(-1))
    torch.testing.assert_close(mod(a.detach(), b.detach()), want.detach())


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_16bit_tensors_are_float32_math_rounded_once(dtype):
    g = torch.Generator().manual_seed(3)
    x = (torch.randn(4099, generator=g) * 4).to(dtype).requires_grad_()
    go = torch.randn(4099, generator=g).to(dtype)
    y = ft.gelu(x)
    y.backward(go)
    assert y.dtype == dtype and x.grad.dtype == dtype
    y32, d32 = A.fused("gelu", x.detach().float().numpy())
    assert torch.equal(y.detach(), torch.from_numpy(y32).to(dtype))
    assert torch.equal(x.grad, (go.float() * torch.from_numpy(d32)).to(dtype))
    ref = torch.nn.functional.gelu(x.detach().float()).to(dtype)  # torch computes 16-bit gelu in float32 too
    torch.testing.assert_close(y.detach(), ref, rtol=1e-2, atol=1e-3)


def test_zero_copy_saved_input_and_non_contiguous_input():
    x = torch.randn(64, 32, requires_grad=True)
    y = ft.silu(x)
    assert y.grad_fn.saved_tensors[0].data_ptr() == x.data_ptr()  # saved, not copied
    xt = torch.randn(32, 64).t().requires_grad_()  # non-contiguous: read through one copy
    yt = ft.silu(xt)
    yt.sum().backward()  # sum's grad is an expanded (stride 0) tensor
    torch.testing.assert_close(yt, torch.nn.functional.silu(xt), rtol=1.3e-6, atol=1e-5)
    xr = xt.detach().clone().requires_grad_()
    torch.nn.functional.silu(xr).sum().backward()
    torch.testing.assert_close(xt.grad, xr.grad, rtol=1.3e-6, atol=1e-5)
    with torch.no_grad():
        assert ft.relu(torch.tensor([-1.0, 2.0])).tolist() == [0.0, 2.0]


def test_errors():
    x = torch.randn(8, requires_grad=True)
    with pytest.raises(TypeError, match="on meta"):
        ft.gelu(torch.empty(4, device="meta"))
    with pytest.raises(TypeError, match="dtype must be one of"):
        ft.gelu(torch.arange(4))
    with pytest.raises(ValueError, match="approximate must be one of"):
        ft.gelu(x, approximate="fast")
    with pytest.raises(ValueError, match="inplace=True is not supported"):
        ft.ReLU(inplace=True)
    with pytest.raises(ValueError, match="min_val must be less than max_val"):
        ft.Hardtanh(1.0, -1.0)
    with pytest.raises(ValueError, match="a and b must have the same shape"):
        ft.swiglu(x, x[:4])
    y = ft.gelu(x)
    (g,) = torch.autograd.grad(y.sum(), x, create_graph=True)
    with pytest.raises(RuntimeError):
        g.sum().backward()  # the fused backward is once-differentiable
    assert isinstance(ft.ReLU(inplace=False), torch.nn.Module)
