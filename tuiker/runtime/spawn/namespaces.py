"""The intermediate process the monitor forks: a new set of namespaces for a start, the container's own for an
exec; then the fork of the process that enters them and goes on to its execve (rootfs.py, init.py)."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Callable

from tuiker.base import linux
from tuiker.runtime.spawn.init import Process, SetupError, finish_and_exec, report_and_exit, setup_stdio
from tuiker.runtime.spawn.rootfs import Rootfs, setup_rootfs

NAMESPACES = ("ipc", "uts", "net", "pid", "cgroup", "mnt")  # setns order: mnt last, it changes our root


# -- starting a container ------------------------------------------------------------------------

def intermediate(rootfs: Rootfs, proc: Process, pidpipe: int, errpipe: int, gopipe: int,
                 join_cgroup: Callable[[], None] | None = None) -> None:
    """Runs in the monitor's fork; never returns. With `join_cgroup`, the container moves itself into its cgroup
    first thing (where that is quick, see cgroups.V1Cgroup); otherwise the monitor does while it sets up."""
    try:
        flags = linux.CLONE_NEWNS | linux.CLONE_NEWUTS | linux.CLONE_NEWIPC | linux.CLONE_NEWPID
        if not rootfs.network_host:
            flags |= linux.CLONE_NEWNET
        linux.unshare(flags)
    except Exception as e:  # noqa: BLE001 - any failure here is reported, never raised into the monitor
        report_and_exit(errpipe, 125, f"cannot create the container's namespaces: {e}")

    def container() -> None:
        if join_cgroup is not None:
            join_cgroup()
        setup_stdio(proc)
        setup_rootfs(rootfs)
        linux.sethostname(rootfs.hostname)
        if not rootfs.network_host:
            _loopback_up()
        # Meanwhile the monitor has put us in the container's cgroup (monitor/supervisor.py): wait for its go.
        if os.read(gopipe, 1) != b"g":
            raise SetupError(125, "the engine cancelled the start")
        os.close(gopipe)
        # The cgroup namespace is made after joining the cgroup, so the container sees it as its root.
        linux.unshare(linux.CLONE_NEWCGROUP)
        finish_and_exec(proc, errpipe)

    fork_and_exec(container, pidpipe, errpipe, 125)


def fork_and_exec(body, pidpipe: int, errpipe: int, code: int) -> None:
    """Fork the process that runs `body` (only a child enters the pid namespace unshared or joined just
    before), report its pid to the monitor, and exit: it is re-parented to the monitor, a subreaper.
    A failure in `body` becomes errpipe's one line and exit code (`code` unless a SetupError says)."""
    try:
        pid = os.fork()
    except OSError as e:
        report_and_exit(errpipe, code, f"cannot fork: {e}")
    if pid:
        os.write(pidpipe, str(pid).encode())
        os._exit(0)
    os.close(pidpipe)  # so the monitor reads the pid at once (EOF), not at our execve
    try:
        body()
    except SetupError as e:
        report_and_exit(errpipe, e.code, str(e))
    except Exception as e:  # noqa: BLE001
        report_and_exit(errpipe, code, str(e))


def _loopback_up() -> None:
    """A new network namespace has `lo` down; bring it up with one ioctl (no iproute2 needed)."""
    import socket
    import struct

    siocgifflags, siocsifflags, iff_up = 0x8913, 0x8914, 0x1
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        ifreq = struct.pack("16sH14s", b"lo", 0, b"")
        flags = struct.unpack("16sH14s", fcntl.ioctl(s, siocgifflags, ifreq))[1]
        fcntl.ioctl(s, siocsifflags, struct.pack("16sH14s", b"lo", flags | iff_up, b""))


# -- exec into a running container ----------------------------------------------------------------

def intermediate_exec(container_pid: int, proc: Process, join_cgroup: Callable[[], None], pidpipe: int,
                      errpipe: int) -> None:
    """Runs in the monitor's fork; never returns."""
    try:
        # Not dumpable since the monitor's fork (monitor/setup.py): nothing in the container can open /proc/<us>/*
        # while we sit in its namespaces (CVE-2019-5736).
        fds = [os.open(f"/proc/{container_pid}/ns/{ns}", os.O_RDONLY | os.O_CLOEXEC) for ns in NAMESPACES]
        join_cgroup()  # before forking: the process that runs the command is born in the cgroup
        for fd in fds:
            linux.setns(fd)
            os.close(fd)
    except Exception as e:  # noqa: BLE001
        report_and_exit(errpipe, 126, f"cannot join the container: {e}")

    def process() -> None:
        setup_stdio(proc)
        finish_and_exec(proc, errpipe)

    fork_and_exec(process, pidpipe, errpipe, 126)
