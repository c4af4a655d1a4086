"""The Stats tab: CPU, memory, pids, network and block I/O of one container as graphs over time, sampled
from its cgroup once a second. The app keeps each container's history while it runs (StatsBook). Over the
graphs, why it is slow: its CPU throttling and its pressure stall figures (PSI)."""

from __future__ import annotations

import os
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Self

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.app import ComposeResult, RenderResult
from textual.containers import Grid
from textual.geometry import Region
from textual.strip import Strip
from textual.widget import Widget

from tuiker.engine import Container, Engine, Sample, StatsSampler, status_text
from tuiker.fmt import human_size

BLOCKS = " ▁▂▃▄▅▆▇█"


class Graph(Widget):
    """Bars over time, one column per sample, newest on the right, scaled from 0 to `ceiling`.

    Drawn with the line API, and only the lines that changed are repainted: a flat graph (no network traffic)
    costs nothing per sample, and a low one (an idle container's CPU) repaints its bottom line and its caption.
    Each repainted line is cut and merged again by the compositor with every widget under it, so the fewer the
    cheaper the idle app."""

    def __init__(self, title: str, *, id: str) -> None:
        self._caption_only = False  # before the border title is set: its setter calls refresh
        super().__init__(id=id, classes="graph")
        self.values: Sequence[float] = ()
        self.ceiling = 1.0
        self._rows: list[str] = []
        self._caption = ""
        self._style: Style | None = None
        self.border_title = title

    def plot(self, values: Sequence[float], ceiling: float, caption: str) -> None:
        self.values = values
        self.ceiling = max(ceiling, 1e-9)
        rows, width = self._draw(), self.content_size.width
        changed = [y for y in range(max(len(rows), len(self._rows)))
                   if y >= len(rows) or y >= len(self._rows) or rows[y] != self._rows[y]]
        self._rows = rows
        if changed:
            self.refresh(*(Region(0, y, width, 1) for y in changed))
        if caption != self._caption:
            self._caption = caption
            self._caption_only = True
            try:
                self.border_subtitle = caption
            finally:
                self._caption_only = False

    def refresh(self, *regions: Region, **kwargs: bool) -> Self:
        if self._caption_only and not regions:
            # Setting border_subtitle repaints the whole widget; only the bottom border line shows it.
            left, right = self.styles.gutter.left, self.styles.gutter.right
            regions = (Region(-left, self.content_size.height, self.content_size.width + left + right, 1),)
        return super().refresh(*regions, **kwargs)

    def _draw(self) -> list[str]:
        width, height = self.content_size
        values = list(self.values)[-width:] if width else []
        # Each column is height*8 eighths tall; a non-zero value shows at least one eighth.
        columns = [min(height * 8, max(int(v / self.ceiling * height * 8), 1 if v > 0 else 0)) for v in values]
        pad = " " * (width - len(columns))
        return [pad + "".join(BLOCKS[min(max(eighths - (row - 1) * 8, 0), 8)] for eighths in columns)
                for row in range(height, 0, -1)]

    def on_resize(self) -> None:
        self._rows = self._draw()

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._style = None

    def render_line(self, y: int) -> Strip:
        if self._style is None:  # rich_style walks the ancestors' backgrounds: once, not once a line
            self._style = self.rich_style
        text = self._rows[y] if y < len(self._rows) else ""
        return Strip([Segment(text.ljust(self.content_size.width), self._style)])


class Summary(Widget):
    """Plain lines under the graphs; repainted without a layout pass (Static.update would relayout)."""

    def __init__(self, *, id: str) -> None:
        super().__init__(id=id)
        self.text = ""

    def show(self, text: str) -> None:
        if text != self.text:
            self.text = text
            self.refresh()

    def render(self) -> RenderResult:
        return Text(self.text)


@dataclass(frozen=True)
class Metric:
    """A graph's title, the value it plots, its scale, and its caption, each from a sample and the history."""

    title: str
    value: Callable[[Sample], float]
    ceiling: Callable[[Sample, list[float]], float]
    caption: Callable[[Sample], str]


def _rate(value: float) -> str:
    return f"{human_size(value)}/s"


CORES = os.cpu_count() or 1
METRICS = {
    "cpu": Metric("CPU %", lambda s: s.cpu_percent,
                  lambda s, seen: max([100.0, *seen]),
                  lambda s: f"{s.cpu_percent:.1f}% ({CORES} cores = {CORES * 100}%)"),
    "memory": Metric("Memory", lambda s: s.memory, lambda s, seen: s.memory_limit,
                     lambda s: f"{human_size(s.memory)} / {human_size(s.memory_limit)}"
                               f" ({s.memory_percent:.1f}%)"
                               + (f", {s.oom_kills} OOM kills" if s.oom_kills else "")),
    "pids": Metric("PIDs", lambda s: s.pids, lambda s, seen: s.pids_limit or max([8.0, *seen]),
                   lambda s: f"{s.pids} / {s.pids_limit or 'no limit'}"),
    "net-rx": Metric("Network in", lambda s: s.net_rx_rate, lambda s, seen: max([1024.0, *seen]),
                     lambda s: f"{_rate(s.net_rx_rate)} (total {human_size(s.net_rx)})"),
    "net-tx": Metric("Network out", lambda s: s.net_tx_rate, lambda s, seen: max([1024.0, *seen]),
                     lambda s: f"{_rate(s.net_tx_rate)} (total {human_size(s.net_tx)})"),
    "io-read": Metric("Block read", lambda s: s.io_read_rate, lambda s, seen: max([1024.0, *seen]),
                      lambda s: f"{_rate(s.io_read_rate)} (total {human_size(s.io_read)})"),
    "io-write": Metric("Block write", lambda s: s.io_write_rate, lambda s, seen: max([1024.0, *seen]),
                       lambda s: f"{_rate(s.io_write_rate)} (total {human_size(s.io_write)})"),
}


HISTORY = 300  # samples kept per container: five minutes at one a second, as lazydocker's default


class StatsBook:
    """Every container's samples while the app runs: one sampler and one history per container, shared by the
    Stats tab and the containers list, so the graphs keep their history when the user shows another container
    and comes back, and a container is read at most about once a second whoever asks.

    Called from the views' poller threads (a lock around each sampler); holds the last `KEEP` containers asked
    about, and forgets the removed ones (`keep_only`)."""

    KEEP = 256
    FRESH = 0.8  # s: a sample younger than this is returned again, not read again (two views, one second)

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._lock = threading.Lock()
        self._samplers: OrderedDict[str, StatsSampler] = OrderedDict()
        self._histories: dict[str, deque[Sample]] = {}
        self._sampled_at: dict[str, float] = {}
        self._busy: dict[str, threading.Lock] = {}

    def history(self, container_id: str) -> list[Sample]:
        with self._lock:
            return list(self._histories.get(container_id, ()))

    def sample(self, container: Container) -> Sample | None:
        """A sample of `container` (its newest record: its state decides whether it runs), or None when it does
        not run. Appended to its history. The book's lock is never held while the engine is read (the UI thread
        takes it in keep_only); a sampler busy in the other view's thread is not waited for."""
        with self._lock:
            sampler = self._samplers.get(container.id)
            if sampler is None:
                sampler = self._samplers[container.id] = self.engine.containers.stats(container)
                self._histories[container.id] = deque(maxlen=HISTORY)
                self._busy[container.id] = threading.Lock()
                while len(self._samplers) > self.KEEP:
                    self._forget(next(iter(self._samplers)))
            self._samplers.move_to_end(container.id)
            sampler.container = container
            history, busy = self._histories[container.id], self._busy[container.id]
            now = time.monotonic()
            fresh = now - self._sampled_at.get(container.id, 0.0) < self.FRESH
            if not fresh:
                self._sampled_at[container.id] = now
        running = container.status in ("running", "paused")
        if fresh or not busy.acquire(blocking=False):
            return history[-1] if history and running else None
        try:
            sample = sampler.sample()
        finally:
            busy.release()
        if sample is not None:
            history.append(sample)  # a deque's append is atomic
        return sample

    def keep_only(self, container_ids: set[str]) -> None:
        """Forget the containers not in `container_ids` (removed)."""
        with self._lock:
            for cid in [cid for cid in self._samplers if cid not in container_ids]:
                self._forget(cid)

    def _forget(self, container_id: str) -> None:
        self._samplers.pop(container_id, None)
        self._histories.pop(container_id, None)
        self._sampled_at.pop(container_id, None)
        self._busy.pop(container_id, None)


# A stall below this share of the time (%) is noise: it does not make the container slow.
STALL_THRESHOLD = 1.0


def _percent(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1f}%"


def pressure_text(s: Sample) -> str:
    """The "why slow" panel: CPU throttling, the PSI figures (n/a without them), and what limits it most."""
    if s.cpu_periods:
        throttled = (f"CPU throttled: {s.cpu_throttled_percent:.0f}% of periods "
                     f"({s.cpu_throttled_ns / 1e9:.1f} s total)")
    else:
        throttled = "CPU throttled: never (no CPU limit)"
    cpu = s.psi_cpu.some_avg10 if s.psi_cpu else None
    memory = s.psi_memory.full_avg10 if s.psi_memory else None
    io = s.psi_io.some_avg10 if s.psi_io else None
    stalls = f"pressure cpu some {_percent(cpu)} / mem full {_percent(memory)} / io some {_percent(io)}"
    # The largest stall names the cause; throttling first, as it also shows up as CPU pressure.
    causes = [(s.cpu_throttled_percent if s.cpu_periods else 0.0, "throttled by its CPU limit"),
              (memory or 0.0, "waiting on memory reclaim"), (io or 0.0, "waiting on I/O"),
              (cpu or 0.0, "waiting for a CPU: the host is busy")]
    worst, cause = max(causes, key=lambda pair: pair[0])
    if worst < STALL_THRESHOLD:
        cause = "nothing is holding it back" if s.psi_cpu else "not throttled (no PSI here to show other stalls)"
    return "\n".join((throttled, stalls, f"→ {cause}"))


class StatsView(Grid):
    """Graphs for the shown container, over the last `HISTORY` samples (kept by the app's StatsBook)."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.can_focus = True
        self._container: Container | None = None
        self._stale = False  # sampled while hidden, not plotted

    def compose(self) -> ComposeResult:
        pressure = Summary(id="stats-pressure")  # over both columns: its lines fit without wrapping
        pressure.border_title = "Why slow"
        yield pressure
        for key, metric in METRICS.items():
            yield Graph(metric.title, id=f"graph-{key}")
        yield Summary(id="stats-summary")

    def show(self, container: Container | None) -> None:
        """Plot `container` (None: nothing), with the history the app kept of it; sampled from the next tick."""
        same = container is not None and self._container is not None and self._container.id == container.id
        self._container = container
        if not same or self._stale:
            self._stale = False
            self._plot()
        self._summarise()

    def sample(self) -> str | None:
        """Called in the screen's poller thread once a second, on the tick the container list samples its CPU and
        MEM (so the view needs no thread of its own): the ID of the container sampled, which the screen hands to
        `show_sampled` in the UI thread. The shown container is the list's selected one, so the list has usually
        sampled it already: its history is there the moment it is shown."""
        c = self._container
        if c is None:
            return None
        self.app.stats_book.sample(c)
        return c.id

    def show_sampled(self, container_id: str | None) -> None:
        if not self.is_on_screen:  # another tab shows: plotted when this one is shown again
            self._stale = True
            return
        if self._container is not None and container_id == self._container.id:
            self._plot()  # else: sampled for a container that is no longer shown
        self._summarise()

    def _plot(self) -> None:
        history = self.app.stats_book.history(self._container.id) if self._container else []
        if not history:
            for graph in self.query(Graph):
                graph.plot((), 1, "")
            self.query_one("#stats-pressure", Summary).show("")
            return
        latest = history[-1]
        for key, metric in METRICS.items():
            values = [metric.value(s) for s in history]
            self.query_one(f"#graph-{key}", Graph).plot(values, metric.ceiling(latest, values), metric.caption(latest))
        self.query_one("#stats-pressure", Summary).show(pressure_text(latest))

    def _summarise(self) -> None:
        c = self._container
        summary = self.query_one("#stats-summary", Summary)
        if c is None:
            summary.show("")
            return
        lines = [f"{c.name}: {status_text(c, time.time())}"]
        if c.status not in ("running", "paused"):
            lines.append("not running: no live stats")
        limits = c.config.get("HostConfig", {})
        if limits.get("NanoCpus"):
            lines.append(f"CPU limit: {limits['NanoCpus'] / 1e9:g} cores")
        if limits.get("Memory"):
            lines.append(f"Memory limit: {human_size(limits['Memory'])}")
        if limits.get("PidsLimit"):
            lines.append(f"PIDs limit: {limits['PidsLimit']}")
        summary.show("\n".join(lines))
