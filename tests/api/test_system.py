"""/info and /system/df through docker-py and Debian's docker CLI: the counts are the engine's, and `docker system
df` shows the same figures as `tuiker system df` (both come from engine.disk_usage)."""

from __future__ import annotations

import os
import socket

import pytest

from tests.conftest import ok, run_tuiker
from tuiker.engine import RunOptions


def _containers(engine) -> None:
    """One running container that wrote 5000 bytes, one exited, a used and an unused volume."""
    running = engine.containers.create(RunOptions("busybox", name="busy", volumes=["used:/u"], command=[
        "sh", "-c", "head -c 5000 /dev/zero > /big; head -c 2000 /dev/zero > /u/z; sleep 60"]))
    engine.containers.start(running.id)
    engine.containers.create(RunOptions("busybox", name="idle", command=["true"]))
    engine.volumes.create("spare")
    with open(os.path.join(engine.volumes.get("spare")["Mountpoint"], "f"), "wb") as f:
        f.write(b"x" * 3000)
    import time

    deadline = time.monotonic() + 10
    while engine.containers.size(running.id)[0] < 5000 or engine.volumes.size("used") < 2000:
        assert time.monotonic() < deadline, "the container did not write its files"
        time.sleep(0.05)


def test_info_with_docker_py(client, engine):
    _containers(engine)
    info = client.info()
    assert info["Containers"] == 2 and info["ContainersRunning"] == 1 and info["ContainersStopped"] == 1
    assert info["ContainersPaused"] == 0 and info["Images"] == len(engine.images.list(all=True)) == 1
    assert info["DockerRootDir"] == os.path.realpath(engine.root) and info["OSType"] == "linux"
    assert info["Name"] == socket.gethostname() and info["NCPU"] == os.cpu_count()
    assert info["KernelVersion"] == os.uname().release and info["MemTotal"] > 0
    assert info["Swarm"]["LocalNodeState"] == "inactive" and info["CgroupVersion"] in ("1", "2")
    assert "name=seccomp,profile=builtin" in info["SecurityOptions"] and info["DefaultRuntime"] in info["Runtimes"]
    assert client.info()["ID"] == info["ID"]  # stable
    engine.containers.remove("busy", force=True)
    engine.containers.remove("idle")


def test_docker_info_cli_renders(api, engine):
    engine.containers.create(RunOptions("busybox", name="one", command=["true"]))
    r = api.docker("info")
    assert r.returncode == 0, r.stderr
    lines = [line.strip() for line in r.stdout.splitlines()]
    assert "Containers: 1" in lines and "Stopped: 1" in lines and "Running: 0" in lines
    assert f"Images: {len(engine.images.list(all=True))}" in lines
    assert f"Docker Root Dir: {os.path.realpath(engine.root)}" in lines and "Swarm: inactive" in lines
    assert "ERROR" not in r.stdout + r.stderr
    assert api.docker("info", "-f", "{{.Containers}} {{.Images}}").stdout.split() == ["1", "1"]
    engine.containers.remove("one")


def test_system_df_with_docker_py(client, engine):
    _containers(engine)
    usage = engine.disk_usage()
    df = client.df()
    assert df["LayersSize"] == usage.layers_size > 0 and df["BuildCache"] == []
    (image,) = df["Images"]
    assert image["Id"] == engine.images.get("busybox").id and image["Containers"] == 2
    assert image["Size"] == engine.images.get("busybox").size and image["SharedSize"] == 0
    containers = {c["Names"][0]: c for c in df["Containers"]}
    assert set(containers) == {"/busy", "/idle"}
    busy = containers["/busy"]
    assert busy["State"] == "running" and busy["SizeRw"] == engine.containers.size("busy")[0] >= 5000
    assert busy["SizeRootFs"] == busy["SizeRw"] + image["Size"] and busy["ImageID"] == image["Id"]
    assert busy["Command"] == "sh -c head -c 5000 /dev/zero > /big; head -c 2000 /dev/zero > /u/z; sleep 60"
    volumes = {v["Name"]: v["UsageData"] for v in df["Volumes"]}
    assert volumes["used"]["RefCount"] == 1 and volumes["used"]["Size"] >= 2000
    assert volumes["spare"] == {"Size": 3000, "RefCount": 0}

    only = client.api._result(client.api._get(client.api._url("/system/df"), params={"type": "volume"}), True)
    assert set(only) == {"Volumes"} and only["Volumes"] == df["Volumes"]
    bad = client.api._get(client.api._url("/system/df"), params={"type": "widget"})
    assert bad.status_code == 400
    engine.containers.remove("busy", force=True)
    engine.containers.remove("idle")


def _table(text: str) -> list[list[str]]:
    """`system df`'s rows, split on runs of two or more spaces (RECLAIMABLE holds one space)."""
    import re

    return [re.split(r"\s{2,}", line.strip()) for line in text.strip().splitlines()]


def test_docker_system_df_shows_tuiker_system_df(api, engine):
    _containers(engine)
    theirs = api.docker("system", "df")
    assert theirs.returncode == 0, theirs.stderr
    ours = ok(run_tuiker("system", "df"))
    assert _table(theirs.stdout) == _table(ours)
    rows = {row[0]: row for row in _table(ours)[1:]}
    assert rows["Images"][1:3] == ["1", "1"] and rows["Containers"][1:3] == ["2", "1"]
    assert rows["Local Volumes"][1:3] == ["2", "1"] and rows["Local Volumes"][4].startswith("3kB")
    engine.containers.remove("busy", force=True)
    engine.containers.remove("idle")


@pytest.mark.parametrize("path", ["/info", "/system/df"])
def test_old_api_versions(api, client, path):
    reply = client.api._get(client.api.base_url + "/v1.24" + path)
    assert reply.status_code == 200 and isinstance(reply.json(), dict)
