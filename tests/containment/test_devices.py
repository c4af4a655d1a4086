"""Device containment end to end, through `tuiker run` of the test busybox image on the real kernel.

The attack: docker's default capabilities include CAP_MKNOD, so a container can mknod the node of any host
device, and an image layer can ship one. Without a device controller, opening such a node reaches the host's
disks (a loop device stands for one here), /dev/kvm and /dev/kmsg. Every container must get docker's device
allow-list (deny all; rwm on null, zero, full, random, urandom, tty, console, ptmx, the pts and tun; mknod,
only, of any node): the nodes can still be made, but opening them fails with EPERM. --privileged keeps every
device, as docker does.

What runs here: this project's hosts are cgroup v1 hybrid, so these tests prove the v1 `devices` controller
(devices.deny/devices.allow in /sys/fs/cgroup/devices/tuiker/<id>); on a pure v2 host the same tests run
against the eBPF program. The v2 program is also proven here, by tests/runtime/test_cgroups.py, attached to a
cgroup in the hybrid host's cgroup2 (/sys/fs/cgroup/unified).

Only reads and opens: no test writes to a host device (the kmsg node is opened write-only, never written).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import imagebuilder
import pytest
from conftest import ok, wait_for
from registry import push

from tuiker.runtime.cgroups import devices, host_version
from tuiker.runtime.cgroups.common import mountinfo

DENIED = "Operation not permitted"
SECRET = b"host-disk-secret"

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="containers need root")


@pytest.fixture
def loop_disk(tmp_path) -> tuple[int, int]:
    """A host "disk" holding SECRET: a file bound to a free loop device for the test (major, minor), detached
    afterwards. The host's real disk is not used: this sandbox already refuses every open of it, host included."""
    backing = tmp_path / "disk.img"
    with open(backing, "wb") as f:
        f.write(SECRET)
        f.truncate(1 << 20)
    dev = subprocess.run(["losetup", "-f", "--show", str(backing)], capture_output=True, text=True)
    if dev.returncode != 0:
        pytest.skip(f"no free loop device: {dev.stderr.strip()}")
    path = dev.stdout.strip()
    try:
        rdev = os.stat(path).st_rdev
        yield os.major(rdev), os.minor(rdev)
    finally:
        subprocess.run(["losetup", "-d", path], check=True)


def host_has(kind: str, major: int, minor: int) -> bool:
    return Path(f"/sys/dev/{'block' if kind == 'b' else 'char'}/{major}:{minor}").exists()


def cgroup_dirs(cid: str) -> list[Path]:
    """Every directory the container's cgroup has, in any v1 hierarchy (devices included) or on v2."""
    return [p for p in Path("/sys/fs/cgroup").glob(f"*/tuiker/{cid}")] + \
        [p for p in Path("/sys/fs/cgroup").glob(f"tuiker/{cid}")]


def open_script(nodes: dict[str, tuple[str, int, int, str]]) -> str:
    """A shell script that mknods each node under /tmp and opens it in the given mode (`<` read, `>`
    write-only), printing one line each: "name: made opened", "name: made failed", "name:  failed"."""
    return "\n".join(f"r=; mknod /tmp/{name} {kind} {major} {minor} && r=made; "
                     f"if (exec 3{mode}/tmp/{name}); then r=\"$r opened\"; else r=\"$r failed\"; fi; "
                     f"echo \"{name}: $r\"" for name, (kind, major, minor, mode) in nodes.items())


def test_mknod_is_allowed_but_host_devices_cannot_be_opened(tuiker, image, loop_disk):
    """Fails without a device controller: every node opens, and the loop disk's SECRET reads."""
    nodes = {"disk": ("b", *loop_disk, "<"), "kvm": ("c", 10, 232, "<"), "kmsg": ("c", 1, 11, ">")}
    nodes = {name: node for name, node in nodes.items() if host_has(*node[:3])}
    script = open_script(nodes) + f"\nhead -c {len(SECRET)} /tmp/disk; echo"
    r = tuiker("run", "--rm", image, "sh", "-c", script)
    lines = r.stdout.splitlines()
    assert lines[:-1] == [f"{name}: made failed" for name in nodes], (r.stdout, r.stderr)
    assert lines[-1] == "" and DENIED in r.stderr, (r.stdout, r.stderr)


def test_a_device_node_shipped_in_an_image_layer_cannot_be_opened(tuiker, registry, busybox_image, loop_disk):
    """A hostile image carries the loop disk's block node and /dev/kvm's char node: they are extracted as
    nodes (stat shows them), and opening them is refused. Fails without a device controller (SECRET reads)."""
    major, minor = loop_disk
    _, busybox = busybox_image
    layer = imagebuilder.make_tar([imagebuilder.Dir("nodes"), imagebuilder.BlockDev("nodes/disk", major, minor),
                                   imagebuilder.CharDev("nodes/kvm", 10, 232)])
    built = imagebuilder.build_image([busybox.layers[0], layer], compression="gzip", cmd=["sh"])
    push(registry, "test/devnodes", "latest", built)
    ref = f"{registry.host}/test/devnodes:latest"
    ok(tuiker("pull", "-q", ref))
    r = tuiker("run", "--rm", ref, "sh", "-c", "stat -c '%n %F %t:%T' /nodes/disk /nodes/kvm; "
               f"head -c {len(SECRET)} /nodes/disk; echo; (exec 3</nodes/kvm) && echo kvm-opened")
    assert r.stdout.splitlines() == [f"/nodes/disk block special file {major:x}:{minor:x}",
                                     "/nodes/kvm character special file a:e8", ""], (r.stdout, r.stderr)
    assert r.stderr.count(DENIED) == 2, r.stderr


def test_the_allowed_devices_still_work(tuiker, image):
    script = ("head -c 4 /dev/zero | wc -c; head -c 4 /dev/urandom | wc -c; head -c 4 /dev/random | wc -c; "
              "echo x > /dev/null && echo null-ok; echo x > /dev/full || echo full-enospc; "
              # mknod of an allowed device, opened: the allow-list is by number, not by path
              "mknod /tmp/null c 1 3 && echo x > /tmp/null && echo mknod-null-ok")
    r = tuiker("run", "--rm", image, "sh", "-c", script)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["4", "4", "4", "null-ok", "full-enospc", "mknod-null-ok"]
    assert "No space left on device" in r.stderr and DENIED not in r.stderr


def test_a_new_pty_opens_inside_a_container(tuiker, python_image):
    """/dev/ptmx (c 5:2, the container's own devpts) and the new slave (c 136:N) are on the allow-list."""
    r = tuiker("run", "--rm", python_image, "python", "-c",
               "import os; m, s = os.openpty(); os.write(m, b'hi\\n'); print(os.ttyname(s), os.read(s, 3))")
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["/dev/pts/0", "b'hi\\n'"]


def test_tty_container_and_exec_tty_keep_their_host_ptys(tuiker, image):
    """-t binds a host pty slave (c 136:N) at /dev/console and exec -t gets another host pty: both reopen."""
    r = tuiker("run", "--rm", "-t", image, "sh", "-c",
               "echo to-console > /dev/console && echo to-tty > /dev/tty && stat -c %t /dev/console")
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["to-console", "to-tty", "88"]  # 0x88 = 136, the host's pts major
    cid = ok(tuiker("run", "-d", image, "sleep", "60")).strip()
    try:
        # The exec's stdout is the host pty's slave: reopening it through /proc checks its number (136:N).
        r = tuiker("exec", "-t", cid, "sh", "-c",
                   "echo to-tty > /dev/tty && echo to-fd > /proc/self/fd/1 && stat -L -c %t /proc/self/fd/1")
        assert r.returncode == 0, r.stderr
        assert r.stdout.split() == ["to-tty", "to-fd", "88"]
    finally:
        ok(tuiker("rm", "-f", cid))
    wait_for(lambda: cgroup_dirs(cid) == [], 10, "the container's cgroups to go")


def test_privileged_keeps_every_device(tuiker, image, loop_disk):
    major, minor = loop_disk
    r = tuiker("run", "--rm", "--privileged", image, "sh", "-c",
               f"mknod /tmp/disk b {major} {minor} && head -c {len(SECRET)} /tmp/disk")
    assert (r.returncode, r.stdout) == (0, SECRET.decode()), r.stderr


def test_the_device_cgroup_goes_with_the_container(tuiker, image):
    """v1: the container's dir in the devices hierarchy holds the allow-list while it runs, and goes with it."""
    hierarchy = [point for point, fstype, options in mountinfo() if fstype == "cgroup" and "devices" in options]
    if host_version() == 2 or not hierarchy:
        pytest.skip("no cgroup v1 devices hierarchy: the v2 program is tested in tests/runtime/test_cgroups.py")
    cid = ok(tuiker("run", "-d", image, "sleep", "60")).strip()
    try:
        listed = Path(hierarchy[0], "tuiker", cid, "devices.list").read_text().splitlines()
        assert sorted(listed) == sorted(rule.v1() for rule in devices.ALLOWED)
    finally:
        ok(tuiker("rm", "-f", cid))
    wait_for(lambda: cgroup_dirs(cid) == [], 10, "the container's cgroups to go")
