"""A stand-in for a registry's token server, with the real registry behind it.

distribution's own token auth needs a JWT signing setup, so instead this small HTTP server on 127.0.0.1
plays the auth part and forwards authorised requests, unchanged, to a real `Registry`:

- mode="bearer": /v2/... without a valid `Authorization: Bearer` gets 401 and
  `WWW-Authenticate: Bearer realm="<url>/token",service="tuiker-test",scope="repository:<repo>:pull"`
  (no scope for /v2/ itself). GET /token issues a random token, anonymously, or with users={...} only for
  valid Basic credentials. A token covers the scopes it was issued for (and /v2/), as on Docker Hub; with
  grant=("pull",) only those actions of what was asked (the intersection a token server grants a user who
  may read a repository but not write it).
- mode="basic": /v2/... wants Basic credentials of one of `users` directly (`WWW-Authenticate: Basic`).
- refresh_tokens={...}: POST /token also takes OAuth2's refresh-token grant (grant_type=refresh_token with one
  of these tokens, as docker sends an identity token); without them a POST is refused (405), as before.

Every request is recorded in `seen` so tests can assert the auth flow a client went through.
"""

from __future__ import annotations

import base64
import http.client
import json
import re
import secrets
import threading
from dataclasses import dataclass, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from registry import Registry

SERVICE = "tuiker-test"
# Headers that belong to one hop; http.server and http.client manage their own.
_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "proxy-authorization",
        "proxy-authenticate", "server", "date"}
_FORWARD_REQUEST = ("Accept", "Range", "Content-Type", "Content-Length", "Content-Range", "If-None-Match",
                    "User-Agent", "Host")
_REPO_PATH = re.compile(r"^/v2/(.+?)/(manifests|blobs|tags)(/.*)?$")


@dataclass(frozen=True)
class Seen:
    method: str
    path: str              # without the query string
    had_auth: bool         # an Authorization header of any kind was sent
    auth_kind: str | None  # "Bearer", "Basic" or None
    scope: str | None      # for /v2/ paths the scope it needs; for /token the scope asked for
    status: int


def scope_for(method: str, path: str) -> str | None:
    m = _REPO_PATH.match(path)
    if not m:
        return None
    action = "pull" if method in ("GET", "HEAD") else "pull,push"
    return f"repository:{m.group(1)}:{action}"


def _covers(granted: set[str], needed: str | None) -> bool:
    if needed is None:
        return True
    _, repo, actions = needed.split(":", 2)
    have = set()
    for scope in granted:
        parts = scope.split(":")
        if len(parts) == 3 and parts[0] == "repository" and parts[1] == repo:
            have.update(parts[2].split(","))
    return set(actions.split(",")) <= have


class TokenProxy:
    def __init__(self, registry: Registry, users: dict[str, str] | None = None, mode: str = "bearer",
                 service: str = SERVICE, expires_in: int = 300, grant: tuple[str, ...] | None = None,
                 refresh_tokens: set[str] | None = None):
        if mode not in ("bearer", "basic"):
            raise ValueError(f"mode must be 'bearer' or 'basic', not {mode!r}")
        if mode == "basic" and not users:
            raise ValueError("basic mode needs users")
        self.registry = registry
        self.users = dict(users or {})
        self.mode = mode
        self.service = service
        self.expires_in = expires_in
        self.grant = grant
        self.refresh_tokens = set(refresh_tokens or ())
        self.tokens: dict[str, set[str]] = {}  # token -> scopes granted
        self.seen: list[Seen] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def host(self) -> str:
        assert self._server is not None, "not started"
        return f"127.0.0.1:{self._server.server_address[1]}"

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    def start(self) -> TokenProxy:
        handler = type("Handler", (_Handler,), {"proxy": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="tokenproxy", daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(10)
            self._server = None

    def __enter__(self) -> TokenProxy:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()

    def expire_tokens(self) -> None:
        """Forget every issued token, so clients must fetch new ones (token expiry mid-pull)."""
        with self._lock:
            self.tokens.clear()

    def clear_seen(self) -> None:
        with self._lock:
            self.seen.clear()

    def _record(self, seen: Seen) -> None:
        with self._lock:
            self.seen.append(seen)

    def _basic_ok(self, header: str | None) -> bool:
        if not header or not header.startswith("Basic "):
            return False
        try:
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        except ValueError:
            return False
        return user in self.users and secrets.compare_digest(self.users[user], password)


class _Handler(BaseHTTPRequestHandler):
    proxy: TokenProxy
    protocol_version = "HTTP/1.1"  # keep-alive, as registries do; every response has a length

    def log_message(self, format, *args) -> None:
        pass

    def do_GET(self) -> None:
        self._dispatch()

    do_HEAD = do_PUT = do_POST = do_PATCH = do_DELETE = do_GET

    def _dispatch(self) -> None:
        path = urlsplit(self.path).path
        try:
            if path == "/token" and self.proxy.mode == "bearer":
                self._token()
            elif path == "/v2" or path.startswith("/v2/"):
                self._v2(path)
            else:
                seen = Seen(self.command, path, self._had_auth(), self._auth_kind(), None, 404)
                self._send(404, b"not found\n", record=seen)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _had_auth(self) -> bool:
        return "Authorization" in self.headers

    def _auth_kind(self) -> str | None:
        header = self.headers.get("Authorization")
        return header.split(" ", 1)[0] if header else None

    def _send(self, status: int, body: bytes, headers: dict | None = None,
              record: Seen | None = None) -> None:
        if record is not None:
            self.proxy._record(record)
        # Drain an unread request body so the connection can be reused.
        length = int(self.headers.get("Content-Length") or 0)
        if length and not getattr(self, "_body_read", False):
            self.rfile.read(length)
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _token(self) -> None:
        p = self.proxy
        query = parse_qs(urlsplit(self.path).query)
        scopes = set(query.get("scope", []))
        # A client may send several scopes space-separated in one parameter.
        scopes = {s for joined in scopes for s in joined.split()}
        scope_text = " ".join(sorted(scopes)) or None
        auth = self.headers.get("Authorization")
        seen = Seen(self.command, "/token", auth is not None, self._auth_kind(), scope_text, 200)
        if self.command == "POST" and p.refresh_tokens:
            self._refresh_grant(seen)
            return
        if self.command != "GET":
            # Clients that try the OAuth2 POST first fall back to GET on 404/405.
            self._send(405, b"", {"Allow": "GET"}, replace(seen, status=405))
            return
        if query.get("service", [p.service])[0] != p.service:
            self._send(400, b'{"errors":[{"code":"UNSUPPORTED","message":"unknown service"}]}\n',
                       {"Content-Type": "application/json"}, replace(seen, status=400))
            return
        if p.users and not p._basic_ok(auth):
            self._send(401, b'{"errors":[{"code":"UNAUTHORIZED","message":"bad credentials"}]}\n',
                       {"Content-Type": "application/json", "WWW-Authenticate": 'Basic realm="tuiker-test"'},
                       replace(seen, status=401))
            return
        token = secrets.token_urlsafe(24)
        if p.grant is not None:
            scopes = {f"{kind}:{name}:{','.join(a for a in actions.split(',') if a in p.grant)}"
                      for kind, name, actions in (s.split(":", 2) for s in scopes if s.count(":") >= 2)}
        with p._lock:
            p.tokens[token] = scopes
        body = json.dumps({"token": token, "access_token": token, "expires_in": p.expires_in,
                           "issued_at": "2026-01-01T00:00:00Z"}).encode()
        self._send(200, body, {"Content-Type": "application/json"}, seen)

    def _refresh_grant(self, seen: Seen) -> None:
        """OAuth2's refresh-token grant (a form body): an access token for the scopes asked for."""
        p = self.proxy
        length = int(self.headers.get("Content-Length") or 0)
        form = parse_qs(self.rfile.read(length).decode()) if length else {}
        self._body_read = True
        scopes = {s for joined in form.get("scope", []) for s in joined.split()}
        seen = replace(seen, auth_kind="refresh_token", scope=" ".join(sorted(scopes)) or None)
        if form.get("grant_type") != ["refresh_token"] or form.get("refresh_token", [""])[0] not in p.refresh_tokens:
            self._send(401, b'{"error":"invalid_grant"}\n', {"Content-Type": "application/json"},
                       replace(seen, status=401))
            return
        token = secrets.token_urlsafe(24)
        with p._lock:
            p.tokens[token] = scopes
        body = json.dumps({"access_token": token, "expires_in": p.expires_in, "scope": " ".join(sorted(scopes))})
        self._send(200, body.encode(), {"Content-Type": "application/json"}, seen)

    def _authorised(self, scope: str | None) -> bool:
        p = self.proxy
        header = self.headers.get("Authorization") or ""
        if p.mode == "basic":
            return p._basic_ok(header)
        if not header.startswith("Bearer "):
            return False
        with p._lock:
            granted = p.tokens.get(header[7:].strip())
        return granted is not None and _covers(granted, scope)

    def _v2(self, path: str) -> None:
        p = self.proxy
        scope = scope_for(self.command, path)
        if not self._authorised(scope):
            if p.mode == "basic":
                challenge = 'Basic realm="x"'
            else:
                challenge = f'Bearer realm="{p.url}/token",service="{p.service}"'
                if scope:
                    challenge += f',scope="{scope}"'
            body = b'{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}\n'
            self._send(401, body, {"Content-Type": "application/json", "WWW-Authenticate": challenge,
                                   "Docker-Distribution-Api-Version": "registry/2.0"},
                       Seen(self.command, path, self._had_auth(), self._auth_kind(), scope, 401))
            return
        self._forward(path, scope)

    def _forward(self, path: str, scope: str | None) -> None:
        p = self.proxy
        headers = {k: self.headers[k] for k in _FORWARD_REQUEST if k in self.headers}
        if p.registry.auth is not None:
            # A registry with its own htpasswd behind the proxy: authenticate as its first user.
            headers["Authorization"] = "Basic " + base64.b64encode(
                f"{p.registry.auth.username}:{p.registry.auth.password}".encode()).decode()
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        self._body_read = True
        upstream = http.client.HTTPConnection("127.0.0.1", p.registry.port, timeout=60)
        try:
            try:
                upstream.request(self.command, self.path, body=body, headers=headers)
                resp = upstream.getresponse()
            except OSError:
                # The registry is down (stopped mid-pull): answer like a proxy would.
                self._send(503, b"registry unavailable\n", {"Content-Type": "text/plain"},
                           Seen(self.command, path, True, self._auth_kind(), scope, 503))
                return
            p._record(Seen(self.command, path, True, self._auth_kind(), scope, resp.status))
            self.send_response(resp.status)
            for k, v in resp.getheaders():
                if k.lower() not in _HOP:
                    self.send_header(k, v)
            has_length = resp.getheader("Content-Length") is not None
            if not has_length and self.command != "HEAD":
                self.send_header("Connection", "close")
                self.close_connection = True
            self.end_headers()
            if self.command == "HEAD":
                return
            try:
                while chunk := resp.read(64 * 1024):
                    self.wfile.write(chunk)
            except (OSError, http.client.HTTPException):
                # Upstream died mid-body: cut the client off too rather than pretend the body ended.
                self.close_connection = True
        finally:
            upstream.close()
