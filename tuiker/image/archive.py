"""`save` and `load`: image archives in OCI-layout and docker-archive form.

save writes both formats into one tar, as current moby does, so docker, podman, skopeo and containerd
all read it: `oci-layout` + `index.json` and docker's `manifest.json` + `repositories`, both naming the
same `blobs/sha256/<hex>` files, which are the store's blobs byte for byte. load reads either format;
every blob streams from the tar through `produce_layer`, which checks its digest (and the diff id)
before anything is renamed into the store, and an image is recorded only once all of it is in.
"""

from __future__ import annotations

import bz2
import hashlib
import io
import json
import lzma
import os
import posixpath
import re
import secrets
import shutil
import tarfile
import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack, suppress
from dataclasses import dataclass, field
from typing import BinaryIO

from tuiker.base.errors import ArchiveError, DigestMismatchError, RegistryError, TuikerError
from tuiker.base.fsutil import check_digest, sha256_digest, verify
from tuiker.image import manifest
from tuiker.image import reference as refs
from tuiker.image.pull import CHUNK, GZIP_MAGIC, ZSTD_MAGIC, produce_layer
from tuiker.image.store import Image, Store

IMAGE_NAME = "io.containerd.image.name"
REF_NAME = "org.opencontainers.image.ref.name"
# Manifests, configs and index.json are read into memory: at most manifest.MAX_DOCUMENT each, as a pull.
# Every member's header stays in memory while the archive is read (its metadata comes last, after the
# blobs), so their number is bounded too (a TarInfo costs ~200 bytes: 100000 are ~20 MiB), and so are the
# pax and GNU long-name headers tarfile reads whole: each (Go's limit, as tarstream's) and all together.
MAX_MEMBERS = 100_000
MAX_TAR_HEADER = 1 << 20
MAX_TAR_HEADERS = 16 << 20
_BLOB_PATH_RE = re.compile(r"^blobs/sha256/([a-f0-9]{64})$")


# -- save --------------------------------------------------------------------------------------------


def save(store: Store, images: list[tuple[Image, list[str]]], path: str) -> None:
    """Write `images` (each with the full tag names to record for it) to `path` as one tar.

    A regular file appears complete or not at all; a device or pipe (/dev/stdout) is written directly.
    """
    merged: dict[str, tuple[Image, list[str]]] = {}
    for image, tags in images:  # `save busybox busybox:latest` names one image twice
        kept = merged.setdefault(image.id, (image, []))[1]
        kept.extend(t for t in tags if t not in kept)
    index: list[dict] = []
    docker: list[dict] = []
    repositories: dict[str, dict[str, str]] = {}
    blobs: dict[str, None] = {}  # an ordered set: images share layers
    for image, tags in merged.values():
        for digest in (image.manifest_digest, image.id, *image.blobs):
            if not store.has_blob(digest):
                raise ArchiveError(f"cannot save {image.short_id}: blob {digest} is missing from the store")
            blobs[digest] = None
        desc = {"mediaType": image.manifest_media_type, "digest": image.manifest_digest,
                "size": store.blob_path(image.manifest_digest).stat().st_size}
        for tag in tags:
            ref = refs.parse(tag)
            index.append({**desc, "annotations": {IMAGE_NAME: tag, REF_NAME: ref.tag}})
            if image.blobs:
                top = image.blobs[-1].removeprefix("sha256:")
                repositories.setdefault(ref.familiar_name, {})[ref.tag] = top
        if not tags:
            index.append(desc)
        docker.append({"Config": _blob_name(image.id),
                       "RepoTags": [refs.familiar(t) for t in tags] or None,
                       "Layers": [_blob_name(b) for b in image.blobs]})
    metadata = {
        "oci-layout": _json({"imageLayoutVersion": "1.0.0"}),
        "index.json": _json({"schemaVersion": 2, "mediaType": manifest.OCI_INDEX, "manifests": index}),
        "manifest.json": _json(docker),
    }
    if repositories:
        metadata["repositories"] = _json(repositories)

    if path.startswith(("/dev/", "/proc/")) or not _regular_or_absent(path):
        with os.fdopen(_open_special(path, os.O_WRONLY), "wb") as out:
            _write_tar(out, store, blobs, metadata)
        return
    target = os.path.abspath(path)
    tmp = os.path.join(os.path.dirname(target),
                       f".{os.path.basename(target)}.tmp-{os.getpid()}-{secrets.token_hex(4)}")
    try:
        with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666), "wb") as out:
            _write_tar(out, store, blobs, metadata)
            out.flush()
            os.fsync(out.fileno())
        os.rename(tmp, target)
    except OSError as e:
        raise ArchiveError(f"cannot write {path}: {e.strerror or e}") from e
    finally:
        with suppress(OSError):
            os.unlink(tmp)


def _open_special(path: str, flags: int) -> int:
    # Our own stdin/stdout by descriptor: reopening /proc/self/fd/N fails for a socket and would
    # lose O_APPEND on a `>>` redirect.
    std = {"/dev/stdin": 0, "/dev/stdout": 1}.get(path)
    return os.dup(std) if std is not None else os.open(path, flags | os.O_CLOEXEC)


def _regular_or_absent(path: str) -> bool:
    try:
        return os.path.isfile(path) or not os.path.lexists(path)
    except OSError:
        return True


def _blob_name(digest: str) -> str:
    return f"blobs/sha256/{digest.removeprefix('sha256:')}"


def _json(doc: object) -> bytes:
    return json.dumps(doc, separators=(",", ":")).encode()


def _tar_info(name: str, size: int = 0, directory: bool = False) -> tarfile.TarInfo:
    # mtime 0 and no owner names: saving the same images twice gives the same bytes.
    info = tarfile.TarInfo(name)
    info.type = tarfile.DIRTYPE if directory else tarfile.REGTYPE
    info.mode = 0o755 if directory else 0o644
    info.size = size
    info.mtime = 0
    return info


def _write_tar(out: BinaryIO, store: Store, blobs: dict[str, None], metadata: dict[str, bytes]) -> None:
    # Stream mode ("w|") never seeks or tells, so a pipe works; each blob is copied in CHUNK pieces.
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT, copybufsize=CHUNK) as tar:
        tar.addfile(_tar_info("blobs", directory=True))
        tar.addfile(_tar_info("blobs/sha256", directory=True))
        for digest in blobs:
            with open(store.blob_path(digest), "rb") as f:
                tar.addfile(_tar_info(_blob_name(digest), os.fstat(f.fileno()).st_size), f)
        # Metadata last, as moby writes it: a reader that finds it has seen every blob go by.
        for name, data in metadata.items():
            tar.addfile(_tar_info(name, len(data)), io.BytesIO(data))


# -- load --------------------------------------------------------------------------------------------


@dataclass
class _Plan:
    """One image to import, fully checked except for its layer blobs' contents."""
    manifest: bytes
    manifest_digest: str
    manifest_media_type: str
    config: bytes
    config_digest: str
    created: str
    layers: list[tuple[tarfile.TarInfo, str, str]]  # (member, blob digest, diff id)
    tags: list[str] = field(default_factory=list)  # full names


def load(store: Store, path: str) -> list[str]:
    """Import every image in the archive at `path`; returns what was loaded, as `docker load` prints
    it: familiar tags, or `sha256:<id>` for an image without one."""
    with ExitStack() as stack:
        try:
            f = stack.enter_context(os.fdopen(_open_special(path, os.O_RDONLY), "rb"))
            if not f.seekable() or _compression(f):
                f = stack.enter_context(_spooled(store, f))
            tar = stack.enter_context(tarfile.open(fileobj=f, mode="r:", tarinfo=_bounded_tarinfo()))
            members = {}
            for count, info in enumerate(tar, 1):
                if count > MAX_MEMBERS:
                    raise ArchiveError(f"invalid archive: more than {MAX_MEMBERS} members")
                members[_normalize(info.name)] = info
            archive = _Archive(tar, members)
            if "index.json" in members and "oci-layout" in members:
                plans = archive.plan_oci()
            elif "manifest.json" in members:
                plans = archive.plan_docker()
            else:
                raise ArchiveError("invalid archive: does not contain a manifest.json or index.json")
            return [name for plan in plans for name in _import(store, plan, archive)]
        except tarfile.TarError as e:
            # tarfile checks, member by member, that the data it skips is there.
            raise ArchiveError(f"invalid archive: not a tar file, or cut short: {e}") from e
        except RegistryError as e:
            raise ArchiveError(f"invalid archive: {e}") from e
        except OSError as e:
            raise ArchiveError(f"cannot load {path}: {e.strerror or e}") from e


def _bounded_tarinfo() -> type[tarfile.TarInfo]:
    """A TarInfo class (one per archive: it counts) that refuses an oversized pax or GNU long-name header
    from its size, before tarfile reads it into memory; and sparse members, which images never have.
    _proc_member is tarfile's own hook for these headers (private, unchanged since Python 3.2)."""
    left = [MAX_TAR_HEADERS]

    class Bounded(tarfile.TarInfo):
        def _proc_member(self, tar: tarfile.TarFile):
            if self.type in (tarfile.XHDTYPE, tarfile.XGLTYPE, tarfile.SOLARIS_XHDTYPE, tarfile.GNUTYPE_LONGNAME,
                             tarfile.GNUTYPE_LONGLINK):
                left[0] -= self.size
                if self.size > MAX_TAR_HEADER or left[0] < 0:
                    raise ArchiveError(f"invalid archive: a pax or GNU long-name header of {self.size} bytes (at"
                                       f" most {MAX_TAR_HEADER}, {MAX_TAR_HEADERS} in all)")
            elif self.type == tarfile.GNUTYPE_SPARSE:
                raise ArchiveError(f"invalid archive: {self.name[:200]!r} is a sparse file")
            return super()._proc_member(tar)

    return Bounded


def _compression(f: BinaryIO) -> str | None:
    head = f.peek(6)[:6]
    if head.startswith(GZIP_MAGIC):
        return "gzip"
    if head.startswith(ZSTD_MAGIC):
        return "zstd"
    if head.startswith(b"BZh"):
        return "bzip2"
    if head.startswith(b"\xfd7zXZ\x00"):
        return "xz"
    return None


def decompressed(source: BinaryIO) -> tuple[str | None, BinaryIO]:
    """(the compression found by its magic bytes: gzip, zstd, bzip2, xz or None, a reader of the plain stream).
    `source` must peek (a buffered reader)."""
    kind = _compression(source)
    if kind == "gzip":
        from isal import igzip
        return kind, igzip.IGzipFile(fileobj=source, mode="rb")
    if kind == "zstd":
        import zstandard
        return kind, zstandard.ZstdDecompressor().stream_reader(source, read_across_frames=True)
    if kind == "bzip2":
        return kind, bz2.BZ2File(source)
    if kind == "xz":
        return kind, lzma.LZMAFile(source)
    return kind, source


class _spooled:
    """The archive as a plain, seekable temp file under the store's tmp/: stdin cannot seek, and a
    `docker save | gzip` file would need decompressing again for every member read out of order."""

    def __init__(self, store: Store, source: BinaryIO) -> None:
        self.path = store.tmp_path("-load.tar")
        self.source = source

    def __enter__(self) -> BinaryIO:
        kind, reader = decompressed(self.source)
        self.file = open(self.path, "w+b")
        try:
            shutil.copyfileobj(reader, self.file, CHUNK)
            self.file.seek(0)
        except BaseException as e:
            self.__exit__()
            if isinstance(e, Exception) and not (isinstance(e, OSError) and e.errno):
                # Each decompressor has its own error types for a corrupt or cut-off stream.
                raise ArchiveError(f"invalid archive: cannot decompress the {kind} stream: {e}") from e
            raise
        return self.file

    def __exit__(self, *exc: object) -> None:
        self.file.close()
        with suppress(FileNotFoundError):
            os.unlink(self.path)


def _normalize(name: str) -> str:
    return posixpath.normpath("/" + name).lstrip("/")


class _Archive:
    def __init__(self, tar: tarfile.TarFile, members: dict[str, tarfile.TarInfo]) -> None:
        self.tar = tar
        self.members = members

    def member(self, name: str) -> tarfile.TarInfo:
        info = self.members.get(_normalize(name))
        if info is None or not (info.isreg() or info.issym() or info.islnk()):
            raise ArchiveError(f"invalid archive: {name} is missing")
        return info

    def open(self, info: tarfile.TarInfo) -> BinaryIO:
        # Follows symlinks and hard links inside the archive (old docker linked shared layer.tar files).
        try:
            f = self.tar.extractfile(info)
        except KeyError:  # a link to a member the archive does not have
            f = None
        if f is None:
            raise ArchiveError(f"invalid archive: {info.name} is not a file")
        return f

    def read(self, name: str) -> bytes:
        info = self.member(name)
        if info.size > manifest.MAX_DOCUMENT:  # (a link's size is 0: the read below still bounds it)
            raise ArchiveError(f"invalid archive: {name} is larger than {manifest.MAX_DOCUMENT >> 20} MiB")
        data = self.open(info).read(manifest.MAX_DOCUMENT + 1)
        if len(data) > manifest.MAX_DOCUMENT:
            raise ArchiveError(f"invalid archive: {name} is larger than {manifest.MAX_DOCUMENT >> 20} MiB")
        return data

    def read_blob(self, digest: str, what: str) -> tuple[bytes, dict]:
        data = self.read(_blob_name(check_digest(digest)))
        verify(data, digest, what)
        return data, _parse(data, what, dict)

    def chunks(self, info: tarfile.TarInfo) -> Callable[[int], Iterator[bytes]]:
        """An `open_at` for produce_layer, like pull.file_chunks but over a member of the tar."""
        def open_at(offset: int) -> Iterator[bytes]:
            f = self.open(info)
            f.seek(offset)
            while chunk := f.read(CHUNK):
                yield chunk
        return open_at

    # -- OCI layout ----------------------------------------------------------------------------------

    def plan_oci(self) -> list[_Plan]:
        index = _parse(self.read("index.json"), "index.json", dict)
        if not isinstance(index.get("manifests"), list):
            raise ArchiveError("invalid archive: index.json has no manifests")
        plans: dict[str, _Plan] = {}
        for desc in index["manifests"]:
            digest, _ = manifest.descriptor(desc, "invalid archive: index.json", ArchiveError)
            body, doc = self.read_blob(digest, f"manifest {digest}")
            media_type = manifest.media_type_of(doc, desc.get("mediaType"))
            if media_type in manifest.INDEXES:
                # A multi-platform image: the host's platform, as pull picks it.
                desc = {**manifest.select_platform(doc, manifest.host_platform()),
                        "annotations": desc.get("annotations")}
                digest, _ = manifest.descriptor(desc, f"invalid archive: manifest list {digest}", ArchiveError)
                body, doc = self.read_blob(digest, f"manifest {digest}")
                media_type = manifest.media_type_of(doc, desc.get("mediaType"))
            if media_type not in manifest.IMAGE_MANIFESTS:
                continue  # the layout spec: unknown media types are not an error
            if digest not in plans:
                plans[digest] = self._plan_manifest(body, digest, media_type, doc)
            annotations = desc.get("annotations")
            tag = _oci_tag(annotations if isinstance(annotations, dict) else {})
            if tag and tag not in plans[digest].tags:
                plans[digest].tags.append(tag)
        if not plans:
            raise ArchiveError("invalid archive: index.json names no image manifest")
        return list(plans.values())

    def _plan_manifest(self, body: bytes, digest: str, media_type: str, doc: dict) -> _Plan:
        what = f"invalid archive: manifest {digest}"
        config_digest, _ = manifest.descriptor(doc.get("config"), what, ArchiveError)
        config, config_doc = self.read_blob(config_digest, f"config {config_digest}")
        descs = doc.get("layers")
        if not isinstance(descs, list):
            raise ArchiveError(f"{what} has no layers")
        blob_digests = [manifest.descriptor(d, what, ArchiveError)[0] for d in descs]
        for d in descs:
            if d.get("mediaType") and d["mediaType"] not in manifest.LAYER_TYPES:
                raise ArchiveError(f"invalid archive: unsupported layer type {str(d['mediaType'])[:100]!r}")
        diff_ids = manifest.diff_ids(config_doc, len(descs), "invalid archive", ArchiveError)
        layers = [(self.member(_blob_name(b)), b, i) for b, i in zip(blob_digests, diff_ids, strict=True)]
        return _Plan(body, digest, media_type, config, config_digest, manifest.created(config_doc), layers)

    # -- docker-archive ------------------------------------------------------------------------------

    def plan_docker(self) -> list[_Plan]:
        entries = _parse(self.read("manifest.json"), "manifest.json", list)
        if not entries:
            raise ArchiveError("invalid archive: manifest.json lists no images")
        plans = []
        for entry in entries:
            if not isinstance(entry, dict) or not isinstance(entry.get("Config"), str):
                raise ArchiveError("invalid archive: manifest.json entry without Config")
            paths, tags = entry.get("Layers") or [], entry.get("RepoTags") or []
            if not (_strings(paths) and _strings(tags)):
                raise ArchiveError("invalid archive: manifest.json: Layers and RepoTags must be lists of strings")
            config = self.read(entry["Config"])
            config_digest = sha256_digest(config)
            named = _BLOB_PATH_RE.match(_normalize(entry["Config"]))
            if named and named[1] != config_digest[7:]:
                raise DigestMismatchError(f"config {entry['Config']}: digest mismatch: got {config_digest}")
            config_doc = _parse(config, f"config {entry['Config']}", dict)
            diff_ids = manifest.diff_ids(config_doc, len(paths), "invalid archive", ArchiveError)
            layers = []
            descs = []
            for layer_path, diff_id in zip(paths, diff_ids, strict=True):
                info = self.member(layer_path)
                kind = _compression(self.open(info))
                named = _BLOB_PATH_RE.match(_normalize(layer_path))
                if named:
                    blob = f"sha256:{named[1]}"
                elif kind is None:
                    blob = diff_id  # an uncompressed layer is its own diff
                else:
                    blob = self._hash(info)
                layers.append((info, blob, diff_id))
                descs.append({"mediaType": _DOCKER_LAYER_TYPES.get(kind, manifest.DOCKER_LAYER),
                              "size": info.size, "digest": blob})
            # The archive keeps no manifest: make the one `docker push` would send for this image.
            body = _json({"schemaVersion": 2, "mediaType": manifest.DOCKER_MANIFEST,
                          "config": {"mediaType": manifest.DOCKER_CONFIG, "size": len(config),
                                     "digest": config_digest},
                          "layers": descs})
            tags = [_full_tag(t) for t in tags]
            plans.append(_Plan(body, sha256_digest(body), manifest.DOCKER_MANIFEST, config, config_digest,
                               manifest.created(config_doc), layers, [t for t in tags if t]))
        return plans

    def _hash(self, info: tarfile.TarInfo) -> str:
        """A compressed layer under a name that is not its digest: one extra read to learn it."""
        h = hashlib.sha256()
        for chunk in self.chunks(info)(0):
            h.update(chunk)
        return "sha256:" + h.hexdigest()


_DOCKER_LAYER_TYPES = {"gzip": manifest.DOCKER_LAYER_GZIP, "zstd": manifest.OCI_LAYER_ZSTD}


def _parse(data: bytes, what: str, kind: type) -> dict | list:
    return manifest.load_json(data, f"invalid archive: {what}", kind, ArchiveError)


def _strings(value: object) -> bool:
    return isinstance(value, list) and all(isinstance(x, str) for x in value)


def _full_tag(name: str) -> str | None:
    try:
        ref = refs.parse_name(name)
    except TuikerError:
        return None
    # A bare `1.0` parses as repository "library/1.0" with no tag: it names no repository, so no tag.
    return f"{ref.name}:{ref.tag}" if ref.tag and not ref.digest else None


def _oci_tag(annotations: dict) -> str | None:
    name, ref_name = annotations.get(IMAGE_NAME), annotations.get(REF_NAME)
    if name and isinstance(name, str):
        return _full_tag(name)
    return _full_tag(ref_name if isinstance(ref_name, str) else "")


# -- import ------------------------------------------------------------------------------------------


def _import(store: Store, plan: _Plan, archive: _Archive) -> list[str]:
    """Produce the plan's layers, then store its config and manifest and record it. On failure, the
    layers this import committed go again (garbage collection takes what no image records)."""
    try:
        with store.lease():
            for info, blob, diff_id in plan.layers:
                with store.production_lock(diff_id):
                    have_blob = store.has_blob(blob)
                    if store.has_layer(diff_id) and have_blob:
                        continue
                    produce_layer(store, archive.chunks(info), blob, info.size, diff_id, not have_blob,
                                  lambda _offset: None, threading.Event())
            store.put_blob(plan.config_digest, plan.config)
            store.put_blob(plan.manifest_digest, plan.manifest)
            diff_ids = [d for _, _, d in plan.layers]
            image = Image(plan.config_digest, plan.manifest_digest, plan.manifest_media_type, diff_ids,
                          [b for _, b, _ in plan.layers], sum(store.layer_size(d) for d in diff_ids),
                          plan.created)
            for tag in plan.tags or [None]:
                store.add_image(image, tag, None)
    except BaseException:
        store.collect_garbage()
        raise
    return [refs.familiar(t) for t in plan.tags] or [image.id]
