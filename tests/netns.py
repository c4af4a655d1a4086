"""Another host on the LAN, for network tests: a network namespace linked to this one by a veth pair, on a
documentation range that is never routed anywhere (the test skips if this host routes it after all)."""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator

import pytest
from conftest import wait_for

from tuiker.net.network import host_routes, overlap


@contextlib.contextmanager
def lan_host(host_ip: str, peer_ip: str, prefix: int = 30, link_prefix: str = "tkt") -> Iterator[tuple[list[str], str]]:
    """Yields the command prefix that runs a command in the other host (`nsenter ... -n`) and the MAC address of
    this host's end of the link (`host_ip` here, `peer_ip` there, `lo` up in both)."""
    network = f"{host_ip.rsplit('.', 1)[0]}.{int(host_ip.rsplit('.', 1)[1]) & (256 - (1 << (32 - prefix)))}/{prefix}"
    if overlap(network, [r for r, _ in host_routes()]):
        pytest.skip(f"{network} is routed on this host")
    host_if = f"{link_prefix}{os.getpid() % 100000}"
    ns = subprocess.Popen(["unshare", "--net", "sleep", "120"])
    try:
        wait_for(lambda: os.readlink(f"/proc/{ns.pid}/ns/net") != os.readlink("/proc/self/ns/net"), 5, "the netns")
        inside = ["nsenter", "-t", str(ns.pid), "-n"]
        for argv in (["ip", "link", "add", host_if, "type", "veth", "peer", "name", "eth0", "netns", str(ns.pid)],
                     ["ip", "addr", "add", f"{host_ip}/{prefix}", "dev", host_if], ["ip", "link", "set", host_if, "up"],
                     [*inside, "ip", "addr", "add", f"{peer_ip}/{prefix}", "dev", "eth0"],
                     [*inside, "ip", "link", "set", "eth0", "up"], [*inside, "ip", "link", "set", "lo", "up"]):
            subprocess.run(argv, check=True, capture_output=True)
        with open(f"/sys/class/net/{host_if}/address") as f:
            yield inside, f.read().strip()
    finally:
        ns.kill()
        ns.wait()
        subprocess.run(["ip", "link", "del", host_if], capture_output=True)
