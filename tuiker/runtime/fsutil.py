"""Small file-system helpers every module shares: atomic writes, digests, locks."""

from __future__ import annotations

import fcntl
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tuiker.runtime.errors import DigestMismatchError

_DIGEST_RE = re.compile(r"^sha256:[a-f0-9]{64}$")


def atomic_write(path: str | os.PathLike, data: bytes, mode: int = 0o644) -> None:
    """Write `data` to `path` so readers see either the old file or the whole new one, never half.

    The temp file sits in the same directory (rename is only atomic within one file system) and is
    fsynced before the rename, so a crash cannot leave a renamed but empty file.
    """
    path = os.fspath(path)
    tmp = f"{path}.tmp-{os.getpid()}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, mode)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        os.unlink(tmp)
        raise
    os.close(fd)
    os.rename(tmp, path)


def sha256_digest(data: bytes) -> str:
    import hashlib  # not at the top: fsutil is on every command's path, hashlib costs ~5 ms

    return "sha256:" + hashlib.sha256(data).hexdigest()


def check_digest(digest: str) -> str:
    """Only sha256 digests name files in the store: anything else could be a path trick."""
    if not _DIGEST_RE.match(digest or ""):
        raise DigestMismatchError(f"unsupported or malformed digest {digest!r}")
    return digest


def verify(data: bytes, digest: str, what: str) -> None:
    actual = sha256_digest(data)
    if actual != digest:
        raise DigestMismatchError(f"{what}: digest mismatch: expected {digest}, got {actual}")


@contextmanager
def flocked(path: str | os.PathLike, shared: bool = False, blocking: bool = True) -> Iterator[bool]:
    """Hold a flock on `path` (created if needed); yields False if `blocking` is off and it is taken.
    The kernel drops it when the holder dies, even by kill -9, so a crash never leaves it locked."""
    fd = os.open(os.fspath(path), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        flags = (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | (0 if blocking else fcntl.LOCK_NB)
        try:
            fcntl.flock(fd, flags)
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def dir_size(path: Path) -> int:
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except FileNotFoundError:
                pass
    return total
