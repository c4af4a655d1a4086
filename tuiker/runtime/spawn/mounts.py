"""The container's own mounts (-v, --mount, --tmpfs, an image's VOLUME), made in its mount namespace before
pivot_root (rootfs.py calls `mount_all`).

The target path belongs to the image, and to whatever another container sharing a volume writes into it: a
symlink on the way (`/data -> /etc` in the image, or planted by a racing container between the check and the
mount) must never lead the mount out of the container's root onto the host (CVE-2021-30465, runc's symlink-exchange
race). So a target is resolved with openat2(RESOLVE_IN_ROOT): every symlink is followed as if the container's
root were `/`, `..` stops at it, and the result is an fd, not a path. The mount is then attached onto that fd
with move_mount (MOVE_MOUNT_T_EMPTY_PATH): no path is looked up again between resolution and mount, so there is
no window to swap it. The new mount is prepared detached (open_tree clone for binds, fsmount for tmpfs) and made
read-only before it is attached, so it is never visible writable.
"""

from __future__ import annotations

import errno
import os
import stat
from dataclasses import dataclass, field

from tuiker.base import linux
from tuiker.runtime.spawn.init import SetupError

_RESOLVE = linux.RESOLVE_IN_ROOT | linux.RESOLVE_NO_MAGICLINKS
_PROPAGATION = {"private": linux.MS_PRIVATE, "rprivate": linux.MS_PRIVATE, "slave": linux.MS_SLAVE,
                "rslave": linux.MS_SLAVE, "shared": linux.MS_SHARED, "rshared": linux.MS_SHARED}
_TMPFS_FLAGS = {"nosuid": linux.MOUNT_ATTR_NOSUID, "nodev": linux.MOUNT_ATTR_NODEV, "noexec": linux.MOUNT_ATTR_NOEXEC,
                "ro": linux.MOUNT_ATTR_RDONLY}


@dataclass
class Mount:
    kind: str  # bind, volume or tmpfs
    target: str  # absolute, inside the container
    source: str = ""  # host path (a volume's _data for volumes)
    readonly: bool = False
    propagation: str = "rprivate"
    copy_up: bool = False  # a volume filled from the image's directory at `target` while it is empty
    tmpfs_options: dict[str, str] = field(default_factory=dict)  # size=, mode=, uid=, gid=, nr_inodes=
    tmpfs_flags: list[str] = field(default_factory=list)  # nosuid, nodev, noexec, ro


def mounts_from_config(entries: list[dict]) -> list[Mount]:
    """The mounts a container's config recorded at create (engine/mountspec.py), for every start: a restart, or a
    start by a new monitor, makes exactly the same ones."""
    return [Mount(kind=m["Type"], target=m["Destination"], source=m.get("Source", ""), readonly=not m["RW"],
                  propagation=m.get("Propagation") or "rprivate", copy_up=bool(m.get("CopyUp")),
                  tmpfs_options=m.get("TmpfsOptions") or {}, tmpfs_flags=m.get("TmpfsFlags") or [])
            for m in entries]


def mount_all(root: str, mounts: list[Mount]) -> None:
    """Every mount, parents before children (docker sorts by depth: `/a` must be mounted before `/a/b`)."""
    root_fd = os.open(root, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        for m in sorted(mounts, key=lambda m: len([p for p in m.target.split("/") if p])):
            try:
                _mount_one(root_fd, m)
            except SetupError:
                raise
            except OSError as e:
                raise SetupError(125, f"error mounting {m.source or m.kind!r} to rootfs at {m.target!r}:"
                                      f" {e.strerror or e}") from e
    finally:
        os.close(root_fd)


def _mount_one(root_fd: int, m: Mount) -> None:
    if m.kind == "tmpfs":
        is_dir = True
        attrs = 0
        for flag in m.tmpfs_flags:
            attrs |= _TMPFS_FLAGS[flag]
        if m.readonly:
            attrs |= linux.MOUNT_ATTR_RDONLY
        new = linux.new_mount("tmpfs", m.tmpfs_options, attrs)
    else:
        st = os.stat(m.source)
        is_dir = stat.S_ISDIR(st.st_mode)
        new = -1
    target = open_in_root(root_fd, m.target, is_dir)
    try:
        if m.kind != "tmpfs":
            if m.copy_up and is_dir:
                copy_up(root_fd, m.target, m.source)
            new = linux.open_tree(linux.AT_FDCWD, m.source, linux.OPEN_TREE_CLONE | linux.AT_RECURSIVE)
            linux.mount_setattr(new, linux.MOUNT_ATTR_RDONLY if m.readonly else 0,
                                _PROPAGATION.get(m.propagation, linux.MS_PRIVATE))
        linux.move_mount_to_fd(new, target)
    finally:
        os.close(target)
        if new >= 0:
            os.close(new)


def open_in_root(root_fd: int, path: str, is_dir: bool) -> int:
    """An O_PATH fd on `path` resolved inside the root (symlinks scoped to it), each missing component made on the
    way: directories, or an empty file as the last one when a file is bound. Every step resolves from the root
    again with RESOLVE_IN_ROOT, and mkdir/open(O_EXCL|O_NOFOLLOW) take one plain name under a parent fd, so what a
    symlink planted meanwhile can do is lead to somewhere else inside the root, never outside it. A dangling
    symlink on the way is followed as the container would see it (its target made inside the root, as docker
    does), by rewriting the path and starting again."""
    if ".." in path.split("/"):
        raise SetupError(125, f"invalid mount target {path!r}: it must not contain '..'")
    for _ in range(40):  # the kernel's own limit on symlinks in one lookup
        try:
            return _open_or_make(root_fd, path, is_dir)
        except _Redirect as r:
            path = r.path
    raise SetupError(125, f"cannot mount at {path!r}: too many levels of symbolic links")


class _Redirect(Exception):
    def __init__(self, path: str) -> None:
        self.path = path


def _open_or_make(root_fd: int, path: str, is_dir: bool) -> int:
    parts = [p for p in path.split("/") if p and p != "."]
    prefix = ""
    fd = os.dup(root_fd)
    try:
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            parent = prefix
            prefix += "/" + part
            try:
                new = linux.openat2(root_fd, prefix, os.O_PATH, _RESOLVE)
            except FileNotFoundError:
                # `fd` (O_PATH) is the parent already resolved in the root; the *at calls take one plain name.
                try:
                    if last and not is_dir:
                        os.close(os.open(part, os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_WRONLY | os.O_CLOEXEC,
                                         0o755, dir_fd=fd))
                    else:
                        os.mkdir(part, 0o755, dir_fd=fd)
                except FileExistsError:
                    # A dangling symlink (or one made meanwhile): go where it leads, inside the root.
                    try:
                        link = os.readlink(part, dir_fd=fd)
                    except OSError:
                        raise _Redirect(path) from None  # not a symlink: made meanwhile, look again
                    rest = "/".join(parts[i + 1:])
                    raise _Redirect((link if link.startswith("/") else f"{parent}/{link}") + "/" + rest) from None
                new = linux.openat2(root_fd, prefix, os.O_PATH, _RESOLVE)
            os.close(fd)
            fd = new
            if not last and not stat.S_ISDIR(os.fstat(fd).st_mode):
                raise SetupError(125, f"cannot mount at {path!r}: {prefix} is not a directory")
        if stat.S_ISDIR(os.fstat(fd).st_mode) != is_dir:
            what = "a directory onto a file" if is_dir else "a file onto a directory"
            raise SetupError(125, f"cannot mount {what} at {path!r}")
        return fd
    except BaseException:
        os.close(fd)
        raise


# -- copy-up: an empty volume gets the image's content at its mount point (docker's CopyImagePathContent) -----

def copy_up(root_fd: int, target: str, volume: str) -> None:
    """If the volume is empty and the image has a directory at `target`, copy that directory's content, owners,
    modes and times into the volume, and give the volume's root the directory's owner and mode. The image's side
    is read through fds resolved inside the root, the volume's written with O_NOFOLLOW under fds of its own: a
    symlink in either is copied as a symlink, never followed (another container may share the volume)."""
    try:
        src = linux.openat2(root_fd, target, os.O_RDONLY | os.O_DIRECTORY, _RESOLVE)
    except OSError as e:
        if e.errno in (errno.ENOENT, errno.ENOTDIR):
            return
        raise
    try:
        dst = os.open(volume, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
        try:
            if os.listdir(dst):
                return
            st = os.fstat(src)
            _copy_dir(src, dst)
            os.fchown(dst, st.st_uid, st.st_gid)
            os.fchmod(dst, stat.S_IMODE(st.st_mode))
        finally:
            os.close(dst)
    finally:
        os.close(src)


def _copy_dir(src: int, dst: int) -> None:
    for entry in os.scandir(src):
        name = entry.name
        st = entry.stat(follow_symlinks=False)
        mode = st.st_mode
        if stat.S_ISDIR(mode):
            os.mkdir(name, 0o700, dir_fd=dst)
            s = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=src)
            d = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dst)
            try:
                _copy_dir(s, d)
                _set_meta(d, st)
            finally:
                os.close(s)
                os.close(d)
        elif stat.S_ISREG(mode):
            s = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=src)
            d = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600, dir_fd=dst)
            try:
                while os.sendfile(d, s, None, 1 << 20):
                    pass
                _set_meta(d, st)
            finally:
                os.close(s)
                os.close(d)
        elif stat.S_ISLNK(mode):
            os.symlink(os.readlink(name, dir_fd=src), name, dir_fd=dst)
            os.chown(name, st.st_uid, st.st_gid, dir_fd=dst, follow_symlinks=False)
            os.utime(name, ns=(st.st_atime_ns, st.st_mtime_ns), dir_fd=dst, follow_symlinks=False)
        elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode) or stat.S_ISFIFO(mode):
            os.mknod(name, mode, st.st_rdev, dir_fd=dst)
            os.chown(name, st.st_uid, st.st_gid, dir_fd=dst, follow_symlinks=False)
            os.chmod(name, stat.S_IMODE(mode), dir_fd=dst)  # mknod obeys the umask
        # sockets are not copied (docker's copier skips them too)


def _set_meta(fd: int, st: os.stat_result) -> None:
    os.fchown(fd, st.st_uid, st.st_gid)
    os.fchmod(fd, stat.S_IMODE(st.st_mode))  # after chown, which clears setuid bits
    os.utime(fd, ns=(st.st_atime_ns, st.st_mtime_ns))
