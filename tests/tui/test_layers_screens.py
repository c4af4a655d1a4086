"""The layer explorer (`l` on an image) and the file browser over a container's diff (`F` on a container),
driven with Pilot against the real engine and an image built by tuiker's own builder."""

from __future__ import annotations

import asyncio

from test_layer_explorer import build_layered
from textual.widgets import DataTable, Label, Tree
from tuihelpers import new_app, run, until

from tuiker.fmt import human_size
from tuiker.tui.screens.layers import DiffFilesScreen, LayersScreen, tree_paths

SIZE = (160, 50)
LAYERED = "docker.io/library/layered:1"


async def test_layer_explorer(engine, tmp_path):
    await asyncio.to_thread(build_layered, engine, tmp_path)
    try:
        async with new_app(engine).run_test(size=SIZE) as pilot:
            app = pilot.app
            images = app.screen.images
            await until(pilot, lambda: LAYERED in images.images, what="the image")
            while app.focused is not images.table:
                await pilot.press("tab")
            while images.selected != LAYERED:
                await pilot.press("j")
            await pilot.press("l")
            await until(pilot, lambda: isinstance(app.screen, LayersScreen), what="the layer explorer")
            screen = app.screen
            await until(pilot, lambda: screen.report is not None, what="the layers")
            summary = str(screen.query_one("#layers-summary", Label).render())
            assert "4 layers" in summary and f"wasted {human_size(3000)}," in summary
            assert f"efficiency {screen.report.efficiency * 100:.1f} %" in summary
            assert screen.report.wasted == 3000

            layers = screen.query_one("#layers-table", DataTable)
            assert layers.row_count == 4
            assert "COPY one /data/one" in str(layers.get_row_at(1)[2])
            wasted = screen.query_one("#wasted-table", DataTable)
            assert [str(wasted.get_row_at(i)[2]) for i in range(wasted.row_count)] == ["/data/two", "/data/one"]

            tree = screen.query_one("#layer-tree", Tree)
            assert "/bin/busybox" in tree_paths(tree)  # the first layer is selected
            assert app.focused is layers
            await pilot.press("j", "j", "j")  # the top layer: its changes only
            await until(pilot, lambda: "/data/one" in tree_paths(tree), what="the top layer's tree")
            paths = tree_paths(tree)
            assert "removed" in paths["/data/one"] and human_size(1000) in paths["/data/one"]
            assert "modified" in paths["/data/two"] and human_size(300) in paths["/data/two"]
            assert "added" in paths["/data/new"]
            assert "/bin/busybox" not in paths

            await pilot.press("a")  # the whole tree with that layer on top
            await until(pilot, lambda: "/bin/busybox" in tree_paths(tree), what="the aggregated tree")
            paths = tree_paths(tree)
            assert "removed" in paths["/data/one"] and "modified" in paths["/data/two"]
            assert "added" not in paths["/bin/busybox"] and "modified" not in paths["/bin/busybox"]
            await pilot.press("k")  # layer 3 on top: two is as COPY made it, one is still there
            await until(pilot, lambda: "removed" not in tree_paths(tree).get("/data/one", "removed"), what="layer 3")
            paths = tree_paths(tree)
            assert "added" in paths["/data/two"] and human_size(2000) in paths["/data/two"]
            assert "added" not in paths["/data/one"]

            await pilot.press("escape")
            await until(pilot, lambda: not isinstance(app.screen, LayersScreen), what="the panels again")
    finally:
        await asyncio.to_thread(engine.images.remove, "layered:1", True)


async def test_diff_file_browser(engine):
    c = await asyncio.to_thread(run, engine, "writer", ["sh", "-c", "head -c 5000 /dev/zero > /tmp/blob && "
                                                       "mkdir -p /srv/a && echo hi > /srv/a/f && rm /bin/ls && "
                                                       "ln -s /bin/busybox /srv/link && exec sleep 1000"])
    try:
        await asyncio.to_thread(until_diff, engine, c.id)
        async with new_app(engine).run_test(size=SIZE) as pilot:
            app = pilot.app
            containers = app.screen.containers
            await until(pilot, lambda: containers.selected_container is not None, what="the container")
            while app.focused is not containers.table:
                await pilot.press("tab")
            help_ids = {row[2] for _, rows in app.screen.help_groups() for row in rows}
            assert {"image.layers", "layers.aggregate", "container.files", "files.reload"} <= help_ids
            await pilot.press("F")
            await until(pilot, lambda: isinstance(app.screen, DiffFilesScreen), what="the file browser")
            tree = app.screen.query_one("#files-tree", Tree)
            await until(pilot, lambda: "/tmp/blob" in tree_paths(tree), what="the changes")
            paths = tree_paths(tree)
            assert "added" in paths["/tmp/blob"] and f"  {human_size(5000)}" in paths["/tmp/blob"]
            assert "added" in paths["/srv/a/f"] and f"  {human_size(3)}" in paths["/srv/a/f"]
            assert "removed" in paths["/bin/ls"]
            assert "added" in paths["/srv/link"] and f"  {human_size(12)}" in paths["/srv/link"]
            summary = str(app.screen.query_one("#files-summary", Label).render())
            assert "1 deleted" in summary and "added" in summary
            await pilot.press("escape")
            await until(pilot, lambda: not isinstance(app.screen, DiffFilesScreen), what="the panels again")
    finally:
        await asyncio.to_thread(engine.containers.remove, c.id, True)


def until_diff(engine, container_id: str) -> None:
    """Wait (in a thread) until the container's shell has made its changes."""
    import time

    deadline = time.monotonic() + 10
    while ("A", "/srv/link") not in engine.containers.diff(container_id):
        if time.monotonic() > deadline:
            raise AssertionError("the container did not write its files")
        time.sleep(0.05)
