"""`tuiker system service` as the tests run it: the installed command, in its own process, on a socket in the
engine root; stopped (SIGTERM) at the end, its socket removed. Its stderr goes to a file (a pipe nobody reads
until the end would block a service that logs every request, TUIKER_API_LOG=1). Standard library only."""

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

    def __init__(self, root: Path, sock: Path | None = None, log_requests: bool = False) -> None:
        self.root = Path(root)
        self.sock = Path(sock) if sock else self.root / "api.sock"
        self.url = f"unix://{self.sock}"
        self.log_requests = log_requests  # TUIKER_API_LOG=1: one stderr line per request, for a failure's report
        self.stderr_path = self.sock.with_name(self.sock.name + ".stderr")
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 15) -> ApiService:
        env = dict(os.environ, TUIKER_ROOT=str(self.root))
        if self.log_requests:
            env["TUIKER_API_LOG"] = "1"
        with open(self.stderr_path, "w") as stderr:
            self.proc = subprocess.Popen([sys.executable, "-m", "tuiker", "system", "service", self.url], env=env,
                                         stdout=subprocess.PIPE, stderr=stderr, text=True)
        line = self.proc.stdout.readline()  # "API listening on ..." once it answers
        if "listening" not in line:
            err = self.stop()
            raise AssertionError(f"tuiker system service did not start: {line}{err}")
        deadline = time.monotonic() + timeout
        while not self.sock.exists():
            if time.monotonic() > deadline:
                raise AssertionError(f"no socket at {self.sock}")
            time.sleep(0.02)
        return self

    def env(self, **extra: str) -> dict[str, str]:
        """The environment for a docker client pointed at this service (its own config dir: no user's)."""
        return dict(os.environ, DOCKER_HOST=self.url, DOCKER_CONFIG=str(self.root / "docker-cli"), **extra)

    def stderr(self) -> str:
        """What the service wrote to stderr so far (its request log, tracebacks)."""
        try:
            return self.stderr_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

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
        self.proc.stdout.close()
        self.proc = None
        err = self.stderr()
        self.stderr_path.unlink(missing_ok=True)
        return err
