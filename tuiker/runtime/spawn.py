"""The container side of a start or an exec: what runs between fork and execve.

These functions run in a child the monitor forks. The monitor is single-threaded, so the child is
too: unshare/setns in a process with threads is what runc avoids by doing it in C before Go starts.

Start (the monitor forks `intermediate`):
    intermediate: unshare mnt/uts/ipc/net/pid, fork again, report the pid, exit
    container (pid 1 of the new pid namespace, re-parented to the monitor, a child subreaper):
        stdio → rootfs (overlay, /proc, /dev, /sys, masks) → pivot_root → hostname → wait for the monitor's
        "go" (it moves us into the cgroup meanwhile) → unshare cgroup ns → finish_and_exec
Exec (the monitor forks `intermediate_exec`):
    intermediate: not dumpable, join the cgroup, setns into each namespace (mnt last), fork, report, exit
    process: stdio → finish_and_exec
finish_and_exec: close every fd but stdio, bounding set, seccomp, capabilities cut to the container's, then only
    the image's files (user, workdir, command lookup), setuid, final capabilities, no_new_privs, execve.
    A failure before execve is written to `errpipe` as "<exit code> <message>" and the child exits with that code
    (docker's 125/126/127).
Every process forked here is non-dumpable until its execve, and starts with none of the monitor's fds (see
monitor._fork): nothing inside a container can ptrace it or reach the host through its /proc files.
"""

from __future__ import annotations

import errno
import fcntl
import os
import signal
import stat
import termios
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NoReturn

from tuiker.base import linux
from tuiker.base.config import INIT_TARGET
from tuiker.runtime import users
from tuiker.runtime.security import capabilities

# docker's MaskedPaths and ReadonlyPaths (moby oci/defaults.go).
MASKED_PATHS = ("/proc/asound", "/proc/acpi", "/proc/interrupts", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
                "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware",
                "/sys/devices/virtual/powercap")
READONLY_PATHS = ("/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger")
# (name, major, minor): the minimal /dev runc creates.
DEVICES = (("null", 1, 3), ("zero", 1, 5), ("full", 1, 7), ("random", 1, 8), ("urandom", 1, 9), ("tty", 5, 0))
NAMESPACES = ("ipc", "uts", "net", "pid", "cgroup", "mnt")  # setns order: mnt last, it changes our root
# Mount points the engine itself may create in the container's upper dir: not the user's changes (diff).
ENGINE_PATHS = frozenset(("/proc", "/sys", "/dev", "/etc/hostname", "/etc/hosts", "/etc/resolv.conf",
                          INIT_TARGET))


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


@dataclass
class Rootfs:
    layers_dir: str  # the store's layers/ directory: lowerdirs are given relative to it (see mount_overlay)
    lower: list[str]  # layer directory names, base first
    upper: str
    work: str
    target: str
    hostname: str
    etc_files: dict[str, str] = field(default_factory=dict)  # /etc/hosts -> host file to bind
    readonly: bool = False
    privileged: bool = False
    console: str | None = None  # the pty slave's path, bound at /dev/console with -t
    network_host: bool = False
    init: str | None = None  # with --init: the host's static init binary, bound read-only at config.INIT_TARGET


def report_and_exit(errpipe: int, code: int, message: str) -> NoReturn:
    try:
        os.write(errpipe, f"{code} {message}".encode()[:4000])
    finally:
        os._exit(code)


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
        # Meanwhile the monitor has put us in the container's cgroup (see monitor._fork): wait for its go.
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


def setup_stdio(proc: Process) -> None:
    stdin, stdout, stderr = proc.stdio
    if proc.tty:
        # A session of its own with the pty as controlling terminal: Ctrl-C then reaches the container.
        os.setsid()
        fcntl.ioctl(stdin, termios.TIOCSCTTY, 0)
    for target, fd in enumerate((stdin, stdout, stderr)):
        if fd != target:
            os.dup2(fd, target)


def mount_overlay(rootfs: Rootfs) -> None:
    # Mount options must fit in one page; lowerdirs relative to the layers dir keep the string short
    # enough for ~55 layers (docker shortens them with symlinks for the same reason).
    os.chdir(rootfs.layers_dir)
    lower = ":".join(f"{name}/diff" for name in reversed(rootfs.lower))  # overlay wants the top first
    opts = f"lowerdir={lower},upperdir={rootfs.upper},workdir={rootfs.work}"
    linux.mount("overlay", rootfs.target, "overlay", 0, opts)


def setup_rootfs(rootfs: Rootfs) -> None:
    """Everything here happens in the container's own mount namespace: no mount is ever visible on the
    host, and all of them vanish with the namespace when the container's last process exits."""
    # Private first, so nothing mounted below propagates back to the host's mount namespace.
    linux.mount(None, "/", None, linux.MS_REC | linux.MS_PRIVATE)
    mount_overlay(rootfs)
    root = rootfs.target
    nodev = linux.MS_NOSUID | linux.MS_NODEV | linux.MS_NOEXEC
    _mount_in(root, "/proc", "proc", "proc", nodev)
    _mount_in(root, "/dev", "tmpfs", "tmpfs", linux.MS_NOSUID | linux.MS_STRICTATIME, "mode=755,size=65536k")
    for name, major, minor in DEVICES:
        path = f"{root}/dev/{name}"
        os.mknod(path, 0o666 | stat.S_IFCHR, os.makedev(major, minor))
        os.chmod(path, 0o666)  # mknod obeys the umask
    for link, target in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"), ("stdout", "/proc/self/fd/1"),
                         ("stderr", "/proc/self/fd/2"), ("ptmx", "pts/ptmx"), ("core", "/proc/kcore")):
        os.symlink(target, f"{root}/dev/{link}")
    _mount_in(root, "/dev/pts", "devpts", "devpts", linux.MS_NOSUID | linux.MS_NOEXEC,
              "newinstance,ptmxmode=0666,mode=0620,gid=5")
    _mount_in(root, "/dev/shm", "shm", "tmpfs", nodev, "mode=1777,size=65536k")
    _mount_in(root, "/dev/mqueue", "mqueue", "mqueue", nodev)
    if rootfs.console:
        open(f"{root}/dev/console", "w").close()
        linux.mount(rootfs.console, f"{root}/dev/console", None, linux.MS_BIND)
    try:
        _mount_in(root, "/sys", "sysfs", "sysfs", nodev | linux.MS_RDONLY)
    except OSError as e:
        if e.errno != errno.EPERM:
            raise
        # sysfs may only be mounted by the owner of the network namespace (--network host): bind it.
        _bind_in(root, "/sys", "/sys", recursive=True)
        linux.mount(None, f"{root}/sys", None, linux.MS_BIND | linux.MS_REMOUNT | linux.MS_RDONLY | linux.MS_REC)
    for path, source in rootfs.etc_files.items():
        _bind_in(root, path, source)
    if rootfs.init:
        _bind_in(root, INIT_TARGET, rootfs.init)
        linux.mount(None, f"{root}{INIT_TARGET}", None, linux.MS_BIND | linux.MS_REMOUNT | linux.MS_RDONLY)
    if not rootfs.privileged:
        for path in MASKED_PATHS:
            _mask(root, path)
        for path in READONLY_PATHS:
            _readonly(root, path)
    # pivot_root, not chroot: chroot leaves the host's root reachable (chdir("..") out of a chroot with
    # CAP_SYS_CHROOT); pivot_root(".", ".") then detaching the old root leaves nothing of it mounted.
    os.chdir(root)
    linux.pivot_root(".", ".")
    linux.umount2(".", linux.MNT_DETACH)
    os.chdir("/")
    if rootfs.readonly:
        linux.mount(None, "/", None, linux.MS_BIND | linux.MS_REMOUNT | linux.MS_RDONLY)


def _target(root: str, path: str, is_dir: bool = True) -> str:
    """`path` inside the new root, created if missing. The root is the container's own overlay, and
    symlinks inside it must not lead the mount out: refuse any symlink on the way."""
    current = root
    parts = [p for p in path.split("/") if p]
    for i, part in enumerate(parts):
        current = f"{current}/{part}"
        last = i == len(parts) - 1
        try:
            st = os.lstat(current)
        except FileNotFoundError:
            if last and not is_dir:
                open(current, "a").close()
            else:
                os.mkdir(current, 0o755)
            continue
        if stat.S_ISLNK(st.st_mode):
            raise SetupError(125, f"refusing to mount over a symlink in the image: {path}")
    return current


def _mount_in(root: str, path: str, source: str, fstype: str, flags: int, data: str | None = None) -> None:
    linux.mount(source, _target(root, path), fstype, flags, data)


def _bind_in(root: str, path: str, source: str, recursive: bool = False) -> None:
    flags = linux.MS_BIND | (linux.MS_REC if recursive else 0)
    linux.mount(source, _target(root, path, is_dir=os.path.isdir(source)), None, flags)


def _mask(root: str, path: str) -> None:
    target = f"{root}{path}"
    if not os.path.lexists(target):
        return
    if os.path.isdir(target) and not os.path.islink(target):
        linux.mount("tmpfs", target, "tmpfs", linux.MS_RDONLY)
    else:
        linux.mount("/dev/null", target, None, linux.MS_BIND)


def _readonly(root: str, path: str) -> None:
    target = f"{root}{path}"
    if not os.path.lexists(target):
        return
    linux.mount(target, target, None, linux.MS_BIND | linux.MS_REC)
    linux.mount(None, target, None, linux.MS_BIND | linux.MS_REMOUNT | linux.MS_RDONLY | linux.MS_REC
                | linux.MS_NOSUID | linux.MS_NODEV | linux.MS_NOEXEC)


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
        # Not dumpable since the monitor's fork (monitor._fork): nothing in the container can open /proc/<us>/*
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


# -- the common tail ------------------------------------------------------------------------------

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
