"""The Volumes panel, driven with Pilot against the real engine: volumes made by another tuiker show live, the
inspect document names the containers using one, and removal asks first and reports the engine's refusal."""

from __future__ import annotations

import asyncio

from tuihelpers import new_app, notifications, run, until

from tuiker.tui.screens.confirm import ConfirmScreen

SIZE = (140, 50)


def volume_rows(app) -> dict[str, tuple[str, ...]]:
    """Volume name -> its cells (DRIVER, NAME, CONTAINERS), as on screen."""
    table = app.screen.volumes.table
    return {str(cells[1]): tuple(str(c) for c in cells) for cells in map(table.get_row_at, range(table.row_count))}


async def select_volume(pilot, name: str) -> None:
    app = pilot.app
    volumes = app.screen.volumes
    await until(pilot, lambda: name in volume_rows(app), what=f"{name} in the list")
    while app.focused is not volumes.table:
        await pilot.press("tab")
    steps = list(volume_rows(app)).index(name) - volumes.table.cursor_row
    await pilot.press(*["j" if steps > 0 else "k"] * abs(steps))
    assert volumes.selected == name


async def test_volumes_panel_lists_inspects_and_removes(engine):
    engine.volumes.create("data")
    async with new_app(engine).run_test(size=SIZE) as pilot:
        app = pilot.app
        await until(pilot, lambda: volume_rows(app) == {"data": ("local", "data", "0")}, what="the list")
        await asyncio.to_thread(engine.volumes.create, "later")  # made by another tuiker: shows without a key
        await until(pilot, lambda: "later" in volume_rows(app), timeout=1.5, what="the new volume")
        await asyncio.to_thread(run, engine, "user", start=False, volumes=["data:/d"])
        await until(pilot, lambda: volume_rows(app)["data"][2] == "1", what="the count")

        await select_volume(pilot, "data")
        details = app.screen.query_one("#volume-details")
        await until(pilot, lambda: "Name: data" in details.text and "- user" in details.text, what="the document")

        await pilot.press("d")  # in use: asked, then refused by the engine in a notification
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="the question")
        await pilot.press("y")
        await until(pilot, lambda: any("volume is in use" in m for m in notifications(app)), what="the refusal")
        assert "data" in volume_rows(app)

        await select_volume(pilot, "later")
        await pilot.press("d")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="the question")
        await pilot.press("y")
        await until(pilot, lambda: "later" not in volume_rows(app), what="the removal")
        assert [v["Name"] for v in engine.volumes.list()] == ["data"]
