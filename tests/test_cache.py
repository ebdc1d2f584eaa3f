"""The on-disk kernel cache must notice edits to every module a kernel inlines."""
import hashlib
import pathlib

from fastinit import _fmath, _stream, distributions
from fastinit.cpu import fill


def test_cache_stamp_covers_inlined_modules():
    stamp = fill._CACHE_STAMP
    assert stamp is not None, "numba's cache internals moved: re-implement _stamp_dependencies"
    h = hashlib.sha256()
    for mod in (fill, _fmath, _stream, distributions):
        h.update(pathlib.Path(mod.__file__).read_bytes())
    assert stamp[1] == h.hexdigest()
    assert fill.fill_rows._cache._cache_file._source_stamp == stamp
