"""/networks and /volumes through docker's own clients: docker-py (high and low level) and Debian's docker CLI,
over a tuiker service on the test's engine root. Real bridges, veths and volumes; nothing left behind (the
engine_root fixture fails the test if a veth remains)."""

from __future__ import annotations

import json
import os

import pytest

from tuiker.engine import RunOptions


def _cli_ok(api, *args: str) -> str:
    r = api.docker(*args)
    assert r.returncode == 0, (args, r.stdout, r.stderr)
    return r.stdout


def test_network_lifecycle_with_docker_py(client, engine):
    docker = pytest.importorskip("docker")
    names = [n.name for n in client.networks.list()]
    assert names[:3] == ["bridge", "host", "none"]
    net = client.networks.create("apinet", driver="bridge", labels={"team": "a"},
                                 ipam=docker.types.IPAMConfig(pool_configs=[
                                     docker.types.IPAMPool(subnet="10.231.7.0/24", gateway="10.231.7.1")]))
    attrs = client.api.inspect_network(net.id, verbose=True)
    assert attrs["Name"] == "apinet" and attrs["Driver"] == "bridge" and attrs["Scope"] == "local"
    assert attrs["IPAM"]["Config"] == [{"Subnet": "10.231.7.0/24", "Gateway": "10.231.7.1"}]
    assert attrs["Labels"] == {"team": "a"} and attrs["Containers"] == {}
    assert engine.networks.inspect("apinet")["Id"] == net.id  # the engine's own record, the same network

    with pytest.raises(docker.errors.APIError) as e:
        client.networks.create("apinet")
    assert e.value.status_code == 409 and "network with name apinet already exists" in str(e.value)
    with pytest.raises(docker.errors.APIError) as e:
        client.networks.create("other", driver="macvlan")
    assert e.value.status_code == 400 and "bridge networks only" in str(e.value)

    # Containers come from the engine: /containers is another module's (the network calls take any ID or name).
    c = engine.containers.create(RunOptions("busybox", command=["sleep", "30"], name="member"))
    engine.containers.start(c.id)
    net.connect(c.id, aliases=["db"])
    net.reload()
    (endpoint,) = net.attrs["Containers"].values()
    assert endpoint["Name"] == "member" and endpoint["IPv4Address"].startswith("10.231.7.")
    settings = engine.containers.inspect("member")["NetworkSettings"]["Networks"]["apinet"]
    assert settings["Aliases"] == ["db"] and endpoint["IPv4Address"] == f"{settings['IPAddress']}/24"
    assert [n.name for n in client.networks.list(filters={"dangling": True})] == []

    with pytest.raises(docker.errors.APIError) as e:
        net.remove()
    assert e.value.status_code == 403
    assert str(e.value.explanation) == f"error while removing network: network apinet id {net.id} has active endpoints"
    with pytest.raises(docker.errors.APIError) as e:
        net.connect("member")
    assert e.value.status_code == 403 and "already exists in network apinet" in str(e.value)

    net.disconnect(c.id)
    with pytest.raises(docker.errors.APIError) as e:
        net.disconnect("member")
    assert e.value.explanation == f"container {c.id} is not connected to network apinet"  # docker's 500, too
    net.reload()
    assert net.attrs["Containers"] == {}
    assert "apinet" not in engine.containers.inspect("member")["NetworkSettings"]["Networks"]
    engine.containers.remove(c.id, force=True)
    net.remove()
    bridge = f"tk-{net.id[:12]}"
    assert not os.path.exists(f"/sys/class/net/{bridge}")  # the bridge went with the network
    assert not [link for link in os.listdir("/sys/class/net") if link.startswith(f"tv{c.id[:12]}")]  # no veth
    with pytest.raises(docker.errors.NotFound):
        client.networks.get("apinet")


def test_network_errors_and_filters(client, api):
    docker = pytest.importorskip("docker")
    low = client.api
    with pytest.raises(docker.errors.APIError) as e:
        low.remove_network("bridge")
    assert e.value.status_code == 403 and e.value.explanation == "bridge is a pre-defined network and cannot be removed"
    with pytest.raises(docker.errors.APIError) as e:
        low.remove_network("none")
    assert e.value.status_code == 403 and e.value.explanation == "none is a pre-defined network and cannot be removed"
    with pytest.raises(docker.errors.NotFound) as e:
        low.inspect_network("nosuch")
    assert e.value.explanation == "network nosuch not found"
    with pytest.raises(docker.errors.APIError) as e:
        low.create_network("host")
    assert e.value.status_code == 403
    with pytest.raises(docker.errors.NotFound) as e:
        low.connect_container_to_network("nosuchcontainer", "bridge")

    a = low.create_network("f-one", labels={"tier": "front"})["Id"]
    b = low.create_network("f-two", labels={"tier": "back"}, internal=True)["Id"]
    assert low.inspect_network(b)["Internal"] is True

    def names(**filters) -> list[str]:
        return [n["Name"] for n in low.networks(filters=filters)]

    assert names(type="builtin") == ["bridge", "host", "none"]
    assert names(type="custom") == ["f-one", "f-two"]
    assert names(name="f-") == ["f-one", "f-two"] and names(id=a[:10]) == ["f-one"]
    assert names(label="tier=back") == ["f-two"] and names(label="tier") == ["f-one", "f-two"]
    assert names(driver="null") == ["none"] and names(dangling=True) == ["f-one", "f-two"]
    with pytest.raises(docker.errors.APIError) as e:
        low.networks(filters={"colour": "red"})
    assert e.value.status_code == 400

    assert low.prune_networks(filters={"label": "tier=front"})["NetworksDeleted"] == ["f-one"]
    assert client.networks.prune()["NetworksDeleted"] == ["f-two"]
    assert names(type="custom") == []


def test_network_with_docker_cli(api, engine):
    nid = _cli_ok(api, "network", "create", "--subnet", "10.231.9.0/24", "--label", "k=v", "clinet").strip()
    assert len(nid) == 64
    listing = _cli_ok(api, "network", "ls").splitlines()
    assert listing[0].split() == ["NETWORK", "ID", "NAME", "DRIVER", "SCOPE"]
    rows = {line.split()[1]: line.split() for line in listing[1:]}
    assert rows["clinet"] == [nid[:12], "clinet", "bridge", "local"] and rows["none"][2:] == ["null", "local"]
    (doc,) = json.loads(_cli_ok(api, "network", "inspect", "clinet"))
    assert doc == engine.networks.inspect("clinet")
    assert _cli_ok(api, "network", "inspect", "-f", "{{range .IPAM.Config}}{{.Subnet}}{{end}}", nid).strip() == \
        "10.231.9.0/24"
    c = engine.containers.create(RunOptions("busybox", command=["sleep", "30"], name="clic"))
    engine.containers.start(c.id)
    _cli_ok(api, "network", "connect", "--alias", "cache", "clinet", "clic")
    members = _cli_ok(api, "network", "inspect", "-f", "{{range .Containers}}{{.Name}} {{.IPv4Address}}{{end}}",
                      "clinet").split()
    assert members[0] == "clic" and members[1].startswith("10.231.9.")
    r = api.docker("network", "rm", "clinet")
    assert r.returncode == 1 and f"network clinet id {nid} has active endpoints" in r.stderr
    _cli_ok(api, "network", "disconnect", "clinet", "clic")
    assert "clinet" not in engine.containers.inspect("clic")["NetworkSettings"]["Networks"]
    engine.containers.remove(c.id, force=True)
    r = api.docker("network", "rm", "bridge")
    assert r.returncode == 1 and "bridge is a pre-defined network and cannot be removed" in r.stderr
    assert _cli_ok(api, "network", "rm", "clinet").strip() == "clinet"
    assert "clinet" not in _cli_ok(api, "network", "ls")


def test_volumes_with_docker_py(client, engine):
    docker = pytest.importorskip("docker")
    v = client.volumes.create("apivol", labels={"keep": "yes"})
    assert v.attrs["Name"] == "apivol" and v.attrs["Driver"] == "local" and v.attrs["Scope"] == "local"
    assert v.attrs == engine.volumes.get("apivol") and "UsageData" not in v.attrs
    assert client.volumes.create("apivol").attrs == v.attrs  # docker's create: an existing one as it is
    anon = client.api.create_volume()
    assert len(anon["Name"]) == 64

    with pytest.raises(docker.errors.NotFound) as e:
        client.volumes.create("x", driver="flocker")
    assert e.value.explanation == 'create x: error looking up volume plugin flocker: plugin "flocker" not found'
    with pytest.raises(docker.errors.APIError) as e:
        client.volumes.create("x", driver_opts={"type": "tmpfs"})
    assert e.value.status_code == 400
    with pytest.raises(docker.errors.APIError) as e:
        client.volumes.create("/abs")
    assert e.value.status_code == 400 and "invalid characters" in e.value.explanation
    with pytest.raises(docker.errors.NotFound) as e:
        client.volumes.get("nosuch")
    assert e.value.explanation == "get nosuch: no such volume"

    c = engine.containers.create(RunOptions("busybox", command=["true"], volumes=["apivol:/data"]))
    with pytest.raises(docker.errors.APIError) as e:
        v.remove()
    assert e.value.status_code == 409 and e.value.explanation == f"remove apivol: volume is in use - [{c.id}]"

    def names(**filters) -> list[str]:
        return sorted(x.name for x in client.volumes.list(filters=filters))

    assert names(label="keep=yes") == ["apivol"] and names(name="apiv") == ["apivol"]
    assert names(dangling=True) == [anon["Name"]] and names(dangling=False) == ["apivol"]
    assert names(driver="local") == sorted(["apivol", anon["Name"]])

    pruned = client.volumes.prune()  # API 1.44: anonymous ones only
    assert pruned["VolumesDeleted"] == [anon["Name"]] and pruned["SpaceReclaimed"] == 0
    engine.containers.remove(c.id)
    assert client.volumes.prune(filters={"label": "keep=no"})["VolumesDeleted"] is None
    assert client.volumes.prune(filters={"all": "true", "label": "keep"})["VolumesDeleted"] == ["apivol"]
    # force: a missing volume is no error (docker-py's remove_volume drops its force parameter: sent by hand)
    low = client.api
    assert low._delete(low._url("/volumes/{0}", "apivol"), params={"force": "1"}).status_code == 204
    assert low._delete(low._url("/volumes/{0}", "apivol")).status_code == 404
    assert client.volumes.list() == []


def test_volumes_with_docker_cli(api, engine):
    assert _cli_ok(api, "volume", "create", "--label", "a=b", "clivol").strip() == "clivol"
    listing = _cli_ok(api, "volume", "ls").splitlines()
    assert listing[0].split() == ["DRIVER", "VOLUME", "NAME"] and listing[1].split() == ["local", "clivol"]
    (doc,) = json.loads(_cli_ok(api, "volume", "inspect", "clivol"))
    assert doc == engine.volumes.get("clivol")
    assert _cli_ok(api, "volume", "inspect", "-f", "{{.Mountpoint}}", "clivol").strip() == doc["Mountpoint"]
    r = api.docker("volume", "inspect", "nosuch")
    assert r.returncode == 1 and "no such volume: nosuch" in r.stderr.lower()
    # docker 20.10's prune speaks API 1.41: every unused volume goes, named ones too
    assert "clivol" in _cli_ok(api, "volume", "prune", "-f")
    assert engine.volumes.list() == []
    _cli_ok(api, "volume", "create", "again")
    assert _cli_ok(api, "volume", "rm", "again").strip() == "again"
