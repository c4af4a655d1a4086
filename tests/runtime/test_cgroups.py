"""tuiker.runtime.cgroups against the real kernel (run as root).

v1 is tested fully for real: this project's hosts mount every v1 controller the driver uses.

v2: on a hybrid host the cgroup2 tree (/sys/fs/cgroup/unified) offers no cpu/memory/pids/io controller (they are
bound to the v1 hierarchies; here it offers only hugetlb), so:
- real kernel: create, enabling controllers in the ancestors' cgroup.subtree_control (with whatever the root
  offers), add/pids, cpu usage from cpu.stat (core), freeze/thaw via cgroup.freeze + cgroup.events (core),
  kill_all via cgroup.kill and via the freeze-and-signal fallback, remove, and the error when a limit needs a
  controller that is not available. On a pure v2 host the real-limits test runs as well.
- NOT the real kernel: writing cpu.max/cpu.weight/memory.max/memory.swap.max/pids.max and parsing the stat files
  are checked on a temporary directory tree laid out like a v2 cgroup, holding files in the kernel's formats.
- The device allow-list IS proven on the real kernel in both versions: v1 through the devices hierarchy
  (/sys/fs/cgroup/devices), v2 through the eBPF program (BPF_PROG_TYPE_CGROUP_DEVICE) attached to a cgroup in
  the hybrid host's cgroup2 at /sys/fs/cgroup/unified. The kernel runs cgroup device programs on that hierarchy
  whatever the v1 controllers do, so a child moved there gets EPERM from our program alone (the same opens
  succeed outside it, the control). Only opens and mknods in a temp dir: no device is read or written.

Every cgroup dir a test makes is removed by its fixture, also when the test fails, and checked gone.
"""

from __future__ import annotations

import errno
import json
import os
import signal
import stat
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from tuiker.runtime.cgroups import Cgroup, CgroupError, Limits, V1Cgroup, V2Cgroup, devices, driver, host_version
from tuiker.runtime.cgroups.common import Pressure, host_memory, memsw_total, mountinfo, shares_to_weight
from tuiker.runtime.cgroups.v1 import v1_mounts

MB = 1 << 20
BUSY = "import time\nend = time.time() + {secs}\nwhile time.time() < end: pass"
# Touches every page (b"x" * n writes them) so the memory is really charged, then says so and waits.
ALLOC = "import sys, time\nb = b'x' * ({mb} << 20)\nprint('ok', flush=True)\ntime.sleep(30)"

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="cgroups need root")


def v2_root() -> str | None:
    for point, fstype, _ in mountinfo():
        if fstype == "cgroup2" and point in ("/sys/fs/cgroup", "/sys/fs/cgroup/unified"):
            return point
    return None


def cpu_ticks(pid: int) -> int:
    """utime+stime of a process, in clock ticks: stops growing while it is frozen."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def proc_state(pid: int) -> str:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]


@pytest.fixture
def procs():
    """Popen factory whose processes are killed and reaped at the end, pass or fail."""
    started: list[subprocess.Popen] = []

    def start(args: list[str], **kwargs) -> subprocess.Popen:
        p = subprocess.Popen(args, **kwargs)
        started.append(p)
        return p

    yield start
    for p in started:
        if p.poll() is None:
            p.kill()
        p.wait()


class Made:
    """The cgroups of one test, all under a parent unique to the test (tests may run beside real containers)."""

    def __init__(self) -> None:
        self.parent = f"tuiker-test-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.groups: list[Cgroup] = []
        self.parent_dirs: set[str] = set()

    def track(self, cg: Cgroup, roots: list[str]) -> Cgroup:
        self.groups.append(cg)
        self.parent_dirs.update(os.path.join(r, self.parent) for r in roots)
        return cg

    def cleanup(self) -> None:
        for cg in self.groups:
            for _, leaf in cg._dirs():
                if os.path.isdir(leaf):
                    try:
                        cg.kill_all()
                    except CgroupError:
                        pass
            cg.remove()
        for d in self.parent_dirs:
            if os.path.isdir(d):
                os.rmdir(d)
        left = [leaf for cg in self.groups for _, leaf in cg._dirs() if os.path.exists(leaf)]
        left += [d for d in self.parent_dirs if os.path.exists(d)]
        assert not left, f"cgroup dirs left behind: {left}"


@pytest.fixture
def v1(procs):
    """Factory: V1Cgroup("<unique parent>/<leaf>", mounts); everything removed afterwards. Depends on procs so
    that its cleanup (kill_all, which thaws) runs first: reaping a process left frozen would block forever."""
    if not v1_mounts():
        pytest.skip("no cgroup v1 hierarchy mounted")
    made = Made()

    def make(leaf: str = "c", mounts: dict[str, str] | None = None) -> V1Cgroup:
        cg = V1Cgroup(f"{made.parent}/{leaf}", mounts)
        return made.track(cg, list(cg.mounts.values()))

    yield make
    made.cleanup()


@pytest.fixture
def v2(procs):
    """Factory: V2Cgroup on the real cgroup2 mount. The root's subtree_control is put back as it was (create
    enables every controller the root offers, which on a hybrid host nothing else would have done). Cleaned
    up before procs, as v1."""
    root = v2_root()
    if root is None:
        pytest.skip("no cgroup2 hierarchy mounted")
    control = os.path.join(root, "cgroup.subtree_control")
    before = set(Path(control).read_text().split())
    made = Made()

    def make(leaf: str = "c") -> V2Cgroup:
        return made.track(V2Cgroup(f"{made.parent}/{leaf}", root=root), [root])

    yield make
    made.cleanup()
    for controller in set(Path(control).read_text().split()) - before:
        try:
            Path(control).write_text("-" + controller)
        except OSError:
            pass  # still used by another cgroup (a real container): leave it


def joined(cg: Cgroup) -> Callable[[], None]:
    """preexec_fn that moves the child into the cgroup before exec, so all it allocates or forks is counted."""
    return lambda: cg.add(os.getpid())


# --- docker arithmetic (pure) ---


def test_memsw_follows_docker():
    assert memsw_total(Limits()) is None
    assert memsw_total(Limits(memory_bytes=64 * MB)) == 128 * MB  # -m alone: swap as much again
    assert memsw_total(Limits(memory_bytes=64 * MB, memory_swap_bytes=0)) == 128 * MB
    assert memsw_total(Limits(memory_bytes=64 * MB, memory_swap_bytes=-1)) == -1
    assert memsw_total(Limits(memory_bytes=64 * MB, memory_swap_bytes=96 * MB)) == 96 * MB
    with pytest.raises(CgroupError, match="below the memory limit"):
        memsw_total(Limits(memory_bytes=64 * MB, memory_swap_bytes=32 * MB))
    with pytest.raises(CgroupError, match="needs a memory limit"):
        memsw_total(Limits(memory_swap_bytes=32 * MB))


def test_shares_to_weight_matches_runc():
    assert shares_to_weight(2) == 1
    assert shares_to_weight(1024) == 39  # docker's default shares
    assert shares_to_weight(262_144) == 10_000
    assert shares_to_weight(0) == 1 and shares_to_weight(10**9) == 10_000


def test_mountinfo_combined_and_escaped(tmp_path):
    info = tmp_path / "mountinfo"
    info.write_text(
        "30 23 0:26 / /sys/fs/cgroup rw - tmpfs tmpfs rw,mode=755\n"
        "31 30 0:27 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct\n"
        "32 30 0:28 / /sys/fs/cgroup/my\\040memory rw,relatime - cgroup cgroup rw,memory\n"
        "33 30 0:29 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,xattr,name=systemd\n"
        "34 30 0:27 / /mnt/again rw - cgroup cgroup rw,cpu,cpuacct\n")
    mounts = v1_mounts(str(info))
    assert mounts == {"cpu": "/sys/fs/cgroup/cpu,cpuacct", "cpuacct": "/sys/fs/cgroup/cpu,cpuacct",
                      "memory": "/sys/fs/cgroup/my memory"}
    cg = V1Cgroup("tuiker/x", mounts)
    # The combined hierarchy gets one dir, made and joined once.
    assert [leaf for _, leaf in cg._dirs()] == ["/sys/fs/cgroup/cpu,cpuacct/tuiker/x",
                                                "/sys/fs/cgroup/my memory/tuiker/x"]


def test_names_cannot_escape():
    for bad in ("", "/", "tuiker/../../etc", "tuiker/./x", "a//b"):
        with pytest.raises(CgroupError):
            V1Cgroup(bad, {})


def test_driver_and_parent_env(monkeypatch):
    expected = 2 if os.path.exists("/sys/fs/cgroup/cgroup.controllers") else 1
    assert host_version() == expected
    cg = driver("tuiker/abc")
    assert isinstance(cg, V2Cgroup if expected == 2 else V1Cgroup) and cg.name == "tuiker/abc"
    monkeypatch.setenv("TUIKER_CGROUP_PARENT", "/ci/tuiker-nested/")
    assert driver("tuiker/abc").name == "ci/tuiker-nested/abc"


# --- v1, real kernel ---


def test_v1_limits_are_written(v1):
    cg = v1()
    cg.create(Limits(cpu_quota_us=150_000, cpu_shares=512, memory_bytes=64 * MB, pids_max=5))

    def value(controller: str, name: str) -> str:
        return Path(cg.paths[controller], name).read_text().strip()

    assert value("cpu", "cpu.cfs_quota_us") == "150000"
    assert value("cpu", "cpu.cfs_period_us") == "100000"
    assert value("cpu", "cpu.shares") == "512"
    assert value("memory", "memory.limit_in_bytes") == str(64 * MB)
    if os.path.exists(os.path.join(cg.paths["memory"], "memory.memsw.limit_in_bytes")):
        assert value("memory", "memory.memsw.limit_in_bytes") == str(128 * MB)
    assert value("pids", "pids.max") == "5"
    stats = cg.stats()
    assert (stats.memory_limit, stats.pids_limit, stats.pids_current) == (64 * MB, 5, 0)


def test_v1_memory_swap_orders(v1):
    """Reusing a dir whose limits are lower than the new ones needs memsw written first (raising), the fresh
    one memory first (lowering from unlimited): both must pass the kernel's memory <= memsw check."""
    cg = v1()
    memsw = os.path.join(v1_mounts()["memory"], cg.name, "memory.memsw.limit_in_bytes")
    cg.create(Limits(memory_bytes=32 * MB, memory_swap_bytes=48 * MB))
    if not os.path.exists(memsw):
        pytest.skip("swap accounting is off")
    assert Path(memsw).read_text().strip() == str(48 * MB)
    cg.create(Limits(memory_bytes=256 * MB))  # raise both: memsw 512m must go first
    assert Path(memsw).read_text().strip() == str(512 * MB)
    cg.create(Limits(memory_bytes=16 * MB, memory_swap_bytes=16 * MB))  # lower both: memory first
    assert Path(memsw).read_text().strip() == str(16 * MB)
    cg.create(Limits(memory_bytes=16 * MB, memory_swap_bytes=-1))
    assert int(Path(memsw).read_text()) > host_memory()


def test_v1_add_pids_and_proc_cgroup(v1, procs):
    cg = v1()
    cg.create(Limits())
    p = procs(["sleep", "30"])
    cg.add(p.pid)
    assert cg.pids() == [p.pid]
    membership = Path(f"/proc/{p.pid}/cgroup").read_text()
    for controller in cg.paths:
        assert any(controller in line.split(":")[1].split(",") and line.endswith("/" + cg.name)
                   for line in membership.splitlines()), membership


def test_v1_stats_memory_without_cache(v1, procs):
    cg = v1()
    cg.create(Limits())
    p = procs([sys.executable, "-c", ALLOC.format(mb=50)], stdout=subprocess.PIPE, preexec_fn=joined(cg))
    assert p.stdout.readline() == b"ok\n"
    stats = cg.stats()
    assert stats.memory_usage > 40 * MB
    assert stats.memory_limit == host_memory()  # unlimited: docker shows host RAM
    assert stats.pids_current == 1 and stats.pids_limit is None
    assert stats.cpu_usage_ns > 0 and stats.oom_kills == 0


def test_v1_pids_limit_refuses_forks(v1, procs):
    cg = v1()
    cg.create(Limits(pids_max=5))
    shell = subprocess.run(["sh", "-c", "for i in 1 2 3 4 5 6 7 8 9 10; do sleep 2 & done; wait"],
                           preexec_fn=joined(cg), capture_output=True, text=True, timeout=30)
    # dash reports the failed fork as "Cannot fork", bash as "Resource temporarily unavailable".
    assert "Cannot fork" in shell.stderr or "Resource temporarily unavailable" in shell.stderr, shell.stderr
    forker = subprocess.run(
        [sys.executable, "-c", "import os, time\n"
         "try:\n    [os.fork() or time.sleep(1) or os._exit(0) for _ in range(10)]\n"
         "except OSError as e:\n    print(e.errno)"],
        preexec_fn=joined(cg), capture_output=True, text=True, timeout=30)
    assert forker.stdout.split() == [str(errno.EAGAIN)]


def test_v1_oom_kill(v1, procs):
    cg = v1()
    cg.create(Limits(memory_bytes=32 * MB))  # memory+swap 64m: 100 MB cannot fit, swap or not
    p = procs([sys.executable, "-c", ALLOC.format(mb=100)], stdout=subprocess.PIPE, preexec_fn=joined(cg))
    assert p.wait(timeout=30) == -signal.SIGKILL
    assert cg.oom_killed()
    assert cg.stats().oom_kills >= 1


def test_v1_freeze_thaw(v1, procs):
    cg = v1()
    cg.create(Limits())
    p = procs([sys.executable, "-c", BUSY.format(secs=30)], preexec_fn=joined(cg))
    state = Path(cg.paths["freezer"], "freezer.state")
    time.sleep(0.2)
    cg.freeze()
    assert cg.frozen() and state.read_text().strip() == "FROZEN"
    ticks = cpu_ticks(p.pid)
    time.sleep(0.3)
    assert cpu_ticks(p.pid) == ticks and proc_state(p.pid) != "R"
    cg.thaw()
    assert not cg.frozen() and state.read_text().strip() == "THAWED"
    time.sleep(0.3)
    assert cpu_ticks(p.pid) > ticks


def test_v1_cpu_quota(v1, procs):
    cg = v1()
    cg.create(Limits(cpu_quota_us=20_000))  # --cpus 0.2
    p = procs([sys.executable, "-c", BUSY.format(secs=2)], preexec_fn=joined(cg))
    p.wait(timeout=30)
    stats = cg.stats()
    used = stats.cpu_usage_ns / 1e9
    # Unthrottled, 2 s of busy loop is ~2 s of CPU; the quota allows 0.2 s per second (+ interpreter start).
    assert 0.1 < used <= 0.6, used
    # cpu.stat counts it: most of its ~20 periods of 100 ms ran out of quota, and it waited > 1 s in all
    assert stats.cpu_periods >= stats.cpu_throttled_periods > 5 and stats.cpu_throttled_ns > 1e9, stats
    assert stats.psi_cpu is stats.psi_memory is stats.psi_io is None  # pressure files are v2's


def test_v1_kill_all_and_remove(v1, procs):
    cg = v1()
    cg.create(Limits(pids_max=20))
    shell = procs(["sh", "-c", "sleep 30 & sleep 30 & sleep 30 & wait"], preexec_fn=joined(cg))
    assert wait_for(lambda: len(cg.pids()) == 4)
    cg.kill_all()
    assert shell.wait(timeout=10) == -signal.SIGKILL
    cg.remove()
    assert not any(os.path.exists(leaf) for _, leaf in cg._dirs())
    cg.kill_all()  # already gone: both are no-ops
    cg.remove()


def test_v1_refused_write_rolls_back(v1):
    cg = v1()
    with pytest.raises(CgroupError) as e:
        cg.create(Limits(cpu_quota_us=500))  # the kernel's minimum quota is 1 ms
    assert "cpu quota 500" in str(e.value) and "cpu.cfs_quota_us" in str(e.value) and "\n" not in str(e.value)
    # The parent was made by this create too, so it goes as well.
    assert not any(os.path.exists(os.path.dirname(leaf)) for _, leaf in cg._dirs())


def test_v1_missing_controller(v1):
    mounts = {c: m for c, m in v1_mounts().items() if c != "pids"}
    with pytest.raises(CgroupError, match="pids controller is not mounted"):
        v1("a", mounts).create(Limits(pids_max=5))
    cg = v1("b", mounts)
    cg.create(Limits(memory_bytes=64 * MB))
    assert "pids" not in cg.paths and cg.stats().pids_current == 0


def wait_for(check, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


# --- v2, real kernel (core features; controllers as far as the host offers them) ---


def test_v2_create_enables_offered_controllers(v2):
    cg = v2()
    cg.create(Limits())
    offered = set(Path(cg.root, "cgroup.controllers").read_text().split())
    assert offered <= set(Path(cg.root, "cgroup.subtree_control").read_text().split())
    assert offered <= set(Path(cg.path, "cgroup.controllers").read_text().split())


def test_v2_add_stats_freeze_kill_remove(v2, procs):
    cg = v2()
    cg.create(Limits())
    p = procs([sys.executable, "-c", BUSY.format(secs=30)], preexec_fn=joined(cg))
    assert cg.pids() == [p.pid]
    assert wait_for(lambda: cg.stats().cpu_usage_ns > 100_000_000)  # cpu.stat is core: always real
    cg.freeze()
    assert cg.frozen() and "frozen 1" in Path(cg.path, "cgroup.events").read_text()
    ticks = cpu_ticks(p.pid)
    time.sleep(0.3)
    assert cpu_ticks(p.pid) == ticks
    cg.thaw()
    assert not cg.frozen()
    time.sleep(0.3)
    assert cpu_ticks(p.pid) > ticks
    pressure = cg.stats().psi_cpu  # PSI files are core (no controller needed) on a kernel with PSI
    if os.path.exists("/proc/pressure/cpu"):
        assert pressure is not None and pressure.some_total_us >= 0 and 0 <= pressure.some_avg10 <= 100
    cg.kill_all()  # cgroup.kill on kernels >= 5.14
    assert p.wait(timeout=10) == -signal.SIGKILL
    cg.remove()
    assert not os.path.exists(cg.path)


def test_v2_freeze_and_signal_fallback(v2, procs):
    """The pre-5.14 path (no cgroup.kill): freeze, SIGKILL each pid, thaw, on the real v2 freezer."""
    cg = v2()
    cg.create(Limits())
    shell = procs(["sh", "-c", "sleep 30 & sleep 30 & wait"], preexec_fn=joined(cg))
    assert wait_for(lambda: len(cg.pids()) == 3)
    Cgroup.kill_all(cg)  # the shared base implementation, bypassing V2Cgroup's cgroup.kill
    assert shell.wait(timeout=10) == -signal.SIGKILL
    assert not cg.frozen()
    cg.remove()
    assert not os.path.exists(cg.path)
    cg.kill_all()  # gone: no-op
    cg.remove()


def test_v2_missing_controller_is_reported(v2):
    cg = v2()
    if "memory" in Path(cg.root, "cgroup.controllers").read_text().split():
        pytest.skip("memory is available here: test_v2_real_limits covers it")
    with pytest.raises(CgroupError, match="memory controller is not available"):
        cg.create(Limits(memory_bytes=64 * MB))
    assert not os.path.exists(os.path.dirname(cg.path))


def test_v2_real_limits(v2, procs):
    cg = v2()
    offered = set(Path(cg.root, "cgroup.controllers").read_text().split())
    if not {"cpu", "memory", "pids"} <= offered:
        pytest.skip(f"the cgroup2 root offers only {sorted(offered)}: see test_v2_*_fake_tree")
    cg.create(Limits(cpu_quota_us=20_000, memory_bytes=32 * MB, pids_max=5))
    assert Path(cg.path, "cpu.max").read_text().split() == ["20000", "100000"]
    p = procs([sys.executable, "-c", ALLOC.format(mb=100)], stdout=subprocess.PIPE, preexec_fn=joined(cg))
    assert p.wait(timeout=60) == -signal.SIGKILL and cg.oom_killed()


# --- device allow-list, real kernel: v1's devices hierarchy, v2's eBPF program on the cgroup2 mount ---

# Runs each op in a child process and prints "ok" or the errno name per op: ["r"|"w"|"rw", path] opens (and
# closes: nothing is read or written), ["mknod", path, "b"|"c", major, minor] makes a node.
PROBE = """import errno, json, os, stat, sys
out = []
for op in json.loads(sys.argv[1]):
    try:
        if op[0] == "mknod":
            kind = stat.S_IFBLK if op[2] == "b" else stat.S_IFCHR
            os.mknod(op[1], 0o600 | kind, os.makedev(op[3], op[4]))
        else:
            os.close(os.open(op[1], {"r": os.O_RDONLY, "w": os.O_WRONLY, "rw": os.O_RDWR}[op[0]]))
        out.append("ok")
    except OSError as e:
        out.append(errno.errorcode[e.errno])
print(json.dumps(out))
"""

DOCKER_V1_LIST = {"c *:* m", "b *:* m", "c 1:3 rwm", "c 1:5 rwm", "c 1:7 rwm", "c 1:8 rwm", "c 1:9 rwm",
                  "c 5:0 rwm", "c 5:1 rwm", "c 5:2 rwm", "c 136:* rwm", "c 10:200 rwm"}


def probe(cg: Cgroup | None, ops: list[list]) -> list[str]:
    """PROBE's answers from a child that joined `cg` before exec (None: the control, outside any test cgroup)."""
    r = subprocess.run([sys.executable, "-c", PROBE, json.dumps(ops)], preexec_fn=joined(cg) if cg else None,
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


@pytest.fixture
def host_nodes(tmp_path) -> list[list]:
    """Opens of host devices the allow-list refuses, through nodes mknod'ed in a temp dir (as a container
    would): a loop device (block), /dev/kvm, and /dev/kmsg (opened write-only, never written), where present."""
    ops = []
    for name, kind, major, minor, mode in (("loop0", "block", 7, 0, "r"), ("kvm", "char", 10, 232, "r"),
                                           ("kmsg", "char", 1, 11, "w")):
        if Path(f"/sys/dev/{kind}/{major}:{minor}").exists():
            node_type = stat.S_IFBLK if kind == "block" else stat.S_IFCHR
            os.mknod(tmp_path / name, 0o600 | node_type, os.makedev(major, minor))
            ops.append([mode, str(tmp_path / name)])
    return ops


def allowed_ops(tmp_path: Path) -> list[list]:
    """Opens and mknods the allow-list keeps: null/zero/urandom, and making any node, block or char."""
    return [["rw", "/dev/null"], ["r", "/dev/zero"], ["r", "/dev/urandom"],
            ["mknod", str(tmp_path / "made-b"), "b", 7, 0], ["mknod", str(tmp_path / "made-c"), "c", 10, 232]]


def test_device_rules_match_docker():
    assert {rule.v1() for rule in devices.ALLOWED} == DOCKER_V1_LIST
    assert devices.v1_lines(True) == [("devices.allow", "a")]
    assert devices.v1_lines(False)[0] == ("devices.deny", "a")  # deny by default before anything is allowed
    assert Limits().all_devices is False and Limits(**{"pids_max": 5}).all_devices is False  # old config.json


def test_v1_device_list_is_written_and_enforced(v1, host_nodes, tmp_path):
    cg = v1()
    cg.create(Limits())
    listed = Path(cg.paths["devices"], "devices.list").read_text().splitlines()
    assert set(listed) == DOCKER_V1_LIST and len(listed) == len(DOCKER_V1_LIST)
    assert probe(None, host_nodes) == ["ok"] * len(host_nodes)  # the control: the host opens them
    assert probe(cg, host_nodes) == ["EPERM"] * len(host_nodes)
    assert probe(cg, allowed_ops(tmp_path)) == ["ok"] * 5
    cg.create(Limits(all_devices=True))  # --privileged, over the same dir
    assert Path(cg.paths["devices"], "devices.list").read_text().split("\n")[0] == "a *:* rwm"
    assert probe(cg, host_nodes) == ["ok"] * len(host_nodes)


def test_v1_refuses_to_start_without_a_devices_hierarchy(v1):
    """Failing closed: a container without the list could open any host device it can mknod."""
    cg = v1("a", {c: m for c, m in v1_mounts().items() if c != "devices"})
    with pytest.raises(CgroupError, match="cannot set the device allow-list: the cgroup v1 devices controller"):
        cg.create(Limits())
    assert not any(os.path.exists(leaf) for _, leaf in cg._dirs())


def test_v2_device_program_is_enforced_and_goes_with_the_cgroup(v2, host_nodes, tmp_path):
    """Proven on the real kernel: the program attached to a cgroup in the cgroup2 mount (on this hybrid host
    /sys/fs/cgroup/unified, whose device programs the kernel runs whatever the v1 devices controller says)."""
    cg = v2()
    cg.create(Limits())
    fd = os.open(cg.path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        ids = devices.attached(fd)
        cg.create(Limits())  # the same container started again over its dir: the program is replaced
        replaced = devices.attached(fd)
    finally:
        os.close(fd)
    assert len(ids) == 1 and len(replaced) == 1 and replaced != ids
    assert probe(None, host_nodes) == ["ok"] * len(host_nodes)  # the control
    assert probe(cg, host_nodes) == ["EPERM"] * len(host_nodes)
    assert probe(cg, allowed_ops(tmp_path)) == ["ok"] * 5
    cg.remove()
    assert wait_for(lambda: not program_exists(replaced[0]))  # released by the kernel after the rmdir


def program_exists(prog_id: int) -> bool:
    try:
        os.close(devices.program_fd(prog_id))
        return True
    except FileNotFoundError:
        return False


def test_v2_program_checks_each_access(v2, tmp_path):
    """Read-only /dev/null: the requested access must be a subset of the rule's (open O_RDWR needs r and w)."""
    cg = v2()
    cg.create(Limits(all_devices=True))
    fd = os.open(cg.path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        assert devices.attached(fd) == []  # --privileged: no program at all
        devices.attach_allow_list(cg.path, (devices.Rule("c", 1, 3, "r"), devices.Rule("b", 7, None, "m")))
        assert len(devices.attached(fd)) == 1
    finally:
        os.close(fd)
    ops = [["r", "/dev/null"], ["w", "/dev/null"], ["rw", "/dev/null"], ["r", "/dev/zero"],
           ["mknod", str(tmp_path / "null"), "c", 1, 3], ["mknod", str(tmp_path / "loop9"), "b", 7, 9],
           ["mknod", str(tmp_path / "other"), "b", 8, 0]]
    assert probe(cg, ops) == ["ok", "EPERM", "EPERM", "EPERM", "EPERM", "ok", "EPERM"]


def test_v2_devices_refused_on_a_fake_tree(fake_v2):
    """Failing closed: when the program cannot attach, create fails in one line."""
    cg, leaf = fake_v2
    with pytest.raises(CgroupError) as e:
        cg.create(Limits())
    assert str(e.value).startswith(f"cannot set the device allow-list: bpf() on {leaf}:") and "\n" not in str(e.value)


KILLED_CREATOR = """import os, signal, sys, time
from tuiker.runtime.cgroups import Limits, V1Cgroup, V2Cgroup
cg = V2Cgroup(sys.argv[2], root=sys.argv[3]) if sys.argv[1] == "v2" else V1Cgroup(sys.argv[2])
cg.create(Limits())
pid = os.fork()
if pid == 0:
    cg.add(os.getpid())
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)  # not our stdout: the test reads it to its end
    os.dup2(devnull, 2)
    os.execvp("sleep", ["sleep", "30"])
while pid not in cg.pids():
    time.sleep(0.01)
print(pid, flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_a_creator_killed_9_leaves_nothing_once_removed(request, version):
    """The engine killed -9 after create (devices list or program in place, a process inside): a later
    kill_all + remove, as the engine's sweep does, leaves no dir in any hierarchy and no program."""
    make = request.getfixturevalue(version)
    cg = make()
    args = [version, cg.name, getattr(cg, "root", "")]
    r = subprocess.run([sys.executable, "-c", KILLED_CREATOR, *args], capture_output=True, text=True, timeout=30)
    assert r.returncode == -signal.SIGKILL, r.stderr
    sleeper = int(r.stdout)
    prog_ids = []
    if version == "v2":
        fd = os.open(cg.path, os.O_RDONLY | os.O_DIRECTORY)
        prog_ids = devices.attached(fd)
        os.close(fd)
        assert len(prog_ids) == 1
    else:
        assert set(Path(cg.paths["devices"], "devices.list").read_text().split("\n")) - {""} == DOCKER_V1_LIST
    fresh = V2Cgroup(cg.name, root=cg.root) if version == "v2" else V1Cgroup(cg.name)
    assert fresh.pids() == [sleeper]
    fresh.kill_all()
    fresh.remove()
    assert not any(os.path.exists(leaf) for _, leaf in cg._dirs())
    assert not any(os.path.exists(os.path.dirname(leaf)) for _, leaf in cg._dirs())  # the test's parent too
    assert wait_for(lambda: not any(program_exists(i) for i in prog_ids))
    assert wait_for(lambda: not Path(f"/proc/{sleeper}").exists())  # killed, and reaped by init


# --- v2 on a fake tree (NOT the kernel: files laid out and formatted as cgroup2's) ---


@pytest.fixture
def fake_v2(tmp_path):
    root = tmp_path / "cgroup"
    leaf = root / "tuiker" / "c"
    leaf.mkdir(parents=True)
    for d in (root, root / "tuiker", leaf):
        (d / "cgroup.controllers").write_text("cpu io memory pids\n")
        (d / "cgroup.subtree_control").write_text("")
    for name in ("cpu.max", "cpu.weight", "memory.max", "memory.swap.max", "pids.max"):
        (leaf / name).write_text("")
    return V2Cgroup("tuiker/c", root=str(root)), leaf


def test_v2_limits_fake_tree(fake_v2):
    """all_devices: a device program cannot attach to a fake tree (test_v2_devices_refused_on_a_fake_tree)."""
    cg, leaf = fake_v2
    cg.create(Limits(cpu_quota_us=150_000, cpu_shares=1024, memory_bytes=64 * MB, pids_max=7, all_devices=True))
    assert (leaf / "cpu.max").read_text() == "150000 100000"
    assert (leaf / "cpu.weight").read_text() == "39"
    assert (leaf / "memory.max").read_text() == str(64 * MB)
    assert (leaf / "memory.swap.max").read_text() == str(64 * MB)  # swap only: 2x memory minus memory
    assert (leaf / "pids.max").read_text() == "7"
    assert (leaf.parent / "cgroup.subtree_control").read_text().startswith("+")
    cg.create(Limits(memory_bytes=64 * MB, memory_swap_bytes=96 * MB, all_devices=True))
    assert (leaf / "memory.swap.max").read_text() == str(32 * MB)
    cg.create(Limits(memory_bytes=64 * MB, memory_swap_bytes=-1, all_devices=True))
    assert (leaf / "memory.swap.max").read_text() == "max"
    (leaf / "memory.swap.max").unlink()  # swap accounting off: skipped, not an error
    cg.create(Limits(memory_bytes=32 * MB, all_devices=True))
    assert (leaf / "memory.max").read_text() == str(32 * MB)


def test_v2_stats_fake_tree(fake_v2):
    cg, leaf = fake_v2
    files = {
        "cpu.stat": "usage_usec 1500000\nuser_usec 1000000\nsystem_usec 500000\nnr_periods 40\nnr_throttled 30\n"
                    "throttled_usec 2500000\nnr_bursts 0\nburst_usec 0\n",
        "cpu.pressure": "some avg10=4.20 avg60=1.00 avg300=0.25 total=900000\n"
                        "full avg10=3.10 avg60=0.50 avg300=0.10 total=700000\n",
        "memory.pressure": "some avg10=0.00 avg60=0.00 avg300=0.00 total=12\n"
                           "full avg10=0.00 avg60=0.00 avg300=0.00 total=0\n",
        "memory.current": "104857600\n",
        "memory.stat": "anon 83886080\nfile 20971520\nactive_file 4194304\ninactive_file 16777216\n",
        "memory.max": "max\n",
        "pids.current": "3\n",
        "pids.max": "10\n",
        "io.stat": "8:0 rbytes=4096 wbytes=8192 rios=1 wios=2 dbytes=0 dios=0\n"
                   "259:0 rbytes=100 wbytes=200 rios=1 wios=1 dbytes=0 dios=0\n",
        "memory.events": "low 0\nhigh 0\nmax 12\noom 1\noom_kill 1\noom_group_kill 0\n",
    }
    for name, text in files.items():
        (leaf / name).write_text(text)
    stats = cg.stats()
    assert stats.cpu_usage_ns == 1_500_000_000
    assert stats.memory_usage == 104857600 - 16777216
    assert stats.memory_limit == host_memory()
    assert (stats.pids_current, stats.pids_limit) == (3, 10)
    assert (stats.io_read_bytes, stats.io_write_bytes) == (4196, 8392)
    assert stats.oom_kills == 1 and cg.oom_killed()
    assert (stats.cpu_periods, stats.cpu_throttled_periods, stats.cpu_throttled_ns) == (40, 30, 2_500_000_000)
    assert stats.psi_cpu == Pressure(4.2, 900_000, 3.1, 700_000)
    assert stats.psi_memory == Pressure(0.0, 12, 0.0, 0)
    assert stats.psi_io is None  # absent: a kernel without PSI has none of the files
    (leaf / "memory.max").write_text(f"{256 * MB}\n")
    assert cg.stats().memory_limit == 256 * MB
