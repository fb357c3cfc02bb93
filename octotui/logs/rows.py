"""Which lines a view shows, in which order: runs of consecutive lines of one source.

A level filter over a log that is mostly INFO keeps long stretches of lines, and a merged timeline of
several nodes' logs alternates between files entry by entry. Either way a view is a sequence of runs
``(source, first line, count)``; three compact arrays hold them (about 20 bytes a run), and a row is found
by bisecting the running total. A plain view of one file needs no map at all.
"""

from __future__ import annotations

import bisect
from array import array


class RowMap:
    """Rows as runs of lines; append-only (a view that follows a growing file appends)."""

    def __init__(self) -> None:
        self._source = array("H")
        self._first = array("Q")
        self._count = array("Q")
        self._cum = array("Q", [0])  # rows before run i
        self._by_source: dict[int, array[int]] = {}  # run numbers of each source, in order

    def __len__(self) -> int:
        return self._cum[-1]

    @property
    def runs(self) -> int:
        return len(self._first)

    def add(self, source: int, first: int, count: int = 1) -> None:
        """Append ``count`` lines of ``source`` from ``first`` on (joined to the last run when they follow it)."""
        if count <= 0:
            return
        if self._first and self._source[-1] == source and self._first[-1] + self._count[-1] == first:
            self._count[-1] += count
            self._cum[-1] += count
            return
        self._by_source.setdefault(source, array("Q")).append(len(self._first))
        self._source.append(source)
        self._first.append(first)
        self._count.append(count)
        self._cum.append(self._cum[-1] + count)

    def at(self, row: int) -> tuple[int, int]:
        """``(source, line)`` shown at ``row``."""
        if not 0 <= row < len(self):
            raise IndexError(row)
        i = bisect.bisect_right(self._cum, row) - 1
        return self._source[i], self._first[i] + row - self._cum[i]

    def iter_from(self, row: int, limit: int) -> list[tuple[int, int]]:
        """Up to ``limit`` rows from ``row`` on, as ``(source, line)``."""
        out: list[tuple[int, int]] = []
        if not 0 <= row < len(self):
            return out
        i = bisect.bisect_right(self._cum, row) - 1
        offset = row - self._cum[i]
        while i < len(self._first) and len(out) < limit:
            src, first, count = self._source[i], self._first[i], self._count[i]
            take = min(count - offset, limit - len(out))
            out.extend((src, first + k) for k in range(offset, offset + take))
            i += 1
            offset = 0
        return out

    def row_of(self, source: int, line: int, *, nearest: bool = True) -> int | None:
        """The row showing ``line`` of ``source``; if it is not shown and ``nearest``, the row of the next line
        of that source that is (or the last row), else None."""
        runs = self._by_source.get(source)
        if not runs:
            return (len(self) - 1 if len(self) else None) if nearest else None
        k = bisect.bisect_right(runs, line, key=lambda i: self._first[i]) - 1
        if k >= 0:
            i = runs[k]
            if line < self._first[i] + self._count[i]:
                return self._cum[i] + line - self._first[i]
        if not nearest:
            return None
        return self._cum[runs[k + 1]] if k + 1 < len(runs) else len(self) - 1

    def last_line(self, source: int) -> int | None:
        """The last line of ``source`` in the map."""
        runs = self._by_source.get(source)
        if not runs:
            return None
        i = runs[-1]
        return self._first[i] + self._count[i] - 1


def complement(runs: list[tuple[int, int]], total: int) -> list[tuple[int, int]]:
    """The runs ``(first, count)`` of ``[0, total)`` not in ``runs`` (sorted, not overlapping)."""
    out: list[tuple[int, int]] = []
    at = 0
    for first, count in runs:
        if first > at:
            out.append((at, first - at))
        at = max(at, first + count)
    if at < total:
        out.append((at, total - at))
    return out
