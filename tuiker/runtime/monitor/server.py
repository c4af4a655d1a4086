"""The monitor's event loop: one selector for every fd it follows, timers, and the clients of its unix socket.

Every fd registered here carries (kind, callback): the loop calls callback(events), and `kind` only names it
in the log when the callback fails. A failing callback (one bad request, a file gone) never takes the monitor
down. The monitor is single-threaded: that is what lets it fork the processes that unshare and setns.

Wire protocol: one JSON request line, one JSON reply line; `attach`, `start` with attach, and `exec` then carry
frames both ways (monitor_client.py): 1 byte kind, 4 bytes big-endian length, payload. Sends are buffered per
client and never block the loop: a client that stops reading loses output beyond MAX_CLIENT_BUFFER, never a
reply or its exit frame, so a slow reader cannot stall the containers it watches, nor the others.
"""

from __future__ import annotations

import heapq
import itertools
import json
import os
import selectors
import socket
import sys
import time
from collections.abc import Callable
from pathlib import Path

from tuiker.net.portproxy import send_buffered
from tuiker.runtime.monitor_client import split_frames

MAX_CLIENT_BUFFER = 4 * 1024 * 1024


class Client:
    """A connection: its request line first, then (attach, exec) frames handed to `on_frame`."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.inbuf = bytearray()
        self.outbuf = bytearray()
        self.handshake_done = False
        self.on_frame: Callable[[int, bytes], None] | None = None
        self.close_after_flush = False
        self.callback: Callable[[int], None] | None = None  # its selector callback, kept for modify()


class Server:
    """`on_request(client, request)` gets each client's first line; `on_drop(client)` hears of each client gone."""

    def __init__(self, on_request: Callable[[Client, dict], None], on_drop: Callable[[Client], None]) -> None:
        self.sel = selectors.DefaultSelector()
        self.on_request = on_request
        self.on_drop = on_drop
        self._timers: list[tuple[float, int, Callable[[], None]]] = []  # a heap: (when, tie-break, what)
        self._order = itertools.count()

    # -- fds and timers ----------------------------------------------------------------------------

    def register(self, fd: int, kind: str, callback: Callable[[int], None]) -> None:
        self.sel.register(fd, selectors.EVENT_READ, (kind, callback))

    def unregister(self, fd: int) -> None:
        try:
            self.sel.unregister(fd)
        except (KeyError, ValueError):
            pass

    def after(self, delay: float, fn: Callable[[], None]) -> None:
        heapq.heappush(self._timers, (time.monotonic() + delay, next(self._order), fn))

    def poll(self) -> None:
        """Wait for the next event or timer, and run the callbacks of what is ready."""
        timeout = max(0.0, self._timers[0][0] - time.monotonic()) if self._timers else None
        for key, events in self.sel.select(timeout):
            kind, callback = key.data
            _guarded(kind, callback, events)

    def run_timers(self) -> None:
        now = time.monotonic()
        while self._timers and self._timers[0][0] <= now:
            _, _, fn = heapq.heappop(self._timers)
            _guarded("timer", fn)

    # -- clients -----------------------------------------------------------------------------------

    def listen(self, path: Path) -> None:
        try:
            path.unlink()
        except FileNotFoundError:
            pass
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        listener.bind(str(path))
        os.chmod(path, 0o600)
        listener.listen(64)
        listener.setblocking(False)
        self.sel.register(listener, selectors.EVENT_READ, ("listener", lambda _: self._accept(listener)))

    def _accept(self, listener: socket.socket) -> None:
        sock, _ = listener.accept()
        sock.setblocking(False)
        client = Client(sock)
        client.callback = lambda events: self._client_event(client, events)
        self.sel.register(sock, selectors.EVENT_READ, ("client", client.callback))

    def _client_event(self, client: Client, events: int) -> None:
        if events & selectors.EVENT_WRITE:
            self.flush(client)
        if not events & selectors.EVENT_READ:
            return
        try:
            data = client.sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            self.drop(client)
            return
        client.inbuf += data
        if not client.handshake_done:
            line, sep, rest = bytes(client.inbuf).partition(b"\n")
            if not sep:
                return
            client.handshake_done = True
            client.inbuf = bytearray(rest)
            try:
                self.on_request(client, json.loads(line))
            except Exception as e:  # noqa: BLE001 - the request's failure is its reply, not the monitor's
                self.reply(client, {"ok": False, "error": str(e), "code": 125}, close=True)
                return
        if client.on_frame:
            for kind, payload in split_frames(client.inbuf):
                client.on_frame(kind, payload)

    def send(self, client: Client, data: bytes, droppable: bool = False) -> None:
        if droppable and len(client.outbuf) > MAX_CLIENT_BUFFER:
            return  # a client that stopped reading loses output rather than stalling every container
        client.outbuf += data  # replies and EXIT frames always: a slow reader still learns the exit code
        self.flush(client)

    def flush(self, client: Client) -> None:
        if not send_buffered(client.sock, client.outbuf):
            self.drop(client)
            return
        try:
            want = selectors.EVENT_READ | (selectors.EVENT_WRITE if client.outbuf else 0)
            self.sel.modify(client.sock, want, ("client", client.callback))
        except (KeyError, ValueError):
            return  # dropped already
        if client.close_after_flush and not client.outbuf:
            self.drop(client)

    def reply(self, client: Client, message: dict, close: bool = False) -> None:
        client.close_after_flush = close
        self.send(client, json.dumps(message).encode() + b"\n")

    def drop(self, client: Client) -> None:
        self.unregister(client.sock)
        client.sock.close()
        self.on_drop(client)


def _guarded(kind: str, callback: Callable[..., None], *args: int) -> None:
    try:
        callback(*args)
    except Exception as e:  # noqa: BLE001 - one bad request or event must never take the monitor down
        print(f"monitor: {kind}: {e!r}", file=sys.stderr, flush=True)
