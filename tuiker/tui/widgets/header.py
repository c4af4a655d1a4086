"""The top line: which engine this is and what it holds."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from tuiker.engine import LIVE_STATES, Container, Engine


class EngineHeader(Static):
    def __init__(self, engine: Engine, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.engine_name = engine.name
        self.where = engine.header()  # (label, value): the root and cgroup version, or the far engine's address

    def on_mount(self) -> None:
        self.show_counts([], 0)

    def show_counts(self, containers: list[Container], images: int) -> None:
        running = sum(c.status in LIVE_STATES for c in containers)
        where = [part for label, value in self.where for part in ((f"{label} ", "dim"), value, "  ")]
        text = Text.assemble((self.engine_name, "bold"), "  ", *where, ("containers ", "dim"),
                             f"{running} running / {len(containers)}", "  ", ("images ", "dim"), str(images))
        self.update(text)
