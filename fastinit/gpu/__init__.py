"""The GPU backend: Numba-CUDA kernels mirroring ``fastinit.cpu``.

Imported only when an argument lives on a GPU (``fastinit.dispatch`` decides);
``import fastinit`` never imports this package, ``numba.cuda``, CuPy or torch.

The kernels are compiled from the same Python source as the CPU kernels:
``_stream.philox4x32_10``, ``distributions.pair_sampler`` and the activation
math of ``fastinit.activations`` are plain ``@njit`` functions that Numba-CUDA
compiles for the device (and that Numba's CUDA simulator,
``NUMBA_ENABLE_CUDASIM=1``, calls on the CPU, which is how CI tests this
package without a GPU). See ``runtime`` for how exactness is kept.
"""
