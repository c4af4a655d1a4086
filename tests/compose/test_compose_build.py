"""`tuiker compose` building its services' images as docker compose v2 does: the build section read and
normalised, `up` building a missing image (named `<project>-<service>`) and then keeping it, `up --build`
rebuilding and recreating what changed, `compose build`, args and target, one build for services sharing an
image, a failed build starting nothing, and `down --rmi local` removing what compose built."""

from __future__ import annotations

import pytest
from conftest import ok, one_line_error

from tuiker.compose import ComposeError, load

DOCKERFILE = """\
FROM busybox AS base
ARG GREETING=hello
RUN echo "$GREETING" > /greeting
COPY run.sh /run.sh
CMD ["sh", "/run.sh"]

FROM base AS extra
RUN echo extra > /extra
"""

COMPOSE = """
services:
  app:
    build:
      context: ./app
      args:
        GREETING: ${GREETING:-hi}
      target: base
      network: none
      labels: [com.example.built-by=compose]
    stop_grace_period: 0s
"""


def script(version: str) -> str:
    return f"cat /greeting; echo {version}; test -e /extra && echo has-extra; exec sleep 300\n"


@pytest.fixture
def project(tmp_path, engine):
    """A project `proj` whose service `app` builds from ./app, and a runner of compose in its folder."""
    folder = tmp_path / "proj"
    (folder / "app").mkdir(parents=True)
    (folder / "compose.yaml").write_text(COMPOSE)
    (folder / "app" / "Dockerfile").write_text(DOCKERFILE)
    (folder / "app" / "run.sh").write_text(script("v1"))

    def compose(*args: str, check: bool = True, env: dict | None = None):
        from conftest import run_tuiker

        r = run_tuiker("compose", "--project-directory", str(folder), *args, env=env)
        if check:
            ok(r)
        return r
    compose.folder = folder
    compose.engine = engine
    yield compose
    compose("down", "-t", "0", check=False)


def logs_of(project, service: str, text: str) -> str:
    from conftest import wait_for

    return wait_for(lambda: (out := ok(project("logs", "--no-log-prefix", service))) and text in out and out, 10,
                    f"{text!r} in the logs of {service}")


# -- the build section, as compose reads it ---------------------------------------------------------------

def test_the_build_section_is_normalised_as_compose_config_prints_it(tmp_path):
    (tmp_path / "compose.yaml").write_text("""
services:
  short:
    build: ./app
  long:
    image: registry.example/long:1
    build:
      context: app
      dockerfile: other.Dockerfile
      args: [FROM_ENV, NOT_SET, "N=1"]
      labels: {a: b}
      tags: ["long:extra"]
      no_cache: true
      target: final
  inline:
    build:
      dockerfile_inline: |
        FROM busybox
""")
    p = load(workdir=str(tmp_path), environ={"FROM_ENV": "env value"})
    app = str(tmp_path / "app")
    assert p.services["short"]["build"] == {"context": app, "dockerfile": "Dockerfile"}
    assert p.services["long"]["build"] == {
        "context": app, "dockerfile": "other.Dockerfile", "args": {"FROM_ENV": "env value", "N": "1"},
        "target": "final", "labels": {"a": "b"}, "no_cache": True, "tags": ["long:extra"]}
    assert p.services["inline"]["build"] == {"context": str(tmp_path), "dockerfile_inline": "FROM busybox\n"}
    # compose v2's name for a built image without `image:` is <project>-<service> (v1 joined them with `_`)
    assert p.image_name("short") == f"{p.name}-short" and p.image_name("long") == "registry.example/long:1"
    opts = p.build_options("long")
    assert opts.tags == ["registry.example/long:1", "long:extra"] and opts.dockerfile == f"{app}/other.Dockerfile"
    assert opts.no_cache and opts.target == "final" and opts.build_args == {"FROM_ENV": "env value", "N": "1"}
    assert opts.labels == {"a": "b", "com.docker.compose.version": "2.29.0",
                           "com.docker.compose.project": p.name, "com.docker.compose.service": "long"}
    assert p.run_options("short", 1).image == f"{p.name}-short"


@pytest.mark.parametrize("build, message", [
    ("{context: ., ssh: [default]}", "services.a.build.ssh is not supported by tuiker"),
    ("{context: ., secrets: [s]}", "services.a.build.secrets is not supported by tuiker"),
    ("{context: ., additional_contexts: {x: .}}", "services.a.build.additional_contexts is not supported"),
    ("{context: ., cache_from: [x]}", "services.a.build.cache_from is not supported by tuiker"),
    ("{context: ., platforms: [linux/amd64, linux/arm64]}", "tuiker builds for the host's platform only"),
    ("{context: ., dockerfile: D, dockerfile_inline: FROM x}", "dockerfile and dockerfile_inline are mutually"),
    ("{context: 'https://github.com/x/y.git'}", "a remote build context"),
    ("{context: ., nope: 1}", "validating services.a.build: additional properties 'nope' not allowed"),
    ("[x]", "services.a.build must be a string or a mapping"),
])
def test_what_the_build_section_cannot_do_is_one_line(tmp_path, build, message):
    (tmp_path / "compose.yaml").write_text(f"services:\n  a:\n    build: {build}\n")
    with pytest.raises(ComposeError) as e:
        load(workdir=str(tmp_path), environ={})
    assert message in str(e.value) and "\n" not in str(e.value)


def test_config_prints_the_normalised_build(project):
    out = ok(project("config"))
    assert f"    build:\n      context: {project.folder / 'app'}\n      dockerfile: Dockerfile\n" in out
    assert "      args:\n        GREETING: hi\n" in out and "      target: base\n" in out


# -- building, on the real engine -------------------------------------------------------------------------------

def test_up_builds_the_missing_image_then_keeps_it_and_up_build_rebuilds(project):
    r = project("up", "-d")
    lines = r.stderr.splitlines()
    assert " Service app  Building" in lines and " Service app  Built" in lines
    # the build's progress is `tuiker build`'s, each step named with the service as compose names it
    assert any(line.startswith("#1 [app internal] load build definition from") for line in lines), r.stderr
    assert any("[app 3/5] RUN echo \"$GREETING\" > /greeting" in line for line in lines), r.stderr
    assert lines.index(" Service app  Built") < lines.index(" Container proj-app-1  Started")
    e = project.engine
    image = e.images.inspect("proj-app")
    assert image["RepoTags"] == ["proj-app:latest"]
    assert image["Config"]["Labels"] == {"com.example.built-by": "compose", "com.docker.compose.project": "proj",
                                         "com.docker.compose.service": "app", "com.docker.compose.version": "2.29.0"}
    c = e.containers.get("proj-app-1")
    assert c.config["Config"]["Labels"]["com.docker.compose.image"] == image["Id"]
    rows = ok(project("ps")).splitlines()[1:]
    assert len(rows) == 1 and rows[0].split()[:2] == ["proj-app-1", "proj-app"] and " Up " in rows[0]
    out = logs_of(project, "app", "v1")
    assert out.splitlines()[0] == "hi" and "has-extra" not in out  # the arg given, the target's stage only

    r = project("up", "-d")  # the image is there: no build, the container kept
    assert "Building" not in r.stderr and " Container proj-app-1  Running" in r.stderr.splitlines()
    assert e.images.inspect("proj-app")["Id"] == image["Id"] and e.containers.get("proj-app-1").id == c.id

    r = project("up", "-d", "--build")  # nothing changed: rebuilt from the cache, the same image, kept
    assert " Service app  Built" in r.stderr.splitlines() and "CACHED" in r.stderr
    assert e.images.inspect("proj-app")["Id"] == image["Id"] and e.containers.get("proj-app-1").id == c.id

    (project.folder / "app" / "run.sh").write_text(script("v2"))
    r = project("up", "-d", "--build")
    assert " Container proj-app-1  Recreated" in r.stderr.splitlines()
    new = e.images.inspect("proj-app")["Id"]
    assert new != image["Id"] and e.containers.get("proj-app-1").id != c.id
    assert e.containers.get("proj-app-1").config["Config"]["Labels"]["com.docker.compose.image"] == new
    logs_of(project, "app", "v2")

    (project.folder / "app" / "run.sh").write_text(script("v3"))
    r = project("up", "-d", "--no-build")  # the old image stays in use
    assert "Building" not in r.stderr and e.images.inspect("proj-app")["Id"] == new
    assert one_line_error(project("up", "--build", "--no-build", check=False)) == \
        "Error: --build and --no-build are incompatible"


def test_compose_build_alone_with_args_from_the_environment(project):
    r = project("build", env={"GREETING": "from env"})
    assert " Service app  Built" in r.stderr.splitlines()
    assert project.engine.containers.list(all=True) == []  # build starts nothing
    r = project("run", "--rm", "-T", "app", "sh", "-c", "cat /greeting; test -e /extra || echo no-extra")
    assert r.stdout == "from env\nno-extra\n"
    first = project.engine.images.inspect("proj-app")["Id"]
    r = project("build", "--no-cache", "-q", env={"GREETING": "from env"})
    assert "#" not in r.stderr and "CACHED" not in r.stderr
    assert project.engine.images.inspect("proj-app")["Id"] != first  # not from the cache: new layers, new times
    project("build", "-q", "--build-arg", "GREETING=from the flag")  # over the service's args
    r = project("run", "--rm", "-T", "app", "cat", "/greeting")
    assert r.stdout == "from the flag\n"


def test_services_sharing_a_build_and_image_build_once_and_down_rmi_local(project, registry):
    shared = f"{registry.host}/test/shared-app"  # not in the registry: compose tries a pull, then builds
    (project.folder / "compose.yaml").write_text(f"""
services:
  one:
    image: {shared}
    build: ./app
    stop_grace_period: 0s
  two:
    image: {shared}
    build: ./app
    stop_grace_period: 0s
  inline:
    build:
      context: ./app
      dockerfile_inline: |
        FROM busybox
        COPY run.sh /inline.sh
        CMD ["sh", "-c", "echo inline; exec sleep 300"]
    stop_grace_period: 0s
""")
    r = project("up", "-d", "--no-build", check=False)  # no image, and no build allowed: the pull's error
    assert r.returncode == 1 and "Error:" in r.stderr.splitlines()[-1] and "Traceback" not in r.stderr
    assert project.engine.containers.list(all=True) == []
    r = project("up", "-d")
    assert f" Image {shared}  Pulling" in r.stderr.splitlines()
    assert r.stderr.count("  Building") == 2 and " Service one  Building" in r.stderr  # one, and inline
    e = project.engine
    image_id = e.images.inspect(shared)["Id"]
    assert [e.containers.get(f"proj-{s}-1").config["ImageID"] for s in ("one", "two")] == [image_id, image_id]
    logs_of(project, "inline", "inline")
    assert "/inline.sh" in ok(project("exec", "-T", "inline", "ls", "/inline.sh"))
    # --rmi local: the images compose built for the project (labelled with it), not the base image
    r = project("down", "-t", "0", "--rmi", "local")
    lines = r.stderr.splitlines()
    assert " Image proj-inline:latest  Removed" in lines and f" Image {shared}:latest  Removed" in lines
    names = {t for i in e.images.list() for t in i.repo_tags}
    assert not {f"{shared}:latest", "docker.io/library/proj-inline:latest"} & names
    assert e.images.get("busybox")


def test_a_failed_build_starts_nothing(project):
    (project.folder / "app" / "Dockerfile").write_text("FROM busybox AS base\nRUN echo building; exit 3\n")
    r = project("up", "-d", check=False)
    assert r.returncode == 1
    errors = [line for line in r.stderr.splitlines() if line.startswith("Error")]
    assert errors == ["Error: The command '/bin/sh -c echo building; exit 3' returned a non-zero code: 3"]
    assert "Traceback" not in r.stderr and "#3 ERROR: " in r.stderr
    e = project.engine
    assert e.containers.list(all=True) == []
    assert not [n for n in e.networks.list() if n["Name"].startswith("proj")]
    with pytest.raises(Exception, match="No such image"):
        e.images.get("proj-app")


def test_down_rmi_all_removes_the_services_named_images_too(project):
    (project.folder / "compose.yaml").write_text(
        "services:\n  a:\n    image: busybox\n    command: sleep 300\n    stop_grace_period: 0s\n")
    project("up", "-d")
    assert one_line_error(project("down", "--rmi", "some", check=False)) == \
        "Error: invalid --rmi flag value 'some': must be local or all"
    assert project.engine.containers.list(all=True) != []  # a bad flag removes nothing
    r = project("down", "-t", "0", "--rmi", "local")  # busybox was pulled, not built: it stays
    assert "Image" not in r.stderr and project.engine.images.get("busybox")
    project("up", "-d")
    r = project("down", "-t", "0", "--rmi", "all")
    assert " Image busybox:latest  Removed" in r.stderr.splitlines()
    with pytest.raises(Exception, match="No such image"):
        project.engine.images.get("busybox")


def test_run_builds_the_missing_image_first(project):
    r = project("run", "--rm", "-T", "app", "cat", "/greeting")
    assert r.stdout == "hi\n" and " Service app  Built" in r.stderr.splitlines()
    assert project.engine.containers.list(all=True) == []
