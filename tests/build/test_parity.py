"""`tuiker build` against docker's own builder: each context below (a Dockerfile and its files, written here) is
built by Debian's dockerd 20.10 with the classic builder (DOCKER_BUILDKIT=0), by `podman build` (buildah) and by
`tuiker build`; the saved images must have the same config, the same history shape and the same filesystem.
Docker is the reference. Podman is built too, as the second opinion the issue names: where it differs from docker
the podman test says so (xfail with the difference), so a docker quirk is never mistaken for a tuiker bug.

One private dockerd and one podman store serve the whole session (tests/dockerd.py), both fed the session's busybox
image from the local registry; every context is built once per builder. Error cases compare the one-line message.
"""

from __future__ import annotations

import concurrent.futures
import io
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import imagebuilder
import pytest
from conftest import REPO_ROOT, _mounts_under, run_tuiker, stop_engine
from dockerd import DOCKER, PrivateDockerd, fix_podman_host, remove_tree
from savedimage import SavedImage, read_saved

BASE = "@BASE@"  # in a Dockerfile: the session's busybox image, 127.0.0.1:PORT/test/busybox:latest
REGISTRY = "@REGISTRY@"  # 127.0.0.1:PORT
PREFIX = "parity-"  # tag of every image built here: parity-<case id>


@dataclass(frozen=True)
class F:
    """A context file with its mode (a plain str/bytes value in Case.files is a 0644 file)."""
    data: bytes | str
    mode: int = 0o644


@dataclass(frozen=True)
class Link:
    target: str


@dataclass(frozen=True)
class Case:
    id: str
    dockerfile: str
    files: dict = field(default_factory=dict)  # path -> str | bytes | F | Link
    build_args: tuple[str, ...] = ()  # "NAME=value", with @REGISTRY@ replaced
    target: str | None = None
    parent: str | None = None  # id of a case that must be built (and tagged parity-<id>) first
    oracle: str = "docker"  # "podman" where docker's classic builder refuses what the issue asks for (--chmod)
    error: bool = False  # the build must fail: compare the one-line error


def _tar(entries: list, gz: bool = False) -> bytes:
    data = imagebuilder.make_tar(entries)
    return imagebuilder.gzip_bytes(data) if gz else data


_TAR_ENTRIES = [imagebuilder.Dir("app", 0o750, 1000, 1000), imagebuilder.File("app/run.sh", b"#!/bin/sh\necho run\n", 0o755),
                imagebuilder.File("app/conf", b"owned\n", 0o600, 1000, 1000), imagebuilder.Symlink("app/link", "run.sh"),
                imagebuilder.Dir("app/empty", 0o700)]

CASES = [
    Case("from-tag", f"FROM {BASE}\n"),
    Case("from-untagged", f"FROM {REGISTRY}/test/busybox\nRUN echo hi > /hi\n"),
    Case("arg-before-from", "ARG TAG=latest\nARG REPO\nARG UNUSED=x\nFROM ${REPO}/test/busybox:$TAG\n"
         "ARG TAG\nRUN echo \"tag=$TAG repo=$REPO unused=$UNUSED\" > /args\n",
         build_args=(f"REPO={REGISTRY}",)),
    Case("env-forms", f"FROM {BASE}\n"
         "ENV A=1 B=\"two words\" C=three\\ words D='single $A'\n"
         "ENV LEGACY some value  with spaces\n"
         "ENV E=$A F=${A}x G=${UNSET:-dflt} H=${A:-dflt} I=${A:+set} J=${UNSET:+set} K=\\$A L=\"$B\"\n"
         "ENV abc=hello\nENV abc=bye def=$abc\n"
         "ENV PATH=/opt/bin:$PATH\n"
         "RUN echo \"$A|$B|$C|$LEGACY|$E|$F|$G|$H|$I|$J|$K|$def\" > /env.txt\n"),
    Case("arg-defaults", f"FROM {BASE}\nARG X=default\nARG Y\nARG Z=z\nARG EMPTY=\n"
         "RUN echo \"$X|$Y|$Z|$EMPTY\" > /args\nENV FROMARG=$X-$Y\nARG X=later\nRUN echo \"$X\" > /args2\n",
         build_args=("Y=given", "Z=override")),
    Case("workdir", f"FROM {BASE}\nWORKDIR /a\nWORKDIR b\nWORKDIR c\nENV D=/envdir\nWORKDIR $D/sub\n"
         "RUN pwd > /pwd\nWORKDIR /home/app\nWORKDIR relative/x\n"),
    Case("copy-forms", f"FROM {BASE}\nWORKDIR /w\n"
         "COPY a.txt /single\nCOPY a.txt b.txt /multi/\nCOPY *.txt /glob/\nCOPY d /dcontents\nCOPY d /dtrail/\n"
         "COPY a.txt rel\nCOPY d/sub/run.sh ./nested/deep/\nCOPY [\"a.txt\", \"/json dest/\"]\nCOPY d/sub /existing/\n"
         "COPY a.txt /tmp\nCOPY ? /q/\nCOPY d/sub/[r]un.sh /bracket/\n",
         {"a.txt": "hello\n", "b.txt": F("bee\n", 0o600), "c.md": "not a txt\n", "x": "one char\n",
          "d/top": "top\n", "d/sub/run.sh": F("#!/bin/sh\necho hi\n", 0o755), "d/sub/link": Link("run.sh"),
          "d/empty/": F("", 0o700)}),
    Case("copy-chown", f"FROM {BASE}\nCOPY --chown=1000:1000 a.txt /numeric/\nCOPY --chown=app a.txt /name/\n"
         "COPY --chown=app:root d /dir/\nCOPY --chown=65534 a.txt /uid-only\nCOPY --chown=nobody:app a.txt /mixed\n"
         "ARG OWNER=app\nCOPY --chown=$OWNER a.txt /from-arg\n",
         {"a.txt": "hello\n", "d/f": "f\n", "d/sub/g": F("g\n", 0o640)}),
    Case("copy-chmod", f"FROM {BASE}\nCOPY --chmod=0600 a.txt /a600\nCOPY --chmod=755 d /d755/\n",
         {"a.txt": "hello\n", "d/f": "f\n", "d/sub/g": "g\n"}, oracle="podman"),
    Case("add-tar", f"FROM {BASE}\nADD app.tar /opt/\nADD app.tar.gz /gz\nADD plain.txt /plain\n"
         "ADD fake.tar /fake/\nADD app.tar /existing-file-dest/\nADD d /addeddir/\n",
         {"app.tar": _tar(_TAR_ENTRIES), "app.tar.gz": _tar(_TAR_ENTRIES, gz=True), "plain.txt": "plain\n",
          "fake.tar": "not a tar at all\n", "d/x": "x\n"}),
    Case("run-forms", f"FROM {BASE}\nRUN echo shell > /s && echo $0 > /shell-name\n"
         "RUN [\"/bin/sh\", \"-c\", \"echo exec > /e\"]\nRUN [\"touch\", \"/exec-touch\"]\n"
         "SHELL [\"/bin/sh\", \"-e\", \"-c\"]\nRUN echo after-shell > /sh2\n"
         "RUN rm /bin/ls /etc/group && rm -rf /home/app && mkdir -p /home/app && touch /home/app/new\n"
         "RUN mkdir -p /var/made && echo a > /var/made/a && ln -s a /var/made/l && chmod 4755 /var/made/a\n"
         "RUN rm /var/made/a && chown 1000:1000 /var/made\n"
         "RUN echo \"$HOME\" > /home-var && id > /id\n"),
    Case("user", f"FROM {BASE}\nUSER app\nRUN id > /tmp/id-app && touch /tmp/by-app\nUSER 1000:1000\n"
         "RUN id > /tmp/id-numeric\nUSER root\nRUN id > /id-root\nUSER nobody:app\n"),
    Case("metadata", f"FROM {BASE}\nEXPOSE 80 8080/udp\nEXPOSE 443/tcp 80\nARG PORT=9000\nEXPOSE $PORT\n"
         "VOLUME [\"/data\", \"/logs\"]\nVOLUME /plain /second\n"
         "LABEL a=b \"c d\"=\"e f\" multi=\"1\" \\\n      other=2\nLABEL legacy value with spaces\n"
         "LABEL quoted='single $PORT' expanded=$PORT\n"
         "STOPSIGNAL SIGUSR1\n"),
    Case("stopsignal-number", f"FROM {BASE}\nSTOPSIGNAL 9\n"),
    Case("volume-then-run", f"FROM {BASE}\nRUN mkdir /data && echo before > /data/before\nVOLUME /data\n"
         "RUN echo after > /data/after && echo outside > /outside\n"),
    Case("cmd-exec", f"FROM {BASE}\nCMD [\"echo\", \"hi\"]\n"),
    Case("cmd-shell", f"FROM {BASE}\nCMD echo \"hi there\"\n"),
    Case("entrypoint-exec-cmd-exec", f"FROM {BASE}\nENTRYPOINT [\"/bin/echo\", \"e\"]\nCMD [\"c\"]\n"),
    Case("entrypoint-shell-cmd", f"FROM {BASE}\nENTRYPOINT echo e\nCMD [\"ignored\"]\n"),
    Case("entrypoint-exec-cmd-shell", f"FROM {BASE}\nENTRYPOINT [\"/bin/echo\"]\nCMD c1 c2\n"),
    Case("entrypoint-resets-inherited-cmd", f"FROM {BASE}\nENTRYPOINT [\"/bin/echo\"]\n"),
    Case("cmd-before-entrypoint", f"FROM {BASE}\nCMD [\"kept\"]\nENTRYPOINT [\"/bin/echo\"]\n"),
    Case("empty-cmd", f"FROM {BASE}\nCMD []\n"),
    Case("healthcheck", f"FROM {BASE}\nHEALTHCHECK --interval=5s --timeout=3s --start-period=1s --retries=2 "
         "CMD wget -q localhost || exit 1\n"),
    Case("healthcheck-exec", f"FROM {BASE}\nHEALTHCHECK CMD [\"true\", \"x\"]\n"),
    Case("healthcheck-none", f"FROM {PREFIX}healthcheck\nHEALTHCHECK NONE\n", parent="healthcheck"),
    Case("onbuild-parent", f"FROM {BASE}\nONBUILD RUN echo built > /onbuild\nONBUILD COPY a.txt /from-onbuild/\n"
         "ONBUILD ENV TRIGGERED=yes\n", {"a.txt": "parent ctx\n"}),
    Case("onbuild-child", f"FROM {PREFIX}onbuild-parent\nRUN cat /onbuild > /seen\n", {"a.txt": "child ctx\n"},
         parent="onbuild-parent"),
    Case("multistage", f"FROM {BASE} AS build\nRUN mkdir /out && echo built > /out/art\n"
         f"FROM {BASE} AS second\nCOPY --from=build /out/art /second-art\nENV STAGE=second\n"
         f"FROM build\nRUN echo third > /out/third\n"
         f"FROM {BASE}\nCOPY --from=build /out /from-name\nCOPY --from=1 /second-art /from-index\n"
         f"COPY --from={BASE} /etc/passwd /from-image-passwd\nCOPY --from=2 /out/ /from-stage-on-stage/\n"),
    Case("multistage-target", f"FROM {BASE} AS build\nRUN mkdir /out && echo built > /out/art\n"
         f"FROM {BASE} AS second\nCOPY --from=build /out/art /second-art\nENV STAGE=second\n"
         f"FROM {BASE}\nRUN false\n", target="second"),
    Case("escape-backtick", f"# escape=`\nFROM {BASE}\nENV WIN=C:\\path\\x BT=a``b\n"
         "RUN echo one `\n    two > /cont\nCOPY a.txt `\n     /bt/\nLABEL l=\"x`\"y\"\n", {"a.txt": "a\n"}),
    Case("continuations-comments", f"# a comment first\nFROM {BASE}\n# comment\nRUN echo a \\\n"
         "# comment inside the continuation\n    b \\\n    c > /joined\n  # indented comment\n"
         "LABEL x=1 \\\n      y=2\n   env  SPACED=\" keep  spaces \"\nrun echo lower > /lower\n"
         "RUN echo 'trailing backslash \\\\' > /bs\n"),
    Case("dockerignore", f"FROM {BASE}\nCOPY . /ctx/\n",
         {".dockerignore": "# comment\n*.log\n!keep.log\n**/tmp\n/rooted.txt\nbuild\n!build/kept\n"
          "docs/*.md\n!docs/*.md\ndocs/drop.md\n  spaced.txt  \nsub/*.bin\n",
          "app.log": "x", "keep.log": "k", "sub/deep.log": "d", "sub/keep.log": "sk", "tmp/a": "a", "sub/tmp/b": "b",
          "sub/x.bin": "bin", "sub/deeper/x.bin": "deep bin", "rooted.txt": "r", "sub/rooted.txt": "sr",
          "build/out": "o", "build/kept": "kept", "docs/a.md": "a", "docs/drop.md": "drop", "spaced.txt": "s",
          "src/main.c": "int main;\n"}),
    Case("dockerignore-lists-itself", f"FROM {BASE}\nCOPY . /ctx/\n",
         {".dockerignore": "Dockerfile\n.dockerignore\n*.tmp\n", "a.tmp": "t", "kept.txt": "k"}),
    Case("dockerignore-dir-contents", f"FROM {BASE}\nCOPY . /ctx/\nCOPY cache /cachecopy/\n",
         {".dockerignore": "cache/*\n!cache/keep\n", "cache/drop": "d", "cache/keep": "k", "cache/sub/x": "x"}),
    # Errors: the build fails with docker's one-line message.
    Case("error-unknown-instruction", f"FROM {BASE}\nRUN true\nFOO bar\n", error=True),
    Case("error-missing-copy-source", f"FROM {BASE}\nCOPY nope.txt /\n", error=True),
    Case("error-copy-excluded", f"FROM {BASE}\nCOPY a.log /\n", {".dockerignore": "*.log\n", "a.log": "x"},
         error=True),
    Case("error-copy-no-match", f"FROM {BASE}\nCOPY *.nothing /\n", error=True),
    Case("error-run-exit-1", f"FROM {BASE}\nRUN exit 1\n", error=True),
    Case("error-missing-target", f"FROM {BASE} AS one\nRUN true\n", target="nope", error=True),
]
BY_ID = {case.id: case for case in CASES}

# -- contexts and results ------------------------------------------------------------------------------


def write_context(case: Case, top: Path, registry: str, base: str) -> Path:
    ctx = top / case.id
    ctx.mkdir(parents=True)
    (ctx / "Dockerfile").write_text(case.dockerfile.replace(BASE, base).replace(REGISTRY, registry))
    for name, value in case.files.items():
        path = ctx / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(value, Link):
            path.symlink_to(value.target)
            continue
        spec = value if isinstance(value, F) else F(value)
        if name.endswith("/"):
            path.mkdir(exist_ok=True)
        else:
            path.write_bytes(spec.data.encode() if isinstance(spec.data, str) else spec.data)
        path.chmod(spec.mode)
    return ctx


@dataclass
class Result:
    image: SavedImage | None  # None when the build failed
    status: int
    output: str  # the build's output, stdout then stderr

    def error_line(self, prefix: str) -> str:
        lines = [line for line in self.output.strip().splitlines() if line.strip()]
        return lines[-1].removeprefix(prefix) if lines else ""


def build_argv(case: Case, registry: str) -> list[str]:
    argv = ["-t", PREFIX + case.id]
    for arg in case.build_args:
        argv += ["--build-arg", arg.replace(REGISTRY, registry)]
    if case.target:
        argv += ["--target", case.target]
    return argv


def run(argv: list[str], env: dict | None = None, timeout: float = 120) -> tuple[int, str]:
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    return proc.returncode, proc.stdout + proc.stderr


class Oracle:
    """Builds every case with one builder and keeps the saved result per case id."""

    name = ""

    def __init__(self, workdir: Path, contexts: Path, registry: str) -> None:
        self.workdir, self.contexts, self.registry = workdir, contexts, registry
        self.results: dict[str, Result] = {}

    def cli(self, *args: str) -> tuple[int, str]:
        raise NotImplementedError

    def build(self, case: Case, ctx: Path) -> tuple[int, str]:
        raise NotImplementedError

    def build_all(self, cases: list[Case]) -> None:
        for case in cases:  # parents come before their children in CASES
            status, output = self.build(case, self.contexts / case.id)
            image = None
            if status == 0:
                saved = self.workdir / f"{case.id}.tar"
                code, out = self.cli("save", "-o", str(saved), PREFIX + case.id)
                assert code == 0, f"{self.name} save {case.id}: {out}"
                image = read_saved(str(saved))
                saved.unlink()
            self.results[case.id] = Result(image, status, output)


class Docker(Oracle):
    name = "docker"

    def __init__(self, workdir: Path, contexts: Path, registry: str) -> None:
        super().__init__(workdir, contexts, registry)
        self.daemon = PrivateDockerd(workdir, f"tuiker-parity-{os.getpid()}", "tuiker-parity-docker")

    def cli(self, *args: str) -> tuple[int, str]:
        return run([DOCKER, *args], env=self.daemon.env)

    def build(self, case: Case, ctx: Path) -> tuple[int, str]:
        env = dict(self.daemon.env, DOCKER_BUILDKIT="0")
        return run([DOCKER, "build", "-q", "--network=none", *build_argv(case, self.registry), str(ctx)], env=env)


class Podman(Oracle):
    name = "podman"

    def __init__(self, workdir: Path, contexts: Path, registry: str) -> None:
        super().__init__(workdir, contexts, registry)
        self.store = workdir / "podman"
        self.store.mkdir()

    def cli(self, *args: str) -> tuple[int, str]:
        return run(["podman", "--root", str(self.store / "root"), "--runroot", str(self.store / "run"),
                    "--storage-driver", "overlay", *args])

    def build(self, case: Case, ctx: Path) -> tuple[int, str]:
        # --format docker: buildah's default OCI format drops HEALTHCHECK, SHELL, ONBUILD and STOPSIGNAL... as
        # the OCI config has no place for them.
        argv = ["build", "-q", "--network=none", "--tls-verify=false", "--format", "docker",
                *build_argv(case, self.registry), str(ctx)]
        status, output = self.cli(*argv)
        if status != 0 and fix_podman_host(output):
            status, output = self.cli(*argv)
        return status, output

    def close(self) -> None:
        self.cli("rmi", "-a", "-f")
        remove_tree(self.store)


@pytest.fixture(scope="session")
def contexts(busybox_image, registry):
    top = Path(tempfile.mkdtemp(prefix="tuiker-parity-ctx-", dir="/var/tmp"))
    for case in CASES:
        write_context(case, top, registry.host, busybox_image[0])
    yield top
    shutil.rmtree(top, ignore_errors=True)


@pytest.fixture(scope="session")
def oracles(contexts, registry):
    """Every case built by docker and by podman (side by side: two daemons, two cores)."""
    workdir = Path(tempfile.mkdtemp(prefix="tuiker-parity-", dir="/var/tmp"))
    docker = Docker(workdir, contexts, registry.host)
    podman = Podman(workdir, contexts, registry.host)
    notes: list[str] = []
    try:
        docker.daemon.start()
        if docker.daemon.unavailable:
            pytest.fail(f"the docker oracle is unavailable: {docker.daemon.unavailable}")
        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            for done in [pool.submit(docker.build_all, CASES), pool.submit(podman.build_all, [c for c in CASES if not c.error])]:
                done.result()
        yield {"docker": docker.results, "podman": podman.results}
    finally:
        docker.daemon.stop(notes)
        podman.close()
        remove_tree(workdir)
    assert not notes, notes


class Tuiker:
    """`tuiker build` and `tuiker save` on an engine root of the session's (one root: parents and the
    base image are shared by the cases, as in docker's store)."""

    def __init__(self, root: Path, contexts: Path, registry: str) -> None:
        self.root, self.contexts, self.registry = root, contexts, registry
        self.env = {"TUIKER_ROOT": str(root)}
        self.results: dict[str, Result] = {}

    def available(self) -> bool:
        return "invalid choice: 'build'" not in run_tuiker("build", "--help", env=self.env).stderr

    def result(self, case: Case) -> Result:
        if case.id not in self.results:
            if case.parent:
                self.result(BY_ID[case.parent])
            proc = run_tuiker("build", *build_argv(case, self.registry), str(self.contexts / case.id),
                              env=self.env, timeout=300)
            image = None
            if proc.returncode == 0:
                saved = self.root / f"{case.id}.tar"
                out = run_tuiker("save", "-o", str(saved), PREFIX + case.id, env=self.env)
                assert out.returncode == 0, f"tuiker save {case.id}: {out.stderr}"
                image = read_saved(str(saved))
                saved.unlink()
            self.results[case.id] = Result(image, proc.returncode, proc.stdout + proc.stderr)
        return self.results[case.id]


@pytest.fixture(scope="session")
def tuiker_builds(contexts, registry):
    root = Path(tempfile.mkdtemp(prefix="tuiker-test-parity-", dir="/var/tmp"))
    builds = Tuiker(root, contexts, registry.host)
    try:
        yield builds
    finally:
        stop_engine(root)
        leaked = _mounts_under(str(root))
        for point in sorted(leaked, key=len, reverse=True):
            subprocess.run(["umount", "-l", point], capture_output=True)
        shutil.rmtree(root, ignore_errors=True)
    assert not leaked, f"mounts left under the engine root: {leaked}"


# -- comparing -----------------------------------------------------------------------------------------

CONFIG_KEYS = ["Env", "Cmd", "Entrypoint", "WorkingDir", "User", "ExposedPorts", "Volumes", "Labels", "StopSignal",
               "Healthcheck", "Shell", "OnBuild"]
SOURCE_HASH = re.compile(r"\b(file|dir|multi):[0-9a-f]{64}")


def config_value(image: SavedImage, key: str):
    value = (image.config.get("config") or {}).get(key)
    if key != "Cmd" and not value:
        return None  # null, "", [], {} and no key at all mean the same; Cmd [] is not Cmd null (CMD [] was written)
    return value


def history_shape(image: SavedImage) -> list[tuple[str, bool]]:
    """What each build step recorded after the base image's own history: the command, with COPY/ADD source
    hashes reduced to their kind (docker's are tarsums of the context), and whether it made a layer."""
    return [(SOURCE_HASH.sub(r"\1:<hash>", h.get("created_by", "")), bool(h.get("empty_layer")))
            for h in image.config.get("history", [])[1:]]


def differences(want: SavedImage, got: SavedImage, names: tuple[str, str], history: bool = True,
                ignore_paths: frozenset[str] = frozenset(), ignore_labels: frozenset[str] = frozenset()) -> list[str]:
    """Every way `got` differs from `want`, one line each, naming the builders (names = (want's, got's))."""
    a, b = names
    found = []
    for key in CONFIG_KEYS:
        x, y = config_value(want, key), config_value(got, key)
        if key == "Labels" and y:
            y = {k: v for k, v in y.items() if k not in ignore_labels} or None
        if x != y:
            found.append(f"config.{key}: {a} {x!r}, {b} {y!r}")
    if history and history_shape(want) != history_shape(got):
        found.append(f"history: {a} {history_shape(want)}, {b} {history_shape(got)}")
    layers = [len(i.config["rootfs"]["diff_ids"]) for i in (want, got)]
    if history and layers[0] != layers[1]:
        found.append(f"layer count: {a} {layers[0]}, {b} {layers[1]}")
    for path in sorted(set(want.files) | set(got.files)):
        x, y = want.files.get(path), got.files.get(path)
        if x != y and path not in ignore_paths:
            found.append(f"/{path}: {a} {x or 'absent'}, {b} {y or 'absent'}")
    return found


# Where podman (buildah 1.28) is known to differ from docker 20.10 on every build: it labels its images, and a RUN
# leaves the /etc/hostname and /run mount points it made in the layer (docker keeps them out of the container's
# layer). Its history has its own wording (ENV quoted as written, WORKDIR without a layer), so it is not compared.
PODMAN_LABELS = frozenset({"io.buildah.version"})
PODMAN_RUN_LEFTOVERS = frozenset({"etc/hostname", "run"})
# Cases where podman's result differs from docker's beyond that: the difference, for the record.
PODMAN_DIFFERS: dict[str, str] = {}


def params(cases, differs: dict[str, str]):
    return [pytest.param(case, id=case.id, marks=[pytest.mark.xfail(reason=differs[case.id], strict=True)]
                         if case.id in differs else []) for case in cases]


BUILDS = [case for case in CASES if not case.error]
ERRORS = [case for case in CASES if case.error]


@pytest.mark.parametrize("case", params([c for c in BUILDS if c.oracle == "docker"], PODMAN_DIFFERS))
def test_podman_agrees_with_docker(case, oracles):
    """The oracles against each other: a case where they differ shows where docker's behaviour is the one to follow."""
    docker, podman = oracles["docker"][case.id], oracles["podman"][case.id]
    assert docker.image, f"docker could not build {case.id}: {docker.output}"
    assert podman.image, f"podman could not build {case.id}: {podman.output}"
    leftovers = PODMAN_RUN_LEFTOVERS - set(docker.image.files)
    diff = differences(docker.image, podman.image, ("docker", "podman"), history=False, ignore_paths=leftovers,
                       ignore_labels=PODMAN_LABELS)
    assert not diff, "\n".join(diff)


# Differences between tuiker and docker that are known and not fixed yet: case id -> the difference.
TUIKER_DIFFERS: dict[str, str] = {}


@pytest.fixture(scope="session")
def tuiker_ready(tuiker_builds):
    if not tuiker_builds.available():
        pytest.skip("`tuiker build` does not exist yet (branch b13-build)")
    return tuiker_builds


@pytest.mark.parametrize("case", params(BUILDS, TUIKER_DIFFERS))
def test_tuiker_build_matches(case, oracles, tuiker_ready):
    want = oracles[case.oracle][case.id]
    assert want.image, f"{case.oracle} could not build {case.id}: {want.output}"
    got = tuiker_ready.result(case)
    assert got.status == 0, f"tuiker build failed ({got.status}): {got.output[-2000:]}"
    ignore = PODMAN_RUN_LEFTOVERS if case.oracle == "podman" else frozenset()
    diff = differences(want.image, got.image, (case.oracle, "tuiker"), history=case.oracle == "docker",
                       ignore_paths=ignore, ignore_labels=PODMAN_LABELS if case.oracle == "podman" else frozenset())
    assert not diff, "\n".join(diff)


@pytest.mark.parametrize("case", params(ERRORS, TUIKER_DIFFERS))
def test_tuiker_build_error_matches(case, oracles, tuiker_ready):
    want = oracles["docker"][case.id]
    assert want.status != 0, f"docker built {case.id}, which should fail"
    got = tuiker_ready.result(case)
    assert got.status == want.status, f"exit status: docker {want.status}, tuiker {got.status}: {got.output}"
    assert "Traceback" not in got.output
    assert got.error_line("Error: ") == want.error_line("Error response from daemon: ")
