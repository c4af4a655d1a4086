"""`L`: every container's log merged into one timeline by time stamp, a colour per container, followed live,
searchable; from the Services panel, one compose project's. Driven with Pilot against the real engine."""

from __future__ import annotations

import asyncio

from test_services import compose_labels
from tuihelpers import new_app, run, until

from tuiker.base.times import parse_time
from tuiker.engine import LogRecord
from tuiker.tui.screens.timeline import TimelineRecord, TimelineScreen, TimelineView, colour_of
from tuiker.tui.widgets.logs import LogView, plain

SIZE = (140, 40)
# Ten lines 0.15 s apart, then (for `late`) one more once /w/go exists: started together, they interleave.
LOOP = 'for i in 0 1 2 3 4 5 6 7 8 9; do echo "$HOSTNAME-line-$i"; sleep 0.15; done; '
WAIT = 'while [ ! -e /w/go ]; do sleep 0.05; done; echo "$HOSTNAME-late"; sleep 1000'


def start_three(engine, tmp_path):
    made = []
    for name in ("alpha", "bravo", "charlie"):
        labels = compose_labels("shop", name, 1) if name != "charlie" else None
        made.append(run(engine, name, ["sh", "-c", LOOP + WAIT], hostname=name, labels=labels,
                        volumes=[f"{tmp_path}:/w"]))
    return made


def shown(view: TimelineView) -> list[str]:
    return [plain(line) for line in view.log_widget.lines]


async def test_timeline_merges_by_time_follows_and_searches(engine, tmp_path):
    containers = await asyncio.to_thread(start_three, engine, tmp_path)
    await until_lines(engine, containers, 10)
    # What the engine logged, in time order (the test's own merge: a sort of every record by its stamp).
    logged = sorted(((parse_time(r.time), r.text.strip()) for c in containers
                     for r in engine.containers.log_reader(c).read()), key=lambda pair: pair[0])
    expected = [text for _t, text in logged]
    async with new_app(engine).run_test(size=SIZE) as pilot:
        app = pilot.app
        await until(pilot, lambda: app.screen.containers.border_title == "Containers (3)", what="the containers")
        help_rows = [row for _title, rows in app.screen.help_groups() for row in rows]
        assert ("L", next(r[1] for r in help_rows if r[2] == "timeline.open"), "timeline.open") in help_rows
        await pilot.press("L")
        assert isinstance(app.screen, TimelineScreen)
        view = app.screen.view
        await until(pilot, lambda: len(view.log_widget.lines) == 30, what="30 lines")
        lines = shown(view)
        assert [line.split(" │ ", 1)[1] for line in lines] == expected
        assert [line.split(" │ ", 1)[0].strip() for line in lines] == [t.split("-")[0] for t in expected]
        owners = [line.split()[0] for line in lines]
        assert sum(a != b for a, b in zip(owners, owners[1:], strict=False)) >= 6, "the three logs interleave"
        # Each name in its container's colour (stable: from its ID).
        id_of = {c.name: c.id for c in containers}
        for raw, owner in zip(view.log_widget.lines, owners, strict=True):
            assert raw.startswith(f"\x1b[{colour_of(id_of[owner])}m{owner}")

        (tmp_path / "go").touch()  # each prints one more line, while the timeline follows
        await until(pilot, lambda: len(view.log_widget.lines) == 33, what="the new lines", timeout=10)
        assert {line.split(" │ ", 1)[1] for line in shown(view)[-3:]} == {"alpha-late", "bravo-late", "charlie-late"}
        assert "following" in str(view.query_one(".log-status").render())

        await pilot.press("slash", *"line-3", "enter")
        await until(pilot, lambda: len(view.log_widget.lines) == 3, what="the three matches")
        assert all("line-3" in line for line in shown(view))
        await pilot.press("n")
        assert view.log_widget.current == 0
        await pilot.press("n")
        assert view.log_widget.current == 1
        assert "match 2/3" in str(view.query_one(".log-status").render())
        await pilot.press("N", "N")
        assert view.log_widget.current == 2  # round from the first to the last
        await pilot.press("escape")  # out of the timeline
        assert not isinstance(app.screen, TimelineScreen)


async def test_timeline_of_one_compose_project(engine, tmp_path):
    containers = await asyncio.to_thread(start_three, engine, tmp_path)
    await until_lines(engine, containers, 10)
    async with new_app(engine).run_test(size=SIZE) as pilot:
        app = pilot.app
        await until(pilot, lambda: app.screen.services.table.row_count == 2, what="the shop's services")
        app.screen.services.table.focus()
        await pilot.press("L")
        view = app.screen.view
        assert "compose project shop" in str(app.screen.query_one(".title").render())
        await until(pilot, lambda: len(view.log_widget.lines) == 20, what="20 lines")
        await pilot.pause(0.6)  # more than a poll: charlie's lines would have come
        names = {line.split(" │ ", 1)[0].strip() for line in shown(view)}
        assert names == {"alpha", "bravo"}
        assert len(view.log_widget.lines) == 20
        # A record older than the newest shown (as a RemoteEngine's reader may give it, a poll late) goes into
        # its place by time, not at the end.
        late = TimelineRecord(LogRecord(view.records[5].time, "stdout", "late-arrival\n"), "alpha", colour_of("x"))
        view.post_message(LogView.Appended(view, [late]))  # type: ignore[arg-type]
        await until(pilot, lambda: len(view.log_widget.lines) == 21, what="the late record")
        assert shown(view)[6].endswith("│ late-arrival")


async def until_lines(engine, containers, count: int) -> None:
    """Until every container logged `count` lines (its loop is done)."""
    for _ in range(200):
        if all(len(engine.containers.log_reader(c).read()) >= count for c in containers):
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"the containers did not log {count} lines each")
