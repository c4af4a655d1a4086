"""The Stats tab's "Why slow" panel beside the graphs: CPU throttling, pressure stall figures (PSI) and the cause
they point at, from the real cgroup of a container held to --cpus 0.1."""

from __future__ import annotations

import re

from tuihelpers import new_app, row_states, run, selected_name, until

from tuiker.engine.stats import Sample
from tuiker.runtime import cgroups
from tuiker.runtime.cgroups import Pressure
from tuiker.tui.widgets.stats import pressure_text

SIZE = (140, 40)
THROTTLED = re.compile(r"CPU throttled: (\d+)% of periods \((\d+\.\d) s total\)")


async def test_the_panel_says_a_container_is_throttled_by_its_cpu_limit(engine):
    run(engine, "busy", ["sh", "-c", "while :; do :; done"], cpus=0.1)
    async with new_app(engine).run_test(size=SIZE) as pilot:
        app = pilot.app
        await until(pilot, lambda: "busy" in row_states(app), what="busy in the list")
        assert selected_name(app) == "busy"
        await pilot.press("right_square_bracket")
        assert app.screen.details.tabs.active == "tab-stats"
        panel = app.screen.query_one("#stats-pressure")
        first = await until(pilot, lambda: THROTTLED.search(panel.text), timeout=10, what="the throttling line")
        # a new sample a second: the waiting time grows while the loop keeps hitting its quota
        later = await until(pilot, lambda: (m := THROTTLED.search(panel.text)) and float(m[2]) > float(first[2])
                            and m, timeout=10, what="the panel's next sample")
        assert int(later[1]) > 50, panel.text
        assert panel.text.endswith("→ throttled by its CPU limit"), panel.text
        if cgroups.host_version() == 1:  # no pressure files on v1
            assert "pressure cpu some n/a / mem full n/a / io some n/a" in panel.text, panel.text
        else:
            assert re.search(r"pressure cpu some \d+\.\d% / mem full \d+\.\d% / io some \d+\.\d%", panel.text)
    engine.containers.remove("busy", force=True)


def _sample(**changes: object) -> Sample:
    fields = dict.fromkeys(Sample.__slots__, 0)
    fields.update(psi_cpu=None, psi_memory=None, psi_io=None, pids_limit=None)
    return Sample(**{**fields, **changes})


def test_the_largest_stall_names_the_cause():
    idle = Pressure(0.0, 0, 0.0, 0)
    assert pressure_text(_sample(psi_cpu=idle, psi_memory=Pressure(30.0, 9, 12.5, 5), psi_io=Pressure(2.0, 1, 0, 0)))\
        == ("CPU throttled: never (no CPU limit)\npressure cpu some 0.0% / mem full 12.5% / io some 2.0%\n"
            "→ waiting on memory reclaim")
    assert pressure_text(_sample(psi_cpu=Pressure(1.5, 1, 0, 0), psi_memory=idle, psi_io=Pressure(7.25, 1, 0, 0)))\
        .endswith("io some 7.2%\n→ waiting on I/O")
    assert pressure_text(_sample(psi_cpu=Pressure(40.0, 1, 0, 0), psi_memory=idle, psi_io=idle))\
        .endswith("→ waiting for a CPU: the host is busy")
    assert pressure_text(_sample(psi_cpu=idle, psi_memory=idle, psi_io=idle)).endswith("→ nothing is holding it back")
    throttled = _sample(cpu_periods=50, cpu_throttled_periods=12, cpu_throttled_percent=12.0,
                        cpu_throttled_ns=3_400_000_000)
    assert pressure_text(throttled) == ("CPU throttled: 12% of periods (3.4 s total)\n"
                                        "pressure cpu some n/a / mem full n/a / io some n/a\n"
                                        "→ throttled by its CPU limit")
    assert pressure_text(_sample()).endswith("→ not throttled (no PSI here to show other stalls)")
