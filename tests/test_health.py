"""Health checks (HEALTHCHECK, --health-*), run by the monitor as execs in real containers, and the flags that came
with them: --add-host, --dns, --stop-signal. Intervals are short (100-300 ms) so each test takes seconds; every
wait is a poll with a generous deadline, never a timing assert."""

from __future__ import annotations

import json
import os
import signal

import imagebuilder
import pytest
from conftest import ok, one_line_error, read_stream, wait_for
from registry import push

from tuiker.engine import Engine

MS = 1_000_000


def run_detached(tuiker, *args: str) -> str:
    return ok(tuiker("run", "-d", *args)).strip()


def inspect(tuiker, cid: str) -> dict:
    return json.loads(ok(tuiker("inspect", cid)))[0]


def health(tuiker, cid: str) -> dict:
    return inspect(tuiker, cid)["State"].get("Health") or {}


def wait_status(tuiker, cid: str, status: str, timeout: float = 20) -> dict:
    return wait_for(lambda: (h := health(tuiker, cid)).get("Status") == status and h, timeout, f"health {status}")


def container_dirs(root) -> list[str]:
    try:
        return os.listdir(root / "containers")
    except FileNotFoundError:
        return []


@pytest.fixture
def health_image(registry, busybox_image, engine_root) -> str:
    """busybox with a HEALTHCHECK (CMD test -e /tmp/ok, every 100 ms) and StopSignal SIGUSR1, pulled into the root."""
    _, busybox = busybox_image
    image = imagebuilder.build_image(busybox.layers, compression="gzip", cmd=["sh"], config_extra={
        "Healthcheck": {"Test": ["CMD", "test", "-e", "/tmp/ok"], "Interval": 100 * MS, "Retries": 2},
        "StopSignal": "SIGUSR1"})
    push(registry, "test/healthy", "latest", image)
    ref = f"{registry.host}/test/healthy:latest"
    Engine(engine_root).images.pull(ref)
    return ref


# -- the checks ------------------------------------------------------------------------------------

def test_health_cmd_goes_from_starting_to_healthy_and_shows_everywhere(tuiker, image, engine_root):
    cid = run_detached(tuiker, "--health-cmd", "test -e /tmp/ok", "--health-interval", "100ms",
                       "--health-retries", "1000", image, "sleep", "600")
    doc = inspect(tuiker, cid)
    assert doc["Config"]["Healthcheck"] == {"Test": ["CMD-SHELL", "test -e /tmp/ok"], "Interval": 100 * MS,
                                            "Retries": 1000}
    assert doc["State"]["Health"]["Status"] == "starting"  # failures of a check that never succeeded: still starting
    assert "(health: starting)" in ok(tuiker("ps", "--format", "{{.Status}}"))
    assert ok(tuiker("ps", "-q", "--no-trunc", "--filter", "health=starting")).split() == [cid]
    ok(tuiker("exec", cid, "touch", "/tmp/ok"))
    h = wait_status(tuiker, cid, "healthy")
    assert h["FailingStreak"] == 0 and h["Log"][-1]["ExitCode"] == 0 and len(h["Log"]) <= 5
    assert all(set(entry) == {"Start", "End", "ExitCode", "Output"} for entry in h["Log"])
    assert ok(tuiker("ps", "--format", "{{.Status}}")).strip().endswith("(healthy)")
    assert ok(tuiker("inspect", "-f", "{{.State.Health.Status}}", cid)).strip() == "healthy"
    assert Engine(engine_root).containers.get(cid).health == "healthy"
    assert ok(tuiker("ps", "-q", "--filter", "health=unhealthy")) == ""


def test_failing_check_turns_unhealthy_after_its_retries_with_its_output(tuiker, image, engine_root):
    cid = run_detached(tuiker, "--health-cmd", "echo out; echo err >&2; exit 3", "--health-interval", "100ms",
                       "--health-retries", "2", image, "sleep", "600")
    plain = run_detached(tuiker, image, "sleep", "600")
    h = wait_status(tuiker, cid, "unhealthy")
    assert h["FailingStreak"] >= 2
    assert h["Log"][-1]["ExitCode"] == 3 and h["Log"][-1]["Output"] == "out\nerr\n"
    wait_for(lambda: len(health(tuiker, cid)["Log"]) == 5, 20, "five log entries")
    assert len(health(tuiker, cid)["Log"]) == 5  # never more than docker's last five
    assert ok(tuiker("ps", "--format", "{{.Status}}", "--filter", f"id={cid}")).strip().endswith("(unhealthy)")
    assert ok(tuiker("ps", "-q", "--no-trunc", "--filter", "health=unhealthy")).split() == [cid]
    assert ok(tuiker("ps", "-q", "--no-trunc", "--filter", "health=none")).split() == [plain]
    assert Engine(engine_root).containers.get(plain).health is None


def test_a_check_that_hangs_is_killed_at_its_timeout_and_fails(tuiker, image):
    cid = run_detached(tuiker, "--health-cmd", "echo started; exec sleep 1000", "--health-interval", "100ms",
                       "--health-timeout", "300ms", "--health-retries", "2", image, "sleep", "600")
    h = wait_status(tuiker, cid, "unhealthy")
    assert h["Log"][-1]["ExitCode"] == -1
    assert h["Log"][-1]["Output"] == "Health check exceeded timeout (300ms)"  # dockerd 20.10's, word for word
    # Each timed-out check was killed: at most the one under way is left, not one per interval.
    sleeps = [line for line in ok(tuiker("exec", cid, "ps", "-o", "args")).splitlines() if "sleep 1000" in line]
    assert len(sleeps) <= 1


def test_failures_within_the_start_period_do_not_count(tuiker, image):
    cid = run_detached(tuiker, "--health-cmd", "false", "--health-interval", "100ms", "--health-retries", "1",
                       "--health-start-period", "1h", image, "sleep", "600")
    h = wait_for(lambda: len((h := health(tuiker, cid)).get("Log") or []) >= 3 and h, 20, "three checks")
    assert h["Status"] == "starting" and h["FailingStreak"] == 0
    assert all(entry["ExitCode"] == 1 for entry in h["Log"])


def test_a_check_that_cannot_run_is_a_failure_with_the_reason(engine_root, image):
    """Test ["CMD", ...] (an image's or compose's form) naming no program: the exec fails, and docker records -1
    with the reason, as for any probe that could not run."""
    from tuiker.engine import RunOptions

    engine = Engine(engine_root)
    c = engine.containers.create(RunOptions(image=image, command=["sleep", "600"], healthcheck={
        "Test": ["CMD", "/no/such/probe"], "Interval": 100 * MS, "Retries": 1}))
    engine.containers.start(c.id)
    wait_for(lambda: engine.containers.get(c.id).health == "unhealthy", 20, "unhealthy")
    last = engine.containers.get(c.id).state["Health"]["Log"][-1]
    assert last["ExitCode"] == -1 and "/no/such/probe" in last["Output"]


def test_output_is_cut_at_4096_bytes_as_docker_does(tuiker, image):
    cid = run_detached(tuiker, "--health-cmd", "yes | head -c 5000", "--health-interval", "100ms", image,
                       "sleep", "600")
    h = wait_status(tuiker, cid, "healthy")
    assert h["Log"][-1]["Output"] == "y\n" * 2048 + "..."


def test_stop_leaves_it_unhealthy_and_a_start_begins_again_at_starting(tuiker, image):
    cid = run_detached(tuiker, "--health-cmd", "test -e /tmp/ok", "--health-interval", "100ms",
                       "--health-retries", "1000", image, "sh", "-c", "touch /tmp/ok; exec sleep 600")
    wait_status(tuiker, cid, "healthy")
    ok(tuiker("exec", cid, "rm", "/tmp/ok"))
    ok(tuiker("stop", "-t", "0", cid))
    h = health(tuiker, cid)
    assert h["Status"] == "unhealthy" and h["Log"]
    assert ok(tuiker("ps", "-a", "--format", "{{.Status}}")).startswith("Exited")
    ok(tuiker("start", cid))
    # The command touches /tmp/ok again: from starting, back to healthy.
    assert health(tuiker, cid)["Status"] in ("starting", "healthy")
    wait_status(tuiker, cid, "healthy")


def test_pause_ends_the_checks_and_unpause_resumes_them(tuiker, image):
    cid = run_detached(tuiker, "--health-cmd", "true", "--health-interval", "100ms", image, "sleep", "600")
    wait_status(tuiker, cid, "healthy")
    ok(tuiker("pause", cid))
    assert health(tuiker, cid)["Status"] == "unhealthy"
    assert ok(tuiker("ps", "--format", "{{.Status}}")).strip().endswith("(Paused)")
    ok(tuiker("unpause", cid))
    wait_status(tuiker, cid, "healthy")


def test_health_survives_a_monitor_restart(tuiker, image, engine_root):
    cid = run_detached(tuiker, "--health-cmd", "cat /tmp/state", "--health-interval", "100ms",
                       "--health-retries", "1", image, "sh", "-c", "echo one > /tmp/state; exec sleep 600")
    wait_status(tuiker, cid, "healthy")
    pid_file = engine_root / "run" / "monitor.pid"
    old = int(pid_file.read_text())
    os.kill(old, signal.SIGKILL)
    wait_for(lambda: not os.path.exists(f"/proc/{old}"), 5, "the monitor to die")
    assert health(tuiker, cid)["Status"] == "healthy"  # adopted as it was, not reset
    wait_for(lambda: int(pid_file.read_text()) != old, 5, "the new monitor's pid file")  # written after it listens
    ok(tuiker("exec", cid, "sh", "-c", "echo two > /tmp/state"))
    wait_for(lambda: health(tuiker, cid)["Log"][-1]["Output"] == "two\n", 20, "checks by the new monitor")
    ok(tuiker("exec", cid, "rm", "/tmp/state"))
    wait_status(tuiker, cid, "unhealthy")


def test_image_healthcheck_overrides_and_no_healthcheck(tuiker, health_image):
    cid = run_detached(tuiker, health_image, "sh", "-c", "touch /tmp/ok; exec sleep 600")
    assert inspect(tuiker, cid)["Config"]["Healthcheck"] == {"Test": ["CMD", "test", "-e", "/tmp/ok"],
                                                            "Interval": 100 * MS, "Retries": 2}
    wait_status(tuiker, cid, "healthy")
    # A flag replaces its own field only; the rest comes from the image.
    cid2 = run_detached(tuiker, "--health-timeout", "5s", health_image, "sleep", "600")
    assert inspect(tuiker, cid2)["Config"]["Healthcheck"] == {"Test": ["CMD", "test", "-e", "/tmp/ok"],
                                                             "Interval": 100 * MS, "Timeout": 5000 * MS,
                                                             "Retries": 2}
    wait_status(tuiker, cid2, "unhealthy")
    off = run_detached(tuiker, "--no-healthcheck", health_image, "sleep", "600")
    doc = inspect(tuiker, off)
    assert doc["Config"]["Healthcheck"] == {"Test": ["NONE"]} and "Health" not in doc["State"]
    assert ok(tuiker("ps", "-q", "--no-trunc", "--filter", "health=none")).split() == [off]
    assert ok(tuiker("ps", "--format", "{{.Status}}", "--filter", f"id={off}")).strip().startswith("Up")
    assert "(" not in ok(tuiker("ps", "--format", "{{.Status}}", "--filter", f"id={off}"))


@pytest.mark.parametrize("flags, message, code", [
    (["--health-interval", "abc"], 'invalid argument "abc" for "--health-interval" flag: time: invalid duration "abc"',
     125),
    (["--health-timeout", "10"], 'invalid argument "10" for "--health-timeout" flag: time: missing unit in duration'
     ' "10"', 125),
    (["--health-interval=-1s"], "--health-interval cannot be negative", 125),
    (["--health-retries", "-1", "--health-cmd", "true"], "--health-retries cannot be negative", 125),
    (["--health-start-period=-5s"], "--health-start-period cannot be negative", 125),
    (["--health-interval", "500us"], "Interval in Healthcheck cannot be less than 1ms", 125),
    (["--health-timeout", "10ns"], "Timeout in Healthcheck cannot be less than 1ms", 125),
    (["--no-healthcheck", "--health-cmd", "true"], "--no-healthcheck conflicts with --health-* options", 125),
    (["--stop-signal", "SIGBOGUS"], "Invalid signal: SIGBOGUS", 125),
    (["--stop-signal", "0"], "Invalid signal: 0", 125),
    (["--add-host", "nocolon"], 'invalid argument "nocolon" for "--add-host" flag: bad format for add-host:'
     ' "nocolon"', 125),
    (["--add-host", "db:300.1.1.1"], 'invalid argument "db:300.1.1.1" for "--add-host" flag: invalid IP address'
     ' in add-host: "300.1.1.1"', 125),
    (["--add-host", "a b:10.0.0.1"], 'invalid argument "a b:10.0.0.1" for "--add-host" flag: invalid host name:'
     ' "a b"', 125),
    (["--add-host", ":1.2.3.4"], 'invalid argument ":1.2.3.4" for "--add-host" flag: bad format for add-host:'
     ' ":1.2.3.4"', 125),
    (["--add-host", "a:b:c"], 'invalid argument "a:b:c" for "--add-host" flag: invalid IP address in add-host:'
     ' "b:c"', 125),
    (["--dns", "not-an-ip"], 'invalid argument "not-an-ip" for "--dns" flag: IP address is not correctly formatted:'
     ' not-an-ip', 125),
])
def test_bad_values_are_refused_like_docker_and_create_nothing(tuiker, image, engine_root, flags, message, code):
    result = tuiker("run", "-d", *flags, image, "true")
    assert result.returncode == code
    if message.startswith("invalid argument") and "time: " in message:
        # A flag's value docker's parser refuses: its line, then `See 'tuiker run --help'.`, as docker prints it.
        assert result.stderr.splitlines() == [message, "See 'tuiker run --help'."]
    else:
        assert message in one_line_error(result)
    assert container_dirs(engine_root) == []


def test_quick_execs_always_report_their_own_exit_code(engine_root, image):
    """A check is an exec, and its exit code is the result. An exec that exits before its intermediate process
    has (setup.py) was once still the intermediate's child when its pidfd fired: the monitor's waitpid said
    ECHILD and the exit code read 255 (a health check would have failed for nothing, about one exec in 40)."""
    engine = Engine(engine_root)
    from tuiker.engine import RunOptions

    c = engine.containers.create(RunOptions(image=image, command=["sleep", "600"]))
    engine.containers.start(c.id)
    codes = [read_stream(engine.containers.exec(c.id, ["sh", "-c", "exit 3"]))[0] for _ in range(150)]
    assert set(codes) == {3}


# -- --add-host, --dns, --stop-signal --------------------------------------------------------------

def test_add_host_and_dns_reach_the_containers_files(tuiker, image, engine_root):
    out = ok(tuiker("run", "--rm", "--add-host", "db:10.1.2.3", "--add-host", "v6:fd00::1", "--add-host", "eq=10.9.9.9",
                    "--add-host", "br=[fd00::2]",
                    "--add-host", "gw:host-gateway", "--dns", "192.0.2.53", "--dns", "2001:db8::53", image,
                    "sh", "-c", "cat /etc/hosts; echo ---; cat /etc/resolv.conf"))
    hosts, resolv = out.split("---\n")
    gateway = Engine(engine_root).networks.default().gateway
    assert gateway
    assert "10.1.2.3\tdb\n" in hosts and "fd00::1\tv6\n" in hosts and f"{gateway}\tgw\n" in hosts
    assert "10.9.9.9\teq\n" in hosts and "fd00::2\tbr\n" in hosts
    assert [line for line in resolv.splitlines() if line.startswith("nameserver")] == [
        "nameserver 192.0.2.53", "nameserver 2001:db8::53"]
    cid = run_detached(tuiker, "--add-host", "db=10.1.2.3", "--add-host", "gw:host-gateway", "--dns", "192.0.2.53",
                       image, "sleep", "600")
    host_config = inspect(tuiker, cid)["HostConfig"]
    assert host_config["ExtraHosts"] == ["db:10.1.2.3", "gw:host-gateway"] and host_config["Dns"] == ["192.0.2.53"]
    plain = run_detached(tuiker, image, "sleep", "600")
    doc = inspect(tuiker, plain)  # as docker's: no StopSignal unless given, Dns [] and ExtraHosts null
    assert "StopSignal" not in doc["Config"]
    assert doc["HostConfig"]["Dns"] == [] and doc["HostConfig"]["ExtraHosts"] is None


def test_add_host_stays_on_a_user_network(tuiker, image):
    ok(tuiker("network", "create", "hnet"))
    try:
        cid = run_detached(tuiker, "--network", "hnet", "--add-host", "db:10.1.2.3", image, "sleep", "600")
        peer = run_detached(tuiker, "--network", "hnet", "--name", "peer", image, "sleep", "600")
        hosts = ok(tuiker("exec", cid, "cat", "/etc/hosts"))  # rewritten when the peer joined
        assert "10.1.2.3\tdb\n" in hosts and "peer" in hosts
    finally:
        tuiker("rm", "-f", cid, peer)
        tuiker("network", "rm", "hnet")


TRAP = "trap 'echo got $0; exit 7' USR1 INT; while :; do sleep 0.1; done"


def test_stop_signal_flag_and_image_stop_signal_are_what_stop_sends(tuiker, image, health_image):
    cid = run_detached(tuiker, "--stop-signal", "SIGINT", image, "sh", "-c", TRAP.replace("$0", "int"))
    assert inspect(tuiker, cid)["Config"]["StopSignal"] == "SIGINT"
    wait_for(lambda: ok(tuiker("exec", cid, "ps", "-o", "args")).count("sleep 0.1"), 10, "the trap to be set")
    ok(tuiker("stop", "-t", "20", cid))  # SIGTERM would be ignored by the trap and SIGKILLed only after 20 s
    assert ok(tuiker("logs", cid)) == "got int\n"
    assert ok(tuiker("inspect", "-f", "{{.State.ExitCode}}", cid)).strip() == "7"
    # The image's StopSignal (SIGUSR1), used by restart too.
    cid = run_detached(tuiker, "--no-healthcheck", health_image, "sh", "-c", TRAP.replace("$0", "usr1"))
    assert inspect(tuiker, cid)["Config"]["StopSignal"] == "SIGUSR1"
    wait_for(lambda: ok(tuiker("exec", cid, "ps", "-o", "args")).count("sleep 0.1"), 10, "the trap to be set")
    ok(tuiker("restart", "-t", "20", cid))
    assert ok(tuiker("logs", cid)) == "got usr1\n"
    # A real-time signal by docker's name for it, passed on by tini (pid 1 ignores what it has no handler for).
    cid = run_detached(tuiker, "--init", "--stop-signal", "RTMIN+2", image, "sleep", "600")
    ok(tuiker("stop", "-t", "20", cid))
    assert ok(tuiker("inspect", "-f", "{{.State.ExitCode}}", cid)).strip() == str(128 + signal.SIGRTMIN + 2)
