"""`/build` (the classic builder's stream) through docker-py, and the image commands of Debian's docker CLI
(/usr/bin/docker, 20.10, with DOCKER_BUILDKIT=0) against the service: build, pull, images, rmi, save | load,
push; `docker images` shows the rows `tuiker images` shows."""

from __future__ import annotations

import json
import os
import re
import subprocess

import pytest
from conftest import ok, run_tuiker

from tests.apiserver import DOCKER_CLI

docker = pytest.importorskip("docker", reason="docker-py is installed by the test extra")

DOCKERFILE = """\
FROM busybox AS base
ARG GREETING=hello
RUN echo "$GREETING from the build" && echo to-stderr >&2
ENV MODE=base
FROM base AS final
LABEL stage=final
RUN echo final > /final.txt
"""


def _context(tmp_path, dockerfile: str = DOCKERFILE):
    (tmp_path / "Dockerfile").write_text(dockerfile)
    (tmp_path / "data.txt").write_text("data\n")
    return str(tmp_path)


def _streams(logs) -> str:
    return "".join(line.get("stream", "") for line in logs)


def test_build_streams_classic_lines(client, tmp_path):
    path = _context(tmp_path)
    image, logs = client.images.build(path=path, tag="api/built:1", buildargs={"GREETING": "hi"}, rm=True)
    logs = list(logs)
    text = _streams(logs)
    assert "Step 1/7 : FROM busybox AS base\n" in text
    assert "Step 3/7 : RUN echo \"$GREETING from the build\" && echo to-stderr >&2\n" in text
    assert "hi from the build\n" in text and "\x1b[91mto-stderr\n\x1b[0m" in text  # stderr in red, as dockerd
    running = re.findall(r" ---> Running in ([0-9a-f]{12})\n", text)
    assert len(running) == 2
    assert all(f"Removing intermediate container {c}\n" in text for c in running)
    aux = [line["aux"]["ID"] for line in logs if "aux" in line]
    assert aux == [image.id]
    assert text.endswith(f"Successfully built {image.id[7:19]}\nSuccessfully tagged api/built:1\n")
    steps = re.findall(r"Step (\d+)/7 : ", text)
    assert steps == [str(n) for n in range(1, 8)]
    # after every step, the image it made
    assert len(re.findall(r" ---> [0-9a-f]{12}\n", text)) == 7
    assert image.labels == {"stage": "final"} and "api/built:1" in image.tags

    again, logs = client.images.build(path=path, tag="api/built:2", buildargs={"GREETING": "hi"}, gzip=True)
    text = _streams(logs)
    assert again.id == image.id and text.count(" ---> Using cache\n") == 5 and "Running in" not in text

    fresh, logs = client.images.build(path=path, tag="api/built:3", buildargs={"GREETING": "hi"}, nocache=True)
    assert "Using cache" not in _streams(logs) and fresh.id != image.id

    base, logs = client.images.build(path=path, tag="api/base", target="base")
    text = _streams(logs)
    assert "Step 4/4 : ENV MODE=base\n" in text and "hello from the build\n" in text
    assert "MODE=base" in base.attrs["Config"]["Env"] and "stage" not in (base.labels or {})

    quiet = client.api.build(path=path, quiet=True, decode=True, labels={"extra": "yes"})
    lines = list(quiet)
    assert [line["stream"] for line in lines if "stream" in line] == [lines[0]["aux"]["ID"] + "\n"]
    assert client.images.get(lines[0]["aux"]["ID"]).labels == {"stage": "final", "extra": "yes"}


def test_build_errors(client, tmp_path):
    path = _context(tmp_path, "FROM busybox\nRUN echo before\nRUN exit 3\n")
    with pytest.raises(docker.errors.BuildError) as failed:
        client.images.build(path=path, tag="api/broken")
    assert str(failed.value) == "The command '/bin/sh -c exit 3' returned a non-zero code: 3"
    text = _streams(failed.value.build_log)
    assert "Step 3/3 : RUN exit 3\n" in text and "before\n" in text
    with pytest.raises(docker.errors.ImageNotFound):
        client.images.get("api/broken")

    with pytest.raises(docker.errors.APIError) as missing:
        client.images.build(path=path, dockerfile="Nope.dockerfile")
    assert missing.value.status_code in (400, 500) and "Nope.dockerfile" in str(missing.value)
    with pytest.raises(docker.errors.APIError) as unsupported:
        client.images.build(path=path, container_limits={"memory": 10_000_000})
    assert unsupported.value.status_code == 400 and "memory" in str(unsupported.value)
    assert client.api.prune_builds()["SpaceReclaimed"] >= 0


def _docker(api, *args: str, input: bytes | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([DOCKER_CLI, *args], env=api.env(DOCKER_BUILDKIT="0"), input=input,
                          capture_output=True, timeout=timeout)


@pytest.mark.skipif(not os.path.exists(DOCKER_CLI), reason="Debian's docker.io CLI is installed by the test command")
def test_docker_cli_image_commands(api, registry, busybox_image, tmp_path):
    path = _context(tmp_path, "FROM busybox\nRUN echo built-by-cli > /cli.txt\nCMD [\"cat\", \"/cli.txt\"]\n")
    built = _docker(api, "build", "-t", "cli/app:1", path)
    assert built.returncode == 0, built.stderr.decode()
    out = built.stdout.decode()
    assert "Step 1/3 : FROM busybox" in out and "Successfully tagged cli/app:1" in out

    fmt = "{{.Repository}}:{{.Tag}} {{.ID}} {{.Size}}"
    docker_rows = sorted(ok(_run(_docker(api, "images", "--format", fmt))).splitlines())
    tuiker_rows = sorted(ok(_tuiker(api.root, "images", "--format", fmt)).splitlines())
    assert docker_rows == tuiker_rows and any(r.startswith("cli/app:1 ") for r in docker_rows)
    for pattern in ("busybox", "cli/*"):  # only the matching tags' rows, in both
        docker_rows = ok(_run(_docker(api, "images", "--format", fmt, pattern))).splitlines()
        assert docker_rows == ok(_tuiker(api.root, "images", "--format", fmt, pattern)).splitlines()
        assert len(docker_rows) == 1
    table = ok(_run(_docker(api, "images")))
    assert table.splitlines()[0].split() == ["REPOSITORY", "TAG", "IMAGE", "ID", "CREATED", "SIZE"]
    ours = ok(_tuiker(api.root, "images"))
    assert _without_created(table) == _without_created(ours)

    target = f"{registry.host}/cli/app:1"
    assert _docker(api, "tag", "cli/app:1", target).returncode == 0
    pushed = _run(_docker(api, "push", target))
    assert pushed.returncode == 0, pushed.stderr
    assert re.search(r"^1: digest: sha256:[0-9a-f]{64} size: \d+$", pushed.stdout, re.M)

    saved = _docker(api, "save", "cli/app:1")
    assert saved.returncode == 0 and saved.stdout[:512]
    removed = _run(_docker(api, "rmi", "cli/app:1", target))
    assert removed.returncode == 0, removed.stderr
    assert "Untagged: cli/app:1" in removed.stdout and "Deleted: sha256:" in removed.stdout
    loaded = _run(_docker(api, "load", input=saved.stdout))
    assert loaded.returncode == 0 and "Loaded image: cli/app:1" in loaded.stdout, loaded.stderr

    pulled = _run(_docker(api, "pull", target))
    assert pulled.returncode == 0, pulled.stderr
    assert "1: Pulling from cli/app" in pulled.stdout and f"Status: Downloaded newer image for {target}" in \
        pulled.stdout
    missing = _run(_docker(api, "rmi", "no/such:image"))
    assert missing.returncode == 1 and "No such image: no/such:image" in missing.stderr
    inspect = json.loads(ok(_run(_docker(api, "image", "inspect", target))))
    assert inspect[0]["Config"]["Cmd"] == ["cat", "/cli.txt"]


def _without_created(table: str) -> list[list[str]]:
    """A table's rows, sorted, without the CREATED column (`2 seconds ago` may turn into `3` between two runs)."""
    rows = [re.split(r" {2,}", line.strip()) for line in table.splitlines()[1:]]
    return sorted(row[:3] + row[4:] for row in rows)


def _tuiker(root, *args: str) -> subprocess.CompletedProcess:
    return run_tuiker(*args, env={"TUIKER_ROOT": str(root)})


def _run(result: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    """The same result with text output (the docker CLI's stdout may be a tar elsewhere)."""
    return subprocess.CompletedProcess(result.args, result.returncode, result.stdout.decode(errors="replace"),
                                       result.stderr.decode(errors="replace"))


def _normalized(lines: list[dict]) -> list[dict]:
    """A stream with its container and image IDs (12 or 64 hex digits) made equal."""
    text = json.dumps(lines)
    return json.loads(re.sub(r"\b[0-9a-f]{64}\b|\b[0-9a-f]{12}\b", "<id>", text))


@pytest.mark.skipif(not os.path.exists("/usr/sbin/dockerd"), reason="Debian's docker.io is installed by the test "
                    "command")
def test_build_stream_matches_dockerd(client, dockerd, tmp_path):
    """The same RUN-only Dockerfile through dockerd 20.10's classic builder and through tuiker: the same lines,
    but for the IDs. (dockerd also runs a container for ENV/LABEL steps, which tuiker does not make.)"""
    # stderr a little later: dockerd sends the two streams in the order they arrive
    path = _context(tmp_path, "FROM busybox\nRUN echo out && sleep 0.2 && echo err >&2\nRUN echo again\n")
    theirs = docker.APIClient(base_url=f"unix://{dockerd.sock}", version="1.41")
    try:
        # the first build and its cached rerun; rm=False (docker-py's default) and rm=True
        expected = [list(theirs.build(path=path, tag="same:1", network_mode="none", decode=True, rm=rm))
                    for rm in (False, True)]
        got = [list(client.api.build(path=path, tag="same:1", network_mode="none", decode=True, rm=rm))
               for rm in (False, True)]
        for ours, dockerd_lines in zip(got, expected, strict=True):
            assert _normalized(ours) == _normalized(dockerd_lines)
    finally:  # the suite's dockerd is shared: the build's image and the containers rm=False kept go
        theirs.prune_containers()
        theirs.remove_image("same:1", force=True)
        theirs.prune_images({"dangling": True})
        theirs.close()


@pytest.mark.skipif(not os.path.exists(DOCKER_CLI), reason="Debian's docker.io CLI is installed by the test command")
def test_docker_cli_login_then_pull_and_build_from_a_private_registry(api, make_proxy, busybox_image, tmp_path):
    """docker login checks with the registry through /auth and keeps the credentials in the client's config; the
    CLI then sends them as X-Registry-Auth (pull) and X-Registry-Config (a classic build's FROM)."""
    proxy = make_proxy(users={"dora": "pw"})
    base = f"{proxy.host}/test/busybox:latest"
    denied = _run(_docker(api, "pull", base))
    assert denied.returncode == 1 and "authentication required" in denied.stderr
    bad = _run(_docker(api, "login", "-u", "dora", "--password-stdin", proxy.host, input=b"nope\n"))
    assert bad.returncode == 1 and "login failed" in bad.stderr
    login = _run(_docker(api, "login", "-u", "dora", "--password-stdin", proxy.host, input=b"pw\n"))
    assert login.returncode == 0 and "Login Succeeded" in login.stdout, login.stderr
    proxy.clear_seen()

    path = _context(tmp_path, f"FROM {base}\nRUN echo private > /p.txt\n")
    built = _run(_docker(api, "build", "--pull", "-t", "private/app", path))
    assert built.returncode == 0 and "Successfully tagged private/app:latest" in built.stdout, built.stderr
    tokens = [s for s in proxy.seen if s.path == "/token"]
    assert tokens and all(s.auth_kind == "Basic" and s.status == 200 for s in tokens)
    pulled = _run(_docker(api, "pull", base))
    assert pulled.returncode == 0 and f"Status: Image is up to date for {base}" in pulled.stdout, pulled.stderr
