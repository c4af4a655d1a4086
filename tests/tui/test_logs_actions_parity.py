"""lazydocker's keys that tuiker lacked (issue 15's parity list): opening a published port in the browser,
bulk actions and prune, custom commands from the config, and the logs' colours, wrapping and full screen. Driven
with Pilot, against the real engine."""

from __future__ import annotations

import os
import shutil
import stat

import pytest
from tuihelpers import free_port, new_app, notifications, run, until

SIZE = (140, 40)


def recorder(tmp_path, name: str = "opener") -> tuple[str, str]:
    """A script that appends its arguments (one a line) to a file: its path, and the file's."""
    out = tmp_path / f"{name}.out"
    script = tmp_path / name
    script.write_text(f'#!/bin/sh\nfor a in "$@"; do printf "%s\\n" "$a" >> {out}; done\n')
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return str(script), str(out)


async def test_w_opens_the_published_port_with_browser(engine, tmp_path, monkeypatch):
    script, out = recorder(tmp_path)
    monkeypatch.setenv("BROWSER", script)
    port = free_port()
    run(engine, "web", ports=[f"127.0.0.1:{port}:80"])
    async with new_app(engine).run_test(size=SIZE) as pilot:
        app = pilot.app
        await until(pilot, lambda: app.screen.containers.selected_container is not None, what="a row")
        await pilot.press("w")
        await until(pilot, lambda: os.path.exists(out), what="the opener to run")
        await until(pilot, lambda: open(out).read() == f"http://127.0.0.1:{port}\n", what="the URL recorded")
        await until(pilot, lambda: f"opened http://127.0.0.1:{port}" in notifications(app), what="the notice")


async def test_w_without_an_opener_shows_the_url(engine, tmp_path, monkeypatch):
    port = free_port()
    run(engine, "web", ports=[f"{port}:80"])
    monkeypatch.delenv("BROWSER", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))  # no xdg-open
    async with new_app(engine).run_test(size=SIZE) as pilot:
        app = pilot.app
        await until(pilot, lambda: app.screen.containers.selected_container is not None, what="a row")
        await pilot.press("w")
        text = f"no browser opener ($BROWSER, xdg-open): http://localhost:{port}"
        await until(pilot, lambda: text in notifications(app), what="the URL shown")


async def choose(pilot, screen_type, label: str) -> None:
    """In the menu on screen, move down with j to `label` and press enter, as a user would."""
    from textual.widgets import OptionList

    app = pilot.app
    await until(pilot, lambda: isinstance(app.screen, screen_type), what="the menu")
    options = app.screen.query_one(OptionList)
    labels = [str(options.get_option_at_index(i).prompt) for i in range(options.option_count)]
    await pilot.press(*["j"] * labels.index(label), "enter")


async def test_bulk_menu_on_containers_and_the_prune_menu(engine):
    from tuiker.tui.screens.confirm import ConfirmScreen
    from tuiker.tui.screens.menu import MenuScreen

    run(engine, "web")
    run(engine, "done", ["true"])
    run(engine, "made", start=False)
    engine.networks.create("spare")
    engine.volumes.create("keep")
    async with new_app(engine).run_test(size=SIZE) as pilot:
        app = pilot.app
        await until(pilot, lambda: app.screen.containers.table.row_count == 3, what="three rows")
        await pilot.press("b")
        await choose(pilot, MenuScreen, "Remove all stopped containers")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="the confirmation")
        await pilot.press("y")
        await until(pilot, lambda: [c.name for c in engine.containers.list(all=True)] == ["web"], what="the prune")
        await until(pilot, lambda: "removed 2 stopped containers" in notifications(app), what="the notice")

        await pilot.press("b")
        await choose(pilot, MenuScreen, "Stop all containers")
        await pilot.press("n")  # the confirmation cancelled: nothing stops
        await pilot.pause(0.3)
        assert engine.containers.get("web").status == "running"
        await pilot.press("b")
        await choose(pilot, MenuScreen, "Stop all containers")
        await pilot.press("y")
        await until(pilot, lambda: engine.containers.get("web").status == "exited", what="web stopped")

        await pilot.press("B")  # the prune menu, here from the containers list
        await choose(pilot, MenuScreen, "Remove unused networks")
        await pilot.press("y")
        await until(pilot, lambda: "spare" not in [n["Name"] for n in engine.networks.list()], what="spare gone")
        await pilot.press("B")
        await choose(pilot, MenuScreen, "Remove all unused volumes")
        await pilot.press("y")
        await until(pilot, lambda: engine.volumes.list() == [], what="the volume gone")
        await until(pilot, lambda: any(n.startswith("removed 1 volumes") for n in notifications(app)),
                    what="the volume notice")


def write_config(tmp_path, monkeypatch, data: dict) -> None:
    import json

    from tuiker.base import config

    path = tmp_path / "config.json"
    path.write_text(json.dumps(data))
    monkeypatch.setenv("TUIKER_CONFIG", str(path))
    config.load.cache_clear()


async def test_c_runs_a_custom_command_from_the_config(engine, tmp_path, monkeypatch):
    """A tuiker command gets the selected container's name as one word; a shell command gets the fields quoted
    (here a value with spaces, quotes and $(...), as an image name could not hold but the code must not trust)."""
    from tuiker.tui.screens.menu import MenuScreen

    out = tmp_path / "out"
    write_config(tmp_path, monkeypatch, {"customCommands": {
        "containers": [{"name": "rename", "command": "rename {{ .Container.Name }} renamed"},
                       {"name": "note", "shell": True,
                        "command": f"printf '%s|%s\\n' {{{{ .Container.Name }}}} {{{{ .Container.Image }}}} > {out}"}],
        "images": [{"name": "tag", "command": "tag {{ .Image.ID }} copy:1"}]}})
    run(engine, "web")
    try:
        async with new_app(engine).run_test(size=SIZE) as pilot:
            app = pilot.app
            await until(pilot, lambda: app.screen.containers.selected_container is not None, what="a row")
            await pilot.press("c")
            await choose(pilot, MenuScreen, "note: " + f"printf '%s|%s\\n' {{{{ .Container.Name }}}} "
                         f"{{{{ .Container.Image }}}} > {out}")
            await until(pilot, lambda: out.exists() and out.read_text() == "web|busybox\n", what="the shell one")

            await pilot.press("c")
            await choose(pilot, MenuScreen, "rename: rename {{ .Container.Name }} renamed")
            await until(pilot, lambda: [c.name for c in engine.containers.list(all=True)] == ["renamed"],
                        what="the rename", timeout=10)
            await until(pilot, lambda: "exit code 0" in notifications(app), what="its exit status")

            await pilot.press("tab")  # the Images panel
            await until(pilot, lambda: app.screen.images.selected is not None, what="an image selected")
            await pilot.press("c")
            await choose(pilot, MenuScreen, "tag: tag {{ .Image.ID }} copy:1")
            await until(pilot, lambda: any("copy:1" in t for i in engine.images.list() for t in i.repo_tags),
                        what="the tag")
    finally:
        from tuiker.base import config
        config.load.cache_clear()


def test_custom_command_values_are_one_word_or_quoted():
    from tuiker.tui.custom import CustomCommand

    hostile = "x'; touch /tmp/pwned; echo '$(id)"
    values = {"ID": "abc", "Name": hostile, "Image": "busybox"}
    plain = CustomCommand("n", "logs {{ .Container.Name }}")
    assert plain.argv("Container", values, ["tuiker"]) == ["tuiker", "logs", hostile]
    shell = CustomCommand("n", "echo {{.Container.Name}}", shell=True)
    import subprocess

    argv = shell.argv("Container", values, ["tuiker"])
    assert subprocess.run(argv, capture_output=True, text=True).stdout == hostile + "\n"


async def test_c_with_a_bad_config_says_why(engine, tmp_path, monkeypatch):
    write_config(tmp_path, monkeypatch, {"customCommands": {"containers": [{"name": "x",
                                                                            "command": "logs {{ .Container.Nme }}"}]}})
    run(engine, "web")
    try:
        async with new_app(engine).run_test(size=SIZE) as pilot:
            app = pilot.app
            await until(pilot, lambda: app.screen.containers.selected_container is not None, what="a row")
            await pilot.press("c")
            await until(pilot, lambda: any("unknown field {{ .Container.Nme }}" in n for n in notifications(app)),
                        what="the error")
    finally:
        from tuiker.base import config
        config.load.cache_clear()


# Red text, a title change (OSC), a screen clear and a cursor move (CSI), a BEL, then a long line to wrap.
NOISY = ['sh', '-c', r'printf "\033[31mred\033[0m plain\033]0;TITLE\007\033[2J\033[5;5H x\007y\n";'
         r'printf "L%0150d\n" 0; sleep 1000']


async def test_logs_colours_wrap_and_full_screen(engine):
    from tuiker.tui.widgets.logs import LogView, plain

    run(engine, "noisy", NOISY)
    async with new_app(engine).run_test(size=SIZE) as pilot:
        app = pilot.app
        view = app.screen.query_one(LogView)
        log = view.log_widget
        await until(pilot, lambda: len(log.lines) == 2, what="two log lines")
        assert plain(log.lines[0]) == "red plain x\ufffdy"  # the title, clear, move: gone; the BEL shown, not rung
        segments = list(log.render_line(0))  # the first row on screen
        red = [s for s in segments if s.text == "red"]
        assert red and red[0].style.color.number == 1, segments
        assert not any("\x1b" in s.text or "\x07" in s.text for s in segments)

        await pilot.press("m")  # full screen, from the containers list
        await until(pilot, lambda: not app.screen.query_one("#side").display, what="the side panels hidden")
        assert app.focused is log and app.screen.has_class("-full-logs")
        width = log.scrollable_content_region.width
        assert width > 120  # the whole screen's width, less the border
        await pilot.press("w")
        await until(pilot, lambda: len(log.lines) == 3, what="the long line wrapped in two rows")
        assert [len(plain(line)) <= width for line in log.lines] == [True] * 3
        assert list(log.starts) == [True, True, False]
        assert "wrapped" in str(view.query_one(".log-status").render())

        await pilot.press("t")  # timestamps, still
        await until(pilot, lambda: plain(log.lines[0]).endswith("Z red plain x\ufffdy"), what="a timestamp")
        await pilot.press("t", "f")
        assert log.auto_scroll is False
        await pilot.press("slash", *"red", "enter")  # search, still
        await until(pilot, lambda: [plain(line) for line in log.lines] == ["red plain x\ufffdy"], what="the match")
        await pilot.press("n")
        assert log.current == 0 and "match 1/1" in str(view.query_one(".log-status").render())

        await pilot.press("escape")
        await until(pilot, lambda: app.screen.query_one("#side").display, what="the side panels back")
        assert not app.screen.has_class("-full-logs")
        assert app.focused is app.screen.containers.table
        await view.run_action("fullscreen_logs")  # the command palette's "Logs: Full-screen logs"
        await until(pilot, lambda: app.screen.has_class("-full-logs"), what="full screen from the palette")


@pytest.mark.skipif(not shutil.which("tmux"), reason="needs tmux (apt-get install tmux)")
def test_custom_command_with_attach_gets_the_terminal(engine, tmp_path):
    """An `"attach": true` custom command runs with the whole terminal (the app suspended), in a real one (tmux):
    a shell in the container by its name, then back to the app."""
    import json
    import re
    import sys
    from pathlib import Path

    from tmux import Tmux

    config = tmp_path / "config.json"
    config.write_text(json.dumps({"customCommands": {"containers": [
        {"name": "shell", "command": "exec -it {{ .Container.Name }} sh", "attach": True}]}}))
    run(engine, "box")
    env = {"TUIKER_ROOT": str(engine.root), "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
           "TERM": "xterm-256color", "TUIKER_CONFIG": str(config)}
    term = Tmux(f"{sys.executable} -m tuiker; echo TUIKER-EXITED $?; sleep 60", env)
    try:
        term.wait_for(lambda s: re.search(r"running\s+box\s", s), 30, "the app")
        term.keys("c")
        term.wait_for(lambda s: "Custom commands" in s, 10, "the menu")
        term.keys("Enter")
        term.wait_for(lambda s: "/ #" in s and "Containers (" not in s, 20, "the shell, full screen")
        term.keys("echo custom-$((6*7)) $HOSTNAME", literal=True)
        term.keys("Enter")
        term.wait_for(lambda s: f"custom-42 {engine.containers.get('box').id[:12]}" in s, 10, "its output")
        term.keys("exit", literal=True)
        term.keys("Enter")
        term.wait_for(lambda s: "Containers (1)" in s, 20, "the app back")
        term.keys("q")
        assert "TUIKER-EXITED 0" in term.wait_for(lambda s: "TUIKER-EXITED" in s, 20, "the app to quit")
    finally:
        term.close()
