"""Debian's docker CLI (docker.io 20.10, /usr/bin/docker) over the service: the container commands users type, and
what they show next to tuiker's own CLI on the same engine root."""

from __future__ import annotations

import os
import tarfile
import time

import pytest
from conftest import ok, run_tuiker

from tests.apiserver import DOCKER_CLI

pytestmark = pytest.mark.skipif(not os.path.exists(DOCKER_CLI),
                                reason="Debian's docker.io CLI is installed by the test command")


@pytest.fixture
def docker(api):
    """Debian's docker CLI on the service (ApiService.docker)."""
    return api.docker


def _same_twice(first, second, tries: int = 3) -> tuple[str, str]:
    """Two commands' outputs, taken again if a second ticked over between them (`Up 2 seconds`)."""
    for _ in range(tries):
        a, b = first(), second()
        if a == b:
            break
    return a, b


def test_run_detached_ps_inspect_stop_rm(docker):
    cid = ok(docker("run", "-d", "--name", "web", "busybox", "sleep", "300")).strip()
    assert len(cid) == 64
    ours, theirs = _same_twice(lambda: ok(run_tuiker("ps", "--format", "{{.Names}} {{.Status}}")),
                               lambda: ok(docker("ps", "--format", "{{.Names}} {{.Status}}")))
    assert theirs == ours and theirs.startswith("web Up")
    assert ok(docker("ps", "-q")).split() == [cid[:12]]
    assert ok(docker("inspect", "-f", "{{.State.Status}}", "web")) == "running\n"
    assert ok(docker("inspect", "-f", "{{.State.Status}}", "web")) == ok(run_tuiker("inspect", "-f",
                                                                                    "{{.State.Status}}", "web"))
    assert ok(docker("stop", "-t", "1", "web")) == "web\n"
    assert ok(docker("inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", "web")) == "exited 137\n"
    ours, theirs = _same_twice(lambda: ok(run_tuiker("ps", "-a", "--format", "{{.Names}} {{.Status}}")),
                               lambda: ok(docker("ps", "-a", "--format", "{{.Names}} {{.Status}}")))
    assert theirs == ours and theirs.startswith("web Exited (137)")
    ok(docker("start", "web"))
    assert ok(docker("rm", "-f", "web")) == "web\n"
    assert ok(docker("ps", "-aq")) == ""


def test_run_rm_shows_the_output(docker):
    result = docker("run", "--rm", "busybox", "echo", "hi")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "hi\n"
    assert ok(docker("ps", "-aq")) == ""


def test_errors_in_dockers_words(docker):
    # as docker 20.10's CLI words them over dockerd: some commands show the daemon's message as it is, others
    # (rm, inspect, logs, cp) their own line made from the 404
    daemon_says = "Error response from daemon: No such container: x\n"
    for args, said in ((("stop", "x"), daemon_says), (("kill", "x"), daemon_says), (("top", "x"), daemon_says),
                       (("export", "x"), daemon_says), (("wait", "x"), daemon_says), (("diff", "x"), daemon_says),
                       (("stats", "--no-stream", "x"), daemon_says),
                       (("rm", "x"), "Error: No such container: x\n"), (("logs", "x"), "Error: No such container: x\n"),
                       (("inspect", "--type", "container", "x"), "Error: No such container: x\n"),
                       (("cp", "x:/a", "/tmp/b"), "Error: No such container:path: x:/a\n")):
        result = docker(*args)
        assert result.returncode == 1 and result.stderr == said, args
    ok(docker("run", "-d", "--name", "busy", "busybox", "sleep", "300"))
    try:
        result = docker("rm", "busy")
        assert result.returncode == 1
        assert "Error response from daemon: You cannot remove a running container" in result.stderr
        assert "Stop the container before attempting removal or force remove" in result.stderr
        result = docker("run", "-d", "--name", "busy", "busybox", "true")
        assert result.returncode == 125 and 'The container name "/busy" is already in use' in result.stderr
        result = docker("run", "-d", "--oom-kill-disable", "busybox", "true")
        assert result.returncode == 125 and "HostConfig.OomKillDisable is not supported" in result.stderr
    finally:
        ok(docker("rm", "-f", "busy"))


def test_stats_no_stream_shows_what_tuiker_shows(docker):
    ok(docker("run", "-d", "--name", "small", "-m", "64m", "busybox", "sleep", "300"))
    ok(docker("run", "-d", "--name", "plain", "busybox", "sleep", "300"))
    try:
        columns = "{{.Name}}|{{.MemUsage}}|{{.CPUPerc}}|{{.MemPerc}}|{{.PIDs}}"
        theirs = ok(docker("stats", "--no-stream", "--format", columns, "small", "plain")).splitlines()
        ours = ok(run_tuiker("stats", "--no-stream", "--format", columns, "small", "plain")).splitlines()
        assert [r.split("|")[0] for r in theirs] == [r.split("|")[0] for r in ours] == ["small", "plain"]
        limits = lambda rows: [r.split("|")[1].split(" / ")[1] for r in rows]  # noqa: E731
        assert limits(theirs) == limits(ours) and limits(theirs)[0] == "64MiB"
        for row in theirs:
            name, usage, cpu, mem, pids = row.split("|")
            assert usage.split(" / ")[0].endswith(("KiB", "MiB", "B")) and float(cpu.rstrip("%")) >= 0
            assert float(mem.rstrip("%")) >= 0 and pids == "1"
        assert float(theirs[0].split("|")[3].rstrip("%")) > 0  # of 64MiB, unlike of the host's memory
        header = ok(docker("stats", "--no-stream", "small")).splitlines()[0].split()
        assert header == ok(run_tuiker("stats", "--no-stream", "small")).splitlines()[0].split()
    finally:
        ok(docker("rm", "-f", "small", "plain"))


def test_logs_and_follow(docker):
    ok(docker("run", "-d", "--name", "talk", "busybox", "sh", "-c",
              "echo out; sleep 0.2; echo err >&2; sleep 1; echo late"))
    started = time.monotonic()
    followed = docker("logs", "-f", "talk", timeout=30)
    assert followed.returncode == 0 and followed.stdout == "out\nlate\n" and followed.stderr == "err\n"
    assert time.monotonic() - started < 20  # it ended with the container
    both = docker("logs", "talk")
    assert both.stdout == "out\nlate\n" and both.stderr == "err\n"
    assert ok(docker("logs", "--tail", "1", "talk")) == "late\n"
    assert ok(docker("logs", "talk")) == ok(run_tuiker("logs", "talk"))
    ok(docker("rm", "talk"))


def test_cp_both_ways_and_export(docker, tmp_path):
    ok(docker("run", "-d", "--name", "files", "busybox", "sh", "-c", "mkdir /data; echo inside > /data/a; sleep 300"))
    try:
        deadline = time.monotonic() + 20
        while docker("cp", "files:/data/a", str(tmp_path / "a")).returncode != 0:
            assert time.monotonic() < deadline
            time.sleep(0.1)
        assert (tmp_path / "a").read_text() == "inside\n"
        ok(docker("cp", "files:/data", str(tmp_path / "copied")))
        assert (tmp_path / "copied" / "a").read_text() == "inside\n"
        (tmp_path / "up.txt").write_text("from host\n")
        ok(docker("cp", str(tmp_path / "up.txt"), "files:/data/"))
        ok(docker("cp", str(tmp_path / "up.txt"), "files:/data/renamed.txt"))
        ok(docker("cp", "files:/data/up.txt", str(tmp_path / "back.txt")))
        assert (tmp_path / "back.txt").read_text() == "from host\n"
        ok(docker("cp", "files:/data/renamed.txt", str(tmp_path / "back2.txt")))
        assert (tmp_path / "back2.txt").read_text() == "from host\n"
        missing = docker("cp", "files:/nothere", str(tmp_path / "x"))  # docker 20.10's CLI words the 404 so
        assert missing.returncode == 1 and missing.stderr == "Error: No such container:path: files:/nothere\n"
        ok(docker("export", "-o", str(tmp_path / "fs.tar"), "files"))
        with tarfile.open(tmp_path / "fs.tar") as tar:
            names = {n.lstrip("./") for n in tar.getnames()}
        assert {"data/a", "data/up.txt", "data/renamed.txt", "bin/busybox"} <= names
    finally:
        ok(docker("rm", "-f", "files"))


def test_the_other_container_commands(docker):
    ok(docker("run", "-d", "--name", "one", "--label", "tier=web", "-m", "64m", "busybox", "sleep", "300"))
    ok(docker("create", "--name", "two", "busybox", "sh", "-c", "touch /made; exit 3"))
    try:
        assert ok(docker("ps", "-a", "--filter", "label=tier=web", "--format", "{{.Names}}")) == "one\n"
        assert ok(docker("ps", "-a", "--filter", "status=created", "--format", "{{.Names}}")) == "two\n"
        assert ok(docker("ps", "-a", "--filter", "status=created", "--format", "{{.Names}}")) == \
            ok(run_tuiker("ps", "-a", "--filter", "status=created", "--format", "{{.Names}}"))
        ok(docker("start", "two"))
        assert ok(docker("wait", "two")) == "3\n"
        assert "A /made" in ok(docker("diff", "two")).splitlines()
        assert ok(docker("pause", "one")) == "one\n"
        assert ok(docker("inspect", "-f", "{{.State.Status}}", "one")) == "paused\n"
        assert ok(docker("unpause", "one")) == "one\n"
        top = ok(docker("top", "one")).splitlines()
        assert top[0].split()[:3] == ["UID", "PID", "PPID"] and top[1].endswith("sleep 300")
        ok(docker("update", "--memory", "96m", "--memory-swap", "192m", "one"))
        assert ok(docker("inspect", "-f", "{{.HostConfig.Memory}}", "one")) == f"{96 << 20}\n"
        refused = docker("update", "--blkio-weight", "300", "one")
        assert refused.returncode == 1 and "updating BlkioWeight is not supported by tuiker" in refused.stderr
        ok(docker("rename", "one", "uno"))
        assert ok(docker("restart", "-t", "1", "uno")) == "uno\n"
        assert ok(docker("kill", "uno")) == "uno\n"
        assert ok(docker("inspect", "-f", "{{.State.ExitCode}}", "uno")) == "137\n"
        pruned = ok(docker("container", "prune", "-f"))
        assert "Deleted Containers:" in pruned and ok(docker("ps", "-aq")) == ""
    finally:
        for name in ("one", "uno", "two"):
            docker("rm", "-f", name)


def test_published_ports_show_as_tuiker_shows_them(docker):
    ok(docker("run", "-d", "--name", "web", "-p", "127.0.0.1::80", "-p", "127.0.0.1:0:81/udp", "--expose", "90",
              "busybox", "sleep", "300"))
    try:
        theirs = ok(docker("ps", "--format", "{{.Ports}}"))
        assert theirs == ok(run_tuiker("ps", "--format", "{{.Ports}}"))
        assert "127.0.0.1:" in theirs and "->80/tcp" in theirs and "->81/udp" in theirs and "90/tcp" in theirs
        assert ok(docker("port", "web", "80")) == ok(run_tuiker("port", "web", "80"))
    finally:
        ok(docker("rm", "-f", "web"))


def test_stats_no_stream_of_every_running_container(docker):
    ok(docker("run", "-d", "--name", "one", "busybox", "sleep", "300"))
    ok(docker("create", "--name", "idle", "busybox", "true"))
    try:
        theirs = ok(docker("stats", "--no-stream", "--format", "{{.Name}}"))
        assert theirs == ok(run_tuiker("stats", "--no-stream", "--format", "{{.Name}}")) == "one\n"
    finally:
        ok(docker("rm", "-f", "one", "idle"))
