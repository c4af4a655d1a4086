"""`system df`: what images, containers and volumes take on disk, and what pruning them would free. The CLI's table
and the API's /system/df both come from here, with docker's arithmetic (the docker CLI's disk usage table), so
`docker system df` through the API and `tuiker system df` show the same figures."""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from tuiker.engine import Engine
    from tuiker.image.store import Image
    from tuiker.runtime.containers import Container

KINDS = ("image", "container", "volume", "build-cache")
ACTIVE_STATES = ("running", "paused", "restarting")  # docker's disk usage counts these containers as active


class ImageUsage:
    """An image, the containers made from it, and the bytes of its layers that other images share."""

    def __init__(self, image: Image, containers: int, shared_size: int) -> None:
        self.image = image
        self.containers = containers
        self.shared_size = shared_size


class ContainerUsage:
    """A container, the bytes it wrote (SizeRw) and those plus its image's (SizeRootFs)."""

    def __init__(self, container: Container, size_rw: int, size_root_fs: int) -> None:
        self.container = container
        self.size_rw = size_rw
        self.size_root_fs = size_root_fs

    @property
    def active(self) -> bool:
        return self.container.status in ACTIVE_STATES


class VolumeUsage:
    def __init__(self, volume: dict, ref_count: int, size: int) -> None:
        self.volume = volume
        self.ref_count = ref_count
        self.size = size


class DiskUsage:
    """What one `system df` measured; each kind only if asked for (the others stay None)."""

    def __init__(self) -> None:
        self.layers_size: int | None = None
        self.images: list[ImageUsage] | None = None
        self.containers: list[ContainerUsage] | None = None
        self.volumes: list[VolumeUsage] | None = None

    def rows(self) -> list[tuple[str, int, int, int, int]]:
        """(type, total, active, size, reclaimable) rows as the docker CLI computes them from /system/df."""
        rows = []
        if self.images is not None:
            used = sum(u.image.size - u.shared_size for u in self.images if u.containers)
            total = self.layers_size or 0
            rows.append(("Images", len(self.images), sum(1 for u in self.images if u.containers), total,
                         total - used))
        if self.containers is not None:
            size = sum(u.size_rw for u in self.containers)
            rows.append(("Containers", len(self.containers), sum(1 for u in self.containers if u.active), size,
                         sum(u.size_rw for u in self.containers if not u.active)))
        if self.volumes is not None:
            rows.append(("Local Volumes", len(self.volumes), sum(1 for u in self.volumes if u.ref_count),
                         sum(u.size for u in self.volumes), sum(u.size for u in self.volumes if not u.ref_count)))
        rows.append(("Build Cache", 0, 0, 0, 0))  # the classic builder's cache is images, counted above
        return rows


def disk_usage(engine: Engine, kinds: tuple[str, ...] = KINDS) -> DiskUsage:
    """Measure the kinds asked for (`image`, `container`, `volume`, `build-cache`)."""
    usage = DiskUsage()
    containers = engine.containers.list(all=True) if {"image", "container"} & set(kinds) else []
    if "image" in kinds:
        images = engine.images.list()
        users: dict[str, int] = {}
        for c in containers:
            users[c.config.get("ImageID", "")] = users.get(c.config.get("ImageID", ""), 0) + 1
        holders: dict[str, int] = {}  # layer -> how many images hold it
        for image in images:
            for layer in set(image.layers):
                holders[layer] = holders.get(layer, 0) + 1
        sizes = _layer_sizes(engine, holders)
        usage.layers_size = engine.images.layer_bytes()
        usage.images = [ImageUsage(i, users.get(i.id, 0),
                                   sum(sizes.get(layer, 0) for layer in set(i.layers) if holders[layer] > 1))
                        for i in images]
    if "container" in kinds:
        usage.containers = [ContainerUsage(c, *engine.containers.size(c)) for c in containers]
    if "volume" in kinds:
        usage.volumes = [VolumeUsage(v, refs, size) for v, refs, size in engine.volumes.usage()]
    return usage


def _layer_sizes(engine: Engine, layers: dict[str, int]) -> dict[str, int]:
    sizes = {}
    for layer in layers:
        try:
            sizes[layer] = engine.images.store.layer_size(layer)
        except (OSError, ValueError, KeyError):
            sizes[layer] = 0  # removed meanwhile
    return sizes
