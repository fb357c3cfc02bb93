"""Search a log by text or regular expression: the next match, the previous one, how many lines match.

Searching never decodes the file line by line. The file is read in chunks of whole lines into one reused
buffer and searched as bytes: plain text with ``bytes.find`` (CPython's two-way search, the fastest scan
Python has), a regular expression compiled for bytes. A match's line is found by counting newlines before
it in the chunk. Text is looked for in both the spellings an 8-bit Windows log can have, UTF-8 and cp1252,
so "Überprüfung" is found whichever tool wrote the line. UTF-16 files (small, as installers write them) are
decoded chunk by chunk and searched as text. A count of an 8-bit file needs no index: it reads the raw file
in a thread of its own (``RawReader``) while the regular expression engine, which holds the GIL, searches.

Case: like ``less -i`` and lnav, a query in lower case ignores case; one with a capital letter does not
(``Query.case`` overrides it).
"""

from __future__ import annotations

import contextlib
import queue
import re
import subprocess
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from octotui.logs.document import LogDocument
from octotui.logs.encoding import Encoding
from octotui.logs.index import count_newlines, last_newline
from octotui.logs.logfile import LogError

#: Bytes of whole lines searched at a time.
CHUNK = 1 << 20
#: A single line longer than this is searched only in its first ``MAX_SPAN`` bytes.
MAX_SPAN = 1 << 26

Progress = Callable[[float], None]


class QueryError(LogError):
    """A search that cannot run: a regular expression that does not compile."""


@dataclass(frozen=True)
class Query:
    text: str
    regex: bool = False
    case: bool | None = None  # None: case-sensitive only when the text holds a capital letter

    @property
    def case_sensitive(self) -> bool:
        return self.case if self.case is not None else any(c.isupper() for c in self.text)

    def text_pattern(self) -> re.Pattern[str]:
        """The query for decoded text (to highlight matches in the lines a viewer draws)."""
        flags = 0 if self.case_sensitive else re.IGNORECASE
        source = self.text if self.regex else re.escape(self.text)
        try:
            return re.compile(source, flags | re.MULTILINE)
        except re.error as exc:
            raise QueryError(f"The regular expression {self.text!r} is not valid: {exc.msg}"
                             + (f" at position {exc.pos}" if exc.pos is not None else ""),
                             "correct it, or search for plain text") from exc

    def literals(self, encoding: Encoding) -> list[bytes] | None:
        """The byte strings to find with ``bytes.find``, when the query is plain, case-sensitive text."""
        if self.regex or not self.case_sensitive or encoding.wide:
            return None
        return encoding.encode_query(self.text)

    def bytes_pattern(self, encoding: Encoding) -> re.Pattern[bytes]:
        flags = re.MULTILINE | (0 if self.case_sensitive else re.IGNORECASE)
        if self.regex:
            try:
                return re.compile(self.text.encode("utf-8"), flags)
            except re.error as exc:
                raise QueryError(f"The regular expression {self.text!r} is not valid: {exc.msg}"
                                 + (f" at position {exc.pos}" if exc.pos is not None else ""),
                                 "correct it, or search for plain text") from exc
        if not self.case_sensitive and not self.text.isascii():
            # The regex engine folds only ASCII case in bytes: spell each other letter in both cases, in
            # each encoding the line may be in.
            parts = []
            for char in self.text:
                if char.isascii():
                    parts.append(re.escape(char.encode("ascii")))
                    continue
                forms = {b for c in {char, char.lower(), char.upper()} if len(c) == 1
                         for b in encoding.encode_query(c)}
                parts.append(b"(?:" + b"|".join(re.escape(b) for b in sorted(forms)) + b")")
            return re.compile(b"".join(parts), flags)
        spellings = encoding.encode_query(self.text)
        return re.compile(b"|".join(re.escape(s) for s in spellings), flags)


class Matcher:
    """A query prepared for one file's encoding.

    Counting uses the query followed by ``[^\\n]*``: each match then swallows the rest of its line, so the
    number of matches ``findall`` returns is the number of matching lines, counted in C. Plain text that
    ignores case is looked for in the chunk lowered with ``bytes.lower`` (ASCII only, so offsets do not
    move), which keeps CPython's fast literal search instead of a case-folding regular expression."""

    def __init__(self, query: Query, encoding: Encoding) -> None:
        self.query = query
        self.encoding = encoding
        if not query.text:
            raise QueryError("Nothing to search for", "type some text")
        self.text = query.text_pattern()
        self.fold = not query.regex and not query.case_sensitive and query.text.isascii() and not encoding.wide
        if self.fold:
            self.literals: list[bytes] | None = [query.text.lower().encode("ascii")]
        else:
            self.literals = query.literals(encoding)
        self.pattern: re.Pattern[bytes] | None = None
        #: One pattern per spelling (an alternation would lose the regex engine's literal-prefix scan; a
        #: line never holds both spellings of a word, so the counts add up).
        self.line_patterns: list[re.Pattern[bytes]] = []
        if not encoding.wide:
            if self.literals is not None:
                self.pattern = re.compile(b"|".join(re.escape(lit) for lit in self.literals))
                self.line_patterns = [re.compile(re.escape(lit) + rb"[^\n]*") for lit in self.literals]
            else:
                self.pattern = query.bytes_pattern(encoding)
                self.line_patterns = [re.compile(b"(?:" + self.pattern.pattern + rb")[^\n]*", self.pattern.flags)]

    def _prepared(self, data: bytes | bytearray, end: int) -> bytes | bytearray:
        return data[:end].lower() if self.fold else data

    # --- 8-bit chunks ----------------------------------------------------------------------------------
    def first(self, data: bytes | bytearray, end: int | None = None) -> int:
        """Offset of the first match in ``data[:end]``, or -1."""
        end = len(data) if end is None else end
        data = self._prepared(data, end)
        if self.literals is not None:
            found = [i for i in (data.find(lit, 0, end) for lit in self.literals) if i >= 0]
            return min(found) if found else -1
        assert self.pattern is not None
        m = self.pattern.search(data, 0, end)
        return m.start() if m else -1

    def last(self, data: bytes | bytearray, end: int | None = None) -> int:
        """Offset of the last match in ``data[:end]``, or -1."""
        end = len(data) if end is None else end
        data = self._prepared(data, end)
        if self.literals is not None:
            return max(data.rfind(lit, 0, end) for lit in self.literals)
        assert self.pattern is not None
        found = -1
        for m in self.pattern.finditer(data, 0, end):
            found = m.start()
        return found

    def count_lines(self, data: bytes | bytearray, end: int, *, lowered: bool = False) -> int:
        """Lines of ``data[:end]`` (whole lines) that hold a match; ``lowered``: the chunk is lower case
        already (see ``count``), so a query that ignores case need not lower it again."""
        if not lowered:
            data = self._prepared(data, end)
        return sum(len(p.findall(data, 0, end)) for p in self.line_patterns)

    # --- decoded (UTF-16) chunks -------------------------------------------------------------------------
    def text_first(self, text: str) -> int:
        m = self.text.search(text)
        return m.start() if m else -1

    def text_last(self, text: str) -> int:
        found = -1
        for m in self.text.finditer(text):
            found = m.start()
        return found

    def text_count_lines(self, text: str) -> int:
        n = 0
        pos = 0
        while True:
            m = self.text.search(text, pos)
            if m is None:
                return n
            n += 1
            nl = text.find("\n", m.start())
            if nl < 0:
                return n
            pos = nl + 1


@dataclass
class Chunk:
    """Whole lines of a file: ``data[:size]`` is the file from offset ``start``."""

    doc: LogDocument
    start: int
    size: int
    data: bytearray
    known_first: int | None = None
    known_lines: int | None = None

    @property
    def end(self) -> int:
        return self.start + self.size

    @property
    def first(self) -> int:
        """The number of the chunk's first line (asked of the index only when wanted)."""
        if self.known_first is None:
            self.known_first = self.doc.index.line_at(self.start)
        return self.known_first

    @property
    def lines(self) -> int:
        if self.known_lines is None:
            self.known_lines = _lines_in(self.data, self.doc.encoding, self.start, self.size)
        return self.known_lines

    def line_of(self, at: int) -> int:
        """The number of the line that holds ``data[at]``."""
        return self.doc.index.line_at(self.start + at)


def chunks(doc: LogDocument, first: int, last: int, *, backward: bool = False,
           size: int | None = None) -> Iterator[Chunk]:
    """Whole lines ``[first, last)`` in chunks of about ``size`` bytes (``CHUNK``), read into one reused
    buffer (a chunk is valid until the next one is asked for).

    The index is asked only where the range starts and ends; each chunk is cut at the last (or, going
    backward, the first) newline of what was read, and its lines are counted in C. A line longer than a
    chunk is a chunk of its own (up to ``MAX_SPAN`` of it)."""
    size = size or CHUNK
    index, enc = doc.index, doc.encoding
    last = min(last, doc.line_count)
    first = max(0, first)
    if first >= last:
        return
    nl = len(enc.newline)
    lo, hi = index.span(first)[0], index.span(last - 1)[1]
    buf = bytearray(size)
    if not backward:
        pos = lo
        while pos < hi:
            got = doc.file.read_into(pos, buf, min(size, hi - pos))
            if got <= 0:
                return
            end = got
            if pos + got < hi:
                cut = last_newline(buf, enc, pos, got)
                if cut < 0:  # one line longer than a chunk
                    chunk = _whole_line(doc, index.line_at(pos))
                    yield chunk
                    pos = index.span(chunk.first)[1]
                    continue
                end = cut + nl - pos
            yield Chunk(doc, pos, end, buf)
            pos += end
        return
    pos = hi
    while pos > lo:
        start = max(lo, pos - size)
        got = doc.file.read_into(start, buf, pos - start)
        if got <= 0:
            return
        if start > lo:
            cut = _first_newline(buf, enc, start, got)
            if cut < 0 or cut + nl >= pos:  # one line longer than a chunk
                chunk = _whole_line(doc, index.line_at(pos - 1))
                yield chunk
                pos = chunk.start
                continue
            start = cut + nl
            got = doc.file.read_into(start, buf, pos - start)
        yield Chunk(doc, start, got, buf)
        pos = start


def _lines_in(buf: bytearray, enc: Encoding, base: int, end: int) -> int:
    """Lines in ``buf[:end]`` (whole lines; the last one may lack its newline at the end of the file)."""
    n = count_newlines(buf, enc, base, 0, end)
    if end and last_newline(buf, enc, base, end) + len(enc.newline) != base + end:
        n += 1
    return n


def _first_newline(buf: bytearray, enc: Encoding, base: int, end: int) -> int:
    i = buf.find(enc.newline, 0, end)
    while i >= 0 and (base + i) % enc.unit:
        i = buf.find(enc.newline, i + 1, end)
    return base + i if i >= 0 else -1


def _whole_line(doc: LogDocument, n: int) -> Chunk:
    s, e = doc.index.span(n)
    want = min(e - s, MAX_SPAN)
    data = bytearray(want)
    got = doc.file.read_into(s, data, want)
    return Chunk(doc, s, got, data, known_first=n, known_lines=1)


def _decoded(doc: LogDocument, chunk: Chunk) -> str:
    data = bytes(chunk.data[: chunk.size - chunk.size % 2])
    return data.decode(doc.encoding.name, errors="replace")


def find(doc: LogDocument, query: Query | Matcher, after: int, *, backward: bool = False,
         cancelled: Callable[[], bool] = lambda: False) -> int | None:
    """The number of the next line after ``after`` (or with ``backward`` the previous one before it) that
    matches, or None. ``after`` may be -1 (search from the start) or ``line_count`` (from the end)."""
    matcher = query if isinstance(query, Matcher) else Matcher(query, doc.encoding)
    parts = chunks(doc, 0, after, backward=True) if backward else chunks(doc, after + 1, doc.line_count)
    for chunk in parts:
        if cancelled():
            return None
        if doc.encoding.wide:
            text = _decoded(doc, chunk)
            at = matcher.text_last(text) if backward else matcher.text_first(text)
            if at >= 0:
                return chunk.first + text.count("\n", 0, at)
            continue
        at = matcher.last(chunk.data, chunk.size) if backward else matcher.first(chunk.data, chunk.size)
        if at >= 0:
            return chunk.line_of(at)
    return None


def count(doc: LogDocument, query: Query | Matcher, *, progress: Progress | None = None,
          cancelled: Callable[[], bool] = lambda: False) -> int | None:
    """How many lines match (``grep -c``); None when cancelled.

    An 8-bit file is counted over its raw bytes, every line of the file as far as it is known, without the
    index (so a count need not wait for it): see ``RawReader``."""
    matcher = query if isinstance(query, Matcher) else Matcher(query, doc.encoding)
    if not doc.encoding.wide:
        return _count_raw(doc, matcher, progress, cancelled)
    n = 0
    for chunk in chunks(doc, 0, doc.line_count):
        if cancelled():
            return None
        if doc.encoding.wide:
            n += matcher.text_count_lines(_decoded(doc, chunk))
        else:
            n += matcher.count_lines(chunk.data, chunk.size)
        if progress is not None:
            progress(chunk.end / max(doc.index.end, 1))
    return n


@dataclass(frozen=True)
class RawChunk:
    """Whole lines: ``data[:size]`` is the file from ``start``; ``lowered`` when the reader lowered it."""

    data: bytearray
    start: int
    size: int
    lowered: bool
    pooled: bool  # one of the reader's buffers, to be given back with ``RawReader.done``
    whole: bool = True  # False: the first ``MAX_SPAN`` bytes of a longer line


class RawReader:
    """Chunks of whole lines of ``[start, end)`` of an 8-bit file, read (and with ``lower`` lowered, with numpy)
    for a search.

    With ``threaded``, by a thread of its own while the caller searches the previous chunk: the regular
    expression engine holds the GIL and runs at about 2 GB/s, and reading the next chunk (``preadv``) and
    lowering it meanwhile need no GIL. That pays only on an idle core (on a busy machine it measured slower:
    the handing over costs more than it saves), so the caller asks ``cpu.spare_core``. Buffers go round a
    small pool, so memory stays at ``POOL`` chunks. A line longer than a chunk comes whole, up to
    ``MAX_SPAN`` of it, in a buffer of its own."""

    POOL = 3

    def __init__(self, doc: LogDocument, start: int, end: int, *, lower: bool, threaded: bool,
                 size: int | None = None) -> None:
        size = size or CHUNK
        self.doc, self.start, self.end, self.size = doc, start, end, size
        self._lower: Callable[[bytearray, int], None] | None = None
        if lower:
            from octotui.logs.fastscan import AsciiLower  # numpy, imported when first needed

            self._lower = AsciiLower(size)
        self._filled: queue.Queue[RawChunk | BaseException | None] = queue.Queue()
        self._free: queue.Queue[bytearray | None] = queue.Queue()
        for _ in range(self.POOL if threaded else 1):
            self._free.put(bytearray(size))
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        if threaded:
            self._thread = threading.Thread(target=self._run, name="octotui-search-reader", daemon=True)
            self._thread.start()

    def __iter__(self) -> Iterator[RawChunk]:
        if self._thread is None:
            yield from self._chunks()
            return
        while True:
            item = self._filled.get()
            if item is None:
                return
            if isinstance(item, BaseException):
                raise item
            yield item

    def done(self, chunk: RawChunk) -> None:
        """The caller has finished with ``chunk``: its buffer may be filled again."""
        if chunk.pooled:
            self._free.put(chunk.data)

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._free.put(None)  # wakes the reader if it waits for a buffer
            self._thread.join()

    def _run(self) -> None:
        try:
            for chunk in self._chunks():
                self._filled.put(chunk)
            self._filled.put(None)
        except BaseException as exc:  # raised again in the caller's thread
            self._filled.put(exc)

    def _chunks(self) -> Iterator[RawChunk]:
        """Each chunk in turn; the next is read once the caller gave a buffer back (``done``)."""
        pos = self.start
        while pos < self.end and not self._stop.is_set():
            buf = self._free.get()
            if buf is None or self._stop.is_set():
                return
            chunk = self._read(buf, pos)
            if chunk is None:
                return
            if self._lower is not None:
                self._lower(chunk.data, chunk.size)
            yield chunk
            pos = self._next(chunk)

    def _read(self, buf: bytearray, pos: int) -> RawChunk | None:
        enc, file = self.doc.encoding, self.doc.file
        got = file.read_into(pos, buf, min(self.size, self.end - pos))
        if got <= 0:
            self._free.put(buf)
            return None
        if pos + got >= self.end:
            return RawChunk(buf, pos, got, self._lower is not None, True)
        cut = last_newline(buf, enc, pos, got)
        if cut >= 0:
            return RawChunk(buf, pos, cut + len(enc.newline) - pos, self._lower is not None, True)
        self._free.put(buf)  # one line longer than a chunk
        return self._long_line(pos)

    def _long_line(self, pos: int) -> RawChunk:
        """The line that starts at ``pos`` and is longer than a chunk: whole, or its first ``MAX_SPAN``."""
        enc, file = self.doc.encoding, self.doc.file
        span = self.size * 4
        while True:
            want = min(span, MAX_SPAN, self.end - pos)
            data = bytearray(want)
            got = file.read_into(pos, data, want)
            cut = _first_newline(data, enc, pos, got)
            if cut >= 0:
                return RawChunk(data, pos, cut + len(enc.newline) - pos, self._lower is not None, False)
            if got < want or want < span:  # the end of the file, or the most of a line that is searched
                return RawChunk(data, pos, got, self._lower is not None, False, whole=pos + got >= self.end)
            span *= 4

    def _next(self, chunk: RawChunk) -> int:
        """Where the chunk after ``chunk`` starts: after the newline that ends its last line."""
        pos = chunk.start + chunk.size
        if chunk.whole or pos >= self.end:
            return pos
        enc, file = self.doc.encoding, self.doc.file
        # A line cut at MAX_SPAN: skip the rest of it.
        probe = bytearray(self.size)
        while pos < self.end and not self._stop.is_set():
            got = file.read_into(pos, probe, min(self.size, self.end - pos))
            if got <= 0:
                return self.end
            cut = _first_newline(probe, enc, pos, got)
            if cut >= 0:
                return cut + len(enc.newline)
            pos += got
        return self.end


#: A file at least this large is counted by two processes (``countproc``): below it, starting one costs more
#: than it saves.
PROCESS_FROM = 1 << 27
#: The part of the file the child counts: less than half, since it starts later (a fresh interpreter).
CHILD_SHARE = 0.45


def _count_raw(doc: LogDocument, matcher: Matcher, progress: Progress | None,
               cancelled: Callable[[], bool]) -> int | None:
    """``count`` for an 8-bit file: every line from the file's start to the end of what is known of it; a
    large file's last part in a child process meanwhile (see ``countproc``)."""
    from octotui.logs import countproc, cpu

    end = doc.index.end if doc.index.started else doc.size_at_open
    start = min(doc.encoding.bom, end)
    mid = end
    child = None
    spare = cpu.spare_core()
    if end - start >= PROCESS_FROM and spare:
        mid = _line_start_after(doc, end - int((end - start) * CHILD_SHARE), end)
        if mid < end:
            query = matcher.query
            child = countproc.start(countproc.Request(str(doc.path), mid, end, query.text, query.regex, query.case,
                                                      countproc.encoding_fields(doc.encoding)))
        if child is None:
            mid = end
    share = (mid - start) / max(end - start, 1)
    try:
        n = count_range(doc, matcher, start, mid, None if progress is None else (lambda f: progress(f * share)),
                        cancelled, threaded=spare)
        if n is None or child is None:
            return n
        while child.poll() is None:  # the child's part: wait for it, still listening for a cancel
            if cancelled():
                return None
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.wait(timeout=0.05)
        rest = countproc.answer(child)
        if rest is None:  # the child failed: count its part here
            rest = count_range(doc, matcher, mid, end, None, cancelled)
            if rest is None:
                return None
        if progress is not None:
            progress(1.0)
        return n + rest
    finally:
        if child is not None:
            countproc.stop(child)


def _line_start_after(doc: LogDocument, pos: int, end: int) -> int:
    """The start of the first line that begins at or after ``pos`` (``end`` when none does before it)."""
    buf = bytearray(1 << 16)
    enc = doc.encoding
    at = pos - 1
    while at < end:
        got = doc.file.read_into(at, buf, min(len(buf), end - at))
        if got <= 0:
            return end
        cut = _first_newline(buf, enc, at, got)
        if cut >= 0:
            return min(end, cut + len(enc.newline))
        at += got
    return end


def count_range(doc: LogDocument, matcher: Matcher, start: int, end: int, progress: Progress | None = None,
                cancelled: Callable[[], bool] = lambda: False, *, threaded: bool = False) -> int | None:
    """Lines of an 8-bit file's ``[start, end)`` (``start`` at the start of a line) that match; None when
    cancelled. ``threaded``: read in a thread of its own (see ``RawReader``)."""
    if start >= end:
        return 0
    # Lowered in place with numpy: ``bytes.lower`` makes a new 1 MiB object per chunk, and where the heap gives
    # those back to the system (as it did here after numpy's arrays), their page faults doubled the count.
    reader = RawReader(doc, start, end, lower=matcher.fold, threaded=threaded)
    n = 0
    try:
        for chunk in reader:
            if cancelled():
                return None
            n += matcher.count_lines(chunk.data, chunk.size, lowered=chunk.lowered)
            reader.done(chunk)
            if progress is not None:
                progress((chunk.start + chunk.size - start) / (end - start))
    finally:
        reader.close()
    return n


def highlights(matcher: Matcher, text: str) -> list[tuple[int, int]]:
    """Where the query matches in one decoded line (for drawing)."""
    return [(m.start(), m.end()) for m in matcher.text.finditer(text) if m.end() > m.start()]
