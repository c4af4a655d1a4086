"""HTTP to a Docker Engine API, standard library only: over a unix socket, TCP (with TLS when the context has
certificates), or `ssh -- HOST docker system dial-stdio` as the docker CLI does. Plain requests keep one
connection per thread (the TUI's pollers each have their own); streams (logs, events, pulls) and hijacked
sessions (exec, attach) get one of their own, which their reader closes."""

from __future__ import annotations

import http.client
import json
import os
import shlex
import socket
import subprocess
import threading
import urllib.parse
import weakref
from collections.abc import Iterator

from tuiker.base.errors import ConflictError, InvalidArgument, NotFoundError, TuikerError

API_VERSION = "1.41"  # what docker 20.10 and podman 4 speak; raised to the server's (up to 1.44) once known
MAX_API_VERSION = (1, 44)


class Tls:
    """A context's client certificates (docker's ca.pem, cert.pem, key.pem)."""

    def __init__(self, ca: str | None, cert: str | None, key: str | None, verify: bool = True) -> None:
        self.ca, self.cert, self.key, self.verify = ca, cert, key, verify

    def wrap(self, sock: socket.socket, hostname: str) -> socket.socket:
        import ssl

        ctx = ssl.create_default_context(cafile=self.ca)
        if not self.verify:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        if self.cert:
            ctx.load_cert_chain(self.cert, self.key)
        return ctx.wrap_socket(sock, server_hostname=hostname)


class SshSocket(socket.socket):
    """One end of a socket pair whose other end is `ssh ... docker system dial-stdio`'s stdin and stdout; closing
    it ends (and reaps) the ssh process."""

    def __init__(self, fileno: int, proc: subprocess.Popen, stderr) -> None:
        super().__init__(fileno=fileno)
        self.proc = proc
        self.stderr = stderr  # a temporary file: what ssh said, for the error when it gave up
        self.said = b""  # its content once closed

    def why(self) -> str | None:
        """ssh's own last words once it has exited (bad key, unknown host, no docker over there), else None."""
        try:
            code = self.proc.wait(2)
        except subprocess.TimeoutExpired:
            return None
        lines = [line for line in self._said().decode(errors="replace").splitlines() if line.strip()]
        return f"ssh exited with status {code}" + (f": {lines[-1].strip()}" if lines else "")

    def close(self) -> None:
        super().close()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.said = self._said()
        self.stderr.close()

    def _said(self) -> bytes:
        if self.stderr.closed:
            return self.said
        self.stderr.seek(0)
        return self.stderr.read()


def parse_host(host: str) -> tuple[str, str]:
    """`unix:///path`, `tcp://HOST:PORT`, `ssh://[USER@]HOST[:PORT]` (or a bare /path) -> (scheme, address).
    A clear one-line error for anything else."""
    if host.startswith("/"):
        return "unix", host
    scheme, sep, rest = host.partition("://")
    if not sep or scheme not in ("unix", "tcp", "ssh", "http", "https") or not rest:
        raise InvalidArgument(f"invalid host {host!r}: use unix:///path, tcp://HOST:PORT or ssh://[USER@]HOST[:PORT]")
    if scheme == "unix":
        return "unix", rest
    if scheme == "ssh":
        return "ssh", rest.rstrip("/")
    netloc = urllib.parse.urlsplit(f"//{rest}").netloc
    return ("tcp" if scheme in ("tcp", "http") else "https"), netloc


class Client:
    """The engine API at `host` (docker's -H syntax)."""

    def __init__(self, host: str, tls: Tls | None = None, timeout: float = 60) -> None:
        self.host = host
        self.scheme, self.address = parse_host(host)
        self.tls = tls
        self.timeout = timeout
        self.version = API_VERSION
        self._local = threading.local()
        self._open: weakref.WeakSet = weakref.WeakSet()  # every connection and stream, for close()

    # -- connections ----------------------------------------------------------------------------------

    def open_socket(self, timeout: float | None = None) -> socket.socket:
        """A new connection to the engine (for ssh: a new `docker system dial-stdio` on the far side)."""
        if self.scheme == "unix":
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(timeout)
            try:
                sock.connect(self.address)
            except OSError as e:
                sock.close()
                raise TuikerError(f"Cannot connect to the Docker daemon at {self.host}: {e.strerror or e}") from None
            return sock
        if self.scheme == "ssh":
            return self._ssh_socket(timeout)
        hostname, _, port = self.address.rpartition(":")
        if not hostname:
            hostname, port = port, "2376" if self.tls or self.scheme == "https" else "2375"
        try:
            sock = socket.create_connection((hostname.strip("[]"), int(port)), timeout=timeout or self.timeout)
        except (OSError, ValueError) as e:
            raise TuikerError(f"Cannot connect to the Docker daemon at {self.host}: {e}") from None
        sock.settimeout(timeout)
        if self.tls or self.scheme == "https":
            sock = (self.tls or Tls(None, None, None)).wrap(sock, hostname)
        return sock

    def _ssh_socket(self, timeout: float | None) -> socket.socket:
        """As the docker CLI: `ssh [-l USER] [-p PORT] -- HOST docker system dial-stdio`. TUIKER_SSH_COMMAND
        replaces `ssh` (with options: `ssh -i KEY -F CONFIG`), as GIT_SSH_COMMAND does for git."""
        user, _, hostport = self.address.rpartition("@")
        hostname, _, port = hostport.partition(":")
        argv = shlex.split(os.environ.get("TUIKER_SSH_COMMAND") or "ssh")
        argv += ["-o", "ConnectTimeout=30", "-T"] + (["-l", user] if user else []) + (["-p", port] if port else [])
        argv += ["--", hostname, "docker", "system", "dial-stdio"]
        import tempfile

        ours, theirs = socket.socketpair()
        stderr = tempfile.TemporaryFile()
        try:
            proc = subprocess.Popen(argv, stdin=theirs, stdout=theirs, stderr=stderr, start_new_session=True)
        except OSError as e:
            ours.close()
            stderr.close()
            raise TuikerError(f"Cannot connect to the Docker daemon at {self.host}: {argv[0]}: {e.strerror}") from None
        finally:
            theirs.close()
        sock = SshSocket(ours.detach(), proc, stderr)
        sock.settimeout(timeout)
        return sock

    def _connection(self, timeout: float | None) -> http.client.HTTPConnection:
        conn = http.client.HTTPConnection("docker", timeout=timeout)  # docker's clients send Host: docker too
        conn.sock = self.open_socket(timeout)
        self._open.add(conn)
        return conn

    def path(self, path: str, query: dict | None = None) -> str:
        items = {k: (json.dumps(v) if isinstance(v, dict) else ("1" if v is True else "0" if v is False else v))
                 for k, v in (query or {}).items() if v is not None}
        return f"/v{self.version}{path}" + (f"?{urllib.parse.urlencode(items)}" if items else "")

    # -- requests -------------------------------------------------------------------------------------

    def request(self, method: str, path: str, query: dict | None = None, body: object = None,
                headers: dict | None = None, versioned: bool = True) -> tuple[int, bytes]:
        """One request on this thread's kept-alive connection (a new one when the old was closed)."""
        url = self.path(path, query) if versioned else path
        data, head = _body(body, headers)
        for attempt in (0, 1):
            conn = getattr(self._local, "conn", None)
            fresh = conn is None
            if fresh:
                conn = self._local.conn = self._connection(self.timeout)
            sock = conn.sock  # http.client forgets it when the far end hangs up
            try:
                conn.request(method, url, body=data, headers=head)
                resp = conn.getresponse()
                payload = resp.read()
            except (http.client.HTTPException, OSError) as e:
                why = sock.why() if isinstance(sock, SshSocket) else None
                conn.close()
                self._local.conn = None
                if fresh or attempt:  # a kept connection the server closed meanwhile: once more on a new one
                    raise TuikerError(f"Cannot connect to the Docker daemon at {self.host}: {why}" if why
                                      else f"{self.host}: {method} {path}: {e}") from None
                continue
            if resp.will_close:
                conn.close()
                self._local.conn = None
            return resp.status, payload
        raise AssertionError("unreachable")

    def call(self, method: str, path: str, query: dict | None = None, body: object = None,
             headers: dict | None = None) -> object:
        """The JSON answer (None for an empty one); docker's errors as the engine's error classes."""
        status, payload = self.request(method, path, query, body, headers)
        if status >= 400:
            raise api_error(status, payload)
        return json.loads(payload) if payload.strip() else None

    def stream(self, method: str, path: str, query: dict | None = None, body: object = None,
               headers: dict | None = None) -> Stream:
        """A response read as it comes, on a connection of its own."""
        conn = self._connection(None)
        data, head = _body(body, headers)
        try:
            conn.request(method, self.path(path, query), body=data, headers=head)
            resp = conn.getresponse()
        except (http.client.HTTPException, OSError) as e:
            conn.close()
            raise TuikerError(f"{self.host}: {method} {path}: {e}") from None
        if resp.status >= 400:
            payload = resp.read()
            conn.close()
            raise api_error(resp.status, payload)
        stream = Stream(conn, resp)
        self._open.add(stream)
        return stream

    def hijack(self, path: str, query: dict | None = None, body: object = None) -> tuple[socket.socket, bytes]:
        """POST with `Upgrade: tcp` (exec start, attach): the raw connection once the engine answered 101 (or
        200, as older engines do), and the first bytes of the stream, read with the answer's head."""
        sock = self.open_socket(None)
        data, head = _body(body, None)
        head.update({"Host": "docker", "Connection": "Upgrade", "Upgrade": "tcp", "Content-Length": str(len(data))})
        lines = [f"POST {self.path(path, query)} HTTP/1.1", *(f"{k}: {v}" for k, v in head.items()), "", ""]
        try:
            sock.sendall("\r\n".join(lines).encode() + data)
            status, headers, rest = _read_head(sock)
        except OSError as e:
            sock.close()
            raise TuikerError(f"{self.host}: POST {path}: {e}") from None
        if status >= 400:
            length = int(headers.get("content-length", "0") or 0)
            while len(rest) < length:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                rest += chunk
            sock.close()
            raise api_error(status, rest)
        return sock, rest

    def close(self) -> None:
        """Every connection this client opened (those of other threads and streams too): for ssh, its processes
        end with them. Hijacked sessions are their owners' to close."""
        for item in list(self._open):
            if isinstance(item, Stream):
                item.close()
        for item in list(self._open):
            if isinstance(item, http.client.HTTPConnection):
                item.close()
        self._local.conn = None


class Stream:
    """A streamed answer: JSON lines, raw chunks, or docker's multiplexed frames. `close()` (from any thread)
    ends it; a read blocked in another thread then returns the end, and that thread releases the connection."""

    ERRORS = (http.client.HTTPException, OSError, ValueError, AttributeError)  # AttributeError: closed under us

    def __init__(self, conn: http.client.HTTPConnection, resp: http.client.HTTPResponse) -> None:
        self.conn = conn
        self.resp = resp
        self.headers = resp.headers
        self._reading = False

    def json_lines(self) -> Iterator[dict]:
        self._reading = True
        try:
            while True:
                try:
                    line = self.resp.readline()
                except self.ERRORS:
                    return
                if not line:
                    return
                if line.strip():
                    yield json.loads(line)
        finally:
            self._release()

    def read(self, size: int) -> bytes:
        """Exactly `size` bytes, or fewer at the end."""
        try:
            return self.resp.read(size)
        except self.ERRORS:
            return b""

    def frames(self, tty: bool = False) -> Iterator[tuple[str, bytes]]:
        """("stdout" | "stderr", data): docker's 8-byte headers, or raw stdout for a TTY's stream."""
        self._reading = True
        try:
            while True:
                if tty:
                    try:
                        data = self.resp.read1(65536)
                    except self.ERRORS:
                        return
                    if not data:
                        return
                    yield "stdout", data
                    continue
                head = self.read(8)
                if len(head) < 8:
                    return
                yield ("stderr" if head[0] == 2 else "stdout"), self.read(int.from_bytes(head[4:8], "big"))
        finally:
            self._release()

    def _release(self) -> None:
        self._reading = False
        self.conn.close()

    def close(self) -> None:
        sock = self.conn.sock
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if not self._reading:
            self.conn.close()


def _read_head(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(4096)
        if not chunk:
            raise OSError("the engine closed the connection")
        buf += chunk
    head, _, rest = buf.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return status, headers, rest


def _body(body: object, headers: dict | None) -> tuple[bytes, dict]:
    head = dict(headers or {})
    if body is None:
        return b"", head
    if isinstance(body, bytes):
        head.setdefault("Content-Type", "application/octet-stream")
        return body, head
    head["Content-Type"] = "application/json"
    return json.dumps(body).encode(), head


def api_error(status: int, payload: bytes) -> TuikerError:
    """docker's error body ({"message": ...}) as the engine's error class for its status."""
    try:
        message = json.loads(payload).get("message") or ""
    except (ValueError, AttributeError):
        message = payload.decode(errors="replace").strip()
    message = message or f"HTTP {status}"
    cls = {404: NotFoundError, 409: ConflictError, 400: InvalidArgument}.get(status, TuikerError)
    return cls(message)
