"""The ctypes wrappers and capability handling against the real kernel (as root).

Everything that changes process state runs in a forked child (in_child) so pytest keeps its namespaces and caps.
"""

from __future__ import annotations

import errno
import os
import select
import shutil
import subprocess

import pytest
from childproc import in_child

from tuiker.base import linux
from tuiker.runtime.security import capabilities

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root")

BUSYBOX = "/bin/busybox"
DOCKER_DEFAULT_MASK = 0x00000000A80425FB


def status_field(name: str, path: str = "/proc/self/status") -> str:
    with open(path) as f:
        for line in f:
            if line.startswith(name + ":"):
                return line.split(":", 1)[1].strip()
    raise KeyError(name)


def test_uts_namespace_hostname_is_private():
    before = os.uname().nodename

    def child():
        linux.unshare(linux.CLONE_NEWUTS)
        linux.sethostname("tuiker-test")
        return os.uname().nodename

    assert in_child(child) == "tuiker-test"
    assert os.uname().nodename == before


def test_mount_namespace_hides_tmpfs_from_parent(tmp_path):
    target = str(tmp_path)

    def child():
        linux.unshare(linux.CLONE_NEWNS)
        # Without this, the tmpfs would propagate back to the host's shared "/" peer group.
        linux.mount(None, "/", None, linux.MS_REC | linux.MS_PRIVATE)
        linux.mount("tmpfs", target, "tmpfs", linux.MS_NOSUID | linux.MS_NODEV, "size=1m,mode=755")
        with open(os.path.join(target, "inside"), "w") as f:
            f.write("x")
        with open("/proc/self/mountinfo") as f:
            mine = f.read()
        with open(f"/proc/{os.getppid()}/mountinfo") as f:
            parents = f.read()
        return target in mine, target in parents

    assert in_child(child) == (True, False)
    with open("/proc/self/mountinfo") as f:
        assert target not in f.read()
    assert not os.path.exists(tmp_path / "inside")


def test_pivot_root_into_busybox_tree(tmp_path):
    root = tmp_path / "rootfs"
    (root / "bin").mkdir(parents=True)
    (root / "marker").write_text("new root")
    shutil.copy2(BUSYBOX, root / "bin" / "busybox")

    def child():
        linux.unshare(linux.CLONE_NEWNS)
        linux.mount(None, "/", None, linux.MS_REC | linux.MS_PRIVATE)
        linux.mount(str(root), str(root), None, linux.MS_BIND | linux.MS_REC)
        # runc's sequence: pivot_root(".", ".") stacks the old root over the new one; from the old root's fd we
        # make it a slave (so the unmount cannot propagate anywhere) and detach it.
        oldroot = os.open("/", os.O_DIRECTORY | os.O_RDONLY)
        os.chdir(root)
        linux.pivot_root(".", ".")
        os.fchdir(oldroot)
        linux.mount(None, ".", None, linux.MS_SLAVE | linux.MS_REC)
        linux.umount2(".", linux.MNT_DETACH)
        os.chdir("/")
        os.close(oldroot)
        out = subprocess.run(["/bin/busybox", "ls", "/"], capture_output=True, check=True).stdout.decode()
        cat = subprocess.run(["/bin/busybox", "cat", "/marker"], capture_output=True, check=True).stdout.decode()
        return sorted(out.split()), cat, os.path.exists("/usr"), os.path.exists(str(root))

    listing, marker, has_usr, has_old_path = in_child(child)
    assert listing == ["bin", "marker"]
    assert marker == "new root"
    assert not has_usr and not has_old_path


def test_wrapper_errors_name_the_call():
    with pytest.raises(OSError) as exc:
        linux.umount2("/nonexistent/tuiker")
    assert exc.value.errno in (errno.ENOENT, errno.EINVAL)
    assert "umount2('/nonexistent/tuiker'" in str(exc.value)

    def child():
        try:
            linux.mount("tmpfs", b"/nonexistent/\xff", "tmpfs")
        except OSError as e:
            return e.errno, str(e)
        return None

    code, message = in_child(child)
    assert code == errno.ENOENT and message.startswith("[Errno 2] mount('tmpfs' on '/nonexistent/")


def test_default_caps_match_docker():
    assert capabilities.mask(capabilities.DEFAULT_CAPS) == DOCKER_DEFAULT_MASK

    def child():
        capabilities.drop_bounding(capabilities.DEFAULT_CAPS)
        capabilities.apply(capabilities.DEFAULT_CAPS)
        after_exec = subprocess.run([BUSYBOX, "cat", "/proc/self/status"], capture_output=True, check=True).stdout
        return capabilities.current(), after_exec.decode()

    caps, status_after_exec = in_child(child)
    assert caps["CapEff"] == caps["CapPrm"] == caps["CapBnd"] == DOCKER_DEFAULT_MASK
    assert caps["CapInh"] == 0 and caps["CapAmb"] == 0
    # What matters is the state after execve: root regains its bounding set, nothing more.
    fields = dict(line.split(":\t") for line in status_after_exec.splitlines() if line.startswith("Cap"))
    assert int(fields["CapEff"], 16) == int(fields["CapBnd"], 16) == DOCKER_DEFAULT_MASK
    assert int(fields["CapInh"], 16) == 0


def test_caps_after_setuid_are_empty():
    def child():
        capabilities.drop_bounding(capabilities.DEFAULT_CAPS)
        os.setgroups([])
        os.setgid(1000)
        os.setuid(1000)
        capabilities.apply(capabilities.DEFAULT_CAPS)
        return capabilities.current()

    caps = in_child(child)
    assert caps["CapEff"] == caps["CapPrm"] == caps["CapInh"] == caps["CapAmb"] == 0
    assert caps["CapBnd"] == DOCKER_DEFAULT_MASK


def test_capability_names_match_kernel_header():
    header = "/usr/include/linux/capability.h"
    if not os.path.exists(header):
        pytest.skip("linux-libc-dev not installed")
    with open(header) as f:
        defined = {}
        for line in f:
            parts = line.split()
            if len(parts) == 3 and parts[0] == "#define" and parts[1].startswith("CAP_") and parts[2].isdigit():
                defined[parts[1]] = int(parts[2])
    for name, number in capabilities.NAMES.items():
        assert defined.get(name, number) == number, name
    assert max(capabilities.NAMES.values()) == 40


def test_resolve_rules():
    default = set(capabilities.DEFAULT_CAPS)
    n = capabilities.NAMES
    assert capabilities.resolve([], [], False) == default
    assert capabilities.resolve(["sys_admin"], ["CAP_NET_RAW", "mknod"], False) == (
        default - {n["CAP_NET_RAW"], n["CAP_MKNOD"]} | {n["CAP_SYS_ADMIN"]})
    assert capabilities.resolve(["Cap_Net_Admin"], ["all"], False) == {n["CAP_NET_ADMIN"]}
    # Everything we may hand out: what the kernel knows and our own bounding set still holds (root here
    # lacks CAP_SYS_RESOURCE, and capset cannot grant what the bounding set lacks).
    bounding = capabilities.current()["CapBnd"]
    everything = {cap for cap in range(capabilities.last_cap() + 1) if bounding >> cap & 1}
    assert capabilities.resolve(["ALL"], ["chown"], False) == everything - {n["CAP_CHOWN"]}
    assert capabilities.resolve([], ["ALL"], True) == everything
    with pytest.raises(ValueError, match="^unknown capability: CAP_BOGUS$"):
        capabilities.resolve(["CAP_BOGUS"], [], False)
    with pytest.raises(ValueError, match="unknown capability: fly"):
        capabilities.resolve([], ["fly"], False)


def test_no_new_privs_and_dumpable():
    def child():
        linux.set_no_new_privs()
        linux.set_dumpable(False)
        linux.set_child_subreaper()
        return status_field("NoNewPrivs"), linux.prctl(3)  # PR_GET_DUMPABLE

    assert in_child(child) == ("1", 0)
    assert status_field("NoNewPrivs") == "0"


def test_pidfd_open_polls_on_exit():
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(w)  # else our own copy keeps the pipe open and the read never sees EOF
        os.read(r, 1)
        os._exit(3)
    os.close(r)
    fd = linux.pidfd_open(pid)
    try:
        assert select.select([fd], [], [], 0)[0] == []
        os.close(w)
        assert select.select([fd], [], [], 10)[0] == [fd]
        assert os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 3
    finally:
        os.close(fd)


def test_close_range_closes_and_marks_cloexec():
    def child():
        base = os.open("/dev/null", os.O_RDONLY)
        for fd in range(900, 906):
            os.dup2(base, fd, inheritable=True)
        linux.close_range(900, 902)
        linux.close_range(903, 904, linux.CLOSE_RANGE_CLOEXEC)
        closed = []
        for fd in range(900, 903):
            try:
                os.fstat(fd)
            except OSError as e:
                closed.append(e.errno == errno.EBADF)
        return closed, os.get_inheritable(903), os.get_inheritable(904), os.get_inheritable(905)

    assert in_child(child) == ([True, True, True], False, False, True)
