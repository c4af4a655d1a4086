"""`-u USER[:GROUP]` resolved from the container's own /etc/passwd and /etc/group, read as text.

Never through the host's NSS (pwd/grp): glibc would dlopen the image's libnss_*.so into a root process
(CVE-2019-14271). Numeric IDs need no lookup and work in images without those files, as with docker.

These files belong to the image, and are read by the container's own process before it execs (inside its root,
after its fds are closed and its capabilities cut to the container's): the worst an image can put there must
cost nothing. A FIFO would block the read forever, a device node would run a driver's open, a symlink through
/proc could lead to a host file, and a huge file would fill memory. So a file is opened O_NONBLOCK, O_NOFOLLOW,
O_NOCTTY and without magic links, used only if it is a regular file, and read up to MAX_BYTES.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass

from tuiker.base import linux
from tuiker.base.errors import TuikerError

MAX_BYTES = 16 << 20


@dataclass
class User:
    uid: int
    gid: int
    groups: list[int]
    home: str


def read_image_file(path: str) -> str | None:
    """The text of the image's file at `path`, None if it is absent; refuses anything but a regular file."""
    flags = os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_NOCTTY | os.O_CLOEXEC
    try:
        fd = linux.open_no_magiclinks(path, flags)
    except FileNotFoundError:
        return None
    except OSError as e:
        raise TuikerError(f"cannot read {path} in the container: {e.strerror}") from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise TuikerError(f"cannot read {path} in the container: not a regular file")
        chunks, size = [], 0
        while size <= MAX_BYTES:
            data = os.read(fd, 1 << 20)
            if not data:
                break
            chunks.append(data)
            size += len(data)
    finally:
        os.close(fd)
    if size > MAX_BYTES:
        raise TuikerError(f"cannot read {path} in the container: larger than {MAX_BYTES >> 20} MiB")
    return b"".join(chunks).decode(errors="replace")


def _entries(path: str, needed: bool) -> list[list[str]]:
    """The file's entries. One that cannot be used (not a regular file, too large) is an error only when a
    name must be looked up in it (`needed`); a numeric user or group just does without, as without the file."""
    try:
        text = read_image_file(path)
    except TuikerError:
        if needed:
            raise
        text = None
    if text is None:
        return []
    return [line.split(":") for line in text.splitlines() if line.strip() and not line.startswith("#")]


def resolve(spec: str, root: str = "/") -> User:
    """`spec` is ``, `user`, `uid`, `user:group` or `uid:gid`; files are read under `root`.

    An empty spec is uid 0, even in an image without /etc/passwd (docker's rule); a name needs an entry."""
    user, _, group = spec.partition(":")
    user = user or "0"
    passwd = _entries(os.path.join(root, "etc/passwd"), needed=not user.isdigit())
    entry = next((e for e in passwd if len(e) >= 4 and e[2].isdigit() and e[3].isdigit()
                  and (e[0] == user or (user.isdigit() and e[2] == user))), None)
    if entry is not None:
        uid, gid, home = int(entry[2]), int(entry[3]), entry[5] if len(entry) > 5 else "/"
        name = entry[0]
    elif user.isdigit():
        uid, gid, home, name = int(user), 0, "/", None
    else:
        raise TuikerError(f"unable to find user {user}: no matching entries in passwd file")
    if not group and not name:
        return User(uid, gid, [], home or "/")
    groups = _entries(os.path.join(root, "etc/group"), needed=bool(group) and not group.isdigit())
    if group:
        found = next((g for g in groups if len(g) >= 3 and g[2].isdigit()
                      and (g[0] == group or (group.isdigit() and g[2] == group))), None)
        if found is not None:
            gid = int(found[2])
        elif group.isdigit():
            gid = int(group)
        else:
            raise TuikerError(f"unable to find group {group}: no matching entries in group file")
        # As runc: supplementary groups come only with the implicit form (`-u user`), not with `user:group`.
        return User(uid, gid, [], home or "/")
    # Supplementary groups: every group that lists the user by name, as `initgroups` would.
    extra = sorted({int(g[2]) for g in groups if len(g) >= 4 and g[2].isdigit() and name in g[3].split(",")}
                   - {gid})
    return User(uid, gid, extra, home or "/")
