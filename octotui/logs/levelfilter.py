"""The level filter and "jump to the next error": which lines belong to entries of the wanted levels.

An entry's continuation lines (a stack trace) take the level of the line that starts it, so filtering to
errors keeps each error with its trace and hides an INFO entry whole.

For Octopus's layout the filter does not decode every line. It looks in chunks of whole lines for the few
bytes that spell a level in the level column (`` ERROR  ``), checks that the line really starts an entry
(the NLog layout, with that level), and walks forward to the next entry's first line. It looks for the
levels that are rarer in the file (a quick count in its first and last megabytes decides): filtering a
mostly-INFO log to errors looks for errors; hiding DEBUG and TRACE looks for those and keeps the rest.
Other formats are read line by line (they are the small files: step output, journals, MSI logs).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from octotui.logs.document import LogDocument
from octotui.logs.formats import Level, LogFormat
from octotui.logs.rows import RowMap
from octotui.logs.search import Chunk, chunks

Runs = list[tuple[int, int]]
#: Bytes of the file's start and end in which level words are counted to choose what to look for.
SAMPLE = 1 << 21


def at_least(level: Level | None) -> frozenset[Level]:
    """The levels a "this level and above" filter shows (all for None)."""
    return frozenset(lv for lv in Level if level is None or lv >= level)


def _fast(doc: LogDocument) -> bool:
    return doc.format.HEAD is not None and bool(doc.format.LEVEL_TOKENS) and not doc.encoding.wide


def _sample_counts(doc: LogDocument) -> dict[Level, int]:
    size = doc.index.end
    parts = [doc.file.read(0, min(SAMPLE, size))]
    if size > 2 * SAMPLE:
        parts.append(doc.file.read(size - SAMPLE, SAMPLE))
    return {lv: sum(p.count(tok) for p in parts) for lv, tok in doc.format.LEVEL_TOKENS.items()}


@dataclass
class _Walker:
    """Finds the entries of some levels in consecutive chunks (the state that crosses a chunk boundary)."""

    fmt: LogFormat
    levels: frozenset[Level]
    open_entry: bool = False  # the previous chunk ended inside an entry of a wanted level

    def heads(self, data: bytearray, size: int) -> list[int]:
        """Offsets in ``data`` of the lines that start an entry of a wanted level."""
        head = self.fmt.HEAD
        assert head is not None
        starts: set[int] = set()
        find, rfind = data.find, data.rfind
        for level in self.levels:
            token = self.fmt.LEVEL_TOKENS[level]
            at = find(token, 0, size)
            while at >= 0:
                ls = rfind(b"\n", 0, at) + 1
                if ls not in starts:
                    m = head.match(data, ls, size)
                    if m is not None and m.group(1) == level.name.encode():
                        starts.add(ls)
                nl = find(b"\n", at, size)
                if nl < 0:
                    break
                at = find(token, nl + 1, size)
        return sorted(starts)

    def entry_lines(self, data: bytearray, size: int, start: int, continuation: bool = False) -> tuple[int, bool]:
        """Lines of the entry whose first line starts at ``start`` (with ``continuation``: the lines from
        ``start`` up to the next entry, i.e. the rest of an entry begun in the chunk before), and whether
        the entry may run on into the next chunk."""
        head = self.fmt.HEAD
        assert head is not None
        find = data.find
        lines, pos = 0, start
        if not continuation:
            lines = 1
            nl = find(b"\n", pos, size)
            if nl < 0:
                return lines, True
            pos = nl + 1
        while pos < size:
            if head.match(data, pos, size) is not None:
                return lines, False
            lines += 1
            nl = find(b"\n", pos, size)
            if nl < 0:
                return lines, True
            pos = nl + 1
        return lines, True

    def chunk_runs(self, chunk: Chunk) -> Runs:
        data, size = chunk.data, chunk.size
        runs: Runs = []
        if self.open_entry:
            n, self.open_entry = self.entry_lines(data, size, 0, continuation=True)
            if n:
                runs.append((chunk.first, n))
        line, at = chunk.first, 0
        for start in self.heads(data, size):
            line += data.count(b"\n", at, start)
            at = start
            n, self.open_entry = self.entry_lines(data, size, start)
            _add(runs, line, n)
        return runs


def _add(runs: Runs, first: int, count: int) -> None:
    if count <= 0:
        return
    if runs and runs[-1][0] + runs[-1][1] >= first:
        end = max(runs[-1][0] + runs[-1][1], first + count)
        runs[-1] = (runs[-1][0], end - runs[-1][0])
    else:
        runs.append((first, count))


class _Sink:
    """Takes the runs of found entries in order and keeps them, or with ``invert`` the lines between them."""

    def __init__(self, rows: RowMap, invert: bool, start: int = 0) -> None:
        self.rows = rows
        self.invert = invert
        self.at = start

    def found(self, first: int, count: int) -> None:
        if not self.invert:
            self.rows.add(0, first, count)
            return
        if first > self.at:
            self.rows.add(0, self.at, first - self.at)
        self.at = max(self.at, first + count)

    def finish(self, total: int) -> RowMap:
        if self.invert and self.at < total:
            self.rows.add(0, self.at, total - self.at)
        return self.rows


def level_rows(doc: LogDocument, levels: frozenset[Level], *, first: int = 0, rows: RowMap | None = None,
               progress: Callable[[float], None] | None = None,
               cancelled: Callable[[], bool] = lambda: False) -> RowMap | None:
    """The lines of ``[first, line_count)`` in entries of ``levels``, appended to ``rows`` (a new map by
    default) as source 0. Lines of unknown level count as INFO. None when cancelled."""
    rows = rows if rows is not None else RowMap()
    total = doc.line_count
    if levels >= frozenset(Level):
        rows.add(0, first, total - first)
        return rows
    if not _fast(doc) or first > 0:
        return _slow_rows(doc, levels, first, total, rows, progress, cancelled)
    counts = _sample_counts(doc)
    hidden = frozenset(Level) - levels
    look_for_hidden = sum(counts[lv] for lv in hidden) < sum(counts[lv] for lv in levels)
    walker = _Walker(doc.format, hidden if look_for_hidden else levels)
    # Lines before the first entry (a file that starts mid-entry) count as INFO.
    preamble = _preamble(doc)
    if look_for_hidden:
        sink = _Sink(rows, invert=True, start=preamble if Level.INFO not in levels else 0)
    else:
        sink = _Sink(rows, invert=False)
        if Level.INFO in levels:
            sink.found(0, preamble)
    for chunk in chunks(doc, 0, total):
        if cancelled():
            return None
        for run in walker.chunk_runs(chunk):
            sink.found(*run)
        if progress is not None:
            progress(chunk.end / max(doc.index.end, 1))
    return sink.finish(total)


def _preamble(doc: LogDocument) -> int:
    """Lines before the file's first entry (looked for in its first thousand lines)."""
    for n, info in enumerate(doc.info(0, min(doc.line_count, 1000))):
        if info.head and info.level is not None:
            return n
    return 0


def _slow_rows(doc: LogDocument, levels: frozenset[Level], first: int, total: int, rows: RowMap,
               progress: Callable[[float], None] | None, cancelled: Callable[[], bool]) -> RowMap | None:
    step = 2000
    for at in range(first, total, step):
        if cancelled():
            return None
        for number, info in zip(range(at, min(total, at + step)), doc.info(at, step), strict=False):
            level = info.level if info.level is not None else Level.INFO
            if level in levels:
                rows.add(0, number, 1)
        if progress is not None:
            progress(min(total, at + step) / max(total, 1))
    return rows


def find_level(doc: LogDocument, minimum: Level, after: int, *, backward: bool = False,
               cancelled: Callable[[], bool] = lambda: False) -> int | None:
    """The first line of the next entry (after line ``after``; with ``backward`` the previous one before
    it) whose level is ``minimum`` or above, or None."""
    wanted = at_least(minimum)
    total = doc.line_count
    if _fast(doc):
        walker = _Walker(doc.format, wanted)
        parts = chunks(doc, 0, after, backward=True) if backward else chunks(doc, after + 1, total)
        for chunk in parts:
            if cancelled():
                return None
            starts = walker.heads(chunk.data, chunk.size)
            if starts:
                at = starts[-1] if backward else starts[0]
                return chunk.line_of(at)
        return None
    step = 1000
    if backward:
        hi = after
        while hi > 0:
            if cancelled():
                return None
            lo = max(0, hi - step)
            infos = doc.info(lo, hi - lo)
            for k in range(len(infos) - 1, -1, -1):
                if infos[k].head and infos[k].level is not None and infos[k].level in wanted:
                    return lo + k
            hi = lo
        return None
    at = after + 1
    while at < total:
        if cancelled():
            return None
        for k, info in enumerate(doc.info(at, step)):
            if info.head and info.level is not None and info.level in wanted:
                return at + k
        at += step
    return None
