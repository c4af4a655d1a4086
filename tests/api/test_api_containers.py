"""The container endpoints driven by docker-py 7.1: its high-level calls (client.containers.run/get/list ...) and its
low-level ones (client.api.*), against the real service over a real engine root."""

from __future__ import annotations

import io
import os
import socket
import tarfile
import threading
import time

import pytest
from conftest import wait_for

docker = pytest.importorskip("docker", reason="docker-py is installed by the test extra")


def _status(client, method: str, path: str, **params) -> int:
    """The bare HTTP status of a request (docker-py hides 304)."""
    url = client.api._url(path)
    return getattr(client.api, f"_{method}")(url, params=params).status_code


def test_run_detached_list_inspect_stop_remove(client):
    c = client.containers.run("busybox", ["sleep", "300"], detach=True, name="web", labels={"app": "x"})
    try:
        assert c.name == "web" and c.status in ("created", "running")
        c.reload()
        assert c.status == "running" and c.attrs["State"]["Running"] is True
        assert c.attrs["Config"]["Labels"]["app"] == "x"
        assert [x.name for x in client.containers.list()] == ["web"]
        assert [x.name for x in client.containers.list(filters={"label": "app=x"})] == ["web"]
        assert client.containers.list(filters={"label": "app=y"}) == []
        assert client.containers.list(filters={"status": "exited"}) == []
        assert client.containers.get("web").id == c.id
        assert client.containers.get(c.id[:12]).id == c.id
        row = client.api.containers(filters={"name": "web"})[0]
        assert row["Names"] == ["/web"] and row["State"] == "running" and row["Status"].startswith("Up")
        assert row["Command"] == "sleep 300" and row["Image"] == "busybox"
        c.stop(timeout=1)
        c.reload()
        assert c.status == "exited" and c.attrs["State"]["ExitCode"] == 137  # pid 1 ignores SIGTERM
        assert client.containers.list() == []
        assert [x.name for x in client.containers.list(all=True, filters={"status": "exited"})] == ["web"]
        assert [x.name for x in client.containers.list(all=True, filters={"exited": 137})] == ["web"]
    finally:
        c.remove(force=True)
    with pytest.raises(docker.errors.NotFound, match="No such container: web"):
        client.containers.get("web")


def test_run_in_the_foreground_gives_the_output_and_the_exit_status(client):
    out = client.containers.run("busybox", ["sh", "-c", "echo hi; echo oops >&2"], remove=True)
    assert out == b"hi\n"
    with pytest.raises(docker.errors.ContainerError) as failed:
        client.containers.run("busybox", ["sh", "-c", "echo bad >&2; exit 3"], remove=True)
    assert failed.value.exit_status == 3
    assert client.containers.list(all=True) == []


def test_create_errors_in_dockers_words(client):
    api = client.api
    with pytest.raises(docker.errors.ImageNotFound) as missing:
        api.create_container("nothere:1")
    assert missing.value.status_code == 404 and "No such image: nothere:1" in str(missing.value)
    api.create_container("busybox", ["true"], name="taken")
    with pytest.raises(docker.errors.APIError) as conflict:
        api.create_container("busybox", ["true"], name="taken")
    assert conflict.value.status_code == 409 and 'The container name "/taken" is already in use' in str(conflict.value)
    with pytest.raises(docker.errors.APIError) as unsupported:
        api.create_container("busybox", ["true"], host_config=api.create_host_config(oom_kill_disable=True))
    assert unsupported.value.status_code == 400 and "HostConfig.OomKillDisable" in str(unsupported.value)
    with pytest.raises(docker.errors.APIError) as bad:
        api.create_container("busybox", ["true"], name="bad name")
    assert bad.value.status_code == 400 and "Invalid container name" in str(bad.value)
    for body, said in (({"Image": "busybox", "Env": "A=1"}, "invalid Env: expected an array of strings"),
                       ({"Image": "busybox", "Labels": {"a": 1}}, "invalid Labels: expected an object of strings"),
                       ({"Image": "busybox", "HostConfig": {"Memory": "64m"}},
                        "invalid HostConfig.Memory: expected an integer"),
                       ({"Image": "busybox", "Cmd": [1]}, "Cmd must be a string or a list of strings"),
                       ({"Cmd": ["true"]}, "Config.Image is required"),
                       ({"Image": "busybox", "Entrypoint": [], "Cmd": []}, "no command specified")):
        reply = api._post_json(api._url("/containers/create"), data=body)
        assert (reply.status_code, reply.json()["message"]) == (400, said)
    assert [c["Names"] for c in api.containers(all=True)] == [["/taken"]]  # nothing else was made
    api.remove_container("taken")


def test_create_maps_dockers_config(client):
    api = client.api
    host = api.create_host_config(binds=["/tmp:/host-tmp:ro"], port_bindings={80: ("127.0.0.1", None)},
                                  restart_policy={"Name": "on-failure", "MaximumRetryCount": 2}, mem_limit="64m",
                                  nano_cpus=500_000_000, pids_limit=50, cap_drop=["NET_RAW"], init=True,
                                  extra_hosts={"db": "10.1.2.3"}, dns=["10.0.0.53"], read_only=True)
    made = api.create_container("busybox", ["sleep", "5"], name="cfg", environment={"A": "1"}, working_dir="/tmp",
                                hostname="box", labels={"k": "v"}, stop_signal="SIGINT", host_config=host,
                                healthcheck={"test": ["CMD", "true"], "interval": 2_000_000_000})
    try:
        doc = api.inspect_container(made["Id"])
        assert made["Warnings"] == []
        cfg, hc = doc["Config"], doc["HostConfig"]
        assert cfg["Cmd"] == ["sleep", "5"] and "A=1" in cfg["Env"] and cfg["WorkingDir"] == "/tmp"
        assert cfg["Hostname"] == "box" and cfg["Labels"]["k"] == "v" and cfg["StopSignal"] == "SIGINT"
        assert cfg["Healthcheck"]["Test"] == ["CMD", "true"] and cfg["Healthcheck"]["Interval"] == 2_000_000_000
        assert hc["Binds"] == ["/tmp:/host-tmp:ro"] and hc["ReadonlyRootfs"] is True and hc["Init"] is True
        assert hc["PortBindings"]["80/tcp"][0]["HostIp"] == "127.0.0.1"
        assert hc["RestartPolicy"] == {"Name": "on-failure", "MaximumRetryCount": 2}
        assert hc["Memory"] == 64 * 1024 * 1024 and hc["NanoCpus"] == 500_000_000 and hc["PidsLimit"] == 50
        assert hc["CapDrop"] == ["NET_RAW"] and hc["ExtraHosts"] == ["db:10.1.2.3"] and hc["Dns"] == ["10.0.0.53"]
        assert hc["LogConfig"]["Type"] == "json-file"
        assert any(m["Destination"] == "/host-tmp" and m["RW"] is False for m in doc["Mounts"])
    finally:
        api.remove_container(made["Id"], force=True)
    # docker-py's volumes= names a bind's target in Config.Volumes too; a target alone is an anonymous volume
    made = api.create_container("busybox", ["true"], volumes=["/host-tmp", "/anon"],
                                host_config=api.create_host_config(binds={"/tmp": {"bind": "/host-tmp"}}))
    try:
        mounts = {m["Destination"]: m["Type"] for m in api.inspect_container(made["Id"])["Mounts"]}
        assert mounts == {"/host-tmp": "bind", "/anon": "volume"}
    finally:
        api.remove_container(made["Id"], force=True, v=True)


def test_lifecycle_status_codes(client):
    api = client.api
    # a shell as pid 1 acts on SIGTERM only with a trap (the kernel drops signals pid 1 has no handler for)
    cid = api.create_container("busybox", ["sh", "-c", "trap 'exit 5' TERM; sleep 300 & wait"], name="life")["Id"]
    try:
        assert _status(client, "post", f"/containers/{cid}/start") == 204
        assert _status(client, "post", f"/containers/{cid}/start") == 304
        with_body = client.api._post_json(client.api._url(f"/containers/{cid}/start"), data={"Binds": ["/:/x"]})
        assert with_body.status_code == 400  # old clients' HostConfig at start: not taken since API 1.24
        api.pause(cid)
        assert api.inspect_container(cid)["State"]["Paused"] is True
        assert _status(client, "post", f"/containers/{cid}/pause") == 409
        api.unpause(cid)
        assert _status(client, "post", f"/containers/{cid}/unpause") == 409
        with pytest.raises(docker.errors.APIError) as running:
            api.remove_container(cid)
        assert running.value.status_code == 409
        assert f"You cannot remove a running container {cid}" in str(running.value)
        top = api.top(cid)
        assert top["Titles"][:3] == ["UID", "PID", "PPID"] and any("sleep 300" in p[-1] for p in top["Processes"])
        api.rename(cid, "renamed")
        assert api.inspect_container(cid)["Name"] == "/renamed"
        with pytest.raises(docker.errors.APIError) as bad_signal:
            api.kill(cid, signal="SIGNOPE")
        assert bad_signal.value.status_code == 400
        api.kill(cid, signal="SIGTERM")
        assert api.wait(cid, timeout=30) == {"StatusCode": 5, "Error": None}
        assert _status(client, "post", f"/containers/{cid}/stop") == 304
        with pytest.raises(docker.errors.APIError) as dead:
            api.kill(cid)
        assert dead.value.status_code == 409 and "is not running" in str(dead.value)
        with pytest.raises(docker.errors.APIError) as stopped_top:
            api.top(cid)
        assert stopped_top.value.status_code == 409
        api.restart(cid, timeout=1)
        assert api.inspect_container(cid)["State"]["Running"] is True
        api.stop(cid, timeout=5)
        assert api.inspect_container(cid)["State"]["Status"] == "exited"
    finally:
        api.remove_container(cid, force=True)
    for call in (api.start, api.stop, api.kill, api.inspect_container, api.remove_container):
        with pytest.raises(docker.errors.NotFound, match="No such container: nothing"):
            call("nothing")


def test_wait_next_exit_is_in_place_before_the_start(client):
    api = client.api
    cid = api.create_container("busybox", ["sh", "-c", "exit 7"])["Id"]
    try:
        result = {}
        waiter = threading.Thread(target=lambda: result.update(api.wait(cid, timeout=30, condition="next-exit")))
        waiter.start()
        time.sleep(0.3)
        assert not result  # a created container has not exited yet
        api.start(cid)
        waiter.join(30)
        assert result == {"StatusCode": 7, "Error": None}
        assert api.wait(cid, condition="not-running")["StatusCode"] == 7  # not running now: at once
        with pytest.raises(docker.errors.APIError) as bad:
            api.wait(cid, condition="sometime")
        assert bad.value.status_code == 400
    finally:
        api.remove_container(cid, force=True)


def test_wait_removed_with_auto_remove(client):
    api = client.api
    cid = api.create_container("busybox", ["sh", "-c", "sleep 0.5; exit 4"],
                               host_config=api.create_host_config(auto_remove=True))["Id"]
    api.start(cid)
    assert api.wait(cid, timeout=30, condition="removed")["StatusCode"] == 4
    assert api.containers(all=True) == []


def test_logs(client):
    # apart in time: stdout and stderr are two pipes, read in whatever order their data comes
    c = client.containers.run("busybox", ["sh", "-c", "echo one; sleep 0.2; echo two >&2; sleep 0.2; echo three"],
                              detach=True)
    try:
        assert c.wait(timeout=30)["StatusCode"] == 0
        assert c.logs() == b"one\ntwo\nthree\n"
        assert c.logs(stderr=False) == b"one\nthree\n"
        assert c.logs(stdout=False) == b"two\n"
        assert c.logs(tail=1) == b"three\n"
        stamped = c.logs(timestamps=True).decode().splitlines()
        assert len(stamped) == 3 and all(line[:4].isdigit() and "T" in line.split()[0] for line in stamped)
        assert c.logs(since=int(time.time()) + 60) == b""
        with pytest.raises(docker.errors.APIError):
            client.api.logs(c.id, stdout=False, stderr=False)
    finally:
        c.remove()


def test_logs_follow_ends_when_the_container_exits(client):
    c = client.containers.run("busybox", ["sh", "-c", "for i in 1 2 3; do echo $i; sleep 0.3; done"], detach=True)
    try:
        started = time.monotonic()
        lines = list(c.logs(stream=True, follow=True))
        assert b"".join(lines) == b"1\n2\n3\n" and time.monotonic() - started < 20
    finally:
        c.remove(force=True)


def test_logs_of_a_tty_container_are_raw(client):
    c = client.containers.run("busybox", ["echo", "tty"], detach=True, tty=True)
    try:
        c.wait(timeout=30)
        assert c.logs().replace(b"\r", b"") == b"tty\n"
    finally:
        c.remove()


def test_stats_in_dockers_shape(client):
    c = client.containers.run("busybox", ["sleep", "300"], detach=True, mem_limit="64m")
    try:
        one = c.stats(stream=False)
        assert one["name"] == "/" + c.name and one["id"] == c.id
        assert one["memory_stats"]["limit"] == 64 * 1024 * 1024 and one["memory_stats"]["usage"] > 0
        cpu, pre = one["cpu_stats"], one["precpu_stats"]
        assert cpu["online_cpus"] >= 1 and cpu["system_cpu_usage"] > pre["system_cpu_usage"]
        assert cpu["cpu_usage"]["total_usage"] >= pre["cpu_usage"]["total_usage"]
        usage = cpu["cpu_usage"]
        assert usage["usage_in_usermode"] + usage["usage_in_kernelmode"] <= usage["total_usage"] * 1.1 + 20_000_000
        assert one["pids_stats"]["current"] >= 1 and "eth0" in one["networks"]
        assert {e["op"] for e in one["blkio_stats"]["io_service_bytes_recursive"]} == {"read", "write"}
        stream = c.stats(stream=True, decode=True)
        first, second = next(stream), next(stream)
        stream.close()
        assert second["precpu_stats"] == first["cpu_stats"] and second["preread"] == first["read"]
        shot = client.api.stats(c.id, stream=False, one_shot=True)
        assert shot["precpu_stats"]["cpu_usage"]["total_usage"] == 0
    finally:
        c.remove(force=True)
    stopped = client.containers.create("busybox", ["true"])
    try:
        zero = stopped.stats(stream=False)
        assert zero["read"] == "0001-01-01T00:00:00Z" and zero["memory_stats"] == {}
    finally:
        stopped.remove()


def test_stats_carry_throttling_and_packet_counters(client):
    """docker's throttling_data (a busy loop under --cpus 0.1 runs out of quota) and eth0's packets both ways
    (three pings from the host), with no errors."""
    import subprocess

    c = client.containers.run("busybox", ["sh", "-c", "while :; do :; done"], detach=True, nano_cpus=100_000_000)
    try:
        c.reload()
        address = c.attrs["NetworkSettings"]["IPAddress"]
        ping = subprocess.run(["busybox", "ping", "-c", "3", "-i", "0.2", "-W", "2", address], capture_output=True,
                              text=True, timeout=20)
        assert ping.returncode == 0, ping.stdout + ping.stderr
        doc = wait_for(lambda: (d := c.stats(stream=False))["cpu_stats"]["throttling_data"]["throttled_periods"] > 2
                       and d, 10, "throttled periods")
        throttling = doc["cpu_stats"]["throttling_data"]
        assert throttling["periods"] >= throttling["throttled_periods"] and throttling["throttled_time"] > 0, doc
        eth0 = doc["networks"]["eth0"]
        assert eth0["rx_packets"] >= 3 and eth0["tx_packets"] >= 3, eth0
        assert eth0["rx_errors"] == eth0["tx_errors"] == 0, eth0
    finally:
        c.remove(force=True)


def test_changes_archive_and_export(client):
    c = client.containers.run("busybox", ["sh", "-c", "echo made > /added; mkdir /box; sleep 300"], detach=True)
    try:
        deadline = time.monotonic() + 20
        while {"Path": "/added", "Kind": 1} not in (c.diff() or []):
            assert time.monotonic() < deadline, c.diff()
            time.sleep(0.1)
        bits, stat = c.get_archive("/added")
        assert stat["name"] == "added" and stat["size"] == 5 and stat["mode"] & 0o777 == 0o644
        with tarfile.open(fileobj=io.BytesIO(b"".join(bits))) as tar:
            assert tar.extractfile("added").read() == b"made\n"
        head = client.api.head(client.api._url("/containers/{0}/archive", c.id), params={"path": "/box"})
        assert head.status_code == 200 and "X-Docker-Container-Path-Stat" in head.headers
        payload = io.BytesIO()
        with tarfile.open(fileobj=payload, mode="w") as tar:
            info = tarfile.TarInfo("sent.txt")
            info.size = 3
            tar.addfile(info, io.BytesIO(b"in\n"))
        assert c.put_archive("/box", payload.getvalue()) is True
        bits, _ = c.get_archive("/box/sent.txt")
        with tarfile.open(fileobj=io.BytesIO(b"".join(bits))) as tar:
            assert tar.extractfile("sent.txt").read() == b"in\n"
        with pytest.raises(docker.errors.NotFound, match="Could not find the file /nothere"):
            c.get_archive("/nothere")
        with pytest.raises(docker.errors.APIError) as not_dir:
            c.put_archive("/added", payload.getvalue())
        assert not_dir.value.status_code == 400
        exported = b"".join(c.export())
        with tarfile.open(fileobj=io.BytesIO(exported)) as tar:
            names = set(tar.getnames())
        assert {"added", "box/sent.txt"} <= {n.lstrip("./") for n in names}
        assert any(n.lstrip("./") == "bin/busybox" or n.endswith("bin/sh") for n in names)
    finally:
        c.remove(force=True)


def test_list_filters_limit_and_size(client):
    api = client.api
    first = api.create_container("busybox", ["true"], name="first", labels={"tier": "a"})["Id"]
    second = api.create_container("busybox", ["true"], name="second", labels={"tier": "b"})["Id"]
    try:
        assert [c["Id"] for c in api.containers(all=True)] == [second, first]  # newest first
        assert [c["Id"] for c in api.containers(limit=1)] == [second]
        assert [c["Id"] for c in api.containers(all=True, filters={"before": "second"})] == [first]
        assert [c["Id"] for c in api.containers(all=True, filters={"since": "first"})] == [second]
        assert [c["Id"] for c in api.containers(all=True, filters={"id": first[:10]})] == [first]
        assert [c["Id"] for c in api.containers(all=True, filters={"name": ["first", "second"]})] == [second, first]
        assert [c["Id"] for c in api.containers(all=True, filters={"label": ["tier"]})] == [second, first]
        assert [c["Id"] for c in api.containers(all=True, filters={"ancestor": "busybox"})] == [second, first]
        assert api.containers(all=True, filters={"ancestor": "nothere"}) == []
        assert [c["Id"] for c in api.containers(filters={"status": "created"})] == [second, first]
        sized = api.containers(all=True, size=True)[0]
        assert sized["SizeRw"] >= 0 and sized["SizeRootFs"] > 0
        for bad in ({"nope": "1"}, {"status": "sleeping"}):
            with pytest.raises(docker.errors.APIError) as refused:
                api.containers(all=True, filters=bad)
            assert refused.value.status_code == 400 and "invalid filter" in str(refused.value)
    finally:
        api.remove_container(first)
        api.remove_container(second)


def test_prune(client):
    api = client.api
    keep = client.containers.run("busybox", ["sleep", "300"], detach=True)
    labelled = api.create_container("busybox", ["true"], labels={"keep": "1"})["Id"]
    plain = api.create_container("busybox", ["true"])["Id"]
    try:
        pruned = client.containers.prune(filters={"label!": "keep"})
        assert pruned["ContainersDeleted"] == [plain] and pruned["SpaceReclaimed"] >= 0
        assert client.containers.prune(filters={"until": "1h"})["ContainersDeleted"] is None  # all are newer
        assert client.containers.prune()["ContainersDeleted"] == [labelled]
        assert [c.id for c in client.containers.list(all=True)] == [keep.id]
    finally:
        keep.remove(force=True)


def test_resize_reaches_the_tty(client):
    c = client.containers.run("busybox", ["sh", "-c", "sleep 1; stty size"], detach=True, tty=True)
    try:
        client.api.resize(c.id, 33, 101)
        assert c.wait(timeout=30)["StatusCode"] == 0
        assert c.logs().strip() == b"33 101"
    finally:
        c.remove(force=True)


def test_update_changes_limits_live_and_refuses_the_rest(client):
    c = client.containers.run("busybox", ["sleep", "300"], detach=True, mem_limit="64m")
    try:
        assert client.api.update_container(c.id, mem_limit="96m", cpu_shares=512,
                                           restart_policy={"Name": "on-failure", "MaximumRetryCount": 3}) \
            == {"Warnings": []}
        url = client.api._url("/containers/{0}/update", c.id)  # docker-py has no pids_limit for update
        assert client.api._post_json(url, data={"PidsLimit": 40}).status_code == 200
        assert c.stats(stream=False)["memory_stats"]["limit"] == 96 * 1024 * 1024  # the cgroup's, read back
        assert c.stats(stream=False)["pids_stats"]["limit"] == 40
        hc = client.api.inspect_container(c.id)["HostConfig"]
        assert hc["Memory"] == 96 * 1024 * 1024 and hc["PidsLimit"] == 40 and hc["CpuShares"] == 512
        assert hc["RestartPolicy"] == {"Name": "on-failure", "MaximumRetryCount": 3}
        with pytest.raises(docker.errors.APIError) as refused:
            client.api.update_container(c.id, blkio_weight=300)
        assert refused.value.status_code == 400 and "BlkioWeight" in str(refused.value)
        with pytest.raises(docker.errors.APIError) as small:
            client.api.update_container(c.id, mem_limit="1m")
        assert small.value.status_code == 400 and "Minimum memory limit allowed is 6MB" in str(small.value)
    finally:
        c.remove(force=True)


def test_an_updated_restart_policy_applies_at_the_next_exit(client):
    c = client.containers.run("busybox", ["sh", "-c", "sleep 1; exit 1"], detach=True)
    try:
        c.update(restart_policy={"Name": "on-failure", "MaximumRetryCount": 1})
        deadline = time.monotonic() + 30
        while client.api.inspect_container(c.id)["RestartCount"] < 1:
            assert time.monotonic() < deadline, "the new policy did not restart it"
            time.sleep(0.1)
    finally:
        c.remove(force=True)


def test_stop_timeout_and_platform(client, engine):
    api = client.api
    cid = api.create_container("busybox", ["sleep", "300"], stop_timeout=1)["Id"]  # pid 1 ignores SIGTERM
    try:
        assert api.inspect_container(cid)["Config"]["StopTimeout"] == 1
        api.start(cid)
        started = time.monotonic()
        api.stop(cid)  # no t: the container's own StopTimeout, not 10 s
        assert time.monotonic() - started < 6 and api.inspect_container(cid)["State"]["ExitCode"] == 137
    finally:
        api.remove_container(cid, force=True)
    image = engine.images.inspect("busybox")  # the image endpoints are another module's
    native = f"{image['Os']}/{image['Architecture']}"
    api.remove_container(api.create_container("busybox", ["true"], platform=native)["Id"])
    with pytest.raises(docker.errors.NotFound, match="does not match the specified platform"):
        api.create_container("busybox", ["true"], platform="linux/s390x")
    assert api.containers(all=True) == []


def test_a_wait_its_client_gave_up_on_ends(api, client):
    cid = client.api.create_container("busybox", ["true"])["Id"]
    try:
        threads = lambda: len(os.listdir(f"/proc/{api.proc.pid}/task"))  # noqa: E731
        before = threads()
        s = socket.socket(socket.AF_UNIX)
        s.connect(str(api.sock))
        s.sendall(f"POST /v1.44/containers/{cid}/wait?condition=next-exit HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        assert s.recv(4096).startswith(b"HTTP/1.1 200")  # the headers at once; the status when it exits
        assert threads() == before + 1
        s.close()
        wait_for(lambda: threads() == before, 10, "the abandoned wait's thread to end")
    finally:
        client.api.remove_container(cid)
