"""The other Docker API engines the TUI drives: podman's service (`podman system service`, a private store) and
a dockerd on a far host through ssh:// (a private sshd on 127.0.0.1; `docker system dial-stdio` on the far side,
as the docker CLI does)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from tests.conftest import wait_for
from tests.dockerd import DOCKER, fix_podman_host, remove_tree, write_ulimits_dropin
from tuiker.engine import RunOptions, familiar_name


class PodmanService:
    """`podman system service` over a store of its own (root, runroot, tmpdir under /var/tmp), on its own socket."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="tuiker-test-podman-", dir="/var/tmp"))
        (self.dir / "tmp").mkdir()
        self.sock = self.dir / "podman.sock"
        self.proc: subprocess.Popen | None = None

    def argv(self, *args: str) -> list[str]:
        return ["podman", "--root", str(self.dir / "root"), "--runroot", str(self.dir / "run"), "--tmpdir",
                str(self.dir / "tmp"), "--storage-driver", "overlay", "--events-backend", "file",
                "--cgroup-manager", "cgroupfs", *args]

    def cli(self, *args: str) -> tuple[int, str]:
        proc = subprocess.run(self.argv(*args), capture_output=True, text=True, timeout=120,
                              env=dict(os.environ, TMPDIR=str(self.dir / "tmp")))
        if proc.returncode and fix_podman_host(proc.stdout + proc.stderr):
            return self.cli(*args)
        return proc.returncode, proc.stdout + proc.stderr

    def start(self) -> None:
        with open(self.dir / "service.log", "wb") as log:
            self.proc = subprocess.Popen(self.argv("system", "service", "--time=0", f"unix://{self.sock}"),
                                         stdout=log, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True,
                                         env=dict(os.environ, TMPDIR=str(self.dir / "tmp")))
        wait_for(lambda: self.sock.exists() or self.proc.poll() is not None, 30, "podman's socket")
        assert self.proc.poll() is None, (self.dir / "service.log").read_text()

    def stop(self) -> None:
        self.cli("rm", "-af", "-t", "0")
        self.cli("rmi", "-af")
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        remove_tree(self.dir)


@pytest.fixture
def podman(busybox_image):
    if not shutil.which("podman"):
        pytest.skip("podman is not installed (tests/run installs it)")
    write_ulimits_dropin()
    service = PodmanService()
    try:
        service.start()
        code, out = service.cli("pull", "--tls-verify=false", busybox_image[0])
        assert code == 0, out
        yield service
    finally:
        service.stop()


def test_podman_service(podman, busybox_image):
    from tuiker.remote.engine import RemoteEngine

    code, out = podman.cli("create", "--name", "pod-web", "--network", "none", busybox_image[0], "sleep", "1000")
    assert code == 0, out
    code, out = podman.cli("start", "pod-web")
    assert code == 0, out
    code, out = podman.cli("create", "--name", "pod-idle", "--network", "none", busybox_image[0], "true")
    assert code == 0, out
    code, out = podman.cli("volume", "create", "pod-data")
    assert code == 0, out
    engine = RemoteEngine(f"unix://{podman.sock}")
    try:
        assert engine.name == "podman"
        assert engine.header()[1] == ("version", podman.cli("version", "--format", "{{.Server.Version}}")[1].strip())
        snapshot = engine.watch().poll()
        states = {c.name: c.status for c in snapshot.containers}
        assert states == {"pod-web": "running", "pod-idle": "created"}
        web = next(c for c in snapshot.containers if c.name == "pod-web")
        assert web.config["Image"] == busybox_image[0]
        assert web.command == ["sleep", "1000"]
        assert [t for i in snapshot.images for t in i.repo_tags] == [busybox_image[0]]
        assert [v["Name"] for v in snapshot.volumes] == ["pod-data"]
        # Its logs, stats and processes as for a dockerd; and s as the TUI does it.
        rows = wait_for(lambda: engine.containers.top(web).rows(), 10, "pod-web's processes")
        assert any("sleep" in r.command for r in rows)
        sample = engine.containers.stats(web).sample()
        assert sample is not None and sample.pids >= 1
        engine.containers.stop(web.id, timeout=1)
        assert engine.containers.get("pod-web").status == "exited"
    finally:
        podman.cli("volume", "rm", "-f", "pod-data")
        engine.close()


# -- ssh:// ---------------------------------------------------------------------------------------------

class PrivateSshd:
    """Debian's sshd on 127.0.0.1 (a free port), key auth for root with a temporary key only, whose sessions
    get DOCKER_HOST of the test's dockerd (so that `docker system dial-stdio` reaches it)."""

    def __init__(self, docker_host: str) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="tuiker-test-sshd-", dir="/var/tmp"))
        self.docker_host = docker_host
        self.proc: subprocess.Popen | None = None
        self.port = 0
        self.made_run_sshd = not os.path.exists("/run/sshd")

    def start(self) -> None:
        import socket

        d = self.dir
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(d / "host_key")], check=True)
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(d / "client_key")], check=True)
        (d / "authorized_keys").write_text((d / "client_key.pub").read_text())
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        # sshd refuses to run from a relative path and wants its privilege separation directory.
        os.makedirs("/run/sshd", exist_ok=True)
        (d / "sshd_config").write_text(f"""Port {self.port}
ListenAddress 127.0.0.1
HostKey {d}/host_key
PidFile {d}/sshd.pid
AuthorizedKeysFile {d}/authorized_keys
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
StrictModes no
UsePAM no
SetEnv DOCKER_HOST={self.docker_host}
""")
        self.proc = subprocess.Popen(["/usr/sbin/sshd", "-D", "-e", "-f", str(d / "sshd_config")],
                                     stdout=subprocess.DEVNULL, stderr=open(d / "sshd.log", "wb"),
                                     start_new_session=True)
        wait_for(lambda: _listening(self.port) or self.proc.poll() is not None, 10, "sshd to listen")
        assert self.proc.poll() is None, (d / "sshd.log").read_text()
        (d / "known_hosts").write_text(f"[127.0.0.1]:{self.port} {(d / 'host_key.pub').read_text()}")

    @property
    def ssh_command(self) -> str:
        d = self.dir
        return (f"ssh -F none -i {d}/client_key -o UserKnownHostsFile={d}/known_hosts -o StrictHostKeyChecking=yes "
                "-o BatchMode=yes -o IdentitiesOnly=yes")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)  # sshd and the sessions it forked
            self.proc.wait(10)
        shutil.rmtree(self.dir, ignore_errors=True)
        if self.made_run_sshd:
            shutil.rmtree("/run/sshd", ignore_errors=True)


def _listening(port: int) -> bool:
    import socket

    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture
def sshd(dockerd):
    for tool in ("/usr/sbin/sshd", "/usr/bin/ssh", DOCKER):
        if not os.path.exists(tool):
            pytest.skip(f"{tool} is missing (tests/run installs openssh-server and docker.io)")
    server = PrivateSshd(f"unix://{dockerd.sock}")
    try:
        server.start()
        yield server
    finally:
        server.stop()


def test_ssh_dial_stdio(sshd, dockerd, remote, monkeypatch):
    """ssh://root@127.0.0.1:PORT: every connection is `ssh ... docker system dial-stdio`, as the docker CLI's."""
    from tuiker.remote.engine import RemoteEngine

    monkeypatch.setenv("TUIKER_SSH_COMMAND", sshd.ssh_command)
    local = remote.containers.create(RunOptions(image="busybox", name="far-web", network="none",
                                                command=["sh", "-c", "echo far-away; sleep 1000"]))
    remote.containers.start(local.id)
    engine = RemoteEngine(f"ssh://root@127.0.0.1:{sshd.port}")
    try:
        assert engine.header()[0] == ("@", f"ssh://root@127.0.0.1:{sshd.port}")
        snapshot = engine.watch().poll()
        assert {c.name: c.status for c in snapshot.containers} == {"far-web": "running"}
        reader = engine.containers.log_reader(engine.containers.get("far-web"), 10)
        assert [r.text for r in wait_for(reader.read, 15, "the log over ssh")] == ["far-away\n"]
        reader.close()
        session = engine.containers.exec("far-web", ["sh", "-c", "echo hi; exit 5"])
        out = b""
        while not session.done:
            out += b"".join(data for _, data in session.read())
        session.close()
        assert out == b"hi\n" and session.exit_code == 5
        engine.containers.stop("far-web", timeout=1)
        assert dockerd.cli("inspect", "-f", "{{.State.Status}}", "far-web")[1].strip() == "exited"
    finally:
        engine.close()
    # A key the far side does not know: ssh's own reason, in one line.
    other = sshd.dir / "other_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True)
    monkeypatch.setenv("TUIKER_SSH_COMMAND", sshd.ssh_command.replace(f"{sshd.dir}/client_key", str(other)))
    from tuiker.engine import TuikerError

    with pytest.raises(TuikerError) as refused:
        RemoteEngine(f"ssh://root@127.0.0.1:{sshd.port}")
    assert str(refused.value) == (f"Cannot connect to the Docker daemon at ssh://root@127.0.0.1:{sshd.port}: "
                                  "ssh exited with status 255: root@127.0.0.1: Permission denied (publickey).")
    # Nothing of ssh stays behind once the engine is closed (each connection's ssh ends with it).
    time.sleep(0.5)
    left = subprocess.run(["pgrep", "-f", f"127.0.0.1 -p {sshd.port}|-p {sshd.port} -- 127.0.0.1"],
                          capture_output=True, text=True).stdout.split()
    assert not left, left


# -- tuiker's own API ----------------------------------------------------------------------------------

def test_tuiker_api_service(api, engine):
    """One tuiker's TUI over another tuiker's `system service` (as it would be through ssh://)."""
    from tuiker.remote.engine import RemoteEngine

    far = RemoteEngine(api.url)
    try:
        assert far.name == "docker"  # tuiker answers /version as a Docker engine does
        snapshot = far.watch().poll()
        # the API's RepoTags are docker's familiar names, the local records the full ones
        assert [t for i in snapshot.images for t in i.repo_tags] == [familiar_name(t) for i in engine.images.list()
                                                                    for t in i.repo_tags]
    finally:
        far.close()
