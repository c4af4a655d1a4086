"""A process between its fork and its execve, a container's start or an exec, followed without ever waiting.

The monitor forks an intermediate (spawn/namespaces.py) with two pipes: on the pid pipe it reports the pid of
the process that enters the container, and closes it; on the error pipe that process writes "<code> <message>"
if it fails, and the pipe closes by itself at its execve (close-on-exec) or its exit. A start has a third,
the "go" pipe: once the pid is known the monitor prepares what must be in place before the container runs
(its cgroup where the process cannot join it quickly itself, its network), then writes "g", and only then does
the process go on to its execve.

Nothing here blocks: the pipes are read from the event loop as they become ready. An image can make its setup
slow (a FIFO where /etc/passwd should be, a huge file), and one container's setup must not stop the monitor
serving the others, nor starting the next one: any number of setups run side by side. A setup that has not
finished within SETUP_TIMEOUT is killed.
"""

from __future__ import annotations

import gc
import os
import signal
from collections.abc import Callable

from tuiker.base import linux
from tuiker.base.errors import TuikerError
from tuiker.runtime.monitor.server import Server

SETUP_TIMEOUT = 30.0

# done(pid, pidfd, error): called once, from the event loop, when the process has exec'd (error None) or failed.
Done = Callable[[int, int, "tuple[int, str] | None"], None]


class Setup:
    """One process being set up; see the module's docstring."""

    def __init__(self, intermediate: int, pid_r: int, err_r: int, done: Done, go_w: int | None = None,
                 before_exec: Callable[[int], None] | None = None) -> None:
        self.intermediate = intermediate
        self.pid_r = pid_r
        self.err_r = err_r
        self.done = done
        self.go_w = go_w  # with a go pipe: before_exec(pid) runs, then "g" lets the process execve
        self.before_exec = before_exec
        self.pid_text = b""
        self.pid = 0
        self.pidfd = -1
        self.message = b""
        self.error: tuple[int, str] | None = None  # the engine's own reason to fail it (prepare, cancel, timeout)
        self.finished = False


class Setups:
    """The setups under way. `by_pid` are theirs until they finish: the reaping of strays leaves them alone."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.by_pid: dict[int, Setup] = {}
        self.by_intermediate: dict[int, Setup] = {}  # until each finishes: to claim_pids

    def fork(self, child: Callable[[int, int], None], child_ends: list[int], done: Done,
             go: tuple[int, Callable[[int], None]] | None = None) -> Setup:
        """Fork `child(pidpipe, errpipe)` and follow its setup; `done(pid, pidfd, error)` is called once it has
        exec'd or failed, from the event loop (never before this returns). `child_ends` are the fds the child
        keeps (its stdio, the go pipe's read end): closed here once it is forked. OSError if it cannot fork.

        With `go` = (write end of the go pipe, before_exec): once the process's pid is known, before_exec(pid)
        runs here while the process sets up its root, then "g" on the pipe lets it go on to execve."""
        pid_r, pid_w = os.pipe2(os.O_CLOEXEC)
        err_r, err_w = os.pipe2(os.O_CLOEXEC)
        try:
            intermediate = os.fork()
        except OSError:  # the caller still owns child_ends, and closes them
            for fd in (pid_r, pid_w, err_r, err_w):
                os.close(fd)
            raise
        if intermediate == 0:
            try:
                # The garbage collector would close the fds of collected objects: after the next line those
                # numbers may belong to the container's own files.
                gc.disable()
                # Nothing in the container may ptrace us or open our /proc/PID files (the host's interpreter, fds)
                # before the execve, which resets this (the CVE-2019-5736 class; see also exeseal).
                linux.set_dumpable(False)
                # None of the monitor's fds (its socket and lock, other containers' ptys, FIFOs and pidfds) goes
                # any further; in particular not the go pipe's write end: if the monitor dies, the container
                # then sees EOF and gives up instead of waiting forever for a "g" nobody will write.
                linux.close_fds_except((0, 1, 2, pid_w, err_w, *child_ends))
                signal.signal(signal.SIGPIPE, signal.SIG_DFL)
                child(pid_w, err_w)
            finally:
                os._exit(125)
        for fd in (pid_w, err_w, *child_ends):
            os.close(fd)
        setup = Setup(intermediate, pid_r, err_r, done, *(go or (None, None)))
        os.set_blocking(pid_r, False)
        self.by_intermediate[intermediate] = setup
        self.server.register(pid_r, "setup-pid", lambda _: self._pid_ready(setup))
        self.server.after(SETUP_TIMEOUT, lambda: self.cancel(
            setup, f"the container's setup did not finish within {SETUP_TIMEOUT:.0f} s"))
        return setup

    def _pid_ready(self, s: Setup) -> None:
        try:
            chunk = os.read(s.pid_r, 64)
        except BlockingIOError:
            return  # claim_pids read it first
        if chunk:
            self._claim(s, chunk)
            return
        self.server.unregister(s.pid_r)
        os.close(s.pid_r)
        s.pid_r = -1
        s.pid = int(s.pid_text) if s.pid_text.strip().isdigit() else 0
        if s.pid:
            self.by_pid[s.pid] = s
            try:
                s.pidfd = linux.pidfd_open(s.pid)
            except OSError:
                s.pidfd = -1  # already gone and reaped: its error pipe tells why
        if s.go_w is not None:
            try:
                if s.pid and s.error is None and s.before_exec is not None:
                    s.before_exec(s.pid)
                    os.write(s.go_w, b"g")
            except (OSError, TuikerError) as e:
                # A process that died in its own setup (a mount that failed) took its namespaces with it, which is
                # why before_exec failed: its error pipe holds the real reason. Only a living one fails for ours.
                if not _exited(s.pidfd):
                    s.error = (125, str(e))
            finally:
                os.close(s.go_w)  # closed without "g": the process gives up before execve
                s.go_w = None
        self.server.register(s.err_r, "setup-err", lambda _: self._err_ready(s))

    def _err_ready(self, s: Setup) -> None:
        chunk = os.read(s.err_r, 4096)
        if chunk:
            s.message = (s.message + chunk)[:4096]
            return
        self._finish(s)

    def _claim(self, s: Setup, chunk: bytes) -> None:
        s.pid_text += chunk
        if s.pid_text.isdigit():
            # Written in one write, so the whole pid: a process of ours from now on (see claim_pids).
            self.by_pid[int(s.pid_text)] = s

    def claim_pids(self) -> None:
        """Take the pids the intermediates have written but the loop has not read yet. The intermediate writes the
        pid, then exits; only then is the process re-parented to us, and it may have exec'd and exited already:
        before reaping a child it does not know, the monitor reads these, so that it never reaps a setup's
        process (whose exit code would be lost: an exec's, or a health check's, would read 255)."""
        for s in self.by_intermediate.values():
            if s.pid_r >= 0 and not s.pid:
                try:
                    chunk = os.read(s.pid_r, 64)
                except BlockingIOError:
                    continue
                if chunk:
                    self._claim(s, chunk)

    def cancel(self, s: Setup, reason: str) -> None:
        """Kill a setup that must not finish (a stop, a timeout) and fail it with `reason`."""
        if s.finished:
            return
        s.error = s.error or (125, reason)
        if s.pid or s.go_w is None:
            kill(s.pid or s.intermediate)
            self._finish(s)  # its pipes close with it; the kill is what matters
        # A start without a pid yet: the go step sees the error and withholds "g", so the process gives up.

    def _finish(self, s: Setup) -> None:
        if s.finished:
            return
        s.finished = True
        for fd in (s.pid_r, s.err_r):
            if fd >= 0:
                self.server.unregister(fd)
                os.close(fd)
        if s.go_w is not None:
            os.close(s.go_w)
        self.by_pid.pop(s.pid, None)
        self.by_intermediate.pop(s.intermediate, None)
        error = s.error
        if error is None and s.message:
            code, _, text = s.message.decode(errors="replace").partition(" ")
            error = (int(code) if code.isdigit() else 125, text)
        if error is None and not s.pid:
            error = (125, "the container process could not be created")
        if error is not None and s.pid:
            kill(s.pid)  # a process told to fail may still be between its report and its exit
        s.done(s.pid, s.pidfd, error)


def _exited(pidfd: int) -> bool:
    """Whether the process has exited, allowing it 50 ms: its namespaces go before its pidfd says so (do_exit
    releases them before it notifies), and this runs only when a setup step has just failed."""
    import select

    return pidfd >= 0 and bool(select.select([pidfd], [], [], 0.05)[0])


def kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
