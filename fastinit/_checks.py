"""Shared argument checks: one home for the constraints every public function states.

Each returns the checked value as the type the caller computes with and raises a
``ValueError``/``TypeError`` naming the argument and what is allowed (numpy.random's
``check_constraint`` style), before anything is written.
"""
from __future__ import annotations

import math
import numbers


def finite(value, name):
    """``float(value)`` of a finite real number (not a bool), else ``ValueError`` naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite real number, got {value!r}")
    return float(value)


def positive(value, name):
    """``finite(value, name)`` that is also > 0."""
    v = finite(value, name)
    if v <= 0:
        raise ValueError(f"{name} must be > 0, got {value!r}")
    return v


def one_of(value, name, choices):
    """``value`` if it is one of ``choices`` (compared with ``==``), else ``ValueError`` listing them."""
    if isinstance(value, str) and value in choices:
        return value
    raise ValueError(f"{name} must be one of {', '.join(choices)}; got {value!r}")


def positive_int(value, name):
    """``int(value)`` of an int >= 1 (not a bool), else ``ValueError`` naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return int(value)
