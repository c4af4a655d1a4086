"""docker's summary shapes, shared by the endpoints that list them: ContainerSummary (/containers/json,
/system/df) and ImageSummary (/images/json, /system/df). Built from the engine's records and its inspect
documents, so the fields agree with `docker inspect` through the same API."""

from __future__ import annotations

from tuiker.engine import Engine, Image, parse_time, status_text

TYPE_CHECKING = False
if TYPE_CHECKING:
    from tuiker.engine import Container


def container_summary(engine: Engine, container: Container, size: bool = False) -> dict:
    """One container as docker's list shows it; with `size`, SizeRw and SizeRootFs (they read its upper dir)."""
    doc = engine.containers.inspect(container.id)
    config = doc["Config"]
    command = [doc["Path"], *doc["Args"]] if doc["Path"] else []
    settings = doc["NetworkSettings"]
    summary = {
        "Id": doc["Id"], "Names": [doc["Name"]], "Image": config.get("Image") or doc["Image"],
        "ImageID": doc["Image"], "Command": " ".join(command),
        "Created": int(parse_time(doc["Created"]) or 0), "Ports": _ports(settings.get("Ports") or {}),
        "Labels": config.get("Labels") or {}, "State": doc["State"]["Status"], "Status": status_text(container),
        "HostConfig": {"NetworkMode": doc["HostConfig"].get("NetworkMode", "default")},
        "NetworkSettings": {"Networks": settings.get("Networks") or {}}, "Mounts": doc["Mounts"],
    }
    if size:
        summary["SizeRw"], summary["SizeRootFs"] = engine.containers.size(container)
    return summary


def _ports(ports: dict) -> list[dict]:
    """NetworkSettings.Ports ({"80/tcp": [{HostIp, HostPort}] or None}) as the list's Ports rows."""
    rows = []
    for key, bindings in ports.items():
        port, _, proto = key.partition("/")
        if not bindings:
            rows.append({"PrivatePort": int(port), "Type": proto or "tcp"})
        for b in bindings or []:
            rows.append({"IP": b.get("HostIp") or "0.0.0.0", "PrivatePort": int(port),
                         "PublicPort": int(b["HostPort"]), "Type": proto or "tcp"})
    return rows


def image_summary(engine: Engine, image: Image, containers: int = -1, shared_size: int = -1) -> dict:
    """One image as docker's list shows it. `containers` and `shared_size` are -1 (not computed) unless the
    caller measured them (/system/df, or /images/json?shared-size=1)."""
    doc = engine.images.inspect(image.id)
    return {
        "Id": image.id, "ParentId": "", "RepoTags": doc["RepoTags"], "RepoDigests": doc["RepoDigests"],
        "Created": int(parse_time(image.created) or 0), "Size": image.size, "SharedSize": shared_size,
        "VirtualSize": image.size, "Labels": (doc["Config"] or {}).get("Labels") or {}, "Containers": containers,
    }
