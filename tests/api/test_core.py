"""The HTTP core: ping, version negotiation, errors in docker's shape, the socket's mode."""

from __future__ import annotations

import json
import socket
import stat


def _request(sock_path, raw: bytes) -> bytes:
    s = socket.socket(socket.AF_UNIX)
    s.connect(str(sock_path))
    s.sendall(raw)
    out = b""
    while chunk := s.recv(65536):
        out += chunk
    s.close()
    return out


def test_ping_and_version_headers(api, client):
    assert client.ping() is True
    version = client.version()
    assert version["ApiVersion"] == "1.44" and version["MinAPIVersion"] == "1.24"
    reply = _request(api.sock, b"HEAD /_ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    head = reply.decode()
    assert head.startswith("HTTP/1.1 200") and "Api-Version: 1.44" in head and "Ostype: linux" in head


def test_socket_is_root_only(api):
    mode = api.sock.stat().st_mode
    assert stat.S_ISSOCK(mode) and stat.S_IMODE(mode) == 0o660 and api.sock.stat().st_uid == 0


def test_version_prefixes_and_unknown_paths(api):
    for version, status in (("1.24", 200), ("1.44", 200), ("1.45", 400), ("1.12", 400)):
        reply = _request(api.sock, f"GET /v{version}/version HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
                         .encode())
        assert reply.startswith(f"HTTP/1.1 {status}".encode()), reply[:200]
    reply = _request(api.sock, b"GET /v1.44/nothing/here HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert reply.startswith(b"HTTP/1.1 404")
    assert json.loads(reply.split(b"\r\n\r\n", 1)[1]) == {"message": "page not found"}


def test_readme_lists_every_route():
    """The README's endpoint table is the routing table: each route served has its row."""
    from pathlib import Path

    from tuiker.api import ENDPOINT_MODULES
    from tuiker.api.system import not_a_swarm_manager

    readme = (Path(__file__).parent.parent.parent / "README.md").read_text()
    missing = [f"{method} {pattern}" for module in ENDPOINT_MODULES for method, pattern, handler in module.ROUTES
               if handler is not not_a_swarm_manager and f"| `{method} {pattern}` |" not in readme]
    assert not missing, f"routes missing from the README's table: {missing}"


def test_outside_a_swarm(api):
    reply = _request(api.sock, b"GET /v1.44/nodes HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert reply.startswith(b"HTTP/1.1 503")
    assert b"This node is not a swarm manager" in reply
    result = api.docker("node", "ls")
    assert result.returncode == 1 and "This node is not a swarm manager" in result.stderr
