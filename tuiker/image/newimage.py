"""Recording an image made here (a build step, a commit, an import): its config, a docker schema2 manifest
over its layers, and its record and tags in the store.

The image ID is the digest of the config's bytes, as docker's; the config's `rootfs.diff_ids` are set from
the layers given, so the two cannot disagree. The caller holds `store.lease()` from the first write_layer
to this call, so that a concurrent garbage collection does not take layers no record holds yet.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from tuiker.base.fsutil import sha256_digest
from tuiker.image import manifest
from tuiker.image.store import Image, Store


class Layer:
    """A layer in the store: its diff id (the tar's digest), its blob's digest and size, its unpacked size, and
    the blob's media type in a docker manifest (gzip for the layers written here; a base image's layers keep
    the compression they were pulled with)."""

    def __init__(self, diff_id: str, blob_digest: str, blob_size: int, size: int,
                 media_type: str = manifest.DOCKER_LAYER_GZIP) -> None:
        self.diff_id = diff_id
        self.blob_digest = blob_digest
        self.blob_size = blob_size
        self.size = size
        self.media_type = media_type

    def __repr__(self) -> str:
        return f"Layer({self.diff_id!r}, blob={self.blob_digest!r})"


def stored_layers(store: Store, image: Image) -> list[Layer]:
    """An image's layers as they are in the store, for a new image on top of them (a build step, a commit):
    each keeps the media type it was pulled with, named as a docker manifest names it."""
    doc = json.loads(store.read_blob(image.manifest_digest))
    entries = {entry.get("digest"): entry for entry in doc.get("layers") or []}
    layers = []
    for diff_id, blob in zip(image.layers, image.blobs, strict=True):
        entry = entries.get(blob) or {}
        size = int(entry.get("size") or store.blob_path(blob).stat().st_size)
        layers.append(Layer(diff_id, blob, size, store.layer_size(diff_id),
                            _DOCKER_TYPES.get(entry.get("mediaType"), manifest.DOCKER_LAYER_GZIP)))
    return layers


# A docker manifest's name for each layer media type a pulled image may have (zstd has none but OCI's).
_DOCKER_TYPES = {manifest.OCI_LAYER: manifest.DOCKER_LAYER, manifest.DOCKER_LAYER: manifest.DOCKER_LAYER,
                 manifest.OCI_LAYER_ZSTD: manifest.OCI_LAYER_ZSTD,
                 manifest.DOCKER_LAYER_FOREIGN: manifest.DOCKER_LAYER_FOREIGN}


def make_image(store: Store, config: dict, layers: list[Layer], tags: Iterable[str] = ()) -> Image:
    """Store `config` (its rootfs replaced by `layers`, base first) and a manifest, and record the image
    under every full reference in `tags` (none: an untagged image)."""
    config = {**config, "rootfs": {"type": "layers", "diff_ids": [layer.diff_id for layer in layers]}}
    # Compact, as docker's encoder writes it; the key order is the caller's.
    config_bytes = json.dumps(config, separators=(",", ":")).encode()
    config_digest = sha256_digest(config_bytes)
    document = {
        "schemaVersion": 2,
        "mediaType": manifest.DOCKER_MANIFEST,
        "config": {"mediaType": manifest.DOCKER_CONFIG, "size": len(config_bytes), "digest": config_digest},
        "layers": [{"mediaType": layer.media_type, "size": layer.blob_size, "digest": layer.blob_digest}
                   for layer in layers],
    }
    manifest_bytes = json.dumps(document, indent=3).encode()  # docker's own manifests are indented by 3
    manifest_digest = sha256_digest(manifest_bytes)
    store.put_blob(config_digest, config_bytes)
    store.put_blob(manifest_digest, manifest_bytes)
    image = Image(config_digest, manifest_digest, manifest.DOCKER_MANIFEST, [layer.diff_id for layer in layers],
                  [layer.blob_digest for layer in layers], sum(layer.size for layer in layers),
                  config.get("created", ""))
    for tag in list(tags) or [None]:
        store.add_image(image, tag, None)
    return store.get_image(image.id)
