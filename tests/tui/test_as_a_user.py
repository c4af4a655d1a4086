"""issue 15's correctness list: what a lazydocker user found broken, each driven with keys (Pilot) against the
real engine and real busybox containers."""

from __future__ import annotations

import asyncio

from test_actions import SIZE, select
from tuihelpers import new_app, notifications, open_terminal, pull_with_P, row_states, run, selected_name, until


async def test_selection_stays_on_the_container_when_others_come_and_go(engine):
    """Another container added or removed (here by the engine, as another `tuiker` would) moves rows around:
    the cursor stays on the container the user chose, by ID, and `s` stops that one and no other."""
    for name in ("b-web", "d-db", "f-cache"):
        run(engine, name)
    async with new_app(engine).run_test(size=SIZE) as pilot:
        app = pilot.app
        await select(pilot, "d-db")
        # A container that sorts before it: every row below moves down by one.
        await asyncio.to_thread(run, engine, "a-new")
        await until(pilot, lambda: "a-new" in row_states(app), what="a-new in the list")
        await pilot.pause(0.3)
        assert selected_name(app) == "d-db"
        # One that sorted before it goes.
        await asyncio.to_thread(engine.containers.remove, "b-web", force=True)
        await until(pilot, lambda: "b-web" not in row_states(app), what="b-web to go")
        await pilot.pause(0.3)
        assert selected_name(app) == "d-db"
        await asyncio.to_thread(run, engine, "c-new")
        await until(pilot, lambda: "c-new" in row_states(app), what="c-new in the list")
        await pilot.pause(0.3)
        assert selected_name(app) == "d-db"
        await pilot.press("s")
        await until(pilot, lambda: engine.containers.get("d-db").status == "exited", what="d-db to stop")
        assert {c.name: c.status for c in engine.containers.list(all=True)} == {
            "a-new": "running", "c-new": "running", "d-db": "exited", "f-cache": "running"}


async def test_selected_container_removed_moves_to_a_neighbour_and_says_so(engine):
    for name in ("a-web", "b-db", "c-cache"):
        run(engine, name)
    async with new_app(engine).run_test(size=SIZE) as pilot:
        app = pilot.app
        await select(pilot, "b-db")
        await asyncio.to_thread(engine.containers.remove, "b-db", force=True)
        await until(pilot, lambda: "b-db" not in row_states(app), what="b-db to go")
        await pilot.pause(0.3)
        assert selected_name(app) in ("a-web", "c-cache")
        moved_to = selected_name(app)
        assert any("b-db" in m and moved_to in m for m in notifications(app)), notifications(app)
        # The selection stays there as more containers come.
        await asyncio.to_thread(run, engine, "0-first")
        await until(pilot, lambda: "0-first" in row_states(app), what="0-first in the list")
        await pilot.pause(0.3)
        assert selected_name(app) == moved_to


async def test_attach_without_a_tty_has_no_staircase(engine):
    """A container without a TTY writes bare LFs to a pipe: the attach tab starts each line at column 0, as a
    terminal's output processing (ONLCR) would, not a staircase."""

    run(engine, "piper", ["sh", "-c", "while :; do echo first-line; echo second-line; sleep 0.3; done"])
    async with new_app(engine).run_test(size=SIZE) as pilot:
        await select(pilot, "piper")
        terminal = await open_terminal(pilot, "a")
        await until(pilot, lambda: sum("second-line" in line for line in terminal.display_lines) >= 2,
                    what="its output")
        lines = [line.rstrip() for line in terminal.display_lines if line.strip()]
        assert lines[:4] == ["first-line", "second-line", "first-line", "second-line"], lines



async def logs_of(pilot, name: str, last: str):
    """Select container `name` and wait for `last` at the end of its Logs tab; the LogView."""
    from tuiker.tui.widgets.logs import LogView

    await select(pilot, name)
    logs = pilot.app.screen.query_one(LogView)
    await until(pilot, lambda: logs.log_widget.lines[-1:] == [last], what="the log")
    return logs


async def test_log_search_line_is_visible_and_n_N_step_through_matches(engine):
    """`/` in the Logs tab opens a search line the user can see (it was under the status line), and `n` / `N`
    go to the next / previous match, scrolling it into view, with the status line saying which."""
    from textual.widgets import Input

    run(engine, "talker", ["sh", "-c", "for i in $(seq 1 300); do echo line-$i; [ $((i % 100)) = 0 ] && "
                                       "echo hit-$i; done; sleep 1000"])
    async with new_app(engine).run_test(size=SIZE) as pilot:
        app = pilot.app
        logs = await logs_of(pilot, "talker", "hit-300")
        log = logs.log_widget
        await pilot.press("enter", "slash", *"hit")
        field = logs.query_one(Input)
        status = logs.query_one(".log-status")
        assert field.region.height == 1 and not field.region.overlaps(status.region)
        x, y = field.region.offset
        assert app.screen.get_widget_at(x + 2, y)[0] is field  # on top: what is typed shows
        assert "hit" in field.render_line(0).text
        await pilot.press("escape")  # cleared
        await pilot.press("slash", *"hit-", "enter")  # search kept, keys back to the log
        assert log.lines == ["hit-100", "hit-200", "hit-300"]

        await pilot.press("n")
        assert log.current == 0 and "match 1/3" in str(status.render())
        await pilot.press("n", "n")
        assert log.current == 2 and "match 3/3" in str(status.render())
        await pilot.press("n")  # wraps
        assert log.current == 0
        await pilot.press("N")  # and back
        assert log.current == 2 and "match 3/3" in str(status.render())
        assert not log.auto_scroll  # a match stays in view while more lines come


def shells(engine, name: str) -> list[str]:
    """The commands of the shells running in container `name` (as `tuiker top` lists them)."""
    return [p.command for p in engine.containers.top(name).rows() if "sh" in p.command.split()[0]]


async def test_closing_an_exec_tab_or_quitting_ends_its_shell(engine):
    """`x` on an exec tab ends the shell it runs (as closing a terminal window: SIGHUP), and so does quitting
    the app with one open; the container goes on."""
    from tuiker.tui.widgets.terminal import Terminal

    run(engine, "box", ["sleep", "1000"])
    async with new_app(engine).run_test(size=SIZE) as pilot:
        app = pilot.app
        await select(pilot, "box")
        terminal = await open_terminal(pilot, "e")
        await until(pilot, lambda: any("#" in line for line in terminal.display_lines), what="the prompt")
        assert len(await asyncio.to_thread(shells, engine, "box")) == 1
        await pilot.press("ctrl+right_square_bracket", "x")
        await until(pilot, lambda: not app.screen.query(Terminal), what="the tab to close")
        await until(pilot, lambda: not shells(engine, "box"), timeout=5, what="the shell to end")

        terminal = await open_terminal(pilot, "e")
        await until(pilot, lambda: any("#" in line for line in terminal.display_lines), what="its prompt")
        await pilot.press("ctrl+right_square_bracket", "q")
    deadline = asyncio.get_running_loop().time() + 5
    while shells(engine, "box") and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.1)
    assert not shells(engine, "box"), "the shell outlived the app"
    assert engine.containers.get("box").status == "running"


async def test_pull_of_an_image_already_present_says_already_exists(engine_root, busybox_image):
    """`P` on an image whose layers are all here: each layer's row says "Already exists" (as `tuiker pull`
    prints), with no progress bar left waiting ("--%") for a download that never comes."""
    from textual.widgets import ProgressBar

    from tuiker.engine import Engine
    from tuiker.tui.screens.pull import LayerProgress

    engine = Engine(engine_root)
    ref, built = busybox_image
    engine.images.pull(ref)
    async with new_app(engine).run_test(size=SIZE) as pilot:
        app = pilot.app
        await pull_with_P(pilot, ref, "Image is up to date")
        await pilot.pause(0.2)
        rows = list(app.screen.query(LayerProgress))
        assert len(rows) == len(built.layer_digests)
        for row in rows:
            assert str(row.status.render()) == "Already exists", row.latest
            assert not row.bar.display or row.bar.percentage is not None
        assert not any(bar.display and bar.percentage is None for bar in app.screen.query(ProgressBar))


async def test_log_keys_work_from_the_list_help_scrolls_with_j_k_logs_with_g_G(engine):
    """`t` and `f` act on the Logs tab from the containers list (they were ignored until enter), `/` searches the
    logs from anywhere in the main pane (on a list it filters that list, as lazydocker's); `j` / `k` scroll the
    help; `g` / `G` go to the top / bottom of the logs."""
    from textual.containers import VerticalScroll
    from textual.widgets import Input, Tabs

    from tuiker.tui.screens.help import HelpScreen
    run(engine, "talker", ["sh", "-c", "seq 1 300; sleep 1000"])
    async with new_app(engine).run_test(size=SIZE) as pilot:
        app = pilot.app
        logs = await logs_of(pilot, "talker", "300")
        log = logs.log_widget
        assert app.focused is app.screen.containers.table
        await pilot.press("t")
        assert logs.timestamps and log.lines[-1].endswith(" 300")
        await pilot.press("t", "f")
        assert not logs.timestamps and not log.auto_scroll
        await pilot.press("f")
        assert log.auto_scroll

        app.screen.details.tabs.query_one(Tabs).focus()  # the tab bar: in the main pane, not in the log
        await pilot.press("slash")
        assert app.focused is logs.query_one(Input)
        await pilot.press("escape")

        await pilot.press("g")
        await pilot.pause()
        assert log.scroll_offset.y == 0
        await pilot.press("G")
        await pilot.pause()
        assert log.scroll_offset.y == log.max_scroll_y > 0

        await pilot.press("question_mark")
        await until(pilot, lambda: isinstance(app.screen, HelpScreen), what="the help")
        scroll = app.screen.query_one(VerticalScroll)
        assert scroll.max_scroll_y > 3
        await pilot.press("j", "j", "j")
        await pilot.pause()
        assert scroll.scroll_offset.y == 3
        await pilot.press("k")
        await pilot.pause()
        assert scroll.scroll_offset.y == 2
