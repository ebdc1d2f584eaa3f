"""Initializers with torch.nn.init's names and semantics, JAX/Keras variance scaling
on top of one core, and allocating forms.

Every random initializer takes keyword-only ``seed``, ``stream``, ``global_shape``
and ``start`` and is a pure function of ``(seed, stream, logical index)`` (see
``fastinit._stream`` for the contract and ``fastinit.distributions`` for the
per-element formulas). In-place functions end in ``_`` and return their
argument, like torch; the allocating forms take a shape and return a new array.

Sharding: with ``global_shape=G`` and ``start=S`` the output of shape ``s`` holds
exactly the region ``full[S[0]:S[0]+s[0], ...]`` of the full tensor of shape
``G``, and fans come from ``G``.

Default generator (``fastinit._stream``, with the rest of the key derivation;
``manual_seed``, ``initial_seed`` and ``seed_from_generator`` are re-exported here):
with ``seed=None`` a call takes the default seed (``manual_seed``; 0 at import)
and, when ``stream`` is None too, the next stream of a counter (0, 1, 2, ...)
that ``manual_seed`` resets. So successive calls differ and a whole sequence of
calls is reproducible. With ``seed`` given and ``stream`` omitted, the stream is 0.
"""
from __future__ import annotations

import inspect
import math
import numbers
import warnings

import numpy as np

from . import distributions as D
from ._checks import finite as _finite
from ._checks import one_of, positive as _positive, positive_int
from ._stream import Draw as _Draw
from ._stream import check_offset, check_seed, key_words, stream_id
from ._stream import initial_seed, manual_seed, seed_from_generator  # noqa: F401  (public here too)
from ._stream import draw_words as _words
from .cpu import fill as _cpu
from .dispatch import (as_target, check_device, cupy_module, empty, fill_kernels, gpu_view, resolve_dtype,
                       storage_scalar)
from .fans import KERAS_AXES, TORCH_AXES, calculate_gain, compute_fans

__all__ = [
    "manual_seed", "initial_seed", "random_bits",
    "uniform_", "normal_", "trunc_normal_", "constant_", "ones_", "zeros_", "eye_", "dirac_",
    "xavier_uniform_", "xavier_normal_", "kaiming_uniform_", "kaiming_normal_",
    "orthogonal_", "sparse_", "variance_scaling_",
    "glorot_uniform_", "glorot_normal_", "he_uniform_", "he_normal_", "lecun_uniform_", "lecun_normal_",
    "uniform", "normal", "trunc_normal", "constant", "ones", "zeros", "eye", "dirac",
    "xavier_uniform", "xavier_normal", "kaiming_uniform", "kaiming_normal", "orthogonal",
    "sparse", "variance_scaling", "glorot_uniform", "glorot_normal", "he_uniform", "he_normal",
    "lecun_uniform", "lecun_normal", "calculate_gain", "compute_fans",
]

# JAX's constant: std of the standard normal truncated to [-2, 2]
# (= scipy.stats.truncnorm.std(a=-2, b=2)); variance_scaling divides by it so the
# truncated samples keep the requested variance.
TRUNC_STD_2SIGMA = 0.87962566103423978

# ------------------------------------------------------------------ numpydoc sections
_TENSOR_DOC = ("tensor : numpy.ndarray, torch.Tensor (CPU or CUDA), cupy.ndarray or a __cuda_array_interface__ array\n"
               "    Written in place where it lives: float16, bfloat16, float32 or float64, C-contiguous, writable.")
_RANDOM_DOC = """seed : int in [0, 2**64), optional
    Philox key. None: the default generator (``manual_seed``).
stream : int in [0, 2**64) or str, optional
    Stream id; a str maps through ``stream_id``. Default: 0 when ``seed`` is given,
    else the default generator's next stream.
global_shape : tuple of int, optional
    Shape of the full (logical) tensor when ``tensor`` is a shard of it; fans
    are computed from it.
start : tuple of int, optional
    Index, on each axis of ``global_shape``, of the shard's first element.
generator : torch.Generator, optional
    torch's ``generator=``: the seed is one draw from it (``seed_from_generator``; it advances
    like any torch random call), the stream ``stream`` or 0. Not together with ``seed``."""
_TAIL_DOC = """
Returns
-------
tensor
    The argument, filled in place.

Raises
------
ValueError, TypeError
    For any bad argument, naming it and the allowed values, before anything is written.

Notes
-----
Reproducible: each value is a function of ``(seed, stream, logical index)`` only
(``fastinit._stream``): the same bits for any thread count, tiling, sharding or device
(float64 normal and truncated normal on a GPU: libdevice vs libm, within 4 ulp of max(|value|, |mean|);
3 measured on an H100, tests/test_gpu.py's ``F64_INIT_ULP``)."""


def _numpydoc(random=True, **params):
    """Append numpydoc Parameters/Returns/Raises/Notes sections to an initializer."""
    def deco(fn):
        lines = [_TENSOR_DOC] + [f"{k} : {v}" for k, v in params.items()]  # "type\n    text"
        if random:
            lines.append(_RANDOM_DOC)
        body = "Parameters\n----------\n" + "\n".join(lines) + "\n" + (
            _TAIL_DOC if random else _TAIL_DOC.split("\nNotes")[0])
        doc = inspect.cleandoc(fn.__doc__ or "")
        fn.__doc__ = doc + "\n\n" + body
        return fn
    return deco


# ------------------------------------------------------------------ argument checks
# finite / positive / one_of: fastinit._checks (shared with fans.py)
def _check_shape(shape, name="shape"):
    if isinstance(shape, numbers.Integral) and not isinstance(shape, bool):
        shape = (shape,)
    try:
        dims = tuple(shape)
    except TypeError:
        raise TypeError(f"{name} must be an int or a sequence of ints, got {shape!r}") from None
    for d in dims:
        if isinstance(d, bool) or not isinstance(d, numbers.Integral):
            raise TypeError(f"{name} must hold non-negative ints, got {shape!r}")
        if d < 0:
            raise ValueError(f"{name} must hold non-negative ints, got {shape!r}")
    return tuple(int(d) for d in dims)


def _region(shape, global_shape, start):
    """Validate a shard and return (global_shape, start) as tuples."""
    if global_shape is None and start is None:
        return shape, (0,) * len(shape)
    if global_shape is None:
        raise ValueError("start= needs global_shape= (the shape of the full tensor)")
    g = _check_shape(global_shape, "global_shape")
    if len(g) != len(shape):
        raise ValueError(f"global_shape {g} must have as many dimensions as the tensor {shape}")
    s = (0,) * len(g) if start is None else _check_shape(start, "start")
    if len(s) != len(g):
        raise ValueError(f"start {s} must have one index per dimension of global_shape {g}")
    for ax, (n, st, gn) in enumerate(zip(shape, s, g)):
        if st + n > gn:
            raise ValueError(f"shard does not fit: axis {ax} has start {st} + size {n} > global size {gn}")
    return g, s


def _runs(shape, gshape, start):
    """(rows, cols, starts): the shard as rows of contiguous logical indices."""
    nd = len(shape)
    if nd == 0:
        return 1, 1, np.zeros(1, np.uint64)
    if math.prod(gshape) > (1 << 64):
        raise ValueError(f"global_shape {gshape} has more than 2**64 elements")
    # merge trailing axes the shard spans fully: they form one contiguous run
    k = nd - 1
    while k > 0 and shape[k] == gshape[k]:
        k -= 1
    cols = math.prod(shape[k:])
    lead = shape[:k]
    rows = math.prod(lead)
    gstrides = [math.prod(gshape[j + 1:]) for j in range(nd)]
    base = sum(start[j] * gstrides[j] for j in range(nd))
    starts = np.full(max(rows, 1), base % (1 << 64), dtype=np.uint64)
    if rows and lead:
        idx = np.indices(lead, dtype=np.uint64).reshape(len(lead), -1)
        for j in range(len(lead)):
            starts += idx[j] * np.uint64(gstrides[j])
    return rows, cols, starts


def _fill(tensor, dist, prm, draw, target=None):
    """Fill ``tensor`` (its kernel view and kind ``target``, from ``as_target``, when the caller
    has it already) with sampler ``dist`` and parameters ``prm`` (``D.prepare``); returns ``tensor``."""
    arr, kind = as_target(tensor) if target is None else target
    gshape, st = _region(arr.shape, draw.global_shape, draw.start)
    words = _words(draw)
    if arr.size == 0:
        return tensor
    dist = D.kernel_code(dist, kind)
    rows, cols, starts = _runs(arr.shape, gshape, st)
    fill_kernels(arr).fill(arr.reshape(rows, cols), starts, words, prm, dist, kind)
    return tensor


# ------------------------------------------------------------------ raw bits
def random_bits(shape, *, seed, stream=0, offset=0, device=None):
    """Raw Philox words: flat element ``i`` is the word of logical element ``offset + i``.

    Parameters
    ----------
    shape : int or tuple of int
    seed : int in [0, 2**64)
    stream : int in [0, 2**64) or str
    offset : int in [0, 2**64); indices wrap modulo 2**64
    device : {"cpu", "cuda"}, optional
        Where to allocate; None: the default device (``set_default_device``).

    Returns
    -------
    numpy.ndarray (cpu) or cupy.ndarray (cuda) of uint32, the same words on both.
    """
    shape = _check_shape(shape)
    offset = check_offset(offset)
    words = key_words(check_seed(seed), stream_id(stream))
    out = empty(shape, np.uint32, check_device(device))
    if out.size:
        view = out if isinstance(out, np.ndarray) else gpu_view(out)
        n = math.prod(shape)
        fill_kernels(view).fill(view.reshape(1, n), np.array([offset], np.uint64), words, (), D.BITS,
                                D.KIND_U32)
    return out


# ------------------------------------------------------------------ base distributions
@_numpydoc(a="float\n    Lower bound (finite).", b="float\n    Upper bound (finite, > a).")
def uniform_(tensor, a=0.0, b=1.0, *, seed=None, stream=None, global_shape=None, start=None, generator=None):
    """Fill ``tensor`` with U(a, b): ``a + (b - a) * u``, ``u = (x >> 8) 2**-24``
    (float64: ``u = x 2**-32``) from raw word ``x`` of each element.

    torch equivalent: ``torch.nn.init.uniform_(tensor, a, b)`` (other values:
    torch's are not reproducible across devices). JAX: ``jax.random.uniform``.
    """
    a, b = _finite(a, "a"), _finite(b, "b")
    if not a < b:
        raise ValueError(f"uniform_ needs a < b, got a={a}, b={b}")
    return _fill(tensor, *D.prepare(D.UNIFORM, a, b), _Draw(seed, stream, global_shape, start, generator))


@_numpydoc(mean="float\n    Mean (finite).", std="float\n    Standard deviation (finite, > 0).")
def normal_(tensor, mean=0.0, std=1.0, *, seed=None, stream=None, global_shape=None, start=None,
            generator=None):
    """Fill ``tensor`` with N(mean, std**2).

    float32 (and float16/bfloat16, rounded from it): Box-Muller on the word pair
    (2i, 2i+1) of each block, ``u1 = ((x_2i >> 9) + 1/2) 2**-23``,
    ``u2 = (x_2i+1 >> 8) 2**-24``, ``r = sqrt(-2 log u1)``; element 2i gets
    ``mean + std r cos(2 pi u2)``, element 2i+1 ``mean + std r sin(2 pi u2)``
    (within 1.8e-7 max(1, r) of the float64 formula; |z| <= 5.77).
    float64: ``mean + std * Phi^-1((x + 1/2) 2**-32)`` of each element's own word,
    max 5 ulp from ``scipy.special.ndtri``.

    torch equivalent: ``torch.nn.init.normal_(tensor, mean, std)``.
    """
    mean, std = _finite(mean, "mean"), _positive(std, "std")
    return _fill(tensor, *D.prepare(D.NORMAL, mean, std), _Draw(seed, stream, global_shape, start, generator))


def _trunc(mean, std, a, b):
    """Checked arguments of a truncated normal -> (sampler code, kernel parameters)."""
    mean, std = _finite(mean, "mean"), _positive(std, "std")
    a = float(a) if a == -math.inf else _finite(a, "a")
    b = float(b) if b == math.inf else _finite(b, "b")
    if not a < b:
        raise ValueError(f"trunc_normal_ needs a < b, got a={a}, b={b}")
    return D.prepare(D.TRUNC_NORMAL, mean, std, a, b)


@_numpydoc(mean="float", std="float\n    > 0.", a="float\n    Absolute lower bound (may be -inf).",
           b="float\n    Absolute upper bound (> a, may be inf).")
def trunc_normal_(tensor, mean=0.0, std=1.0, a=-2.0, b=2.0, *, seed=None, stream=None,
                  global_shape=None, start=None, generator=None):
    """Fill ``tensor`` with N(mean, std**2) truncated to [a, b] (absolute bounds, as torch).

    Inverse CDF with a fixed cost per element and no rejection:
    ``mean + std * Phi^-1(Phi(a') + u (Phi(b') - Phi(a')))`` with ``a' = (a-mean)/std``,
    computed from both ``p`` and ``q = 1 - p`` so both tails stay exact
    (a = 2 std, b = 3 std, or a = -10 std are fine), then clamped to [a, b].
    An interval above the mean (``a' + b' > 0``) is sampled reflected:
    ``mean - std * Phi^-1(...)`` of ``[-b', -a']``. Far-tail intervals (where
    ``4 p q`` can fall below 1.2e-7) use the float64 math, rounded.

    torch equivalent: ``torch.nn.init.trunc_normal_(tensor, mean, std, a, b)``.
    """
    return _fill(tensor, *_trunc(mean, std, a, b), _Draw(seed, stream, global_shape, start, generator))


# ------------------------------------------------------------------ deterministic fills
@_numpydoc(random=False, val="float")
def constant_(tensor, val):
    """Fill ``tensor`` with ``val`` (``torch.nn.init.constant_``)."""
    arr, kind = as_target(tensor)
    v = float(val) if isinstance(val, numbers.Real) and not isinstance(val, bool) else None
    if v is None:
        raise TypeError(f"val must be a real number, got {val!r}")
    _set_all(arr, kind, v)
    return tensor


def _set_all(arr, kind, value):
    """Every element of the kernel view ``arr`` = ``value`` (rounded like torch's ``fill_``)."""
    if arr.size == 0:
        return
    bits = storage_scalar(value, kind)
    if isinstance(arr, np.ndarray):
        from .cpu.constant import set_all  # threads; streaming stores for big arrays
        set_all(arr, bits)
    else:
        fill_kernels(arr).set_all(arr, bits)


def _put(arr, kind, flat_index, value):
    """``arr.flat[flat_index] = value`` on either device."""
    bits = storage_scalar(value, kind)
    if isinstance(arr, np.ndarray):
        arr.reshape(-1)[flat_index] = bits
    else:
        fill_kernels(arr).put(arr, np.asarray(flat_index, np.int64), bits)


def _view_float(tensor, arr):
    """Writable view of ``arr`` (from as_target) in the tensor's own float dtype."""
    if arr.dtype == np.uint16:
        if isinstance(tensor, np.ndarray):
            return tensor
        import torch
        if tensor.dtype == torch.float16:
            return arr.view(np.float16)
        import ml_dtypes
        return arr.view(ml_dtypes.bfloat16)
    return arr


@_numpydoc(random=False)
def ones_(tensor):
    """Fill ``tensor`` with 1 (``torch.nn.init.ones_``)."""
    return constant_(tensor, 1.0)


@_numpydoc(random=False)
def zeros_(tensor):
    """Fill ``tensor`` with 0 (``torch.nn.init.zeros_``)."""
    return constant_(tensor, 0.0)


@_numpydoc(random=False)
def eye_(tensor):
    """Identity in a 2-D ``tensor`` (``torch.nn.init.eye_``); ones on the main diagonal."""
    arr, kind = as_target(tensor)
    if arr.ndim != 2:
        raise ValueError(f"eye_ needs a 2-D tensor, got {arr.ndim} dimensions")
    _set_all(arr, kind, 0.0)
    n = min(arr.shape)
    _put(arr, kind, np.arange(n, dtype=np.int64) * (arr.shape[1] + 1), 1.0)
    return tensor


def _dirac_groups(shape, groups):
    """Checked ``groups`` of a Dirac fill of a tensor of ``shape`` (shared with ``fastinit.torch``'s
    sharded form, which checks the global shape)."""
    if len(shape) not in (3, 4, 5):
        raise ValueError(f"dirac_ needs a 3-, 4- or 5-D tensor, got {len(shape)} dimensions")
    groups = positive_int(groups, "groups")
    if shape[0] % groups:
        raise ValueError(f"dim 0 ({shape[0]}) must be divisible by groups ({groups})")
    return groups


@_numpydoc(random=False, groups="int\n    Number of groups; ``tensor.shape[0]`` must be divisible by it.")
def dirac_(tensor, groups=1):
    """Dirac delta in a 3-, 4- or 5-D conv weight (``torch.nn.init.dirac_``):
    ``w[g*out_per_group + d, d, center...] = 1`` for each group ``g`` and
    ``d < min(out_per_group, in_channels)``, zero elsewhere."""
    arr, kind = as_target(tensor)
    groups = _dirac_groups(arr.shape, groups)
    _set_all(arr, kind, 0.0)
    per = arr.shape[0] // groups
    center = tuple(s // 2 for s in arr.shape[2:])
    ones = [(g * per + d, d) + center for g in range(groups) for d in range(min(per, arr.shape[1]))]
    if ones:
        _put(arr, kind, np.ravel_multi_index(tuple(np.array(ones).T), arr.shape), 1.0)
    return tensor


# ------------------------------------------------------------------ fan-based initializers
def _fans(arr, global_shape, axes):
    """``(fan_in, fan_out)`` of the logical tensor: ``global_shape`` when given, else the view's
    shape, with ``axes = (in_axis, out_axis)``."""
    shape = arr.shape if global_shape is None else _check_shape(global_shape, "global_shape")
    return compute_fans(shape, *axes)


def _fan_fill(tensor, draw, dist, scale_of, axes=TORCH_AXES, empty_warns=False):
    """The fan-based families, after their own argument checks: one kernel view, the fans,
    ``s = scale_of(fan_in, fan_out)``, then U(-s, s) (``UNIFORM``), N(0, s**2) (``NORMAL``) or
    N(0, s**2) truncated to [-2 s, 2 s] (``TRUNC_NORMAL``).

    ``empty_warns``: torch's kaiming_* warn "Initializing zero-element tensors is a no-op" and
    return before computing fans; so do these (the seed/stream and shard are still checked and
    the default generator's stream taken, as for any call). A zero ``s`` (gain 0) gives zeros
    like torch, through U(0, 0)."""
    target = as_target(tensor)
    arr = target[0]
    if empty_warns and 0 in arr.shape:
        warnings.warn("Initializing zero-element tensors is a no-op", UserWarning, stacklevel=3)
        return _fill(tensor, *D.prepare(D.UNIFORM, 0.0, 0.0), draw, target)
    s = scale_of(*_fans(arr, draw.global_shape, axes))
    if dist == D.TRUNC_NORMAL:
        dist, prm = _trunc(0.0, s, -2.0 * s, 2.0 * s)
    elif s == 0:
        dist, prm = D.prepare(D.UNIFORM, 0.0, 0.0)
    elif dist == D.UNIFORM:
        # a huge gain overflows to inf: an error, as uniform_'s
        dist, prm = D.prepare(D.UNIFORM, _finite(-s, "a"), _finite(s, "b"))
    else:
        dist, prm = D.prepare(D.NORMAL, 0.0, _positive(s, "std"))
    return _fill(tensor, dist, prm, draw, target)


def _xavier(gain):
    """Checked gain -> ``scale_of(fan_in, fan_out)`` of torch's xavier std."""
    gain = _finite(gain, "gain")
    if gain < 0:  # torch fails too (uniform_ with from > to, normal_ with std < 0)
        raise ValueError(f"gain must be >= 0, got {gain}")
    return lambda fan_in, fan_out: gain * math.sqrt(2.0 / max(fan_in + fan_out, 1))


_XAVIER_DOC = dict(gain="float\n    Scaling factor (``calculate_gain``).")


@_numpydoc(**_XAVIER_DOC)
def xavier_uniform_(tensor, gain=1.0, *, seed=None, stream=None, global_shape=None, start=None, generator=None):
    """Glorot uniform, torch layout ``(out, in, *k)``: U(-l, l), ``l = gain sqrt(6/(fan_in+fan_out))``.

    torch equivalent: ``torch.nn.init.xavier_uniform_(tensor, gain)``.
    """
    std = _xavier(gain)
    return _fan_fill(tensor, _Draw(seed, stream, global_shape, start, generator), D.UNIFORM,
                     lambda fan_in, fan_out: math.sqrt(3.0) * std(fan_in, fan_out))


@_numpydoc(**_XAVIER_DOC)
def xavier_normal_(tensor, gain=1.0, *, seed=None, stream=None, global_shape=None, start=None, generator=None):
    """Glorot normal, torch layout: N(0, std**2), ``std = gain sqrt(2/(fan_in+fan_out))``.

    torch equivalent: ``torch.nn.init.xavier_normal_(tensor, gain)``.
    """
    return _fan_fill(tensor, _Draw(seed, stream, global_shape, start, generator), D.NORMAL, _xavier(gain))


_KAIMING_MODES = ("fan_in", "fan_out")


def _kaiming(a, mode, nonlinearity):
    """Checked arguments -> ``scale_of(fan_in, fan_out)`` of torch's kaiming std."""
    fan_out_mode = one_of(mode, "mode", _KAIMING_MODES) == "fan_out"
    gain = calculate_gain(nonlinearity, a)
    return lambda fan_in, fan_out: gain / math.sqrt(max(fan_out if fan_out_mode else fan_in, 1))


_KAIMING_DOC = dict(a="float\n    Negative slope of the leaky_relu that follows.", mode='{"fan_in", "fan_out"}',
                    nonlinearity="str\n    See ``calculate_gain``.")


@_numpydoc(**_KAIMING_DOC)
def kaiming_uniform_(tensor, a=0, mode="fan_in", nonlinearity="leaky_relu", *, seed=None,
                     stream=None, global_shape=None, start=None, generator=None):
    """He uniform, torch layout: U(-bound, bound), ``bound = gain sqrt(3 / fan)``,
    ``gain = calculate_gain(nonlinearity, a)``.

    torch equivalent: ``torch.nn.init.kaiming_uniform_(tensor, a, mode, nonlinearity)``;
    ``nn.Linear`` and ``nn.ConvNd`` use ``a=math.sqrt(5)``. A zero-element tensor is left as
    it is with torch's ``UserWarning`` "Initializing zero-element tensors is a no-op" (before
    fans are computed, so any shape).
    """
    std = _kaiming(a, mode, nonlinearity)
    return _fan_fill(tensor, _Draw(seed, stream, global_shape, start, generator), D.UNIFORM,
                     lambda fan_in, fan_out: math.sqrt(3.0) * std(fan_in, fan_out), empty_warns=True)


@_numpydoc(**_KAIMING_DOC)
def kaiming_normal_(tensor, a=0, mode="fan_in", nonlinearity="leaky_relu", *, seed=None,
                    stream=None, global_shape=None, start=None, generator=None):
    """He normal, torch layout: N(0, std**2), ``std = gain / sqrt(fan)``.

    torch equivalent: ``torch.nn.init.kaiming_normal_(tensor, a, mode, nonlinearity)``.
    A zero-element tensor: as ``kaiming_uniform_``.
    """
    return _fan_fill(tensor, _Draw(seed, stream, global_shape, start, generator), D.NORMAL,
                     _kaiming(a, mode, nonlinearity), empty_warns=True)




# ------------------------------------------------------------------ variance scaling (JAX / Keras)
_VS_MODES = ("fan_in", "fan_out", "fan_avg")
_VS_DISTS = ("truncated_normal", "normal", "uniform", "untruncated_normal")


@_numpydoc(scale="float\n    > 0.", mode='{"fan_in", "fan_out", "fan_avg"}',
           distribution='{"truncated_normal", "normal", "untruncated_normal", "uniform"}',
           in_axis="int\n    Axis of the inputs (default -2, Keras/JAX layout).",
           out_axis="int\n    Axis of the outputs (default -1).")
def variance_scaling_(tensor, scale, mode, distribution, *, in_axis=KERAS_AXES[0], out_axis=KERAS_AXES[1],
                      seed=None, stream=None, global_shape=None, start=None, generator=None):
    """Variance scaling with JAX's semantics (``jax.nn.initializers.variance_scaling``).

    ``variance = scale / n`` with ``n`` = fan_in, fan_out or their mean (``mode``),
    fans from ``in_axis``/``out_axis`` (Keras/JAX layout by default). Then:

    * ``"uniform"``: U(-sqrt(3 variance), sqrt(3 variance))
    * ``"normal"`` (or Keras' ``"untruncated_normal"``): N(0, variance)
    * ``"truncated_normal"``: N(0, s**2) truncated to [-2 s, 2 s] with
      ``s = sqrt(variance) / 0.87962566103423978`` (so the variance is kept).
    """
    scale = _positive(scale, "scale")
    one_of(mode, "mode", _VS_MODES)
    one_of(distribution, "distribution", _VS_DISTS)

    def variance(fan_in, fan_out):
        n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[mode]
        return scale / max(n, 1)

    if distribution == "uniform":
        dist, scale_of = D.UNIFORM, lambda *fans: math.sqrt(3.0 * variance(*fans))
    elif distribution in ("normal", "untruncated_normal"):
        dist, scale_of = D.NORMAL, lambda *fans: math.sqrt(variance(*fans))
    else:
        dist, scale_of = D.TRUNC_NORMAL, lambda *fans: math.sqrt(variance(*fans)) / TRUNC_STD_2SIGMA
    return _fan_fill(tensor, _Draw(seed, stream, global_shape, start, generator), dist, scale_of,
                     axes=(in_axis, out_axis))


def _vs(name, scale, mode, distribution):
    def init_(tensor, *, in_axis=KERAS_AXES[0], out_axis=KERAS_AXES[1], seed=None, stream=None,
              global_shape=None, start=None, generator=None):
        return variance_scaling_(tensor, scale, mode, distribution, in_axis=in_axis, out_axis=out_axis,
                                 seed=seed, stream=stream, global_shape=global_shape, start=start,
                                 generator=generator)
    init_.__name__ = init_.__qualname__ = name
    init_.__doc__ = (f"``variance_scaling_(tensor, {scale}, {mode!r}, {distribution!r})``: "
                     f"JAX's ``jax.nn.initializers.{name[:-1]}()`` and Keras' ``{name[:-1]}``, "
                     "Keras/JAX layout ``(*kernel, in, out)`` by default; keyword arguments as "
                     "``variance_scaling_``'s.")
    return init_


glorot_uniform_ = _vs("glorot_uniform_", 1.0, "fan_avg", "uniform")
glorot_normal_ = _vs("glorot_normal_", 1.0, "fan_avg", "truncated_normal")
lecun_uniform_ = _vs("lecun_uniform_", 1.0, "fan_in", "uniform")
lecun_normal_ = _vs("lecun_normal_", 1.0, "fan_in", "truncated_normal")
he_uniform_ = _vs("he_uniform_", 2.0, "fan_in", "uniform")
he_normal_ = _vs("he_normal_", 2.0, "fan_in", "truncated_normal")


# ------------------------------------------------------------------ orthogonal and sparse
#: N(0, 1)'s ``prm``: orthogonal_ draws its float64 matrix from it
_STD_NORMAL = D.prepare(D.NORMAL, 0.0, 1.0)[1]


@_numpydoc(gain="float\n    Scaling factor.")
def orthogonal_(tensor, gain=1.0, *, seed=None, stream=None, global_shape=None, start=None, generator=None):
    """(Semi-)orthogonal matrix, as ``torch.nn.init.orthogonal_(tensor, gain)``.

    The tensor is seen as ``rows = shape[0]`` by ``cols = numel // rows``; a
    float64 standard normal matrix of that shape is drawn from the stream (the
    values of ``normal(..., dtype="float64")``), transposed if rows < cols,
    factored by QR, its Q's columns multiplied by the signs of R's diagonal,
    and scaled by ``gain``. Needs O(rows * cols) float64 workspace (QR cannot
    run in place); a shard computes the full matrix and keeps its region.
    """
    arr, kind = as_target(tensor)
    gain = _finite(gain, "gain")
    gshape, st = _region(arr.shape, global_shape, start)
    if len(gshape) < 2:
        raise ValueError(f"orthogonal_ needs a tensor of at least 2 dimensions, got shape {gshape}")
    words = _words(_Draw(seed, stream, global_shape, start, generator))
    if arr.size == 0:
        return tensor
    rows = gshape[0]
    cols = math.prod(gshape) // rows
    region = tuple(slice(s, s + n) for s, n in zip(st, arr.shape))
    if not isinstance(arr, np.ndarray):
        _orthogonal_gpu(arr, kind, words, rows, cols, gain, gshape, region)
        return tensor
    flat = np.empty((rows, cols), np.float64)
    _cpu.fill(flat.reshape(1, -1), np.zeros(1, np.uint64), words, _STD_NORMAL, D.NORMAL, D.KIND_F64)
    _view_float(tensor, arr)[...] = _orthogonal_q(np, flat, gain, gshape)[region]
    return tensor


def _orthogonal_q(xp, flat, gain, gshape):
    """torch's recipe on the (rows, cols) normal matrix ``flat``, with array module
    ``xp`` (numpy or CuPy): QR of it (transposed if rows < cols), Q's columns times
    the signs of R's diagonal, times ``gain``, shaped ``gshape``."""
    rows, cols = flat.shape
    if rows < cols:
        flat = flat.T
    q, r = xp.linalg.qr(flat)
    q *= xp.sign(xp.diag(r))
    if rows < cols:
        q = q.T
    return (q * gain).reshape(gshape)


def _orthogonal_gpu(arr, kind, words, rows, cols, gain, gshape, region):
    """orthogonal_ on a GPU view: the same float64 normal matrix drawn on the
    device, ``cupy.linalg.qr`` (cuSOLVER), the sign fix, then the region
    rounded to the tensor's dtype (16-bit through float32 and the kernels'
    rounding, like the fills)."""
    cupy = cupy_module("orthogonal_ on a GPU array")
    flat = cupy.empty((rows, cols), cupy.float64)
    view = gpu_view(flat)
    fill_kernels(view).fill(view.reshape(1, rows * cols), np.zeros(1, np.uint64), words, _STD_NORMAL,
                            D.NORMAL, D.KIND_F64)
    part = _orthogonal_q(cupy, flat, gain, gshape)[region]
    src = cupy.ascontiguousarray(part, dtype=cupy.float64 if kind == D.KIND_F64 else cupy.float32)
    fill_kernels(arr).store_values(arr, gpu_view(src), kind)


@_numpydoc(sparsity="float in [0, 1)\n    Fraction of zeros in each column.", std="float\n    > 0.")
def sparse_(tensor, sparsity, std=0.01, *, seed=None, stream=None, global_shape=None, start=None,
            generator=None):
    """2-D sparse matrix as ``torch.nn.init.sparse_``: N(0, std**2) values with exactly
    ``ceil(sparsity * rows)`` zeros in every column.

    Values are those of ``normal_`` with the same seed/stream. The zeros of
    column ``j`` are the rows with the smallest raw words of stream
    ``(stream + 2**63) mod 2**64`` in that column (ties to the lower row), so a
    shard sees the same zeros as the full matrix.
    Workspace: the keys of the shard's columns over all rows (uint32) and their
    argsort (int64), about 3x the shard's float32 size; like torch's per-column
    ``randperm``, sparse_ is meant for moderate 2-D weights.
    """
    arr, kind = as_target(tensor)
    if arr.ndim != 2:
        raise ValueError(f"sparse_ needs a 2-D tensor, got {arr.ndim} dimensions")
    sparsity = _finite(sparsity, "sparsity")
    if not 0.0 <= sparsity < 1.0:
        raise ValueError(f"sparsity must be in [0, 1), got {sparsity}")
    std = _positive(std, "std")
    gshape, st = _region(arr.shape, global_shape, start)
    k0, k1, s0, s1 = _words(_Draw(seed, stream, global_shape, start, generator))
    seed_i = int(k0) | (int(k1) << 32)
    stream_i = int(s0) | (int(s1) << 32)
    _fill(tensor, *D.prepare(D.NORMAL, 0.0, std), _Draw(seed_i, stream_i, gshape, st), (arr, kind))
    rows = gshape[0]
    nz = int(math.ceil(sparsity * rows))
    if nz == 0 or arr.size == 0:
        return tensor
    # the keys are a function of (seed, stream, index) like every value, so
    # they are drawn and sorted on the host for a GPU tensor too
    keys = np.empty((rows, arr.shape[1]), np.uint32)
    mask_stream = (stream_i + (1 << 63)) % (1 << 64)
    r, c, starts = _runs(keys.shape, gshape, (0, st[1]))
    _cpu.fill(keys.reshape(r, c), starts, key_words(seed_i, mask_stream), (), D.BITS, D.KIND_U32)
    zero_rows = np.argsort(keys, axis=0, kind="stable")[:nz]  # (nz, cols)
    local = zero_rows - st[0]
    cols_idx = np.broadcast_to(np.arange(arr.shape[1]), local.shape)
    inside = (local >= 0) & (local < arr.shape[0])
    _put(arr, kind, local[inside] * arr.shape[1] + cols_idx[inside], 0.0)
    return tensor


# ------------------------------------------------------------------ allocating forms
def _allocating(fn_, doc_name):
    def make(shape, *args, dtype="float32", device=None, **kwargs):
        shape = _check_shape(shape)
        dt = resolve_dtype(dtype)
        out = empty(shape, dt, check_device(device))
        return fn_(out, *args, **kwargs)
    make.__name__ = make.__qualname__ = doc_name
    make.__doc__ = (f"Allocating form of ``{fn_.__name__}``: ``{doc_name}(shape, ..., dtype='float32', "
                    f"device=None, seed=None, stream=None, global_shape=None, start=None, generator=None)`` returns a "
                    f"new array (numpy on device='cpu', CuPy on 'cuda'; None: the default device, "
                    f"``set_default_device``) holding exactly what ``{fn_.__name__}`` writes.\n\n"
                    + (fn_.__doc__ or ""))
    return make


uniform = _allocating(uniform_, "uniform")
normal = _allocating(normal_, "normal")
trunc_normal = _allocating(trunc_normal_, "trunc_normal")
constant = _allocating(constant_, "constant")
ones = _allocating(ones_, "ones")
zeros = _allocating(zeros_, "zeros")
eye = _allocating(eye_, "eye")
dirac = _allocating(dirac_, "dirac")
xavier_uniform = _allocating(xavier_uniform_, "xavier_uniform")
xavier_normal = _allocating(xavier_normal_, "xavier_normal")
kaiming_uniform = _allocating(kaiming_uniform_, "kaiming_uniform")
kaiming_normal = _allocating(kaiming_normal_, "kaiming_normal")
orthogonal = _allocating(orthogonal_, "orthogonal")
sparse = _allocating(sparse_, "sparse")
variance_scaling = _allocating(variance_scaling_, "variance_scaling")
glorot_uniform = _allocating(glorot_uniform_, "glorot_uniform")
glorot_normal = _allocating(glorot_normal_, "glorot_normal")
he_uniform = _allocating(he_uniform_, "he_uniform")
he_normal = _allocating(he_normal_, "he_normal")
lecun_uniform = _allocating(lecun_uniform_, "lecun_uniform")
lecun_normal = _allocating(lecun_normal_, "lecun_normal")

#: every initializer that draws random values and can be called with the tensor alone: name -> in-place
#: function (``variance_scaling_``, random too, needs its scale, mode and distribution)
RANDOM_INITIALIZERS = {f.__name__: f for f in (
    uniform_, normal_, trunc_normal_, xavier_uniform_, xavier_normal_, kaiming_uniform_,
    kaiming_normal_, orthogonal_, sparse_, glorot_uniform_, glorot_normal_, he_uniform_,
    he_normal_, lecun_uniform_, lecun_normal_)}
#: the initializers that draw no random values (they take no seed or stream): name -> in-place function
DETERMINISTIC_INITIALIZERS = {f.__name__: f for f in (constant_, ones_, zeros_, eye_, dirac_)}
#: every in-place initializer: ``RANDOM_INITIALIZERS``, ``variance_scaling_`` and ``DETERMINISTIC_INITIALIZERS``
INITIALIZERS = {**RANDOM_INITIALIZERS, "variance_scaling_": variance_scaling_, **DETERMINISTIC_INITIALIZERS}
