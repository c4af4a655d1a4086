"""The Logs tab: a container's output, followed live, with search and a timestamps toggle."""

from __future__ import annotations

import re
from collections import deque
from typing import ClassVar

from rich.highlighter import Highlighter
from rich.style import Style
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.message import Message
from textual.strip import Strip
from textual.widgets import Input, Label, Log

from tuiker.engine import Container, LogReader, LogRecord
from tuiker.tui.widgets.lists import FilterInput
from tuiker.tui.widgets.poller import Poller

# Colour and cursor sequences a program writes to its terminal; the log view shows plain text.
ANSI_SEQUENCE = re.compile(r"\x1b(\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)|[@-Z\\-_])")


class SearchHighlighter(Highlighter):
    def __init__(self) -> None:
        self.term = ""

    def highlight(self, text: Text) -> None:
        if self.term:
            text.highlight_words([self.term], "reverse bold", case_sensitive=False)


class LogLines(Log):
    """Textual's Log, with one line marked: the search match `n` / `N` went to."""

    CURRENT = Style(reverse=True)

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.current: int | None = None

    def render_line(self, y: int) -> Strip:
        strip = super().render_line(y)
        if self.current is not None and self.scroll_offset.y + y == self.current:
            strip = strip.apply_style(self.CURRENT)
        return strip

    def mark(self, index: int | None) -> None:
        self.current = index
        if index is not None:
            self.auto_scroll = False  # the match stays in view while lines come
            self.scroll_to(y=max(0, index - self.size.height // 2), animate=False)
        self.refresh()


class LogView(Vertical):
    """The newest `INITIAL` lines, then everything appended; at most `MAX_LINES` held (bounded memory).
    Search shows only the lines that contain the text, highlighted."""

    MAX_LINES = 5000
    INITIAL = 1000
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("slash", "search", "Search", id="logs.search", tooltip="Show only the log lines holding a text"),
        # t and f are the screen's (LOG_KEYS in screens/main.py), so they work from the list too.
        Binding("n", "next_match", "Next match", id="logs.next_match",
                tooltip="Go to the next line the search matches (after /)"),
        Binding("N", "previous_match", "Previous match", id="logs.previous_match",
                tooltip="Go to the previous line the search matches"),
        Binding("g", "top", "Top", show=False, id="logs.top", tooltip="Go to the first line"),
        Binding("G", "bottom", "Bottom", show=False, id="logs.bottom", tooltip="Go to the last line"),
        Binding("j", "down", "Down", show=False),
        Binding("k", "up", "Up", show=False),
    ]

    # The keys the screen binds for this view (they apply from the containers list too), for the help.
    SCREEN_BINDINGS: ClassVar[list[Binding]] = [
        Binding("t", "toggle_timestamps", "Timestamps", id="logs.timestamps", tooltip="Show or hide timestamps"),
        Binding("f", "toggle_follow", "Follow", id="logs.follow", tooltip="Follow new lines, or stay put"),
    ]

    class Appended(Message):
        def __init__(self, reader: LogReader, records: list[LogRecord]) -> None:
            super().__init__()
            self.reader = reader
            self.records = records

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.records: deque[LogRecord] = deque(maxlen=self.MAX_LINES)
        self.timestamps = False
        self.highlighter = SearchHighlighter()
        self._reader: LogReader | None = None
        self._container_id: str | None = None
        self._poller = Poller(self, self._read, 0.25)

    def compose(self) -> ComposeResult:
        log = LogLines(max_lines=self.MAX_LINES, highlight=True, auto_scroll=True)
        log.highlighter = self.highlighter
        yield log
        yield FilterInput(placeholder="search the logs", classes="filter")
        yield Label("", classes="log-status")

    def on_mount(self) -> None:
        self._poller.start()
        self._describe()

    def on_unmount(self) -> None:
        self._poller.stop()

    @property
    def log_widget(self) -> LogLines:
        return self.query_one(LogLines)

    def show(self, container: Container | None) -> None:
        """Follow `container`'s log (None: follow nothing, e.g. while another tab is shown)."""
        if (container.id if container else None) == self._container_id:
            return
        self._container_id = container.id if container else None
        self._reader = self.app.engine.containers.log_reader(container, self.INITIAL) if container else None
        self.records.clear()
        self.log_widget.clear()
        self._poller.poke()

    def _read(self) -> None:
        reader = self._reader
        if reader is not None:
            records = reader.read()
            if records:
                self.post_message(self.Appended(reader, records))

    def on_log_view_appended(self, message: Appended) -> None:
        if message.reader is not self._reader:
            return  # read for a container that is no longer shown
        records = message.records[-self.MAX_LINES:]  # a burst: only its end is kept anyway
        self.records.extend(records)
        self._write([self._format(r) for r in records if self._matches(r)])

    def _write(self, lines: list[str]) -> None:
        """Append to the Log widget. Its write_lines repaints the new lines by their index before it pruned to
        max_lines: when it pruned, those indexes are past the end, and a view already at the bottom stays on
        the old lines (a burst of 200,000 lines ended on screen at line ~140,000, marked following)."""
        log = self.log_widget
        pruned = len(log.lines) + len(lines) > self.MAX_LINES
        log.write_lines(lines)
        if pruned:
            log.refresh()

    def _format(self, record: LogRecord) -> str:
        text = ANSI_SEQUENCE.sub("", record.text).rstrip("\n").rstrip("\r")
        return f"{record.time} {text}" if self.timestamps else text

    def _matches(self, record: LogRecord) -> bool:
        return not self.highlighter.term or self.highlighter.term.lower() in record.text.lower()

    def _rewrite(self) -> None:
        log = self.log_widget
        log.clear()
        log.current = None
        log.write_lines([self._format(r) for r in self.records if self._matches(r)])
        self._describe()

    def _describe(self) -> None:
        parts = ["following" if self.log_widget.auto_scroll else "not following (f)",
                 "timestamps" if self.timestamps else ""]
        if self.highlighter.term:
            parts.append(f"search: {self.highlighter.term}")
            current = self.log_widget.current
            if current is not None:
                parts.append(f"match {current + 1}/{len(self.log_widget.lines)}")
        self.query_one(".log-status", Label).update(" · ".join(p for p in parts if p))

    def action_toggle_timestamps(self) -> None:
        self.timestamps = not self.timestamps
        self._rewrite()

    def action_toggle_follow(self) -> None:
        log = self.log_widget
        log.auto_scroll = not log.auto_scroll
        if log.auto_scroll:
            log.scroll_end(animate=False)
        self._describe()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("next_match", "previous_match"):
            return bool(self.highlighter.term)  # else n and N are the screen's (new container ...)
        return True

    def action_next_match(self) -> None:
        self._step_match(+1)

    def action_previous_match(self) -> None:
        self._step_match(-1)

    def _step_match(self, step: int) -> None:
        """The search shows only the matching lines: step from one to the next, round at the ends."""
        log = self.log_widget
        if not log.lines:
            return
        if log.current is None:
            index = 0 if step > 0 else len(log.lines) - 1
        else:
            index = (log.current + step) % len(log.lines)
        log.mark(index)
        self._describe()

    def action_top(self) -> None:
        self.log_widget.scroll_home(animate=False)

    def action_bottom(self) -> None:
        self.log_widget.scroll_end(animate=False)

    def action_down(self) -> None:
        self.log_widget.scroll_relative(y=1, animate=False)

    def action_up(self) -> None:
        self.log_widget.scroll_relative(y=-1, animate=False)

    def action_search(self) -> None:
        field = self.query_one(FilterInput)
        field.display = True
        field.focus()

    @on(Input.Changed, "FilterInput")
    def _search_changed(self, event: Input.Changed) -> None:
        event.stop()
        self.highlighter.term = event.value
        self._rewrite()

    @on(Input.Submitted, "FilterInput")
    def _search_kept(self, event: Input.Submitted) -> None:
        event.stop()
        if not event.value:
            event.input.display = False
        self.log_widget.focus()

    @on(FilterInput.Cancelled)
    def _search_cleared(self, event: FilterInput.Cancelled) -> None:
        event.stop()
        field = self.query_one(FilterInput)
        field.value = ""
        field.display = False
        self.log_widget.focus()
