"""The file-system steps of a build that run no command: COPY, ADD and WORKDIR's mkdir.

They write into a scratch root: an overlay of the stage's layers with an upper directory of its own under the
store's tmp (swept if the build dies), which then becomes the step's layer. Nothing is resolved from the host:
what lands in the image is written by runtime/copy.py's helper, chrooted into that overlay, so a symlink in the
image (`/app -> /etc`, or `../../..`) leads only to the image's own files, as docker's FollowSymlinkInScope.

The sources reach that helper as a tar stream on a pipe, each source a top-level member named by its index ("0",
"0/sub/file", "1" ...) with its base name in a PAX header: from the build context (packed here, owned by 0:0, as
the docker CLI sends it), from a heredoc, or from another stage's or image's root (packed by a second helper
chrooted there, ownership kept, as BuildKit's COPY --from).

Where a source lands follows docker: a directory's *contents* go into the destination; a file goes to DEST, or
into DEST when DEST ends with `/` or is a directory; several sources need a directory (`/` at the end); missing
directories are made (0755, owned by --chown's user). ADD unpacks a local tar (plain, gzip, bzip2 or xz, known by
its content) into the destination with the store's layer unpacker (names stay inside the destination)."""

from __future__ import annotations

import bz2
import glob
import gzip
import io
import lzma
import os
import posixpath
import shutil
import stat
import tarfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from tuiker.base.errors import TuikerError
from tuiker.image.layers import unpack_layer
from tuiker.runtime import users

# The helper bodies below run chrooted in an image, where no module can be imported any more: everything they
# use is imported here, before the fork.

TYPE_CHECKING = False
if TYPE_CHECKING:
    from tuiker.image.store import Store

NAME_HEADER = "TUIKER.name"  # a source's base name, on its top-level member
ARCHIVE_HEADER = "TUIKER.archive"  # ADD: this file is a tar to unpack
MULTI_SOURCE = "When using COPY with more than one source file, the destination must be a directory and end with a /"


class ScratchRoot:
    """A root to write a step into: the image's layers under an upper directory of its own; `upper` is what the
    step wrote. Stands in for a container with runtime/copy.py's helper (one that never ran)."""

    def __init__(self, store: Store, layers: list[str], work: Path) -> None:
        from tuiker.runtime.containers import Container

        self.dir = work
        self.upper = work / "upper"
        for sub in ("upper", "work"):
            (work / sub).mkdir(mode=0o755)
        os.chmod(self.upper, 0o755)  # the image's "/" unless a layer says otherwise
        lower = [d.removeprefix("sha256:") for d in layers]
        if not lower:  # FROM scratch: overlay needs a lower directory, so an empty one (relative to layers/)
            (work / "empty" / "diff").mkdir(parents=True)
            lower = [os.path.relpath(work / "empty", store.layers)]
        self.container = Container("build", work, {"Layers": lower, "mounts": []}, {"Status": "created"})

    def run(self, store: Store, body: Callable[[], None], keep: tuple[int, ...] = ()) -> Callable[[], None]:
        """Fork the helper that runs `body` chrooted in this root; returns its wait()."""
        from tuiker.runtime.copy import in_container

        return in_container(store.root, self.container, body, keep)

    def changed(self) -> bool:
        return any(os.scandir(self.upper))


@contextmanager
def scratch_root(store: Store, layers: list[str]) -> Iterator[ScratchRoot]:
    """A ScratchRoot under the store's tmp, removed when done (or by the store's sweep if we are killed)."""
    work = store.tmp_path("-build")
    work.mkdir(mode=0o700)
    try:
        yield ScratchRoot(store, layers, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def is_archive(path: str) -> bool:
    """A tar, plain or compressed (gzip, bzip2, xz), by its content, as docker's ADD decides."""
    try:
        with open(path, "rb") as f:
            head = f.read(512)
    except OSError:
        return False
    if head.startswith((b"\x1f\x8b", b"BZh", b"\xfd7zXZ\x00")):
        return True
    return len(head) >= 262 and head[257:262] == b"ustar"


# -- the sources' side ---------------------------------------------------------------------------------------

def _tarinfo(tar: tarfile.TarFile, path: str, name: str, owner_zero: bool) -> tarfile.TarInfo:
    info = tar.gettarinfo(path, arcname=name)
    if owner_zero:
        info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def _add(tar: tarfile.TarFile, path: str, name: str, owner_zero: bool, headers: dict | None = None) -> None:
    info = _tarinfo(tar, path, name, owner_zero)
    if headers:
        info.pax_headers = headers
    if info.isreg():
        with open(path, "rb") as f:
            tar.addfile(info, f)
    else:
        tar.addfile(info)


def pack_context(out, root: Path, sources: list[tuple[str, str, list[str]]], archives: bool) -> None:
    """Sources from the build context into the stream: (the path as named, its real path, the entries under it
    that .dockerignore keeps, relative to the context, for a directory). With `archives` (ADD), a tar file is
    marked for unpacking."""
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        for index, (rel, real, inside) in enumerate(sources):
            headers = {NAME_HEADER: posixpath.basename(rel.rstrip("/")) or "."}
            if archives and os.path.isfile(real) and is_archive(real):
                headers[ARCHIVE_HEADER] = "1"
            _add(tar, real, str(index), True, headers)
            top = os.path.relpath(real, root)
            for sub in inside:
                _add(tar, os.path.join(root, sub), f"{index}/{os.path.relpath(sub, top)}", True)


def pack_heredoc(out, files: list[tuple[str, bytes]]) -> None:
    """COPY <<EOF: each heredoc a regular file (0644, root's), named by its delimiter word."""
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        for index, (name, data) in enumerate(files):
            info = tarfile.TarInfo(str(index))
            info.size, info.mode, info.mtime = len(data), 0o644, int(time.time())
            info.pax_headers = {NAME_HEADER: name}
            tar.addfile(info, io.BytesIO(data))


def pack_rootfs(out_fd: int, patterns: list[str]) -> Callable[[], None]:
    """The body of a helper chrooted in another stage's (or image's) root: the paths (wildcards allowed)
    into the stream, ownership kept."""
    def body() -> None:
        no_name_lookups()
        with os.fdopen(out_fd, "wb") as out, \
                tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
            index = 0
            for pattern in patterns:
                path = "/" + pattern.lstrip("/")
                found = sorted(glob.glob(path)) if glob.has_magic(path) else [path]
                found = [p for p in found if os.path.lexists(p)]
                if not found:
                    raise TuikerError(f"COPY failed: stat {path}: file does not exist")
                for match in found:
                    name = posixpath.basename(posixpath.normpath(match)) or "."
                    _add(tar, match, str(index), False, {NAME_HEADER: name})
                    if os.path.isdir(match) and not os.path.islink(match):
                        for dirpath, dirnames, filenames in os.walk(match):
                            dirnames.sort()
                            for entry in sorted(dirnames + filenames):
                                full = os.path.join(dirpath, entry)
                                _add(tar, full, f"{index}/{os.path.relpath(full, match)}", False)
                    index += 1
    return body


def no_name_lookups() -> None:
    """In a helper, before a path of the image is touched: tarfile must not map IDs to names with pwd/grp,
    which would load the image's NSS libraries into a root process of ours (CVE-2019-14271)."""
    tarfile.pwd = None
    tarfile.grp = None


# -- the destination's side (in the helper, chrooted in the scratch root) -------------------------------------

def chown_ids(spec: str | None) -> tuple[int, int] | None:
    """--chown=user[:group] (names from the image's /etc/passwd and /etc/group); a user alone is also the group,
    as docker's reference says."""
    if not spec:
        return None
    user, sep, group = spec.partition(":")
    uid = users.resolve(user, "/").uid
    gid = users.resolve(f"{user}:{group}", "/").gid if sep and group else uid
    return uid, gid


def make_dirs(path: str, owner: tuple[int, int] | None) -> None:
    """mkdir -p, each directory made 0755 and owned by `owner` (root's without)."""
    parts = [p for p in path.split("/") if p]
    current = "/"
    for part in parts:
        current = posixpath.join(current, part)
        if os.path.isdir(current):  # followed in the chroot: a symlink to a directory is one
            continue
        if os.path.lexists(current):
            raise TuikerError(f"mkdir {current}: not a directory")
        os.mkdir(current, 0o755)
        os.chmod(current, 0o755)
        os.lchown(current, *(owner or (0, 0)))


def _remove_existing(path: str, keep_dir: bool) -> None:
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if stat.S_ISDIR(st.st_mode):
        if keep_dir:
            return
        shutil.rmtree(path)
    else:
        os.unlink(path)


def place_stream(in_fd: int, dest: str, dest_is_dir: bool, chown: str | None, chmod: int | None) -> Callable[[], None]:
    """The body of the helper that writes the sources into the scratch root at `dest` (absolute), with docker's
    rules (see the module's docstring)."""
    def body() -> None:
        no_name_lookups()
        owner = chown_ids(chown)
        targets: dict[str, str | None] = {}  # top-level member -> where its contents go (None: nowhere else)
        placed: dict[str, str] = {}  # member name -> path written (for hard links)
        dir_times: list[tuple[str, int]] = []
        with os.fdopen(in_fd, "rb") as stream, tarfile.open(fileobj=stream, mode="r|") as tar:
            for m in tar:
                top, _, rest = m.name.partition("/")
                if not rest:
                    if targets and not dest_is_dir:
                        raise TuikerError(MULTI_SOURCE)
                    name = m.pax_headers.get(NAME_HEADER, top)
                    if m.pax_headers.get(ARCHIVE_HEADER):
                        make_dirs(dest, owner)
                        _unpack_archive(tar.extractfile(m), dest)
                        targets[top] = None
                        continue
                    if m.isdir():
                        make_dirs(dest, owner)
                        targets[top] = dest
                        continue
                    if dest_is_dir or os.path.isdir(dest):
                        make_dirs(dest, owner)
                        path = posixpath.join(dest, name)
                    else:
                        make_dirs(posixpath.dirname(dest), owner)
                        path = dest
                    targets[top] = None
                else:
                    base = targets.get(top)
                    if base is None or ".." in rest.split("/"):
                        raise TuikerError(f"refusing the archive member {m.name!r}")
                    path = posixpath.join(base, rest)
                    if not os.path.isdir(posixpath.dirname(path)):  # a kept entry under an excluded directory
                        make_dirs(posixpath.dirname(path), owner)
                _write(tar, m, path, owner, chmod, placed)
                placed[m.name] = path
                if m.isdir():
                    dir_times.append((path, int(m.mtime)))
        for path, mtime in reversed(dir_times):  # after their contents, which change them
            os.utime(path, (mtime, mtime), follow_symlinks=False)
    return body


def _write(tar: tarfile.TarFile, m: tarfile.TarInfo, path: str, owner: tuple[int, int] | None,
           chmod: int | None, placed: dict[str, str]) -> None:
    _remove_existing(path, keep_dir=m.isdir())
    if m.isdir():
        if not os.path.isdir(path):
            os.mkdir(path, 0o700)
    elif m.isreg():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        with os.fdopen(fd, "wb") as f, tar.extractfile(m) as data:
            while chunk := data.read(1 << 20):
                f.write(chunk)
    elif m.issym():
        os.symlink(m.linkname, path)
    elif m.islnk():
        target = placed.get(m.linkname)
        if target is None:
            raise TuikerError(f"refusing the hard link {m.name!r}: its target is not part of the copy")
        os.link(target, path, follow_symlinks=False)
        return
    elif m.isfifo():
        os.mkfifo(path, 0o600)
    elif m.ischr() or m.isblk():
        kind = stat.S_IFCHR if m.ischr() else stat.S_IFBLK
        os.mknod(path, kind | 0o600, os.makedev(m.devmajor, m.devminor))
    else:
        return
    os.lchown(path, *(owner or (m.uid, m.gid)))
    if not m.issym():
        os.chmod(path, chmod if chmod is not None else m.mode & 0o7777)
    os.utime(path, (m.mtime, m.mtime), follow_symlinks=False)


def _unpack_archive(data, dest: str) -> None:
    """ADD's unpacking of a tar (compressed or not) into `dest`: the store's layer unpacker, which keeps every
    name inside `dest` (leading `/` and `..` refused, symlinks on the way resolved within it)."""
    head = data.peek(6)[:6] if hasattr(data, "peek") else b""
    if not head:
        data = io.BufferedReader(data)
        head = data.peek(6)[:6]
    if head.startswith(b"\x1f\x8b"):
        data = gzip.GzipFile(fileobj=data)
    elif head.startswith(b"BZh"):
        data = bz2.BZ2File(data)
    elif head.startswith(b"\xfd7zXZ\x00"):
        data = lzma.LZMAFile(data)
    unpack_layer(data, dest)


def workdir_body(path: str, user: str) -> Callable[[], None]:
    """WORKDIR's mkdir -p, the new directories owned by the stage's USER (BuildKit's Mkdir WithUser)."""
    def body() -> None:
        owner = None
        if user:
            found = users.resolve(user, "/")
            owner = (found.uid, found.gid)
        make_dirs(path, owner)
    return body
