"""`-u USER[:GROUP]` resolved from the container's own /etc/passwd and /etc/group, read as text.

Never through the host's NSS (pwd/grp): glibc would dlopen the image's libnss_*.so into a root process
(CVE-2019-14271). Numeric IDs need no lookup and work in images without those files, as with docker.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from tuiker.runtime.errors import TuikerError


@dataclass
class User:
    uid: int
    gid: int
    groups: list[int]
    home: str


def _entries(path: str) -> list[list[str]]:
    try:
        with open(path, errors="replace") as f:
            return [line.rstrip("\n").split(":") for line in f if line.strip() and not line.startswith("#")]
    except FileNotFoundError:
        return []


def resolve(spec: str, root: str = "/") -> User:
    """`spec` is `user`, `uid`, `user:group` or `uid:gid`; files are read under `root`."""
    user, _, group = (spec or "root").partition(":")
    passwd = _entries(os.path.join(root, "etc/passwd"))
    groups = _entries(os.path.join(root, "etc/group"))
    entry = next((e for e in passwd if len(e) >= 4 and (e[0] == user or (user.isdigit() and e[2] == user))), None)
    if entry is not None:
        uid, gid, home = int(entry[2]), int(entry[3]), entry[5] if len(entry) > 5 else "/"
        name = entry[0]
    elif user.isdigit():
        uid, gid, home, name = int(user), 0, "/", None
    else:
        raise TuikerError(f"unable to find user {user}: no matching entries in passwd file")
    if group:
        found = next((g for g in groups if len(g) >= 3 and (g[0] == group or (group.isdigit() and g[2] == group))),
                     None)
        if found is not None:
            gid = int(found[2])
        elif group.isdigit():
            gid = int(group)
        else:
            raise TuikerError(f"unable to find group {group}: no matching entries in group file")
    # Supplementary groups: every group that lists the user by name, as `initgroups` would.
    extra = sorted({int(g[2]) for g in groups if len(g) >= 4 and name and name in g[3].split(",")} - {gid})
    return User(uid, gid, extra, home or "/")
