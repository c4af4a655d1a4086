"""The API's documents against moby's own schema, as podman's compat tests do: api/swagger.yaml (API v1.41, from
Debian's golang-github-docker-docker-dev) gives each answer's shape; the answers to a v1.41 client (docker-py
pinned to 1.41) must validate against it.

Swagger 2.0's schemas are JSON Schema draft 4 plus `x-nullable`: a node marked `x-nullable: true` also takes
null; every other field must have its type (Go's clients fail to decode 1.0 into an int, a python client to
iterate null). Where docker's own daemon answers against its spec (measured: Debian's dockerd 20.10 on this
scenario through the same checks), docker's answer is the contract, and the spec is widened there only
(DOCKER_NULLS and _docker_own below; test_dockers_own_answers_validate re-checks it). A violation is reported
as field, expected, actual."""

from __future__ import annotations

import functools
import time
from pathlib import Path

import pytest

from tests.conftest import wait_for

SWAGGER = Path("/usr/share/gocode/src/github.com/docker/docker/api/swagger.yaml")
SPEC_VERSION = "1.41"

pytestmark = pytest.mark.skipif(not SWAGGER.exists(),
                                reason="needs moby's swagger.yaml (apt-get install golang-github-docker-docker-dev)")
jsonschema = pytest.importorskip("jsonschema", reason="the JSON-schema validator is installed by the test extra")
docker = pytest.importorskip("docker", reason="docker-py is installed by the test extra")


# Fields that docker's own daemon writes as null (Go's nil slices, maps and pointers) although its spec does not
# mark them x-nullable, by the definition that holds them.
DOCKER_NULLS = {
    "Resources": ["BlkioWeightDevice", "BlkioDeviceReadBps", "BlkioDeviceWriteBps", "BlkioDeviceReadIOps",
                  "BlkioDeviceWriteIOps", "Devices", "DeviceCgroupRules", "DeviceRequests", "MemorySwappiness",
                  "Ulimits"],
    "HostConfig": ["Binds", "CapAdd", "CapDrop", "Dns", "DnsOptions", "DnsSearch", "ExtraHosts", "GroupAdd", "Links",
                   "PortBindings", "SecurityOpt", "VolumesFrom"],
    "ContainerConfig": ["Cmd", "Entrypoint", "Env", "Labels", "OnBuild", "Volumes"],
    "EndpointSettings": ["Aliases", "Links"],
    "ImageSummary": ["Labels", "RepoDigests"],
    "IPAM": ["Options"],
    "Volume": ["Labels", "Options"],
    "SystemInfo": ["GenericResources", "Warnings"],
    "PluginsInfo": ["Authorization"],
}


def _field(defs: dict, name: str, prop: str) -> dict:
    node = defs[name]
    for part in (node, *node.get("allOf", [])):
        if prop in part.get("properties", {}):
            return part["properties"][prop]
    raise KeyError(f"{name}.{prop}")


def _docker_own(spec: dict) -> dict:
    """The spec widened to what docker itself answers (DOCKER_NULLS; an empty Isolation on Linux; the restart
    policy "no" that the docker CLI sends and docker reports) and its one slip fixed: in v1.41 ContainerSummary is
    the list itself, so /system/df's Containers items are its items."""
    defs = spec["definitions"]
    for name, props in DOCKER_NULLS.items():
        for prop in props:
            _field(defs, name, prop)["x-nullable"] = True
    for name in ("HostConfig", "SystemInfo"):
        _field(defs, name, "Isolation")["enum"].append("")
    _field(defs, "RestartPolicy", "Name")["enum"].append("no")
    paths = spec["paths"]
    paths["/volumes"]["get"]["responses"][200]["schema"]["properties"]["Warnings"]["x-nullable"] = True
    df = paths["/system/df"]["get"]["responses"][200]["schema"]["properties"]
    df["BuildCache"]["x-nullable"] = True
    df["Containers"]["items"] = defs["ContainerSummary"]["items"]
    return spec


@functools.cache
def _spec() -> dict:
    import yaml

    return _nullable(_docker_own(yaml.safe_load(SWAGGER.read_text())))


def _nullable(node):
    """Swagger's `x-nullable: true` in JSON Schema terms: the node, or null."""
    if isinstance(node, list):
        return [_nullable(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: _nullable(value) for key, value in node.items() if key != "x-nullable"}
    if node.get("x-nullable") is True:
        return {"anyOf": [{"type": "null"}, out]}
    return out


def definition(name: str) -> dict:
    return {"$ref": f"#/definitions/{name}"}


def response(path: str, method: str = "get", code: int = 200) -> dict:
    """The schema of an endpoint's answer, as the spec writes it inline (or as a $ref)."""
    return _spec()["paths"][path][method]["responses"][code]["schema"]


def _leaves(error) -> list:
    """The specific complaints under an error: an anyOf (x-nullable) says only "not valid under any"; below it,
    the "is not null" branch is noise."""
    if not error.context:
        return [error]
    return [leaf for sub in error.context if sub.validator_value != "null" for leaf in _leaves(sub)]


def violations(doc: object, schema: dict) -> list[str]:
    validator = jsonschema.Draft4Validator({**schema, "definitions": _spec()["definitions"]})
    out = []
    for error in validator.iter_errors(doc):
        for leaf in _leaves(error):
            field = "/".join(map(str, leaf.absolute_path)) or "(the document)"
            if leaf.validator == "required":  # one error per missing field: name it
                out.append(f"{field}: expected required field, missing: {leaf.message.split(' is a ')[0]}")
                continue
            actual = repr(leaf.instance)
            actual = actual if len(actual) <= 80 else actual[:77] + "..."
            out.append(f"{field}: expected {leaf.validator}={leaf.validator_value!r}, got {actual}")
    return sorted(set(out))


def check(doc: object, schema: dict, what: str) -> None:
    found = violations(doc, schema)
    assert not found, f"{what} does not match swagger.yaml v{SPEC_VERSION}:\n  " + "\n  ".join(found)


def test_the_validator_finds_violations():
    """The check itself bites: a wrong type, a missing required field, a null where none is allowed."""
    volume = {"Name": "v", "Driver": "local", "Mountpoint": "/x", "Labels": {}, "Scope": "local", "Options": {}}
    assert violations(volume, definition("Volume")) == []
    assert violations({**volume, "UsageData": None}, definition("Volume")) == []  # x-nullable: true
    bad = violations({**volume, "Scope": 3, "Name": None, "UsageData": {"Size": 1}}, definition("Volume"))
    assert any(line.startswith("Scope: expected type='string'") for line in bad), bad
    assert any(line.startswith("Name: ") for line in bad), bad  # Name is not nullable
    assert "UsageData: expected required field, missing: 'RefCount'" in bad, bad  # under the anyOf
    missing = dict(volume)
    del missing["Mountpoint"]
    assert violations(missing, definition("Volume")) == [
        "(the document): expected required field, missing: 'Mountpoint'"]
    assert violations({"Id": "x", "Created": 1.0}, {"properties": {"Created": {"type": "integer"}}})
    # Only where docker itself writes null: a null list of names is still wrong.
    assert violations([{"Id": "x", "Names": None}], response("/containers/json")) == [
        "0/Names: expected type='array', got None"]
    assert violations({**volume, "Labels": None, "Options": None}, definition("Volume")) == []


# -- the service, and what it shows ------------------------------------------------------------------------------
@pytest.fixture
def low(api):
    """docker-py's low-level client speaking API v1.41, the spec's version."""
    c = docker.APIClient(base_url=api.url, version=SPEC_VERSION, timeout=30)
    yield c
    c.close()


@pytest.fixture
def running(engine, tuiker):
    """A running container (`web`) with a log line, a published port, a named volume and a file it changed."""
    from tests.conftest import ok

    ok(tuiker("run", "-d", "--name", "web", "-p", "127.0.0.1::80", "-e", "SWAGGER=1", "--label", "role=test",
              "-v", "swagger-data:/data", "busybox", "sh", "-c", "echo hello; touch /tmp/changed; exec sleep 1000"))
    yield "web"
    tuiker("rm", "-f", "web")


def test_dockers_own_answers_validate(dockerd):
    """The same checks against Debian's dockerd 20.10 (the suite's private one): docker's own answers pass, so the
    widening (DOCKER_NULLS ...) is what docker does, and nothing here is stricter than docker."""
    low = docker.APIClient(base_url=dockerd.env["DOCKER_HOST"], version=SPEC_VERSION, timeout=30)
    try:
        none = low.create_host_config(network_mode="none", binds=["vol1:/data"])  # the daemon makes no bridge
        low.start(low.create_container("busybox", ["sh", "-c", "touch /tmp/changed; exec sleep 100"], name="web",
                                       labels={"role": "test"}, environment=["A=1"], host_config=none))
        low.create_container("busybox", ["true"], name="idle", host_config=low.create_host_config(network_mode="none"))
        low.create_network("n1")
        exec_id = low.exec_create("web", ["true"])["Id"]
        low.exec_start(exec_id, detach=True)
        found = []
        for what, doc, schema in [
                ("/version", low.version(api_version=False), response("/version")),
                ("/info", low.info(), response("/info")),
                ("/containers/json", low.containers(all=True), response("/containers/json")),
                ("/containers/web/json", low.inspect_container("web"), response("/containers/{id}/json")),
                ("/containers/web/top", low.top("web"), response("/containers/{id}/top")),
                ("/containers/web/changes", low.diff("web"), response("/containers/{id}/changes")),
                ("/containers/web/stats", low.stats("web", stream=False), STATS),
                ("/exec/ID/json", wait_for(lambda: (d := low.exec_inspect(exec_id)) and not d["Running"] and d, 10,
                                           "the exec's end"), response("/exec/{id}/json")),
                ("/images/json", low.images(), response("/images/json")),
                ("/images/busybox/json", low.inspect_image("busybox"), response("/images/{name}/json")),
                ("/networks", low.networks(), response("/networks")),
                ("/networks/n1", low.inspect_network("n1"), response("/networks/{id}")),
                ("/volumes/create", low.create_volume("v2"), response("/volumes/create", "post", 201)),
                ("/volumes/vol1", low.inspect_volume("vol1"), response("/volumes/{name}")),
                ("/volumes", low.volumes(), response("/volumes")),
                ("/system/df", low.df(), response("/system/df"))]:
            found += [f"{what}: {line}" for line in violations(doc, schema)]
        assert not found, "docker's own answers fail the checks:\n  " + "\n  ".join(found)
    finally:  # the suite's dockerd is shared: what this test made goes
        for remove, name in ((low.remove_container, "web"), (low.remove_container, "idle"),
                             (low.remove_network, "n1"), (low.remove_volume, "vol1"), (low.remove_volume, "v2")):
            try:
                remove(name, **({"force": True, "v": True} if remove == low.remove_container else {}))
            except docker.errors.NotFound:
                pass
        low.close()


def test_version(low):
    check(low.version(api_version=False), response("/version"), "GET /version")


def test_info(low, running):
    check(low.info(), response("/info"), "GET /info")


def test_containers_list(low, running, tuiker):
    tuiker("create", "--name", "idle", "busybox", "true")
    listed = low.containers(all=True)
    assert {c["Names"][0] for c in listed} == {"/web", "/idle"}, listed
    check(listed, response("/containers/json"), "GET /containers/json?all=1")


def test_container_inspect(low, running):
    doc = low.inspect_container(running)
    assert doc["Name"] == "/web" and doc["State"]["Running"] is True
    check(doc, response("/containers/{id}/json"), "GET /containers/web/json")


def test_container_created_through_the_api(low, engine):
    """A container as docker-py's create makes it (the API's own create path, not the CLI's)."""
    host = low.create_host_config(port_bindings={8080: ("127.0.0.1", None)}, binds=["swagger-api:/data:rw"],
                                  restart_policy={"Name": "on-failure", "MaximumRetryCount": 2}, mem_limit="64m")
    created = low.create_container("busybox", ["sleep", "1000"], name="made", environment={"A": "1"},
                                   labels={"k": "v"}, ports=[8080], volumes=["/data"], host_config=host)
    try:
        check(low.inspect_container(created["Id"]), response("/containers/{id}/json"), "GET /containers/made/json")
        low.start(created["Id"])
        check(low.inspect_container("made"), response("/containers/{id}/json"), "GET /containers/made/json (running)")
        check(low.containers(), response("/containers/json"), "GET /containers/json")
    finally:
        low.remove_container(created["Id"], force=True)


def test_container_top(low, running):
    top = low.top(running)
    assert any("sleep" in " ".join(row) for row in top["Processes"]), top
    check(top, response("/containers/{id}/top"), "GET /containers/web/top")


def test_container_changes(low, running):
    changes = wait_for(lambda: low.diff(running), 5, "the container's changes")
    assert {"Path": "/tmp/changed", "Kind": 1} in changes, changes
    check(changes, response("/containers/{id}/changes"), "GET /containers/web/changes")


# /containers/{id}/stats is `type: object` in the spec (with an example): the shape checked here is docker's
# types.StatsJSON as its clients read it (the docker CLI's stats, docker-py, compose, lazydocker's graphs).
_CPU = {"type": "object", "required": ["cpu_usage", "system_cpu_usage", "online_cpus", "throttling_data"],
        "properties": {
            "cpu_usage": {"type": "object", "required": ["total_usage", "usage_in_kernelmode", "usage_in_usermode"],
                          "properties": {"total_usage": {"type": "integer"},
                                         "usage_in_kernelmode": {"type": "integer"},
                                         "usage_in_usermode": {"type": "integer"},
                                         "percpu_usage": {"type": "array", "items": {"type": "integer"}}}},
            "system_cpu_usage": {"type": "integer"}, "online_cpus": {"type": "integer"},
            "throttling_data": {"type": "object", "required": ["periods", "throttled_periods", "throttled_time"],
                                "additionalProperties": {"type": "integer"}}}}
_BLKIO_ENTRIES = {"anyOf": [{"type": "null"}, {"type": "array", "items": {
    "type": "object", "required": ["major", "minor", "op", "value"],
    "properties": {"major": {"type": "integer"}, "minor": {"type": "integer"}, "op": {"type": "string"},
                   "value": {"type": "integer"}}}}]}
STATS = {
    "type": "object",
    "required": ["read", "preread", "pids_stats", "blkio_stats", "cpu_stats", "precpu_stats", "memory_stats",
                 "name", "id"],
    "properties": {
        "read": {"type": "string"}, "preread": {"type": "string"}, "name": {"type": "string"},
        "id": {"type": "string"}, "num_procs": {"type": "integer"},
        "pids_stats": {"type": "object", "properties": {"current": {"type": "integer"}, "limit": {"type": "integer"}}},
        "blkio_stats": {"type": "object", "properties": {
            "io_service_bytes_recursive": _BLKIO_ENTRIES, "io_serviced_recursive": _BLKIO_ENTRIES}},
        "cpu_stats": _CPU, "precpu_stats": {"type": "object"},  # the first sample's precpu is zeros/empty in docker
        "memory_stats": {"type": "object", "required": ["usage", "limit", "stats"], "properties": {
            "usage": {"type": "integer"}, "limit": {"type": "integer"}, "max_usage": {"type": "integer"},
            "stats": {"type": "object", "additionalProperties": {"type": "integer"}}}},
        "networks": {"type": "object", "additionalProperties": {
            "type": "object", "additionalProperties": {"type": "integer"},
            "required": [f"{d}x_{n}" for d in "rt" for n in ("bytes", "packets", "errors", "dropped")]}},
    },
}


def test_container_stats_sample(low, running):
    sample = low.stats(running, stream=False)
    assert sample["name"] == "/web" and sample["memory_stats"]["usage"] > 0, sample
    check(sample, STATS, "GET /containers/web/stats?stream=0")
    check(sample["precpu_stats"], {"anyOf": [{"type": "object", "maxProperties": 0}, _CPU]},
          "GET /containers/web/stats?stream=0 precpu_stats")


def test_exec_inspect(low, running):
    exec_id = low.exec_create(running, ["sh", "-c", "exit 3"])["Id"]
    low.exec_start(exec_id, detach=True)
    doc = wait_for(lambda: (d := low.exec_inspect(exec_id)) and not d["Running"] and d, 10, "the exec's end")
    assert doc["ExitCode"] == 3, doc
    check(doc, response("/exec/{id}/json"), f"GET /exec/{exec_id}/json")


def test_images_list(low, engine):
    listed = low.images()
    assert any("busybox:latest" in (i["RepoTags"] or []) for i in listed), listed
    check(listed, response("/images/json"), "GET /images/json")


def test_image_inspect(low, engine):
    doc = low.inspect_image("busybox")
    assert doc["Id"].startswith("sha256:") and "busybox:latest" in doc["RepoTags"], doc
    check(doc, response("/images/{name}/json"), "GET /images/busybox/json")


def test_networks(low, running, tuiker):
    from tests.conftest import ok

    ok(tuiker("network", "create", "swagger-net"))
    try:
        ok(tuiker("network", "connect", "swagger-net", running))
        listed = low.networks()
        assert {"bridge", "host", "none", "swagger-net"} <= {n["Name"] for n in listed}, listed
        check(listed, response("/networks"), "GET /networks")
        for name in ("bridge", "swagger-net"):
            doc = low.inspect_network(name)
            assert doc["Name"] == name
            check(doc, response("/networks/{id}"), f"GET /networks/{name}")
    finally:
        tuiker("network", "disconnect", "-f", "swagger-net", running)
        tuiker("network", "rm", "swagger-net")


def test_volumes(low, engine):
    created = low.create_volume("swagger-vol", labels={"k": "v"})
    try:
        assert created["Name"] == "swagger-vol" and created["Labels"] == {"k": "v"}, created
        check(created, response("/volumes/create", "post", 201), "POST /volumes/create")
        check(low.inspect_volume("swagger-vol"), response("/volumes/{name}"), "GET /volumes/swagger-vol")
        check(low.volumes(), response("/volumes"), "GET /volumes")
    finally:
        low.remove_volume("swagger-vol")


def test_system_df(low, running):
    started = time.monotonic()
    df = low.df()
    assert time.monotonic() - started < 10
    assert any(c["Names"] == ["/web"] for c in df["Containers"]), df
    check(df, response("/system/df"), "GET /system/df")
