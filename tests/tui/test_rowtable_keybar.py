"""The two widgets the main screen is drawn with for speed: RowTable (the side lists) and KeyBar (the keys at the
bottom), in a small app of their own."""

from __future__ import annotations

from typing import ClassVar

from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from tuihelpers import screen_lines

from tuiker.tui.widgets.keybar import KeyBar
from tuiker.tui.widgets.rowtable import RowTable


class TableApp(App):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("x", "mark", "Mark"),
        Binding("z", "never", "Never"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.marks = 0
        self.highlighted: list[str | None] = []

    def compose(self) -> ComposeResult:
        yield RowTable()
        yield KeyBar()

    def on_mount(self) -> None:
        table = self.query_one(RowTable)
        table.add_columns("NAME", "STATE")
        for i in range(30):
            table.add_row(f"c{i:02d}", "running", key=f"id{i}")
        table.focus()

    def on_row_table_row_highlighted(self, message: RowTable.RowHighlighted) -> None:
        self.highlighted.append(message.row_key)

    def action_mark(self) -> None:
        self.marks += 1

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        return None if action == "never" else True  # None: shown, disabled (False would hide it)


async def test_rowtable_cursor_scroll_and_cells():
    app = TableApp()
    async with app.run_test(size=(40, 12)) as pilot:
        table = app.query_one(RowTable)
        await pilot.pause()
        assert screen_lines(app)[0].startswith(" NAME  STATE")
        await pilot.press("down", "down")
        assert table.cursor_row == 2 and app.highlighted[-1] == "id2"
        await pilot.press("end")
        await pilot.pause()
        assert table.cursor_row == 29 and table.scroll_y > 0
        assert " c29 " in screen_lines(app)[10]  # the last row shown at the bottom, under the header that stays
        assert screen_lines(app)[0].startswith(" NAME")
        await pilot.press("home")
        await pilot.pause()
        assert table.cursor_row == 0 and table.scroll_y == 0
        # A cell that grows widens its column; the cursor stays on its row.
        table.update_row("id0", ("a-much-longer-name", "exited"))
        await pilot.pause()
        assert table.column_widths() == (len("a-much-longer-name") + 2, len("running") + 2)
        assert table.get_row_at(0) == ["a-much-longer-name", "exited"] and table.cursor_row == 0
        table.update_row("id0", ("c00", "exited"))  # the widest cell got shorter: its column narrows again
        assert table.column_widths() == (len("NAME") + 2, len("running") + 2)
        table.update_row("id0", ("a-much-longer-name", "exited"))
        # Cells wider than the table are cut, never wrapped.
        table.update_row("id1", ("x" * 80, "exited"))
        await pilot.pause()
        line = screen_lines(app)[2]
        assert len(line) == 40 and "xxxx" in line
        # A click on a row selects it (the header is line 0, so the screen's line 3 is the third row).
        await pilot.click(RowTable, offset=(2, 3))
        assert table.cursor_row == 2 and app.highlighted[-1] == "id2"
        await pilot.click(RowTable, offset=(2, 0))  # the header: no row
        assert table.cursor_row == 2
        table.clear()
        await pilot.pause()
        assert table.row_count == 0 and table.row_key_at(table.cursor_row) is None


async def test_keybar_shows_the_keys_and_a_click_presses_one():
    app = TableApp()
    async with app.run_test(size=(60, 12)) as pilot:
        await pilot.pause()
        bar = app.query_one(KeyBar)
        text = screen_lines(app)[-1]
        assert text.startswith(" x Mark  z Never ") and text.rstrip().endswith("^p palette"), text
        x = text.index(" x ")
        await pilot.click(KeyBar, offset=(x + 1, 0))
        assert app.marks == 1
        z = text.index(" z ")
        await pilot.click(KeyBar, offset=(z + 1, 0))  # its action does not apply: a bell, nothing run
        assert app.marks == 1
        dims = [span for span in bar.render().spans if span.style and getattr(span.style, "dim", False)]
        assert dims, "the key whose action does not apply is dimmed"
