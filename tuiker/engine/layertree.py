"""An image's layers file by file, as dive shows them: what each layer added, modified or removed against the
layers below it, and the space wasted on files a later layer overwrites or removes.

The layers are read as unpacked (image/layers.py): a deletion is a 0/0 character device of the deleted name, an
opaque directory (`trusted.overlay.opaque=y`) hides what the layers below had in it. The walk uses lstat only
(os.scandir), never follows a symlink and never reads a file's contents; nothing is cached."""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field

TYPE_CHECKING = False  # not typing's (see stats.py)
if TYPE_CHECKING:
    from tuiker.engine.images import Images

ADDED, MODIFIED, REMOVED = "added", "modified", "removed"
_OPAQUE_XATTR = "trusted.overlay.opaque"
MAX_ENTRIES = 2_000_000  # a bound on the walk: an image with more file entries is cut off (`truncated`)


@dataclass
class LayerFile:
    path: str  # absolute in the image: "/etc/passwd"
    size: int  # bytes of a file (0 for a directory); of a removal, the bytes it hid
    mode: int  # st_mode (of a removal, that of the entry it hid, or 0)
    kind: str  # ADDED | MODIFIED | REMOVED, against the layers below

    @property
    def is_dir(self) -> bool:
        return stat.S_ISDIR(self.mode)


@dataclass
class Layer:
    diff_id: str
    size: int  # the layer's bytes as stored (docker history's SIZE)
    created_by: str  # the history entry that made it
    files: list[LayerFile] = field(default_factory=list)


@dataclass
class LayerReport:
    layers: list[Layer]  # bottom (first) to top
    size: int  # all layers' file bytes, hidden ones included
    wasted: int  # bytes of files a later layer overwrote or removed
    wasted_files: list[tuple[str, int, int]]  # (path, wasted bytes, how many times), most wasted first
    truncated: bool = False  # the walk stopped at MAX_ENTRIES

    @property
    def efficiency(self) -> float:
        """The share of the layers' bytes still visible in the image (1.0 when nothing is wasted)."""
        return 1.0 if self.size == 0 else (self.size - self.wasted) / self.size


def _scan(top: str, budget: list[int]) -> list[tuple[str, os.stat_result, bool]]:
    """(path relative to the image's root, lstat, opaque) of every entry under `top`, each directory before
    what is in it."""
    found = []
    stack = [("", top)]
    while stack:
        rel, real = stack.pop()
        try:
            with os.scandir(real) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError:
            continue
        subdirs = []
        for entry in entries:
            if budget[0] <= 0:
                return found
            budget[0] -= 1
            st = entry.stat(follow_symlinks=False)
            path = f"{rel}/{entry.name}"
            opaque = False
            if stat.S_ISDIR(st.st_mode):
                subdirs.append((path, entry.path))
                try:
                    opaque = os.getxattr(entry.path, _OPAQUE_XATTR, follow_symlinks=False) == b"y"
                except OSError:
                    pass
            found.append((path, st, opaque))
        stack += reversed(subdirs)  # the first subdirectory is walked next
    return found


def layer_report(images: Images, name: str, limit: int = MAX_ENTRIES) -> LayerReport:
    """Every layer of image `name`, bottom first, with its entries, and the space wasted across them."""
    image = images.get(name)
    history = [entry for entry in images.config(image).get("history") or [] if not entry.get("empty_layer")]
    visible: dict[str, tuple[int, int]] = {}  # the stacked tree so far: path -> (size, mode)
    wasted: dict[str, list[int]] = {}  # path -> [bytes, times]
    budget = [limit]
    layers = []
    total = 0

    def hide(path: str, subtree: bool) -> int:
        """Drop `path` (and what is under it) from the stacked tree; the hidden bytes are wasted."""
        gone = [path] if path in visible else []
        if subtree:
            prefix = path + "/"
            gone += [p for p in visible if p.startswith(prefix)]
        hidden = 0
        for p in gone:
            size, mode = visible.pop(p)
            if not stat.S_ISDIR(mode):
                hidden += size
                slot = wasted.setdefault(p, [0, 0])
                slot[0] += size
                slot[1] += 1
        return hidden

    for index, diff_id in enumerate(image.layers):
        try:
            size = images.store.layer_size(diff_id)
        except (OSError, ValueError, KeyError):
            size = 0
        created_by = history[index].get("created_by", "") if index < len(history) else ""
        layer = Layer(diff_id, size, created_by)
        for path, st, opaque in _scan(str(images.store.layer_dir(diff_id) / "diff"), budget):
            mode = st.st_mode
            if stat.S_ISCHR(mode) and st.st_rdev == 0:
                below = visible.get(path)
                hidden = hide(path, True)
                layer.files.append(LayerFile(path, hidden, below[1] if below else 0, REMOVED))
                continue
            is_dir = stat.S_ISDIR(mode)
            bytes_ = 0 if is_dir else st.st_size
            below = visible.get(path)
            kind = ADDED if below is None else MODIFIED
            if below is not None and (not is_dir or not stat.S_ISDIR(below[1])):
                hide(path, stat.S_ISDIR(below[1]))  # a file over anything, or a directory over a file
            elif opaque:
                for p in [p for p in visible if p.startswith(path + "/")]:
                    hide(p, False)  # an opaque directory hides what the layers below had in it
            visible[path] = (bytes_, mode)
            total += bytes_
            layer.files.append(LayerFile(path, bytes_, mode, kind))
        layers.append(layer)
    ranked = sorted(((p, b, n) for p, (b, n) in wasted.items() if b), key=lambda row: (-row[1], row[0]))
    return LayerReport(layers, total, sum(b for _, b, _ in ranked), ranked, truncated=budget[0] <= 0)
