"""A container's resource use, sampled: its cgroup's counters (about a dozen small files: usage, throttling and
pressure) and the counters of its host-side veths, with CPU and I/O turned into rates against the previous
sample. `tuiker stats` and the TUI's Stats graphs both sample through `StatsSampler`."""

from __future__ import annotations

import time

from tuiker.base.times import parse_time
from tuiker.engine.networks import NET_COUNTERS, net_counters
from tuiker.runtime import cgroups

TYPE_CHECKING = False  # not typing's: importing typing costs ~7 ms on every command
if TYPE_CHECKING:
    from tuiker.runtime.cgroups import Pressure
    from tuiker.runtime.containers import Container


class Sample:
    """One reading. Totals since the container started, and rates (per second) since the previous reading."""

    __slots__ = ("cpu_percent", "cpu_usage_ns", "cpu_user_ns", "cpu_system_ns", "memory", "memory_limit", "pids",
                 "pids_limit", "net_rx", "net_tx", "io_read", "io_write", "oom_kills", "net_rx_rate", "net_tx_rate",
                 "io_read_rate", "io_write_rate", "cpu_periods", "cpu_throttled_periods", "cpu_throttled_ns",
                 "cpu_throttled_percent", "psi_cpu", "psi_memory", "psi_io", "net_rx_packets", "net_tx_packets",
                 "net_rx_errors", "net_tx_errors", "net_rx_dropped", "net_tx_dropped")

    def __init__(self, **fields: float) -> None:
        for name in self.__slots__:
            setattr(self, name, fields[name])

    cpu_percent: float  # of one core, as docker stats: 200 % is two cores busy
    cpu_usage_ns: int  # the CPU time it used since it started (the API's cpu_stats.cpu_usage.total_usage)
    cpu_user_ns: int  # of that, in user mode
    cpu_system_ns: int  # and in kernel mode
    memory: int  # without the inactive page cache, as docker stats
    memory_limit: int  # the host's memory when the container has no limit of its own
    pids: int
    pids_limit: int | None
    net_rx: int  # bytes the container received and sent (0 without a network of its own)
    net_tx: int
    io_read: int
    io_write: int
    oom_kills: int
    net_rx_rate: float
    net_tx_rate: float
    io_read_rate: float
    io_write_rate: float
    cpu_periods: int  # CFS periods under a CPU limit (0 without one), since it started
    cpu_throttled_periods: int  # of those, the periods it ran out of quota and waited
    cpu_throttled_ns: int  # the time it waited so
    cpu_throttled_percent: float  # throttled periods of the periods since the previous sample (first: of all)
    psi_cpu: Pressure | None  # pressure stall information; None on cgroup v1 or without PSI in the kernel
    psi_memory: Pressure | None
    psi_io: Pressure | None
    net_rx_packets: int
    net_tx_packets: int
    net_rx_errors: int
    net_tx_errors: int
    net_rx_dropped: int
    net_tx_dropped: int

    @property
    def memory_percent(self) -> float:
        return self.memory / self.memory_limit * 100 if self.memory_limit else 0.0


class StatsSampler:
    """One container's figures, sampled on demand. The first sample's CPU % is the average over the
    container's life (as podman's first sample: `stats --no-stream` needs no second reading, nor a second of
    waiting); from the second on, CPU and I/O are rates over the time since the previous sample."""

    def __init__(self, container: Container) -> None:
        self.container = container  # the TUI swaps in the newest record of it as its state changes
        self.cgroup = cgroups.for_container(container.id)
        self._previous: tuple[float, int, int, int, int, int] | None = None
        self._periods: tuple[int, int] = (0, 0)  # (periods, throttled periods) at the previous sample

    def sample(self) -> Sample | None:
        """None when the container does not run (its cgroup is gone or empty)."""
        c = self.container
        if c.status not in ("running", "paused") or not c.pid:
            self._previous = None
            return None
        try:
            st = self.cgroup.stats()
        except cgroups.CgroupError:
            return None
        now = time.monotonic()
        net = net_counters(c) or dict.fromkeys(NET_COUNTERS, 0)
        rx, tx = net["rx_bytes"], net["tx_bytes"]
        counters = (now, st.cpu_usage_ns, rx, tx, st.io_read_bytes, st.io_write_bytes)
        if self._previous is None:
            self._periods = (0, 0)
            wall = time.time()
            lifetime = max(wall - (parse_time(c.state.get("StartedAt", "")) or wall), 1e-3)
            rates = [st.cpu_usage_ns / lifetime, 0.0, 0.0, 0.0, 0.0]
        else:
            elapsed = max(now - self._previous[0], 1e-3)
            rates = [max(0, new - old) / elapsed for new, old in zip(counters[1:], self._previous[1:], strict=True)]
        self._previous = counters
        periods = st.cpu_periods - self._periods[0]
        throttled = st.cpu_throttled_periods - self._periods[1]
        self._periods = (st.cpu_periods, st.cpu_throttled_periods)
        return Sample(cpu_percent=rates[0] / 1e9 * 100, cpu_usage_ns=st.cpu_usage_ns, cpu_user_ns=st.cpu_user_ns,
                      cpu_system_ns=st.cpu_system_ns, memory=st.memory_usage, memory_limit=st.memory_limit,
                      pids=st.pids_current, pids_limit=st.pids_limit, net_rx=rx, net_tx=tx, io_read=st.io_read_bytes,
                      io_write=st.io_write_bytes, oom_kills=st.oom_kills, net_rx_rate=rates[1], net_tx_rate=rates[2],
                      io_read_rate=rates[3], io_write_rate=rates[4], cpu_periods=st.cpu_periods,
                      cpu_throttled_periods=st.cpu_throttled_periods, cpu_throttled_ns=st.cpu_throttled_ns,
                      cpu_throttled_percent=throttled / periods * 100 if periods > 0 else 0.0,
                      psi_cpu=st.psi_cpu, psi_memory=st.psi_memory, psi_io=st.psi_io,
                      net_rx_packets=net["rx_packets"], net_tx_packets=net["tx_packets"],
                      net_rx_errors=net["rx_errors"], net_tx_errors=net["tx_errors"],
                      net_rx_dropped=net["rx_dropped"], net_tx_dropped=net["tx_dropped"])
