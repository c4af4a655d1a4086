"""A terminal emulator widget: a container's PTY (exec or attach) rendered with pyte.

The process is the engine's Session, as for `tuiker exec -it` (tuiker/cli/stream.py): keys and pastes go in
with `send`, the widget's size with `resize`, and its output and exit code come out of `read`.

Threads: a worker connects and reads the session, feeding pyte under a lock; a writer thread sends what the
UI queues (a big paste must not block the UI on a full socket). The UI thread turns pyte's dirty lines into
cached Strips at most ~30 times a second, so a flood of output costs pyte's parsing, not a repaint per read.
"""

from __future__ import annotations

import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from functools import lru_cache
from typing import Any

import pyte
from rich.segment import Segment
from rich.style import Style
from textual import events, on
from textual.geometry import Region
from textual.message import Message
from textual.strip import Strip
from textual.widget import Widget

from tuiker.engine import Session

HISTORY_LINES = 2000  # scrollback kept per terminal: bounds memory whatever the process prints
FRAME_INTERVAL = 1 / 30  # at most this often the screen is rebuilt while output streams in
FEED_CHUNK = 16384  # bytes fed to pyte per lock hold, so rendering is never stuck behind a long feed
RELEASE_KEY = "ctrl+right_square_bracket"

# Private DEC modes as pyte stores them (shifted left by 5, see pyte.Screen.set_mode).
DECCKM = 1 << 5  # application cursor keys
BRACKETED_PASTE = 2004 << 5
ALT_SCREENS = (47 << 5, 1047 << 5, 1049 << 5)

# -- keys -> bytes -------------------------------------------------------------------------------------

_CURSOR = {"up": "A", "down": "B", "right": "C", "left": "D", "home": "H", "end": "F"}
_TILDE = {"insert": 2, "delete": 3, "pageup": 5, "pagedown": 6, "f5": 15, "f6": 17, "f7": 18, "f8": 19,
          "f9": 20, "f10": 21, "f11": 23, "f12": 24}
_SS3_F = {"f1": "P", "f2": "Q", "f3": "R", "f4": "S"}
_PLAIN = {"enter": "\r", "return": "\r", "tab": "\t", "backspace": "\x7f", "escape": "\x1b", "space": " "}
_CTRL_SYMBOLS = {"@": 0, "at": 0, "space": 0, "2": 0, "left_square_bracket": 0x1b, "3": 0x1b,
                 "backslash": 0x1c, "4": 0x1c, "right_square_bracket": 0x1d, "5": 0x1d,
                 "circumflex_accent": 0x1e, "6": 0x1e, "underscore": 0x1f, "minus": 0x1f, "7": 0x1f,
                 "8": 0x7f, "backspace": 0x08}


def key_to_bytes(key: str, character: str | None, app_cursor: bool = False) -> bytes | None:
    """What an xterm sends for Textual key `key` (e.g. "ctrl+c", "shift+up", "f5"); None if nothing.

    Textual names keys by what was pressed and gives the character only for some (pilot.press("enter")
    has none, a real terminal's Enter has "\\r"), so names decide first and the character is the fallback.
    """
    *mods, base = key.split("+") if key != "+" else ["+"]
    shift, alt, ctrl = "shift" in mods, "alt" in mods or "meta" in mods, "ctrl" in mods
    xmod = 1 + shift + 2 * alt + 4 * ctrl  # xterm's modifier parameter
    text: str | None = None
    if base in _CURSOR:
        if xmod > 1:
            text = f"\x1b[1;{xmod}{_CURSOR[base]}"
        else:
            text = ("\x1bO" if app_cursor else "\x1b[") + _CURSOR[base]
        return text.encode()
    if base in _TILDE:
        return (f"\x1b[{_TILDE[base]};{xmod}~" if xmod > 1 else f"\x1b[{_TILDE[base]}~").encode()
    if base in _SS3_F:
        return (f"\x1b[1;{xmod}{_SS3_F[base]}" if xmod > 1 else f"\x1bO{_SS3_F[base]}").encode()
    if base == "tab" and shift:
        return b"\x1b[Z"
    if ctrl and len(base) == 1 and base.isalpha() and base.isascii():
        text = chr(ord(base.lower()) & 0x1F)
    elif ctrl and base in _CTRL_SYMBOLS:
        text = chr(_CTRL_SYMBOLS[base])
    elif base in _PLAIN:
        text = _PLAIN[base]
    elif character:
        text = character
    elif len(base) == 1 and not ctrl:
        text = base.upper() if shift else base
    if text is None:
        return None
    return (("\x1b" if alt and not text.startswith("\x1b") else "") + text).encode()


# -- pyte cells -> rich styles --------------------------------------------------------------------------

_PYTE_NAMES = {"brown": "yellow", "brightbrown": "bright_yellow"}


def _color(name: str) -> str | None:
    if name == "default":
        return None
    if len(name) == 6 and all(c in "0123456789abcdefABCDEF" for c in name):
        return "#" + name  # 256-colour and truecolour cells come as rrggbb
    name = _PYTE_NAMES.get(name, name)
    return "bright_" + name[6:] if name.startswith("bright") and not name.startswith("bright_") else name


@lru_cache(maxsize=4096)
def _style(fg: str, bg: str, bold: bool, italics: bool, underscore: bool, strikethrough: bool, reverse: bool,
           blink: bool) -> Style:
    # None rather than False, so what the cell does not set comes from the widget's own style.
    return Style(color=_color(fg), bgcolor=_color(bg), bold=bold or None, italic=italics or None,
                 underline=underscore or None, strike=strikethrough or None, reverse=reverse or None,
                 blink=blink or None)


def _render_row(row: dict, columns: int, base: Style, cursor_x: int | None = None) -> Strip:
    """One pyte line as a Strip: runs of equally styled cells become one Segment."""
    segments: list[Segment] = []
    run: list[str] = []
    attrs: tuple | None = None
    for x in range(columns):
        cell = row[x]
        if not cell.data:
            continue  # the stub right of a wide character: the character covers it
        if x == cursor_x:
            if run:
                segments.append(Segment("".join(run), base + _style(*attrs)))
                run, attrs = [], None
            fg, bg, bold, italics, underscore, strike, reverse, blink = cell[1:]
            segments.append(Segment(cell.data, base + _style(fg, bg, bold, italics, underscore, strike,
                                                             not reverse, blink)))
            continue
        cell_attrs = cell[1:]
        if cell_attrs != attrs:
            if run:
                segments.append(Segment("".join(run), base + _style(*attrs)))
            run, attrs = [], cell_attrs
        run.append(cell.data)
    if run:
        segments.append(Segment("".join(run), base + _style(*attrs)))
    return Strip(segments).adjust_cell_length(columns, base)


class _Output(Message, bubble=False):
    """Posted (thread-safely) by the reader: pyte has new content to draw."""


class _Screen(pyte.Screen):
    """pyte's Screen plus what a shell session needs: answers to terminal queries, a bounded scrollback,
    the alternate screen (so `vi` or `top` leave the shell's screen as it was), and a resize that keeps
    the cursor's line in view."""

    def __init__(self, columns: int, lines: int, reply: Callable[[bytes], None]) -> None:
        self.reply = reply
        self.history: deque[dict] = deque(maxlen=HISTORY_LINES)
        self.scrolled_off = 0  # lines added to history since the UI last looked
        self.saved_main: tuple[dict, pyte.screens.Cursor] | None = None
        super().__init__(columns, lines)

    def write_process_input(self, data: str) -> None:
        self.reply(data.encode())

    def reset(self) -> None:
        self.saved_main = None  # a full reset (RIS) leaves the alternate screen for good
        super().reset()

    def index(self) -> None:
        top, bottom = self.margins or (0, self.lines - 1)
        if self.cursor.y == bottom and top == 0 and bottom == self.lines - 1 and self.saved_main is None:
            self.history.append(self.buffer[0])
            self.scrolled_off += 1
        super().index()

    def set_mode(self, *modes_: int, **kwargs: Any) -> None:
        super().set_mode(*modes_, **kwargs)
        if kwargs.get("private") and any(m << 5 in ALT_SCREENS for m in modes_) and self.saved_main is None:
            cursor = pyte.screens.Cursor(self.cursor.x, self.cursor.y, self.cursor.attrs)
            self.saved_main = (dict(self.buffer), cursor)
            self.buffer.clear()
            self.dirty.update(range(self.lines))

    def reset_mode(self, *modes_: int, **kwargs: Any) -> None:
        super().reset_mode(*modes_, **kwargs)
        if kwargs.get("private") and any(m << 5 in ALT_SCREENS for m in modes_) and self.saved_main is not None:
            saved, cursor = self.saved_main
            self.saved_main = None
            self.buffer.clear()
            self.buffer.update({y: row for y, row in saved.items() if y < self.lines})
            self.cursor.x, self.cursor.y, self.cursor.attrs = cursor.x, cursor.y, cursor.attrs
            self.ensure_hbounds()
            self.ensure_vbounds()
            self.dirty.update(range(self.lines))

    def resize(self, lines: int | None = None, columns: int | None = None) -> None:
        lines, columns = lines or self.lines, columns or self.columns
        if (lines, columns) == (self.lines, self.columns):
            return
        # pyte drops lines from the top until the screen fits; drop only what the cursor needs, like xterm.
        drop = max(0, self.cursor.y + 1 - lines)
        if drop:
            rows = [self.buffer[y] for y in range(self.lines)]
            if self.saved_main is None:
                self.history.extend(rows[:drop])
                self.scrolled_off += drop
            self.buffer.clear()
            self.buffer.update(enumerate(rows[drop:drop + lines]))
            self.cursor.y -= drop
        for y in [y for y in self.buffer if y >= lines]:
            del self.buffer[y]
        if columns < self.columns:
            for row in self.buffer.values():
                for x in range(columns, self.columns):
                    row.pop(x, None)
        self.lines, self.columns = lines, columns
        self.tabstops = {x for x in self.tabstops if x < columns} | set(range(8, columns, 8))
        self.set_margins()
        self.ensure_hbounds()
        self.ensure_vbounds()
        self.dirty.update(range(lines))


class Terminal(Widget, can_focus=True):
    """A terminal on a container's PTY: `connect((rows, cols))` returns the engine's Session (exec or attach).

    Keys typed while focused go to the process (ctrl+c included); ctrl+] hands focus back to the app;
    shift+pageup/pagedown and the mouse wheel scroll back through what scrolled off the top.
    """

    DEFAULT_CSS = """
    Terminal {
        width: 1fr;
        height: 1fr;
    }
    """

    class Exited(Message):
        """Posted once, when the process exits, or the session ends without an exit code (exit_code None)."""

        def __init__(self, terminal: Terminal, exit_code: int | None) -> None:
            self.terminal = terminal
            self.exit_code = exit_code
            super().__init__()

        @property
        def control(self) -> Terminal:
            return self.terminal

    def __init__(self, connect: Callable[[tuple[int, int]], Session], *, title: str = "", pipes: bool = False,
                 hangup: bool = False, name: str | None = None, id: str | None = None,
                 classes: str | None = None) -> None:
        """`pipes`: the process writes to pipes, not a TTY, so its newlines are bare LFs: each also returns the
        cursor to the line's start (pyte's LNM), as a TTY's output processing (ONLCR) would, or lines stair.
        `hangup`: closing the terminal (or the app) ends the process, as closing a terminal window does (an
        exec's shell); else it only detaches (an attach)."""
        super().__init__(name=name, id=id, classes=classes)
        self._connect = connect
        self._hangup = hangup
        self.title = title
        self.exit_code: int | None = None
        self.exited = False
        self._lock = threading.Lock()  # guards the pyte screen, which the reader feeds and the UI reads
        self._screen = _Screen(80, 24, self._send)
        if pipes:
            self._screen.set_mode(pyte.modes.LNM)
        self._stream = pyte.ByteStream(self._screen)
        # What the writer sends, in order: ("stdin", bytes) or ("resize", (rows, cols)); None ends it.
        self._outbox: queue.SimpleQueue[tuple[str, Any] | None] = queue.SimpleQueue()
        self._session: Session | None = None
        self._closed = False
        self._flush_pending = False
        self._last_flush = 0.0
        self._strips: list[Strip | None] = []
        self._strips_base: Style | None = None
        self._cursor_row: int | None = None
        self._scroll = 0  # lines scrolled back into the history; 0 is the live screen

    # -- what the app can read ---------------------------------------------------------------------------

    @property
    def display_lines(self) -> list[str]:
        """The screen's text, one string per row (what is on the PTY now, whatever the scroll position)."""
        with self._lock:
            return list(self._screen.display)

    @property
    def terminal_size(self) -> tuple[int, int]:
        """(rows, cols) of the emulated terminal, as last sent to the process."""
        return self._screen.lines, self._screen.columns

    # -- lifecycle ---------------------------------------------------------------------------------------

    def on_mount(self) -> None:
        if self.title:
            self.border_title = self.title
        # After the first refresh the layout is done, so the process starts at the widget's real size.
        self.call_after_refresh(self._begin)

    def _begin(self) -> None:
        if self._closed:
            return
        self._fit_screen()
        rows, cols = self.terminal_size
        self.run_worker(lambda: self._read((rows, cols)), thread=True, name="terminal-reader",
                        group="terminal", exit_on_error=False)

    def on_unmount(self) -> None:
        self._closed = True
        self._outbox.put(None)
        with self._lock:
            session = self._session
        if session is not None:
            if self._hangup:
                session.hangup()
            session.shutdown()  # wakes the reader; it closes the session

    # -- the session (worker threads) ------------------------------------------------------------------------

    def _read(self, size: tuple[int, int]) -> None:
        try:
            session = self._connect(size)
        except Exception as e:  # noqa: BLE001 - any failure to connect is shown in the terminal itself
            self._feed(f"\r\n\x1b[31m{e}\x1b[0m\r\n".encode())
            self._finish(None)
            return
        with self._lock:
            closed, self._session = self._closed, session
        if closed:
            if self._hangup:
                session.hangup()
            session.close()
            return
        threading.Thread(target=self._write, args=(session,), name="terminal-writer", daemon=True).start()
        try:
            while not session.done:
                out = b"".join(data for _, data in session.read())
                if out:
                    self._feed(out)
        finally:
            self._outbox.put(None)
            session.close()  # also wakes the writer if it is stuck sending
            self._finish(session.exit_code)

    def _write(self, session: Session) -> None:
        while (item := self._outbox.get()) is not None:
            what, value = item
            try:
                if what == "stdin":
                    session.send(value)
                else:
                    session.resize(*value)
            except OSError:
                return

    def _send(self, data: bytes) -> None:
        """Queue STDIN for the process (any thread: pyte's answers to queries come from the reader)."""
        if data and not self.exited:
            self._outbox.put(("stdin", data))

    def _feed(self, data: bytes) -> None:
        for start in range(0, len(data), FEED_CHUNK):
            with self._lock:
                self._stream.feed(data[start:start + FEED_CHUNK])
        self._schedule_flush()

    def _schedule_flush(self) -> None:
        with self._lock:
            if self._flush_pending:
                return
            self._flush_pending = True
        # post_message is thread-safe, and the handler runs in the app's context (timers work there).
        self.post_message(_Output())

    def _finish(self, code: int | None) -> None:
        with self._lock:
            if self.exited:
                return
            self.exited, self.exit_code = True, code
        self._schedule_flush()  # the cursor goes once the process is gone
        if not self._closed:
            self.post_message(self.Exited(self, code))

    # -- drawing (UI thread) -----------------------------------------------------------------------------

    def _fit_screen(self) -> bool:
        """Make the pyte screen the widget's size; True when it changed."""
        rows, cols = self.size.height, self.size.width
        if rows < 1 or cols < 1:
            return False
        with self._lock:
            if (rows, cols) == (self._screen.lines, self._screen.columns):
                return False
            self._screen.resize(rows, cols)
        return True

    @on(_Output)
    def _flush(self) -> None:
        """Rebuild the Strips of the lines pyte changed and repaint those; at most every FRAME_INTERVAL."""
        if self._closed:
            return
        wait = self._last_flush + FRAME_INTERVAL - time.monotonic()
        if wait > 0:
            self.set_timer(wait, self._flush)  # _flush_pending stays set, so the reader queues no more
            return
        self._last_flush = time.monotonic()
        base = self.rich_style
        show_cursor = self.has_focus and not self.exited and self._scroll == 0
        with self._lock:
            self._flush_pending = False
            screen = self._screen
            dirty = screen.dirty
            screen.dirty = set()
            if len(self._strips) != screen.lines or base != self._strips_base:
                self._strips = [None] * screen.lines
                self._strips_base = base
                dirty = set(range(screen.lines))
            cursor_row = screen.cursor.y if show_cursor and not screen.cursor.hidden else None
            if cursor_row != self._cursor_row:
                dirty.update(y for y in (cursor_row, self._cursor_row) if y is not None)
                self._cursor_row = cursor_row
            elif cursor_row is not None:
                dirty.add(cursor_row)  # the cursor may have moved along its line
            for y in dirty:
                if 0 <= y < screen.lines:
                    self._strips[y] = _render_row(screen.buffer[y], screen.columns, base,
                                                  screen.cursor.x if y == cursor_row else None)
            if self._scroll:
                self._scroll = min(self._scroll + screen.scrolled_off, len(screen.history))
            screen.scrolled_off = 0
        if self._scroll:
            self.refresh()
        elif len(dirty) > screen.lines // 2:
            self.refresh()
        else:
            width = self.size.width
            for y in dirty:
                self.refresh(Region(0, y, width, 1))

    def _redraw(self) -> None:
        if not self.is_mounted:
            return
        with self._lock:
            self._screen.dirty.update(range(self._screen.lines))
        self._last_flush = 0.0
        self._flush()

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        base = self.rich_style
        if self._scroll:
            with self._lock:
                screen = self._screen
                index = len(screen.history) - self._scroll + y
                if index < len(screen.history):
                    return _render_row(screen.history[index], width, base)
                row = index - len(screen.history)
                if row < screen.lines:
                    return _render_row(screen.buffer[row], width, base)
            return Strip.blank(width, base)
        strip = self._strips[y] if y < len(self._strips) else None
        if strip is None:
            return Strip.blank(width, base)
        return strip.adjust_cell_length(width, base)

    def on_resize(self, event: events.Resize) -> None:
        if self._fit_screen():
            rows, cols = self.terminal_size
            # Queued like keys: the writer sends it once connected, after what was typed before.
            self._outbox.put(("resize", (rows, cols)))
        self._redraw()

    def watch_has_focus(self, focused: bool) -> None:
        self._redraw()  # the cursor shows only while keys come here

    # -- input -------------------------------------------------------------------------------------------

    def on_key(self, event: events.Key) -> None:
        if event.key == RELEASE_KEY:
            event.stop()
            event.prevent_default()
            self.blur()
            return
        if event.key in ("shift+pageup", "shift+pagedown"):
            event.stop()
            event.prevent_default()
            page = max(1, self.size.height - 1)
            self._scroll_by(page if event.key == "shift+pageup" else -page)
            return
        if self.exited:
            return  # a dead terminal lets the app's bindings have the keys
        with self._lock:
            app_cursor = DECCKM in self._screen.mode
        data = key_to_bytes(event.key, event.character, app_cursor)
        if data is None:
            return
        # Stopped here, so the app's own bindings for tab, ctrl+c ... never see what the process gets.
        event.stop()
        event.prevent_default()
        self._scroll_by(-self._scroll)
        self._send(data)

    def on_paste(self, event: events.Paste) -> None:
        event.stop()
        if self.exited or not event.text:
            return
        text = event.text.replace("\r\n", "\r").replace("\n", "\r")  # a terminal pastes Enter as CR
        with self._lock:
            bracketed = BRACKETED_PASTE in self._screen.mode
        if bracketed:
            text = "\x1b[200~" + text.replace("\x1b[201~", "") + "\x1b[201~"
        self._scroll_by(-self._scroll)
        self._send(text.encode())

    def on_mouse_scroll_up(self, event: events.MouseScrollUp) -> None:
        event.stop()
        event.prevent_default()
        self._scroll_by(3)

    def on_mouse_scroll_down(self, event: events.MouseScrollDown) -> None:
        event.stop()
        event.prevent_default()
        self._scroll_by(-3)

    def _scroll_by(self, lines: int) -> None:
        with self._lock:
            scroll = max(0, min(self._scroll + lines, len(self._screen.history)))
        if scroll != self._scroll:
            self._scroll = scroll
            self._redraw()
