"""The TUI over a real dockerd: with Textual's Pilot (the app given a RemoteEngine), and end to end in tmux
(`tuiker --host unix://...`, as a user starts it)."""

from __future__ import annotations

import asyncio
import os
import sys

from tests.dockerd import DOCKER
from tests.remote.test_remote_engine import run
from tests.tmux import Tmux
from tests.tui.tuihelpers import new_app, notifications, pull_with_P, row_states, selected_name, until
from tuiker.tui.widgets.details import TopView
from tuiker.tui.widgets.header import EngineHeader
from tuiker.tui.widgets.logs import LogView, plain
from tuiker.tui.widgets.terminal import Terminal

SIZE = (140, 40)


def docker_state(dockerd, name: str) -> str:
    return dockerd.cli("inspect", "-f", "{{.State.Status}}", name)[1].strip()


async def test_the_tui_drives_dockerd(remote, dockerd):
    run(remote, "idle", start=False)
    run(remote, "web")
    async with new_app(remote).run_test(size=SIZE) as pilot:
        app = pilot.app
        await until(pilot, lambda: row_states(app) == {"web": "running", "idle": "created"}, timeout=10,
                    what="dockerd's two containers, running first")
        header = str(app.screen.query_one(EngineHeader).render())
        assert header.startswith(f"docker  @ unix://{dockerd.sock}  version ")
        assert "containers 1 running / 2" in header and "images 1" in header
        tags = dockerd.cli("images", "--format", "{{.Repository}}:{{.Tag}}")[1].split()
        assert sorted(row.key for row in app.screen.images.rows) == sorted(tags)
        assert selected_name(app) == "web"
        log = app.screen.query_one(LogView).log_widget
        await until(pilot, lambda: any(line.startswith("ready ") for line in log.lines), timeout=10, what="its log")
        # Stats: samples from dockerd's stats, every second.
        web = app.screen.containers.selected_container.id
        await until(pilot, lambda: len(app.stats_book.history(web)) >= 2, timeout=10, what="two stats samples")
        assert app.stats_book.history(web)[-1].pids >= 1
        app.screen.details.tabs.active = "tab-stats"  # the graphs are drawn while their tab shows
        await until(pilot, lambda: app.screen.query_one("#graph-pids").values, what="the pids graph")
        # Top: dockerd's `top`.
        app.screen.details.tabs.active = "tab-top"
        top = app.screen.query_one(TopView)
        await until(pilot, lambda: any("sleep 1000" in str(top.get_row_at(i)[6]) for i in range(top.row_count)),
                    timeout=10, what="its processes")
        app.screen.details.tabs.active = "tab-logs"
        # e: a shell in a terminal tab, through a hijacked exec.
        await pilot.press("e")
        terminal = await until(pilot, lambda: app.screen.query(Terminal).first() if app.screen.query(Terminal)
                               else None, what="a terminal")
        await until(pilot, lambda: any("#" in line for line in terminal.display_lines), timeout=10, what="the prompt")
        await pilot.press(*"echo hello-$((6*7))", "enter")
        await until(pilot, lambda: any("hello-42" in line for line in terminal.display_lines), what="the output")
        await pilot.press("ctrl+right_square_bracket")
        await pilot.press("x")
        await until(pilot, lambda: not app.screen.query(Terminal), what="the terminal tab to close")
        # s stops it: dockerd says so, and the list shows it from dockerd's events.
        await pilot.press("s")
        await until(pilot, lambda: row_states(app)["web"] == "exited (0)", timeout=15, what="web stopped")
        assert docker_state(dockerd, "web") == "exited"
        await pilot.press("u")
        await until(pilot, lambda: row_states(app)["web"] == "running", timeout=10, what="web started")
        assert docker_state(dockerd, "web") == "running"
        # A change made by another client shows without a key press.
        await asyncio.to_thread(dockerd.cli, "rm", "-f", "idle")
        await until(pilot, lambda: "idle" not in row_states(app), timeout=5, what="idle gone")
        assert not [n for n in notifications(app) if "rror" in n]


def test_tmux_end_to_end(remote, dockerd):
    """`tuiker --host unix://...` in a real terminal shows dockerd's container, and q leaves it running."""
    run(remote, "e2e-web")
    env = {"PYTHONPATH": os.environ.get("PYTHONPATH", ""), "TUIKER_ROOT": "/var/tmp/tuiker-test-remote-unused"}
    term = Tmux(f"{sys.executable} -m tuiker --host unix://{dockerd.sock}; echo TUIKER-EXITED $?; sleep 60", env)
    try:
        screen = term.wait_for(lambda s: "e2e-web" in s and "running" in s, 20, "the container list")
        assert f"docker  @ unix://{dockerd.sock}" in screen
        term.keys("q")
        term.wait_for(lambda s: "TUIKER-EXITED 0" in s, 10, "the app to quit")
    finally:
        term.close()
    assert docker_state(dockerd, "e2e-web") == "running"
    assert not os.path.exists("/var/tmp/tuiker-test-remote-unused")  # the local engine was never touched


def test_host_flags_choose_the_engine(dockerd, tmp_path, monkeypatch):
    """-H, --context (docker's context store) and DOCKER_HOST pick the engine; a command with --host says the CLI
    is tuiker's own."""
    import subprocess

    from tuiker.remote import choose

    assert choose("unix:///x.sock", None, {}) == ("unix:///x.sock", None, None)
    assert choose(None, None, {"DOCKER_HOST": "tcp://127.0.0.1:2375"})[0] == "tcp://127.0.0.1:2375"
    assert choose(None, None, {}) is None
    assert choose(None, "default", {}) is None
    # A context made by the docker CLI itself, in its store.
    env = dict(os.environ, DOCKER_CONFIG=str(tmp_path))
    env.pop("DOCKER_HOST", None)
    made = subprocess.run([DOCKER, "context", "create", "far", "--docker", f"host=unix://{dockerd.sock}"], env=env,
                          capture_output=True, text=True, timeout=30)
    assert made.returncode == 0, made.stderr
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))
    assert choose(None, "far", {}) == (f"unix://{dockerd.sock}", None, "far")
    assert choose(None, None, {"DOCKER_CONTEXT": "far"})[0] == f"unix://{dockerd.sock}"
    assert choose(None, None, {"DOCKER_CONTEXT": "far", "DOCKER_HOST": "unix:///y.sock"})[0] == "unix:///y.sock"
    from tuiker.engine import InvalidArgument

    try:
        choose(None, "nowhere", {})
    except InvalidArgument as e:
        assert "context 'nowhere' does not exist" in str(e)
    else:
        raise AssertionError("an unknown context was accepted")
    proc = subprocess.run([sys.executable, "-m", "tuiker", "--host", f"unix://{dockerd.sock}", "ps"],
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 125 and proc.stderr.count("\n") == 1 and "the TUI drives" in proc.stderr
    # No engine there: one line, before any screen is drawn.
    proc = subprocess.run([sys.executable, "-m", "tuiker", "-H", "unix:///var/tmp/tuiker-test-no.sock"],
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 1
    assert proc.stderr.startswith("Error: Cannot connect to the Docker daemon at unix:///var/tmp/tuiker-test-no.sock")
    assert proc.stderr.count("\n") == 1


async def test_pull_and_new_container_forms(remote, dockerd, busybox_image):
    """P pulls through dockerd (a bar per layer from its JSON progress); n creates and starts a container there."""
    from textual.widgets import Input, Select

    from tuiker.tui.screens.new_container import NewContainerScreen
    from tuiker.tui.screens.pull import LayerProgress

    ref, built = busybox_image
    assert dockerd.cli("rmi", ref, "busybox")[0] == 0
    try:
        async with new_app(remote).run_test(size=SIZE) as pilot:
            app = pilot.app
            await pull_with_P(pilot, ref, timeout=20)
            layers = app.screen.query(LayerProgress)
            assert [row.layer_id for row in layers] == [d.removeprefix("sha256:")[:12] for d in built.layer_digests]
            assert all(row.latest.status == "Pull complete" for row in layers)
            await pilot.press("escape")
            await until(pilot, lambda: [r.key for r in app.screen.images.rows] == [ref], timeout=10,
                        what="the image in the list")
            await pilot.press("n")
            await until(pilot, lambda: isinstance(app.screen, NewContainerScreen), what="the form")
            form = app.screen
            form.query_one("#image", Input).value = ref
            form.query_one("#name", Input).value = "from-form"
            form.query_one("#command", Input).value = "sh -c 'echo \"hello $GREETING\"; sleep 1000'"
            form.query_one("#env", Input).value = "GREETING=over-the-api"
            form.query_one("#memory", Input).value = "64m"
            form.query_one("#network", Select).value = "none"
            await pilot.press("ctrl+s")
            await until(pilot, lambda: row_states(app).get("from-form") == "running", timeout=15, what="running")
            log = app.screen.query_one(LogView).log_widget
            await until(pilot, lambda: "hello over-the-api" in log.lines, timeout=10, what="its log line")
        doc = remote.containers.inspect("from-form")
        assert doc["HostConfig"]["Memory"] == 64 << 20 and doc["HostConfig"]["NetworkMode"] == "none"
    finally:
        dockerd.cli("rm", "-f", "from-form")
        dockerd.cli("pull", ref)
        dockerd.cli("tag", ref, "busybox")


async def test_the_log_timeline_over_dockerd(remote, dockerd):
    """`L` over a RemoteEngine: its log readers (dockerd's /logs, followed) merged the same way."""
    from tuiker.tui.screens.timeline import TimelineScreen

    run(remote, "first", ["sh", "-c", 'echo "one $HOSTNAME"; sleep 0.3; echo "three $HOSTNAME"; sleep 1000'],
        hostname="first")
    run(remote, "second", ["sh", "-c", 'sleep 0.15; echo "two $HOSTNAME"; sleep 1000'], hostname="second")
    await asyncio.sleep(1)
    async with new_app(remote).run_test(size=SIZE) as pilot:
        app = pilot.app
        await until(pilot, lambda: len(row_states(app)) == 2, timeout=10, what="the two containers")
        await pilot.press("L")
        assert isinstance(app.screen, TimelineScreen)
        log = app.screen.view.log_widget
        await until(pilot, lambda: len(log.lines) == 3, timeout=10, what="three lines")
        # In the order of dockerd's own time stamps (`docker logs -t`), whichever stream came first.
        stamped = sorted(line.split(" ", 1) for name in ("first", "second")
                         for line in dockerd.cli("logs", "-t", name)[1].splitlines())
        assert [" ".join(line.split()) for line in map(plain, log.lines)] == [
            f"{text.split()[1]} │ {text}" for _t, text in stamped]
        run(remote, "third", ["sh", "-c", 'echo "four $HOSTNAME"; sleep 1000'], hostname="third")
        await until(pilot, lambda: len(log.lines) == 4, timeout=10, what="the new container's line")
        assert plain(log.lines[-1]).endswith("four third")
        await pilot.press("escape")
