"""The common tail of a start and an exec (runc's finalizeNamespace and the end of its standard and setns inits):
stdio, then everything the container will not have given up, then the image's files, then execve."""

from __future__ import annotations

import errno
import fcntl
import os
import signal
import stat
import termios
from dataclasses import dataclass
from typing import NoReturn

from tuiker.base import linux
from tuiker.runtime import users
from tuiker.runtime.security import capabilities


class SetupError(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass
class Process:
    """What to execve and as whom: shared by a container's first process and by exec."""
    args: list[str]
    env: list[str]
    cwd: str
    user: str
    caps: set[int]
    tty: bool
    no_new_privs: bool = False
    seccomp: bytes | None = None  # the filter the monitor compiled (seccomp.program); None: unconfined
    stdio: tuple[int, int, int] = (0, 1, 2)


def report_and_exit(errpipe: int, code: int, message: str) -> NoReturn:
    try:
        os.write(errpipe, f"{code} {message}".encode()[:4000])
    finally:
        os._exit(code)


def setup_stdio(proc: Process) -> None:
    stdin, stdout, stderr = proc.stdio
    if proc.tty:
        # A session of its own with the pty as controlling terminal: Ctrl-C then reaches the container.
        os.setsid()
        fcntl.ioctl(stdin, termios.TIOCSCTTY, 0)
    for target, fd in enumerate((stdin, stdout, stderr)):
        if fd != target:
            os.dup2(fd, target)


def finish_and_exec(proc: Process, errpipe: int) -> None:
    """From here on the process touches what the image controls (its /etc/passwd and /etc/group, the working
    directory, the command's path): first it gives up everything the container will not have, so that the worst
    those hold can cost no more than the container itself could do. Order (runc's finalizeNamespace, tightened):
    fds -> bounding set -> seccomp (needs CAP_SYS_ADMIN unless no_new_privs) -> capabilities cut to the
    container's -> the image's files -> uid/gid -> final capabilities -> execve."""
    # Only stdio and the error pipe remain: no fd of the monitor's is in reach of a path the image controls
    # (CVE-2024-21626: a leaked fd as the working directory).
    linux.close_fds_except((0, 1, 2, errpipe))
    capabilities.drop_bounding(proc.caps)
    if proc.seccomp is not None:
        from tuiker.runtime.security import seccomp  # already imported by the monitor, which compiled the filter

        seccomp.install(proc.seccomp)
    # The container's capabilities, effective from now on. CAP_SETUID/CAP_SETGID stay permitted (not effective)
    # only until the uid/gid change below, which a container without them must still get.
    switch = frozenset((capabilities.NAMES["CAP_SETUID"], capabilities.NAMES["CAP_SETGID"]))
    linux.capset(capabilities.mask(proc.caps), capabilities.mask(proc.caps | switch), 0)
    try:
        user = users.resolve(proc.user)
    except Exception as e:  # noqa: BLE001
        raise SetupError(126, str(e)) from e
    env = dict(item.partition("=")[::2] for item in proc.env)
    env.setdefault("HOSTNAME", os.uname().nodename)
    env.setdefault("HOME", user.home)
    if proc.tty:
        env.setdefault("TERM", "xterm")
    cwd = proc.cwd or "/"
    try:
        os.makedirs(cwd, mode=0o755, exist_ok=True)
        os.chdir(cwd)
    except OSError as e:
        raise SetupError(126, f"cannot use working directory {cwd}: {e.strerror}") from e
    path = lookup(proc.args[0], env.get("PATH", ""))
    linux.capset(capabilities.mask(proc.caps | switch), capabilities.mask(proc.caps | switch), 0)
    os.setgroups(user.groups)
    os.setgid(user.gid)
    os.setuid(user.uid)
    capabilities.apply(proc.caps)
    if proc.no_new_privs:
        linux.set_no_new_privs()
    default_signals()
    try:
        os.execve(path, proc.args, env)
    except OSError as e:
        code = 127 if e.errno == errno.ENOENT else 126
        raise SetupError(code, f"exec: {proc.args[0]!r}: {e.strerror}") from e


def default_signals() -> None:
    """Every signal back to its default action and none blocked, as runc leaves a container's process. An
    ignored signal stays ignored across execve: without this the container would inherit what the monitor
    ignores (SIGHUP; Python ignores SIGXFSZ) and whatever its starter ignored (a `tuiker run` from a script's
    background job ignores SIGINT), and a `sleep` in it would shrug off Ctrl-C."""
    for sig in range(1, signal.NSIG):  # not valid_signals(): it leaves out the C library's own
        if sig in (signal.SIGKILL, signal.SIGSTOP):
            continue
        try:
            signal.signal(sig, signal.SIG_DFL)
        except (OSError, ValueError):  # the C library's own real-time signals: past it, to the kernel
            linux.default_signal(sig)
    signal.pthread_sigmask(signal.SIG_SETMASK, [])


def lookup(command: str, path_var: str) -> str:
    """Resolve `command` like execvp, but with docker's messages and exit codes."""
    if "/" in command:
        candidates = [command]
    else:
        candidates = [os.path.join(d or ".", command) for d in path_var.split(":")]
    for candidate in candidates:
        try:
            st = os.stat(candidate)
        except OSError:
            continue
        if stat.S_ISDIR(st.st_mode):
            if "/" in command:
                raise SetupError(126, f'exec: "{command}": is a directory')
            continue
        if not os.access(candidate, os.X_OK):
            raise SetupError(126, f'exec: "{command}": permission denied')
        return candidate
    if "/" in command:
        raise SetupError(127, f'exec: "{command}": stat {command}: no such file or directory')
    raise SetupError(127, f'exec: "{command}": executable file not found in $PATH')
