"""Which initialization suits which activation: signal propagation over depth, and training on real data.

``signal`` runs a deep MLP forward and backward in float64 NumPy with fastinit's initializers
(``fastinit.init``) and fused activation kernels (``fastinit.activations.fused``: ``f(h)`` and
``f'(h)`` in one pass) and returns per-layer statistics as a tidy table; ``verdicts`` turns that table
into one line per (init, activation): how much the gradient shrinks or grows on its way back, and
the gain that would keep it constant, beside ``calculate_gain``'s. ``train`` fits a deep MLP built
from ``fastinit.torch`` modules and fastinit-initialized weights to scikit-learn's bundled digits.
``fastinit probe`` (``main``) prints the verdicts and draws the figure.

The network (``depth`` square layers of ``width`` units, no biases, like torch's ``nn.Linear`` with
its bias zeroed)::

    x_0 ~ N(0, 1)                                  (batch, width), fastinit.normal
    u_l = norm(x_{l-1})                            norm: None (u = x), "layer" or "rms", no affine
    h_l = u_l W_l^T                                W_l (width, width), torch layout (out, in)
    a_l = f(h_l)                                   gated: f(u W_l^T) * (u V_l^T), two matrices
    x_l = a_l,  or  x_l = x_{l-1} + alpha a_l      residual (alpha = residual's scale)

The loss is a fixed random linear read-out of the last layer, ``L = sum_i g_i . x_{depth,i}`` with
``g ~ N(0, 1)`` (fastinit.normal): its gradient at the output is ``g`` whatever the scale of the
output, so every gradient statistic reads as "what a unit gradient at the top becomes". Each
example's gradient is its own (no 1/batch); weight gradients are those of the batch-mean loss.

Reproducible: inputs, read-out and every weight are fastinit draws from ``seed`` on fixed streams
(``"probe/input"``, ``"probe/readout"``, layer ``l``'s matrices on streams ``2 l`` and ``2 l + 1``),
so two runs give the same table bit for bit on one machine (BLAS may round differently elsewhere),
and every activation sees the same weights for a given init.
"""
from __future__ import annotations

import inspect
import math
import numbers
import os
import sys

import numpy as np

from . import _act_registry as _R
from . import activations as _A
from . import init as _init
from .fans import calculate_gain

__all__ = ["COLUMNS", "signal", "verdicts", "train", "parse_spec", "parse_specs", "init_names",
           "DEFAULT_INITS", "DEFAULT_ACTS", "main"]

#: the table's columns, in order
COLUMNS = ("init", "activation", "layer", "act_mean", "act_std", "preact_std", "grad_std", "wgrad_std",
           "dead_frac")
DEFAULT_INITS = ("kaiming_normal", "xavier_normal", "lecun_normal", "normal:std=0.01")
DEFAULT_ACTS = ("relu", "tanh", "gelu", "silu", "selu")
DEFAULT_DEPTH, DEFAULT_WIDTH, DEFAULT_BATCH = 50, 256, 256

#: smallest batch: below it a unit's "dead over the batch" and the stds rest on too few samples
MIN_BATCH = 16
#: a unit counts as dead (relu) or saturated (tanh, sigmoid, ...) when |f'(h)| < DEAD_TOL for every example
DEAD_TOL = 1e-3
#: gradient ratio thresholds of the verdicts (ratio = grad_std at layer 1 / at the last layer)
VANISHING, EXPLODING = 1e-2, 1e2
NORM_EPS = 1e-5  # torch.nn.LayerNorm's default eps, used for both norms

#: init aliases: name -> (initializer, params)
ALIASES = {
    # torch's nn.Linear default, the "standard" init of Glorot & Bengio 2010: U(-1/sqrt(fan_in), 1/sqrt(fan_in))
    "torch_linear": ("kaiming_uniform", {"a": math.sqrt(5.0)}),
}
_RESERVED = {"tensor", "seed", "stream", "global_shape", "start"}
# names calculate_gain knows among the activations (others: no torch gain to compare with)
_GAIN_NAMES = {"relu", "tanh", "selu", "sigmoid", "leaky_relu"}
_GLU_LABELS = {"silu": "swiglu", "gelu": "geglu", "relu": "reglu"}


# ------------------------------------------------------------------ specs: "name:k=v,k2=v2"
def init_names():
    """Valid init names: fastinit's random initializers (without the trailing ``_``) and ``ALIASES``."""
    return sorted([n[:-1] for n in _init.RANDOM_INITIALIZERS] + list(ALIASES))


def _value(text):
    t = text.strip()
    try:
        return int(t)
    except ValueError:
        pass
    try:
        return float(t)
    except ValueError:
        return t


def parse_spec(spec):
    """``"name:k=v,k2=v2"`` (or ``(name, {k: v})``) -> ``(name, params)``; values are int, float or str.

    ``"normal:std=0.01"`` -> ``("normal", {"std": 0.01})``;
    ``"kaiming_normal:mode=fan_out"`` -> ``("kaiming_normal", {"mode": "fan_out"})``.
    Only the syntax is checked here; names and values by ``signal``/``train`` (``_check_inits``/``_check_acts``).
    """
    if isinstance(spec, tuple) and len(spec) == 2 and isinstance(spec[0], str) and isinstance(spec[1], dict):
        return spec[0], dict(spec[1])
    if not isinstance(spec, str):
        raise TypeError(f"a spec must be a str like 'normal:std=0.01' or a (name, params) pair; got {spec!r}")
    name, _, rest = spec.strip().partition(":")
    params = {}
    for item in (s for s in rest.split(",") if s.strip()):
        k, eq, v = item.partition("=")
        if not eq or not k.strip():
            raise ValueError(f"bad parameter {item!r} in {spec!r}: write name:key=value,key2=value2")
        params[k.strip()] = _value(v)
    if not name:
        raise ValueError(f"empty name in spec {spec!r}")
    return name, params


def parse_specs(text):
    """Split a comma-separated list of specs: an item holding ``=`` but no ``:`` continues the
    previous spec's parameters, so ``"uniform:a=-0.01,b=0.01,xavier_normal"`` is two specs."""
    if not isinstance(text, str):
        return list(text)
    out = []
    for item in (s.strip() for s in text.split(",")):
        if not item:
            continue
        if "=" in item and ":" not in item and out:
            out[-1] += "," + item
        else:
            out.append(item)
    return out


def _label(spec):
    if isinstance(spec, str):
        return spec.strip()
    name, params = spec
    return name + (":" + ",".join(f"{k}={v}" for k, v in params.items()) if params else "")


class _Init:
    """One checked init spec: ``fill(W, seed, stream)`` in place (torch layout (out, in))."""

    def __init__(self, spec):
        self.label = _label(spec)
        name, params = parse_spec(spec)
        if name in ALIASES:
            base, extra = ALIASES[name]
            params = {**extra, **params}
            name = base
        fn = _init.RANDOM_INITIALIZERS.get(name + "_")
        if fn is None:
            raise ValueError(f"unknown init {name!r}; valid inits: {', '.join(init_names())}")
        sig = inspect.signature(fn).parameters
        valid = [p for p in sig if p not in _RESERVED]
        unknown = sorted(set(params) - set(valid))
        if unknown:
            raise TypeError(f"init {self.label!r}: unknown parameter(s) {', '.join(unknown)}; "
                            f"{name} takes {', '.join(valid) or 'none'}")
        # fill torch-layout (out, in) weights: the variance-scaling family defaults to Keras' (in, out)
        if "in_axis" in sig:
            params.setdefault("in_axis", -1)
            params.setdefault("out_axis", -2)
        self.name, self.fn, self.params = name, fn, params
        try:  # the initializer's own checks, on a tiny matrix, before any work
            self.fn(np.empty((2, 2)), **params, seed=0, stream=0)
        except (TypeError, ValueError) as e:
            raise type(e)(f"init {self.label!r}: {e}") from None

    def fill(self, w, seed, stream):
        return self.fn(w, **self.params, seed=seed, stream=stream)


class _Act:
    """One checked activation spec; ``gated`` runs it GLU-style (``f(a) * b``)."""

    def __init__(self, spec, gated):
        name, params = parse_spec(spec)
        e = _R.lookup(name)  # ValueError listing the valid names
        base = e
        if e.gated:  # swiglu / geglu: their gate's activation, run gated
            base = _A.ACTIVATIONS["silu" if e.name == "swiglu" else "gelu"]
            gated = True
        try:
            _R.check_params(e, params)
        except (TypeError, ValueError) as err:
            raise type(err)(f"activation {_label(spec)!r}: {err}") from None
        self.name, self.params, self.gated = base.name, params, gated
        if e.gated:
            self.label = _label(spec)
        elif gated:
            self.label = _GLU_LABELS.get(base.name, base.name + "_glu") + (
                _label(spec)[len(name):] if params else "")
        else:
            self.label = _label(spec)
        self.torch_gain = None
        if base.name in _GAIN_NAMES and not gated:
            self.torch_gain = float(calculate_gain(base.name, params.get("negative_slope")))

    def fused(self, h):
        """``(f(h), f'(h))`` from fastinit's fused kernel (one pass over memory)."""
        return _A.fused(self.name, h, **self.params)


def _int_arg(v, name, lo):
    if isinstance(v, bool) or not isinstance(v, numbers.Integral):
        raise TypeError(f"{name} must be an int >= {lo}; got {v!r}")
    if v < lo:
        raise ValueError(f"{name} must be an int >= {lo}; got {v}")
    return int(v)


def _seed_arg(seed):
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or not 0 <= seed < 2**64:
        raise ValueError(f"seed must be an int in [0, 2**64); got {seed!r}")
    return int(seed)


def _list_arg(v, name, default):
    if v is None:
        v = default
    v = parse_specs(v) if isinstance(v, str) else list(v)
    if not v:
        raise ValueError(f"{name} must name at least one; got an empty list")
    return v


def _residual_arg(residual):
    if residual is False or residual is None:
        return 0.0
    if residual is True:
        return 1.0
    if isinstance(residual, numbers.Real) and math.isfinite(residual) and residual > 0:
        return float(residual)
    raise ValueError(f"residual must be False, True or a scale > 0 (x + scale * f(W x)); got {residual!r}")


def _norm_arg(norm):
    if norm not in (None, "layer", "rms"):
        raise ValueError(f"norm must be None, 'layer' or 'rms'; got {norm!r}")
    return norm


def _frame(rows, columns, as_frame):
    if as_frame is None:
        try:
            import pandas as pd
        except ImportError:
            return rows
        return pd.DataFrame(rows, columns=columns)
    if as_frame:
        import pandas as pd  # ImportError says what is missing
        return pd.DataFrame(rows, columns=columns)
    return rows


def _records(table):
    """A table (list of dicts or DataFrame) as a list of dicts."""
    if hasattr(table, "to_dict"):
        return table.to_dict("records")
    return list(table)


# ------------------------------------------------------------------ norms (no affine), float64
def _norm_fwd(x, kind):
    """``(u, scale)`` with ``u = norm(x)`` along the features (last axis)."""
    if kind == "layer":
        xc = x - x.mean(axis=1, keepdims=True)
        s = 1.0 / np.sqrt((xc * xc).mean(axis=1, keepdims=True) + NORM_EPS)
        return xc * s, s
    s = 1.0 / np.sqrt((x * x).mean(axis=1, keepdims=True) + NORM_EPS)
    return x * s, s


def _norm_bwd(gu, u, s, kind):
    """dL/dx from dL/du: layer ``s (gu - mean(gu) - u mean(gu u))``, rms ``s (gu - u mean(gu u))``."""
    gx = gu - u * (gu * u).mean(axis=1, keepdims=True)
    if kind == "layer":
        gx -= gu.mean(axis=1, keepdims=True)
    return gx * s


# ------------------------------------------------------------------ the probe
def _weights(init, depth, width, gated, seed):
    """Layer l's matrices (W_l and, gated, V_l), float64, torch layout, streams 2 l and 2 l + 1."""
    out = []
    for layer in range(1, depth + 1):
        mats = []
        for k in range(2 if gated else 1):
            w = np.empty((width, width))
            init.fill(w, seed, 2 * layer + k)
            mats.append(w)
        out.append(mats)
    return out


def _inputs(batch, width, seed):
    x0 = _init.normal((batch, width), dtype="float64", seed=seed, stream="probe/input")
    g = _init.normal((batch, width), dtype="float64", seed=seed, stream="probe/readout")
    return x0, g


def _run(act, weights, x0, g, residual, norm):
    """Forward and backward of one network; returns per-layer statistics (list of dicts, layer 1..L)."""
    depth = len(weights)
    stats = [dict() for _ in range(depth)]
    saved = []
    x = x0
    for l, mats in enumerate(weights):
        u, s = _norm_fwd(x, norm) if norm else (x, None)
        h = u @ mats[0].T
        y, d = act.fused(h)
        hb = None
        if act.gated:
            hb = u @ mats[1].T
            a = y * hb
        else:
            a = y
        x_new = x + residual * a if residual else a
        st = stats[l]
        st["act_mean"] = float(x_new.mean())
        st["act_std"] = float(x_new.std())
        st["preact_std"] = float(h.std())
        st["dead_frac"] = float(np.mean(np.abs(d).max(axis=0) < DEAD_TOL))
        saved.append((u, s, h, d, y, hb))
        x = x_new
    gx = g
    batch = x0.shape[0]
    for l in range(depth - 1, -1, -1):
        u, s, h, d, y, hb = saved[l]
        mats = weights[l]
        ga = gx * residual if residual else gx
        if act.gated:
            gh, ghb = ga * hb * d, ga * y
            gu = gh @ mats[0] + ghb @ mats[1]
            wg = np.concatenate([(gh.T @ u).ravel(), (ghb.T @ u).ravel()])
        else:
            gh = ga * d
            gu = gh @ mats[0]
            wg = gh.T @ u
        gin = _norm_bwd(gu, u, s, norm) if norm else gu
        if residual:
            gin = gin + gx
        stats[l]["grad_std"] = float(gin.std())
        stats[l]["wgrad_std"] = float(wg.std() / batch)
        gx = gin
    return stats


def signal(depth=DEFAULT_DEPTH, width=DEFAULT_WIDTH, inits=None, activations=None, batch=DEFAULT_BATCH, seed=0,
           gated=False, residual=False, norm=None, as_frame=None):
    """Signal propagation over depth: every (init, activation) pair's per-layer statistics.

    Runs the module's MLP (see ``fastinit.probe``) forward and backward in float64 for every init and
    activation, with the same input, read-out and (per init) weights.

    Parameters
    ----------
    depth, width : int >= 1
        Number of layers and units per layer (all layers square).
    inits : list of str or (name, params), or one comma-separated str
        Initializer specs ``"name:key=value,..."``: any random initializer of fastinit
        (``init_names()``: ``kaiming_normal``, ``xavier_normal``, ``lecun_normal``, ``normal:std=0.01``,
        ``uniform:a=-0.01,b=0.01``, ``kaiming_normal:mode=fan_out``, ...) and ``torch_linear`` (torch's
        ``nn.Linear`` default, ``kaiming_uniform:a=sqrt(5)``, i.e. U(-1/sqrt(n), 1/sqrt(n))). Weights use
        torch's (out, in) layout (the variance-scaling family gets ``in_axis=-1, out_axis=-2``).
        Default ``DEFAULT_INITS``.
    activations : list of str or (name, params), or one comma-separated str
        Activation specs (``fastinit.activations.names()``, e.g. ``"leaky_relu:negative_slope=0.2"``);
        ``swiglu``/``geglu`` run gated. Default ``DEFAULT_ACTS``.
    batch : int >= 16
        Input examples, each x_0 row ~ N(0, I).
    seed : int in [0, 2**64)
    gated : bool
        GLU-style layers, ``f(u W^T) * (u V^T)`` with two matrices drawn by the same init (labels:
        silu -> swiglu, gelu -> geglu, relu -> reglu, others ``<name>_glu``).
    residual : bool or float > 0
        ``x_l = x_{l-1} + alpha f(...)``; True means alpha = 1.
    norm : {None, "layer", "rms"}
        Pre-norm of each layer's input, without affine parameters, eps 1e-5 (torch's
        ``F.layer_norm``/``F.rms_norm`` over the features).
    as_frame : bool or None
        True: a pandas DataFrame; False: a list of dicts; None: a DataFrame when pandas is installed.

    Returns
    -------
    table : list of dict or pandas.DataFrame
        One row per (init, activation, layer), layer 1 = the first hidden layer, columns ``COLUMNS``:

        * ``act_mean``, ``act_std``: mean and std of the layer's output x_l over batch and units.
        * ``preact_std``: std of h_l, the input of f (gated: of the gate's input).
        * ``grad_std``: std of dL/dx_{l-1}, the gradient w.r.t. the layer's input (per example).
        * ``wgrad_std``: std of the layer's weight gradient (of the batch-mean loss; gated: both matrices).
        * ``dead_frac``: fraction of the layer's units j with ``|f'(h_ij)| < 1e-3`` for every example i
          of the batch: dead ReLUs (h <= 0 throughout), saturated tanh (|h| > 4.15) or sigmoid
          (|h| > 6.9) units, whose weights get no gradient from this batch.

    Raises
    ------
    ValueError, TypeError
        Unknown init or activation (the message lists the valid names), bad parameters (the initializer's
        or activation's own error), depth/width < 1, batch < 16, bad gated/residual/norm; all before any
        work.

    Notes
    -----
    Per layer the variance factors are those of the mean-field analysis (Glorot & Bengio 2010, He et
    al. 2015, Schoenholz et al. 2017): for a plain MLP, ``Var h_l = width Var(W) E[x_{l-1}^2]`` and
    ``Var g_{l-1} = width Var(W) E[f'(h)^2] Var g_l``; ``verdicts`` reads them off this table.
    torch equivalent: the same net from ``nn.Linear(bias=False)`` layers and ``y.backward(g)``
    (``tests/test_probe.py`` checks it, norms, gates and residuals included). Reproducible (module doc).
    """
    depth = _int_arg(depth, "depth", 1)
    width = _int_arg(width, "width", 1)
    batch = _int_arg(batch, "batch", MIN_BATCH)
    seed = _seed_arg(seed)
    if not isinstance(gated, bool):
        raise TypeError(f"gated must be a bool; got {gated!r}")
    alpha = _residual_arg(residual)
    norm = _norm_arg(norm)
    init_objs = [_Init(s) for s in _list_arg(inits, "inits", DEFAULT_INITS)]
    act_objs = [_Act(s, gated) for s in _list_arg(activations, "activations", DEFAULT_ACTS)]
    x0, g = _inputs(batch, width, seed)
    rows = []
    with _one_blas_thread():
        for ini in init_objs:
            weights = {}
            for act in act_objs:
                if act.gated not in weights:
                    weights[act.gated] = _weights(ini, depth, width, act.gated, seed)
                with np.errstate(over="ignore", under="ignore", invalid="ignore"):
                    stats = _run(act, weights[act.gated], x0, g, alpha, norm)
                for layer, st in enumerate(stats, 1):
                    rows.append({"init": ini.label, "activation": act.label, "layer": layer,
                                 **{c: st[c] for c in COLUMNS[3:]}})
    return _frame(rows, COLUMNS, as_frame)


def _one_blas_thread():
    """The probe's matmuls are small (width x batch): BLAS on one thread. On the 2-core Zen 5 session
    machine a 256 x 256 float64 matmul took 1.1 ms on one OpenBLAS thread and 4.4-16 ms on two (the
    threads spin-wait for a core another process holds), and the default ``fastinit probe`` 5.9 s wall
    against 34-63 s. Needs threadpoolctl (installed with scikit-learn, the probe extra); without it BLAS
    keeps its own setting."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        import contextlib
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


# ------------------------------------------------------------------ verdicts
VERDICT_COLUMNS = ("init", "activation", "grad_ratio", "verdict", "act_factor", "grad_factor", "init_gain",
                   "stable_gain", "torch_gain")


def _loglog_factor(values):
    """exp(slope) of a least-squares line through ln(values) over the layers: the per-layer factor."""
    v = np.asarray(values, np.float64)
    if len(v) < 2 or not np.all(np.isfinite(v)) or np.any(v <= 0):
        return float("nan")
    x = np.arange(len(v), dtype=np.float64)
    return float(np.exp(np.polyfit(x, np.log(v), 1)[0]))


def verdicts(table, *, plain=True, as_frame=None):
    """One row per (init, activation) of a ``signal`` table: is the backward signal stable?

    Columns (``VERDICT_COLUMNS``):

    * ``grad_ratio``: grad_std at layer 1 / grad_std at the last layer, the factor backpropagation
      applies between the last layer's input and the first's.
    * ``verdict``: ``"vanishing"`` (ratio < 1e-2), ``"exploding"`` (> 1e2) or ``"stable"``; a ratio
      that is not a finite positive number (overflow, or exact zeros) counts as its side's failure.
    * ``act_factor``: per-layer factor of the activations' second moment ``act_mean**2 + act_std**2``
      going forward (layer l to l + 1); ``grad_factor``: of the gradient variance ``grad_std**2`` going
      back (layer l + 1's input to layer l's). Both fitted by least squares on the log over all layers;
      1 is the ideal.
    * ``init_gain``: the gain the init applied, measured: the median over layers l >= 2 of
      ``preact_std_l / rms(x_{l-1})`` (= ``sqrt(width Var(W))``: sqrt(2) for kaiming_normal, 1 for
      xavier_normal on square layers). Plain nets only (``plain=True``), else None.
    * ``stable_gain``: ``init_gain / sqrt(grad_factor)``, the gain whose per-layer gradient factor is 1
      if the factor scales with gain**2 (exact for relu-like activations, the small-signal regime of tanh);
      plain nets only.
    * ``torch_gain``: ``fastinit.calculate_gain`` (torch's) for relu, tanh, selu, sigmoid, leaky_relu; else
      None.

    ``plain=False`` (gated, residual or normed nets, where neither gain model holds) leaves the gains None.
    """
    rows = _records(table)
    groups = {}
    for r in rows:
        groups.setdefault((r["init"], r["activation"]), []).append(r)
    out = []
    for (ini, act), rs in groups.items():
        rs = sorted(rs, key=lambda r: r["layer"])
        gs = np.array([r["grad_std"] for r in rs], np.float64)
        m2 = np.array([r["act_mean"] ** 2 + r["act_std"] ** 2 for r in rs], np.float64)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            ratio = float(gs[0] / gs[-1]) if len(gs) else float("nan")
        if not math.isfinite(ratio) or ratio <= 0:
            ratio_v = "vanishing" if (gs[0] == 0 or not math.isfinite(gs[-1])) else "exploding"
        else:
            ratio_v = "vanishing" if ratio < VANISHING else "exploding" if ratio > EXPLODING else "stable"
        up = _loglog_factor(gs ** 2)
        gfac = 1.0 / up if up > 0 else float("nan")  # per layer going back: layer l + 1's input to layer l's
        afac = _loglog_factor(m2)
        init_gain = stable = None
        if plain and len(rs) >= 2:
            with np.errstate(divide="ignore", invalid="ignore"):
                pg = np.array([rs[i]["preact_std"] for i in range(1, len(rs))]) / np.sqrt(m2[:-1])
            pg = pg[np.isfinite(pg) & (pg > 0)]
            if len(pg):
                init_gain = float(np.median(pg))
                if math.isfinite(gfac) and gfac > 0:
                    stable = init_gain / math.sqrt(gfac)
        act_name = parse_spec(act)[0]
        tg = None
        if act_name in _GAIN_NAMES:
            tg = float(calculate_gain(act_name, parse_spec(act)[1].get("negative_slope")))
        out.append({"init": ini, "activation": act, "grad_ratio": ratio, "verdict": ratio_v, "act_factor": afac,
                    "grad_factor": gfac, "init_gain": init_gain, "stable_gain": stable, "torch_gain": tg})
    return _frame(out, VERDICT_COLUMNS, as_frame)


# ------------------------------------------------------------------ training on digits (torch CPU)
DATASETS = ("digits",)
TRAIN_COLUMNS = ("init", "activation", "epoch", "step", "loss")


def _digits(seed):
    """load_digits (bundled with scikit-learn, no download), pixels / 16 standardized, a fixed 80/20 split."""
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        raise ImportError("fastinit probe --train digits needs scikit-learn: pip install 'fastinit[probe]'") from None
    d = load_digits()
    x = d.data.astype(np.float32) / 16.0
    x = (x - x.mean(axis=0)) / (x.std(axis=0) + 1e-6)
    y = d.target.astype(np.int64)
    perm = np.argsort(_init.random_bits(len(y), seed=seed, stream="probe/split"), kind="stable")
    n_test = len(y) // 5
    return x[perm[n_test:]], y[perm[n_test:]], x[perm[:n_test]], y[perm[:n_test]]


def train(dataset="digits", depth=20, width=64, inits=None, activations=("relu", "tanh"), epochs=10, batch=64,
          lr=0.01, momentum=0.9, seed=0, as_frame=None, return_summary=False):
    """Train a deep MLP on real data for every (init, activation) and record the loss curves.

    The model: ``depth`` hidden layers ``torch.nn.Linear(n_in, width)`` (biases zeroed) each followed by
    the activation's ``fastinit.torch`` module (``fastinit.torch.ReLU``, ``Tanh``, ...), then a
    ``Linear(width, 10)`` read-out; every weight is drawn by the init (torch layout, stream ``l`` for
    layer ``l``, the read-out last), so pairs differ only in what is compared. Cross-entropy, SGD with
    momentum, float32 on the CPU, mini-batches in a seeded order.

    Parameters
    ----------
    dataset : {"digits"}
        scikit-learn's bundled ``load_digits`` (1797 8x8 images, 10 classes; no download): pixels / 16,
        standardized, 1438 training and 359 test images (a seeded split).
    depth, width : int >= 1
    inits, activations : as in ``signal`` (gated activations are not supported here)
    epochs, batch : int >= 1
    lr, momentum : float
        ``torch.optim.SGD``'s.
    seed : int
        Weights, split and batch order.
    return_summary : bool
        Also return one row per pair: final train loss (last epoch's mean), test loss and accuracy.

    Returns
    -------
    curve : list of dict or DataFrame, columns ``init, activation, epoch, step, loss`` (the training
        loss of each step), and with ``return_summary`` a second table
        ``init, activation, train_loss, test_loss, test_acc``.

    Reproducible for a given seed on one machine and torch version (torch's CPU kernels and thread
    count decide the last bits of the float32 sums).
    """
    if dataset not in DATASETS:
        raise ValueError(f"dataset must be one of {', '.join(DATASETS)}; got {dataset!r}")
    depth = _int_arg(depth, "depth", 1)
    width = _int_arg(width, "width", 1)
    epochs = _int_arg(epochs, "epochs", 1)
    batch = _int_arg(batch, "batch", 1)
    seed = _seed_arg(seed)
    for v, n in ((lr, "lr"), (momentum, "momentum")):
        if isinstance(v, bool) or not isinstance(v, numbers.Real) or not math.isfinite(v) or v < 0:
            raise ValueError(f"{n} must be a finite number >= 0; got {v!r}")
    init_objs = [_Init(s) for s in _list_arg(inits, "inits", DEFAULT_INITS)]
    act_objs = [_Act(s, False) for s in _list_arg(activations, "activations", ("relu", "tanh"))]
    for a in act_objs:
        if a.gated:
            raise ValueError(f"train: gated activation {a.label!r} is not supported; use signal(gated=True)")
    import torch

    import fastinit.torch as ft
    xtr, ytr, xte, yte = _digits(seed)
    xtr, ytr, xte, yte = map(torch.from_numpy, (xtr, ytr, xte, yte))
    # one intra-op thread while training: a 64-wide layer is far too small to split, and on a busy
    # 2-core machine torch's 2 threads made a 64x64 Linear forward + backward 99 ms instead of 0.3 ms
    # (2026-12-01, other jobs loading the cores); it also fixes the float32 sums' order
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        rows, summary = _train_all(torch, ft, init_objs, act_objs, xtr, ytr, xte, yte, depth, width, epochs, batch,
                                   lr, momentum, seed)
    finally:
        torch.set_num_threads(threads)
    curve = _frame(rows, TRAIN_COLUMNS, as_frame)
    if return_summary:
        return curve, _frame(summary, ("init", "activation", "train_loss", "test_loss", "test_acc"), as_frame)
    return curve


def _train_all(torch, ft, init_objs, act_objs, xtr, ytr, xte, yte, depth, width, epochs, batch, lr, momentum, seed):
    n = len(ytr)
    rows, summary = [], []
    for ini in init_objs:
        for act in act_objs:
            layers = []
            dims = [xtr.shape[1]] + [width] * depth
            for l in range(depth + 1):
                lin = torch.nn.Linear(dims[l] if l < depth else width, width if l < depth else 10)
                with torch.no_grad():
                    ini.fill(lin.weight, seed, l)
                    lin.bias.zero_()
                layers.append(lin)
                if l < depth:
                    layers.append(getattr(ft, _A.ACTIVATIONS[act.name].module)(**act.params))
            model = torch.nn.Sequential(*layers)
            opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum)
            gen = torch.Generator().manual_seed(seed)
            step = 0
            last = []
            for ep in range(1, epochs + 1):
                order = torch.randperm(n, generator=gen)
                last = []
                for i in range(0, n, batch):
                    idx = order[i:i + batch]
                    loss = torch.nn.functional.cross_entropy(model(xtr[idx]), ytr[idx])
                    opt.zero_grad()
                    loss.backward()
                    opt.step()
                    step += 1
                    v = float(loss.detach())
                    last.append(v)
                    rows.append({"init": ini.label, "activation": act.label, "epoch": ep, "step": step,
                                 "loss": v})
            with torch.no_grad():
                out = model(xte)
                tl = float(torch.nn.functional.cross_entropy(out, yte))
                acc = float((out.argmax(1) == yte).float().mean())
            summary.append({"init": ini.label, "activation": act.label, "train_loss": float(np.mean(last)),
                            "test_loss": tl, "test_acc": acc})
    return rows, summary


# ------------------------------------------------------------------ figure and tables
_HOW_TO_READ = """How to read:
solid line: std of each layer's output (forward signal)
dashed line: std of the gradient w.r.t. each layer's input,
    from a unit random gradient at the last layer (backward)
flat lines: the init suits the activation
verdict: gradient std at layer 1 / at the last layer,
    < 1e-2 vanishing, > 1e2 exploding, else stable
y axis clipped at 1e-12 (the table keeps exact values)"""

#: lowest std the figure shows: anything smaller has long vanished (the table keeps the exact values)
PLOT_FLOOR = 1e-12


def plot(table, path, *, curves=None, title=None, floor=PLOT_FLOOR, train_title="training loss on digits"):
    """Save the figure: one panel per activation with act_std (solid) and grad_std (dashed) over depth on a
    log scale clipped at ``floor``, one colour per init, each init's verdict in the legend; with ``curves``
    (``train``'s table) one more panel per activation with the training loss. Panels flow in rows of 3."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    rows = _records(table)
    acts = list(dict.fromkeys(r["activation"] for r in rows))
    inits = list(dict.fromkeys(r["init"] for r in rows))
    vd = {(v["init"], v["activation"]): v for v in _records(verdicts(rows, as_frame=False))}
    crows = _records(curves) if curves is not None else []
    cacts = list(dict.fromkeys(r["activation"] for r in crows))
    cinits = list(dict.fromkeys(r["init"] for r in crows))
    npanel = len(acts) + len(cacts)
    ncol = min(3, max(npanel, 1))
    nrow = -(-npanel // ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(4.6 * ncol, 3.7 * nrow + 0.5), squeeze=False)
    axes = [ax for row in axes for ax in row]
    every = list(dict.fromkeys(inits + cinits))
    colours = {ini: plt.cm.tab10(i % 10) for i, ini in enumerate(every)}
    # later lines thinner, so an init that coincides with an earlier one (xavier_normal and lecun_normal
    # on square layers) leaves the earlier one's edges visible
    widths = {ini: 3.0 - 1.8 * i / max(len(every) - 1, 1) for i, ini in enumerate(every)}
    for ax, act in zip(axes, acts):
        top = floor
        for ini in inits:
            rs = sorted((r for r in rows if r["init"] == ini and r["activation"] == act), key=lambda r: r["layer"])
            if not rs:
                continue
            layers = [r["layer"] for r in rs]
            a = np.array([r["act_std"] for r in rs], np.float64)
            g = np.array([r["grad_std"] for r in rs], np.float64)
            top = max(top, np.nanmax(np.where(np.isfinite(a), a, 0)), np.nanmax(np.where(np.isfinite(g), g, 0)))
            v = vd[(ini, act)]
            ax.plot(layers, np.maximum(a, floor / 10), "-", color=colours[ini], lw=widths[ini],
                    label=f"{ini}: {v['verdict']}")
            ax.plot(layers, np.maximum(g, floor / 10), "--", color=colours[ini], lw=widths[ini] * 0.7)
        ax.set_yscale("log")
        ax.set_ylim(floor, top * 10)
        ax.set_title(f"{act}: std over depth")
        ax.set_xlabel("layer")
        ax.set_ylabel("std (solid: activation, dashed: gradient)", fontsize=8)
        ax.grid(True, which="major", alpha=0.3)
        ax.legend(fontsize=7, loc="lower left", framealpha=0.85)
    for ax, act in zip(axes[len(acts):], cacts):
        for ini in cinits:
            rs = [r for r in crows if r["init"] == ini and r["activation"] == act]
            if not rs:
                continue
            steps = np.array([r["step"] for r in rs])
            loss = np.array([r["loss"] for r in rs])
            k = max(1, len(loss) // 25)  # a running mean over ~4% of the steps: mini-batch noise off
            sm = np.convolve(loss, np.ones(k) / k, mode="valid")
            ax.plot(steps[k - 1:], sm, color=colours[ini], lw=widths[ini], label=ini)
        ax.axhline(math.log(10), color="grey", lw=0.8, ls=":")
        ax.set_title(f"{act}: {train_title}")
        ax.set_xlabel("step")
        ax.set_ylabel("cross-entropy (dotted: chance, ln 10)", fontsize=8)
        ax.set_ylim(bottom=0)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7, loc="lower left", framealpha=0.85)
    for k, ax in enumerate(axes[npanel:]):
        ax.set_axis_off()
        if k == 0:  # a spare panel says how to read the others
            ax.text(0.02, 0.95, _HOW_TO_READ, va="top", ha="left", fontsize=8.5, transform=ax.transAxes, wrap=True)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def _fmt(v):
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    if isinstance(v, float):
        if not math.isfinite(v):
            return str(v)
        return f"{v:.3g}" if (v == 0 or 1e-3 <= abs(v) < 1e4) else f"{v:.2e}"
    return str(v)


def format_table(rows, columns, title=None, use_rich=None):
    """Render rows as a table: rich's when installed (``use_rich=None``) or asked for, else plain text."""
    rows = _records(rows)
    cells = [[_fmt(r[c]) for c in columns] for r in rows]
    if use_rich is None:
        try:
            import rich  # noqa: F401
            use_rich = True
        except ImportError:
            use_rich = False
    if use_rich:
        import io

        from rich.console import Console
        from rich.table import Table
        t = Table()
        for c in columns:
            t.add_column(c, justify="left" if c in ("init", "activation", "verdict") else "right")
        for row in cells:
            t.add_row(*row)
        buf = io.StringIO()
        Console(file=buf, width=160, force_terminal=False).print(t)
        return ((title + "\n") if title else "") + buf.getvalue().rstrip("\n")
    widths = [max(len(c), *(len(r[i]) for r in cells)) if cells else len(c) for i, c in enumerate(columns)]
    lines = ([title] if title else []) + ["  ".join(c.ljust(w) for c, w in zip(columns, widths))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths)) for r in cells]
    return "\n".join(lines)


# ------------------------------------------------------------------ the command
def add_parser(sub):
    """Register ``fastinit probe`` on an argparse subparsers object (``fastinit.cli.main``)."""
    p = sub.add_parser("probe", help="signal propagation of init x activation over depth (and training on digits)",
                       description="Signal propagation of every init x activation pair through a deep MLP "
                                   "(forward and backward, float64 NumPy, fastinit's initializers and fused "
                                   "activations), with verdicts; optionally training on scikit-learn's digits.")
    p.add_argument("--depth", type=int, default=None, help=f"layers (default {DEFAULT_DEPTH}; with --train 20)")
    p.add_argument("--width", type=int, default=DEFAULT_WIDTH, help=f"units per layer (default {DEFAULT_WIDTH})")
    p.add_argument("--batch", type=int, default=DEFAULT_BATCH, help=f"examples (default {DEFAULT_BATCH})")
    p.add_argument("--init", default=",".join(DEFAULT_INITS),
                   help="comma-separated init specs name[:key=value,...] "
                        f"(default {','.join(DEFAULT_INITS)}; also torch_linear, uniform:a=-0.01,b=0.01, ...)")
    p.add_argument("--act", default=None,
                   help=f"comma-separated activations, name[:key=value] (default {','.join(DEFAULT_ACTS)}; "
                        "with --train relu,tanh)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--gated", action="store_true", help="GLU-style layers f(xW) * (xV) (silu -> swiglu, ...)")
    p.add_argument("--residual", nargs="?", const=1.0, default=None, type=float, metavar="ALPHA",
                   help="residual layers x + ALPHA f(Wx) (ALPHA default 1)")
    p.add_argument("--norm", choices=("layer", "rms"), default=None, help="pre-norm each layer's input")
    p.add_argument("--train", choices=DATASETS, default=None,
                   help="also train the MLP on this dataset (torch CPU) and plot loss curves")
    p.add_argument("--train-width", type=int, default=64, help="hidden width of the trained MLP (default 64)")
    p.add_argument("--epochs", type=int, default=10, help="training epochs (default 10)")
    p.add_argument("--lr", type=float, default=0.01, help="SGD learning rate (default 0.01, momentum 0.9)")
    p.add_argument("--layers", action="store_true", help="also print the per-layer table")
    p.add_argument("-o", "--output", metavar="FILE.png", help="save the figure (matplotlib)")
    p.add_argument("--json", metavar="PATH", help="save the per-layer table, verdicts and training curves as JSON")
    p.set_defaults(fn=run_command)
    return p


def run_command(args):
    """``fastinit probe``: everything checked first, then the probe, the tables, the figure, the JSON."""
    import json
    import time
    depth = args.depth if args.depth is not None else (20 if args.train else DEFAULT_DEPTH)
    acts = args.act if args.act is not None else ("relu,tanh" if args.train else ",".join(DEFAULT_ACTS))
    residual = args.residual if args.residual is not None else False
    try:
        # check every argument (and the optional modules the outputs need) before any work
        _int_arg(depth, "depth", 1)
        _int_arg(args.width, "width", 1)
        _int_arg(args.batch, "batch", MIN_BATCH)
        [_Init(s) for s in _list_arg(args.init, "inits", DEFAULT_INITS)]
        [_Act(s, args.gated) for s in _list_arg(acts, "activations", DEFAULT_ACTS)]
        _residual_arg(residual)
        if args.train:
            _int_arg(args.train_width, "train-width", 1)
            _int_arg(args.epochs, "epochs", 1)
            if [a for a in (_Act(s, False) for s in parse_specs(acts)) if a.gated] or args.gated:
                raise ValueError("--train does not take gated activations")
            import sklearn  # noqa: F401
            import torch  # noqa: F401
        if args.output:
            if not args.output.lower().endswith((".png", ".pdf", ".svg")):
                raise ValueError(f"-o must end in .png, .pdf or .svg; got {args.output!r}")
            import matplotlib  # noqa: F401
        for flag, path in (("-o", args.output), ("--json", args.json)):
            if path and not os.path.isdir(os.path.dirname(os.path.abspath(path))):
                raise ValueError(f"{flag}: directory of {path!r} does not exist")
    except (ValueError, TypeError, ImportError) as e:
        print(f"fastinit probe: {e}", file=sys.stderr)
        return 2
    t0 = time.perf_counter()
    table = signal(depth=depth, width=args.width, inits=args.init, activations=acts, batch=args.batch,
                   seed=args.seed, gated=args.gated, residual=residual, norm=args.norm, as_frame=False)
    plain = not (args.gated or residual or args.norm)
    vd = verdicts(table, plain=plain, as_frame=False)
    shape = (f"{depth} layers x {args.width} units, batch {args.batch}, seed {args.seed}"
             + (", gated" if args.gated else "") + (f", residual {residual:g}" if residual else "")
             + (f", {args.norm} norm" if args.norm else ""))
    print(f"fastinit probe: {shape} ({time.perf_counter() - t0:.1f} s)", file=sys.stderr)
    if args.layers:
        print(format_table(table, COLUMNS))
        print()
    print(format_table(vd, VERDICT_COLUMNS, title=f"gradient from layer {depth} back to layer 1 ({shape})"))
    curves = summary = None
    if args.train:
        t1 = time.perf_counter()
        curves, summary = train(args.train, depth=depth, width=args.train_width, inits=args.init,
                                activations=acts, epochs=args.epochs, lr=args.lr, seed=args.seed,
                                as_frame=False, return_summary=True)
        print()
        print(format_table(summary, ("init", "activation", "train_loss", "test_loss", "test_acc"),
                           title=f"training on {args.train}: {depth} x {args.train_width} MLP, {args.epochs} "
                                 f"epochs, SGD lr {args.lr:g} momentum 0.9 "
                                 f"({time.perf_counter() - t1:.1f} s)"))
    if args.output:
        plot(table, args.output, curves=curves, title=f"fastinit probe: {shape}",
             train_title=f"training loss, {args.train} ({depth} x {args.train_width})")
        print(f"saved {args.output}", file=sys.stderr)
    if args.json:
        doc = {"config": {"depth": depth, "width": args.width, "batch": args.batch, "seed": args.seed,
                          "inits": parse_specs(args.init), "activations": parse_specs(acts), "gated": args.gated,
                          "residual": residual, "norm": args.norm},
               "layers": table, "verdicts": vd}
        if args.train:
            doc["train"] = {"dataset": args.train, "width": args.train_width, "epochs": args.epochs, "lr": args.lr,
                            "curves": curves, "summary": summary}
        text = json.dumps(_strict(doc), indent=1, allow_nan=False)  # all of it, then the file
        with open(args.json, "w") as f:
            f.write(text)
        print(f"saved {args.json}", file=sys.stderr)
    return 0


def _strict(obj):
    """JSON without NaN/inf (not JSON): a non-finite float (an overflowed std, a ratio of zeros) becomes null."""
    if isinstance(obj, dict):
        return {k: _strict(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_strict(v) for v in obj]
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def main(argv=None):
    """``python -m fastinit.probe ...``: the same as ``fastinit probe ...``."""
    import argparse
    p = argparse.ArgumentParser(prog="fastinit")
    sub = p.add_subparsers(dest="cmd", required=True)
    add_parser(sub)
    args = p.parse_args(["probe"] + list(sys.argv[1:] if argv is None else argv))
    return args.fn(args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
