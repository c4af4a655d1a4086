"""The monitor's own binary, made read-only for every container: the CVE-2019-5736 class, closed by construction.

Every process that enters a container is a fork of the monitor, a Python interpreter, that calls execve inside
the container. At that execve /proc/self/exe is the monitor's binary, so an image whose command is
/proc/self/exe, or whose /bin/sh is a `#!/proc/self/exe` script run by an exec, runs the host's interpreter with
the image's own loader and libraries, and may then try to write, truncate, chmod or chown that binary, or keep a
handle and write through it once the monitor has exited.

runc's answers were a sealed memfd copy of itself, then a static trampoline, now a read-only overlay of its own
binary. Ours is runc's current one in its simplest form: the monitor starts in a mount namespace of its own (a
slave of the host's, so it still sees every host mount come and go), bind-mounts its interpreter onto itself
read-only there, and re-executes from that path. From then on, the exe of the monitor and of every process it
forks is reached through a read-only mount, and that holds, not merely usually:
- a write, truncate, chmod, chown, utime or xattr change through /proc/self/exe, or through any fd opened from
  it (O_PATH and /proc/self/fd/N reopen included), fails with EROFS: each of those checks the mount of the path;
- the mount cannot be made writable from a container: that needs CAP_SYS_ADMIN in the monitor's mount
  namespace, which a container cannot enter (setns needs CAP_SYS_ADMIN, and the monitor is outside the
  container's pid namespace, so not even its /proc/PID/ns/mnt is visible);
- a hard link onto a writable mount is refused across mounts (EXDEV);
- the path stays the interpreter's real path, so its RUNPATH ($ORIGIN included), sys.prefix and venv resolve
  exactly as before (a memfd copy would lose $ORIGIN).
What this does not cover, as docker does not: a container given CAP_DAC_READ_SEARCH (open_by_handle_at can
reopen any inode through another, writable mount of the same file system) or CAP_SYS_ADMIN, or --privileged.
"""

from __future__ import annotations

import os

from tuiker.base import linux


class SealError(OSError):
    pass


def is_sealed() -> bool:
    """Whether this process's own binary is reached through a read-only mount."""
    return bool(os.statvfs("/proc/self/exe").f_flag & os.ST_RDONLY)


def seal() -> str:
    """Move into a mount namespace of our own and bind our binary onto itself read-only there; returns its path,
    which the caller must then execve (the running image keeps the old, writable mount until it does).
    Single-threaded callers only: unshare(CLONE_NEWNS) refuses a threaded process."""
    exe = os.readlink("/proc/self/exe")
    if exe.endswith(" (deleted)") or not os.path.isfile(exe):
        raise SealError(f"cannot seal the interpreter: {exe} is gone (replaced on disk?): start tuiker again")
    linux.unshare(linux.CLONE_NEWNS)
    # Slave, not private: host mounts made or removed later still reach us (and so every container we start),
    # while nothing mounted here ever propagates back to the host.
    linux.mount(None, "/", None, linux.MS_REC | linux.MS_SLAVE)
    linux.mount(exe, exe, None, linux.MS_BIND)
    linux.mount(None, exe, None, linux.MS_BIND | linux.MS_REMOUNT | linux.MS_RDONLY | linux.MS_NOSUID)
    return exe


def check_sealed() -> None:
    """Fail closed: a monitor whose binary a container could write must not start any container."""
    if not is_sealed():
        raise SealError(f"the monitor's binary {os.readlink('/proc/self/exe')} is writable through "
                        "/proc/self/exe: refusing to start containers from it")
