"""Managed /etc/hosts: how containers on a user network find each other by name.

Each container's directory holds `hosts`, bind-mounted at /etc/hosts. The monitor rewrites it for every
container on a network whenever a container joins or leaves that network, so a name always maps to the
address its container has now, and a container that is gone no longer resolves.

Why a hosts file and not an embedded DNS server: every libc (glibc, musl, static busybox) reads /etc/hosts
before any DNS, with no resolver configuration and no socket to serve inside each namespace; the monitor
already knows every change as it happens (it starts and reaps every container), and the file is a few
hundred bytes. What it cannot do that DNS could: names of containers that join while a program has cached
the file (few programs cache it).

The file is rewritten IN PLACE (O_TRUNC, one write), never replaced by rename: the bind mount pins the
inode it was made from, so a renamed-in new file would never be seen inside the container.

Like docker, only user-defined networks resolve container names; on the default bridge a container knows
only itself.
"""

from __future__ import annotations

import os

HEADER = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"


def render(hostname: str, own_addresses: list[str], peers: list[tuple[str, list[str]]]) -> str:
    """The file for one container: localhost, its own addresses under its hostname, then each peer
    (address, [name, aliases..., short id]), one line per address."""
    lines = [HEADER]
    if own_addresses:
        lines += [f"{address}\t{hostname}\n" for address in own_addresses]
    else:
        lines.append(f"127.0.1.1\t{hostname}\n")  # no network: the name still resolves, as before
    seen: set[tuple[str, str]] = set()
    for address, names in sorted(peers, key=lambda p: (p[1][:1], p[0])):
        names = [n for n in dict.fromkeys(names) if n and (address, n) not in seen]
        if names:
            seen.update((address, n) for n in names)
            lines.append(f"{address}\t{' '.join(names)}\n")
    return "".join(lines)


def write_in_place(path: str | os.PathLike, text: str) -> None:
    """Replace the content of `path` keeping its inode (see the module's docstring). Missing: nothing."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_TRUNC | os.O_CLOEXEC)
    except FileNotFoundError:
        return
    try:
        data = memoryview(text.encode())
        while data:
            data = data[os.write(fd, data):]
    finally:
        os.close(fd)
