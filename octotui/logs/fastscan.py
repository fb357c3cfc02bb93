"""Newlines counted per block with numpy, for the index of a large 8-bit log.

Why numpy: ``bytes.count(b"\\n")`` is a byte-at-a-time loop (about 2 GB/s) and holds the GIL; a numpy compare
and ``count_nonzero`` are SIMD loops that release the GIL (about 4 GB/s on one core here, reading included),
so two threads, each reading into its own buffer, can count one batch at once. The module is imported only
once a large range is scanned (importing numpy costs about 0.1 s, which the first screen must not wait for).
"""

from __future__ import annotations

from array import array

import numpy as np


class BlockCounter:
    """One reusable read buffer and the compare result over it; belongs to one thread."""

    def __init__(self, size: int) -> None:
        self.buffer = bytearray(size)
        self._bytes = np.frombuffer(self.buffer, dtype=np.uint8)
        self._newline = np.empty(size, dtype=np.bool_)

    def add_counts(self, got: int, pos: int, block: int, counts: array[int], first: int) -> None:
        """Add the newlines of ``buffer[:got]`` (the file from offset ``pos``) to ``counts``, one entry per
        block (``counts[i]`` is block ``first + i``); LF is the newline of every 8-bit encoding."""
        eq = self._newline[:got]
        np.equal(self._bytes[:got], 10, out=eq)
        b = pos // block
        lo = 0
        while lo < got:
            hi = min(got, (b + 1) * block - pos)
            counts[b - first] += int(np.count_nonzero(eq[lo:hi]))
            lo = hi
            b += 1


class AsciiLower:
    """``bytes.lower`` in place, with numpy: the same result (only A-Z change), but in SIMD loops that release
    the GIL, so a reader thread can lower the next chunk while a search runs over this one."""

    def __init__(self, size: int) -> None:
        self._shifted = np.empty(size, dtype=np.uint8)
        self._upper = np.empty(size, dtype=np.bool_)

    def __call__(self, buffer: bytearray, n: int) -> None:
        data = np.frombuffer(buffer, dtype=np.uint8, count=n)
        if n > len(self._shifted):
            self._shifted = np.empty(n, dtype=np.uint8)
            self._upper = np.empty(n, dtype=np.bool_)
        shifted, upper = self._shifted[:n], self._upper[:n]
        np.subtract(data, 65, out=shifted)  # wraps below "A": only A-Z land in 0..25
        np.less(shifted, 26, out=upper)
        np.left_shift(upper.view(np.uint8), 5, out=shifted)  # 32 where upper case, else 0
        np.bitwise_or(data, shifted, out=data)
        del data  # the buffer must not stay exported (a bytearray with a live view cannot be resized)
