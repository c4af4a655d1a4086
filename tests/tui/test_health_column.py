"""Health in the TUI, driven with Pilot against real containers whose checks the monitor runs: the list's state
cell carries lazydocker's substatus, `running (starting)` then `running (healthy)`, live; the Inspect tab shows
State.Health."""

from __future__ import annotations

import asyncio

from tuihelpers import new_app, row_states, run, until

SIZE = (140, 40)
MS = 1_000_000


async def test_health_shows_in_the_list_and_the_inspect_tab(engine):
    check = {"Test": ["CMD-SHELL", "test -e /tmp/ok"], "Interval": 100 * MS, "Retries": 1000}
    run(engine, "db", ["sleep", "600"], healthcheck=check)
    run(engine, "plain", ["sleep", "600"])
    async with new_app(engine).run_test(size=SIZE) as pilot:
        app = pilot.app
        await until(pilot, lambda: row_states(app).get("db") == "running (starting)", what="starting")
        assert row_states(app)["plain"] == "running"  # no healthcheck: no substatus
        await asyncio.to_thread(engine.containers.exec, "db", ["touch", "/tmp/ok"], detach=True)
        await until(pilot, lambda: row_states(app)["db"] == "running (healthy)", timeout=10, what="healthy")
        assert engine.containers.get("db").health == "healthy"
        while app.screen.containers.selected_container.name != "db":
            await pilot.press("j")
        await pilot.press("right_square_bracket", "right_square_bracket")
        inspect = app.screen.query_one("#inspect")
        await until(pilot, lambda: "Health:" in inspect.text and "FailingStreak: 0" in inspect.text,
                    what="State.Health in Inspect")
