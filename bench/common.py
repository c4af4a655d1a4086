"""Shared by the benches: a throwaway local registry, a cached "realistic" image built from host files,
pushing it over the distribution API, timing a child process, and cleaning up mounts. Self-contained:
needs only the standard library, `requests` and Debian's `docker-registry`."""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import json
import os
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import requests

# The private dockerd and podman's host fixes live in tests/dockerd.py (the tests' parity oracle uses them too).
sys.path.append(str(Path(__file__).resolve().parent.parent / "tests"))
from dockerd import DOCKER, PrivateDockerd, fix_podman_host, mounts_under, remove_tree  # noqa: E402,F401

CACHE = Path("/var/tmp/tuiker-bench-cache")
RECIPE = 3  # bump when the way images are built changes, so old cached images are not reused

# Where layer content comes from: directories every Debian machine has, walked in this order, each file
# used once. Shared libraries, binaries, headers, translations, docs: what image layers really hold.
SOURCES = ["/usr/lib/python3.11", "/usr/share/locale", "/usr/include", "/usr/lib/x86_64-linux-gnu",
           "/usr/share/doc", "/usr/bin", "/usr/share/man", "/usr/sbin", "/usr/lib", "/usr/share"]
# Each layer's share of the compressed image size: varied, like a base layer plus a few app layers.
LAYER_SHARES = [0.04, 0.30, 0.12, 0.34, 0.20]

# Docker schema 2, what `docker push` writes and most of Docker Hub serves.
MANIFEST_TYPE = "application/vnd.docker.distribution.manifest.v2+json"
CONFIG_TYPE = "application/vnd.docker.container.image.v1+json"
LAYER_TYPE = "application/vnd.docker.image.rootfs.diff.tar.gzip"


# -- registry --------------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def local_registry(workdir: Path):
    """Run Debian's docker-registry on a free 127.0.0.1 port, storing under workdir; yields "127.0.0.1:PORT"."""
    storage = workdir / "registry"
    storage.mkdir(parents=True)
    port = free_port()
    config = workdir / "registry.yml"
    config.write_text(f"""version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: {storage}
  delete:
    enabled: true
http:
  addr: 127.0.0.1:{port}
""")
    log = open(workdir / "registry.log", "wb")
    proc = subprocess.Popen(["docker-registry", "serve", str(config)], stdout=log, stderr=log,
                            stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 15
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"docker-registry exited: {(workdir / 'registry.log').read_text()[-2000:]}")
            with contextlib.suppress(requests.ConnectionError):
                if requests.get(f"http://127.0.0.1:{port}/v2/", timeout=2).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError("docker-registry did not answer on /v2/ within 15 s")
            time.sleep(0.05)
        yield f"127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


# -- image -----------------------------------------------------------------------------------------

class _Sink:
    """A write-only file that hashes and counts what passes through it, forwarding to `out`."""

    def __init__(self, out) -> None:
        self.out, self.sha, self.size = out, hashlib.sha256(), 0

    def write(self, data) -> int:
        self.sha.update(data)
        self.size += len(data)
        return self.out.write(data) if self.out is not None else len(data)

    def flush(self) -> None:
        if self.out is not None:
            self.out.flush()


def _walk(roots: list[str]):
    """Every directory, file and symlink under roots, sorted, each path once (roots may nest)."""
    seen: set[str] = set()
    for root in roots:
        if not os.path.isdir(root):
            continue
        for top, dirs, files in os.walk(root):
            dirs.sort()
            if top in seen:
                dirs.clear()
                continue
            seen.add(top)
            yield top
            links = [d for d in dirs if os.path.islink(os.path.join(top, d))]  # os.walk lists these as dirs
            for name in sorted(files + links):
                yield os.path.join(top, name)


def _numeric_owner(info: tarfile.TarInfo) -> tarfile.TarInfo:
    info.uname = info.gname = ""  # like tar --numeric-owner: uid/gid only
    return info


def _write_layer(paths, target: int, out_path: Path) -> tuple[str, str, int]:
    """Tar paths (an iterator, consumed until the compressed size reaches target) into a gzip (level 6)
    file; returns (sha256 of the gzip, sha256 of the tar = diff id, compressed size)."""
    with open(out_path, "wb") as raw:
        compressed = _Sink(raw)
        with gzip.GzipFile(fileobj=compressed, mode="wb", compresslevel=6, mtime=0) as gz:
            plain = _Sink(gz)
            with tarfile.open(fileobj=plain, mode="w|", format=tarfile.PAX_FORMAT) as tar:
                added: set[str] = set()
                for path in paths:
                    try:
                        mode = os.lstat(path).st_mode
                    except OSError:
                        continue
                    if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode) or stat.S_ISLNK(mode)):
                        continue  # sockets, fifos, devices
                    if stat.S_ISREG(mode) and os.lstat(path).st_size / 3 > target / 2:
                        continue  # one file would overshoot this layer's size (libLLVM is 110 MB)
                    missing = []  # parent directories not yet in this layer, so each layer is complete
                    parent = os.path.dirname(path)
                    while parent != "/" and parent not in added:
                        missing.append(parent)
                        parent = os.path.dirname(parent)
                    for item in [*reversed(missing), path]:
                        if item not in added:
                            with contextlib.suppress(OSError):  # vanished or unreadable
                                tar.add(item, arcname=item.lstrip("/"), recursive=False, filter=_numeric_owner)
                            added.add(item)
                    if compressed.size >= target:
                        break
    return compressed.sha.hexdigest(), plain.sha.hexdigest(), compressed.size


def build_image(size_mb: int, log=print) -> Path:
    """Build (or reuse from the cache) an image of about size_mb MB of gzip layers. Returns a directory
    holding manifest.json and blobs/<hex> (the config among them)."""
    out = CACHE / f"big-{size_mb}mb-r{RECIPE}"
    if (out / "manifest.json").exists():
        return out
    tmp = Path(tempfile.mkdtemp(prefix=out.name + ".", dir=CACHE if CACHE.exists() else _mkcache()))
    try:
        (tmp / "blobs").mkdir()
        paths = _walk(SOURCES)
        layers, diff_ids = [], []
        for i, share in enumerate(LAYER_SHARES):
            started = time.monotonic()
            part = tmp / f"layer{i}"
            digest, diff_id, size = _write_layer(paths, int(share * size_mb * 1e6), part)
            if size < 0.9 * share * size_mb * 1e6:
                raise RuntimeError(f"not enough host files under {SOURCES} for a {size_mb} MB image")
            part.rename(tmp / "blobs" / digest)
            layers.append({"mediaType": LAYER_TYPE, "digest": f"sha256:{digest}", "size": size})
            diff_ids.append(f"sha256:{diff_id}")
            log(f"  layer {i + 1}/{len(LAYER_SHARES)}: {size / 1e6:.1f} MB gzip "
                f"in {time.monotonic() - started:.1f} s")
        config = json.dumps({
            "architecture": "amd64", "os": "linux", "created": "2024-01-01T00:00:00Z",
            "config": {"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
                       "Cmd": ["/bin/sh"]},
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
            "history": [{"created": "2024-01-01T00:00:00Z", "created_by": f"bench layer {i + 1}"}
                        for i in range(len(layers))],
        }, separators=(",", ":")).encode()
        config_digest = hashlib.sha256(config).hexdigest()
        (tmp / "blobs" / config_digest).write_bytes(config)
        manifest = {"schemaVersion": 2, "mediaType": MANIFEST_TYPE,
                    "config": {"mediaType": CONFIG_TYPE, "digest": f"sha256:{config_digest}", "size": len(config)},
                    "layers": layers}
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=1))
        shutil.rmtree(out, ignore_errors=True)
        tmp.rename(out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def _mkcache() -> Path:
    CACHE.mkdir(parents=True, exist_ok=True)
    return CACHE


def layer_sizes(image: Path) -> list[int]:
    """The compressed size of each layer, in bytes."""
    return [layer["size"] for layer in json.loads((image / "manifest.json").read_text())["layers"]]


def push_image(image: Path, registry: str, repo: str, tag: str) -> None:
    """Upload blobs (monolithic, streamed from disk) and the manifest over the distribution HTTP API."""
    base = f"http://{registry}/v2/{repo}"
    manifest = json.loads((image / "manifest.json").read_text())
    with requests.Session() as s:
        for blob in [manifest["config"], *manifest["layers"]]:
            digest = blob["digest"]
            if s.head(f"{base}/blobs/{digest}").status_code == 200:
                continue
            r = s.post(f"{base}/blobs/uploads/")
            r.raise_for_status()
            location = requests.compat.urljoin(f"http://{registry}/", r.headers["Location"])
            sep = "&" if "?" in location else "?"
            with open(image / "blobs" / digest.split(":", 1)[1], "rb") as f:
                r = s.put(f"{location}{sep}digest={digest}", data=f,
                          headers={"Content-Type": "application/octet-stream"})
            r.raise_for_status()
        r = s.put(f"{base}/manifests/{tag}", data=(image / "manifest.json").read_bytes(),
                  headers={"Content-Type": MANIFEST_TYPE})
        r.raise_for_status()


BUSYBOX_APPLETS = ["sh", "true", "false", "sleep", "echo", "cat", "ls", "ps", "env", "id", "hostname", "mount"]


def build_busybox_image(log=print) -> Path:
    """A one-layer busybox image: Debian's static /bin/busybox (busybox-static) plus applet symlinks in
    bin/, mount-point directories and a minimal /etc/passwd and /etc/group. Cached like build_image();
    returns a directory holding manifest.json and blobs/<hex> (the config among them)."""
    out = CACHE / f"busybox-r{RECIPE}"
    if (out / "manifest.json").exists():
        return out
    if not os.path.isfile("/bin/busybox"):
        raise RuntimeError("/bin/busybox is missing: apt-get install busybox-static")
    tmp = Path(tempfile.mkdtemp(prefix=out.name + ".", dir=CACHE if CACHE.exists() else _mkcache()))
    try:
        (tmp / "blobs").mkdir()
        files = {"etc/passwd": b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n",
                 "etc/group": b"root:x:0:\nnogroup:x:65534:\n"}
        with open(tmp / "layer", "wb") as raw:
            compressed = _Sink(raw)
            with gzip.GzipFile(fileobj=compressed, mode="wb", compresslevel=6, mtime=0) as gz:
                plain = _Sink(gz)
                with tarfile.open(fileobj=plain, mode="w|", format=tarfile.PAX_FORMAT) as tar:
                    def entry(name, kind=tarfile.DIRTYPE, mode=0o755, size=0, link=""):
                        info = tarfile.TarInfo(name)
                        info.type, info.mode, info.size, info.linkname = kind, mode, size, link
                        return info
                    for d, mode in [("bin", 0o755), ("dev", 0o755), ("etc", 0o755), ("proc", 0o555),
                                    ("root", 0o700), ("sys", 0o555), ("tmp", 0o1777)]:
                        tar.addfile(entry(d, mode=mode))
                    with open("/bin/busybox", "rb") as f:
                        tar.addfile(entry("bin/busybox", tarfile.REGTYPE, 0o755, os.fstat(f.fileno()).st_size), f)
                    for applet in BUSYBOX_APPLETS:
                        tar.addfile(entry(f"bin/{applet}", tarfile.SYMTYPE, 0o777, link="busybox"))
                    for name, data in files.items():
                        tar.addfile(entry(name, tarfile.REGTYPE, 0o644, len(data)), io.BytesIO(data))
        digest = compressed.sha.hexdigest()
        (tmp / "layer").rename(tmp / "blobs" / digest)
        config = json.dumps({
            "architecture": "amd64", "os": "linux", "created": "2024-01-01T00:00:00Z",
            "config": {"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
                       "Cmd": ["/bin/sh"]},
            "rootfs": {"type": "layers", "diff_ids": [f"sha256:{plain.sha.hexdigest()}"]},
            "history": [{"created": "2024-01-01T00:00:00Z", "created_by": "bench busybox"}],
        }, separators=(",", ":")).encode()
        config_digest = hashlib.sha256(config).hexdigest()
        (tmp / "blobs" / config_digest).write_bytes(config)
        manifest = {"schemaVersion": 2, "mediaType": MANIFEST_TYPE,
                    "config": {"mediaType": CONFIG_TYPE, "digest": f"sha256:{config_digest}", "size": len(config)},
                    "layers": [{"mediaType": LAYER_TYPE, "digest": f"sha256:{digest}", "size": compressed.size}]}
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=1))
        shutil.rmtree(out, ignore_errors=True)
        tmp.rename(out)
        log(f"  built busybox image: {compressed.size / 1e6:.1f} MB gzip")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def unpack_image(image: Path, target: Path) -> None:
    """Extract an image's layers in order into target (a plain rootfs for runc/crun/chroot; whiteouts
    are not handled, the bench images have none)."""
    target.mkdir(parents=True, exist_ok=True)
    for layer in json.loads((image / "manifest.json").read_text())["layers"]:
        with tarfile.open(image / "blobs" / layer["digest"].split(":", 1)[1], "r:gz") as tar:
            tar.extractall(target, numeric_owner=True, filter="fully_trusted")


# -- measuring and cleaning up ---------------------------------------------------------------------

def timed(argv: list[str], env: dict | None = None, cwd: str | None = None) -> tuple[float, int, int, str]:
    """Run argv; returns (wall seconds, exit status, peak RSS in KiB of it and its waited-for
    descendants, last lines of its output)."""
    with tempfile.TemporaryFile() as out:
        started = time.perf_counter()
        proc = subprocess.Popen(argv, env=env, cwd=cwd, stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                                start_new_session=True)
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        except BaseException:  # Ctrl-C or SIGTERM: stop the child and its helpers before cleaning up
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            time.sleep(0.2)  # let helpers that outlived it (podman's storage-untar) exit too
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            raise
        wall = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        tail = out.read()[-3000:].decode(errors="replace")
    return wall, proc.returncode, usage.ru_maxrss, tail


def version(argv: list[str]) -> str:
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return "not installed"
    return out.splitlines()[0] if out else "?"
