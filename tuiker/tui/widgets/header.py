"""The top line: which engine this is and what it holds."""

from __future__ import annotations

from pathlib import Path

from rich.text import Text
from textual.widgets import Static

from tuiker.engine import LIVE_STATES, Container, cgroup_version


class EngineHeader(Static):
    def __init__(self, root: Path, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.root = root
        self.cgroup_version = cgroup_version()

    def on_mount(self) -> None:
        self.show_counts([], 0)

    def show_counts(self, containers: list[Container], images: int) -> None:
        running = sum(c.status in LIVE_STATES for c in containers)
        text = Text.assemble(("tuiker", "bold"), "  ", ("root ", "dim"), str(self.root), "  ",
                             ("cgroup ", "dim"), f"v{self.cgroup_version}", "  ", ("containers ", "dim"),
                             f"{running} running / {len(containers)}", "  ", ("images ", "dim"), str(images))
        self.update(text)
