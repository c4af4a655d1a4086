"""`tuiker push`: images from the store into the real registry (tests/registry.py), directly and through the
token-auth front (tests/tokenproxy.py), checked with skopeo and by pulling them back into a fresh engine root."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path

import imagebuilder as ib
import pytest
from conftest import one_line_error
from registry import push as registry_push

from tuiker.engine import Engine
from tuiker.image import push as push_module

needs_skopeo = pytest.mark.skipif(shutil.which("skopeo") is None,
                                  reason="skopeo is not installed (apt-get install skopeo)")


@pytest.fixture
def other_root():
    """A second engine root, to pull back into what the first one pushed."""
    root = Path(tempfile.mkdtemp(prefix="tuiker-test-pushed-", dir="/var/tmp"))
    yield root
    shutil.rmtree(root, ignore_errors=True)


def _repo(prefix: str) -> str:
    """A repository name no other test (or earlier run against the session registry) has used."""
    return f"{prefix}-{uuid.uuid4().hex[:8]}/app"


def _two_layer_image(registry, engine_root) -> tuple[str, ib.BuiltImage]:
    """A two-layer image pushed to the registry by the test helper, then pulled into the engine root."""
    top = ib.make_tar([ib.Dir("app"), ib.File("app/hello.txt", os.urandom(4096).hex().encode())])
    built = ib.build_image([ib.make_tar(ib.busybox_rootfs_entries()), top], cmd=["sh"])
    repo = _repo("src")
    registry_push(registry, repo, "latest", built)
    ref = f"{registry.host}/{repo}:latest"
    Engine(engine_root).images.pull(ref)
    return ref, built


def _skopeo_inspect(ref: str) -> dict:
    proc = subprocess.run(["skopeo", "inspect", "--tls-verify=false", f"docker://{ref}"], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def _state(root: Path) -> dict[str, list[str]]:
    return {d: sorted(os.listdir(root / d)) for d in ("blobs/sha256", "layers", "images", "tmp")}


@needs_skopeo
def test_push_through_token_auth_round_trips_by_digest(engine_root, registry, token_proxy, tuiker, other_root):
    source, built = _two_layer_image(registry, engine_root)
    target = f"{token_proxy.host}/{_repo('push')}"
    assert tuiker("tag", source, f"{target}:v1").returncode == 0
    out = tuiker("push", f"{target}:v1")
    assert out.returncode == 0, out.stderr
    image = Engine(engine_root).images.get(f"{target}:v1")
    shorts = [d[7:19] for d in reversed(image.layers)]  # docker lists the top layer first, by diff id
    lines = out.stdout.splitlines()
    assert lines[0] == f"The push refers to repository [{target}]"
    assert [line for line in lines if line.endswith(": Preparing")] == [f"{s}: Preparing" for s in shorts]
    assert {f"{s}: Pushed" for s in shorts} <= set(lines)
    assert lines[-1] == f"v1: digest: {built.manifest_digest} size: {len(built.manifest)}"
    # The token was asked for push on the target repository, and every blob and the manifest went through it.
    token_scopes = [s.scope for s in token_proxy.seen if s.path == "/token"]
    repository = target.split("/", 1)[1]
    assert any(f"repository:{repository}:pull,push" in (scope or "").split() for scope in token_scopes)
    assert any(s.method == "PUT" and s.path == f"/v2/{repository}/manifests/v1" and s.status == 201
               for s in token_proxy.seen)

    # skopeo, reading the registry behind the proxy, sees our manifest and layers.
    seen = _skopeo_inspect(f"{registry.host}/{repository}:v1")
    assert seen["Digest"] == image.manifest_digest == built.manifest_digest
    assert seen["Layers"] == image.blobs
    # docker records the digest it pushed.
    assert f"{target}@{built.manifest_digest}" in image.repo_digests

    pulled = Engine(other_root).images.pull(f"{target}:v1")
    assert pulled.image.id == image.id
    assert pulled.image.manifest_digest == image.manifest_digest
    assert pulled.image.layers == image.layers

    again = tuiker("push", f"{target}:v1")
    assert again.returncode == 0, again.stderr
    assert {f"{s}: Layer already exists" for s in shorts} <= set(again.stdout.splitlines())
    assert not any(line.endswith(("Pushed", "Pushing")) for line in again.stdout.splitlines())


def test_cross_repository_mount_on_the_same_registry(engine_root, registry, token_proxy, tuiker):
    built_ref, built = _two_layer_image(registry, engine_root)
    # Pulled through the token front, the image's repo digest names a repository of that registry.
    source_repository = built_ref.split("/", 1)[1].rsplit(":", 1)[0]
    source = f"{token_proxy.host}/{source_repository}"
    assert tuiker("pull", "-q", source).returncode == 0
    target = f"{token_proxy.host}/{_repo('mount')}"
    assert tuiker("tag", source, target).returncode == 0
    token_proxy.clear_seen()
    out = tuiker("push", target)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0] == "Using default tag: latest"
    image = Engine(engine_root).images.get(target)
    assert {f"{d[7:19]}: Mounted from {source_repository}" for d in image.layers} <= set(lines)
    assert lines[-1] == f"latest: digest: {built.manifest_digest} size: {len(built.manifest)}"
    repository = target.split("/", 1)[1]
    # The token covered pull on the source too; no blob was sent, each (layers and config) was mounted.
    assert any(f"repository:{source_repository}:pull" in (s.scope or "").split()
               for s in token_proxy.seen if s.path == "/token")
    assert not any(s.method in ("PUT", "PATCH") and "/blobs/" in s.path for s in token_proxy.seen)
    mounts = [s for s in token_proxy.seen if s.method == "POST" and s.status == 201]
    assert len(mounts) == len(image.blobs) + 1
    for blob in [*image.blobs, image.id]:
        assert registry.blob_exists(repository, blob)


def test_pull_only_token_refuses_the_push(engine_root, image, make_proxy, tuiker):
    proxy = make_proxy(grant=("pull",))
    target = f"{proxy.host}/{_repo('readonly')}"
    assert tuiker("tag", image, target).returncode == 0
    out = tuiker("push", target)
    assert out.returncode == 1 and one_line_error(out) == "Error: unauthorized: authentication required"
    assert not any(s.method in ("POST", "PUT", "PATCH") and s.status < 400 for s in proxy.seen)


def test_chunked_upload_of_a_real_blob(engine_root, registry, token_proxy, monkeypatch, other_root):
    source, built = _two_layer_image(registry, engine_root)
    engine = Engine(engine_root)
    image = engine.images.get(source)
    base_size = os.path.getsize(engine.images.store.blob_path(image.blobs[0]))
    # The busybox layer (about 1 MB gzip'd) goes in several chunks; the small top layer in one PUT.
    monkeypatch.setattr(push_module, "UPLOAD_CHUNK", 256 * 1024)
    assert base_size > 3 * push_module.UPLOAD_CHUNK
    target = f"{token_proxy.host}/{_repo('chunked')}:1"
    engine.images.tag(source, target)
    progress = []
    result = engine.images.push(target, progress=progress.append)
    assert [p.digest for p in result.pushed] == [built.manifest_digest]
    patches = [s for s in token_proxy.seen if s.method == "PATCH"]
    assert len(patches) == -(-base_size // push_module.UPLOAD_CHUNK) and all(s.status == 202 for s in patches)
    counted = [p.current for p in progress if p.id == image.layers[0][7:19] and p.status == "Pushing"]
    assert counted[-1] == base_size and counted == sorted(counted)
    pulled = Engine(other_root).images.pull(target)
    assert (pulled.image.id, pulled.image.manifest_digest) == (image.id, image.manifest_digest)


def test_all_tags_and_quiet(engine_root, registry, tuiker, busybox_image):
    source, built = _two_layer_image(registry, engine_root)
    target = f"{registry.host}/{_repo('all')}"
    for tag in ("v2", "v1"):
        assert tuiker("tag", source, f"{target}:{tag}").returncode == 0
    assert tuiker("pull", "-q", busybox_image[0]).returncode == 0
    assert tuiker("tag", busybox_image[0], f"{target}:busy").returncode == 0
    out = tuiker("push", "-a", target)
    assert out.returncode == 0, out.stderr
    digests = [line for line in out.stdout.splitlines() if ": digest: " in line]
    busy_digest = busybox_image[1].manifest_digest
    assert [line.split(" size:")[0] for line in digests] == [
        f"busy: digest: {busy_digest}", f"v1: digest: {built.manifest_digest}", f"v2: digest: {built.manifest_digest}"]
    repository = target.split("/", 1)[1]
    tags = registry.http.get(f"{registry.url}/v2/{repository}/tags/list", timeout=30).json()["tags"]
    assert sorted(tags) == ["busy", "v1", "v2"]

    quiet = tuiker("push", "-q", f"{target}:v1")
    assert quiet.returncode == 0 and quiet.stdout == f"{target}:v1\n"
    quiet_all = tuiker("push", "-a", "-q", target)
    assert quiet_all.returncode == 0 and quiet_all.stdout == f"{target}\n"
    tagged = tuiker("push", "-a", f"{target}:v1")
    assert tagged.returncode == 1 and one_line_error(tagged) == "Error: tag can't be used with --all-tags/-a"


def test_missing_tag_gives_dockers_errors(engine_root, image, tuiker):
    out = tuiker("push", "127.0.0.1:1/nothing/here:v1")
    assert out.returncode == 1
    assert one_line_error(out) == "Error: An image does not exist locally with the tag: 127.0.0.1:1/nothing/here"
    assert tuiker("tag", image, "127.0.0.1:1/some/app:v1").returncode == 0
    out = tuiker("push", "127.0.0.1:1/some/app:v2")
    assert out.returncode == 1 and one_line_error(out) == "Error: tag does not exist: 127.0.0.1:1/some/app:v2"
    out = tuiker("push", f"127.0.0.1:1/some/app@sha256:{'0' * 64}")
    assert out.returncode == 1 and one_line_error(out) == "Error: cannot push a digest reference"


def test_registry_down_gives_one_line_and_changes_nothing(engine_root, image, make_registry, tuiker):
    reg = make_registry(start=False)
    assert tuiker("tag", image, f"{reg.host}/down/app").returncode == 0
    before = _state(engine_root)
    record = Engine(engine_root).images.get(f"{reg.host}/down/app").repo_digests
    out = tuiker("push", f"{reg.host}/down/app")
    assert out.returncode == 1
    assert "connection refused" in one_line_error(out)
    assert _state(engine_root) == before
    assert Engine(engine_root).images.get(f"{reg.host}/down/app").repo_digests == record


def test_auth_refused(engine_root, image, make_registry, tuiker, tmp_path):
    reg = make_registry(htpasswd={"bob": "hunter2"})
    target = f"{reg.host}/{_repo('auth')}"
    assert tuiker("tag", image, target).returncode == 0
    env = {"DOCKER_CONFIG": str(tmp_path)}
    anonymous = tuiker("push", target, env=env)
    assert anonymous.returncode == 1 and "authentication required" in one_line_error(anonymous)
    (tmp_path / "config.json").write_text(json.dumps({"auths": {reg.host: {"auth": base64.b64encode(
        b"bob:wrong").decode()}}}))
    wrong = tuiker("push", target, env=env)
    assert wrong.returncode == 1 and one_line_error(wrong) == "Error: unauthorized: authentication required"
    (tmp_path / "config.json").write_text(json.dumps({"auths": {reg.host: {"auth": base64.b64encode(
        b"bob:hunter2").decode()}}}))
    right = tuiker("push", target, env=env)
    assert right.returncode == 0, right.stderr
    assert right.stdout.splitlines()[-1].startswith("latest: digest: sha256:")


def test_blobs_missing_from_the_store_give_one_line(engine_root, image, registry, tuiker):
    engine = Engine(engine_root)
    stored = engine.images.get(image)
    target = f"{registry.host}/{_repo('old')}"
    engine.images.tag(image, target)
    # As an image stored before blobs were kept: its layer blob is not there.
    engine.images.store.blob_path(stored.blobs[0]).unlink()
    out = tuiker("push", target)
    assert out.returncode == 1
    assert one_line_error(out) == (f"Error: {target}:latest: cannot push: its blob"
                                   f" {stored.blobs[0]} is not in the store (an image stored by an older version"
                                   " of tuiker); pull or build it again")
    assert out.stdout == "Using default tag: latest\n"  # checked before anything is sent


def test_a_loaded_image_pushes_and_pulls_back(engine_root, image, registry, other_root, tmp_path):
    """`save` into an archive, `load` into another root (its manifest made there), push from that root."""
    Engine(engine_root).images.save([image], str(tmp_path / "images.tar"))
    loading = Engine(other_root)
    [name] = loading.images.load(str(tmp_path / "images.tar"))
    loaded = loading.images.get(name)
    target = f"{registry.host}/{_repo('loaded')}:1"
    loading.images.tag(name, target)
    result = loading.images.push(target)
    assert [p.digest for p in result.pushed] == [loaded.manifest_digest]
    pulled = Engine(engine_root).images.pull(target)
    assert (pulled.image.id, pulled.image.manifest_digest, pulled.image.layers) == (
        loaded.id, loaded.manifest_digest, loaded.layers)
