"""The test infrastructure itself: image building, the real registry, and the token proxy in front of it."""

from __future__ import annotations

import gzip
import io
import json
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

import imagebuilder as ib
import pytest
import requests
import zstandard
from conftest import _mounts_under, run_tuiker
from registry import push, push_index, session

ACCEPT = ", ".join((ib.OCI_INDEX, ib.DOCKER_MANIFEST_LIST, ib.OCI_MANIFEST, ib.DOCKER_MANIFEST))


def _challenge(header: str) -> dict[str, str]:
    return dict(re.findall(r'(\w+)="([^"]*)"', header))


def test_make_tar_entries_and_determinism():
    entries = [
        ib.Dir("etc", 0o750, uid=5, gid=6),
        ib.File("etc/conf", b"x=1\n", 0o600, xattrs={"user.x": b"\xff\x00v", "user.y": "text"}),
        ib.Symlink("etc/link", "conf"),
        ib.Hardlink("etc/hard", "etc/conf"),
        ib.Whiteout("usr/gone"),
        ib.Opaque("var/cache"),
        ib.CharDev("dev/null", 1, 3),
        ib.Fifo("run/pipe"),
    ]
    data = ib.make_tar(entries)
    assert data == ib.make_tar(entries)
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        members = {m.name: m for m in tar.getmembers()}
    assert list(members) == ["etc", "etc/conf", "etc/link", "etc/hard", "usr/.wh.gone",
                             "var/cache/.wh..wh..opq", "dev/null", "run/pipe"]
    assert members["etc"].isdir() and members["etc"].mode == 0o750 and members["etc"].uid == 5
    assert members["etc/conf"].pax_headers["SCHILY.xattr.user.y"] == "text"
    raw = members["etc/conf"].pax_headers["SCHILY.xattr.user.x"]
    assert raw.encode("utf-8", "surrogateescape") == b"\xff\x00v"
    assert members["etc/link"].issym() and members["etc/link"].linkname == "conf"
    assert members["etc/hard"].islnk() and members["etc/hard"].linkname == "etc/conf"
    dev = members["dev/null"]
    assert dev.ischr() and (dev.devmajor, dev.devminor) == (1, 3)
    assert members["run/pipe"].isfifo()
    assert all(m.mtime == ib.MTIME for m in members.values())


def test_push_and_fetch_back(registry, busybox_image):
    ref, image = busybox_image
    assert ref == f"{registry.host}/test/busybox:latest"
    http = session()
    r = http.get(f"{registry.url}/v2/test/busybox/manifests/latest", headers={"Accept": ACCEPT})
    assert r.status_code == 200
    assert r.content == image.manifest
    assert r.headers["Docker-Content-Digest"] == image.manifest_digest == ib.sha256_digest(r.content)
    assert r.headers["Content-Type"] == ib.DOCKER_MANIFEST
    doc = json.loads(r.content)
    assert doc["config"]["mediaType"] == ib.DOCKER_CONFIG
    assert [layer["mediaType"] for layer in doc["layers"]] == [ib.DOCKER_LAYER_GZIP]
    for desc in [doc["config"], *doc["layers"]]:
        blob = http.get(f"{registry.url}/v2/test/busybox/blobs/{desc['digest']}").content
        assert ib.sha256_digest(blob) == desc["digest"] and len(blob) == desc["size"]
    blobs = f"{registry.url}/v2/test/busybox/blobs"
    layer = gzip.decompress(http.get(f"{blobs}/{image.layer_digests[0]}").content)
    config = json.loads(http.get(f"{blobs}/{image.config_digest}").content)
    assert config["rootfs"] == {"type": "layers", "diff_ids": [ib.sha256_digest(layer)]}
    with tarfile.open(fileobj=io.BytesIO(layer)) as tar:
        members = {m.name: m for m in tar.getmembers()}
    assert members["bin/busybox"].mode == 0o755 and members["bin/sh"].linkname == "busybox"
    assert members["tmp"].mode == 0o1777
    assert b"app:x:1000:1000" in tar_file(layer, "etc/passwd")


def tar_file(layer: bytes, name: str) -> bytes:
    with tarfile.open(fileobj=io.BytesIO(layer)) as tar:
        return tar.extractfile(name).read()


def test_oci_image_with_mixed_compression(registry):
    layers = [ib.make_tar([ib.File("a", b"one")]), ib.make_tar([ib.File("b", b"two")]),
              ib.make_tar([ib.File("c", b"three")])]
    image = ib.build_image(layers, compression=["zstd", "none", "gzip"], oci=True, cmd=["echo", "hi"],
                           entrypoint=["/bin/sh", "-c"], workdir="/tmp", user="1000:1000")
    assert image.layer_media_types == [ib.OCI_LAYER_ZSTD, ib.OCI_LAYER, ib.OCI_LAYER_GZIP]
    digest = push(registry, "test/mixed", "v1", image)
    assert digest == image.manifest_digest
    http = session()
    r = http.get(f"{registry.url}/v2/test/mixed/manifests/v1", headers={"Accept": ACCEPT})
    assert r.headers["Content-Type"] == ib.OCI_MANIFEST and r.content == image.manifest
    blob = http.get(f"{registry.url}/v2/test/mixed/blobs/{image.layer_digests[0]}").content
    assert zstandard.ZstdDecompressor().decompress(blob) == layers[0]
    assert http.get(f"{registry.url}/v2/test/mixed/blobs/{image.layer_digests[1]}").content == layers[1]
    config = json.loads(image.config)
    assert config["config"]["Entrypoint"] == ["/bin/sh", "-c"] and config["config"]["User"] == "1000:1000"
    with pytest.raises(ValueError):
        ib.build_image(layers, compression="zstd", oci=False)


@pytest.mark.parametrize("oci", [True, False])
def test_index_roundtrip(registry, oci):
    amd = ib.build_image([ib.make_tar([ib.File("arch", b"amd64")])], oci=oci)
    arm = ib.build_image([ib.make_tar([ib.File("arch", b"arm64")])], oci=oci, architecture="arm64",
                         variant="v8")
    index = ib.build_index([(amd, {"architecture": "amd64", "os": "linux"}),
                            (arm, {"architecture": "arm64", "os": "linux", "variant": "v8"})],
                           oci=oci, with_attestation=oci)
    body, digest, media_type = index
    assert push_index(registry, "test/multi", f"oci-{oci}", index, [amd, arm]) == digest
    http = session()
    r = http.get(f"{registry.url}/v2/test/multi/manifests/oci-{oci}", headers={"Accept": ACCEPT})
    assert r.content == body and r.headers["Content-Type"] == media_type
    assert r.headers["Docker-Content-Digest"] == digest
    entries = json.loads(body)["manifests"]
    assert len(entries) == (4 if oci else 2)
    for entry in entries:
        m = http.get(f"{registry.url}/v2/test/multi/manifests/{entry['digest']}", headers={"Accept": ACCEPT})
        assert m.status_code == 200 and ib.sha256_digest(m.content) == entry["digest"]
    if oci:
        att = entries[2]
        assert att["platform"] == {"architecture": "unknown", "os": "unknown"}
        assert att["annotations"]["vnd.docker.reference.type"] == "attestation-manifest"
        assert att["annotations"]["vnd.docker.reference.digest"] == amd.manifest_digest


def test_registry_restart_keeps_port_and_content(make_registry):
    reg = make_registry()
    image = ib.build_image([ib.make_tar([ib.File("f", b"persist")])])
    push(reg, "test/restart", "v1", image)
    port = reg.port
    reg.stop()
    with pytest.raises(requests.ConnectionError):
        session().get(reg.url + "/v2/", timeout=2)
    reg.start()
    assert reg.port == port
    r = session().get(f"{reg.url}/v2/test/restart/manifests/v1", headers={"Accept": ACCEPT})
    assert r.status_code == 200 and r.content == image.manifest


def test_htpasswd_basic_auth_over_plain_http(make_registry):
    reg = make_registry(htpasswd={"alice": "s3cret"})
    http = session()
    r = http.get(reg.url + "/v2/")
    assert r.status_code == 401 and r.headers["WWW-Authenticate"].startswith("Basic ")
    assert http.get(reg.url + "/v2/", auth=("alice", "wrong")).status_code == 401
    assert http.get(reg.url + "/v2/", auth=("alice", "s3cret")).status_code == 200
    image = ib.build_image([ib.make_tar([ib.File("f", b"private")])])
    push(reg, "test/private", "v1", image)  # uses the registry's own credentials
    url = f"{reg.url}/v2/test/private/manifests/v1"
    assert http.get(url, headers={"Accept": ACCEPT}).status_code == 401
    r = http.get(url, headers={"Accept": ACCEPT}, auth=("alice", "s3cret"))
    assert r.content == image.manifest


def test_token_proxy_flow(token_proxy, busybox_image):
    _, image = busybox_image
    http = session()
    base = token_proxy.url
    r = http.get(base + "/v2/")
    assert r.status_code == 401
    ch = _challenge(r.headers["WWW-Authenticate"])
    assert r.headers["WWW-Authenticate"].startswith("Bearer ")
    assert ch == {"realm": f"{base}/token", "service": "tuiker-test"}

    manifest_url = f"{base}/v2/test/busybox/manifests/latest"
    r = http.get(manifest_url, headers={"Accept": ACCEPT})
    assert r.status_code == 401
    ch = _challenge(r.headers["WWW-Authenticate"])
    assert ch["scope"] == "repository:test/busybox:pull"

    # A token for /v2/ alone does not open the repository.
    unscoped = http.get(ch["realm"], params={"service": ch["service"]}).json()["token"]
    assert http.get(manifest_url, headers={"Authorization": f"Bearer {unscoped}"}).status_code == 401

    tok = http.get(ch["realm"], params={"service": ch["service"], "scope": ch["scope"]}).json()
    assert tok["token"] == tok["access_token"] and tok["expires_in"] > 0
    bearer = {"Authorization": f"Bearer {tok['token']}"}
    r = http.get(manifest_url, headers={"Accept": ACCEPT, **bearer})
    assert r.status_code == 200 and r.content == image.manifest
    assert r.headers["Docker-Content-Digest"] == image.manifest_digest
    assert r.headers["Content-Type"] == ib.DOCKER_MANIFEST

    blob_url = f"{base}/v2/test/busybox/blobs/{image.layer_digests[0]}"
    r = http.get(blob_url, headers=bearer)
    assert r.status_code == 200 and ib.sha256_digest(r.content) == image.layer_digests[0]
    r = http.get(blob_url, headers={"Range": "bytes=10-19", **bearer})
    assert r.status_code == 206 and r.content == image.blobs[0][10:20]
    assert r.headers["Content-Range"].startswith("bytes 10-19/")
    assert http.head(blob_url, headers=bearer).headers["Content-Length"] == str(len(image.blobs[0]))

    token_proxy.expire_tokens()
    assert http.get(manifest_url, headers=bearer).status_code == 401

    flow = [(s.method, s.path, s.had_auth, s.status) for s in token_proxy.seen]
    path = "/v2/test/busybox/manifests/latest"
    assert flow[:4] == [("GET", "/v2/", False, 401), ("GET", path, False, 401),
                        ("GET", "/token", False, 200), ("GET", path, True, 401)]
    assert token_proxy.seen[4].scope == "repository:test/busybox:pull"
    assert ("GET", path, True, 200) in flow


def test_token_proxy_with_users_refuses_anonymous(make_proxy, busybox_image):
    proxy = make_proxy(users={"u": "p"})
    http = session()
    params = {"service": "tuiker-test", "scope": "repository:test/busybox:pull"}
    r = http.get(proxy.url + "/token", params=params)
    assert r.status_code == 401 and "token" not in r.text
    assert http.get(proxy.url + "/token", params=params, auth=("u", "bad")).status_code == 401
    token = http.get(proxy.url + "/token", params=params, auth=("u", "p")).json()["token"]
    r = http.get(f"{proxy.url}/v2/test/busybox/manifests/latest",
                 headers={"Accept": ACCEPT, "Authorization": f"Bearer {token}"})
    assert r.status_code == 200 and r.content == busybox_image[1].manifest
    assert [s.had_auth for s in proxy.seen if s.path == "/token"] == [False, True, True]


def test_basic_mode_proxy(make_proxy, busybox_image):
    proxy = make_proxy(users={"u": "p"}, mode="basic")
    http = session()
    url = f"{proxy.url}/v2/test/busybox/manifests/latest"
    r = http.get(url, headers={"Accept": ACCEPT})
    assert r.status_code == 401 and r.headers["WWW-Authenticate"] == 'Basic realm="x"'
    assert http.get(url, headers={"Accept": ACCEPT}, auth=("u", "nope")).status_code == 401
    r = http.get(url, headers={"Accept": ACCEPT}, auth=("u", "p"))
    assert r.status_code == 200 and r.content == busybox_image[1].manifest


def test_proxy_answers_503_while_registry_is_down(make_registry, make_proxy):
    reg = make_registry()
    proxy = make_proxy(users={"u": "p"}, mode="basic", behind=reg)
    http = session()
    assert http.get(proxy.url + "/v2/", auth=("u", "p")).status_code == 200
    reg.stop()
    assert http.get(proxy.url + "/v2/", auth=("u", "p")).status_code == 503
    reg.start()
    assert http.get(proxy.url + "/v2/", auth=("u", "p")).status_code == 200


def test_engine_root_and_mount_detection(engine_root):
    assert os.environ["TUIKER_ROOT"] == str(engine_root)
    assert engine_root.is_dir() and str(engine_root).startswith("/var/tmp/")
    point = engine_root / "with space"
    point.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "tmpfs", str(point)], check=True)
    try:
        assert _mounts_under(str(engine_root)) == [str(point)]
    finally:
        subprocess.run(["umount", str(point)], check=True)
    assert _mounts_under(str(engine_root)) == []


def test_run_tuiker_requires_an_engine_root(monkeypatch):
    monkeypatch.delenv("TUIKER_ROOT", raising=False)
    with pytest.raises(RuntimeError, match="TUIKER_ROOT"):
        run_tuiker("--help")


def test_busybox_rootfs_runs(busybox_image):
    # chroot, not the engine: this checks the image content itself is a working rootfs.
    _, image = busybox_image
    with tempfile.TemporaryDirectory(prefix="tuiker-rootfs-") as rootfs:
        with tarfile.open(fileobj=io.BytesIO(image.layers[0])) as tar:
            tar.extractall(rootfs, filter="tar")
        script = "echo hi; id -u app; ls /bin/sleep"
        out = subprocess.run([shutil.which("chroot"), rootfs, "/bin/sh", "-c", script],
                             capture_output=True, text=True, timeout=30, env={"PATH": "/bin"})
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["hi", "1000", "/bin/sleep"]


def test_the_suite_has_one_conftest():
    """A conftest.py in a test directory is imported as a second module named `conftest`, and every
    `from conftest import ...` collected after it fails: fixtures of a directory are registered in tests/conftest.py."""
    tests = Path(__file__).parent
    assert [p.relative_to(tests) for p in tests.rglob("conftest.py")] == [Path("conftest.py")]


def test_test_modules_have_unique_names():
    """pytest imports test modules by their basename (rootdir-relative imports, no packages): two test files of
    the same name in different directories fail the collection of the second ('import file mismatch')."""
    tests = Path(__file__).parent
    names = [p.name for p in tests.rglob("test_*.py")]
    assert sorted({n for n in names if names.count(n) > 1}) == []
