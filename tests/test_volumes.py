"""Volumes and mounts against the real kernel: -v (named, anonymous, host paths), --mount, --tmpfs, --volumes-from,
the `volume` commands, an image's VOLUME filled from the image, inspect's Mounts, `rm -v`, and mounts that a restart
and a new monitor make again."""

from __future__ import annotations

import json
import os
import subprocess

import imagebuilder
import pytest
from conftest import ok, one_line_error, stop_engine
from registry import push


@pytest.fixture(scope="module")
def volume_image(registry, busybox_image) -> str:
    """busybox with `VOLUME /data` holding a file owned by 1000:1000 in a 0750 directory owned by 1000:1000."""
    _, busybox = busybox_image
    layer = imagebuilder.make_tar([
        imagebuilder.Dir("data", mode=0o750, uid=1000, gid=1000),
        imagebuilder.File("data/seed.txt", b"from the image\n", uid=1000, gid=1000),
        imagebuilder.Symlink("data/link", "/etc/passwd"),
    ])
    image = imagebuilder.build_image([busybox.layers[0], layer], cmd=["sh"],
                                     config_extra={"Volumes": {"/data": {}}})
    push(registry, "test/volume-image", "latest", image)
    return f"{registry.host}/test/volume-image:latest"


def mounts_of(tuiker, name: str) -> list[dict]:
    return json.loads(ok(tuiker("inspect", "-f", "{{json .Mounts}}", name)))


def test_named_volume_is_made_shared_and_kept(tuiker, image):
    ok(tuiker("run", "--rm", "-v", "data:/srv", image, "sh", "-c", "echo hello > /srv/f"))
    assert ok(tuiker("volume", "ls", "-q")).split() == ["data"]
    assert ok(tuiker("run", "--rm", "-v", "data:/x:ro", image, "cat", "/x/f")) == "hello\n"
    r = tuiker("run", "--rm", "-v", "data:/x:ro", image, "sh", "-c", "echo no > /x/g")
    assert r.returncode != 0 and "Read-only file system" in r.stderr
    v = json.loads(ok(tuiker("volume", "inspect", "data")))[0]
    assert v["Name"] == "data" and v["Driver"] == "local" and v["Scope"] == "local"
    assert v["Mountpoint"].endswith("/volumes/data/_data")
    with open(os.path.join(v["Mountpoint"], "f")) as f:
        assert f.read() == "hello\n"


def test_volume_commands_as_docker(tuiker, image):
    assert ok(tuiker("volume", "create", "--label", "a=b", "v1")) == "v1\n"
    assert ok(tuiker("volume", "create", "v1")) == "v1\n"  # idempotent, as docker's
    ok(tuiker("volume", "create", "v2"))
    assert ok(tuiker("volume", "ls")).splitlines() == ["DRIVER    VOLUME NAME", "local     v1", "local     v2"]
    assert ok(tuiker("volume", "ls", "-q", "--filter", "label=a=b")) == "v1\n"
    assert ok(tuiker("volume", "ls", "--format", "{{.Name}} {{.Driver}} {{.Label \"a\"}}",
                     "-f", "name=1")) == "v1 local b\n"
    doc = json.loads(ok(tuiker("volume", "inspect", "v1")))[0]
    assert doc["Labels"] == {"a": "b"} and doc["Options"] == {} and doc["CreatedAt"].endswith("Z")
    ok(tuiker("create", "--name", "user", "-v", "v1:/d", image, "true"))
    assert ok(tuiker("volume", "ls", "-q", "-f", "dangling=true")) == "v2\n"
    assert ok(tuiker("volume", "ls", "-q", "-f", "dangling=false")) == "v1\n"
    cid = ok(tuiker("inspect", "-f", "{{.Id}}", "user")).strip()
    r = tuiker("volume", "rm", "v1")
    assert r.returncode == 1
    assert one_line_error(r) == f"Error: remove v1: volume is in use - [{cid}]"
    r = tuiker("volume", "rm", "nosuch")
    assert r.returncode == 1 and one_line_error(r) == "Error: get nosuch: no such volume"
    assert ok(tuiker("volume", "rm", "-f", "nosuch")) == "nosuch\n"  # docker: no error, the name printed
    r = tuiker("volume", "create", "a/b")
    assert r.returncode == 1 and "includes invalid characters for a local volume name" in one_line_error(r)
    # prune: named volumes only with -a; never one in use.
    assert ok(tuiker("volume", "prune", "-f")) == "Total reclaimed space: 0B\n"
    assert ok(tuiker("volume", "prune", "-af")) == "Deleted Volumes:\nv2\n\nTotal reclaimed space: 0B\n"
    ok(tuiker("rm", "user"))
    assert ok(tuiker("volume", "rm", "v1")) == "v1\n"
    assert ok(tuiker("volume", "ls", "-q")) == ""


def test_bind_mounts_ro_rw_and_missing_host_dir(tuiker, image, tmp_path):
    host = tmp_path / "host"
    host.mkdir()
    (host / "in.txt").write_text("from host\n")
    ok(tuiker("run", "--rm", "-v", f"{host}:/h", image, "sh", "-c", "cat /h/in.txt > /h/out.txt"))
    assert (host / "out.txt").read_text() == "from host\n"
    r = tuiker("run", "--rm", "-v", f"{host}:/h:ro,z", image, "touch", "/h/x")
    assert r.returncode == 1 and not (host / "x").exists()
    # A single file, and a host directory -v makes (docker's -v does; --mount refuses it).
    assert ok(tuiker("run", "--rm", "--mount", f"type=bind,src={host}/in.txt,dst=/etc/in,readonly", image,
                     "cat", "/etc/in")) == "from host\n"
    ok(tuiker("run", "--rm", "-v", f"{tmp_path}/made/deep:/m", image, "true"))
    assert (tmp_path / "made" / "deep").is_dir()
    r = tuiker("run", "--rm", "--mount", f"type=bind,src={tmp_path}/nosuch,dst=/m", image, "true")
    assert r.returncode == 125
    assert one_line_error(r) == ('Error: invalid mount config for type "bind": bind source path does not exist: '
                                 f"{tmp_path}/nosuch")
    ok(tuiker("run", "-d", "--name", "bnd", "-v", f"{host}:/h:ro", image, "sleep", "60"))
    (m,) = mounts_of(tuiker, "bnd")
    assert m == {"Type": "bind", "Source": str(host), "Destination": "/h", "Mode": "ro", "RW": False,
                 "Propagation": "rprivate"}
    ok(tuiker("rm", "-f", "bnd"))


@pytest.mark.parametrize("args, message", [
    (["-v", "a:b:c:d"], "Error: invalid volume specification: 'a:b:c:d'"),
    (["-v", "data:/x:bogus"], "Error: invalid mode: bogus"),
    (["-v", "data:rel"], "Error: invalid volume specification: 'data:rel': invalid mount config for type "
                         "\"volume\": invalid mount path: 'rel' mount path must be absolute"),
    (["-v", "/tmp:/"], "Error: invalid volume specification: '/tmp:/': invalid mount config for type \"bind\": "
                       "invalid specification: destination can't be '/'"),
    (["-v", "./rel:/x"], 'Error: create ./rel: "./rel" includes invalid characters for a local volume name, only '
                         '"[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host directory, use '
                         "absolute path"),
    (["--mount", "type=volume,src=v"], 'Error: invalid argument "type=volume,src=v" for "--mount" flag: target is'
                                       " required"),
    (["--mount", "type=foo,dst=/x"], "Error: invalid argument \"type=foo,dst=/x\" for \"--mount\" flag: unknown "
                                     "mount type 'foo': use bind, volume or tmpfs"),
    (["--mount", "dst=/x,bogus=1"], "Error: invalid argument \"dst=/x,bogus=1\" for \"--mount\" flag: unexpected "
                                    "key 'bogus' in 'bogus=1'"),
    (["--mount", "type=tmpfs,src=a,dst=/x"], 'Error: invalid mount config for type "tmpfs": field Source must not'
                                             " be specified"),
    (["-v", "v1:/x", "-v", "v2:/x"], "Error: Duplicate mount point: /x"),
    (["--volumes-from", "nosuch"], "Error: No such container: nosuch"),
])
def test_bad_specs_fail_in_one_line_and_leave_nothing(tuiker, image, engine_root, tmp_path, args, message):
    r = tuiker("run", "--rm", "-v", f"{tmp_path}/never:/never", *args, image, "true")
    assert r.returncode == 125
    assert one_line_error(r) == message
    assert not (tmp_path / "never").exists()
    assert ok(tuiker("volume", "ls", "-q")) == ""
    assert ok(tuiker("ps", "-aq")) == ""


def test_a_mount_that_fails_at_start_is_one_line_and_leaves_no_mount(tuiker, image, engine_root, tmp_path):
    (tmp_path / "file").write_text("x")
    r = tuiker("run", "--name", "bad", "-v", f"{tmp_path}/file:/bin", image, "true")
    assert r.returncode == 125
    assert one_line_error(r) == "Error: cannot mount a file onto a directory at '/bin'"
    assert ok(tuiker("inspect", "-f", "{{.State.Status}}", "bad")) == "created\n"
    with open("/proc/self/mountinfo") as f:
        assert str(engine_root) not in f.read()


def test_ps_mounts_columns_and_system_prune_volumes(tuiker, image, tmp_path):
    ok(tuiker("create", "--name", "pm", "-v", "a-rather-long-volume-name:/a", "-v", f"{tmp_path}:/b", "-v", "/anon",
              image, "true"))
    out = ok(tuiker("ps", "-a", "--format", "{{.Mounts}} {{.LocalVolumes}}"))
    mounts, count = out.split()
    assert count == "2" and mounts.split(",")[:2] == ["a-rather-long-…", str(tmp_path)[:14] + "…"]
    ok(tuiker("rm", "pm"))
    out = ok(tuiker("system", "prune", "-f", "--volumes"))
    assert "Deleted Volumes:\n" in out and "a-rather-long-volume-name" not in out  # only the anonymous one
    assert ok(tuiker("volume", "ls", "-q")) == "a-rather-long-volume-name\n"


def test_tmpfs_and_mount_tmpfs(tuiker, image):
    out = ok(tuiker("run", "--rm", "--tmpfs", "/scratch:size=1m,mode=700", "--mount",
                    "type=tmpfs,dst=/t2,tmpfs-size=2m", image, "sh", "-c",
                    "grep -E ' /(scratch|t2) ' /proc/mounts; stat -c %a /scratch;"
                    " echo x > /scratch/f && cat /scratch/f"))
    lines = out.splitlines()
    scratch = next(line for line in lines if " /scratch " in line)
    assert "tmpfs" in scratch and "size=1024k" in scratch and all(f in scratch for f in ("nosuid", "nodev", "noexec"))
    assert "size=2048k" in next(line for line in lines if " /t2 " in line)
    assert lines[-2:] == ["700", "x"]
    ok(tuiker("create", "--name", "tmp1", "--tmpfs", "/a", "--mount", "type=tmpfs,dst=/b", image, "true"))
    assert mounts_of(tuiker, "tmp1") == [{"Type": "tmpfs", "Source": "", "Destination": "/b", "Mode": "", "RW": True,
                                       "Propagation": ""}]
    assert json.loads(ok(tuiker("inspect", "-f", "{{json .HostConfig.Tmpfs}}", "tmp1"))) == {"/a": ""}


def test_image_volume_is_filled_from_the_image_and_removed_by_rm_v(tuiker, volume_image):
    ok(tuiker("pull", "-q", volume_image))
    ok(tuiker("run", "-d", "--name", "vc", volume_image, "sleep", "60"))
    (m,) = mounts_of(tuiker, "vc")
    assert m["Type"] == "volume" and m["Destination"] == "/data" and m["Driver"] == "local" and m["RW"]
    assert len(m["Name"]) == 64 and m["Source"].endswith(f"/volumes/{m['Name']}/_data")
    assert ok(tuiker("exec", "vc", "sh", "-c", "cat /data/seed.txt; stat -c '%u:%g %a' /data /data/seed.txt;"
                     " readlink /data/link")) == "from the image\n1000:1000 750\n1000:1000 644\n/etc/passwd\n"
    # The volume's own directory: a symlink from the image is copied as a symlink, never followed on the host.
    assert os.readlink(os.path.join(m["Source"], "link")) == "/etc/passwd"
    labels = json.loads(ok(tuiker("volume", "inspect", "-f", "{{json .Labels}}", m["Name"])))
    assert labels == {"com.docker.volume.anonymous": ""}
    # Filled once: what the container changed stays across a restart (the volume is no longer empty).
    ok(tuiker("exec", "vc", "sh", "-c", "rm /data/seed.txt; echo mine > /data/new"))
    ok(tuiker("restart", "-t", "0", "vc"))
    assert ok(tuiker("exec", "vc", "ls", "/data")).split() == ["link", "new"]
    # --volumes-from shares it, read-only with :ro.
    out = ok(tuiker("run", "--rm", "--volumes-from", "vc:ro", volume_image, "sh", "-c",
                    "cat /data/new; touch /data/x 2>/dev/null || echo refused"))
    assert out == "mine\nrefused\n"
    ok(tuiker("rm", "-fv", "vc"))
    assert ok(tuiker("volume", "ls", "-q")) == ""


def test_rm_without_v_keeps_anonymous_volumes_and_run_rm_removes_them(tuiker, image):
    ok(tuiker("create", "--name", "keep1", "-v", "/anon", "-v", "named:/named", image, "true"))
    names = ok(tuiker("volume", "ls", "-q")).split()
    assert len(names) == 2 and "named" in names
    assert json.loads(ok(tuiker("inspect", "-f", "{{json .HostConfig.Binds}}", "keep1"))) == ["named:/named"]
    assert json.loads(ok(tuiker("inspect", "-f", "{{json .Config.Volumes}}", "keep1"))) == {"/anon": {}}
    ok(tuiker("rm", "keep1"))
    assert len(ok(tuiker("volume", "ls", "-q")).split()) == 2
    ok(tuiker("volume", "prune", "-f"))
    assert ok(tuiker("volume", "ls", "-q")).split() == ["named"]
    ok(tuiker("run", "--rm", "-v", "/anon2", "-v", "named:/n", image, "true"))
    assert ok(tuiker("volume", "ls", "-q")).split() == ["named"]


def test_mounts_survive_a_restart_and_a_new_monitor(tuiker, image, engine_root, tmp_path):
    (tmp_path / "f").write_text("bound\n")
    ok(tuiker("run", "-d", "--name", "surv", "--restart", "always", "-v", "keep:/k", "-v", f"{tmp_path}:/h:ro",
              "--tmpfs", "/t", image, "sh", "-c", "echo $$ >> /k/starts; sleep 60"))
    ok(tuiker("restart", "-t", "0", "surv"))
    stop_engine(engine_root)  # the monitor dies (its containers with it); the next command starts a new one
    ok(tuiker("start", "surv"))
    out = ok(tuiker("exec", "surv", "sh", "-c", "wc -l < /k/starts; cat /h/f; grep -c ' /t tmpfs' /proc/mounts"))
    assert out.split() == ["3", "bound", "1"]
    # Nothing of the container's mounts shows in the host's mount table.
    with open("/proc/self/mountinfo") as f:
        assert str(engine_root) not in f.read()
    ok(tuiker("rm", "-f", "surv"))


def test_system_df_counts_volumes(tuiker, image):
    ok(tuiker("run", "--rm", "-v", "df:/d", image, "sh", "-c", "head -c 3000 /dev/zero > /d/z"))
    ok(tuiker("create", "-v", "df2:/d", image, "true"))
    lines = ok(tuiker("system", "df")).splitlines()
    assert lines[0].split() == ["TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE"]
    volumes = next(line for line in lines if line.startswith("Local Volumes"))
    assert volumes.split()[2:6] == ["2", "1", "3kB", "3kB"]


def test_volume_rm_refuses_a_volume_a_stopped_container_uses(tuiker, image):
    ok(tuiker("create", "--name", "st", "-v", "busy:/b", image, "true"))
    assert tuiker("volume", "rm", "busy").returncode == 1
    assert ok(tuiker("volume", "ls", "-q")) == "busy\n"
    ok(tuiker("rm", "-v", "st"))  # -v takes anonymous volumes only: a named one stays
    assert ok(tuiker("volume", "rm", "busy")) == "busy\n"


def test_host_mount_table_is_untouched(image, tuiker):
    before = subprocess.run(["cat", "/proc/self/mountinfo"], capture_output=True, text=True).stdout.count("\n")
    ok(tuiker("run", "--rm", "-v", "mv:/m", "--tmpfs", "/t", image, "true"))
    after = subprocess.run(["cat", "/proc/self/mountinfo"], capture_output=True, text=True).stdout.count("\n")
    assert before == after


# -- cp ------------------------------------------------------------------------------------------------------------

def test_cp_out_of_running_and_stopped_containers(tuiker, image, tmp_path):
    ok(tuiker("run", "-d", "--name", "cpo", "-v", "cpvol:/vol", image, "sh", "-c",
              "mkdir -p /d/sub && echo a > /d/a && echo b > /d/sub/b && echo v > /vol/v && chown 1234 /d/a;"
              " sleep 60"))
    wait = ok(tuiker("exec", "cpo", "sh", "-c", "while [ ! -e /vol/v ]; do sleep 0.05; done; echo ready"))
    assert wait == "ready\n"
    ok(tuiker("cp", "cpo:/d/a", str(tmp_path / "a.txt")))  # a file to a new name
    assert (tmp_path / "a.txt").read_text() == "a\n" and (tmp_path / "a.txt").stat().st_uid == 0
    ok(tuiker("cp", "cpo:/d", str(tmp_path)))  # a directory into an existing one
    assert (tmp_path / "d" / "sub" / "b").read_text() == "b\n"
    (tmp_path / "into").mkdir()
    ok(tuiker("cp", "-a", "cpo:/d/.", str(tmp_path / "into")))  # its content, owners kept
    assert sorted(os.listdir(tmp_path / "into")) == ["a", "sub"] and (tmp_path / "into" / "a").stat().st_uid == 1234
    ok(tuiker("cp", "cpo:vol/v", str(tmp_path / "v")))  # a path inside a volume (relative to /)
    assert (tmp_path / "v").read_text() == "v\n"
    r = tuiker("cp", "cpo:/nosuch", str(tmp_path))
    assert r.returncode == 1 and one_line_error(r) == "Error: Could not find the file /nosuch in container cpo"
    ok(tuiker("stop", "-t", "0", "cpo"))
    ok(tuiker("cp", "cpo:/vol/v", str(tmp_path / "v2")))  # stopped: its volume is still reached
    assert (tmp_path / "v2").read_text() == "v\n"
    tar = subprocess.run([*tuiker_cmd(), "cp", "cpo:/d", "-"], capture_output=True, check=True).stdout
    import io
    import tarfile
    names = sorted(tarfile.open(fileobj=io.BytesIO(tar)).getnames())
    assert names == ["d", "d/a", "d/sub", "d/sub/b"]
    ok(tuiker("rm", "cpo"))


def test_cp_into_running_and_stopped_containers(tuiker, image, tmp_path):
    (tmp_path / "f.txt").write_text("file\n")
    (tmp_path / "dir" / "in").mkdir(parents=True)
    (tmp_path / "dir" / "in" / "x").write_text("x\n")
    ok(tuiker("run", "-d", "--name", "cpi", "-v", "cpin:/vol", image, "sleep", "60"))
    ok(tuiker("cp", str(tmp_path / "f.txt"), "cpi:/tmp/"))
    ok(tuiker("cp", str(tmp_path / "f.txt"), "cpi:/renamed"))
    ok(tuiker("cp", str(tmp_path / "dir"), "cpi:/vol"))
    assert ok(tuiker("exec", "cpi", "sh", "-c", "cat /tmp/f.txt /renamed /vol/dir/in/x; stat -c %u /renamed")) == \
        "file\nfile\nx\n0\n"
    r = tuiker("cp", str(tmp_path / "dir"), "cpi:/renamed")
    assert r.returncode == 1 and "cannot overwrite non-directory" in one_line_error(r)
    ok(tuiker("stop", "-t", "0", "cpi"))
    # A tar stream on stdin, into a stopped container (its volume included).
    import io
    import tarfile
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo("streamed")
        info.size = 3
        tar.addfile(info, io.BytesIO(b"st\n"))
    subprocess.run([*tuiker_cmd(), "cp", "-", "cpi:/vol"], input=buf.getvalue(), check=True)
    ok(tuiker("start", "cpi"))
    assert ok(tuiker("exec", "cpi", "cat", "/vol/streamed")) == "st\n"
    ok(tuiker("rm", "-f", "cpi"))


def tuiker_cmd() -> list[str]:
    import sys

    return [sys.executable, "-m", "tuiker"]
