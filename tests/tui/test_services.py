"""The Services panel (lazydocker's Projects/Services): containers that compose made, grouped by the project and
service their labels name; hidden while there are none. Driven with Pilot against the real engine."""

from __future__ import annotations

import asyncio

from tuihelpers import new_app, until

from tuiker.engine import RunOptions

SIZE = (140, 40)


def compose_labels(project: str, service: str, number: int) -> dict[str, str]:
    return {"com.docker.compose.project": project, "com.docker.compose.service": service,
            "com.docker.compose.container-number": str(number), "com.docker.compose.oneoff": "False",
            "com.docker.compose.project.working_dir": "/srv/shop",
            "com.docker.compose.project.config_files": "/srv/shop/compose.yaml"}


def service_rows(app) -> dict[str, tuple[str, ...]]:
    table = app.screen.services.table
    return {f"{cells[0]}/{cells[1]}": tuple(str(c) for c in cells)
            for cells in map(table.get_row_at, range(table.row_count))}


async def test_services_panel_groups_compose_containers(engine):
    async with new_app(engine).run_test(size=SIZE) as pilot:
        app = pilot.app
        panel = app.screen.services
        await until(pilot, lambda: app.screen.containers.border_title == "Containers (0)", what="the first snapshot")
        assert not panel.display  # no compose container: no panel, and tab skips it
        engine.containers.create(RunOptions("busybox", command=["sleep", "60"], name="plain"))

        def made() -> None:
            for number in (1, 2):
                c = engine.containers.create(RunOptions("busybox", command=["sleep", "60"], name=f"shop-web-{number}",
                                                        labels=compose_labels("shop", "web", number)))
                if number == 1:
                    engine.containers.start(c.id)
            engine.containers.create(RunOptions("busybox", command=["true"], name="shop-db-1",
                                                labels=compose_labels("shop", "db", 1)))
        await asyncio.to_thread(made)
        await until(pilot, lambda: len(service_rows(app)) == 2, what="two services")
        assert panel.display
        assert service_rows(app) == {"shop/db": ("shop", "db", "0/1"), "shop/web": ("shop", "web", "1/2")}
        app.screen.containers.table.focus()
        await pilot.press("shift+tab")  # back from Containers lands on Services
        assert app.focused is panel.table
        await pilot.press("k", "k")  # to the first row, db
        details = app.screen.query_one("#service-details")
        await until(pilot, lambda: "Service: db" in details.text, what="the service's document")
        assert "Project: shop" in details.text and "Name: shop-db-1" in details.text
        assert "ConfigFiles: /srv/shop/compose.yaml" in details.text
        await pilot.press("j")
        await until(pilot, lambda: "Name: shop-web-2" in details.text, what="web's containers")
        assert "State: running" in details.text
