"""What the app's forms (new container, new network) share: a title, fields as label and input in a grid,
checkboxes under them, an error line, Create and Cancel buttons, and ctrl+s / enter / esc."""

from __future__ import annotations

from typing import ClassVar, Generic, TypeVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Grid, Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label

from tuiker.engine import TuikerError
from tuiker.tui.widgets.keybar import KeyBar

Result = TypeVar("Result")


def field(label: str, input_id: str, placeholder: str = "", value: str = "", **kwargs) -> ComposeResult:
    """A label and its one-line input, for a `.fields` grid."""
    yield Label(label)
    yield Input(value=value, placeholder=placeholder, id=input_id, compact=True, **kwargs)


class FormScreen(ModalScreen[Result | None], Generic[Result]):
    """Dismissed with `result()` when it is valid, or None when cancelled. `result` raises TuikerError naming
    the field that is wrong; the form shows it and stays. Subclasses say what goes in the grid of fields
    (`compose_fields`) and the row of checkboxes (`compose_switches`)."""

    FORM_TITLE: ClassVar[str] = ""
    SUBMIT: ClassVar[str] = "Create"  # the submit button's word (ctrl+s's in the footer: override the binding)

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "dismiss(None)", "Cancel"),
        Binding("ctrl+s", "create", "Create"),
        # Priority: the focus moves when Tab is read, not once the field has it, so the keys read with it (a
        # fast typist's, a paste the terminal did not bracket) go to the next field: `abc` Tab `def` became
        # `abcdef` in the first. A bracketed paste is the field's: its Tabs stay text, as Textual's Input keeps.
        Binding("tab", "app.focus_next", "Next field", show=False, priority=True),
        Binding("shift+tab", "app.focus_previous", "Previous field", show=False, priority=True),
    ]

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog form"):
            yield Label(self.FORM_TITLE, classes="title")
            with Grid(classes="fields"):
                yield from self.compose_fields()
            with Horizontal(classes="switches"):
                yield from self.compose_switches()
            yield Label("", id="form-error", classes="error")
            with Horizontal(classes="buttons"):
                yield Button(f"{self.SUBMIT} (ctrl+s)", id="create", variant="primary")
                yield Button("Cancel (esc)", id="cancel")
        yield KeyBar()

    def compose_fields(self) -> ComposeResult:
        raise NotImplementedError

    def compose_switches(self) -> ComposeResult:
        raise NotImplementedError

    def result(self) -> Result:
        raise NotImplementedError

    def text(self, input_id: str) -> str:
        return self.query_one(f"#{input_id}", Input).value.strip()

    def action_create(self) -> None:
        try:
            result = self.result()
        except TuikerError as e:
            self.query_one("#form-error", Label).update(str(e))
            return
        self.dismiss(result)

    @on(Input.Submitted)
    def _submitted(self) -> None:
        self.action_create()

    @on(Button.Pressed, "#create")
    def _create_pressed(self) -> None:
        self.action_create()

    @on(Button.Pressed, "#cancel")
    def _cancel_pressed(self) -> None:
        self.dismiss(None)
