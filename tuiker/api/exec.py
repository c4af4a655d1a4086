"""Attach and exec: POST /containers/{id}/attach, POST /containers/{id}/exec, POST /exec/{id}/start,
POST /exec/{id}/resize, GET /exec/{id}/json.

Both hijack the connection (server.Request.hijack) and then pump it both ways: the client's bytes become the
process's input (an engine Session's send; the client's half-close its end of input), the process's output goes
to the client (raw for a tty, else docker's multiplexed frames) until the process exits (then the output half
is closed) or the client goes away or types the detach keys (the process goes on).

An attach to a container that does not run yet waits for its next start (engine.containers.attach with
next_start): `docker run` attaches, then starts, and sees the first byte. Exec instances live in this service's
memory, as docker keeps them in its daemon: created by one request, started by another, inspected for their exit
code; dropped a while after they end, or when they were never started and their container stopped."""

from __future__ import annotations

import secrets
import select
import threading
import time
import weakref

from tuiker.api.server import STDERR_FRAME, STDOUT_FRAME, Api, ApiError, Hijacked, Request, Status, frame
from tuiker.engine import NotFoundError, TuikerError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from tuiker.engine import Session

RAW_STREAM = "application/vnd.docker.raw-stream"
MULTIPLEXED_STREAM = "application/vnd.docker.multiplexed-stream"
DEFAULT_DETACH_KEYS = "ctrl-p,ctrl-q"
ENDED_KEPT = 300.0  # seconds an ended exec stays inspectable
UNSTARTED_KEPT = 3600.0  # an exec never started is dropped after this (or at once when its container stopped)


def _content_type(req: Request, tty: bool) -> str:
    # docker announces the multiplexed stream from API 1.42; older clients are told "raw" in both cases.
    return MULTIPLEXED_STREAM if not tty and req.at_least("1.42") else RAW_STREAM


_CTRL_SYMBOLS = {"@": 0, "[": 27, "\\": 28, "]": 29, "^": 30, "_": 31}


def detach_keys(text: str | None) -> bytes:
    """docker's detach keys ("ctrl-p,ctrl-q", "a", "ctrl-@" ...) as the bytes that a client types."""
    text = text or DEFAULT_DETACH_KEYS
    out = bytearray()
    for key in text.split(","):
        key = key.strip()
        if len(key) == 1 and key.isascii():
            out.append(ord(key))
        elif key.lower().startswith("ctrl-") and len(key) == 6:
            char = key[5].lower()
            if "a" <= char <= "z":
                out.append(ord(char) - ord("a") + 1)
            elif char in _CTRL_SYMBOLS:
                out.append(_CTRL_SYMBOLS[char])
            else:
                raise ApiError(400, f"Invalid detach keys ({text}) provided")
        else:
            raise ApiError(400, f"Invalid detach keys ({text}) provided")
    return bytes(out)


class _DetachFilter:
    """Passes the client's input on, holding back what may be the start of the detach sequence."""

    def __init__(self, keys: bytes) -> None:
        self.keys = keys
        self.held = b""

    def feed(self, data: bytes) -> tuple[bytes, bool]:
        """The bytes to pass on, and whether the whole sequence was typed (what follows it is dropped)."""
        out = bytearray()
        for byte in data:
            self.held += bytes((byte,))
            if self.keys.startswith(self.held):
                if self.held == self.keys:
                    return bytes(out), True
                continue
            out += self.held  # not the sequence after all: what was held back goes on, as docker's proxy does
            self.held = b""
        return bytes(out), False


def _packet(stream: str, data: bytes, multiplexed: bool) -> bytes:
    return frame(STDOUT_FRAME if stream == "stdout" else STDERR_FRAME, data) if multiplexed else data


def pump(conn: Hijacked, session: Session, *, tty: bool, multiplexed: bool, stdout: bool = True,
         stderr: bool = True, stdin: bool = False, close_stdin: bool = True, keys: bytes | None = None,
         follow_after_detach: bool = False, on_exit=None) -> None:
    """Carry a hijacked connection and a session both ways until the process ends or the client leaves.

    `stdin`: the client's bytes are the process's input; at the client's end of input the process reads EOF
    (`close_stdin`) or, as docker does for a container that keeps its stdin open, the attach ends. `keys`: the
    detach sequence. `follow_after_detach`: after a detach the session is still read to its end (an exec's exit
    code), else it is shut down. `on_exit(code)` is called before the client hears the output's end, so an
    inspect that follows sees the exit code."""
    detached = threading.Event()

    def leave() -> None:
        detached.set()
        conn.close_write()
        if not follow_after_detach:
            session.shutdown()

    def client_side() -> None:
        try:
            carry_input()
        except (OSError, ValueError):
            pass  # the connection or the session closed under us: the other side ends it

    def carry_input() -> None:
        keyfilter = _DetachFilter(keys) if keys and stdin else None
        while True:
            data = conn.read()
            if not data:
                break
            if not stdin or session.done:
                continue
            if keyfilter is not None:
                data, typed = keyfilter.feed(data)
                if data:
                    session.send(data)
                if typed:
                    leave()
                    return
            else:
                session.send(data)
        if session.done or detached.is_set():
            return
        if stdin and not close_stdin:
            leave()  # docker: the end of input ends an attach to a container that keeps its stdin open
            return
        if stdin:
            session.close_stdin()
        # The client may only have closed its sending half: the output goes on until it hangs up altogether.
        poller = select.poll()
        poller.register(conn.sock, 0)  # POLLHUP is always reported
        while not session.done and not detached.is_set():
            if poller.poll(500):
                leave()
                return

    threading.Thread(target=client_side, daemon=True, name="api-attach-input").start()
    try:
        while not session.done:
            for stream, data in session.read():
                if detached.is_set() or not (stdout if stream == "stdout" else stderr):
                    continue
                try:
                    conn.write(_packet(stream, data, multiplexed))
                except (OSError, ValueError):
                    leave()  # the client went away
    finally:
        if on_exit is not None:
            on_exit(session.exit_code)
        conn.close_write()
        session.close()


# -- attach ----------------------------------------------------------------------------------------------------------
def attach(api: Api, req: Request) -> None:
    containers = api.engine.containers
    c = containers.get(req.args["id"])
    if c.status == "paused":
        raise ApiError(409, f"container {c.id} is paused, unpause the container before attach")
    if c.status == "restarting":
        raise ApiError(409, f"container {c.id} is restarting, wait until the container is running")
    stream, logs = req.flag("stream"), req.flag("logs")
    want_stdin, want_stdout, want_stderr = req.flag("stdin"), req.flag("stdout"), req.flag("stderr")
    keys = detach_keys(req.query("detachKeys"))
    config = c.config["Config"]
    tty = bool(config.get("Tty"))
    multiplexed = not tty
    # Registered before the 101 goes out: the client starts the container once it has its answer.
    session = containers.attach(c.id, next_start=True) if stream else None
    try:
        conn = req.hijack(_content_type(req, tty))
        if logs:
            for record in containers.logs(c):
                if want_stdout if record.stream == "stdout" else want_stderr:
                    conn.write(_packet(record.stream, record.text.encode(), multiplexed))
        if session is None:
            conn.close_write()
            return
        # Containers that tuiker's own CLI made do not record StdinOnce: its `run -i` closes stdin at EOF.
        pump(conn, session, tty=tty, multiplexed=multiplexed, stdout=want_stdout, stderr=want_stderr,
             stdin=want_stdin and bool(config.get("OpenStdin")),
             close_stdin=bool(config.get("StdinOnce", True)) and not tty, keys=keys)
    finally:
        if session is not None:
            session.close()


# -- exec ------------------------------------------------------------------------------------------------------------
class ExecInstance:
    """One exec: its configuration (from create's fields, by lower-case name) and its run (from start)."""

    def __init__(self, container_id: str, body: dict) -> None:
        self.id = secrets.token_hex(32)
        self.container_id = container_id
        self.cmd = _strings(body.get("cmd"), "Cmd")
        self.env = _strings(body.get("env"), "Env")
        self.workdir = body.get("workingdir") or None
        self.user = body.get("user") or ""
        self.tty = bool(body.get("tty"))
        self.stdin = bool(body.get("attachstdin"))
        self.stdout = bool(body.get("attachstdout"))
        self.stderr = bool(body.get("attachstderr"))
        self.detach_keys = body.get("detachkeys") or ""
        self.keys = detach_keys(self.detach_keys)
        self.size = _console_size(body.get("consolesize"))
        self.lock = threading.Lock()
        self.state = "created"  # -> running -> exited
        self.created = time.monotonic()
        self.ended: float | None = None
        self.exit_code: int | None = None
        self.pid = 0
        self.session: Session | None = None

    def finish(self, code: int | None) -> None:
        with self.lock:
            self.state, self.exit_code, self.ended, self.session = "exited", code, time.monotonic(), None

    def document(self) -> dict:
        return {"ID": self.id, "Running": self.state == "running", "ExitCode": self.exit_code,
                "ProcessConfig": {"tty": self.tty, "entrypoint": self.cmd[0], "arguments": self.cmd[1:],
                                  "privileged": False, "user": self.user},
                "OpenStdin": self.stdin, "OpenStderr": self.stderr, "OpenStdout": self.stdout,
                "CanRemove": False, "ContainerID": self.container_id, "DetachKeys": self.detach_keys,
                "Pid": self.pid}


def _fields(body: object, what: str) -> dict:
    """A JSON object's fields by lower-case name: docker (Go's JSON) matches them without regard to case, and
    docker-py sends `detachKeys`."""
    if not isinstance(body, dict):
        raise ApiError(400, f"invalid {what}: expected a JSON object")
    return {str(key).lower(): value for key, value in body.items()}


def _strings(value: object, field: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ApiError(400, f"invalid {field}: expected a list of strings")
    return value


def _console_size(value: object) -> tuple[int, int] | None:
    if not value:
        return None
    if (not isinstance(value, list) or len(value) != 2 or not all(isinstance(v, int) and v >= 0 for v in value)):
        raise ApiError(400, "invalid ConsoleSize: expected [height, width]")
    return (value[0], value[1]) if value[0] and value[1] else None


_REGISTRIES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_REGISTRIES_LOCK = threading.Lock()


def _execs(api: Api) -> dict[str, ExecInstance]:
    with _REGISTRIES_LOCK:
        return _REGISTRIES.setdefault(api, {})


def _prune(api: Api) -> None:
    """Forget ended execs after a while, and unstarted ones whose container stopped (or that waited too long)."""
    execs = _execs(api)
    now = time.monotonic()
    for ex in list(execs.values()):
        if ex.state == "exited" and now - ex.ended > ENDED_KEPT:
            execs.pop(ex.id, None)
        elif ex.state == "created" and (now - ex.created > UNSTARTED_KEPT or not _running(api, ex.container_id)):
            execs.pop(ex.id, None)


def _running(api: Api, container_id: str) -> bool:
    try:
        return api.engine.containers.get(container_id).status == "running"
    except NotFoundError:
        return False


def _get(api: Api, exec_id: str) -> ExecInstance:
    _prune(api)
    ex = _execs(api).get(exec_id)
    if ex is None:
        raise ApiError(404, f"No such exec instance: {exec_id}")
    return ex


def _check_running(api: Api, ref: str) -> str:
    c = api.engine.containers.get(ref)
    if c.status == "paused":
        raise ApiError(409, f"Container {c.id} is paused, unpause the container before exec")
    if c.status == "restarting":
        raise ApiError(409, f"Container {c.id} is restarting, wait until the container is running")
    if c.status != "running":
        raise ApiError(409, f"Container {c.id} is not running")
    return c.id


def exec_create(api: Api, req: Request) -> Status:
    body = _fields(req.json({}), "exec configuration")
    _prune(api)
    cid = _check_running(api, req.args["id"])
    if body.get("privileged"):
        raise ApiError(400, "privileged exec is not supported by tuiker (the exec gets the container's privileges)")
    ex = ExecInstance(cid, body)
    if not ex.cmd:
        raise ApiError(400, "No exec command specified")
    _execs(api)[ex.id] = ex
    return Status(201, {"Id": ex.id})


def exec_start(api: Api, req: Request) -> Status | None:
    ex = _get(api, req.args["id"])
    body = _fields(req.json({}) or {}, "exec start")
    size = _console_size(body.get("consolesize"))
    tty = bool(body.get("tty", ex.tty))
    with ex.lock:
        if ex.state == "running":
            raise ApiError(409, f"Error: Exec command {ex.id} is already running")
        if ex.state == "exited":
            raise ApiError(409, f"Error: Exec command {ex.id} has already run")
        ex.state = "running"
        ex.size = size or ex.size
    try:
        _check_running(api, ex.container_id)
    except Exception:
        ex.finish(None)
        raise
    if body.get("detach"):
        session = _run(api, ex, interactive=False)  # raises what stopped it (126, 127): the answer's error
        threading.Thread(target=_drain, args=(ex, session), daemon=True, name="api-exec-detached").start()
        return Status(200)
    conn = req.hijack(_content_type(req, tty))
    try:
        session = _run(api, ex, interactive=ex.stdin)
    except TuikerError as e:
        # docker writes why it could not run into the stream; the client reads the exit code from inspect.
        try:
            conn.write(_packet("stdout", (str(e) + "\r\n").encode(), not tty))
        except OSError:
            pass
        conn.close_write()
        return None
    pump(conn, session, tty=tty, multiplexed=not tty, stdout=ex.stdout, stderr=ex.stderr, stdin=ex.stdin,
         keys=ex.keys, follow_after_detach=True, on_exit=ex.finish)
    return None


def _run(api: Api, ex: ExecInstance, interactive: bool) -> Session:
    with ex.lock:
        size = ex.size
    try:
        session = api.engine.containers.exec(ex.container_id, ex.cmd, tty=ex.tty, interactive=interactive,
                                             env=ex.env, workdir=ex.workdir, user=ex.user or None, size=size)
    except TuikerError as e:
        ex.finish(getattr(e, "code", 126))
        raise
    with ex.lock:
        ex.session, ex.pid = session, session.pid or 0
        resized = ex.size if ex.size != size else None  # a resize that came while it was being started
    if resized:
        try:
            session.resize(*resized)
        except OSError:
            pass  # it ended already
    return session


def _drain(ex: ExecInstance, session: Session) -> None:
    try:
        while not session.done:
            session.read()
    finally:
        ex.finish(session.exit_code)
        session.close()


def exec_resize(api: Api, req: Request) -> Status:
    ex = _get(api, req.args["id"])
    height, width = req.integer("h"), req.integer("w")
    if height is None or width is None or height < 0 or width < 0:
        raise ApiError(400, "resize needs h and w, the terminal's height and width")
    with ex.lock:
        ex.size = (height, width)
        session = ex.session
    if session is not None:
        try:
            session.resize(height, width)
        except OSError:
            pass  # it ended meanwhile
    return Status(200)


def exec_inspect(api: Api, req: Request) -> dict:
    return _get(api, req.args["id"]).document()


ROUTES = [
    ("POST", "/containers/{id}/attach", attach),
    ("POST", "/containers/{id}/exec", exec_create),
    ("POST", "/exec/{id}/start", exec_start),
    ("POST", "/exec/{id}/resize", exec_resize),
    ("GET", "/exec/{id}/json", exec_inspect),
]
