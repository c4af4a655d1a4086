"""The container commands end to end through the CLI, as a user types them: run, exec, logs, ps, stop, kill,
pause, restart, rename, wait, rm, prune, diff, top, stats. Real containers on the real kernel."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from conftest import ok, one_line_error, run_tuiker, wait_for

from tuiker.base.errors import TuikerError
from tuiker.engine import Engine, RunOptions

HEX64 = re.compile(r"[0-9a-f]{64}")


def container_dirs(engine_root: Path) -> list[str]:
    try:
        return sorted(os.listdir(engine_root / "containers"))
    except FileNotFoundError:
        return []


def run_detached(tuiker, *args: str) -> str:
    cid = ok(tuiker("run", "-d", *args)).strip()
    assert HEX64.fullmatch(cid), cid
    return cid


def state(engine_root: Path, ref: str) -> dict:
    return Engine(engine_root).containers.get(ref).state


def cgroup_dirs(cid: str) -> list[Path]:
    return list(Path("/sys/fs/cgroup").glob(f"*/tuiker/{cid}")) + list(Path("/sys/fs/cgroup").glob(f"tuiker/{cid}"))


def log_lines(engine_root: Path, cid: str) -> list[str]:
    path = engine_root / "containers" / cid / "log.json"
    try:
        return [json.loads(line)["log"] for line in path.read_text().splitlines()]
    except FileNotFoundError:
        return []


# -- image config and the command line --------------------------------------------------------------

def test_env_env_file_and_workdir(tuiker, image, tmp_path):
    env_file = tmp_path / "vars.env"
    env_file.write_text("# a comment\nA=1\n\nB=two words\nFOO=from-file\n")
    out = ok(tuiker("run", "--rm", "-e", "FOO=bar", "--env-file", str(env_file), "-e", "PATH=/bin:/usr/bin",
                    "-w", "/made/by/workdir", image, "sh", "-c", "pwd; env | sort"))
    lines = out.splitlines()
    assert lines[0] == "/made/by/workdir"  # created when missing, as docker does
    env = dict(line.split("=", 1) for line in lines[1:])
    assert env["A"] == "1" and env["B"] == "two words"
    assert env["FOO"] == "from-file"  # --env-file comes after -e: the later wins
    assert env["PATH"] == "/bin:/usr/bin" and env["HOME"] == "/root"
    assert len(env["HOSTNAME"]) == 12
    # Without -e, the image's Env.
    out = ok(tuiker("run", "--rm", image, "sh", "-c", "echo $PATH"))
    assert out.strip() == "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@pytest.mark.parametrize("user, expected", [
    ("1000", "uid=1000(app) gid=1000(app)"),
    ("app", "uid=1000(app) gid=1000(app)"),
    ("app:root", "uid=1000(app) gid=0(root)"),
    ("1234:5678", "uid=1234 gid=5678"),
])
def test_user_option(tuiker, image, user, expected):
    assert ok(tuiker("run", "--rm", "-u", user, image, "id")).strip() == expected


def test_bad_user_is_one_line_126_and_leaves_nothing(tuiker, image, engine_root):
    r = tuiker("run", "--rm", "-u", "nosuchuser", image, "id")
    assert r.returncode == 126
    assert "nosuchuser" in one_line_error(r)
    assert ok(tuiker("ps", "-a", "-q")) == ""
    assert container_dirs(engine_root) == []


def test_entrypoint_and_cmd_rules(tuiker, image):
    assert ok(tuiker("run", "--rm", "--entrypoint", "echo", image, "hi", "there")) == "hi there\n"
    assert ok(tuiker("run", "--rm", "--entrypoint", "echo", image)) == "\n"  # --entrypoint drops the image's Cmd
    assert ok(tuiker("run", "--rm", image, "echo", "a", "b")) == "a b\n"  # the command replaces Cmd
    assert ok(tuiker("run", "--rm", image)) == ""  # the image's Cmd: sh, reading an empty stdin
    assert ok(tuiker("run", "--rm", "-i", image, input="echo from-stdin\n")) == "from-stdin\n"


@pytest.mark.parametrize("source", ["devnull", "file"])
def test_interactive_run_reads_stdin_from_a_file_or_dev_null(engine_root, image, tmp_path, source):
    """`tuiker run -i IMAGE < file` (or < /dev/null, as in cron or CI): docker reads it; epoll cannot
    watch a regular file or /dev/null, so the relay must not insist on polling it."""
    script = tmp_path / "script.sh"
    script.write_text("echo from-file\n")
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parent.parent))
    with open(os.devnull if source == "devnull" else script, "rb") as stdin:
        r = subprocess.run([sys.executable, "-m", "tuiker", "run", "--rm", "-i", image, "sh"], stdin=stdin,
                           capture_output=True, text=True, timeout=30, env=env)
    assert "Traceback" not in r.stderr
    assert (r.returncode, r.stdout) == (0, "" if source == "devnull" else "from-file\n"), r.stderr
    assert run_tuiker("ps", "-a", "-q").stdout == ""


# -- exit codes ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("cmd, code, message", [
    (["sh", "-c", "exit 3"], 3, None),
    (["nosuch"], 127, 'exec: "nosuch": executable file not found in $PATH'),
    (["/etc/passwd"], 126, "permission denied"),
    (["/etc"], 126, "is a directory"),
])
def test_exit_codes_propagate_and_rm_leaves_nothing(tuiker, image, engine_root, cmd, code, message):
    r = tuiker("run", "--rm", image, *cmd)
    assert r.returncode == code
    if message:
        assert message in one_line_error(r)
    else:
        assert r.stderr == ""
    assert ok(tuiker("ps", "-a", "-q")) == ""
    assert container_dirs(engine_root) == []
    assert [p for p in Path("/sys/fs/cgroup").glob("*/tuiker/*") if p.is_dir()
            and (engine_root / "containers" / p.name).exists()] == []


def test_exited_container_keeps_its_exit_code(tuiker, image):
    r = tuiker("run", "--name", "three", image, "sh", "-c", "exit 3")
    assert r.returncode == 3
    assert re.fullmatch(r"Exited \(3\) .* ago", ok(tuiker("ps", "-a", "--format", "{{.Status}}")).strip())
    info = json.loads(ok(tuiker("inspect", "three")))[0]
    assert info["State"]["ExitCode"] == 3 and info["State"]["Status"] == "exited"
    assert info["State"]["Pid"] == 0 and info["Name"] == "/three"
    assert ok(tuiker("wait", "three")).strip() == "3"


@pytest.mark.parametrize("flags", [
    ["-m", "foo"], ["-m", "1k"], ["--cpus", "-1"], ["--cpus", "abc"], ["--cpus", "1000"], ["--restart", "bogus"],
    ["--restart", "always:3"], ["--cap-add", "BOGUS"], ["--security-opt", "apparmor=x"], ["--network", "nope"],
    ["--rm", "--restart", "always"],
])
def test_invalid_values_are_rejected_without_creating_anything(tuiker, image, engine_root, flags):
    r = tuiker("run", *flags, image, "true")
    assert r.returncode in (1, 125)
    assert one_line_error(r).startswith("Error: ")
    assert container_dirs(engine_root) == []


# -- lifecycle ----------------------------------------------------------------------------------------

def test_detached_run_ps_and_logs(tuiker, image, engine_root):
    cid = run_detached(tuiker, "--name", "talker", image, "sh", "-c",
                       "echo one; echo two >&2; sleep 0.1; echo three; sleep 1000")
    wait_for(lambda: len(log_lines(engine_root, cid)) == 3, 5, "three log lines")
    table = ok(tuiker("ps")).splitlines()
    assert table[0].split() == ["CONTAINER", "ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "PORTS", "NAMES"]
    assert len(table) == 2
    assert table[1].startswith(cid[:12] + " ") and table[1].endswith("talker") and " Up " in table[1]
    assert ok(tuiker("ps", "-q")).split() == [cid[:12]]
    assert ok(tuiker("ps", "-q", "--no-trunc")).split() == [cid]
    assert ok(tuiker("ps", "-q", "--filter", "status=exited")) == ""
    assert ok(tuiker("ps", "-q", "--filter", "name=talk")).split() == [cid[:12]]

    logs = tuiker("logs", "talker")
    assert (logs.stdout, logs.stderr) == ("one\nthree\n", "two\n")
    assert ok(tuiker("logs", "--tail", "1", cid[:8])) == "three\n"
    stamped = ok(tuiker("logs", "-t", "talker")).splitlines()
    assert [line.split(" ", 1)[1] for line in stamped] == ["one", "three"]
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z", line.split()[0]) for line in stamped)
    ok(tuiker("rm", "-f", "talker"))


def test_logs_follow_ends_when_the_container_exits(tuiker, image):
    cid = run_detached(tuiker, image, "sh", "-c", "for i in 1 2 3; do echo n$i; sleep 0.2; done")
    t0 = time.monotonic()
    r = tuiker("logs", "-f", cid, timeout=10)
    assert ok(r) == "n1\nn2\nn3\n"
    assert time.monotonic() - t0 < 5


def test_killing_the_attached_cli_does_not_stop_the_container(engine_root, image):
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parent.parent))
    cli = subprocess.Popen([sys.executable, "-m", "tuiker", "run", "--name", "survivor", image, "sh", "-c",
                            "while :; do echo tick; sleep 0.1; done"], env=env, stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert cli.stdout.readline() == b"tick\n"
    finally:
        cli.kill()
        cli.communicate(timeout=10)
    before = len(log_lines(engine_root, Engine(engine_root).containers.get("survivor").id))
    time.sleep(0.3)
    s = state(engine_root, "survivor")
    assert s["Status"] == "running" and os.path.exists(f"/proc/{s['Pid']}")
    assert len(log_lines(engine_root, Engine(engine_root).containers.get("survivor").id)) > before  # still logged
    assert ok(run_tuiker("rm", "-f", "survivor")).strip() == "survivor"


def test_exec_sees_the_same_processes_and_files(tuiker, image):
    run_detached(tuiker, "--name", "box", image, "sh", "-c", "while :; do sleep 0.1; done")
    ok(tuiker("exec", "box", "sh", "-c", "echo written-by-exec > /tmp/shared"))
    assert ok(tuiker("exec", "box", "cat", "/tmp/shared")) == "written-by-exec\n"
    ps = ok(tuiker("exec", "box", "ps", "-o", "pid,args")).splitlines()
    assert ps[1].split(None, 1) == ["1", "sh -c while :; do sleep 0.1; done"]
    assert ok(tuiker("exec", "-e", "X=y", "-w", "/tmp", "-u", "app", "box", "sh", "-c", "echo $X $(pwd) $(id -u)")) \
        == "y /tmp 1000\n"
    assert tuiker("exec", "box", "sh", "-c", "exit 9").returncode == 9
    missing = tuiker("exec", "box", "nosuch")
    assert missing.returncode == 127
    assert "executable file not found in $PATH" in one_line_error(missing)
    assert tuiker("exec", "box", "/etc/passwd").returncode == 126
    ok(tuiker("rm", "-f", "box"))
    gone = tuiker("exec", "box", "true")
    assert gone.returncode != 0 and "No such container: box" in one_line_error(gone)


def test_stop_waits_for_the_timeout_then_kills_a_process_ignoring_sigterm(tuiker, image, engine_root):
    cid = run_detached(tuiker, image, "sh", "-c", "trap '' TERM; echo ready; while :; do sleep 0.1; done")
    wait_for(lambda: log_lines(engine_root, cid) == ["ready\n"], 5, "the trap to be set")
    t0 = time.monotonic()
    assert ok(tuiker("stop", "-t", "1", cid)).strip() == cid
    took = time.monotonic() - t0
    assert 1.0 <= took < 4, f"stop took {took:.2f} s with -t 1"
    s = state(engine_root, cid)
    assert (s["Status"], s["ExitCode"]) == ("exited", 137)
    assert ok(tuiker("wait", cid)).strip() == "137"


def test_stop_is_quick_for_a_cooperative_process(tuiker, image, engine_root):
    cid = run_detached(tuiker, image, "sh", "-c",
                       "trap 'echo bye; exit 143' TERM; echo ready; while :; do sleep 0.1; done")
    wait_for(lambda: log_lines(engine_root, cid) == ["ready\n"], 5, "the trap to be set")
    t0 = time.monotonic()
    ok(tuiker("stop", cid))  # default timeout 10 s
    assert time.monotonic() - t0 < 3
    assert state(engine_root, cid)["ExitCode"] == 143
    assert log_lines(engine_root, cid) == ["ready\n", "bye\n"]
    assert re.fullmatch(r"Exited \(143\) .* ago", ok(tuiker("ps", "-a", "--format", "{{.Status}}")).strip())


def test_kill_sends_the_signal(tuiker, image, engine_root):
    cid = run_detached(tuiker, image, "sh", "-c", "trap 'echo got-usr1' USR1; echo ready; while :; do sleep 0.1; done")
    wait_for(lambda: log_lines(engine_root, cid) == ["ready\n"], 5, "the trap to be set")
    ok(tuiker("kill", "-s", "USR1", cid))
    wait_for(lambda: "got-usr1\n" in log_lines(engine_root, cid), 5, "the USR1 trap")
    assert state(engine_root, cid)["Status"] == "running"
    ok(tuiker("kill", cid))  # SIGKILL by default
    assert ok(tuiker("wait", cid)).strip() == "137"
    bad = tuiker("kill", cid)
    assert bad.returncode == 1 and "is not running" in one_line_error(bad)


def test_pause_freezes_and_unpause_resumes(tuiker, image, engine_root):
    cid = run_detached(tuiker, image, "sh", "-c", "i=0; while :; do i=$((i+1)); echo $i > /tmp/count; usleep 20000;"
                       " done")
    counter = engine_root / "containers" / cid / "upper" / "tmp" / "count"  # the overlay's upper dir, seen from here

    def count() -> int:
        text = counter.read_text().strip() if counter.exists() else ""
        return int(text) if text else 0

    wait_for(lambda: count() > 2, 5, "the counter to run")
    ok(tuiker("pause", cid))
    assert state(engine_root, cid)["Status"] == "paused"
    assert ok(tuiker("ps", "--format", "{{.Status}}")).strip().endswith("(Paused)")
    frozen = count()
    time.sleep(0.3)
    assert count() == frozen, "the counter advanced while paused"
    ok(tuiker("unpause", cid))
    assert state(engine_root, cid)["Status"] == "running"
    wait_for(lambda: count() > frozen + 2, 5, "the counter to advance after unpause")
    ok(tuiker("rm", "-f", cid))


def test_exec_into_a_paused_container_says_it_is_paused(tuiker, image):
    cid = run_detached(tuiker, image, "sleep", "1000")
    ok(tuiker("pause", cid))
    r = tuiker("exec", cid, "true")
    assert r.returncode != 0
    assert "paused" in one_line_error(r)  # docker: "Container X is paused, unpause the container before exec"
    ok(tuiker("rm", "-f", cid))


def test_restart_rename_and_wait(tuiker, image, engine_root):
    cid = run_detached(tuiker, "--name", "first", image, "sh", "-c", "trap 'exit 0' TERM; while :; do sleep 0.1; done")
    before = state(engine_root, cid)
    ok(tuiker("restart", "-t", "2", "first"))
    after = state(engine_root, cid)
    assert after["Status"] == "running"
    assert after["Pid"] != before["Pid"] and after["StartedAt"] > before["StartedAt"]

    ok(tuiker("rename", "first", "second"))
    assert ok(tuiker("ps", "--format", "{{.Names}}")).split() == ["second"]
    missing = tuiker("inspect", "first")
    assert missing.returncode == 1 and "No such object: first" in one_line_error(missing)

    other = run_detached(tuiker, image, "sh", "-c", "sleep 0.3; exit 4")
    t0 = time.monotonic()
    assert ok(tuiker("wait", other)).strip() == "4"
    assert time.monotonic() - t0 < 5
    ok(tuiker("rm", "-f", "second"))


def test_rm_refuses_a_running_container_without_force_and_prune_removes_stopped(tuiker, image, engine_root):
    running = run_detached(tuiker, "--name", "busy", image, "sleep", "1000")
    refused = tuiker("rm", "busy")
    assert refused.returncode == 1 and "You cannot remove a running container" in one_line_error(refused)
    assert state(engine_root, running)["Status"] == "running"

    stopped = [run_detached(tuiker, image, "true") for _ in range(2)]
    for cid in stopped:
        assert ok(tuiker("wait", cid)).strip() == "0"
    created = ok(tuiker("create", image, "true")).strip()
    out = ok(tuiker("container", "prune", "-f"))
    assert out.startswith("Deleted Containers:\n")
    assert set(out.split()) >= {*stopped, created}
    assert ok(tuiker("ps", "-a", "-q", "--no-trunc")).split() == [running]

    ok(tuiker("rm", "-f", "busy"))
    assert ok(tuiker("ps", "-a", "-q")) == ""
    assert container_dirs(engine_root) == []
    assert cgroup_dirs(running) == []


def test_name_conflict_and_id_prefix_errors(tuiker, image, engine_root):
    first = ok(tuiker("create", "--name", "taken", image, "true")).strip()
    clash = tuiker("create", "--name", "taken", image, "true")
    assert clash.returncode == 125 and 'The container name "/taken" is already in use' in one_line_error(clash)
    assert len(container_dirs(engine_root)) == 1

    # 17 containers: two of them must share a first hex digit.
    engine = Engine(engine_root)
    ids = [first] + [engine.containers.create(RunOptions(image=image, command=["true"])).id for _ in range(16)]
    assert len(set(ids)) == 17
    names = ok(tuiker("ps", "-a", "--format", "{{.Names}}")).split()
    assert len(set(names)) == 17 and all(re.fullmatch(r"[a-z]+_[a-z]+", n) for n in names if n != "taken")
    assert sorted(ok(tuiker("ps", "-a", "-q")).split()) == sorted(i[:12] for i in ids)

    shared = next(ch for ch in "0123456789abcdef" if sum(i.startswith(ch) for i in ids) > 1)
    ambiguous = tuiker("rm", shared)
    assert ambiguous.returncode == 1 and "ambiguous" in one_line_error(ambiguous)
    unique = next(i for i in ids if sum(j.startswith(i[:6]) for j in ids) == 1)
    assert ok(tuiker("inspect", "-f", "{{.Id}}", unique[:6])).strip() == unique
    unknown = tuiker("rm", "nosuchcontainer")
    assert unknown.returncode == 1 and one_line_error(unknown) == "Error: No such container: nosuchcontainer"
    assert len(container_dirs(engine_root)) == 17
    with pytest.raises(TuikerError):
        engine.containers.get(shared)


@pytest.mark.skipif(not shutil.which("tini-static"), reason="--init needs Debian's tini (tests/run installs it)")
def test_init_is_pid_1_reaps_orphans_and_passes_signals_on(tuiker, image, engine_root):
    """--init: tini (Debian's tini-static, bound at /sbin/docker-init as docker does) runs as pid 1, the
    command as its child; a shell that is pid 1 ignores SIGTERM, under tini it gets it; and no trace in diff."""
    r = tuiker("run", "--rm", "--init", image, "sh", "-c", "cat /proc/1/cmdline | tr '\\0' ' '; echo; echo $$; exit 3")
    assert r.returncode == 3, r.stderr  # the command's exit code, passed on by tini
    pid1, shell_pid = r.stdout.splitlines()
    assert pid1.split()[:3] == ["/sbin/docker-init", "--", "sh"] and shell_pid != "1"
    # Orphans are reaped: a background child outlives its parent shell and no zombie stays behind.
    cid = run_detached(tuiker, "--init", image, "sh", "-c", "sh -c 'sleep 0.2 &'; echo ready; sleep 100")
    wait_for(lambda: log_lines(engine_root, cid) == ["ready\n"], 5, "the container to start")
    time.sleep(0.5)
    stats = ok(tuiker("exec", cid, "sh", "-c", "cat /proc/[0-9]*/stat")).splitlines()
    assert not [line for line in stats if line.split(") ")[1].startswith("Z")], stats
    t0 = time.monotonic()
    ok(tuiker("stop", cid))  # `sleep` as pid 1 would ignore SIGTERM and take the 10 s timeout
    assert time.monotonic() - t0 < 3
    assert state(engine_root, cid)["ExitCode"] == 143
    assert ok(tuiker("diff", cid)) == ""


def test_diff_lists_added_changed_and_deleted_paths(tuiker, image):
    ok(tuiker("run", "--name", "changer", image, "sh", "-c",
              "touch /newfile; rm /etc/passwd; echo x >> /etc/group; mkdir -p /a/b"))
    lines = ok(tuiker("diff", "changer")).splitlines()
    assert {"A /newfile", "D /etc/passwd", "C /etc", "C /etc/group", "A /a", "A /a/b"} <= set(lines)


def test_diff_lists_only_what_the_container_changed(tuiker, image):
    """The engine's own mount points (/etc/hostname, /etc/hosts, /etc/resolv.conf) are no change of the
    container's: docker keeps them in an init layer, out of `docker diff`."""
    ok(tuiker("run", "--name", "quiet", image, "true"))
    assert ok(tuiker("diff", "quiet")) == ""


def test_top_and_stats(tuiker, image, engine_root):
    cid = run_detached(tuiker, "--name", "watched", "-m", "64m", image, "sh", "-c", "sleep 1000 & wait")
    wait_for(lambda: len(ok(tuiker("top", "watched")).splitlines()) == 3, 5, "two processes in top")
    top = ok(tuiker("top", "watched")).splitlines()
    assert top[0].split() == ["UID", "PID", "PPID", "C", "STIME", "TIME", "CMD"]
    pid = state(engine_root, cid)["Pid"]
    rows = [line.split() for line in top[1:]]
    assert {r[1] for r in rows} >= {str(pid)}
    assert any(" ".join(r[6:]) == "sleep 1000" and r[2] == str(pid) for r in rows)

    stats = ok(tuiker("stats", "--no-stream")).splitlines()
    assert "MEM USAGE / LIMIT" in stats[0]
    assert len(stats) == 2 and stats[1].split()[:2] == [cid[:12], "watched"]
    assert "/ 64MiB" in stats[1]  # docker's stats: binary units (go-units BytesSize)
    assert stats[1].split()[-1] == "2"  # PIDS
    ok(tuiker("rm", "-f", "watched"))
    stopped = tuiker("top", cid)
    assert stopped.returncode == 1


# -- scale ----------------------------------------------------------------------------------------------

def _mountinfo() -> set[str]:
    with open("/proc/self/mountinfo") as f:
        return set(f)


def test_twenty_concurrent_runs_then_nothing_left(tuiker, image, engine_root):
    mounts_before = _mountinfo()
    containers_before = container_dirs(engine_root)
    with ThreadPoolExecutor(20) as pool:
        results = list(pool.map(lambda _: run_tuiker("run", "-d", image, "sleep", "1000", timeout=60), range(20)))
    failures = [(r.returncode, r.stderr) for r in results if r.returncode != 0]
    assert failures == []
    ids = [r.stdout.strip() for r in results]
    assert all(HEX64.fullmatch(i) for i in ids) and len(set(ids)) == 20
    names = ok(tuiker("ps", "--format", "{{.Names}}")).split()
    assert len(names) == 20 and len(set(names)) == 20
    assert all(state(engine_root, i)["Status"] == "running" for i in ids)

    removed = tuiker("rm", "-f", *ids, timeout=60)
    assert ok(removed).split() == ids
    assert container_dirs(engine_root) == containers_before
    assert [cid for cid in ids if cgroup_dirs(cid)] == []
    new_mounts = [m for m in _mountinfo() - mounts_before if str(engine_root) in m or any(i in m for i in ids)]
    assert new_mounts == []


def test_exec_with_stdin_at_its_end_never_fails_on_the_monitors_hang_up(tuiker, image, engine_root):
    """`exec -i` with stdin /dev/null (compose exec -T in a script): the end of the input may be sent after the
    process ended and the monitor hung up. That is no error (it was `Error: [Errno 32] Broken pipe`, exit 125, in
    about one run in seven before Session ignored it): the exit code is still on the stream."""
    run_detached(tuiker, "--name", "box", image, "sleep", "300")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(Path(__file__).parent.parent),
                                                                       os.environ.get("PYTHONPATH")]))}
    for _ in range(20):
        r = subprocess.run([sys.executable, "-m", "tuiker", "exec", "-i", "box", "cat", "/etc/hostname"],
                           stdin=subprocess.DEVNULL, capture_output=True, text=True, env=env, timeout=60)
        assert (r.returncode, r.stderr) == (0, ""), r.stderr
