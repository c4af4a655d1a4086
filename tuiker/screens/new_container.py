"""`n`: a form for a new container, the `tuiker run -d` flags people use most."""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Grid, Horizontal, Vertical
from textual.screen import ModalScreen
from textual.suggester import SuggestFromList
from textual.widgets import Button, Checkbox, Footer, Input, Label, Select

from tuiker.runtime.containers import parse_size
from tuiker.runtime.engine import RunOptions
from tuiker.runtime.errors import TuikerError

RESTART_POLICIES = ["no", "on-failure", "always", "unless-stopped"]


def supports_ports() -> bool:
    """Networking adds `ports` to RunOptions; until then the form has no Ports field."""
    return hasattr(RunOptions, "ports")


@dataclass
class NewContainer:
    options: RunOptions
    start: bool


class NewContainerScreen(ModalScreen[NewContainer | None]):
    """Dismissed with the options to create (and whether to start), or None when cancelled."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "dismiss(None)", "Cancel"),
        Binding("ctrl+s", "create", "Create"),
    ]

    def __init__(self, images: list[str], image: str = "") -> None:
        super().__init__()
        self.images = images
        self.image = image

    def compose(self) -> ComposeResult:
        def field(label: str, input_id: str, placeholder: str = "", value: str = "", **kwargs) -> ComposeResult:
            yield Label(label)
            yield Input(value=value, placeholder=placeholder, id=input_id, compact=True, **kwargs)

        with Vertical(classes="dialog form"):
            yield Label("New container", classes="title")
            with Grid(classes="fields"):
                yield from field("Image", "image", "busybox:latest", self.image,
                                 suggester=SuggestFromList(self.images, case_sensitive=False))
                yield from field("Name", "name", "generated when empty")
                yield from field("Command", "command", "the image's when empty, e.g. sh -c 'echo hi; sleep 60'")
                yield from field("Environment", "env", "KEY=value OTHER=value")
                if supports_ports():
                    yield from field("Ports", "ports", "8080:80 127.0.0.1:5353:53/udp")
                yield from field("CPUs", "cpus", "e.g. 1.5", type="number")
                yield from field("Memory", "memory", "e.g. 256m")
                yield from field("PIDs limit", "pids", "e.g. 100", type="integer")
                yield Label("Restart")
                yield Select([(p, p) for p in RESTART_POLICIES], value="no", allow_blank=False, id="restart",
                             compact=True)
            with Horizontal(classes="switches"):
                yield Checkbox("Terminal (-it)", id="tty")
                yield Checkbox("Start it now", value=True, id="start")
            yield Label("", id="form-error", classes="error")
            with Horizontal(classes="buttons"):
                yield Button("Create (ctrl+s)", id="create", variant="primary")
                yield Button("Cancel (esc)", id="cancel")
        yield Footer()

    def _text(self, input_id: str) -> str:
        return self.query_one(f"#{input_id}", Input).value.strip()

    def options(self) -> RunOptions:
        """The form as RunOptions; raises TuikerError naming the field that is wrong."""
        image = self._text("image")
        if not image:
            raise TuikerError("an image is required")
        try:
            command = shlex.split(self._text("command")) or None
            env = shlex.split(self._text("env"))
        except ValueError as e:
            raise TuikerError(f"command or environment: {e}") from None
        bad_env = [item for item in env if "=" not in item]
        if bad_env:
            raise TuikerError(f"environment: {bad_env[0]!r} is not KEY=value")
        tty = self.query_one("#tty", Checkbox).value
        extra = {"ports": self._text("ports").split()} if supports_ports() else {}
        return RunOptions(
            image=image, name=self._text("name") or None, command=command, env=env, tty=tty, interactive=tty,
            cpus=_number(self._text("cpus"), float, "CPUs"),
            memory=parse_size(self._text("memory"), "memory") if self._text("memory") else None,
            pids_limit=_number(self._text("pids"), int, "PIDs limit"),
            restart=str(self.query_one("#restart", Select).value), **extra)

    def action_create(self) -> None:
        try:
            options = self.options()
        except TuikerError as e:
            self.query_one("#form-error", Label).update(str(e))
            return
        self.dismiss(NewContainer(options, self.query_one("#start", Checkbox).value))

    @on(Input.Submitted)
    def _submitted(self) -> None:
        self.action_create()

    @on(Button.Pressed, "#create")
    def _create_pressed(self) -> None:
        self.action_create()

    @on(Button.Pressed, "#cancel")
    def _cancel_pressed(self) -> None:
        self.dismiss(None)


def _number(text: str, kind: type[int] | type[float], what: str) -> int | float | None:
    if not text:
        return None
    try:
        return kind(text)
    except ValueError:
        raise TuikerError(f"{what}: {text!r} is not a number") from None
