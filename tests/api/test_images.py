"""The image endpoints through docker-py (high and low level) against the real service, the test registry and
the token proxy: list, inspect, history, pull with docker's progress lines, X-Registry-Auth, tag, push (checked
by a pull into another engine root), delete with docker's 409, prune, save/load, import and commit."""

from __future__ import annotations

import io
import shutil
import tarfile
import tempfile
from pathlib import Path

import pytest

docker = pytest.importorskip("docker", reason="docker-py is installed by the test extra")


def _statuses(lines: list[dict]) -> list[str]:
    return [line.get("status", "") for line in lines]


def test_list_inspect_history(api, client, busybox_image):
    ref, _ = busybox_image
    rows = client.api.images()
    assert len(rows) == 1
    row = rows[0]
    assert set(row) >= {"Id", "ParentId", "RepoTags", "RepoDigests", "Created", "Size", "SharedSize", "Labels",
                        "Containers"}
    assert sorted(row["RepoTags"]) == sorted(["busybox:latest", ref])
    assert row["Id"].startswith("sha256:") and isinstance(row["Created"], int) and row["Size"] > 0
    assert row["SharedSize"] == -1 and row["Containers"] == -1 and "VirtualSize" not in row
    assert row["RepoDigests"] and row["RepoDigests"][0].startswith(ref.rsplit(":", 1)[0] + "@sha256:")
    old = docker.APIClient(base_url=api.url, version="1.41")
    try:
        assert old.images()[0]["VirtualSize"] == row["Size"]
    finally:
        old.close()

    matched = client.api.images(filters={"reference": "busybox"})
    assert [m["Id"] for m in matched] == [row["Id"]] and matched[0]["RepoTags"] == ["busybox:latest"]
    assert client.api.images(filters={"reference": "nothing*"}) == []
    assert client.api.images(filters={"dangling": True}) == []
    assert client.api.images(filters={"label": "no.such.label"}) == []
    with pytest.raises(docker.errors.APIError) as bad:
        client.api.images(filters={"colour": "blue"})
    assert bad.value.status_code == 400 and "invalid filter 'colour'" in str(bad.value)

    image = client.images.get("busybox")
    assert image.id == row["Id"] and "busybox:latest" in image.tags
    assert image.attrs["Config"]["Cmd"] == ["sh"] and image.attrs["Os"] == "linux"
    with pytest.raises(docker.errors.ImageNotFound) as missing:
        client.images.get("nope:1")
    assert missing.value.status_code == 404 and "No such image: nope:1" in str(missing.value)

    history = image.history()
    assert history[0]["Id"] == image.id and history[0]["Size"] > 0
    assert set(history[0]) == {"Id", "Created", "CreatedBy", "Tags", "Size", "Comment"}


def test_pull_streams_docker_progress(client, busybox_image):
    ref, _ = busybox_image
    repo, tag = ref.rsplit(":", 1)
    client.images.remove(client.images.get(ref).id, force=True)
    assert client.images.list() == []

    lines = list(client.api.pull(repo, tag, stream=True, decode=True))
    statuses = _statuses(lines)
    assert lines[0] == {"status": "Pulling from test/busybox", "id": "latest"}  # the path, as docker says it
    for expected in ("Pulling fs layer", "Downloading", "Download complete", "Extracting", "Pull complete"):
        assert expected in statuses, (expected, lines)
    downloading = [line for line in lines if line.get("status") == "Downloading"]
    assert all(d["progressDetail"]["total"] > 0 and 0 < d["progressDetail"]["current"] <= d["progressDetail"]["total"]
               for d in downloading)
    layer_ids = {line["id"] for line in lines if line.get("status") == "Pull complete"}
    assert len(layer_ids) == 1 and len(layer_ids.pop()) == 12
    assert statuses[-2].startswith("Digest: sha256:")
    assert statuses[-1] == f"Status: Downloaded newer image for {ref}"

    again = list(client.api.pull(repo, tag, stream=True, decode=True))
    assert "Already exists" in _statuses(again)
    assert _statuses(again)[-1] == f"Status: Image is up to date for {ref}"

    image = client.images.pull(repo, tag=tag)  # the high-level call: pull, then inspect by name
    assert ref in image.tags

    with pytest.raises(docker.errors.NotFound) as missing:
        client.images.pull(repo.replace("busybox", "nothing-here"), tag="1")
    assert "manifest unknown" in str(missing.value)
    with pytest.raises(docker.errors.APIError) as all_tags:
        client.api.pull(repo, all_tags=True)
    assert all_tags.value.status_code == 400


def test_pull_error_mid_stream_is_an_error_line(client, make_registry, busybox_image):
    from registry import push

    _, built = busybox_image
    reg = make_registry()
    push(reg, "test/broken", "latest", built)
    layer = max(Path(reg.storage).glob("docker/registry/v2/blobs/sha256/*/*/data"), key=lambda p: p.stat().st_size)
    layer.write_bytes(b"\0" * layer.stat().st_size)  # same size, other bytes: the digest check fails mid-pull
    client.images.remove(client.images.get("busybox").id, force=True)  # its layer must be downloaded

    lines = list(client.api.pull(f"{reg.host}/test/broken", "latest", stream=True, decode=True))
    assert lines[0] == {"status": "Pulling from test/broken", "id": "latest"}
    error = lines[-1]
    assert set(error) == {"errorDetail", "error"}, lines
    assert set(error) == {"errorDetail", "error"} and error["errorDetail"]["message"] == error["error"]
    assert "digest mismatch" in error["error"]
    assert not any(line.get("status", "").startswith("Status:") for line in lines)
    with pytest.raises(docker.errors.ImageNotFound):
        client.images.get(f"{reg.host}/test/broken:latest")


def test_x_registry_auth_reaches_the_registry(client, make_proxy):
    proxy = make_proxy(users={"alice": "s3cret"})
    repo = f"{proxy.host}/test/busybox"
    with pytest.raises(docker.errors.APIError) as denied:
        client.images.pull(repo, tag="latest")
    assert "authentication required" in str(denied.value)

    image = client.images.pull(repo, tag="latest", auth_config={"username": "alice", "password": "s3cret"})
    assert f"{repo}:latest" in image.tags
    tokens = [s for s in proxy.seen if s.path == "/token"]
    assert tokens and tokens[-1].auth_kind == "Basic" and tokens[-1].status == 200
    pulls = [s for s in proxy.seen if s.path.startswith("/v2/test/busybox/manifests/")]
    assert pulls[-1].auth_kind == "Bearer" and pulls[-1].status == 200

    client.images.get(f"{repo}:latest").tag(f"{proxy.host}/api/authed", "1")
    pushed = list(client.images.push(f"{proxy.host}/api/authed", tag="1", stream=True, decode=True,
                                     auth_config={"username": "alice", "password": "s3cret"}))
    assert any("aux" in line for line in pushed) and not any("error" in line for line in pushed), pushed
    assert [s for s in proxy.seen if s.path == "/token" and "push" in (s.scope or "")][-1].auth_kind == "Basic"
    refused = list(client.images.push(f"{proxy.host}/api/authed", tag="1", stream=True, decode=True))
    assert "error" in refused[-1] or refused == [], refused

    with pytest.raises(docker.errors.APIError) as wrong:
        client.images.pull(repo, tag="latest", auth_config={"username": "alice", "password": "wrong"})
    assert "authentication required or denied" in str(wrong.value)


def test_login_checks_with_the_registry(client, make_proxy):
    proxy = make_proxy(users={"carol": "pw"})
    answer = client.login("carol", "pw", registry=proxy.url)
    assert answer["Status"] == "Login Succeeded"
    assert [s for s in proxy.seen if s.path == "/token"][-1].auth_kind == "Basic"
    with pytest.raises(docker.errors.APIError) as refused:
        client.login("carol", "wrong", registry=proxy.url, reauth=True)
    assert refused.value.status_code == 401 and "login failed" in str(refused.value)


def test_identity_token_is_traded_at_the_token_server(client, make_proxy):
    proxy = make_proxy(users={"alice": "s3cret"}, refresh_tokens={"refresh-me"})
    repo = f"{proxy.host}/test/busybox"
    image = client.images.pull(repo, tag="latest", auth_config={"identitytoken": "refresh-me"})
    assert f"{repo}:latest" in image.tags
    grants = [s for s in proxy.seen if s.path == "/token"]
    assert grants and all(s.method == "POST" and s.auth_kind == "refresh_token" for s in grants)
    assert grants[-1].status == 200 and grants[-1].scope == "repository:test/busybox:pull"
    with pytest.raises(docker.errors.APIError) as refused:
        client.images.pull(repo, tag="latest", auth_config={"identitytoken": "not-issued"})
    assert "authentication required or denied" in str(refused.value)
    assert proxy.seen[-1].path == "/token" and proxy.seen[-1].status == 401


def test_tag_push_and_pull_elsewhere(client, registry):
    target = f"{registry.host}/api/pushed"
    assert client.images.get("busybox").tag(target, "v1") is True
    assert f"{target}:v1" in client.images.get("busybox").tags
    with pytest.raises(docker.errors.APIError) as bad:
        client.api.tag("busybox", "Not/Valid")
    assert bad.value.status_code == 400

    lines = list(client.images.push(target, tag="v1", stream=True, decode=True))
    assert lines[0] == {"status": f"The push refers to repository [{target}]"}
    layer_lines = [line for line in lines if line.get("id")]
    assert layer_lines and all(line["status"] in ("Preparing", "Pushing", "Pushed", "Layer already exists")
                               or line["status"].startswith("Mounted from") for line in layer_lines)
    final = [line for line in lines if line.get("status", "").startswith("v1: digest: ")]
    assert len(final) == 1
    digest = final[0]["status"].split()[2]
    aux = [line["aux"] for line in lines if "aux" in line]
    assert aux == [{"Tag": "v1", "Digest": digest, "Size": int(final[0]["status"].split()[-1])}]
    assert not any("error" in line for line in lines)

    other = Path(tempfile.mkdtemp(prefix="tuiker-test-", dir="/var/tmp"))
    try:
        from tuiker.engine import Engine

        pulled = Engine(other).images.pull(f"{target}:v1")
        assert pulled.repo_digest == digest and pulled.image.id == client.images.get("busybox").id
    finally:
        shutil.rmtree(other)


def test_push_missing_image_is_404(client, registry):
    with pytest.raises(docker.errors.APIError) as missing:
        client.api.push(f"{registry.host}/api/never", tag="v1")
    assert missing.value.status_code == 404


def test_commit_remove_conflict_and_force(client, engine):
    from tuiker.engine import RunOptions

    c = engine.containers.create(RunOptions(image="busybox", command=["true"]))
    try:
        committed = client.api.commit(c.id, repository="api/committed", tag="1", message="by the api",
                                      author="tester", conf={"Cmd": ["echo", "hi"], "Labels": {"a": "b"}},
                                      changes=["ENV X=1"])
        image = client.images.get("api/committed:1")
        assert image.id == committed["Id"]
        assert image.attrs["Config"]["Cmd"] == ["echo", "hi"] and image.attrs["Config"]["Labels"] == {"a": "b"}
        assert "X=1" in image.attrs["Config"]["Env"]
        assert image.attrs["Comment"] == "by the api" and image.attrs["Author"] == "tester"

        user = engine.containers.create(RunOptions(image="api/committed:1", command=["true"]))
        with pytest.raises(docker.errors.APIError) as conflict:
            client.images.remove("api/committed:1")
        assert conflict.value.status_code == 409
        assert str(conflict.value.explanation) == (
            'conflict: unable to remove repository reference "api/committed:1" (must force) - container'
            f" {user.id[:12]} is using its referenced image {committed['Id'][7:19]}")
        done = client.api.remove_image("api/committed:1", force=True)
        assert {"Untagged": "api/committed:1"} in done
        engine.containers.remove(user.id, force=True)
    finally:
        engine.containers.remove(c.id, force=True)
    with pytest.raises(docker.errors.NotFound):
        client.api.commit("no-such-container", repository="x")


def _tar(files: dict[str, bytes]) -> bytes:
    import imagebuilder

    return imagebuilder.make_tar([imagebuilder.File(name, data) for name, data in files.items()])


def test_import_then_prune_dangling(client):
    lines = list(client.api.import_image_from_data(_tar({"hello.txt": b"hi\n"}), repository=None))
    assert lines
    imported = client.api.import_image_from_data(_tar({"other.txt": b"x" * 5000}), repository="api/imported",
                                                 tag="2", changes=['CMD ["/hello"]'])
    assert "sha256:" in imported
    assert client.images.get("api/imported:2").attrs["Config"]["Cmd"] == ["/hello"]
    dangling = client.api.images(filters={"dangling": True})
    assert len(dangling) == 1 and dangling[0]["RepoTags"] == []

    with pytest.raises(docker.errors.APIError) as bad:
        client.api.prune_images(filters={"colour": "x"})
    assert bad.value.status_code == 400
    assert client.api.prune_images(filters={"until": "2000-01-01T00:00:00Z"})["ImagesDeleted"] is None
    result = client.images.prune()
    assert {"Deleted": dangling[0]["Id"]} in result["ImagesDeleted"] and result["SpaceReclaimed"] > 0
    assert client.api.images(filters={"dangling": True}) == []
    assert client.images.get("api/imported:2")  # tagged: not dangling
    result = client.images.prune(filters={"dangling": False, "label": "none.such"})
    assert result["ImagesDeleted"] is None
    client.images.prune(filters={"dangling": False})
    assert client.images.list() == []


def test_save_load_round_trip(client, busybox_image):
    ref, _ = busybox_image
    image = client.images.get("busybox")
    data = b"".join(image.save(named="busybox:latest"))
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        names = tar.getnames()
    assert "manifest.json" in names and "index.json" in names
    both = b"".join(client.api.get_image("busybox"))
    assert both[:512] and tarfile.open(fileobj=io.BytesIO(both))

    assert {"Deleted": image.id} in client.api.remove_image(image.id, force=True)
    assert client.images.list() == []
    loaded = client.images.load(data)
    assert [i.id for i in loaded] == [image.id] and "busybox:latest" in loaded[0].tags
    with pytest.raises(docker.errors.ImageNotFound):
        client.images.get("nothing").save()
    with pytest.raises(docker.errors.APIError) as broken:
        client.images.load(b"not a tar at all" * 100)
    assert broken.value.status_code in (400, 500)


def test_search_is_not_served(client):
    with pytest.raises(docker.errors.APIError) as e:
        client.images.search("busybox")
    assert e.value.status_code == 501 and "search is not supported" in str(e.value)


SWAGGER = Path("/usr/share/gocode/src/github.com/docker/docker/api/swagger.yaml")  # moby's v1.41, from Debian


@pytest.mark.skipif(not SWAGGER.exists(), reason="golang-github-docker-docker-dev is installed by the test command")
def test_shapes_have_swaggers_required_fields(api):
    yaml = pytest.importorskip("yaml", reason="PyYAML comes with the test extra")
    definitions = yaml.safe_load(SWAGGER.read_text())["definitions"]
    old = docker.APIClient(base_url=api.url, version="1.41")
    try:
        row = old.images()[0]
        doc = old.inspect_image("busybox")
    finally:
        old.close()
    assert set(definitions["ImageSummary"]["required"]) <= set(row)
    assert set(definitions["Image"]["required"]) <= set(doc)
    assert set(doc["GraphDriver"]) == set(definitions["GraphDriverData"]["required"])
    assert set(row) <= set(definitions["ImageSummary"]["properties"])
