"""Attach and exec through the API, by docker's own clients: docker-py (exec_run, the low-level exec calls,
attach_socket, run) and Debian's docker CLI (exec, exec -i, run, and in tmux exec -it with a resize, run -it, and
attach's Ctrl-P Ctrl-Q). The containers they use are made through the engine where the client's own call for it
is another endpoint module's; the CLI scenarios that need those endpoints skip (saying so) while they are not
served."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest
from apiserver import DOCKER_CLI
from conftest import wait_for
from tmux import Tmux

from tuiker.engine import RunOptions

REPO_ROOT = Path(__file__).resolve().parents[2]


def _started(engine, *cmd: str, name: str | None = None, **opts):
    c = engine.containers.create(RunOptions(image="busybox", command=list(cmd), name=name, **opts))
    engine.containers.start(c.id)
    return c.reload()


def _raw(api, request: bytes) -> socket.socket:
    s = socket.socket(socket.AF_UNIX)
    s.connect(str(api.sock))
    s.settimeout(30)
    s.sendall(request)
    return s


def _head(s: socket.socket) -> tuple[str, bytes]:
    """The answer's head, and what came after it."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = s.recv(65536)
        assert chunk, f"the connection ended in the head: {data!r}"
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    return head.decode(), rest


def _read_all(s: socket.socket, rest: bytes = b"") -> bytes:
    data = rest
    while chunk := s.recv(65536):
        data += chunk
    return data


def _demux(data: bytes) -> tuple[bytes, bytes]:
    out = {1: b"", 2: b""}
    while data:
        kind, length = struct.unpack(">BxxxI", data[:8])
        out[kind] += data[8:8 + length]
        data = data[8 + length:]
    return out[1], out[2]


def _served(api, method: str, path: str) -> bool:
    """Whether another module serves this endpoint yet (the router's own 404 says "page not found")."""
    s = _raw(api, f"{method} /v1.41{path} HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
             .encode())
    try:
        return b'"page not found"' not in _read_all(s)
    finally:
        s.close()


def _need(api, *endpoints: tuple[str, str]) -> None:
    missing = [f"{m} {p}" for m, p in endpoints if not _served(api, m, p)]
    if missing:
        pytest.skip(f"needs {', '.join(missing)} (tuiker/api/containers.py, another module), not served here yet")


# -- docker-py -------------------------------------------------------------------------------------------------------
def test_exec_run_demux_exit_code_and_tty(api, client, engine):
    c = _started(engine, "sleep", "1000")
    container = client.containers.get(c.id) if _served(api, "GET", f"/containers/{c.id}/json") else None
    if container is None:
        from docker.models.containers import Container

        container = Container(attrs={"Id": c.id}, client=client)
    result = container.exec_run(["sh", "-c", "echo out; echo err >&2; exit 3"], demux=True)
    assert result.exit_code == 3 and result.output == (b"out\n", b"err\n")
    result = container.exec_run("sh -c 'echo both; echo err >&2'")
    assert result.exit_code == 0 and sorted(result.output.splitlines()) == [b"both", b"err"]
    result = container.exec_run(["sh", "-c", "test -t 0 && test -t 1 && echo on-a-tty"], tty=True)
    assert (result.exit_code, result.output) == (0, b"on-a-tty\r\n")
    result = container.exec_run(["sh", "-c", "echo $EXTRA; pwd"], environment=["EXTRA=yes"], workdir="/tmp")
    assert result.output == b"yes\n/tmp\n"
    assert container.exec_run("id -un", user="nobody").output == b"nobody\n"
    result = container.exec_run("no-such-command")
    assert result.exit_code == 127 and b"no-such-command" in result.output
    engine.containers.remove(c.id, force=True)


def test_low_level_exec_create_start_inspect(api, client, engine):
    c = _started(engine, "sleep", "1000")
    low = client.api
    exec_id = low.exec_create(c.id, ["sh", "-c", "sleep 0.5; exit 5"], user="nobody")["Id"]
    assert re.fullmatch(r"[0-9a-f]{64}", exec_id)
    before = low.exec_inspect(exec_id)
    assert before["Running"] is False and before["ExitCode"] is None and before["ContainerID"] == c.id
    assert before["ProcessConfig"] == {"entrypoint": "sh", "arguments": ["-c", "sleep 0.5; exit 5"], "tty": False,
                                       "user": "nobody", "privileged": False}
    assert low.exec_start(exec_id, detach=True) in (b"", "")
    during = low.exec_inspect(exec_id)
    assert during["Running"] is True and during["ExitCode"] is None and during["Pid"] > 0
    assert os.path.exists(f"/proc/{during['Pid']}")
    after = wait_for(lambda: (i := low.exec_inspect(exec_id))["ExitCode"] is not None and i, 10, "the exit code")
    assert after["Running"] is False and after["ExitCode"] == 5
    docker = pytest.importorskip("docker")
    with pytest.raises(docker.errors.APIError) as again:
        low.exec_start(exec_id)
    assert again.value.status_code == 409
    with pytest.raises(docker.errors.NotFound, match="No such exec instance"):
        low.exec_inspect("0" * 64)
    with pytest.raises(docker.errors.NotFound, match="No such container: nothere"):
        low.exec_create("nothere", ["true"])
    with pytest.raises(docker.errors.APIError, match="privileged exec is not supported") as priv:
        low.exec_create(c.id, ["true"], privileged=True)
    assert priv.value.status_code == 400
    with pytest.raises(docker.errors.APIError, match="No exec command specified"):
        low.exec_create(c.id, [])
    # Created but never started: nothing runs for it, and its container's stop forgets it.
    unstarted = low.exec_create(c.id, ["sleep", "999"])["Id"]
    engine.containers.stop(c.id, timeout=0)
    with pytest.raises(docker.errors.APIError, match="is not running") as stopped:
        low.exec_create(c.id, ["true"])
    assert stopped.value.status_code == 409
    with pytest.raises(docker.errors.NotFound):
        low.exec_inspect(unstarted)
    engine.containers.remove(c.id)


def test_exec_stdin_through_the_socket_and_resize(api, client, engine):
    c = _started(engine, "sleep", "1000")
    low = client.api
    exec_id = low.exec_create(c.id, ["cat"], stdin=True)["Id"]
    sock = low.exec_start(exec_id, socket=True)
    raw = sock._sock
    raw.sendall(b"hello through stdin\n")
    raw.shutdown(socket.SHUT_WR)  # the end of input: cat reads EOF and ends
    raw.settimeout(30)
    assert _demux(_read_all(raw)) == (b"hello through stdin\n", b"")
    sock.close()
    assert low.exec_inspect(exec_id)["ExitCode"] == 0

    exec_id = low.exec_create(c.id, ["sh", "-c", "stty size; read x; stty size"], stdin=True, tty=True)["Id"]
    low.exec_resize(exec_id, height=33, width=111)  # before the start: its terminal starts at that size
    sock = low.exec_start(exec_id, socket=True, tty=True)
    raw = sock._sock
    raw.settimeout(30)
    data = b""
    while b"33 111" not in data:
        data += raw.recv(4096)
    low.exec_resize(exec_id, height=20, width=70)
    raw.sendall(b"\n")
    data += _read_all(raw)
    sock.close()
    assert b"20 70" in data, data
    assert low.exec_inspect(exec_id)["ExitCode"] == 0
    engine.containers.remove(c.id, force=True)


def test_exec_detach_keys(api, client, engine):
    c = _started(engine, "sleep", "1000")
    low = client.api
    docker = pytest.importorskip("docker")
    with pytest.raises(docker.errors.APIError, match=r"Invalid detach keys \(ctrl-1\) provided"):
        low.exec_create(c.id, ["sh"], stdin=True, detach_keys="ctrl-1")
    exec_id = low.exec_create(c.id, ["sh"], stdin=True, tty=True, detach_keys="ctrl-a,x")["Id"]
    sock = low.exec_start(exec_id, socket=True, tty=True)
    raw = sock._sock
    raw.settimeout(30)
    raw.sendall(b"echo $((6*7))\n")
    data = b""
    while b"42" not in data:
        data += raw.recv(4096)
    raw.sendall(b"\x01x")  # the detach keys: the client is let go, the shell goes on
    _read_all(raw)
    sock.close()
    state = low.exec_inspect(exec_id)
    assert state["Running"] is True and state["ExitCode"] is None and os.path.exists(f"/proc/{state['Pid']}")
    engine.containers.stop(c.id, timeout=0)  # its exec ends with it, and the service hears of the end
    ended = wait_for(lambda: (i := low.exec_inspect(exec_id))["Running"] is False and i, 10, "the exec's end")
    assert ended["ExitCode"] is not None
    engine.containers.remove(c.id)


def test_attach_socket_and_attach_before_start(api, client, engine):
    c = _started(engine, "sh", "-c", "while true; do echo tick; sleep 0.2; done")
    sock = client.api.attach_socket(c.id, params={"stdout": 1, "stderr": 1, "stream": 1})
    raw = sock._sock
    raw.settimeout(30)
    data = b""
    while len(data) < 8 + 5:
        data += raw.recv(4096)
    assert data[:8] == b"\x01\x00\x00\x00\x00\x00\x00\x05" and data[8:13] == b"tick\n"
    sock.close()
    time.sleep(0.3)
    assert engine.containers.get(c.id).status == "running"  # the client left: the container goes on
    engine.containers.remove(c.id, force=True)

    # docker run's order: attach (101 UPGRADED), then start; the first byte is there, then the end of the stream.
    c = engine.containers.create(RunOptions(image="busybox", command=["sh", "-c", "echo first; echo e >&2; exit 2"]))
    s = _raw(api, f"POST /v1.44/containers/{c.id}/attach?stream=1&stdout=1&stderr=1 HTTP/1.1\r\nHost: x\r\n"
                  f"Connection: Upgrade\r\nUpgrade: tcp\r\nContent-Length: 0\r\n\r\n".encode())
    head, rest = _head(s)
    assert head.startswith("HTTP/1.1 101 UPGRADED"), head
    assert "Content-Type: application/vnd.docker.multiplexed-stream" in head and "Upgrade: tcp" in head
    engine.containers.start(c.id)
    assert _demux(_read_all(s, rest)) == (b"first\n", b"e\n")
    s.close()
    assert engine.containers.wait(c.id) == 2
    # A tty container's stream is raw; logs=1 replays what it wrote before.
    s = _raw(api, f"POST /v1.41/containers/{c.id}/attach?logs=1&stdout=1&stderr=1 HTTP/1.1\r\nHost: x\r\n"
                  f"Content-Length: 0\r\n\r\n".encode())
    head, rest = _head(s)
    assert head.startswith("HTTP/1.1 200") and "application/vnd.docker.raw-stream" in head  # API < 1.42
    assert _demux(_read_all(s, rest)) == (b"first\n", b"e\n")
    s.close()
    engine.containers.remove(c.id)

    s = _raw(api, b"POST /containers/nothere/attach?stream=1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    head, rest = _head(s)
    assert head.startswith("HTTP/1.1 404")
    assert json.loads(_read_all(s, rest)) == {"message": "No such container: nothere"}
    s.close()


def test_docker_py_attach_streams_from_the_start(api, client, engine):
    """docker-py's own attach (an upgraded request read by requests), streamed, while the container starts."""
    c = engine.containers.create(RunOptions(image="busybox", command=["sh", "-c", "echo one; sleep 0.3; echo two"]))
    _need(api, ("GET", f"/containers/{c.id}/json"))  # docker-py asks whether it has a tty first
    stream = client.api.attach(c.id, stdout=True, stderr=True, stream=True, demux=True)
    engine.containers.start(c.id)
    assert b"".join(out for out, _ in stream if out) == b"one\ntwo\n"
    engine.containers.remove(c.id)


def test_run_returns_output(api, client):
    # docker-py's run reads the output through logs, not attach.
    _need(api, ("POST", "/containers/create"), ("POST", "/containers/x/start"), ("POST", "/containers/x/wait"),
          ("GET", "/containers/x/json"), ("GET", "/containers/x/logs"), ("DELETE", "/containers/x"))
    assert client.containers.run("busybox", ["sh", "-c", "echo from-run"], remove=True) == b"from-run\n"


# -- Debian's docker CLI ---------------------------------------------------------------------------------------------
def test_cli_exec_and_exec_i(api, engine):
    c = _started(engine, "sleep", "1000", name="execme", hostname="exec-host")
    _need(api, ("GET", f"/containers/{c.id}/json"))  # docker exec inspects the container first
    done = api.docker("exec", "execme", "cat", "/etc/hostname")
    assert (done.returncode, done.stdout, done.stderr) == (0, "exec-host\n", "")
    done = api.docker("exec", "-i", "execme", "cat", input="piped into exec\n")
    assert (done.returncode, done.stdout) == (0, "piped into exec\n")
    done = api.docker("exec", "execme", "sh", "-c", "echo to-err >&2; exit 7")
    assert (done.returncode, done.stdout, done.stderr) == (7, "", "to-err\n")
    done = api.docker("exec", "execme", "no-such-command")
    assert done.returncode == 127 and "no-such-command" in done.stdout + done.stderr
    assert api.docker("exec", "-d", "execme", "sh", "-c", "echo detached > /tmp/flag").returncode == 0
    wait_for(lambda: api.docker("exec", "execme", "cat", "/tmp/flag").stdout == "detached\n", 10, "the -d exec's file")
    # The same as tuiker's own exec (but for the line of each one's own ps, whose pid differs).
    ours = subprocess.run([sys.executable, "-m", "tuiker", "exec", "execme", "ps"], capture_output=True, text=True,
                          env=dict(os.environ, TUIKER_ROOT=str(engine.root), PYTHONPATH=str(REPO_ROOT)), timeout=60)
    theirs = api.docker("exec", "execme", "ps")

    def others(text: str) -> list[str]:
        return [line for line in text.splitlines() if not line.endswith(" ps")]

    assert ours.returncode == theirs.returncode == 0
    assert others(theirs.stdout) == others(ours.stdout) and len(others(ours.stdout)) >= 2
    assert len(theirs.stdout.splitlines()) == len(ours.stdout.splitlines())
    engine.containers.remove(c.id, force=True)


def test_cli_run_output_and_exit_status(api, engine):
    _need(api, ("POST", "/containers/create"), ("POST", "/containers/x/start"), ("POST", "/containers/x/wait"),
          ("GET", "/containers/x/json"))
    done = api.docker("run", "--rm", "busybox", "echo", "hi")
    assert (done.returncode, done.stdout) == (0, "hi\n"), done.stderr
    assert api.docker("run", "--rm", "busybox", "sh", "-c", "exit 3").returncode == 3
    done = api.docker("run", "--rm", "-i", "busybox", "cat", input="into run -i\n")
    assert (done.returncode, done.stdout) == (0, "into run -i\n"), done.stderr
    wait_for(lambda: not engine.containers.list(all=True), 10, "the --rm containers to go")


# -- in a terminal ---------------------------------------------------------------------------------------------------
needs_tmux = pytest.mark.skipif(not shutil.which("tmux"), reason="needs tmux (apt-get install tmux)")


def _terminal(api, command: str, size: tuple[int, int] = (100, 30)) -> Tmux:
    env = {k: v for k, v in api.env(TERM="xterm").items() if k in ("DOCKER_HOST", "DOCKER_CONFIG", "PATH", "TERM")}
    return Tmux(f"{command}; echo CLI-EXITED $?; sleep 60", env, size=size)


@needs_tmux
def test_cli_exec_it_with_resize(api, engine):
    c = _started(engine, "sleep", "1000", name="shellme")
    _need(api, ("GET", f"/containers/{c.id}/json"))
    term = _terminal(api, f"{DOCKER_CLI} exec -it shellme sh")
    try:
        term.wait_for(lambda s: "/ #" in s, 20, "the shell's prompt")
        term.keys("stty size", literal=True)
        term.keys("Enter")
        term.wait_for(lambda s: "30 100" in s, 10, "the terminal's size")
        term.tmux("resize-window", "-x", "90", "-y", "25")
        term.keys("clear; stty size", literal=True)
        term.keys("Enter")
        term.wait_for(lambda s: "25 90" in s, 10, "the new size")
        term.keys("exit 4", literal=True)
        term.keys("Enter")
        term.wait_for(lambda s: "CLI-EXITED 4" in s, 20, "docker exec's end and the shell's exit status")
    finally:
        term.close()
    engine.containers.remove(c.id, force=True)


@needs_tmux
def test_cli_run_it(api, engine):
    _need(api, ("POST", "/containers/create"), ("POST", "/containers/x/start"), ("POST", "/containers/x/wait"),
          ("GET", "/containers/x/json"), ("POST", "/containers/x/resize"))
    term = _terminal(api, f"{DOCKER_CLI} run -it --rm busybox sh")
    try:
        term.wait_for(lambda s: "/ #" in s, 30, "the shell's prompt")
        term.keys("echo $((6*7))", literal=True)
        term.keys("Enter")
        term.wait_for(lambda s: re.search(r"^42\s*$", s, re.M), 10, "the shell's answer")
        term.keys("exit", literal=True)
        term.keys("Enter")
        term.wait_for(lambda s: "CLI-EXITED 0" in s, 20, "docker run's end")
    finally:
        term.close()
    wait_for(lambda: not engine.containers.list(all=True), 10, "the --rm container to go")


@needs_tmux
def test_cli_attach_detaches_with_ctrl_p_ctrl_q(api, engine):
    c = _started(engine, "sh", name="attachme", tty=True, interactive=True)
    _need(api, ("GET", f"/containers/{c.id}/json"))
    term = _terminal(api, f"{DOCKER_CLI} attach attachme")
    try:
        time.sleep(1)
        term.keys("echo $((6*7))", literal=True)
        term.keys("Enter")
        term.wait_for(lambda s: re.search(r"^42\s*$", s, re.M), 20, "the shell's answer")
        term.keys("C-p")
        term.keys("C-q")
        term.wait_for(lambda s: "CLI-EXITED" in s, 20, "docker attach's end")
    finally:
        term.close()
    time.sleep(0.3)
    assert engine.containers.get(c.id).status == "running"  # detached: the container goes on
    engine.containers.remove(c.id, force=True)
