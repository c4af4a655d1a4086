"""Containers through the engine API, on the real kernel: namespaces, hardening, limits, supervision, CVEs.

Every container here is real (overlay, pivot_root, cgroups) and started by the engine's monitor; output is
read from the monitor's attach stream. The engine_root fixture kills whatever a test leaves running.
"""

from __future__ import annotations

import json
import os
import re
import signal
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import read_stream, wait_for

from tuiker.base.errors import TuikerError
from tuiker.engine import ContainerStartError, Engine, RunOptions
from tuiker.runtime import cgroups
from tuiker.runtime.security import capabilities

DOCKER_DEFAULT_CAPS = 0x00000000A80425FB
IMAGE_TREE = ["bin", "dev", "etc", "home", "proc", "root", "sys", "tmp", "usr", "var"]


@dataclass
class Result:
    code: int
    out: str
    err: str
    id: str


@pytest.fixture
def engine(engine_root) -> Engine:
    return Engine(engine_root)


@pytest.fixture
def image(engine, busybox_image) -> str:
    """The session's busybox image, pulled into this test's engine root."""
    ref, _ = busybox_image
    engine.images.pull(ref)
    return ref


def run(engine: Engine, image: str, *cmd: str, timeout: float = 30, **opts) -> Result:
    """`tuiker run --rm IMAGE CMD...` through the engine: the container's exit code and output."""
    opts.setdefault("auto_remove", True)
    c = engine.containers.create(RunOptions(image=image, command=list(cmd) or None, **opts))
    try:
        session = engine.containers.start_attached(c.id)
    except ContainerStartError as e:
        if opts["auto_remove"]:
            engine.containers.remove(c.id, force=True)
        return Result(e.code, "", str(e), c.id)
    code, out, err = read_stream(session, timeout)
    if opts["auto_remove"]:
        wait_for(lambda: gone(engine, c.id), 10, "the --rm container to be removed")
    return Result(code, out, err, c.id)


def start_detached(engine: Engine, image: str, *cmd: str, **opts):
    c = engine.containers.create(RunOptions(image=image, command=list(cmd), **opts))
    engine.containers.start(c.id)
    return c.reload()


def exec_in(engine: Engine, cid: str, *cmd: str, **kwargs) -> tuple[int, str, str]:
    try:
        session = engine.containers.exec(cid, list(cmd), **kwargs)
    except ContainerStartError as e:
        return e.code, "", str(e)
    return read_stream(session)


def gone(engine: Engine, cid: str) -> bool:
    try:
        engine.containers.get(cid)
    except TuikerError:
        return True
    return False


def state(engine: Engine, cid: str) -> dict:
    return engine.containers.get(cid).state


def status_fields(text: str) -> dict[str, str]:
    return {k.strip(): v.strip() for k, _, v in (line.partition(":") for line in text.splitlines()) if v}


def cgroup_dirs(cid: str) -> list[str]:
    """Every directory this container's cgroup has on the host, in whatever hierarchy."""
    return [str(p) for p in Path("/sys/fs/cgroup").glob(f"*/tuiker/{cid}")] + \
        [str(p) for p in Path("/sys/fs/cgroup").glob(f"tuiker/{cid}")]


def mounts_mentioning(text: str) -> list[str]:
    with open("/proc/self/mountinfo") as f:
        return [line for line in f if text in line]


def assert_nothing_left(engine: Engine, cid: str) -> None:
    assert gone(engine, cid), f"container {cid[:12]} still exists"
    assert not (engine.root / "containers" / cid).exists()
    assert not list((engine.root / "containers").glob(f".*{cid}*")), "staging or removal dir left"
    assert cgroup_dirs(cid) == []
    assert mounts_mentioning(cid) == []


def pid_alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


# -- isolation -----------------------------------------------------------------------------------

def test_pid1_is_the_command_and_host_processes_are_invisible(engine, image):
    r = run(engine, image, "cat", "/proc/1/cmdline")
    assert (r.code, r.out) == (0, "cat\0/proc/1/cmdline\0")

    r = run(engine, image, "sh", "-c", "ps -o pid,args; true")
    assert r.code == 0, r.err
    rows = [line.split(None, 1) for line in r.out.splitlines()[1:]]
    # Only the shell (pid 1) and ps itself: no host process, not even the monitor.
    assert [pid for pid, _ in rows] == ["1", str(max(int(p) for p, _ in rows))] and len(rows) == 2
    assert all("ps -o pid,args" in args for _, args in rows)
    assert len(os.listdir("/proc")) > 0  # (the host, for contrast, has many)


def test_hostname_is_the_short_id_by_default_and_set_by_option(engine, image):
    r = run(engine, image, "sh", "-c", "hostname; cat /etc/hostname; grep -c \"$(hostname)\" /etc/hosts")
    assert r.code == 0, r.err
    assert r.out.split() == [r.id[:12], r.id[:12], "1"]
    r = run(engine, image, "sh", "-c", "hostname; cat /etc/hostname; echo $HOSTNAME", hostname="web-1")
    assert r.out.split() == ["web-1"] * 3


def test_default_capabilities_no_new_privs_and_seccomp_are_dockers(engine, image):
    r = run(engine, image, "cat", "/proc/self/status")
    assert r.code == 0, r.err
    st = status_fields(r.out)
    for field in ("CapPrm", "CapEff", "CapBnd"):
        assert int(st[field], 16) == DOCKER_DEFAULT_CAPS, (field, st[field])
    assert int(st["CapInh"], 16) == 0 and int(st["CapAmb"], 16) == 0
    assert st["NoNewPrivs"] == "0"
    assert st["Seccomp"] == "2"


def test_signals_start_at_their_defaults_in_the_container_and_in_exec(engine, image):
    """Nothing ignored, nothing blocked, as docker leaves it: the monitor ignores SIGHUP (and Python SIGXFSZ),
    and a monitor started from a process that ignores SIGINT (a script's background job) must not pass that
    on: a `sleep` in the container would shrug off Ctrl-C. This test's own process ignores SIGINT while the
    monitor is started."""
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        c = start_detached(engine, image, "sleep", "300")
    finally:
        signal.signal(signal.SIGINT, previous)
    with open(f"/proc/{c.pid}/status") as f:
        first = status_fields(f.read())
    code, out, err = exec_in(engine, c.id, "cat", "/proc/self/status")
    assert code == 0, err
    for st in (first, status_fields(out)):
        assert (int(st["SigIgn"], 16), int(st["SigBlk"], 16)) == (0, 0), (st["SigIgn"], st["SigBlk"])


def test_cap_drop_all_and_cap_add(engine, image):
    none = status_fields(run(engine, image, "cat", "/proc/self/status", cap_drop=["ALL"]).out)
    assert int(none["CapEff"], 16) == 0 and int(none["CapBnd"], 16) == 0
    one = status_fields(run(engine, image, "cat", "/proc/self/status", cap_drop=["ALL"],
                            cap_add=["NET_ADMIN"]).out)
    assert int(one["CapEff"], 16) == 1 << capabilities.NAMES["CAP_NET_ADMIN"]
    more = status_fields(run(engine, image, "cat", "/proc/self/status", cap_add=["CAP_SYS_PTRACE"],
                             cap_drop=["chown"]).out)
    expected = DOCKER_DEFAULT_CAPS | 1 << capabilities.NAMES["CAP_SYS_PTRACE"]
    expected &= ~(1 << capabilities.NAMES["CAP_CHOWN"])
    assert int(more["CapEff"], 16) == expected
    # Without CAP_CHOWN even root cannot give a file away.
    r = run(engine, image, "sh", "-c", "touch /f && chown 1000 /f", cap_drop=["CHOWN"])
    assert r.code != 0 and "Operation not permitted" in r.err


def test_privileged_gets_every_capability_the_engine_has_and_no_seccomp(engine, image):
    """The engine can only hand out what it holds: on hosts where root lacks some capability in its own
    bounding set (CAP_SYS_RESOURCE here), --privileged must still start, with the engine's full set."""
    r = run(engine, image, "cat", "/proc/self/status", privileged=True)
    assert r.code == 0, r.err
    st = status_fields(r.out)
    ours = capabilities.current()["CapBnd"]
    assert int(st["CapEff"], 16) == ours and int(st["CapBnd"], 16) == ours
    assert st["Seccomp"] == "0"


def test_no_new_privileges_only_with_the_security_option(engine, image):
    on = run(engine, image, "grep", "NoNewPrivs", "/proc/self/status", security_opt=["no-new-privileges"])
    assert on.out.split() == ["NoNewPrivs:", "1"]
    off = run(engine, image, "grep", "NoNewPrivs", "/proc/self/status", security_opt=["no-new-privileges:false"])
    assert off.out.split() == ["NoNewPrivs:", "0"]


def test_seccomp_blocks_what_dockers_profile_blocks(engine, image):
    # unshare(CLONE_NEWUSER) needs no capability, so only the seccomp filter stops it.
    blocked = run(engine, image, "unshare", "-U", "true")
    assert blocked.code != 0 and "Operation not permitted" in blocked.err
    allowed = run(engine, image, "unshare", "-U", "true", security_opt=["seccomp=unconfined"])
    assert allowed.code == 0, allowed.err
    r = run(engine, image, "sh", "-c", "mkdir -p /mnt && mount -t tmpfs x /mnt")
    assert r.code != 0


def test_masked_and_read_only_kernel_paths(engine, image):
    script = ("for p in /proc/keys /proc/timer_list /proc/kcore; do [ -e $p ] && stat -c \"$p %t:%T %s\" $p; done;"
              " ls -A /proc/acpi | wc -l; touch /proc/acpi/x 2>&1;"
              " echo evil > /proc/sys/kernel/hostname 2>&1; touch /sys/x 2>&1; true")
    r = run(engine, image, "sh", "-c", script)
    assert r.code == 0, r.err
    lines = (r.out + r.err).splitlines()
    masked = {line.split()[0]: line.split()[1:] for line in lines if line.startswith("/proc/")
              and not line.startswith("/proc/acpi") and ":" in line.split()[1]}
    expected = {p for p in ("/proc/keys", "/proc/timer_list", "/proc/kcore") if os.path.exists(p)}
    assert set(masked) == expected
    for path, (dev, size) in masked.items():
        assert (dev, size) == ("1:3", "0"), f"{path} is not /dev/null"  # char 1:3 is /dev/null
    if os.path.isdir("/proc/acpi"):
        assert "0" in lines  # an empty tmpfs over /proc/acpi
        assert any("/proc/acpi/x" in line and "Read-only" in line for line in lines)
    assert any("/proc/sys/kernel/hostname" in line and "Read-only" in line for line in lines)
    assert any("/sys/x" in line and "Read-only" in line for line in lines)
    assert os.uname().nodename != "evil"


def test_host_root_is_unreachable(engine, image):
    with tempfile.TemporaryDirectory(dir="/var/tmp") as tmp:
        marker = f"tuiker-marker-{os.getpid()}-{time.monotonic_ns()}"
        Path(tmp, marker).write_text("host")
        r = run(engine, image, "sh", "-c",
                f"ls /; echo ---; find / -path /proc -prune -o -path /sys -prune -o -name {marker} -print;"
                " echo ---; readlink /proc/1/cwd; readlink /proc/1/root; cd /..; pwd; ls")
    assert r.code == 0, r.err
    listing, found, rest = r.out.split("---\n")
    assert listing.split() == IMAGE_TREE
    assert found == ""
    assert rest.split() == ["/", "/", "/", *IMAGE_TREE]


def test_read_only_rootfs_leaves_only_mounts_writable(engine, image):
    r = run(engine, image, "sh", "-c", "for f in /x /tmp/x /etc/x /dev/shm/x; do touch $f && echo ok $f; done; true",
            read_only=True)
    assert r.code == 0
    assert r.out.split() == ["ok", "/dev/shm/x"]
    assert r.err.count("Read-only file system") == 3


def test_dev_holds_the_minimal_devices_and_console_with_tty(engine, image):
    script = "for d in null zero full random urandom tty; do stat -c \"%n %F %t:%T\" /dev/$d; done; " \
             "ls -d /dev/pts /dev/shm /dev/mqueue; test -e /dev/console && echo console; true"
    r = run(engine, image, "sh", "-c", script)
    assert r.code == 0, r.err
    assert r.out.splitlines() == [
        "/dev/null character special file 1:3", "/dev/zero character special file 1:5",
        "/dev/full character special file 1:7", "/dev/random character special file 1:8",
        "/dev/urandom character special file 1:9", "/dev/tty character special file 5:0",
        "/dev/mqueue", "/dev/pts", "/dev/shm"]
    r = run(engine, image, "sh", "-c", "test -c /dev/console && echo console; test -t 1 && echo tty", tty=True)
    assert r.code == 0
    assert r.out.split() == ["console", "tty"]


def test_devices_work_and_host_devices_are_absent(engine, image):
    r = run(engine, image, "sh", "-c", "head -c 4 /dev/zero | wc -c; echo x > /dev/null && echo null-ok;"
            " echo x > /dev/full; ls /dev | grep -c -E '^(sda|vda|mem|kmsg)$'")
    assert r.out.split() == ["4", "null-ok", "0"]
    assert "No space left on device" in r.err


# -- limits ---------------------------------------------------------------------------------------

def test_memory_hog_is_oom_killed_and_reported(engine, image):
    c = engine.containers.create(RunOptions(image=image, command=["sh", "-c", "x=a; while true; do x=$x$x; done"],
                                 memory=16 * 1024 * 1024))
    code, _, _ = read_stream(engine.containers.start_attached(c.id))
    assert code == 137
    info = engine.containers.inspect(c.id)
    assert info["State"]["OOMKilled"] is True
    assert info["State"]["ExitCode"] == 137 and info["State"]["Status"] == "exited"
    assert info["HostConfig"]["Memory"] == 16 * 1024 * 1024
    assert cgroup_dirs(c.id) == []  # removed once the container exited
    engine.containers.remove(c.id)
    assert_nothing_left(engine, c.id)


def test_fork_bomb_stops_at_the_pids_limit(engine, image):
    r = run(engine, image, "sh", "-c", "for i in 1 2 3 4 5 6 7 8 9 10; do sleep 2 & done; echo started; wait",
            pids_limit=5)
    assert "can't fork" in r.err
    assert "started" not in r.out


def test_cpu_burner_stays_near_its_quota(engine, image):
    c = start_detached(engine, image, "sh", "-c", "while :; do :; done", cpus=0.2)
    cg = cgroups.for_container(c.id)
    time.sleep(0.2)
    first, t0 = cg.stats().cpu_usage_ns, time.monotonic()
    time.sleep(1.5)
    used, elapsed = cg.stats().cpu_usage_ns - first, time.monotonic() - t0
    share = used / 1e9 / elapsed
    # A busy loop would take a whole CPU (1.0); the quota is 0.2. Generous bounds: not a timing test.
    assert 0.08 < share < 0.35, f"CPU share {share:.2f} with --cpus 0.2"
    engine.containers.remove(c.id, force=True)
    assert_nothing_left(engine, c.id)


# -- supervision ----------------------------------------------------------------------------------

def monitor_pid(engine: Engine) -> int:
    return int((engine.root / "run" / "monitor.pid").read_text())


def kill_monitor(engine: Engine) -> int:
    pid = monitor_pid(engine)
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: not pid_alive(pid), 5, "the monitor to die")
    return pid


def test_container_outlives_its_monitor_and_is_adopted(engine, image):
    c = start_detached(engine, image, "sh", "-c", "while :; do sleep 0.1; done")
    old = kill_monitor(engine)
    assert pid_alive(c.pid)
    engine.containers.list()  # what `ps` does first: starts a new monitor, which adopts the container
    wait_for(lambda: monitor_pid(engine) != old, 5, "a new monitor")
    assert engine.containers.get(c.id).status == "running" and pid_alive(c.pid)
    code, out, _ = exec_in(engine, c.id, "echo", "still here")
    assert (code, out) == (0, "still here\n")
    engine.containers.stop(c.id, timeout=5)
    assert engine.containers.get(c.id).status == "exited"
    assert not pid_alive(c.pid)
    assert cgroup_dirs(c.id) == []


def test_output_after_a_monitor_restart_still_reaches_the_log(engine, image):
    """The issue: 'written so that containers keep running and keep their output when it restarts'."""
    c = start_detached(engine, image, "sh", "-c", "i=0; while :; do i=$((i+1)); echo tick$i; sleep 0.05; done")
    log = engine.root / "containers" / c.id / "log.json"
    wait_for(lambda: log.exists() and log.stat().st_size > 0, 5, "first output")
    kill_monitor(engine)
    engine.containers.list()  # what `ps` does: a new monitor reconciles the state files first
    before = log.read_text().count("\n")
    time.sleep(0.5)
    after = log.read_text().count("\n")
    engine.containers.remove(c.id, force=True)
    assert after > before, "output written after the monitor restart is lost"


def test_container_that_died_without_a_monitor_shows_exited(engine, image):
    c = start_detached(engine, image, "sleep", "1000")
    kill_monitor(engine)
    os.kill(c.pid, signal.SIGKILL)  # from the host, while nobody supervises it
    wait_for(lambda: not pid_alive(c.pid), 5, "the container to die")
    engine.containers.list()  # what `ps` does: a new monitor reconciles the state files first
    assert engine.containers.list() == []
    after = engine.containers.get(c.id)
    assert after.status == "exited" and after.pid == 0
    assert cgroup_dirs(c.id) == []
    engine.containers.remove(c.id)
    assert_nothing_left(engine, c.id)


# -- CVE-2024-21626 and CVE-2019-5736 ---------------------------------------------------------------

def test_no_host_fd_leaks_into_the_container_or_an_exec(engine, image):
    leak = os.open("/var/tmp", os.O_RDONLY | os.O_DIRECTORY)  # inheritable, in the process that asks
    os.set_inheritable(leak, True)
    try:
        c = start_detached(engine, image, "sleep", "1000")
        for cmd in (["ls", "/proc/1/fd"], ["sh", "-c", "ls /proc/$$/fd; true"]):
            code, out, err = exec_in(engine, c.id, *cmd)
            assert code == 0, err
            assert out.split() == ["0", "1", "2"], cmd
        # Docker's own check: an exec's cwd and fd 3.. must not point into the host.
        code, out, _ = exec_in(engine, c.id, "sh", "-c", "readlink /proc/self/cwd; readlink /proc/1/cwd;"
                                 " ls -l /proc/1/fd")
        assert code == 0
        assert out.splitlines()[:2] == ["/", "/"]
        # fd 1 and 2 of pid 1 are its own output FIFOs (they name a host path, as a pipe names pipe:[N];
        # opening them reaches only that FIFO): nothing else may point into the host.
        targets = [line.split(" -> ")[1] for line in out.splitlines() if " -> " in line]
        assert len(targets) == 3 and targets[0] == "/dev/null"
        assert [t.rsplit("/", 1)[1] for t in targets[1:]] == ["stdout.fifo", "stderr.fifo"]
    finally:
        os.close(leak)
    engine.containers.remove(c.id, force=True)
    r = run(engine, image, "sh", "-c", "ls /proc/$$/fd; true")
    assert r.out.split() == ["0", "1", "2"]


def test_only_container_binaries_are_reachable_through_proc_exe(engine, image):
    c = start_detached(engine, image, "sh", "-c", "while :; do sleep 0.1; done")
    code, out, err = exec_in(engine, c.id, "sh", "-c", "readlink /proc/self/exe; for p in /proc/[0-9]*; do"
                             " readlink $p/exe; done")
    assert code == 0, err
    assert set(out.split()) == {"/bin/busybox"}
    # The engine's python (the monitor, the exec helper) is no process of the container's.
    code, out, _ = exec_in(engine, c.id, "sh", "-c", "cat /proc/[0-9]*/cmdline | tr '\\0' ' '")
    assert "python" not in out and "tuiker" not in out
    engine.containers.remove(c.id, force=True)
    assert_nothing_left(engine, c.id)


# -- restart policies -------------------------------------------------------------------------------

def test_on_failure_restarts_exactly_n_times(engine, image):
    c = start_detached(engine, image, "sh", "-c", "echo run; exit 1", restart="on-failure:2")
    wait_for(lambda: state(engine, c.id).get("RestartCount") == 2 and state(engine, c.id)["Status"] == "exited",
             10, "two restarts then exited")
    time.sleep(0.5)  # a third restart would come after 0.4 s of back-off
    s = state(engine, c.id)
    assert (s["Status"], s["RestartCount"], s["ExitCode"]) == ("exited", 2, 1)
    assert engine.containers.inspect(c.id)["RestartCount"] == 2
    log = (engine.root / "containers" / c.id / "log.json").read_text().splitlines()
    assert [json.loads(line)["log"] for line in log] == ["run\n"] * 3


def test_always_restarts_with_back_off_and_stop_ends_it(engine, image):
    c = start_detached(engine, image, "sh", "-c", "exit 0", restart="always")
    t0 = time.monotonic()
    wait_for(lambda: state(engine, c.id).get("RestartCount", 0) >= 4, 10, "four restarts")
    # Back-off doubles from 100 ms (the count grows when a restart is scheduled): the fourth comes after at
    # least 0.1 + 0.2 + 0.4 s, not in a hot loop.
    assert time.monotonic() - t0 > 0.6
    engine.containers.stop(c.id, timeout=1)
    count = state(engine, c.id)["RestartCount"]
    time.sleep(1.0)  # longer than the next back-off step at this count (0.8 s)
    s = state(engine, c.id)
    assert s["Status"] == "exited", f"still {s['Status']} after stop"
    assert s["RestartCount"] == count


def test_rm_force_removes_a_restarting_container(engine, image):
    c = start_detached(engine, image, "sh", "-c", "exit 1", restart="always")
    wait_for(lambda: state(engine, c.id).get("RestartCount", 0) >= 3
             and state(engine, c.id)["Status"] == "restarting", 10, "a container waiting to restart")
    engine.containers.remove(c.id, force=True)
    assert_nothing_left(engine, c.id)


# -- failure paths ------------------------------------------------------------------------------------

@pytest.mark.parametrize("cmd, opts, code, message", [
    (["nosuch"], {}, 127, 'exec: "nosuch": executable file not found in $PATH'),
    (["/etc/passwd"], {}, 126, "permission denied"),
    (["id"], {"user": "nobody-here"}, 126, "nobody-here"),
    (["true"], {"workdir": "/etc/passwd/sub"}, 126, "working directory"),
])
def test_a_failed_start_leaves_nothing_behind(engine, image, cmd, opts, code, message):
    r = run(engine, image, *cmd, **opts)
    assert r.code == code
    assert message in r.err and "\n" not in r.err.strip()
    assert_nothing_left(engine, r.id)
    assert engine.containers.list(all=True) == []


def test_a_failed_start_without_rm_keeps_a_created_container_and_no_cgroup(engine, image):
    r = run(engine, image, "nosuch", auto_remove=False)
    assert r.code == 127
    c = engine.containers.get(r.id)
    assert c.status == "created" and c.pid == 0
    assert cgroup_dirs(r.id) == [] and mounts_mentioning(r.id) == []
    engine.containers.remove(r.id)
    assert_nothing_left(engine, r.id)


def test_exec_runs_in_the_containers_namespaces_cgroup_and_hardening(engine, image):
    c = start_detached(engine, image, "sh", "-c", "echo hello > /tmp/greeting; while :; do sleep 0.1; done",
                       hostname="box")
    wait_for(lambda: exec_in(engine, c.id, "cat", "/tmp/greeting")[1] == "hello\n", 5, "the container's file")
    code, out, err = exec_in(engine, c.id, "sh", "-c", "hostname; cat /proc/self/cgroup; grep -E"
                             " '^(CapEff|NoNewPrivs|Seccomp):' /proc/self/status; ps -o pid | wc -l")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == "box"
    for line in lines[1:-4]:
        # A cgroup namespace rooted at the container's cgroup: every hierarchy shows "/".
        assert line.endswith(":/"), line
    st = status_fields("\n".join(lines[-4:-1]))
    assert int(st["CapEff"], 16) == DOCKER_DEFAULT_CAPS and st["Seccomp"] == "2" and st["NoNewPrivs"] == "0"
    assert int(lines[-1]) <= 6  # header, pid 1, its sleep, the exec's sh, ps and wc
    pids = cgroups.for_container(c.id).pids()
    assert c.pid in pids
    code, out, _ = exec_in(engine, c.id, "id", user="app", workdir="/home/app")
    assert (code, out.strip()) == (0, "uid=1000(app) gid=1000(app)")
    assert exec_in(engine, c.id, "sh", "-c", "exit 7")[0] == 7
    code, _, err = exec_in(engine, c.id, "nosuch")
    assert code == 127 and "executable file not found in $PATH" in err
    engine.containers.remove(c.id, force=True)
    assert_nothing_left(engine, c.id)


def test_removing_a_running_container_kills_every_process_in_it(engine, image):
    c = start_detached(engine, image, "sh", "-c", "sleep 1000 & sleep 1000 & while :; do sleep 0.1; done")
    cg = cgroups.for_container(c.id)
    pids = wait_for(lambda: len(cg.pids()) >= 3 and cg.pids(), 5, "three processes")
    engine.containers.remove(c.id, force=True)
    for pid in pids:
        wait_for(lambda pid=pid: not pid_alive(pid), 5, f"pid {pid} to die")
    assert_nothing_left(engine, c.id)
    assert re.fullmatch(r"[0-9a-f]{64}", c.id)


def test_attach_before_start_gets_the_first_byte_and_early_input(engine, image):
    """attach(next_start=True) on a container that does not run waits for its next start (docker's API attach,
    which `docker run` sends before the start): nothing it writes first is lost, input sent before it runs is
    read, and a client that left before the start is simply not there."""
    c = engine.containers.create(RunOptions(image=image, command=["sh", "-c", "echo first; echo err >&2; exit 4"]))
    gone_early = engine.containers.attach(c.id, next_start=True)
    gone_early.close()
    session = engine.containers.attach(c.id, next_start=True)
    engine.containers.start(c.id)
    assert read_stream(session) == (4, "first\n", "err\n")
    # Attached again while exited: the next start (a restart) streams to it too.
    session = engine.containers.attach(c.id, next_start=True)
    engine.containers.start(c.id)
    assert read_stream(session) == (4, "first\n", "err\n")
    engine.containers.remove(c.id)

    c = engine.containers.create(RunOptions(image=image, command=["cat"], interactive=True))
    session = engine.containers.attach(c.id, next_start=True)
    session.send(b"typed before the start\n")
    session.close_stdin()
    engine.containers.start(c.id)
    assert read_stream(session) == (0, "typed before the start\n", "")
    engine.containers.remove(c.id)

    # Removed before any start: the attach's stream ends, a wait hears the last exit code.
    import threading

    c = engine.containers.create(RunOptions(image=image, command=["true"]))
    session = engine.containers.attach(c.id, next_start=True)
    codes = []
    waiter = threading.Thread(target=lambda: codes.append(engine.containers.wait(c.id, next_exit=True)))
    waiter.start()
    time.sleep(0.3)  # the wait is with the monitor before the removal
    engine.containers.remove(c.id)
    waiter.join(10)
    assert codes == [0]
    while not session.done:
        session.read()
    assert session.exit_code is None
    session.close()
    with pytest.raises(TuikerError, match="cannot attach to a stopped container"):
        c = engine.containers.create(RunOptions(image=image, command=["true"]))
        try:
            engine.containers.attach(c.id)
        finally:
            engine.containers.remove(c.id)


def test_wait_next_exit_before_start_hears_a_removed_containers_code(engine, image):
    """wait(next_exit=True) sent before the start (as `docker run --rm` does) gets the exit code of the run that
    follows, though --rm removes the container at that exit; a start that fails is its exit."""
    import threading

    c = engine.containers.create(RunOptions(image=image, command=["sh", "-c", "exit 3"], auto_remove=True))
    codes = []
    waiter = threading.Thread(target=lambda: codes.append(engine.containers.wait(c.id, next_exit=True)))
    waiter.start()
    time.sleep(0.3)  # the wait is with the monitor before the start (it has no reply to show it until the exit)
    engine.containers.start(c.id)
    waiter.join(20)
    assert codes == [3]
    wait_for(lambda: c.id not in [x.id for x in engine.containers.list(all=True)], 10, "the --rm container to go")

    c = engine.containers.create(RunOptions(image=image, command=["/no/such/program"]))
    waiter = threading.Thread(target=lambda: codes.append(engine.containers.wait(c.id, next_exit=True)))
    waiter.start()
    time.sleep(0.3)
    with pytest.raises(ContainerStartError):
        engine.containers.start(c.id)
    waiter.join(20)
    assert codes == [3, 127]
    engine.containers.remove(c.id)
