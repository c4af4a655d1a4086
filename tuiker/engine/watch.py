"""Watching an engine root cheaply, for a view that stays live (the TUI polls it twice a second).

A container's files are re-read only when its directory or state.json changed (two `stat` calls per container
per poll); images only when images/ or tags.json did; network definitions only when networks/ did, volumes only
when volumes/ did (one `stat` each per poll, whatever the number of containers)."""

from __future__ import annotations

import os
import time
from pathlib import Path

from tuiker.engine.containers import LIVE_STATES

TYPE_CHECKING = False  # not typing's (see stats.py)
if TYPE_CHECKING:
    from tuiker.engine import Engine
    from tuiker.image.store import Image
    from tuiker.net.network import Network
    from tuiker.runtime.containers import Container


class Snapshot:
    """Everything at one poll: containers, images, network definitions (bridge, once made, and user ones) and
    volumes (`volume inspect` documents)."""

    def __init__(self, containers: list[Container], images: list[Image], networks: list[Network],
                 volumes: list[dict] | None = None) -> None:
        self.containers = containers
        self.images = images
        self.networks = networks
        self.volumes = volumes or []


def _fingerprint(path: str) -> tuple[int, ...] | None:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return st.st_ino, st.st_mtime_ns, st.st_size


class Watcher:
    """`poll()` returns a new Snapshot when anything changed since the last poll, else None.

    Every state change is an atomic rename of state.json (a new inode), and a rename of config.json changes
    the directory's mtime, so comparing both fingerprints with the last poll finds every change."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._containers: dict[str, tuple[tuple, Container]] = {}
        self._images: tuple[tuple, list[Image]] = ((), [])
        self._networks: tuple[tuple | None, list[Network]] = ((), [])
        self._volumes: tuple[tuple | None, list[dict]] = ((), [])
        self._monitor_checked = 0.0

    def poll(self, force: bool = False) -> Snapshot | None:
        """A Snapshot when something changed since the last poll (or when forced), else None."""
        changed = self._poll_containers()
        changed = self._poll_images() or changed
        changed = self._poll_networks() or changed
        changed = self._poll_volumes() or changed
        if not changed and not force:
            return None
        return Snapshot([c for _, c in self._containers.values()], self._images[1], self._networks[1],
                        self._volumes[1])

    def _poll_containers(self) -> bool:
        store = self.engine.containers.store
        found: dict[str, tuple[tuple, Container]] = {}
        changed = False
        try:
            entries = list(os.scandir(store.root))
        except FileNotFoundError:
            entries = []
        for entry in entries:
            if entry.name.startswith("."):
                continue  # being created or removed
            key = (_fingerprint(entry.path), _fingerprint(os.path.join(entry.path, "state.json")))
            known = self._containers.get(entry.name)
            if known and known[0] == key:
                found[entry.name] = known
                continue
            container = store.load(Path(entry.path))
            if container is not None:
                found[entry.name] = (key, container)
                changed = True
        changed = changed or found.keys() != self._containers.keys()
        self._containers = found
        if self._monitor_gone(found.values()):
            # State files that say "running" while no monitor runs are stale: a new monitor reconciles them.
            self.engine.containers.list(all=True)
            self._containers = {}
            return self._poll_containers() or True
        return changed

    def _monitor_gone(self, containers) -> bool:
        """Checked at most every two seconds, and only while some container claims to be alive."""
        now = time.monotonic()
        if now - self._monitor_checked < 2 or not any(c.status in LIVE_STATES for _, c in containers):
            return False
        self._monitor_checked = now
        return not self.engine.monitor.alive()

    def _poll_images(self) -> bool:
        root = self.engine.root
        key = (_fingerprint(str(root / "images")), _fingerprint(str(root / "tags.json")))
        if key == self._images[0]:
            return False
        self._images = (key, self.engine.images.list())
        return True

    def _poll_networks(self) -> bool:
        """Definitions are written by an atomic rename and removed by unlink: both change the directory's mtime.
        (A network's containers come from the containers' own files, already read above.)"""
        store = self.engine.networks.store
        key = _fingerprint(str(store.dir))
        if key == self._networks[0]:
            return False
        self._networks = (key, store.list())
        return True

    def _poll_volumes(self) -> bool:
        """A volume is made and removed by renames in volumes/: both change the directory's mtime."""
        key = _fingerprint(str(self.engine.root / "volumes"))
        if key == self._volumes[0]:
            return False
        self._volumes = (key, self.engine.volumes.list() if key is not None else [])
        return True
