"""The engine: the one door of the CLI and the TUI (and later the API) into tuiker.

    engine = Engine()                      # the root at TUIKER_ROOT, else /var/lib/tuiker
    engine.images.pull("alpine")           # images.py: pull, list, get, inspect, tag, remove, prune, save, load
    c = engine.containers.create(RunOptions(image="alpine", command=["sleep", "60"]))
    engine.containers.start(c.id)          # containers.py: the lifecycle, and logs, stats, top, diff, ports
    engine.networks.create("app")          # networks.py: create, list, inspect, connect, prune ...
    engine.volumes.create("data")          # volumes.py: create, list, inspect, remove, prune
    engine.builds.build(BuildOptions("."))  # builds.py (build/): a Dockerfile into an image; the cache's prune
    for event in engine.events(since="10m"):  # docker's events, from every process (runtime/events.py)

Each service stands alone and is given what it needs (the root, the image and network services, the monitor
client). This package also exports what a user interface needs to show and check things without reaching
past it: the errors, the record types, the state text, familiar image names, the PORTS text, network name
checks, sizes, the settings file, and the cgroup version.

It is on every command's path: what is heavy (requests, psutil, the cgroup drivers) loads only in the calls
that need it, and the read side's types (Progress, LogRecord, Sample, ProcessRow, Session, Snapshot ...) only when
first named (`__getattr__` below)."""

from __future__ import annotations

import os
import time
from pathlib import Path

from tuiker.base import config
from tuiker.base.config import config_file
from tuiker.base.config import load as load_config
from tuiker.base.errors import ConflictError, ForbiddenError, InvalidArgument, NotFoundError, TuikerError, one_line
from tuiker.engine.builds import Builds
from tuiker.engine.containers import LIVE_STATES, Containers, ContainerStartError, RunOptions, status_text
from tuiker.engine.images import Images, PullResult, PushResult, familiar_name, matches_reference, tag_matches
from tuiker.engine.networks import Networks, networks_of, ports_text, published_ports
from tuiker.engine.volumes import Volumes
from tuiker.image.store import Image
from tuiker.net.network import DEFAULT as DEFAULT_NETWORK
from tuiker.net.network import PSEUDO as PSEUDO_NETWORKS
from tuiker.net.network import Network
from tuiker.net.network import check_name as check_network_name
from tuiker.runtime.monitor_client import MonitorClient

TYPE_CHECKING = False  # not typing's: importing typing costs ~7 ms on every command
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from tuiker.engine.usage import DiskUsage
    from tuiker.engine.watch import Watcher

__all__ = [
    "BuildEvent", "BuildOptions", "ConflictError", "DEFAULT_NETWORK", "IDENTITY_TOKEN_USER", "LIVE_STATES",
    "PSEUDO_NETWORKS", "Container", "ContainerStartError", "Engine", "ForbiddenError", "Image", "InvalidArgument",
    "LogReader", "LogRecord", "Network", "NotFoundError", "ProcessRow", "ProcessTable", "Progress", "PullResult",
    "PushResult", "RunOptions", "Sample", "Session", "Snapshot", "StatsSampler", "TuikerError", "Watcher",
    "cgroup_version", "check_network_name", "config_file", "familiar_name", "load_config", "matches_reference",
    "networks_of", "one_line", "parse_go_duration", "parse_size", "parse_time", "ports_text", "published_ports",
    "registry_host", "status_text", "tag_matches",
]


class Engine:
    """One engine root: `images`, `containers`, `networks`, `volumes` and `builds`, and the `monitor` that runs
    the containers."""

    name = "tuiker"  # what drives the containers, for the TUI's header (a RemoteEngine says docker or podman)

    def __init__(self, root: str | os.PathLike | None = None) -> None:
        self.root = Path(root) if root else config.engine_root()
        self.monitor = MonitorClient(self.root)
        self.images = Images(self.root)
        self.networks = Networks(self.root, self.monitor)
        self.volumes = Volumes(self.root)
        self.containers = Containers(self.root, self.images, self.networks, self.monitor, self.volumes)
        self.builds = Builds(self.root, self.images, self.containers)

    def events(self, since: float | str | None = None, until: float | str | None = None,
               filters: dict[str, list[str]] | None = None, follow: bool = True,
               alive: Callable[[], bool] | None = None) -> Iterator[dict]:
        """docker's events (runtime/events.py: the journal every tuiker process of this root appends to), from
        `since` to `until`: epoch seconds, or docker's text (`10m`, `1700000000.5`, an RFC 3339 time). Without
        `since`, from now on (from the journal's start with an `until`, or without `follow`). With `follow`, new
        ones as they come, until `until` passes or `alive()` turns false. `filters` as docker's (type, event,
        container, image, network, volume, label, scope): InvalidArgument for a bad one, as for bad times."""
        from tuiker.runtime import events

        now = time.time()
        start, end = (_timestamp(v, now, name) for v, name in ((since, "since"), (until, "until")))
        if start is not None and end is not None and start > end:
            raise InvalidArgument(f"`since` time ({since}) cannot be after `until` time ({until})")
        events.check_filters(filters or {})
        return events.stream(self.root, start, end, filters, follow, alive)

    def header(self) -> list[tuple[str, str]]:
        """What the TUI's top line says of this engine, after its name: (label, value) pairs."""
        return [("root", str(self.root)), ("cgroup", f"v{cgroup_version()}")]

    def terminal_command(self, args: list[str]) -> tuple[list[str], dict[str, str]]:
        """The command line (and environment) of `tuiker ARGS` on this engine, to hand the whole terminal to."""
        import sys

        return [sys.executable, "-m", "tuiker", *args], dict(os.environ, TUIKER_ROOT=str(self.root))

    def watch(self) -> Watcher:
        """A watcher whose `poll()` gives a Snapshot of containers, images and networks when any changed."""
        from tuiker.engine.watch import Watcher

        return Watcher(self)

    def disk_usage(self, kinds: tuple[str, ...] | None = None) -> DiskUsage:
        """`system df`'s figures (engine/usage.py): of `kinds` (image, container, volume, build-cache), else all."""
        from tuiker.engine.usage import KINDS, disk_usage

        return disk_usage(self, kinds or KINDS)


def _timestamp(value: float | str | None, now: float, name: str) -> float | None:
    if value is None or isinstance(value, (int, float)):
        return value
    from tuiker.base.times import docker_timestamp

    try:
        return docker_timestamp(value, now)
    except ValueError as e:
        raise InvalidArgument(f"invalid value for {name}: {e}") from None


def cgroup_version() -> int:
    """The host's cgroup version (2 on a pure cgroup2 host, 1 on a v1 or hybrid one)."""
    from tuiker.runtime import cgroups

    return cgroups.host_version()


# What is imported on first use (PEP 562): `tuiker images` needs none of these, `tuiker ps` only Container.
_LAZY = {"Container": "tuiker.runtime.containers", "BuildOptions": "tuiker.engine.build.builder",
         "BuildEvent": "tuiker.engine.build.builder", "parse_size": "tuiker.runtime.containers",
         "parse_go_duration": "tuiker.base.times", "parse_time": "tuiker.base.times",
         "IDENTITY_TOKEN_USER": "tuiker.image.credentials", "registry_host": "tuiker.engine.images",
         "Progress": "tuiker.image.pull", "LogReader": "tuiker.engine.logs", "LogRecord": "tuiker.engine.logs",
         "StatsSampler": "tuiker.engine.stats", "Sample": "tuiker.engine.stats",
         "ProcessTable": "tuiker.engine.processes", "ProcessRow": "tuiker.engine.processes",
         "Session": "tuiker.engine.session", "Snapshot": "tuiker.engine.watch", "Watcher": "tuiker.engine.watch"}


def __getattr__(name: str):
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(_LAZY[name]), name)
