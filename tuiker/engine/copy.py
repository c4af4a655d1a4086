"""`cp` between a container and the host, with docker's rules for where things land:

    SRC a file:       DST missing -> saved as DST; DST a file -> overwritten; DST a directory -> DST/basename(SRC)
    SRC a directory:  DST missing -> made, with SRC's content; DST a directory -> DST/basename(SRC), or with
                      SRC ending in `/.`, SRC's content into DST; DST a file -> an error
    `-` as DST: a tar of SRC on stdout; `-` as SRC: a tar from stdin unpacked into the directory DST.

The container's side runs in runtime/copy.py's helper, chrooted into the container (its symlinks never lead to the
host). What comes out of a container is a tar stream from it, unpacked on the host with tarfile's `tar` filter: no
member lands outside the destination (absolute names, `..`, or a path through a symlink an earlier member made)."""

from __future__ import annotations

import os
import posixpath
import tarfile
from typing import BinaryIO

from tuiker.base.errors import NotFoundError, TuikerError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pathlib import Path

    from tuiker.runtime.containers import Container


def _plan(dst: str, dst_is_dir: bool, dst_exists: bool, src_is_dir: bool,
          contents_only: bool) -> tuple[str, str | None]:
    """(the directory to unpack into, the name SRC's top entry takes there: None to unpack its content)."""
    if dst_is_dir:
        return dst, None if src_is_dir and contents_only else ""
    if dst_exists:
        if src_is_dir:
            raise TuikerError(f'cannot overwrite non-directory "{dst}" with directory')
        return posixpath.dirname(dst) or ".", posixpath.basename(dst)
    if dst.endswith("/") and not src_is_dir:
        raise TuikerError(f'destination directory "{dst}" does not exist')
    parent = posixpath.dirname(dst.rstrip("/")) or "."
    if not os.path.isdir(parent):
        raise TuikerError(f'destination directory "{parent}" does not exist')
    return parent, posixpath.basename(dst.rstrip("/"))


def _renamed(members, top: str | None, owner: tuple[int, int] | None):
    """The members with SRC's top entry renamed to `top` ("" keeps its name; None drops it, keeping its content),
    owned by `owner` unless None (-a keeps the tar's)."""
    def rename(name: str) -> str | None:
        _, _, rest = name.lstrip("/").partition("/")
        if top is None:
            return rest or None
        return (f"{top}/{rest}" if rest else top) if top else name

    for m in members:
        name = rename(m.name)
        if name is None:
            continue
        m.name = name
        if m.islnk():  # a hard link names another member of the archive: renamed alike
            m.linkname = rename(m.linkname) or "."
        if owner is not None:
            m.uid, m.gid = owner
            m.uname = m.gname = ""
        yield m


def _unpack(tar: tarfile.TarFile, members, base: str, top: str | None, owner: tuple[int, int] | None,
            trusted: bool) -> None:
    for m in _renamed(members, top, owner):
        if trusted:  # inside the container's chroot: nothing beyond it to reach; names still kept under `base`
            if m.name.startswith("/") or ".." in m.name.split("/"):
                raise TuikerError(f"refusing the archive member {m.name!r}: it leaves the destination")
            tar.extract(m, base, numeric_owner=True, filter="fully_trusted")
        else:
            tar.extract(m, base, numeric_owner=True, filter="tar")


def copy_out(root: Path, c: Container, src: str, dst: str, archive: bool = False, follow: bool = False,
             stdout: BinaryIO | None = None) -> None:
    """Container path `src` to host path `dst` (`-`: a tar to `stdout`)."""
    from tuiker.runtime.copy import in_container

    r, w = os.pipe2(os.O_CLOEXEC)

    def pack() -> None:
        _no_name_lookups()
        path = src
        try:
            os.lstat(path)
        except FileNotFoundError:
            raise TuikerError(f"Could not find the file {src} in container {c.name}") from None
        if follow and os.path.islink(path):
            path = os.path.realpath(path)  # inside the chroot: the container's own file
        name = posixpath.basename(posixpath.normpath(src)) or "/"
        with os.fdopen(w, "wb") as out, tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
            tar.add(path, arcname=name)

    wait = in_container(root, c, pack, keep=(w,))
    os.close(w)
    try:
        with os.fdopen(r, "rb") as stream:
            if dst == "-":
                out = stdout
                while chunk := stream.read(1 << 16):
                    out.write(chunk)
                out.flush()
            else:
                with tarfile.open(fileobj=stream, mode="r|") as tar:
                    members = iter(tar)
                    first = next(members, None)
                    if first is not None:
                        exists = os.path.exists(dst)
                        base, top = _plan(dst, os.path.isdir(dst), exists, first.isdir(), _contents_only(src))
                        owner = None if archive else (os.getuid(), os.getgid())
                        _unpack(tar, _chain(first, members), base, top, owner, trusted=False)
    except (tarfile.TarError, TuikerError, OSError) as e:
        try:
            wait()
        except TuikerError as child:
            raise child from None
        raise TuikerError(str(e)) from None
    wait()


def copy_in(root: Path, c: Container, src: str, dst: str, archive: bool = False, follow: bool = False,
            stdin: BinaryIO | None = None) -> None:
    """Host path `src` (`-`: a tar from `stdin`) to container path `dst`."""
    from tuiker.runtime.copy import in_container

    if c.config.get("HostConfig", {}).get("ReadonlyRootfs") and c.status in ("running", "paused"):
        raise TuikerError("container rootfs is marked read-only")
    if src != "-":
        try:
            st = os.stat(src) if follow else os.lstat(src)
        except FileNotFoundError:
            raise TuikerError(f"lstat {src}: no such file or directory") from None
        import stat

        src_is_dir = stat.S_ISDIR(st.st_mode)
    else:
        src_is_dir = True
    r, w = os.pipe2(os.O_CLOEXEC)
    owner = None if archive or src == "-" else (0, 0)

    def unpack() -> None:
        _no_name_lookups()
        with os.fdopen(r, "rb") as stream, tarfile.open(fileobj=stream, mode="r|") as tar:
            if src == "-":
                if not os.path.isdir(dst):
                    raise TuikerError(f"destination \"{c.name}:{dst}\" must be a directory")
                _unpack(tar, tar, dst, "", owner, trusted=True)
                return
            members = iter(tar)
            first = next(members, None)
            if first is None:
                return
            if not os.path.exists(posixpath.dirname(dst.rstrip("/")) or "/"):
                raise TuikerError(f"Could not find the file {posixpath.dirname(dst.rstrip('/'))} in container"
                                  f" {c.name}")
            base, top = _plan(dst, os.path.isdir(dst), os.path.exists(dst), src_is_dir, _contents_only(src))
            _unpack(tar, _chain(first, members), base, top, owner, trusted=True)

    wait = in_container(root, c, unpack, keep=(r,))
    os.close(r)
    try:
        with os.fdopen(w, "wb") as out:
            if src == "-":
                while chunk := stdin.read(1 << 16):
                    out.write(chunk)
            else:
                path = os.path.realpath(src) if follow else src
                name = posixpath.basename(posixpath.normpath(src)) or "/"
                with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
                    tar.add(path, arcname=name)
    except BrokenPipeError:
        pass  # the helper stopped reading: its error says why
    wait()


def stat_path(root: Path, c: Container, path: str) -> dict:
    """What docker's archive endpoints tell of a path in the container (its X-Docker-Container-Path-Stat): name,
    size, mode (Go's os.FileMode bits), mtime (RFC 3339) and linkTarget; looked up inside the container."""
    import json

    from tuiker.runtime.copy import in_container

    r, w = os.pipe2(os.O_CLOEXEC)

    def look() -> None:
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            raise TuikerError(f"Could not find the file {path} in container {c.name}") from None
        link = os.readlink(path) if os.path.islink(path) else ""
        with os.fdopen(w, "wb") as out:
            out.write(json.dumps({"size": st.st_size, "mode": st.st_mode, "mtime": st.st_mtime,
                                  "linkTarget": link}).encode())

    wait = in_container(root, c, look, keep=(w,))
    os.close(w)
    with os.fdopen(r, "rb") as stream:
        data = stream.read()
    try:
        wait()
    except TuikerError as e:
        if "Could not find the file" in str(e):
            raise NotFoundError(str(e)) from None
        raise
    found = json.loads(data)
    from datetime import UTC, datetime

    return {"name": posixpath.basename(posixpath.normpath(path)) or "/", "size": found["size"],
            "mode": _go_file_mode(found["mode"]),
            "mtime": datetime.fromtimestamp(found["mtime"], UTC).isoformat().replace("+00:00", "Z"),
            "linkTarget": found["linkTarget"]}


def _go_file_mode(mode: int) -> int:
    """A stat mode as Go's os.FileMode: the permission bits, with the type and the set-id bits moved up top."""
    import stat

    bits = stat.S_IMODE(mode) & 0o777
    kinds = ((stat.S_ISDIR, 1 << 31), (stat.S_ISLNK, 1 << 27), (stat.S_ISBLK, 1 << 26),
             (stat.S_ISCHR, 1 << 26 | 1 << 21), (stat.S_ISFIFO, 1 << 25), (stat.S_ISSOCK, 1 << 24))
    for test, flag in kinds:
        if test(mode):
            bits |= flag
            break
    if mode & stat.S_ISUID:
        bits |= 1 << 23
    if mode & stat.S_ISGID:
        bits |= 1 << 22
    if mode & stat.S_ISVTX:
        bits |= 1 << 20
    return bits


def _contents_only(src: str) -> bool:
    return src.endswith("/.") or src == "."


def _chain(first: tarfile.TarInfo, rest):
    yield first
    yield from rest


def _no_name_lookups() -> None:
    """In the helper, before a path of the container is touched: tarfile must not map uids to names with pwd/grp,
    which would load the container's NSS libraries into a root process of ours (CVE-2019-14271)."""
    tarfile.pwd = None
    tarfile.grp = None
