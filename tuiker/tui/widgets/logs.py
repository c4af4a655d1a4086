"""The Logs tab: a container's output, followed live, in its colours, with search, wrapping and a timestamps
toggle.

A container writes what it likes: of its escape sequences only SGR (colours, bold ...) is kept, and it is
decoded into styles (rich's AnsiDecoder, on text that holds no other sequence: no hyperlink, no title, no cursor
move); every other sequence is dropped and every other control character shown as U+FFFD, so nothing it prints
reaches the terminal as a command. Lines are Text, never markup."""

from __future__ import annotations

import re
from collections import deque
from typing import ClassVar

from rich.ansi import AnsiDecoder
from rich.cells import cell_len
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

# Colour and cursor sequences a program writes to its terminal (CSI, OSC, two-byte ESC sequences); of these,
# SGR (CSI ... m, its parameters digits, ; and :) alone is kept, to be decoded into colours.
ANSI_SEQUENCE = re.compile(r"\x1b(\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)|[@-Z\\-_])")
SGR = re.compile(r"\x1b\[[0-9;:]*m")
# Control characters left once the sequences are gone (C0 but tab, DEL, C1, and the line separators that
# str.splitlines would cut at): shown, never sent.
CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029]")
RESET = "\x1b[0m"
_decoder = AnsiDecoder()


def safe_line(text: str) -> str:
    """`text` with its SGR sequences only, every other sequence dropped and other controls replaced."""
    parts = SGR.split(text)
    codes = SGR.findall(text)
    clean = [CONTROL.sub("\ufffd", ANSI_SEQUENCE.sub("", part).expandtabs()) for part in parts]
    return "".join(p + c for p, c in zip(clean, [*codes, ""], strict=True))


def plain(line: str) -> str:
    """A safe line's text without its colours."""
    return SGR.sub("", line)


def styled(line: str) -> Text:
    """A safe line as Text in its colours (its SGR decoded; no other sequence is left to decode)."""
    return _decoder.decode_line(line) if "\x1b" in line else Text(line)


def wrap_line(line: str, width: int) -> list[str]:
    """A safe line cut into rows of at most `width` cells (by characters, as a terminal wraps); each row starts
    with the colours in force where it starts."""
    if width < 1 or cell_len(plain(line)) <= width:
        return [line]
    rows, row, used, active = [], "", 0, ""
    for token in re.split(f"({SGR.pattern})", line):
        if SGR.fullmatch(token):
            row += token
            active = "" if token in (RESET, "\x1b[m") else active + token
            continue
        for char in token:
            w = cell_len(char)
            if used + w > width:
                rows.append(row + RESET if "\x1b" in row else row)
                row, used = active, 0
            row += char
            used += w
    rows.append(row)
    return rows


class SearchHighlighter(Highlighter):
    def __init__(self) -> None:
        self.term = ""

    def highlight(self, text: Text) -> None:
        if self.term:
            text.highlight_words([self.term], "reverse bold", case_sensitive=False)


class LogLines(Log):
    """Textual's Log, its lines safe_line's (SGR kept) drawn in their colours, with one line marked: the search
    match `n` / `N` went to. `starts` says of each line whether it starts a record (False: a wrapped row)."""

    CURRENT = Style(reverse=True)

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.current: int | None = None
        self.starts: deque[bool] = deque()

    @classmethod
    def _process_line(cls, line: str) -> str:
        return super()._process_line(plain(line))  # the width is the text's, without its colour codes

    def _render_line_strip(self, y: int, rich_style: Style) -> Strip:
        """Log's own, but the line decoded into its colours (Log would show ESC as U+FFFD)."""
        text = styled(self._lines[y])
        text.no_wrap = True
        text.stylize_before(rich_style)
        if self.highlight:
            text = self.highlighter(text)
        return Strip(text.render(self.app.console), text.cell_len)

    def get_selection(self, selection):
        return selection.extract("\n".join(plain(line) for line in self._lines)), "\n"

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
        Binding("w", "toggle_wrap", "Wrap", show=False, id="logs.wrap",
                tooltip="Wrap long lines, or scroll sideways"),
        Binding("g", "top", "Top", show=False, id="logs.top", tooltip="Go to the first line"),
        Binding("G", "bottom", "Bottom", show=False, id="logs.bottom", tooltip="Go to the last line"),
        Binding("j", "down", "Down", show=False),
        Binding("k", "up", "Up", show=False),
    ]

    # The keys the screen binds for this view (they apply from the containers list too), for the help.
    SCREEN_BINDINGS: ClassVar[list[Binding]] = [
        Binding("t", "toggle_timestamps", "Timestamps", id="logs.timestamps", tooltip="Show or hide timestamps"),
        Binding("f", "toggle_follow", "Follow", id="logs.follow", tooltip="Follow new lines, or stay put"),
        Binding("m", "fullscreen_logs", "Full-screen logs", show=False, id="logs.fullscreen",
                tooltip="Show the selected container's logs on the whole screen (esc comes back)"),
    ]

    class Appended(Message, bubble=False):
        def __init__(self, reader: LogReader, records: list[LogRecord]) -> None:
            super().__init__()
            self.reader = reader
            self.records = records

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.records: deque[LogRecord] = deque(maxlen=self.MAX_LINES)
        self.timestamps = False
        self.wrap = False
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
            records = reader.read(newest=self.MAX_LINES)  # a view keeps no more
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
        width = log.scrollable_content_region.width if self.wrap else 0
        rows, starts = [], []
        for line in lines:
            cut = wrap_line(line, width) if width else [line]
            rows += cut
            starts += [True] + [False] * (len(cut) - 1)
        pruned = len(log.lines) + len(rows) > self.MAX_LINES
        log.write_lines(rows)
        log.starts.extend(starts)
        while len(log.starts) > len(log.lines):
            log.starts.popleft()  # as Log pruned its lines
        if pruned:
            log.refresh()

    def _format(self, record: LogRecord) -> str:
        text = safe_line(record.text.rstrip("\n").rstrip("\r"))
        return f"{record.time} {text}" if self.timestamps else text

    def _matches(self, record: LogRecord) -> bool:
        term = self.highlighter.term
        return not term or term.lower() in plain(safe_line(record.text)).lower()

    def _rewrite(self) -> None:
        log = self.log_widget
        log.clear()
        log.starts.clear()
        log.current = None
        self._write([self._format(r) for r in self.records if self._matches(r)])
        self._describe()

    def _describe(self) -> None:
        log = self.log_widget
        parts = ["following" if log.auto_scroll else "not following (f)",
                 "timestamps" if self.timestamps else "", "wrapped" if self.wrap else ""]
        if self.highlighter.term:
            parts.append(f"search: {self.highlighter.term}")
            if log.current is not None:
                starts = list(log.starts)
                parts.append(f"match {sum(starts[:log.current + 1])}/{sum(starts)}")
        self.query_one(".log-status", Label).update(" · ".join(p for p in parts if p))

    def action_toggle_timestamps(self) -> None:
        self.timestamps = not self.timestamps
        self._rewrite()

    async def action_fullscreen_logs(self) -> None:
        await self.run_action("screen.fullscreen_logs")  # the screen's (from the command palette's Logs entry)

    def action_toggle_wrap(self) -> None:
        self.wrap = not self.wrap
        self._rewrite()

    def on_resize(self) -> None:
        if self.wrap:
            self.call_after_refresh(self._rewrite)  # the rows are cut to the width

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
        starts = [i for i, start in enumerate(log.starts) if start]  # a wrapped line is one match
        if not starts:
            return
        if log.current is None or log.current not in starts:
            index = starts[0] if step > 0 else starts[-1]
        else:
            index = starts[(starts.index(log.current) + step) % len(starts)]
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
