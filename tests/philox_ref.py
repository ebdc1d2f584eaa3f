"""An independent, plain-NumPy Philox4x32-10 (vectorized over blocks) used as the
reference in tests; written from the Random123 paper, not from fastinit._stream."""
import numpy as np

M0, M1 = 0xD2511F53, 0xCD9E8D57
W0, W1 = 0x9E3779B9, 0xBB67AE85
MASK = 0xFFFFFFFF


def philox_blocks(blocks, key, stream):
    """Words (n, 4) of Philox4x32-10 for the 64-bit block indices ``blocks``."""
    b = np.asarray(blocks, dtype=np.uint64)
    c = [b & np.uint64(MASK), b >> np.uint64(32),
         np.full_like(b, stream & MASK), np.full_like(b, stream >> 32)]
    k0, k1 = key & MASK, key >> 32
    for r in range(10):
        p0 = np.uint64(M0) * c[0]
        p1 = np.uint64(M1) * c[2]
        c = [(p1 >> np.uint64(32)) ^ c[1] ^ np.uint64(k0), p1 & np.uint64(MASK),
             (p0 >> np.uint64(32)) ^ c[3] ^ np.uint64(k1), p0 & np.uint64(MASK)]
        k0, k1 = (k0 + W0) & MASK, (k1 + W1) & MASK
    return np.stack(c, axis=1).astype(np.uint32)


def words(seed, stream, start, count):
    """Raw words of logical elements start .. start+count-1 (mod 2**64)."""
    n = (np.uint64(start) + np.arange(count, dtype=np.uint64))  # wraps mod 2**64
    blocks = n >> np.uint64(2)
    w = (n & np.uint64(3)).astype(np.int64)
    return philox_blocks(blocks, seed, stream)[np.arange(count), w]
