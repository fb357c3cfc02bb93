"""Newlines counted per block with numpy, for the index of a large 8-bit log.

Why numpy: ``bytes.count(b"\\n")`` is a byte-at-a-time loop (about 1-2 GB/s) and holds the GIL; a numpy
compare and an add over 64-bit words are SIMD loops that release the GIL, so two threads, each reading into
its own buffer, can count one batch at once, and the whole index costs little more than ``wc -l`` reading
the file. The module is imported only once a large range is scanned (importing numpy costs about 0.1 s).
"""

from __future__ import annotations

from array import array

import numpy as np

#: Rows of 64-bit words a block is cut into for the whole-read count (at most 255: see ``_count_whole``).
ROWS = 128


class BlockCounter:
    """One reusable read buffer and the arrays a count works in; belongs to one thread."""

    def __init__(self, size: int, block: int) -> None:
        self.buffer = bytearray(size)
        self._bytes = np.frombuffer(self.buffer, dtype=np.uint8)
        self._newline = np.empty(size, dtype=np.bool_)
        self._block = block
        # The whole-read path (see ``_count_whole``): a read of whole blocks, each block's compare result
        # seen as ROWS rows of 64-bit words; summing the rows adds each byte lane at most ROWS times.
        self._blocks = size // block
        words = block // 8
        self._whole = block % (8 * ROWS) == 0 and size % block == 0 and self._blocks > 0
        if self._whole:
            self._rows = self._newline.view(np.uint64).reshape(self._blocks, ROWS, words // ROWS)
            self._lanes = np.empty((self._blocks, words // ROWS), dtype=np.uint64)
            self._sums = np.empty(self._blocks, dtype=np.uint32)

    def add_counts(self, got: int, pos: int, block: int, counts: array[int], first: int) -> None:
        """Add the newlines of ``buffer[:got]`` (the file from offset ``pos``) to ``counts``, one entry per
        block (``counts[i]`` is block ``first + i``); LF is the newline of every 8-bit encoding."""
        eq = self._newline[:got]
        np.equal(self._bytes[:got], 10, out=eq)
        if self._whole and block == self._block and got == len(self.buffer) and pos % block == 0:
            self._count_whole(counts, pos // block - first)
            return
        b = pos // block
        lo = 0
        while lo < got:
            hi = min(got, (b + 1) * block - pos)
            counts[b - first] += int(np.count_nonzero(eq[lo:hi]))
            lo = hi
            b += 1

    def _count_whole(self, counts: array[int], at: int) -> None:
        """Every block of a full buffer counted in two reductions, not a call per block.

        Why: each numpy call takes the GIL back, and with two threads counting at once a call per 64 KiB
        block made them wait on each other (two threads were no faster than one). A compare result is 0 or 1
        per byte, so adding ROWS (at most 255) rows of 64-bit words never carries out of a byte; the byte
        lanes of what is left, added up, are the block's count. Both reductions release the GIL."""
        np.add.reduce(self._rows, axis=1, out=self._lanes)
        np.add.reduce(self._lanes.view(np.uint8), axis=1, dtype=np.uint32, out=self._sums)
        for i, n in enumerate(self._sums.tolist(), start=at):
            counts[i] += n


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
