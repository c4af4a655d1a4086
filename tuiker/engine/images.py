"""`engine.images`: pull, push, list, inspect, tag, remove, prune, save, load, and the registries' logins.

Heavy modules (requests, the pull and archive code) are imported inside the methods that need them, so
`tuiker images` starts fast."""

from __future__ import annotations

import json
import os
from pathlib import Path

from tuiker.base.errors import ConflictError, InvalidArgument, TuikerError
from tuiker.engine.containers import LIVE_STATES
from tuiker.engine.stores import open_store
from tuiker.image import reference
from tuiker.image.store import Image, Store
from tuiker.runtime.events import emit

TYPE_CHECKING = False  # not typing's: importing typing costs ~7 ms on every command
if TYPE_CHECKING:
    from tuiker.engine.layertree import LayerReport
    from tuiker.runtime.containers import Container, ContainerStore


class PullResult:
    """What a pull did: the image, the digest it was pulled by, the reference as named in full, whether
    anything was downloaded, and docker's warning when the image is not for this host's platform."""

    def __init__(self, image: Image, repo_digest: str, reference: str, downloaded: bool,
                 warning: str | None) -> None:
        self.image = image
        self.repo_digest = repo_digest
        self.reference = reference
        self.downloaded = downloaded
        self.warning = warning


class PushResult:
    """What a push did: the reference as named in full (`127.0.0.1:5000/app:latest`, or the repository alone
    for --all-tags), and each tag pushed (push.Pushed: its name, manifest digest and size)."""

    def __init__(self, reference: str, pushed: list) -> None:
        self.reference = reference
        self.pushed = pushed


class Images:
    """The images of one engine root; given the root (it reads the containers' files only to know which
    images are in use)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._store: Store | None = None
        self._containers: ContainerStore | None = None

    @property
    def store(self) -> Store:
        """Blobs, layers, image records and tags (image/store.py)."""
        if self._store is None:
            self._store = open_store(Store, self.root)
        return self._store

    @property
    def _records(self) -> ContainerStore:
        if self._containers is None:
            from tuiker.runtime.containers import ContainerStore  # not on `tuiker images`' path

            self._containers = open_store(ContainerStore, self.root)
        return self._containers

    def pull(self, name: str, platform: str | None = None, progress=None,
             login: tuple[str, str] | None = None) -> PullResult:
        """Pull `name`; `progress` is called with each Progress (a layer's, or the image's with id "").
        `login`: (user, password) for the registry, instead of the stored ones (an API client's X-Registry-Auth)."""
        from tuiker.image.pull import Puller, host_arch_warning

        ref = reference.parse(name)
        image, repo_digest, downloaded = Puller(self.store, progress, login).pull(name, platform)
        emit(self.root, "image", "pull", reference.familiar(str(ref)), {"name": reference.familiar(ref.name)})
        warning = None if platform else host_arch_warning(self.config(image))
        return PullResult(image, repo_digest, str(ref), downloaded, warning)

    def push(self, name: str, all_tags: bool = False, progress=None,
             login: tuple[str, str] | None = None) -> PushResult:
        """docker push: the tag `name` names (`latest` when it names none: said through `progress`, as
        docker's CLI says it), or with `all_tags` every tag of its repository; `login` as for pull."""
        from tuiker.image.pull import Progress
        from tuiker.image.push import Pusher

        ref = reference.parse_name(name)
        if not all_tags and ref.tag is None and ref.digest is None:
            ref = reference.parse(name)
            if progress:
                progress(Progress("", f"Using default tag: {ref.tag}"))
        result = PushResult(str(ref), Pusher(self.store, progress, login).push(str(ref), all_tags))
        for pushed in result.pushed:
            emit(self.root, "image", "push", reference.familiar(pushed.tag),
                 {"name": reference.familiar(reference.parse(pushed.tag).name)})
        return result

    def list(self, all: bool = False, filters: dict[str, list[str]] | None = None) -> list[Image]:
        """Newest first; with `all`, the intermediate images of builds too (untagged steps: docker's `images -a`).
        `filters` as docker's: dangling=true|false, label=K or K=V (all must match), reference=PATTERN (any),
        before=IMAGE, since=IMAGE."""
        images = self.store.list_images()
        if not all:
            hidden = self.build_intermediates()
            images = [i for i in images if i.repo_tags or i.id not in hidden]
        if filters:
            images = self._filtered(images, filters)
        return sorted(images, key=lambda i: i.created, reverse=True)

    def _filtered(self, images: list[Image], filters: dict[str, list[str]]) -> list[Image]:
        from tuiker.base.times import parse_time

        _check_filters(filters, ("dangling", "label", "reference", "before", "since"))
        dangling = _dangling(filters)
        if dangling is not None:
            images = [i for i in images if bool(i.repo_tags) != dangling]
        if filters.get("reference"):
            images = [i for i in images if matches_reference(i, filters["reference"])]
        if filters.get("label"):
            images = [i for i in images if self._has_labels(i, filters["label"])]
        for key, newer in (("before", False), ("since", True)):
            for name in filters.get(key, []):
                edge = parse_time(self.get(name).created) or 0
                images = [i for i in images if ((parse_time(i.created) or 0) > edge) == newer
                          and (parse_time(i.created) or 0) != edge]
        return images

    def labels(self, image: Image) -> dict[str, str]:
        """The image's labels (its config's Config.Labels)."""
        try:
            return self.config(image).get("config", {}).get("Labels") or {}
        except (OSError, ValueError, TuikerError):
            return {}

    def _has_labels(self, image: Image, wanted: list[str], negated: list[str] = ()) -> bool:
        labels = self.labels(image)

        def has(item: str) -> bool:
            key, sep, value = item.partition("=")
            return key in labels and (not sep or labels[key] == value)

        return all(has(w) for w in wanted) and not any(has(n) for n in negated)

    def build_intermediates(self) -> set[str]:
        """The images of build steps that the build cache holds (engine/build/cache.py)."""
        if not (self.root / "builder").exists():
            return set()
        from tuiker.engine.build.cache import BuildCache

        return BuildCache(self.root).intermediate()

    def get(self, name: str) -> Image:
        """By name (`busybox`, `host:5000/app:1`), digest, ID or unique ID prefix."""
        return self.store.resolve(name)

    def config(self, image: Image) -> dict:
        """The image's config document (architecture, os, config, history ...)."""
        return json.loads(self.store.read_blob(image.id))

    def inspect(self, name: str) -> dict:
        image = self.get(name)
        cfg = self.config(image)
        return {
            "Id": image.id,
            "RepoTags": [reference.familiar(t) for t in image.repo_tags],
            "RepoDigests": [reference.familiar(d) for d in image.repo_digests],
            "Parent": "",
            "Comment": cfg.get("comment", ""),
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

    def layer_dirs(self, name: str) -> dict[str, str]:
        """docker's GraphDriver.Data of an image: its top layer's directory, and the ones below it, top first."""
        image = self.get(name)
        dirs = [str(self.store.layer_dir(d) / "diff") for d in reversed(image.layers)]
        return {**({"UpperDir": dirs[0]} if dirs else {}), **({"LowerDir": ":".join(dirs[1:])} if dirs[1:] else {})}

    def history(self, name: str) -> list[dict]:
        """docker history's rows, newest first (engine/snapshot.py)."""
        from tuiker.engine.snapshot import history

        return history(self, name)

    def layers(self, name: str) -> LayerReport:
        """Its layers file by file, bottom first, and the space wasted across them, as dive shows it
        (engine/layertree.py)."""
        from tuiker.engine.layertree import layer_report

        return layer_report(self, name)

    def import_(self, source: str, repository: str | None = None, changes: list[str] | None = None,
                message: str = "", platform: str | None = None, stdin=None) -> Image:
        """docker import: a tar file, `-` (`stdin`) or an http://127.0.0.1 URL as a one-layer image."""
        from tuiker.engine.snapshot import import_image

        image = import_image(self, source, repository, changes, message, platform, stdin)
        emit(self.root, "image", "import", image.id, {"name": image.id})
        return image

    def tag(self, source: str, target: str) -> None:
        image = self.get(source)
        try:
            ref = reference.parse(target)
        except TuikerError as e:
            raise InvalidArgument(str(e)) from None
        if ref.digest:
            raise InvalidArgument(f"refusing to create a tag with a digest reference: {target}")
        self.store.tag(image.id, f"{ref.name}:{ref.tag}")
        emit(self.root, "image", "tag", image.id, {"name": reference.familiar(f"{ref.name}:{ref.tag}")})

    def remove(self, name: str, force: bool = False) -> list[tuple[str, str]]:
        """docker rmi (see _remove), with docker's untag and delete events."""
        image_id = self.get(name).id
        done = self._remove(name, force)
        self._removal_events(image_id, done)
        return done

    def _removal_events(self, image_id: str, done: list[tuple[str, str]]) -> None:
        """docker names the image's ID in both: an untag per name gone, a delete if the image went."""
        for what, _ in done:
            if what == "Untagged":
                emit(self.root, "image", "untag", image_id, {"name": image_id})
        if ("Deleted", image_id) in done:
            emit(self.root, "image", "delete", image_id, {"name": image_id})

    def _remove(self, name: str, force: bool = False) -> list[tuple[str, str]]:
        """docker rmi, with docker's conflicts (daemon/images/image_delete.go). A name that is not the image's
        last is only untagged. The last name of an image a container uses is refused without -f; with -f it is
        untagged, and the image stays (dangling) while a running container uses it. By ID: refused while a
        running container uses it, and without -f while a stopped one does or other repositories name it.
        Whatever goes, the layers of every container stay (store.py's garbage collection keeps them).
        Returns ("Untagged"|"Deleted", what)."""
        store = self.store
        image_id = store.lookup_reference(name)
        if image_id is None:
            image = store.resolve(name)
            if not force and not _one_repository(image):
                raise ConflictError(f"conflict: unable to delete {image.short_id} (must be forced) - image is"
                                    " referenced in multiple repositories")
            self._refuse_delete(image, force)
            done = []
            for tag in image.repo_tags:
                store.untag(tag)
                done.append(("Untagged", reference.familiar(tag)))
            return done + self._delete(image)
        image = store.get_image(image_id)
        if not force and _one_repository(image):
            using = self._containers_using(image.id)
            if using:
                raise ConflictError(f'conflict: unable to remove repository reference "{name}" (must force) -'
                                    f" container {using[0].short_id} is using its referenced image {image.short_id}")
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
        try:
            self._refuse_delete(image, force)
        except TuikerError:
            return done  # docker: the last name went, the image stays (dangling) for the container using it
        return done + self._delete(image)

    def _containers_using(self, image_id: str) -> list[Container]:
        """Containers made from `image_id`, running (and paused, restarting) ones first."""
        using = [c for c in self._records.list() if c.config.get("ImageID") == image_id]
        return sorted(using, key=lambda c: c.status not in LIVE_STATES)

    def _refuse_delete(self, image: Image, force: bool) -> None:
        """docker's delete conflicts: a running container's image cannot go, a stopped one's only with -f."""
        using = self._containers_using(image.id)
        if using and using[0].status in LIVE_STATES:
            raise ConflictError(f"conflict: unable to delete {image.short_id} (cannot be forced) - image is"
                                f" being used by running container {using[0].short_id}")
        if using and not force:
            raise ConflictError(f"conflict: unable to delete {image.short_id} (must be forced) - image is"
                                f" being used by stopped container {using[0].short_id}")

    def _delete(self, image: Image) -> list[tuple[str, str]]:
        done = [("Untagged", reference.familiar(d)) for d in image.repo_digests]
        layers = self.store.delete_image(image.id)
        return done + [("Deleted", image.id)] + [("Deleted", d) for d in layers]

    def prune(self, all_images: bool = False, filters: dict[str, list[str]] | None = None
              ) -> tuple[list[tuple[str, str]], int]:
        """Remove dangling images (no tag), or with `all_images` every image no container uses; images no
        container uses only, in both cases, as docker (and damaged image records, which nothing can use).
        `filters` as docker's image prune: dangling=false (as `all_images`), until=TIME (created before: unix
        seconds, RFC 3339 or a Go duration ago), label=K[=V] / label!=K[=V].
        Returns what went ("Untagged"|"Deleted", what) and the bytes reclaimed."""
        from tuiker.base.times import parse_time

        filters = filters or {}
        _check_filters(filters, ("dangling", "until", "label", "label!"))
        if _dangling(filters) is False:
            all_images = True
        until = min((_timestamp(v) for v in filters.get("until", [])), default=None)
        done: list[tuple[str, str]] = []
        reclaimed = 0
        used = {c.config.get("ImageID") for c in self._records.list()}
        used |= self.build_intermediates()  # the build cache's steps: `builder prune` removes them
        for image in self.store.list_images():
            if (image.repo_tags and not all_images) or image.id in used:
                continue
            if until is not None and (parse_time(image.created) or 0) >= until:
                continue
            if (filters.get("label") or filters.get("label!")) and not self._has_labels(
                    image, filters.get("label", []), filters.get("label!", [])):
                continue
            before = self.layer_bytes()
            gone = [("Untagged", reference.familiar(tag)) for tag in image.repo_tags]
            for tag in image.repo_tags:
                self.store.untag(tag)
            gone += self._delete(image)
            self._removal_events(image.id, gone)
            done += gone
            reclaimed += before - self.layer_bytes()
        done += [("Deleted", image_id) for image_id in self.store.remove_damaged_records()]
        before = self.layer_bytes()
        self.store.collect_garbage()
        reclaimed += before - self.layer_bytes()
        return done, reclaimed

    def layer_bytes(self) -> int:
        """The bytes of every unpacked layer in the store (what a prune reclaims is the difference)."""
        total = 0
        for layer in self.store.layers.iterdir():
            try:
                total += self.store.layer_size(f"sha256:{layer.name}")
            except (OSError, ValueError, KeyError):
                continue
        return total

    def save(self, names: list[str], path: str) -> None:
        """docker save: the named images into one tar (docker-archive and OCI layout) at `path`."""
        from tuiker.image import archive

        images = []
        for name in names:
            image = self.get(name)
            try:
                ref = reference.parse(name)
                tag = self.store.tags().get(f"{ref.name}:{ref.tag}") == image.id and f"{ref.name}:{ref.tag}"
            except TuikerError:
                tag = None
            # docker saves the tag that was named, or all of the image's tags when named by ID.
            images.append((image, [tag] if tag else image.repo_tags))
        archive.save(self.store, images, path)
        for image, _ in images:
            emit(self.root, "image", "save", image.id, {"name": image.id})

    def load(self, path: str) -> list[str]:
        """docker load (docker save, podman save, skopeo archives); the names loaded, or IDs of untagged images."""
        from tuiker.image import archive

        loaded = archive.load(self.store, path)
        for name in loaded:
            try:
                image_id = self.get(name).id
            except TuikerError:
                continue
            emit(self.root, "image", "load", image_id, {"name": image_id})
        return loaded

    def load_stream(self, stream) -> list[str]:
        """load from a binary stream (an API request's body): spooled to a file under the store's tmp/ first
        (the archive is read out of order), which goes when the load ends, or with the store's next sweep."""
        import shutil

        path = self.store.tmp_path("-load")
        try:
            with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600), "wb") as f:
                shutil.copyfileobj(stream, f, 1 << 20)
            return self.load(str(path))
        finally:
            path.unlink(missing_ok=True)

    # -- registries --------------------------------------------------------------------------------

    def login(self, server: str | None, username: str, password: str) -> str:
        """Check the credentials with the registry, then store them; the file they went to."""
        from tuiker.image import credentials

        host = self.check_login(server, username, password)
        return str(credentials.store(host, username, password))

    def check_login(self, server: str | None, username: str, password: str) -> str:
        """Check the credentials with the registry (docker's /auth: nothing is stored); the registry's host."""
        from tuiker.image.registry import RegistryClient

        host = registry_host(server)
        RegistryClient(reference.DOCKER_HUB_API_HOST if host == "docker.io" else host,
                       login=(username, password)).ping()
        return host

    def logout(self, server: str | None) -> bool:
        """Forget the credentials of `server` (Docker Hub when None); False if there were none."""
        from tuiker.image import credentials

        return credentials.erase(registry_host(server))


def registry_host(server: str | None) -> str:
    """The registry a login names (`https://index.docker.io/v1/` is Docker Hub: `docker.io`)."""
    if not server:
        return reference.DEFAULT_REGISTRY
    host = server.removeprefix("https://").removeprefix("http://").split("/", 1)[0]
    return reference.DEFAULT_REGISTRY if host in ("index.docker.io", "registry-1.docker.io") else host


def familiar_name(name: str, default_tag: bool = False) -> str:
    """The short form docker prints of an image name: `busybox:latest` for docker.io/library/busybox:latest,
    `127.0.0.1:5000/app@sha256:...`; with `default_tag`, a name with neither tag nor digest gets `:latest`
    first (as `ps` shows a container's image). What is no reference (an image ID) stays as it is."""
    try:
        return reference.familiar(str(reference.parse(name)) if default_tag else name)
    except TuikerError:
        return name


def matches_reference(image: Image, patterns: list[str]) -> bool:
    """docker's reference filter: a familiar name (`busybox:latest`) or its repository matches a glob."""
    return any(tag_matches(reference.familiar(t), patterns) for t in image.repo_tags)


def tag_matches(name: str, patterns: list[str]) -> bool:
    """One familiar tag (`busybox:latest`) or digest reference (`busybox@sha256:...`) against docker's reference
    filter: it or its repository matches."""
    import fnmatch

    repo = name.split("@", 1)[0] if "@" in name else name.rsplit(":", 1)[0]
    return any(fnmatch.fnmatch(name, pattern) or fnmatch.fnmatch(repo, pattern) for pattern in patterns)


def _check_filters(filters: dict[str, list[str]], known: tuple[str, ...]) -> None:
    for key in filters:
        if key not in known:
            raise InvalidArgument(f"invalid filter '{key}'")


def _dangling(filters: dict[str, list[str]]) -> bool | None:
    values = {v.lower() for v in filters.get("dangling", [])}
    if not values:
        return None
    if not values <= {"true", "1", "false", "0"} or len({v in ("true", "1") for v in values}) > 1:
        raise InvalidArgument(f"invalid filter 'dangling={','.join(sorted(values))}'")
    return values.pop() in ("true", "1")


def _timestamp(value: str) -> float:
    """docker's filter times: unix seconds (with a fraction), RFC 3339, or a Go duration before now."""
    import time

    from tuiker.base.times import parse_go_duration, parse_time

    try:
        return float(value)
    except ValueError:
        pass
    when = parse_time(value)
    if when is not None:
        return when
    try:
        return time.time() - parse_go_duration(value) / 1e9
    except ValueError:
        raise InvalidArgument(f"invalid filter 'until={value}': not a timestamp or a duration") from None


def _one_repository(image: Image) -> bool:
    """docker's isSingleReference: every name of the image (tags and digests) is in one repository."""
    repos = {t.rsplit(":", 1)[0] for t in image.repo_tags} | {d.split("@", 1)[0] for d in image.repo_digests}
    return len(repos) <= 1
