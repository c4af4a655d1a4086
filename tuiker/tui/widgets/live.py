"""What the widgets show, read cheaply from the engine root: no Textual here, so it is easy to measure.

- `StoreWatcher` lists containers, images and networks. A container's files are re-read only when its directory
  or state.json changed (two `stat` calls per container per poll); images only when images/ or tags.json did;
  network definitions only when networks/ did (one `stat` per poll, whatever the number of containers).
- `StatsSampler` reads one container's cgroup (about eight small files) and turns counters into rates.
- `LogTail` reads a container's json-file log: the last lines first, then what is appended, across rotation.
- `processes` lists a container's processes with psutil, as `tuiker top` does.
"""

from __future__ import annotations

import json
import os
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from tuiker.engine import LIVE_STATES, Engine
from tuiker.engine.networks import NetworkEngine
from tuiker.image.store import Image
from tuiker.net.network import Network, NetworkStore
from tuiker.runtime import cgroups
from tuiker.runtime.containers import Container

# -- containers and images --------------------------------------------------------------------------


@dataclass
class Snapshot:
    containers: list[Container]
    images: list[Image]
    networks: list[Network] = field(default_factory=list)  # the definitions: bridge (once made) and user ones


def _fingerprint(path: str) -> tuple[int, ...] | None:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return st.st_ino, st.st_mtime_ns, st.st_size


class StoreWatcher:
    """Polls the engine root. `poll()` returns a new Snapshot when anything changed, else None.

    Every state change is an atomic rename of state.json (a new inode), and a rename of config.json changes
    the directory's mtime, so comparing both fingerprints with the last poll finds every change."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._containers: dict[str, tuple[tuple, Container]] = {}
        self._images: tuple[tuple, list[Image]] = ((), [])
        self._networks: tuple[tuple | None, list[Network]] = ((), [])
        self._monitor_checked = 0.0

    def poll(self, force: bool = False) -> Snapshot | None:
        """A Snapshot when something changed since the last poll (or when forced), else None."""
        changed = self._poll_containers()
        changed = self._poll_images() or changed
        changed = self._poll_networks() or changed
        if not changed and not force:
            return None
        return Snapshot([c for _, c in self._containers.values()], self._images[1], self._networks[1])

    def _poll_containers(self) -> bool:
        root = self.engine.root / "containers"
        found: dict[str, tuple[tuple, Container]] = {}
        changed = False
        try:
            entries = list(os.scandir(root))
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
            container = self.engine.containers.load(Path(entry.path))
            if container is not None:
                found[entry.name] = (key, container)
                changed = True
        changed = changed or found.keys() != self._containers.keys()
        self._containers = found
        if self._monitor_gone(found.values()):
            # State files that say "running" while no monitor runs are stale: a new monitor reconciles them.
            self.engine.list_containers(all_states=True)
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
        key = (_fingerprint(str(self.engine.root / "images")), _fingerprint(str(self.engine.root / "tags.json")))
        if key == self._images[0]:
            return False
        self._images = (key, self.engine.images())
        return True

    def _poll_networks(self) -> bool:
        """Definitions are written by an atomic rename and removed by unlink: both change the directory's mtime.
        (A network's containers come from the containers' own files, already read above.)"""
        store = NetworkStore(self.engine.root)
        key = _fingerprint(str(store.dir))
        if key == self._networks[0]:
            return False
        self._networks = (key, store.list())
        return True


def sort_containers(containers: list[Container]) -> list[Container]:
    """lazydocker's order: running, then paused/restarting, then exited, then created; by name within."""
    rank = {"running": 0, "paused": 1, "restarting": 1, "exited": 2, "dead": 2, "created": 3}
    return sorted(containers, key=lambda c: (rank.get(c.status, 4), c.name))


# -- stats ------------------------------------------------------------------------------------------


@dataclass
class Sample:
    cpu_percent: float  # of one core, as docker stats: 200 % is two cores busy
    memory: int
    memory_limit: int
    pids: int
    pids_limit: int | None
    net_rx_rate: float  # bytes per second
    net_tx_rate: float
    io_read_rate: float
    io_write_rate: float
    net_rx: int  # totals
    net_tx: int
    io_read: int
    io_write: int
    oom_kills: int


class StatsSampler:
    """One container's cgroup, sampled on demand; rates are against the previous sample."""

    HISTORY = 300  # samples kept: five minutes at one a second, as lazydocker's default

    def __init__(self, container: Container) -> None:
        self.container = container
        self.cgroup = cgroups.driver(f"tuiker/{container.id}")
        self.history: deque[Sample] = deque(maxlen=self.HISTORY)
        self._previous: tuple[float, int, int, int, int, int] | None = None

    def sample(self) -> Sample | None:
        """None when the container is not running (its cgroup is gone or empty)."""
        pid = self.container.pid
        if self.container.status not in ("running", "paused") or not pid:
            self._previous = None
            return None
        try:
            stats = self.cgroup.stats()
        except cgroups.CgroupError:
            return None
        now = time.monotonic()
        # The engine's figure, as `tuiker stats` shows it: its host-side veths (none with --network host,
        # where the namespace's own counters would be the host's whole traffic).
        rx, tx = NetworkEngine.net_io(self.container) or (0, 0)
        counters = (now, stats.cpu_usage_ns, rx, tx, stats.io_read_bytes, stats.io_write_bytes)
        rates = [0.0] * 5
        if self._previous is not None:
            elapsed = max(now - self._previous[0], 1e-3)
            rates = [max(0, new - old) / elapsed for new, old in zip(counters[1:], self._previous[1:], strict=True)]
        self._previous = counters
        sample = Sample(cpu_percent=rates[0] / 1e9 * 100, memory=stats.memory_usage, memory_limit=stats.memory_limit,
                        pids=stats.pids_current, pids_limit=stats.pids_limit, net_rx_rate=rates[1],
                        net_tx_rate=rates[2], io_read_rate=rates[3], io_write_rate=rates[4], net_rx=rx, net_tx=tx,
                        io_read=stats.io_read_bytes, io_write=stats.io_write_bytes, oom_kills=stats.oom_kills)
        self.history.append(sample)
        return sample


# -- logs -------------------------------------------------------------------------------------------


@dataclass
class LogRecord:
    time: str
    stream: str
    text: str  # without its newline


class LogTail:
    """Follows containers/<id>/log.json (docker's json-file). `read()` returns the records appended since the
    last call; the first call returns at most `initial` of the newest, reading backwards from the end."""

    CHUNK = 64 * 1024

    def __init__(self, path: Path, initial: int) -> None:
        self.path = path
        self.initial = initial
        self._inode: int | None = None
        self._offset = 0

    def read(self) -> list[LogRecord]:
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return []
        if self._inode is None:
            self._inode, self._offset = st.st_ino, st.st_size
            return self._last_lines(st.st_size)
        if st.st_ino != self._inode or st.st_size < self._offset:
            self._inode, self._offset = st.st_ino, 0  # rotated: log.json is a new file
        if st.st_size == self._offset:
            return []
        with open(self.path, "rb") as f:
            f.seek(self._offset)
            chunk = f.read(st.st_size - self._offset)
        complete = chunk[:chunk.rfind(b"\n") + 1]
        self._offset += len(complete)
        return _parse(complete.splitlines())

    def _last_lines(self, end: int) -> list[LogRecord]:
        """The newest `initial` lines of log.json, topped up from the rotated log.json.1 when it is short."""
        lines = _tail_lines(self.path, end, self.initial)
        if len(lines) < self.initial:
            rotated = self.path.with_name(self.path.name + ".1")
            try:
                older = _tail_lines(rotated, os.stat(rotated).st_size, self.initial - len(lines))
            except FileNotFoundError:
                older = []
            lines = older + lines
        return _parse(lines)


def _tail_lines(path: Path, end: int, count: int) -> list[bytes]:
    """The last `count` complete lines before byte `end`, reading backwards in chunks."""
    data = b""
    position = end
    with open(path, "rb") as f:
        while position > 0 and data.count(b"\n") <= count:
            step = min(LogTail.CHUNK, position)
            position -= step
            f.seek(position)
            data = f.read(step) + data
    data = data[:data.rfind(b"\n") + 1]
    lines = data.splitlines()
    if position > 0:
        lines = lines[1:]  # the first one may be cut
    return lines[-count:] if count else []


def _parse(lines: list[bytes]) -> list[LogRecord]:
    records = []
    for line in lines:
        try:
            item = json.loads(line)
        except ValueError:
            continue
        records.append(LogRecord(item.get("time", ""), item.get("stream", "stdout"), item.get("log", "").rstrip("\n")))
    return records


# -- processes --------------------------------------------------------------------------------------


@dataclass
class ProcessRow:
    user: str
    pid: int
    ppid: int
    cpu_percent: float
    memory: int
    state: str
    command: str


class ProcessTable:
    """A container's processes. psutil.Process objects are kept between refreshes so that cpu_percent
    measures the interval since the last one (psutil needs two readings of one object)."""

    def __init__(self, container: Container) -> None:
        self.cgroup = cgroups.driver(f"tuiker/{container.id}")
        self._known: dict[int, psutil.Process] = {}

    def rows(self) -> list[ProcessRow]:
        try:
            pids = sorted(self.cgroup.pids())
        except cgroups.CgroupError:
            return []
        rows = []
        known = {}
        for pid in pids:
            process = self._known.get(pid)
            try:
                if process is None:
                    process = psutil.Process(pid)
                with process.oneshot():
                    rows.append(ProcessRow(process.username(), pid, process.ppid(), process.cpu_percent(),
                                           process.memory_info().rss, process.status(),
                                           " ".join(process.cmdline()) or f"[{process.name()}]"))
                known[pid] = process
            except psutil.Error:
                continue
        self._known = known
        return rows
