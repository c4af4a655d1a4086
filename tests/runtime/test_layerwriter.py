"""layerwriter + newimage: a directory in overlay upper-dir form becomes a layer and an image that runs."""

from __future__ import annotations

import gzip
import io
import json
import os
import stat
import subprocess
import tarfile
import time

import pytest
from conftest import ok

from tuiker.base.errors import LayerError
from tuiker.image.layerwriter import write_layer, write_layer_from_tar
from tuiker.image.newimage import make_image


def _upper(tmp_path):
    """A tree as a container leaves its upper dir: content, a whiteout and an opaque directory."""
    up = tmp_path / "upper"
    (up / "app" / "sub").mkdir(parents=True)
    (up / "app" / "hello").write_text("hello\n")
    (up / "app" / "sub" / "tool").write_bytes(b"#!/bin/sh\necho tool\n")
    os.chmod(up / "app" / "sub" / "tool", 0o4755)
    os.chown(up / "app" / "hello", 1000, 1000)
    os.link(up / "app" / "hello", up / "app" / "hello-link")
    os.symlink("/app/hello", up / "app" / "abs-link")
    os.mkfifo(up / "app" / "fifo")
    os.setxattr(up / "app" / "hello", "user.note", b"\xff binary")
    (up / "bin").mkdir()
    os.mknod(up / "bin" / "ls", stat.S_IFCHR | 0o000, os.makedev(0, 0))  # overlay's whiteout of /bin/ls
    (up / "etc").mkdir()
    os.setxattr(up / "etc", "trusted.overlay.opaque", b"y")
    (up / "etc" / "only").write_text("x")
    return up


def _members(store, layer) -> dict[str, tarfile.TarInfo]:
    with tarfile.open(store.blob_path(layer.blob_digest), "r:gz") as tar:
        return {m.name: m for m in tar.getmembers()}


def test_an_upper_dir_becomes_a_layer_with_whiteouts_and_the_same_digests_twice(engine, tmp_path):
    store = engine.images.store
    up = _upper(tmp_path)
    layer = write_layer(store, up)
    members = _members(store, layer)
    names = list(members)
    assert names == sorted(names, key=lambda n: n.rstrip("/").split("/"))  # lexical, depth first
    assert members["bin/.wh.ls"].isfile() and members["bin/.wh.ls"].size == 0
    assert members["etc/.wh..wh..opq"].isfile()
    assert not any("trusted.overlay" in k for m in members.values() for k in m.pax_headers)
    assert members["app/hello-link"].islnk() and members["app/hello-link"].linkname == "app/hello"
    assert members["app/abs-link"].issym() and members["app/abs-link"].linkname == "/app/hello"
    assert members["app/fifo"].isfifo()
    assert members["app/sub/tool"].mode == 0o4755
    assert (members["app/hello"].uid, members["app/hello"].gid) == (1000, 1000)
    assert members["app/hello"].pax_headers["SCHILY.xattr.user.note"].encode("utf-8", "surrogateescape") \
        == b"\xff binary"
    # The store holds it unpacked in overlay form, as a pulled layer.
    diff = store.layer_dir(layer.diff_id) / "diff"
    assert os.stat(diff / "bin" / "ls", follow_symlinks=False).st_rdev == 0
    assert os.getxattr(diff / "etc", "trusted.overlay.opaque") == b"y"
    assert (diff / "app" / "hello").read_text() == "hello\n"
    # A copy of the tree with its mtimes gives the same digests: nothing else (inode numbers, order of
    # creation) leaks into the tar.
    copy = tmp_path / "copy"
    subprocess.run(["cp", "-a", str(up), str(copy)], check=True)
    again = write_layer(store, copy)
    assert (again.diff_id, again.blob_digest) == (layer.diff_id, layer.blob_digest)
    assert not list(store.tmp.iterdir())


def test_a_made_image_runs_with_its_new_layer_on_top_of_the_base(engine, tuiker, tmp_path):
    store = engine.images.store
    base = engine.images.get("busybox")
    base_config = engine.images.config(base)
    layer = write_layer(store, _upper(tmp_path))
    base_layers = [write_layer_from_tar_of(store, base, i) for i in range(len(base.layers))]
    assert [b.diff_id for b in base_layers] == base.layers  # the same tar gives the same diff id
    config = {**base_config, "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
              "history": [*base_config.get("history", []), {"created_by": "test"}]}
    with store.lease():
        image = make_image(store, config, [*base_layers, layer], ["localhost/made:1"])
    assert image.repo_tags == ["localhost/made:1"]
    manifest = json.loads(store.read_blob(image.manifest_digest))
    assert [entry["digest"] for entry in manifest["layers"]] == image.blobs
    assert json.loads(store.read_blob(image.id))["rootfs"]["diff_ids"] == image.layers
    out = ok(tuiker("run", "--rm", "localhost/made:1", "sh", "-c",
                    "cat /app/hello; /app/sub/tool; test -e /bin/ls || echo no-ls; ls -A /etc"))
    assert out.split("\n")[:3] == ["hello", "tool", "no-ls"]
    etc = out.split()[3:]
    assert "only" in etc and "passwd" not in etc  # the opaque /etc hides the base's


def write_layer_from_tar_of(store, image, index):
    """The base image's layer `index` fed back through write_layer_from_tar, decompressed."""
    with gzip.open(store.blob_path(image.blobs[index])) as stream:
        return write_layer_from_tar(store, stream)


def test_an_overlay_redirect_is_refused_and_leaves_nothing(engine, tmp_path):
    store = engine.images.store
    up = tmp_path / "upper"
    (up / "moved").mkdir(parents=True)
    os.setxattr(up / "moved", "trusted.overlay.redirect", b"/elsewhere")
    layers_before = set(os.listdir(store.layers))
    with pytest.raises(LayerError, match="redirect"):
        write_layer(store, up)
    assert not list(store.tmp.iterdir())
    assert set(os.listdir(store.layers)) == layers_before


def test_a_tar_with_an_escaping_entry_is_refused_by_the_unpacker(engine):
    store = engine.images.store
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w") as tar:
        info = tarfile.TarInfo("../../escape")
        info.size = 1
        tar.addfile(info, io.BytesIO(b"x"))
    data.seek(0)
    with pytest.raises(LayerError):
        write_layer_from_tar(store, data)
    assert not list(store.tmp.iterdir())
