"""Container cgroups: resource limits, stats, freeze and kill-all, on cgroup v1 or v2 hosts.

`for_container(id)` is a container's cgroup, `driver(name)` any other; both pick the host's version.
CgroupError, Limits, Pressure and Stats are defined in common.py (the drivers import them from there, which avoids an
import cycle through this file) and re-exported here.
"""

from __future__ import annotations

import functools
import os

from .common import Cgroup, CgroupError, Limits, Pressure, Stats, check_name, mountinfo
from .v1 import V1Cgroup, v1_mounts
from .v2 import ROOT, V2Cgroup

__all__ = ["Cgroup", "CgroupError", "Limits", "Pressure", "Stats", "V1Cgroup", "V2Cgroup", "driver", "for_container",
           "host_version"]


def host_version() -> int:
    """2 when /sys/fs/cgroup itself is a cgroup2 mount (pure unified), else 1: a hybrid host's cgroup2 at
    /sys/fs/cgroup/unified has the controllers bound to v1 hierarchies, so limits must go through v1."""
    version = 1
    for point, fstype, _ in mountinfo():
        if point == ROOT:
            version = 2 if fstype == "cgroup2" else 1  # the last mount on a path is the visible one
    return version


@functools.lru_cache(maxsize=1)
def _layout() -> tuple[int, dict[str, str] | None]:
    """The host's cgroup version and v1 mounts, read from mountinfo once per process: `stats` for 50
    containers parsed it 100 times. Hierarchies are mounted at boot; a process does not outlive a change."""
    version = host_version()
    return version, (v1_mounts() if version == 1 else None)


def driver(name: str) -> Cgroup:
    """The cgroup of `name` ("tuiker/<container id>"); TUIKER_CGROUP_PARENT replaces the "tuiker" part."""
    parent = os.environ.get("TUIKER_CGROUP_PARENT")
    if parent:
        name = f"{parent.strip('/')}/{check_name(name).rpartition('/')[2]}"
    version, mounts = _layout()
    return V2Cgroup(name) if version == 2 else V1Cgroup(name, mounts)


def for_container(container_id: str) -> Cgroup:
    """The cgroup of a container: `tuiker/<id>` (TUIKER_CGROUP_PARENT/<id>), where the monitor puts it and
    everything else (stats, top, rm) looks for it."""
    return driver(f"tuiker/{container_id}")
