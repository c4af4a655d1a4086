"""Watching a Docker API engine as the local Watcher watches a root: `poll()` gives a Snapshot when anything
changed. A thread follows `/events`; each event marks its kind (and its container) to be read again, so a poll
with no event costs nothing. Everything is read again every REFRESH seconds too (an engine whose events stream
broke, a health status that changed without an event)."""

from __future__ import annotations

import threading
import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from tuiker.engine import Container, Snapshot
    from tuiker.remote.client import Stream
    from tuiker.remote.engine import RemoteEngine

KINDS = ("container", "image", "network", "volume")


class Watcher:
    REFRESH = 5.0

    def __init__(self, engine: RemoteEngine) -> None:
        self.engine = engine
        self._lock = threading.Lock()
        self._dirty: set[str] = set(KINDS)
        self._dirty_ids: set[str] = set()
        self._containers: dict[str, Container] = {}
        self._images: list = []
        self._networks: list = []
        self._volumes: list[dict] = []
        self._last_full = 0.0
        self._events: Stream | None = None
        self._following = False

    def poll(self, force: bool = False) -> Snapshot | None:
        from tuiker.engine import Snapshot

        if not self._following:
            self._follow()
        now = time.monotonic()
        full = now - self._last_full > self.REFRESH
        with self._lock:
            dirty, ids = (set(KINDS), set()) if full else (self._dirty, self._dirty_ids)
            self._dirty, self._dirty_ids = set(), set()
        if full:
            self._last_full = now
        changed = False
        if "container" in dirty or ids:
            changed = self._read_containers(ids, full) or changed
        if "image" in dirty:
            changed = self._swap("_images", self.engine.images.list(), lambda i: (i.id, tuple(i.repo_tags))) or changed
        if "network" in dirty:
            changed = self._swap("_networks", self.engine.networks.list(), lambda n: (n.id, n.name, n.subnet)) \
                or changed
        if "volume" in dirty:
            changed = self._swap("_volumes", self.engine.volumes.list(), lambda v: v["Name"]) or changed
        if not changed and not force:
            return None
        return Snapshot(list(self._containers.values()), self._images, self._networks, self._volumes)

    def _swap(self, attr: str, new: list, key) -> bool:
        changed = [key(x) for x in new] != [key(x) for x in getattr(self, attr)]
        setattr(self, attr, new)
        return changed

    def _read_containers(self, dirty: set[str], full: bool) -> bool:
        """List them; inspect those new, changed by an event, or (on a full read) whose state differs."""
        from tuiker.base.errors import NotFoundError

        summaries = self.engine.client.call("GET", "/containers/json", {"all": True}) or []
        found: dict[str, Container] = {}
        changed = False
        for s in summaries:  # type: ignore[union-attr]
            cid = s["Id"]
            known = self._containers.get(cid)
            if known is None or cid in dirty or known.status != s.get("State") or full and _differs(known, s):
                try:
                    found[cid] = self.engine.containers.get(cid)
                except NotFoundError:
                    continue  # removed meanwhile
                changed = True
            else:
                found[cid] = known
        changed = changed or found.keys() != self._containers.keys()
        self._containers = found
        return changed

    def _follow(self) -> None:
        self._following = True
        try:
            # Fractional: whole seconds would replay what happened earlier in this second as if it were new.
            self._events = self.engine.client.stream("GET", "/events", {"since": f"{time.time():.6f}"})
        except Exception:  # noqa: BLE001 - no events from this engine: the periodic full read still shows changes
            return
        threading.Thread(target=self._read_events, args=(self._events,), daemon=True, name="remote-events").start()

    def _read_events(self, stream: Stream) -> None:
        for event in stream.json_lines():
            kind = event.get("Type") or ""
            with self._lock:
                if kind == "container":
                    self._dirty_ids.add((event.get("Actor") or {}).get("ID") or event.get("id") or "")
                elif kind == "network":
                    self._dirty.update(("network", "container"))  # connect/disconnect change containers too
                elif kind in KINDS:
                    self._dirty.add(kind)
        with self._lock:
            self._following = False  # the stream ended (the engine restarted): follow again at the next poll

    def close(self) -> None:
        if self._events is not None:
            self._events.close()


def _differs(known: Container, summary: dict) -> bool:
    health = known.health
    status = summary.get("Status", "")
    return bool(health) and f"({health}" not in status and "health: starting" not in status
