"""commit, history, export and import: containers into images and back, through the CLI as docker's."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import re
import subprocess
import tarfile

import imagebuilder
import pytest
from conftest import ok, one_line_error, wait_for
from registry import push

CHANGE = ("echo added > /added; rm /etc/group; rm -rf /var; mkdir -p /var/new; echo kept > /var/new/file;"
          " echo more >> /etc/passwd")


def _image_doc(engine, name: str) -> dict:
    return engine.images.config(engine.images.get(name))


def _commit(tuiker, *args: str) -> str:
    out = ok(tuiker("commit", *args)).strip()
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", out), out
    return out


def test_commit_of_a_changed_container_runs_with_its_changes(engine, tuiker):
    ok(tuiker("run", "--name", "c1", "busybox", "sh", "-c", CHANGE))
    image_id = _commit(tuiker, "-a", "Ann <ann@example.com>", "-m", "my change", "c1", "snap:1")
    assert engine.images.get("snap:1").id == image_id
    out = ok(tuiker("run", "--rm", "snap:1", "sh", "-c",
                    "cat /added; test -e /etc/group || echo no-group; ls -A /var; cat /var/new/file;"
                    " tail -n1 /etc/passwd"))
    # The file added, the file deleted (a whiteout), /var made opaque (rm -rf + mkdir: the old /var/tmp is gone).
    assert out.split() == ["added", "no-group", "new", "kept", "more"]
    doc = _image_doc(engine, "snap:1")
    base = _image_doc(engine, "busybox")
    assert doc["rootfs"]["diff_ids"][:-1] == base["rootfs"]["diff_ids"]
    assert doc["author"] == "Ann <ann@example.com>"
    assert doc["config"]["Cmd"] == ["sh", "-c", CHANGE]
    last = doc["history"][-1]
    assert (last["created_by"], last["author"], last["comment"]) == (f"sh -c {CHANGE}", "Ann <ann@example.com>",
                                                                     "my change")
    assert doc["history"][:-1] == base.get("history", [])
    assert list(doc) == sorted(doc)  # docker marshals the image's top-level keys sorted


def test_commit_leaves_out_the_runtimes_mount_points(engine, tuiker):
    """/etc/hosts, /etc/resolv.conf and /etc/hostname: the image has none, so the runtime made them in the upper
    dir as mount points. They are not the container's changes: the new layer has none of them."""
    ok(tuiker("run", "--name", "c1", "busybox", "sh", "-c", "echo x > /etc/mine"))
    upper = engine.containers.get("c1").dir / "upper"
    assert (upper / "etc" / "hosts").exists()  # what the test is about
    _commit(tuiker, "c1", "snap:2")
    image = engine.images.get("snap:2")
    with tarfile.open(engine.images.store.blob_path(image.blobs[-1]), "r:gz") as tar:
        names = tar.getnames()
    assert "etc/mine" in names
    assert not {"etc/hosts", "etc/resolv.conf", "etc/hostname"} & set(names), names
    # A container that changed nothing but the mount points commits an empty layer: none is added.
    ok(tuiker("run", "--name", "c2", "busybox", "true"))
    _commit(tuiker, "c2", "snap:empty")
    doc = _image_doc(engine, "snap:empty")
    assert doc["rootfs"]["diff_ids"] == _image_doc(engine, "busybox")["rootfs"]["diff_ids"]
    assert doc["history"][-1]["empty_layer"] is True


def test_commit_changes_set_the_config(engine, tuiker):
    ok(tuiker("run", "--name", "c1", "-e", "KEEP=yes", "busybox", "true"))
    _commit(tuiker, "-c", 'CMD ["sh", "-c", "echo hi $A $KEEP"]', "-c", "ENV A=1", "-c", "EXPOSE 8080",
            "-c", "LABEL team=core", "-c", "WORKDIR /tmp", "-c", "USER 1000", "c1", "snap:cfg")
    assert ok(tuiker("run", "--rm", "snap:cfg")).strip() == "hi 1 yes"
    config = _image_doc(engine, "snap:cfg")["config"]
    assert config["Cmd"] == ["sh", "-c", "echo hi $A $KEEP"]
    assert config["Env"][0] == "A=1" and "KEEP=yes" in config["Env"]
    assert config["ExposedPorts"] == {"8080/tcp": {}}
    assert (config["Labels"], config["WorkingDir"], config["User"]) == ({"team": "core"}, "/tmp", "1000")
    assert ok(tuiker("run", "--rm", "snap:cfg", "sh", "-c", "pwd; id -u")).split() == ["/tmp", "1000"]


def test_commit_refuses_what_docker_refuses(engine, tuiker):
    ok(tuiker("create", "--name", "c1", "busybox", "true"))
    images_before = {i.id for i in engine.images.list()}
    assert one_line_error(tuiker("commit", "-c", "RUN echo hi", "c1")) == \
        "Error: run is not a valid change command"
    assert one_line_error(tuiker("commit", "-c", "ONBUILD ONBUILD RUN x", "c1")) == \
        "Error: Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed"
    assert one_line_error(tuiker("commit", "c1", "app@sha256:" + "a" * 64)) == \
        "Error: refusing to create a tag with a digest reference"
    assert one_line_error(tuiker("commit", "nosuch")) == "Error: No such container: nosuch"
    result = tuiker("commit", "--bogus", "c1")
    assert result.returncode == 125 and result.stderr.startswith("unknown flag: --bogus\n")
    result = tuiker("commit")
    assert result.returncode == 1 and result.stderr.startswith('"tuiker commit" requires at least 1 argument.')
    assert {i.id for i in engine.images.list()} == images_before
    assert not list(engine.images.store.tmp.iterdir())


def test_commit_of_a_running_container_pauses_it_and_it_runs_on(engine, tuiker):
    ok(tuiker("run", "-d", "--name", "live", "busybox", "sh", "-c", "echo up > /up; sleep 300"))
    c = engine.containers.get("live")
    wait_for(lambda: (c.dir / "upper" / "up").exists(), 10, "the container's write")
    _commit(tuiker, "live", "snap:live")
    assert engine.containers.get("live").status == "running"
    assert ok(tuiker("run", "--rm", "snap:live", "cat", "/up")) == "up\n"
    # --pause=false reads it running; a container the user paused stays paused.
    _commit(tuiker, "--pause=false", "live")
    assert engine.containers.get("live").status == "running"
    ok(tuiker("pause", "live"))
    _commit(tuiker, "live")
    assert engine.containers.get("live").status == "paused"
    ok(tuiker("rm", "-f", "live"))


def test_history_as_docker_prints_it(engine, tuiker):
    ok(tuiker("run", "--name", "c1", "busybox", "sh", "-c", "dd if=/dev/zero of=/blob bs=1000 count=300"))
    image_id = _commit(tuiker, "-m", "three hundred kB", "c1", "snap:h")
    lines = ok(tuiker("history", "snap:h")).splitlines()
    assert re.split(r"\s{2,}", lines[0]) == ["IMAGE", "CREATED", "CREATED BY", "SIZE", "COMMENT"]
    top = lines[1]
    assert top.startswith(image_id.removeprefix("sha256:")[:12] + " ")
    assert re.search(r"   (Less than a second|\d+ seconds?) ago   ", top), top
    created_by = "sh -c dd if=/dev/zero of=/blob bs=1000 count=300"
    assert created_by[:44] + "…" in top  # cut to 45 columns
    assert re.search(r"\s30[0-9]kB\s+three hundred kB$", top), top
    base_rows = len(_image_doc(engine, "busybox").get("history") or [])
    assert len(lines) == 2 + base_rows
    assert all(line.startswith("<missing> ") for line in lines[2:])
    # -q, --no-trunc, -H=false and --format, as docker's historyContext.
    assert ok(tuiker("history", "-q", "snap:h")).split()[0] == image_id.removeprefix("sha256:")[:12]
    assert created_by in ok(tuiker("history", "--no-trunc", "snap:h"))
    raw = ok(tuiker("history", "-H=false", "--format", "{{.Size}}|{{.CreatedSince}}|{{.Comment}}", "snap:h"))
    size, created, comment = raw.splitlines()[0].split("|")
    layer = engine.images.get("snap:h").layers[-1]
    assert int(size) == engine.images.store.layer_size(layer) and int(size) >= 300_000
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(Z|[+-]\d\d:\d\d)", created) and comment == "three hundred kB"
    ok(tuiker("run", "--name", "c2", "snap:h", "true"))
    _commit(tuiker, "c2", "snap:h2")  # a container that changed nothing: an empty layer
    rows = ok(tuiker("history", "--format", "{{.ID}} {{.Size}}", "snap:h2")).splitlines()
    assert rows[0].endswith(" 0B") and rows[1].startswith("<missing> 30")
    assert one_line_error(tuiker("history", "nosuch:1")).startswith("Error: No such image")


def _listing(data: bytes) -> dict[str, tarfile.TarInfo]:
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tar:
        return {m.name: m for m in tar.getmembers()}


def test_export_is_the_root_file_system_without_mounts(engine, tuiker, engine_root, tmp_path):
    volume_dir = tmp_path / "bound"
    volume_dir.mkdir()
    (volume_dir / "host-secret").write_text("not the container's")
    ok(tuiker("run", "-d", "--name", "c1", "-v", f"{volume_dir}:/data", "busybox", "sh", "-c",
              "echo mine > /mine; rm /etc/group; ln -s /etc/shadow-of-host /link; sleep 300"))
    c = engine.containers.get("c1")
    wait_for(lambda: (c.dir / "upper" / "link").is_symlink(), 10, "the container's writes")
    out = tmp_path / "c1.tar"
    ok(tuiker("export", "-o", str(out), "c1"))
    members = _listing(out.read_bytes())
    assert "mine" in members and "bin/busybox" in members and "etc/passwd" in members
    assert "etc/group" not in members  # deleted in the container
    assert members["link"].issym() and members["link"].linkname == "/etc/shadow-of-host"
    # The running container's mounts are not in it: no bound file, nothing of /proc or /dev, and the runtime's
    # mount points are as docker's init layer shows them, empty.
    assert not any(n.startswith(("data/", "proc/", "sys/", "dev/")) for n in members), sorted(members)
    assert members["etc/hosts"].size == 0 and members["etc/resolv.conf"].size == 0
    # stdout gives the same tar; the container runs on; nothing stays mounted (engine_root checks that too).
    piped = subprocess.run(["python3", "-m", "tuiker", "export", "c1"], capture_output=True, check=True,
                           cwd=os.path.dirname(os.path.dirname(__file__)))
    assert set(_listing(piped.stdout)) == set(members)
    assert engine.containers.get("c1").status == "running"
    assert not [line for line in open("/proc/self/mountinfo") if str(engine_root) in line]
    ok(tuiker("rm", "-f", "c1"))


def test_export_errors(engine, tuiker, tmp_path):
    target = tmp_path / "none.tar"
    assert one_line_error(tuiker("export", "-o", str(target), "nosuch")) == "Error: No such container: nosuch"
    assert not target.exists()
    result = tuiker("export", "--bogus", "c1")
    assert result.returncode == 125 and result.stderr.startswith("unknown flag: --bogus\n")
    ok(tuiker("create", "--name", "c1", "busybox", "true"))
    import pty

    controller, terminal = pty.openpty()
    try:
        result = subprocess.run(["python3", "-m", "tuiker", "export", "c1"], stdout=terminal, stderr=subprocess.PIPE,
                                text=True, cwd=os.path.dirname(os.path.dirname(__file__)))
    finally:
        os.close(terminal)
        os.close(controller)
    assert result.returncode == 1
    assert result.stderr == "Error: cowardly refusing to save to a terminal. Use the -o flag or redirect\n"
    missing = tmp_path / "no-such-dir" / "c1.tar"
    assert one_line_error(tuiker("export", "-o", str(missing), "c1")) == \
        f"Error: open {missing}: no such file or directory"


def test_export_then_import_round_trip(engine, tuiker, tmp_path):
    ok(tuiker("run", "--name", "c1", "busybox", "sh", "-c", "echo round > /trip"))
    exported = tmp_path / "c1.tar"
    ok(tuiker("export", "-o", str(exported), "c1"))
    # As a file, gzip'd on stdin (detected by content), and with changes and a message.
    image_id = ok(tuiker("import", "-c", 'CMD ["cat", "/trip"]', str(exported), "flat:1")).strip()
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", image_id)
    assert ok(tuiker("run", "--rm", "flat:1")) == "round\n"
    doc = _image_doc(engine, "flat:1")
    assert len(doc["rootfs"]["diff_ids"]) == 1 and doc["history"][0]["comment"] == "Imported from -"
    assert doc["os"] == "linux" and doc["architecture"]
    gz = tmp_path / "c1.tar.gz"
    gz.write_bytes(gzip.compress(exported.read_bytes()))
    with open(gz, "rb") as stdin:
        result = subprocess.run(["python3", "-m", "tuiker", "import", "-m", "from gzip", "-", "flat:2"],
                                stdin=stdin, capture_output=True, text=True,
                                cwd=os.path.dirname(os.path.dirname(__file__)))
    assert result.returncode == 0, result.stderr
    assert engine.images.get("flat:2").layers == engine.images.get("flat:1").layers  # the same tar inside
    assert ok(tuiker("run", "--rm", "flat:2", "cat", "/trip")) == "round\n"
    assert _image_doc(engine, "flat:2")["history"][0]["comment"] == "from gzip"
    assert "no command specified" in one_line_error(tuiker("run", "--rm", "flat:2"))


def test_import_refuses_an_escaping_tar_and_leaves_nothing(engine, tuiker, tmp_path):
    bad = tmp_path / "bad.tar"
    with tarfile.open(bad, "w") as tar:
        info = tarfile.TarInfo("../../escaped")
        info.size = 1
        tar.addfile(info, io.BytesIO(b"x"))
    store = engine.images.store
    layers_before = set(os.listdir(store.layers))
    images_before = {i.id for i in engine.images.list()}
    line = one_line_error(tuiker("import", str(bad), "bad:1"))
    assert line.startswith("Error: ") and "escaped" in line
    assert set(os.listdir(store.layers)) == layers_before
    assert {i.id for i in engine.images.list()} == images_before
    assert not list(store.tmp.iterdir())
    assert not os.path.exists(tmp_path.parent / "escaped")
    assert one_line_error(tuiker("import", str(tmp_path / "nosuch.tar"))) == \
        f"Error: open {tmp_path / 'nosuch.tar'}: no such file or directory"
    assert "only http://127.0.0.1" in one_line_error(tuiker("import", "https://example.com/rootfs.tar"))
    assert one_line_error(tuiker("import", "-c", "FROM x", str(bad))) == "Error: from is not a valid change command"


def test_import_from_a_local_url(engine, tuiker, tmp_path):
    import http.server
    import threading

    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w") as tar:
        info = tarfile.TarInfo("hello")
        info.size = 3
        tar.addfile(info, io.BytesIO(b"hi\n"))
    body = data.getvalue()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's name
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/rootfs.tar"
        ok(tuiker("import", url, "fromurl:1"))
    finally:
        server.shutdown()
        server.server_close()
    doc = _image_doc(engine, "fromurl:1")
    assert doc["history"][0]["comment"] == f"Imported from {url}"
    layer = engine.images.store.layer_dir(doc["rootfs"]["diff_ids"][0]) / "diff" / "hello"
    assert layer.read_text() == "hi\n"


@pytest.mark.parametrize("flag", ["-p=false", "--pause=0"])
def test_commit_takes_docker_bool_flag_forms(engine, tuiker, flag):
    ok(tuiker("create", "--name", "c1", "busybox", "true"))
    image_id = _commit(tuiker, flag, "c1")
    assert json.loads(engine.images.store.read_blob(image_id))["config"]["Cmd"] == ["true"]


@pytest.mark.parametrize("compression", ["zstd", "none"])
def test_commit_keeps_the_base_layers_as_pulled(engine, tuiker, registry, busybox_image, compression):
    """A base pulled with zstd or plain layers: the new manifest names each blob with its own media type."""
    built = imagebuilder.build_image([busybox_image[1].layers[0]], compression=compression, oci=True, cmd=["sh"])
    push(registry, f"test/busybox-{compression}", "latest", built)
    ok(tuiker("run", "--name", "c1", f"{registry.host}/test/busybox-{compression}:latest", "touch", "/new"))
    _commit(tuiker, "c1", "snap:kinds")
    image = engine.images.get("snap:kinds")
    layers = json.loads(engine.images.store.read_blob(image.manifest_digest))["layers"]
    expected = {"zstd": "application/vnd.oci.image.layer.v1.tar+zstd",
                "none": "application/vnd.docker.image.rootfs.diff.tar"}[compression]
    assert [entry["mediaType"] for entry in layers] == [expected, "application/vnd.docker.image.rootfs.diff.tar.gzip"]
    for entry in layers:
        assert engine.images.store.blob_path(entry["digest"]).stat().st_size == entry["size"]
    assert ok(tuiker("run", "--rm", "snap:kinds", "ls", "/new")) == "/new\n"


@pytest.mark.parametrize("kind", ["plain", "bzip2", "xz", "zstd"])
def test_import_finds_the_compression_by_content(engine, kind):
    import bz2
    import lzma

    import zstandard

    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w") as tar:
        info = tarfile.TarInfo("file")
        info.size = 2
        tar.addfile(info, io.BytesIO(b"x\n"))
    plain = data.getvalue()
    packed = {"plain": lambda b: b, "bzip2": bz2.compress, "xz": lzma.compress,
              "zstd": zstandard.ZstdCompressor().compress}[kind](plain)
    image = engine.images.import_("-", f"packed:{kind}", platform="linux/arm64/v8", stdin=io.BytesIO(packed))
    doc = engine.images.config(image)
    assert (doc["os"], doc["architecture"], "variant" in doc) == ("linux", "arm64", False)
    assert image.layers == ["sha256:" + hashlib.sha256(plain).hexdigest()]  # the tar, decompressed


def test_changes_as_docker_applies_them():
    """moby's BuildFromConfig over an empty config (commit's): each instruction's effect, and its errors."""
    from tuiker.base.errors import TuikerError
    from tuiker.engine.commitchanges import apply_changes

    config = apply_changes({}, ['CMD ["echo", "hi"]', "ENV A=1 B=$A", "ENV C=${A:-x} D=\"two words\"",
                                "EXPOSE 80 53/udp", "LABEL a.b=\"c d\"", "WORKDIR /srv", "WORKDIR app",
                                "USER 1000:1000", 'VOLUME ["/data"]', "VOLUME /cache /logs", "ONBUILD RUN make",
                                "HEALTHCHECK --interval=5s --retries=2 CMD wget -q localhost", "STOPSIGNAL SIGINT"])
    assert config == {
        "Cmd": ["echo", "hi"], "Env": ["A=1", "B=", "C=1", "D=two words"],  # B: the env before this ENV
        "ExposedPorts": {"80/tcp": {}, "53/udp": {}}, "Labels": {"a.b": "c d"}, "WorkingDir": "/srv/app",
        "User": "1000:1000", "Volumes": {"/data": {}, "/cache": {}, "/logs": {}}, "OnBuild": ["RUN make"],
        "Healthcheck": {"Test": ["CMD-SHELL", "wget -q localhost"], "Interval": 5_000_000_000, "Retries": 2},
        "StopSignal": "SIGINT"}
    # An ENTRYPOINT drops a CMD the changes did not set, not one they set before it; the shell form is sh -c.
    assert apply_changes({"Cmd": ["old"]}, ["ENTRYPOINT top"]) == {"Cmd": None, "Entrypoint": ["/bin/sh", "-c", "top"]}
    assert apply_changes({}, ["CMD x", "ENTRYPOINT [\"e\"]"])["Cmd"] == ["/bin/sh", "-c", "x"]
    assert apply_changes({}, ["HEALTHCHECK NONE"]) == {"Healthcheck": {"Test": ["NONE"]}}
    assert apply_changes({}, ["CMD", "WORKDIR a b"]) == {"Cmd": [], "WorkingDir": "/a b"}
    for change, message in [("RUN make", "run is not a valid change command"),
                            ("FROM busybox", "from is not a valid change command"),
                            ("ENV", "ENV requires at least one argument"),
                            ("USER", "USER requires exactly one argument"),
                            ("HEALTHCHECK FOO x", 'Unknown type "FOO" in HEALTHCHECK (try CMD)'),
                            ("ONBUILD FROM x", "FROM isn't allowed as an ONBUILD trigger"),
                            ("STOPSIGNAL SIGNOPE", "Invalid signal: SIGNOPE")]:
        with pytest.raises(TuikerError) as raised:
            apply_changes({}, [change])
        assert str(raised.value) == message
