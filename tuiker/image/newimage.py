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
from tuiker.image.layerwriter import Layer
from tuiker.image.store import Image, Store


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
        "layers": [{"mediaType": manifest.DOCKER_LAYER_GZIP, "size": layer.blob_size, "digest": layer.blob_digest}
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
