"""The on-disk kernel cache must notice edits to every module a kernel inlines."""
import hashlib
import os
import pathlib
import shutil
import subprocess
import sys

import fastinit
from fastinit.cpu import constant, elementwise, fill, runtime


def _package_sha256():
    # independent of runtime.source_digest: every .py under fastinit/, by relative path
    root = pathlib.Path(fastinit.__file__).resolve().parent
    h = hashlib.sha256()
    for p in sorted(root.rglob("*.py")):
        rel = p.relative_to(root).as_posix().encode()
        data = p.read_bytes()
        h.update(b"%d:%s:%d:" % (len(rel), rel, len(data)) + data)
    return h.hexdigest()


def test_cache_stamp_covers_the_whole_package():
    stamp = fill._CACHE_STAMP
    assert stamp is not None, "numba's cache internals moved: re-implement _stamp_dependencies"
    digest = _package_sha256()
    assert runtime.source_digest() == digest
    assert stamp[1] == digest
    assert fill.fill_rows._cache._cache_file._source_stamp == stamp
    assert constant._STAMP[1] == digest
    for k in (elementwise.act_1d, elementwise.gated_1d):
        assert k._cache._cache_file._source_stamp == elementwise._CACHE_STAMPS[k]
        assert elementwise._CACHE_STAMPS[k][1] == digest


CHILD = """
import numpy as np
import fastinit
assert fastinit.__file__.startswith(%r), fastinit.__file__
from fastinit.cpu import constant, runtime
constant.SERIAL_BYTES = 0  # the kernel, not numpy's fill, for this small array
a = np.zeros(runtime.SMALL + 1, np.float32)
constant.set_all(a, np.float32(3))
assert (a == 3).all()
s = constant.set_range.stats
print(sum(s.cache_hits.values()), sum(s.cache_misses.values()))
"""


def _package_copy(tmp_path, child):
    """A copy of the package and a fresh cache: ``(package dir, run)``, ``run()`` giving
    the (cache hits, misses) ``child`` prints in a new process."""
    pkg = tmp_path / "src"
    shutil.copytree(pathlib.Path(fill.__file__).parents[1], pkg / "fastinit",
                    ignore=shutil.ignore_patterns("__pycache__"))
    env = dict(os.environ, PYTHONPATH=str(pkg), NUMBA_CACHE_DIR=str(tmp_path / "cache"))

    def run():
        # cwd outside the repository: ``python -c`` puts the cwd first on sys.path
        r = subprocess.run([sys.executable, "-c", child % str(pkg)], env=env, capture_output=True, text=True,
                           timeout=600, cwd=tmp_path)
        assert r.returncode == 0, r.stderr[-3000:]
        hits, misses = (int(v) for v in r.stdout.split())
        return hits, misses
    return pkg, run


def test_edited_inlined_module_recompiles(tmp_path):
    # compile, load, edit a module the kernel inlines (not the kernel's own file), and the
    # next process must recompile
    pkg, run = _package_copy(tmp_path, CHILD)
    assert run() == (0, 1)  # compiled
    assert run() == (1, 0)  # loaded
    nt = pkg / "fastinit" / "cpu" / "ntstore.py"
    nt.write_text(nt.read_text() + "\n# edited\n")
    assert run() == (0, 1)  # the edit is seen: compiled again


ACT_CHILD = """
import numpy as np
import fastinit
assert fastinit.__file__.startswith(%r), fastinit.__file__
from fastinit.cpu import elementwise as ew
y, d = fastinit.activations.fused("relu", np.linspace(-1, 1, 64, dtype=np.float32))
assert (d == (y > 0)).all()
s = ew.act_1d.stats
print(sum(s.cache_hits.values()), sum(s.cache_misses.values()))
"""


def test_edited_activation_math_recompiles(tmp_path):
    # the activation kernels inline the registry's math and fastinit._act_math (not files
    # of their own): an edit there must recompile them in the next process
    pkg, run = _package_copy(tmp_path, ACT_CHILD)
    assert run() == (0, 1)  # compiled
    assert run() == (1, 0)  # loaded
    math_mod = pkg / "fastinit" / "_act_math.py"
    math_mod.write_text(math_mod.read_text() + "\n# edited\n")
    assert run() == (0, 1)  # the edit is seen: compiled again
