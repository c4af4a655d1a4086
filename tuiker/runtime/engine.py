"""The engine facade: the one door the CLI and the TUI use. Heavy modules (requests, the pull and
archive code) are imported inside the methods that need them, so `tuiker images` starts fast."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from tuiker.runtime import config, reference
from tuiker.runtime.errors import TuikerError
from tuiker.runtime.store import Image, Store


@dataclass
class PullResult:
    image: Image
    repo_digest: str
    reference: str
    downloaded: bool


class Engine:
    def __init__(self, root: str | os.PathLike | None = None) -> None:
        self.root = Path(root) if root else config.engine_root()
        self._store: Store | None = None

    @property
    def store(self) -> Store:
        if self._store is None:
            try:
                self._store = Store(self.root)
            except PermissionError as e:
                raise TuikerError(f"cannot use engine root {self.root}: {e.strerror} (run as root or set"
                                  " TUIKER_ROOT)") from e
        return self._store

    # -- images ------------------------------------------------------------------------------------

    def pull(self, name: str, platform: str | None = None, progress=None) -> PullResult:
        from tuiker.runtime.pull import Puller

        ref = reference.parse(name)
        image, repo_digest, downloaded = Puller(self.store, progress).pull(name, platform)
        return PullResult(image, repo_digest, str(ref), downloaded)

    def images(self) -> list[Image]:
        return sorted(self.store.list_images(), key=lambda i: i.created, reverse=True)

    def image(self, name: str) -> Image:
        return self.store.resolve(name)

    def image_config(self, image: Image) -> dict:
        return json.loads(self.store.read_blob(image.id))

    def inspect_image(self, name: str) -> dict:
        image = self.image(name)
        cfg = self.image_config(image)
        return {
            "Id": image.id,
            "RepoTags": [reference.familiar(t) for t in image.repo_tags],
            "RepoDigests": [reference.familiar(d) for d in image.repo_digests],
            "Parent": "",
            "Comment": "",
            "Created": image.created,
            "Author": cfg.get("author", ""),
            "Config": cfg.get("config", {}),
            "Architecture": cfg.get("architecture", ""),
            **({"Variant": cfg["variant"]} if cfg.get("variant") else {}),
            "Os": cfg.get("os", ""),
            "Size": image.size,
            "RootFS": {"Type": "layers", "Layers": image.layers},
            "Metadata": {"ManifestDigest": image.manifest_digest, "ManifestMediaType": image.manifest_media_type},
        }

    def tag(self, source: str, target: str) -> None:
        image = self.image(source)
        ref = reference.parse(target)
        if ref.digest:
            raise TuikerError(f"refusing to create a tag with a digest reference: {target}")
        self.store.tag(image.id, f"{ref.name}:{ref.tag}")

    def remove_image(self, name: str, force: bool = False) -> list[tuple[str, str]]:
        """docker rmi: a tag that is not the image's last name is only untagged; otherwise (or by ID)
        the image goes, with every layer no other image shares. Returns ("Untagged"|"Deleted", what)."""
        store = self.store
        image_id = store.lookup_reference(name)
        if image_id is not None:
            image = store.get_image(image_id)
            ref = reference.parse(name)
            if ref.digest:
                store.forget_repo_digest(image.id, f"{ref.name}@{ref.digest}")
                done = [("Untagged", reference.familiar(f"{ref.name}@{ref.digest}"))]
            else:
                store.untag(f"{ref.name}:{ref.tag}")
                done = [("Untagged", reference.familiar(f"{ref.name}:{ref.tag}"))]
            image = store.get_image(image.id)
            if image.repo_tags or (ref.digest is None and image.repo_digests and
                                   any(not d.startswith(ref.name + "@") for d in image.repo_digests)):
                return done
            return done + self._delete(image)
        image = store.resolve(name)
        if len(image.repo_tags) > 1 and not force:
            raise TuikerError(f"conflict: unable to delete {image.short_id} (must be forced) - image is"
                              " referenced in multiple repositories")
        done = []
        for tag in image.repo_tags:
            store.untag(tag)
            done.append(("Untagged", reference.familiar(tag)))
        return done + self._delete(image)

    def _delete(self, image: Image) -> list[tuple[str, str]]:
        done = [("Untagged", reference.familiar(d)) for d in image.repo_digests]
        layers = self.store.delete_image(image.id)
        return done + [("Deleted", image.id)] + [("Deleted", d) for d in layers]

    def prune_images(self, all_images: bool = False) -> tuple[list[tuple[str, str]], int]:
        """Remove dangling images (no tag), or with `all_images` every image no container uses."""
        done: list[tuple[str, str]] = []
        reclaimed = 0
        for image in self.store.list_images():
            if image.repo_tags and not all_images:
                continue
            before = self._layer_bytes()
            for tag in image.repo_tags:
                self.store.untag(tag)
                done.append(("Untagged", reference.familiar(tag)))
            done += self._delete(image)
            reclaimed += before - self._layer_bytes()
        before = self._layer_bytes()
        self.store.collect_garbage()
        reclaimed += before - self._layer_bytes()
        return done, reclaimed

    def _layer_bytes(self) -> int:
        total = 0
        for layer in self.store.layers.iterdir():
            try:
                total += self.store.layer_size(f"sha256:{layer.name}")
            except (OSError, ValueError, KeyError):
                continue
        return total

    def save(self, names: list[str], path: str) -> None:
        from tuiker.runtime import archive

        images = []
        for name in names:
            image = self.image(name)
            try:
                ref = reference.parse(name)
                tag = self.store.tags().get(f"{ref.name}:{ref.tag}") == image.id and f"{ref.name}:{ref.tag}"
            except TuikerError:
                tag = None
            # docker saves the tag that was named, or all of the image's tags when named by ID.
            images.append((image, [tag] if tag else image.repo_tags))
        archive.save(self.store, images, path)

    def load(self, path: str) -> list[str]:
        from tuiker.runtime import archive

        return archive.load(self.store, path)

    # -- registries --------------------------------------------------------------------------------

    def login(self, server: str, username: str, password: str) -> str:
        from tuiker.runtime import credentials
        from tuiker.runtime.registry import RegistryClient

        host = _registry_host(server)
        RegistryClient(reference.DOCKER_HUB_API_HOST if host == "docker.io" else host,
                       login=(username, password)).ping()
        return str(credentials.store(host, username, password))

    def logout(self, server: str) -> bool:
        from tuiker.runtime import credentials

        return credentials.erase(_registry_host(server))


def _registry_host(server: str | None) -> str:
    if not server:
        return reference.DEFAULT_REGISTRY
    host = server.removeprefix("https://").removeprefix("http://").split("/", 1)[0]
    return reference.DEFAULT_REGISTRY if host in ("index.docker.io", "registry-1.docker.io") else host

