"""The network commands end to end through the CLI, as a user types them: network create/ls/inspect/rm/connect/
disconnect, run -p/-P/--network/--network-alias, port, ps's PORTS, inspect's NetworkSettings, stats's NET I/O,
system prune. Real containers on real bridges; traffic only to 127.0.0.1 and the containers' addresses."""

from __future__ import annotations

import json
import os
import signal
import socket

from conftest import ok, one_line_error, wait_for

from tuiker.engine import Engine
from tuiker.net import ipam

HTTPD = "mkdir -p /www && echo {text} > /www/index.html && exec httpd -f -p 80 -h /www"
GET = "printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 3"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("0.0.0.0", 0))
        return s.getsockname()[1]


def http_get(port: int) -> str:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
            s.sendall(b"GET / HTTP/1.0\r\n\r\n")
            return b"".join(iter(lambda: s.recv(65536), b"")).decode(errors="replace")
    except OSError:
        return ""


def test_network_create_ls_inspect_rm(tuiker):
    nid = ok(tuiker("network", "create", "--subnet", "10.214.3.0/24", "--label", "team=a", "mynet")).strip()
    assert len(nid) == 64
    listing = ok(tuiker("network", "ls")).splitlines()
    assert listing[0].split() == ["NETWORK", "ID", "NAME", "DRIVER", "SCOPE"]
    names = [line.split()[1] for line in listing[1:]]
    assert names[:3] == ["bridge", "host", "none"] and "mynet" in names
    assert ok(tuiker("network", "ls", "-q", "-f", "name=mynet")).strip() == nid[:12]
    (net,) = json.loads(ok(tuiker("network", "inspect", "mynet")))
    assert net["Id"] == nid and net["Driver"] == "bridge" and net["Labels"] == {"team": "a"}
    assert net["IPAM"]["Config"] == [{"Subnet": "10.214.3.0/24", "Gateway": "10.214.3.1"}]
    options = json.loads(ok(tuiker("network", "inspect", "-f", "{{json .Options}}", "mynet")))
    assert options["com.docker.network.bridge.name"] == f"tk-{nid[:12]}"
    for args, message in [(["network", "create", "mynet"], "network with name mynet already exists"),
                          (["network", "create", "--subnet", "10.214.0.0/16", "other"], "overlaps"),
                          (["network", "create", "--subnet", "10.214.300.0/24", "bad"], "invalid subnet"),
                          (["network", "create", "host"], "pre-defined"),
                          (["network", "rm", "bridge"], "pre-defined network and cannot be removed"),
                          (["network", "rm", "nosuchnet"], "network nosuchnet not found"),
                          (["network", "inspect", "nosuchnet"], "not found")]:
        r = tuiker(*args)
        assert r.returncode != 0 and message in one_line_error(r), (args, r.stderr)
    assert ok(tuiker("network", "rm", "mynet")).strip() == "mynet"
    assert not os.path.exists(f"/sys/class/net/tk-{nid[:12]}")
    assert "mynet" not in ok(tuiker("network", "ls"))


def test_published_port_ps_port_inspect_and_stats(tuiker, image):
    port = free_port()
    cid = ok(tuiker("run", "-d", "--name", "web", "-p", f"127.0.0.1:{port}:80", "--expose", "9000/udp", image,
                    "sh", "-c", HTTPD.format(text="via-cli"))).strip()
    assert "via-cli" in wait_for(lambda: http_get(port), 10, "the published port")
    ps = ok(tuiker("ps")).splitlines()
    assert "PORTS" in ps[0]
    assert f"9000/udp, 127.0.0.1:{port}->80/tcp" in ps[1]  # docker's order: exposed ones first
    assert ok(tuiker("port", "web")) == f"80/tcp -> 127.0.0.1:{port}\n"
    assert ok(tuiker("port", "web", "80/tcp")) == f"127.0.0.1:{port}\n"
    assert "No public port '81/tcp'" in one_line_error(tuiker("port", "web", "81"))
    (info,) = json.loads(ok(tuiker("inspect", "web")))
    ns = info["NetworkSettings"]
    assert ns["Ports"]["80/tcp"] == [{"HostIp": "127.0.0.1", "HostPort": str(port)}]
    assert ns["Networks"]["bridge"]["IPAddress"] == ns["IPAddress"] and ns["Gateway"]
    assert info["HostConfig"]["NetworkMode"] == "bridge"
    address = ok(tuiker("inspect", "-f", "{{.NetworkSettings.IPAddress}}", "web")).strip()
    assert "via-cli" in http_get_addr(address, 80)  # the same server, straight at the container's address
    stats = ok(tuiker("stats", "--no-stream", "web")).splitlines()
    net_io = stats[1].split("%")[2].split("/")  # after CPU % and MEM %
    assert not net_io[0].strip().startswith("0B"), stats
    ok(tuiker("rm", "-f", cid))
    assert http_get(port) == ""
    with socket.socket() as s:
        s.bind(("127.0.0.1", port))  # free again


def http_get_addr(address: str, port: int) -> str:
    with socket.create_connection((address, port), timeout=3) as s:
        s.sendall(b"GET / HTTP/1.0\r\n\r\n")
        return b"".join(iter(lambda: s.recv(65536), b"")).decode(errors="replace")


def test_a_port_in_use_is_a_one_line_error_before_the_container_starts(tuiker, image, engine_root):
    with socket.socket() as blocker:
        blocker.bind(("0.0.0.0", 0))
        blocker.listen()
        port = blocker.getsockname()[1]
        r = tuiker("run", "--rm", "-p", f"{port}:80", image, "echo", "never")
        assert r.returncode == 125
        assert one_line_error(r) == f"Error: Bind for 0.0.0.0:{port} failed: port is already allocated"
        assert "never" not in r.stdout
    assert ok(tuiker("ps", "-a", "-q")) == ""
    assert all(not leases for leases in ipam.leases(engine_root).values())
    for bad, message in [(["-p", "80/sctp"], "invalid protocol"), (["-p", "99999:80"], "ports go from 1 to 65535"),
                         (["--network", "nosuchnet"], "network nosuchnet not found"),
                         (["--network-alias", "x"], "only for containers in user defined networks")]:
        r = tuiker("run", "--rm", *bad, image, "true")
        assert r.returncode != 0 and message in one_line_error(r), (bad, r.stderr)
    assert ok(tuiker("ps", "-a", "-q")) == ""


def test_names_and_aliases_resolve_on_a_user_network_and_connect_disconnect(tuiker, image):
    ok(tuiker("network", "create", "appnet"))
    ok(tuiker("network", "create", "othernet"))
    ok(tuiker("run", "-d", "--name", "srv", "--network", "appnet", "--network-alias", "api", image, "sh", "-c",
              HTTPD.format(text="by-name")))
    out = ok(tuiker("run", "--rm", "--network", "appnet", image, "sh", "-c", f"{GET} srv 80; {GET} api 80"))
    assert out.count("by-name") == 2
    other = tuiker("run", "--rm", "--network", "othernet", image, "sh", "-c", f"{GET} srv 80")
    assert "by-name" not in other.stdout
    ok(tuiker("run", "-d", "--name", "client", "--network", "othernet", image, "sleep", "60"))
    ok(tuiker("network", "connect", "--alias", "cli", "appnet", "client"))
    assert "by-name" in ok(tuiker("exec", "client", "sh", "-c", f"{GET} srv 80"))
    (net,) = json.loads(ok(tuiker("network", "inspect", "appnet")))
    assert sorted(c["Name"] for c in net["Containers"].values()) == ["client", "srv"]
    ok(tuiker("network", "disconnect", "appnet", "client"))
    assert "by-name" not in tuiker("exec", "client", "sh", "-c", f"{GET.replace('-w 3', '-w 1')} srv 80").stdout
    r = tuiker("network", "rm", "appnet")
    assert r.returncode == 1 and "has active endpoints" in one_line_error(r)
    ok(tuiker("rm", "-f", "srv", "client"))
    assert ok(tuiker("network", "prune", "-f")).split() == ["Deleted", "Networks:", "appnet", "othernet"]


def test_network_none_and_host(tuiker, image):
    assert ok(tuiker("run", "--rm", "--network", "none", image, "ls", "/sys/class/net")).split() == ["lo"]
    host = set(os.listdir("/sys/class/net"))
    seen = set(ok(tuiker("run", "--rm", "--network", "host", image, "ls", "/sys/class/net")).split())
    assert "eth0" in seen and seen >= {n for n in host if not n.startswith(("tv", "tk"))}  # the host's own


def test_system_prune_after_a_kill_9_leaves_nothing(tuiker, image, engine_root):
    port = free_port()
    cid = ok(tuiker("run", "-d", "-p", f"{port}:80", image, "sleep", "600")).strip()
    engine = Engine(engine_root)
    pid = engine.containers.get(cid).pid
    os.kill(int((engine_root / "run" / "monitor.pid").read_text()), signal.SIGKILL)
    os.kill(pid, signal.SIGKILL)
    out = ok(tuiker("system", "prune", "-f"))
    assert cid in out
    assert ok(tuiker("ps", "-a", "-q")) == ""
    assert all(not leases for leases in ipam.leases(engine_root).values())
    assert not [n for n in os.listdir("/sys/class/net") if n.startswith(f"tv{cid[:12]}")]
    with socket.socket() as s:
        s.bind(("0.0.0.0", port))
