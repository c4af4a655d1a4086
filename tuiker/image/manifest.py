"""OCI and Docker manifest media types, and choosing one platform out of an index.

Sources: distribution's manifest-v2-2.md, the OCI image-spec, containerd/platforms' normalisation table.
"""

from __future__ import annotations

import json
import platform as host_platform_module
from dataclasses import dataclass

from tuiker.base.errors import NotFoundError, RegistryError, TuikerError
from tuiker.base.fsutil import check_digest

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"
# Not in the schema2 spec, but what docker-archive imports and some tools produce for plain tars.
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar"
DOCKER_LAYER_FOREIGN = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
SCHEMA1_PREFIX = "application/vnd.docker.distribution.manifest.v1+"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_LAYER_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd"

IMAGE_MANIFESTS = (DOCKER_MANIFEST, OCI_MANIFEST)
INDEXES = (DOCKER_MANIFEST_LIST, OCI_INDEX)
# Without every type in Accept, registries may down-convert to schema1 or pick linux/amd64 for us.
ACCEPT = ", ".join((OCI_INDEX, DOCKER_MANIFEST_LIST, OCI_MANIFEST, DOCKER_MANIFEST))
LAYER_TYPES = (DOCKER_LAYER, DOCKER_LAYER_GZIP, DOCKER_LAYER_FOREIGN, OCI_LAYER, OCI_LAYER_GZIP, OCI_LAYER_ZSTD,
               "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
               "application/vnd.oci.image.layer.nondistributable.v1.tar")

# Manifests, indexes, configs (and token answers) are held in memory and parsed whole: at most this, as
# containerd and docker bound manifests. Read as they stream and refused past it (registry.read_document):
# a registry, or an archive, must not make a pull hold a 2 GB "manifest".
MAX_DOCUMENT = 4 * 1024 * 1024

_ARCH_ALIASES = {"x86_64": "amd64", "x86-64": "amd64", "aarch64": "arm64", "i386": "386", "i686": "386",
                 "armhf": "arm", "armel": "arm", "armv7l": "arm", "armv6l": "arm"}


@dataclass(frozen=True)
class Platform:
    os: str
    architecture: str
    variant: str | None = None

    def __str__(self) -> str:
        return "/".join(p for p in (self.os, self.architecture, self.variant) if p)


def normalize(os_name: str, arch: str, variant: str | None = None) -> Platform:
    arch = arch.lower()
    variant = (variant or "").lower() or None
    if arch in ("armhf", "armv7l"):
        variant = variant or "v7"
    elif arch in ("armel", "armv6l"):
        variant = variant or "v6"
    arch = _ARCH_ALIASES.get(arch, arch)
    # Variants that every CPU of the architecture has carry no information.
    if (arch, variant) in (("amd64", "v1"), ("arm64", "v8"), ("arm64", "8")):
        variant = None
    return Platform("darwin" if os_name.lower() == "macos" else os_name.lower(), arch, variant)


def host_platform() -> Platform:
    return normalize("linux", host_platform_module.machine())


def parse_platform(text: str) -> Platform:
    parts = text.split("/")
    if len(parts) not in (2, 3) or not all(parts):
        raise RegistryError(f"invalid platform {text!r}: expected os/arch[/variant], e.g. linux/arm64")
    return normalize(*parts)


def load_json(body: bytes, what: str, kind: type = dict, error: type[TuikerError] = RegistryError) -> dict | list:
    """Parse a JSON document that must be a `kind`; anything else is `error` with a one-line message."""
    try:
        data = json.loads(body)
    except ValueError as e:
        raise error(f"{what} is not valid JSON: {e}") from e
    if not isinstance(data, kind):
        raise error(f"{what} is not a JSON {'object' if kind is dict else kind.__name__}")
    return data


def descriptor(desc: object, what: str, error: type[TuikerError] = RegistryError) -> tuple[str, int]:
    """A descriptor's digest and size, checked. The OCI spec makes both REQUIRED, and the size is what
    bounds a download: without it an endless blob would fill the disk."""
    if not isinstance(desc, dict):
        raise error(f"{what}: descriptor is not a JSON object")
    size = desc.get("size")
    if type(size) is not int or size < 0:  # not bool, not "10", not 1e3
        raise error(f"{what}: descriptor has no valid size")
    return check_digest(desc.get("digest")), size


def diff_ids(config: dict, count: int, what: str, error: type[TuikerError] = RegistryError) -> list[str]:
    """The config's rootfs.diff_ids, checked: digests, one per layer of the manifest."""
    rootfs = config.get("rootfs")
    found = rootfs.get("diff_ids") if isinstance(rootfs, dict) else None
    if not isinstance(found, list) or len(found) != count:
        raise error(f"{what}: config lists {len(found) if isinstance(found, list) else 'no'} layers,"
                    f" manifest {count}")
    return [check_digest(d) for d in found]


def created(config: dict) -> str:
    """The config's creation time as the store keeps it: a string (`images` sorts by it), or ""."""
    value = config.get("created")
    return value if isinstance(value, str) else ""


def media_type_of(document: dict, header_type: str | None) -> str:
    """The manifest's own mediaType wins over the Content-Type header, which proxies may rewrite."""
    media_type = _text(document.get("mediaType")) or _text(header_type).split(";")[0].strip()
    if not media_type:
        if "manifests" in document:
            return OCI_INDEX
        if "config" in document and "layers" in document:
            return OCI_MANIFEST
    if document.get("schemaVersion") == 1 or media_type.startswith(SCHEMA1_PREFIX):
        raise RegistryError("schema 1 manifests are not supported (the image is too old)")
    return media_type


def select_platform(index: dict, want: Platform) -> dict:
    """The descriptor in `index` for `want`; attestation entries (unknown/unknown) never match."""
    manifests = index.get("manifests")
    if not isinstance(manifests, list):
        raise RegistryError("manifest list has no manifests")
    candidates = []
    platforms = []
    for desc in manifests:
        if not isinstance(desc, dict):
            continue
        annotations, p = (d if isinstance(d, dict) else {} for d in (desc.get("annotations"), desc.get("platform")))
        if annotations.get("vnd.docker.reference.type") == "attestation-manifest":
            continue
        if p.get("os") == "unknown" or p.get("architecture") == "unknown":
            continue
        have = normalize(_text(p.get("os")), _text(p.get("architecture")), _text(p.get("variant")))
        platforms.append(str(have))
        if have.os == want.os and have.architecture == want.architecture:
            if want.variant is None or have.variant in (want.variant, None):
                candidates.append((have.variant == want.variant, desc))
    if not candidates:
        available = ", ".join(platforms[:20]) + (", ..." if len(platforms) > 20 else "")
        raise NotFoundError(f"no matching manifest for {want} in the manifest list entries ({available})")
    # An exact variant match beats an entry without variant.
    candidates.sort(key=lambda c: not c[0])
    return candidates[0][1]


def _text(value: object) -> str:
    """A document's string field, or "" when it holds anything else (a registry may send any JSON)."""
    return value if isinstance(value, str) else ""
