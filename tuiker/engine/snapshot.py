"""Images from containers and back: `commit`, `export`, `import`, and `history` (how an image's layers came to be).

    commit   container's upper dir ──► layerwriter.write_layer ──► on top of its image's layers ──► newimage
    export   container's root file system (read-only overlay, private mount namespace) ──► tar
    import   tar (plain, gzip, bzip2, xz, zstd) ──► layerwriter.write_layer_from_tar ──► a one-layer image

The configs follow moby's (daemon/commit.go, daemon/images/image_import.go): a commit takes its config from the
container's, under the `-c` changes (commitchanges.py); its history gains one entry whose `created_by` is the
container's Cmd joined by spaces. Top-level keys are sorted, as docker's image.Image marshals them.
"""

from __future__ import annotations

import io
import os
import posixpath
import stat
from pathlib import Path

from tuiker.base.errors import TuikerError
from tuiker.base.times import now_iso
from tuiker.image import reference

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import BinaryIO

    from tuiker.engine.containers import Containers
    from tuiker.engine.images import Images
    from tuiker.image.store import Image
    from tuiker.runtime.containers import Container

# docker's container.Config fields an image keeps, in its struct's order.
_CONFIG_FIELDS = ("User", "ExposedPorts", "Env", "Cmd", "Healthcheck", "Volumes", "WorkingDir", "Entrypoint",
                  "OnBuild", "Labels", "StopSignal")
# Written even when empty, as Go's encoder writes the fields without `omitempty`.
_ALWAYS = ("User", "Env", "Cmd", "Volumes", "WorkingDir", "Entrypoint", "OnBuild", "Labels")


def full_tag(repository: str) -> str:
    """REPO[:TAG] as the store keys tags (`docker.io/library/app:latest`); a digest is refused, as docker."""
    ref = reference.parse(repository)
    if ref.digest:
        raise TuikerError("refusing to create a tag with a digest reference")
    return f"{ref.name}:{ref.tag}"


# -- commit -------------------------------------------------------------------------------------------

def commit(containers: Containers, ref: str, repository: str | None = None, author: str = "",
           comment: str = "", changes: list[str] | None = None, pause: bool = True) -> Image:
    """docker commit: the container's changes as a new layer over its image's, its config under `changes`.
    A running container is paused while its upper dir is read (unless not `pause`), and resumed after."""
    from tuiker.engine.commitchanges import apply_changes
    from tuiker.image.layerwriter import write_layer
    from tuiker.image.newimage import make_image, stored_layers

    c = containers.get(ref)
    tag = full_tag(repository) if repository else None
    images = containers.images
    try:
        base = images.get(c.config["ImageID"])
    except TuikerError:
        raise TuikerError(f"the image of container {c.short_id} is gone: nothing to commit onto") from None
    base_doc = images.config(base)
    config = _merge(apply_changes({}, changes or []), _container_config(c, base_doc.get("config") or {}))
    store = images.store
    upper = c.dir / "upper"
    with store.lease():
        layers = stored_layers(store, base)
        frozen = pause and c.status == "running"
        if frozen:
            containers.pause(c.id)
        try:
            skip = engine_made(upper, [store.layers / d / "diff" for d in c.config["Layers"]])
            empty = all(name in skip for name in os.listdir(upper))
            layer = None if empty else write_layer(store, upper, skip)
        finally:
            if frozen:
                containers.unpause(c.id)
        created = now_iso()
        entry = {"created": created, **({"author": author} if author else {}),
                 "created_by": " ".join(c.config["Config"].get("Cmd") or []),
                 **({"comment": comment} if comment else {}), **({"empty_layer": True} if empty else {})}
        doc = {
            "architecture": base_doc.get("architecture", ""), **({"author": author} if author else {}),
            **({"comment": comment} if comment else {}),  # docker's image Comment: the commit message
            "config": config, "created": created, "history": [*(base_doc.get("history") or []), entry],
            "os": base_doc.get("os", "linux"), "rootfs": None,
            **({"variant": base_doc["variant"]} if base_doc.get("variant") else {}),
        }
        return make_image(store, doc, layers + ([layer] if layer else []), [tag] if tag else [])


def _container_config(c: Container, image_config: dict) -> dict:
    """The fields of the container's config an image keeps, as docker's container.Config has them."""
    cc = c.config["Config"]
    found = {key: cc.get(key) for key in _CONFIG_FIELDS}
    if found["WorkingDir"] == "/" and not image_config.get("WorkingDir"):
        found["WorkingDir"] = ""  # the runtime's default, not a WORKDIR or -w: docker keeps it empty
    return found


def _merge(user: dict, container: dict) -> dict:
    """moby's daemon merge(userConf, imageConf): what the changes set wins, the container's config fills in
    the rest (Env and Labels key by key, ExposedPorts and Volumes added; Cmd only without a new Entrypoint)."""
    merged = dict(user)
    merged["User"] = user.get("User") or container.get("User") or ""
    merged["ExposedPorts"] = {**(container.get("ExposedPorts") or {}), **(user.get("ExposedPorts") or {})} or None
    env = list(user.get("Env") or [])
    keys = {item.partition("=")[0] for item in env}
    merged["Env"] = env + [item for item in container.get("Env") or [] if item.partition("=")[0] not in keys]
    merged["Labels"] = {**(container.get("Labels") or {}), **(user.get("Labels") or {})}
    if not user.get("Entrypoint"):
        if not user.get("Cmd"):
            merged["Cmd"] = container.get("Cmd")
        if user.get("Entrypoint") is None:
            merged["Entrypoint"] = container.get("Entrypoint") or None
    health = user.get("Healthcheck")
    if container.get("Healthcheck"):
        merged["Healthcheck"] = {**container["Healthcheck"], **(health or {})} if health else container["Healthcheck"]
    merged["WorkingDir"] = user.get("WorkingDir") or container.get("WorkingDir") or ""
    merged["Volumes"] = {**(user.get("Volumes") or {}), **(container.get("Volumes") or {})} or None
    merged["StopSignal"] = user.get("StopSignal") or container.get("StopSignal")
    return image_config_fields(merged)


def image_config_fields(config: dict) -> dict:
    """`config` in docker's field order, the empty optional fields left out."""
    return {key: config[key] if config.get(key) is not None else "" if key in ("User", "WorkingDir") else None
            for key in _CONFIG_FIELDS if key in _ALWAYS or config.get(key)}


def engine_made(upper: Path, lowers: list[Path]) -> set[str]:
    """Paths in `upper` (relative) that the runtime made as mount points (/etc/hosts, /proc ...), and the
    directories made or copied up only to hold them: not the container's changes (docker keeps them in its init
    layer, under the container's own)."""
    from tuiker.runtime.spawn import ENGINE_PATHS

    skip = {p.lstrip("/") for p in ENGINE_PATHS if os.path.lexists(upper / p.lstrip("/"))}
    for path in sorted(skip, key=lambda p: p.count("/"), reverse=True):
        parent = posixpath.dirname(path)
        while parent and parent not in skip:
            full = upper / parent
            if any(f"{parent}/{name}" not in skip for name in os.listdir(full)) or _changed_dir(full, parent, lowers):
                break
            skip.add(parent)
            parent = posixpath.dirname(parent)
    return skip


def _changed_dir(full: Path, rel: str, lowers: list[Path]) -> bool:
    """Whether the upper's directory `full` says more than a copy-up of the lower one would (opaque, or
    another mode or owner); a directory no lower has was made for the mount point."""
    try:
        if os.getxattr(full, "trusted.overlay.opaque") == b"y":
            return True
    except OSError:
        pass
    st = os.lstat(full)
    for lower in reversed(lowers):  # the top layer first
        try:
            low = os.lstat(lower / rel)
        except FileNotFoundError:
            continue
        return (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid) != (stat.S_IMODE(low.st_mode), low.st_uid,
                                                                     low.st_gid)
    return False


# -- export -------------------------------------------------------------------------------------------

def export(root: Path, c: Container, out: BinaryIO) -> None:
    """docker export: the container's root file system (its image's layers and its changes, without volumes or
    the runtime's mounts) as a tar on `out`. Packed inside a helper that sees only that file system."""
    from tuiker.image.layerwriter import write_tar
    from tuiker.runtime.copy import in_container

    r, w = os.pipe2(os.O_CLOEXEC)

    def pack() -> None:
        with os.fdopen(w, "wb") as pipe:
            write_tar(pipe, Path("/"))

    wait = in_container(root, c, pack, keep=(w,), rootfs_only=True)
    os.close(w)
    try:
        with os.fdopen(r, "rb") as stream:
            while chunk := stream.read(1 << 16):
                out.write(chunk)
            out.flush()
    except OSError:
        wait()  # the helper's own error says more, if it has one
        raise
    wait()


# -- import -------------------------------------------------------------------------------------------

def import_image(images: Images, source: str, repository: str | None = None, changes: list[str] | None = None,
                 message: str = "", platform: str | None = None, stdin: BinaryIO | None = None) -> Image:
    """docker import: the tar at `source` (a file, `-` for `stdin`, or an http://127.0.0.1 URL), plain or
    compressed, as a one-layer image."""
    from tuiker.engine.commitchanges import apply_changes
    from tuiker.image.archive import decompressed
    from tuiker.image.layerwriter import write_layer_from_tar
    from tuiker.image.manifest import host_platform, parse_platform
    from tuiker.image.newimage import make_image

    tag = full_tag(repository) if repository else None
    target = parse_platform(platform) if platform else host_platform()
    config = image_config_fields(apply_changes({}, changes or [])) if changes else {}
    is_url = source.startswith(("http://", "https://"))
    comment = message or f"Imported from {source if is_url else '-'}"
    store = images.store
    with _open_source(source, is_url, stdin) as raw:
        stream = raw if hasattr(raw, "peek") else io.BufferedReader(raw)
        with store.lease():
            try:
                _kind, tar = decompressed(stream)
                layer = write_layer_from_tar(store, tar)
            except TuikerError:
                raise
            except Exception as e:  # noqa: BLE001 - each decompressor has its own error types
                raise TuikerError(f"invalid tar stream: {e}") from None
            created = now_iso()
            doc = {"architecture": target.architecture, "comment": comment, "config": config, "created": created,
                   "history": [{"created": created, "comment": comment}], "os": target.os, "rootfs": None,
                   **({"variant": target.variant} if target.variant else {})}
            return make_image(store, doc, [layer], [tag] if tag else [])


class _open_source:
    """The import's input as a binary stream, closed after."""

    def __init__(self, source: str, is_url: bool, stdin: BinaryIO | None) -> None:
        self.source, self.is_url, self.stdin = source, is_url, stdin
        self.closing = None

    def __enter__(self) -> BinaryIO:
        if self.source == "-":
            return self.stdin
        if self.is_url:
            self.closing = _fetch(self.source)
            return self.closing.raw
        try:
            self.closing = open(self.source, "rb")
        except OSError as e:
            raise TuikerError(f"open {self.source}: {(e.strerror or str(e)).lower()}") from None
        return self.closing

    def __exit__(self, *exc: object) -> None:
        if self.closing is not None:
            self.closing.close()


def _fetch(url: str):
    """A streamed GET of `url`. docker fetches any URL; this engine has no way out but to the host itself."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    if parts.scheme != "http" or parts.hostname != "127.0.0.1":
        raise TuikerError(f"importing from {url} is refused: only http://127.0.0.1 URLs can be fetched here"
                          " (no internet access)")
    import requests

    try:
        response = requests.get(url, stream=True, timeout=30)
    except requests.RequestException as e:
        raise TuikerError(f'Get "{url}": {e}') from None
    if response.status_code >= 400:
        response.close()
        raise TuikerError(f'Get "{url}": {response.status_code} {response.reason}')
    response.raw.auto_close = False  # read through a buffer, which must see EOF rather than a closed file
    return response


# -- history ------------------------------------------------------------------------------------------

def history(images: Images, name: str) -> list[dict]:
    """docker's image history (the API's HistoryResponseItem): newest first, one row per history entry, the
    size of the layer it made (0 for an empty_layer one); the image's ID and tags on the top row only, as for
    an image whose parents are not here (`<missing>`)."""
    from tuiker.base.times import parse_time

    image = images.get(name)
    doc = images.config(image)
    rows: list[dict] = []
    layer = 0
    for entry in doc.get("history") or []:
        size = 0
        if not entry.get("empty_layer"):
            if layer >= len(image.layers):
                raise TuikerError("too many non-empty layers in History section")
            try:
                size = images.store.layer_size(image.layers[layer])
            except (OSError, ValueError, KeyError):
                size = 0  # not unpacked here: docker would not have the image at all
            layer += 1
        rows.insert(0, {"Id": "<missing>", "Created": int(parse_time(entry.get("created") or "") or 0),
                        "CreatedBy": entry.get("created_by", ""), "Tags": None, "Size": size,
                        "Comment": entry.get("comment", "")})
    if rows:
        rows[0]["Id"] = image.id
        rows[0]["Tags"] = [reference.familiar(t) for t in image.repo_tags] or None
    return rows
