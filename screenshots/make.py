#!/usr/bin/env python3
"""Make the SVG screenshots in this directory: the app driven by Textual's Pilot over a real engine with real
containers (a throwaway engine root, a local registry with bench/'s images), as a user would see it.

    sudo screenshots/make.py            # about a minute; needs Debian's docker-registry and busybox-static

containers-logs.svg  the lists and a container's Logs tab      stats.svg  a busy container's Stats graphs
exec.svg             a shell exec'd in a container, in a tab   pull.svg   an image pulling, layer by layer
networks.svg         the Networks panel and a network's inspect document
build.svg            an image building (`b` on Images), its RUN step's output streaming
layers.svg           the image's layers (`l`), as dive shows them   files.svg  a container's diff (`F`)
timeline.svg         every container's logs merged in time (`L`), a colour per container
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parent
sys.path[:0] = [str(REPO_ROOT), str(REPO_ROOT / "bench")]
sys.dont_write_bytecode = True

from common import build_busybox_image, build_image, local_registry, push_image  # noqa: E402

ROOT = Path("/var/tmp/tuiker-screenshots")  # shown in the header
SIZE = (150, 42)
LOG_LINE = ('i=0; while :; do i=$((i+1)); echo "10.0.0.$((i % 7 + 2)) - - \\"GET /api/items/$i HTTP/1.1\\" 200 '
            '$((i * 37 % 900 + 100))"; sleep 0.7; done')
# Bursts of work and rest (bench/'s busybox has only a few applets: sh's arithmetic is the work).
BUSY = "while :; do i=0; while [ $i -lt 40000 ]; do i=$((i + 1)); done; sleep 1; done"
# The tutorials' Dockerfile shape, with a RUN that prints for a while.
DOCKERFILE = """\
FROM busybox
WORKDIR /app
COPY index.html .
RUN for i in 1 2 3 4 5 6 7 8; do echo "compiling module $i/8"; sleep 0.5; done
EXPOSE 8080
CMD ["httpd", "-f", "-p", "8080", "-h", "/app"]
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("0.0.0.0", 0))
        return s.getsockname()[1]


def containers(engine) -> None:
    from tuiker.engine import RunOptions

    def run(name: str, command: str, start: bool = True, network: str = "none", **options) -> None:
        c = engine.containers.create(RunOptions(image="busybox", name=name, command=["sh", "-c", command],
                                                network=network, **options))
        if start:
            engine.containers.start(c.id)

    engine.networks.create("backend")
    run("web", LOG_LINE, network="backend", ports=[f"{free_port()}:80"], memory=64 << 20, pids_limit=100)
    run("worker", BUSY, cpus=0.5, memory=32 << 20)
    run("cache", "sleep 100000")
    engine.containers.pause("cache")
    run("migrate", "echo migrated 42 rows")
    run("broken", "echo 'config.yml: no such file' >&2; exit 1")
    run("backup", "echo backing up", start=False)


async def until(pilot, check, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise RuntimeError(f"screenshots: timed out waiting for {check}")
        await pilot.pause(0.05)


async def select(pilot, name: str) -> None:
    """Move the cursor to `name`, as a user would (j/k)."""
    containers = pilot.app.screen.containers
    names = [c.name for c in containers.containers.values()]
    while containers.selected_container.name != name:
        await pilot.press("j" if names.index(name) > containers.table.cursor_row else "k")


async def shoot(engine, app_ref: str) -> None:
    from tuiker.engine import familiar_name
    from tuiker.tui.app import TuikerApp
    from tuiker.tui.screens.build import BuildScreen
    from tuiker.tui.screens.layers import DiffFilesScreen, LayersScreen
    from tuiker.tui.screens.pull import LayerProgress
    from tuiker.tui.screens.timeline import TimelineScreen
    from tuiker.tui.widgets.terminal import Terminal

    app = TuikerApp(engine)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        await until(pilot, lambda: screen.containers.table.row_count == 6)
        await select(pilot, "web")
        await pilot.pause(5)  # a few log lines
        app.save_screenshot(str(HERE / "containers-logs.svg"))

        await select(pilot, "worker")
        await pilot.press("right_square_bracket")
        await pilot.pause(40)  # forty samples of history
        app.save_screenshot(str(HERE / "stats.svg"))

        await pilot.press("left_square_bracket")
        await select(pilot, "web")
        await pilot.press("e")

        def prompt() -> bool:
            terminals = screen.query(Terminal)
            return bool(terminals) and any("#" in line for line in terminals.first().display_lines)

        await until(pilot, prompt)
        for command in ("hostname", "ls /", "ps"):
            await pilot.press(*command, "enter")
            await pilot.pause(0.5)
        app.save_screenshot(str(HERE / "exec.svg"))

        await pilot.press("ctrl+right_square_bracket", "P")
        await pilot.pause()
        app.screen.query_one("#reference").value = app_ref
        await pilot.press("enter")

        def mid_pull() -> bool:
            rows = [row.latest for row in app.screen.query(LayerProgress) if row.latest]
            return sum(p.status == "Pull complete" for p in rows) >= 1 and any(
                p.status == "Downloading" for p in rows)

        await until(pilot, mid_pull)
        app.save_screenshot(str(HERE / "pull.svg"))
        await until(pilot, lambda: "Status" in str(app.screen.query_one("#pull-status").render()), timeout=60)

        await pilot.press("escape")
        while app.focused is not screen.networks.table:
            await pilot.press("tab")
        while screen.networks.selected != "backend":
            await pilot.press("j")
        await until(pilot, lambda: "Name: web" in screen.query_one("#network-details").text)
        app.save_screenshot(str(HERE / "networks.svg"))

        context = ROOT / "site"
        context.mkdir()
        (context / "Dockerfile").write_text(DOCKERFILE)
        (context / "index.html").write_text("<h1>hello</h1>\n")
        await pilot.press("shift+tab", "b")
        await pilot.pause()
        app.screen.query_one("#context").value = str(context)
        app.screen.query_one("#tags").value = "site:1.0"
        await pilot.press("ctrl+s")
        await until(pilot, lambda: isinstance(app.screen, BuildScreen))
        build = app.screen
        await until(pilot, lambda: 5 in build.rows and build.rows[5].output.line_count >= 4)
        app.save_screenshot(str(HERE / "build.svg"))
        await until(pilot, lambda: build.finished, timeout=60)
        await pilot.press("escape")

        def site() -> str | None:
            return next((name for name in screen.images.images if familiar_name(name) == "site:1.0"), None)

        await until(pilot, site)
        screen.images.select(site())
        await pilot.press("l")
        await until(pilot, lambda: isinstance(app.screen, LayersScreen) and app.screen.report is not None)
        await pilot.press("j", "j")  # the COPY layer: the file it added, in its tree
        await pilot.pause(0.5)
        app.save_screenshot(str(HERE / "layers.svg"))

        await pilot.press("escape", "1")
        await select(pilot, "web")
        await pilot.press("e")
        await until(pilot, prompt)
        await pilot.press(*"mkdir -p /srv/www && echo hi > /srv/www/index.html && rm /etc/group", "enter",
                          *"exit", "enter")
        await pilot.pause(1)
        await pilot.press("ctrl+right_square_bracket", "F")
        await until(pilot, lambda: isinstance(app.screen, DiffFilesScreen)
                    and "added" in str(app.screen.query_one("#files-summary").render()))
        await pilot.pause(0.5)
        app.save_screenshot(str(HERE / "files.svg"))

        await pilot.press("escape", "L")
        await until(pilot, lambda: isinstance(app.screen, TimelineScreen))
        await pilot.pause(1)
        await pilot.press("g")  # the start, where the other containers' lines are among web's
        await pilot.pause(0.5)
        app.save_screenshot(str(HERE / "timeline.svg"))
        await pilot.press("escape")


def stop_monitor() -> None:
    """The monitor of ROOT, found by its command line (it outlives the app, as it should)."""
    import psutil

    for proc in psutil.process_iter(["cmdline"]):
        cmd = proc.info["cmdline"] or []
        if any("tuiker.runtime.monitor" in part for part in cmd) and str(ROOT) in cmd:
            proc.kill()
            proc.wait(10)


def main() -> int:
    if os.geteuid() != 0:
        sys.exit("screenshots/make.py: run as root (containers need it)")
    busybox, big = build_busybox_image(), build_image(100)
    os.environ.update(TUIKER_ROOT=str(ROOT), TUIKER_CGROUP_PARENT=f"tuiker-screenshots-{os.getpid()}",
                      TUIKER_CONFIG=str(ROOT / "no-config.json"))
    shutil.rmtree(ROOT, ignore_errors=True)
    ROOT.mkdir(parents=True)
    from tuiker.engine import Engine

    engine = Engine(ROOT)
    try:
        with local_registry(ROOT / "registry-data") as registry:
            push_image(busybox, registry, "library/busybox", "latest")
            push_image(big, registry, "example/app", "1.2")
            engine.images.pull(f"{registry}/library/busybox:latest")
            engine.images.tag(f"{registry}/library/busybox:latest", "busybox")
            engine.images.remove(f"{registry}/library/busybox:latest")
            containers(engine)
            asyncio.run(shoot(engine, f"{registry}/example/app:1.2"))
    finally:
        for c in engine.containers.list(all=True):
            engine.containers.remove(c.id, force=True)
        stop_monitor()
        from tuiker.runtime.networking import purge_host_state

        purge_host_state(ROOT)
        shutil.rmtree(ROOT, ignore_errors=True)
    print("made " + ", ".join(sorted(p.name for p in HERE.glob("*.svg"))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
