"""`tuiker build` against docker's own builder: each context below (a Dockerfile and its files, written here) is
built by Debian's dockerd 20.10 with the classic builder (DOCKER_BUILDKIT=0), by `podman build` (buildah) and by
`tuiker build`; the saved images must have the same config, the same history shape and the same filesystem.
Docker is the reference. Podman is built too, as the second opinion the issue names: where it differs from docker
the podman test says so (xfail with the difference), so a docker quirk is never mistaken for a tuiker bug.

One private dockerd and one podman store serve the whole session (tests/dockerd.py), both fed the session's busybox
image from the local registry; every context is built once per builder, the three builders side by side. Error
cases compare the one-line message. Where tuiker still differs from docker, the test is a strict xfail whose reason
is the difference (TUIKER_DIFFERS, HISTORY_DIFFERS): fixing it turns the xfail into a failure that asks for the
entry to go. History is compared by shape (one entry per step, which are empty, how many layers): the created_by
wording is the builder's own (docker 20.10's classic builder and BuildKit's differ).
"""

from __future__ import annotations

import bz2
import concurrent.futures
import gzip
import lzma
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import imagebuilder
import pytest
from conftest import _mounts_under, _network_leftovers, run_tuiker, stop_engine
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
    oracle: str = "docker"  # "podman" where docker's classic builder refuses what the issue asks for (--chmod)
    error: bool = False  # the build must fail: compare the one-line error


def _tar(entries: list, compress=None) -> bytes:
    """A tar of imagebuilder entries, compressed by `compress` (gzip.compress, bz2.compress, lzma.compress)."""
    data = imagebuilder.make_tar(entries)
    return compress(data) if compress else data


_TAR_ENTRIES = [imagebuilder.Dir("app", 0o750, 1000, 1000),
                imagebuilder.File("app/run.sh", b"#!/bin/sh\necho run\n", 0o755),
                imagebuilder.File("app/conf", b"owned\n", 0o600, 1000, 1000),
                imagebuilder.Symlink("app/link", "run.sh"), imagebuilder.Dir("app/empty", 0o700)]

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
         "ENV abc=hello\nENV abc=bye def=$abc\nENV EMPTY=\"\" ALSO_EMPTY=\n"
         "ENV PATH=/opt/bin:$PATH\n"
         "RUN echo \"$A|$B|$C|$LEGACY|$E|$F|$G|$H|$I|$J|$K|$def\" > /env.txt\n"),
    Case("proxy-build-arg", f"FROM {BASE}\nRUN echo \"$HTTP_PROXY|$no_proxy|$UNDECLARED\" > /proxy\n",
         build_args=("HTTP_PROXY=http://127.0.0.1:9", "no_proxy=example.test", "UNDECLARED=x")),
    Case("arg-defaults", f"FROM {BASE}\nARG X=default\nARG Y\nARG Z=z\nARG EMPTY=\n"
         "RUN echo \"$X|$Y|$Z|$EMPTY\" > /args\nENV FROMARG=$X-$Y\nARG X=later\nRUN echo \"$X\" > /args2\n",
         build_args=("Y=given", "Z=override")),
    Case("workdir", f"FROM {BASE}\nWORKDIR /a\nWORKDIR b\nWORKDIR c\nENV D=/envdir\nWORKDIR $D/sub\n"
         "RUN pwd > /pwd\nWORKDIR /home/app\nWORKDIR relative/x\n"),
    Case("copy-forms", f"FROM {BASE}\nWORKDIR /w\n"
         "COPY a.txt /single\nCOPY a.txt b.txt /multi/\nCOPY *.txt /glob/\nCOPY d /dcontents\nCOPY d /dtrail/\n"
         "COPY a.txt rel\nCOPY d/sub/run.sh ./nested/deep/\nCOPY [\"a.txt\", \"/json dest/\"]\nCOPY d/sub /existing/\n"
         "COPY a.txt /tmp\nCOPY ? /q/\nCOPY d/sub/[r]un.sh /bracket/\nCOPY d/sub/link /link-source\n"
         "ENV DEST=/envdest\nCOPY a.txt $DEST/\nCOPY a.txt ${DEST}-file\nCOPY modes /modes/\n"
         "COPY [\"with space.txt\", \"ünï.txt\", \"/names/\"]\n",
         {"a.txt": "hello\n", "modes/setuid": F("s", 0o4755), "modes/none": F("n", 0o000),
          "modes/sticky/": F("", 0o1777), "modes/setgid-dir/": F("", 0o2775), "with space.txt": "sp",
          "ünï.txt": "uni", "b.txt": F("bee\n", 0o600), "c.md": "not a txt\n", "x": "one char\n",
          "d/top": "top\n", "d/sub/run.sh": F("#!/bin/sh\necho hi\n", 0o755), "d/sub/link": Link("run.sh"),
          "d/empty/": F("", 0o700)}),
    Case("copy-chown", f"FROM {BASE}\nCOPY --chown=1000:1000 a.txt /numeric/\nCOPY --chown=app a.txt /name/\n"
         "COPY --chown=app:root d /dir/\nCOPY --chown=65534 a.txt /uid-only\nCOPY --chown=nobody:app a.txt /mixed\n"
         "ARG OWNER=app\nCOPY --chown=$OWNER a.txt /from-arg\n",
         {"a.txt": "hello\n", "d/f": "f\n", "d/sub/g": F("g\n", 0o640)}),
    Case("copy-chmod", f"FROM {BASE}\nCOPY --chmod=0600 a.txt /a600\nCOPY --chmod=755 d /d755/\n",
         {"a.txt": "hello\n", "d/f": "f\n", "d/sub/g": "g\n"}, oracle="podman"),
    Case("add-tar", f"FROM {BASE}\nADD app.tar /opt/\nADD app.tar.gz /gz\nADD plain.txt /plain\n"
         "ADD fake.tar /fake/\nADD app.tar /existing-file-dest/\nADD d /addeddir/\n"
         "ADD --chown=app:app app.tar /owned-tar/\nADD --chown=app plain.txt /owned-plain\n"
         "ADD app.tar.bz2 /bz2/\nADD app.txz /xz/\nADD etc.tar /\n",
         {"app.tar": _tar(_TAR_ENTRIES), "app.tar.gz": _tar(_TAR_ENTRIES, gzip.compress),
          "app.tar.bz2": _tar(_TAR_ENTRIES, bz2.compress), "app.txz": _tar(_TAR_ENTRIES, lzma.compress),
          "etc.tar": _tar([imagebuilder.Dir("etc", 0o755), imagebuilder.File("etc/added", b"union\n")]),
          "plain.txt": "plain\n", "fake.tar": "not a tar at all\n", "d/x": "x\n"}),
    Case("run-forms", f"FROM {BASE}\nRUN echo shell > /s && echo $0 > /shell-name\n"
         "RUN [\"/bin/sh\", \"-c\", \"echo exec > /e\"]\nRUN [\"touch\", \"/exec-touch\"]\n"
         "SHELL [\"/bin/sh\", \"-e\", \"-c\"]\nRUN echo after-shell > /sh2\n"
         "RUN rm /bin/ls /etc/group && rm -rf /home/app && mkdir -p /home/app && touch /home/app/new\n"
         "RUN mkdir -p /var/made && echo a > /var/made/a && ln -s a /var/made/l && chmod 4755 /var/made/a\n"
         "RUN rm /var/made/a && chown 1000:1000 /var/made\n"
         "RUN echo \"$HOME\" > /home-var && id -u > /id\nCMD echo done\nENTRYPOINT exec sh\n"),
    Case("run-special-files", f"FROM {BASE}\nRUN echo hl > /hl1 && ln /hl1 /hl2 && mkfifo -m 600 /fifo "
         "&& mknod -m 640 /dev/null2 c 1 3 && ln -s /nowhere /dangling && touch -h -d @0 /dangling\n"
         "RUN ln /hl1 /hl3 && rm /hl2\n"),
    Case("user", f"FROM {BASE}\nUSER app\nRUN id -u > /tmp/id-app && touch /tmp/by-app\nUSER 1000:1000\n"
         "RUN id -g > /tmp/id-numeric\nUSER 4242\nRUN echo $(id -u):$(id -g) > /tmp/ids-4242\n"
         "USER 4242:4343\nRUN echo $(id -u):$(id -g) > /tmp/ids-4242-4343\n"
         "USER root\nRUN id -u > /id-root\nUSER nobody:app\n"),
    Case("supplementary-groups", f"FROM {BASE}\nRUN id > /id-root\nUSER app\nRUN id > /tmp/id-app\n"),
    Case("workdir-as-user", f"FROM {BASE}\nUSER app\nWORKDIR /appdir/sub\nCOPY a.txt .\nRUN touch /tmp/made\n",
         {"a.txt": "a\n"}),
    Case("copy-through-symlink", f"FROM {BASE}\nRUN ln -s /tmp /linkdir && ln -s /var/tmp/f /filelink\n"
         "COPY a.txt /linkdir/\nCOPY a.txt /filelink\n", {"a.txt": "a\n"}),
    Case("metadata", f"FROM {BASE}\nEXPOSE 80 8080/udp\nEXPOSE 443/tcp 80 7000-7002/udp\nARG PORT=9000\nEXPOSE $PORT\n"
         "VOLUME [\"/data\", \"/logs\"]\nVOLUME /plain /second\n"
         "LABEL a=b \"c d\"=\"e f\" multi=\"1\" \\\n      other=2\nLABEL legacy value with spaces\n"
         "LABEL quoted='single $PORT' expanded=$PORT empty=\n"
         "STOPSIGNAL SIGUSR1\n"),
    Case("expose-upper-case", f"FROM {BASE}\nEXPOSE 53/UDP 80/Tcp\n"),
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
    Case("healthcheck-none", f"FROM {PREFIX}healthcheck\nHEALTHCHECK NONE\n"),
    Case("onbuild-parent", f"FROM {BASE}\nONBUILD RUN echo built > /onbuild\nONBUILD COPY a.txt /from-onbuild/\n"
         "ONBUILD ENV TRIGGERED=yes\n", {"a.txt": "parent ctx\n"}),
    Case("onbuild-child", f"FROM {PREFIX}onbuild-parent\nRUN cat /onbuild > /seen\n", {"a.txt": "child ctx\n"}),
    Case("multistage", f"ARG V=global\nFROM {BASE} AS build\nARG V\nARG LOCAL=only-in-build\n"
         "RUN mkdir /out && echo built > /out/art && echo \"$V $LOCAL\" > /out/v && ln -s art /out/link\n"
         f"FROM {BASE} AS second\nCOPY --from=build /out/art /second-art\nENV STAGE=second\n"
         f"FROM build\nRUN echo third > /out/third\n"
         f"FROM {BASE}\nCOPY --from=build /out /from-name\nCOPY --from=1 /second-art /from-index\n"
         f"COPY --from={BASE} /etc/passwd /from-image-passwd\nCOPY --from=2 /out/ /from-stage-on-stage/\n"
         "RUN echo \"$V $LOCAL\" > /final-v\nCOPY --from=build /out/link /copied-link\n"),
    Case("from-stage-named-by-arg", f"ARG STAGE=build\nFROM {BASE} AS build\nRUN echo built > /art\n"
         "FROM $STAGE AS on-build\nRUN echo on-build > /on-build\n"
         f"FROM {BASE}\nCOPY --from=on-build /art /on-build /got/\n"),
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
          "docs/*.md\n!docs/*.md\ndocs/drop.md\n  spaced.txt  \nsub/*.bin\n  #hash.txt\n#kept-hash.txt\n"
          "./dot-slash.txt\n",
          "app.log": "x", "keep.log": "k", "sub/deep.log": "d", "sub/keep.log": "sk", "tmp/a": "a", "sub/tmp/b": "b",
          "sub/x.bin": "bin", "sub/deeper/x.bin": "deep bin", "rooted.txt": "r", "sub/rooted.txt": "sr",
          "build/out": "o", "build/kept": "kept", "docs/a.md": "a", "docs/drop.md": "drop", "spaced.txt": "s",
          "#hash.txt": "h", "#kept-hash.txt": "kh", "dot-slash.txt": "ds",
          "src/main.c": "int main;\n"}),
    Case("dockerignore-lists-itself", f"FROM {BASE}\nCOPY . /ctx/\n",
         {".dockerignore": "Dockerfile\n.dockerignore\n*.tmp\n", "a.tmp": "t", "kept.txt": "k"}),
    Case("dockerignore-allowlist", f"FROM {BASE}\nCOPY . /ctx/\n",
         {".dockerignore": "*\n!src\n!*.keep\nsrc/**/*.o\n", "src/a.c": "a", "src/obj/a.o": "o", "src/b.o": "b",
          "top.keep": "k", "other/x": "x", "other/y.keep": "y"}),
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
    Case("error-empty-dockerfile", "# only a comment\n\n", error=True),
    Case("error-no-from", "RUN true\n", error=True),
    Case("error-onbuild-onbuild", f"FROM {BASE}\nONBUILD ONBUILD RUN true\n", error=True),
    Case("error-unknown-flag", f"FROM {BASE}\nCOPY --nope=1 a.txt /\n", {"a.txt": "a"}, error=True),
    Case("error-env-no-value", f"FROM {BASE}\nENV ALONE\n", error=True),
    Case("error-bad-interval", f"FROM {BASE}\nHEALTHCHECK --interval=abc CMD true\n", error=True),
    Case("error-bad-port", f"FROM {BASE}\nEXPOSE 80/sctpx\n", error=True),
    Case("error-multi-source-file-dest", f"FROM {BASE}\nCOPY a.txt b.txt /dest\n", {"a.txt": "a", "b.txt": "b"},
         error=True),
    Case("error-unknown-user", f"FROM {BASE}\nUSER nope\nRUN true\n", error=True),
    Case("error-unknown-chown-user", f"FROM {BASE}\nCOPY --chown=nope a.txt /\n", {"a.txt": "a"}, error=True),
    Case("error-exec-not-found", f"FROM {BASE}\nRUN [\"/nope\"]\n", error=True),
]

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
        for case in cases:  # in order: a case FROM parity-<id> comes after <id>
            status, output = self.build(case, self.contexts / case.id)
            image = None
            if status == 0:
                saved = self.workdir / f"{self.name}-{case.id}.tar"
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
        (self.store / "tmp").mkdir(parents=True)

    def cli(self, *args: str) -> tuple[int, str]:
        return run(["podman", "--root", str(self.store / "root"), "--runroot", str(self.store / "run"),
                    "--tmpdir", str(self.store / "tmp"), "--storage-driver", "overlay", *args],
                   env=dict(os.environ, TMPDIR=str(self.store / "tmp")))  # buildah's own temp files too

    def build(self, case: Case, ctx: Path) -> tuple[int, str]:
        # --format docker: buildah's default OCI format drops HEALTHCHECK, SHELL and ONBUILD (the OCI config has no
        # place for them).
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


class Tuiker(Oracle):
    """`tuiker build` and `tuiker save` on an engine root of the session's (one root: parents and the base image
    are shared by the cases, as in docker's store)."""

    name = "tuiker"

    def __init__(self, workdir: Path, contexts: Path, registry: str) -> None:
        super().__init__(workdir, contexts, registry)
        self.root = workdir / "tuiker"
        self.root.mkdir()
        self.env = {"TUIKER_ROOT": str(self.root)}

    def available(self) -> bool:
        return "invalid choice: 'build'" not in run_tuiker("build", "--help", env=self.env).stderr

    def cli(self, *args: str) -> tuple[int, str]:
        proc = run_tuiker(*args, env=self.env, timeout=300)
        return proc.returncode, proc.stdout + proc.stderr

    def build(self, case: Case, ctx: Path) -> tuple[int, str]:
        return self.cli("build", *build_argv(case, self.registry), str(ctx))

    def close(self) -> list[str]:
        """What the builds left behind (containers, which docker removes after each step as tuiker must, mounts,
        veths), each then taken away with the root's bridge and nftables table, as the engine_root fixture does."""
        leaked = [f"container {c}" for c in self.cli("ps", "-aq")[1].split()] if self.results else []
        stop_engine(self.root)
        leaked += [f"network link {link}" for link in _network_leftovers(self.root)]
        mounts = _mounts_under(str(self.root))
        for point in sorted(mounts, key=len, reverse=True):
            subprocess.run(["umount", "-l", point], capture_output=True)
        return leaked + [f"mount {point}" for point in mounts]


@pytest.fixture(scope="session")
def builds(contexts, registry):
    """Every case built by docker, podman and tuiker, side by side (three stores, two cores): builder name ->
    case id -> Result. No "tuiker" entry while `tuiker build` does not exist."""
    workdir = Path(tempfile.mkdtemp(prefix="tuiker-parity-", dir="/var/tmp"))
    docker = Docker(workdir, contexts, registry.host)
    podman = Podman(workdir, contexts, registry.host)
    tuiker = Tuiker(workdir, contexts, registry.host)
    notes: list[str] = []
    try:
        docker.daemon.start()
        if docker.daemon.unavailable:
            pytest.fail(f"the docker oracle is unavailable: {docker.daemon.unavailable}")
        builders = [(docker, CASES), (podman, BUILDS)] + ([(tuiker, CASES)] if tuiker.available() else [])
        with concurrent.futures.ThreadPoolExecutor(len(builders)) as pool:
            for done in [pool.submit(builder.build_all, cases) for builder, cases in builders]:
                done.result()
        yield {builder.name: builder.results for builder, _ in builders}
    finally:
        docker.daemon.stop(notes)
        podman.close()
        leaked = tuiker.close()
        remove_tree(workdir)
    assert not notes, notes
    assert not leaked, f"left by tuiker's builds: {leaked}"


# -- comparing -----------------------------------------------------------------------------------------

CONFIG_KEYS = ["Env", "Cmd", "Entrypoint", "WorkingDir", "User", "ExposedPorts", "Volumes", "Labels", "StopSignal",
               "Healthcheck", "Shell", "OnBuild"]


def config_value(image: SavedImage, key: str):
    value = (image.config.get("config") or {}).get(key)
    if key != "Cmd" and not value:
        return None  # null, "", [], {} and no key at all mean the same; Cmd [] is not Cmd null (CMD [] was written)
    return value


NOP = re.compile(r"#\(nop\) +([A-Z]+)")


def step_kind(created_by: str) -> str:
    """The instruction a history entry records, in docker's classic wording ("/bin/sh -c #(nop)  ENV a=b", a RUN
    as its command alone) or BuildKit's ("ENV a=b", "RUN /bin/sh -c ... # buildkit")."""
    nop = NOP.search(created_by)
    if nop:
        return nop.group(1)
    word = created_by.split(" ", 1)[0]
    return word if word.isupper() and word.isalpha() else "RUN"


def history_shape(image: SavedImage) -> list[tuple[str, bool]]:
    """What each build step recorded after the base image's own history, loosely: the instruction, and whether
    it made a layer (the exact created_by wording is the builder's: classic and BuildKit differ)."""
    return [(step_kind(h.get("created_by", "")), bool(h.get("empty_layer")))
            for h in image.config.get("history", [])[1:]]


def differences(want: SavedImage, got: SavedImage, names: tuple[str, str],
                ignore_paths: frozenset[str] = frozenset(), ignore_labels: frozenset[str] = frozenset()) -> list[str]:
    """Every way `got`'s config and filesystem differ from `want`'s, one line each, naming the builders
    (names = (want's, got's))."""
    a, b = names
    found = []
    for key in CONFIG_KEYS:
        x, y = config_value(want, key), config_value(got, key)
        if key == "Labels":
            x, y = ({k: v for k, v in m.items() if k not in ignore_labels} or None if m else m for m in (x, y))
        if x != y:
            found.append(f"config.{key}: {a} {x!r}, {b} {y!r}")
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
PODMAN_DIFFERS = {
    "env-forms": "podman appends a redefined ENV (PATH) at the end of Env; docker replaces it where it was",
    "workdir": "podman makes a WORKDIR only when a later step needs it; docker makes every WORKDIR (/a, /a/b ...)",
    "entrypoint-resets-inherited-cmd": "podman writes Cmd [] when ENTRYPOINT resets the base's CMD; docker null",
    "healthcheck-none": "docker's HEALTHCHECK NONE keeps the parent's Interval/Timeout/StartPeriod/Retries (its "
                        "commit merges zero fields from the parent config); podman writes Test [NONE] alone",
    "add-tar": "podman makes the missing destination of ADD --chown=app:app app.tar /owned-tar/ 1000:1000; docker 0:0",
    "expose-upper-case": "podman keeps EXPOSE 53/UDP 80/Tcp as written; docker lowercases them (53/udp, 80/tcp)",
    "run-special-files": "podman's RUN may not mknod (mknod: /dev/null2: Operation not permitted); docker's may",
    "from-stage-named-by-arg": "podman cannot build FROM $STAGE naming an earlier stage (short-name \"build\" did "
                               "not resolve to an alias); docker builds on that stage",
    "copy-forms": "podman drops the setgid bit of a copied directory (modes/setgid-dir 0775); docker keeps it (2775)",
    "run-forms": "podman ignores SHELL for the shell form of CMD and ENTRYPOINT (/bin/sh -c echo done); docker uses it "
                 "(/bin/sh -e -c echo done)",
    "metadata": "podman keeps EXPOSE 7000-7002/udp as one key; docker expands it to 7000/udp 7001/udp 7002/udp",
    "copy-through-symlink": "COPY a.txt /filelink, /filelink a symlink to the missing /var/tmp/f: podman makes "
                            "/var/tmp/f a directory holding a.txt; docker writes the file at /var/tmp/f",
    "escape-backtick": 'podman cannot parse LABEL l="x`"y" under "# escape=`" (unexpected end of statement while '
                       'looking for matching double-quote); docker gives l = x"y',
}


def params(cases, differs: dict[str, str]):
    return [pytest.param(case, id=case.id, marks=[pytest.mark.xfail(reason=differs[case.id], strict=True)]
                         if case.id in differs else []) for case in cases]


BUILDS = [case for case in CASES if not case.error]
ERRORS = [case for case in CASES if case.error]


@pytest.mark.parametrize("case", params([c for c in BUILDS if c.oracle == "docker"], PODMAN_DIFFERS))
def test_podman_agrees_with_docker(case, builds):
    """The oracles against each other: a case where they differ shows where docker's behaviour is the one to follow."""
    docker, podman = builds["docker"][case.id], builds["podman"][case.id]
    assert docker.image, f"docker could not build {case.id}: {docker.output}"
    assert podman.image, f"podman could not build {case.id}: {podman.output}"
    leftovers = PODMAN_RUN_LEFTOVERS - set(docker.image.files)
    diff = differences(docker.image, podman.image, ("docker", "podman"), ignore_paths=leftovers,
                       ignore_labels=PODMAN_LABELS)
    assert not diff, "\n".join(diff)


def test_chmod_oracle_is_the_documented_behaviour(builds):
    """docker's classic builder refuses COPY --chmod, so podman is the reference there: check that it does what
    the Dockerfile reference says (every copied file and directory gets the mode; the made destination not)."""
    refused = builds["docker"]["copy-chmod"]
    assert refused.status == 1
    assert refused.error_line("").startswith("the --chmod option requires BuildKit.")
    files = builds["podman"]["copy-chmod"].image.files
    assert (files["a600"].mode, files["d755/f"].mode, files["d755/sub/g"].mode) == (0o600, 0o755, 0o755)


# Differences between tuiker and docker that are known and not fixed yet: case id -> the difference.
TUIKER_DIFFERS = {
    "proxy-build-arg": "--build-arg HTTP_PROXY=... no_proxy=... without an ARG: docker's RUN sees docker's predefined "
                       "proxy ARGs (/proxy = 'http://127.0.0.1:9|example.test|'); tuiker's RUN sees neither ('||')",
    "copy-forms": "a context file with mode 4755 keeps its setuid bit in tuiker (/modes/setuid 4755); docker's COPY "
                  "loses it (0755: its fixPermissions chowns after the mode is set, and chown clears setuid)",
    "supplementary-groups": "RUN's processes (as `tuiker run`'s) have no supplementary groups: `id` gives "
                            "uid=0(root) gid=0(root); docker uid=0(root) gid=0(root) groups=0(root), and for USER app "
                            "groups=1000(app) (docker adds the primary gid and the /etc/group memberships)",
    "workdir-as-user": "WORKDIR /appdir/sub after USER app: tuiker makes /appdir and /appdir/sub 1000:1000 (BuildKit); "
                       "docker's classic builder 0:0",
    "volume-then-run": "RUN after VOLUME /data: tuiker keeps what the RUN wrote under /data (/data/after, BuildKit); "
                       "docker's classic builder discards it",
    "healthcheck-none": "HEALTHCHECK NONE over a parent's HEALTHCHECK --interval=5s --timeout=3s --start-period=1s "
                        "--retries=2: tuiker writes {Test: [NONE]}; docker keeps the parent's Interval, Timeout, "
                        "StartPeriod and Retries beside Test [NONE]",
    "error-unknown-instruction": "tuiker: 'dockerfile parse error on line 3: unknown instruction: FOO (did you mean "
                                 "FROM?)' (BuildKit's); docker 20.10: 'dockerfile parse error line 3: unknown "
                                 "instruction: FOO'",
    "error-missing-target": "tuiker: 'target stage \"nope\" could not be found' (BuildKit's); docker 20.10: "
                            "'failed to reach build target nope in Dockerfile'",
    "error-onbuild-onbuild": "tuiker: 'dockerfile parse error on line 2: Chaining ONBUILD via `ONBUILD ONBUILD` isn't "
                             "allowed' (BuildKit's 'on line'); docker 20.10: 'dockerfile parse error line 2: ...'",
    "error-unknown-flag": "tuiker: 'dockerfile parse error on line 2: Unknown flag: nope' (BuildKit's 'on line'); "
                          "docker 20.10: 'dockerfile parse error line 2: Unknown flag: nope'",
    "error-bad-interval": "tuiker: 'dockerfile parse error on line 2: time: invalid duration \"abc\"' (BuildKit's "
                          "'on line'); docker 20.10: 'dockerfile parse error line 2: time: invalid duration \"abc\"'",
    "error-empty-dockerfile": "tuiker: 'file with no instructions'; docker 20.10: 'failed to parse Dockerfile: file "
                              "with no instructions'",
    "error-env-no-value": "tuiker: 'dockerfile parse error on line 2: ENV must have two arguments'; docker 20.10: "
                          "'failed to parse Dockerfile: ENV must have two arguments'",
    "error-bad-port": "tuiker: 'Dockerfile:2: Invalid proto: sctpx'; docker 20.10: 'Invalid proto: sctpx'",
    "error-multi-source-file-dest": "tuiker: 'Dockerfile:2: When using COPY with more than one source file, the "
                                    "destination must be a directory and end with a /'; docker 20.10 the same "
                                    "without 'Dockerfile:2: '",
    "error-unknown-chown-user": "COPY --chown=nope: tuiker: 'unable to find user nope: no matching entries in passwd "
                                "file'; docker 20.10: \"unable to convert uid/gid chown string to host mapping: can't "
                                "find uid for user nope: no such user: nope\"",
    "error-exec-not-found": "RUN [\"/nope\"]: tuiker: 'exec: \"/nope\": stat /nope: no such file or directory'; "
                            "docker 20.10: 'failed to create shim task: OCI runtime create failed: runc create failed: "
                            "unable to start container process: exec: \"/nope\": stat /nope: no such file or "
                            "directory: unknown'",
}
HISTORY_DIFFERS = {
    "onbuild-parent": "tuiker writes no history entry for ONBUILD; docker one empty-layer entry each "
                      "(/bin/sh -c #(nop)  ONBUILD RUN echo built > /onbuild)",
    "onbuild-child": "the parent's ONBUILD history entries are missing (see onbuild-parent)",
}


@pytest.fixture
def tuiker(builds) -> dict[str, Result]:
    if "tuiker" not in builds:
        pytest.skip("`tuiker build` does not exist yet (branch b13-build)")
    return builds["tuiker"]


@pytest.mark.parametrize("case", params(BUILDS, TUIKER_DIFFERS))
def test_tuiker_build_matches(case, builds, tuiker):
    """Config and filesystem as docker's (podman's for what docker's classic builder refuses)."""
    want, got = builds[case.oracle][case.id], tuiker[case.id]
    assert want.image, f"{case.oracle} could not build {case.id}: {want.output}"
    assert got.status == 0, f"tuiker build failed ({got.status}): {got.output[-2000:]}"
    podman = case.oracle == "podman"
    diff = differences(want.image, got.image, (case.oracle, "tuiker"),
                       ignore_paths=PODMAN_RUN_LEFTOVERS if podman else frozenset(),
                       ignore_labels=PODMAN_LABELS if podman else frozenset())
    assert not diff, "\n".join(diff)


@pytest.mark.parametrize("case", params([c for c in BUILDS if c.oracle == "docker"], HISTORY_DIFFERS))
def test_tuiker_history_matches(case, builds, tuiker):
    """One history entry per step as docker writes them, the same ones empty, and as many layers."""
    want, got = builds["docker"][case.id], tuiker[case.id]
    assert want.image, f"docker could not build {case.id}: {want.output}"
    assert got.status == 0, f"tuiker build failed ({got.status}): {got.output[-2000:]}"
    assert history_shape(got.image) == history_shape(want.image)
    assert len(got.image.config["rootfs"]["diff_ids"]) == len(want.image.config["rootfs"]["diff_ids"])


@pytest.mark.parametrize("case", params(ERRORS, TUIKER_DIFFERS))
def test_tuiker_build_error_matches(case, builds, tuiker):
    want, got = builds["docker"][case.id], tuiker[case.id]
    assert want.status != 0, f"docker built {case.id}, which should fail"
    assert got.status == want.status, f"exit status: docker {want.status}, tuiker {got.status}: {got.output}"
    assert "Traceback" not in got.output
    assert got.error_line("Error: ") == want.error_line("Error response from daemon: ")
