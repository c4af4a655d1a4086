"""A container's root file system, set up inside its own mount namespace (runc's rootfs_linux.go): the overlay,
/proc, a minimal /dev, /sys, the engine's /etc files, docker's masked and read-only paths, then pivot_root."""

from __future__ import annotations

import errno
import os
import stat
from dataclasses import dataclass, field

from tuiker.base import linux
from tuiker.base.config import INIT_TARGET
from tuiker.runtime.spawn.init import SetupError
from tuiker.runtime.spawn.mounts import Mount, mount_all

# docker's MaskedPaths and ReadonlyPaths (moby oci/defaults.go).
MASKED_PATHS = ("/proc/asound", "/proc/acpi", "/proc/interrupts", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
                "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware",
                "/sys/devices/virtual/powercap")
READONLY_PATHS = ("/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger")
# (name, major, minor): the minimal /dev runc creates.
DEVICES = (("null", 1, 3), ("zero", 1, 5), ("full", 1, 7), ("random", 1, 8), ("urandom", 1, 9), ("tty", 5, 0))
# Mount points the engine itself may create in the container's upper dir: not the user's changes (diff).
ENGINE_PATHS = frozenset(("/proc", "/sys", "/dev", "/etc/hostname", "/etc/hosts", "/etc/resolv.conf",
                          INIT_TARGET))


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
    mounts: list[Mount] = field(default_factory=list)  # -v, --mount, --tmpfs, the image's VOLUMEs (mounts.py)


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
    # The user's mounts after the engine's own (a volume at /etc/hosts wins, as in docker), before the masks.
    mount_all(root, rootfs.mounts)
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
