"""RemoteEngine over a real dockerd: the calls the TUI makes, checked against what the docker CLI says of the
same daemon."""

from __future__ import annotations

import json
import select
import time

import pytest

from tests.conftest import wait_for
from tuiker.engine import (
    LIVE_STATES,
    ConflictError,
    InvalidArgument,
    NotFoundError,
    RunOptions,
    networks_of,
    ports_text,
    status_text,
)

SERVER = ["sh", "-c", 'trap "exit 0" TERM; echo "ready $HOSTNAME"; echo oops >&2; sleep 1000 & wait']


def run(remote, name: str, command: list[str] | None = None, start: bool = True, **options):
    c = remote.containers.create(RunOptions(image="busybox", name=name, command=command or SERVER, network="none",
                                            **options))
    if start:
        remote.containers.start(c.id)
    return remote.containers.get(c.id)


def test_header_names_the_engine(remote, dockerd):
    assert remote.name == "docker"
    assert remote.header()[0] == ("@", f"unix://{dockerd.sock}")
    assert remote.header()[1][1] == json.loads(dockerd.cli("version", "--format", "{{json .Server}}")[1])["Version"]


def test_snapshot_lists_what_docker_lists(remote, dockerd):
    up = run(remote, "web", env=["COLOUR=blue"], labels={"tier": "front"})
    down = run(remote, "idle", start=False)
    code, out = dockerd.cli("volume", "create", "data")
    assert code == 0, out
    try:
        snapshot = remote.watch().poll()
        by_name = {c.name: c for c in snapshot.containers}
        assert set(by_name) == {"web", "idle"}
        web = by_name["web"]
        assert web.id == up.id and web.status == "running" and web.status in LIVE_STATES
        assert web.config["Image"] == "busybox"
        assert "COLOUR=blue" in web.config["Config"]["Env"]
        assert web.config["Config"]["Labels"]["tier"] == "front"
        assert networks_of(web) == ["none"]
        assert status_text(web).startswith("Up ")
        assert by_name["idle"].status == "created" and by_name["idle"].id == down.id
        # Images as `docker images`: the tags, the short ID, the size.
        docker_images = dockerd.cli("images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}")[1].split("\n")
        ours = {f"{tag} {i.short_id}" for i in snapshot.images for tag in i.repo_tags}
        assert ours == {line for line in docker_images if line}
        assert all(i.size > 0 for i in snapshot.images)
        # Networks: host and none are the panel's own rows; volumes as `docker volume ls`.
        assert all(n.name not in ("host", "none") for n in snapshot.networks)
        assert [v["Name"] for v in snapshot.volumes] == ["data"]
        assert remote.volumes.users("data") == []
        assert remote.volumes.inspect("data")["Driver"] == "local"
        assert remote.networks.inspect("none")["Name"] == "none"
        # Nothing changed: no new snapshot (the events stream says so, not a re-read).
        watcher = remote.watch()
        assert watcher.poll() is not None
        assert watcher.poll() is None
        remote.containers.stop(up.id, timeout=5)
        changed = wait_for(lambda: watcher.poll(), 10, "a snapshot after the stop")
        assert {c.name: c.status for c in changed.containers}["web"] == "exited"
    finally:
        dockerd.cli("rm", "-f", "web", "idle")
        dockerd.cli("volume", "rm", "data")


def test_published_ports_show_as_the_local_engine_shows_them(remote, dockerd):
    # The private dockerd has no bridge: a port is published on a network of its own.
    remote.networks.create("pubnet", "10.231.7.0/24")
    try:
        c = remote.containers.create(RunOptions(image="busybox", name="pub", command=SERVER, network="pubnet",
                                                ports=["127.0.0.1::80"]))
        remote.containers.start(c.id)
        c = remote.containers.get(c.id)
        host_port = json.loads(dockerd.cli("inspect", "pub")[1])[0]["NetworkSettings"]["Ports"]["80/tcp"][0]["HostPort"]
        assert ports_text(c) == f"127.0.0.1:{host_port}->80/tcp"
        assert networks_of(c) == ["pubnet"]
        assert [n.subnet for n in remote.networks.list() if n.name == "pubnet"] == ["10.231.7.0/24"]
    finally:
        dockerd.cli("rm", "-f", "pub")
        remote.networks.remove("pubnet")


def test_lifecycle(remote, dockerd):
    c = run(remote, "life")

    def state() -> str:
        return dockerd.cli("inspect", "-f", "{{.State.Status}}", "life")[1].strip()

    remote.containers.pause(c.id)
    assert state() == "paused"
    remote.containers.unpause(c.id)
    assert state() == "running"
    remote.containers.stop(c.id, timeout=5)
    assert state() == "exited"
    remote.containers.stop(c.id)  # docker's 304: already stopped, no error
    remote.containers.start(c.id)
    assert state() == "running"
    remote.containers.restart(c.id, timeout=5)
    assert state() == "running"
    with pytest.raises(ConflictError, match="Stop the container before attempting removal or force remove"):
        remote.containers.remove(c.id)
    remote.containers.remove(c.id, force=True)
    assert dockerd.cli("ps", "-aq", "--filter", "name=life")[1].strip() == ""
    with pytest.raises(NotFoundError, match="No such container: life"):
        remote.containers.get("life")


def test_unsupported_run_options_are_refused(remote):
    with pytest.raises(InvalidArgument, match="tmpfs is not supported over the Docker API"):
        remote.containers.create(RunOptions(image="busybox", tmpfs=["/x"], network="none"))


def test_logs_follow(remote, dockerd):
    c = run(remote, "talker", ["sh", "-c", "echo one; sleep 0.3; echo two >&2; sleep 1; echo three; sleep 1000"])
    reader = remote.containers.log_reader(c, 10)
    seen = []

    def got(n: int):
        seen.extend(reader.read())
        return len(seen) >= n

    wait_for(lambda: got(3), 10, "three log lines")
    assert [(r.stream, r.text) for r in seen] == [("stdout", "one\n"), ("stderr", "two\n"), ("stdout", "three\n")]
    assert all(r.time.startswith(time.strftime("%Y-", time.gmtime())) for r in seen)
    reader.close()


def test_logs_follow_a_restart(remote, dockerd):
    """docker ends a follow when the container stops: the reader follows again, without repeating a line."""
    c = run(remote, "again", ["sh", "-c", "echo run-$(cat /proc/uptime | cut -d. -f1)-$$; sleep 1000"])
    reader = remote.containers.log_reader(c, None)
    seen = wait_for(reader.read, 10, "the first run's line")
    remote.containers.restart(c.id, timeout=1)

    def more():
        seen.extend(reader.read())
        return len(seen) >= 2

    wait_for(more, 15, "the second run's line")
    time.sleep(1.5)
    seen.extend(reader.read())
    assert len(seen) == 2 and seen[0].text != seen[1].text, [r.text for r in seen]
    assert [r.text for r in seen] == [line + "\n" for line in dockerd.cli("logs", "again")[1].split()]
    reader.close()


def test_logs_tail(remote, dockerd):
    c = run(remote, "lines", ["sh", "-c", "for i in 1 2 3 4 5; do echo line$i; done; sleep 1000"])
    wait_for(lambda: "line5" in dockerd.cli("logs", "lines")[1], 10, "the lines")
    reader = remote.containers.log_reader(c, 2)
    seen = []

    def both():  # the two lines may arrive in two reads
        seen.extend(reader.read())
        return len(seen) >= 2

    wait_for(both, 10, "the tail")
    time.sleep(0.5)
    seen.extend(reader.read())
    assert [r.text for r in seen] == ["line4\n", "line5\n"]
    reader.close()


def test_stats_samples(remote):
    c = run(remote, "busy", ["sh", "-c", "while :; do :; done"], memory=64 * 1024 * 1024)
    sampler = remote.containers.stats(c)
    first = sampler.sample()
    time.sleep(1)
    second = sampler.sample()
    assert first is not None and second is not None
    assert second.cpu_percent > 20, second.cpu_percent  # a busy loop: most of one core
    assert second.memory_limit == 64 * 1024 * 1024
    assert 0 < second.memory < second.memory_limit
    assert second.pids >= 1
    remote.containers.stop(c.id, timeout=1)
    sampler.container = remote.containers.get(c.id)
    assert sampler.sample() is None  # not running: no sample, as the local sampler


def test_stats_carry_dockers_throttling_data(remote):
    """--cpus 0.1 on a busy loop: docker's throttling_data becomes the Sample's throttling figures (and the
    share of periods throttled between two samples); docker's stats carry no pressure figures: None."""
    c = run(remote, "throttled", ["sh", "-c", "while :; do :; done"], cpus=0.1)
    sampler = remote.containers.stats(c)
    first = wait_for(lambda: (s := sampler.sample()) and s.cpu_throttled_periods > 2 and s, 10, "throttled periods")
    time.sleep(1)
    second = sampler.sample()
    assert second.cpu_periods >= second.cpu_throttled_periods > first.cpu_throttled_periods, second
    assert second.cpu_throttled_ns > first.cpu_throttled_ns and second.cpu_throttled_percent > 50
    assert second.psi_cpu is second.psi_memory is second.psi_io is None
    assert second.net_rx_packets == second.net_tx_packets == 0  # --network none: docker reports no networks
    remote.containers.remove(c.id, force=True)


def test_top(remote):
    c = run(remote, "procs")
    rows = wait_for(lambda: remote.containers.top(c).rows(), 10, "processes")
    commands = [r.command for r in rows]
    assert any(cmd.startswith("sleep 1000") for cmd in commands), commands
    assert all(r.pid > 0 and r.user for r in rows)
    assert rows[0].command.startswith("sh -c")


def test_exec_shell_session(remote):
    c = run(remote, "shell")
    session = remote.containers.exec(c.id, ["sh"], tty=True, interactive=True, size=(24, 80))
    try:
        session.send(b"echo hi; stty size\n")
        out = b""
        deadline = time.monotonic() + 10
        while b"24 80" not in out or b"\nhi" not in out.replace(b"\r", b""):
            assert time.monotonic() < deadline, out
            if select.select([session], [], [], 1)[0]:
                out += b"".join(data for _, data in session.read())
        session.send(b"exit 3\n")
        while not session.done:
            assert time.monotonic() < deadline + 10
            session.read()
        assert session.exit_code == 3
    finally:
        session.close()


def test_exec_without_tty_splits_the_streams(remote):
    c = run(remote, "split")
    session = remote.containers.exec(c.id, ["sh", "-c", "echo out; echo err >&2; exit 2"])
    got: dict[str, bytes] = {"stdout": b"", "stderr": b""}
    while not session.done:
        for stream, data in session.read():
            got[stream] += data
    session.close()
    assert got == {"stdout": b"out\n", "stderr": b"err\n"} and session.exit_code == 2


def test_attach(remote):
    c = run(remote, "console", ["sh"], tty=True, interactive=True)
    session = remote.containers.attach(c.id, size=(30, 100))
    try:
        session.send(b"stty size; exit 4\n")
        out = b""
        while not session.done:
            out += b"".join(data for _, data in session.read())
        assert b"30 100" in out and session.exit_code == 4
    finally:
        session.close()


def test_pull_with_progress(remote, dockerd, busybox_image):
    assert dockerd.cli("rmi", busybox_image[0], "busybox")[0] == 0
    lines = []
    try:
        result = remote.images.pull(busybox_image[0], progress=lines.append)
    finally:
        dockerd.cli("pull", busybox_image[0])
        dockerd.cli("tag", busybox_image[0], "busybox")
    assert result.reference == busybox_image[0] and result.downloaded
    assert result.repo_digest.startswith(busybox_image[0].rsplit(":", 1)[0] + "@sha256:")
    assert busybox_image[0] in result.image.repo_tags
    layers = [p for p in lines if p.id]
    assert layers and any(p.status == "Pull complete" for p in layers)
    assert any(p.total > 0 and p.current > 0 for p in layers if p.status == "Downloading")
    assert [p.status for p in lines if not p.id][-1].startswith("Status: ")


def test_image_documents(remote):
    doc = remote.images.inspect("busybox")
    assert "busybox:latest" in doc["RepoTags"]
    history = remote.images.config(remote.images.get("busybox"))["history"]
    assert history and all("created_by" in h for h in history)
    with pytest.raises(NotFoundError):
        remote.images.inspect("no-such-image")


def test_a_bad_host_is_one_line():
    from tuiker.engine import TuikerError
    from tuiker.remote.engine import RemoteEngine

    with pytest.raises(TuikerError, match=r"^Cannot connect to the Docker daemon at unix:///var/tmp/nothing-here\.sock"):
        RemoteEngine("unix:///var/tmp/nothing-here.sock")
    with pytest.raises(InvalidArgument, match="invalid host 'ftp://x'"):
        RemoteEngine("ftp://x")


class TcpToUnix:
    """dockerd's socket on 127.0.0.1:PORT (a byte pump per connection), for tcp:// without reconfiguring it."""

    def __init__(self, path: str, tls=None) -> None:
        import socket
        import threading

        self.path = path
        self.server = socket.create_server(("127.0.0.1", 0))
        if tls is not None:
            self.server = tls.wrap_socket(self.server, server_side=True)
        self.port = self.server.getsockname()[1]
        self.conns: list = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        import socket
        import threading

        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            upstream = socket.socket(socket.AF_UNIX)
            upstream.connect(self.path)
            self.conns += [client, upstream]
            threading.Thread(target=self._pump, args=(client, upstream), daemon=True).start()

    @staticmethod
    def _pump(client, upstream) -> None:
        """Both ways in one thread (a TLS connection must not be read and written by two threads at once)."""
        other = {client: upstream, upstream: client}
        try:
            while True:
                ready = [s for s in other if getattr(s, "pending", lambda: 0)()]
                ready = ready or select.select(list(other), [], [])[0]
                for sock in ready:
                    data = sock.recv(65536)
                    if not data:
                        return
                    other[sock].sendall(data)
        except OSError:
            pass
        finally:
            client.close()
            upstream.close()

    def close(self) -> None:
        self.server.close()
        for conn in self.conns:
            conn.close()


def test_tcp_host(remote, dockerd):
    from tuiker.remote.engine import RemoteEngine

    run(remote, "over-tcp")
    proxy = TcpToUnix(dockerd.sock)
    engine = RemoteEngine(f"tcp://127.0.0.1:{proxy.port}")
    try:
        assert [c.name for c in engine.watch().poll().containers] == ["over-tcp"]
        session = engine.containers.exec("over-tcp", ["sh", "-c", "read line; echo got-$line"], interactive=True)
        session.send(b"it\n")
        out = b""
        while not session.done:
            out += b"".join(data for _, data in session.read())
        session.close()
        assert out == b"got-it\n" and session.exit_code == 0
    finally:
        engine.close()
        proxy.close()


def _certificates(top) -> dict[str, str]:
    """A CA, a server certificate for 127.0.0.1 and a client certificate it signed (openssl)."""
    import subprocess

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=top, check=True, capture_output=True)

    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca-key.pem", "-out", "ca.pem", "-days", "2",
            "-subj", "/CN=tuiker-test-ca")
    (top / "san.cnf").write_text("subjectAltName=IP:127.0.0.1\n")
    for who in ("server", "client"):
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{who}-key.pem", "-out", f"{who}.csr",
                "-subj", f"/CN={who}")
        openssl("x509", "-req", "-in", f"{who}.csr", "-CA", "ca.pem", "-CAkey", "ca-key.pem", "-CAcreateserial",
                "-out", f"{who}.pem", "-days", "2", *(["-extfile", "san.cnf"] if who == "server" else []))
    return {name: str(top / f"{name}.pem") for name in ("ca", "server", "server-key", "client", "client-key")}


def test_tls_context(remote, dockerd, tmp_path, monkeypatch):
    """A context with certificates (as `docker context create --docker host=tcp://...,ca=,cert=,key=` stores
    them): TLS with the client's certificate, the server's checked against the CA."""
    import os
    import shutil
    import ssl
    import subprocess

    from tests.dockerd import DOCKER
    from tuiker.remote import engine_for

    if not shutil.which("openssl"):
        pytest.skip("openssl is missing")
    certs = _certificates(tmp_path)
    run(remote, "over-tls")
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=certs["ca"])
    server.verify_mode = ssl.CERT_REQUIRED
    server.load_cert_chain(certs["server"], certs["server-key"])
    proxy = TcpToUnix(dockerd.sock, server)
    env = dict(os.environ, DOCKER_CONFIG=str(tmp_path / "docker"))
    env.pop("DOCKER_HOST", None)
    made = subprocess.run([DOCKER, "context", "create", "tls", "--docker",
                           f"host=tcp://127.0.0.1:{proxy.port},ca={certs['ca']},cert={certs['client']},"
                           f"key={certs['client-key']}"], env=env, capture_output=True, text=True, timeout=30)
    assert made.returncode == 0, made.stderr
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "docker"))
    engine = engine_for(None, "tls")
    try:
        assert engine.client.tls is not None
        assert engine.header()[0] == ("@", f"tcp://127.0.0.1:{proxy.port} (context tls)")
        assert [c.name for c in engine.watch().poll().containers] == ["over-tls"]
    finally:
        engine.close()
        proxy.close()


def test_prunes(remote, dockerd):
    """The TUI's prune menu over docker: each prune removes what docker's CLI then no longer lists."""
    run(remote, "pruned", ["true"], start=False)
    kept = run(remote, "kept")
    assert remote.containers.prune() != []
    names = dockerd.cli("ps", "-a", "--format", "{{.Names}}")[1].split()
    assert "pruned" not in names and "kept" in names

    remote.networks.create("spare-net")
    assert "spare-net" in remote.networks.prune()
    assert "spare-net" not in dockerd.cli("network", "ls", "--format", "{{.Name}}")[1].split()

    assert dockerd.cli("volume", "create", "spare-vol")[0] == 0
    if tuple(int(n) for n in remote.client.version.split(".")) < (1, 42):
        with pytest.raises(InvalidArgument, match="prune removes named volumes too"):
            remote.volumes.prune()
    gone, _freed = remote.volumes.prune(all_volumes=True)
    assert "spare-vol" in gone
    assert "spare-vol" not in dockerd.cli("volume", "ls", "--format", "{{.Name}}")[1].split()

    remote.images.prune()  # dangling only: busybox is tagged and used, it stays
    assert "busybox:latest" in dockerd.cli("images", "--format", "{{.Repository}}:{{.Tag}}")[1].split()
    remote.containers.remove(kept.id, force=True)
