"""Talking to the monitor: its wire format and the client the engine uses (engine/session.py speaks the frames
of an attached or exec'd process).

Kept apart from monitor/ so a client does not import what only the monitor needs (spawn, cgroups,
seccomp, ctypes): that is ~25 ms off every `tuiker run`.

Wire protocol: one JSON request line, one JSON reply line; `attach`, `start` with attach, and `exec`
then carry frames: 1 byte kind, 4 bytes big-endian length, payload.
"""

from __future__ import annotations

import fcntl
import json
import os
import struct
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from tuiker.base.fsutil import flocked, private_dir

TYPE_CHECKING = False  # not typing's: importing typing costs ~7 ms, and `ps` runs through here
if TYPE_CHECKING:
    import socket

STDIN, STDOUT, STDERR, RESIZE, EXIT, CLOSE_STDIN = range(6)
FRAME = struct.Struct(">BI")


def frame(kind: int, payload: bytes) -> bytes:
    return FRAME.pack(kind, len(payload)) + payload


def split_frames(buf: bytearray) -> Iterator[tuple[int, bytes]]:
    """Take every complete frame off the front of `buf` (a partial one stays for the next read)."""
    while len(buf) >= FRAME.size:
        kind, length = FRAME.unpack_from(buf)
        if len(buf) < FRAME.size + length:
            return
        payload = bytes(buf[FRAME.size:FRAME.size + length])
        del buf[:FRAME.size + length]
        yield kind, payload


def runtime_dir(root: Path) -> Path:
    """run/: the monitor's socket, pid, lock and log; 0700 (the socket is the engine's whole API)."""
    return private_dir(root, "run")


class MonitorClient:
    """How the CLI and the TUI talk to the monitor; starts it when none is running."""

    def __init__(self, root: Path) -> None:
        self.root = root
        # Not made here: `ps`, `login` and the TUI hold a client without ever needing run/ (spawn makes it).
        self.path = root / "run" / "monitor.sock"

    def connect(self) -> socket.socket:
        import socket  # here, not at the top: `ps`, `images` and `logs` never connect (~4 ms)

        for attempt in range(2):
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
            try:
                sock.connect(str(self.path))
                return sock
            except (FileNotFoundError, ConnectionRefusedError):
                sock.close()
                if attempt:
                    break
                self.spawn()
        raise OSError(f"cannot reach the tuiker monitor at {self.path}")

    def alive(self) -> bool:
        """Whether a monitor serves this root. It holds monitor.lock (a flock, which the kernel drops when
        the monitor dies, even by kill -9) for its whole life, so no connection is needed."""
        try:
            fd = os.open(self.path.parent / "monitor.lock", os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        finally:
            os.close(fd)  # a starting monitor retries its lock for a moment (monitor/main.py, serve)
        return False

    def spawn(self) -> None:
        """Start a monitor in a session of its own and wait until it listens."""
        import socket

        run = runtime_dir(self.root)
        with flocked(run / "spawn.lock"):
            probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
            try:
                probe.connect(str(self.path))
                return
            except (FileNotFoundError, ConnectionRefusedError):
                pass
            finally:
                probe.close()
            log = os.open(run / "monitor.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
            # posix_spawn, not fork: the TUI calls this from a worker thread, and forking a threaded Python
            # process is unsafe. The spawned process forks the monitor and exits (monitor/main.py): we reap it.
            # The monitor gets our stdio replaced and none of our other fds (close-on-exec or closed here).
            inherited = [(os.POSIX_SPAWN_CLOSE, fd) for fd in _inheritable_fds() if fd > 2]
            try:
                pid = os.posix_spawn(sys.executable, [sys.executable, "-m", "tuiker.runtime.monitor",
                                                      str(self.root)], os.environ,
                                     file_actions=[(os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
                                                   (os.POSIX_SPAWN_DUP2, log, 1), (os.POSIX_SPAWN_DUP2, log, 2),
                                                   *inherited])
            finally:
                os.close(log)
            _, status = os.waitpid(pid, 0)
            if status:
                raise OSError(f"cannot start the tuiker monitor: {_last_line(run / 'monitor.log')}")
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
                try:
                    probe.connect(str(self.path))
                    return
                except (FileNotFoundError, ConnectionRefusedError):
                    time.sleep(0.005)
                finally:
                    probe.close()

    def request(self, message: dict, keep: bool = False) -> tuple[dict, socket.socket | None]:
        import socket

        sock = self.connect()
        sock.sendall(json.dumps(message).encode() + b"\n")
        line = b""
        while not line.endswith(b"\n"):
            # Only up to the reply's newline: frames may follow on a kept socket and belong to the caller.
            ahead = sock.recv(65536, socket.MSG_PEEK)
            if not ahead:
                break
            end = ahead.find(b"\n")
            line += sock.recv(end + 1 if end >= 0 else len(ahead))
        if not line:
            sock.close()
            raise OSError("the tuiker monitor closed the connection")
        reply = json.loads(line)
        if keep and reply.get("ok"):
            return reply, sock
        sock.close()
        return reply, None


def _last_line(path: Path) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(max(0, os.fstat(f.fileno()).st_size - 4096))
            lines = f.read().decode(errors="replace").strip().splitlines()
    except OSError:
        lines = []
    return lines[-1] if lines else f"see {path}"


def _inheritable_fds() -> list[int]:
    """This process's fds that an exec would pass on (inherited from our own parent, most likely)."""
    found = []
    for name in os.listdir("/proc/self/fd"):
        try:
            if os.get_inheritable(int(name)):
                found.append(int(name))
        except OSError:  # the listing's own fd, closed by now
            pass
    return found
