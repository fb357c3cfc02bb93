"""One log file ready for a viewer: its index, its format, its lines by number, and following it.

A viewer opens a ``LogDocument``, runs ``initial_batches`` in a worker thread and ``apply``s each batch
on its own thread (the first batch is the file's last block, so its last lines show at once), reads the
lines it draws with ``lines``, and calls ``poll`` a few times a second to follow the file: new lines are
indexed as they come, and a file that is rolled (renamed away and recreated, as NLog archives
``OctopusServer.txt``) or truncated is reopened from its new start.
"""

from __future__ import annotations

import contextlib
from array import array
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from octotui.logs.encoding import Encoding
from octotui.logs.formats import LineInfo, LogFormat, detect_format
from octotui.logs.index import BLOCK, Batch, Growth, LineIndex, Scanner
from octotui.logs.logfile import Change, LogFile

#: A line longer than this is shown cut, with its full length (a 50 MB line must not cost 50 MB to draw).
MAX_LINE_BYTES = 1 << 16
#: Bytes read at once when several lines are wanted together.
READ_AT_ONCE = 1 << 22
#: Decoded lines kept.
LINE_CACHE = 4096
#: How far back a continuation line looks for the line that starts its entry (its level).
ENTRY_LOOKBACK = 500
#: At most this much of a grown file is indexed per ``poll`` (the rest on the next), so a poll stays short.
POLL_BYTES = 1 << 25
#: Bytes of the file's start read to detect its format.
FORMAT_SAMPLE = 1 << 16


@dataclass(frozen=True)
class Line:
    """One line as a viewer draws it."""

    number: int
    text: str
    start: int
    end: int
    cut: bool = False  # only the start of the line is in ``text``

    @property
    def size(self) -> int:
        return self.end - self.start


@dataclass(frozen=True)
class Poll:
    change: Change
    growth: Growth | None = None


class LogDocument:
    """A log file, indexed as far as batches have been applied."""

    def __init__(self, path: str | Path, *, label: str | None = None, encoding: Encoding | None = None,
                 fmt: LogFormat | None = None, utc_offset: float | None = None, block: int = BLOCK) -> None:
        self.path = Path(path)
        self.label = label or self.path.name
        self._fixed_format = fmt
        self._fixed_encoding = encoding
        #: Seconds the clock that wrote the file is ahead of UTC (None: this machine's local time).
        self.utc_offset = utc_offset
        self.block = block
        self.rolls = 0  # how often the file was rolled or truncated while open
        self._open(LogFile(self.path, encoding))

    def _open(self, file: LogFile) -> None:
        self.file = file
        self.encoding = file.encoding
        self.index = LineIndex(file.encoding, self.block)
        self.index.attach(file.read)
        self.size_at_open = file.size()
        self.format = self._fixed_format or self._detect_format()
        self._cache: OrderedDict[tuple[int, int], str] = OrderedDict()
        self._poll_scanner = Scanner(file, self.block, read_size=1 << 20)

    def _detect_format(self) -> LogFormat:
        head = self.file.read(0, FORMAT_SAMPLE)
        if self.encoding.wide:
            head = head[: len(head) - len(head) % 2]
            text = head.decode(self.encoding.name, errors="replace")
        else:
            text = head.decode("utf-8", errors="replace")
        lines = text.lstrip("\ufeff").split("\n")[:-1] or [text]
        return detect_format([ln.rstrip("\r") for ln in lines], self.path.name)

    # --- building the index ------------------------------------------------------------------------------
    def initial_batches(self, cancelled: Callable[[], bool] = lambda: False) -> Iterator[Batch]:
        """The scan of the file as it was when opened, from its end backwards: for a worker thread."""
        if self.size_at_open == 0:
            return iter([Batch(0, 0, array("I"))])  # an empty file is indexed, with no lines
        scanner = Scanner(self.file, self.block)
        return scanner.backward(0, self.size_at_open, cancelled=cancelled)

    def apply(self, batch: Batch) -> Growth:
        return self.index.apply(batch)

    def build(self) -> LogDocument:
        """Index the whole file now (for scripts and tests; a viewer uses ``initial_batches``)."""
        for batch in self.initial_batches():
            self.apply(batch)
        return self

    @property
    def complete(self) -> bool:
        return self.index.complete or (self.size_at_open == 0 and self.index.started)

    @property
    def progress(self) -> float:
        """How much of the file as opened is indexed, 0 to 1."""
        if self.size_at_open <= 0:
            return 1.0
        return min(1.0, (self.size_at_open - self.index.lo) / self.size_at_open) if self.index.started else 0.0

    # --- lines -------------------------------------------------------------------------------------------
    @property
    def line_count(self) -> int:
        return self.index.line_count()

    def lines(self, first: int, count: int) -> list[Line]:
        """Lines ``first`` to ``first + count - 1`` (fewer at the end), decoded, long ones cut."""
        last = min(self.line_count, first + count)
        first = max(0, first)
        if last <= first:
            return []
        spans = [self.index.span(n) for n in range(first, last)]
        out: list[Line] = []
        start, end = spans[0][0], spans[-1][1]
        data: bytes | None = None
        if end - start <= READ_AT_ONCE:
            data = self.file.read(start, end - start)
        for n, (s, e) in zip(range(first, last), spans, strict=True):
            out.append(self._line(n, s, e, data, start))
        return out

    def line(self, number: int) -> Line:
        return self.lines(number, 1)[0]

    def _line(self, number: int, start: int, end: int, data: bytes | None, base: int) -> Line:
        key = (start, end)
        cut = end - start > MAX_LINE_BYTES
        text = self._cache.get(key)
        if text is None:
            upto = min(end, start + MAX_LINE_BYTES)
            raw = data[start - base: upto - base] if data is not None else self.file.read(start, upto - start)
            text = self.encoding.decode(raw, cut=cut)
            if cut and text.endswith("\ufffd"):
                text = text.rstrip("\ufffd")  # a UTF-16 character cut by the limit
            self._cache[key] = text
            while len(self._cache) > LINE_CACHE:  # (a worker thread may be reading lines too)
                try:
                    self._cache.popitem(last=False)
                except KeyError:
                    break
        else:
            with contextlib.suppress(KeyError):
                self._cache.move_to_end(key)
        return Line(number, text, start, end, cut)

    def info(self, first: int, count: int) -> list[LineInfo]:
        """What the format reads from each line; continuation lines carry the level and time of the line
        that starts their entry (looked up to ``ENTRY_LOOKBACK`` lines back)."""
        lines = self.lines(first, count)
        infos = [self.format.classify(ln.text) for ln in lines]
        if infos and not infos[0].head and first > 0:
            start = self.entry_start(first - 1)
            found = self.format.classify(self.line(start).text)
            if found.head:
                infos[0] = LineInfo(False, found.level, found.wall)
        for i in range(1, len(infos)):
            if not infos[i].head:
                infos[i] = LineInfo(False, infos[i - 1].level, infos[i - 1].wall)
        return infos

    def entry_start(self, number: int) -> int:
        """The line that starts the entry ``number`` belongs to (itself for a one-line entry)."""
        hi = number + 1
        for reach in (16, 128, ENTRY_LOOKBACK):  # most entries are a line or a short stack trace
            lo = max(0, number + 1 - reach)
            for ln in reversed(self.lines(lo, hi - lo)):
                if self.format.classify(ln.text).head:
                    return ln.number
            if lo == 0:
                break
            hi = lo
        return number

    # --- following -----------------------------------------------------------------------------------------
    def poll(self, max_bytes: int = POLL_BYTES) -> Poll:
        """Look at the file again: index what was appended (up to ``max_bytes`` now), or reopen it when it
        was rolled or truncated (then the index starts again, and a viewer runs ``initial_batches``)."""
        change = self.file.check(self.index.end)
        if change is Change.GREW and not self.index.started:
            return Poll(Change.SAME)  # the first batch is not applied yet: it will cover this
        if change is Change.SAME and self.file.resniff():
            change = Change.ROLLED
        if change is Change.GREW:
            if self.file.resniff():
                return self._reopen()
            size = self.file.size()
            batch = self._poll_scanner.count(self.index.end, min(size, self.index.end + max_bytes))
            if batch.end <= self.index.end:
                return Poll(Change.SAME)
            # A last line drawn before it was complete is cached under its old end, so it is read again.
            return Poll(Change.GREW, self.index.apply(batch))
        if change is Change.ROLLED:
            return self._reopen()
        return Poll(change)

    def _reopen(self) -> Poll:
        old = self.file
        try:
            new = LogFile(self.path, self._fixed_encoding)
        except Exception:
            return Poll(Change.GONE)
        old.close()
        self.rolls += 1
        self._open(new)
        return Poll(Change.ROLLED)

    def close(self) -> None:
        self.file.close()

    def __enter__(self) -> LogDocument:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
