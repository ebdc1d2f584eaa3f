"""The activation registry (``fastinit._act_registry``): codes, the math table, lookups,
and that one entry plus its math is all a new activation needs."""
import os
import pathlib
import shutil
import subprocess
import sys

import pytest
from numba import njit

from conftest import requires_torch
from fastinit import _act_registry as R


def test_every_entry_resolves_to_its_registered_math():
    assert sorted(R.MATH) == list(range(len(R.MATH)))  # codes 0..n-1, given at import
    for e in R.ACTIVATIONS.values():
        combos = [{}] + [{k: v} for k, vals in e.choices.items() for v in vals]
        for given in combos:
            code, prm = e.resolve(R.check_params(e, given))
            assert R.MATH[code] in e.math and len(prm) <= 4, (e.name, given)
        assert {R.code_of(fn) for fn in e.math} <= set(R.MATH)
    with pytest.raises(KeyError):
        R.code_of(njit(lambda x, p: (x, x)))  # codes are given by entries only, never on a call


def test_modes_and_outputs():
    assert (R.FORWARD, R.BACKWARD, R.FUSED, R.FUSED_D) == (0, 1, 2, 3)
    assert R.N_OUT == {False: {0: 1, 1: 1, 2: 2, 3: 2}, True: {0: 1, 1: 2, 2: 3, 3: 3}}


def test_lookup_aliases_and_errors():
    assert R.lookup("swish") is R.ACTIVATIONS["silu"] and R.lookup("logsigmoid").name == "log_sigmoid"
    assert R.names() == sorted(list(R.ACTIVATIONS) + list(R.ALIASES))
    with pytest.raises(TypeError, match="name must be a str"):
        R.lookup(None)
    with pytest.raises(ValueError, match="unknown activation 'gelux'; valid names: .*gelu"):
        R.lookup("gelux")
    e = R.ACTIVATIONS["softplus"]
    assert R.check_params(e, {"beta": 2}) == {"beta": 2.0, "threshold": 20.0}
    with pytest.raises(ValueError, match="beta must be nonzero"):
        R.check_params(e, {"beta": 0})
    assert R.bind_args(R.ACTIVATIONS["leaky_relu"], ("x", 0.2), {}) == (("x",), {"negative_slope": 0.2})
    with pytest.raises(TypeError, match="multiple values for 'negative_slope'"):
        R.bind_args(R.ACTIVATIONS["leaky_relu"], ("x", 0.2), {"negative_slope": 0.1})


NEW_ENTRY = '''

@njit(inline="always")
def _square(x, p):
    return p[0] * x * x, const(x, 2.0) * p[0] * x


_entry("square", "scale * x**2", _square, params={"scale": 1.0}, check=_finite("scale"),
       torch=lambda t, x, scale=1.0: scale * x * x,
       reference=lambda m, x, scale=1.0: (scale * x * x, 2 * scale * x))
'''

CHILD = """
import numpy as np
import fastinit as fi
import fastinit.torch as ft
from fastinit import warmup
assert fi.__file__.startswith(%r), fi.__file__
x = np.linspace(-2, 2, 101).astype(np.float32)
y, d = fi.activations.fused("square", x, scale=3.0)
assert (y == np.float32(3) * x * x).all() and (d == np.float32(6) * x).all()
assert (fi.activations.square(x, 3.0) == y).all()
t = ft.torch.tensor(x, requires_grad=True)
ft.Square(scale=3.0)(t).sum().backward()
assert (t.grad.numpy() == d).all() and (ft.square(t, 3.0).detach().numpy() == y).all()
assert [j[2] for j in warmup.jobs(["square"], ("float32",))] == ["square"]
print("ok")
"""


@requires_torch
def test_one_entry_and_its_math_is_a_new_activation(tmp_path):
    # README: adding an activation is one _entry(...) in _act_registry.py plus its math; the array
    # API (and its convenience function), fastinit.torch (function and module) and warmup pick it
    # up with no other edit. A copy of the package with the entry appended, a fresh kernel cache.
    pkg = tmp_path / "src"
    shutil.copytree(pathlib.Path(R.__file__).parent, pkg / "fastinit", ignore=shutil.ignore_patterns("__pycache__"))
    reg = pkg / "fastinit" / "_act_registry.py"
    reg.write_text(reg.read_text() + NEW_ENTRY)
    env = dict(os.environ, PYTHONPATH=str(pkg), NUMBA_CACHE_DIR=str(tmp_path / "cache"))
    r = subprocess.run([sys.executable, "-c", CHILD % str(pkg)], env=env, capture_output=True, text=True,
                       timeout=600, cwd=tmp_path)
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr[-3000:]
