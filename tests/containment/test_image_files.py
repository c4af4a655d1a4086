"""The image's own files, read before the container's command runs (/etc/passwd, /etc/group for `-u`), are
hostile input: a FIFO blocks a read forever, a symlink through /proc leads outside the container, a huge file
takes time. They are read by the container's own process after it has shed the monitor's fds and capabilities
and loaded its seccomp filter (spawn.finish_and_exec), never blocking (users.read_image_file), and the monitor
follows every setup from its event loop, so one container's slow setup never holds up the others.
"""

from __future__ import annotations

import json
import subprocess
import sys

import imagebuilder
import pytest
from conftest import REPO_ROOT, ok, one_line_error, wait_for
from registry import push

DOCKER_DEFAULT_CAPS = "00000000a80425fb"


def _push(registry, busybox_image, name: str, entries: list) -> str:
    _, busybox = busybox_image
    image = imagebuilder.build_image([busybox.layers[0], imagebuilder.make_tar(entries)], cmd=["sh"])
    push(registry, f"test/{name}", "latest", image)
    return f"{registry.host}/test/{name}:latest"


@pytest.fixture(scope="module")
def fifo_passwd(registry, busybox_image) -> str:
    return _push(registry, busybox_image, "fifo-passwd",
                 [imagebuilder.Fifo("etc/passwd"), imagebuilder.Fifo("etc/group")])


@pytest.fixture(scope="module")
def magic_link_passwd(registry, busybox_image) -> str:
    """/etc/passwd a symlink to /proc/self/exe: at setup time, the host's interpreter."""
    return _push(registry, busybox_image, "magic-passwd", [imagebuilder.Symlink("etc/passwd", "/proc/self/exe")])


@pytest.fixture(scope="module")
def big_passwd(registry, busybox_image) -> str:
    """A 2 MB /etc/passwd whose last entry is the user asked for: a setup that takes a while to read."""
    lines = [f"user{i}:x:{10000 + i}:{10000 + i}::/home/user{i}:/bin/sh" for i in range(40000)]
    text = "\n".join(["root:x:0:0:root:/root:/bin/sh", *lines, "late:x:4242:4242::/tmp:/bin/sh", ""])
    return _push(registry, busybox_image, "big-passwd", [imagebuilder.File("etc/passwd", text.encode())])


def pid1_status(tuiker, name: str) -> dict[str, str]:
    out = ok(tuiker("exec", name, "sh", "-c", "cat /proc/1/status; echo OPENFDS $(ls /proc/1/fd)"))
    fields = dict(line.split(":", 1) for line in out.splitlines() if ":" in line)
    fields["FDS"] = out.split("OPENFDS", 1)[1].strip()
    return {k: v.strip() for k, v in fields.items()}


def test_a_fifo_passwd_neither_blocks_nor_leaves_pid_1_privileged(tuiker, fifo_passwd):
    ok(tuiker("pull", "-q", fifo_passwd))
    ok(tuiker("run", "-d", "--name", "fifo", fifo_passwd, "sleep", "300"))
    assert ok(tuiker("inspect", "-f", "{{.State.Status}}", "fifo")).strip() == "running"
    status = pid1_status(tuiker, "fifo")
    # What the container was given, and nothing of its setup's: docker's capabilities, the seccomp filter, and
    # no fd of the monitor's.
    assert status["CapEff"] == DOCKER_DEFAULT_CAPS and status["CapPrm"] == DOCKER_DEFAULT_CAPS, status
    assert status["Seccomp"] == "2", status
    assert status["FDS"] == "0 1 2", status
    assert "sleep" in status["Name"]


def test_a_named_user_needs_a_real_passwd_file(tuiker, fifo_passwd, magic_link_passwd):
    for image in (fifo_passwd, magic_link_passwd):
        ok(tuiker("pull", "-q", image))
        result = tuiker("run", "--rm", "-u", "app", image, "true")
        assert result.returncode == 126, (result.stdout, result.stderr)
        line = one_line_error(result)
        assert "/etc/passwd" in line and ("not a regular file" in line or "symbolic links" in line), line
    # Nothing is left running or half-made: the failed starts left created containers only.
    assert ok(tuiker("ps", "-q")).strip() == ""


def test_numeric_users_do_without_an_unusable_passwd(tuiker, magic_link_passwd):
    ok(tuiker("pull", "-q", magic_link_passwd))
    assert ok(tuiker("run", "--rm", "-u", "1000:1000", magic_link_passwd, "sh", "-c", "id -u; id -g")).split() \
        == ["1000", "1000"]
    assert ok(tuiker("run", "--rm", magic_link_passwd, "id", "-u")).strip() == "0"


def test_a_slow_setup_does_not_hold_up_the_monitor(tuiker, engine_root, image, big_passwd):
    """A container whose setup reads a 2 MB passwd at 2% of a CPU (--cpus 0.02: it has joined its cgroup by
    then) takes seconds to start; meanwhile another container starts, runs and is removed, and `ps` answers."""
    ok(tuiker("pull", "-q", big_passwd))
    env = {"PYTHONPATH": str(REPO_ROOT), "TUIKER_ROOT": str(engine_root), "PATH": "/usr/bin:/bin"}
    slow = subprocess.Popen([sys.executable, "-m", "tuiker", "run", "-d", "--name", "slow", "--cpus", "0.02",
                             "-u", "late", big_passwd, "sleep", "300"], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=REPO_ROOT)
    try:
        wait_for(lambda: (engine_root / "containers").exists() and any(
            json.loads(p.read_text()).get("Name") == "slow" for p in engine_root.glob("containers/*/config.json")),
            30, "the slow container to be created")
        assert ok(tuiker("run", "--rm", image, "echo", "quick")).strip() == "quick"
        listing = ok(tuiker("ps", "-a", "--format", "{{.Names}} {{.Status}}"))
        # The quick one came and went while the slow one was still setting up.
        assert slow.poll() is None, "the slow start finished first: its setup was not slow enough to show anything"
        assert "slow Created" in listing, listing
        out, err = slow.communicate(timeout=120)
        assert slow.returncode == 0, err
    finally:
        if slow.poll() is None:
            slow.kill()
            slow.wait()
    assert ok(tuiker("exec", "slow", "id", "-u")).strip() == "4242"
