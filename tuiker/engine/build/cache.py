"""The build cache, as docker's classic builder keeps it: a step's result is the image committed after it, found
again by (the parent image, the step's key).

    builder/cache/<sha256 of parent and key>   the image ID the step made (one small file per step: concurrent
                                               builds write different files, and a write is a rename)
    builder/results/<image id hex>             an image that was a build's result: shown by `images` even
                                               untagged (docker's dangling <none>), unlike the steps before it

An entry is only a pointer: the image it names is a record of the image store (an intermediate one, hidden from
`images`), which keeps its layers. A pointer to an image that went (rmi, `builder prune`) is a miss. `image prune`
leaves the images the cache points to alone; `builder prune` drops the entries, then the intermediate images
nothing else uses."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from tuiker.base.fsutil import atomic_write, private_dir


class BuildCache:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.dir = root / "builder" / "cache"
        self.results = root / "builder" / "results"

    @staticmethod
    def key(parent: str | None, step: str) -> str:
        """The entry's name: the parent image ID ("" for an empty stage) and the step's key text."""
        return hashlib.sha256(f"{parent or ''}\n{step}".encode()).hexdigest()

    def get(self, key: str) -> str | None:
        try:
            image_id = (self.dir / key).read_text().strip()
        except (FileNotFoundError, NotADirectoryError):
            return None
        return image_id if image_id.startswith("sha256:") and len(image_id) == 71 else None

    def put(self, key: str, image_id: str) -> None:
        private_dir(self.root, "builder/cache")
        atomic_write(self.dir / key, image_id.encode(), sync=False)

    def images(self) -> set[str]:
        """The image IDs some entry points to."""
        found = set()
        try:
            entries = list(os.scandir(self.dir))
        except FileNotFoundError:
            return found
        for entry in entries:
            image_id = self.get(entry.name) if ".tmp-" not in entry.name else None
            if image_id:
                found.add(image_id)
        return found

    def clear(self) -> int:
        """Drop every entry; how many there were."""
        count = 0
        try:
            entries = list(os.scandir(self.dir))
        except FileNotFoundError:
            return 0
        for entry in entries:
            try:
                os.unlink(entry.path)
                count += 1
            except FileNotFoundError:
                pass
        return count

    def mark_result(self, image_id: str) -> None:
        private_dir(self.root, "builder/results")
        path = self.results / image_id.removeprefix("sha256:")
        if not path.exists():
            atomic_write(path, b"", sync=False)

    def intermediate(self) -> set[str]:
        """The images the cache points to that were never a build's result: the steps' images, which docker
        hides from `images` (not from `images -a`) and keeps from `image prune`."""
        cached = self.images()
        if not cached:
            return cached
        try:
            results = {f"sha256:{name}" for name in os.listdir(self.results)}
        except FileNotFoundError:
            results = set()
        return cached - results

    def forget_results(self, kept: set[str]) -> None:
        """Drop the result marks of images not in `kept` (those that went)."""
        try:
            names = os.listdir(self.results)
        except FileNotFoundError:
            return
        for name in names:
            if f"sha256:{name}" not in kept:
                try:
                    os.unlink(self.results / name)
                except FileNotFoundError:
                    pass
