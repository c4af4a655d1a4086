"""`N` on the Networks panel: a form for `tuiker network create [--subnet CIDR] [--internal] NAME`."""

from __future__ import annotations

from dataclasses import dataclass

from textual.app import ComposeResult
from textual.widgets import Checkbox

from tuiker.engine import TuikerError, check_network_name
from tuiker.tui.screens.form import FormScreen, field


@dataclass
class NewNetwork:
    name: str
    subnet: str | None
    internal: bool


class NewNetworkScreen(FormScreen[NewNetwork]):
    """Dismissed with the network to create, or None when cancelled. The subnet is checked by the engine
    (whether it overlaps another is only known there); the name here, so a typo stays in the form."""

    FORM_TITLE = "New network"

    def compose_fields(self) -> ComposeResult:
        yield from field("Name", "network-name", "e.g. app")
        yield from field("Subnet", "subnet", "the engine picks one when empty, e.g. 10.1.0.0/24")

    def compose_switches(self) -> ComposeResult:
        yield Checkbox("Internal (no access to the outside)", id="internal")

    def result(self) -> NewNetwork:
        name = self.text("network-name")
        if not name:
            raise TuikerError("a name is required")
        check_network_name(name)
        return NewNetwork(name, self.text("subnet") or None, self.query_one("#internal", Checkbox).value)
