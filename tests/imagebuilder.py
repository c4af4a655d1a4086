"""Build container images in memory for tests: layer tars, configs, manifests and indexes.

Everything here is a pure function of its arguments, so the same call gives the same digests.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import tarfile
from dataclasses import dataclass

import zstandard

# 2026-01-01T00:00:00Z: a fixed mtime keeps layer digests stable from run to run.
MTIME = 1767225600
CREATED = "2026-01-01T00:00:00Z"
DEFAULT_ENV = ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_LAYER_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd"
IN_TOTO = "application/vnd.in-toto+json"

_OCI_LAYER_TYPES = {"none": OCI_LAYER, "gzip": OCI_LAYER_GZIP, "zstd": OCI_LAYER_ZSTD}


# ---- tar entries -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class File:
    path: str
    data: bytes = b""
    mode: int = 0o644
    uid: int = 0
    gid: int = 0
    mtime: int = MTIME
    xattrs: dict[str, bytes | str] | None = None


@dataclass(frozen=True)
class Dir:
    path: str
    mode: int = 0o755
    uid: int = 0
    gid: int = 0
    mtime: int = MTIME
    xattrs: dict[str, bytes | str] | None = None


@dataclass(frozen=True)
class Symlink:
    path: str
    target: str
    uid: int = 0
    gid: int = 0
    mtime: int = MTIME


@dataclass(frozen=True)
class Hardlink:
    path: str
    target: str  # path of an earlier entry in the same layer, as tar stores it


@dataclass(frozen=True)
class Whiteout:
    """Deletes `path` from lower layers: written as `dir/.wh.name`."""
    path: str


@dataclass(frozen=True)
class Opaque:
    """Hides everything lower layers have under `path`: written as `path/.wh..wh..opq`."""
    path: str


@dataclass(frozen=True)
class CharDev:
    path: str
    major: int
    minor: int
    mode: int = 0o666
    uid: int = 0
    gid: int = 0


@dataclass(frozen=True)
class BlockDev(CharDev):
    """A block device node: the same fields as CharDev, written as a tar BLKTYPE entry."""


@dataclass(frozen=True)
class Fifo:
    path: str
    mode: int = 0o644
    uid: int = 0
    gid: int = 0


Entry = File | Dir | Symlink | Hardlink | Whiteout | Opaque | CharDev | BlockDev | Fifo


def _info(path: str, kind: bytes, mode: int = 0o644, uid: int = 0, gid: int = 0,
          mtime: int = MTIME) -> tarfile.TarInfo:
    info = tarfile.TarInfo(path.lstrip("/"))
    info.type = kind
    info.mode = mode
    info.uid, info.gid = uid, gid
    info.uname = info.gname = ""
    info.mtime = mtime
    return info


def _xattr_headers(xattrs: dict[str, bytes | str] | None) -> dict[str, str]:
    # tarfile writes non-UTF-8 values as hdrcharset=BINARY when given surrogate-escaped strings.
    return {f"SCHILY.xattr.{name}": value.decode("utf-8", "surrogateescape") if isinstance(value, bytes)
            else value for name, value in (xattrs or {}).items()}


def make_tar(entries: list[Entry]) -> bytes:
    """An uncompressed PAX tar of `entries`, in the order given."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for e in entries:
            data = None
            if isinstance(e, File):
                info = _info(e.path, tarfile.REGTYPE, e.mode, e.uid, e.gid, e.mtime)
                info.size = len(e.data)
                info.pax_headers = _xattr_headers(e.xattrs)
                data = io.BytesIO(e.data)
            elif isinstance(e, Dir):
                info = _info(e.path.rstrip("/"), tarfile.DIRTYPE, e.mode, e.uid, e.gid, e.mtime)
                info.pax_headers = _xattr_headers(e.xattrs)
            elif isinstance(e, Symlink):
                info = _info(e.path, tarfile.SYMTYPE, 0o777, e.uid, e.gid, e.mtime)
                info.linkname = e.target
            elif isinstance(e, Hardlink):
                info = _info(e.path, tarfile.LNKTYPE)
                info.linkname = e.target.lstrip("/")
            elif isinstance(e, Whiteout):
                parent, name = os.path.split(e.path.rstrip("/"))
                info = _info(os.path.join(parent, ".wh." + name), tarfile.REGTYPE)
            elif isinstance(e, Opaque):
                info = _info(os.path.join(e.path.rstrip("/"), ".wh..wh..opq"), tarfile.REGTYPE)
            elif isinstance(e, CharDev):  # BlockDev too
                kind = tarfile.BLKTYPE if isinstance(e, BlockDev) else tarfile.CHRTYPE
                info = _info(e.path, kind, e.mode, e.uid, e.gid)
                info.devmajor, info.devminor = e.major, e.minor
            elif isinstance(e, Fifo):
                info = _info(e.path, tarfile.FIFOTYPE, e.mode, e.uid, e.gid)
            else:
                raise TypeError(f"not a tar entry: {e!r}")
            tar.addfile(info, data)
    return buf.getvalue()


BUSYBOX_APPLETS = (
    "sh", "ash", "ls", "echo", "cat", "true", "false", "sleep", "id", "env", "hostname", "ps", "nc", "ping",
    "cp", "mv", "rm", "mkdir", "rmdir", "ln", "chmod", "chown", "touch", "grep", "sed", "awk", "head", "tail",
    "wc", "sort", "uniq", "cut", "tr", "printf", "test", "[", "pwd", "uname", "whoami", "date", "kill",
    "mount", "umount", "stat", "readlink", "find", "xargs", "tee", "seq", "yes", "timeout", "wget", "ip",
    "ifconfig", "nslookup", "top", "free", "df", "du", "dd", "basename", "dirname", "which", "sha256sum",
    "md5sum", "expr", "tar", "gzip", "gunzip", "hexdump", "mkfifo", "mknod", "sync", "su", "usleep",
    "nproc", "vi", "less", "more", "netstat", "pidof", "setsid", "nsenter", "unshare",
    "httpd", "telnet", "ping6", "arp", "route", "dmesg", "uptime", "groups", "logname", "realpath",
)

PASSWD = (b"root:x:0:0:root:/root:/bin/sh\n"
          b"nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"
          b"app:x:1000:1000:app:/home/app:/bin/sh\n")
GROUP = b"root:x:0:\nnobody:x:65534:\napp:x:1000:\n"


def busybox_rootfs_entries(busybox: str = "/bin/busybox") -> list[Entry]:
    """A minimal rootfs around the host's static busybox (Debian busybox-static)."""
    with open(busybox, "rb") as f:
        binary = f.read()
    entries: list[Entry] = [Dir("bin"), File("bin/busybox", binary, 0o755)]
    entries += [Symlink(f"bin/{name}", "busybox") for name in BUSYBOX_APPLETS]
    entries += [Dir("dev"), Dir("etc"), File("etc/passwd", PASSWD), File("etc/group", GROUP),
                Dir("home"), Dir("home/app", 0o755, 1000, 1000), Dir("proc", 0o555), Dir("root", 0o700),
                Dir("sys", 0o555), Dir("tmp", 0o1777), Dir("usr"), Dir("usr/bin"), Dir("var"),
                Dir("var/tmp", 0o1777)]
    return entries


# ---- blobs ---------------------------------------------------------------------------------------------

def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def gzip_bytes(data: bytes, level: int = 6) -> bytes:
    # mtime=0 keeps the gzip header, and so the blob digest, stable.
    return gzip.compress(data, compresslevel=level, mtime=0)


def zstd_bytes(data: bytes, level: int = 3) -> bytes:
    return zstandard.ZstdCompressor(level=level).compress(data)


def compress(data: bytes, compression: str) -> bytes:
    if compression == "gzip":
        return gzip_bytes(data)
    if compression == "zstd":
        return zstd_bytes(data)
    if compression == "none":
        return data
    raise ValueError(f"unknown compression {compression!r}")


def _json(doc: dict) -> bytes:
    return json.dumps(doc, indent=None, separators=(",", ":")).encode()


def image_config(diff_ids: list[str], architecture: str = "amd64", os: str = "linux",
                 cmd: list[str] | None = None, env: list[str] | None = None,
                 entrypoint: list[str] | None = None, workdir: str | None = None, user: str | None = None,
                 created: str = CREATED, variant: str | None = None,
                 config_extra: dict | None = None) -> bytes:
    """An image config as both Docker and OCI read it. `config_extra` is merged into "config"
    (e.g. {"Labels": {...}, "ExposedPorts": {...}, "StopSignal": "SIGINT"})."""
    config: dict = {"Env": list(DEFAULT_ENV if env is None else env),
                    "Cmd": ["sh"] if cmd is None else list(cmd)}
    if entrypoint is not None:
        config["Entrypoint"] = list(entrypoint)
    if workdir is not None:
        config["WorkingDir"] = workdir
    if user is not None:
        config["User"] = user
    config.update(config_extra or {})
    doc: dict = {"architecture": architecture, "os": os}
    if variant:
        doc["variant"] = variant
    doc.update({
        "created": created,
        "config": config,
        "rootfs": {"type": "layers", "diff_ids": list(diff_ids)},
        "history": [{"created": created, "created_by": f"tests/imagebuilder layer {i}"}
                    for i in range(len(diff_ids))],
    })
    return _json(doc)


# ---- manifests -----------------------------------------------------------------------------------------

@dataclass
class BuiltImage:
    config: bytes
    config_digest: str
    config_media_type: str
    layers: list[bytes]             # uncompressed tars, as given
    blobs: list[bytes]              # the layer blobs as pushed (compressed or not)
    layer_digests: list[str]
    layer_media_types: list[str]
    diff_ids: list[str]
    manifest: bytes
    manifest_digest: str
    manifest_media_type: str

    def descriptor(self, platform: dict | None = None, annotations: dict | None = None) -> dict:
        """This image's manifest as an index entry."""
        d: dict = {"mediaType": self.manifest_media_type, "digest": self.manifest_digest,
                   "size": len(self.manifest)}
        if platform is not None:
            d["platform"] = platform
        if annotations:
            d["annotations"] = annotations
        return d


def _manifest(config: bytes, config_type: str, blobs: list[bytes], layer_types: list[str],
              media_type: str, annotations: list[dict] | None = None) -> bytes:
    layers = []
    for i, (blob, layer_type) in enumerate(zip(blobs, layer_types, strict=True)):
        d = {"mediaType": layer_type, "size": len(blob), "digest": sha256_digest(blob)}
        if annotations and annotations[i]:
            d["annotations"] = annotations[i]
        layers.append(d)
    return _json({"schemaVersion": 2, "mediaType": media_type,
                  "config": {"mediaType": config_type, "size": len(config), "digest": sha256_digest(config)},
                  "layers": layers})


def build_image(layers: list[bytes], compression: str | list[str] = "gzip", oci: bool = False,
                **config_kwargs) -> BuiltImage:
    """An image from uncompressed layer tars. `compression` is "gzip", "zstd", "none", or one per layer;
    Docker schema2 only knows gzip layers, so anything else needs oci=True."""
    kinds = [compression] * len(layers) if isinstance(compression, str) else list(compression)
    if len(kinds) != len(layers):
        raise ValueError("one compression per layer")
    if not oci and any(k != "gzip" for k in kinds):
        raise ValueError("Docker schema2 layers are gzip only; use oci=True")
    blobs = [compress(layer, kind) for layer, kind in zip(layers, kinds, strict=True)]
    layer_types = [_OCI_LAYER_TYPES[k] if oci else DOCKER_LAYER_GZIP for k in kinds]
    diff_ids = [sha256_digest(layer) for layer in layers]
    config = image_config(diff_ids, **config_kwargs)
    config_type = OCI_CONFIG if oci else DOCKER_CONFIG
    media_type = OCI_MANIFEST if oci else DOCKER_MANIFEST
    manifest = _manifest(config, config_type, blobs, layer_types, media_type)
    return BuiltImage(config, sha256_digest(config), config_type, list(layers), blobs,
                      [sha256_digest(b) for b in blobs], layer_types, diff_ids,
                      manifest, sha256_digest(manifest), media_type)


def attestation_image(subject_digest: str) -> BuiltImage:
    """What buildx attaches next to each platform image: an OCI manifest with an in-toto layer."""
    statement = _json({"_type": "https://in-toto.io/Statement/v0.1",
                       "predicateType": "https://spdx.dev/Document",
                       "subject": [{"name": "tuiker-test", "digest": {"sha256": subject_digest[7:]}}],
                       "predicate": {}})
    diff_id = sha256_digest(statement)
    config = _json({"architecture": "unknown", "os": "unknown", "config": {},
                    "rootfs": {"type": "layers", "diff_ids": [diff_id]}})
    manifest = _manifest(config, OCI_CONFIG, [statement], [IN_TOTO], OCI_MANIFEST,
                         [{"in-toto.io/predicate-type": "https://spdx.dev/Document"}])
    return BuiltImage(config, sha256_digest(config), OCI_CONFIG, [statement], [statement], [diff_id],
                      [IN_TOTO], [diff_id], manifest, sha256_digest(manifest), OCI_MANIFEST)


class BuiltIndex(tuple):
    """(body, digest, media_type); `attestations` holds the attestation manifests the index names,
    which must be pushed along with it because the registry refuses indexes naming unknown manifests."""

    attestations: list[BuiltImage]

    def __new__(cls, body: bytes, digest: str, media_type: str, attestations: list[BuiltImage] | None = None):
        self = super().__new__(cls, (body, digest, media_type))
        self.attestations = list(attestations or [])
        return self

    body = property(lambda self: self[0])
    digest = property(lambda self: self[1])
    media_type = property(lambda self: self[2])


def build_index(entries: list[tuple[BuiltImage, dict]], oci: bool = True,
                with_attestation: bool = False) -> BuiltIndex:
    """An OCI index (or a Docker manifest list) of (image, platform) pairs. with_attestation adds, per
    image, an "unknown/unknown" attestation manifest the way buildx does."""
    media_type = OCI_INDEX if oci else DOCKER_MANIFEST_LIST
    manifests = [image.descriptor(platform) for image, platform in entries]
    attestations = []
    if with_attestation:
        for image, _ in entries:
            att = attestation_image(image.manifest_digest)
            attestations.append(att)
            manifests.append(att.descriptor(
                {"architecture": "unknown", "os": "unknown"},
                {"vnd.docker.reference.digest": image.manifest_digest,
                 "vnd.docker.reference.type": "attestation-manifest"}))
    body = _json({"schemaVersion": 2, "mediaType": media_type, "manifests": manifests})
    return BuiltIndex(body, sha256_digest(body), media_type, attestations)
