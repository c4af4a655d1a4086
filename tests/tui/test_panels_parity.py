"""issue 15's parity list (what lazydocker has): each driven with keys (Pilot) against the real engine and real
busybox containers."""

from __future__ import annotations

import asyncio

from test_actions import SIZE, select
from tuihelpers import new_app, notifications, row_states, run, selected_name, until


async def test_y_copies_the_full_id_of_a_container_and_an_image(engine):
    c = run(engine, "web")
    image = engine.images.list()[0]
    async with new_app(engine).run_test(size=SIZE) as pilot:
        app = pilot.app
        await select(pilot, "web")
        await pilot.press("y")
        assert app.clipboard == c.id and len(c.id) == 64
        assert f"copied {c.id[:12]}" in notifications(app)
        await pilot.press("tab")  # the Images panel
        await until(pilot, lambda: app.screen.images.selected, what="an image selected")
        await pilot.press("y")
        assert app.clipboard == image.id and image.id.startswith("sha256:")
        assert f"copied {image.short_id}" in notifications(app)
        assert row_states(app) == {"web": "running"}


async def test_H_hides_stopped_containers_and_the_selection_stays(engine):
    run(engine, "a-run")
    run(engine, "c-run")
    run(engine, "b-done", ["true"])
    run(engine, "d-made", start=False)
    engine.containers.wait("b-done")
    async with new_app(engine).run_test(size=SIZE) as pilot:
        app = pilot.app
        panel = app.screen.containers
        await until(pilot, lambda: len(row_states(app)) == 4, what="four rows")
        await select(pilot, "c-run")
        await pilot.press("H")
        assert set(row_states(app)) == {"a-run", "c-run"}
        assert selected_name(app) == "c-run"
        assert panel.border_title == "Containers (2/4)" and "stopped hidden" in panel.border_subtitle
        # A running container that sorts first moves every row: the selection stays on c-run, by ID.
        await asyncio.to_thread(run, engine, "0-new")
        await until(pilot, lambda: "0-new" in row_states(app), what="0-new in the list")
        assert selected_name(app) == "c-run"
        # A container that stops while they are hidden leaves the list.
        await asyncio.to_thread(engine.containers.stop, "a-run")
        await until(pilot, lambda: "a-run" not in row_states(app), what="a-run to be hidden")
        await pilot.press("H")
        assert set(row_states(app)) == {"0-new", "a-run", "b-done", "c-run", "d-made"}
        assert selected_name(app) == "c-run" and panel.border_subtitle == ""
        # The key is in the footer and on the help screen, remappable by its ID.
        assert any(b.binding.key == "H" for b in app.screen.active_bindings.values() if b.binding.show)
        help_ids = {row[2] for _, rows in app.screen.help_groups() for row in rows}
        assert {"container.hide_stopped", "container.copy_id", "image.copy_id"} <= help_ids


def heights(app) -> dict[str, int]:
    return {p.id: p.region.height for p in app.screen.query("#side > .panel") if p.display}


async def test_number_keys_focus_panels_that_share_80x24(engine):
    """1..5 focus Containers, Images, Networks, Volumes, Services (lazydocker's keys); at 80x24 the focused
    panel is the tallest and every panel keeps its border and a row at least."""
    from test_services import compose_labels

    run(engine, "web")
    run(engine, "shop-web-1", labels=compose_labels("shop", "web", 1))
    async with new_app(engine).run_test(size=(80, 24)) as pilot:
        app = pilot.app
        await until(pilot, lambda: app.screen.services.display and len(row_states(app)) == 2, what="the panels")
        for key, name in [("2", "images"), ("3", "networks"), ("4", "volumes"), ("5", "services"),
                          ("1", "containers")]:
            await pilot.press(key)
            await pilot.pause()
            panel = app.screen.query_one(f"#{name}")
            assert panel.has_focus_within, f"{key} did not focus {name}"
            shown = heights(app)
            assert len(shown) == 5 and min(shown.values()) >= 3, shown
            assert shown[name] == max(shown.values()) and list(shown.values()).count(shown[name]) == 1, shown
            assert panel.query_one("ListTable").region.height >= 1
        # Keys still work as before: tab, and the list's own keys on the focused panel.
        await pilot.press("tab")
        assert app.screen.images.has_focus_within
        await pilot.press("j", "k")


async def test_number_key_for_a_hidden_panel_says_so(engine):
    run(engine, "web")
    async with new_app(engine).run_test(size=(80, 24)) as pilot:
        app = pilot.app
        await until(pilot, lambda: len(row_states(app)) == 1, what="the list")
        await pilot.press("5")
        assert app.screen.containers.has_focus_within
        assert "no services to show" in notifications(app)
        assert min(heights(app).values()) >= 3


async def test_stats_history_stays_when_switching_containers(engine):
    run(engine, "a-web")
    run(engine, "b-db")
    async with new_app(engine).run_test(size=SIZE) as pilot:
        app = pilot.app
        await select(pilot, "a-web")
        await pilot.press("right_square_bracket")  # the Stats tab
        assert app.screen.details.tabs.active == "tab-stats"
        graph = app.screen.query_one("#graph-pids")
        await until(pilot, lambda: len(graph.values) >= 3, timeout=8, what="three samples of a-web")
        seen = len(graph.values)
        await select(pilot, "b-db")
        summary = app.screen.query_one("#stats-summary")
        await until(pilot, lambda: summary.text.startswith("b-db") and graph.values, what="b-db's graphs")
        await select(pilot, "a-web")
        await pilot.pause()
        assert len(graph.values) >= seen, "a-web's history was lost"
        assert all(v >= 1 for v in graph.values)  # pids of a-web: its shell and sleep


async def test_cpu_and_mem_columns_and_ports_always_whole(engine):
    """CPU and MEM of the running containers, sampled once a second; on a wide screen every column shows, and
    at 80x24 PORTS stays whole (NAME is cut, IMAGE and MEM give way)."""
    from tuihelpers import column_of, free_port

    port = free_port()
    run(engine, "web", network="bridge", ports=[f"{port}:80"])
    run(engine, "b-done", ["true"], network="none")
    engine.containers.wait("b-done")
    async with new_app(engine).run_test(size=SIZE) as pilot:
        app = pilot.app
        panel = app.screen.containers
        await until(pilot, lambda: len(row_states(app)) == 2, what="the list")
        assert panel.columns_shown == ("STATE", "NAME", "IMAGE", "CPU", "MEM", "PORTS")
        await until(pilot, lambda: column_of(app, "CPU")["web"].endswith("%"), what="a CPU figure")
        mem = column_of(app, "MEM")["web"]
        assert mem[0].isdigit() and mem.endswith("B"), mem
        assert column_of(app, "CPU")["b-done"] == column_of(app, "MEM")["b-done"] == ""
        assert app.stats_book.history(engine.containers.get("web").id)  # one sampler for the list and Stats

        await pilot.resize_terminal(80, 24)
        await asyncio.to_thread(run, engine, "a-worker-with-a-rather-long-name", network="bridge",
                                ports=[f"{free_port()}:81"])
        await until(pilot, lambda: len(row_states(app)) == 3, what="the long-named container")
        await pilot.pause()
        assert "IMAGE" not in panel.columns_shown
        table = panel.table
        widths = table.column_widths()
        assert sum(widths) <= table.scrollable_content_region.width, f"PORTS is cut off: {widths}"
        ports = column_of(app, "PORTS")
        assert ports["web"] == f"{port}->80/tcp" and ports["a-worker-with-a-rather-long-name"].endswith("->81/tcp")
        assert widths[-1] - 2 >= max(len(p) for p in ports.values())
        assert column_of(app, "NAME")["a-worker-with-a-rather-long-name"].endswith("…")
        assert selected_name(app) == "web"
        await pilot.press("k")
        assert selected_name(app) == "a-worker-with-a-rather-long-name"  # the name in full, under the cut
        await pilot.resize_terminal(*SIZE)
        await until(pilot, lambda: "MEM" in panel.columns_shown, what="more columns again")
        assert selected_name(app) == "a-worker-with-a-rather-long-name"
