"""`L`: one timeline of every container's log (or one compose project's), ordered by time, each line led by its
container's name in a colour of its own.

The Logs tab's view is reused whole (search, `n`/`N`, wrap, follow, timestamps, bounded memory, the sanitizing
of what containers print); only where the records come from differs: one reader per container, their records
merged by time stamp (a k-way merge, heapq) in the view's worker thread, the newest `INITIAL` of each first."""

from __future__ import annotations

import heapq
import time
import zlib
from collections import deque
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import Label

from tuiker.engine import Container, LogReader, LogRecord, parse_time
from tuiker.tui.widgets.keybar import KeyBar
from tuiker.tui.widgets.lists import COMPOSE_PROJECT
from tuiker.tui.widgets.logs import LogView, plain, safe_line

# Foreground colours (SGR parameters) told apart on dark and light terminals; a container keeps its colour
# from run to run (chosen by a hash of its ID, not by the order containers were found).
PALETTE = ("1;31", "1;32", "1;33", "1;34", "1;35", "1;36", "38;5;208", "38;5;141", "38;5;43", "38;5;205",
           "38;5;111", "38;5;150")


def colour_of(container_id: str) -> str:
    return PALETTE[zlib.crc32(container_id.encode()) % len(PALETTE)]


class TimelineRecord(LogRecord):
    """A LogRecord with the container it came from and its time as a number, to merge by."""

    __slots__ = ("name", "colour", "key")

    def __init__(self, record: LogRecord, name: str, colour: str) -> None:
        super().__init__(record.time, record.stream, record.text)
        self.name = name
        self.colour = colour
        self.key = parse_time(record.time) or 0.0


class TimelineView(LogView):
    """A LogView fed by every matching container's reader. Each poll reads all readers, merges what they gave by
    time (each container's own order kept for equal times), and posts it as one batch; containers created
    meanwhile join at the next listing. A record stamped before one already shown, but read in a later poll,
    is merged into place (the view is redrawn)."""

    MAX_LINES = 10000
    INITIAL = 1000  # per container
    LIST_EVERY = 2.0  # seconds between looks for new containers

    def __init__(self, project: str | None = None, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.project = project
        self.readers: dict[str, tuple[str, str, LogReader]] = {}  # container ID: name, colour, reader
        self._next_listing = 0.0
        self._reader = self  # type: ignore[assignment]  # the source Appended messages are checked against
        self._width = 0

    def on_unmount(self) -> None:  # LogView's own (stopping the poller) runs too: Textual calls each class's
        for _name, _colour, reader in list(self.readers.values()):
            close = getattr(reader, "close", None)  # a RemoteEngine's reader holds a stream open
            if close:
                close()

    def wanted(self, container: Container) -> bool:
        if self.project is None:
            return True
        labels = container.config.get("Config", {}).get("Labels") or {}
        return labels.get(COMPOSE_PROJECT) == self.project

    def _list(self) -> None:
        containers = self.app.engine.containers
        for c in containers.list(all=True):
            if c.id not in self.readers and self.wanted(c):
                name = plain(safe_line(c.name))
                self.readers[c.id] = (name, colour_of(c.id), containers.log_reader(c, self.INITIAL))
                self._width = max(self._width, len(name))

    def _read(self) -> None:
        if time.monotonic() >= self._next_listing:
            self._list()
            self._next_listing = time.monotonic() + self.LIST_EVERY
        batches = []
        for name, colour, reader in list(self.readers.values()):
            records = reader.read()
            if records:
                batches.append([TimelineRecord(r, name, colour) for r in records])
        if batches:
            # Only the newest MAX_LINES are kept anyway: the deque bounds the first read's N x INITIAL.
            merged = deque(heapq.merge(*batches, key=lambda r: r.key), maxlen=self.MAX_LINES)
            self.post_message(self.Appended(self._reader, list(merged)))  # type: ignore[arg-type]

    def on_log_view_appended(self, message: LogView.Appended) -> None:
        """Records older than the newest shown (a RemoteEngine's reader gives its first ones when its stream
        brings them, maybe a poll after the others') are merged into place and the view redrawn; in-order ones
        are appended by LogView's handler, which Textual calls after this one."""
        records = message.records
        if message.reader is self._reader and self.records and records and records[0].key < self.records[-1].key:
            merged = list(heapq.merge(self.records, records, key=lambda r: r.key))
            self.records.clear()
            self.records.extend(merged)  # bounded: the deque keeps the newest MAX_LINES
            self._rewrite()
            message.prevent_default()

    def _format(self, record: LogRecord) -> str:
        assert isinstance(record, TimelineRecord)
        return f"\x1b[{record.colour}m{record.name:<{self._width}}\x1b[0m │ {super()._format(record)}"

    def _matches(self, record: LogRecord) -> bool:
        term = self.highlighter.term.lower()
        return super()._matches(record) or (isinstance(record, TimelineRecord) and term in record.name.lower())


class TimelineScreen(Screen[None]):
    """The timeline on the whole screen; esc comes back."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("f", "toggle_follow", "Follow"),
        Binding("t", "toggle_timestamps", "Timestamps"),
    ]

    def __init__(self, project: str | None = None) -> None:
        super().__init__()
        self.project = project

    def compose(self) -> ComposeResult:
        what = f"compose project {self.project}" if self.project else "all containers"
        yield Label(f"Log timeline: {what}", classes="title", markup=False)
        yield TimelineView(self.project, id="timeline")
        yield KeyBar()

    @property
    def view(self) -> TimelineView:
        return self.query_one(TimelineView)

    def on_mount(self) -> None:
        self.view.log_widget.focus()

    def action_toggle_follow(self) -> None:
        self.view.action_toggle_follow()

    def action_toggle_timestamps(self) -> None:
        self.view.action_toggle_timestamps()
