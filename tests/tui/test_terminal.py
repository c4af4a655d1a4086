"""The Terminal widget against the real engine: a shell exec'd in a real busybox container, driven through
Textual's Pilot as a user would (keys, resize, ctrl+c, exit)."""

from __future__ import annotations

import asyncio
import time

import pytest
from textual import events
from textual.app import App, ComposeResult

from tuiker.engine import Engine, RunOptions
from tuiker.runtime import cgroups
from tuiker.tui.widgets.terminal import HISTORY_LINES, Terminal, key_to_bytes


@pytest.fixture
def engine(engine_root, busybox_image) -> Engine:
    ref, _ = busybox_image
    engine = Engine(engine_root)
    engine.images.pull(ref)
    return engine


@pytest.fixture
def container(engine, busybox_image) -> str:
    """A detached `sleep 300`: the shells under test are exec'd into it; engine_root kills it at the end."""
    c = engine.containers.create(RunOptions(image=busybox_image[0], command=["sleep", "300"]))
    engine.containers.start(c.id)
    return c.id


class TermApp(App):
    def __init__(self, connect) -> None:
        super().__init__()
        self.connect = connect
        self.exits: list[int | None] = []

    def compose(self) -> ComposeResult:
        yield Terminal(self.connect, id="term")

    def on_terminal_exited(self, message: Terminal.Exited) -> None:
        self.exits.append(message.exit_code)


def shell_app(engine: Engine, cid: str) -> TermApp:
    return TermApp(lambda size: engine.containers.exec(cid, ["sh"], tty=True, interactive=True, size=size))


async def until(pilot, check, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while not (value := check()):
        if time.monotonic() > deadline:
            screen = "\n".join(line.rstrip() for line in pilot.app.query_one(Terminal).display_lines).rstrip()
            raise AssertionError(f"timed out after {timeout} s waiting for {what}; the screen:\n{screen}")
        await pilot.pause(0.05)
    return value


def screen_text(app: TermApp) -> str:
    return "\n".join(app.query_one(Terminal).display_lines)


def rendered_text(app: TermApp) -> str:
    """What the widget paints (its Strips), not only pyte's buffer."""
    term = app.query_one(Terminal)
    return "\n".join(term.render_line(y).text for y in range(term.size.height))


async def type_line(pilot, text: str) -> None:
    await pilot.press(*text, "enter")


async def paste_line(pilot, text: str) -> None:
    """Faster than typing (Pilot waits for idle after every key), and goes through the paste path."""
    pilot.app.query_one(Terminal).post_message(events.Paste(text + "\n"))
    await pilot.pause()


def running_in(cid: str, argv: list[str]) -> bool:
    """Whether a process with this exact command line runs in the container (read from its cgroup)."""
    wanted = "".join(f"{arg}\0" for arg in argv).encode()
    for pid in cgroups.for_container(cid).pids():
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if f.read() == wanted:
                    return True
        except OSError:
            pass
    return False


def in_shell(engine: Engine, cid: str, scenario) -> None:
    """Run `scenario(app, pilot, terminal)` once a shell exec'd into `cid` shows its prompt in an 80x24 app."""
    async def main() -> None:
        app = shell_app(engine, cid)
        async with app.run_test(size=(80, 24)) as pilot:
            await until(pilot, lambda: "#" in screen_text(app), 10, "the shell prompt")
            await scenario(app, pilot, app.query_one(Terminal))

    asyncio.run(main())


def test_echo_appears_on_screen(engine, container):
    async def scenario(app: TermApp, pilot, term: Terminal) -> None:
        assert term.has_focus
        await type_line(pilot, "echo hello-from-exec")
        await until(pilot, lambda: screen_text(app).count("hello-from-exec") >= 2, 10, "the echo output")
        await until(pilot, lambda: "\nhello-from-exec" in rendered_text(app), 5, "the rendered output")
        assert term.terminal_size == (24, 80)
        assert app.exits == []

    in_shell(engine, container, scenario)


def test_resize_reaches_the_pty(engine, container):
    async def scenario(app: TermApp, pilot, term: Terminal) -> None:
        await paste_line(pilot, "busybox stty size")
        await until(pilot, lambda: "\n24 80" in screen_text(app), 10, "stty size at 24x80")
        await pilot.resize_terminal(100, 30)
        await until(pilot, lambda: app.query_one(Terminal).terminal_size == (30, 100), 5, "the new size")
        await paste_line(pilot, "busybox stty size")
        await until(pilot, lambda: "\n30 100" in screen_text(app), 10, "stty size at 30x100")
        assert len(app.query_one(Terminal).display_lines) == 30

    in_shell(engine, container, scenario)


def test_ctrl_c_interrupts_the_foreground_process(engine, container):
    async def scenario(app: TermApp, pilot, term: Terminal) -> None:
        await type_line(pilot, "sleep 100")
        # ctrl+c before the shell has started sleep would interrupt nothing (seen on a loaded machine).
        await until(pilot, lambda: running_in(container, ["sleep", "100"]), 5, "sleep to start")
        await pilot.press("ctrl+c")
        await type_line(pilot, "echo status-$?")
        # 130 = killed by SIGINT: ctrl+c reached the PTY (the app's own ctrl+c binding did not take it).
        await until(pilot, lambda: "\nstatus-130" in screen_text(app), 5, "sleep to be interrupted")
        assert app.exits == []

    in_shell(engine, container, scenario)


def test_exit_posts_exited_and_keeps_the_screen(engine, container):
    async def scenario(app: TermApp, pilot, term: Terminal) -> None:
        await paste_line(pilot, "echo last-words; exit 3")
        await until(pilot, lambda: app.exits, 10, "Exited")
        assert app.exits == [3]
        assert term.exited and term.exit_code == 3
        assert "\nlast-words" in screen_text(app)
        await until(pilot, lambda: "\nlast-words" in rendered_text(app), 5, "the last screen to be drawn")
        await pilot.press("a")  # a dead terminal takes keys without failing
        assert app.exits == [3]

    in_shell(engine, container, scenario)


def test_colours_attributes_and_cursor(engine, container):
    async def scenario(app: TermApp, pilot, term: Terminal) -> None:
        await paste_line(pilot, r"printf '\033[1;31mRED\033[0m \033[7mREV\033[0m \033[38;5;46mGRN\033[0m\n'")
        await until(pilot, lambda: "\nRED REV GRN" in rendered_text(app), 10, "the coloured line")
        segments = {seg.text: seg.style for y in range(term.size.height) for seg in term.render_line(y)}
        assert segments["RED"].bold and segments["RED"].color.name == "red"
        assert segments["REV"].reverse
        assert segments["GRN"].color.triplet == (0, 255, 0)  # 256-colour 46

        def cursor_cells() -> list[str]:
            return [seg.text for y in range(term.size.height) for seg in term.render_line(y)
                    if seg.style and seg.style.reverse and seg.text != "REV"]

        # The cursor (a reversed cell) sits right after the new prompt, and only while focused.
        await until(pilot, lambda: cursor_cells() == [" "], 5, "the cursor")
        term.blur()
        await until(pilot, lambda: cursor_cells() == [], 5, "the cursor to go")

    in_shell(engine, container, scenario)


def test_output_flood_keeps_the_ui_responsive(engine, container):
    async def scenario(app: TermApp, pilot, term: Terminal) -> None:
        await paste_line(pilot, "yes | head -100000; echo flood-$((1+1))")
        worst, last = 0.0, time.monotonic()
        deadline = last + 30
        while "\nflood-2" not in screen_text(app):
            await asyncio.sleep(0.01)
            now = time.monotonic()
            worst, last = max(worst, now - last), now
            assert now < deadline, "the flood never ended"
        assert worst < 1.0, f"the event loop stalled {worst:.2f} s during the flood"
        await until(pilot, lambda: "\nflood-2" in rendered_text(app), 5, "the end of the flood on screen")
        history = term._screen.history
        assert len(history) == HISTORY_LINES  # bounded, however much scrolled by
        # shift+pageup scrolls back into the history (all "y"); a key goes back to the live screen.
        await pilot.press("shift+pageup")
        assert "flood-2" not in rendered_text(app) and "y" in rendered_text(app)
        await pilot.press("space")
        assert "\nflood-2" in rendered_text(app)

    in_shell(engine, container, scenario)


def test_ctrl_right_bracket_releases_focus(engine, container):
    async def scenario(app: TermApp, pilot, term: Terminal) -> None:
        assert term.has_focus
        await pilot.press("ctrl+right_square_bracket")
        assert not term.has_focus

    in_shell(engine, container, scenario)


def test_key_mapping():
    assert key_to_bytes("ctrl+c", None) == b"\x03"
    assert key_to_bytes("enter", None) == b"\r"
    assert key_to_bytes("up", None) == b"\x1b[A"
    assert key_to_bytes("up", None, app_cursor=True) == b"\x1bOA"
    assert key_to_bytes("ctrl+left", None) == b"\x1b[1;5D"
    assert key_to_bytes("f1", None) == b"\x1bOP"
    assert key_to_bytes("f12", None) == b"\x1b[24~"
    assert key_to_bytes("shift+tab", None) == b"\x1b[Z"
    assert key_to_bytes("backspace", "\x7f") == b"\x7f"
    assert key_to_bytes("alt+x", None) == b"\x1bx"
    assert key_to_bytes("eacute", "é") == "é".encode()
