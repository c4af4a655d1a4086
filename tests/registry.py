"""A real registry for tests: Debian's docker-registry (distribution 2.8) on 127.0.0.1, plus push helpers
that speak the distribution HTTP API directly."""

from __future__ import annotations

import atexit
import os
import shutil
import socket
import subprocess
import tempfile
import time
import warnings
from urllib.parse import urljoin

import requests
from imagebuilder import BuiltImage, sha256_digest
from requests.auth import HTTPBasicAuth

REGISTRY_BIN = "/usr/bin/docker-registry"


def session() -> requests.Session:
    # trust_env=False: a proxy from the environment must never see test traffic meant for 127.0.0.1.
    s = requests.Session()
    s.trust_env = False
    return s


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def bcrypt_hash(password: str) -> str:
    """A bcrypt hash for htpasswd, the only format distribution accepts."""
    try:
        import bcrypt
        return bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=5)).decode()
    except ImportError:
        pass
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            import crypt  # stdlib until 3.13; libxcrypt does bcrypt
        return crypt.crypt(password, crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=32))
    except ImportError:
        pass
    out = subprocess.run(["htpasswd", "-nbB", "-C", "5", "u", password], capture_output=True, text=True,
                         check=True).stdout
    return out.strip().split(":", 1)[1]


class Registry:
    """`docker-registry serve` on a free 127.0.0.1 port with filesystem storage in a temp dir.

    stop() then start() brings it back on the same port with the same content (and the same http
    secret, so upload sessions opened before the stop stay valid). With htpasswd={"user": "pass"} it
    demands Basic auth, which distribution 2.8 accepts over plain HTTP.
    """

    def __init__(self, htpasswd: dict[str, str] | None = None, port: int | None = None):
        self.tmp = tempfile.mkdtemp(prefix="tuiker-registry-")
        self.storage = os.path.join(self.tmp, "storage")
        self.log_path = os.path.join(self.tmp, "registry.log")
        self.config_path = os.path.join(self.tmp, "config.yml")
        self.port = port or free_port()
        self.htpasswd = dict(htpasswd or {})
        self.proc: subprocess.Popen | None = None
        self.http = session()
        os.mkdir(self.storage)
        self._write_config()
        atexit.register(self.close)

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    @property
    def auth(self) -> HTTPBasicAuth | None:
        """Credentials of the first htpasswd user, used by the push helpers when given none."""
        if not self.htpasswd:
            return None
        user, password = next(iter(self.htpasswd.items()))
        return HTTPBasicAuth(user, password)

    def _write_config(self) -> None:
        auth = ""
        if self.htpasswd:
            path = os.path.join(self.tmp, "htpasswd")
            with open(path, "w") as f:
                f.writelines(f"{u}:{bcrypt_hash(p)}\n" for u, p in self.htpasswd.items())
            auth = f"auth:\n  htpasswd:\n    realm: tuiker-test\n    path: {path}\n"
        # No blobdescriptor cache: an in-memory one can answer stale after deletes.
        with open(self.config_path, "w") as f:
            f.write(
                "version: 0.1\n"
                "log:\n  level: warn\n  accesslog:\n    disabled: true\n"
                f"storage:\n  filesystem:\n    rootdirectory: {self.storage}\n"
                "  delete:\n    enabled: true\n"
                "  maintenance:\n    uploadpurging:\n      enabled: false\n"
                f"http:\n  addr: 127.0.0.1:{self.port}\n  secret: {os.urandom(16).hex()}\n"
                + auth)

    def start(self, timeout: float = 20) -> None:
        if self.running:
            return
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen([REGISTRY_BIN, "serve", self.config_path], stdin=subprocess.DEVNULL,
                                         stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"docker-registry exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                # 401 means up too: the auth mode answers /v2/ with a challenge.
                if self.http.get(self.url + "/v2/", timeout=2).status_code in (200, 401):
                    return
            except requests.ConnectionError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"docker-registry not ready after {timeout}s:\n{self.log_tail()}")
            time.sleep(0.05)

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
        self.http.close()

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)
        atexit.unregister(self.close)

    def __enter__(self) -> Registry:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def log_tail(self, n: int = 30) -> str:
        try:
            with open(self.log_path, errors="replace") as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return ""

    # ---- distribution API ------------------------------------------------------------------------------

    def _kw(self, auth) -> dict:
        """`auth` is a requests auth object, a header dict, an Authorization header value, or None for
        the registry's own default."""
        if auth is None:
            auth = self.auth
        if auth is None:
            return {}
        if isinstance(auth, dict):
            return {"headers": dict(auth)}
        if isinstance(auth, str):
            return {"headers": {"Authorization": auth}}
        return {"auth": auth}

    def _merge(self, kw: dict, headers: dict) -> dict:
        kw = dict(kw)
        kw["headers"] = {**kw.get("headers", {}), **headers}
        return kw

    def blob_exists(self, repo: str, digest: str, auth=None) -> bool:
        r = self.http.head(f"{self.url}/v2/{repo}/blobs/{digest}", timeout=30, **self._kw(auth))
        return r.status_code == 200

    def put_blob(self, repo: str, data: bytes, auth=None) -> str:
        """Monolithic upload (POST then PUT ?digest=); skipped when the blob is already there."""
        digest = sha256_digest(data)
        if self.blob_exists(repo, digest, auth):
            return digest
        kw = self._kw(auth)
        r = self.http.post(f"{self.url}/v2/{repo}/blobs/uploads/", timeout=30, **kw)
        r.raise_for_status()
        location = urljoin(self.url + "/", r.headers["Location"])
        location += ("&" if "?" in location else "?") + "digest=" + digest
        r = self.http.put(location, data=data, timeout=120,
                          **self._merge(kw, {"Content-Type": "application/octet-stream"}))
        r.raise_for_status()
        if r.headers.get("Docker-Content-Digest", digest) != digest:
            raise RuntimeError(f"registry stored {r.headers['Docker-Content-Digest']}, expected {digest}")
        return digest

    def put_manifest(self, repo: str, reference: str, body: bytes, media_type: str, auth=None) -> str:
        r = self.http.put(f"{self.url}/v2/{repo}/manifests/{reference}", data=body, timeout=30,
                          **self._merge(self._kw(auth), {"Content-Type": media_type}))
        if not r.ok:
            raise RuntimeError(f"PUT manifest {repo}:{reference}: {r.status_code} {r.text}")
        return r.headers.get("Docker-Content-Digest") or sha256_digest(body)

    def delete_manifest(self, repo: str, digest: str, auth=None) -> None:
        r = self.http.delete(f"{self.url}/v2/{repo}/manifests/{digest}", timeout=30, **self._kw(auth))
        r.raise_for_status()

    def delete_blob(self, repo: str, digest: str, auth=None) -> None:
        r = self.http.delete(f"{self.url}/v2/{repo}/blobs/{digest}", timeout=30, **self._kw(auth))
        r.raise_for_status()


def push(registry: Registry, repo: str, tag: str | None, image: BuiltImage, auth=None) -> str:
    """Push an image's blobs and manifest (by tag, or by digest when tag is None); returns the manifest
    digest. The full reference is f"{registry.host}/{repo}:{tag}"."""
    for blob in [*image.blobs, image.config]:
        registry.put_blob(repo, blob, auth)
    return registry.put_manifest(repo, tag or image.manifest_digest, image.manifest,
                                 image.manifest_media_type, auth)


def push_index(registry: Registry, repo: str, tag: str | None, index, images: list[BuiltImage],
               auth=None) -> str:
    """Push every image (by digest), the index's attestation manifests, then the index itself; `index`
    is what imagebuilder.build_index returns. Returns the index digest."""
    for image in [*images, *getattr(index, "attestations", [])]:
        push(registry, repo, None, image, auth)
    body, digest, media_type = index
    return registry.put_manifest(repo, tag or digest, body, media_type, auth)
