"""What keeps the idle app cheap, checked for correctness: a graph repaints only the lines that changed (its
caption, its changed bar rows), and those repaints still reach the screen; pollers tick together."""

from __future__ import annotations

import pytest
from textual.app import App, ComposeResult
from tuihelpers import screen_lines

from tuiker.tui.widgets.poller import until_next_tick
from tuiker.tui.widgets.stats import Graph


class GraphApp(App):
    CSS = "Graph { height: 7; border: round white; }"

    def compose(self) -> ComposeResult:
        yield Graph("CPU %", id="graph-cpu")


async def test_graph_repaints_a_new_caption_and_changed_rows():
    app = GraphApp()
    async with app.run_test(size=(30, 7)) as pilot:
        graph = app.query_one(Graph)
        graph.plot([5.0, 10.0], 10.0, "first")
        await pilot.pause()
        lines = screen_lines(app)
        assert "first" in lines[-1] and "CPU %" in lines[0]
        assert lines[1].rstrip().endswith("│") and lines[1][-3:-1] == " █"  # a full column, and a half one
        assert lines[5][-3:-1] == "██"

        graph.plot([5.0, 10.0], 10.0, "second caption")  # the caption only: the bottom border line repaints
        await pilot.pause()
        lines = screen_lines(app)
        assert "second caption" in lines[-1] and "first" not in lines[-1]
        assert lines[1][-3:-1] == " █" and "CPU %" in lines[0]

        graph.plot([5.0, 10.0, 0.5], 10.0, "second caption")  # a low new column: only the bottom row changes
        await pilot.pause()
        lines = screen_lines(app)
        assert lines[5][-4:-1] == "██▂" and lines[4][-4:-1] == "██ " and lines[1][-4:-1] == " █ "

        graph.plot([], 10.0, "")  # the container stopped: empty, no caption
        await pilot.pause()
        lines = screen_lines(app)
        assert set(lines[5][1:-1]) == {" "} and "caption" not in lines[-1]


@pytest.mark.parametrize(("interval", "now", "expected"), [(1.0, 100.25, 0.75), (0.5, 7.0, 0.5), (0.25, 3.2, 0.05)])
def test_pollers_wait_for_the_next_multiple_of_their_interval(interval, now, expected):
    assert until_next_tick(interval, now) == pytest.approx(expected)
    assert (now + until_next_tick(interval, now)) / interval == pytest.approx(round((now + expected) / interval))


async def test_stats_sampled_behind_another_tab_are_plotted_when_it_shows(engine):
    """While the Logs tab shows, the Stats view keeps sampling (the history grows) but does not plot; back on
    the Stats tab, every sample taken meanwhile is on the graph at once."""
    from test_actions import SIZE, select
    from tuihelpers import new_app, run, until

    run(engine, "web")
    async with new_app(engine).run_test(size=SIZE) as pilot:
        app = pilot.app
        await select(pilot, "web")
        await pilot.press("right_square_bracket")  # the Stats tab
        graph = app.screen.query_one("#graph-pids")
        await until(pilot, lambda: len(graph.values) >= 2, timeout=8, what="two samples on the graph")
        await pilot.press("left_square_bracket")  # back to Logs
        assert app.screen.details.tabs.active == "tab-logs"
        web = engine.containers.get("web").id
        hidden_from = len(app.stats_book.history(web))
        await until(pilot, lambda: len(app.stats_book.history(web)) >= hidden_from + 2, timeout=8,
                    what="two samples taken behind the Logs tab")
        assert len(graph.values) < len(app.stats_book.history(web))  # not plotted while hidden
        await pilot.press("right_square_bracket")
        await pilot.pause()
        assert len(graph.values) >= hidden_from + 2
