"""Small file-system helpers every module shares: the engine root's modes, atomic writes, digests, locks."""

from __future__ import annotations

import fcntl
import os
import re
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tuiker.base.errors import DigestMismatchError, TuikerError

_DIGEST_RE = re.compile(r"sha256:[a-f0-9]{64}")  # fullmatch: `$` would let a trailing newline through

# The engine root: others may pass through it (0711), never list it. Everything in it names images or holds
# state (tags, configs with their environment, logs, leases): directories 0700, files 0600. Modes are set
# with chmod, not left to the umask: under umask 0 a mkdir(0o755) would leave a world-writable root.
ROOT_MODE = 0o711
PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600


def open_root(root: Path) -> None:
    """Make the engine root if it is missing, and put right the modes of the root and of its top-level
    entries: roots made by older versions had tags.json 0644 and directories as the umask left them.
    Only the top level: that is where access is decided, and it costs a dozen stat calls."""
    try:
        os.mkdir(root, ROOT_MODE)
    except FileExistsError:
        pass
    except FileNotFoundError:
        for parent in reversed([p for p in root.parents if not p.exists()]):
            _mkdir_exact(parent, 0o755)  # not 0777 under umask 0: a writable parent lets the root be swapped
        _mkdir_exact(root, ROOT_MODE)
    _chmod_if(root, ROOT_MODE)
    for entry in os.scandir(root):
        if entry.is_dir(follow_symlinks=False):
            _chmod_if(entry.path, PRIVATE_DIR)
        elif entry.is_file(follow_symlinks=False):
            _chmod_if(entry.path, PRIVATE_FILE)


def private_dir(root: Path, relative: str) -> Path:
    """`root/relative`, made if missing: each new directory 0700 whatever the umask, and the root as
    open_root makes it."""
    path = root / relative
    if not path.is_dir():
        open_root(root)
        current = root
        for part in Path(relative).parts:
            current = current / part
            _mkdir_exact(current, PRIVATE_DIR)
    return path


def _mkdir_exact(path: Path, mode: int) -> None:
    try:
        os.mkdir(path, mode)
    except FileExistsError:
        return
    os.chmod(path, mode)  # mkdir's mode passes through the umask


def _chmod_if(path: str | os.PathLike, mode: int) -> None:
    try:
        if stat.S_IMODE(os.stat(path).st_mode) != mode:
            os.chmod(path, mode)
    except FileNotFoundError:
        pass  # removed meanwhile (a temp file renamed into place)
    except PermissionError:
        pass  # not ours to change: then not ours to use either, and the caller fails on it with a message


def atomic_write(path: str | os.PathLike, data: bytes, mode: int = PRIVATE_FILE, sync: bool = True) -> None:
    """Write `data` to `path` so readers see either the old file or the whole new one, never half.

    The temp file sits in the same directory (rename is only atomic within one file system) and is
    fsynced before the rename, so a crash of the host cannot leave a renamed but empty file; `sync=False`
    leaves that out, for a file whose reader takes a torn one for damaged and copes (see read_json). It gets
    exactly `mode` (fchmod: the umask must not decide who reads a container's hosts file, or its config).
    """
    path = os.fspath(path)
    tmp = f"{path}.tmp-{os.getpid()}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC, mode)
    try:
        os.fchmod(fd, mode)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        if sync:
            os.fsync(fd)
    except BaseException:
        os.close(fd)
        os.unlink(tmp)
        raise
    os.close(fd)
    os.rename(tmp, path)


class DamagedFileError(TuikerError):
    """A document of the engine's own that cannot be parsed: torn by a full disk or a crash of the host."""


def read_json(path: str | os.PathLike, kind: type = dict):
    """A JSON document the engine wrote, which must be a `kind`. FileNotFoundError passes through; anything
    unreadable is a DamagedFileError, which each caller turns into its own way of going on without the file
    (a container listed as dead, an image record skipped), so that one bad file never locks out the engine."""
    import json

    try:
        with open(path, "rb") as f:
            data = json.loads(f.read())
    except (ValueError, UnicodeDecodeError) as e:
        raise DamagedFileError(f"damaged file {os.fspath(path)}: {e}") from None
    except IsADirectoryError:
        raise DamagedFileError(f"damaged file {os.fspath(path)}: a directory") from None
    if not isinstance(data, kind):
        raise DamagedFileError(f"damaged file {os.fspath(path)}: not a JSON {kind.__name__}")
    return data


def write_new(path: str | os.PathLike, data: bytes, mode: int = PRIVATE_FILE) -> None:
    """Create `path` with `data`, for a file in a staging directory nobody reads until it is renamed into place:
    no temp name and no fsync (kill -9 leaves the staging directory, which the next sweep removes; a crash of
    the host may leave a torn file, which readers take for a damaged one, see read_json)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, mode)
    try:
        os.fchmod(fd, mode)  # whatever the umask
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
    finally:
        os.close(fd)


def sha256_digest(data: bytes) -> str:
    import hashlib  # not at the top: fsutil is on every command's path, hashlib costs ~5 ms

    return "sha256:" + hashlib.sha256(data).hexdigest()


def check_digest(digest: str) -> str:
    """Only sha256 digests name files in the store: anything else could be a path trick."""
    if not isinstance(digest, str) or not _DIGEST_RE.fullmatch(digest):
        raise DigestMismatchError(f"unsupported or malformed digest {repr(digest)[:80]}")
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
