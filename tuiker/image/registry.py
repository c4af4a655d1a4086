"""A client for the OCI distribution API: manifests, blobs, and the auth dance in front of them.

Flow (distribution's token.md): a request answered 401 carries `WWW-Authenticate`. For `Bearer` we ask
its realm for a token for our scope (anonymous, or with Basic credentials if the user logged in) and
retry with `Authorization: Bearer`; for `Basic` we retry with the credentials. Tokens are cached per
scope until they expire. Plain HTTP is used only for loopback and for registries the user lists as
insecure; those are tried over HTTPS first like docker does, except loopback, which is plain HTTP.

A registry is not trusted with our memory: every answer is streamed, documents (manifests, configs, tokens)
are read through read_document, which stops at manifest.MAX_DOCUMENT whatever Content-Length says, and
the bodies of answers we do not use (401, 5xx, 404) are never read past a few KiB.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import BinaryIO
from urllib.parse import urljoin, urlsplit

import requests
import urllib3

from tuiker.base import config
from tuiker.base.errors import NotFoundError, RegistryError, TuikerError
from tuiker.base.fsutil import check_digest, sha256_digest, verify
from tuiker.image import credentials, manifest

USER_AGENT = "tuiker/0.1"
RETRIES = 4
BACKOFF_SECONDS = 0.5
TIMEOUT = (10, 60)
CHUNK = 64 * 1024
# An error answer's body is read up to this, so its connection can serve the next request; past it, closed.
DISCARD_LIMIT = 64 * 1024
# A challenge parameter: key="quoted value" or key=token.
_PARAM_RE = re.compile(r'(\w+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))')


@dataclass
class Fetched:
    body: bytes
    media_type: str
    digest: str


def read_document(resp: requests.Response, what: str, limit: int = manifest.MAX_DOCUMENT,
                  decode: bool = True) -> bytes:
    """The whole body of `resp`, refused once it passes `limit` bytes: counted as the bytes arrive, so
    neither a Content-Length that lies nor an endless chunked body gets more (a Content-Length above the
    limit is refused before any read). `decode=False` keeps the bytes as sent, whatever Content-Encoding
    says (a blob's digest covers them). The response is closed either way."""
    try:
        length = resp.headers.get("Content-Length", "")
        if length.isdigit() and int(length) > limit:
            raise RegistryError(f"{what} is larger than {_size(limit)} ({length} bytes announced)")
        data = bytearray()
        chunks = resp.iter_content(CHUNK) if decode else resp.raw.stream(CHUNK, decode_content=False)
        for chunk in chunks:
            data += chunk
            if len(data) > limit:
                raise RegistryError(f"{what} is larger than {_size(limit)}")
        return bytes(data)
    except (requests.RequestException, urllib3.exceptions.HTTPError, OSError) as e:
        raise RegistryError(f"{what}: the answer broke off: {_reason(e)}") from e
    finally:
        resp.close()


def discard(resp: requests.Response) -> None:
    """Drop an answer whose body we do not use: read if small (its connection goes back to the pool for
    the next request: the usual 401 before a token), else closed unread."""
    try:
        read_document(resp, "", DISCARD_LIMIT)
    except RegistryError:
        pass


def _size(limit: int) -> str:
    return f"{limit >> 20} MiB" if limit >= 1 << 20 else f"{limit} bytes"


def parse_challenge(header: str) -> tuple[str, dict[str, str]]:
    scheme, _, rest = header.strip().partition(" ")
    params = {m.group(1).lower(): (m.group(2) if m.group(2) is not None else m.group(3))
              for m in _PARAM_RE.finditer(rest)}
    return scheme.lower(), params


class RegistryClient:
    """One registry host. Thread-safe: the pull downloads several layers at once through it."""

    def __init__(self, host: str, login: tuple[str, str] | None = None) -> None:
        self.host = host
        self.login = login if login is not None else credentials.lookup(host)
        self.session = requests.Session()
        self.session.headers["User-Agent"] = USER_AGENT
        # Several layer downloads share the pool; the default of 10 per host is enough, but be explicit.
        adapter = requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=16)
        self.session.mount("https://", adapter)
        self.session.mount("http://", adapter)
        self._scheme = "http" if config.is_loopback(host) else "https"
        self._fallback_http = config.is_insecure(host) and self._scheme == "https"
        self._verify_tls = not config.is_insecure(host)
        self._tokens: dict[str, tuple[str, float]] = {}
        self._challenge: tuple[str, dict[str, str]] | None = None
        self._lock = threading.Lock()

    # -- transport ---------------------------------------------------------------------------------

    def _url(self, path: str) -> str:
        return f"{self._scheme}://{self.host}{path}"

    def _auth_header(self, scope: str | None) -> dict[str, str]:
        if self._challenge is None:
            return {}
        scheme, params = self._challenge
        if scheme == "basic":
            if self.login is None:
                return {}
            return {"Authorization": requests.auth._basic_auth_str(*self.login)}
        if scheme == "bearer":
            return {"Authorization": f"Bearer {self._token(params, scope)}"}
        return {}

    def _token(self, params: dict[str, str], scope: str | None) -> str:
        key = scope or ""
        with self._lock:
            cached = self._tokens.get(key)
            if cached and cached[1] > time.monotonic():
                return cached[0]
        realm = params.get("realm")
        if not realm:
            raise RegistryError(f"{self.host}: Bearer challenge without a realm")
        query: dict[str, str | list[str]] = {"service": params["service"]} if params.get("service") else {}
        if scope:
            # Several scopes (a blob mount also reads its source repository) are repeated `scope` parameters.
            query["scope"] = scope.split()
        auth = self.login if self.login else None
        try:
            if auth and auth[0] == credentials.IDENTITY_TOKEN_USER:
                # An identity token: OAuth2's refresh-token grant, as docker sends it (distribution's token spec).
                form = {"grant_type": "refresh_token", "refresh_token": auth[1], "client_id": "docker",
                        **({"service": params["service"]} if params.get("service") else {}),
                        **({"scope": scope} if scope else {})}
                resp = self.session.post(realm, data=form, timeout=TIMEOUT, stream=True)
            else:
                resp = self.session.get(realm, params=query, auth=auth, timeout=TIMEOUT, stream=True)
        except requests.RequestException as e:
            raise RegistryError(f"{self.host}: cannot reach token server {realm}: {_reason(e)}") from e
        if resp.status_code != 200:
            discard(resp)
            if resp.status_code in (401, 403):
                raise RegistryError(f"{self.host}: authentication required or denied for"
                                    f" {scope or 'the registry'} (try 'tuiker login {self.host}')")
            raise RegistryError(f"{self.host}: token server answered {resp.status_code}")
        data = manifest.load_json(read_document(resp, f"{self.host}: token server's answer"),
                                  f"{self.host}: token server's answer")
        token = data.get("token") or data.get("access_token")
        if not token or not isinstance(token, str):
            raise RegistryError(f"{self.host}: token server gave no token")
        # The spec's default lifetime is 60 s; renew a little early.
        try:
            expires = float(data.get("expires_in") or 60)
        except (TypeError, ValueError):
            expires = 60
        with self._lock:
            self._tokens[key] = (token, time.monotonic() + max(expires - 10, 1))
        return token

    def request(self, method: str, path: str, scope: str | None = None, headers: dict | None = None,
                retry: bool = True, data: bytes | None = None) -> requests.Response:
        """Send with auth; retry with back-off on connection errors and 5xx; re-auth once on 401.
        `path` is under this registry, or a full URL it gave (an upload's Location: our credentials go
        with it only when it is on this host). `scope` may hold several scopes, space-separated.
        The answer is streamed: its body is the caller's to read (read_document) or drop (discard)."""
        attempts = RETRIES if retry else 1
        url = path if "://" in path else None
        authed_once = False
        last_error = ""
        attempt = 0
        while attempt < attempts:
            merged = dict(headers or {})
            if url is None or urlsplit(url).netloc == self.host:
                merged.update(self._auth_header(scope))
            try:
                resp = self.session.request(method, url or self._url(path), headers=merged, stream=True,
                                            timeout=TIMEOUT, verify=self._verify_tls, data=data)
            except requests.exceptions.SSLError as e:
                if self._fallback_http:
                    self._scheme, self._fallback_http = "http", False
                    continue
                raise RegistryError(f"{self.host}: TLS error: {_reason(e)}") from e
            except requests.RequestException as e:
                last_error = _reason(e)
                attempt += 1
                if attempt < attempts:
                    time.sleep(BACKOFF_SECONDS * 2 ** (attempt - 1))
                continue
            if resp.status_code == 401 and not authed_once:
                authed_once = True
                challenge = resp.headers.get("WWW-Authenticate", "")
                discard(resp)
                if not challenge:
                    raise RegistryError(f"{self.host}: unauthorized and no WWW-Authenticate challenge")
                self._challenge = parse_challenge(challenge)
                with self._lock:
                    # A token the registry refuses (expired early, revoked) must not be offered again.
                    self._tokens.pop(scope or "", None)
                if self._challenge[0] == "basic" and self.login is None:
                    raise RegistryError(f"{self.host}: authentication required (try 'tuiker login {self.host}')")
                continue
            if resp.status_code >= 500 or resp.status_code == 429:
                last_error = f"HTTP {resp.status_code}"
                discard(resp)
                attempt += 1
                if attempt < attempts:
                    retry_after = resp.headers.get("Retry-After", "")
                    delay = float(retry_after) if retry_after.isdigit() else BACKOFF_SECONDS * 2 ** (attempt - 1)
                    time.sleep(min(delay, 10))
                continue
            return resp
        raise RegistryError(f"{self.host}: registry unreachable after {attempts} attempts: {last_error}")

    # -- API ---------------------------------------------------------------------------------------

    def ping(self) -> None:
        resp = self.request("GET", "/v2/")
        discard(resp)
        if resp.status_code in (401, 403):
            raise RegistryError(f"{self.host}: login failed: {resp.status_code} {resp.reason}")
        if resp.status_code != 200:
            raise RegistryError(f"{self.host}: /v2/ answered {resp.status_code}: not a registry")

    def get_manifest(self, repository: str, reference: str) -> Fetched:
        scope = f"repository:{repository}:pull"
        resp = self.request("GET", f"/v2/{repository}/manifests/{reference}", scope,
                            headers={"Accept": manifest.ACCEPT})
        what = f"{self.host}/{repository}:{reference}" if not reference.startswith("sha256:") \
            else f"{self.host}/{repository}@{reference}"
        if resp.status_code != 200:
            discard(resp)
        if resp.status_code == 404:
            raise NotFoundError(f"manifest for {what} not found: manifest unknown")
        if resp.status_code in (401, 403):
            raise RegistryError(f"pull access denied for {what}: repository does not exist or may require"
                                " 'tuiker login'")
        if resp.status_code != 200:
            raise RegistryError(f"{what}: registry answered {resp.status_code} for the manifest")
        body = read_document(resp, f"manifest of {what}")
        document = manifest.load_json(body, f"manifest of {what}")
        media_type = manifest.media_type_of(document, resp.headers.get("Content-Type"))
        digest = sha256_digest(body)
        if reference.startswith("sha256:"):
            verify(body, reference, f"manifest of {what}")
        header_digest = resp.headers.get("Docker-Content-Digest")
        if header_digest and header_digest.startswith("sha256:") and header_digest != digest:
            raise RegistryError(f"{what}: manifest digest mismatch: registry says {header_digest},"
                                f" content is {digest}")
        return Fetched(body, media_type, digest)

    def get_blob_bytes(self, repository: str, digest: str) -> bytes:
        """A small blob (an image config), verified against its digest."""
        data = read_document(self.open_blob(repository, digest), f"blob {digest[:19]}", decode=False)
        verify(data, digest, f"blob {digest[:19]}")
        return data

    def open_blob(self, repository: str, digest: str, offset: int = 0) -> requests.Response:
        """A streaming response for a blob, from `offset` on (206 required when offset > 0)."""
        check_digest(digest)
        headers = {"Range": f"bytes={offset}-"} if offset else {}
        resp = self.request("GET", f"/v2/{repository}/blobs/{digest}", f"repository:{repository}:pull",
                            headers=headers)
        if resp.status_code not in (200, 206) or (offset and resp.status_code != 206):
            discard(resp)
        if resp.status_code == 404:
            raise NotFoundError(f"blob {digest} not found in {self.host}/{repository}")
        if offset and resp.status_code != 206:
            raise RegistryError(f"{self.host}: registry cannot resume blob {digest[:19]} (HTTP {resp.status_code})")
        if resp.status_code not in (200, 206):
            raise RegistryError(f"{self.host}: blob {digest[:19]}: HTTP {resp.status_code}")
        return resp

    # -- push --------------------------------------------------------------------------------------

    def has_blob(self, repository: str, digest: str, scope: str) -> bool:
        """HEAD: whether the repository holds the blob already (then it need not be sent)."""
        resp = self.request("HEAD", f"/v2/{repository}/blobs/{check_digest(digest)}", scope)
        discard(resp)
        if resp.status_code in (200, 404):
            return resp.status_code == 200
        raise RegistryError(answer_error(resp))

    def mount_blob(self, repository: str, digest: str, source: str, scope: str) -> str | None:
        """Ask for the blob to be mounted from `source`, another repository of this registry: None when it
        was (201), else the upload session the registry opened instead (202), to send the blob through."""
        resp = self.request("POST", f"/v2/{repository}/blobs/uploads/?mount={check_digest(digest)}&from={source}",
                            scope)
        if resp.status_code == 201:
            discard(resp)
            return None
        return self._upload_location(resp)

    def start_upload(self, repository: str, scope: str) -> str:
        """A new upload session: its URL."""
        return self._upload_location(self.request("POST", f"/v2/{repository}/blobs/uploads/", scope))

    def upload_blob(self, location: str, digest: str, source: BinaryIO, size: int, scope: str,
                    chunk_size: int, on_bytes: Callable[[int], None]) -> None:
        """Send a blob through the upload session at `location`: one PUT with the body when it fits in
        `chunk_size`, else PATCH chunks (Content-Range, each to the Location the last one gave) and a PUT
        that closes the session. Upload requests are not retried: a repeated chunk would be refused (416)."""
        sent = 0
        if size > chunk_size:
            while sent < size:
                data = source.read(min(chunk_size, size - sent))
                if not data:
                    raise RegistryError(f"blob {digest[:19]} ended after {sent} of {size} bytes")
                resp = self.request("PATCH", location, scope, retry=False, data=data, headers={
                    "Content-Type": "application/octet-stream", "Content-Length": str(len(data)),
                    "Content-Range": f"{sent}-{sent + len(data) - 1}"})
                location = self._upload_location(resp)
                sent += len(data)
                on_bytes(sent)
            data = b""
        else:
            data = source.read(size)
        separator = "&" if "?" in location else "?"
        resp = self.request("PUT", f"{location}{separator}digest={digest}", scope, retry=False, data=data,
                            headers={"Content-Type": "application/octet-stream", "Content-Length": str(len(data))})
        if resp.status_code != 201:
            raise RegistryError(answer_error(resp))
        discard(resp)
        stored = resp.headers.get("Docker-Content-Digest")
        if stored and stored != digest:
            raise RegistryError(f"blob {digest[:19]}: registry stored {stored}")
        if data:  # sent in one PUT (chunks were counted as they went)
            on_bytes(size)

    def _upload_location(self, resp: requests.Response) -> str:
        """The absolute URL of the upload session a 202 answer points to."""
        location = resp.headers.get("Location")
        if resp.status_code != 202:
            raise RegistryError(answer_error(resp))
        discard(resp)
        if not location:
            raise RegistryError(f"{self.host}: upload answer without a Location")
        return urljoin(resp.url, location)

    def put_manifest(self, repository: str, tag: str, body: bytes, media_type: str, scope: str) -> str:
        """PUT the manifest under `tag`; its digest, checked against what the registry says it stored."""
        resp = self.request("PUT", f"/v2/{repository}/manifests/{tag}", scope, data=body,
                            headers={"Content-Type": media_type})
        if resp.status_code not in (200, 201):
            raise RegistryError(answer_error(resp))
        discard(resp)
        digest = sha256_digest(body)
        stored = resp.headers.get("Docker-Content-Digest")
        if stored and stored != digest:
            raise RegistryError(f"{self.host}/{repository}:{tag}: registry stored manifest {stored},"
                                f" we sent {digest}")
        return digest


# docker's errcode messages, for answers without an error body (HEAD has none).
_STATUS_ERRORS = {401: "unauthorized: authentication required",
                  403: "denied: requested access to the resource is denied",
                  404: "name unknown: repository name not known to registry"}


def answer_error(resp: requests.Response) -> str:
    """What docker prints for a registry's error answer: the first of its `errors` as `code: message`
    (`denied: requested access to the resource is denied`), or a line naming the status. Reads the body
    (at most DISCARD_LIMIT)."""
    try:
        body = read_document(resp, "", DISCARD_LIMIT)
        errors = manifest.load_json(body, "").get("errors") if body else None
    except TuikerError:  # a body already read, or no JSON
        errors = None
    if isinstance(errors, list) and errors and isinstance(errors[0], dict):
        code = str(errors[0].get("code", "")).lower().replace("_", " ")
        message = str(errors[0].get("message", ""))
        if code or message:
            return f"{code}: {message}" if code and message else code or message
    return _STATUS_ERRORS.get(resp.status_code) or f"{resp.url}: HTTP {resp.status_code} {resp.reason}"


def _reason(error: Exception) -> str:
    """requests nests the real cause deep; the innermost message is what a user can act on."""
    cause: BaseException = error
    while cause.__cause__ is not None or (cause.args and isinstance(cause.args[0], BaseException)):
        cause = cause.__cause__ or cause.args[0]
    text = str(cause)
    if "Connection refused" in text:
        return "connection refused"
    if "Name or service not known" in text or "Temporary failure in name resolution" in text:
        return "name does not resolve"
    return text.split(": ", 1)[-1][:200] or type(cause).__name__
