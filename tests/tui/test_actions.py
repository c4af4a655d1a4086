"""Each action of the app, driven with Textual's Pilot as a user would (keys), against the real engine and
real busybox containers; every test checks what the engine did, not just the screen."""

from __future__ import annotations

import asyncio
import json

from textual.widgets import Input
from tuihelpers import new_app, notifications, pull_with_P, row_states, run, selected_name, until

from tuiker.base.errors import NotFoundError
from tuiker.tui.screens.confirm import ConfirmScreen
from tuiker.tui.screens.new_container import NewContainerScreen
from tuiker.tui.screens.pull import LayerProgress
from tuiker.tui.widgets.logs import LogView
from tuiker.tui.widgets.terminal import Terminal

SIZE = (140, 40)


async def select(pilot, name: str) -> None:
    """Move the cursor to `name` with j/k, as a user would."""
    app = pilot.app
    await until(pilot, lambda: name in row_states(app), what=f"{name} in the list")
    names = list(row_states(app))
    table = app.screen.containers.table
    key = "j" if names.index(name) > table.cursor_row else "k"
    await pilot.press(*[key] * abs(names.index(name) - table.cursor_row))
    assert selected_name(app) == name


async def test_list_is_live_and_running_first(engine):
    """Running containers first, then exited, then created; a change made by another tuiker (here, the
    engine directly) shows within a second, without a key press."""
    run(engine, "made", start=False)
    run(engine, "done", ["true"])
    run(engine, "web")
    async with new_app(engine).run_test(size=SIZE) as pilot:
        await until(pilot, lambda: len(row_states(pilot.app)) == 3, what="three rows")
        await until(pilot, lambda: list(row_states(pilot.app).items()) == [
            ("web", "running"), ("done", "exited (0)"), ("made", "created")], what="the order")
        await asyncio.to_thread(engine.containers.kill, "web")
        await until(pilot, lambda: row_states(pilot.app)["web"] == "exited (137)", timeout=1.5,
                    what="the kill to show")


async def test_stop_start_restart_pause(engine):
    run(engine, "web")
    async with new_app(engine).run_test(size=SIZE) as pilot:
        app = pilot.app
        await select(pilot, "web")
        await pilot.press("s")
        await until(pilot, lambda: row_states(app)["web"] == "exited (0)", what="stopped")
        assert engine.containers.get("web").status == "exited"

        await pilot.press("u")
        await until(pilot, lambda: row_states(app)["web"] == "running", what="started")
        started = engine.containers.get("web").state["StartedAt"]

        await pilot.press("r")
        await until(pilot, lambda: engine.containers.get("web").state["StartedAt"] != started, what="restarted")
        await until(pilot, lambda: row_states(app)["web"] == "running", what="running again")

        await pilot.press("p")
        await until(pilot, lambda: row_states(app)["web"] == "paused", what="paused")
        assert engine.containers.get("web").status == "paused"
        await pilot.press("p")
        await until(pilot, lambda: row_states(app)["web"] == "running", what="unpaused")
        assert engine.containers.get("web").status == "running"


async def test_remove_asks_first(engine):
    web = run(engine, "web")
    async with new_app(engine).run_test(size=SIZE) as pilot:
        app = pilot.app
        await select(pilot, "web")
        await pilot.press("d")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="the question")
        await pilot.press("n")  # no: nothing happens
        await pilot.pause()
        assert engine.containers.get("web").status == "running"

        await pilot.press("d")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="the question")
        await pilot.press("f")  # it runs: the answer is force
        await until(pilot, lambda: "web" not in row_states(app), what="the row to go")
        assert not web.dir.exists()
        try:
            engine.containers.get("web")
            raise AssertionError("web still exists")
        except NotFoundError:
            pass


async def test_errors_are_notifications(engine):
    """A container whose command does not exist: starting it fails in the engine; the app says why in one
    line and goes on."""
    run(engine, "broken", ["/no/such/program"], start=False)
    async with new_app(engine).run_test(size=SIZE) as pilot:
        await select(pilot, "broken")
        await pilot.press("u")
        await until(pilot, lambda: any("/no/such/program" in m for m in notifications(pilot.app)),
                    what="the error notification")
        message = next(m for m in notifications(pilot.app) if "/no/such/program" in m)
        assert "\n" not in message
        assert pilot.app.is_running
        await until(pilot, lambda: row_states(pilot.app)["broken"] == "created", what="the row back to its state")


async def test_exec_in_embedded_terminal(engine):
    run(engine, "web")
    async with new_app(engine).run_test(size=SIZE) as pilot:
        app = pilot.app
        await select(pilot, "web")
        await pilot.press("e")
        terminal = await until(pilot, lambda: app.screen.query(Terminal).first() if app.screen.query(Terminal)
                               else None, what="a terminal")
        assert app.focused is terminal
        await until(pilot, lambda: any("#" in line for line in terminal.display_lines), what="the prompt")
        await pilot.press(*"echo hello-$((6*7))", "enter")
        await until(pilot, lambda: any("hello-42" in line for line in terminal.display_lines), what="the output")
        # ctrl+] gives the keys back to the app; x closes the tab, and so ends the shell.
        await pilot.press("ctrl+right_square_bracket")
        assert app.focused is app.screen.containers.table
        await pilot.press("x")
        await until(pilot, lambda: not app.screen.query(Terminal), what="the terminal tab to close")


async def test_new_container_from_the_form(engine):
    async with new_app(engine).run_test(size=SIZE) as pilot:
        app = pilot.app
        await pilot.press("n")
        await until(pilot, lambda: isinstance(app.screen, NewContainerScreen), what="the form")
        form = app.screen
        form.query_one("#image", Input).value = "busybox"
        form.query_one("#name", Input).value = "fresh"
        form.query_one("#command", Input).value = "sh -c 'echo \"hello $GREETING\"; sleep 1000'"
        form.query_one("#env", Input).value = "GREETING=from-the-form"
        form.query_one("#memory", Input).value = "64m"
        form.query_one("#pids", Input).value = "50"
        await pilot.press("ctrl+s")
        await until(pilot, lambda: row_states(app).get("fresh") == "running", timeout=10, what="fresh running")
        c = engine.containers.get("fresh")
        assert c.config["HostConfig"]["Memory"] == 64 << 20
        assert c.config["HostConfig"]["PidsLimit"] == 50
        # The new container is selected, and its Logs tab follows its output.
        await until(pilot, lambda: selected_name(app) == "fresh", what="fresh selected")
        log = app.screen.query_one(LogView).log_widget
        await until(pilot, lambda: "hello from-the-form" in log.lines, what="its log line")


async def test_new_container_form_refuses_bad_input(engine):
    async with new_app(engine).run_test(size=SIZE) as pilot:
        app = pilot.app
        await pilot.press("n")
        await until(pilot, lambda: isinstance(app.screen, NewContainerScreen), what="the form")
        app.screen.query_one("#image", Input).value = "busybox"
        app.screen.query_one("#memory", Input).value = "lots"
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert isinstance(app.screen, NewContainerScreen)
        assert "memory" in str(app.screen.query_one("#form-error").render())
        await pilot.press("escape")
        assert engine.containers.list(all=True) == []


async def test_pull_shows_each_layer(engine_root, busybox_image):
    from tuiker.engine import Engine

    engine = Engine(engine_root)
    ref, built = busybox_image
    async with new_app(engine).run_test(size=SIZE) as pilot:
        app = pilot.app
        status = await pull_with_P(pilot, ref, "Downloaded newer image")
        layers = app.screen.query(LayerProgress)
        assert [row.layer_id for row in layers] == [d.removeprefix("sha256:")[:12] for d in built.layer_digests]
        assert all(row.latest.status == "Pull complete" for row in layers)
        # A name the registry does not know: the error, in the dialog and as a notification.
        missing = ref.replace("busybox", "no-such-image")
        app.screen.query_one("#reference", Input).value = missing
        await pilot.press("enter")
        await until(pilot, lambda: str(status.render()).startswith("Error:"), timeout=10, what="the error")
        assert any(missing.split("/", 1)[1].split(":")[0] in m for m in notifications(app))
        await pilot.press("escape")
        await until(pilot, lambda: app.screen.images.table.row_count == 1, what="the image in the list")
    assert engine.images.get(ref).id == built.config_digest


BUSYBOX = "docker.io/library/busybox:latest"


async def remove_image_with_d(pilot, name: str) -> None:
    """Select `name` in the Images panel, press D and confirm."""
    app = pilot.app
    images = app.screen.images
    await until(pilot, lambda: name in images.images, what="the image")
    await pilot.press("tab")
    assert app.focused is images.table
    while images.selected != name:
        await pilot.press("j")
    await pilot.press("D")
    await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="the question")
    await pilot.press("y")


async def test_remove_image(engine):
    async with new_app(engine).run_test(size=SIZE) as pilot:
        await remove_image_with_d(pilot, BUSYBOX)
        await until(pilot, lambda: BUSYBOX not in pilot.app.screen.images.images, what="the tag to go")
    assert BUSYBOX not in engine.images.store.tags()


async def test_remove_image_refuses_one_a_container_uses(engine):
    """The TUI asks the same engine as `rmi`: the image of a container is refused, and its layers stay."""
    run(engine, "user", ["true"], start=False)
    # busybox's only name left, its last one, which docker refuses to remove.
    image = engine.images.get("busybox")
    for tag in image.repo_tags:
        if tag != BUSYBOX:
            engine.images.store.untag(tag)
    for digest in image.repo_digests:
        engine.images.store.forget_repo_digest(image.id, digest)
    layers = sorted(p.name for p in (engine.root / "layers").iterdir())
    async with new_app(engine).run_test(size=SIZE) as pilot:
        await remove_image_with_d(pilot, BUSYBOX)
        await until(pilot, lambda: any("conflict: unable to remove repository reference" in m
                                       for m in notifications(pilot.app)), what="the refusal")
    assert BUSYBOX in engine.images.store.tags()
    assert sorted(p.name for p in (engine.root / "layers").iterdir()) == layers


async def test_filter_the_list(engine):
    for name in ("web-1", "web-2", "db"):
        run(engine, name, ["true"], start=False)
    async with new_app(engine).run_test(size=SIZE) as pilot:
        app = pilot.app
        await until(pilot, lambda: len(row_states(app)) == 3, what="three rows")
        await pilot.press("slash", *"web")
        assert sorted(row_states(app)) == ["web-1", "web-2"]
        assert app.screen.containers.border_title == "Containers (2/3)"
        await pilot.press("enter")  # keeps the filter, back in the list
        assert app.focused is app.screen.containers.table
        assert sorted(row_states(app)) == ["web-1", "web-2"]
        await pilot.press("slash", "escape")  # clears it
        assert sorted(row_states(app)) == ["db", "web-1", "web-2"]


async def test_logs_search_timestamps_and_follow(engine):
    run(engine, "talker", ["sh", "-c", "for i in 1 2 3 4 5; do echo line-$i; done; echo other; sleep 1000"])
    async with new_app(engine).run_test(size=SIZE) as pilot:
        app = pilot.app
        await select(pilot, "talker")
        logs = app.screen.query_one(LogView)
        await until(pilot, lambda: logs.log_widget.lines[-1:] == ["other"], what="the log")
        await pilot.press("enter")  # into the main pane: the Logs tab's keys apply
        await pilot.press("slash", *"line-")
        assert logs.log_widget.lines == [f"line-{i}" for i in range(1, 6)]
        await pilot.press("escape")
        assert logs.log_widget.lines[-1] == "other"
        await pilot.press("t")
        stamp = logs.log_widget.lines[-1].split(" ", 1)[0]
        record = json.loads((engine.containers.get("talker").dir / "log.json").read_text().splitlines()[-1])
        assert stamp == record["time"]
        await pilot.press("f")
        assert not logs.log_widget.auto_scroll


async def test_tabs_stats_top_inspect_env(engine):
    run(engine, "web", env=["COLOUR=green"])
    async with new_app(engine).run_test(size=SIZE) as pilot:
        app = pilot.app
        await select(pilot, "web")
        tabs = app.screen.details.tabs
        await pilot.press("right_square_bracket")
        assert tabs.active == "tab-stats"
        memory = app.screen.query_one("#graph-memory")
        await until(pilot, lambda: "B /" in str(memory.border_subtitle), what="a memory sample")
        await pilot.press("right_square_bracket")
        assert tabs.active == "tab-inspect"
        inspect = app.screen.query_one("#inspect")
        await until(pilot, lambda: "Status: running" in inspect.text, what="inspect")
        await pilot.press("right_square_bracket")
        top = app.screen.query_one("#top")
        pid = engine.containers.get("web").pid
        await until(pilot, lambda: any(top.get_row_at(i)[1] == str(pid) for i in range(top.row_count)),
                    what="the container's pid 1 in Top")
        await pilot.press("right_square_bracket")
        env = app.screen.query_one("#env")
        assert ["COLOUR", "green"] in [env.get_row_at(i) for i in range(env.row_count)]
        await pilot.press("left_square_bracket", "left_square_bracket", "left_square_bracket",
                          "left_square_bracket")
        assert tabs.active == "tab-logs"


async def test_keys_can_be_remapped(engine, tmp_path, monkeypatch):
    from tuiker.base import config

    path = tmp_path / "config.json"
    path.write_text(json.dumps({"keys": {"container.stop": "K", "quit": "Q"}}))
    monkeypatch.setenv("TUIKER_CONFIG", str(path))
    config.load.cache_clear()
    run(engine, "web")
    try:
        async with new_app(engine).run_test(size=SIZE) as pilot:
            await select(pilot, "web")
            await pilot.press("s")  # no longer stop
            await pilot.pause(0.3)
            assert engine.containers.get("web").status == "running"
            await pilot.press("K")
            await until(pilot, lambda: engine.containers.get("web").status == "exited", what="K to stop")
            await pilot.press("q")
            assert pilot.app.is_running
            await pilot.press("Q")
            await until(pilot, lambda: not pilot.app.is_running, what="Q to quit")
    finally:
        config.load.cache_clear()


async def test_help_and_command_palette_list_every_action(engine):
    from textual.command import CommandPalette

    from tuiker.tui.screens.help import HelpScreen
    from tuiker.tui.screens.main import MainScreen

    async with new_app(engine).run_test(size=SIZE) as pilot:
        app = pilot.app
        screen = app.screen
        assert isinstance(screen, MainScreen)
        ids = {b.id for _, _, bindings in screen.key_groups() for b in bindings}
        assert {"container.stop", "container.restart", "container.start", "container.pause", "container.remove",
                "container.exec", "container.attach", "container.new", "image.pull", "image.remove", "list.filter",
                "logs.search", "logs.timestamps", "logs.follow", "panel.next", "tab.next", "help", "quit",
                "network.remove", "network.new", "image.build"} <= ids
        titles = [command.title for command in app.get_system_commands(screen)]
        for wanted in ("Containers: Stop", "Containers: Exec shell", "Images: Remove image", "Everywhere: Pull",
                       "Everywhere: New", "Logs: Search", "Networks: Remove network", "Networks: New network",
                       "Images: Build an image"):
            assert wanted in titles

        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        shown = {row[2] for _, rows in app.screen.groups for row in rows}
        assert ids <= shown
        await pilot.press("escape")
        await pilot.press("ctrl+p")
        await until(pilot, lambda: isinstance(app.screen, CommandPalette), what="the palette")


async def test_oom_kill_shows_live(engine):
    """The OOM killer, not a user, ends the container: its row says so within a second."""
    hog = run(engine, "hog", ["sh", "-c", "sleep 1; x=a; while :; do x=$x$x; done"], memory=8 << 20)
    async with new_app(engine).run_test(size=SIZE) as pilot:
        await until(pilot, lambda: row_states(pilot.app).get("hog") == "running", what="hog running")
        await until(pilot, lambda: engine.containers.get(hog.id).status == "exited", timeout=10, what="the OOM kill")
        await until(pilot, lambda: row_states(pilot.app)["hog"] == "exited (oom)", timeout=1.5, what="the row")


async def test_attach_shows_the_console(engine):
    run(engine, "ticker", ["sh", "-c", "while :; do echo tick; sleep 0.2; done"])
    async with new_app(engine).run_test(size=SIZE) as pilot:
        app = pilot.app
        await select(pilot, "ticker")
        await pilot.press("a")
        terminal = await until(pilot, lambda: app.screen.query(Terminal).first() if app.screen.query(Terminal)
                               else None, what="a terminal")
        assert terminal.title == "attach ticker"
        await until(pilot, lambda: any("tick" in line for line in terminal.display_lines), what="its output")
        await pilot.press("ctrl+right_square_bracket", "x")  # detach: the container goes on
        await until(pilot, lambda: not app.screen.query(Terminal), what="the tab to close")
        assert engine.containers.get("ticker").status == "running"


async def test_mouse_selects_rows_and_tabs(engine):
    run(engine, "first")
    run(engine, "second")
    async with new_app(engine).run_test(size=SIZE) as pilot:
        app = pilot.app
        await until(pilot, lambda: len(row_states(app)) == 2, what="two rows")
        table = app.screen.containers.table
        await pilot.click(table, offset=(3, 2))  # the header is row 0: the second container
        assert selected_name(app) == "second"
        await pilot.click("#container-tabs Tab#--content-tab-tab-env")
        assert app.screen.details.tabs.active == "tab-env"
