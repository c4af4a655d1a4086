"""`n`: a form for a new container, the `tuiker run -d` flags people use most."""

from __future__ import annotations

import shlex
from dataclasses import dataclass

from textual.app import ComposeResult
from textual.suggester import SuggestFromList
from textual.widgets import Checkbox, Label, Select

from tuiker.engine import DEFAULT_NETWORK, RunOptions, TuikerError, parse_size
from tuiker.tui.screens.form import FormScreen, field

RESTART_POLICIES = ["no", "on-failure", "always", "unless-stopped"]


@dataclass
class NewContainer:
    options: RunOptions
    start: bool


class NewContainerScreen(FormScreen[NewContainer]):
    """Dismissed with the options to create (and whether to start), or None when cancelled."""

    def __init__(self, images: list[str], image: str = "", networks: list[str] | None = None,
                 network: str | None = None) -> None:
        super().__init__()
        self.images = images
        self.image = image
        self.networks = networks or [DEFAULT_NETWORK]
        self.network = network if network in self.networks else DEFAULT_NETWORK

    FORM_TITLE = "New container"

    def compose_fields(self) -> ComposeResult:
        yield from field("Image", "image", "busybox:latest", self.image,
                         suggester=SuggestFromList(self.images, case_sensitive=False))
        yield from field("Name", "name", "generated when empty")
        yield from field("Command", "command", "the image's when empty, e.g. sh -c 'echo hi; sleep 60'")
        yield from field("Environment", "env", "KEY=value OTHER=value")
        yield Label("Network")
        yield Select([(n, n) for n in self.networks], value=self.network, allow_blank=False, id="network",
                     compact=True)
        yield from field("Ports", "ports", "8080:80 127.0.0.1:5353:53/udp (not with host or none)")
        yield from field("CPUs", "cpus", "e.g. 1.5", type="number")
        yield from field("Memory", "memory", "e.g. 256m")
        yield from field("PIDs limit", "pids", "e.g. 100", type="integer")
        yield Label("Restart")
        yield Select([(p, p) for p in RESTART_POLICIES], value="no", allow_blank=False, id="restart", compact=True)

    def compose_switches(self) -> ComposeResult:
        yield Checkbox("Terminal (-it)", id="tty")
        yield Checkbox("Start it now", value=True, id="start")

    def options(self) -> RunOptions:
        """The form as RunOptions; raises TuikerError naming the field that is wrong."""
        image = self.text("image")
        if not image:
            raise TuikerError("an image is required")
        try:
            command = shlex.split(self.text("command")) or None
            env = shlex.split(self.text("env"))
        except ValueError as e:
            raise TuikerError(f"command or environment: {e}") from None
        bad_env = [item for item in env if "=" not in item]
        if bad_env:
            raise TuikerError(f"environment: {bad_env[0]!r} is not KEY=value")
        tty = self.query_one("#tty", Checkbox).value
        return RunOptions(
            image=image, name=self.text("name") or None, command=command, env=env, tty=tty, interactive=tty,
            network=str(self.query_one("#network", Select).value), ports=self.text("ports").split(),
            cpus=_number(self.text("cpus"), float, "CPUs"),
            memory=parse_size(self.text("memory"), "memory") if self.text("memory") else None,
            pids_limit=_number(self.text("pids"), int, "PIDs limit"),
            restart=str(self.query_one("#restart", Select).value))

    def result(self) -> NewContainer:
        return NewContainer(self.options(), self.query_one("#start", Checkbox).value)


def _number(text: str, kind: type[int] | type[float], what: str) -> int | float | None:
    if not text:
        return None
    try:
        return kind(text)
    except ValueError:
        raise TuikerError(f"{what}: {text!r} is not a number") from None
