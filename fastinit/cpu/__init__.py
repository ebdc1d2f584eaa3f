"""Numba CPU kernels: one fill driver for every random initializer."""
