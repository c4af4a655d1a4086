"""Fixtures of a real Docker engine, registered by tests/conftest.py (a conftest.py here would shadow that one as
module `conftest`): `dockerd`, one private dockerd (Debian's docker.io 20.10, tests/dockerd.py) for the session,
shared by the remote engine's tests, the API's swagger check and its build comparison, with its data under /var/tmp
and its own socket, holding the session's busybox (pulled from the session registry on 127.0.0.1) also tagged
`busybox`; each test removes what it made there. `remote`: a RemoteEngine on it."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

from tests.dockerd import PrivateDockerd, remove_tree


@pytest.fixture(scope="session")
def dockerd(busybox_image):
    workdir = Path(tempfile.mkdtemp(prefix="tuiker-test-remote-", dir="/var/tmp"))
    daemon = PrivateDockerd(workdir, f"tuiker-remote-{os.getpid()}", "tuiker-remote-docker")
    notes: list[str] = []
    try:
        daemon.start()
        if daemon.unavailable:
            pytest.skip(f"no private dockerd: {daemon.unavailable}")
        code, out = daemon.cli("pull", busybox_image[0])
        assert code == 0, out
        code, out = daemon.cli("tag", busybox_image[0], "busybox:latest")
        assert code == 0, out
        yield daemon
    finally:
        daemon.stop(notes)
        remove_tree(workdir)
    assert not notes, notes


@pytest.fixture
def remote(dockerd):
    """A RemoteEngine on the dockerd; the containers a test made are removed after it."""
    from tuiker.remote.engine import RemoteEngine

    engine = RemoteEngine(f"unix://{dockerd.sock}")
    before = set(dockerd.cli("ps", "-aq", "--no-trunc")[1].split())
    yield engine
    made = set(dockerd.cli("ps", "-aq", "--no-trunc")[1].split()) - before
    if made:
        dockerd.cli("rm", "-f", *made)
    engine.close()
