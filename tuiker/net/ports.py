"""Published ports in docker's terms: parsing `-p`, and the text `ps`, `port` and `inspect` show.

Kept free of `ipaddress` and of everything networking imports: `tuiker run -p` and `tuiker ps` pass through
here on every call, so even socket is imported only to check an address.

A binding is a dict, the same shape in the container's config and state:
    {"HostIp": "", "HostPort": "8080", "ContainerPort": 80, "Proto": "tcp"}
HostIp "" means every address (0.0.0.0); HostPort "" means "pick a free port when the container starts".
The running container's state holds the same dicts with the HostIp and HostPort actually bound.
"""

from __future__ import annotations

from tuiker.base.errors import TuikerError

PROTOCOLS = ("tcp", "udp")


def _port_range(text: str, spec: str) -> list[int]:
    first, sep, last = text.partition("-")
    try:
        low = int(first)
        high = int(last) if sep else low
    except ValueError:
        raise TuikerError(f"invalid port {text!r} in {spec!r}: expected a number from 1 to 65535") from None
    if not 0 < low <= high <= 65535:
        raise TuikerError(f"invalid port range {text!r} in {spec!r}: ports go from 1 to 65535")
    return list(range(low, high + 1))


def parse_publish(spec: str) -> list[dict]:
    """docker's `-p [IP:][HOSTPORT:]CONTAINERPORT[/PROTO]`, ranges included (`8000-8001:80-81`)."""
    rest, _, proto = spec.partition("/")
    proto = (proto or "tcp").lower()
    if proto not in PROTOCOLS:
        raise TuikerError(f"invalid protocol {proto!r} in {spec!r}: use tcp or udp")
    host_ip = ""
    if rest.startswith("["):  # [::1]:8080:80 is docker's IPv6 form
        end = rest.find("]")
        host_ip, rest = rest[1:end], rest[end + 2:]
    parts = rest.split(":") if not host_ip else [host_ip, *rest.split(":")]
    if len(parts) == 1:
        host_ip, host, container = "", "", parts[0]
    elif len(parts) == 2:
        host_ip, host, container = "", parts[0], parts[1]
    elif len(parts) == 3:
        host_ip, host, container = parts
    else:
        raise TuikerError(f"invalid publish spec {spec!r}: use [IP:][HOSTPORT:]CONTAINERPORT[/tcp|/udp]")
    if host_ip in ("0.0.0.0", "::"):
        host_ip = ""
    if host_ip:
        import socket

        try:
            socket.inet_pton(socket.AF_INET, host_ip)
        except OSError:
            # An IPv4 host: containers are IPv4 on the bridge, and the rules are an `ip` table.
            raise TuikerError(f"invalid IP address {host_ip!r} in {spec!r}: give an IPv4 address") from None
    containers = _port_range(container, spec)
    hosts = _port_range(host, spec) if host else [0] * len(containers)
    if len(hosts) != len(containers):
        if host and len(containers) == 1:
            # docker: `-p 8000-8010:80` publishes port 80 on the first free port of the host range.
            raise TuikerError(f"invalid publish spec {spec!r}: a host port range needs a container range"
                              " of the same length")
        raise TuikerError(f"invalid publish spec {spec!r}: the host and container ranges differ in length")
    return [{"HostIp": host_ip, "HostPort": str(h) if h else "", "ContainerPort": c, "Proto": proto}
            for h, c in zip(hosts, containers, strict=True)]


def parse_expose(spec: str) -> list[str]:
    """`--expose 80`, `--expose 8000-8002/udp` -> ["80/tcp"] ..."""
    rest, _, proto = spec.partition("/")
    proto = (proto or "tcp").lower()
    if proto not in PROTOCOLS:
        raise TuikerError(f"invalid protocol {proto!r} in --expose {spec!r}: use tcp or udp")
    return [f"{p}/{proto}" for p in _port_range(rest, spec)]


def key(binding: dict) -> str:
    return f"{binding['ContainerPort']}/{binding['Proto']}"


def split_key(text: str) -> tuple[int, str]:
    """"80/tcp" -> (80, "tcp"); image configs also write "80" for tcp."""
    port, _, proto = text.partition("/")
    return int(port), (proto or "tcp").lower()


def to_docker(bindings: list[dict]) -> dict:
    """Bindings as docker's HostConfig.PortBindings / NetworkSettings.Ports: {"80/tcp": [{HostIp, HostPort}]}."""
    out: dict[str, list[dict]] = {}
    for b in bindings:
        out.setdefault(key(b), []).append({"HostIp": b["HostIp"] or "0.0.0.0", "HostPort": str(b["HostPort"])})
    return out


def describe(bindings: list[dict], exposed: list[str] | None = None) -> str:
    """The PORTS column of `ps` as docker's DisplayablePorts: `53/udp, 8000-8002/tcp, 0.0.0.0:8080->80/tcp`. The
    ports in order; runs of only exposed ports (or ports published on the same number) grouped into ranges first,
    then each port published on another number."""
    published = {key(b) for b in bindings}
    rows = sorted([(int(b["ContainerPort"]), b["HostIp"] or "0.0.0.0", int(b["HostPort"]), b["Proto"])
                   for b in bindings]
                  + [(*split_key(k)[:1], "", 0, split_key(k)[1]) for k in exposed or [] if k not in published])
    groups: dict[str, list[int]] = {}
    done, mappings = [], []
    for private, ip, public, proto in rows:
        group = proto
        if ip:
            if public != private:
                host = f"[{ip}]" if ":" in ip else ip
                mappings.append(f"{host}:{public}->{private}/{proto}")
                continue
            group = f"{ip}/{proto}"
        span = groups.get(group)
        if span is not None and private == span[1] + 1:
            span[1] = private
            continue
        if span is not None:
            done.append(_group_text(group, *span))
        groups[group] = [private, private]  # a new run keeps the group's place in the order, as in docker
    return ", ".join(done + [_group_text(g, *span) for g, span in groups.items()] + mappings)


def _group_text(group: str, first: int, last: int) -> str:
    ip, _, proto = group.rpartition("/")
    ports = str(first) if first == last else f"{first}-{last}"
    return f"{ip}:{ports}->{ports}/{proto}" if ip else f"{ports}/{proto}"
