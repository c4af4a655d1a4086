"""The Networks panel, the PORTS column and the form's Network field, driven with Pilot against the real engine:
real networks (bridges and nftables rules made by the monitor) and a real published port."""

from __future__ import annotations

import asyncio

from textual.widgets import Input, Select
from tuihelpers import column_of, free_port, new_app, notifications, run, selected_name, until

from tuiker.net.network import NetworkStore
from tuiker.tui.screens.confirm import ConfirmScreen
from tuiker.tui.screens.new_container import NewContainerScreen
from tuiker.tui.screens.new_network import NewNetworkScreen

SIZE = (140, 40)


def network_rows(app) -> dict[str, tuple[str, ...]]:
    """Network name -> its cells (NAME, DRIVER, SUBNET, CONTAINERS), as on screen."""
    table = app.screen.networks.table
    return {str(cells[0]): tuple(str(c) for c in cells) for cells in map(table.get_row_at, range(table.row_count))}


async def select_network(pilot, name: str) -> None:
    """Focus the Networks panel (tab) and move to `name` (j/k), as a user would."""
    app = pilot.app
    networks = app.screen.networks
    await until(pilot, lambda: name in network_rows(app), what=f"{name} in the list")
    while app.focused is not networks.table:
        await pilot.press("tab")
    names = list(network_rows(app))
    steps = names.index(name) - networks.table.cursor_row
    await pilot.press(*["j" if steps > 0 else "k"] * abs(steps))
    assert networks.selected == name


async def test_networks_panel_lists_networks_live_and_inspects(engine):
    engine.networks.create("app")
    async with new_app(engine).run_test(size=SIZE) as pilot:
        app = pilot.app
        await until(pilot, lambda: list(network_rows(app)) == ["bridge", "host", "none", "app"], what="the list")
        assert network_rows(app)["host"][1:] == ("host", "", "0")
        assert network_rows(app)["none"][1] == "null"
        subnet = engine.networks.store.get("app").subnet
        assert subnet and network_rows(app)["app"] == ("app", "bridge", subnet, "0")

        await asyncio.to_thread(engine.networks.create, "later")  # made by another tuiker: shows without a key
        await until(pilot, lambda: "later" in network_rows(app), timeout=1.5, what="the new network")

        await select_network(pilot, "app")
        details = app.screen.query_one("#network-details")
        await until(pilot, lambda: "Name: app" in details.text, what="the inspect document")
        assert f"Subnet: {subnet}" in details.text

        run(engine, "member", network="app")  # a running container on it: its count, and inspect's Containers
        await until(pilot, lambda: network_rows(app)["app"][3] == "1", what="the count")
        await until(pilot, lambda: "Name: member" in details.text, what="the container in the document")


async def test_remove_network_asks_and_the_engine_may_refuse(engine):
    engine.networks.create("app")
    async with new_app(engine).run_test(size=SIZE) as pilot:
        app = pilot.app
        await select_network(pilot, "host")
        await pilot.press("d")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="the question")
        await pilot.press("y")
        await until(pilot, lambda: any("pre-defined" in m for m in notifications(app)), what="the refusal")
        assert "host" in network_rows(app)

        await select_network(pilot, "app")
        await pilot.press("d")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="the question")
        await pilot.press("n")  # no: nothing happens
        await pilot.pause()
        assert engine.networks.store.find("app") is not None
        await pilot.press("d")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="the question")
        await pilot.press("y")
        await until(pilot, lambda: "app" not in network_rows(app), what="the row to go")
        assert engine.networks.store.find("app") is None


async def test_new_network_from_the_form_then_a_container_on_it(engine):
    async with new_app(engine).run_test(size=SIZE) as pilot:
        app = pilot.app
        await select_network(pilot, "none")
        await pilot.press("N")
        await until(pilot, lambda: isinstance(app.screen, NewNetworkScreen), what="the form")
        app.screen.query_one("#network-name", Input).value = "bad name"
        await pilot.press("ctrl+s")
        assert "invalid network name" in str(app.screen.query_one("#form-error").render())
        app.screen.query_one("#network-name", Input).value = "made"
        await pilot.press("ctrl+s")
        await until(pilot, lambda: app.screen.networks.selected == "made", timeout=10, what="made, selected")
        assert engine.networks.store.get("made").subnet

        # `n` from the Networks panel: a new container, on the selected network.
        await pilot.press("n")
        await until(pilot, lambda: isinstance(app.screen, NewContainerScreen), what="the container form")
        form = app.screen
        assert form.query_one("#network", Select).value == "made"
        form.query_one("#image", Input).value = "busybox"
        form.query_one("#name", Input).value = "on-made"
        form.query_one("#command", Input).value = "sleep 1000"
        await pilot.press("ctrl+s")
        await until(pilot, lambda: engine.containers.get("on-made").status == "running", timeout=10, what="it runs")
        assert engine.containers.get("on-made").config["HostConfig"]["NetworkMode"] == "made"
        await until(pilot, lambda: network_rows(app)["made"][3] == "1", what="the network's count")


async def test_ports_column_shows_a_published_port(engine):
    port = free_port()
    run(engine, "web", network="bridge", ports=[f"{port}:80"])
    run(engine, "quiet", network="none")
    async with new_app(engine).run_test(size=SIZE) as pilot:
        app = pilot.app

        def ports_cells() -> dict[str, str]:
            return column_of(app, "PORTS")

        await until(pilot, lambda: ports_cells() == {"web": f"{port}->80/tcp", "quiet": ""}, what="the PORTS")
        await pilot.press("slash", *str(port))  # the filter matches ports too
        assert list(ports_cells()) == ["web"]
        assert selected_name(app) == "web"
        await pilot.press("escape")
        engine.containers.stop("web")
        await until(pilot, lambda: ports_cells()["web"] == "", what="no PORTS once stopped")


def test_the_store_poll_reads_networks_only_when_they_change(engine, monkeypatch):
    """One `stat` of networks/ per poll (bench/tui polls 200 containers): definitions are read only after a
    network was created or removed."""
    reads = []
    read = NetworkStore.list
    monkeypatch.setattr(NetworkStore, "list", lambda self: reads.append(1) or read(self))
    watcher = engine.watch()
    assert watcher.poll() is not None
    for _ in range(3):
        assert watcher.poll() is None
    assert len(reads) == 1
    engine.networks.create("app")  # (which reads them too)
    reads.clear()
    snapshot = watcher.poll()
    assert [n.name for n in snapshot.networks][-1:] == ["app"]
    assert watcher.poll() is None
    assert len(reads) == 1
