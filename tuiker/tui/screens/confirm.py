"""A yes/no question before something that cannot be undone, with an optional third answer (force)."""

from __future__ import annotations

from typing import ClassVar

from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Label

from tuiker.tui.widgets.keybar import KeyBar


class ConfirmScreen(ModalScreen[str | None]):
    """Dismissed with the chosen answer's value, or None when cancelled. Each answer is (key, label, value);
    its key answers it, and so does clicking its button."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,n", "dismiss(None)", "Cancel")]

    def __init__(self, question: str, answers: list[tuple[str, str, str]]) -> None:
        super().__init__()
        self.question = question
        self.answers = answers

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(self.question, classes="question")
            with Horizontal(classes="buttons"):
                for key, label, value in self.answers:
                    yield Button(f"{label} ({key})", id=f"answer-{value}", variant="error")
                yield Button("Cancel (n)", id="cancel")
        yield KeyBar()

    def on_key(self, event: events.Key) -> None:
        for key, _label, value in self.answers:
            if event.key == key:
                event.stop()
                self.dismiss(value)

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        self.dismiss(None if event.button.id == "cancel" else event.button.id.removeprefix("answer-"))
