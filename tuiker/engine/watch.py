"""Watching an engine root cheaply, for a view that stays live (the TUI polls it twice a second).

A container's files are re-read only when its directory or state.json changed (two `stat` calls per container
checked), and only the containers inotify saw an event in are checked (every one where inotify cannot be used);
images only when images/ or tags.json did; network definitions only when networks/ did, volumes only when
volumes/ did (one `stat` each per poll, whatever the number of containers)."""

from __future__ import annotations

import os
import time
from pathlib import Path

from inotify_simple import INotify, flags

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


class ContainerEvents:
    """Which containers may have changed since the last call, from inotify on containers/ and on each container's
    directory (a state change is a rename into it). The TUI polls twice a second, and checking every container
    (two stat calls each) was most of the idle app's work; the fingerprints still decide what changed, the events
    only say where to look. A log line is a write to an open file: no event of these."""

    ROOT_EVENTS = flags.CREATE | flags.DELETE | flags.MOVED_TO | flags.MOVED_FROM | flags.ONLYDIR
    CONTAINER_EVENTS = ROOT_EVENTS | flags.CLOSE_WRITE | flags.ATTRIB

    def __init__(self, root: str, inotify: INotify) -> None:
        self.root = root
        self._inotify = inotify
        self._root_watch = inotify.add_watch(root, self.ROOT_EVENTS)
        self._names: dict[int, str] = {}  # watch descriptor -> container directory name
        self._watched: set[str] = set()

    @classmethod
    def open(cls, root: str) -> ContainerEvents | None:
        """None while `root` does not exist yet. OSError when inotify cannot be used (no instance or watch left)."""
        inotify = INotify(nonblocking=True)
        try:
            return cls(root, inotify)
        except FileNotFoundError:
            inotify.close()
            return None
        except OSError:
            inotify.close()
            raise

    def close(self) -> None:
        self._inotify.close()

    def watch(self, name: str) -> None:
        """Watch container directory `name` (OSError when no watch is left: fs.inotify.max_user_watches)."""
        if name in self._watched:
            return
        try:
            descriptor = self._inotify.add_watch(os.path.join(self.root, name), self.CONTAINER_EVENTS)
        except FileNotFoundError:
            return  # removed meanwhile: its fingerprint says so
        self._names[descriptor] = name
        self._watched.add(name)

    def changed(self) -> set[str] | None:
        """The names of the container directories with events since the last call; None when the event queue
        overflowed: check every one."""
        names = set()
        for event in self._inotify.read(timeout=0):
            if event.mask & flags.Q_OVERFLOW:
                return None
            if event.wd == self._root_watch:
                names.add(event.name)
            elif event.mask & flags.IGNORED:  # the directory is gone, and its watch with it
                self._watched.discard(self._names.pop(event.wd, ""))
            elif event.wd in self._names:
                names.add(self._names[event.wd])
        return names


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
        self._events: ContainerEvents | None = None
        self._events_failed = False  # no inotify here: every poll checks every container

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

    def _poll_containers(self, check_all: bool = False) -> bool:
        root = str(self.engine.containers.store.root)
        if self._events is None and not self._events_failed:
            try:
                self._events = ContainerEvents.open(root)
            except OSError:
                self._events_failed = True
            check_all = True  # what happened before the watches were set
        names = None if check_all or self._events is None else self._events.changed()
        if names is None:  # every container: no inotify here, or its queue overflowed
            try:
                names = [entry.name for entry in os.scandir(root)]
            except FileNotFoundError:
                names = []
            found: dict[str, tuple[tuple, Container]] = {}
        else:
            found = dict(self._containers)
        changed = False
        for name in names:
            if name.startswith("."):
                continue  # being created or removed
            path = os.path.join(root, name)
            self._watch(name)  # before the fingerprint is taken: a change after it is an event
            key = (_fingerprint(path), _fingerprint(os.path.join(path, "state.json")))
            seen = self._containers.get(name)
            if seen is not None and seen[0] == key:
                found[name] = seen
                continue
            container = self.engine.containers.store.load(Path(path)) if key[0] is not None else None
            if container is not None:
                found[name] = (key, container)
                changed = True
            else:
                found.pop(name, None)
        changed = changed or found.keys() != self._containers.keys()
        self._containers = found
        if self._monitor_gone(found.values()):
            # State files that say "running" while no monitor runs are stale: a new monitor reconciles them.
            self.engine.containers.list(all=True)
            self._containers = {}
            return self._poll_containers(check_all=True) or True
        return changed

    def _watch(self, name: str) -> None:
        if self._events is None:
            return
        try:
            self._events.watch(name)
        except OSError:  # no inotify watch left: check every container from now on
            self._events.close()
            self._events, self._events_failed = None, True

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
