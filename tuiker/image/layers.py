"""Unpack one OCI layer tar into a directory, in the form overlayfs expects of a lower layer.

tarfile's own extraction does not fit: it resolves links against the host, rejects absolute symlinks
that are normal in images (`var/run -> /run`) and strips setuid bits; its header parsing is slow too.
tarstream parses the tar; every file-system object is created by hand, relative to directory fds held
inside `dest`.

Paths: entry names are taken relative to `dest` (leading `/` and `./` stripped) and a `..` component
is refused. A symlink met in the *parent* part of an entry name is resolved chroot-like against
`dest`, as moby's go-archive does (FollowSymlinkInScope): an absolute target restarts at `dest`, `..`
stops at `dest`. So `var/run -> /run` followed by `var/run/x` writes `dest/run/x`. Each component is
opened with O_NOFOLLOW relative to its parent's fd, so no host path is ever consulted. The last
component of a name is never followed: an entry replaces whatever is there (a directory entry over
an existing directory keeps it and applies the new attributes).

Whiteouts become overlayfs whiteouts: `.wh.NAME` a 0/0 character device, `.wh..wh..opq` the
`trusted.overlay.opaque=y` xattr. OCI says a whiteout only hides lower layers, so an entry of the same
layer always wins over a whiteout of its name, whatever their order; a directory that shares its name
with a whiteout is made opaque, since the whiteout deletes the lower directory's contents.
"""

from __future__ import annotations

import errno
import os
import shutil
import stat
from collections.abc import Callable

from tuiker.base.errors import LayerError
from tuiker.image.tarstream import (
    BLKTYPE,
    CHRTYPE,
    DIRTYPE,
    FIFOTYPE,
    LNKTYPE,
    REGTYPE,
    SYMTYPE,
    Entry,
    Readable,
    TarReader,
)

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
# Directory fds kept open between entries; tars list a directory's entries together, so a small
# window of recently opened directories catches nearly every lookup without risking EMFILE.
_MAX_CACHED_DIRS = 512
_MAX_SYMLINK_HOPS = 40  # the kernel's MAXSYMLINKS
_WHITEOUT = ".wh."
_AUFS_META = ".wh..wh."
_OPAQUE = ".wh..wh..opq"
_OPAQUE_XATTR = "trusted.overlay.opaque"
# Overlay metadata an image could use to forge whiteouts or redirects in its own layer.
_FORBIDDEN_XATTRS = ("trusted.overlay.", "user.overlay.")


def unpack_layer(stream: Readable, dest: str) -> int:
    """Unpack an *uncompressed* layer tar read from `stream` into the existing empty directory `dest`.

    Returns the number of bytes of regular-file content written (the layer's unpacked size).
    Raises LayerError("<entry name>: <reason>") for anything unsafe or malformed. Errors raised by
    `stream` itself pass through unchanged.
    """
    unpacker = _Unpacker(dest)
    try:
        unpacker.run(stream)
    finally:
        unpacker.close()
    return unpacker.size


class _Source:
    """The caller's stream, remembering what it raised. A decompressor's or a connection's error is not
    the layer's to explain: the caller may check the blob's digest first (pull does)."""

    def __init__(self, stream: Readable) -> None:
        self._stream = stream
        self.error: BaseException | None = None

    def read(self, n: int) -> bytes:
        try:
            return self._stream.read(n)
        except BaseException as e:
            self.error = e
            raise


def _split(name: str, entry: str) -> list[str]:
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise LayerError(f"{entry}: '..' in a path inside a layer")
    return parts


def _join(parent: str, name: str) -> str:
    return f"{parent}/{name}" if parent else name


def _xattrs(m: Entry) -> list[tuple[str, bytes]]:
    return [(name, value) for name, value in m.xattrs.items() if not name.startswith(_FORBIDDEN_XATTRS)]


def _set_xattr(target: int | str, name: str, value: bytes, entry: str) -> None:
    try:
        if isinstance(target, int):
            os.setxattr(target, name, value)
        else:
            os.setxattr(target, name, value, follow_symlinks=False)
    except OSError as e:
        # LSM labels (security.selinux, ...) are refused by file systems or policies that do not
        # know them, and the runtime relabels anyway; file capabilities must not be lost silently.
        if name.startswith("security.") and name != "security.capability" and e.errno in (
            errno.ENOTSUP, errno.EPERM, errno.EACCES, errno.EINVAL,
        ):
            return
        raise LayerError(f"{entry}: cannot set xattr {name}: {e.strerror}") from e


class _Unpacker:
    def __init__(self, dest: str) -> None:
        self.size = 0
        self._root = os.open(dest, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        # Real (symlink-free) path relative to dest -> open directory fd. Insertion order = age.
        self._fds: dict[str, int] = {}
        # Directory attributes wait for the end: writing children would reset their mtimes.
        self._dirs: dict[str, Entry] = {}
        # Paths where this layer put a whiteout device, so a later entry of the same name wins.
        self._whiteouts: set[str] = set()

    def close(self) -> None:
        for fd in self._fds.values():
            os.close(fd)
        self._fds.clear()
        os.close(self._root)

    def run(self, stream: Readable) -> None:
        entry = "<layer start>"
        source = _Source(stream)
        try:
            tar = TarReader(source)
            for member in tar:
                entry = member.name
                self._trim()
                self._entry(tar, member)
            entry = "<layer end>"
            for key, member in self._dirs.items():
                entry = member.name
                self._trim()
                self._dir_attrs(key, member)
        # tarstream's TarFormatError is a ValueError, as is the embedded NUL os calls refuse.
        except (OSError, ValueError) as e:
            if e is source.error:
                raise
            reason = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
            raise LayerError(f"{entry}: {reason}") from e

    # -- directory fds --------------------------------------------------------------------------

    def _trim(self) -> None:
        # Only between entries: an fd closed mid-entry could be reused under a caller's feet.
        if len(self._fds) > _MAX_CACHED_DIRS:
            for key in list(self._fds)[: _MAX_CACHED_DIRS // 2]:
                os.close(self._fds.pop(key))

    def _forget(self, key: str) -> None:
        """Drop everything known under `key`, a directory that was just removed."""
        prefix = key + "/"
        for k in [k for k in self._fds if k == key or k.startswith(prefix)]:
            os.close(self._fds.pop(k))
        for k in [k for k in self._dirs if k == key or k.startswith(prefix)]:
            del self._dirs[k]
        self._whiteouts = {k for k in self._whiteouts if not k.startswith(prefix)}

    def _parent(self, parts: list[str], entry: str, strict: bool = False) -> tuple[int, str]:
        """(fd, real path) of the directory `parts` inside dest.

        Missing directories are created and parent symlinks resolved chroot-like; with `strict` (for
        hardlink targets) a missing directory or a symlink is an error instead.
        """
        key = "/".join(parts)
        fd = self._fds.get(key)
        if fd is not None:
            return fd, key
        fd, real = self._root, []
        pending = list(reversed(parts))
        hops = 0
        while pending:
            name = pending.pop()
            if name in ("", "."):
                continue
            if name == "..":
                # Only symlink targets bring `..` here; it stops at dest like a chroot's root.
                if real:
                    real.pop()
                    # Every prefix of `real` was opened on the way down and no fd is dropped
                    # during an entry, so the parent is cached (or is the root).
                    fd = self._fds["/".join(real)] if real else self._root
                continue
            key = _join("/".join(real), name)
            child = self._subdir(fd, name, key, entry, strict)
            if child is None:
                hops += 1
                if hops > _MAX_SYMLINK_HOPS:
                    raise LayerError(f"{entry}: too many levels of symbolic links")
                target = os.readlink(name, dir_fd=fd)
                if target.startswith("/"):
                    fd, real = self._root, []
                pending.extend(reversed(target.split("/")))
                continue
            fd = child
            real.append(name)
        return fd, "/".join(real)

    def _subdir(self, pfd: int, name: str, key: str, entry: str, strict: bool) -> int | None:
        """fd of directory `name` in `pfd`, created if missing; None if it is a symlink to follow."""
        fd = self._fds.get(key)
        if fd is not None:
            return fd
        try:
            fd = os.open(name, _DIR_FLAGS, dir_fd=pfd)
        except FileNotFoundError:
            if strict:
                raise LayerError(f"{entry}: hardlink target directory {key} does not exist") from None
            fd = self._mkdir(pfd, name, implicit=True)
        except NotADirectoryError:
            is_link = stat.S_ISLNK(os.lstat(name, dir_fd=pfd).st_mode)
            if strict:
                what = "is reached through a symlink" if is_link else "is not in a directory"
                raise LayerError(f"{entry}: hardlink target {what} ({key})") from None
            if is_link:
                return None
            if key not in self._whiteouts:
                raise LayerError(f"{entry}: {key} is not a directory") from None
            # A directory of this layer over its own whiteout: see the module docstring.
            self._remove(pfd, name, key)
            fd = self._mkdir(pfd, name, implicit=True)
            os.setxattr(fd, _OPAQUE_XATTR, b"y")
        self._fds[key] = fd
        return fd

    def _mkdir(self, pfd: int, name: str, implicit: bool) -> int:
        os.mkdir(name, 0o755, dir_fd=pfd)
        fd = os.open(name, _DIR_FLAGS, dir_fd=pfd)
        if implicit:
            # Not listed in the tar, so it gets no attributes later: undo any restrictive umask.
            os.fchmod(fd, 0o755)
        return fd

    def _remove(self, pfd: int, name: str, key: str) -> None:
        """Clear the way for a new entry at `key` (layers replace, never merge, non-directories)."""
        try:
            os.unlink(name, dir_fd=pfd)
        except IsADirectoryError:
            shutil.rmtree(name, dir_fd=pfd)
            self._forget(key)
        self._whiteouts.discard(key)

    # -- entries --------------------------------------------------------------------------------

    def _entry(self, tar: TarReader, m: Entry) -> None:
        parts = _split(m.name, m.name)
        if _WHITEOUT in m.name:  # cheap test first: this runs for every entry
            if parts[-1] != _OPAQUE and any(p.startswith(_AUFS_META) for p in parts):
                return  # AUFS bookkeeping (.wh..wh.plnk, .wh..wh.aufs): not part of the image
            if parts[-1].startswith(_WHITEOUT):
                self._whiteout(m, parts)
                return
        if not parts:
            if m.type != DIRTYPE:
                raise LayerError(f"{m.name}: only a directory may name the layer root")
            self._dirs[""] = m
            return
        pfd, pkey = self._parent(parts[:-1], m.name)
        name = parts[-1]
        key = _join(pkey, name)
        kind = m.type
        if kind == REGTYPE:
            self._file(tar, m, pfd, name, key)
        elif kind == DIRTYPE:
            self._directory(m, pfd, name, key)
        elif kind == SYMTYPE:
            self._create(lambda: os.symlink(m.linkname, name, dir_fd=pfd), pfd, name, key)
            self._attrs_by_name(m, pfd, name)
        elif kind == LNKTYPE:
            self._hardlink(m, pfd, name, key)
        elif kind in (CHRTYPE, BLKTYPE, FIFOTYPE):
            self._node(m, pfd, name, key)
        else:
            raise LayerError(f"{m.name}: unsupported tar entry type {m.type!r}")

    def _create(self, make: Callable[[], object], pfd: int, name: str, key: str) -> None:
        """Run `make` (an *at call creating `name`), replacing what a previous entry left there."""
        try:
            make()
        except FileExistsError:
            self._remove(pfd, name, key)
            make()

    def _file(self, tar: TarReader, m: Entry, pfd: int, name: str, key: str) -> None:
        try:
            fd = os.open(name, _FILE_FLAGS, 0o600, dir_fd=pfd)
        except FileExistsError:
            self._remove(pfd, name, key)
            fd = os.open(name, _FILE_FLAGS, 0o600, dir_fd=pfd)
        try:
            # read_data raises if the layer ends early, so this loop always ends.
            while view := tar.read_data():
                while view:
                    view = view[os.write(fd, view):]
            self.size += m.size
            # chown clears setuid/setgid and security.capability, so it goes first.
            os.fchown(fd, m.uid, m.gid)
            os.fchmod(fd, m.mode & 0o7777)
            for xname, value in _xattrs(m):
                _set_xattr(fd, xname, value, m.name)
            os.utime(fd, ns=(m.mtime_ns, m.mtime_ns))
        finally:
            os.close(fd)

    def _directory(self, m: Entry, pfd: int, name: str, key: str) -> None:
        if key not in self._fds:
            try:
                fd = os.open(name, _DIR_FLAGS, dir_fd=pfd)
            except FileNotFoundError:
                fd = self._mkdir(pfd, name, implicit=False)
            except NotADirectoryError:
                opaque = key in self._whiteouts
                self._remove(pfd, name, key)
                fd = self._mkdir(pfd, name, implicit=False)
                if opaque:
                    os.setxattr(fd, _OPAQUE_XATTR, b"y")
            self._fds[key] = fd
        self._dirs[key] = m

    def _dir_attrs(self, key: str, m: Entry) -> None:
        fd = self._root if not key else self._parent(key.split("/"), m.name, strict=True)[0]
        os.fchown(fd, m.uid, m.gid)
        os.fchmod(fd, m.mode & 0o7777)
        for xname, value in _xattrs(m):
            _set_xattr(fd, xname, value, m.name)
        os.utime(fd, ns=(m.mtime_ns, m.mtime_ns))

    def _node(self, m: Entry, pfd: int, name: str, key: str) -> None:
        if m.type == FIFOTYPE:
            kind, dev = stat.S_IFIFO, 0
        else:
            kind = stat.S_IFCHR if m.type == CHRTYPE else stat.S_IFBLK
            # The kernel's dev_t holds a 12-bit major and a 20-bit minor.
            if not (0 <= m.devmajor < 1 << 12 and 0 <= m.devminor < 1 << 20):
                raise LayerError(f"{m.name}: device number {m.devmajor}:{m.devminor} out of range")
            dev = os.makedev(m.devmajor, m.devminor)
        self._create(lambda: os.mknod(name, kind | 0o600, dev, dir_fd=pfd), pfd, name, key)
        os.chown(name, m.uid, m.gid, dir_fd=pfd, follow_symlinks=False)
        # Plain fchmodat: we just created `name` as a node, and glibc < 2.32 cannot do NOFOLLOW.
        os.chmod(name, m.mode & 0o7777, dir_fd=pfd)
        self._attrs_by_name(m, pfd, name, owner=False)

    def _attrs_by_name(self, m: Entry, pfd: int, name: str, owner: bool = True) -> None:
        """Owner, xattrs and mtime of a symlink or node, which we hold no fd to."""
        if owner:
            os.chown(name, m.uid, m.gid, dir_fd=pfd, follow_symlinks=False)
        for xname, value in _xattrs(m):
            # setxattr has no dir_fd form; the /proc magic link pins the parent we already hold.
            _set_xattr(f"/proc/self/fd/{pfd}/{name}", xname, value, m.name)
        os.utime(name, ns=(m.mtime_ns, m.mtime_ns), dir_fd=pfd, follow_symlinks=False)

    def _hardlink(self, m: Entry, pfd: int, name: str, key: str) -> None:
        tparts = _split(m.linkname, m.name)
        if not tparts:
            raise LayerError(f"{m.name}: hardlink to the layer root")
        tfd, tparent = self._parent(tparts[:-1], m.name, strict=True)
        tname = tparts[-1]
        tkey = _join(tparent, tname)
        try:
            target_mode = os.lstat(tname, dir_fd=tfd).st_mode
        except FileNotFoundError:
            raise LayerError(f"{m.name}: hardlink target {m.linkname} does not exist") from None
        if stat.S_ISDIR(target_mode):
            raise LayerError(f"{m.name}: hardlink to a directory ({m.linkname})")
        if tkey == key or tkey.startswith(key + "/"):
            # Replacing the entry would delete the target first (and close tfd).
            raise LayerError(f"{m.name}: hardlink onto its own target {m.linkname}")
        # No attributes: the inode is the target's, which already carries its own entry's.
        self._create(
            lambda: os.link(tname, name, src_dir_fd=tfd, dst_dir_fd=pfd, follow_symlinks=False),
            pfd, name, key,
        )

    def _whiteout(self, m: Entry, parts: list[str]) -> None:
        base = parts[-1]
        pfd, pkey = self._parent(parts[:-1], m.name)
        if base == _OPAQUE:
            os.setxattr(pfd, _OPAQUE_XATTR, b"y")
            return
        hidden = base[len(_WHITEOUT):]
        if hidden in ("", ".", ".."):
            raise LayerError(f"{m.name}: invalid whiteout entry")
        key = _join(pkey, hidden)
        try:
            existing = os.lstat(hidden, dir_fd=pfd).st_mode
        except FileNotFoundError:
            os.mknod(hidden, stat.S_IFCHR, os.makedev(0, 0), dir_fd=pfd)
            self._whiteouts.add(key)
            return
        if stat.S_ISDIR(existing):
            # The layer both deletes the lower directory and ships one: only its own content shows.
            fd = self._subdir(pfd, hidden, key, m.name, strict=False)
            os.setxattr(fd, _OPAQUE_XATTR, b"y")
        # Any other existing entry (or an earlier identical whiteout) already hides the lower one.
