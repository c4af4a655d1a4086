"""Pulling from a real registry (Debian's docker-registry on 127.0.0.1) into a temporary engine root."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import tempfile
from pathlib import Path

import imagebuilder as ib
import pytest
from conftest import run_tuiker
from registry import push, push_index

from tuiker.base.errors import DigestMismatchError, NotFoundError, RegistryError
from tuiker.engine import Engine


def _store_state(root: Path) -> dict[str, list[str]]:
    """What the store holds, folder by folder (locks excluded: they are plain empty lock files)."""
    return {d: sorted(os.listdir(root / d)) for d in ("blobs/sha256", "layers", "images", "tmp")
            if (root / d).exists()}


def _assert_store_empty(root: Path) -> None:
    state = _store_state(root)
    assert all(not entries for entries in state.values()), state


# -- the happy paths ---------------------------------------------------------------------------------

def test_pull_busybox_stores_blobs_layer_image_and_tag(engine_root, busybox_image):
    ref, built = busybox_image
    events = []
    result = Engine().images.pull(ref, progress=events.append)
    assert result.image.id == built.config_digest
    assert result.repo_digest == built.manifest_digest
    assert result.image.layers == built.diff_ids
    assert result.image.repo_tags == [ref.replace("/test/", "/test/")]
    layer = engine_root / "layers" / built.diff_ids[0][7:] / "diff"
    busybox = layer / "bin" / "busybox"
    assert busybox.read_bytes() == Path("/bin/busybox").read_bytes()
    assert stat.S_IMODE(busybox.stat().st_mode) == 0o755
    assert os.readlink(layer / "bin" / "sh") == "busybox"
    for digest in [*built.layer_digests, built.config_digest, built.manifest_digest]:
        assert (engine_root / "blobs/sha256" / digest[7:]).exists()
    statuses = [e.status for e in events]
    assert statuses[0] == "latest: Pulling from " + ref.rsplit(":", 1)[0] and "Pull complete" in statuses
    # A second pull finds everything present and downloads nothing.
    events.clear()
    again = Engine().images.pull(ref, progress=events.append)
    assert not again.downloaded
    assert [e.status for e in events if e.id] == ["Already exists"]
    assert os.listdir(engine_root / "tmp") == []


def _multi_layer_image() -> ib.BuiltImage:
    base = ib.busybox_rootfs_entries() + [
        ib.Dir("etc/config"), ib.File("etc/config/a.conf", b"a=1\n"), ib.File("etc/config/b.conf", b"b=1\n"),
        ib.Dir("data"), ib.File("data/old.txt", b"old\n"), ib.File("data/keep.txt", b"keep\n"),
        ib.Dir("opt"), ib.Dir("opt/app"), ib.File("opt/app/x", b"x"), ib.File("opt/app/y", b"y"),
    ]
    middle = [
        ib.Whiteout("data/old.txt"),
        ib.Dir("opt/app"), ib.Opaque("opt/app"), ib.File("opt/app/z", b"z"),
        ib.File("etc/config/a.conf", b"a=2\n"),
        ib.File("usr/bin/suid", b"#!/bin/sh\n", mode=0o4755, uid=1000, gid=1000),
        ib.Dir("var"), ib.Symlink("var/run", "/run"),
        ib.File("data/big", b"0123456789" * 1000), ib.Hardlink("data/big-link", "data/big"),
    ]
    top = [ib.Whiteout("etc/config"), ib.Dir("etc/config2"), ib.File("etc/config2/c", b"c\n")]
    return ib.build_image([ib.make_tar(base), ib.make_tar(middle), ib.make_tar(top)], cmd=["sh"])


def _tree(root: Path) -> dict[str, tuple]:
    tree = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            st = path.lstat()
            rel = str(path.relative_to(root))
            if stat.S_ISLNK(st.st_mode):
                tree[rel] = ("link", os.readlink(path))
            elif stat.S_ISDIR(st.st_mode):
                tree[rel] = ("dir",)
            else:
                tree[rel] = ("file", path.read_bytes(), stat.S_IMODE(st.st_mode), st.st_uid)
    return tree


def test_pull_multi_layer_then_overlay_stack_matches_what_the_layers_say(engine_root, registry):
    built = _multi_layer_image()
    push(registry, "test/layered", "v1", built)
    image = Engine().images.pull(f"{registry.host}/test/layered:v1").image
    assert len(image.layers) == 3
    dirs = [engine_root / "layers" / d[7:] / "diff" for d in image.layers]
    # Each layer holds whiteouts in overlay's form.
    gone = (dirs[1] / "data" / "old.txt").lstat()
    assert stat.S_ISCHR(gone.st_mode) and gone.st_rdev == 0
    assert os.getxattr(dirs[1] / "opt" / "app", "trusted.overlay.opaque") == b"y"
    assert (dirs[1] / "data" / "big").stat().st_ino == (dirs[1] / "data" / "big-link").stat().st_ino

    mnt = Path(tempfile.mkdtemp(prefix="tuiker-stack-"))
    lower = ":".join(str(d) for d in reversed(dirs))  # overlay wants the top layer first
    subprocess.run(["mount", "-t", "overlay", "overlay", "-o", f"lowerdir={lower}", str(mnt)], check=True)
    try:
        tree = _tree(mnt)
    finally:
        subprocess.run(["umount", str(mnt)], check=True)
        mnt.rmdir()
    assert "data/old.txt" not in tree and tree["data/keep.txt"][1] == b"keep\n"
    assert sorted(k for k in tree if k.startswith("opt/app/")) == ["opt/app/z"]
    assert not any(k.startswith("etc/config/") or k == "etc/config" for k in tree)
    assert tree["etc/config2/c"][1] == b"c\n"
    assert tree["usr/bin/suid"][2:] == (0o4755, 1000)
    assert tree["var/run"] == ("link", "/run")
    assert tree["data/big-link"][1] == b"0123456789" * 1000
    assert tree["bin/busybox"][1] == Path("/bin/busybox").read_bytes()


def test_zstd_and_uncompressed_oci_layers(engine_root, registry):
    layers = [ib.make_tar(ib.busybox_rootfs_entries()), ib.make_tar([ib.File("z.txt", b"zstd layer\n")]),
              ib.make_tar([ib.File("plain.txt", b"plain layer\n")])]
    built = ib.build_image(layers, compression=["gzip", "zstd", "none"], oci=True)
    push(registry, "test/mixed", "1", built)
    image = Engine().images.pull(f"{registry.host}/test/mixed:1").image
    assert image.manifest_media_type == "application/vnd.oci.image.manifest.v1+json"
    assert (engine_root / "layers" / image.layers[1][7:] / "diff" / "z.txt").read_bytes() == b"zstd layer\n"
    assert (engine_root / "layers" / image.layers[2][7:] / "diff" / "plain.txt").read_bytes() == b"plain layer\n"


@pytest.mark.parametrize("oci", [True, False], ids=["oci-index", "docker-manifest-list"])
def test_manifest_list_picks_the_host_platform_or_the_asked_one(engine_root, registry, oci):
    amd = ib.build_image([ib.make_tar([ib.File("arch", b"amd64\n")])], oci=oci, architecture="amd64")
    arm = ib.build_image([ib.make_tar([ib.File("arch", b"arm64\n")])], oci=oci, architecture="arm64")
    index = ib.build_index([(arm, {"os": "linux", "architecture": "arm64", "variant": "v8"}),
                            (amd, {"os": "linux", "architecture": "amd64"})], oci=oci, with_attestation=oci)
    repo = f"test/multi-{'oci' if oci else 'docker'}"
    push_index(registry, repo, "latest", index, [amd, arm])
    engine = Engine()
    host = engine.images.pull(f"{registry.host}/{repo}")
    assert host.image.id == amd.config_digest
    assert host.repo_digest == index.digest  # docker reports the list's digest
    other = engine.images.pull(f"{registry.host}/{repo}", platform="linux/arm64")
    assert other.image.id == arm.config_digest
    # The tag moved to the arm64 image; the amd64 one is now untagged (dangling), as with docker.
    assert engine.images.get(f"{registry.host}/{repo}").id == arm.config_digest
    with pytest.raises(NotFoundError, match="no matching manifest for linux/s390x"):
        engine.images.pull(f"{registry.host}/{repo}", platform="linux/s390x")


def test_pull_by_digest_verifies_and_does_not_tag(engine_root, registry, busybox_image):
    _, built = busybox_image
    result = Engine().images.pull(f"{registry.host}/test/busybox@{built.manifest_digest}")
    assert result.image.id == built.config_digest
    assert result.image.repo_tags == []
    assert result.image.repo_digests == [f"{registry.host}/test/busybox@{built.manifest_digest}"]


# -- authentication ----------------------------------------------------------------------------------

def test_anonymous_bearer_token_flow(engine_root, token_proxy, busybox_image):
    _, built = busybox_image
    result = Engine().images.pull(f"{token_proxy.host}/test/busybox:latest")
    assert result.image.id == built.config_digest
    token_requests = [s for s in token_proxy.seen if s.path == "/token"]
    assert token_requests and token_requests[0].scope == "repository:test/busybox:pull"
    assert not token_requests[0].had_auth
    # Every request after the first challenge carried the token.
    v2 = [s for s in token_proxy.seen if s.path.startswith("/v2/")]
    assert v2[0].status == 401 and all(s.auth_kind == "Bearer" for s in v2[1:])


def test_bearer_with_credentials_from_docker_config(engine_root, make_proxy, busybox_image, monkeypatch, tmp_path):
    proxy = make_proxy(users={"alice": "s3cret"})
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))
    with pytest.raises(RegistryError, match="authentication required or denied"):
        Engine().images.pull(f"{proxy.host}/test/busybox")
    import base64

    (tmp_path / "config.json").write_text(json.dumps(
        {"auths": {proxy.host: {"auth": base64.b64encode(b"alice:s3cret").decode()}}}))
    assert Engine().images.pull(f"{proxy.host}/test/busybox").image.id == busybox_image[1].config_digest
    assert any(s.path == "/token" and s.auth_kind == "Basic" for s in proxy.seen)


def test_basic_auth_against_the_real_registry_with_login_and_logout(engine_root, make_registry, tuiker,
                                                                    monkeypatch, tmp_path):
    reg = make_registry(htpasswd={"bob": "hunter2"})
    built = ib.build_image([ib.make_tar([ib.File("secret.txt", b"only for bob\n")])])
    push(reg, "private/app", "1", built)
    env = {"DOCKER_CONFIG": str(tmp_path)}
    denied = run_tuiker("pull", f"{reg.host}/private/app:1", env=env)
    assert denied.returncode == 1 and "authentication required" in denied.stderr
    bad = run_tuiker("login", reg.host, "-u", "bob", "--password-stdin", input="wrong\n", env=env)
    assert bad.returncode == 1 and "login failed" in bad.stderr
    assert not (tmp_path / "config.json").exists()
    ok = run_tuiker("login", reg.host, "-u", "bob", "--password-stdin", input="hunter2\n", env=env)
    assert ok.returncode == 0, ok.stderr
    assert reg.host in json.loads((tmp_path / "config.json").read_text())["auths"]
    pulled = run_tuiker("pull", f"{reg.host}/private/app:1", env=env)
    assert pulled.returncode == 0, pulled.stderr
    out = run_tuiker("logout", reg.host, env=env)
    assert out.returncode == 0 and "Removing login credentials" in out.stdout
    assert json.loads((tmp_path / "config.json").read_text())["auths"] == {}


# -- faults ------------------------------------------------------------------------------------------

def test_unknown_tag_and_unknown_repository(engine_root, registry, busybox_image):
    with pytest.raises(NotFoundError, match="manifest unknown"):
        Engine().images.pull(f"{registry.host}/test/busybox:nope")
    with pytest.raises(NotFoundError):
        Engine().images.pull(f"{registry.host}/no/such-repo")
    _assert_store_empty(engine_root)


def test_registry_not_running_gives_one_line(engine_root, make_registry, tuiker):
    reg = make_registry(start=False)
    out = tuiker("pull", f"{reg.host}/x/y")
    assert out.returncode == 1
    assert out.stderr.count("\n") == 1 and "connection refused" in out.stderr
    _assert_store_empty(engine_root)


def _registry_blob_file(reg, digest: str) -> Path:
    hexd = digest[7:]
    return Path(reg.storage) / "docker/registry/v2/blobs/sha256" / hexd[:2] / hexd / "data"


def test_blob_digest_mismatch_aborts_and_discards(engine_root, make_registry):
    reg = make_registry()
    built = ib.build_image([ib.make_tar(ib.busybox_rootfs_entries())])
    push(reg, "test/corrupt", "1", built)
    # Corrupt the stored layer on the registry's disk (same size): the registry serves it unchecked.
    blob = _registry_blob_file(reg, built.layer_digests[0])
    data = bytearray(blob.read_bytes())
    data[len(data) // 2] ^= 0xFF
    blob.write_bytes(bytes(data))
    with pytest.raises((DigestMismatchError, Exception), match="digest mismatch|cannot be unpacked") as err:
        Engine().images.pull(f"{reg.host}/test/corrupt:1")
    assert isinstance(err.value, DigestMismatchError)
    state = _store_state(engine_root)
    assert state["layers"] == [] and state["images"] == [] and state["tmp"] == []
    # The config blob is checked and small; the corrupt layer never became a blob.
    assert built.layer_digests[0][7:] not in state["blobs/sha256"]


def test_manifest_that_is_not_json(engine_root):
    """A real registry refuses to store such a manifest, so this fault comes from a tiny HTTP server
    standing in for a broken registry (the one mock in these tests, for a fault no registry produces)."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Broken(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's naming
            body = b"{}" if self.path == "/v2/" else b"<html>this is not a manifest</html>"
            self.send_response(200)
            self.send_header("Content-Type", "application/vnd.docker.distribution.manifest.v2+json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Broken)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with pytest.raises(RegistryError, match="not valid JSON"):
            Engine().images.pull(f"127.0.0.1:{server.server_port}/broken/app")
    finally:
        server.shutdown()
        server.server_close()
    _assert_store_empty(engine_root)


def _big_image() -> ib.BuiltImage:
    """~24 MB of incompressible data in two layers: slow enough to interrupt a pull in the middle."""
    layers = [ib.make_tar([ib.File(f"blob{i}", os.urandom(12 * 1024 * 1024))]) for i in range(2)]
    return ib.build_image(layers, compression="gzip")


def _wait_for_progress(root: Path, proc: subprocess.Popen, timeout: float = 30) -> None:
    """Until some layer bytes sit in the store's tmp/ (the pull is mid-download)."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for entry in (root / "tmp").glob("*-layer"):
            blob = entry / "blob"
            if blob.exists() and blob.stat().st_size > 1024 * 1024:
                return
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.01)
    raise AssertionError("the pull never got going")


def _start_pull(ref: str) -> subprocess.Popen:
    import sys

    env = dict(os.environ)
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[2])
    return subprocess.Popen([sys.executable, "-m", "tuiker", "pull", ref], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def test_registry_stopped_mid_pull(engine_root, make_registry, tuiker):
    reg = make_registry()
    push(reg, "test/big", "1", _big_image())
    proc = _start_pull(f"{reg.host}/test/big:1")
    try:
        _wait_for_progress(engine_root, proc)
        reg.stop()
        _out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 1
    assert err.count("\n") == 1 and err.startswith("Error: "), err
    state = _store_state(engine_root)
    assert state["layers"] == [] and state["images"] == [] and state["tmp"] == []
    # With the registry back, the same pull completes.
    reg.start()
    out = tuiker("pull", f"{reg.host}/test/big:1")
    assert out.returncode == 0, out.stderr


def test_kill_9_mid_pull_then_pull_again(engine_root, make_registry, tuiker):
    reg = make_registry()
    built = _big_image()
    push(reg, "test/big", "1", built)
    proc = _start_pull(f"{reg.host}/test/big:1")
    _wait_for_progress(engine_root, proc)
    proc.kill()
    proc.wait()
    listed = tuiker("images", "-q")
    assert listed.returncode == 0 and listed.stdout == "" and listed.stderr == ""
    out = tuiker("pull", f"{reg.host}/test/big:1")
    assert out.returncode == 0, out.stderr
    state = _store_state(engine_root)
    assert state["tmp"] == []  # the killed pull's leftovers were swept
    assert sorted(state["layers"]) == sorted(d[7:] for d in built.diff_ids)
    assert tuiker("images", "-q").stdout.strip() == built.config_digest[7:19]


def test_two_pulls_at_once_both_succeed_and_store_once(engine_root, make_registry):
    reg = make_registry()
    built = _big_image()
    push(reg, "test/big", "1", built)
    procs = [_start_pull(f"{reg.host}/test/big:1") for _ in range(2)]
    results = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], results
    state = _store_state(engine_root)
    assert sorted(state["layers"]) == sorted(d[7:] for d in built.diff_ids)
    assert state["images"] == [f"{built.config_digest[7:]}.json"] and state["tmp"] == []
    assert not list((engine_root / "locks").glob("*.tmp-*"))


def test_a_token_the_registry_stops_accepting_is_renewed(engine_root, token_proxy, busybox_image):
    from tuiker.image.registry import RegistryClient

    _, built = busybox_image
    client = RegistryClient(token_proxy.host)
    assert client.get_manifest("test/busybox", "latest").digest == built.manifest_digest
    token_proxy.expire_tokens()  # as if it expired before the expiry time the server announced
    assert client.get_blob_bytes("test/busybox", built.config_digest) == built.config
    assert len([s for s in token_proxy.seen if s.path == "/token"]) == 2


def test_connection_lost_mid_blob_resumes_with_range(engine_root, make_registry, monkeypatch):
    """The registry restarts while layers stream: the pull goes on from where each blob broke off."""
    import threading
    import time

    from tuiker.image.registry import RegistryClient

    reg = make_registry()
    built = _big_image()
    push(reg, "test/big", "1", built)
    offsets: list[int] = []
    real_open_blob = RegistryClient.open_blob

    def recording_open_blob(self, repository, digest, offset=0):  # a spy: the real call, recorded
        offsets.append(offset)
        return real_open_blob(self, repository, digest, offset)

    monkeypatch.setattr(RegistryClient, "open_blob", recording_open_blob)
    outcome: dict = {}

    def pull() -> None:
        try:
            outcome["image"] = Engine().images.pull(f"{reg.host}/test/big:1").image
        except Exception as e:  # noqa: BLE001 - reported by the assertion below
            outcome["error"] = e

    thread = threading.Thread(target=pull)
    thread.start()
    deadline = time.monotonic() + 30
    while not any(b.stat().st_size > 1024 * 1024 for b in (engine_root / "tmp").glob("*-layer/blob")):
        assert time.monotonic() < deadline and thread.is_alive(), outcome
        time.sleep(0.01)
    reg.stop()
    reg.start()
    thread.join(90)
    assert "error" not in outcome, outcome
    assert outcome["image"].layers == built.diff_ids
    assert any(o > 0 for o in offsets), offsets  # at least one blob was re-requested with a Range
    assert os.listdir(engine_root / "tmp") == []
