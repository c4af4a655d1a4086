"""Thin ctypes wrappers for the Linux calls Python 3.11's os module lacks (unshare, setns, mount, pivot_root, prctl...).

Every wrapper raises OSError with the errno and a message naming the call and its main argument, so a failure deep
in container setup says which step broke. Paths are passed as bytes (os.fsencode) so undecodable names still work.
These calls change process-wide state: make them in a freshly forked, single-threaded child, never in the CLI/TUI.
Imports stay at ctypes and os: this module is on the container start path.
"""

from __future__ import annotations

import ctypes
import os

# Namespace flags for unshare(2)/setns(2)/clone(2).
CLONE_NEWNS = 0x00020000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000

# mount(2) flags.
MS_RDONLY = 0x1
MS_NOSUID = 0x2
MS_NODEV = 0x4
MS_NOEXEC = 0x8
MS_REMOUNT = 0x20
MS_BIND = 0x1000
MS_REC = 0x4000
MS_PRIVATE = 0x40000
MS_SLAVE = 0x80000
MS_STRICTATIME = 0x1000000

# umount2(2): detach now, free when no longer busy (the old root after pivot_root is always busy).
MNT_DETACH = 0x2

# prctl(2) options.
PR_SET_DUMPABLE = 4
PR_SET_SECCOMP = 22
PR_CAPBSET_DROP = 24
PR_SET_CHILD_SUBREAPER = 36
PR_SET_NO_NEW_PRIVS = 38
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_CLEAR_ALL = 4

# close_range(2) flags.
CLOSE_RANGE_UNSHARE = 0x2
CLOSE_RANGE_CLOEXEC = 0x4

_MACHINE = os.uname().machine
# pivot_root has no glibc wrapper; its number differs per arch. pidfd_open/close_range are numbered alike everywhere.
_NR_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41}.get(_MACHINE)
_NR_RT_SIGACTION = {"x86_64": 13, "aarch64": 134}.get(_MACHINE)
_NR_PIDFD_OPEN = 434
_NR_CLOSE_RANGE = 436
_NR_OPENAT2 = 437
# The new mount API (Linux 5.2; mount_setattr 5.12): numbered alike on every architecture.
_NR_OPEN_TREE = 428
_NR_MOVE_MOUNT = 429
_NR_FSOPEN = 430
_NR_FSCONFIG = 431
_NR_FSMOUNT = 432
_NR_MOUNT_SETATTR = 442

# openat2(2) resolve flags.
RESOLVE_NO_MAGICLINKS = 0x02
RESOLVE_NO_SYMLINKS = 0x04
RESOLVE_BENEATH = 0x08
RESOLVE_IN_ROOT = 0x10
AT_FDCWD = -100
AT_EMPTY_PATH = 0x1000
AT_RECURSIVE = 0x8000

# open_tree(2), move_mount(2), fsmount(2), mount_setattr(2).
OPEN_TREE_CLONE = 1
MOVE_MOUNT_F_EMPTY_PATH = 0x4
MOVE_MOUNT_T_EMPTY_PATH = 0x40
FSCONFIG_SET_STRING = 1
FSCONFIG_CMD_CREATE = 6
MOUNT_ATTR_RDONLY = 0x1
MOUNT_ATTR_NOSUID = 0x2
MOUNT_ATTR_NODEV = 0x4
MOUNT_ATTR_NOEXEC = 0x8
MS_SHARED = 0x100000
MS_UNBINDABLE = 0x20000

_libc = ctypes.CDLL(None, use_errno=True)
_libc.unshare.argtypes = [ctypes.c_int]
_libc.setns.argtypes = [ctypes.c_int, ctypes.c_int]
_libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]
_libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]
_libc.sethostname.argtypes = [ctypes.c_char_p, ctypes.c_size_t]
_libc.syscall.restype = ctypes.c_long

PathArg = str | bytes | os.PathLike


def _fs(value: PathArg | None) -> bytes | None:
    return None if value is None else os.fsencode(value)


def _check(ret: int, call: str) -> int:
    if ret < 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{call}: {os.strerror(err)}")
    return ret


def unshare(flags: int) -> None:
    """Move the calling process into new namespaces. CLONE_NEWPID only applies to children forked afterwards."""
    _check(_libc.unshare(flags), f"unshare(0x{flags:x})")


def setns(fd: int, nstype: int = 0) -> None:
    """Join the namespace `fd` (an open /proc/PID/ns/* file or pidfd); nstype 0 accepts any kind."""
    _check(_libc.setns(fd, nstype), f"setns(fd={fd}, nstype=0x{nstype:x})")


def mount(source: PathArg | None, target: PathArg, fstype: str | bytes | None, flags: int = 0,
          data: str | bytes | None = None) -> None:
    """mount(2). For propagation changes (MS_PRIVATE, MS_SLAVE) pass source and fstype as None."""
    _check(_libc.mount(_fs(source), _fs(target), _fs(fstype), flags, _fs(data)),
           f"mount({source!r} on {os.fsdecode(target)!r}, type={fstype!r}, flags=0x{flags:x})")


def umount2(target: PathArg, flags: int = 0) -> None:
    _check(_libc.umount2(_fs(target), flags), f"umount2({os.fsdecode(target)!r}, flags=0x{flags:x})")


def pivot_root(new_root: PathArg, put_old: PathArg) -> None:
    """pivot_root(2). new_root must be a mount point (bind-mount it onto itself first) whose parent mount is not
    shared, or the kernel refuses with EINVAL. pivot_root(".", ".") stacks the old root on the new one, so no
    put_old directory has to exist in the image (runc's way)."""
    if _NR_PIVOT_ROOT is None:
        raise OSError(38, f"pivot_root: no syscall number known for {_MACHINE}")
    _check(_libc.syscall(ctypes.c_long(_NR_PIVOT_ROOT), _fs(new_root), _fs(put_old)),
           f"pivot_root({os.fsdecode(new_root)!r}, {os.fsdecode(put_old)!r})")


def sethostname(name: str | bytes) -> None:
    raw = _fs(name)
    _check(_libc.sethostname(raw, len(raw)), f"sethostname({name!r})")


def prctl(option: int, a2: int = 0, a3: int = 0, a4: int = 0, a5: int = 0) -> int:
    """prctl(2); returns the call's result (some options return a value). Arguments are passed as unsigned longs
    because prctl is variadic and the kernel reads all four as such."""
    args = (ctypes.c_ulong(a & 0xFFFFFFFFFFFFFFFF) for a in (a2, a3, a4, a5))
    return _check(_libc.prctl(ctypes.c_int(option), *args), f"prctl({option}, {a2})")


def set_no_new_privs() -> None:
    """Forbid gaining privileges through execve (setuid bits, file caps). Irreversible; inherited by children.
    It also lets an unprivileged process install a seccomp filter."""
    prctl(PR_SET_NO_NEW_PRIVS, 1)


def set_child_subreaper() -> None:
    """Orphaned descendants get reparented to us instead of the host's init, so the monitor can reap them."""
    prctl(PR_SET_CHILD_SUBREAPER, 1)


def set_dumpable(flag: bool) -> None:
    """Non-dumpable blocks ptrace and makes /proc/PID/* root-owned: set it before joining a container's namespaces
    so processes inside cannot reach the host binary through /proc/PID/exe (CVE-2019-5736). execve resets it."""
    prctl(PR_SET_DUMPABLE, int(flag))


def pidfd_open(pid: int, flags: int = 0) -> int:
    """A file descriptor for `pid` that cannot be confused with a recycled pid; it polls readable on exit."""
    return _check(_libc.syscall(ctypes.c_long(_NR_PIDFD_OPEN), ctypes.c_int(pid), ctypes.c_uint(flags)),
                  f"pidfd_open({pid})")


def close_range(first: int, last: int, flags: int = 0) -> None:
    """Close (or with CLOSE_RANGE_CLOEXEC mark close-on-exec) every fd in [first, last]. Before execve into a
    container nothing from the host may leak (CVE-2024-21626); last=0xFFFFFFFF means "all above first"."""
    ret = _libc.syscall(ctypes.c_long(_NR_CLOSE_RANGE), ctypes.c_uint(first), ctypes.c_uint(last),
                        ctypes.c_uint(flags))
    if ret == 0:
        return
    if ctypes.get_errno() != 38 or flags & CLOSE_RANGE_UNSHARE:
        _check(ret, f"close_range({first}, {last}, 0x{flags:x})")
    # Kernel < 5.9: walk the open fds, not the whole range (os.closerange to 2^32 would take minutes).
    for fd in sorted(int(name) for name in os.listdir("/proc/self/fd")):
        if first <= fd <= last:
            try:
                if flags & CLOSE_RANGE_CLOEXEC:
                    os.set_inheritable(fd, False)
                else:
                    os.close(fd)
            except OSError:  # the listdir's own, already closed fd
                pass


def close_fds_except(keep: tuple[int, ...] | list[int]) -> None:
    """Close every fd but those in `keep`: what a process forked from the monitor does first, so no host fd (the
    monitor's socket, its lock, other containers' ptys and pidfds) is in reach of anything the image controls,
    even before execve. Callers disable the garbage collector first: a Python object that owned one of these fds,
    collected later, would close whatever fd reuses its number."""
    first = 0
    for fd in sorted(set(keep)):
        if fd > first:
            close_range(first, fd - 1)
        first = max(first, fd + 1)
    close_range(first, 0xFFFFFFFF)


class _OpenHow(ctypes.Structure):
    _fields_ = [("flags", ctypes.c_uint64), ("mode", ctypes.c_uint64), ("resolve", ctypes.c_uint64)]


def open_no_magiclinks(path: PathArg, flags: int) -> int:
    """open(2) that refuses /proc magic links (/proc/PID/fd/N, /proc/PID/root, /proc/self/exe...) anywhere on the
    path, through openat2(RESOLVE_NO_MAGICLINKS): a path the image controls cannot lead to a host file through
    them. Kernels before 5.6 (or a filter refusing openat2) get plain open with the same flags."""
    how = _OpenHow(flags, 0, RESOLVE_NO_MAGICLINKS)
    fd = _libc.syscall(ctypes.c_long(_NR_OPENAT2), ctypes.c_int(AT_FDCWD), _fs(path), ctypes.byref(how),
                       ctypes.c_size_t(ctypes.sizeof(how)))
    if fd >= 0:
        return fd
    err = ctypes.get_errno()
    if err in (38, 1):  # ENOSYS, EPERM (a seccomp filter that predates openat2)
        return os.open(path, flags)
    raise OSError(err, os.strerror(err), os.fsdecode(path))


def openat2(dirfd: int, path: PathArg, flags: int, resolve: int, mode: int = 0) -> int:
    """openat2(2) with no fallback: callers use it where its resolve flags are the point (RESOLVE_IN_ROOT)."""
    how = _OpenHow(flags | os.O_CLOEXEC, mode, resolve)
    fd = _libc.syscall(ctypes.c_long(_NR_OPENAT2), ctypes.c_int(dirfd), _fs(path), ctypes.byref(how),
                       ctypes.c_size_t(ctypes.sizeof(how)))
    if fd < 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err), os.fsdecode(path))
    return fd


def open_tree(dirfd: int, path: PathArg, flags: int) -> int:
    """open_tree(2): with OPEN_TREE_CLONE, a detached copy of the mount at `path` (a bind mount not yet attached)."""
    return _check(_libc.syscall(ctypes.c_long(_NR_OPEN_TREE), ctypes.c_int(dirfd), _fs(path),
                                ctypes.c_uint(flags | os.O_CLOEXEC)), f"open_tree({os.fsdecode(path)!r})")


def move_mount_to_fd(mount_fd: int, target_fd: int) -> None:
    """Attach the detached mount `mount_fd` onto exactly the file `target_fd` is open on: no path is looked up
    again, so nothing can swap the target between its resolution and the mount."""
    _check(_libc.syscall(ctypes.c_long(_NR_MOVE_MOUNT), ctypes.c_int(mount_fd), b"", ctypes.c_int(target_fd), b"",
                         ctypes.c_uint(MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH)),
           f"move_mount(fd={mount_fd} onto fd={target_fd})")


class _MountAttr(ctypes.Structure):
    _fields_ = [("attr_set", ctypes.c_uint64), ("attr_clr", ctypes.c_uint64), ("propagation", ctypes.c_uint64),
                ("userns_fd", ctypes.c_uint64)]


def mount_setattr(fd: int, attr_set: int, propagation: int = 0, recursive: bool = True) -> None:
    """Set mount attributes (MOUNT_ATTR_*) and propagation (MS_PRIVATE ...) on the mount `fd` is open on."""
    attr = _MountAttr(attr_set, 0, propagation, 0)
    flags = AT_EMPTY_PATH | (AT_RECURSIVE if recursive else 0)
    _check(_libc.syscall(ctypes.c_long(_NR_MOUNT_SETATTR), ctypes.c_int(fd), b"", ctypes.c_uint(flags),
                         ctypes.byref(attr), ctypes.c_size_t(ctypes.sizeof(attr))), f"mount_setattr(fd={fd})")


def new_mount(fstype: str, options: dict[str, str], attrs: int) -> int:
    """fsopen + fsconfig + fsmount: a detached new mount of `fstype` (tmpfs) with `options`, for move_mount."""
    fs = _check(_libc.syscall(ctypes.c_long(_NR_FSOPEN), _fs(fstype), ctypes.c_uint(1)), f"fsopen({fstype!r})")
    try:
        for key, value in options.items():
            _check(_libc.syscall(ctypes.c_long(_NR_FSCONFIG), ctypes.c_int(fs), ctypes.c_uint(FSCONFIG_SET_STRING),
                                 _fs(key), _fs(value), ctypes.c_int(0)), f"fsconfig({fstype}: {key}={value})")
        _check(_libc.syscall(ctypes.c_long(_NR_FSCONFIG), ctypes.c_int(fs), ctypes.c_uint(FSCONFIG_CMD_CREATE),
                             None, None, ctypes.c_int(0)), f"fsconfig({fstype}: create)")
        return _check(_libc.syscall(ctypes.c_long(_NR_FSMOUNT), ctypes.c_int(fs), ctypes.c_uint(1),
                                    ctypes.c_uint(attrs)), f"fsmount({fstype})")
    finally:
        os.close(fs)


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]


_LINUX_CAPABILITY_VERSION_3 = 0x20080522  # 64-bit sets, as two 32-bit halves


def capset(effective: int, permitted: int, inheritable: int) -> None:
    """Set this thread's capability sets (bit masks)."""
    header = _CapHeader(_LINUX_CAPABILITY_VERSION_3, 0)
    data = (_CapData * 2)(
        _CapData(effective & 0xFFFFFFFF, permitted & 0xFFFFFFFF, inheritable & 0xFFFFFFFF),
        _CapData(effective >> 32, permitted >> 32, inheritable >> 32),
    )
    _check(_libc.capset(ctypes.byref(header), data), f"capset(0x{effective:x})")


class _KernelSigaction(ctypes.Structure):
    _fields_ = [("handler", ctypes.c_void_p), ("flags", ctypes.c_ulong), ("restorer", ctypes.c_void_p),
                ("mask", ctypes.c_uint64)]


def default_signal(sig: int) -> None:
    """SIG_DFL for `sig` straight through rt_sigaction(2): the C library refuses its own real-time signals
    (32 and 33 in glibc), but an ignored one of those would still be inherited across execve."""
    if _NR_RT_SIGACTION is None:
        return
    action = _KernelSigaction(None, 0, None, 0)  # handler 0 = SIG_DFL
    _check(_libc.syscall(ctypes.c_long(_NR_RT_SIGACTION), ctypes.c_int(sig), ctypes.byref(action), None,
                         ctypes.c_size_t(8)), f"rt_sigaction({sig})")
