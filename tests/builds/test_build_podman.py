"""Parity with podman build (buildah), Debian's builder: the same contexts, from the same busybox image in the
local registry, built by both; the configs and the file systems (from `save`, layers applied) must match.

Where buildah and docker differ, tuiker follows docker, and the comparison says so where it is made:
- buildah labels every image `io.buildah.version`; docker does not.
- `ENV PATH=...` over an inherited PATH: docker (both builders) replaces the variable where it stands in Env,
  buildah moves it to the end; Env is compared as a set of variables.
- WORKDIR makes its directory in docker ("even if it's not used in any subsequent Dockerfile instruction", as
  USER's), buildah only when a later step needs it.
- a RUN in an image without /run and /etc/hostname leaves buildah's mount points for them (an empty /run, an
  empty /etc/hostname 0700) in its layer; docker's RUN layers never hold the engine's mount points.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from buildtools import build, saved_image, tuiker_image, write_context
from conftest import REPO_ROOT

EMPTY = "e3b0c44298fc1c14"  # the listing's hash of empty content
CONFIG_FIELDS = ("Env", "Cmd", "Entrypoint", "WorkingDir", "User", "ExposedPorts", "Volumes", "Labels", "StopSignal",
                 "Healthcheck", "OnBuild", "Shell")
BUILDAH_LABEL = "io.buildah.version"
BUILDAH_MOUNT_POINTS = ("/run", "/etc/hostname")


class Podman:
    """podman with a store of its own under a temp dir (the host's is left alone)."""

    def __init__(self, home: Path) -> None:
        self.home = home

    def run(self, *args: str, cwd: str | None = None) -> subprocess.CompletedProcess:
        argv = ["podman", "--root", f"{self.home}/root", "--runroot", f"{self.home}/run", "--tmpdir",
                f"{self.home}/tmp", *args]
        env = dict(os.environ, TMPDIR=f"{self.home}/tmp")
        return subprocess.run(argv, env=env, capture_output=True, text=True, cwd=cwd, timeout=300)

    def ok(self, *args: str, cwd: str | None = None) -> str:
        sys.path.insert(0, str(REPO_ROOT / "bench"))
        try:
            from common import fix_podman_host  # the two host changes podman needs here (MACHINE.md)
        finally:
            sys.path.pop(0)
        for _ in range(3):
            result = self.run(*args, cwd=cwd)
            if result.returncode == 0:
                return result.stdout
            if fix_podman_host(result.stdout + result.stderr) is None:
                break
        raise AssertionError(f"podman {' '.join(args)}: {(result.stdout + result.stderr).strip()[-600:]}")


@pytest.fixture(scope="module")
def podman(busybox_image):
    if shutil.which("podman") is None:
        pytest.skip("podman is not installed")
    home = Path(tempfile.mkdtemp(prefix="podman-parity-", dir="/var/tmp"))
    (home / "tmp").mkdir()
    p = Podman(home)
    try:
        p.ok("pull", "--tls-verify=false", busybox_image[0])
    except AssertionError as e:
        shutil.rmtree(home, ignore_errors=True)
        pytest.skip(f"podman cannot run here: {e}")
    yield p
    p.run("system", "reset", "--force")
    subprocess.run(["umount", "-R", str(home / "root" / "overlay")], capture_output=True)
    shutil.rmtree(home, ignore_errors=True)


CONTEXTS = {
    "tutorial": ({
        "Dockerfile": """FROM {base}
WORKDIR /app
COPY package.txt ./
RUN while read -r dep; do echo "installed $dep" > "/app/$dep.dep"; done < package.txt
COPY . .
RUN rm -f /app/src/remove-me && mkdir -p /var/cache/app && echo cached > /var/cache/app/c
EXPOSE 3000
CMD ["sh", "/app/src/index.sh"]
""", "package.txt": "one\ntwo\n", "src/index.sh": "echo hi\n", "src/remove-me": "x", "src/sub/deep.txt": "deep",
        ".dockerignore": "*.md\n!KEEP.md\n", "README.md": "no", "KEEP.md": "yes"}, {}),
    "config": ({
        "Dockerfile": """FROM {base}
ARG VERSION=1
ENV APP_VERSION=$VERSION PATH=/opt/bin:$PATH
LABEL org.example.version=$VERSION maintainer=someone
USER app
WORKDIR /home/app/data
EXPOSE 80 53/udp
VOLUME /home/app/data
STOPSIGNAL SIGINT
HEALTHCHECK --interval=10s --retries=2 CMD test -f /home/app/data/ok
ENTRYPOINT ["sh", "-c"]
CMD ["echo hello"]
ONBUILD RUN echo child
""", "unused": "u"}, {"VERSION": "2"}),
    "files": ({
        "Dockerfile": """FROM {base}
COPY --chown=app:app dir /owned/
COPY --chmod=0700 one.sh /usr/local/bin/
COPY one.sh two.txt /multi/
COPY dir /contents
ADD archive.tar /unpacked/
RUN ln -s /usr/local/bin/one.sh /bin/one && rm /bin/vi && chown -R 1000:1000 /multi
""", "dir/a.txt": "a", "dir/sub/b.txt": "b", "one.sh": "echo one\n", "two.txt": "2"}, {}),
    "multistage": ({
        "Dockerfile": """FROM {base} AS build
WORKDIR /src
COPY hello.in .
RUN sed 's/@NAME@/world/' hello.in > hello && chmod 750 hello && chown 1000:1000 hello && mkdir -p out/sub \\
    && echo data > out/sub/data

FROM {base}
COPY --from=build /src/hello /usr/local/bin/
COPY --from=build /src/out /opt/out
COPY --from=0 /src/hello.in /usr/share/hello.in
USER 1000:1000
ENTRYPOINT ["hello"]
""", "hello.in": "#!/bin/sh\necho hello @NAME@\n"}, {}),
}


def _archive(path: Path) -> None:
    import io
    import tarfile

    with tarfile.open(path, "w") as tar:
        for name, data in (("x/y.txt", b"y"), ("z.txt", b"z")):
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), 0o640, 1700000000
            tar.addfile(info, io.BytesIO(data))


def _config(cfg: dict) -> dict:
    """The compared fields, empty ones as absent (docker omits them; buildah writes some as null or {})."""
    found = {}
    for key in CONFIG_FIELDS:
        value = cfg.get(key)
        if key == "Labels" and value:
            value = {k: v for k, v in value.items() if k != BUILDAH_LABEL}  # buildah's own label (not docker's)
        if key == "Env" and value:
            value = sorted(value)  # buildah appends a replaced variable, docker replaces it in place
        if value:
            found[key] = value
    return found


@pytest.mark.parametrize("name", sorted(CONTEXTS))
def test_same_result_as_podman_build(engine, podman, busybox_image, tmp_path, name):
    files, build_args = CONTEXTS[name]
    base = busybox_image[0]
    ctx = write_context(tmp_path / "ctx", {k: v.replace("{base}", base) if k == "Dockerfile" else v
                                           for k, v in files.items()})
    if name == "files":
        _archive(ctx / "archive.tar")
    build(engine, ctx, [f"parity-{name}"], build_args=build_args, network="none")
    ours_cfg, ours = tuiker_image(engine, f"parity-{name}", tmp_path)

    args = [a for k, v in build_args.items() for a in ("--build-arg", f"{k}={v}")]
    podman.ok("build", "--layers", "--network", "none", "--format", "docker", "-t", f"parity-{name}", *args,
              str(ctx))
    archive = tmp_path / "podman.tar"
    podman.ok("save", "--format", "docker-archive", "-o", str(archive), f"parity-{name}")
    theirs_cfg, theirs = saved_image(archive)
    if name == "config":  # WORKDIR with nothing after it that writes there: only docker makes the directory
        assert ours.pop("/home/app/data") == ("dir", 0o755, 1000, 1000) and "/home/app/data" not in theirs
    for path in BUILDAH_MOUNT_POINTS:
        if path not in ours and theirs.get(path) in (("dir", 0o755, 0, 0), ("file", 0o700, 0, 0, 0, EMPTY)):
            del theirs[path]

    assert _config(ours_cfg["config"]) == _config(theirs_cfg["config"])
    differences = {p: (ours.get(p), theirs.get(p)) for p in sorted(set(ours) | set(theirs))
                   if ours.get(p) != theirs.get(p)}
    assert differences == {}, json.dumps(differences, indent=1, default=str)
