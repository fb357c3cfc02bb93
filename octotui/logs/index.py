"""A sparse line index: newlines counted per 64 KiB block, built in batches, from the end of the file first.

Why sparse: an offset per line costs 8 bytes, 80 MB for a 1 GB log of ten million lines. A count per block
costs 4 bytes per 64 KiB (64 KB for 1 GB), and a line's offset is found when it is wanted by reading the one
block it is in (which the viewer does for a screenful at a time, so the block is read once). Counting a
large range is counted with numpy (``fastscan``: SIMD compares that release the GIL), by two threads that take
its reads in turn when the machine has a core to spare, so the whole index costs one pass over the file at
about the speed ``wc -l`` reads it.

Why from the end: a log is read from its latest lines. The first batch is the last block, so the last
screenful shows at once; earlier batches then extend the indexed region backwards. Until the scan reaches
the start of the file, lines are numbered from the first complete line of the indexed region, and every
batch that extends it renumbers the lines after it by a known amount (``Growth.added_before``), which a
viewer adds to its scroll position. A file that grows is indexed forwards from where the scan ended.

The scan (``Scanner``) only reads the file; the index (``LineIndex``) changes only in ``apply``. A viewer
runs the scan in a worker thread and applies the batches on its own thread. A search may read the index
from another worker meanwhile: the only state both touch is the cache of block offsets, which tolerates it.
"""

from __future__ import annotations

import bisect
import contextlib
import itertools
import threading
from array import array
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from octotui.logs import cpu
from octotui.logs.encoding import Encoding
from octotui.logs.logfile import LogFile

if TYPE_CHECKING:
    from octotui.logs.fastscan import BlockCounter

#: Bytes per block of the index. A power of two, even (a UTF-16 newline never straddles two blocks).
BLOCK = 1 << 16
#: Bytes read per ``pread`` while scanning (1 MiB: as fast as larger reads, and the unit two threads share).
READ = 1 << 20
#: A scanner of an 8-bit file counts its first this many bytes with ``bytes.count`` and the rest with numpy: the
#: first two batches (the last screenful, the last MiB) never wait for numpy's import (about 0.1 s). Counting
#: more without numpy costs the index time (``bytes.count`` runs at about 1 GB/s here) and was measured to bring
#: the first screen no sooner (``bench/logs_large.py``: 0.12-0.2 s with 64 MiB, the same with this).
FAST_FROM = (1 << 20) + (1 << 16)
#: A range at least this long is counted by two threads (when a core is idle: ``cpu.spare_core``).
SPLIT_FROM = 1 << 22
#: The batches of a backward scan grow: the first is one block (the last screenful), then these sizes.
BATCH_SIZES = (1 << 20, 1 << 23, 1 << 25)
#: Blocks whose newline offsets are kept (the viewer reads a few neighbouring blocks again and again).
BLOCK_CACHE = 64


@dataclass(frozen=True)
class Batch:
    """Newlines counted in ``[start, end)``; ``counts[i]`` is for block ``start // block + i``."""

    start: int
    end: int
    counts: array[int]
    last_newline: int = -1  # file offset of the last newline in the batch, -1 when none


@dataclass(frozen=True)
class Growth:
    """What one applied batch changed: lines added before the old first line and after the old last one."""

    added_before: int
    added_after: int


def count_newlines(data: bytes | bytearray, encoding: Encoding, base: int, lo: int = 0, hi: int | None = None) -> int:
    """Newlines in ``data[lo:hi]``, where ``data`` starts at file offset ``base``."""
    hi = len(data) if hi is None else hi
    if not encoding.wide:
        return data.count(b"\n", lo, hi)
    return len(newline_offsets(data, encoding, base, lo, hi))


def last_newline(data: bytes | bytearray, encoding: Encoding, base: int, hi: int | None = None) -> int:
    """File offset of the last newline in ``data[:hi]`` (``data`` starts at ``base``), -1 when there is none."""
    nl = encoding.newline
    hi = len(data) if hi is None else hi
    i = data.rfind(nl, 0, hi)
    while i >= 0 and (base + i) % encoding.unit:
        i = data.rfind(nl, 0, i + len(nl) - 1)
    return base + i if i >= 0 else -1


def newline_offsets(data: bytes | bytearray, encoding: Encoding, base: int, lo: int = 0,
                    hi: int | None = None) -> list[int]:
    """File offsets of the newlines in ``data[lo:hi]`` (the offset of the newline's first byte)."""
    hi = len(data) if hi is None else hi
    nl = encoding.newline
    out: list[int] = []
    find = data.find
    i = find(nl, lo, hi)
    if encoding.unit == 1:
        while i >= 0:
            out.append(base + i)
            i = find(nl, i + 1, hi)
        return out
    while i >= 0:
        if (base + i) % 2 == 0:
            out.append(base + i)
            i = find(nl, i + 2, hi)
        else:
            i = find(nl, i + 1, hi)
    return out


class Scanner:
    """Counts newlines per block in byte ranges of a file; reads only, so it may run in a worker thread."""

    def __init__(self, file: LogFile, block: int = BLOCK, read_size: int = READ, *, fast_from: int | None = None,
                 split_from: int | None = None) -> None:
        self.file = file
        self.encoding = file.encoding
        self.block = block
        self.read_size = max(block, read_size - read_size % block)
        self.fast_from = FAST_FROM if fast_from is None else fast_from
        self.split_from = SPLIT_FROM if split_from is None else split_from
        self.counted = 0  # bytes counted so far
        self._buffer = bytearray(self.read_size)
        self._counters: list[BlockCounter] = []

    def count(self, start: int, end: int) -> Batch:
        """One batch for ``[start, end)``. ``start`` need not be on a block boundary (a file that grew).

        Reads into reused buffers (a fresh ``bytes`` per read would cost a page fault per 4 KiB), so a
        scanner belongs to one thread (which starts a helper thread of its own for a large range)."""
        block = self.block
        first = start // block
        last = (end - 1) // block if end > start else first - 1
        counts = array("I", bytes(4 * max(0, last - first + 1)))
        fast = not self.encoding.wide and self.counted >= self.fast_from
        self.counted += max(0, end - start)
        if fast and end - start >= self.split_from and cpu.spare_core():
            return self._count_shared(start, end, counts)
        reached, last_nl = self._scan(start, end, counts, first, self._counter(0) if fast else None)
        return Batch(start, reached, counts, last_nl)

    def _counter(self, which: int) -> BlockCounter:
        from octotui.logs.fastscan import BlockCounter  # numpy: imported when first needed (see FAST_FROM)

        while len(self._counters) <= which:
            self._counters.append(BlockCounter(self.read_size, self.block))
        return self._counters[which]

    def _count_shared(self, start: int, end: int, counts: array[int]) -> Batch:
        """``[start, end)`` by this thread and a helper at once (numpy releases the GIL), each taking the next
        read's worth of the range until none is left: on a busy machine, where the helper may get no CPU for
        a while, this thread does its share instead of waiting for a fixed half."""
        block, first = self.block, start // self.block
        # Pieces end on read-size boundaries (whole blocks), so each block belongs to one piece.
        cuts = [start, *range((start // self.read_size + 1) * self.read_size, end, self.read_size), end]
        pieces = list(itertools.pairwise(cuts))
        taken = itertools.count()  # next() on it is atomic under the GIL: each piece is taken once
        results: dict[int, tuple[int, int]] = {}
        failed: list[BaseException] = []

        def work(counter: BlockCounter) -> None:
            try:
                while not failed:
                    i = next(taken)
                    if i >= len(pieces):
                        return
                    lo, hi = pieces[i]
                    results[i] = self._scan(lo, hi, counts, first, counter)
            except BaseException as exc:  # raised again in the scanner's own thread
                failed.append(exc)

        helper = threading.Thread(target=work, args=(self._counter(1),), name="octotui-index-helper", daemon=True)
        helper.start()
        try:
            work(self._counter(0))
        finally:
            helper.join()
        if failed:
            raise failed[0]
        reached, last_nl = start, -1
        for i, (_lo, hi) in enumerate(pieces):
            got, found = results[i]
            reached, last_nl = got, max(last_nl, found)
            if got < hi:  # the file shrank under the scan: what was read after this does not follow on
                for b in range((hi - 1) // block + 1 - first, len(counts)):
                    counts[b] = 0
                break
        return Batch(start, reached, counts, last_nl)

    def _scan(self, start: int, end: int, counts: array[int], first: int,
              counter: BlockCounter | None) -> tuple[int, int]:
        """Add the newlines of ``[start, end)`` to ``counts`` (entry 0 is block ``first``): where the read
        stopped (short of ``end`` when the file shrank) and the file offset of the last newline (or -1)."""
        block = self.block
        buf = counter.buffer if counter is not None else self._buffer
        pos = start
        last_nl = -1
        while pos < end:
            # Whole blocks per read where possible, so each count covers one block.
            upto = min(end, (pos // block) * block + self.read_size)
            got = self.file.read_into(pos, buf, upto - pos)
            if got <= 0:
                break
            if counter is not None:
                counter.add_counts(got, pos, block, counts, first)
            else:
                b = pos // block
                lo = 0
                while lo < got:
                    hi = min(got, (b + 1) * block - pos)
                    counts[b - first] += count_newlines(buf, self.encoding, pos, lo, hi)
                    lo = hi
                    b += 1
            found = last_newline(buf, self.encoding, pos, got)
            if found >= 0:
                last_nl = found
            pos += got
        return min(end, pos), last_nl

    def backward(self, stop: int, end: int, sizes: tuple[int, ...] = BATCH_SIZES,
                 cancelled: Callable[[], bool] = lambda: False) -> Iterator[Batch]:
        """Batches from ``end`` down to ``stop`` (a block boundary), each ending where the last began: first
        the block that holds the end (the last screenful), then ``sizes``, the last one repeated."""
        block = self.block
        hi = end
        for size in itertools.chain((1,), sizes, itertools.repeat(sizes[-1])):
            if hi <= stop or cancelled():
                return
            lo = max(stop, ((hi - size) // block) * block if hi - size > 0 else 0)
            if lo == hi:
                lo = max(stop, hi - block)
            yield self.count(lo, hi)
            hi = lo

    def forward(self, start: int, end: int, size: int = BATCH_SIZES[-1],
                cancelled: Callable[[], bool] = lambda: False) -> Iterator[Batch]:
        """Batches from ``start`` up to ``end`` (a file that grew)."""
        lo = start
        while lo < end and not cancelled():
            hi = min(end, lo + size)
            batch = self.count(lo, hi)
            if batch.end <= lo:
                return
            yield batch
            lo = batch.end


class LineIndex:
    """Where the lines of the indexed region ``[lo, end)`` of a file are, from newline counts per block.

    Lines are numbered from 0. While ``lo > 0`` the text before the region's first newline belongs to a
    line that began earlier and is not counted; the region's last line may lack its newline (a file being
    written): it is counted, and grows when the file does."""

    def __init__(self, encoding: Encoding, block: int = BLOCK) -> None:
        self.encoding = encoding
        self.block = block
        self.lo = 0
        self.end = 0
        self.started = False  # nothing applied yet: the region is empty
        self._counts: array[int] = array("I")
        self._last_nl = -1
        self._total = 0  # newlines in the region: what ``line_count`` needs, kept without summing ``_counts``
        self._cum: array[int] | None = None
        self._blocks: OrderedDict[int, list[int]] = OrderedDict()
        self._reader: Callable[[int, int], bytes] | None = None

    def attach(self, reader: Callable[[int, int], bytes]) -> None:
        """How to read the file's bytes, to find newline offsets within a block."""
        self._reader = reader
        self._blocks.clear()

    # --- building --------------------------------------------------------------------------------------
    @property
    def complete(self) -> bool:
        """The region starts at the start of the file: every line has its number."""
        return self.started and self.lo == 0

    def apply(self, batch: Batch) -> Growth:
        """Add a batch that extends the region at either end."""
        before_lines = self.line_count()
        if batch.end < batch.start:
            raise ValueError(f"empty batch [{batch.start}, {batch.end})")
        if not self.started:
            self.lo, self.end, self.started = batch.start, batch.start, True
        if batch.end == self.lo and batch.start < self.lo:
            at_front = True
        elif batch.start == self.end:
            at_front = False
        else:
            raise ValueError(f"batch [{batch.start}, {batch.end}) does not extend [{self.lo}, {self.end})")
        first = batch.start // self.block
        need = first + len(batch.counts)
        if len(self._counts) < need:
            self._counts.extend(itertools.repeat(0, need - len(self._counts)))
        counts = self._counts
        for i, c in enumerate(batch.counts, start=first):
            if c:
                counts[i] += c
        self._total += sum(batch.counts)
        self._last_nl = max(self._last_nl, batch.last_newline)
        if at_front:
            self.lo = batch.start
        else:
            self.end = batch.end
            # The last block may have been read while it was still short: read its offsets again.
            for b in range(first, need):
                self._blocks.pop(b, None)
        self._cum = None
        after_lines = self.line_count()
        # A batch at the front leaves the region's end (and so its last line) as it was: every line it
        # adds comes before the old first line.
        if at_front:
            return Growth(after_lines - before_lines, 0)
        return Growth(0, after_lines - before_lines)

    # --- counting --------------------------------------------------------------------------------------
    def _cumulative(self) -> array[int]:
        if self._cum is None:
            lo_b = self.lo // self.block
            hi_b = (self.end - 1) // self.block + 1 if self.end > self.lo else lo_b
            self._cum = array("Q", itertools.accumulate(self._counts[lo_b:hi_b], initial=0))
        return self._cum

    def newline_count(self) -> int:
        return self._total

    @property
    def _skip(self) -> int:
        """1 when the region's first newline only ends a line that began before the region."""
        return 1 if self.lo > 0 else 0

    def line_count(self) -> int:
        if not self.started:
            return 0
        n = self.newline_count()
        s = self._skip
        if n < s:
            return 0
        last_end = self._last_nl + len(self.encoding.newline) if n else self.encoding.bom if self.lo == 0 else self.end
        tail = 1 if self.end > last_end else 0
        return n - s + tail

    # --- offsets ---------------------------------------------------------------------------------------
    def _block_newlines(self, b: int) -> list[int]:
        cached = self._blocks.get(b)
        if cached is not None:
            with contextlib.suppress(KeyError):  # a search in a worker thread may have dropped it meanwhile
                self._blocks.move_to_end(b)
            return cached
        if self._reader is None:
            raise RuntimeError("LineIndex.attach(reader) was not called")
        lo = max(b * self.block, self.lo)
        hi = min((b + 1) * self.block, self.end)
        data = self._reader(lo, hi - lo) if hi > lo else b""
        found = newline_offsets(data, self.encoding, lo)
        self._blocks[b] = found
        while len(self._blocks) > BLOCK_CACHE:
            try:
                self._blocks.popitem(last=False)
            except KeyError:
                break
        return found

    def newline_at(self, j: int) -> int:
        """File offset of the region's ``j``-th newline (1-based)."""
        cum = self._cumulative()
        i = bisect.bisect_left(cum, j) - 1
        if i < 0 or j > cum[-1]:
            raise IndexError(j)
        b = self.lo // self.block + i
        offsets = self._block_newlines(b)
        return offsets[j - cum[i] - 1]

    def span(self, line: int) -> tuple[int, int]:
        """Byte range of line ``line``: its start and its end (after its newline, or the region's end)."""
        count = self.line_count()
        if not 0 <= line < count:
            raise IndexError(line)
        j = line + self._skip
        nl = len(self.encoding.newline)
        start = self.encoding.bom if j == 0 else self.newline_at(j) + nl
        end = self.newline_at(j + 1) + nl if j + 1 <= self.newline_count() else self.end
        return start, end

    def line_at(self, offset: int) -> int:
        """Number of the line that holds byte ``offset`` (clamped to the region's lines)."""
        count = self.line_count()
        if count == 0:
            return 0
        offset = max(self.lo, min(offset, self.end - 1))
        nl = len(self.encoding.newline)
        cum = self._cumulative()
        i = (offset // self.block) - self.lo // self.block
        i = max(0, min(i, len(cum) - 2))
        within = self._block_newlines(self.lo // self.block + i)
        # newlines whose line ends at or before ``offset``: their offset + nl <= offset
        c = cum[i] + bisect.bisect_right(within, offset - nl)
        return max(0, min(count - 1, c - self._skip))
