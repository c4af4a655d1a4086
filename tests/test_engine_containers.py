"""The engine's container calls that the CLI and the Docker API share: ps filters in `Containers.list`, the 409/400
error classes docker's answers need, `update` on a live container, and `stat_path`."""

from __future__ import annotations

import pytest
from conftest import wait_for

from tuiker.engine import ConflictError, Engine, InvalidArgument, NotFoundError, RunOptions


def _ids(found) -> list[str]:
    return [c.name for c in found]


def test_list_filters_as_dockers_ps(engine_root, image):
    e = Engine(engine_root)
    a = e.containers.create(RunOptions(image, command=["true"], name="alpha", labels={"tier": "web", "x": "1"}))
    b = e.containers.create(RunOptions(image, command=["sleep", "300"], name="beta", labels={"tier": "db"}))
    e.containers.start(b.id)
    try:
        assert _ids(e.containers.list()) == ["beta"]
        assert _ids(e.containers.list(filters={"status": ["created"]})) == ["alpha"]  # status implies all
        assert _ids(e.containers.list(True, {"status": ["created", "running"]})) == ["beta", "alpha"]  # any of
        assert _ids(e.containers.list(True, {"label": ["tier", "x=1"]})) == ["alpha"]  # labels: all of them
        assert _ids(e.containers.list(True, {"name": ["^alp"]})) == ["alpha"]  # a pattern, as docker's
        assert _ids(e.containers.list(True, {"id": [b.id[:8]]})) == ["beta"]
        assert _ids(e.containers.list(True, {"before": ["beta"]})) == ["alpha"]
        assert _ids(e.containers.list(True, {"since": ["alpha"]})) == ["beta"]
        assert _ids(e.containers.list(True, {"ancestor": [image]})) == ["beta", "alpha"]
        assert _ids(e.containers.list(True, {"ancestor": ["not-here"]})) == []
        assert _ids(e.containers.list(True, {"network": ["bridge"]})) == ["beta", "alpha"]
        assert _ids(e.containers.list(True, {"network": ["none"]})) == []
        assert _ids(e.containers.list(True, {"label": ["tier=db"], "status": ["exited"]})) == []  # keys: all
        for bad in ({"colour": ["red"]}, {"status": ["asleep"]}, {"exited": ["x"]}, {"health": ["fine"]}):
            with pytest.raises(InvalidArgument):
                e.containers.list(True, bad)
        with pytest.raises(NotFoundError):
            e.containers.list(True, {"before": ["nobody"]})
    finally:
        e.containers.remove(b.id, force=True)
        e.containers.remove(a.id)


def test_conflicts_are_conflict_errors(engine_root, image):
    e = Engine(engine_root)
    c = e.containers.create(RunOptions(image, command=["sleep", "300"], name="one"))
    try:
        with pytest.raises(ConflictError, match='The container name "/one" is already in use'):
            e.containers.create(RunOptions(image, command=["true"], name="one"))
        with pytest.raises(ConflictError, match="is not running"):
            e.containers.kill(c.id)
        e.containers.start(c.id)
        with pytest.raises(ConflictError, match=f"You cannot remove a running container {c.id}"):
            e.containers.remove(c.id)
        with pytest.raises(ConflictError, match="is not paused"):
            e.containers.unpause(c.id)
        e.containers.pause(c.id)
        with pytest.raises(ConflictError, match="is already paused"):
            e.containers.pause(c.id)
        with pytest.raises(InvalidArgument, match="Invalid container name"):
            e.containers.create(RunOptions(image, command=["true"], name="no good"))
        with pytest.raises(InvalidArgument, match="Minimum memory limit"):
            e.containers.create(RunOptions(image, command=["true"], memory=1024))
    finally:
        e.containers.remove(c.id, force=True)
    assert e.containers.list(all=True) == []


def test_update_a_live_container_and_stat_a_path(engine_root, image):
    e = Engine(engine_root)
    c = e.containers.create(RunOptions(image, command=["sh", "-c", "echo hi > /note; sleep 300"], memory=64 << 20))
    e.containers.start(c.id)
    try:
        e.containers.update(c.id, memory=80 << 20, pids_limit=30, restart="on-failure:2")
        sample = e.containers.stats(c.id).sample()
        assert sample.memory_limit == 80 << 20 and sample.pids_limit == 30
        host = e.containers.inspect(c.id)["HostConfig"]
        assert host["Memory"] == 80 << 20 and host["RestartPolicy"] == {"Name": "on-failure", "MaximumRetryCount": 2}
        assert e.containers.inspect(c.id)["Name"] == "/" + c.name  # the rest of its config is kept
        with pytest.raises(InvalidArgument):
            e.containers.update(c.id, restart="sometimes")
        found = wait_for(lambda: _stat_or_none(e, c.id, "/note"), 20, "/note")
        assert found["name"] == "note" and found["size"] == 3 and found["mode"] == 0o644
        assert e.containers.stat_path(c.id, "/bin")["mode"] & (1 << 31)  # Go's ModeDir
        with pytest.raises(NotFoundError, match="Could not find the file /nothere"):
            e.containers.stat_path(c.id, "/nothere")
    finally:
        e.containers.remove(c.id, force=True)


def _stat_or_none(e: Engine, ref: str, path: str) -> dict | None:
    try:
        return e.containers.stat_path(ref, path)
    except NotFoundError:
        return None
