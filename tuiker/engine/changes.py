"""What a container wrote, from its overlay's upper directory: `tuiker diff` and the SIZE of `ps -s`."""

from __future__ import annotations

import os
import stat
from pathlib import Path

TYPE_CHECKING = False  # not typing's (see stats.py)
if TYPE_CHECKING:
    from tuiker.runtime.containers import Container


def changes(c: Container, layers: Path) -> list[tuple[str, str]]:
    """("A" added | "C" changed | "D" deleted, path) against the image, whose layers are under `layers`. A
    path that exists in a lower layer is a change, else an addition; a whiteout is a deletion. The mount points
    the engine made there (/proc, /etc/hosts ...) are left out, as docker's init layer hides them."""
    from tuiker.runtime.spawn import ENGINE_PATHS

    upper = c.dir / "upper"
    lowers = [layers / d / "diff" for d in c.config["Layers"]]
    found = []
    for dirpath, dirnames, filenames in os.walk(upper):
        for name in sorted(dirnames + filenames):
            full = os.path.join(dirpath, name)
            rel = "/" + os.path.relpath(full, upper)
            if rel in ENGINE_PATHS:
                continue
            mode = os.lstat(full)
            if stat.S_ISCHR(mode.st_mode) and mode.st_rdev == 0:
                found.append(("D", rel, False))
            elif any(os.path.lexists(str(lower) + rel) for lower in lowers):
                found.append(("C", rel, stat.S_ISDIR(mode.st_mode)))
            else:
                found.append(("A", rel, stat.S_ISDIR(mode.st_mode)))
    # A directory copied up or made only to hold an engine mount point (/etc for /etc/hosts, /sbin for
    # --init's docker-init) is no change.
    return [(kind, rel) for kind, rel, is_dir in found
            if not (is_dir and not any(other.startswith(rel + "/") for _, other, _ in found)
                    and any(p.startswith(rel + "/") for p in ENGINE_PATHS))]


def change_entries(c: Container, layers: Path) -> list[tuple[str, str, int, int]]:
    """changes() with each entry's (bytes, st_mode) by lstat in the upper directory: os.walk does not descend
    symlinks, so every parent of `rel` there is a real directory of it and nothing leads out of it."""
    upper = str(c.dir / "upper")
    found = []
    for kind, rel in changes(c, layers):
        if kind == "D":
            found.append((kind, rel, 0, 0))
            continue
        try:
            st = os.lstat(upper + rel)
        except OSError:
            continue  # gone since the walk: the container is running
        found.append((kind, rel, 0 if stat.S_ISDIR(st.st_mode) else st.st_size, st.st_mode))
    return found


def written_bytes(c: Container) -> int:
    """The bytes of the files the container wrote (its upper directory); a hard link counts once."""
    written = 0
    seen = set()
    for dirpath, dirnames, filenames in os.walk(c.dir / "upper"):
        for name in dirnames + filenames:
            st = os.lstat(os.path.join(dirpath, name))
            if not stat.S_ISDIR(st.st_mode) and (st.st_dev, st.st_ino) not in seen:
                seen.add((st.st_dev, st.st_ino))
                written += st.st_size
    return written
