"""`tuiker system service` as the tests run it: the installed command, in its own process, on a socket in the
engine root; stopped (SIGTERM) at the end, its socket removed. Standard library only."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

DOCKER_CLI = "/usr/bin/docker"  # Debian's docker.io 20.10 client, whatever else is on the PATH


class ApiService:
    """The service over `root` on `sock` (default: <root>/api.sock). `url` is the DOCKER_HOST value."""

    def __init__(self, root: Path, sock: Path | None = None) -> None:
        self.root = Path(root)
        self.sock = Path(sock) if sock else self.root / "api.sock"
        self.url = f"unix://{self.sock}"
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 15) -> ApiService:
        env = dict(os.environ, TUIKER_ROOT=str(self.root))
        self.proc = subprocess.Popen([sys.executable, "-m", "tuiker", "system", "service", self.url], env=env,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()  # "API listening on ..." once it answers
        if "listening" not in line:
            self.stop()
            raise AssertionError(f"tuiker system service did not start: {line}{self.proc.stderr.read()}")
        deadline = time.monotonic() + timeout
        while not self.sock.exists():
            if time.monotonic() > deadline:
                raise AssertionError(f"no socket at {self.sock}")
            time.sleep(0.02)
        return self

    def env(self, **extra: str) -> dict[str, str]:
        """The environment for a docker client pointed at this service (its own config dir: no user's)."""
        return dict(os.environ, DOCKER_HOST=self.url, DOCKER_CONFIG=str(self.root / "docker-cli"), **extra)

    def docker(self, *args: str, input: str | None = None, timeout: float = 60, **env: str
               ) -> subprocess.CompletedProcess:
        """Debian's docker CLI (DOCKER_CLI) run against this service."""
        return subprocess.run([DOCKER_CLI, *args], env=self.env(**env), input=input, capture_output=True, text=True,
                              timeout=timeout)

    def stop(self) -> str:
        """Stop the service; what it wrote to stderr (tracebacks of failed requests land there)."""
        if not self.proc:
            return ""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        err = self.proc.stderr.read()
        self.proc.stdout.close()
        self.proc.stderr.close()
        self.proc = None
        return err
