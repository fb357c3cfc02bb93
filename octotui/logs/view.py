"""What a log viewer shows, without the terminal: rows of one file or of several merged, a level filter,
search and "next error" in row terms.

The screen (``octotui.screens.logs``) draws rows and sends keys; everything it shows is computed here, so
the same behaviour is tested without Textual. Work that reads a whole file (a filter, a merge, a count) is
split in two: ``compute_*`` reads and returns a value (for a worker thread) and ``set_*`` installs it (on
the thread that draws).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from octotui.logs.document import LogDocument
from octotui.logs.formats import Level
from octotui.logs.index import Growth
from octotui.logs.levelfilter import at_least, find_level, level_rows
from octotui.logs.merge import Merged, append_new, merge
from octotui.logs.rows import RowMap
from octotui.logs.search import Matcher, Query, find


@dataclass(frozen=True)
class Row:
    """One row as drawn."""

    row: int
    source: int
    number: int  # the line's number in its file
    text: str  # as the format renders it
    level: Level | None
    head: bool  # the line starts an entry
    cut: bool  # a long line shown in part
    size: int  # the line's length in bytes
    wall: float | None


class Review:
    """One log, or several merged into one timeline, as rows."""

    def __init__(self, docs: Sequence[LogDocument], labels: Sequence[str] | None = None) -> None:
        if not docs:
            raise ValueError("a review needs at least one log")
        self.docs = list(docs)
        self.labels = list(labels) if labels is not None else [d.label for d in docs]
        self.min_level: Level | None = None
        self.rows: RowMap | None = None  # None: every line of docs[0], in order
        self.merged: Merged | None = None
        self._seen: list[int] = [d.line_count for d in docs]
        self._matchers: dict[tuple[int, Query], Matcher] = {}

    # --- shape -------------------------------------------------------------------------------------------
    @property
    def doc(self) -> LogDocument:
        return self.docs[0]

    @property
    def is_merged(self) -> bool:
        return self.merged is not None

    def row_count(self) -> int:
        return len(self.rows) if self.rows is not None else self.doc.line_count

    def at(self, row: int) -> tuple[int, int]:
        """``(source, line)`` of a row."""
        if self.rows is None:
            return 0, row
        return self.rows.at(row)

    def row_of(self, source: int, line: int) -> int:
        """The row of a line, or of the nearest shown line after it."""
        if self.rows is None:
            return max(0, min(line, self.row_count() - 1))
        found = self.rows.row_of(source, line)
        return found if found is not None else 0

    def shown(self, source: int, line: int) -> bool:
        return self.rows is None or self.rows.row_of(source, line, nearest=False) is not None

    # --- rows --------------------------------------------------------------------------------------------
    def lines(self, first: int, count: int) -> list[Row]:
        """Rows ``first`` to ``first + count - 1`` (fewer at the end)."""
        total = self.row_count()
        first = max(0, first)
        count = min(count, total - first)
        if count <= 0:
            return []
        if self.rows is None:
            pairs = [(0, n) for n in range(first, first + count)]
        else:
            pairs = self.rows.iter_from(first, count)
        out: list[Row] = []
        i = 0
        while i < len(pairs):
            src, line = pairs[i]
            j = i + 1
            while j < len(pairs) and pairs[j][0] == src and pairs[j][1] == pairs[j - 1][1] + 1:
                j += 1
            doc = self.docs[src]
            got = doc.lines(line, j - i)
            infos = doc.info(line, j - i)
            for k, (ln, info) in enumerate(zip(got, infos, strict=False)):
                out.append(Row(first + i + k, src, ln.number, doc.format.render(ln.text), info.level, info.head,
                               ln.cut, ln.size, info.wall))
            i = j
        return out

    def label(self, source: int) -> str:
        return self.labels[source] if source < len(self.labels) else str(source)

    # --- searching ---------------------------------------------------------------------------------------
    def matcher(self, source: int, query: Query) -> Matcher:
        key = (source, query)
        found = self._matchers.get(key)
        if found is None:
            found = self._matchers[key] = Matcher(query, self.docs[source].encoding)
        return found

    def find(self, query: Query, from_row: int, *, backward: bool = False,
             cancelled: Callable[[], bool] = lambda: False) -> int | None:
        """The next row after ``from_row`` (or the previous one before it) holding a match, or None."""
        if self.rows is None or not self.is_merged:
            return self._find_in(0, lambda line, back: find(self.doc, self.matcher(0, query), line, backward=back,
                                                            cancelled=cancelled), from_row, backward, cancelled)
        return self._scan_rows(lambda row: bool(self.matcher(row.source, query).text.search(row.text)),
                               from_row, backward, cancelled)

    def next_level(self, minimum: Level, from_row: int, *, backward: bool = False,
                   cancelled: Callable[[], bool] = lambda: False) -> int | None:
        """The next row (or previous) that starts an entry of ``minimum`` level or above."""
        if self.rows is None or not self.is_merged:
            return self._find_in(0, lambda line, back: find_level(self.doc, minimum, line, backward=back,
                                                                  cancelled=cancelled), from_row, backward, cancelled)
        return self._scan_rows(lambda row: row.head and row.level is not None and row.level >= minimum,
                               from_row, backward, cancelled)

    def _find_in(self, source: int, finder: Callable[[int, bool], int | None], from_row: int, backward: bool,
                 cancelled: Callable[[], bool]) -> int | None:
        """Search one file from the line at ``from_row``, skipping matches the filter hides."""
        total = self.row_count()
        if total == 0:
            return None
        if self.rows is None:
            line = from_row
        elif 0 <= from_row < total:
            line = self.rows.at(from_row)[1]
        else:
            line = -1 if from_row < 0 else self.docs[source].line_count
        while not cancelled():
            found = finder(line, backward)
            if found is None:
                return None
            if self.rows is None:
                return found
            row = self.rows.row_of(source, found, nearest=False)
            if row is not None:
                return row
            line = found
        return None

    def _scan_rows(self, test: Callable[[Row], bool], from_row: int, backward: bool,
                   cancelled: Callable[[], bool]) -> int | None:
        step = 500
        total = self.row_count()
        if backward:
            hi = min(from_row, total)
            while hi > 0 and not cancelled():
                lo = max(0, hi - step)
                for row in reversed(self.lines(lo, hi - lo)):
                    if test(row):
                        return row.row
                hi = lo
            return None
        at = max(0, from_row + 1)
        while at < total and not cancelled():
            for row in self.lines(at, step):
                if test(row):
                    return row.row
            at += step
        return None

    # --- the level filter --------------------------------------------------------------------------------
    def compute_filter(self, minimum: Level | None, *, progress: Callable[[float], None] | None = None,
                       cancelled: Callable[[], bool] = lambda: False) -> RowMap | None:
        """The rows of a filter to ``minimum`` and above (for a worker); None for no filter, or cancelled."""
        if minimum is None or self.is_merged:
            return None
        return level_rows(self.doc, at_least(minimum), progress=progress, cancelled=cancelled)

    def set_filter(self, minimum: Level | None, rows: RowMap | None) -> None:
        self.min_level = minimum if rows is not None else None
        self.rows = rows
        self._seen[0] = self.doc.line_count

    # --- merging -----------------------------------------------------------------------------------------
    def compute_merge(self, *, progress: Callable[[float], None] | None = None,
                      cancelled: Callable[[], bool] = lambda: False) -> Merged | None:
        return merge(self.docs, progress=progress, cancelled=cancelled)

    def set_merged(self, merged: Merged | None) -> None:
        self.merged = merged
        self.rows = merged.rows if merged is not None else None
        self.min_level = None
        self._seen = [d.line_count for d in self.docs]

    # --- following ---------------------------------------------------------------------------------------
    def grown(self, source: int, growth: Growth | None = None) -> int:
        """A file got new lines (``LogDocument.poll``): add those the view shows. Returns rows added."""
        before = self.row_count()
        doc = self.docs[source]
        if self.merged is not None:
            self._seen = append_new(self.merged, self.docs, self._seen)
        elif self.rows is not None and self.min_level is not None and source == 0:
            last = self.rows.last_line(0)
            start = max(self._seen[0], last + 1 if last is not None else 0)
            level_rows(doc, at_least(self.min_level), first=start, rows=self.rows)
            self._seen[0] = doc.line_count
        else:
            self._seen[source] = doc.line_count
        return self.row_count() - before

    def reset(self) -> None:
        """After a file was rolled: no filter and no merge until they are computed again."""
        self.rows = None
        self.merged = None
        self.min_level = None
        self._seen = [d.line_count for d in self.docs]
        self._matchers.clear()
