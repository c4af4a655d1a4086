"""The store watcher the TUI polls twice a second (engine/watch.py): it sees containers come, change state and go
from inotify events, checks only the containers with events, and checks every one when events were lost (the
kernel's event queue overflowed, for real)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from conftest import wait_for

from tuiker.engine import Engine, RunOptions
from tuiker.engine.watch import ContainerEvents

SLEEPER = ["sleep", "1000"]


def states(watcher, seen: dict) -> dict[str, str]:
    """Names and states as of the watcher's last snapshot (`seen` keeps the last one between polls)."""
    snapshot = watcher.poll()
    if snapshot is not None:
        seen.clear()
        seen.update({c.name: c.status for c in snapshot.containers})
    return dict(seen)


def test_watcher_sees_containers_come_change_and_go(engine: Engine):
    watcher = engine.watch()
    seen = {c.name: c.status for c in watcher.poll(force=True).containers}
    assert seen == {}
    assert isinstance(watcher._events, ContainerEvents)  # the inotify path, not the check of every container
    assert watcher.poll() is None

    web = engine.containers.create(RunOptions(image="busybox", name="web", command=SLEEPER))
    wait_for(lambda: states(watcher, seen) == {"web": "created"}, 5, "web, created")
    engine.containers.start(web.id)
    wait_for(lambda: states(watcher, seen) == {"web": "running"}, 5, "web, running")
    assert watcher.poll() is None  # nothing changed since

    engine.containers.pause(web.id)
    wait_for(lambda: states(watcher, seen) == {"web": "paused"}, 5, "web, paused")
    engine.containers.remove(web.id, force=True)
    wait_for(lambda: states(watcher, seen) == {}, 5, "web gone")


def test_watcher_checks_every_container_when_events_were_lost(engine: Engine):
    """The queue holds max_queued_events; past it the kernel drops events and queues IN_Q_OVERFLOW instead. A
    container started while the queue is full has no event of its own: only checking every one finds it."""
    limit = int(Path("/proc/sys/fs/inotify/max_queued_events").read_text())
    if limit > 200_000:
        pytest.skip(f"fs.inotify.max_queued_events is {limit}: too many files to make to overflow it")
    flooded = engine.containers.create(RunOptions(image="busybox", name="flooded", command=SLEEPER))
    late = engine.containers.create(RunOptions(image="busybox", name="late", command=SLEEPER))
    watcher = engine.watch()
    seen = {c.name: c.status for c in watcher.poll(force=True).containers}
    assert seen == {"flooded": "created", "late": "created"}

    directory = Path(engine.containers.get(flooded.id).dir)
    for i in range(limit // 2 + 1):  # two events a file: IN_CREATE, IN_CLOSE_WRITE
        os.close(os.open(directory / f"flood-{i}", os.O_CREAT | os.O_WRONLY, 0o600))
    engine.containers.start(late.id)
    wait_for(lambda: states(watcher, seen).get("late") == "running", 5, "late, running")
