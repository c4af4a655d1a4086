"""Pushing images from the store to a registry, as `docker push` does (moby distribution/push.go, push_v2.go).

For each tag: every blob of the image's stored manifest, the layers (several at once) and then the config, is
- skipped when the repository has it already (HEAD: "Layer already exists"),
- else mounted from another repository of the same registry that the image was pulled from or pushed to
  (POST ?mount=&from=: "Mounted from test/busybox"; a 202 answer opens an upload session instead),
- else uploaded: in one PUT when it fits in UPLOAD_CHUNK, else in PATCH chunks of UPLOAD_CHUNK;
then the manifest's own stored bytes are PUT under the tag, so a pulled image keeps its manifest digest.
The only local change is the repo digest the image gets for the repository (as docker records it), so a
failed push leaves nothing behind.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from tuiker.base.errors import NotFoundError, TuikerError
from tuiker.image import manifest
from tuiker.image import reference as refs
from tuiker.image.pull import Progress, ProgressFn
from tuiker.image.registry import RegistryClient
from tuiker.image.store import Image, Store

# Blobs above this go in PATCH chunks of this size, the others in one PUT; each request's body is held in
# memory (so a retry-free request never streams half a file).
UPLOAD_CHUNK = 16 * 1024 * 1024
# docker's default max-concurrent-uploads.
PARALLEL_UPLOADS = 5


@dataclass
class Pushed:
    """One tag pushed: its full name (`127.0.0.1:5000/app:latest`), the manifest's digest and size."""
    tag: str
    digest: str
    size: int


@dataclass
class _Plan:
    """What one tag's push sends: the blobs (digest, size, progress id or "" for the config), base layer
    first, then the config; and the manifest as stored."""
    image: Image
    blobs: list[tuple[str, int, str]]
    manifest: bytes
    media_type: str


class Pusher:
    def __init__(self, store: Store, progress: ProgressFn | None = None,
                 login: tuple[str, str] | None = None) -> None:
        self.store = store
        self.progress = progress or (lambda p: None)
        self.login = login  # (user, password) the caller was given; None: the stored credentials

    def push(self, name: str, all_tags: bool = False) -> list[Pushed]:
        """Push the tag `name` names (`latest` when it names none), or with `all_tags` every tag of its
        repository. Every image is checked to be whole in the store before anything is sent."""
        ref = refs.parse_name(name)
        if ref.digest:
            raise TuikerError("cannot push a digest reference")
        if all_tags and ref.tag:
            raise TuikerError("tag can't be used with --all-tags/-a")
        tags = self.store.tags()
        # docker pushes a repository's tags in lexical order (its reference store's ReferencesByName).
        wanted = sorted(t for t in tags if t.rsplit(":", 1)[0] == ref.name)
        if not wanted:
            raise NotFoundError(f"An image does not exist locally with the tag: {ref.familiar_name}")
        if not all_tags:
            tag = f"{ref.name}:{ref.tag or refs.DEFAULT_TAG}"
            if tag not in tags:
                raise NotFoundError(f"tag does not exist: {refs.familiar(tag)}")
            wanted = [tag]
        # The lease keeps garbage collection (an `rmi` meanwhile) from taking blobs while they are sent.
        with self.store.lease():
            plans = [(tag, self._plan(tag, tags[tag])) for tag in wanted]
            client = RegistryClient(ref.api_host, login=self.login)
            self.progress(Progress("", f"The push refers to repository [{ref.name}]"))
            return [self._push_tag(client, ref, tag, plan) for tag, plan in plans]

    def _plan(self, tag: str, image_id: str) -> _Plan:
        image = self.store.get_image(image_id)
        what = refs.familiar(tag)
        if not self.store.has_blob(image.manifest_digest):
            raise NotFoundError(_missing(what, "manifest", image.manifest_digest))
        body = self.store.read_blob(image.manifest_digest)
        document = manifest.load_json(body, f"{what}: stored manifest", error=TuikerError)
        config = manifest.descriptor(document.get("config"), f"{what}: stored manifest's config", TuikerError)
        descriptors = document.get("layers")
        if not isinstance(descriptors, list):
            raise TuikerError(f"{what}: the stored manifest has no layers")
        layers = [manifest.descriptor(d, f"{what}: stored manifest's layer {i + 1}", TuikerError)
                  for i, d in enumerate(descriptors)]
        if config[0] != image.id or [digest for digest, _ in layers] != image.blobs:
            raise TuikerError(f"{what}: the stored manifest {image.manifest_digest} does not describe image {image.id}")
        for digest, _ in (*layers, config):
            if not self.store.has_blob(digest):
                raise NotFoundError(_missing(what, "blob", digest))
        # A layer is shown by its diff id, as docker push shows it (not by the blob digest pull shows).
        blobs = [(digest, size, diff_id[7:19]) for (digest, size), diff_id in zip(layers, image.layers, strict=True)]
        return _Plan(image, [*blobs, (config[0], config[1], "")], body, image.manifest_media_type)

    def _push_tag(self, client: RegistryClient, ref: refs.Reference, tag: str, plan: _Plan) -> Pushed:
        repository = ref.repository
        source = _mount_source(plan.image, ref)
        # One token for the whole tag: push on the target, and pull on the repository blobs are mounted from.
        scope = f"repository:{repository}:pull,push" + (f" repository:{source}:pull" if source else "")
        *layers, config = plan.blobs
        unique = list({digest: (digest, size, short) for digest, size, short in reversed(layers)}.values())
        for _, _, short in unique:  # top layer first, as docker lists them
            self.progress(Progress(short, "Preparing"))
        if unique:
            with ThreadPoolExecutor(max_workers=min(PARALLEL_UPLOADS, len(unique)),
                                    thread_name_prefix="tuiker-push") as pool:
                futures = [pool.submit(self._push_blob, client, repository, *blob, source, scope) for blob in unique]
            for future in futures:
                future.result()  # the first failure, once every upload has ended
        self._push_blob(client, repository, *config, source, scope)
        short_tag = tag.rsplit(":", 1)[1]
        digest = client.put_manifest(repository, short_tag, plan.manifest, plan.media_type, scope)
        if digest != plan.image.manifest_digest:
            raise TuikerError(f"{refs.familiar(tag)}: stored manifest does not match its digest"
                              f" {plan.image.manifest_digest}")
        self.progress(Progress("", f"{short_tag}: digest: {digest} size: {len(plan.manifest)}"))
        self.store.add_image(plan.image, None, f"{ref.name}@{digest}")
        return Pushed(tag, digest, len(plan.manifest))

    def _push_blob(self, client: RegistryClient, repository: str, digest: str, size: int, short: str,
                   source: str | None, scope: str) -> None:
        """One blob into `repository`; `short` is its progress id ("" for the config, which docker does not
        show)."""
        def report(status: str, current: int = 0) -> None:
            if short:
                self.progress(Progress(short, status, current, size))

        if client.has_blob(repository, digest, scope):
            report("Layer already exists")
            return
        location = None
        if source:
            location = client.mount_blob(repository, digest, source, scope)
            if location is None:
                report(f"Mounted from {source}")
                return
        location = location or client.start_upload(repository, scope)
        report("Pushing")
        with open(self.store.blob_path(digest), "rb") as blob:
            client.upload_blob(location, digest, blob, size, scope, UPLOAD_CHUNK,
                               lambda sent: report("Pushing", sent))
        report("Pushed", size)


def _mount_source(image: Image, ref: refs.Reference) -> str | None:
    """The repository of the same registry the image last came from or went to, other than the target:
    its blobs can be mounted from there instead of sent."""
    for repo_digest in reversed(image.repo_digests):
        try:
            other = refs.parse_name(repo_digest)
        except TuikerError:
            continue
        if other.registry == ref.registry and other.repository != ref.repository:
            return other.repository
    return None


def _missing(what: str, kind: str, digest: str) -> str:
    return (f"{what}: cannot push: its {kind} {digest} is not in the store (an image stored by an older"
            f" version of tuiker); pull or build it again")
