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

What peers write here is checked twice: the engine refuses names and aliases that are not names (names.py),
and render() keeps only plain names and addresses, so a record from an older version holding a newline
cannot add a line to anybody's file either.
"""

from __future__ import annotations

import ipaddress
import os

from tuiker.base.names import is_host_token

HEADER = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
# musl reads the file with fgets into 512 bytes: a longer line is read as several, and a piece that began
# with an address (an alias `10.0.0.9` followed by `db`) would be a line of its own. Names are wrapped onto
# another line for the same address past MAX_LINE; one name (253 at most) after any address fits anyway.
MAX_LINE = 256


def render(hostname: str, own_addresses: list[str], peers: list[tuple[str, list[str]]],
           extra: list[list[str]] | None = None) -> str:
    """The file for one container: localhost, the `--add-host` entries (`extra`: [address, name]) as docker puts
    them, its own addresses under its hostname, then each peer (address, [name, aliases..., short id]), one line
    per address (more if its names are many)."""
    # Without a network the name still resolves, to 127.0.1.1 as before.
    lines = [HEADER, *_lines([(address, [name]) for address, name in extra or []]),
             *_lines([(a, [hostname]) for a in own_addresses] or [("127.0.1.1", [hostname])])]
    seen: set[tuple[str, str]] = set()
    for address, names in sorted(peers, key=lambda p: (p[1][:1], p[0])):
        names = [n for n in dict.fromkeys(filter(is_host_token, names)) if (address, n) not in seen]
        seen.update((address, n) for n in names)
        lines += _lines([(address, names)])
    return "".join(lines)


def _lines(entries: list[tuple[str, list[str]]]) -> list[str]:
    """`address<TAB>name name...` lines, wrapped at MAX_LINE; what is not an address or a name is left out."""
    out = []
    for address, names in entries:
        try:
            address = str(ipaddress.ip_address(address if isinstance(address, str) else ""))
        except ValueError:
            continue
        line = ""
        for name in filter(is_host_token, names):
            if line and len(line) + 1 + len(name) >= MAX_LINE:
                out.append(line + "\n")
                line = ""
            line = f"{line} {name}" if line else f"{address}\t{name}"
        if line:
            out.append(line + "\n")
    return out


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
