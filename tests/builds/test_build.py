"""`tuiker build`: each Dockerfile instruction through a real build on the busybox fixture, the resulting config
and file system checked (BuildKit's results, as modern docker gives them), and the images run."""

from __future__ import annotations

import gzip
import io
import tarfile

import pytest
from buildtools import build, config, subtree, tuiker_image, write_context
from conftest import ok, one_line_error

TUTORIAL = """FROM busybox
WORKDIR /app
COPY package.txt ./
RUN while read -r dep; do echo "installed $dep" > "/app/$dep.dep"; done < package.txt
COPY . .
EXPOSE 3000
CMD ["sh", "/app/src/index.sh"]
"""


def test_tutorial_shape_builds_and_runs(engine, tuiker, tmp_path):
    ctx = write_context(tmp_path / "ctx", {
        "Dockerfile": TUTORIAL, "package.txt": "left-pad\nexpress\n",
        "src/index.sh": "echo listening on 3000; ls /app\n", ".dockerignore": "node_modules\n",
        "node_modules/junk.js": "x",
    })
    result = tuiker("build", "-t", "getting-started", str(ctx))
    assert result.returncode == 0, result.stderr
    progress = result.stderr
    for line in ("[1/7] FROM busybox", "[2/7] WORKDIR /app", "[3/7] COPY package.txt ./", "[5/7] COPY . .",
                 "[7/7] CMD", "naming to docker.io/library/getting-started:latest done"):
        assert line in progress
    assert "#5 DONE" in progress
    out = ok(tuiker("run", "--rm", "--network", "none", "getting-started"))
    assert out.splitlines()[0] == "listening on 3000"
    assert set(out.split()[3:]) == {"Dockerfile", "express.dep", "left-pad.dep", "package.txt", "src"}
    cfg = config(engine, "getting-started")["config"]
    assert cfg["WorkingDir"] == "/app" and cfg["ExposedPorts"] == {"3000/tcp": {}}
    assert cfg["Cmd"] == ["sh", "/app/src/index.sh"]
    # The steps' images are hidden from `images`, shown by `images -a` as <none>.
    listed = ok(tuiker("images", "--format", "{{.Repository}}:{{.Tag}}")).split()
    assert "<none>:<none>" not in listed and "getting-started:latest" in listed
    everything = ok(tuiker("images", "-a", "--format", "{{.Repository}}:{{.Tag}}")).split()
    assert everything.count("<none>:<none>") == 5  # WORKDIR, COPY, RUN, COPY, EXPOSE (CMD's is the result)
    quiet = ok(tuiker("build", "-q", "-t", "getting-started", str(ctx))).strip()
    assert quiet == engine.images.get("getting-started").id


def test_history_and_layers_follow_buildkit(engine, tmp_path):
    ctx = write_context(tmp_path / "ctx", {"Dockerfile": (
        "FROM busybox\nENV A=1\nWORKDIR /\nWORKDIR /w\nRUN true\nRUN echo x > /w/x\nCMD echo hi\n")})
    build(engine, ctx, ["hist"])
    doc = config(engine, "hist")
    added = doc["history"][-6:]
    assert [h["created_by"] for h in added] == [
        "ENV A=1", "WORKDIR /", "WORKDIR /w", "RUN /bin/sh -c true # buildkit",
        "RUN /bin/sh -c echo x > /w/x # buildkit", 'CMD ["/bin/sh" "-c" "echo hi"]']
    # A step that changes nothing adds no layer: `WORKDIR /` and `RUN true` are empty layers.
    assert [bool(h.get("empty_layer")) for h in added] == [True, True, False, True, False, True]
    assert len(doc["rootfs"]["diff_ids"]) == 3
    assert all(h["comment"] == "buildkit.dockerfile.v0" for h in added)
    assert doc["config"]["Cmd"] == ["/bin/sh", "-c", "echo hi"]


def test_run_layer_holds_only_what_the_command_wrote(engine, tmp_path):
    """The engine's mount points (/etc/hosts, /etc/resolv.conf, /etc/hostname: busybox has none of them) are
    not in the RUN's layer, nor /etc, which the engine's files alone touched."""
    ctx = write_context(tmp_path / "ctx", {"Dockerfile": "FROM busybox\nRUN cat /etc/hosts > /seen && rm /bin/vi\n"})
    build(engine, ctx, ["mounts"])
    _, listing = tuiker_image(engine, "mounts", tmp_path)
    _, base = tuiker_image(engine, "busybox", tmp_path)
    added = {p: e for p, e in listing.items() if base.get(p) != e}
    removed = set(base) - set(listing)
    assert set(added) == {"/seen"} and removed == {"/bin/vi"}
    for path in ("/etc/hosts", "/etc/resolv.conf", "/etc/hostname", "/proc", "/dev", "/sys"):
        assert path not in added


def test_env_arg_scoping_and_expansion(engine, tmp_path):
    ctx = write_context(tmp_path / "ctx", {"Dockerfile": """ARG BASE=busybox
ARG TAGGED
FROM ${BASE}
ARG BASE
ARG FLAVOUR=plain
ARG TAGGED
ENV A=1 B=${FLAVOUR:-none} C=${UNSET:-dflt} D=${FLAVOUR:+set} E=${UNSET:+never}
ENV A=2 F=$A
ENV OLD legacy form value
RUN echo "$BASE $FLAVOUR $A $TAGGED" > /args && env > /env
"""})
    build(engine, ctx, ["scoped"], build_args={"FLAVOUR": "spicy", "TAGGED": "t1"})
    env = config(engine, "scoped")["config"]["Env"]
    assert env[1:] == ["A=2", "B=spicy", "C=dflt", "D=set", "E=", "F=1", "OLD=legacy form value"]
    assert not any(e.startswith(("FLAVOUR=", "BASE=", "TAGGED=")) for e in env)  # build args are not persisted
    _, listing = tuiker_image(engine, "scoped", tmp_path)
    assert listing["/args"][4] == len("busybox spicy 2 t1\n")


def test_workdir_user_chown_chmod(engine, tmp_path):
    ctx = write_context(tmp_path / "ctx", {"Dockerfile": """FROM busybox
WORKDIR /a
WORKDIR b
WORKDIR c
USER app
WORKDIR /home/app/work/deep
COPY --chown=app:app f1 /owned/
COPY --chown=1234 f1 /numeric
COPY --chmod=0600 f1 d/ /modes/
USER root:app
RUN id -u > /uid && id -g >> /uid
""", "f1": "one\n", "d/inner.sh": "echo\n"})
    build(engine, ctx, ["perms"])
    cfg = config(engine, "perms")["config"]
    assert cfg["WorkingDir"] == "/home/app/work/deep" and cfg["User"] == "root:app"
    _, listing = tuiker_image(engine, "perms", tmp_path)
    assert listing["/a/b/c"][:4] == ("dir", 0o755, 0, 0)
    assert listing["/home/app/work/deep"][:4] == ("dir", 0o755, 1000, 1000)  # made by WORKDIR as USER app
    assert listing["/owned"][:4] == ("dir", 0o755, 1000, 1000)
    assert listing["/owned/f1"][:4] == ("file", 0o644, 1000, 1000)
    assert listing["/numeric"][:4] == ("file", 0o644, 1234, 1234)  # a user alone is also the group
    assert listing["/modes/f1"][:4] == ("file", 0o600, 0, 0)
    assert listing["/modes/inner.sh"][:4] == ("file", 0o600, 0, 0)
    assert listing["/uid"][4] == len("0\n1000\n")


def test_copy_directory_semantics_and_globs(engine, tmp_path):
    ctx = write_context(tmp_path / "ctx", {"Dockerfile": """FROM busybox
COPY dir /contents
COPY dir/ /slash/
COPY one.txt /renamed
COPY one.txt /intodir/
COPY *.txt /globbed/
COPY [[]x].md /bracket/
COPY one.txt two.txt /multi/
COPY one.txt /home
""", "dir/a": "a", "dir/sub/b": "b", "one.txt": "1", "two.txt": "2", "[x].md": "x"})
    (ctx / "dir" / "link").symlink_to("sub/b")
    build(engine, ctx, ["copies"])
    _, listing = tuiker_image(engine, "copies", tmp_path)
    assert sorted(subtree(listing, "/contents")) == ["/contents", "/contents/a", "/contents/link", "/contents/sub",
                                                     "/contents/sub/b"]
    assert listing["/contents/link"][:2] == ("link", "sub/b")
    assert sorted(subtree(listing, "/slash")) == ["/slash", "/slash/a", "/slash/link", "/slash/sub", "/slash/sub/b"]
    assert listing["/renamed"][0] == "file" and "/intodir/one.txt" in listing
    assert sorted(subtree(listing, "/globbed")) == ["/globbed", "/globbed/one.txt", "/globbed/two.txt"]
    assert "/bracket/[x].md" in listing
    assert sorted(subtree(listing, "/multi")) == ["/multi", "/multi/one.txt", "/multi/two.txt"]
    assert "/home/one.txt" in listing  # into an existing directory


@pytest.mark.parametrize("dockerfile, message", [
    ("FROM busybox\nCOPY one.txt two.txt /notadir\n", "When using COPY with more than one source file, the"
     " destination must be a directory and end with a /"),
    ("FROM busybox\nCOPY missing.txt /x\n", "COPY failed: file not found in build context or excluded by"
     " .dockerignore: stat missing.txt: file does not exist"),
    ("FROM busybox\nADD http://127.0.0.1:1/x /x\n", "ADD from a URL (http://127.0.0.1:1/x) is not supported"),
    ("FROM busybox\nCOPY --chown=nosuchuser one.txt /x\n", "unable to find user nosuchuser"),
    ("FROM busybox\nCOPY --from=5 /x /x\n", "Dockerfile:2: invalid stage index 5"),
    ("FROM busybox\nCOPY --chmod=999 one.txt /x\n", "Dockerfile:2: invalid chmod parameter: 999"),
])
def test_copy_errors(engine, tuiker, tmp_path, dockerfile, message):
    ctx = write_context(tmp_path / "ctx", {"Dockerfile": dockerfile, "one.txt": "1", "two.txt": "2"})
    result = tuiker("build", "-q", str(ctx))  # -q: the error line alone on stderr
    assert result.returncode == 1
    assert message in one_line_error(result)


def _tar(entries: list[tuple[str, bytes | None, str | None]], mode: str = "w:gz") -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode=mode) as tar:
        for name, data, link in entries:
            info = tarfile.TarInfo(name)
            if link is not None:
                info.type, info.linkname = tarfile.SYMTYPE, link
                tar.addfile(info)
            elif data is None:
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                tar.addfile(info)
            else:
                info.size, info.mode = len(data), 0o640
                tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def test_add_extracts_local_archives_inside_the_rootfs(engine, tmp_path):
    ctx = write_context(tmp_path / "ctx", {
        "Dockerfile": "FROM busybox\nADD app.tgz /opt/\nADD plain.bin /raw/\nADD evil.tar /jail/\n"
                      "COPY app.tgz /kept/\nADD notes.txt.gz /notes/\n",
        "notes.txt.gz": gzip.compress(b"not a tar"),  # compressed, but no tar inside: copied
        "app.tgz": _tar([("app", None, None), ("app/run.sh", b"echo run\n", None)]),
        "plain.bin": _tar([("x", b"x", None)], "w:bz2"),  # by content, whatever the name
        # An absolute symlink then a file through it: lands under /jail, not in the host's (or image's) /etc.
        "evil.tar": _tar([("etc", None, None), ("link", None, "/etc"), ("link/evil", b"pwned", None)], "w"),
    })
    build(engine, ctx, ["added"])
    _, listing = tuiker_image(engine, "added", tmp_path)
    assert listing["/opt/app/run.sh"][:2] == ("file", 0o640)
    assert "/raw/x" in listing
    assert "/etc/evil" not in listing and listing["/jail/etc/evil"][0] == "file"
    assert listing["/kept/app.tgz"][0] == "file"  # COPY never unpacks
    assert listing["/notes/notes.txt.gz"][0] == "file"


def test_add_refuses_an_archive_escaping_its_destination(engine, tuiker, tmp_path):
    ctx = write_context(tmp_path / "ctx", {"Dockerfile": "FROM busybox\nADD evil.tar /jail/\n",
                                           "evil.tar": _tar([("../../escaped", b"x", None)], "w")})
    result = tuiker("build", "-q", str(ctx))
    assert result.returncode == 1 and "escaped" in one_line_error(result)


def test_entrypoint_cmd_interaction_and_shell(engine, tuiker, tmp_path):
    ctx = write_context(tmp_path / "ctx", {"Dockerfile": """FROM busybox AS reset
ENTRYPOINT ["echo", "entry"]

FROM busybox AS both
CMD ["from", "cmd"]
ENTRYPOINT ["echo"]

FROM busybox AS shellform
SHELL ["/bin/sh", "-ec"]
RUN echo $0 > /shell-used
ENTRYPOINT echo shell-entry
"""})
    build(engine, ctx, ["reset"], target="reset")
    build(engine, ctx, ["both"], target="both")
    build(engine, ctx, ["shellform"], target="shellform")
    reset = config(engine, "reset")["config"]
    assert reset["Entrypoint"] == ["echo", "entry"] and reset.get("Cmd") is None  # busybox's CMD ["sh"] is reset
    both = config(engine, "both")["config"]
    assert both["Entrypoint"] == ["echo"] and both["Cmd"] == ["from", "cmd"]
    shell = config(engine, "shellform")["config"]
    assert shell["Shell"] == ["/bin/sh", "-ec"] and shell["Entrypoint"] == ["/bin/sh", "-ec", "echo shell-entry"]
    assert ok(tuiker("run", "--rm", "--network", "none", "both")).strip() == "from cmd"
    assert ok(tuiker("run", "--rm", "--network", "none", "both", "args")).strip() == "args"
    assert ok(tuiker("run", "--rm", "--network", "none", "reset")).strip() == "entry"


def test_metadata_instructions(engine, tmp_path):
    ctx = write_context(tmp_path / "ctx", {"Dockerfile": """FROM busybox
ARG VERSION=1.2
LABEL org.example.version=$VERSION "with space"="a b" plain=yes
LABEL plain=overridden
MAINTAINER someone <someone@example.com>
EXPOSE 80 53/udp 8000-8002/tcp
VOLUME /data
VOLUME ["/logs"]
VOLUME /more /and/more
STOPSIGNAL SIGQUIT
HEALTHCHECK --interval=5s --timeout=2s --retries=4 CMD wget -q localhost || exit 1
USER nobody
"""})
    build(engine, ctx, ["meta"], labels={"from.cli": "1"})
    doc = config(engine, "meta")
    cfg = doc["config"]
    assert cfg["Labels"] == {"org.example.version": "1.2", "with space": "a b", "plain": "overridden",
                             "from.cli": "1"}
    assert doc["author"] == "someone <someone@example.com>"
    assert cfg["ExposedPorts"] == {p: {} for p in ("80/tcp", "53/udp", "8000/tcp", "8001/tcp", "8002/tcp")}
    assert cfg["Volumes"] == {"/data": {}, "/logs": {}, "/more": {}, "/and/more": {}}
    assert cfg["StopSignal"] == "SIGQUIT"
    assert cfg["Healthcheck"] == {"Test": ["CMD-SHELL", "wget -q localhost || exit 1"], "Interval": 5_000_000_000,
                                  "Timeout": 2_000_000_000, "Retries": 4}
    assert cfg["User"] == "nobody"


def test_volume_keeps_what_run_writes_there(engine, tmp_path):
    """BuildKit keeps a RUN's writes under a VOLUME (the classic builder dropped them): no volume is mounted."""
    ctx = write_context(tmp_path / "ctx", {
        "Dockerfile": "FROM busybox\nVOLUME /data\nRUN mkdir /data && echo kept > /data/file\n"})
    build(engine, ctx, ["vol"])
    _, listing = tuiker_image(engine, "vol", tmp_path)
    assert listing["/data/file"][0] == "file"
    assert engine.volumes.list() == []


def test_onbuild_triggers_run_in_the_child(engine, tuiker, tmp_path):
    parent = write_context(tmp_path / "parent", {"Dockerfile": (
        "FROM busybox\nONBUILD COPY marker /from-trigger\nONBUILD RUN echo triggered > /ran\n")})
    build(engine, parent, ["onbuild-parent"])
    assert config(engine, "onbuild-parent")["config"]["OnBuild"] == ["COPY marker /from-trigger",
                                                                     "RUN echo triggered > /ran"]
    child = write_context(tmp_path / "child", {"Dockerfile": "FROM onbuild-parent\nRUN cat /ran\n", "marker": "m"})
    _, events = build(engine, child, ["onbuild-child"])
    titles = [e.text for e in events if e.kind == "step"]
    assert "[2/4] ONBUILD COPY marker /from-trigger" in titles and "[3/4] ONBUILD RUN echo triggered > /ran" in titles
    assert "triggered" in [e.text for e in events if e.kind == "output"]
    doc = config(engine, "onbuild-child")
    assert not doc["config"].get("OnBuild")  # triggers run once: not inherited by the child's children
    _, listing = tuiker_image(engine, "onbuild-child", tmp_path)
    assert "/from-trigger" in listing and "/ran" in listing


def test_multi_stage_program_builds_and_runs(engine, tuiker, tmp_path):
    ctx = write_context(tmp_path / "ctx", {"Dockerfile": """FROM busybox AS build
WORKDIR /src
COPY hello.in .
RUN sed 's/@NAME@/world/' hello.in > hello && chmod 755 hello && chown 1000:1000 hello && touch .hidden

FROM busybox AS unused
RUN exit 1

FROM busybox
COPY --from=build /src/hello /usr/local/bin/hello
COPY --from=0 /src/hello.in /usr/share/
COPY --from=busybox /etc/passwd /copied-from-image
COPY --from=build /src/*.in /src/.h* /globbed/
CMD ["hello"]
""", "hello.in": "#!/bin/sh\necho hello @NAME@\n"})
    result = tuiker("build", "-t", "multi", str(ctx))
    assert result.returncode == 0, result.stderr
    assert "[build 4/4] RUN" in result.stderr and "unused" not in result.stderr  # a stage not needed is not built
    assert ok(tuiker("run", "--rm", "--network", "none", "multi")) == "hello world\n"
    _, listing = tuiker_image(engine, "multi", tmp_path)
    assert listing["/usr/local/bin/hello"][:4] == ("file", 0o755, 1000, 1000)  # --from keeps the owner
    assert "/usr/share/hello.in" in listing and "/copied-from-image" in listing
    assert sorted(subtree(listing, "/globbed")) == ["/globbed", "/globbed/.hidden", "/globbed/hello.in"]
    assert "/src" not in listing
    build(engine, ctx, ["first-stage"], target="build")
    assert config(engine, "first-stage")["config"]["WorkingDir"] == "/src"
    result = tuiker("build", "-q", "--target", "nope", str(ctx))
    assert one_line_error(result) == 'Error: target stage "nope" could not be found'


def test_heredocs(engine, tuiker, tmp_path):
    ctx = write_context(tmp_path / "ctx", {"Dockerfile": """FROM busybox
ARG WHO=heredoc
RUN <<EOF
echo first > /one
echo second >> /one
EOF
COPY <<EOF /greeting
hello $WHO
EOF
COPY <<'EOF' /literal
hello $WHO
EOF
RUN cat <<A > /a && cat <<B > /b
from a
A
from b
B
"""})
    build(engine, ctx, ["heredocs"])
    out = ok(tuiker("run", "--rm", "--network", "none", "heredocs", "cat", "/one", "/greeting", "/literal", "/a", "/b"))
    assert out == "first\nsecond\nhello heredoc\nhello $WHO\nfrom a\nfrom b\n"


def test_network_modes(engine, tmp_path):
    ctx = write_context(tmp_path / "ctx", {"Dockerfile": "FROM busybox\nRUN cat /proc/net/dev | cut -d: -f1\n"})
    _, events = build(engine, ctx, ["net-none"], network="none")
    none = [e.text.strip() for e in events if e.kind == "output"]
    _, events = build(engine, ctx, ["net-bridge"], no_cache=True)
    bridge = [e.text.strip() for e in events if e.kind == "output"]
    assert "lo" in none and "eth0" not in none
    assert "eth0" in bridge
    flagged = write_context(tmp_path / "flagged", {
        "Dockerfile": "FROM busybox\nRUN --network=none cat /proc/net/dev | cut -d: -f1\n"})
    _, events = build(engine, flagged, ["net-flag"])
    assert "eth0" not in [e.text.strip() for e in events if e.kind == "output"]
    engine.networks.create("buildnet")
    _, events = build(engine, ctx, ["net-user"], network="buildnet", no_cache=True)
    assert "eth0" in [e.text.strip() for e in events if e.kind == "output"]
    engine.networks.remove("buildnet")  # no RUN container is left on it
    from tuiker.engine import BuildOptions, TuikerError

    with pytest.raises(TuikerError, match="network nosuchnet not found"):
        engine.builds.build(BuildOptions(str(ctx), network="nosuchnet"))


def test_pull_and_platform_args(engine, tuiker, busybox_image, tmp_path):
    """--pull fetches the base again; BuildKit's automatic platform ARGs name the host's platform."""
    import platform

    ctx = write_context(tmp_path / "ctx", {"Dockerfile": (
        f"FROM --platform=$BUILDPLATFORM {busybox_image[0]}\nARG TARGETARCH\nRUN echo arch=$TARGETARCH\n")})
    _, events = build(engine, ctx, ["pulled"], pull=True)
    arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())
    assert f"arch={arch}" in [e.text for e in events if e.kind == "output"]
    assert any(e.kind == "info" and e.text.startswith("latest: Pulling from ") for e in events)


DOCKERIGNORE_CASES = [
    # (.dockerignore, files in the context, what COPY . /ctx/ must hold)
    ("*.log\n", ["a.log", "b.txt", "sub/c.log"], ["b.txt", "sub", "sub/c.log"]),
    ("**/*.log\n", ["a.log", "b.txt", "sub/c.log"], ["b.txt", "sub"]),
    ("*.log\n!keep.log\n", ["a.log", "keep.log"], ["keep.log"]),
    ("!keep.log\n*.log\n", ["a.log", "keep.log"], []),  # the last match wins
    ("/rooted\n", ["rooted", "sub/rooted"], ["sub", "sub/rooted"]),  # a leading / is ignored
    ("# a comment\n#file\n", ["#file", "x"], ["#file", "x"]),  # `#` in column 1 is a comment, the line is no pattern
    ("  spaced  \n", ["spaced", "x"], ["x"]),
    ("dir\n!dir/keep\n", ["dir/drop", "dir/keep"], ["dir", "dir/keep"]),
    ("node_modules\n", ["node_modules/a/b.js", "x"], ["x"]),
    ("?.txt\n", ["a.txt", "ab.txt"], ["ab.txt"]),
    ("sub/**/deep\n", ["sub/x/y/deep", "sub/deep", "deep"], ["deep", "sub", "sub/x", "sub/x/y"]),
    (".\n", ["x"], ["x"]),  # `.` is ignored (docker's historical rule)
]


@pytest.mark.parametrize("ignore, files, kept", DOCKERIGNORE_CASES)
def test_dockerignore_rules(engine, tmp_path, ignore, files, kept):
    context = {name: name for name in files}
    context["Dockerfile"] = "FROM busybox\nCOPY . /ctx/\n"
    context[".dockerignore"] = ignore
    ctx = write_context(tmp_path / "ctx", context)
    build(engine, ctx, ["ignored"])
    _, listing = tuiker_image(engine, "ignored", tmp_path)
    copied = sorted(p.removeprefix("/ctx/") for p in subtree(listing, "/ctx") if p != "/ctx")
    assert copied == sorted([*kept, "Dockerfile", ".dockerignore"])


def test_dockerignore_may_name_the_build_files(engine, tmp_path):
    """The Dockerfile and .dockerignore are still read, but COPY leaves them out when .dockerignore names them."""
    ctx = write_context(tmp_path / "ctx", {"Dockerfile": "FROM busybox\nCOPY . /ctx/\n",
                                           ".dockerignore": "Dockerfile\n.dockerignore\n", "x": "x"})
    build(engine, ctx, ["selfignored"])
    _, listing = tuiker_image(engine, "selfignored", tmp_path)
    assert sorted(subtree(listing, "/ctx")) == ["/ctx", "/ctx/x"]


def test_context_from_stdin(engine, tuiker, tmp_path):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, data in (("Dockerfile", b"FROM busybox\nCOPY f /f\n"), ("f", b"from a tar")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    import os
    import subprocess
    import sys

    from conftest import REPO_ROOT

    result = subprocess.run([sys.executable, "-m", "tuiker", "build", "-q", "-t", "fromstdin", "-"],
                            input=buffer.getvalue(), capture_output=True, cwd=REPO_ROOT,
                            env=dict(os.environ, PYTHONPATH=str(REPO_ROOT)))
    assert result.returncode == 0, result.stderr
    assert result.stdout.decode().strip() == engine.images.get("fromstdin").id
    assert ok(tuiker("run", "--rm", "--network", "none", "fromstdin", "cat", "/f")) == "from a tar"


def test_cli_flags_file_build_args_labels_and_escape(engine, tuiker, tmp_path):
    ctx = write_context(tmp_path / "ctx", {"build/app.Dockerfile": """# escape=`
FROM busybox
ARG FROM_ENV
ARG GIVEN
RUN echo "$FROM_ENV $GIVEN" > /args && `
    echo 'C:\\path\\kept' > /win
"""})
    result = tuiker("build", "-q", "-f", str(ctx / "build" / "app.Dockerfile"), "-t", "flags:v1", "-t", "flags:v2",
                    "--build-arg", "FROM_ENV", "--build-arg", "GIVEN=given", "--label", "a=b", "--label", "empty",
                    str(ctx), env={"FROM_ENV": "from-env"})
    image_id = ok(result).strip()
    assert {t for t in engine.images.get(image_id).repo_tags} == {"docker.io/library/flags:v1",
                                                                  "docker.io/library/flags:v2"}
    assert config(engine, "flags:v1")["config"]["Labels"] == {"a": "b", "empty": ""}
    out = ok(tuiker("run", "--rm", "--network", "none", "flags:v1", "cat", "/args", "/win"))
    assert out == "from-env given\nC:\\path\\kept\n"


def test_copy_writes_through_a_destination_symlink_and_add_chown(engine, tmp_path):
    """docker follows a symlink at the destination (inside the image); ADD --chown leaves an unpacked tar's
    made destination to root, as docker."""
    ctx = write_context(tmp_path / "ctx", {
        "Dockerfile": "FROM busybox\nRUN ln -s /var/tmp/f /filelink\nCOPY a.txt /filelink\n"
                      "ADD --chown=app:app app.tar /owned-tar/\n",
        "a.txt": "a", "app.tar": _tar([("x.txt", b"x", None)], "w")})
    build(engine, ctx, ["through"])
    _, listing = tuiker_image(engine, "through", tmp_path)
    assert listing["/filelink"][:2] == ("link", "/var/tmp/f")
    assert listing["/var/tmp/f"][0] == "file" and listing["/var/tmp/f"][4] == 1
    assert listing["/owned-tar"][:4] == ("dir", 0o755, 0, 0)


def test_from_scratch(engine, tuiker, tmp_path):
    ctx = write_context(tmp_path / "ctx", {"Dockerfile": 'FROM scratch\nCOPY f /f\nENV A=1\nCMD ["/f"]\n', "f": "hi"})
    build(engine, ctx, ["scratchy"])
    doc = config(engine, "scratchy")
    assert doc["config"]["Env"] == ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "A=1"]
    _, listing = tuiker_image(engine, "scratchy", tmp_path)
    assert sorted(listing) == ["/f"] and len(doc["rootfs"]["diff_ids"]) == 1
    empty = write_context(tmp_path / "empty", {"Dockerfile": "FROM scratch\n"})
    image_id, _ = build(engine, empty, ["nothing"])
    assert config(engine, image_id)["rootfs"]["diff_ids"] == []
    shell = write_context(tmp_path / "shell", {"Dockerfile": "FROM scratch\nRUN true\n"})
    assert one_line_error(tuiker("build", "-q", str(shell))) == \
        'Error: exec: "/bin/sh": stat /bin/sh: no such file or directory'


def test_context_symlinks_never_reach_the_host(engine, tuiker, tmp_path):
    """A symlink in the context is copied as a link; followed as a source, it resolves inside the context only."""
    ctx = write_context(tmp_path / "ctx", {"Dockerfile": "FROM busybox\nCOPY dir /copied/\nCOPY hostlink /x\n",
                                           "dir/f": "f", "etc/passwd": "the context's own"})
    (ctx / "dir" / "passwd").symlink_to("/etc/passwd")
    (ctx / "hostlink").symlink_to("/etc/passwd")  # resolves to the context's etc/passwd, as in a chroot
    build(engine, ctx, ["symlinks"])
    _, listing = tuiker_image(engine, "symlinks", tmp_path)
    assert listing["/copied/passwd"][:2] == ("link", "/etc/passwd")
    assert listing["/x"][0] == "file" and listing["/x"][4] == len("the context's own")
    escape = write_context(tmp_path / "escape", {"Dockerfile": "FROM busybox\nCOPY root/etc/hostname /x\n"})
    (escape / "root").symlink_to("/")
    assert "file not found in build context" in one_line_error(tuiker("build", "-q", str(escape)))
