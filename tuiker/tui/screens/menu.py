"""A menu of choices (lazydocker's bulk and custom-command menus): enter picks one, esc cancels."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, OptionList
from textual.widgets.option_list import Option

from tuiker.tui.widgets.keybar import KeyBar


class MenuScreen(ModalScreen[str | None]):
    """Dismissed with the chosen item's value, or None. Items are (label, value); labels are shown as plain
    text (they may hold names a container chose)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q", "dismiss(None)", "Cancel"),
        Binding("j", "move(1)", "Down", show=False),
        Binding("k", "move(-1)", "Up", show=False),
    ]

    def __init__(self, title: str, items: list[tuple[str, str]], hint: str = "") -> None:
        super().__init__()
        self.title_text = title
        self.items = items
        self.hint = hint

    def compose(self) -> ComposeResult:
        from rich.text import Text

        with Vertical(classes="dialog menu"):
            yield Label(self.title_text, classes="title", markup=False)
            yield OptionList(*[Option(Text(label), id=value) for label, value in self.items])
            if self.hint:
                yield Label(self.hint, classes="hint", markup=False)
        yield KeyBar()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.dismiss(event.option.id)

    def action_move(self, step: int) -> None:
        options = self.query_one(OptionList)
        if step > 0:
            options.action_cursor_down()
        else:
            options.action_cursor_up()
