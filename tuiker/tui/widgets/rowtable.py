"""A table of keyed rows with a row cursor, drawn line by line (Textual's Line API).

The side lists hold a few hundred rows and change a few cells a second; a key moves the cursor. Textual's
DataTable re-measures and re-renders far more than that needs (its idle column update, every visible row on a
focus change), which made a key cost tens of ms at 200 containers. Here a row's line is cached with what it was
drawn from (its cells, the column widths and the cursor's style), so a cursor move or a focus change draws the
one or two lines that changed and nothing else."""

from __future__ import annotations

from typing import ClassVar

from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding, BindingType
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

Cell = str | Text
PADDING = 1  # a space each side of a cell, as DataTable's cell_padding


def cell_width(cell: Cell) -> int:
    """The columns a cell takes, its padding included."""
    return (cell.cell_len if isinstance(cell, Text) else len(cell)) + 2 * PADDING


class RowTable(ScrollView, can_focus=True):
    """Columns with a header line that stays put, rows keyed by a string, one row under the cursor."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "cursor_up", "Up", show=False),
        Binding("down", "cursor_down", "Down", show=False),
        Binding("pageup", "page_up", "Page up", show=False),
        Binding("pagedown", "page_down", "Page down", show=False),
        Binding("home", "scroll_top", "Top", show=False),
        Binding("end", "scroll_bottom", "Bottom", show=False),
    ]
    COMPONENT_CLASSES: ClassVar[set[str]] = {"rowtable--header", "rowtable--cursor"}
    DEFAULT_CSS = """
    RowTable {
        overflow-x: hidden;
        overflow-y: auto;
        & > .rowtable--header {
            text-style: bold;
            color: $foreground;
        }
        & > .rowtable--cursor {
            background: $block-cursor-blurred-background;
        }
        &:focus > .rowtable--cursor {
            color: $block-cursor-foreground;
            background: $block-cursor-background;
            text-style: $block-cursor-text-style;
        }
    }
    """

    cursor_row: reactive[int] = reactive(0, always_update=False, repaint=False)

    class RowHighlighted(Message):
        """The cursor is on another row (`row_key` None: the table is empty)."""

        def __init__(self, table: RowTable, cursor_row: int, row_key: str | None) -> None:
            super().__init__()
            self.table = table
            self.cursor_row = cursor_row
            self.row_key = row_key

        @property
        def control(self) -> RowTable:
            return self.table

    def __init__(self, *, name: str | None = None, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self._headers: tuple[str, ...] = ()
        self._keys: list[str] = []
        self._cells: dict[str, tuple[Cell, ...]] = {}
        self._index: dict[str, int] = {}
        self._widths: tuple[int, ...] = ()
        self._drawn: dict[str, tuple[tuple, Strip]] = {}  # key -> (what its line was drawn from, the line)

    # -- content -------------------------------------------------------------------------------------------

    def add_columns(self, *headers: str) -> None:
        self._headers = (*self._headers, *headers)
        self._resize(self._measure())

    def clear(self, columns: bool = False) -> None:
        """Remove every row (and the columns too, when `columns`); the cursor goes back to the top."""
        self._keys, self._cells, self._index, self._drawn = [], {}, {}, {}
        if columns:
            self._headers = ()
        self.cursor_row = 0
        self._resize(self._measure())

    def add_row(self, *cells: Cell, key: str) -> None:
        if key in self._index:
            raise ValueError(f"a row keyed {key!r} is already in the table")
        self._index[key] = len(self._keys)
        self._keys.append(key)
        self._cells[key] = cells
        self._resize(self._widened(cells))

    def update_row(self, key: str, cells: tuple[Cell, ...]) -> None:
        """Replace a row's cells; only its line is drawn again (all of them if a column's width changed)."""
        old, self._cells[key] = self._cells[key], cells
        # A column narrows only when the cell that set its width got shorter: only then is every row measured.
        narrowed = any(cell_width(before) == width and cell_width(after) < width
                       for before, after, width in zip(old, cells, self._widths, strict=False))
        if not self._resize(self._measure() if narrowed else self._widened(cells)):
            self.refresh_line(self._index[key] + 1)

    @property
    def row_count(self) -> int:
        return len(self._keys)

    def get_row_index(self, key: str) -> int:
        return self._index[key]

    def get_row_at(self, index: int) -> list[Cell]:
        return list(self._cells[self._keys[index]])

    def row_key_at(self, index: int) -> str | None:
        return self._keys[index] if 0 <= index < len(self._keys) else None

    def column_widths(self) -> tuple[int, ...]:
        """Each column's width on screen, its padding included."""
        return self._widths

    def _resize(self, widths: tuple[int, ...]) -> bool:
        """After the rows or columns changed: the columns' widths and the virtual size. Returns whether the whole
        table was marked for a redraw (widths changed, or rows came or went)."""
        size = Size(sum(widths), len(self._keys) + 1)  # the header is line 0
        if widths == self._widths and size == self.virtual_size:
            return False
        self._widths = widths
        self.virtual_size = size
        self.refresh()
        return True

    def _widened(self, cells: tuple[Cell, ...]) -> tuple[int, ...]:
        """The widths once `cells` are in (a row added or grown: each column keeps its width or widens)."""
        widths = self._widths
        return (*(max(width, cell_width(cell)) for width, cell in zip(widths, cells, strict=False)),
                *widths[len(cells):])

    def _measure(self) -> tuple[int, ...]:
        widths = [len(h) + 2 * PADDING for h in self._headers]
        for cells in self._cells.values():
            for i, cell in enumerate(cells[:len(widths)]):
                widths[i] = max(widths[i], cell_width(cell))
        return tuple(widths)

    # -- the cursor ----------------------------------------------------------------------------------------

    def validate_cursor_row(self, row: int) -> int:
        return max(0, min(row, len(self._keys) - 1))

    def watch_cursor_row(self, old: int, new: int) -> None:
        self.refresh_line(old + 1)
        self.refresh_line(new + 1)
        self.post_message(self.RowHighlighted(self, new, self.row_key_at(new)))

    def move_cursor(self, row: int, scroll: bool = True) -> None:
        self.cursor_row = row
        if scroll:
            self.scroll_to_row(self.cursor_row)

    def scroll_to_row(self, row: int) -> None:
        """Scroll the least that shows `row` under the header."""
        rows_shown = max(1, self.scrollable_content_region.height - 1)
        top = int(self.scroll_y)
        if row < top:
            self.scroll_to(y=row, animate=False, immediate=True)
        elif row >= top + rows_shown:
            self.scroll_to(y=row - rows_shown + 1, animate=False, immediate=True)

    def action_cursor_up(self) -> None:
        self.move_cursor(self.cursor_row - 1)

    def action_cursor_down(self) -> None:
        self.move_cursor(self.cursor_row + 1)

    def action_page_up(self) -> None:
        self.move_cursor(self.cursor_row - max(1, self.scrollable_content_region.height - 1))

    def action_page_down(self) -> None:
        self.move_cursor(self.cursor_row + max(1, self.scrollable_content_region.height - 1))

    def action_scroll_top(self) -> None:
        self.move_cursor(0)

    def action_scroll_bottom(self) -> None:
        self.move_cursor(len(self._keys) - 1)

    def _on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is not None and offset.y > 0:  # line 0 is the header
            self.move_cursor(int(self.scroll_y) + offset.y - 1, scroll=False)

    def _on_focus(self, event: events.Focus) -> None:
        self.refresh_line(self.cursor_row + 1)  # the cursor's style follows the focus

    def _on_blur(self, event: events.Blur) -> None:
        self.refresh_line(self.cursor_row + 1)

    # -- drawing -------------------------------------------------------------------------------------------

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        base = self.rich_style
        if y == 0:
            return self._line(self._headers, base + self.get_component_rich_style("rowtable--header"), width)
        row = int(self.scroll_y) + y - 1
        key = self.row_key_at(row)
        if key is None:
            return Strip.blank(width, base)
        style = base + self.get_component_rich_style("rowtable--cursor") if row == self.cursor_row else base
        cells = self._cells[key]
        drawn_from = (cells, self._widths, width, style)
        drawn = self._drawn.get(key)
        if drawn is None or drawn[0] != drawn_from:
            drawn = (drawn_from, self._line(cells, style, width))
            self._drawn[key] = drawn
        return drawn[1]

    def _line(self, cells: tuple[Cell, ...], style: Style, width: int) -> Strip:
        """The cells padded to their columns' widths; a cell too long for its column ends in an ellipsis, and
        the line is cut at the table's width. A cell's own colours win over the line's (the cursor's
        background stays)."""
        line = Text(no_wrap=True, end="")
        pad = " " * PADDING
        for cell, column_width in zip(cells, self._widths, strict=False):
            text = cell.copy() if isinstance(cell, Text) else Text(cell)
            text.truncate(column_width - 2 * PADDING, overflow="ellipsis", pad=True)
            line.append(pad)
            line.append_text(text)
            line.append(pad)
        line.stylize_before(style)
        return Strip(line.render(self.app.console, end="")).adjust_cell_length(width, style)
