"""Several logs in one timeline, entry by entry, by the time each entry was written.

What lnav's merged view does for local files, for the logs of an HA install: each node's
``OctopusServer.txt`` (written in the node's local time, which ``utc_offset`` turns into Unix time), the run's
journal (Unix time already), any file with timestamps. An entry keeps its continuation lines; an entry
without a time (or a file without any) follows the entry before it. Entries with the same time keep the
order of the files given, then their order in their file.

A merged view is a ``RowMap`` of runs ``(file, first line, count)``. Merging reads every line, so it covers
at most the last ``MERGE_LINES`` lines of the files together (the latest activity, which is what a merged
view is for), and says so.
"""

from __future__ import annotations

import heapq
import re
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from octotui.logs.document import LogDocument
from octotui.logs.formats import wall_seconds
from octotui.logs.rows import RowMap
from octotui.logs.search import chunks

#: Lines merged at most, over all files.
MERGE_LINES = 2_000_000

_STAMP = re.compile(rb"(\d{4})-(\d\d)-(\d\d)[ T](\d\d):(\d\d):(\d\d)(?:[.,](\d{1,7}))?")


@dataclass(frozen=True)
class Merged:
    rows: RowMap
    #: Per file, the first line that is in the merged view (0 unless the file was too long to merge whole).
    starts: tuple[int, ...]

    @property
    def partial(self) -> bool:
        return any(self.starts)


def local_offset() -> float:
    """How far this machine's clock is ahead of UTC now (the offset of a local file's timestamps)."""
    return float(time.localtime().tm_gmtoff)


def offset_of(doc: LogDocument) -> float:
    return doc.utc_offset if doc.utc_offset is not None else local_offset()


class _Clock:
    """Wall-clock seconds of a timestamp at the start of a line, memoised by the second."""

    def __init__(self) -> None:
        self._seconds: dict[bytes, float] = {}

    def wall(self, raw: bytes) -> float | None:
        m = _STAMP.match(raw)
        if m is None:
            return None
        key = raw[: m.start(7) - 1] if m.group(7) else raw[: m.end()]
        whole = self._seconds.get(key)
        if whole is None:
            y, mo, d, h, mi, s = (int(g) for g in m.groups()[:6])
            whole = self._seconds[key] = wall_seconds(y, mo, d, h, mi, s)
            if len(self._seconds) > 100_000:
                self._seconds.clear()
        frac = m.group(7)
        return whole + (int(frac) / 10 ** len(frac) if frac else 0.0)


def entries(doc: LogDocument, first: int = 0, cancelled: Callable[[], bool] = lambda: False
            ) -> Iterator[tuple[float, int, int]]:
    """``(unix time, first line, lines)`` of each entry of ``doc`` from line ``first`` on, in file order.
    Lines before the first timed entry come first, at minus infinity."""
    head = doc.format.HEAD
    offset = offset_of(doc)
    clock = _Clock()
    when = float("-inf")
    start, count = first, 0
    bytes_fast = head is not None and not doc.encoding.wide
    for chunk in chunks(doc, first, doc.line_count):
        if cancelled():
            return
        if bytes_fast:
            assert head is not None
            raw_lines = bytes(chunk.data[: chunk.size]).split(b"\n")
            stamps: list[float | None] = [clock.wall(raw) if head.match(raw) else None
                                          for raw in raw_lines[: chunk.lines]]
        else:
            infos = [doc.format.classify(line.text) for line in doc.lines(chunk.first, chunk.lines)]
            stamps = [info.wall if info.head else None for info in infos]
        for k, wall in enumerate(stamps):
            if wall is None:
                count += 1
                continue
            if count:
                yield when, start, count
            when = wall - offset
            start, count = chunk.first + k, 1
    if count:
        yield when, start, count


def _tagged(source: int, stream: Iterator[tuple[float, int, int]]) -> Iterator[tuple[float, int, int, int]]:
    """Each entry of one file with the file's number (a function, so each stream keeps its own number)."""
    for when, line, n in stream:
        yield when, source, line, n


def merge(docs: Sequence[LogDocument], *, max_lines: int = MERGE_LINES,
          progress: Callable[[float], None] | None = None,
          cancelled: Callable[[], bool] = lambda: False) -> Merged | None:
    """The files' entries in one timeline (None when cancelled)."""
    share = max(1, max_lines // max(1, len(docs)))
    starts = tuple(max(0, doc.line_count - share) for doc in docs)
    total = sum(doc.line_count - s for doc, s in zip(docs, starts, strict=True)) or 1
    streams = [_tagged(i, entries(doc, start, cancelled))
               for i, (doc, start) in enumerate(zip(docs, starts, strict=True))]
    rows = RowMap()
    for when, i, line, n in heapq.merge(*streams, key=lambda e: (e[0], e[1])):
        del when
        if cancelled():
            return None
        rows.add(i, line, n)
        if progress is not None and len(rows) % 50_000 < n:
            progress(len(rows) / total)
    return Merged(rows, starts)


def append_new(merged: Merged, docs: Sequence[LogDocument], seen: Sequence[int]) -> list[int]:
    """Add the lines the files gained since they had ``seen[i]`` lines, in time order among themselves
    (a view that follows the files appends them at its end). Returns the new line counts."""
    streams = [_tagged(i, entries(doc, seen[i])) for i, doc in enumerate(docs) if doc.line_count > seen[i]]
    for _when, i, line, n in heapq.merge(*streams, key=lambda e: (e[0], e[1])):
        merged.rows.add(i, line, n)
    return [doc.line_count for doc in docs]
