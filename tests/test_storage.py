"""fastinit.storage: the output kinds, their dtypes and codecs, against numpy and ml_dtypes."""
import numpy as np
import pytest
from numba import njit

from fastinit import dispatch, storage
from fastinit.storage import KIND_BF16, KIND_F16, KIND_F32, KIND_F64, KINDS, STORAGE

from conftest import requires_bf16


def _dtype(name):
    if name == "bfloat16":
        import ml_dtypes
        return np.dtype(ml_dtypes.bfloat16)
    return np.dtype(name)


@pytest.mark.parametrize("name", ["float32", "float64", "float16", pytest.param("bfloat16", marks=requires_bf16)])
def test_kind_of_each_dtype_and_the_view_the_kernels_get(name):
    kind = KINDS[name]
    assert dispatch.float_kind(_dtype(name)) == kind
    view, k = dispatch.as_target(np.zeros(5, _dtype(name)))
    assert k == kind and view.dtype == STORAGE[kind]
    assert STORAGE[kind].itemsize == _dtype(name).itemsize


def test_every_kind_has_one_storage_dtype():
    assert set(STORAGE) == set(KINDS.values()) | {storage.KIND_U32}
    assert STORAGE[storage.KIND_U32] == np.uint32


VALUES = [0.0, -0.0, 1.0 / 3.0, -2.5e-3, 65504.0, 65520.0, 1e-8, 6e-8, 3.0e38, -1e-45, 1.00390625, 1.01171875]


@pytest.mark.parametrize("kind", [KIND_F32, KIND_F64, KIND_F16, pytest.param(KIND_BF16, marks=requires_bf16)])
def test_storage_scalar_rounds_once_from_float32(kind):
    ref = {KIND_F32: lambda v: np.float32(v), KIND_F64: lambda v: np.float64(v),
           KIND_F16: lambda v: np.float32(v).astype(np.float16).view(np.uint16),
           KIND_BF16: lambda v: np.float32(v).astype(_dtype("bfloat16")).view(np.uint16)}[kind]
    for v in VALUES:
        got = storage.storage_scalar(v, kind)
        assert got.dtype == STORAGE[kind]
        assert got.tobytes() == ref(v).tobytes(), v


@njit
def _roundtrip(h, load, store, wide, back):
    for i in range(h.size):
        wide[i] = load(h[i])
        back[i] = store(wide[i])


@pytest.mark.parametrize("kind", [KIND_F16, pytest.param(KIND_BF16, marks=requires_bf16)])
def test_codec_of_every_16_bit_pattern(kind):
    """load widens exactly (numpy / ml_dtypes), store rounds back to the same bits;
    NaNs stay NaN of their sign, infinities stay infinite."""
    h = np.arange(1 << 16, dtype=np.uint32).astype(np.uint16)
    load, store = storage.codec(kind)
    wide, back = np.empty(h.size, np.float32), np.empty(h.size, np.uint16)
    _roundtrip(h, load, store, wide, back)
    ref = h.view(np.float16 if kind == KIND_F16 else _dtype("bfloat16")).astype(np.float32)
    nan = np.isnan(ref)
    np.testing.assert_array_equal(wide[~nan].view(np.uint32), ref[~nan].view(np.uint32))
    assert np.isnan(wide[nan]).all()
    np.testing.assert_array_equal(back[~nan], h[~nan])
    wide_back = back.view(np.float16 if kind == KIND_F16 else _dtype("bfloat16")).astype(np.float32)
    assert np.isnan(wide_back[nan]).all()
    np.testing.assert_array_equal(np.signbit(wide_back[nan]), np.signbit(wide[nan]))


def test_float_kinds_store_as_they_are():
    for kind in (KIND_F32, KIND_F64):
        load, store = storage.codec(kind)
        assert load is store is storage.store_fn(kind)
    assert storage.store_fn(KIND_F16) is not storage.store_fn(KIND_BF16)
