"""`save` and `load`: round trips through a fresh engine root, archives written by skopeo (the
containers/image library podman uses), ours read back by skopeo, and broken archives that must leave
the store as it was."""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import imagebuilder as ib
import pytest
from conftest import REPO_ROOT
from registry import push, push_index

from tuiker.base.errors import ArchiveError, TuikerError
from tuiker.engine import Engine
from tuiker.image import archive
from tuiker.image.store import Store

BUSYBOX = Path("/bin/busybox").read_bytes()
needs_skopeo = pytest.mark.skipif(shutil.which("skopeo") is None,
                                  reason="skopeo is not installed (apt-get install skopeo)")


@pytest.fixture
def other_root():
    """A second engine root, to load into what the first one saved."""
    root = Path(tempfile.mkdtemp(prefix="tuiker-test-load-", dir="/var/tmp"))
    yield root
    shutil.rmtree(root, ignore_errors=True)


def _store_state(root: Path) -> dict[str, list[str]]:
    return {d: sorted(os.listdir(root / d)) for d in ("blobs/sha256", "layers", "images", "tmp")}


def _two_layer_image(**kwargs) -> ib.BuiltImage:
    top = ib.make_tar([ib.Dir("app"), ib.File("app/hello.txt", b"hello from layer 2\n")])
    return ib.build_image([ib.make_tar(ib.busybox_rootfs_entries()), top], **kwargs)


def _layer_file(root: Path, diff_id: str, path: str) -> bytes:
    return (root / "layers" / diff_id[7:] / "diff" / path).read_bytes()


def _skopeo(*args: str) -> subprocess.CompletedProcess:
    proc = subprocess.run(["skopeo", *args], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc


def _write_tar(path: Path, files: dict[str, bytes], links: dict[str, str] | None = None) -> None:
    with tarfile.open(path, "w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for name, target in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type = tarfile.SYMTYPE
            info.linkname = target
            tar.addfile(info)


def _docker_archive(path: Path, built: ib.BuiltImage, tag: str, blobs: list[bytes] | None = None) -> None:
    """A docker-archive as moby's containerd store writes it, less index.json: layers under blobs/sha256.
    `blobs` replaces the layer contents (not their names)."""
    names = [f"blobs/sha256/{d[7:]}" for d in built.layer_digests]
    files = dict(zip(names, blobs or built.blobs, strict=True))
    files[f"blobs/sha256/{built.config_digest[7:]}"] = built.config
    files["manifest.json"] = json.dumps([{"Config": f"blobs/sha256/{built.config_digest[7:]}",
                                          "RepoTags": [tag], "Layers": names}]).encode()
    _write_tar(path, files)


# -- round trips -------------------------------------------------------------------------------------

def test_save_then_load_into_a_fresh_root(engine_root, other_root, registry, tmp_path):
    built = _two_layer_image()
    push(registry, "archive/app", "1", built)
    ref = f"{registry.host}/archive/app:1"
    engine = Engine()
    engine.images.pull(ref)
    engine.images.store.tag(built.config_digest, "docker.io/library/app:extra")
    out = tmp_path / "app.tar"
    engine.images.save([ref, "app:extra", built.config_digest[7:19]], str(out))

    with tarfile.open(out) as tar:
        members = {m.name: m for m in tar.getmembers()}
        index = json.load(tar.extractfile("index.json"))
        docker = json.load(tar.extractfile("manifest.json"))
        assert json.load(tar.extractfile("oci-layout")) == {"imageLayoutVersion": "1.0.0"}
        assert json.load(tar.extractfile("repositories")) == {
            "app": {"extra": built.layer_digests[1][7:]},
            f"{registry.host}/archive/app": {"1": built.layer_digests[1][7:]}}
    blobs = {f"blobs/sha256/{d[7:]}"
             for d in [built.manifest_digest, built.config_digest, *built.layer_digests]}
    assert set(members) == blobs | {"blobs", "blobs/sha256", "index.json", "manifest.json", "oci-layout",
                                    "repositories"}
    assert all(m.mtime == 0 for m in members.values())
    # The blobs are the registry's bytes, compressed layers included.
    assert members[f"blobs/sha256/{built.layer_digests[0][7:]}"].size == len(built.blobs[0])
    assert index["manifests"] == [
        {"mediaType": ib.DOCKER_MANIFEST, "digest": built.manifest_digest, "size": len(built.manifest),
         "annotations": {"io.containerd.image.name": name, "org.opencontainers.image.ref.name": tag}}
        for name, tag in ((f"{ref}", "1"), ("docker.io/library/app:extra", "extra"))]
    assert docker == [{"Config": f"blobs/sha256/{built.config_digest[7:]}",
                       "RepoTags": [ref, "app:extra"],
                       "Layers": [f"blobs/sha256/{d[7:]}" for d in built.layer_digests]}]
    # Same images, same bytes: nothing in the archive depends on when it was written.
    again = tmp_path / "again.tar"
    engine.images.save([ref, "app:extra"], str(again))
    assert again.read_bytes() == out.read_bytes()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []

    loaded = archive.load(Store(other_root), str(out))
    assert loaded == [ref, "app:extra"]
    image = Engine(other_root).images.get("app:extra")
    assert image.id == built.config_digest
    assert image.manifest_digest == built.manifest_digest
    assert image.layers == built.diff_ids and image.blobs == built.layer_digests
    assert image.repo_tags == sorted([ref, "docker.io/library/app:extra"])
    assert _layer_file(other_root, built.diff_ids[0], "bin/busybox") == BUSYBOX
    assert _layer_file(other_root, built.diff_ids[1], "app/hello.txt") == b"hello from layer 2\n"
    assert os.listdir(other_root / "tmp") == []
    # Loading again finds every layer present and only re-records the image.
    assert archive.load(Store(other_root), str(out)) == loaded


def test_cli_save_to_a_pipe_and_load_from_gzipped_stdin(engine_root, other_root, busybox_image, tmp_path):
    ref, built = busybox_image
    Engine().images.pull(ref)
    tuiker = f"{sys.executable} -m tuiker"
    script = (f"TUIKER_ROOT={engine_root} {tuiker} save {ref} | gzip"
              f" | TUIKER_ROOT={other_root} {tuiker} load")
    proc = subprocess.run(["sh", "-c", script], capture_output=True, text=True, cwd=REPO_ROOT, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == f"Loaded image: {ref}\n"
    assert Engine(other_root).images.get(ref).id == built.config_digest
    assert os.listdir(other_root / "tmp") == []


def test_untagged_image_loads_by_id(engine_root, other_root, registry, tmp_path):
    built = ib.build_image([ib.make_tar([ib.File("only", b"x")])])
    push(registry, "archive/untagged", "1", built)
    engine = Engine()
    engine.images.pull(f"{registry.host}/archive/untagged:1")
    engine.images.store.untag(f"{registry.host}/archive/untagged:1")
    engine.images.save([built.config_digest], str(tmp_path / "u.tar"))
    with tarfile.open(tmp_path / "u.tar") as tar:
        assert json.load(tar.extractfile("index.json"))["manifests"][0].get("annotations") is None
        assert json.load(tar.extractfile("manifest.json"))[0]["RepoTags"] is None
    assert archive.load(Store(other_root), str(tmp_path / "u.tar")) == [built.config_digest]
    assert Engine(other_root).images.get(built.config_digest).repo_tags == []


def test_legacy_docker_save_layout_with_shared_and_gzip_layers(engine_root, tmp_path):
    """docker save before moby 25: `<id>/layer.tar` (uncompressed; a layer two images share is a
    symlink to the first copy), `<config hex>.json`; here one top layer is gzip under a plain name."""
    base = ib.make_tar(ib.busybox_rootfs_entries())
    one_top = ib.make_tar([ib.File("one", b"1\n")])
    two_top = ib.make_tar([ib.File("two", b"2\n")])
    one = ib.build_image([base, one_top], compression="none", oci=True)
    two = ib.build_image([base, two_top], compression=["none", "gzip"], oci=True)
    files = {"aaaa/layer.tar": base, "aaaa/VERSION": b"1.0", "bbbb/layer.tar": one_top,
             "cccc/layer.tar": ib.gzip_bytes(two_top),
             f"{one.config_digest[7:]}.json": one.config, f"{two.config_digest[7:]}.json": two.config}
    files["manifest.json"] = json.dumps([
        {"Config": f"{one.config_digest[7:]}.json", "RepoTags": ["one:latest"],
         "Layers": ["aaaa/layer.tar", "bbbb/layer.tar"]},
        {"Config": f"{two.config_digest[7:]}.json", "RepoTags": ["example.com/two:2", "two:latest"],
         "Layers": ["dddd/layer.tar", "cccc/layer.tar"]}]).encode()
    files["repositories"] = b'{"one":{"latest":"bbbb"}}'
    _write_tar(tmp_path / "legacy.tar", files, {"dddd/layer.tar": "../aaaa/layer.tar"})

    store = Store(engine_root)
    assert archive.load(store, str(tmp_path / "legacy.tar")) == ["one:latest", "example.com/two:2",
                                                                 "two:latest"]
    first, second = store.resolve("one"), store.resolve("two")
    assert (first.id, second.id) == (one.config_digest, two.config_digest)
    assert first.layers == one.diff_ids and second.layers == two.diff_ids
    # Uncompressed blobs are their own diff; the gzip one keeps its bytes and digest.
    assert first.blobs == one.diff_ids and second.blobs == [two.diff_ids[0], two.layer_digests[1]]
    assert _layer_file(engine_root, one.diff_ids[0], "bin/busybox") == BUSYBOX
    assert _layer_file(engine_root, two.diff_ids[1], "two") == b"2\n"
    synthesized = json.loads(store.read_blob(second.manifest_digest))
    assert second.manifest_media_type == synthesized["mediaType"] == ib.DOCKER_MANIFEST
    assert [layer["mediaType"] for layer in synthesized["layers"]] == [
        "application/vnd.docker.image.rootfs.diff.tar", ib.DOCKER_LAYER_GZIP]
    assert synthesized["config"]["digest"] == two.config_digest
    assert len(os.listdir(engine_root / "layers")) == 3


# -- interop with skopeo (containers/image, as podman uses it) ---------------------------------------

@needs_skopeo
def test_load_docker_archive_and_oci_archive_written_by_skopeo(engine_root, busybox_image, tmp_path):
    ref, built = busybox_image
    src = f"docker://{ref}"
    _skopeo("copy", "--src-tls-verify=false", src, f"docker-archive:{tmp_path}/d.tar:{ref}")
    _skopeo("copy", "--src-tls-verify=false", src, f"oci-archive:{tmp_path}/o.tar:v1")
    store = Store(engine_root)
    assert archive.load(store, str(tmp_path / "d.tar")) == [ref]
    image = store.resolve(ref)
    assert image.id == built.config_digest and image.layers == built.diff_ids
    # skopeo rewrote the config as an OCI one (a new image ID) and names the image only "v1": no
    # repository, so it loads untagged.
    oci_config = _skopeo("inspect", "--config", "--raw", f"oci-archive:{tmp_path}/o.tar").stdout.encode()
    oci_id = "sha256:" + hashlib.sha256(oci_config).hexdigest()
    assert archive.load(store, str(tmp_path / "o.tar")) == [oci_id]
    oci_image = store.resolve(oci_id)
    assert oci_image.layers == built.diff_ids and oci_image.blobs == built.layer_digests
    assert oci_image.manifest_media_type == ib.OCI_MANIFEST and oci_image.repo_tags == []
    assert _layer_file(engine_root, built.diff_ids[0], "bin/busybox") == BUSYBOX


@needs_skopeo
def test_load_multi_platform_zstd_oci_archive_picks_the_host(engine_root, registry, tmp_path):
    layer = ib.make_tar([ib.File("arch", b"host\n")])
    host = ib.build_image([layer], compression="zstd", oci=True, architecture="amd64")
    other = ib.build_image([ib.make_tar([ib.File("arch", b"other\n")])], compression="zstd", oci=True,
                           architecture="arm64")
    index = ib.build_index([(host, {"os": "linux", "architecture": "amd64"}),
                            (other, {"os": "linux", "architecture": "arm64"})])
    push_index(registry, "archive/multi", "1", index, [host, other])
    _skopeo("copy", "--all", "--src-tls-verify=false", f"docker://{registry.host}/archive/multi:1",
            f"oci-archive:{tmp_path}/m.tar:{registry.host}/archive/multi:1")
    store = Store(engine_root)
    assert archive.load(store, str(tmp_path / "m.tar")) == [f"{registry.host}/archive/multi:1"]
    image = store.resolve(f"{registry.host}/archive/multi:1")
    assert (image.id, image.manifest_digest) == (host.config_digest, host.manifest_digest)
    assert image.blobs == host.layer_digests
    assert _layer_file(engine_root, host.diff_ids[0], "arch") == b"host\n"


@needs_skopeo
def test_skopeo_reads_what_we_save(engine_root, registry, tmp_path):
    built = _two_layer_image(compression=["gzip", "zstd"], oci=True)
    push(registry, "archive/peer", "1", built)
    ref = f"{registry.host}/archive/peer:1"
    engine = Engine()
    engine.images.pull(ref)
    out = tmp_path / "peer.tar"
    engine.images.save([ref], str(out))

    raw = _skopeo("inspect", "--raw", f"oci-archive:{out}:1").stdout.encode()
    assert hashlib.sha256(raw).hexdigest() == built.manifest_digest[7:]
    config = json.loads(_skopeo("inspect", "--config", f"docker-archive:{out}").stdout)
    assert config["rootfs"]["diff_ids"] == built.diff_ids
    info = json.loads(_skopeo("inspect", f"docker-archive:{out}").stdout)
    assert info["RepoTags"] == [] or ref.split(":", 2)[-1] in info["RepoTags"]
    # A full copy makes skopeo read and verify every blob, in both formats.
    _skopeo("copy", f"oci-archive:{out}:1", f"oci:{tmp_path}/layout:1")
    index = json.loads((tmp_path / "layout" / "index.json").read_text())
    assert index["manifests"][0]["digest"] == built.manifest_digest
    _skopeo("copy", f"docker-archive:{out}", f"oci:{tmp_path}/fromdocker:1")
    copied = json.loads(_skopeo("inspect", "--config", f"oci:{tmp_path}/fromdocker:1").stdout)
    assert copied["rootfs"]["diff_ids"] == built.diff_ids


@pytest.mark.skipif(shutil.which("podman") is None, reason="podman is not installed")
def test_podman_loads_what_we_save_and_we_load_what_podman_saves(engine_root, other_root, busybox_image,
                                                                  tmp_path):
    ref, built = busybox_image
    engine = Engine()
    engine.images.pull(ref)
    engine.images.save([ref], str(tmp_path / "ours.tar"))
    # A private podman store (vfs: no mounts) so the host's images are never touched; a short path,
    # as podman refuses a runroot longer than 50 characters.
    podman_dir = tempfile.mkdtemp(prefix="tuiker-podman-", dir="/tmp")
    podman = ["podman", "--root", f"{podman_dir}/root", "--runroot", f"{podman_dir}/run",
              "--storage-driver", "vfs", "--events-backend", "none", "--cgroup-manager", "cgroupfs"]

    def run(*args: str) -> str:
        proc = subprocess.run([*podman, *args], capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr
        return proc.stdout

    try:
        assert f"Loaded image: {ref}" in run("load", "-i", str(tmp_path / "ours.tar"))
        assert run("image", "inspect", "--format", "{{.Id}} {{.Digest}}", ref).split() == [
            built.config_digest[7:], built.manifest_digest]
        run("save", "-o", str(tmp_path / "podman-docker.tar"), ref)
        run("save", "--format", "oci-archive", "-o", str(tmp_path / "podman-oci.tar"), ref)
    finally:
        shutil.rmtree(podman_dir, ignore_errors=True)
    store = Store(other_root)
    # podman's docker-archive holds uncompressed `<diff id>.tar` layers; its oci-archive recompresses.
    assert archive.load(store, str(tmp_path / "podman-docker.tar")) == [ref]
    assert store.resolve(ref).blobs == built.diff_ids
    assert store.resolve(ref).id == built.config_digest
    # Its oci-archive carries an OCI config converted from the Docker one: a new ID, the same layers.
    assert archive.load(store, str(tmp_path / "podman-oci.tar")) == [ref]
    image = store.resolve(ref)
    assert image.layers == built.diff_ids and image.manifest_media_type == ib.OCI_MANIFEST
    assert _layer_file(other_root, built.diff_ids[0], "bin/busybox") == BUSYBOX


# -- broken archives leave the store as it was -------------------------------------------------------

def test_blob_that_does_not_match_its_digest(engine_root, tmp_path):
    built = _two_layer_image()
    bad = bytearray(built.blobs[1])
    bad[len(bad) // 2] ^= 0xFF
    _docker_archive(tmp_path / "bad.tar", built, "bad:1", [built.blobs[0], bytes(bad)])
    store = Store(engine_root)
    before = _store_state(engine_root)
    with pytest.raises(TuikerError) as err:
        archive.load(store, str(tmp_path / "bad.tar"))
    assert "\n" not in str(err.value)
    # The good first layer was unpacked before the second failed; it goes again.
    assert _store_state(engine_root) == before
    assert store.tags() == {}
    _docker_archive(tmp_path / "good.tar", built, "good:1")
    assert archive.load(store, str(tmp_path / "good.tar")) == ["good:1"]


def test_missing_blob_is_found_before_anything_is_unpacked(engine_root, tmp_path):
    built = _two_layer_image()
    _docker_archive(tmp_path / "a.tar", built, "a:1")
    with tarfile.open(tmp_path / "a.tar") as src, tarfile.open(tmp_path / "missing.tar", "w") as dst:
        for member in src.getmembers():
            if member.name != f"blobs/sha256/{built.layer_digests[1][7:]}":
                dst.addfile(member, src.extractfile(member))
    with pytest.raises(ArchiveError, match=f"blobs/sha256/{built.layer_digests[1][7:]} is missing"):
        archive.load(Store(engine_root), str(tmp_path / "missing.tar"))
    assert all(not v for v in _store_state(engine_root).values())


def test_neither_manifest_nor_index(engine_root, tmp_path):
    _write_tar(tmp_path / "other.tar", {"hello.txt": b"hi"})
    with pytest.raises(ArchiveError) as err:
        archive.load(Store(engine_root), str(tmp_path / "other.tar"))
    assert str(err.value) == "invalid archive: does not contain a manifest.json or index.json"
    (tmp_path / "junk.tar").write_bytes(b"this is not a tar archive\n" * 100)
    with pytest.raises(ArchiveError, match="^invalid archive: "):
        archive.load(Store(engine_root), str(tmp_path / "junk.tar"))


def test_truncated_archive_from_a_file_and_from_a_pipe(engine_root, other_root, busybox_image, tmp_path):
    ref, _ = busybox_image
    Engine().images.pull(ref)
    Engine().images.save([ref], str(tmp_path / "full.tar"))
    data = (tmp_path / "full.tar").read_bytes()
    (tmp_path / "cut.tar").write_bytes(data[:len(data) // 2])
    with pytest.raises(ArchiveError, match="^invalid archive: not a tar file, or cut short: "):
        archive.load(Store(other_root), str(tmp_path / "cut.tar"))
    proc = subprocess.run(["sh", "-c", f"cat {tmp_path}/cut.tar | {sys.executable} -m tuiker load"],
                          env={**os.environ, "TUIKER_ROOT": str(other_root)}, capture_output=True, text=True,
                          cwd=REPO_ROOT, timeout=120)
    assert proc.returncode == 1
    assert proc.stderr.startswith("Error: invalid archive: not a tar file, or cut short: ")
    assert proc.stderr.count("\n") == 1
    (tmp_path / "cut.tar.gz").write_bytes(ib.gzip_bytes(data)[:len(data) // 3])
    with pytest.raises(ArchiveError, match="^invalid archive: "):
        archive.load(Store(other_root), str(tmp_path / "cut.tar.gz"))
    assert all(not v for v in _store_state(other_root).values())


def test_failed_save_leaves_no_file(engine_root, busybox_image, tmp_path):
    ref, built = busybox_image
    engine = Engine()
    engine.images.pull(ref)
    (engine_root / "blobs/sha256" / built.layer_digests[0][7:]).unlink()
    with pytest.raises(ArchiveError, match="is missing from the store"):
        engine.images.save([ref], str(tmp_path / "out.tar"))
    assert os.listdir(tmp_path) == []
