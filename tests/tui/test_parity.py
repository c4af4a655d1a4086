"""issue 15's parity list (what lazydocker has): each driven with keys (Pilot) against the real engine and real
busybox containers."""

from __future__ import annotations

from test_actions import SIZE, select
from tuihelpers import new_app, notifications, row_states, run, until


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
