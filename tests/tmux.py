"""A real terminal for end-to-end tests of the TUI: a private tmux server running one command."""

from __future__ import annotations

import subprocess
import time
import uuid
from pathlib import Path


class Tmux:
    """A private tmux server (its own socket) running one window of the given size."""

    def __init__(self, command: str, env: dict[str, str], size: tuple[int, int] = (150, 45)) -> None:
        self.socket = f"tuiker-test-{uuid.uuid4().hex[:8]}"
        settings = " ".join(f"{key}={value}" for key, value in env.items())
        # Without COLUMNS and LINES, which would override the window's size (pytest's environment has them).
        self.tmux("new-session", "-d", "-x", str(size[0]), "-y", str(size[1]),
                  f"env -u COLUMNS -u LINES {settings} {command}")
        self.path = self.tmux("display-message", "-p", "#{socket_path}").strip()

    def tmux(self, *args: str) -> str:
        return subprocess.run(["tmux", "-L", self.socket, *args], check=True, capture_output=True, text=True,
                              timeout=10).stdout

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p")

    def keys(self, *keys: str, literal: bool = False) -> None:
        """Type keys, then give the app a moment: keys that arrive in one read are dispatched before a focus
        change that the first of them asked for (tab, then text, would go to the old field)."""
        self.tmux("send-keys", *(["-l"] if literal else []), *keys)
        time.sleep(0.3)

    def wait_for(self, check, timeout: float, what: str) -> str:
        deadline = time.monotonic() + timeout
        while True:
            screen = self.screen()
            if check(screen):
                return screen
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout} s waiting for {what}; the screen:\n{screen}")
            time.sleep(0.1)

    def close(self) -> None:
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True, timeout=10)
        Path(self.path).unlink(missing_ok=True)  # kill-server leaves its socket file
