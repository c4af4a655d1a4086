"""A symlink in the container's path must never lead a mount, a volume's copy-up or `cp` out of the container's
root onto the host (CVE-2021-30465: runc's mount targets swapped for symlinks; CVE-2018-15664: docker cp following
a container's symlink to the host).

The image below carries symlinks that mean one thing inside the container and another on the host:
    /data   -> HOST_DIR (absolute)            inside: the image's own HOST_DIR (a decoy); on the host: the secret
    /up     -> ../../../../../../HOST_DIR      the same through `..`, which must stop at the container's root
    /gone   -> HOST_DIR/made                   dangling inside; on the host, a path a naive mkdir -p would create
and `VOLUME /data`, so the anonymous volume's copy-up reads through the symlink too. A naive implementation (the
target joined onto the rootfs path, then os.makedirs / mount / copy on that path, as the host resolves it) copies
the host's secret into the volume, mounts volumes over host directories and creates directories on the host; every
test here fails on it. Mounts are resolved with openat2(RESOLVE_IN_ROOT) and attached to the resolved fd
(runtime/spawn/mounts.py); `cp` works chrooted into the container (runtime/copy.py).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import imagebuilder
import pytest
from conftest import ok
from registry import push

HOST_DIR = f"/var/tmp/tuiker-mount-attack-{os.getpid()}"
SECRET = "host secret: never in a container\n"
DEPTH = "../" * 12


@pytest.fixture(scope="module")
def host_dir():
    shutil.rmtree(HOST_DIR, ignore_errors=True)
    os.makedirs(HOST_DIR)
    with open(f"{HOST_DIR}/secret.txt", "w") as f:
        f.write(SECRET)
    yield HOST_DIR
    shutil.rmtree(HOST_DIR, ignore_errors=True)


@pytest.fixture(scope="module")
def symlink_image(registry, busybox_image, host_dir) -> str:
    _, busybox = busybox_image
    inside = HOST_DIR.lstrip("/")
    layer = imagebuilder.make_tar([
        imagebuilder.Dir(inside), imagebuilder.File(f"{inside}/decoy.txt", b"the image's own\n"),
        imagebuilder.Symlink("data", HOST_DIR), imagebuilder.Symlink("up", DEPTH + inside),
        imagebuilder.Symlink("gone", f"{HOST_DIR}/made"),
    ])
    image = imagebuilder.build_image([busybox.layers[0], layer], cmd=["sh"], config_extra={"Volumes": {"/data": {}}})
    push(registry, "test/mount-symlinks", "latest", image)
    return f"{registry.host}/test/mount-symlinks:latest"


def host_untouched() -> None:
    assert sorted(os.listdir(HOST_DIR)) == ["secret.txt"]
    with open(f"{HOST_DIR}/secret.txt") as f:
        assert f.read() == SECRET
    mounts = subprocess.run(["cat", "/proc/self/mountinfo"], capture_output=True, text=True).stdout
    assert HOST_DIR not in mounts


def test_copy_up_of_an_image_volume_never_reads_the_host(tuiker, symlink_image):
    ok(tuiker("pull", "-q", symlink_image))
    ok(tuiker("run", "--name", "copyup", symlink_image, "true"))
    (volume,) = json.loads(ok(tuiker("inspect", "-f", "{{json .Mounts}}", "copyup")))
    # The volume holds the image's directory (the decoy), never the host's secret.
    assert os.listdir(volume["Source"]) == ["decoy.txt"]
    out = ok(tuiker("run", "--rm", "--volumes-from", "copyup", symlink_image, "sh", "-c", f"cat {HOST_DIR}/*"))
    assert out == "the image's own\n"
    ok(tuiker("rm", "-v", "copyup"))
    host_untouched()


@pytest.mark.parametrize("target", ["/data/sub", "/up/sub", "/gone/sub"])
def test_a_volume_behind_a_symlink_is_mounted_inside_the_root(tuiker, symlink_image, target):
    ok(tuiker("pull", "-q", symlink_image))
    out = ok(tuiker("run", "--rm", "-v", f"vol:{target}", "--tmpfs", f"{target}-tmp",
                    symlink_image, "sh", "-c", f"echo written > {target}/f; grep -c ' {HOST_DIR}/' /proc/mounts"))
    # Both mounts are where the symlink leads inside the container (its own HOST_DIR/...), and the host's
    # directory got neither a mount, nor a directory, nor the file.
    assert out.strip() == "2"
    host_untouched()


def test_a_bind_mount_behind_a_symlink_never_covers_a_host_path(tuiker, symlink_image, tmp_path):
    ok(tuiker("pull", "-q", symlink_image))
    (tmp_path / "mine").write_text("bound\n")
    out = ok(tuiker("run", "--rm", "-v", f"{tmp_path}:/up/b:ro", symlink_image, "cat", f"{HOST_DIR}/b/mine"))
    assert out == "bound\n"
    host_untouched()


@pytest.mark.parametrize("running", [True, False], ids=["running", "stopped"])
def test_cp_never_follows_a_container_symlink_to_the_host(tuiker, symlink_image, tmp_path, running):
    ok(tuiker("pull", "-q", symlink_image))
    ok(tuiker("run", "-d", "--name", "cpsym", symlink_image, "sleep", "60"))
    if not running:
        ok(tuiker("stop", "-t", "0", "cpsym"))
    # Out: the container's /data/secret.txt does not exist (its HOST_DIR holds only the decoy); the host's is never
    # what comes out, through the absolute symlink or through `..`.
    for path in ("/data/secret.txt", "/up/secret.txt"):
        r = tuiker("cp", f"cpsym:{path}", str(tmp_path / "out"))
        assert r.returncode == 1 and "Could not find the file" in r.stderr
        assert not (tmp_path / "out").exists()
    ok(tuiker("cp", "cpsym:/up/decoy.txt", str(tmp_path / "decoy")))
    assert (tmp_path / "decoy").read_text() == "the image's own\n"
    # In: written where the symlink leads inside the container, never into the host's directory.
    (tmp_path / "planted").write_text("planted\n")
    ok(tuiker("cp", str(tmp_path / "planted"), "cpsym:/data/"))
    ok(tuiker("cp", str(tmp_path / "planted"), "cpsym:/up/planted2"))
    if not running:
        ok(tuiker("start", "cpsym"))
    assert ok(tuiker("exec", "cpsym", "ls", HOST_DIR)).split() == ["decoy.txt", "planted", "planted2"]
    host_untouched()
    ok(tuiker("rm", "-fv", "cpsym"))


def test_a_racing_container_swapping_a_symlink_in_a_shared_volume_never_redirects_a_mount(tuiker, symlink_image,
                                                                                          image):
    """runc's CVE-2021-30465 race: another container sharing a volume swaps a directory on the mount's path for a
    symlink (to HOST_DIR, which means the host's on the host) while this container's mounts are made. The victim is
    plain busybox: no VOLUME of its own that would cover HOST_DIR on a naive implementation's wrong path."""
    ok(tuiker("pull", "-q", symlink_image))
    ok(tuiker("run", "-d", "--name", "racer", "-v", "race:/s", symlink_image, "sh", "-c",
              f"while :; do mkdir /s/d; rm -rf /s/d; ln -s {HOST_DIR} /s/d; rm -f /s/d; done 2>/dev/null"))
    for _ in range(10):
        # Success or a failed start both do; a mount or a directory on the host never.
        tuiker("run", "--rm", "-v", "race:/x", "--tmpfs", "/x/d/planted", image, "true")
        host_untouched()
    ok(tuiker("rm", "-f", "racer"))
