"""The progress screen's step list: a fixed header, one line per step, a row cursor.

Built on the line API so that a change costs what it changes. A row whose cells change repaints that one
line; moving the cursor repaints two. (A ``DataTable`` renders every visible cell again after any
``update_cell``, through Rich's padding and wrapping: tens of milliseconds a time on a 30-line table, at
every step change and every tick of a running step's clock, while a run streams its output.)

Cells are plain text, shown as they are (never parsed as markup), cut to their column's width.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from rich.cells import cell_len, set_cell_size
from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding, BindingType
from textual.geometry import Region, Size
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

#: Blank columns each side of a cell's text.
PAD = 1


class StepTable(ScrollView, can_focus=True):
    """``columns``: (label, width) pairs; the last may have width ``None`` (as wide as its longest text)."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {"step-table--header", "step-table--cursor"}
    DEFAULT_CSS = """
    StepTable {
        background: $surface;
        color: $foreground;
        height: auto;
        max-height: 100%;
        &:focus {
            background-tint: $foreground 5%;
            & > .step-table--header { background-tint: $foreground 5%; }
            & > .step-table--cursor {
                background: $block-cursor-background;
                color: $block-cursor-foreground;
                text-style: $block-cursor-text-style;
            }
        }
        & > .step-table--header { text-style: bold; background: $panel; color: $foreground; }
        &:ansi > .step-table--header { background: ansi_bright_blue; color: ansi_default; }
        & > .step-table--cursor {
            background: $block-cursor-blurred-background;
            color: $block-cursor-blurred-foreground;
            text-style: $block-cursor-blurred-text-style;
        }
    }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "cursor(-1)", "Cursor up", show=False),
        Binding("down", "cursor(1)", "Cursor down", show=False),
        Binding("pageup", "page(-1)", "Page up", show=False),
        Binding("pagedown", "page(1)", "Page down", show=False),
        Binding("home", "to_row(0)", "First step", show=False),
        Binding("end", "to_row(-1)", "Last step", show=False),
    ]

    cursor_row: reactive[int] = reactive(0, repaint=False)

    def __init__(self, columns: Sequence[tuple[str, int | None]], *, id: str | None = None,
                 classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.labels = tuple(label for label, _ in columns)
        self._fixed = tuple(width for _, width in columns)
        self._keys: list[str] = []
        self._cells: dict[str, tuple[str, ...]] = {}
        self._index: dict[str, int] = {}
        self._auto_width = 0  # the widest text of a column without a fixed width
        #: Rendered lines, kept until their row, the cursor, the focus or the styles change.
        self._strips: dict[int, tuple[tuple[object, ...], Strip]] = {}

    # --- the rows --------------------------------------------------------------------------------------
    @property
    def row_count(self) -> int:
        return len(self._keys)

    def row_key(self, index: int) -> str | None:
        return self._keys[index] if 0 <= index < len(self._keys) else None

    def cells(self, key: str) -> tuple[str, ...] | None:
        return self._cells.get(key)

    def clear(self) -> None:
        self._keys, self._cells, self._index, self._strips = [], {}, {}, {}
        self._auto_width = 0
        self.set_reactive(StepTable.cursor_row, 0)
        self._resize()
        self.refresh()

    def add_row(self, key: str, cells: Sequence[str]) -> None:
        if key in self._index:
            self.update_row(key, cells)
            return
        self._index[key] = len(self._keys)
        self._keys.append(key)
        self._cells[key] = tuple(cells)
        if not self._widen(cells):
            self._resize()
            self._refresh_row(self._index[key])

    def update_row(self, key: str, cells: Sequence[str]) -> bool:
        """Show ``cells`` for row ``key``; repaints its line only if something changed. False for an unknown row."""
        index = self._index.get(key)
        if index is None:
            return False
        cells = tuple(cells)
        if self._cells[key] != cells:
            self._cells[key] = cells
            if not self._widen(cells):
                self._refresh_row(index)
        return True

    def _widen(self, cells: Sequence[str]) -> bool:
        """Grow the auto-width column for ``cells``; True when it grew (and the whole table was repainted)."""
        wanted = max((cell_len(c) for c, w in zip(cells, self._fixed, strict=False) if w is None), default=0)
        if wanted <= self._auto_width:
            return False
        self._auto_width = wanted
        self._strips.clear()
        self._resize()
        self.refresh()
        return True

    def _widths(self) -> tuple[int, ...]:
        return tuple(self._auto_width if w is None else w for w in self._fixed)

    def _resize(self) -> None:
        width = sum(w + 2 * PAD for w in self._widths())
        self.virtual_size = Size(width, len(self._keys) + 1)

    # --- painting --------------------------------------------------------------------------------------
    def _visible_rows(self) -> int:
        return max(1, self.scrollable_content_region.height - 1)

    def _refresh_row(self, index: int) -> None:
        y = index - round(self.scroll_offset.y) + 1
        if 1 <= y <= self._visible_rows():
            self.refresh(Region(0, y, max(self.virtual_size.width, self.size.width), 1))

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._strips.clear()

    def on_focus(self, event: events.Focus) -> None:
        self.refresh()

    def on_blur(self, event: events.Blur) -> None:
        self.refresh()

    def _line(self, index: int, cells: Sequence[str], style: Style) -> Strip:
        # Each cell carries its coordinates (as a DataTable's do), so the cells stay distinct segments.
        segments = [Segment(" " * PAD + set_cell_size(text, width) + " " * PAD,
                            style + Style.from_meta({"row": index, "column": column}))
                    for column, (text, width) in enumerate(zip(cells, self._widths(), strict=False))]
        return Strip(segments)

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        width = self.scrollable_content_region.width
        base = self.rich_style
        index = -1 if y == 0 else scroll_y + y - 1
        if y and not 0 <= index < len(self._keys):
            return Strip.blank(width, base)
        key = self._keys[index] if index >= 0 else ""
        cursor = index == self.cursor_row and index >= 0
        signature = (self._cells.get(key), cursor, self.has_focus, base, self._widths(), width)
        cached = self._strips.get(index)
        if cached is not None and cached[0] == signature:
            strip = cached[1]
        else:
            # The header and the cursor's row are coloured to the right edge, as a DataTable's are.
            if index < 0:
                style = base + self.get_component_rich_style("step-table--header")
                strip = self._line(-1, self.labels, style)
            else:
                style = base + self.get_component_rich_style("step-table--cursor") if cursor else base
                strip = self._line(index, self._cells[key], style)
            strip = strip.extend_cell_length(max(width, strip.cell_length), style)
            self._strips[index] = (signature, strip)
        return strip.crop_extend(scroll_x, scroll_x + width, base)

    # --- the cursor ------------------------------------------------------------------------------------
    def validate_cursor_row(self, row: int) -> int:
        return max(0, min(row, len(self._keys) - 1))

    def watch_cursor_row(self, old: int, new: int) -> None:
        self._refresh_row(old)
        self._refresh_row(new)
        top = round(self.scroll_offset.y)
        if new < top:
            self.scroll_to(y=new, animate=False, immediate=True)
        elif new >= top + self._visible_rows():
            self.scroll_to(y=new - self._visible_rows() + 1, animate=False, immediate=True)

    def action_cursor(self, step: int) -> None:
        self.cursor_row += step

    def action_page(self, direction: int) -> None:
        self.cursor_row += direction * self._visible_rows()

    def action_to_row(self, row: int) -> None:
        self.cursor_row = row if row >= 0 else len(self._keys) - 1

    def on_click(self, event: events.Click) -> None:
        if event.y >= 1:
            self.cursor_row = round(self.scroll_offset.y) + event.y - 1
