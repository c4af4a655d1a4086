"""A process the monitor supervises once it runs: a container's first process, or an exec."""

from __future__ import annotations

from collections.abc import Callable

from tuiker.runtime.containers import Container
from tuiker.runtime.monitor.logs import LogWriter
from tuiker.runtime.monitor.server import Client


class Running:
    """Followed through its pidfd (readable once it exits). `outputs` (fd -> STDOUT/STDERR), `stdin` and `pty`
    are the monitor's ends of its stdio (stdio.py); `clients` are attached to it (its output goes to them,
    their input to it), `waiters` hear of its exit."""

    def __init__(self, pid: int, pidfd: int, outputs: dict[int, int], stdin: int | None, pty: int | None,
                 cgroup: object | None, container: Container | None = None, log: LogWriter | None = None) -> None:
        self.pid = pid
        self.pidfd = pidfd
        self.outputs = outputs
        self.stdin = stdin
        self.pty = pty
        self.cgroup = cgroup
        self.container = container  # None for an exec
        self.log = log
        self.clients: list[Client] = []
        self.waiters: list[Client] = []
        # An exec the monitor runs for itself (a health check): its output goes to `sink`, its exit code to
        # `on_exit`, instead of to clients.
        self.sink: Callable[[bytes], None] | None = None
        self.on_exit: Callable[[int], None] | None = None
        self.manual_stop = False  # stopped or killed by request: no restart policy applies
        self.adopted = False  # a process of the previous monitor's: never our child, its exit code is lost
        self.exited = False  # reaped: its pid may belong to another process now, never signal it again


def start_time(pid: int) -> str:
    """Field 22 of /proc/PID/stat: tells a live container from a new process that reused its pid.
    A zombie (state Z or X) counts as gone: it has exited, only its reaping is pending."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return ""
    return "" if fields[0] in ("Z", "X") else fields[19]


def same_process(pid: int, start: str | None) -> bool:
    return bool(start) and start_time(pid) == start
