"""Making a layer: a directory tree (a container's overlay upper dir) or a tar stream becomes a gzip'd layer
blob and an unpacked layer in the store, as a pull would have left them.

    upper dir ──► tar (overlay whiteouts as `.wh.` entries) ──► sha256 (diff id) ──► gzip ──► sha256 (blob)
              ──► produce_layer: the blob unpacked by the same code and checks as a pulled one

Going through the tar rather than moving the directory keeps one way into `layers/`: whatever a container
wrote in its upper dir (overlay xattrs it should not have, odd file types) is judged by the unpacker that
judges registry layers.

The overlay form (moby's overlayWhiteoutConverter): a 0/0 character device is a whiteout, written as an
empty `.wh.NAME` file 0600; a directory with `trusted.overlay.opaque=y` is written, then an empty
`.wh..wh..opq` in it. Entries go in lexical depth-first order with mtimes, modes, owners and xattrs as on
disk and empty user/group names, so the same tree gives the same digests.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import stat
import tarfile
import threading
from collections.abc import Callable, Collection
from pathlib import Path
from typing import BinaryIO

from tuiker.base.errors import LayerError
from tuiker.image.newimage import Layer
from tuiker.image.pull import CHUNK, file_chunks, produce_layer
from tuiker.image.store import Store

_OPAQUE_XATTR = "trusted.overlay.opaque"
# Overlay's own bookkeeping: not content, never written into a layer.
_OVERLAY_XATTRS = ("trusted.overlay.", "user.overlay.")
# Left by overlay features that change what a lower path means (renamed directories, metadata-only copies);
# tuiker mounts without them, so their presence means the tree is not a plain upper dir: refuse, not guess.
_UNSUPPORTED_XATTRS = ("trusted.overlay.redirect", "trusted.overlay.metacopy")
# Fast enough that a build's layers cost little next to its RUN steps; docker also compresses with gzip.
GZIP_LEVEL = 1


def write_layer(store: Store, upper: Path, skip: Collection[str] = ()) -> Layer:
    """The overlay upper dir `upper` as a new layer (or the existing one with the same digest), without the
    entries (and what is below them) whose paths relative to `upper` are in `skip` (`etc/hosts`)."""
    return _store_tar(store, lambda out: write_tar(out, upper, skip))


def write_layer_from_tar(store: Store, stream: BinaryIO) -> Layer:
    """A plain tar stream (e.g. `import`'s, already decompressed) as a new layer."""
    return _store_tar(store, lambda out: _copy_stream(stream, out))


class _HashingWriter:
    def __init__(self, inner) -> None:
        self.inner = inner
        self.sha256 = hashlib.sha256()
        self.size = 0

    def write(self, data) -> int:
        self.sha256.update(data)
        self.size += len(data)
        return self.inner.write(data)

    def flush(self) -> None:
        self.inner.flush()


def _store_tar(store: Store, write_tar: Callable[[_HashingWriter], None]) -> Layer:
    work = store.tmp_path("-newlayer")
    try:
        with open(os.open(work, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600), "wb") as f:
            blob = _HashingWriter(f)
            # mtime 0 and no file name in the gzip header: the blob's digest depends on the tar alone.
            with gzip.GzipFile(filename="", mode="wb", fileobj=blob, mtime=0, compresslevel=GZIP_LEVEL) as gz:
                tar = _HashingWriter(gz)
                write_tar(tar)
        diff_id = "sha256:" + tar.sha256.hexdigest()
        blob_digest = "sha256:" + blob.sha256.hexdigest()
        with store.production_lock(diff_id):
            if store.has_layer(diff_id) and store.has_blob(blob_digest):
                size = store.layer_size(diff_id)
            else:
                size = produce_layer(store, file_chunks(work), blob_digest, blob.size, diff_id,
                                     not store.has_blob(blob_digest), lambda _offset: None, threading.Event())
        return Layer(diff_id, blob_digest, blob.size, size)
    finally:
        work.unlink(missing_ok=True)


def _copy_stream(stream: BinaryIO, out: _HashingWriter) -> None:
    while chunk := stream.read(CHUNK):
        out.write(chunk)


def write_tar(out: BinaryIO, upper: Path, skip: Collection[str] = ()) -> None:
    """The tree at `upper` as a tar on `out`, in layer form (also `export`'s: a merged overlay has no whiteouts
    to convert); symlinks are written as links, never followed."""
    root = os.open(upper, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    # An explicit stack of open directories, not recursion: a tree may be deeper than Python's recursion limit.
    stack: list[tuple[int, str, list[str]]] = [(root, "", _names(root))]
    links: dict[tuple[int, int], str] = {}
    try:
        with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT, copybufsize=CHUNK) as tar:
            while stack:
                dfd, prefix, names = stack[-1]
                if not names:
                    os.close(stack.pop()[0])
                    continue
                name = names.pop()
                if prefix + name in skip:
                    continue
                child = _add_entry(tar, dfd, name, prefix + name, links)
                if child is not None:
                    stack.append((child, prefix + name + "/", _names(child)))
    finally:
        for dfd, *_rest in stack:
            os.close(dfd)


def _names(dfd: int) -> list[str]:
    """A directory's entries, last first: popped from the end, they come out in lexical order."""
    return sorted(os.listdir(dfd), reverse=True)


def _add_entry(tar: tarfile.TarFile, dfd: int, name: str, path: str,
               links: dict[tuple[int, int], str]) -> int | None:
    """Write one entry; for a directory, return its fd so its entries follow."""
    st = os.stat(name, dir_fd=dfd, follow_symlinks=False)
    mode = st.st_mode
    if stat.S_ISSOCK(mode):
        return None  # tar has no sockets; moby's archive skips them too
    if stat.S_ISCHR(mode) and st.st_rdev == 0:
        tar.addfile(_header(_whiteout_name(path), st, tarfile.REGTYPE, 0o600))
        return None
    xattrs = _xattrs(dfd, name, path)
    info = _header(path, st, _TYPES.get(stat.S_IFMT(mode), tarfile.REGTYPE), stat.S_IMODE(mode))
    info.pax_headers = {f"SCHILY.xattr.{k}": v.decode("utf-8", "surrogateescape")
                        for k, v in xattrs.items() if not k.startswith(_OVERLAY_XATTRS)}
    if stat.S_ISDIR(mode):
        info.name += "/"
        tar.addfile(info)
        fd = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dfd)
        if xattrs.get(_OPAQUE_XATTR) == b"y":
            tar.addfile(_header(path + "/.wh..wh..opq", st, tarfile.REGTYPE, stat.S_IMODE(mode)))
        return fd
    if stat.S_ISLNK(mode):
        info.linkname = os.readlink(name, dir_fd=dfd)
    elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        info.devmajor, info.devminor = os.major(st.st_rdev), os.minor(st.st_rdev)
    elif stat.S_ISREG(mode):
        first = links.setdefault((st.st_dev, st.st_ino), path) if st.st_nlink > 1 else path
        if first != path:
            info.type, info.linkname = tarfile.LNKTYPE, first
        else:
            info.size = st.st_size
            fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dfd)
            with open(fd, "rb") as f:
                tar.addfile(info, f)
            return None
    tar.addfile(info)
    return None


_TYPES = {stat.S_IFDIR: tarfile.DIRTYPE, stat.S_IFLNK: tarfile.SYMTYPE, stat.S_IFCHR: tarfile.CHRTYPE,
          stat.S_IFBLK: tarfile.BLKTYPE, stat.S_IFIFO: tarfile.FIFOTYPE, stat.S_IFREG: tarfile.REGTYPE}


def _header(path: str, st: os.stat_result, kind: bytes, mode: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(path)
    info.type = kind
    info.mode = mode
    info.uid, info.gid = st.st_uid, st.st_gid
    info.uname = info.gname = ""
    info.mtime = int(st.st_mtime)
    return info


def _whiteout_name(path: str) -> str:
    parent, _, base = path.rpartition("/")
    return f"{parent}/.wh.{base}" if parent else f".wh.{base}"


def _xattrs(dfd: int, name: str, path: str) -> dict[str, bytes]:
    # Through /proc/self/fd: the xattr calls take no dir fd; the last component is still not followed.
    at = f"/proc/self/fd/{dfd}/{name}"
    try:
        keys = os.listxattr(at, follow_symlinks=False)
    except OSError:
        return {}  # e.g. a symlink on a file system without xattrs on links
    found = {}
    for key in sorted(keys):
        if key.startswith(_UNSUPPORTED_XATTRS):
            raise LayerError(f"{path}: overlay attribute {key} (redirect or metacopy) cannot be made into a layer")
        try:
            found[key] = os.getxattr(at, key, follow_symlinks=False)
        except OSError:
            continue  # removed meanwhile
    return found
