"""`?`: every key, by panel, with the ID that remaps it in the config file."""

from __future__ import annotations

from typing import ClassVar

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Label, Static

from tuiker.engine import config_file
from tuiker.tui.widgets.keybar import KeyBar

KeyRow = tuple[str, str, str]  # keys, what they do, binding ID ("" when it cannot be remapped)


class HelpScreen(ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,question_mark", "dismiss", "Close"),
        Binding("j,down", "scroll(1)", "Down", show=False),
        Binding("k,up", "scroll(-1)", "Up", show=False),
        Binding("g,home", "scroll(-1000000)", "Top", show=False),
        Binding("G,end", "scroll(1000000)", "Bottom", show=False),
    ]

    def __init__(self, groups: list[tuple[str, list[KeyRow]]]) -> None:
        super().__init__()
        self.groups = groups

    def compose(self) -> ComposeResult:
        table = Table(box=None, expand=True, show_header=True, header_style="bold")
        table.add_column("Key", style="bold cyan", no_wrap=True)
        table.add_column("Action")
        table.add_column("Remap ID", style="dim", no_wrap=True)
        for title, rows in self.groups:
            table.add_row(Text(title, style="bold underline"), "", "")
            for keys, description, binding_id in rows:
                table.add_row(keys, description, binding_id)
            table.add_row("", "", "")
        with Vertical(classes="dialog help"):
            yield Label("Keys", classes="title")
            with VerticalScroll():
                yield Static(table)
            yield Label(f'Remap keys in {config_file()}: {{"keys": {{"container.stop": "x", "quit": "q,ctrl+q"}}}}',
                        classes="hint", markup=False)
        yield KeyBar()

    def action_scroll(self, lines: int) -> None:
        self.query_one(VerticalScroll).scroll_relative(y=lines, animate=False)
