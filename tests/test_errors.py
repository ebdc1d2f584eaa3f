"""Bad input: a clear error naming the argument, raised before anything is written."""
import math

import numpy as np
import pytest

import fastinit as fi

from conftest import requires_torch

SENTINEL = np.float32(12345.0)


def fresh(shape=(8, 6), dtype=np.float32):
    return np.full(shape, SENTINEL, dtype)


def untouched(a):
    return bool((a.astype(np.float64) == float(SENTINEL)).all())


CASES = [
    (fi.uniform_, (), {"a": 1.0, "b": 1.0}, ValueError, "a < b"),
    (fi.uniform_, (), {"a": 2.0, "b": 1.0}, ValueError, "a < b"),
    (fi.uniform_, (), {"a": math.nan}, ValueError, "a must be"),
    (fi.normal_, (), {"std": 0.0}, ValueError, "std must be > 0"),
    (fi.normal_, (), {"std": -1.0}, ValueError, "std must be > 0"),
    (fi.normal_, (), {"mean": math.inf}, ValueError, "mean"),
    (fi.trunc_normal_, (), {"a": 2.0, "b": -2.0}, ValueError, "a < b"),
    (fi.trunc_normal_, (), {"a": 50.0, "b": 51.0}, ValueError, "too little"),
    (fi.trunc_normal_, (), {"std": 0.0}, ValueError, "std"),
    (fi.kaiming_uniform_, (), {"mode": "fan_avg"}, ValueError, "fan_in, fan_out"),
    (fi.kaiming_normal_, (), {"nonlinearity": "gelu"}, ValueError, "nonlinearity must be one of"),
    (fi.kaiming_uniform_, (), {"a": "x"}, ValueError, "negative_slope"),
    (fi.variance_scaling_, (1.0, "fan_mid", "normal"), {}, ValueError, "fan_in, fan_out, fan_avg"),
    (fi.variance_scaling_, (1.0, "fan_in", "cauchy"), {}, ValueError, "truncated_normal, normal, uniform"),
    (fi.variance_scaling_, (0.0, "fan_in", "normal"), {}, ValueError, "scale must be > 0"),
    (fi.variance_scaling_, (1.0, "fan_in", "normal"), {"in_axis": 5}, ValueError, "in_axis"),
    (fi.variance_scaling_, (1.0, "fan_in", "normal"), {"in_axis": -1}, ValueError, "must differ"),
    (fi.sparse_, (1.0,), {}, ValueError, "sparsity must be in [0, 1)"),
    (fi.sparse_, (-0.1,), {}, ValueError, "sparsity"),
    (fi.normal_, (), {"seed": -1}, ValueError, "seed must be an int in [0, 2**64)"),
    (fi.normal_, (), {"seed": 2**64}, ValueError, "seed must be an int in [0, 2**64)"),
    (fi.normal_, (), {"seed": 1.5}, TypeError, "seed"),
    (fi.normal_, (), {"seed": True}, TypeError, "seed"),
    (fi.normal_, (), {"seed": 1, "stream": -3}, ValueError, "stream"),
    (fi.normal_, (), {"seed": 1, "stream": 2**64}, ValueError, "stream"),
    (fi.normal_, (), {"seed": 1, "stream": 1.0}, TypeError, "stream"),
    (fi.normal_, (), {"global_shape": (8, 5)}, ValueError, "does not fit"),
    (fi.normal_, (), {"global_shape": (16, 6), "start": (9, 0)}, ValueError, "does not fit"),
    (fi.normal_, (), {"global_shape": (16, 6, 1)}, ValueError, "dimensions"),
    (fi.normal_, (), {"start": (1, 0)}, ValueError, "global_shape"),
    (fi.normal_, (), {"global_shape": (16, 6), "start": (1,)}, ValueError, "one index per dimension"),
    (fi.normal_, (), {"global_shape": (16, -6)}, ValueError, "non-negative"),
]


@pytest.mark.parametrize("fn,args,kw,exc,msg", CASES)
def test_bad_arguments_raise_before_writing(fn, args, kw, exc, msg):
    a = fresh()
    with pytest.raises(exc) as e:
        fn(a, *args, **kw)
    assert msg in str(e.value)
    assert untouched(a)


@pytest.mark.parametrize("name", ["xavier_uniform_", "xavier_normal_", "kaiming_uniform_", "kaiming_normal_",
                                  "glorot_uniform_", "he_normal_", "lecun_uniform_", "orthogonal_"])
@pytest.mark.parametrize("shape", [(7,), ()])
def test_fans_of_1d_tensor(name, shape):
    a = fresh(shape)
    with pytest.raises(ValueError, match="at least 2 dimensions"):
        getattr(fi, name)(a, seed=0)
    assert untouched(a)


@pytest.mark.parametrize("fn,args,msg", [(fi.eye_, (), "2-D"), (fi.dirac_, (), "3-, 4- or 5-D"),
                                         (fi.sparse_, (0.5,), "2-D")])
def test_dimension_requirements(fn, args, msg):
    a = fresh((2, 3, 4, 5, 6, 7))
    with pytest.raises(ValueError, match=msg):
        fn(a, *args)
    assert untouched(a)


def test_dirac_groups():
    a = fresh((6, 4, 3, 3))
    with pytest.raises(ValueError, match="divisible by groups"):
        fi.dirac_(a, groups=4)
    with pytest.raises(ValueError, match="groups must be a positive int"):
        fi.dirac_(a, groups=0)
    assert untouched(a)


@pytest.mark.parametrize("dtype", [np.int32, np.int64, np.uint8, np.bool_, np.complex64])
def test_non_float_outputs(dtype):
    a = np.zeros((4, 4), dtype)
    with pytest.raises(TypeError, match="float16, bfloat16, float32, float64"):
        fi.normal_(a, seed=0)
    assert (a == 0).all()


def test_read_only_output():
    a = fresh()
    a.setflags(write=False)
    with pytest.raises(ValueError, match="read-only"):
        fi.uniform_(a, seed=0)
    assert untouched(a)


def test_non_contiguous_output():
    base = fresh((8, 12))
    for view in (base[:, ::2], base.T, base[::2]):
        with pytest.raises(ValueError, match="C-contiguous"):
            fi.kaiming_normal_(view, seed=0)
    assert untouched(base)


@pytest.mark.parametrize("shape,exc", [((3, -1), ValueError), ((3, 2.5), TypeError), ("abc", TypeError),
                                       ((True, 2), TypeError), (None, TypeError)])
def test_bad_shapes(shape, exc):
    with pytest.raises(exc, match="shape"):
        fi.normal(shape, seed=0)
    with pytest.raises(exc, match="shape"):
        fi.random_bits(shape, seed=0)


@pytest.mark.parametrize("dtype", ["int32", "float128", "complex64", "bf17", object])
def test_bad_dtype_names(dtype):
    with pytest.raises(TypeError, match="dtype must be one of"):
        fi.normal((3, 3), seed=0, dtype=dtype)


def test_random_bits_argument_ranges():
    with pytest.raises(ValueError, match="offset"):
        fi.random_bits(4, seed=0, offset=2**64)
    with pytest.raises(ValueError, match="offset"):
        fi.random_bits(4, seed=0, offset=-1)
    with pytest.raises(TypeError):
        fi.random_bits(4)  # seed is required


def test_gain_errors():
    with pytest.raises(ValueError, match="nonlinearity must be one of"):
        fi.calculate_gain("softmax")
    with pytest.raises(ValueError, match="negative_slope"):
        fi.calculate_gain("leaky_relu", True)
    a = fresh()
    with pytest.raises(ValueError, match="gain"):
        fi.xavier_uniform_(a, gain=math.inf, seed=0)
    assert untouched(a)


def test_not_an_array():
    with pytest.raises(TypeError, match="must be a numpy.ndarray, a torch tensor, a CuPy array"):
        fi.normal_([1.0, 2.0], seed=0)


@requires_torch
def test_torch_errors():
    import torch
    t = torch.full((4, 6), 7.0)
    with pytest.raises(ValueError, match="contiguous"):
        fi.normal_(t.t(), seed=0)
    with pytest.raises(TypeError, match="dtype"):
        fi.normal_(torch.zeros(3, 3, dtype=torch.int32), seed=0)
    assert (t == 7).all()


@pytest.mark.parametrize("name", ["xavier_uniform_", "kaiming_normal_", "he_uniform_", "orthogonal_"])
def test_fan_based_initializers_name_a_bad_output(name):
    with pytest.raises(TypeError, match="must be a numpy.ndarray, a torch tensor, a CuPy array"):
        getattr(fi, name)([[1.0, 2.0], [3.0, 4.0]], seed=0)


@pytest.mark.parametrize("name", ["xavier_uniform_", "xavier_normal_"])
def test_negative_xavier_gain(name):
    a = fresh()
    with pytest.raises(ValueError, match="gain must be >= 0"):
        getattr(fi, name)(a, gain=-2.0, seed=1)
    assert untouched(a)
    assert (fi.xavier_normal((8, 6), gain=0.0, seed=1) == 0).all()  # torch gives zeros too


@requires_torch
def test_generator_errors_before_writing_or_drawing():
    import torch
    g = torch.Generator().manual_seed(3)
    state = g.get_state()
    a = fresh()
    with pytest.raises(TypeError, match="seed= or generator="):
        fi.normal_(a, seed=1, generator=g)
    with pytest.raises(TypeError, match="generator must be a torch.Generator or None, got int"):
        fi.kaiming_uniform_(a, generator=5)
    with pytest.raises(TypeError, match="generator must be a torch.Generator or None, got RandomState"):
        fi.uniform(3, generator=np.random.RandomState(0))
    with pytest.raises(ValueError, match="stream"):
        fi.normal_(a, stream=-1, generator=g)
    with pytest.raises(ValueError, match="std must be > 0"):
        fi.normal_(a, std=0.0, generator=g)
    with pytest.raises(ValueError, match="does not fit"):
        fi.xavier_uniform_(a, global_shape=(4, 6), generator=g)
    assert untouched(a)
    assert torch.equal(g.get_state(), state)  # nothing was drawn from the generator


def test_generator_needs_no_torch_import_to_refuse():
    # without torch imported there is no torch.Generator: the TypeError comes without importing it
    import subprocess
    import sys
    code = ("import sys, numpy as np, fastinit as fi\n"
            "try:\n    fi.normal_(np.empty(3, np.float32), generator=object())\n"
            "except TypeError as e:\n    print('TypeError', e)\n"
            "print('torch' in sys.modules)\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split("\n")[:2] == ["TypeError generator must be a torch.Generator or None, got object", "False"]
