"""docker's JSON as the record types the TUI reads from the local engine: Container (its config and state in
the layout of tuiker's own config.json and state.json), Image, Network, LogRecord, Sample, ProcessRow."""

from __future__ import annotations

from tuiker.base.times import parse_time
from tuiker.image.store import Image
from tuiker.net.network import PSEUDO, Network
from tuiker.runtime.containers import Container


def container(doc: dict) -> Container:
    """`GET /containers/{id}/json` -> Container. The live part (State, published ports) goes into its state, the
    rest into its config, where tuiker keeps them."""
    host_config = dict(doc.get("HostConfig") or {})
    settings = doc.get("NetworkSettings") or {}
    networks = settings.get("Networks") or {}
    if host_config.get("NetworkMode") in ("default", None):
        # docker's name for its default bridge; tuiker (and the Networks panel) call it by its name.
        host_config["NetworkMode"] = "bridge" if "bridge" in networks or not networks else next(iter(networks))
    config = {
        "Id": doc["Id"], "Name": (doc.get("Name") or "").lstrip("/"), "Image": (doc.get("Config") or {}).get("Image")
        or doc.get("Image", ""), "ImageID": doc.get("Image", ""), "Created": doc.get("Created", ""),
        "Config": dict(doc.get("Config") or {}), "HostConfig": host_config,
        "NetworkingConfig": {"EndpointsConfig": networks},
        "mounts": [{"Type": m.get("Type"), "Name": m.get("Name"), "Source": m.get("Source"),
                    "Destination": m.get("Destination")} for m in doc.get("Mounts") or []],
    }
    state = dict(doc.get("State") or {})
    state["NetworkSettings"] = {"Ports": port_bindings(settings.get("Ports") or {}), "Networks": networks}
    return Container(doc["Id"], None, config, state)  # type: ignore[arg-type] - no directory: it lives elsewhere


def port_bindings(ports: dict) -> list[dict]:
    """docker's {"80/tcp": [{"HostIp", "HostPort"}] | null} -> tuiker's bindings (published ones only)."""
    found = []
    for key, bindings in ports.items():
        port, _, proto = key.partition("/")
        for b in bindings or []:
            found.append({"HostIp": b.get("HostIp") or "", "HostPort": int(b.get("HostPort") or 0),
                          "ContainerPort": int(port), "Proto": proto or "tcp"})
    return found


def image(summary: dict) -> Image:
    """`GET /images/json`'s entry (or an inspect document) -> Image."""
    created = summary.get("Created", "")
    if isinstance(created, int):
        import datetime

        created = datetime.datetime.fromtimestamp(created, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    layers = list((summary.get("RootFS") or {}).get("Layers") or [])
    found = Image(summary["Id"], "", "", layers, [], int(summary.get("Size") or 0), created,
                  [d for d in summary.get("RepoDigests") or [] if not d.startswith("<none>")])
    found.repo_tags = [t for t in summary.get("RepoTags") or [] if t != "<none>:<none>"]
    return found


def network(doc: dict) -> Network | None:
    """`GET /networks`' entry -> Network; None for host and none, which the panel lists by itself."""
    if doc.get("Name") in PSEUDO:
        return None
    ipam = (doc.get("IPAM") or {}).get("Config") or [{}]
    data = {"Id": doc.get("Id", ""), "Name": doc["Name"], "Subnet": ipam[0].get("Subnet", ""),
            "Gateway": ipam[0].get("Gateway", ""), "Internal": bool(doc.get("Internal")),
            "Bridge": (doc.get("Options") or {}).get("com.docker.network.bridge.name", "")}
    return Network(data, None)  # type: ignore[arg-type] - no engine root: it is the far engine's


def started_at(c: Container) -> float | None:
    return parse_time(c.state.get("StartedAt", "")) or None


def stamp_key(stamp: str) -> tuple[int, int]:
    """An RFC 3339 time stamp (UTC, up to nanoseconds, trailing zeros dropped as Go writes them) as (seconds,
    nanoseconds), to compare."""
    whole, _, rest = stamp.partition(".")
    digits = len(rest) - len(rest.lstrip("0123456789"))
    fraction, zone = rest[:digits], rest[digits:] if rest else ""
    return int(parse_time(whole + zone) or 0), int((fraction + "000000000")[:9])


def epoch(stamp: str) -> str:
    """The same as docker's `since` takes it: seconds.nanoseconds."""
    seconds, nanos = stamp_key(stamp)
    return f"{seconds}.{nanos:09d}"
