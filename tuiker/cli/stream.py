"""The user's terminal <-> an attached container or an exec'd process (the engine's Session).

With a tty: the user's terminal goes raw (Ctrl-C then reaches the container, not us), window size
changes are forwarded, and Ctrl-P Ctrl-Q detaches, as with docker.
"""

from __future__ import annotations

import os
import selectors
import sys

TYPE_CHECKING = False  # not typing's: importing typing costs ~7 ms on every command
if TYPE_CHECKING:
    from tuiker.engine import Session

DETACH_KEYS = b"\x10\x11"  # Ctrl-P Ctrl-Q


def terminal_size() -> tuple[int, int] | None:
    try:
        size = os.get_terminal_size(sys.stdout.fileno())
    except OSError:
        return None
    return size.lines, size.columns


def exec_and_pump(containers, ref: str, command: list[str], tty: bool, interactive: bool, **options) -> int:
    """`exec` in a container, the terminal pumped to it until it exits (or is detached from, or runs detached):
    docker's exit status, the process's own or the engine's 126/127. `options` as Containers.exec takes them."""
    from tuiker.cli.output import error
    from tuiker.engine import ContainerStartError

    try:
        session = containers.exec(ref, command, tty=tty, interactive=interactive,
                                  size=terminal_size() if tty else None, **options)
    except ContainerStartError as e:
        error(e)
        return e.code
    if session is None:
        return 0
    try:
        return pump(session, interactive, tty)
    except Detached:
        return 0


class Detached(Exception):
    pass


def pump(session: Session, interactive: bool, tty: bool, detach_keys: bool = False) -> int:
    """Relay until the process exits (its exit code; 125 if the monitor went away) or the user detaches
    (raises Detached). With a TTY Ctrl-P Ctrl-Q always detaches; without one only with `detach_keys` (an
    attach: `run -i` and `exec -i` keep the terminal's line editing, as docker's)."""
    stdin_fd = sys.stdin.fileno()
    keyboard = interactive and os.isatty(stdin_fd) and (tty or detach_keys)
    raw = tty and keyboard
    if tty or keyboard:  # only a terminal needs these (~3 ms of imports a plain `run` does without)
        import signal
        import termios
        import tty as ttymod
    saved = termios.tcgetattr(stdin_fd) if keyboard else None
    sel = selectors.DefaultSelector()
    sel.register(session, selectors.EVENT_READ, "session")
    if interactive:
        try:
            sel.register(stdin_fd, selectors.EVENT_READ, "stdin")
        except PermissionError:
            # A regular file or /dev/null cannot be polled (epoll refuses it): it is all there, send it whole.
            while chunk := os.read(stdin_fd, 65536):
                session.send(chunk)
            session.close_stdin()
    resize_r = None
    if tty and os.isatty(sys.stdout.fileno()):
        resize_r, resize_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        signal.set_wakeup_fd(resize_w)
        signal.signal(signal.SIGWINCH, lambda *_: None)
        sel.register(resize_r, selectors.EVENT_READ, "winch")
    pending_detach = b""
    try:
        if raw:
            ttymod.setraw(stdin_fd)
        elif keyboard:
            # Pipes, not a TTY: the terminal stays as it is (echo, Ctrl-C ends the attach as with docker's
            # --sig-proxy=false, newlines shown as such) but hands over each key at once, Ctrl-Q included
            # (not taken for flow control), so Ctrl-P Ctrl-Q detaches here too.
            mode = termios.tcgetattr(stdin_fd)
            mode[0] &= ~termios.IXON
            mode[3] &= ~termios.ICANON
            termios.tcsetattr(stdin_fd, termios.TCSANOW, mode)
        while True:
            for key, _ in sel.select():
                if key.data == "session":
                    for stream, data in session.read():
                        out = sys.stdout.buffer if stream == "stdout" else sys.stderr.buffer
                        out.write(data)
                        out.flush()
                    if session.done:
                        return session.exit_code if session.exit_code is not None else 125
                elif key.data == "stdin":
                    data = os.read(stdin_fd, 65536)
                    if not data:
                        sel.unregister(stdin_fd)
                        session.close_stdin()
                        continue
                    if tty or keyboard:
                        data = pending_detach + data
                        pending_detach = b""
                        if DETACH_KEYS in data:
                            session.send(data.split(DETACH_KEYS, 1)[0])
                            raise Detached
                        if data.endswith(DETACH_KEYS[:1]):
                            data, pending_detach = data[:-1], DETACH_KEYS[:1]
                    session.send(data)
                elif key.data == "winch":
                    try:
                        os.read(resize_r, 64)
                    except BlockingIOError:
                        pass
                    size = terminal_size()
                    if size:
                        session.resize(*size)
    finally:
        if saved is not None:
            termios.tcsetattr(stdin_fd, termios.TCSADRAIN, saved)
        if resize_r is not None:
            signal.set_wakeup_fd(-1)
        sel.close()
        session.close()
