"""constant fills by size: numpy's fill, fastinit's constant path (numpy below
``constant.SERIAL_BYTES``, the threaded kernel above, streamed from
``runtime.STREAM_WRITE_ONLY_BYTES``) and torch ``fill_`` (2 threads), float32, best of 7.

    python benchmarks/constant_sizes.py
"""
import time, numpy as np, torch
from fastinit.cpu import constant, runtime
torch.set_num_threads(2)
def best(f, r=7):
    ts=[]
    for _ in range(r):
        t=time.perf_counter(); f(); ts.append(time.perf_counter()-t)
    return min(ts)
for mib in (4, 32, 128, 1024):
    n = mib << 18
    a = np.empty(n, np.float32); a[...] = 0; t = torch.from_numpy(a)
    constant.set_all(a, np.float32(1.5))
    np_t = best(lambda: a.__setitem__(Ellipsis, np.float32(2.5)))
    fi_t = best(lambda: constant.set_all(a, np.float32(1.5)))
    th_t = best(lambda: t.fill_(3.5))
    print(f"{mib:5d} MiB  numpy {n/np_t/1e9:6.2f}  fastinit set_all {n/fi_t/1e9:6.2f}  "
          f"torch {n/th_t/1e9:6.2f} G el/s  stream={runtime.streams(a.nbytes, write_only=True)}")
