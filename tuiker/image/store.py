"""The content-addressed image store under the engine root.

    blobs/sha256/<hex>          manifests, configs and layer blobs exactly as the registry served them
    layers/<diff-id hex>/diff/  each layer unpacked once (overlay whiteout form), shared by every image
    layers/<diff-id hex>/layer.json   {"DiffID", "Size"}; written before the directory is renamed in
    images/<id hex>.json        one record per image (id = digest of its config, as docker's)
    tags.json                   {"registry/repo:tag": "sha256:<image id>"}
    tmp/<pid>-<random>          work in progress; swept once its process is dead
    locks/                      flock files: `store.lock` for metadata, one per layer being produced

The root is 0711 and everything in it 0700 (files 0600): see fsutil.open_root, which opening the store runs.

Everything becomes visible by rename, after its digest was checked, so a reader (or a process that
starts after a `kill -9`) sees a complete object or none. Metadata read-modify-writes hold `store.lock`.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tuiker.base.errors import NotFoundError, TuikerError
from tuiker.base.fsutil import (
    DamagedFileError,
    atomic_write,
    check_digest,
    flocked,
    open_root,
    pid_alive,
    private_dir,
    read_json,
)
from tuiker.image import reference as refs


class Image:
    # A plain class: the CLI's hot path avoids dataclasses (see reference.Reference).
    def __init__(self, id: str, manifest_digest: str, manifest_media_type: str, layers: list[str],
                 blobs: list[str], size: int, created: str, repo_digests: list[str] | None = None) -> None:
        self.id = id
        self.manifest_digest = manifest_digest
        self.manifest_media_type = manifest_media_type
        self.layers = layers  # diff ids, base first
        self.blobs = blobs  # compressed layer digests, same order
        self.size = size
        self.created = created
        self.repo_digests = repo_digests or []
        self.repo_tags: list[str] = []  # filled from tags.json when read

    def __repr__(self) -> str:
        return f"Image({self.id!r}, tags={self.repo_tags!r})"

    @property
    def short_id(self) -> str:
        return self.id.removeprefix("sha256:")[:12]

    def to_record(self) -> dict:
        return {"Id": self.id, "ManifestDigest": self.manifest_digest,
                "ManifestMediaType": self.manifest_media_type, "Layers": self.layers, "Blobs": self.blobs,
                "Size": self.size, "Created": self.created, "RepoDigests": self.repo_digests}

    @classmethod
    def from_record(cls, record: dict) -> Image:
        return cls(record["Id"], record["ManifestDigest"], record["ManifestMediaType"], record["Layers"],
                   record["Blobs"], record["Size"], record["Created"], record.get("RepoDigests", []))


class Store:
    def __init__(self, root: str | os.PathLike) -> None:
        self.root = Path(root)
        self.blobs = self.root / "blobs" / "sha256"
        self.layers = self.root / "layers"
        self.images = self.root / "images"
        self.tmp = self.root / "tmp"
        self.locks = self.root / "locks"
        self.tags_file = self.root / "tags.json"
        open_root(self.root)
        for d in ("blobs/sha256", "layers", "images", "tmp", "locks"):
            private_dir(self.root, d)
        self.sweep()

    # -- housekeeping ------------------------------------------------------------------------------

    def sweep(self) -> None:
        """Remove work left by dead processes (a kill -9 mid-pull): tmp entries and half-written files."""
        for entry in self.tmp.iterdir():
            pid = entry.name.split("-", 1)[0]
            if pid.isdigit() and pid_alive(int(pid)):
                continue
            _remove(entry)
        for folder in (self.images, self.blobs, self.root):
            for entry in folder.iterdir():
                base, sep, pid = entry.name.rpartition(".tmp-")
                if sep and pid.isdigit() and not pid_alive(int(pid)):
                    _remove(entry)

    def tmp_path(self, label: str = "") -> Path:
        return self.tmp / f"{os.getpid()}-{os.urandom(6).hex()}{label}"

    @contextmanager
    def metadata_lock(self) -> Iterator[None]:
        with flocked(self.locks / "store.lock"):
            yield

    @contextmanager
    def production_lock(self, digest: str) -> Iterator[None]:
        """Serialise work on one layer or blob across processes (two pulls of one image at once).

        The holder unlinks the lock file when done; a waiter that still opened the old file gets it
        next and finds the object present, and one that arrives later makes a fresh file.
        """
        path = self.locks / f"{digest.removeprefix('sha256:')}.lock"
        with flocked(path):
            try:
                yield
            finally:
                try:
                    path.unlink()
                except FileNotFoundError:
                    pass

    # -- blobs -------------------------------------------------------------------------------------

    def blob_path(self, digest: str) -> Path:
        return self.blobs / check_digest(digest).removeprefix("sha256:")

    def has_blob(self, digest: str) -> bool:
        return self.blob_path(digest).exists()

    def read_blob(self, digest: str) -> bytes:
        try:
            return self.blob_path(digest).read_bytes()
        except FileNotFoundError:
            raise NotFoundError(f"blob {digest} is missing from the store") from None

    def put_blob(self, digest: str, data: bytes) -> None:
        """Store bytes already checked against `digest` (small blobs: manifests, configs)."""
        path = self.blob_path(digest)
        if not path.exists():
            atomic_write(path, data)

    def commit_blob(self, tmp_file: Path, digest: str) -> None:
        """Move a verified temp file into place; another process may have won the race, which is fine."""
        os.replace(tmp_file, self.blob_path(digest))

    # -- layers ------------------------------------------------------------------------------------

    def layer_dir(self, diff_id: str) -> Path:
        return self.layers / check_digest(diff_id).removeprefix("sha256:")

    def has_layer(self, diff_id: str) -> bool:
        return (self.layer_dir(diff_id) / "layer.json").exists()

    def layer_size(self, diff_id: str) -> int:
        with open(self.layer_dir(diff_id) / "layer.json") as f:
            return int(json.load(f)["Size"])

    def commit_layer(self, tmp_dir: Path, diff_id: str, size: int) -> None:
        """`tmp_dir` holds `diff/`; write its record, then rename the whole directory into place."""
        atomic_write(tmp_dir / "layer.json", json.dumps({"DiffID": diff_id, "Size": size}).encode())
        try:
            os.rename(tmp_dir, self.layer_dir(diff_id))
        except OSError:
            if not self.has_layer(diff_id):
                raise
            _remove(tmp_dir)  # produced meanwhile by another process: keep theirs

    # -- images and tags ---------------------------------------------------------------------------

    def _read_tags(self) -> dict[str, str]:
        try:
            return read_json(self.tags_file)
        except FileNotFoundError:
            return {}
        except DamagedFileError:
            # Torn by a crash of the host: the images stay, untagged, and the damaged file is kept beside for
            # whoever wants to recover names from it; every image command goes on working. (No lock here: the
            # callers that write tags already hold the metadata lock.)
            try:
                os.replace(self.tags_file, self.tags_file.with_name(f"tags.json.damaged-{int(time.time())}"))
            except FileNotFoundError:
                pass
            return {}

    def _write_tags(self, tags: dict[str, str]) -> None:
        atomic_write(self.tags_file, json.dumps(tags, indent=1, sort_keys=True).encode())

    def _image_path(self, image_id: str) -> Path:
        return self.images / f"{check_digest(image_id).removeprefix('sha256:')}.json"

    def get_image(self, image_id: str, tags: dict[str, str] | None = None) -> Image:
        try:
            image = Image.from_record(read_json(self._image_path(image_id)))
        except FileNotFoundError:
            raise NotFoundError(f"No such image: {image_id}") from None
        except (KeyError, TypeError) as e:
            raise DamagedFileError(f"damaged file {self._image_path(image_id)}: no {e}") from None
        tags = self._read_tags() if tags is None else tags
        image.repo_tags = sorted(t for t, i in tags.items() if i == image.id)
        return image

    def list_images(self) -> list[Image]:
        tags = self._read_tags()
        images = []
        for path in self.images.glob("*.json"):
            try:
                images.append(self.get_image(f"sha256:{path.stem}", tags))
            except NotFoundError:
                continue  # removed while we listed
            except DamagedFileError:
                continue  # unusable: `image prune` removes it (damaged_records)
        return images

    def add_image(self, image: Image, tag: str | None, repo_digest: str | None) -> None:
        """Record an image whose blobs and layers are all committed, and point `tag` at it."""
        with self.metadata_lock():
            path = self._image_path(image.id)
            try:
                image.repo_digests = self.get_image(image.id).repo_digests
            except (NotFoundError, DamagedFileError):
                pass  # a new image, or a damaged record this one replaces
            if repo_digest:
                name = repo_digest.split("@", 1)[0]
                # One digest per repository, as docker keeps it.
                image.repo_digests = [d for d in image.repo_digests if d.split("@", 1)[0] != name]
                image.repo_digests.append(repo_digest)
            atomic_write(path, json.dumps(image.to_record(), indent=1).encode())
            if tag:
                tags = self._read_tags()
                tags[tag] = image.id
                self._write_tags(tags)

    def tag(self, image_id: str, tag: str) -> None:
        with self.metadata_lock():
            self.get_image(image_id)
            tags = self._read_tags()
            tags[tag] = image_id
            self._write_tags(tags)

    def untag(self, tag: str) -> str:
        with self.metadata_lock():
            tags = self._read_tags()
            image_id = tags.pop(tag, None)
            if image_id is None:
                raise NotFoundError(f"No such image: {tag}")
            self._write_tags(tags)
            return image_id

    def resolve(self, name: str) -> Image:
        """An image by reference (`alpine`, `repo:tag`, `repo@sha256:..`), full ID or unique ID prefix."""
        tags = self._read_tags()
        by_ref = self.lookup_reference(name, tags)
        if by_ref:
            return self.get_image(by_ref, tags)
        prefix = name.removeprefix("sha256:").lower()
        if prefix and all(c in "0123456789abcdef" for c in prefix):
            matches = [p.stem for p in self.images.glob(f"{prefix}*.json")]
            if len(matches) == 1:
                return self.get_image(f"sha256:{matches[0]}", tags)
            if len(matches) > 1:
                raise TuikerError(f"image ID prefix {name!r} is ambiguous: it matches {len(matches)} images")
        raise NotFoundError(f"No such image: {name}")

    def lookup_reference(self, name: str, tags: dict[str, str] | None = None) -> str | None:
        """The image ID a reference (tag or repo digest) names, or None; no ID-prefix matching."""
        tags = self._read_tags() if tags is None else tags
        try:
            ref = refs.parse(name)
        except TuikerError:
            return None
        if ref.digest:
            wanted = f"{ref.name}@{ref.digest}"
            for image in self.list_images():
                if wanted in image.repo_digests or image.id == ref.digest:
                    return image.id
            return None
        return tags.get(f"{ref.name}:{ref.tag}")

    def tags(self) -> dict[str, str]:
        return self._read_tags()

    def forget_repo_digest(self, image_id: str, repo_digest: str) -> None:
        with self.metadata_lock():
            image = self.get_image(image_id)
            image.repo_digests = [d for d in image.repo_digests if d != repo_digest]
            atomic_write(self._image_path(image_id), json.dumps(image.to_record(), indent=1).encode())

    def delete_image(self, image_id: str) -> list[str]:
        """Delete an image record and every blob and layer no remaining image uses; return what went."""
        with self.metadata_lock():
            tags = self._read_tags()
            remaining_tags = {t: i for t, i in tags.items() if i != image_id}
            if remaining_tags != tags:
                self._write_tags(remaining_tags)
            self.get_image(image_id, tags)
            self._image_path(image_id).unlink()
            return self._collect_garbage()

    @contextmanager
    def lease(self) -> Iterator[None]:
        """Held (shared) by every pull from its first blob to its image record, and by every container create
        from reading its image to writing its config, so garbage collection never takes a blob or layer that is
        committed but not yet recorded by an image or a container."""
        with flocked(self.locks / "gc.lock", shared=True):
            yield

    def _collect_garbage(self) -> list[str]:
        """Caller holds the metadata lock. Skipped while a pull runs (prune later catches up).
        Layers go by rename first so a reader never sees half of one."""
        with flocked(self.locks / "gc.lock", blocking=False) as got:
            if not got:
                return []
            return self._sweep_unused()

    def _container_layers(self) -> set[str] | None:
        """The layers under every container, whatever its state (and those being created or removed): a
        container's root is made of them, so no image removal may take them. None when a container's config
        cannot be read: its layers are unknown, and then none may go."""
        used: set[str] = set()
        try:
            entries = list(os.scandir(self.root / "containers"))
        except FileNotFoundError:
            return used
        for entry in entries:
            try:
                layers = read_json(os.path.join(entry.path, "config.json")).get("Layers")
            except (FileNotFoundError, NotADirectoryError):
                continue
            except DamagedFileError:
                return None
            if not isinstance(layers, list):
                return None
            used.update(str(layer).removeprefix("sha256:") for layer in layers)
        return used

    def remove_damaged_records(self) -> list[str]:
        """Delete image records that cannot be read (nothing can use them); returns their IDs."""
        gone = []
        with self.metadata_lock():
            for path in self.images.glob("*.json"):
                try:
                    self.get_image(f"sha256:{path.stem}", {})
                except DamagedFileError:
                    path.unlink()
                    gone.append(f"sha256:{path.stem}")
                except (NotFoundError, TuikerError):
                    continue
        return gone

    def _sweep_unused(self) -> list[str]:
        containers = self._container_layers()
        used_layers: set[str] = set(containers or ())
        used_blobs: set[str] = set()
        for image in self.list_images():
            used_layers.update(d.removeprefix("sha256:") for d in image.layers)
            kept = (*image.blobs, image.id, image.manifest_digest)
            used_blobs.update(d.removeprefix("sha256:") for d in kept)
        deleted = []
        for layer in self.layers.iterdir():
            if containers is not None and layer.name not in used_layers:
                doomed = self.tmp_path("-rm")
                os.rename(layer, doomed)
                _remove(doomed)
                deleted.append(f"sha256:{layer.name}")
        for blob in self.blobs.iterdir():
            if blob.name not in used_blobs and ".tmp-" not in blob.name:
                blob.unlink()
        return deleted

    def collect_garbage(self) -> list[str]:
        with self.metadata_lock():
            return self._collect_garbage()


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        import shutil

        shutil.rmtree(path, ignore_errors=True)
    else:
        try:
            path.unlink()
        except FileNotFoundError:
            pass
