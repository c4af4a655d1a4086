"""A process's stdio, made one way for a container's first process and for an exec.

- With a terminal (-t): a pty. The process gets the slave as stdin, stdout and stderr (a container's first
  process also at /dev/console); the monitor keeps the master, which carries input, output and the window size.
- Without: stdout and stderr are pipes into the monitor (FIFOs for a container's first process: they outlive
  the monitor, see output_fifo); stdin is a pipe from the monitor with -i, else /dev/null.
"""

from __future__ import annotations

import fcntl
import os
import struct
import termios
from pathlib import Path

from tuiker.runtime.monitor_client import STDERR, STDOUT


class Stdio:
    """One process's stdio. `child`: its fds 0, 1, 2, passed through the fork and closed here after it. The
    monitor's ends: `outputs` (fd -> STDOUT or STDERR) to read, `stdin` to write to, `pty` (the master, also
    the one output). `console`: the slave's path, for a container's /dev/console."""

    def __init__(self, child: tuple[int, int, int], outputs: dict[int, int], stdin: int | None = None,
                 pty: int | None = None, console: str | None = None) -> None:
        self.child = child
        self.outputs = outputs
        self.stdin = stdin
        self.pty = pty
        self.console = console

    @property
    def child_ends(self) -> list[int]:
        return sorted(set(self.child))

    def close_child_ends(self) -> None:
        """Once the process is forked: only it holds them now (its end of a pipe must not stay open here, or the
        monitor would never see EOF)."""
        for fd in self.child_ends:
            os.close(fd)

    def close(self) -> None:
        """The monitor's ends, when the process could not be started."""
        for fd in [*self.outputs, *([self.stdin] if self.stdin is not None else [])]:
            os.close(fd)
        self.outputs, self.stdin, self.pty = {}, None, None


def open_stdio(tty: bool, interactive: bool, size: list[int] | None = None, fifo_dir: Path | None = None) -> Stdio:
    """A pty with `tty`, else pipes: FIFOs in `fifo_dir` for the outputs if given, and a stdin pipe with
    `interactive`. Nothing is left open if this fails."""
    opened: list[int] = []
    try:
        if tty:
            master, slave = os.openpty()
            opened += [master, slave]
            if size:
                set_winsize(master, *size)
            return Stdio((slave, slave, slave), {master: STDOUT}, pty=master, console=os.ttyname(slave))
        outputs = {}
        child_out = []
        for kind, name in ((STDOUT, "stdout.fifo"), (STDERR, "stderr.fifo")):
            read_end, write_end = output_fifo(fifo_dir / name) if fifo_dir else os.pipe2(os.O_CLOEXEC)
            opened += [read_end, write_end]
            outputs[read_end] = kind
            child_out.append(write_end)
        if interactive:
            in_r, stdin = os.pipe2(os.O_CLOEXEC)
            opened += [in_r, stdin]
        else:
            in_r, stdin = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC), None
            opened.append(in_r)
        return Stdio((in_r, child_out[0], child_out[1]), outputs, stdin=stdin)
    except BaseException:
        for fd in opened:
            os.close(fd)
        raise


def output_fifo(path: Path) -> tuple[int, int]:
    """(monitor's read end, container's stdout) for a container's output, through a FIFO rather than a
    pipe so that it outlives the monitor: the container's end is opened read-write, so the FIFO always
    has a reader and the container never gets EPIPE while no monitor runs; what it writes meanwhile waits
    in the FIFO (1 MiB, then the writer blocks) for the next monitor, which reopens it by path.
    The read end is opened first and non-blocking, so output of a container that exits at once is kept."""
    if not path.exists():
        os.mkfifo(path, 0o600)
    read_end = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        write_end = os.open(path, os.O_RDWR | os.O_CLOEXEC)
    except BaseException:
        os.close(read_end)
        raise
    try:
        fcntl.fcntl(write_end, fcntl.F_SETPIPE_SZ, 1 << 20)
    except OSError:
        pass  # above /proc/sys/fs/pipe-max-size: keep the default 64 KiB
    return read_end, write_end


def set_winsize(fd: int, rows: int, cols: int) -> None:
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
