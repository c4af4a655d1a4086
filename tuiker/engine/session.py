"""An attached container or an exec'd process, as the CLI (`run`, `attach`, `exec`) and the TUI's terminal tabs
speak to it: keys and pastes in, a window size, output out, and an exit code at the end. Underneath, the
monitor's frames on its socket (runtime/monitor_client.py): one kind byte, a length, the payload."""

from __future__ import annotations

import json
import threading

from tuiker.runtime.monitor_client import CLOSE_STDIN, EXIT, RESIZE, STDERR, STDIN, STDOUT, frame, split_frames

TYPE_CHECKING = False  # not typing's (see monitor_client)
if TYPE_CHECKING:
    import socket


class Session:
    """One process's stream. `read()` blocks for output and may be called from one thread while another
    sends (a socket is safe for one reader and one writer). `done` once the process exited (`exit_code`) or
    the monitor went away (`exit_code` None). `fileno()` lets a selector wait on it."""

    def __init__(self, sock: socket.socket, pid: int | None = None, hangup: bool = False) -> None:
        self._sock = sock
        self._send_lock = threading.Lock()  # input and resizes may come from two threads: frames whole
        self.pid = pid  # the process's (host) pid when the monitor said which
        self._buffer = bytearray()
        self.done = False
        self.exit_code: int | None = None
        # An exec'd process, held by a pidfd while it runs (so `hangup` never signals a process that got its
        # pid after it): None for an attach, whose process is the container's own.
        self._pidfd: int | None = None
        if pid and hangup:
            import os

            try:
                self._pidfd = os.pidfd_open(pid)
            except OSError:
                pass  # already gone

    def fileno(self) -> int:
        return self._sock.fileno()

    def send(self, data: bytes) -> None:
        """Input for the process (keys, a paste, a piped file)."""
        if data:
            self._send(frame(STDIN, data))

    def close_stdin(self) -> None:
        """The end of the input: the process reads EOF."""
        self._send(frame(CLOSE_STDIN, b""))

    def _send(self, data: bytes) -> None:
        # The monitor hangs up once the process has ended and its exit is sent: input that comes later (the end
        # of a /dev/null stdin, a paste) has no one to read it, and the exit code is still on the stream to read.
        try:
            with self._send_lock:
                self._sock.sendall(data)
        except BrokenPipeError:
            pass

    def resize(self, rows: int, columns: int) -> None:
        """The terminal's new size (its pty gets it, and the process a SIGWINCH)."""
        with self._send_lock:
            self._sock.sendall(frame(RESIZE, json.dumps([rows, columns]).encode()))

    def read(self) -> list[tuple[str, bytes]]:
        """Waits for output: ("stdout" | "stderr", bytes) chunks, in order; [] once done."""
        if self.done:
            return []
        try:
            data = self._sock.recv(65536)
        except OSError:
            data = b""  # shut down by close() from another thread, or the connection broke
        if not data:
            self.done = True
            return []
        self._buffer += data
        out = []
        for kind, payload in split_frames(self._buffer):
            if kind == EXIT:
                self.exit_code = int(json.loads(payload).get("exit", 0))
                self.done = True
                break
            if kind in (STDOUT, STDERR):
                out.append(("stdout" if kind == STDOUT else "stderr", payload))
        return out

    def shutdown(self) -> None:
        """End the session from our side (a detach: the process goes on). Safe from any thread: a read()
        blocked in another one returns []."""
        import socket

        try:
            self._sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass  # already shut, or the monitor closed it first

    def hangup(self) -> None:
        """End an exec'd process as closing its terminal window does: SIGHUP (a shell exits, and the kernel
        hangs up its foreground job). Nothing for an attach (the container goes on), or once it has exited."""
        import signal

        if self._pidfd is not None and not self.done:
            try:
                signal.pidfd_send_signal(self._pidfd, signal.SIGHUP)
            except OSError:
                pass  # it exited meanwhile

    def close(self) -> None:
        """Shut down and release the socket; by the thread that reads, once it is done reading."""
        self.shutdown()
        self._sock.close()
        if self._pidfd is not None:
            import os

            os.close(self._pidfd)
            self._pidfd = None
