"""Pulling an image: manifest → platform → config → layers, each layer in one streaming pass.

For every layer one thread runs the pipeline

    HTTP body ──► sha256 + blob temp file ──► gunzip / unzstd / as is ──► sha256 (diff id) ──► untar

so download, decompression and unpacking overlap, and no layer is ever held in memory. Several layers
run at once. Nothing becomes visible before both digests match: the blob and the unpacked directory
sit under tmp/ until then and are renamed in; a failure or a kill leaves only tmp/ entries that the
next command sweeps.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import requests
import urllib3

from tuiker.base.errors import DigestMismatchError, LayerError, RegistryError, TuikerError
from tuiker.image import manifest
from tuiker.image import reference as refs
from tuiker.image.layers import unpack_layer
from tuiker.image.registry import BACKOFF_SECONDS, RETRIES, RegistryClient
from tuiker.image.store import Image, Store

CHUNK = 1024 * 1024
# docker's default max-concurrent-downloads is 3; a fourth keeps both cores busy while one layer waits.
PARALLEL_LAYERS = 4
GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


@dataclass
class Progress:
    """One line of `docker pull`-style output: `id` is a layer's short digest, or "" for the image."""
    id: str
    status: str
    current: int = 0
    total: int = 0


ProgressFn = Callable[[Progress], None]


class Cancelled(TuikerError):
    """Another layer of the same pull failed; this one stops quietly."""


class BlobSource:
    """The compressed bytes of one blob: hashed and copied to a temp file as they are read, and
    re-requested from the current offset with `Range` when the connection breaks."""

    def __init__(self, open_at: Callable[[int], Iterator[bytes]], size: int, sink: BinaryIO | None,
                 on_bytes: Callable[[int], None], cancelled: threading.Event) -> None:
        self._open_at = open_at
        self._chunks = open_at(0)
        self._pending = b""
        self.size = size
        self.offset = 0
        self.sha256 = hashlib.sha256()
        self._sink = sink
        self._on_bytes = on_bytes
        self._cancelled = cancelled
        self._resumes = 0

    def _next_chunk(self) -> bytes:
        while True:
            if self._cancelled.is_set():
                raise Cancelled("cancelled")
            try:
                return next(self._chunks, b"")
            except (requests.RequestException, urllib3.exceptions.HTTPError, OSError) as e:
                if self._resumes >= RETRIES:
                    raise RegistryError(f"download broke off {self._resumes} times: {e}") from e
                self._resumes += 1
                time.sleep(BACKOFF_SECONDS * self._resumes)
                self._chunks = self._open_at(self.offset)

    def peek(self, n: int) -> bytes:
        while len(self._pending) < n:
            chunk = self._next_chunk()
            if not chunk:
                break
            self._account(chunk)
            self._pending += chunk
        return self._pending[:n]

    def read(self, n: int = -1) -> bytes:
        if not self._pending:
            chunk = self._next_chunk()
            if not chunk:
                return b""
            self._account(chunk)
            self._pending = chunk
        if 0 <= n < len(self._pending):
            data, self._pending = self._pending[:n], self._pending[n:]
            return data
        data, self._pending = self._pending, b""
        return data

    def readinto(self, buffer) -> int:
        data = self.read(len(buffer))
        buffer[:len(data)] = data
        return len(data)

    def _account(self, chunk: bytes) -> None:
        self.offset += len(chunk)
        if self.offset > self.size:  # the descriptor's size bounds the download (an endless body)
            raise DigestMismatchError(f"blob is larger than the {self.size} bytes its descriptor gives")
        self.sha256.update(chunk)
        if self._sink is not None:
            self._sink.write(chunk)
        self._on_bytes(self.offset)

    def readable(self) -> bool:
        return True


class HashingReader:
    """Counts and hashes the uncompressed tar as the unpacker reads it: that hash is the diff id."""

    def __init__(self, inner) -> None:
        self._inner = inner
        self.sha256 = hashlib.sha256()

    def read(self, n: int = -1) -> bytes:
        data = self._inner.read(n if n and n > 0 else CHUNK)
        self.sha256.update(data)
        return data

    def drain(self) -> None:
        while self.read(CHUNK):
            pass


def decompressing_reader(source: BlobSource):
    """Pick the decompressor from the stream's magic bytes, not the media type: docker archives and
    some registries label layers loosely, and the bytes cannot lie."""
    head = source.peek(4)
    if head.startswith(GZIP_MAGIC):
        from isal import igzip

        return igzip.IGzipFile(fileobj=source, mode="rb")
    if head.startswith(ZSTD_MAGIC):
        import zstandard

        return zstandard.ZstdDecompressor().stream_reader(source, read_size=CHUNK, read_across_frames=True)
    return source


def produce_layer(store: Store, open_at: Callable[[int], Iterator[bytes]], blob_digest: str, size: int,
                  diff_id: str, keep_blob: bool, on_bytes: Callable[[int], None],
                  cancelled: threading.Event) -> int:
    """Stream one blob into the store: unpack it as layer `diff_id` and, if `keep_blob`, keep the blob.

    Returns the unpacked size. Checks both digests before anything is renamed into place.
    """
    work = store.tmp_path("-layer")
    work.mkdir(mode=0o700)
    try:
        (work / "diff").mkdir(mode=0o755)
        sink = open(os.open(work / "blob", os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600),
                    "wb") if keep_blob else None
        broken: Exception | None = None
        try:
            source = BlobSource(open_at, size, sink, on_bytes, cancelled)
            tar = HashingReader(decompressing_reader(source))
            try:
                unpacked = unpack_layer(tar, str(work / "diff"))
                tar.drain()
            except TuikerError:
                raise
            except Exception as e:  # noqa: BLE001 - decompressors raise assorted types on corrupt input
                # A truncated or corrupt stream: the blob digest below tells whether it was the transfer.
                broken = e
            while source.read(CHUNK):
                pass
        finally:
            if sink is not None:
                sink.close()
        actual = "sha256:" + source.sha256.hexdigest()
        if actual != blob_digest:
            raise DigestMismatchError(f"layer {blob_digest[7:19]}: digest mismatch: expected {blob_digest},"
                                      f" got {actual}")
        if source.offset != size:
            raise DigestMismatchError(f"layer {blob_digest[7:19]}: {source.offset} bytes, descriptor says {size}")
        if broken is not None:
            raise LayerError(f"layer {blob_digest[7:19]}: cannot be unpacked: {broken}")
        diff_actual = "sha256:" + tar.sha256.hexdigest()
        if diff_actual != diff_id:
            raise DigestMismatchError(f"layer {blob_digest[7:19]}: uncompressed digest {diff_actual} does not"
                                      f" match the config's diff id {diff_id}")
        if keep_blob:
            store.commit_blob(work / "blob", blob_digest)
        store.commit_layer(work, diff_id, unpacked)
        return unpacked
    finally:
        if work.exists():
            shutil.rmtree(work, ignore_errors=True)


def file_chunks(path: Path) -> Callable[[int], Iterator[bytes]]:
    def open_at(offset: int) -> Iterator[bytes]:
        with open(path, "rb") as f:
            f.seek(offset)
            while chunk := f.read(CHUNK):
                yield chunk
    return open_at


def _registry_chunks(client: RegistryClient, repository: str, digest: str) -> Callable[[int], Iterator[bytes]]:
    def open_at(offset: int) -> Iterator[bytes]:
        resp = client.open_blob(repository, digest, offset)
        try:
            # decode_content=False: the blob's bytes are what the digest covers, whatever the headers say.
            yield from resp.raw.stream(CHUNK, decode_content=False)
        finally:
            resp.close()
    return open_at


class Puller:
    def __init__(self, store: Store, progress: ProgressFn | None = None,
                 login: tuple[str, str] | None = None) -> None:
        self.store = store
        self.progress = progress or (lambda p: None)
        self.login = login  # (user, password) the caller was given; None: the stored credentials

    def pull(self, name: str, platform: str | None = None) -> tuple[Image, str, bool]:
        """Pull `name`; returns (image, repo digest, whether anything new was stored)."""
        ref = refs.parse(name)
        want = manifest.parse_platform(platform) if platform else manifest.host_platform()
        client = RegistryClient(ref.api_host, login=self.login)
        fetched = client.get_manifest(ref.repository, ref.pull_reference)
        repo_digest = fetched.digest
        document = manifest.load_json(fetched.body, "manifest")
        if fetched.media_type in manifest.INDEXES:
            digest, size = manifest.descriptor(manifest.select_platform(document, want), f"{ref}: manifest")
            _check_document_size(size, f"{ref}: manifest")
            fetched = client.get_manifest(ref.repository, digest)
            document = manifest.load_json(fetched.body, "manifest")
        if fetched.media_type not in manifest.IMAGE_MANIFESTS:
            raise RegistryError(f"{ref}: unsupported manifest type {fetched.media_type!r}")
        # Every descriptor checked before anything is downloaded: a layer without a size is refused here.
        config_digest, config_size = manifest.descriptor(document.get("config"), f"{ref}: config")
        _check_document_size(config_size, f"{ref}: image config")
        layer_descs = document.get("layers")
        if not isinstance(layer_descs, list):
            raise RegistryError(f"{ref}: manifest has no layers")
        layers = [manifest.descriptor(d, f"{ref}: layer {i + 1}") for i, d in enumerate(layer_descs)]
        for desc in layer_descs:
            if desc.get("mediaType") and desc["mediaType"] not in manifest.LAYER_TYPES:
                raise RegistryError(f"{ref}: unsupported layer type {str(desc['mediaType'])[:100]!r}")
        if self.store.has_blob(config_digest):
            config_bytes = self.store.read_blob(config_digest)
        else:
            config_bytes = client.get_blob_bytes(ref.repository, config_digest)
        config = manifest.load_json(config_bytes, "image config")
        diff_ids = manifest.diff_ids(config, len(layers), str(ref))
        self.progress(Progress("", f"{ref.digest or ref.tag}: Pulling from {ref.familiar_name}"))
        with self.store.lease():
            new = self._fetch_layers(client, ref.repository, layers, diff_ids)
            self.store.put_blob(config_digest, config_bytes)
            self.store.put_blob(fetched.digest, fetched.body)
            size = sum(self.store.layer_size(d) for d in diff_ids)
            image = Image(config_digest, fetched.digest, fetched.media_type, diff_ids,
                          [digest for digest, _ in layers], size, manifest.created(config))
            tag = None if ref.digest else f"{ref.name}:{ref.tag}"
            previous = self.store.tags().get(tag) if tag else None
            self.store.add_image(image, tag, f"{ref.name}@{repo_digest}")
        return self.store.get_image(image.id), repo_digest, new or previous != image.id

    def _fetch_layers(self, client: RegistryClient, repository: str, layers: list[tuple[str, int]],
                      diff_ids: list[str]) -> bool:
        """`layers`: (blob digest, size) each, checked (manifest.descriptor), as `diff_ids` are."""
        cancelled = threading.Event()
        work = []
        for (digest, size), diff_id in zip(layers, diff_ids, strict=True):
            if self.store.has_layer(diff_id) and self.store.has_blob(digest):
                self.progress(Progress(digest[7:19], "Already exists"))
            else:
                self.progress(Progress(digest[7:19], "Waiting"))
                work.append((digest, size, diff_id))
        if not work:
            return False
        with ThreadPoolExecutor(max_workers=min(PARALLEL_LAYERS, len(work)),
                                thread_name_prefix="tuiker-pull") as pool:
            futures = [pool.submit(self._fetch_layer, client, repository, *w, cancelled) for w in work]
            done, _ = wait(futures, return_when=FIRST_EXCEPTION)
            errors = [f.exception() for f in done if f.exception() is not None]
            if errors:
                cancelled.set()
                wait(futures)
                real = [e for e in errors if not isinstance(e, Cancelled)]
                raise (real or errors)[0]
        return True

    def _fetch_layer(self, client: RegistryClient, repository: str, digest: str, total: int, diff_id: str,
                     cancelled: threading.Event) -> None:
        short = digest[7:19]
        with self.store.production_lock(diff_id):
            have_layer, have_blob = self.store.has_layer(diff_id), self.store.has_blob(digest)
            if have_layer and have_blob:
                self.progress(Progress(short, "Already exists"))
                return
            if have_blob:
                # A previous pull stored the blob and died before unpacking: no need to download.
                self.progress(Progress(short, "Extracting", 0, total))
                open_at = file_chunks(self.store.blob_path(digest))
            else:
                open_at = _registry_chunks(client, repository, digest)
            last = [0.0]

            def on_bytes(offset: int) -> None:
                now = time.monotonic()
                if now - last[0] >= 0.1 or offset == total:
                    last[0] = now
                    self.progress(Progress(short, "Downloading", offset, total))

            produce_layer(self.store, open_at, digest, total, diff_id, not have_blob, on_bytes, cancelled)
        self.progress(Progress(short, "Pull complete", total, total))


def _check_document_size(size: int, what: str) -> None:
    """Refused from its descriptor alone, before it is asked for (read_document would stop it anyway)."""
    if size > manifest.MAX_DOCUMENT:
        raise RegistryError(f"{what} is larger than {manifest.MAX_DOCUMENT >> 20} MiB ({size} bytes)")


def host_arch_warning(config: dict) -> str | None:
    host = manifest.host_platform()
    have = manifest.normalize(config.get("os", ""), config.get("architecture", ""), config.get("variant"))
    if (have.os, have.architecture) != (host.os, host.architecture):
        return f"WARNING: The requested image's platform ({have}) does not match the host platform ({host})"
    return None

