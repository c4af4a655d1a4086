"""Helpers of the TUI tests: containers made the way the CLI makes them, and waiting for the live screen."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable

from textual.app import App

from tuiker.engine import Engine, RunOptions
from tuiker.runtime.containers import Container
from tuiker.tui.app import TuikerApp

# Exits at once on SIGTERM (a shell as pid 1 ignores it unless trapped), so `stop` needs no 10 s grace.
SERVER = ["sh", "-c", 'trap "exit 0" TERM; echo "ready $HOSTNAME"; sleep 1000 & wait']


def run(engine: Engine, name: str, command: list[str] | None = None, start: bool = True, **options) -> Container:
    """`tuiker run -d --name NAME busybox COMMAND` (or `create` without start)."""
    c = engine.containers.create(RunOptions(image="busybox", name=name, command=command or SERVER, **options))
    if start:
        engine.containers.start(c.id)
    return engine.containers.get(c.id)


def new_app(engine: Engine) -> TuikerApp:
    """The app over `engine`, without animations: Pilot waits for them to end after every key."""
    app = TuikerApp(engine)
    app.animation_level = "none"
    return app


async def until(pilot, check: Callable[[], object], timeout: float = 5, what: str = "") -> object:
    """Let the app run until `check()` is true (and return that); fail after `timeout` s."""
    deadline = time.monotonic() + timeout
    while not (value := check()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what or check}")
        await pilot.pause(0.05)
    return value


def row_states(app: TuikerApp) -> dict[str, str]:
    """Container name -> its STATE column, as on screen."""
    table = app.screen.containers.table
    return {str(table.get_row_at(i)[1]): str(table.get_row_at(i)[0]) for i in range(table.row_count)}


def column_of(app: TuikerApp, header: str) -> dict[str, str]:
    """Container name -> its cell in the column `header` (absent: the panel is too narrow for it)."""
    panel = app.screen.containers
    table, at = panel.table, panel.columns_shown.index(header)
    return {panel.containers[table.row_key_at(i)].name: str(table.get_row_at(i)[at]) for i in range(table.row_count)}


def selected_name(app: TuikerApp) -> str | None:
    c = app.screen.containers.selected_container
    return c.name if c else None


def notifications(app: TuikerApp) -> list[str]:
    return [n.message for n in app._notifications]


def free_port() -> int:
    """A host port nothing listens on now (the kernel's pick), for a published port."""
    with socket.socket() as s:
        s.bind(("0.0.0.0", 0))
        return s.getsockname()[1]


async def open_terminal(pilot, key: str):
    """Press `key` (e: exec, a: attach) on the selected container and return the terminal tab's widget."""
    from tuiker.tui.widgets.terminal import Terminal

    app = pilot.app
    await pilot.press(key)
    return await until(pilot, lambda: app.screen.query(Terminal).first() if app.screen.query(Terminal) else None,
                       what="a terminal")


async def pull_with_P(pilot, ref: str, outcome: str = "Downloaded newer image", timeout: float = 10):
    """`P`, `ref` in the dialog, enter; wait for `outcome` in its status line, and return that line."""
    from textual.widgets import Input

    from tuiker.tui.screens.pull import PullScreen

    app = pilot.app
    await pilot.press("P")
    await until(pilot, lambda: isinstance(app.screen, PullScreen), what="the pull dialog")
    app.screen.query_one("#reference", Input).value = ref
    await pilot.press("enter")
    status = app.screen.query_one("#pull-status")
    await until(pilot, lambda: outcome in str(status.render()), timeout=timeout, what=f"the pull: {outcome}")
    return status


def screen_lines(app: App) -> list[str]:
    """The screen's text, line by line, as the compositor has it (each widget's cached lines: a repaint that was
    not asked for shows as the old text)."""
    return [strip.text for strip in app.screen._compositor.render_strips()]
