"""The CVE-2019-5736 class: a container reaching the host's interpreter through /proc/self/exe.

A container's first process, and every exec, is a fork of the monitor's Python that calls execve inside the
container. At that execve, /proc/self/exe is still the host's interpreter: an image whose command is
/proc/self/exe (or whose /bin/sh is a `#!/proc/self/exe` script, for exec) runs the host's binary with the
image's own loader and libraries, and can then try to change that binary: open it for writing, chmod it setuid,
or keep a handle and write through it once nothing runs it any more (the monitor stopped).

The monitor under attack runs from a copy of the interpreter, so that a regression damages the copy and not the
Python this suite runs on; the monitor protects whatever binary it runs from. The image is the host's own
interpreter and libraries (tests/pyimage.py), exactly what a real attack ships.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import imagebuilder
import pyimage
import pytest
from conftest import REPO_ROOT, ok, wait_for
from registry import push

# Each attempt on /proc/self/exe; what the container reports is the errno name, or "done" when it worked.
PAYLOAD = r"""
import errno, os
results = {}
def attempt(name, call):
    try:
        call()
        results[name] = "done"
    except OSError as e:
        results[name] = errno.errorcode.get(e.errno, str(e.errno))
exe = "/proc/self/exe"
attempt("open-write", lambda: os.close(os.open(exe, os.O_WRONLY)))
attempt("open-append", lambda: os.close(os.open(exe, os.O_WRONLY | os.O_APPEND)))
attempt("chmod-setuid", lambda: os.chmod(exe, 0o6755))
attempt("chown", lambda: os.chown(exe, 4242, 4242))
attempt("utime", lambda: os.utime(exe, (1, 1)))
attempt("setxattr", lambda: os.setxattr(exe, "user.pwned", b"1"))
attempt("truncate", lambda: os.truncate(exe, 0))
with open("/tmp/results.json.new", "w") as f:
    f.write(repr(results).replace("'", '"'))
os.rename("/tmp/results.json.new", "/tmp/results.json")
# Keep a handle on the binary, and write through it once nothing executes it any more.
handle = os.open(exe, os.O_PATH)
os.dup2(handle, 9)
if os.fork() == 0:
    os.execv("/bin/busybox", ["sh", "-c", "while ! (echo pwned > /proc/self/fd/9) 2>/dev/null; do sleep 0.05; done;"
                                          " echo WROTE"])
os.execv("/bin/busybox", ["sleep", "1000"])  # stop running the host binary ourselves
"""


@pytest.fixture(scope="module")
def hostile_image(registry, busybox_image) -> str:
    """The host's interpreter and libraries, a command of /proc/self/exe running PAYLOAD, and a /bin/sh that is
    `#!/proc/self/exe` followed by the same payload (the exec variant)."""
    _, busybox = busybox_image
    entries = pyimage.python_entries()
    entries.append(imagebuilder.File("bin/sh", b"#!/proc/self/exe\n" + PAYLOAD.encode(), 0o755))
    image = imagebuilder.build_image([busybox.layers[0], imagebuilder.make_tar(entries)], compression="none",
                                     oci=True, cmd=["/proc/self/exe", "-c", PAYLOAD], env=pyimage.ENV)
    push(registry, "test/hostile-exe", "latest", image)
    return f"{registry.host}/test/hostile-exe:latest"


@pytest.fixture
def interpreter_copy(tmp_path) -> Path:
    """A copy of the host's interpreter binary to run the CLI (and so the monitor it starts) from."""
    copy = tmp_path / "bin" / os.path.basename(pyimage.HOST_PYTHON)
    copy.parent.mkdir()
    shutil.copy2(pyimage.HOST_PYTHON, copy)
    return copy


def tuiker_with(interpreter: Path, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    # The copy finds the same standard library and packages as this interpreter, wherever it sits.
    env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT), *[p for p in sys.path if p and os.path.isdir(p)]])
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    return subprocess.run([str(interpreter), "-m", "tuiker", *args], env=env, text=True, capture_output=True,
                          timeout=120, cwd=REPO_ROOT)


def fingerprint(path: Path) -> tuple:
    st = os.stat(path)
    return hashlib.sha256(path.read_bytes()).hexdigest(), stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, \
        st.st_mtime_ns, os.listxattr(path)


def results(root: Path, name: str) -> dict | None:
    """What the payload reported, from the file it leaves in the container's writable layer."""
    for config in root.glob("containers/*/config.json"):
        if json.loads(config.read_text())["Name"] == name:
            path = config.parent / "upper" / "tmp" / "results.json"
            return json.loads(path.read_text()) if path.exists() else None
    return None


def assert_refused(tried: dict) -> None:
    """Every attempt failed, because the binary is read-only (EROFS) or, for an open for writing while it runs,
    busy (ETXTBSY: the delayed write in outlive_the_monitor covers the time after)."""
    assert set(tried) == {"open-write", "open-append", "chmod-setuid", "chown", "utime", "setxattr", "truncate"}
    assert all(outcome in ("EROFS", "ETXTBSY") for outcome in tried.values()), tried


def monitor_pid(root: Path) -> int:
    return int((root / "run" / "monitor.pid").read_text())


def outlive_the_monitor(root: Path, interpreter: Path, before: tuple) -> None:
    """Kill the monitor, so nothing executes the interpreter copy and ETXTBSY no longer guards it, and give the
    container's writer loop time to try; the copy must come out unchanged."""
    os.kill(monitor_pid(root), signal.SIGKILL)
    time.sleep(1.5)
    assert fingerprint(interpreter) == before, "the container changed the monitor's interpreter"


def test_run_of_proc_self_exe_cannot_touch_the_host_interpreter(engine_root, hostile_image, interpreter_copy):
    before = fingerprint(interpreter_copy)
    ok(tuiker_with(interpreter_copy, "pull", "-q", hostile_image))
    ok(tuiker_with(interpreter_copy, "run", "-d", "--name", "hostile", hostile_image))
    tried = wait_for(lambda: results(engine_root, "hostile"), 20, "the payload to report")
    assert fingerprint(interpreter_copy) == before
    assert_refused(tried)
    outlive_the_monitor(engine_root, interpreter_copy, before)


def test_exec_through_a_proc_self_exe_script_cannot_touch_the_host_interpreter(engine_root, hostile_image,
                                                                                interpreter_copy):
    before = fingerprint(interpreter_copy)
    ok(tuiker_with(interpreter_copy, "pull", "-q", hostile_image))
    ok(tuiker_with(interpreter_copy, "run", "-d", "--name", "target", "--entrypoint", "/bin/busybox",
                   hostile_image, "sleep", "1000"))
    # `exec target sh` runs the image's /bin/sh: `#!/proc/self/exe`, i.e. the exec's setup process's binary.
    result = tuiker_with(interpreter_copy, "exec", "-d", "target", "sh")
    assert result.returncode == 0, result.stderr
    tried = wait_for(lambda: results(engine_root, "target"), 20, "the exec's payload to report")
    assert fingerprint(interpreter_copy) == before
    assert_refused(tried)
    outlive_the_monitor(engine_root, interpreter_copy, before)

