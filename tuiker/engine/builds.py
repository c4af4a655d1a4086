"""`engine.builds`: build an image from a Dockerfile (engine/build/), and prune the build cache.

The builder's modules load only when a build runs: this one is on every command's path (the engine's)."""

from __future__ import annotations

from pathlib import Path

from tuiker.base.errors import TuikerError

TYPE_CHECKING = False  # not typing's: importing typing costs ~7 ms on every command
if TYPE_CHECKING:
    from collections.abc import Callable

    from tuiker.engine.build.builder import BuildEvent, BuildOptions, BuildResult
    from tuiker.engine.containers import Containers
    from tuiker.engine.images import Images


class Builds:
    """Builds into one engine root's images, running RUN steps as its containers."""

    def __init__(self, root: Path, images: Images, containers: Containers) -> None:
        self.root = root
        self.images = images
        self.containers = containers

    def build(self, opts: BuildOptions, progress: Callable[[BuildEvent], None] | None = None) -> BuildResult:
        """docker build: the image made (and tagged), each step reported to `progress` as it goes."""
        from tuiker.engine.build.builder import Builder
        from tuiker.image import reference
        from tuiker.runtime.events import emit

        result = Builder(self.images, self.containers, progress).build(opts)
        for tag in result.tags:  # docker's classic builder tells of each tag it gave
            emit(self.root, "image", "tag", result.image_id, {"name": reference.familiar(tag)})
        return result

    def prune(self) -> tuple[int, list[str], int]:
        """docker builder prune: drop the build cache, then the images of build steps nothing else holds (no tag,
        no container, not a build's result). Returns (cache entries dropped, images deleted, bytes reclaimed)."""
        from tuiker.engine.build.builder import sweep_build_containers
        from tuiker.engine.build.cache import BuildCache

        sweep_build_containers(self.containers)
        cache = BuildCache(self.root)
        steps = cache.intermediate()
        entries = cache.clear()
        used = {c.config.get("ImageID") for c in self.containers.store.list()}
        store = self.images.store
        before = self.images.layer_bytes()
        deleted = []
        for image in store.list_images():
            if image.id in steps and not image.repo_tags and image.id not in used:
                try:
                    store.delete_image(image.id)
                except (OSError, TuikerError):
                    continue
                deleted.append(image.id)
        store.collect_garbage()
        cache.forget_results({image.id for image in store.list_images()})
        return entries, deleted, max(0, before - self.images.layer_bytes())
