"""``launch``: run one activation entry on flat kernel views, on their device.

The one call between the activation adapters and the kernels (the ops-vs-adapters
split of Liger-Kernel): ``fastinit.activations`` (numpy / CuPy arrays: checks, outputs,
overlap rules), ``fastinit.torch`` (autograd functions and modules), ``fastinit.bench``
and ``benchmarks/`` check their own inputs, make the views and call ``launch``;
``launch`` maps the mode's inputs and outputs onto the kernel's arrays and asks
``dispatch`` which device's kernels run them (``cpu/elementwise.py`` or
``gpu/elementwise.py``, both reading the math of ``fastinit._act_registry``).
"""
from __future__ import annotations

from ._act_registry import BACKWARD, FORWARD
from .dispatch import elementwise_kernels

__all__ = ["launch"]


def launch(entry, params, mode, srcs, grad, outs, kind):
    """Run ``entry`` over flat, C-contiguous kernel views, no checks (internal API).

    Parameters
    ----------
    entry : fastinit._act_registry.Activation
        From ``_act_registry.lookup``.
    params : dict
        The entry's parameters as ``_act_registry.check_params`` returns them.
    mode : int
        ``FORWARD``, ``BACKWARD``, ``FUSED`` or ``FUSED_D`` (``_act_registry``).
    srcs : list
        ``[x]``, or ``[a, b]`` for a gated entry: 1-D views of one size and kind
        (numpy arrays on the CPU, Numba device arrays on the GPU; 16-bit data as
        uint16, ``kind`` saying which format), as ``dispatch.as_target`` makes them.
    grad : array or None
        ``grad_out`` (BACKWARD, FUSED), else None.
    outs : list
        The outputs the mode writes, ``N_OUT[entry.gated][mode]`` of them:
        y / gi / y, gi / y, f'(x); gated: y / ga, gb / y, ga, gb.
    kind : int
        The storage kind (``storage.KIND_*``) of every view.

    Notes
    -----
    The views' device decides the kernels (``dispatch.elementwise_kernels``); the
    caller guarantees one device, one size, one kind, no partial overlap of an
    output with an input and a grad for the modes that read one. Values: see
    ``fastinit.activations`` (float32 and 16-bit: the same bits on CPU and GPU).
    """
    code, prm = entry.resolve(params)
    g = srcs[0] if grad is None else grad  # a mode that reads no grad gets any array of the type
    if entry.gated:
        a, b = srcs
        if mode == FORWARD:
            arrays = (a, b, g, outs[0], a, a)
        elif mode == BACKWARD:
            arrays = (a, b, g, a, outs[0], outs[1])
        else:
            arrays = (a, b, g, outs[0], outs[1], outs[2])
    else:
        xs = srcs[0]
        if mode == FORWARD:
            arrays = (xs, g, outs[0], xs)
        elif mode == BACKWARD:
            arrays = (xs, g, xs, outs[0])
        else:
            arrays = (xs, g, outs[0], outs[1])
    elementwise_kernels(srcs[0]).run(arrays, prm, mode, code, kind, gated=entry.gated)
