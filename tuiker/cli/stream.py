"""The client end of an attached container or exec: the user's terminal <-> the monitor's frames.

With a tty: the user's terminal goes raw (Ctrl-C then reaches the container, not us), window size
changes are forwarded, and Ctrl-P Ctrl-Q detaches, as with docker.
"""

from __future__ import annotations

import json
import os
import selectors
import sys

from tuiker.runtime.monitor_client import CLOSE_STDIN, EXIT, RESIZE, STDERR, STDIN, STDOUT, frame, split_frames

TYPE_CHECKING = False  # not typing's (see monitor_client)
if TYPE_CHECKING:
    import socket

DETACH_KEYS = b"\x10\x11"  # Ctrl-P Ctrl-Q


def terminal_size() -> tuple[int, int] | None:
    try:
        size = os.get_terminal_size(sys.stdout.fileno())
    except OSError:
        return None
    return size.lines, size.columns


class Detached(Exception):
    pass


def pump(sock: socket.socket, interactive: bool, tty: bool) -> int:
    """Relay until the process exits (its exit code) or the user detaches (raises Detached)."""
    stdin_fd = sys.stdin.fileno()
    raw = tty and interactive and os.isatty(stdin_fd)
    if tty:  # only a terminal needs these (~3 ms of imports a plain `run` does without)
        import signal
        import termios
        import tty as ttymod
    saved = termios.tcgetattr(stdin_fd) if raw else None
    sel = selectors.DefaultSelector()
    sel.register(sock, selectors.EVENT_READ, "sock")
    if interactive:
        try:
            sel.register(stdin_fd, selectors.EVENT_READ, "stdin")
        except PermissionError:
            # A regular file or /dev/null cannot be polled (epoll refuses it): it is all there, send it whole.
            while chunk := os.read(stdin_fd, 65536):
                sock.sendall(frame(STDIN, chunk))
            sock.sendall(frame(CLOSE_STDIN, b""))
    resize_r = None
    if tty and os.isatty(sys.stdout.fileno()):
        resize_r, resize_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        signal.set_wakeup_fd(resize_w)
        signal.signal(signal.SIGWINCH, lambda *_: None)
        sel.register(resize_r, selectors.EVENT_READ, "winch")
    buf = bytearray()
    pending_detach = b""
    try:
        if raw:
            ttymod.setraw(stdin_fd)
        while True:
            for key, _ in sel.select():
                if key.data == "sock":
                    data = sock.recv(65536)
                    if not data:
                        return 125  # the monitor went away mid-stream
                    buf += data
                    for kind, payload in split_frames(buf):
                        if kind == EXIT:
                            return int(json.loads(payload)["exit"])
                        out = sys.stdout.buffer if kind == STDOUT else sys.stderr.buffer if kind == STDERR else None
                        if out is not None:
                            out.write(payload)
                            out.flush()
                elif key.data == "stdin":
                    data = os.read(stdin_fd, 65536)
                    if not data:
                        sel.unregister(stdin_fd)
                        sock.sendall(frame(CLOSE_STDIN, b""))
                        continue
                    if tty:
                        data = pending_detach + data
                        pending_detach = b""
                        if DETACH_KEYS in data:
                            before = data.split(DETACH_KEYS, 1)[0]
                            if before:
                                sock.sendall(frame(STDIN, before))
                            raise Detached
                        if data.endswith(DETACH_KEYS[:1]):
                            data, pending_detach = data[:-1], DETACH_KEYS[:1]
                    if data:
                        sock.sendall(frame(STDIN, data))
                elif key.data == "winch":
                    try:
                        os.read(resize_r, 64)
                    except BlockingIOError:
                        pass
                    size = terminal_size()
                    if size:
                        sock.sendall(frame(RESIZE, json.dumps(list(size)).encode()))
    finally:
        if saved is not None:
            termios.tcsetattr(stdin_fd, termios.TCSADRAIN, saved)
        if resize_r is not None:
            signal.set_wakeup_fd(-1)
        sel.close()
        sock.close()

