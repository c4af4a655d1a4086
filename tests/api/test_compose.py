"""docker-compose 1.29 (the Python one, Debian's package on Debian's own python3) brings a small stack up on
tuiker through the API and takes it down again: two busybox services on a user network, a named volume, a port
published on 127.0.0.1, depends_on and environment; then ps, logs, exec, a service reaching the other by name,
stop, and `down -v` leaving no container, network or volume behind."""

from __future__ import annotations

import os
import re
import socket
import subprocess

import pytest

from tests.conftest import ok, wait_for

COMPOSE = "/usr/bin/docker-compose"
PROJECT = "tkstack"

pytestmark = pytest.mark.skipif(not os.access(COMPOSE, os.X_OK), reason="needs Debian's docker-compose (apt)")

STACK = """\
version: "2.4"
services:
  web:
    image: busybox
    environment:
      GREETING: hello-from-web
    command: ["sh", "-c", "mkdir -p /www && echo $$GREETING > /www/index.html && echo web-log-line && \
exec httpd -f -p 8080 -h /www"]
    ports:
      - "127.0.0.1:{port}:8080"
    volumes:
      - data:/data
    networks:
      - front
  client:
    image: busybox
    depends_on:
      - web
    environment:
      TARGET: web
    command: ["sh", "-c", "echo client-log-line; while true; do sleep 1; done"]
    networks:
      - front
networks:
  front: {{}}
volumes:
  data: {{}}
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _http_get(port: int) -> str:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(b"GET / HTTP/1.0\r\n\r\n")
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    return data.decode(errors="replace")


@pytest.fixture
def compose(api, tmp_path):
    """Run `docker-compose -p tkstack ARGS` on the stack in tmp_path; on failure, the service's request log."""
    port = _free_port()
    (tmp_path / "docker-compose.yml").write_text(STACK.format(port=port))
    env = api.env(COMPOSE_DOCKER_CLI_BUILD="0", DOCKER_BUILDKIT="0", COMPOSE_INTERACTIVE_NO_CLI="1")
    env.pop("PYTHONPATH", None)  # Debian's python3 with its own packages, nothing of the test's environment

    def run(*args: str, check: bool = True, timeout: float = 60) -> str:
        result = subprocess.run([COMPOSE, "--ansi", "never", "-p", PROJECT, *args], cwd=tmp_path, env=env,
                                capture_output=True, text=True, timeout=timeout)
        if check and result.returncode != 0:
            raise AssertionError(f"docker-compose {' '.join(args)} exited {result.returncode}:\n{result.stdout}"
                                 f"{result.stderr}\nthe service's log (last 40 lines):\n"
                                 + "\n".join(api.stderr().splitlines()[-40:]))
        return result.stdout + result.stderr

    run.port = port
    yield run
    run("down", "-v", "--remove-orphans", "-t", "1", check=False)


def test_stack_up_use_down(compose, tuiker):
    out = compose("up", "-d")
    assert re.search(rf"Creating {PROJECT}_web_1 \.\.\. done", out), out
    assert out.index(f"Creating {PROJECT}_web_1") < out.index(f"Creating {PROJECT}_client_1"), out  # depends_on

    ps = compose("ps")
    assert re.search(rf"{PROJECT}_web_1\s.*\sUp\s", ps) and re.search(rf"{PROJECT}_client_1\s.*\sUp", ps), ps
    assert f"127.0.0.1:{compose.port}->8080/tcp" in ps, ps

    logs = wait_for(lambda: (o := compose("logs", "--no-color")) and "web-log-line" in o and
                    "client-log-line" in o and o, 10, "both services' log lines")
    assert re.search(r"web_1\s+\| web-log-line", logs), logs

    hostname = compose("exec", "-T", "web", "cat", "/etc/hostname").strip()
    expected = ok(tuiker("inspect", "-f", "{{.Config.Hostname}}", f"{PROJECT}_web_1")).strip()
    assert hostname == expected and hostname, (hostname, expected)

    # The client reaches web by its service name on the project's network, and the host through the port.
    page = wait_for(lambda: "hello-from-web" in (o := compose(
        "exec", "-T", "client", "sh", "-c", 'printf "GET / HTTP/1.0\\r\\n\\r\\n" | nc -w 3 "$TARGET" 8080',
        check=False)) and o, 10, "web by name from client")
    assert "200 OK" in page, page
    assert "hello-from-web" in _http_get(compose.port)

    out = compose("stop", "-t", "1")
    states = ok(tuiker("ps", "-a", "--format", "{{.Names}} {{.State}}")).split("\n")
    assert sorted(filter(None, states)) == [f"{PROJECT}_client_1 exited", f"{PROJECT}_web_1 exited"], states

    out = compose("down", "-v")
    assert "Removing network" in out and "Removing volume" in out, out
    assert ok(tuiker("ps", "-a", "-q")).strip() == ""
    networks = ok(tuiker("network", "ls", "--format", "{{.Name}}")).split()
    assert not [n for n in networks if n.startswith(PROJECT)], networks
    assert ok(tuiker("volume", "ls", "-q")).strip() == ""
