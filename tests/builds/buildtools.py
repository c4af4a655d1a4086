"""Helpers of the build tests: building in process with the events kept, and an image's file system as a listing
(path -> kind, mode, owner, size, content hash or link target) from a docker-archive (`tuiker save`, `podman
save`), layers applied in order with their whiteouts, so two builders' results compare entry by entry."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import tarfile
from pathlib import Path


def write_context(root: Path, files: dict[str, str | bytes]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content.encode() if isinstance(content, str) else content)
    return root


def build(engine, context: Path, tags: list[str] | None = None, **options):
    """Build in process: (the image ID, the events)."""
    from tuiker.engine import BuildOptions

    events = []
    result = engine.builds.build(BuildOptions(str(context), tags=tags or [], **options), events.append)
    return result.image_id, events


def cached_steps(events) -> list[str]:
    """The titles of the steps that came from the cache."""
    titles = {e.vertex: e.text for e in events if e.kind == "step"}
    return [titles[e.vertex] for e in events if e.kind == "cached"]


def built_steps(events) -> list[str]:
    """The titles of the instruction steps that ran (not cached; not FROM, not the export)."""
    titles = {e.vertex: e.text for e in events if e.kind == "step"}
    return [titles[e.vertex] for e in events if e.kind == "done" and titles[e.vertex].startswith("[")
            and not titles[e.vertex].startswith("[internal]") and "] FROM " not in titles[e.vertex]]


def config(engine, ref: str) -> dict:
    return engine.images.config(engine.images.get(ref))


def apply_layer(listing: dict, layer: tarfile.TarFile) -> None:
    for m in layer:
        path = "/" + m.name.lstrip("./").rstrip("/") if m.name not in (".", "./") else "/"
        parent, _, base = path.rpartition("/")
        if base == ".wh..wh..opq":
            for other in [p for p in listing if p.startswith(parent + "/")]:
                del listing[other]
            continue
        if base.startswith(".wh."):
            gone = f"{parent}/{base[4:]}"
            for other in [p for p in listing if p == gone or p.startswith(gone + "/")]:
                del listing[other]
            continue
        if m.isdir():
            entry = ("dir", m.mode & 0o7777, m.uid, m.gid)
        elif m.issym():
            entry = ("link", m.linkname, m.uid, m.gid)
        elif m.islnk():
            target = "/" + m.linkname.lstrip("./")
            entry = listing.get(target, ("hardlink", m.linkname))
        elif m.isreg():
            digest = hashlib.sha256(layer.extractfile(m).read()).hexdigest()[:16]
            entry = ("file", m.mode & 0o7777, m.uid, m.gid, m.size, digest)
        else:
            entry = ("node", m.type, m.mode & 0o7777, m.uid, m.gid)
        listing[path] = entry


def saved_image(archive: Path) -> tuple[dict, dict]:
    """(the config, the file system listing) of the one image in a docker-archive."""
    import gzip
    import io

    with tarfile.open(archive) as tar:
        manifest = json.load(tar.extractfile("manifest.json"))[0]
        cfg = json.load(tar.extractfile(manifest["Config"]))
        listing: dict = {}
        for name in manifest["Layers"]:
            data = tar.extractfile(name).read()
            if data[:2] == b"\x1f\x8b":
                data = gzip.decompress(data)
            with tarfile.open(fileobj=io.BytesIO(data)) as layer:
                apply_layer(listing, layer)
    return cfg, listing


def tuiker_image(engine, ref: str, tmp: Path) -> tuple[dict, dict]:
    path = tmp / f"tuiker-{os.urandom(4).hex()}.tar"
    engine.images.save([ref], str(path))
    try:
        return saved_image(path)
    finally:
        path.unlink()


def subtree(listing: dict, *roots: str) -> dict:
    """The entries at or under `roots` (what a build step added, away from the base image's files)."""
    return {p: e for p, e in listing.items() if any(p == r or p.startswith(r.rstrip("/") + "/") for r in roots)}


def leftovers(engine_root: Path) -> dict:
    """What a build may leave behind: containers, temp entries, mounts under the root."""
    mounts = subprocess.run(["findmnt", "-rno", "TARGET"], capture_output=True, text=True).stdout.split()
    return {
        "containers": sorted(os.listdir(engine_root / "containers")) if (engine_root / "containers").exists() else [],
        "tmp": sorted(os.listdir(engine_root / "tmp")) if (engine_root / "tmp").exists() else [],
        "mounts": [m for m in mounts if m.startswith(str(engine_root))],
    }
