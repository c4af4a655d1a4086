"""Read a saved image (the docker-archive tar that `docker save`, `podman save` and `tuiker save` write): its
config, and its filesystem flattened the way a runtime sees it (layers applied in order, whiteouts and opaque
directories honoured) as a listing that compares across builders: no mtimes, no tar quirks."""

from __future__ import annotations

import hashlib
import json
import posixpath
import tarfile
from dataclasses import dataclass

WHITEOUT = ".wh."
OPAQUE = ".wh..wh..opq"
KINDS = {tarfile.REGTYPE: "file", tarfile.AREGTYPE: "file", tarfile.DIRTYPE: "dir", tarfile.SYMTYPE: "symlink",
         tarfile.CHRTYPE: "char", tarfile.BLKTYPE: "block", tarfile.FIFOTYPE: "fifo"}


@dataclass(frozen=True)
class Entry:
    """One path of a flattened image: what a builder is responsible for, mtime aside."""
    path: str  # relative to the root, no leading "./" or "/"
    kind: str  # file, dir, symlink, char, block, fifo
    mode: int  # permission bits with setuid/setgid/sticky
    uid: int
    gid: int
    size: int = 0
    sha256: str = ""
    target: str = ""  # a symlink's

    def __str__(self) -> str:
        extra = f" {self.size} {self.sha256[:12]}" if self.kind == "file" else ""
        extra += f" -> {self.target}" if self.target else ""
        return f"{self.kind} {self.mode:04o} {self.uid}:{self.gid} /{self.path}{extra}"


@dataclass
class SavedImage:
    config: dict  # the image config document (architecture, config, rootfs, history...)
    files: dict[str, Entry]  # path -> entry, the final filesystem


def _clean(name: str) -> str:
    return posixpath.normpath("/" + name).lstrip("/")


def _apply_layer(files: dict[str, Entry], layer: tarfile.TarFile) -> None:
    added: dict[str, Entry] = {}
    removed: list[str] = []
    opaque: list[str] = []
    links: list[tuple[str, tarfile.TarInfo]] = []
    for member in layer:
        path = _clean(member.name)
        if not path or path == ".":
            continue
        parent, base = posixpath.split(path)
        if base == OPAQUE:
            opaque.append(parent)
        elif base.startswith(WHITEOUT):
            removed.append(posixpath.join(parent, base[len(WHITEOUT):]))
        elif member.islnk():
            links.append((path, member))
        else:
            kind = KINDS.get(member.type, f"type {member.type!r}")
            size, digest = 0, ""
            if kind == "file":
                data = layer.extractfile(member).read()
                size, digest = len(data), hashlib.sha256(data).hexdigest()
            added[path] = Entry(path, kind, member.mode & 0o7777, member.uid, member.gid, size, digest,
                                member.linkname if member.issym() else "")
    # Whiteouts and opaque markers hide what lower layers had; this layer's own entries stay.
    for gone in removed:
        files.pop(gone, None)
    for top in removed + opaque:
        for path in [p for p in files if p.startswith(top + "/")]:
            del files[path]
    files.update(added)
    for path, member in links:  # a hard link: the same content as its target, which may sit in this layer
        target = added.get(_clean(member.linkname)) or files[_clean(member.linkname)]
        files[path] = Entry(path, "file", member.mode & 0o7777, member.uid, member.gid, target.size, target.sha256)


def read_saved(path: str) -> SavedImage:
    """The first image of a docker-archive tar (manifest.json's first entry)."""
    with tarfile.open(path) as archive:
        manifest = json.load(archive.extractfile("manifest.json"))[0]
        config = json.load(archive.extractfile(manifest["Config"]))
        files: dict[str, Entry] = {}
        for name in manifest["Layers"]:
            with tarfile.open(fileobj=archive.extractfile(name), mode="r:*") as layer:
                _apply_layer(files, layer)
    return SavedImage(config, files)
