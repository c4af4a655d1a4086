"""A registry cannot exhaust our memory (or disk): every document it sends (manifest, config, token, error body)
is read as it streams and refused past 4 MiB before anything is parsed; every layer is bounded by the size
its descriptor gives, and a descriptor without one is refused.

The registry here is a tiny HTTP server on 127.0.0.1 (a real registry refuses to store such documents, so
this fault needs a stand-in: the one mock of these tests). Its bodies are generators, never materialised:
the same 1 MiB of bytes sent again and again, "endless" up to BODY_CAP (so that code without the bounds
still finishes, at the cost of BODY_CAP of memory). Each pull runs as `tuiker pull` in a child process;
it reports its own peak RSS, and the server counts what it managed to send before the client hung up.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import imagebuilder as ib
import pytest
from conftest import REPO_ROOT, one_line_error

from tuiker.base.errors import ArchiveError
from tuiker.image import archive
from tuiker.image.store import Store

MiB = 1024 * 1024
BODY_CAP = 512 * MiB  # far above every limit; what code without bounds would hold
RSS_LIMIT = 160 * MiB  # a pull's whole interpreter (requests, isal...) is ~50 MiB
SENT_LIMIT = 64 * MiB  # what the kernel's socket buffers may absorb after the client stopped reading
FILLER = b" " * MiB  # JSON allows any amount of whitespace: a manifest of spaces is "still coming"


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


class Evil:
    """A registry on 127.0.0.1 whose routes answer as the test says. `sent` counts body bytes written."""

    def __init__(self) -> None:
        self.routes: dict[str, tuple] = {}
        self.sent = 0
        evil = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):  # noqa: N802 - http.server's naming
                path = self.path.split("?", 1)[0]
                status, headers, body = evil.routes.get(path, (404, {}, b""))
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                try:
                    if callable(body):  # endless: chunked, unless the route lies with a Content-Length
                        chunked = "Content-Length" not in headers
                        if chunked:
                            self.send_header("Transfer-Encoding", "chunked")
                        self.end_headers()
                        for piece in body():
                            self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece) if chunked else piece)
                            evil.sent += len(piece)
                        if chunked:
                            self.wfile.write(b"0\r\n\r\n")
                    else:
                        self.send_header("Content-Length", str(len(body)))
                        self.end_headers()
                        self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True  # the client stopped reading: what we want

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.host = f"127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def endless(prefix: bytes = b""):
    def body():
        yield prefix
        sent = len(prefix)
        while sent < BODY_CAP:
            yield FILLER
            sent += len(FILLER)
    return body


@pytest.fixture
def evil():
    server = Evil()
    server.routes["/v2/"] = (200, {"Content-Type": "application/json"}, b"{}")
    yield server
    server.close()


# `tuiker ARGS` in a child that writes its own peak RSS (VmHWM) to a file as it ends. Not wait4's ru_maxrss:
# exec records the high-water mark of the memory it replaces, and a vfork'd child's is this test process's.
CHILD = """
import sys
from tuiker.cli.main import main
try:
    code = main(sys.argv[2:])
finally:
    with open("/proc/self/status") as status, open(sys.argv[1], "w") as out:
        out.write(next(line for line in status if line.startswith("VmHWM:")).split()[1])
sys.exit(code)
"""


def tuiker_in_child(*args: str) -> tuple[int, str, int]:
    """(exit code, stderr, peak RSS in bytes) of `tuiker ARGS` run in a child process."""
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT), NO_PROXY="127.0.0.1", no_proxy="127.0.0.1")
    with tempfile.NamedTemporaryFile("r") as peak:
        r = subprocess.run([sys.executable, "-c", CHILD, peak.name, *args], env=env, stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE, text=True, timeout=600)
        return r.returncode, r.stderr, int(peak.read() or 0) * 1024


def pull_in_child(ref: str) -> tuple[int, str, int]:
    return tuiker_in_child("pull", ref)


def assert_refused_cheaply(engine_root: Path, evil: Evil, ref: str, message: str) -> None:
    code, stderr, rss = pull_in_child(ref)
    assert rss < RSS_LIMIT, f"peak RSS {rss // MiB} MiB"
    assert evil.sent < SENT_LIMIT, f"the client read {evil.sent // MiB} MiB"
    assert code != 0
    line = one_line_error(subprocess.CompletedProcess([], code, "", stderr))
    assert message in line, line
    leftovers = {d: os.listdir(engine_root / d) for d in ("blobs/sha256", "layers", "images", "tmp")
                 if (engine_root / d).exists()}
    assert not any(leftovers.values()), leftovers
    assert not (engine_root / "tags.json").exists() or json.loads((engine_root / "tags.json").read_text()) == {}


def image_parts(layer_size: int | None = 1000, config_size: int | None = None):
    """A config and a manifest naming one layer blob the server will make endless."""
    layer = ib.gzip_bytes(ib.make_tar([ib.File("x", b"x")]))
    config = json.dumps({"architecture": "amd64", "os": "linux",
                         "rootfs": {"type": "layers", "diff_ids": [_digest(ib.make_tar([ib.File("x", b"x")]))]},
                         "config": {"Cmd": ["sh"]}}).encode()
    layer_desc = {"mediaType": ib.DOCKER_LAYER_GZIP, "digest": _digest(layer)}
    if layer_size is not None:
        layer_desc["size"] = layer_size
    manifest = json.dumps({"schemaVersion": 2, "mediaType": ib.DOCKER_MANIFEST,
                           "config": {"mediaType": ib.DOCKER_CONFIG, "digest": _digest(config),
                                      "size": config_size or len(config)},
                           "layers": [layer_desc]}).encode()
    return config, manifest, _digest(layer)


MANIFEST_HEADERS = {"Content-Type": ib.DOCKER_MANIFEST}


# -- documents ---------------------------------------------------------------------------------------------

def test_an_endless_manifest(engine_root, evil):
    evil.routes["/v2/evil/app/manifests/latest"] = (200, MANIFEST_HEADERS, endless(b'{"schemaVersion": 2'))
    assert_refused_cheaply(engine_root, evil, f"{evil.host}/evil/app", "larger than 4 MiB")


def test_a_manifest_that_announces_2_gb(engine_root, evil):
    """Content-Length above the limit: refused before a byte of the body is read."""
    evil.routes["/v2/evil/app/manifests/latest"] = (200, {**MANIFEST_HEADERS, "Content-Length": str(2 << 30)},
                                                    endless(b'{"schemaVersion": 2'))
    assert_refused_cheaply(engine_root, evil, f"{evil.host}/evil/app", "larger than 4 MiB")


def test_a_manifest_whose_content_length_is_too_small(engine_root, evil):
    """The body goes on past the length it announced: we read the announced bytes, no more."""
    evil.routes["/v2/evil/app/manifests/latest"] = (200, {**MANIFEST_HEADERS, "Content-Length": "20"},
                                                    endless(b'{"schemaVersion": 2'))
    assert_refused_cheaply(engine_root, evil, f"{evil.host}/evil/app", "not valid JSON")


def test_an_endless_config(engine_root, evil):
    config, manifest, _ = image_parts()
    evil.routes["/v2/evil/app/manifests/latest"] = (200, MANIFEST_HEADERS, manifest)
    evil.routes[f"/v2/evil/app/blobs/{_digest(config)}"] = (200, {}, endless(b"{"))
    assert_refused_cheaply(engine_root, evil, f"{evil.host}/evil/app", "larger than 4 MiB")


def test_a_config_whose_descriptor_says_it_is_too_big(engine_root, evil):
    """Refused from the manifest alone: the config is not even asked for."""
    config, manifest, _ = image_parts(config_size=5 * MiB)
    evil.routes["/v2/evil/app/manifests/latest"] = (200, MANIFEST_HEADERS, manifest)
    evil.routes[f"/v2/evil/app/blobs/{_digest(config)}"] = (200, {}, endless(b"{"))
    assert_refused_cheaply(engine_root, evil, f"{evil.host}/evil/app", "larger than 4 MiB")
    assert evil.sent == 0


def test_an_endless_token(engine_root, evil):
    realm = f"http://{evil.host}/token"
    evil.routes["/v2/evil/app/manifests/latest"] = (401, {"WWW-Authenticate": f'Bearer realm="{realm}"'}, b"")
    evil.routes["/token"] = (200, {"Content-Type": "application/json"}, endless(b'{"token": "'))
    assert_refused_cheaply(engine_root, evil, f"{evil.host}/evil/app", "larger than 4 MiB")


@pytest.mark.parametrize("status", [404, 401, 500])
def test_an_endless_error_body(engine_root, evil, status):
    """Error answers' bodies are never read whole (500 is retried: each attempt reads a little and hangs up)."""
    headers = {"WWW-Authenticate": 'Basic realm="evil"'} if status == 401 else {}
    evil.routes["/v2/evil/app/manifests/latest"] = (status, headers, endless(b"<html>"))
    message = {404: "not found", 401: "authentication required", 500: "HTTP 500"}[status]
    assert_refused_cheaply(engine_root, evil, f"{evil.host}/evil/app", message)


# -- layers ------------------------------------------------------------------------------------------------

def test_an_endless_layer_stops_at_its_descriptors_size(engine_root, evil):
    config, manifest, layer = image_parts(layer_size=1000)
    evil.routes["/v2/evil/app/manifests/latest"] = (200, MANIFEST_HEADERS, manifest)
    evil.routes[f"/v2/evil/app/blobs/{_digest(config)}"] = (200, {}, config)
    evil.routes[f"/v2/evil/app/blobs/{layer}"] = (200, {}, endless(ib.gzip_bytes(b"x" * 100)))
    assert_refused_cheaply(engine_root, evil, f"{evil.host}/evil/app", "larger than the 1000 bytes")


def test_a_layer_without_a_size_is_refused_before_download(engine_root, evil):
    """Without a size nothing bounds the download: an endless layer would fill the disk (the OCI spec makes
    the size REQUIRED, and every registry sends it)."""
    config, manifest, layer = image_parts(layer_size=None)
    evil.routes["/v2/evil/app/manifests/latest"] = (200, MANIFEST_HEADERS, manifest)
    evil.routes[f"/v2/evil/app/blobs/{_digest(config)}"] = (200, {}, config)
    evil.routes[f"/v2/evil/app/blobs/{layer}"] = (200, {}, endless(ib.gzip_bytes(b"x" * 100)))
    assert_refused_cheaply(engine_root, evil, f"{evil.host}/evil/app", "size")
    assert evil.sent == 0


@pytest.mark.parametrize("manifest", [
    {"schemaVersion": 2, "config": [], "layers": []},
    {"schemaVersion": 2, "config": {"digest": 5}, "layers": []},
    {"schemaVersion": 2, "config": {"digest": "sha256:" + "0" * 64, "size": 10}, "layers": [1]},
    {"schemaVersion": 2, "config": {"digest": "sha256:" + "0" * 64, "size": "10"}, "layers": []},
    {"schemaVersion": 2, "config": {"digest": "sha256:" + "0" * 64, "size": -1}, "layers": []},
])
def test_malformed_manifests_give_one_line(engine_root, evil, manifest):
    evil.routes["/v2/evil/app/manifests/latest"] = (200, MANIFEST_HEADERS, json.dumps(manifest).encode())
    code, stderr, _ = pull_in_child(f"{evil.host}/evil/app")
    assert code != 0
    one_line_error(subprocess.CompletedProcess([], code, "", stderr))


# -- tuiker load -------------------------------------------------------------------------------------------

def _tar_header(name: str, size: int, kind: bytes = b"0") -> bytes:
    import tarfile

    info = tarfile.TarInfo(name)
    info.size = size
    info.type = kind
    return info.tobuf(format=tarfile.USTAR_FORMAT)


@pytest.mark.parametrize("member", ["manifest.json", "pax-header", "longname"])
def test_load_refuses_huge_metadata_without_reading_it(engine_root, tmp_path, member):
    """A 512 MiB manifest.json, pax header or GNU long name in an archive (sparse on disk: cheap to make)
    is refused without being read into memory."""
    path = tmp_path / "evil.tar"
    kind, name = {"manifest.json": (b"0", "manifest.json"), "pax-header": (b"x", "././@PaxHeader"),
                  "longname": (b"L", "././@LongLink")}[member]
    with open(path, "wb") as f:
        f.write(_tar_header(name, BODY_CAP, kind))
        f.seek(BODY_CAP, os.SEEK_CUR)  # a hole: zeros, which are whitespace to nobody, and cost no disk
        f.write(_tar_header("index.json", 2) + b"{}".ljust(512, b"\0") + b"\0" * 1024)
    code, stderr, rss = tuiker_in_child("load", "-i", str(path))
    assert code != 0
    line = one_line_error(subprocess.CompletedProcess([], code, "", stderr))
    assert "invalid archive" in line and (member != "manifest.json" or "larger than 4 MiB" in line), line
    assert rss < RSS_LIMIT, f"peak RSS {rss // MiB} MiB"


def test_load_refuses_an_archive_of_too_many_members(engine_root, tmp_path, monkeypatch):
    """Every member's header is kept while the archive is read (the metadata comes last): their number is
    bounded, or a tar of a million empty files costs a gigabyte of memory."""
    monkeypatch.setattr(archive, "MAX_MEMBERS", 100)
    path = tmp_path / "many.tar"
    with open(path, "wb") as f:
        for i in range(101):
            f.write(_tar_header(f"f{i}", 0))
        f.write(b"\0" * 1024)
    with pytest.raises(ArchiveError, match="more than 100 members"):
        archive.load(Store(engine_root), str(path))
