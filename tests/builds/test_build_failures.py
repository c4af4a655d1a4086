"""A build that fails, or is interrupted, says why in one line and leaves nothing behind: no container, mount,
cgroup, scratch directory or temp file."""

from __future__ import annotations

import glob
import os
import re
import signal
import subprocess
import sys
import time

import pytest
from buildtools import leftovers, write_context
from conftest import REPO_ROOT, one_line_error, wait_for


@pytest.fixture
def cgroup_parent(monkeypatch):
    """A cgroup parent of this test's own, so that what its containers leave there is seen."""
    name = f"tuiker-buildtest-{os.getpid()}-{os.urandom(3).hex()}"
    monkeypatch.setenv("TUIKER_CGROUP_PARENT", name)
    yield name
    for path in glob.glob(f"/sys/fs/cgroup/*/{name}"):
        try:
            os.rmdir(path)
        except OSError:
            pass


def _cgroups_under(parent: str) -> list[str]:
    return [p for p in glob.glob(f"/sys/fs/cgroup/*/{parent}/*") if os.path.isdir(p)]


def _nothing_left(engine_root, parent: str) -> None:
    assert leftovers(engine_root) == {"containers": [], "tmp": [], "mounts": []}
    assert _cgroups_under(parent) == []


def test_a_failing_run_says_so_and_leaves_nothing(engine, engine_root, tuiker, tmp_path, cgroup_parent):
    ctx = write_context(tmp_path / "ctx", {"Dockerfile": "FROM busybox\nCOPY f /f\nRUN echo before; exit 3\n",
                                           "f": "x"})
    result = tuiker("build", "-t", "failing", str(ctx))
    assert result.returncode == 1
    assert result.stderr.splitlines()[-1] == ("Error: The command '/bin/sh -c echo before; exit 3' returned a"
                                              " non-zero code: 3")
    assert re.search(r"^#4 \d+\.\d{3} before$", result.stderr, re.M)  # its output, with its time in the step
    assert "#4 ERROR: The command" in result.stderr
    _nothing_left(engine_root, cgroup_parent)
    assert "failing:latest" not in engine.images.store.tags()
    exec_form = write_context(tmp_path / "exec", {"Dockerfile": 'FROM busybox\nRUN ["false"]\n'})
    assert one_line_error(tuiker("build", "-q", str(exec_form))) == \
        "Error: The command 'false' returned a non-zero code: 1"
    _nothing_left(engine_root, cgroup_parent)


@pytest.mark.parametrize("dockerfile, message", [
    ("FROM busybox\nRUN true\nFOO bar\n", "Error: dockerfile parse error on line 3: unknown instruction: FOO"),
    ("FROM busybox\nEXPOSE 99999\n", "Error: Dockerfile:2: invalid containerPort: 99999"),
    ("FROM busybox\nSTOPSIGNAL SIGNOPE\n", "Error: Dockerfile:2: Invalid signal: SIGNOPE"),
    ("FROM busybox\nRUN [\"/no/such/binary\"]\n",
     'Error: exec: "/no/such/binary": stat /no/such/binary: no such file or directory'),
    ("FROM busybox\nUSER nope\nRUN true\n", "Error: unable to find user nope: no matching entries in passwd file"),
])
def test_dockerfile_errors_are_one_line_and_leave_nothing(engine, engine_root, tuiker, tmp_path, cgroup_parent,
                                                          dockerfile, message):
    ctx = write_context(tmp_path / "ctx", {"Dockerfile": dockerfile})
    line = one_line_error(tuiker("build", "-q", str(ctx)))
    assert line == message or (message in line and line.startswith("Error: "))
    _nothing_left(engine_root, cgroup_parent)


def test_platform_other_than_the_hosts_is_refused(engine, tuiker, tmp_path):
    ctx = write_context(tmp_path / "ctx", {"Dockerfile": "FROM busybox\n"})
    line = one_line_error(tuiker("build", "-q", "--platform", "linux/s390x", str(ctx)))
    assert line.startswith('Error: "linux/s390x" is not a platform this engine builds for')
    import platform

    host = {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())
    assert tuiker("build", "-q", "--platform", f"linux/{host}", str(ctx)).returncode == 0


def _start_build(ctx) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
    return subprocess.Popen([sys.executable, "-m", "tuiker", "build", "--network", "none", str(ctx)], env=env,
                            cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _running_container(engine):
    return wait_for(lambda: [c for c in engine.containers.list()], 60, "the RUN step's container")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_an_interrupted_build_cleans_up(engine, engine_root, tmp_path, cgroup_parent, sig):
    ctx = write_context(tmp_path / "ctx", {"Dockerfile": "FROM busybox\nRUN echo started; sleep 60\n"})
    proc = _start_build(ctx)
    try:
        _running_container(engine)
        proc.send_signal(sig)
        proc.wait(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 130
    _nothing_left(engine_root, cgroup_parent)


def test_a_killed_build_is_swept_by_the_next(engine, engine_root, tuiker, tmp_path, cgroup_parent):
    ctx = write_context(tmp_path / "ctx", {"Dockerfile": "FROM busybox\nRUN sleep 60\n"})
    proc = _start_build(ctx)
    try:
        _running_container(engine)
    finally:
        proc.kill()
        proc.wait(timeout=30)
    assert leftovers(engine_root)["containers"]  # kill -9 runs no cleanup...
    quick = write_context(tmp_path / "quick", {"Dockerfile": "FROM busybox\nENV A=1\n"})
    assert tuiker("build", "-q", str(quick)).returncode == 0  # ...the next build sweeps it
    time.sleep(0.1)
    _nothing_left(engine_root, cgroup_parent)
