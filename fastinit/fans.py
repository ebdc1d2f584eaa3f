"""Fans and gains: the one place that knows tensor layouts.

torch layout: ``(out, in, *kernel)`` -> ``in_axis=1, out_axis=0``.
Keras/JAX layout: ``(*kernel, in, out)`` -> ``in_axis=-2, out_axis=-1``.
The receptive field is the product of every other axis, as in both libraries.
"""
from __future__ import annotations

import math
import numbers

from ._checks import finite

__all__ = ["compute_fans", "calculate_gain", "TORCH_AXES", "KERAS_AXES"]

#: ``(in_axis, out_axis)`` of torch's ``(out, in, *kernel)``: the torch-named initializers
TORCH_AXES = (1, 0)
#: ``(in_axis, out_axis)`` of Keras/JAX ``(*kernel, in, out)``: ``compute_fans`` and variance scaling
KERAS_AXES = (-2, -1)

_LINEAR = ("linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d",
           "conv_transpose2d", "conv_transpose3d", "sigmoid")
NONLINEARITIES = _LINEAR + ("tanh", "relu", "leaky_relu", "selu")


def compute_fans(shape, in_axis=KERAS_AXES[0], out_axis=KERAS_AXES[1]):
    """Return ``(fan_in, fan_out)`` of a tensor of ``shape``.

    ``fan_in = shape[in_axis] * receptive``, ``fan_out = shape[out_axis] * receptive``
    with ``receptive`` the product of the other axes (``torch.nn.init.
    _calculate_fan_in_and_fan_out`` with ``in_axis=1, out_axis=0``;
    ``jax.nn.initializers`` with the defaults). Raises ``ValueError`` for a tensor
    of fewer than 2 dimensions, where fans are not defined.
    """
    shape = tuple(int(s) for s in shape)
    ndim = len(shape)
    if ndim < 2:
        raise ValueError(
            f"fan_in and fan_out need a tensor of at least 2 dimensions, got shape {shape}")
    for name, ax in (("in_axis", in_axis), ("out_axis", out_axis)):
        if isinstance(ax, bool) or not isinstance(ax, numbers.Integral) or not -ndim <= ax < ndim:
            raise ValueError(f"{name} must be an int in [{-ndim}, {ndim}) for shape {shape}, got {ax!r}")
    i, o = in_axis % ndim, out_axis % ndim
    if i == o:
        raise ValueError(f"in_axis and out_axis must differ, both are axis {i}")
    receptive = math.prod(s for k, s in enumerate(shape) if k not in (i, o))
    return shape[i] * receptive, shape[o] * receptive


def calculate_gain(nonlinearity, param=None):
    """Recommended gain for a nonlinearity, exactly as ``torch.nn.init.calculate_gain``.

    ==================  =====================================
    nonlinearity        gain
    ==================  =====================================
    linear, conv*, sigmoid  1
    tanh                5/3
    relu                sqrt(2)
    leaky_relu          sqrt(2 / (1 + negative_slope**2)); ``param`` is the
                        slope, default 0.01
    selu                3/4
    ==================  =====================================
    """
    if nonlinearity in _LINEAR:
        return 1
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        slope = 0.01 if param is None else finite(param, "negative_slope (param)")
        return math.sqrt(2.0 / (1 + slope ** 2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(
        f"nonlinearity must be one of {', '.join(NONLINEARITIES)}; got {nonlinearity!r}")
