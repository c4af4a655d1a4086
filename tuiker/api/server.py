"""The HTTP side of the Docker Engine API: a threaded server on a unix socket (or loopback TCP), docker's version
prefixes, the routing table, and the ways an answer goes out (JSON, a chunked stream, a hijacked connection).

Endpoint modules (containers.py, exec.py, images.py ...) each export `ROUTES`: (method, pattern, handler) rows.
A pattern's `{name}` matches one path segment and `{name:path}` several (image names hold slashes). A handler
is `handler(api, req)`; it returns what to answer (a JSON value: 200; `Status(code, value)`; None: 204) unless it
answered itself (`req.stream()`, `req.hijack()`). The engine's errors become docker's `{"message": ...}` bodies:
NotFoundError 404, ConflictError 409, InvalidArgument 400, ForbiddenError 403, the rest 500."""

from __future__ import annotations

import io
import json
import os
import re
import select
import socket
import socketserver
import sys
import threading
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, unquote, urlsplit

from tuiker import __version__
from tuiker.engine import ConflictError, Engine, ForbiddenError, InvalidArgument, NotFoundError, TuikerError, one_line

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

API_VERSION = "1.44"
MIN_API_VERSION = "1.24"
SERVER_HEADER = f"tuiker/{__version__} (linux)"


class ApiError(Exception):
    """An answer other than success: docker's status and its one-line message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class Status:
    """A handler's answer with a status other than 200 (201 Created, 304 Not Modified ...)."""

    def __init__(self, code: int, value: object = None) -> None:
        self.code = code
        self.value = value


class Api:
    """What every handler is given: the engine, and the server's own facts."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.lock = threading.Lock()  # for handlers that must not interleave (a name check then a create)


def _version_tuple(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split("."))


class Request:
    """One request as a handler sees it: the path's parameters, the query, the body, and the ways to answer."""

    def __init__(self, handler: _Handler, method: str, path: str, query: str, version: str | None) -> None:
        self._handler = handler
        self.method = method
        self.path = path
        self.version = version or API_VERSION
        self.params: dict[str, list[str]] = parse_qs(query, keep_blank_values=True)
        self.args: dict[str, str] = {}  # from the path pattern
        self.headers = handler.headers
        self.responded = False
        self._body: bytes | None = None
        self._reader: BodyReader | None = None

    # -- the query -------------------------------------------------------------------------------------------------
    def query(self, name: str, default: str | None = None) -> str | None:
        values = self.params.get(name)
        return values[-1] if values else default

    def query_all(self, name: str) -> list[str]:
        return self.params.get(name, [])

    def flag(self, name: str, default: bool = False) -> bool:
        """A boolean parameter as docker reads one: "1", "true", "True" are true; "", "0", "false" false."""
        value = self.query(name)
        if value is None:
            return default
        return value.strip().lower() not in ("", "0", "false", "no")

    def integer(self, name: str, default: int | None = None) -> int | None:
        value = self.query(name)
        if value in (None, ""):
            return default
        try:
            return int(value)
        except ValueError:
            raise ApiError(400, f"invalid value for {name}: {value!r}") from None

    def json_query(self, name: str, default: object = None) -> object:
        value = self.query(name)
        if not value:
            return default
        try:
            return json.loads(value)
        except ValueError as e:
            raise ApiError(400, f"invalid JSON in {name}: {e}") from None

    def filters(self) -> dict[str, list[str]]:
        """The `filters` parameter: {"key": ["v", ...]}, or the older {"key": {"v": true}} (docker takes both)."""
        raw = self.json_query("filters", {})
        if not isinstance(raw, dict):
            raise ApiError(400, "invalid filter: expected a JSON object")
        out: dict[str, list[str]] = {}
        for key, values in raw.items():
            if isinstance(values, dict):
                values = [v for v, on in values.items() if on]
            elif isinstance(values, str):
                values = [values]
            if not isinstance(values, list):
                raise ApiError(400, f"invalid filter {key!r}")
            out[key] = [str(v) for v in values]
        return out

    # -- the body --------------------------------------------------------------------------------------------------
    def body_stream(self) -> BodyReader:
        """The body as a file-like reader (Content-Length or chunked): for uploads read as they arrive. One
        reader per request: what a handler left unread is what the server drains after an error."""
        if self._reader is None:
            self._reader = BodyReader(self._handler.rfile, self.headers)
        return self._reader

    def body(self) -> bytes:
        if self._body is None:
            self._body = self.body_stream().read()
        return self._body

    def json(self, default: object = None) -> object:
        data = self.body()
        if not data.strip():
            return default
        try:
            return json.loads(data)
        except ValueError as e:
            raise ApiError(400, f"invalid JSON body: {e}") from None

    # -- answers ---------------------------------------------------------------------------------------------------
    def respond(self, status: int, body: bytes = b"", content_type: str = "application/json",
                headers: dict[str, str] | None = None) -> None:
        h = self._handler
        h.send_response(status)
        h.common_headers()
        if status != 204 and status != 304:
            h.send_header("Content-Type", content_type)
            h.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            h.send_header(key, value)
        h.end_headers()
        if body and self.method != "HEAD":
            h.wfile.write(body)
        self.responded = True

    def respond_json(self, value: object, status: int = 200) -> None:
        self.respond(status, (json.dumps(value) + "\n").encode())

    def stream(self, content_type: str = "application/json", status: int = 200) -> ChunkedWriter:
        """Start a streamed answer (progress, logs, stats, events): chunks go out as they are written."""
        h = self._handler
        h.send_response(status)
        h.common_headers()
        h.send_header("Content-Type", content_type)
        h.send_header("Transfer-Encoding", "chunked")
        h.end_headers()
        h.wfile.flush()
        self.responded = True
        return ChunkedWriter(h.wfile)

    def hijack(self, content_type: str) -> Hijacked:
        """Take over the connection (attach, exec start): `101 UPGRADED` when the client asked to upgrade, else
        200 with the raw stream after it; then both directions are ours until one side closes."""
        h = self._handler
        upgrade = "upgrade" in self.headers.get("Connection", "").lower()
        if upgrade:
            h.send_response(101, "UPGRADED")
            h.send_header("Connection", "Upgrade")
            h.send_header("Upgrade", "tcp")
        else:
            h.send_response(200)
        h.common_headers()
        h.send_header("Content-Type", content_type)
        h.end_headers()
        h.wfile.flush()
        h.close_connection = True
        self.responded = True
        return Hijacked(h.connection, h.rfile, h.wfile)

    def client_gone(self) -> bool:
        """The client closed its end (or the connection failed): for a stream that waits between writes (events,
        logs -f), which would otherwise learn it only at its next write. A client sends nothing more after its
        request, so anything readable on the socket is its end."""
        conn = self._handler.connection
        try:
            readable, _, failed = select.select([conn], [], [conn], 0)
            return bool(failed) or bool(readable) and conn.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
        except BlockingIOError:
            return False
        except (OSError, ValueError):
            return True

    def at_least(self, version: str) -> bool:
        """The client speaks API `version` or newer (a few shapes changed over the versions)."""
        return _version_tuple(self.version) >= _version_tuple(version)


class BodyReader(io.RawIOBase):
    """A request body, read as it arrives: `Content-Length` bytes, or chunked transfer encoding (the docker CLI
    sends build contexts and image loads chunked). A raw stream: io.BufferedReader can wrap it."""

    def __init__(self, rfile, headers) -> None:
        super().__init__()
        self._rfile = rfile
        self._chunked = "chunked" in headers.get("Transfer-Encoding", "").lower()
        self._left = int(headers.get("Content-Length") or 0) if not self._chunked else 0
        self._done = not self._chunked and self._left == 0

    def _next_chunk_size(self) -> int:
        line = self._rfile.readline(65537)
        if not line:
            return 0
        try:
            return int(line.split(b";")[0].strip() or b"0", 16)
        except ValueError:
            raise ApiError(400, "malformed chunked body") from None

    def read(self, size: int = -1) -> bytes:
        out = bytearray()
        while not self._done and (size < 0 or len(out) < size):
            if self._left == 0:
                if not self._chunked:
                    self._done = True
                    break
                self._left = self._next_chunk_size()
                if self._left == 0:
                    while self._rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    self._done = True
                    break
            want = self._left if size < 0 else min(self._left, size - len(out))
            data = self._rfile.read(want)
            if not data:
                raise ApiError(400, "the request body ended early")
            out += data
            self._left -= len(data)
            if self._left == 0 and self._chunked:
                self._rfile.readline(3)  # the CRLF after a chunk
        return bytes(out)

    def readinto(self, buffer) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def readable(self) -> bool:
        return True


class ChunkedWriter:
    """A streamed answer's body in chunked transfer encoding. `write` raises BrokenPipeError/ConnectionError
    when the client went away, which ends the handler's loop."""

    def __init__(self, wfile) -> None:
        self._wfile = wfile
        self.closed = False

    def write(self, data: bytes) -> None:
        if data:
            self._wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            self._wfile.flush()

    def write_json(self, value: object) -> None:
        self.write((json.dumps(value) + "\n").encode())

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            try:
                self._wfile.write(b"0\r\n\r\n")
                self._wfile.flush()
            except OSError:
                pass


class Hijacked:
    """A hijacked connection: `read()` gives the client's bytes (b"" at its end), `write()` sends ours,
    `close_write()` tells the client the output is over."""

    def __init__(self, sock: socket.socket, rfile, wfile) -> None:
        self.sock = sock
        self._rfile = rfile  # buffered: it may already hold the first input bytes sent after the headers
        self._wfile = wfile

    def read(self) -> bytes:
        try:
            return self._rfile.read1(65536)
        except (OSError, ValueError):
            return b""

    def write(self, data: bytes) -> None:
        self._wfile.write(data)
        self._wfile.flush()

    def close_write(self) -> None:
        try:
            self._wfile.flush()
            self.sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass


STDOUT_FRAME, STDERR_FRAME = 1, 2


def frame(stream: int, data: bytes) -> bytes:
    """One frame of docker's multiplexed stream: stream id, three zero bytes, big-endian length, payload."""
    return bytes((stream, 0, 0, 0)) + len(data).to_bytes(4, "big") + data


# -- routing ---------------------------------------------------------------------------------------------------------
_VERSION_PREFIX = re.compile(r"^/v(\d+\.\d+)(/.*)$")


def _compile(pattern: str) -> re.Pattern:
    def group(m: re.Match) -> str:
        name, kind = m.group(1), m.group(2)
        return f"(?P<{name}>.+?)" if kind == "path" else f"(?P<{name}>[^/]+)"

    return re.compile("^" + re.sub(r"\{(\w+)(?::(\w+))?\}", group, pattern) + "$")


def routes() -> list[tuple[str, re.Pattern, Callable]]:
    """Every endpoint module's rows, compiled; GET rows also answer HEAD."""
    from tuiker.api import ENDPOINT_MODULES

    table = []
    for module in ENDPOINT_MODULES:
        for method, pattern, handler in module.ROUTES:
            table.append((method, _compile(pattern), handler))
    return table


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: docker's clients reuse connections
    api: Api
    table: list

    def version_string(self) -> str:
        return SERVER_HEADER

    def common_headers(self) -> None:
        self.send_header("Api-Version", API_VERSION)
        self.send_header("Docker-Experimental", "false")
        self.send_header("Ostype", "linux")

    def log_message(self, format: str, *args) -> None:  # noqa: A002 (BaseHTTPRequestHandler's signature)
        if os.environ.get("TUIKER_API_LOG"):
            sys.stderr.write("api: " + (format % args) + "\n")

    def address_string(self) -> str:
        return "unix" if isinstance(self.client_address, (str, bytes)) else super().address_string()

    def handle_one_request(self) -> None:
        try:
            super().handle_one_request()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _dispatch(self) -> None:
        parts = urlsplit(self.path)
        path, version = parts.path, None
        m = _VERSION_PREFIX.match(path)
        if m:
            version, path = m.group(1), m.group(2)
        req = Request(self, self.command, path, parts.query, version)
        try:
            if version is not None:
                _check_version(version)
            handler, args = self._route(req.method, path)
            req.args = args
            result = handler(self.api, req)
            if not self.close_connection:  # a body the handler did not want (docker-py's `{}`) is not a request
                self._drain(req)
            if req.responded:
                return
            if isinstance(result, Status):
                if result.value is None:
                    req.respond(result.code)
                else:
                    req.respond_json(result.value, result.code)
            elif result is None:
                req.respond(204)
            else:
                req.respond_json(result)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except Exception as e:  # every failure is answered in docker's shape, never as a dropped connection
            status, message = _error_status(e)
            if req.responded:  # mid-stream: nothing can be said in the status any more
                self.close_connection = True
                return
            self._drain(req)
            req.respond(status, (json.dumps({"message": message}) + "\n").encode())

    def _drain(self, req: Request) -> None:
        # An unread body would be parsed as the next request on this kept-alive connection.
        try:
            if req._body is None and (self.headers.get("Content-Length") or self.headers.get("Transfer-Encoding")):
                req.body_stream().read()  # the rest of it, if a handler read part
        except Exception:
            self.close_connection = True

    def _route(self, method: str, path: str) -> tuple[Callable, dict[str, str]]:
        allowed = False
        for row_method, pattern, handler in self.table:
            m = pattern.match(path)
            if not m:
                continue
            if row_method == method or (method == "HEAD" and row_method == "GET"):
                return handler, {k: unquote(v) for k, v in m.groupdict().items()}
            allowed = True
        if allowed:
            raise ApiError(405, "method not allowed")
        raise ApiError(404, "page not found")

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _dispatch


def _check_version(version: str) -> None:
    if _version_tuple(version) > _version_tuple(API_VERSION):
        raise ApiError(400, f"client version {version} is too new. Maximum supported API version is {API_VERSION}")
    if _version_tuple(version) < _version_tuple(MIN_API_VERSION):
        raise ApiError(400, f"client version {version} is too old. Minimum supported API version is "
                            f"{MIN_API_VERSION}, please upgrade your client to a newer version")


def _error_status(e: Exception) -> tuple[int, str]:
    if isinstance(e, ApiError):
        return e.status, one_line(e.message)
    if isinstance(e, NotFoundError):
        return 404, one_line(e)
    if isinstance(e, ConflictError):
        return 409, one_line(e)
    if isinstance(e, InvalidArgument):
        return 400, one_line(e)
    if isinstance(e, ForbiddenError):
        return 403, one_line(e)
    if isinstance(e, (TuikerError, OSError)):
        return 500, one_line(e)
    import traceback

    traceback.print_exc()
    return 500, one_line(f"{type(e).__name__}: {e}")


# -- the server ------------------------------------------------------------------------------------------------------
class _UnixServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True  # a hijacked attach must not keep the service from stopping


class _TCPServer(socketserver.ThreadingMixIn, socketserver.TCPServer):
    daemon_threads = True
    allow_reuse_address = True


def default_address(engine: Engine) -> str:
    return f"unix://{engine.root / 'tuiker.sock'}"


def make_server(engine: Engine, address: str | None = None) -> socketserver.BaseServer:
    """A server bound to `address` (unix:///path or tcp://127.0.0.1:PORT; default: tuiker.sock in the engine
    root), not yet serving. A unix socket is made mode 0660, owned by root: the API is root's power."""
    address = address or default_address(engine)
    handler = type("Handler", (_Handler,), {"api": Api(engine), "table": routes()})
    if address.startswith("unix://"):
        path = address[len("unix://"):]
        _remove_stale_socket(path)
        old_umask = os.umask(0o117)  # created 0660 from the start, never briefly world-connectable
        try:
            server = _UnixServer(path, handler)
        finally:
            os.umask(old_umask)
        os.chmod(path, 0o660)
        return server
    if address.startswith("tcp://"):
        host, _, port = address[len("tcp://"):].rpartition(":")
        host = host.strip("[]") or "127.0.0.1"
        if host not in ("127.0.0.1", "localhost", "::1"):
            # No TLS here: the API is full control of the host, so it is only offered on loopback.
            raise InvalidArgument(f"refusing to serve the API on {host}: only loopback (127.0.0.1) is allowed")
        try:
            return _TCPServer((host, int(port)), handler)
        except ValueError:
            raise InvalidArgument(f"invalid address {address!r}: expected tcp://127.0.0.1:PORT") from None
    raise InvalidArgument(f"invalid address {address!r}: expected unix:///path or tcp://127.0.0.1:PORT")


def _remove_stale_socket(path: str) -> None:
    """A socket file left by a killed service is removed; one that a running service answers is not taken over."""
    if not os.path.exists(path):
        return
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(path)
    except OSError:
        os.unlink(path)
        return
    finally:
        probe.close()
    raise ConflictError(f"{path} is already served by another process")


def serve(engine: Engine, addresses: list[str] | None = None, ready: Callable[[list[str]], None] | None = None
          ) -> None:
    """Serve until interrupted (SIGINT/SIGTERM), then remove the socket files."""
    servers = [make_server(engine, a) for a in (addresses or [None])]
    threads = [threading.Thread(target=s.serve_forever, daemon=True) for s in servers[1:]]
    for t in threads:
        t.start()
    if ready:
        ready([_describe(s) for s in servers])
    try:
        servers[0].serve_forever()
    finally:
        for s in servers[1:]:
            s.shutdown()
        for s in servers:
            s.server_close()
            if isinstance(s, _UnixServer):
                try:
                    os.unlink(s.server_address)
                except OSError:
                    pass


def _describe(server: socketserver.BaseServer) -> str:
    if isinstance(server, _UnixServer):
        return f"unix://{server.server_address}"
    host, port = server.server_address[:2]
    return f"tcp://{host}:{port}"
