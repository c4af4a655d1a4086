"""A private dockerd (Debian's docker.io 20.10) and podman's host fixes, shared by the tests (tests/builds'
parity oracle) and the benches (bench/common.py re-exports these). Standard library only."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path


def mounts_under(path: Path) -> list[str]:
    """Mount points at or below path, deepest first (from /proc/self/mountinfo)."""
    prefix = str(path).rstrip("/")
    found = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            point = line.split()[4].encode().decode("unicode_escape")
            if point == prefix or point.startswith(prefix + "/"):
                found.append(point)
    return sorted(found, key=len, reverse=True)


def remove_tree(path: Path) -> None:
    """Unmount whatever is mounted below path (podman's overlay leaves some), then delete it."""
    for _ in range(3):
        points = mounts_under(path)
        if not points:
            break
        for point in points:
            subprocess.run(["umount", "-l", point], stderr=subprocess.DEVNULL)
    shutil.rmtree(path, ignore_errors=True)


# -- a private dockerd -------------------------------------------------------------------------------

DOCKER = "/usr/bin/docker"  # Debian's docker.io client (20.10, as the daemon), whatever else is on the PATH


class PrivateDockerd:
    """Debian's dockerd with everything of its own under `workdir/docker` (data root, exec root, pid file, its
    managed containerd's state) and its own socket; no bridge and no iptables rules (the benches' containers
    run with --network none), its containers' cgroups under `cgroup_parent`. `unavailable` says why it could
    not be started; stop() takes away every trace, whatever state it stopped in (bench/attacks' Docker is the
    same daemon with a bridge, for attacks that need one)."""

    def __init__(self, workdir: Path, cgroup_parent: str, sock_prefix: str = "tuiker-bench-docker") -> None:
        self.dir = workdir / "docker"
        self.sock = f"/run/{sock_prefix}-{os.getpid()}.sock"
        self.cgroup_parent = cgroup_parent
        self.env = dict(os.environ, DOCKER_HOST=f"unix://{self.sock}", DOCKER_CONFIG=str(self.dir / "cli"))
        self.proc: subprocess.Popen | None = None
        self.unavailable = ""
        self.had_run_docker = os.path.exists("/run/docker")

    def start(self) -> None:
        for binary in (DOCKER, "/usr/sbin/dockerd", "/usr/sbin/runc"):
            if not os.path.exists(binary):
                self.unavailable = f"{binary} missing (apt-get install docker.io)"
                return
        if os.path.exists(self.sock):
            self.unavailable = f"{self.sock} already exists"
            return
        self.dir.mkdir()
        config = {
            "deprecated-key-path": str(self.dir / "key.json"),  # not /etc/docker/key.json
            "bridge": "none", "iptables": False, "ip-forward": False, "ip-masq": False,
            "cgroup-parent": self.cgroup_parent, "log-level": "warn",
        }
        (self.dir / "daemon.json").write_text(json.dumps(config, indent=1))
        with open(self.dir / "dockerd.log", "wb") as log:
            self.proc = subprocess.Popen(
                ["/usr/sbin/dockerd", "--config-file", str(self.dir / "daemon.json"), "--data-root",
                 str(self.dir / "data"), "--exec-root", str(self.dir / "exec"), "--pidfile", str(self.dir / "pid"),
                 "--host", f"unix://{self.sock}"], stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                start_new_session=True)
        deadline = time.monotonic() + 60
        while self.proc.poll() is None and time.monotonic() < deadline:
            if self.cli("version")[0] == 0:
                return
            time.sleep(0.2)
        tail = (self.dir / "dockerd.log").read_text(errors="replace").strip().splitlines()[-3:]
        self.unavailable = f"dockerd did not start: {' '.join(tail)[-300:]}"

    def argv(self, *args: str) -> list[str]:
        return [DOCKER, *args]

    def cli(self, *args: str, timeout: float = 120) -> tuple[int, str]:
        try:
            proc = subprocess.run(self.argv(*args), env=self.env, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return -1, f"timed out: docker {' '.join(args)}"
        return proc.returncode, proc.stdout + proc.stderr

    def stop(self, notes: list[str]) -> None:
        if self.proc is not None:
            if self.proc.poll() is None:
                code, out = self.cli("ps", "-aq", timeout=60)
                ids = out.split() if code == 0 else []
                if ids:
                    code, out = self.cli("rm", "-f", *ids)
                    if code:
                        notes.append(f"docker rm -f: {out.strip()[-200:]}")
                self.proc.terminate()
                try:
                    self.proc.wait(30)
                except subprocess.TimeoutExpired:
                    notes.append("dockerd ignored SIGTERM for 30 s: killed")
                    os.killpg(self.proc.pid, signal.SIGKILL)
                    self.proc.wait()
            # What a stopped (or killed) dockerd leaves: its containerd and shims (named after our directory),
            # the containers' processes (in our cgroup parent), /run/docker, the socket.
            for pid in [int(p) for p in os.listdir("/proc") if p.isdigit()]:
                try:
                    cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
                except OSError:
                    continue
                if str(self.dir).encode() in cmdline and pid != os.getpid():
                    words = cmdline.decode(errors="replace").split("\0")
                    notes.append(f"killed leftover {' '.join(words)[:80]}")
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
            for parent in _cgroup_parents(self.cgroup_parent):
                _remove_cgroup_tree(parent, notes)
            if not self.had_run_docker:
                shutil.rmtree("/run/docker", ignore_errors=True)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.sock)
        remove_tree(self.dir)


def _cgroup_parents(name: str) -> list[Path]:
    """Where dockerd puts the cgroups of a relative --cgroup-parent: below the root of each hierarchy, or below
    our own cgroup in a hierarchy where this process sits in a nested one (the memory cgroup of a session, here)."""
    found = {hierarchy / name for hierarchy in Path("/sys/fs/cgroup").iterdir()}
    with open("/proc/self/cgroup") as f:
        for line in f:
            _, controllers, path = line.rstrip("\n").split(":", 2)
            for controller in controllers.split(",") if controllers else ["unified"]:
                found.add(Path("/sys/fs/cgroup", controller.removeprefix("name="), path.lstrip("/"), name))
    return sorted(p for p in found if p.is_dir())


def _remove_cgroup_tree(top: Path, notes: list[str]) -> None:
    """Kill what runs in a cgroup subtree, then remove its directories, deepest first."""
    dirs = sorted([top, *[p for p in top.rglob("*") if p.is_dir()]], key=lambda p: len(str(p)), reverse=True)
    for _ in range(50):
        pids = [int(pid) for d in dirs if (d / "cgroup.procs").exists()
                for pid in (d / "cgroup.procs").read_text().split()]
        if not pids:
            break
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.1)
    for d in dirs:
        try:
            d.rmdir()
        except OSError as e:
            notes.append(f"could not remove cgroup {d}: {e.strerror}")


# -- the host changes podman needs here --------------------------------------------------------------

ULIMITS_DROPIN = Path("/etc/containers/containers.conf.d/50-ulimits.conf")


def fix_podman_host(output: str) -> str | None:
    """Apply, idempotently, the host change that podman's (or crun's) error asks for (see
    /work/shared/MACHINE.md). Returns what was changed, or None if nothing (a retry would not help)."""
    if "hybrid mode not supported" in output and not os.path.ismount("/sys/fs/cgroup/hugetlb"):
        os.makedirs("/sys/fs/cgroup/hugetlb", exist_ok=True)
        subprocess.run(["mount", "-t", "cgroup", "-o", "hugetlb", "cgroup", "/sys/fs/cgroup/hugetlb"], check=True)
        return "mounted the hugetlb cgroup v1 hierarchy at /sys/fs/cgroup/hugetlb"
    if "setrlimit" in output:
        return write_ulimits_dropin()
    return None


def write_ulimits_dropin() -> str | None:
    """Podman asks crun for RLIMIT_NOFILE/NPROC of 1048576, above root's hard limit here (no CAP_SYS_RESOURCE).
    The limits are fixed when a container is created, so a test that creates before it starts writes this first:
    a retried `podman start` would ask again for what the container was created with."""
    if ULIMITS_DROPIN.exists():
        return None
    ULIMITS_DROPIN.parent.mkdir(parents=True, exist_ok=True)
    ULIMITS_DROPIN.write_text('[containers]\ndefault_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]\n')
    return f"wrote {ULIMITS_DROPIN}"
