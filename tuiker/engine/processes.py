"""A container's processes (`tuiker top`, the TUI's Top tab): the pids of its cgroup, described by psutil."""

from __future__ import annotations

import psutil

from tuiker.runtime import cgroups

TYPE_CHECKING = False  # not typing's (see stats.py)
if TYPE_CHECKING:
    from tuiker.runtime.containers import Container


class ProcessRow:
    """One process: `cpu_percent` over the time since the table's previous listing (0 on the first),
    `started` its start time (epoch seconds), `cpu_time` its user and system seconds."""

    __slots__ = ("user", "pid", "ppid", "cpu_percent", "memory", "state", "started", "cpu_time", "command")

    def __init__(self, user: str, pid: int, ppid: int, cpu_percent: float, memory: int, state: str, started: float,
                 cpu_time: float, command: str) -> None:
        self.user, self.pid, self.ppid, self.cpu_percent = user, pid, ppid, cpu_percent
        self.memory, self.state, self.started, self.cpu_time, self.command = memory, state, started, cpu_time, command


class ProcessTable:
    """A container's processes. psutil.Process objects are kept between listings so that cpu_percent
    measures the interval since the last one (psutil needs two readings of one object)."""

    def __init__(self, container: Container) -> None:
        self.cgroup = cgroups.for_container(container.id)
        self._known: dict[int, psutil.Process] = {}

    def rows(self) -> list[ProcessRow]:
        """By pid; none once the container has stopped (its cgroup is gone)."""
        try:
            pids = sorted(self.cgroup.pids())
        except cgroups.CgroupError:
            return []
        rows = []
        known = {}
        for pid in pids:
            process = self._known.get(pid)
            try:
                if process is None:
                    process = psutil.Process(pid)
                with process.oneshot():
                    times = process.cpu_times()
                    rows.append(ProcessRow(process.username(), pid, process.ppid(), process.cpu_percent(),
                                           process.memory_info().rss, process.status(), process.create_time(),
                                           times.user + times.system,
                                           " ".join(process.cmdline()) or f"[{process.name()}]"))
                known[pid] = process
            except psutil.Error:
                continue  # it exited while listed
        self._known = known
        return rows
