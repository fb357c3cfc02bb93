"""Reviewing logs: a run's journal and step output, a node's OctopusServer.txt over WinRM, any file, fast.

The engine (``octotui.logs``) does the work; this is its face. ``LogLines`` is a Line API widget (a
``ScrollView`` whose height is the number of rows) that draws only the rows on screen, reading them from the
file as they are drawn; it never holds the file. Everything that reads a whole file runs in a thread worker
and reports by message: the line index (its first batch is the file's last block, so the latest lines show
at once, and every later batch shifts the view by the lines it added above), the level filter, the merge, a
search, a count, fetching and following a node's log.

Keys: / search (``re:`` before a regular expression), n and N next and previous match, c count matches,
e and E next and previous error, l level filter, w wrap, f follow, m merge (the nodes' logs, or the files
given), L fetch earlier lines of a node log, o open another log, p hand the file to $PAGER, g and G top and
bottom, F1 help, escape back.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import time
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

from octotui.screens.base import PALETTE_HINT_MIN_WIDTH
from rich.cells import cell_len
from rich.style import Style
from rich.text import Text
from textual import events, work
from textual.actions import SkipAction
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.geometry import Size
from textual.message import Message
from textual.screen import ModalScreen, Screen
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.timer import Timer
from textual.widgets import Footer, Input, Label, OptionList, Static
from textual.widgets.option_list import Option
from textual.worker import get_current_worker

from octotui.logs.document import LogDocument
from octotui.logs.formats import Level
from octotui.logs.index import Batch
from octotui.logs.logfile import Change, LogError
from octotui.logs.search import Query
from octotui.logs.sources import Source
from octotui.logs.view import Review, Row
from octotui.textsafe import escape_controls

#: How often a followed local file is looked at.
POLL_S = 0.3
#: How often a followed node log is asked for what it gained.
NODE_POLL_S = 1.0
#: The level filter's steps (l cycles through them).
FILTERS: tuple[Level | None, ...] = (None, Level.ERROR, Level.WARN, Level.INFO, Level.DEBUG)
#: A file this small is indexed again at once after a roll; a bigger one in the background.
REINDEX_NOW = 32 << 20
#: While a log is indexed, its batches after the first are applied together at most this often (seconds): each
#: application redraws the view, which holds the GIL for tens of milliseconds, and the indexing thread needs
#: the GIL back after every read (a redraw per batch made a 1 GB log's index ten times slower in the viewer).
INDEX_REDRAW_S = 0.25
_MARKS = {Level.TRACE: "T", Level.DEBUG: "D", Level.INFO: " ", Level.WARN: "W", Level.ERROR: "E", Level.FATAL: "F"}


# --- messages from the workers ----------------------------------------------------------------------------

class IndexBatch(Message):
    def __init__(self, gen: int, source: int, batch: Batch) -> None:
        super().__init__()
        self.gen, self.source, self.batch = gen, source, batch


class IndexDone(Message):
    def __init__(self, gen: int, source: int) -> None:
        super().__init__()
        self.gen, self.source = gen, source


class JobDone(Message):
    """A worker's one-shot job (filter, merge, find, count, failing line, fetch) ended."""

    def __init__(self, gen: int, name: str, value: Any = None, error: BaseException | None = None) -> None:
        super().__init__()
        self.gen, self.name, self.value, self.error = gen, name, value, error


class IndexFailed(Message):
    def __init__(self, gen: int, error: BaseException) -> None:
        super().__init__()
        self.gen, self.error = gen, error


class JobProgress(Message):
    def __init__(self, gen: int, name: str, fraction: float) -> None:
        super().__init__()
        self.gen, self.name, self.fraction = gen, name, fraction


class ScrolledAway(Message):
    """The user scrolled up: stop following until asked again (f, G, End)."""


class NodeChanged(Message):
    """A followed node log's local copy gained lines or was replaced."""

    def __init__(self, gen: int, state: str) -> None:
        super().__init__()
        self.gen, self.state = gen, state


# --- the rows -------------------------------------------------------------------------------------------

class SearchBox(Input):
    """The search line, which submits on Enter at once and then lets go of the keys that follow.

    Why: keys that arrive together (typed ahead over a slow SSH link, or pasted) are all handed to the widget
    that has focus when they arrive. A plain ``Input`` posts its submission as a message, so the "n" or "c"
    typed right after Enter would be typed into the closing box before the search was even set; here Enter
    calls the screen at once, and the keys after it pass on to the screen's bindings (the lines have focus
    by then)."""

    def __init__(self, on_submit: Callable[[str], None], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._on_submit = on_submit

    @property
    def is_open(self) -> bool:
        return self.has_class("-shown")

    def open(self) -> None:
        self.add_class("-shown")

    def close(self) -> None:
        self.remove_class("-shown")

    def _on_key(self, event: events.Key) -> None:
        # Textual then calls ``Input._on_key`` (each class's handler in turn) unless the default is prevented.
        if not self.is_open:
            event.prevent_default()  # not typed, and not stopped: the key goes on up to the screen's bindings
        elif event.key == "enter":
            event.stop()
            event.prevent_default()
            self.close()
            self._on_submit(self.value)


class LogLines(ScrollView, can_focus=True):
    """The rows of a ``Review``, drawn on demand."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "loglines--gutter", "loglines--error", "loglines--warn", "loglines--debug", "loglines--match",
        "loglines--cursor", "loglines--note", "loglines--source",
    }
    DEFAULT_CSS = """
    LogLines { height: 1fr; background: $surface; }
    LogLines > .loglines--gutter { color: $text-muted; }
    LogLines > .loglines--error { color: $error; }
    LogLines > .loglines--warn { color: $warning; }
    LogLines > .loglines--debug { color: $text-muted; }
    LogLines > .loglines--match { background: $warning 60%; color: $text; }
    LogLines > .loglines--cursor { background: $primary 40%; }
    LogLines > .loglines--note { color: $text-muted; text-style: italic; }
    LogLines > .loglines--source { color: $accent; }
    """

    def __init__(self, review: Review | None = None, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.review = review
        self.wrap = False
        self.cursor: int | None = None
        self.search_query: Query | None = None
        self._cache: OrderedDict[tuple[Any, ...], Strip] = OrderedDict()
        self._layout: tuple[tuple[Any, ...], list[tuple[int, int]]] | None = None
        self._page: tuple[tuple[int, int], list[Row]] | None = None
        self._content_width = 80
        self._gen = 0
        self._want_end = False  # a scroll to the end is asked for (it is done again after a layout)

    # --- state -----------------------------------------------------------------------------------------
    def set_review(self, review: Review | None) -> None:
        self.review = review
        self.cursor = None
        self.changed()

    def changed(self) -> None:
        """The rows changed (grew, filtered, merged, wrapped): drop what was drawn."""
        self._gen += 1
        self._cache.clear()
        self._layout = None
        self._page = None
        rows = self.review.row_count() if self.review else 0
        height = rows + (max(0, self.size.height - 1) if self.wrap else 0)
        width = self.size.width if self.wrap else self._gutter_width() + self._content_width
        self.virtual_size = Size(width, height)
        self.refresh()

    @property
    def rows(self) -> int:
        return self.review.row_count() if self.review else 0

    @property
    def top_row(self) -> int:
        return int(self.scroll_offset.y)

    @property
    def at_bottom(self) -> bool:
        return self.scroll_offset.y >= self.max_scroll_y - 0.5

    def go_to_row(self, row: int, *, center: bool = True) -> None:
        """Show ``row`` (in the middle of the screen with ``center``) and mark it."""
        self._want_end = False
        self.cursor = row
        height = max(1, self.size.height)
        top = max(0, row - height // 3) if center else row
        y = min(top, self.max_scroll_y) if not self.wrap else top
        self.scroll_to(y=y, animate=False, immediate=True, force=True)
        self.changed()

    def go_to_end(self) -> None:
        """Show the last rows (now, and again once the new size is laid out, unless the user went
        elsewhere meanwhile)."""
        self._want_end = True
        self._scroll_end()
        self.call_after_refresh(self._scroll_end)

    def go_to_top(self) -> None:
        self._want_end = False
        self.scroll_to(y=0, animate=False, immediate=True, force=True)

    def _scroll_end(self) -> None:
        if not self._want_end:
            return
        top = self._bottom_top() if self.wrap else self.max_scroll_y
        self.scroll_to(y=top, animate=False, immediate=True, force=True)
        self.refresh()

    def shift(self, rows: int) -> None:
        """Rows were added above what is shown: keep showing the same rows."""
        if rows <= 0:
            return
        if self.cursor is not None:
            self.cursor += rows
        self.changed()
        self.scroll_to(y=self.scroll_offset.y + rows, animate=False, immediate=True, force=True)

    # --- drawing ---------------------------------------------------------------------------------------
    def _gutter_width(self) -> int:
        if not self.review:
            return 0
        digits = len(str(max((d.line_count for d in self.review.docs), default=1)))
        label = max((len(x) for x in self.review.labels), default=0) + 1 if self.review.is_merged else 0
        return digits + 3 + label

    def _style(self, name: str) -> Style:
        return self.get_component_rich_style(f"loglines--{name}")

    def _level_style(self, row: Row) -> Style | None:
        if row.level is None:
            return None
        if row.level >= Level.ERROR:
            return self._style("error")
        if row.level == Level.WARN:
            return self._style("warn")
        if row.level <= Level.DEBUG:
            return self._style("debug")
        return None

    def _content(self, row: Row) -> Text:
        text = Text(escape_controls(row.text.expandtabs(4)), no_wrap=True, end="")
        level_style = self._level_style(row)
        if level_style is not None:
            text.stylize(level_style)
        if self.search_query is not None and self.review is not None:
            try:
                pattern = self.review.matcher(row.source, self.search_query).text
            except LogError:
                pattern = None
            if pattern is not None:
                match_style = self._style("match")
                for m in pattern.finditer(text.plain):
                    if m.end() > m.start():
                        text.stylize(match_style, m.start(), m.end())
        if row.cut:
            text.append(f" …[line of {row.size:,} bytes, shown in part]", self._style("note"))
        return text

    def _gutter(self, row: Row, first_piece: bool) -> Text:
        assert self.review is not None
        digits = len(str(max((d.line_count for d in self.review.docs), default=1)))
        gutter = Text(no_wrap=True, end="")
        if self.review.is_merged:
            width = max(len(x) for x in self.review.labels) + 1
            label = self.review.label(row.source) if first_piece else ""
            gutter.append(f"{label:<{width}}", self._style("source"))
        number = str(row.number + 1) if first_piece else ""
        mark = _MARKS.get(row.level, " ") if (row.level is not None and first_piece) else " "
        gutter.append(f"{number:>{digits}} {mark} ", self._style("gutter"))
        level_style = self._level_style(row)
        if level_style is not None and mark.strip():
            gutter.stylize(level_style, len(gutter.plain) - 2, len(gutter.plain) - 1)
        return gutter

    def _rows(self, first: int, count: int) -> list[Row]:
        if self.review is None:
            return []
        try:
            return self.review.lines(first, count)
        except (LogError, IndexError, OSError):
            return []

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        base = self.rich_style
        if self.review is None or width <= 0:
            return Strip.blank(width, base)
        scroll_x, scroll_y = int(self.scroll_offset.x), int(self.scroll_offset.y)
        if self.wrap:
            layout = self._wrap_layout(scroll_y, width)
            if y >= len(layout):
                return Strip.blank(width, base)
            row_number, piece = layout[y]
            return self._wrapped_strip(row_number, piece, width)
        row_number = scroll_y + y
        key = (self._gen, row_number, scroll_x, width)
        strip = self._cache.get(key)
        if strip is None:
            row = self._page_row(scroll_y, row_number)
            strip = self._plain_strip(row, scroll_x, width) if row is not None else Strip.blank(width, base)
            self._cache[key] = strip
            if len(self._cache) > 1000:
                self._cache.popitem(last=False)
        return strip

    def _page_row(self, top: int, row_number: int) -> Row | None:
        """A row of the screenful starting at ``top``, read with its neighbours in one go (a row read alone
        would read its file again, and look again for the start of its entry)."""
        key = (self._gen, top)
        if self._page is None or self._page[0] != key:
            self._page = (key, self._rows(top, max(1, self.size.height)))
            widest = max((len(r.text) + (40 if r.cut else 0) for r in self._page[1]), default=0)
            if widest + 1 > self._content_width and not self.wrap:
                # Wide enough to scroll to the end of the widest line seen (kept: no jumping back).
                self._content_width = min(100_000, widest + 1)
                self.virtual_size = Size(self._gutter_width() + self._content_width, self.virtual_size.height)
        rows = self._page[1]
        k = row_number - top
        if 0 <= k < len(rows):
            return rows[k]
        got = self._rows(row_number, 1)
        return got[0] if got else None

    def _finish(self, strip: Strip, row: Row, width: int) -> Strip:
        strip = strip.crop_extend(0, width, self.rich_style)
        if row.row == self.cursor:
            strip = strip.apply_style(self._style("cursor"))
        return strip

    def _plain_strip(self, row: Row, scroll_x: int, width: int) -> Strip:
        console = self.app.console
        gutter = self._gutter(row, True)
        content = self._content(row)
        gutter_strip = Strip(gutter.render(console), gutter.cell_len)
        body = Strip(content.render(console), content.cell_len).crop_extend(
            scroll_x, scroll_x + max(0, width - gutter.cell_len), self.rich_style)
        return self._finish(Strip.join([gutter_strip, body]), row, width)

    def _pieces(self, row: Row, width: int) -> list[Text]:
        avail = max(8, width - self._gutter_width())
        content = self._content(row)
        if content.cell_len <= avail:
            return [content]
        pieces: list[Text] = []
        start = 0
        plain = content.plain
        while start < len(plain):
            end, used = start, 0
            while end < len(plain) and used + cell_len(plain[end]) <= avail:
                used += cell_len(plain[end])
                end += 1
            end = max(end, start + 1)
            pieces.append(content[start:end])
            start = end
        return pieces

    def _wrap_layout(self, top: int, width: int) -> list[tuple[int, int]]:
        key = (self._gen, top, width, self.size.height)
        if self._layout is not None and self._layout[0] == key:
            return self._layout[1]
        layout: list[tuple[int, int]] = []
        height = self.size.height
        for row in self._rows(top, height):
            for piece in range(len(self._pieces(row, width))):
                layout.append((row.row, piece))
            if len(layout) >= height:
                break
        self._layout = (key, layout[:height])
        return self._layout[1]

    def _wrapped_strip(self, row_number: int, piece: int, width: int) -> Strip:
        key = (self._gen, "wrap", row_number, piece, width)
        strip = self._cache.get(key)
        if strip is not None:
            return strip
        rows = self._rows(row_number, 1)
        if not rows:
            return Strip.blank(width, self.rich_style)
        row = rows[0]
        console = self.app.console
        pieces = self._pieces(row, width)
        gutter = self._gutter(row, piece == 0)
        text = pieces[min(piece, len(pieces) - 1)]
        strip = Strip.join([Strip(gutter.render(console), gutter.cell_len),
                            Strip(text.render(console), text.cell_len)])
        strip = self._finish(strip, row, width)
        self._cache[key] = strip
        return strip

    def _bottom_top(self) -> int:
        """In wrap mode, the top row that puts the last row at the bottom of the screen."""
        width, height = self.size.width, max(1, self.size.height)
        used, row = 0, self.rows - 1
        while row >= 0:
            got = self._rows(row, 1)
            used += len(self._pieces(got[0], width)) if got else 1
            if used > height:
                return row + 1
            row -= 1
        return 0

    def on_resize(self) -> None:
        self.changed()

    # --- the user scrolling up stops following (as in less +F, and Toolong) ---------------------------
    def _scrolled_away(self) -> None:
        self._want_end = False
        self.post_message(ScrolledAway())

    def action_scroll_up(self) -> None:
        self._scrolled_away()
        super().action_scroll_up()

    def action_page_up(self) -> None:
        self._scrolled_away()
        super().action_page_up()

    def action_scroll_home(self) -> None:
        self._scrolled_away()
        super().action_scroll_home()

    def on_mouse_scroll_up(self) -> None:
        self._scrolled_away()


# --- choosing a log -----------------------------------------------------------------------------------------

class SourcePicker(ModalScreen["Source | str | None"]):
    """The logs there are to open, other runs, or a path typed in."""

    DEFAULT_CSS = """
    SourcePicker { align: center middle; }
    SourcePicker > #picker { width: 100; max-width: 100%; height: auto; max-height: 90%; border: round $primary;
                             background: $surface; padding: 0 1; }
    SourcePicker OptionList { height: auto; max-height: 20; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "close", "Close", id="close")]

    def __init__(self, sources: list[Source], runs: list[tuple[str, str]]) -> None:
        super().__init__()
        self.sources = sources
        self.runs = runs

    def compose(self) -> ComposeResult:
        from textual.containers import Vertical

        with Vertical(id="picker"):
            yield Label("Open a log", classes="dialog-title", markup=False)
            options = OptionList(id="choices")
            yield options
            yield Input(placeholder="or the path of a file, then Enter", id="path")

    def on_mount(self) -> None:
        options = self.query_one("#choices", OptionList)
        for i, source in enumerate(self.sources):
            options.add_option(Option(escape_controls(source.label), id=f"s{i}"))
        for run_id, words in self.runs:
            options.add_option(Option(f"Run {run_id} ({words}): its logs", id=f"r{run_id}"))
        options.focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        key = str(event.option.id)
        if key.startswith("s"):
            self.dismiss(self.sources[int(key[1:])])
        else:
            self.dismiss(f"run:{key[1:]}")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.value.strip():
            self.dismiss(f"path:{event.value.strip()}")

    def action_close(self) -> None:
        self.dismiss(None)


# --- the screen ---------------------------------------------------------------------------------------------

class LogScreen(Screen[None]):
    """One log (or several merged) with search, level filter, follow, and node logs over WinRM."""

    HELP = """
Keys
  /  search; start with re: for a regular expression (lower-case text ignores case)
  n N  next and previous match        c  count the matching lines
  e E  next and previous error        l  level filter: all, ERROR+, WARN+, INFO+, DEBUG+
  w  wrap long lines                  f  follow the file as it grows (on by default at its end)
  m  merge: the nodes' logs in one timeline (or the files given), m again to leave
  L  fetch earlier lines of a node log (the latest are fetched first)
  o  open another log: this run's journal and step output, the nodes' logs, other runs, a path
  p  hand the file to $PAGER          g G  top and bottom
  escape (or q, backspace)  back

A node's OctopusServer.txt is fetched over WinRM (its last 256 KB first) and kept under the run's folder
(node-logs/). The status line says which install step was running on the node when the line under the
cursor was written.
"""

    BINDINGS: ClassVar[list[BindingType]] = [
        # A priority binding: the app runs it as the key arrives, before it hands the keys queued behind it to
        # the widget that had focus (see ``action_search``).
        Binding("slash", "search", "Search", id="search", priority=True),
        Binding("n", "next_match", "Next", id="next-match"),
        Binding("N", "previous_match", "Prev", id="previous-match", show=False),
        Binding("c", "count", "Count", id="count", show=False),
        Binding("e", "next_error", "Error", id="next-error"),
        Binding("E", "previous_error", "Prev error", id="previous-error", show=False),
        Binding("l", "level", "Level", id="level"),
        Binding("w", "wrap", "Wrap", id="wrap"),
        Binding("f", "follow", "Follow", id="follow"),
        Binding("m", "merge", "Merge", id="merge"),
        Binding("L", "earlier", "Earlier", id="earlier", show=False),
        Binding("o", "open", "Open", id="open"),
        Binding("p", "pager", "Pager", id="pager", show=False),
        Binding("g,home", "top", "Top", id="top", show=False),
        Binding("G,end", "bottom", "Bottom", id="bottom", show=False),
        Binding("f1", "help", "Help", id="help"),
        Binding("escape,q,backspace", "back", "Back", id="back"),
    ]
    DEFAULT_CSS = """
    LogScreen #log-title { height: 1; padding: 0 1; text-style: bold; background: $panel; width: 100%; }
    LogScreen #search { display: none; }
    LogScreen #search.-shown { display: block; }
    LogScreen #status { height: 1; padding: 0 1; background: $panel; width: 100%; }
    """

    def __init__(self, sources: list[Source], start: int = 0, *, line: int | None = None,
                 failure: str | None = None, follow: bool = True, access: Any = None,
                 home: Path | None = None) -> None:
        super().__init__(classes="log-screen")
        self.sources = list(sources)
        self.start = start
        self.start_line = line
        self.failure = failure
        self.following = follow
        self.access = access  # octotui.logs.access.NodeAccess, or a callable returning one, or None
        self.home = home
        self.merge_sources: list[Source] = []  # the sources of a merged view, in its order
        self.source: Source | None = None
        self.review: Review | None = None
        self.gen = 0
        self.query_text: Query | None = None
        self.filter_index = 0
        self.busy: dict[str, str] = {}
        self.progress: dict[str, float] = {}
        self.message = ""
        # Which answer the status line shows: jobs are numbered as they start, and a job that ends after a
        # later one has spoken keeps quiet (a search's "went round" must not hide the count asked after it).
        self._jobs_started = 0
        self._job_numbers: dict[str, int] = {}
        self._speaking: int | None = None  # the number of the job whose result is being handled
        self._said = 0
        self._mirror_requests: list[int] = []
        self._pending_line: int | None = None
        self._pending_failure: str | None = None
        self._replaced_at: int | None = None
        self._earlier_pending = False  # L was pressed: the node log's copy is being rewritten
        self._index_gen = 0  # which index worker's batches are wanted (a new one after a roll)
        self._batches: list[IndexBatch] = []  # received, to be applied together (``INDEX_REDRAW_S``)
        self._batch_timer: Timer | None = None
        self._mirror: Any = None
        self._timeline: Any = None

    # --- layout ----------------------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield Label("Logs", id="log-title", markup=False)
        yield LogLines(id="lines")
        yield SearchBox(self._submit_search, placeholder="search: text, or re: then a regular expression; Enter",
                        id="search")
        yield Static("", id="status", markup=False)
        # Compact, and without the palette's hint below PALETTE_HINT_MIN_WIDTH (as the wizard's forms): at 80
        # columns the viewer's keys fit only so (ctrl+p still opens the palette).
        yield Footer(compact=True, show_command_palette=self.app.size.width >= PALETTE_HINT_MIN_WIDTH)

    @property
    def lines(self) -> LogLines:
        return self.query_one("#lines", LogLines)

    def on_resize(self, event: events.Resize) -> None:
        for footer in self.query(Footer):
            footer.show_command_palette = event.size.width >= PALETTE_HINT_MIN_WIDTH

    def on_mount(self) -> None:
        if getattr(self.app, "ascii_only", False):
            self.add_class("-ascii")
        self.set_interval(POLL_S, self._poll_local)
        if self.sources:
            self.open_source(self.sources[max(0, min(self.start, len(self.sources) - 1))], line=self.start_line,
                             failure=self.failure)
        else:
            self.say("No runs yet: press o to open a file by its path")
        self.lines.focus()

    # --- status ----------------------------------------------------------------------------------------
    def say(self, text: str) -> None:
        number = self._jobs_started if self._speaking is None else self._speaking
        if number >= self._said:
            self._said = number
            self.message = text
        self._update_status()

    def _update_status(self) -> None:
        parts: list[str] = []
        review, lines = self.review, self.lines
        if review is not None:
            doc = review.doc
            rows = review.row_count()
            if review.is_merged:
                parts.append(f"merged {len(review.docs)} logs: {rows:,} lines")
            else:
                total = doc.line_count
                parts.append(f"{rows:,} of {total:,} lines" if review.rows is not None else f"{total:,} lines")
                if not doc.complete:
                    parts.append(f"indexing {doc.progress:.0%}")
                parts.append(doc.format.name)
                if doc.encoding.name != "utf-8" or doc.encoding.bom:
                    parts.append(doc.encoding.name + (" BOM" if doc.encoding.bom else ""))
            if review.min_level is not None:
                parts.append(f"{review.min_level.name}+")
            if lines.wrap:
                parts.append("wrap")
            parts.append("following" if self.following else "paused")
            where = self._where()
            if where:
                parts.append(where)
        for name, words in self.busy.items():
            fraction = self.progress.get(name)
            parts.append(f"{words} {fraction:.0%}" if fraction is not None else f"{words}…")
        if self.message:
            parts.append(self.message)
        try:
            self.query_one("#status", Static).update(" | ".join(parts))
        except Exception:
            return

    def _where(self) -> str:
        """The install step the node was running when the line at the cursor (or the top) was written."""
        lines, review = self.lines, self.review
        if review is None or self._timeline is None:
            return ""
        row_number = lines.cursor if lines.cursor is not None else lines.top_row
        rows = review.lines(row_number, 1)
        if not rows or rows[0].wall is None:
            return ""
        source = self._source_of(rows[0].source)
        if source is None or source.node is None:
            return ""
        from octotui.logs.merge import offset_of

        when = rows[0].wall - offset_of(review.docs[rows[0].source])
        span = self._timeline.step_at(source.node, when)
        return f"during {span.node} {span.step}" if span is not None else ""

    def _source_of(self, index: int) -> Source | None:
        if self.review is not None and self.review.is_merged:
            return self.merge_sources[index] if index < len(self.merge_sources) else None
        return self.source

    def _title(self) -> None:
        label = "Logs"
        if self.review is not None and self.review.is_merged:
            label = "Merged: " + ", ".join(self.review.labels)
        elif self.source is not None:
            label = self.source.label
        self.query_one("#log-title", Label).update(escape_controls(label))

    # --- opening ---------------------------------------------------------------------------------------
    def _close_docs(self) -> None:
        self.gen += 1
        for group in ("index", "job", "node"):
            self.workers.cancel_group(self, group)
        if self.review is not None:
            for doc in self.review.docs:
                doc.close()
        self.review = None
        self._mirror = None
        self._earlier_pending = False
        self.busy.clear()
        self.progress.clear()

    def open_source(self, source: Source, *, line: int | None = None, failure: str | None = None) -> None:
        self._close_docs()
        self.source = source
        self.lines.set_review(None)
        self.filter_index = 0
        self._load_timeline(source)
        if source.kind == "node" and (source.remote_path is None or self.access is not None):
            if self._access() is not None:
                self.busy["fetched"] = f"fetching {source.node}'s log over WinRM"
                self._update_status()
                self._fetch_node(self.gen, source)
                return
            if not source.path.exists():
                self.say(f"{source.node}'s log is not fetched yet, and this screen has no WinRM settings for it "
                         "(open it from the wizard, or run `octotui logs --node NODE`)")
                return
        self._open_path(source, line=line, failure=failure)

    def _open_path(self, source: Source, *, line: int | None = None, failure: str | None = None) -> None:
        from octotui.logs.encoding import by_name

        meta = source.extra or {}
        encoding = None
        if isinstance(meta.get("encoding"), str):
            try:
                encoding = by_name(str(meta["encoding"]), int(meta.get("bom") or 0))
            except ValueError:
                encoding = None
        try:
            doc = LogDocument(source.path, label=source.node or source.label, utc_offset=source.utc_offset,
                              encoding=encoding)
        except LogError as exc:
            self.say(exc.message)
            self._title()
            return
        self.review = Review([doc], [source.node or source.path.name])
        self.lines.set_review(self.review)
        self._title()
        self._pending_line = line
        self._pending_failure = failure
        self._index_gen += 1
        self._index(self._index_gen, 0, doc)
        self._update_status()

    def _load_timeline(self, source: Source) -> None:
        self._timeline = None
        run_dir = source.path.parent
        while run_dir != run_dir.parent and not (run_dir / "journal.jsonl").exists():
            run_dir = run_dir.parent
            if run_dir.name == "runs":
                break
        if (run_dir / "journal.jsonl").exists():
            from octotui.logs.timeline import RunTimeline

            try:
                self._timeline = RunTimeline.of_run(run_dir)
            except Exception:
                self._timeline = None

    def _access(self) -> Any:
        access = self.access
        if callable(access):
            try:
                access = access()
            except LogError as exc:
                self.say(exc.message)
                return None
            self.access = access
        return access

    # --- the index -------------------------------------------------------------------------------------
    @work(thread=True, group="index", exit_on_error=False, description="indexing the log")
    def _index(self, gen: int, source: int, doc: LogDocument) -> None:
        worker = get_current_worker()
        try:
            for batch in doc.initial_batches(lambda: worker.is_cancelled):
                if worker.is_cancelled:
                    return
                self.post_message(IndexBatch(gen, source, batch))
            self.post_message(IndexDone(gen, source))
        except LogError as exc:
            self.post_message(IndexFailed(gen, exc))

    def on_index_batch(self, message: IndexBatch) -> None:
        if message.gen != self._index_gen or self.review is None:
            return
        self._batches.append(message)
        if not self.review.docs[message.source].index.started:
            self._apply_batches()  # the first batch: the last screenful, shown at once
        elif self._batch_timer is None:
            self._batch_timer = self.set_timer(INDEX_REDRAW_S, self._apply_batches)

    def _apply_batches(self) -> None:
        """Apply the batches received so far, then redraw once."""
        if self._batch_timer is not None:
            self._batch_timer.stop()
            self._batch_timer = None
        batches, self._batches = self._batches, []
        review = self.review
        if review is None:
            return
        first = shown = False
        added_before = 0
        for message in batches:
            if message.gen != self._index_gen:
                continue
            doc = review.docs[message.source]
            started = doc.index.started
            try:
                growth = doc.apply(message.batch)
            except ValueError:
                continue
            if review.rows is None and message.source == 0:
                shown = True
                first = first or not started
                added_before += growth.added_before
        if shown:
            self._show_growth(first, added_before)
        self._update_status()

    def _show_growth(self, first: bool, added_before: int) -> None:
        """Redraw the unfiltered view of the first log after its index grew: the last lines on its first batch,
        else the same lines as before (shifted by the lines added above them), or the end when following."""
        lines = self.lines
        waiting = self._pending_line is not None or self._pending_failure is not None
        if first:
            lines.changed()
            if not waiting:
                lines.go_to_end()
        elif added_before:
            lines.shift(added_before)
            if self.following and not waiting:
                lines.go_to_end()
        else:
            lines.changed()

    def on_index_done(self, message: IndexDone) -> None:
        if message.gen != self._index_gen or self.review is None:
            return
        self._apply_batches()
        self.lines.changed()
        if self._pending_failure is not None:
            failure, self._pending_failure = self._pending_failure, None
            self._run_job("failing", lambda progress, cancelled: self._failing_line(failure), "finding the failure")
        elif self._pending_line is not None:
            line, self._pending_line = self._pending_line, None
            self._jump(self.review.row_of(0, line))
        elif self.following:
            self.lines.go_to_end()
        self._update_status()

    def on_index_failed(self, message: IndexFailed) -> None:
        if message.gen == self._index_gen:
            self.say(_words(message.error))

    def _jump(self, row: int) -> None:
        """Show a row the user asked for (a match, an error, a line): following stops there."""
        self.following = False
        self.lines.go_to_row(row)

    def _failing_line(self, failure: str) -> int:
        from octotui.logs.sources import failing_line

        assert self.review is not None
        return failing_line(self.review.doc, failure)

    # --- following -------------------------------------------------------------------------------------
    def _poll_local(self) -> None:
        review = self.review
        if review is None or self._earlier_pending:
            return  # while a node log's copy is being extended, it is looked at again when that is done
        lines = self.lines
        for i, doc in enumerate(list(review.docs)):
            if not doc.index.started:
                continue  # its first batch will cover what the file has now
            try:
                poll = doc.poll(max_bytes=1 << 22)
            except LogError as exc:
                self.say(exc.message)
                continue
            if poll.change is Change.GREW:
                review.grown(i, poll.growth)
                lines.changed()
                if self.following:
                    lines.go_to_end()
                self._update_status()
            elif poll.change is Change.ROLLED:
                self._rolled(i, doc)
            elif poll.change is Change.GONE and not self.message.startswith("the file is gone"):
                self.say("the file is gone (renamed or deleted); showing what was read")

    def _rolled(self, source: int, doc: LogDocument) -> None:
        """The file was replaced: a roll, or (``_replaced_at`` set) a node log's copy that grew earlier lines."""
        assert self.review is not None
        self.review.reset()
        self.filter_index = 0
        keep, self._replaced_at = self._replaced_at, None
        if doc.size_at_open <= REINDEX_NOW:
            doc.build()
            self.lines.changed()
            if keep is not None:
                self._jump(self.review.row_of(source, keep))
            elif self.following:
                self.lines.go_to_end()
        else:
            self._pending_line = keep
            self.workers.cancel_group(self, "index")
            self._index_gen += 1
            self._index(self._index_gen, source, doc)
        if keep is None:
            self.say(f"{doc.label} was rolled: showing the file now at {doc.path.name}")

    # --- node logs -------------------------------------------------------------------------------------
    @work(thread=True, group="node", exit_on_error=False, description="fetching a node's log")
    def _fetch_node(self, gen: int, source: Source) -> None:
        from octotui.logs.fetch import NodeLogMirror, list_node_logs
        from octotui.logs.sources import node_log_dir

        worker = get_current_worker()
        access = self.access
        node = source.node or ""
        try:
            session = access.session(node)
            with session:
                listing = list_node_logs(session, access.home(node))
                wanted = source.remote_path.rsplit("\\", 1)[-1] if source.remote_path else source.path.name
                remote = next((f for f in listing.files if f.name.lower() == wanted.lower()), None)
                if remote is None:
                    names = ", ".join(f.name for f in listing.files) or "none"
                    raise LogError(f"{node}: no {wanted} on the node (its logs: {names})",
                                   "the instance may not have started yet: its home's Logs folder is empty")
                folder = source.path.parent if source.path.parent.name else node_log_dir(None, node, self.home)
                mirror = NodeLogMirror(session, remote, folder, utc_offset_s=listing.utc_offset_s)
                path = mirror.fetch_tail()
                fetched = Source("node", f"{node}: {remote.name}", path, run=source.run, node=node,
                                 remote_path=remote.path, utc_offset=listing.utc_offset_s,
                                 extra={"encoding": mirror.encoding.name, "bom": mirror.encoding.bom})
                # The node's other logs (rolled server logs, MSI logs), to open from the list (o).
                others = [Source("node", f"{node}: {f.name} (fetch over WinRM)", folder / f.name, run=source.run,
                                 node=node, remote_path=f.path, utc_offset=listing.utc_offset_s)
                          for f in listing.files if f is not remote]
                self.post_message(JobDone(gen, "fetched", (fetched, mirror, others)))
                while not worker.cancelled_event.wait(NODE_POLL_S):
                    if self._mirror_requests:
                        more = self._mirror_requests.pop(0)
                        added = mirror.fetch_earlier(more)
                        self.post_message(JobDone(gen, "earlier", added))
                        continue
                    if not self.following:
                        continue
                    state = mirror.poll()
                    if state != "same":
                        self.post_message(NodeChanged(gen, state))
        except Exception as exc:  # a node that cannot be read is said on the status line, never raised
            self.post_message(JobDone(gen, "fetched", error=exc))

    def on_scrolled_away(self, message: ScrolledAway) -> None:
        if self.following:
            self.following = False
            self._update_status()

    def on_node_changed(self, message: NodeChanged) -> None:
        if message.gen == self.gen:
            self._poll_local()

    # --- jobs ------------------------------------------------------------------------------------------
    def _run_job(self, name: str, fn: Callable[[Callable[[float], None], Callable[[], bool]], Any],
                 words: str) -> None:
        self.busy[name] = words
        self.progress.pop(name, None)
        self._jobs_started += 1
        self._job_numbers[name] = self._jobs_started
        self._update_status()
        self._job(self.gen, name, fn)

    @work(thread=True, group="job", exit_on_error=False, description="reading the log")
    def _job(self, gen: int, name: str, fn: Callable[[Callable[[float], None], Callable[[], bool]], Any]) -> None:
        worker = get_current_worker()
        last = [0.0]

        def progress(fraction: float) -> None:
            now = time.monotonic()
            if now - last[0] > 0.2:
                last[0] = now
                self.post_message(JobProgress(gen, name, fraction))

        try:
            value = fn(progress, lambda: worker.is_cancelled)
        except Exception as exc:
            self.post_message(JobDone(gen, name, error=exc))
            return
        if not worker.is_cancelled:
            self.post_message(JobDone(gen, name, value))

    def on_job_progress(self, message: JobProgress) -> None:
        if message.gen == self.gen and message.name in self.busy:
            self.progress[message.name] = message.fraction
            self._update_status()

    def on_job_done(self, message: JobDone) -> None:
        if message.gen != self.gen:
            return
        self.busy.pop(message.name, None)
        self.progress.pop(message.name, None)
        if message.name == "earlier" or (message.name == "fetched" and message.error is not None):
            self._earlier_pending = False
        number = self._job_numbers.pop(message.name, None)
        if message.error is not None:
            self.say(_words(message.error))  # a failure is always shown, however late
            return
        self._speaking = number
        try:
            handler = getattr(self, f"_done_{message.name}", None)
            if handler is not None:
                handler(message.value)
        finally:
            self._speaking = None
        self._update_status()

    def _done_fetched(self, value: tuple[Source, Any, list[Source]]) -> None:
        source, mirror, others = value
        self.source = source
        self._mirror = mirror
        self._replace_source(source)
        for other in others:
            if not any(s.node == other.node and s.path.name.lower() == other.path.name.lower()
                       for s in self.sources):
                self.sources.append(other)
        self._open_path(source)
        if not mirror.complete:
            self.say(f"the last {_size(mirror.end - mirror.start)} of {_size(mirror.remote_size)} fetched; "
                     "L fetches earlier lines")

    def _done_earlier(self, added: int) -> None:
        """The node log's local copy now starts earlier: read it again and keep the same lines in view."""
        if self.review is None:
            return
        self._earlier_pending = False
        _source, line = self._anchor()
        self._replaced_at = line + added
        self._poll_local()  # sees the new copy, indexes it, goes to ``_replaced_at``
        self.say(f"{added:,} earlier lines fetched" if added else "no earlier lines")

    def _done_failing(self, line: int) -> None:
        if self.review is not None:
            self._jump(self.review.row_of(0, line))
            self.say(f"the failure is at line {line + 1}")

    def _done_find(self, value: tuple[int | None, bool]) -> None:
        self._found(value, "matches")

    def _done_error(self, value: tuple[int | None, bool]) -> None:
        self._found(value, "errors")

    def _found(self, value: tuple[int | None, bool], what: str) -> None:
        row, wrapped = value
        if row is None:
            self.say(f"no {what}")
            return
        self._jump(row)
        self.say(f"no more {what} that way: went round to the other end" if wrapped else "")

    def _done_count(self, n: int | None) -> None:
        if n is not None and self.query_text is not None:
            self.say(f"{n:,} lines match {self.query_text.text!r}")

    def _done_filter(self, value: tuple[Level | None, Any]) -> None:
        minimum, rows = value
        if self.review is None:
            return
        source, line = self._anchor()
        self.review.set_filter(minimum, rows)
        self.lines.changed()
        self.lines.go_to_row(self.review.row_of(source, line))
        self.say(f"showing {minimum.name} and above" if minimum is not None else "showing every level")

    def _done_merge(self, value: tuple[list[LogDocument], list[Source], Any]) -> None:
        docs, sources, merged = value
        if merged is None:
            for doc in docs:
                doc.close()
            return
        self._close_docs()
        self.merge_sources = sources
        self.review = Review(docs, [s.node or s.path.name for s in sources])
        self.review.set_merged(merged)
        self.lines.set_review(self.review)
        self._title()
        self.lines.go_to_end()
        note = " (the latest lines of each)" if merged.partial else ""
        self.say(f"merged {len(docs)} logs by time{note}; m leaves the merged view")

    def _anchor(self) -> tuple[int, int]:
        """The line at the cursor or the top of the screen, to keep it in view when the rows change."""
        lines, review = self.lines, self.review
        if review is None or review.row_count() == 0:
            return 0, 0
        row = lines.cursor if lines.cursor is not None else lines.top_row
        return review.at(max(0, min(row, review.row_count() - 1)))

    def _replace_source(self, source: Source) -> None:
        for i, s in enumerate(self.sources):
            if s.kind == "node" and s.node == source.node and s.path.name.lower() == source.path.name.lower():
                self.sources[i] = source
                return
        self.sources.append(source)

    # --- actions ---------------------------------------------------------------------------------------
    def action_search(self) -> None:
        box = self.query_one("#search", SearchBox)
        if self.focused is box:  # (not ``has_focus``: that turns True only once the box handles its Focus)
            raise SkipAction()  # a "/" typed in the search itself (a path, a regular expression)
        box.open()
        # Focus now, not once the keys already queued are handled (as ``focus()`` would): "/ERROR" typed or
        # pasted at once (keys that arrive together over a slow SSH link) must reach the box whole, not run
        # "E" (previous error) and "R" on the way.
        self.set_focus(box)

    def _submit_search(self, text: str) -> None:
        """The search box's Enter (see ``SearchBox``): the box is closed already."""
        self.set_focus(self.lines)
        if not text:
            return
        query = Query(text[3:], regex=True) if text.startswith("re:") else Query(text)
        try:
            if self.review is not None:
                self.review.matcher(0, query)
        except LogError as exc:
            self.say(exc.message)
            return
        self.query_text = query
        self.lines.search_query = query
        self.lines.changed()
        self.action_next_match()

    def _indexed(self) -> bool:
        """Searching reads line numbers the index still shifts while it grows backwards: wait for it."""
        review = self.review
        if review is not None and not review.is_merged and not review.doc.complete:
            self.say(f"searching waits for the index ({review.doc.progress:.0%})")
            return False
        return review is not None

    def _start_row(self, backward: bool) -> int:
        """Where a search or a jump to an error starts: the marked row while it is on the screen, else the
        screen (after g, G or scrolling, the next error is the one below what the user sees, as in less)."""
        lines = self.lines
        top = lines.top_row
        if lines.cursor is not None and top <= lines.cursor < top + max(1, lines.size.height):
            return lines.cursor
        return top if backward else top - 1

    def _search(self, backward: bool) -> None:
        review, query = self.review, self.query_text
        if review is None or query is None:
            self.say("press / to search")
            return
        if not self._indexed():
            return
        start = self._start_row(backward)
        self._run_job("find", lambda progress, cancelled: _round(
            lambda at: review.find(query, at, backward=backward, cancelled=cancelled), start, backward,
            review.row_count(), cancelled), "searching")

    def action_next_match(self) -> None:
        self._search(False)

    def action_previous_match(self) -> None:
        self._search(True)

    def action_count(self) -> None:
        review, query = self.review, self.query_text
        if review is None or query is None:
            self.say("press / to search first")
            return
        if review.doc.encoding.wide and not self._indexed():
            return  # an 8-bit file is counted over its raw bytes (``search.count``); a UTF-16 one by its lines
        from octotui.logs.search import count

        if review.is_merged or review.rows is not None:
            self.say("counting covers the whole file, filter and merge aside")
        doc = review.doc
        self._run_job("count", lambda progress, cancelled: count(doc, review.matcher(0, query), progress=progress,
                                                                 cancelled=cancelled), "counting")

    def _error(self, backward: bool) -> None:
        review = self.review
        if review is None or not self._indexed():
            return
        start = self._start_row(backward)
        self._run_job("error", lambda progress, cancelled: _round(
            lambda at: review.next_level(Level.ERROR, at, backward=backward, cancelled=cancelled), start, backward,
            review.row_count(), cancelled), "looking for errors")

    def action_next_error(self) -> None:
        self._error(False)

    def action_previous_error(self) -> None:
        self._error(True)

    def action_level(self) -> None:
        review = self.review
        if review is None:
            return
        if review.is_merged:
            self.say("the level filter works on one log; m leaves the merged view")
            return
        if not review.doc.complete:
            self.say("the level filter waits for the index to be complete")
            return
        self.filter_index = (self.filter_index + 1) % len(FILTERS)
        minimum = FILTERS[self.filter_index]
        words = f"filtering to {minimum.name} and above" if minimum is not None else "removing the filter"
        self._run_job("filter", lambda progress, cancelled: (minimum, review.compute_filter(
            minimum, progress=progress, cancelled=cancelled)), words)

    def action_wrap(self) -> None:
        lines = self.lines
        source, line = self._anchor()
        lines.wrap = not lines.wrap
        lines.changed()
        if self.review is not None and self.review.row_count():
            lines.go_to_row(self.review.row_of(source, line), center=False)
        self._update_status()

    def action_follow(self) -> None:
        self.following = not self.following
        if self.following:
            self.lines.go_to_end()
        self._update_status()

    def action_top(self) -> None:
        self.following = False
        self.lines.go_to_top()
        self._update_status()

    def action_bottom(self) -> None:
        self.following = True
        self.lines.go_to_end()
        self._update_status()

    def action_earlier(self) -> None:
        if self._mirror is None:
            self.say("L is for a node's log fetched in part")
            return
        if self._mirror.complete:
            self.say("the whole file is here")
            return
        have = max(1, self._mirror.end - self._mirror.start)
        self._earlier_pending = True
        self._mirror_requests.append(max(4 << 20, 2 * have))
        self.say("fetching earlier lines…")

    def action_merge(self) -> None:
        review = self.review
        if review is not None and review.is_merged:
            current = self.source
            self.merge_sources = []
            if current is not None:
                self.open_source(current)
            return
        access = self._access() if self.access is not None else None
        nodes = [s for s in self.sources if s.kind == "node" and s.path.name.lower() == "octopusserver.txt"
                 and (s.path.exists() or access is not None)]
        sources = nodes if len({s.node for s in nodes}) >= 2 else [s for s in self.sources if s.kind == "file"]
        if len(sources) < 2:
            self.say("nothing to merge: the nodes' logs need WinRM settings (open them from the wizard or with "
                     "`octotui logs --node`), or give several files")
            return

        def job(progress: Callable[[float], None], cancelled: Callable[[], bool]) -> Any:
            ready = [_fetched(s, access, self.home) if s.kind == "node" and not s.path.exists() else s
                     for s in sources]
            docs = [LogDocument(s.path, label=s.node or s.path.name, utc_offset=s.utc_offset).build() for s in ready]
            probe = Review(docs, [s.node or s.path.name for s in ready])
            return docs, ready, probe.compute_merge(progress=progress, cancelled=cancelled)

        self._run_job("merge", job, f"merging {len(sources)} logs")

    def action_open(self) -> None:
        from octotui.run.journal_read import list_runs

        home = self.home or _home()
        try:
            runs = [(r.id, str(r.status)) for r in reversed(list_runs(home))][:20]
        except Exception:
            runs = []

        def chosen(choice: Source | str | None) -> None:
            if choice is None:
                return
            if isinstance(choice, Source):
                self.open_source(choice)
            elif choice.startswith("path:"):
                from octotui.logs.sources import file_source

                path = Path(choice[5:]).expanduser()
                source = file_source(path)
                self.sources.append(source)
                self.open_source(source)
            elif choice.startswith("run:"):
                self._open_run(home, choice[4:])

        self.app.push_screen(SourcePicker(self.sources, runs), chosen)

    def _open_run(self, home: Path, run_id: str) -> None:
        from octotui.logs.sources import run_sources
        from octotui.run import store

        try:
            run_dir = store.resolve_run(home, run_id)
        except Exception as exc:
            self.say(_words(exc))
            return
        self.sources = run_sources(run_dir)
        if self.sources:
            self.open_source(self.sources[0])

    def action_pager(self) -> None:
        review = self.review
        if review is None:
            return
        source, line = self._anchor()
        path = review.docs[source].path
        pager = os.environ.get("PAGER") or "less"
        argv = [*shlex.split(pager), str(path)]
        if Path(argv[0]).name == "less":
            argv[1:1] = ["-R", f"+{line + 1}"]
        try:
            with self.app.suspend():
                subprocess.run(argv, check=False)
        except (OSError, Exception) as exc:
            self.say(f"could not start the pager {pager!r}: {_words(exc)}")

    def action_help(self) -> None:
        from octotui.screens.dialogs import TextDialog

        self.app.push_screen(TextDialog("Help: logs", self.HELP.strip()))

    def action_back(self) -> None:
        box = self.query_one("#search", SearchBox)
        if box.is_open:
            box.close()
            self.set_focus(self.lines)
            return
        self._close_docs()
        if len(self.app.screen_stack) > 1:
            self.app.pop_screen()
        else:
            self.app.exit()

    def on_unmount(self) -> None:
        self._close_docs()


def _fetched(source: Source, access: Any, home: Path | None) -> Source:
    """Fetch the tail of a node's log that is not here yet (for a merge; in a worker thread)."""
    from octotui.logs.fetch import NodeLogMirror, list_node_logs

    node = source.node or ""
    with access.session(node) as session:
        listing = list_node_logs(session, access.home(node), msi=False)
        remote = next((f for f in listing.files if f.name.lower() == source.path.name.lower()), None)
        if remote is None:
            raise LogError(f"{node}: no {source.path.name} on the node yet", "start its Octopus service first")
        mirror = NodeLogMirror(session, remote, source.path.parent, utc_offset_s=listing.utc_offset_s)
        path = mirror.fetch_tail()
    return Source("node", f"{node}: {remote.name}", path, run=source.run, node=node, remote_path=remote.path,
                  utc_offset=listing.utc_offset_s)


def _round(find: Callable[[int], int | None], start: int, backward: bool, rows: int,
           cancelled: Callable[[], bool]) -> tuple[int | None, bool]:
    """Search from ``start``; when nothing is found that way, go round from the other end (as ``less`` can)."""
    found = find(start)
    if found is not None or cancelled():
        return found, False
    again = find(rows if backward else -1)
    return again, again is not None


def _words(exc: BaseException) -> str:
    message = str(getattr(exc, "message", "") or exc) or type(exc).__name__
    hint = str(getattr(exc, "hint", "") or "")
    from octotui.secrets.redact import default_redactor

    return default_redactor().redact(escape_controls(message + (f" ({hint})" if hint else "")))


def _size(n: int) -> str:
    return f"{n / (1 << 20):.1f} MB" if n >= 1 << 20 else f"{max(0, n) // 1024} KB"


def _home() -> Path:
    from octotui.home import octotui_home

    return octotui_home()


# --- on its own: `octotui logs` -------------------------------------------------------------------------

def run_logs(screen: LogScreen) -> int:
    """``octotui logs``: the log screen as a program of its own."""
    from textual.app import App

    class LogsApp(App[int]):
        TITLE = "octotui logs"
        BINDINGS: ClassVar[list[BindingType]] = [Binding("ctrl+q", "quit", "Quit", id="quit", priority=True)]

        def on_mount(self) -> None:
            self.push_screen(screen)

        def _handle_exception(self, error: Exception) -> None:
            # Never a traceback on screen: say what went wrong and leave.
            self.exit(1, message=f"octotui logs: {_words(error)}")

    return int(LogsApp().run() or 0)


# --- from the wizard ------------------------------------------------------------------------------------

def wizard_access(app: Any) -> Callable[[], Any] | None:
    """How the wizard reaches the nodes: its answers and the WinRM password typed in it (asked for when a
    node's log is opened, so an incomplete answers file only matters then)."""
    state = getattr(app, "state", None)
    if state is None:
        return None

    def make() -> Any:
        from octotui.checks.live import node_specs, winrm_settings
        from octotui.logs.access import NodeAccess

        winrm = winrm_settings(state.data)
        nodes = tuple(spec for _i, spec in node_specs(state.data, winrm)) if winrm is not None else ()
        if winrm is None or not nodes:
            raise LogError("The answers do not say how to reach the nodes yet", "fill in the Nodes screen first")
        return NodeAccess(winrm, nodes, state.secrets.get("winrm"))

    return make


def review_run(app: Any, run_dir: Path | None = None, *, node: str | None = None, step: str | None = None,
               failure: str | None = None) -> None:
    """Open the log screen on a run (the latest by default): at a step's log when given, at the line it
    failed at when ``failure`` (the step's error) is given."""
    from octotui.logs.sources import run_sources
    from octotui.run.journal_read import latest_run

    home = getattr(app, "home", None) or _home()
    if run_dir is None:
        run_dir = latest_run(home)
    sources = run_sources(run_dir) if run_dir is not None else []
    start = 0
    if node is not None and step is not None:
        start = next((i for i, s in enumerate(sources) if s.kind == "step" and s.node == node and s.step == step), 0)
    app.push_screen(LogScreen(sources, start, failure=failure, access=wizard_access(app), home=home,
                              follow=failure is None))
