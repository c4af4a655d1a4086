"""The engine's event journal: docker's event stream, shared by every process of one engine root.

tuiker has no daemon that sees every change: the CLI, the TUI, the API service and the monitor each change state
themselves. So each appends the events it causes to one journal, <root>/events/events.log, as JSON lines in
docker's shape (Type, Action, Actor{ID, Attributes}, scope, time, timeNano, and the legacy status/id/from of
container and image events), and readers tail it.

- Safe with many writers: each event is one write() on an O_APPEND descriptor, which the kernel keeps whole
  against other appenders to the file; a line is JSON-encoded, so a container-controlled name or label cannot
  break it or add lines. A line is at most MAX_LINE bytes (oversized attributes are cut, never the line).
- Bounded: past MAX_BYTES the file is renamed to events.log.1 (replacing the older one), so the journal holds at
  most about 2 x MAX_BYTES: docker keeps its last 256 events in memory; this keeps some thousands, on disk.
- Cheap and harmless: emitting imports only json and os, and a failure to write is swallowed: an event journal
  never fails the operation it records.

Each event comes from where its change happens: the monitor (container start, die with its exit code, oom, kill
with the signal, pause, unpause, attach, exec_create/exec_start/exec_die, health_status; network connect and
disconnect at a start and an exit; volume mount and unmount), the engine's services (container create, stop,
restart, rename, destroy, commit, archive-path, extract-to-dir, export; image pull, push, tag, untag, delete,
save, load, import and a build's tags; network create, destroy, connect, disconnect) and the volume store
(volume create, destroy).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from tuiker.runtime.containers import Container

MAX_BYTES = 4 * 1024 * 1024  # per file; the journal keeps two
MAX_LINE = 16 * 1024
NAME = "events.log"
POLL = 0.1  # seconds between looks at the file while following

# Attributes kept whole when a line must be cut (labels and other long values go first).
_CORE = ("name", "image", "exitCode", "signal", "container", "type", "driver", "oldName", "execID")


def journal_dir(root: str | os.PathLike) -> Path:
    return Path(root) / "events"


def emit(root: str | os.PathLike, type_: str, action: str, actor_id: str,
         attributes: dict[str, object] | None = None) -> None:
    """Append one event. Never raises: the operation it records has happened whatever becomes of its event."""
    try:
        _append(journal_dir(root), message(type_, action, actor_id, attributes))
    except Exception:  # noqa: BLE001 - see the docstring
        pass


def container_event(c: Container, action: str, **extra: object) -> None:
    """An event of container `c` (a runtime record; its root is two levels above its directory), with docker's
    attributes: its labels, then image and name, then `extra` (exitCode, signal ...)."""
    cfg = c.config.get("Config") or {}
    attributes = {**(cfg.get("Labels") or {}), "image": cfg.get("Image") or c.config.get("Image", ""),
                  "name": c.name, **extra}
    emit(c.dir.parent.parent, "container", action, c.id, attributes)


def network_events(c: Container, action: str, settings: dict | None) -> None:
    """docker's network connect (at a start) or disconnect (at an exit) of `c`, for each network of its
    NetworkSettings."""
    for name, n in ((settings or {}).get("Networks") or {}).items():
        if n.get("NetworkID"):
            emit(c.dir.parent.parent, "network", action, n["NetworkID"], {"container": c.id, "name": name,
                                                                         "type": "bridge"})


def message(type_: str, action: str, actor_id: str, attributes: dict[str, object] | None = None,
            time_ns: int | None = None) -> dict:
    """docker's events.Message (with the legacy fields docker still fills for containers and images)."""
    ns = time.time_ns() if time_ns is None else time_ns
    attrs = {str(k): "" if v is None else str(v) for k, v in (attributes or {}).items()}
    event: dict = {}
    if type_ in ("container", "image"):
        event["status"] = action
        event["id"] = actor_id
        if type_ == "container":
            event["from"] = attrs.get("image", "")
    event.update(Type=type_, Action=action, Actor={"ID": actor_id, "Attributes": attrs}, scope="local",
                 time=ns // 1_000_000_000, timeNano=ns)
    return event


def encode(event: dict) -> bytes:
    """One line, at most MAX_LINE bytes: long attributes are cut, then all but the core ones dropped."""
    line = json.dumps(event, separators=(",", ":")).encode() + b"\n"
    if len(line) <= MAX_LINE:
        return line
    attrs = event["Actor"]["Attributes"]
    event["Actor"]["Attributes"] = {k: v[:256] for k, v in attrs.items() if k in _CORE}
    for key in ("id", "from", "status", "Action"):
        if key in event:
            event[key] = event[key][:256]
    event["Actor"]["ID"] = event["Actor"]["ID"][:256]
    line = json.dumps(event, separators=(",", ":")).encode() + b"\n"
    if len(line) > MAX_LINE:  # escaped non-ASCII can grow a character to 12 bytes: the event's bare bones then
        event["Actor"]["Attributes"] = {}
        line = json.dumps(event, separators=(",", ":")).encode() + b"\n"
    return line


def _append(directory: Path, event: dict) -> None:
    line = encode(event)
    path = directory / NAME
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except FileNotFoundError:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        os.write(fd, line)  # one write: whole against other appenders
        if os.fstat(fd).st_size > MAX_BYTES:
            _rotate(directory, fd)
    finally:
        os.close(fd)


def _rotate(directory: Path, fd: int) -> None:
    """events.log -> events.log.1, once: under a lock, and only if the file is still the one that grew (another
    writer may have rotated it meanwhile). A writer that opened it before the rename appends to events.log.1:
    its line is kept all the same."""
    import fcntl

    lock = os.open(directory / "lock", os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)
        path = directory / NAME
        try:
            st = os.stat(path)
        except FileNotFoundError:
            return
        if st.st_ino == os.fstat(fd).st_ino and st.st_size > MAX_BYTES:
            os.rename(path, directory / (NAME + ".1"))
    finally:
        os.close(lock)


# -- reading ---------------------------------------------------------------------------------------------------

FILTER_KEYS = ("config", "container", "daemon", "event", "image", "label", "network", "node", "plugin", "scope",
               "secret", "service", "type", "volume")


def check_filters(filters: dict[str, list[str]]) -> None:
    """docker's events filter keys; others are refused as the daemon does."""
    from tuiker.base.errors import InvalidArgument

    for key, values in filters.items():
        if key not in FILTER_KEYS:
            raise InvalidArgument(f"invalid filter '{key}'")
        if key == "scope":
            for v in values:
                if v not in ("local", "swarm"):
                    raise InvalidArgument(f"Invalid filter: 'scope={v}'")


def matches(event: dict, filters: dict[str, list[str]]) -> bool:
    """docker's events Filter.Include: every key given must match; within a key, any value."""
    if not filters:
        return True
    actor = event.get("Actor") or {}
    aid, attrs, kind = actor.get("ID", ""), actor.get("Attributes") or {}, event.get("Type", "")
    action = event.get("Action", "")

    def exact(key: str, *sources: str) -> bool:
        values = filters.get(key)
        return not values or any(s in values for s in sources)

    def fuzzy(key: str, *sources: str) -> bool:
        values = filters.get(key)
        return not values or any(s.startswith(v) for v in values for s in sources)

    events = filters.get("event") or []
    # docker: `health_status`, `exec_create` and `exec_start` also match their `health_status: healthy` ... forms
    if any(v in ("health_status", "exec_create", "exec_start") for v in events):
        if not fuzzy("event", action):
            return False
    elif not exact("event", action):
        return False
    if not exact("type", kind) or not exact("scope", event.get("scope", "local")):
        return False
    for key in ("container", "network", "volume"):
        if filters.get(key) and not (kind == key and fuzzy(key, aid, attrs.get("name", ""))):
            return False
    if filters.get("image"):
        name = attrs.get("name" if kind == "image" else "image", "")
        if not exact("image", aid, name, _strip_tag(aid), _strip_tag(name)):
            return False
    for key in ("config", "daemon", "node", "plugin", "secret", "service"):
        if filters.get(key):
            return False  # none of these exist here
    for label in filters.get("label") or []:
        k, eq, v = label.partition("=")
        if k not in attrs or (eq and attrs[k] != v):
            return False
    return True


def _strip_tag(name: str) -> str:
    """docker's stripTag: `busybox:latest` -> `busybox` (a registry's port stays, a digest goes)."""
    name = name.partition("@")[0]
    slash = name.rfind("/")
    colon = name.rfind(":")
    return name[:colon] if colon > slash else name


class Reader:
    """The journal read from `since` (epoch ns; None: from now on), following rotation."""

    def __init__(self, root: str | os.PathLike, since_ns: int | None) -> None:
        self.dir = journal_dir(root)
        self.since = since_ns
        self._fd = -1
        self._ino = 0
        self._buf = b""
        self._pending: list[int] = []  # files still to read before the current one (the rotated one)
        path = self.dir / NAME
        try:
            self._fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except (FileNotFoundError, NotADirectoryError):
            return
        self._ino = os.fstat(self._fd).st_ino
        if since_ns is None:
            os.lseek(self._fd, 0, os.SEEK_END)
            return
        try:
            old = os.open(self.dir / (NAME + ".1"), os.O_RDONLY | os.O_CLOEXEC)
        except (FileNotFoundError, NotADirectoryError):
            return
        if os.fstat(old).st_ino == self._ino:  # rotated between the two opens: the same file
            os.close(old)
        else:
            self._pending.append(old)

    def close(self) -> None:
        for fd in [*self._pending, self._fd]:
            if fd >= 0:
                os.close(fd)
        self._pending, self._fd = [], -1

    def read(self) -> list[dict]:
        """The events written since the last call (those older than `since` left out)."""
        out: list[dict] = []
        while self._pending:
            fd = self._pending.pop(0)
            self._lines(_read_all(fd), out)
            os.close(fd)
            self._buf = b""
        if self._fd >= 0:
            self._lines(self._buf + _read_all(self._fd), out, keep_tail=True)
        try:
            st = os.stat(self.dir / NAME)
        except (FileNotFoundError, NotADirectoryError):
            return out
        if st.st_ino != self._ino:  # rotated, or created: what is left of the old one, then the new one
            if self._fd >= 0:
                self._lines(self._buf + _read_all(self._fd), out)
                os.close(self._fd)
            self._buf = b""
            try:
                self._fd = os.open(self.dir / NAME, os.O_RDONLY | os.O_CLOEXEC)
            except (FileNotFoundError, NotADirectoryError):
                self._fd = -1
                return out
            self._ino = os.fstat(self._fd).st_ino
            self._lines(_read_all(self._fd), out, keep_tail=True)
        return out

    def _lines(self, data: bytes, out: list[dict], keep_tail: bool = False) -> None:
        lines = data.split(b"\n")
        self._buf = lines.pop() if keep_tail else b""  # a line still being written (or cut short)
        for line in lines:
            try:
                event = json.loads(line)
            except ValueError:
                continue  # a line a full disk cut short
            if isinstance(event, dict) and (self.since is None or event.get("timeNano", 0) >= self.since):
                out.append(event)


def _read_all(fd: int) -> bytes:
    chunks = []
    while True:
        data = os.read(fd, 1 << 16)
        if not data:
            return b"".join(chunks)
        chunks.append(data)


def stream(root: str | os.PathLike, since: float | None = None, until: float | None = None,
           filters: dict[str, list[str]] | None = None, follow: bool = True,
           alive: Callable[[], bool] | None = None) -> Iterator[dict]:
    """The events from `since` (epoch seconds; None: from now, or from the start with an `until` or without
    `follow`, as docker's buffered events) to `until` (None: no end), filtered. With `follow`, it waits for
    new ones until `until` passes or `alive()` turns false (checked between looks at the file)."""
    filters = filters or {}
    start = None
    if since is not None:
        start = int(since * 1e9)
    elif until is not None or not follow:
        start = 0
    end = None if until is None else int(until * 1e9)
    reader = Reader(root, start)
    try:
        while True:
            # Decided before the read: an event stamped before `until` but written just after is still read.
            last = not follow or (end is not None and time.time_ns() > end) or (alive is not None and not alive())
            for event in reader.read():
                if end is not None and event.get("timeNano", 0) > end:
                    continue
                if matches(event, filters):
                    yield event
            if last:
                return
            time.sleep(POLL if end is None else max(0.0, min(POLL, (end - time.time_ns()) / 1e9 + 0.001)))
    finally:
        reader.close()
