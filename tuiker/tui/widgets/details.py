"""The main pane: the selected container's tabs (Logs, Stats, Inspect, Top, Env, and a tab per terminal), or
the selected image's inspect document. Only the tab on screen reads anything."""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from typing import Any, Protocol

import yaml
from rich.syntax import Syntax
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.message import Message
from textual.widgets import DataTable, Static, TabbedContent, TabPane
from textual.worker import get_current_worker

from tuiker.engine import Container, ProcessRow, ProcessTable, Session
from tuiker.fmt import human_size
from tuiker.tui.widgets.logs import LogView
from tuiker.tui.widgets.poller import Poller, one_line
from tuiker.tui.widgets.stats import StatsView
from tuiker.tui.widgets.terminal import Terminal


class OnDemandView(Protocol):
    """A tab that reads only while on screen; hidden, it keeps what it shows."""

    def show(self, container: Container | None) -> None: ...

    def hide(self) -> None: ...


class YamlView(VerticalScroll):
    """A document (inspect output) as highlighted YAML, read and highlighted in a worker. `load` with the key
    already shown does nothing, so a refresh that changed nothing costs nothing."""

    class Loaded(Message):
        def __init__(self, key: object, text: str, highlighted: Text) -> None:
            super().__init__()
            self.key = key
            self.text = text
            self.highlighted = highlighted

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self._key: object = None
        self.text = ""  # the YAML shown

    def compose(self) -> ComposeResult:
        yield Static(classes="document")

    def load(self, key: object, read: Callable[[], Any]) -> None:
        if key == self._key:
            return
        self._key = key
        if key is None:
            self.text = ""
            self.query_one(Static).update("")
            return
        self._read(key, read)

    @work(thread=True, exclusive=True, exit_on_error=False)
    def _read(self, key: object, read: Callable[[], Any]) -> None:
        try:
            text = yaml.safe_dump(read(), sort_keys=False, width=1000, allow_unicode=True)
        except Exception as e:  # noqa: BLE001 - shown in place of the document, never raised
            text = f"# {one_line(e)}\n"
        # Highlighted here, off the UI thread: pygments takes tens of ms on a long document.
        highlighted = Syntax(text, "yaml", theme="ansi_dark", background_color="default").highlight(text)
        if not get_current_worker().is_cancelled:
            self.post_message(self.Loaded(key, text, highlighted))

    def on_yaml_view_loaded(self, message: Loaded) -> None:
        if message.key == self._key:
            self.text = message.text
            self.query_one(Static).update(message.highlighted)


class InspectView(YamlView):
    """The Inspect tab: `tuiker inspect` of the container, re-read when its state changes."""

    def show(self, container: Container | None) -> None:
        if container is None:
            self.load(None, dict)
            return
        containers = self.app.engine.containers
        self.load((container.id, json.dumps(container.state, sort_keys=True)),
                  lambda: containers.inspect(container.id))

    def hide(self) -> None:
        """Nothing to stop: the document stays, and is read again only if the container changed meanwhile."""


class EnvView(DataTable):
    """The Env tab: the container's environment, KEY and value, as lazydocker's."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=True)
        self._shown: list[str] | None = None

    def on_mount(self) -> None:
        self.add_columns("KEY", "VALUE")

    def show(self, container: Container | None) -> None:
        env = list(container.config["Config"].get("Env") or []) if container else []
        if env == self._shown:
            return
        self._shown = env
        self.clear()
        for item in env:
            key, _, value = item.partition("=")
            self.add_row(key, value)


class TopView(DataTable):
    """The Top tab: the container's processes (psutil), refreshed every two seconds while shown."""

    INTERVAL = 2.0

    class Listed(Message, bubble=False):
        def __init__(self, table: ProcessTable, rows: list[ProcessRow]) -> None:
            super().__init__()
            self.table = table
            self.rows = rows

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=True)
        self._processes: ProcessTable | None = None
        self._container_id: str | None = None
        self._shown = False
        self._poller = Poller(self, self._list, self.INTERVAL)

    def on_mount(self) -> None:
        self.add_columns("USER", "PID", "PPID", "CPU %", "RSS", "STATE", "COMMAND")
        self._poller.start()

    def on_unmount(self) -> None:
        self._poller.stop()

    def show(self, container: Container | None) -> None:
        self._shown = True
        running = container is not None and container.status in ("running", "paused")
        if not (running and container.id == self._container_id):
            self._container_id = container.id if running else None
            self._processes = self.app.engine.containers.top(container) if running else None
            self.clear()
        self._poller.poke()

    def hide(self) -> None:
        """Stop listing (psutil calls every two seconds); the rows stay until shown again."""
        self._shown = False

    def _list(self) -> None:
        processes = self._processes
        if processes is not None and self._shown:
            self.post_message(self.Listed(processes, processes.rows()))

    def on_top_view_listed(self, message: Listed) -> None:
        if message.table is not self._processes:
            return
        row = self.cursor_row
        self.clear()
        for p in message.rows:
            self.add_row(p.user, str(p.pid), str(p.ppid), f"{p.cpu_percent:.1f}", human_size(p.memory), p.state,
                         p.command)
        self.move_cursor(row=row, animate=False, scroll=False)


class ContainerDetails(Vertical):
    """The tabs of the selected container. Terminal tabs (exec, attach) stay open while another container is
    selected, and close when their process ends."""

    _terminal_ids = itertools.count(1)

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, classes="panel")
        self.container: Container | None = None

    def compose(self) -> ComposeResult:
        with TabbedContent(id="container-tabs"):
            with TabPane("Logs", id="tab-logs"):
                yield LogView(id="logs")
            with TabPane("Stats", id="tab-stats"):
                yield StatsView(id="stats")
            with TabPane("Inspect", id="tab-inspect"):
                yield InspectView(id="inspect")
            with TabPane("Top", id="tab-top"):
                yield TopView(id="top")
            with TabPane("Env", id="tab-env"):
                yield EnvView(id="env")

    @property
    def tabs(self) -> TabbedContent:
        return self.query_one(TabbedContent)

    def show(self, container: Container | None) -> None:
        """Show `container` (or its new state). Logs, Stats and Env follow it even when hidden (cheap, and they
        keep their history across tab switches); Inspect and Top read only while on screen."""
        self.container = container
        self.border_title = container.name if container else "no container"
        self.query_one(LogView).show(container)
        self.query_one(StatsView).show(container)
        self.query_one(EnvView).show(container)
        on_demand: list[tuple[str, OnDemandView]] = [("tab-inspect", self.query_one(InspectView)),
                                                     ("tab-top", self.query_one(TopView))]
        for pane_id, view in on_demand:
            if pane_id == self.tabs.active:
                view.show(container)
            else:
                view.hide()

    @on(TabbedContent.TabActivated)
    def _tab_changed(self) -> None:
        self.show(self.container)  # and on to the screen, whose keys depend on the tab

    async def open_terminal(self, title: str, connect: Callable[[tuple[int, int]], Session],
                            pipes: bool = False, hangup: bool = False) -> Terminal:
        """A new tab running `connect`'s process in a terminal, shown and focused (`pipes`, `hangup`: see
        Terminal)."""
        terminal = Terminal(connect, title=title, pipes=pipes, hangup=hangup)
        pane = TabPane(title, terminal, id=f"tab-terminal-{next(self._terminal_ids)}")
        await self.tabs.add_pane(pane)
        self.tabs.active = pane.id
        terminal.focus()
        return terminal

    async def close_terminal(self, terminal: Terminal) -> None:
        pane = terminal.query_ancestor(TabPane)
        if pane.id == self.tabs.active:
            self.tabs.active = "tab-logs"
        await self.tabs.remove_pane(pane.id)
