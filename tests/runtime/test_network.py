"""Container networking on the real kernel: bridges, veth pairs in real network namespaces, nftables NAT and
published ports, name resolution, isolation, and that every path (stop, rm, failures, a killed monitor, a
"reboot") leaves nothing behind.

Traffic goes only to 127.0.0.1/::1, to the containers' own addresses, and (test_outbound_nat...) to an
address in a network namespace this test creates: nothing leaves the machine.

Most tests share one engine root per module (`root`), so its monitor imports pyroute2 once; each test
removes what it made and checks that nothing is left. Tests that kill the monitor use their own root.
"""

from __future__ import annotations

import base64
import json
import multiprocessing
import os
import re
import signal
import socket
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import imagebuilder
import pytest
from conftest import _mounts_under, _network_leftovers, read_stream, stop_engine, wait_for
from netns import lan_host
from registry import push
from test_containers import exec_in, kill_monitor, run, start_detached

from tuiker.base.errors import TuikerError
from tuiker.engine import ContainerStartError, Engine, RunOptions
from tuiker.net import firewall, ipam
from tuiker.net.network import host_mtu, host_routes, overlap, table_name
from tuiker.net.ports import describe, parse_publish
from tuiker.runtime import networking

HTTP_GET = "printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 3"
NO_GET = "printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 1"  # for what must fail: dropped packets wait it out

# A UDP echo server (0.0.0.0:5300) for x86-64 Linux, 504 bytes, no libc: busybox-static has no UDP server
# applet (its nc lacks -u), and the test images hold nothing but busybox. Built with
#   as -o e.o e.S && ld -static -nostdlib -N -s --build-id=none -o udpecho e.o
# from:  socket(AF_INET, SOCK_DGRAM, 0); bind(fd, {AF_INET, htons(5300), 0.0.0.0}, 16);
#        loop { n = recvfrom(fd, buf, 2048, 0, &from, &len); sendto(fd, buf, n, 0, &from, len) }
UDP_ECHO = base64.b64decode(
    "f0VMRgIBAQAAAAAAAAAAAAIAPgABAAAAeABAAAAAAABAAAAAAAAAADgBAAAAAAAAAAAAAEAAOAABAEAAAwACAAEAAAAHAAAAeAAA"
    "AAAAAAB4AEAAAAAAAHgAQAAAAAAAqAAAAAAAAACoAAAAAAAAAAEAAAAAAAAAuCkAAAC/AgAAAL4CAAAAMdIPBUGJxEiB7EAIAABI"
    "xwQkAAAAAEjHRCQIAAAAAGbHBCQCAGbHRCQCFLS4MQAAAESJ50iJ5roQAAAADwWFwHVLx0QkEBAAAAC4LQAAAESJ50iNdCRAugAI"
    "AABFMdJJieBMjUwkEA8FSIXAeNRIicK4LAAAAESJ50iNdCRARTHSSYngRItMJBAPBeu1uDwAAAC/AQAAAA8FAC5zaHN0cnRhYgAu"
    "dGV4dAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    "AAsAAAABAAAABwAAAAAAAAB4AEAAAAAAAHgAAAAAAAAAqAAAAAAAAAAAAAAAAAAAAAEAAAAAAAAAAAAAAAAAAAABAAAAAwAAAAAA"
    "AAAAAAAAAAAAAAAAAAAgAQAAAAAAABEAAAAAAAAAAAAAAAAAAAABAAAAAAAAAAAAAAAAAAAA")


# -- fixtures ------------------------------------------------------------------------------------------

def _cleanup_root(root: Path) -> list[str]:
    stop_engine(root)
    leaked = _network_leftovers(root)
    for point in sorted(_mounts_under(str(root)), key=len, reverse=True):
        subprocess.run(["umount", "-l", point], capture_output=True)
    subprocess.run(["rm", "-rf", str(root)], capture_output=True)
    return leaked


@pytest.fixture(scope="module")
def root():
    path = Path(tempfile.mkdtemp(prefix="tuiker-nettest-", dir="/var/tmp"))
    yield path
    leaked = _cleanup_root(path)
    assert not leaked, f"network interfaces left by the engine: {leaked}"


@pytest.fixture(scope="module")
def netbox(root, registry) -> str:
    """busybox plus /bin/udpecho, with EXPOSE 80/tcp 5300/udp, pushed and pulled into the module's root."""
    layer = imagebuilder.make_tar(imagebuilder.busybox_rootfs_entries()
                                  + [imagebuilder.File("bin/udpecho", UDP_ECHO, 0o755)])
    image = imagebuilder.build_image([layer], compression="gzip", oci=False, cmd=["sh"],
                                     config_extra={"ExposedPorts": {"80/tcp": {}, "5300/udp": {}}})
    push(registry, "test/netbox", "latest", image)
    ref = f"{registry.host}/test/netbox:latest"
    Engine(root).images.pull(ref)
    return ref


@pytest.fixture
def engine(root, netbox) -> Engine:
    engine = Engine(root)
    yield engine
    for c in engine.containers.list(all=True):  # a failed test's containers must not disturb the next test
        try:
            engine.containers.remove(c.id, force=True)
        except TuikerError:
            pass  # gone meanwhile (an --rm container being removed)


@pytest.fixture
def own_engine(engine_root, netbox) -> Engine:
    """A root of its own (the test kills its monitor or changes its config)."""
    engine = Engine(engine_root)
    engine.images.pull(netbox)
    return engine


# -- helpers -------------------------------------------------------------------------------------------

def http_get(host: str, port: int, timeout: float = 3) -> str:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect((host, port))
        s.sendall(b"GET / HTTP/1.0\r\n\r\n")
        chunks = []
        while data := s.recv(65536):
            chunks.append(data)
    return b"".join(chunks).decode(errors="replace")


def udp_ask(host: str, port: int, payload: bytes, timeout: float = 2) -> bytes:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        s.sendto(payload, (host, port))
        return s.recvfrom(65536)[0]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("0.0.0.0", 0))
        return s.getsockname()[1]


def port_is_free(port: int, proto: str = "tcp") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM) as s:
        if proto == "tcp":
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("0.0.0.0", port))
            return True
        except OSError:
            return False


def web(engine: Engine, image: str, text: str = "hello", **opts):
    """A busybox httpd serving `text` on port 80."""
    return start_detached(engine, image, "sh", "-c", f"mkdir -p /www && echo {text} > /www/index.html &&"
                          " exec httpd -f -p 80 -h /www", **opts)


def settings(engine: Engine, ref: str, network: str | None = None) -> dict:
    nets = engine.containers.get(ref).state["NetworkSettings"]["Networks"]
    return nets[network] if network else next(iter(nets.values()))


def dnat_elements(root: Path) -> str:
    """The published-port elements of our table (empty if the table is gone)."""
    text = firewall.listing(table_name(root))
    return "\n".join(line for line in text.splitlines() if " . " in line and ":" in line)


def assert_container_net_gone(engine: Engine, cid: str) -> None:
    for leases in ipam.leases(engine.root).values():
        assert cid not in leases.values(), f"lease of {cid[:12]} left"
    assert not [n for n in os.listdir("/sys/class/net") if n.startswith(f"tv{cid[:12]}")], "veth left"
    assert cid[:12] not in dnat_elements(engine.root)


def wait_running(engine: Engine, cid: str) -> None:
    wait_for(lambda: engine.containers.get(cid).status == "running", 10, "the container to run")


def wait_http(host: str, port: int, text: str, timeout: float = 10) -> str:
    def attempt():
        try:
            body = http_get(host, port, timeout=1)
        except OSError:
            return None
        return body if text in body else None
    return wait_for(attempt, timeout, f"{text!r} from {host}:{port}", interval=0.05)


# -- pure parts ----------------------------------------------------------------------------------------

def test_publish_specs_parse_like_dockers():
    assert parse_publish("8080:80") == [{"HostIp": "", "HostPort": "8080", "ContainerPort": 80, "Proto": "tcp"}]
    assert parse_publish("127.0.0.1:53:53/udp") == [
        {"HostIp": "127.0.0.1", "HostPort": "53", "ContainerPort": 53, "Proto": "udp"}]
    assert parse_publish("80") == [{"HostIp": "", "HostPort": "", "ContainerPort": 80, "Proto": "tcp"}]
    assert parse_publish("127.0.0.1::80")[0]["HostPort"] == ""
    assert [b["HostPort"] for b in parse_publish("9000-9001:80-81")] == ["9000", "9001"]
    for bad in ("80/sctp", "1.2.3:80:80", "70000:80", "a:b", "9000-9002:80-81", "1:2:3:4"):
        with pytest.raises(TuikerError):
            parse_publish(bad)


def test_ports_column_as_dockers_displayable_ports():
    bind = lambda port, host, ip="127.0.0.1", proto="tcp": {  # noqa: E731
        "ContainerPort": port, "HostIp": ip, "HostPort": host, "Proto": proto}
    assert describe([bind(80, 3000), bind(81, 81)], ["8000/tcp", "8001/tcp", "8002/tcp", "8004/tcp", "9000/udp",
                                                     "80/tcp"]) \
        == "8000-8002/tcp, 127.0.0.1:81->81/tcp, 8004/tcp, 9000/udp, 127.0.0.1:3000->80/tcp"
    assert describe([bind(53, 5353, "::", "udp")], []) == "[::]:5353->53/udp"
    assert describe([], ["53/udp"]) == "53/udp" and describe([], []) == ""


def _allocate_many(args) -> list[str]:
    root, worker = args
    return [ipam.allocate(Path(root), "net1", "10.77.0.0/24", "10.77.0.1", f"c{worker}-{i}") for i in range(10)]


def test_leases_are_unique_across_processes_and_persist(tmp_path):
    """20 processes allocating at once from one lease file never get the same address."""
    with multiprocessing.get_context("fork").Pool(20) as pool:
        got = [a for batch in pool.map(_allocate_many, [(str(tmp_path), w) for w in range(20)]) for a in batch]
    assert len(got) == 200 and len(set(got)) == 200
    assert "10.77.0.1" not in got and "10.77.0.0" not in got and "10.77.0.255" not in got
    assert len(ipam.leases(tmp_path)["net1"]) == 200  # on disk, for the next process
    assert ipam.allocate(tmp_path, "net1", "10.77.0.0/24", "10.77.0.1", "c0-0") == got[0]  # idempotent
    ipam.release(tmp_path, "c0-0")
    ipam.allocate(tmp_path, "net1", "10.77.0.0/24", "10.77.0.1", "other", preferred=got[0])
    assert ipam.leases(tmp_path)["net1"][got[0]] == "other"  # a restart gets its old address back if free
    for w in range(20):
        for i in range(10):
            ipam.release(tmp_path, f"c{w}-{i}")
    ipam.allocate(tmp_path, "net2", "10.78.0.0/30", "10.78.0.1", "a")
    with pytest.raises(ipam.PoolExhausted, match="no available IPv4 addresses"):
        ipam.allocate(tmp_path, "net2", "10.78.0.0/30", "10.78.0.1", "b")


# -- the default bridge ----------------------------------------------------------------------------------

def test_default_bridge_gives_address_route_mtu_and_loopback(engine, netbox):
    r = run(engine, netbox, "sh", "-c", "ip -4 -o addr; ip route; cat /sys/class/net/eth0/mtu; cat /etc/hosts;"
            " ls /sys/class/net")
    assert r.code == 0, r.err
    net = engine.networks.inspect("bridge")
    subnet, gateway = net["IPAM"]["Config"][0]["Subnet"], net["IPAM"]["Config"][0]["Gateway"]
    bridge = net["Options"]["com.docker.network.bridge.name"]
    # The subnet was chosen clear of every host route but its own bridge's.
    assert overlap(subnet, [r for r, dev in host_routes() if dev != bridge]) is None
    lines = r.out.splitlines()
    assert any(" lo " in line and "127.0.0.1/8" in line for line in lines)
    eth0 = next(line for line in lines if " eth0 " in line)
    address = eth0.split("inet ")[1].split("/")[0]
    assert f"/{subnet.split('/')[1]}" in eth0
    assert f"default via {gateway} dev eth0" in r.out
    assert str(host_mtu()) in lines  # the MTU of the host's default-route device
    assert f"{address}\t" in r.out  # /etc/hosts names its own address
    assert sorted(lines[-2:]) == ["eth0", "lo"]
    assert_container_net_gone(engine, r.id)


def test_network_none_has_only_loopback(engine, netbox):
    r = run(engine, netbox, "sh", "-c", "ls /sys/class/net; ip -4 -o addr", network="none")
    assert r.code == 0, r.err
    assert r.out.split()[0] == "lo" and "eth0" not in r.out
    assert "127.0.0.1/8" in r.out


# -- user networks -----------------------------------------------------------------------------------------

def test_containers_on_a_user_network_reach_each_other_by_name_and_alias(engine, netbox):
    engine.networks.create("app")
    try:
        server = web(engine, netbox, "from-web", network="app", name="websrv", network_aliases=["www"])
        r = run(engine, netbox, "sh", "-c", f"{HTTP_GET} websrv 80; {HTTP_GET} www 80;"
                f" {HTTP_GET} {server.short_id} 80", network="app")
        assert r.code == 0, r.err
        assert r.out.count("from-web") == 3
        # A container that joins later is known to the one already running, and forgotten when it goes.
        late = start_detached(engine, netbox, "sleep", "60", network="app", name="latecomer")
        _, hosts, _ = exec_in(engine, server.id, "cat", "/etc/hosts")
        assert f"{settings(engine, late.id)['IPAddress']}\tlatecomer" in hosts
        engine.containers.remove(late.id, force=True)
        _, hosts, _ = exec_in(engine, server.id, "cat", "/etc/hosts")
        assert "latecomer" not in hosts
        # The default bridge does not resolve names (docker's rule).
        r = run(engine, netbox, "sh", "-c", f"{NO_GET} websrv 80")
        assert "from-web" not in r.out
        engine.containers.remove(server.id, force=True)
        assert_container_net_gone(engine, server.id)
    finally:
        engine.networks.remove("app")


def test_containers_on_different_networks_cannot_reach_each_other(engine, netbox):
    engine.networks.create("net-a")
    engine.networks.create("net-b")
    try:
        a = web(engine, netbox, "on-a", network="net-a")
        address = settings(engine, a.id)["IPAddress"]
        assert Path("/proc/sys/net/ipv4/ip_forward").read_text().strip() == "1"  # routed, were it not dropped
        same = run(engine, netbox, "sh", "-c", f"{HTTP_GET} {address} 80", network="net-a")
        with ThreadPoolExecutor(2) as pool:  # both wait out nc's timeout: at once
            other, default = pool.map(lambda net: run(engine, netbox, "sh", "-c", f"{NO_GET} {address} 80; echo rc=$?",
                                                      network=net), ("net-b", "bridge"))
        assert "on-a" in same.out
        assert "on-a" not in other.out and "rc=1" in other.out
        assert "on-a" not in default.out and "rc=1" in default.out
        engine.containers.remove(a.id, force=True)
    finally:
        engine.networks.remove("net-a")
        engine.networks.remove("net-b")


def test_network_connect_and_disconnect_a_running_container(engine, netbox):
    engine.networks.create("front")
    engine.networks.create("back")
    try:
        db = web(engine, netbox, "from-db", network="back", name="db")
        app = start_detached(engine, netbox, "sleep", "60", network="front", name="app")
        code, out, _ = exec_in(engine, app.id, "sh", "-c", f"{NO_GET} db 80")
        assert "from-db" not in out
        engine.networks.connect("back", "app", aliases=["api"])
        code, out, err = exec_in(engine, app.id, "sh", "-c", f"ls /sys/class/net; {HTTP_GET} db 80")
        assert code == 0, err
        assert "eth1" in out and "from-db" in out
        _, hosts, _ = exec_in(engine, db.id, "cat", "/etc/hosts")
        assert "app api" in hosts
        inspect = engine.containers.inspect("app")["NetworkSettings"]["Networks"]
        assert set(inspect) == {"front", "back"} and inspect["back"]["IPAddress"]
        with pytest.raises(TuikerError, match="already exists in network back"):
            engine.networks.connect("back", "app")
        engine.networks.disconnect("back", "app")
        code, out, _ = exec_in(engine, app.id, "sh", "-c", f"ls /sys/class/net; {NO_GET} db 80")
        assert "eth1" not in out and "from-db" not in out
        _, hosts, _ = exec_in(engine, db.id, "cat", "/etc/hosts")
        assert "app" not in hosts
        with pytest.raises(TuikerError, match="in use|active endpoints"):
            engine.networks.remove("back")
        for c in (db, app):
            engine.containers.remove(c.id, force=True)
    finally:
        engine.networks.remove("front")
        engine.networks.remove("back")
    assert "front" not in [n["Name"] for n in engine.networks.list()]


def test_network_rm_takes_its_bridge_and_rules_away(engine, netbox):
    nid = engine.networks.create("shortlived", subnet="10.213.7.0/24")
    bridge = f"tk-{nid[:12]}"
    assert os.path.isdir(f"/sys/class/net/{bridge}/bridge")
    assert "10.213.7.1/24" in subprocess.run(["ip", "-4", "-o", "addr", "show", bridge], capture_output=True,
                                             text=True).stdout
    assert bridge in firewall.listing(table_name(engine.root))
    with pytest.raises(TuikerError, match="overlaps"):
        engine.networks.create("clash", subnet="10.213.0.0/16")
    with pytest.raises(TuikerError, match="already exists"):
        engine.networks.create("shortlived")
    engine.networks.remove("shortlived")
    assert not os.path.exists(f"/sys/class/net/{bridge}")
    assert bridge not in firewall.listing(table_name(engine.root))
    assert "10.213.7.0/24" not in [r for r, _ in host_routes()]
    with pytest.raises(TuikerError, match="pre-defined"):
        engine.networks.remove("bridge")


# -- published ports -----------------------------------------------------------------------------------------

def test_published_tcp_port_from_the_host_loopback_then_released(engine, netbox):
    port = free_port()
    c = web(engine, netbox, "published", ports=[f"{port}:80"])
    assert "published" in wait_http("127.0.0.1", port, "published")
    assert "published" in http_get("::1", port)  # IPv6 loopback: the userland proxy, where our NAT is not
    assert not port_is_free(port)  # held by the engine while the container runs
    assert engine.containers.ports(c.id) == [
        {"HostIp": "0.0.0.0", "HostPort": str(port), "ContainerPort": 80, "Proto": "tcp"}]
    ns = engine.containers.inspect(c.id)["NetworkSettings"]
    assert ns["Ports"]["80/tcp"] == [{"HostIp": "0.0.0.0", "HostPort": str(port)}]
    assert ns["Ports"]["5300/udp"] is None  # exposed by the image, not published
    assert ns["IPAddress"] and ns["Gateway"] and ns["MacAddress"].startswith("02:42:")
    assert str(port) in dnat_elements(engine.root)
    engine.containers.stop(c.id, timeout=1)
    assert port_is_free(port) and str(port) not in dnat_elements(engine.root)
    engine.containers.remove(c.id)
    assert_container_net_gone(engine, c.id)


def test_udp_publishing(engine, netbox):
    port = free_port()
    c = start_detached(engine, netbox, "udpecho", ports=[f"127.0.0.1:{port}:5300/udp"])
    assert wait_for(lambda: _udp_try("127.0.0.1", port, b"ping-udp"), 10, "the UDP echo") == b"ping-udp"
    ip = settings(engine, c.id)["IPAddress"]
    assert udp_ask(ip, 5300, b"direct") == b"direct"
    engine.containers.remove(c.id, force=True)
    assert port_is_free(port, "udp")
    assert_container_net_gone(engine, c.id)


def _udp_try(host: str, port: int, payload: bytes) -> bytes | None:
    try:
        return udp_ask(host, port, payload, timeout=0.5)
    except OSError:
        return None


def test_publish_all_and_random_host_ports(engine, netbox):
    c = start_detached(engine, netbox, "sh", "-c", "udpecho & mkdir /www; echo all > /www/index.html;"
                       " exec httpd -f -p 80 -h /www", publish_all=True)
    ports = {(b["ContainerPort"], b["Proto"]): int(b["HostPort"]) for b in engine.containers.ports(
        engine.containers.get(c.id))}
    assert set(ports) == {(80, "tcp"), (5300, "udp")}  # the image's EXPOSE
    assert all(p > 1024 for p in ports.values())
    assert "all" in wait_http("127.0.0.1", ports[(80, "tcp")], "all")
    assert wait_for(lambda: _udp_try("127.0.0.1", ports[(5300, "udp")], b"x"), 10, "udp") == b"x"
    engine.containers.remove(c.id, force=True)
    c = start_detached(engine, netbox, "sleep", "60", ports=["80"])
    (binding,) = engine.containers.ports(c.id)
    assert binding["HostPort"] != "80" and int(binding["HostPort"]) > 1024
    engine.containers.remove(c.id, force=True)


def test_a_taken_port_fails_before_the_container_starts_and_leaves_nothing(engine, netbox):
    blocker = socket.socket()
    blocker.bind(("0.0.0.0", 0))
    blocker.listen()
    port = blocker.getsockname()[1]
    try:
        c = engine.containers.create(RunOptions(image=netbox, command=["sleep", "60"], ports=[f"{port}:80"]))
        with pytest.raises(ContainerStartError, match=f"Bind for 0.0.0.0:{port} failed: port is already allocated"):
            engine.containers.start(c.id)
        c.reload()
        assert c.status == "created" and c.pid == 0
        assert_container_net_gone(engine, c.id)
        # A second container publishing the port a running one holds gets the same error.
        blocker.close()
        holder = start_detached(engine, netbox, "sleep", "60", ports=[f"{port}:80"])
        with pytest.raises(ContainerStartError, match="port is already allocated"):
            engine.containers.start(c.id)
        engine.containers.remove(holder.id, force=True)
        engine.containers.start(c.id)  # the port is free again
        engine.containers.remove(c.id, force=True)
    finally:
        blocker.close()


def test_a_failure_after_network_setup_undoes_it(engine, netbox):
    """The command is missing: the container fails after its veth, address and port were set up."""
    port = free_port()
    r = run(engine, netbox, "no-such-command", ports=[f"{port}:80"])
    assert r.code == 127
    assert port_is_free(port)
    assert_container_net_gone(engine, r.id)


def test_pool_exhausted_is_a_clear_error_and_leaves_nothing(engine, netbox):
    engine.networks.create("tiny", subnet="10.213.9.0/30")  # the gateway and one container
    try:
        first = start_detached(engine, netbox, "sleep", "60", network="tiny")
        c = engine.containers.create(RunOptions(image=netbox, command=["true"], network="tiny"))
        with pytest.raises(ContainerStartError, match="no available IPv4 addresses on network tiny"):
            engine.containers.start(c.id)
        assert_container_net_gone(engine, c.id)
        engine.containers.remove(first.id, force=True)
        assert run(engine, netbox, "true", network="tiny").code == 0  # released on rm: usable again
    finally:
        engine.networks.remove("tiny")


def test_twenty_containers_started_at_once_get_distinct_addresses(engine, netbox):
    engine.networks.create("crowd")
    try:
        with ThreadPoolExecutor(20) as pool:
            started = list(pool.map(lambda i: start_detached(engine, netbox, "sleep", "60", network="crowd"),
                                    range(20)))
        addresses = [settings(engine, c.id)["IPAddress"] for c in started]
        assert len(set(addresses)) == 20
        assert sorted(ipam.leases(engine.root)[started[0].state["NetworkSettings"]["Networks"]["crowd"][
            "NetworkID"]]) == sorted(addresses)
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda c: engine.containers.remove(c.id, force=True), started))
        for c in started:
            assert_container_net_gone(engine, c.id)
    finally:
        engine.networks.remove("crowd")


def test_restart_policy_gets_the_network_again(engine, netbox):
    c = start_detached(engine, netbox, "sh", "-c", "ip -4 -o addr show eth0 >> /tmp/seen; sleep 0.3; exit 3",
                       restart="on-failure:2")
    first = settings(engine, c.id)["IPAddress"]
    wait_for(lambda: engine.containers.get(c.id).state.get("RestartCount") == 2 and engine.containers.get(c.id).status
             == "exited", 20, "two restarts")
    seen = (c.dir / "upper" / "tmp" / "seen").read_text().splitlines()  # one line per run, in its own upper dir
    assert len(seen) == 3 and all(f"inet {first}/" in line for line in seen)  # networked each time, same address
    c.reload()
    assert not c.state.get("NetworkSettings")
    assert_container_net_gone(engine, c.id)
    engine.containers.remove(c.id)


def test_stats_counts_the_containers_traffic(engine, netbox):
    c = web(engine, netbox, "x" * 3000, ports=[f"{free_port()}:80"])
    port = int(engine.containers.ports(c.id)[0]["HostPort"])
    before = engine.containers.net_io(c.id)
    for _ in range(5):
        wait_http("127.0.0.1", port, "xxx")
    rx, tx = engine.containers.net_io(c.id)
    assert tx - before[1] > 5 * 3000 and rx > before[0]  # sent the pages, received the requests
    engine.containers.stop(c.id, timeout=1)
    assert engine.containers.net_io(c.id) is None  # no network of its own once stopped
    engine.containers.remove(c.id)


def test_outbound_nat_and_the_view_from_another_host(engine, netbox):
    """A namespace made here plays another host, linked to this one by a veth: a container reaches it with the
    host's address as source (masquerade), and it reaches a published port at the host's address."""
    with lan_host(OUTSIDE_HOST, OUTSIDE_PEER) as (outside, _):
        port = free_port()
        c = web(engine, netbox, "seen-from-outside", ports=[f"{port}:80"])
        wait_http("127.0.0.1", port, "seen-from-outside")
        code = (f"import socket, sys; s=socket.create_connection(('{OUTSIDE_HOST}', {port}), 3);"
                " s.sendall(b'GET / HTTP/1.0\\r\\n\\r\\n');"
                " sys.stdout.buffer.write(b''.join(iter(lambda: s.recv(4096), b'')))")
        out = subprocess.run([*outside, "python3", "-c", code], capture_output=True, text=True, timeout=20).stdout
        assert "seen-from-outside" in out
        server = subprocess.Popen([*outside, "python3", "-c",
                                   "import socket; s=socket.socket(); s.setsockopt(socket.SOL_SOCKET,"
                                   " socket.SO_REUSEADDR, 1); s.bind(('0.0.0.0', 9909)); s.listen();"
                                   " c, a = s.accept(); print(a[0], flush=True)"],
                                  stdout=subprocess.PIPE, text=True)
        try:
            time.sleep(0.3)
            r = run(engine, netbox, "sh", "-c", f"echo hi | nc -w 3 {OUTSIDE_PEER} 9909")
            assert r.code == 0, r.err
            assert server.communicate(timeout=10)[0].strip() == OUTSIDE_HOST  # masqueraded to the host's address
        finally:
            server.kill()
            server.wait()
        engine.containers.remove(c.id, force=True)


OUTSIDE_HOST, OUTSIDE_PEER = "198.51.100.241", "198.51.100.242"  # TEST-NET-2: documentation only, never routed


# -- cleanup on every path ---------------------------------------------------------------------------------

def host_view(root: Path) -> dict:
    """Links, IPv4 routes and nftables tables of the host, leaving out other engine roots' (other tests may run
    alongside): ours are our bridges and the veths named after our containers."""
    ours = {n.bridge for n in Engine(root).networks.store.list()}
    links = sorted(n for n in os.listdir("/sys/class/net")
                   if not (n.startswith(("tv", "tk-", "tkt")) and n not in ours))
    routes = sorted((r, dev) for r, dev in host_routes() if dev in links)
    tables = subprocess.run(["nft", "list", "tables"], capture_output=True, text=True).stdout.split("\n")
    rules = {t: re.sub(r"counter packets \d+ bytes \d+", "counter",  # counters count traffic, not rules
                       subprocess.run(["nft", "list", *t.split()], capture_output=True, text=True).stdout)
             for t in tables if t and not (t.startswith("table ip tuiker") and t != f"table ip {table_name(root)}")}
    return {"links": links, "routes": routes, "rules": rules}


def test_a_hundred_run_rm_cycles_leave_the_host_as_before(engine, netbox):
    port = free_port()

    def cycle() -> None:  # run (attached) then rm, as `run --rm` does but without polling for the removal
        c = engine.containers.create(RunOptions(image=netbox, command=["true"], ports=[f"{port}:80", "5300/udp"]))
        code, _, err = read_stream(engine.containers.start_attached(c.id))
        assert code == 0, err
        engine.containers.remove(c.id)

    cycle()  # the bridge and the table exist from here on, as they do for a root in use
    before = host_view(engine.root)
    for _ in range(100):
        cycle()
    assert host_view(engine.root) == before
    assert all(not leases for leases in ipam.leases(engine.root).values())
    assert port_is_free(port)


def test_a_killed_monitor_leaves_running_containers_networked_and_the_next_one_sweeps(own_engine, netbox):
    engine = own_engine
    engine.networks.create("survivors")
    port = free_port()
    server = web(engine, netbox, "still-here", network="survivors", name="server", ports=[f"{port}:80"])
    client = start_detached(engine, netbox, "sleep", "600", network="survivors", name="client")
    wait_http("127.0.0.1", port, "still-here")
    kill_monitor(engine)
    assert "still-here" in http_get("127.0.0.1", port)  # DNAT lives in the kernel, not in the monitor
    os.kill(client.pid, signal.SIGKILL)  # dies while nobody supervises it
    wait_for(lambda: not os.path.exists(f"/sys/class/net/tv{client.id[:12]}0"), 10, "the client's veth to go")
    engine.containers.list()  # a new monitor reconciles
    assert engine.containers.get("client").status == "exited"
    assert_container_net_gone(engine, client.id)
    _, hosts, _ = exec_in(engine, server.id, "cat", "/etc/hosts")
    assert "client" not in hosts
    assert not port_is_free(port)  # held again by the new monitor
    assert "still-here" in http_get("127.0.0.1", port)
    assert "still-here" in http_get("::1", port)  # its userland proxy is back too
    engine.containers.remove(server.id, force=True)
    engine.containers.remove(client.id)
    assert port_is_free(port) and str(port) not in dnat_elements(engine.root)
    assert all(not leases for leases in ipam.leases(engine.root).values())


def test_after_a_reboot_stale_leases_go_and_bridges_come_back(own_engine, netbox):
    """A reboot in miniature: every container, the monitor, our bridges and our table vanish at once."""
    engine = own_engine
    port = free_port()
    c = start_detached(engine, netbox, "sleep", "600", ports=[f"{port}:80"])
    subnet = engine.networks.inspect("bridge")["IPAM"]["Config"][0]["Subnet"]
    kill_monitor(engine)
    stop_engine(engine.root)  # kill -9 of every container, with no monitor to see it
    wait_for(lambda: not networking.leftover_links(engine.root), 10, "the veths to go with their namespaces")
    networking.purge_host_state(engine.root)  # what the reboot takes: bridges and the nftables table
    assert any(c.id in leases.values() for leases in ipam.leases(engine.root).values())  # a stale lease
    engine.containers.list()
    assert engine.containers.get(c.id).status == "exited"
    assert all(not leases for leases in ipam.leases(engine.root).values())
    assert not firewall.exists(table_name(engine.root))  # no bridge yet: no rules either
    r = run(engine, netbox, "sh", "-c", "ip -4 -o addr show eth0", ports=[f"{port}:80"])
    assert r.code == 0 and subnet.rsplit(".", 2)[0] in r.out  # the same network, its bridge made again
    engine.containers.remove(c.id)


def test_a_bridge_that_cannot_be_made_fails_the_start_and_leaves_nothing(own_engine, netbox):
    engine = own_engine
    bridge = engine.networks.default().bridge
    # The name is taken by a link that is no bridge (a veth: this kernel has no dummy driver).
    subprocess.run(["ip", "link", "add", bridge, "type", "veth", "peer", "name", f"tkt{os.getpid() % 100000}p"],
                   check=True)
    try:
        c = engine.containers.create(RunOptions(image=netbox, command=["sleep", "60"], ports=["80"]))
        with pytest.raises(ContainerStartError, match=f"cannot create bridge {bridge}"):
            engine.containers.start(c.id)
        assert_container_net_gone(engine, c.id)
        assert not firewall.exists(table_name(engine.root))
    finally:
        subprocess.run(["ip", "link", "del", bridge], capture_output=True)
    engine.containers.start(c.id)  # the name is free: the bridge is made
    engine.containers.remove(c.id, force=True)


def test_subnets_are_configurable(own_engine, netbox, tmp_path, monkeypatch):
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"bip": "10.213.64.1/24", "default-address-pools": [
        {"base": "10.213.128.0/17", "size": 24}]}))
    monkeypatch.setenv("TUIKER_CONFIG", str(config))  # the monitor this test starts reads it
    engine = own_engine
    r = run(engine, netbox, "ip", "-4", "-o", "addr", "show", "eth0")
    assert "inet 10.213.64.2/24" in r.out
    engine.networks.create("pooled")
    assert engine.networks.inspect("pooled")["IPAM"]["Config"] == [{"Subnet": "10.213.128.0/24",
                                                                  "Gateway": "10.213.128.1"}]


def test_bridges_and_tables_of_a_deleted_engine_root_are_swept(own_engine, netbox, registry):
    """A root thrown away without cleaning up (its test session killed -9) leaves a bridge and a table that
    no monitor of its own will ever remove: the next monitor of any root does, and touches nothing live."""
    doomed = Path(tempfile.mkdtemp(prefix="tuiker-doomed-", dir="/var/tmp"))
    try:
        other = Engine(doomed)
        nid = other.networks.create("orphan")
        bridge, table = f"tk-{nid[:12]}", table_name(doomed)
        assert os.path.isdir(f"/sys/class/net/{bridge}") and firewall.exists(table)
        kill_monitor(other)
        subprocess.run(["rm", "-rf", str(doomed)], check=True)
        own_engine.networks.create("mine")  # this root's monitor starts, and sweeps
        assert not os.path.exists(f"/sys/class/net/{bridge}") and not firewall.exists(table)
        assert firewall.exists(table_name(own_engine.root))
    finally:
        if doomed.exists():
            _cleanup_root(doomed)
