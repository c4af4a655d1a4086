"""Shared fixtures: a real registry, a token-auth front for it, a busybox image, and a throwaway engine root.

tests/ is on sys.path (pytest's rootdir conftest), so test files import the helpers directly:
`from imagebuilder import ...`, `from registry import Registry, push`, `from tokenproxy import TokenProxy`,
`from conftest import run_tuiker`. There is one conftest.py on purpose: pytest imports every conftest.py as the
module `conftest`, so a second one (say in tests/tui) would shadow this one for `from conftest import ...`.
"""

from __future__ import annotations

import asyncio
import inspect
import os
import re
import select
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import imagebuilder
import pytest
from registry import Registry, push
from tokenproxy import TokenProxy

REPO_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def registry():
    """One anonymous registry for the whole session. Don't stop it; use make_registry for that."""
    reg = Registry()
    reg.start()
    yield reg
    reg.close()


@pytest.fixture
def make_registry():
    """Factory for a private registry (e.g. to stop mid-pull, or with htpasswd={...}); started, and
    closed when the test ends."""
    made: list[Registry] = []

    def make(htpasswd: dict[str, str] | None = None, start: bool = True) -> Registry:
        reg = Registry(htpasswd=htpasswd)
        made.append(reg)
        if start:
            reg.start()
        return reg

    yield make
    for reg in made:
        reg.close()


@pytest.fixture
def make_proxy(registry):
    """Factory for a TokenProxy in front of `registry` (default: the session one); closed at the end."""
    made: list[TokenProxy] = []

    def make(users: dict[str, str] | None = None, mode: str = "bearer", behind: Registry | None = None,
             **kwargs) -> TokenProxy:
        proxy = TokenProxy(behind or registry, users=users, mode=mode, **kwargs).start()
        made.append(proxy)
        return proxy

    yield make
    for proxy in made:
        proxy.close()


@pytest.fixture
def token_proxy(make_proxy) -> TokenProxy:
    """An anonymous Bearer-token front for the session registry."""
    return make_proxy()


@pytest.fixture(scope="session")
def busybox_image(registry) -> tuple[str, imagebuilder.BuiltImage]:
    """A one-layer gzip busybox image pushed once as <registry.host>/test/busybox:latest."""
    layer = imagebuilder.make_tar(imagebuilder.busybox_rootfs_entries())
    image = imagebuilder.build_image([layer], compression="gzip", oci=False, cmd=["sh"])
    push(registry, "test/busybox", "latest", image)
    return f"{registry.host}/test/busybox:latest", image


@pytest.fixture(scope="session")
def python_image(registry, busybox_image) -> str:
    """busybox plus the host's own Python interpreter (tests/pyimage.py), pushed once as
    <registry.host>/test/python:latest; `python` on its PATH runs with PYTHONHOME set by the image."""
    import pyimage

    _, busybox = busybox_image
    layer = imagebuilder.make_tar(pyimage.python_entries()
                                  + [imagebuilder.Symlink("usr/bin/python", pyimage.HOST_PYTHON)])
    image = imagebuilder.build_image([busybox.layers[0], layer], compression="none", oci=True,
                                     cmd=["python"], env=pyimage.ENV)
    push(registry, "test/python", "latest", image)
    return f"{registry.host}/test/python:latest"


def stop_engine(root: Path) -> None:
    """Kill every container of this engine root and its monitor, and remove their cgroups: a test run
    leaves no process or cgroup behind, whatever the test did."""
    import signal

    from tuiker.runtime import cgroups

    for state in root.glob("containers/*/state.json"):
        cg = cgroups.for_container(state.parent.name)
        cg.kill_all()
        cg.remove()
    pid_file = root / "run" / "monitor.pid"
    if pid_file.exists():
        try:
            os.kill(int(pid_file.read_text()), signal.SIGKILL)
        except (ProcessLookupError, ValueError):
            pass


def wait_for(check, timeout: float, what: str, interval: float = 0.02):
    """Poll `check` until it returns something true (and return that), failing after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


def read_stream(session, timeout: float = 30) -> tuple[int, str, str]:
    """An attached start's or an exec's Session read to its end: (exit code, stdout, stderr)."""
    deadline = time.monotonic() + timeout
    out = {"stdout": bytearray(), "stderr": bytearray()}
    try:
        while not session.done:
            if not select.select([session], [], [], max(0.0, deadline - time.monotonic()))[0]:
                raise AssertionError(f"no exit code after {timeout} s")
            for stream, data in session.read():
                out[stream] += data
        assert session.exit_code is not None, "the monitor closed the stream without an exit code"
        return session.exit_code, out["stdout"].decode(errors="replace"), out["stderr"].decode(errors="replace")
    finally:
        session.close()


def _mounts_under(root: str) -> list[str]:
    found = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            # Field 5 is the mount point, with space, tab, newline and backslash octal-escaped.
            point = re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), line.split()[4])
            if point == root or point.startswith(root + "/"):
                found.append(point)
    return found


@pytest.fixture
def engine_root(monkeypatch) -> Path:
    """A fresh engine root under /var/tmp, exported as TUIKER_ROOT. A mount still under it at the end is
    a leak by the engine: it is unmounted (lazily if need be) and the test fails."""
    root = tempfile.mkdtemp(prefix="tuiker-test-", dir="/var/tmp")
    monkeypatch.setenv("TUIKER_ROOT", root)
    yield Path(root)
    stop_engine(Path(root))
    net_leaked = _network_leftovers(Path(root))
    leaked = _mounts_under(root)
    # Deepest first, so parents are not busy with their children.
    for point in sorted(leaked, key=len, reverse=True):
        if subprocess.run(["umount", point], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", point], capture_output=True)
    still = _mounts_under(root)
    if not still:
        shutil.rmtree(root, ignore_errors=True)
    if leaked:
        pytest.fail(f"mounts left under the engine root: {leaked}"
                    + (f"; still mounted after umount -l: {still}" if still else ""))
    if net_leaked:
        pytest.fail(f"network interfaces left by the engine: {net_leaked}")


def _network_leftovers(root: Path) -> list[str]:
    """Once every container of the root is dead, no veth of its containers may remain (on its bridges or
    anywhere on the host). Then the root's bridges and nftables table go: a root keeps them for its life,
    as docker keeps docker0, and a test's root ends here. Nobody else's links or rules are touched."""
    if not (root / "networks").exists():
        return []
    from tuiker.runtime import networking

    deadline = time.monotonic() + 5  # the kernel destroys a dead container's namespace asynchronously
    while (leaked := networking.leftover_links(root)) and time.monotonic() < deadline:
        time.sleep(0.05)
    networking.purge_host_state(root)
    return leaked


@pytest.fixture
def image(engine_root, busybox_image) -> str:
    """The session's busybox image, pulled into this test's engine root (in process: it is what
    `tuiker pull -q` does, without a second interpreter start per test)."""
    ref, _ = busybox_image
    from tuiker.engine import Engine

    Engine(engine_root).images.pull(ref)
    return ref


def make_engine(root: Path, busybox_ref: str):
    """The engine at `root` with the session's busybox image, also tagged `busybox` (a name without the
    registry's random port, so the TUI's screens are the same from run to run)."""
    from tuiker.engine import Engine

    engine = Engine(root)
    engine.images.pull(busybox_ref)
    engine.images.tag(busybox_ref, "busybox")
    return engine


@pytest.fixture
def engine(engine_root, busybox_image):
    """An engine on this test's root holding the busybox image as `busybox` (test modules may define their own)."""
    return make_engine(engine_root, busybox_image[0])


@pytest.fixture
def fixed_root(engine_root) -> Path:
    """engine_root under a fixed name (a symlink), for the TUI's snapshots: its header shows the engine root."""
    link = Path("/var/tmp/tuiker-tui-snapshots")
    link.unlink(missing_ok=True)
    link.symlink_to(engine_root)
    yield link
    link.unlink(missing_ok=True)


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem):
    """Run `async def` tests (Textual's Pilot API is async) in a fresh event loop each."""
    if inspect.iscoroutinefunction(pyfuncitem.obj):
        arguments = {name: pyfuncitem.funcargs[name] for name in pyfuncitem._fixtureinfo.argnames}
        asyncio.run(pyfuncitem.obj(**arguments))
        return True
    return None


def ok(result) -> str:
    """A command's stdout, once it is known to have succeeded."""
    assert result.returncode == 0, (result.args, result.stdout, result.stderr)
    return result.stdout


def one_line_error(result) -> str:
    """A failed command's stderr: exactly one line, no traceback."""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    return lines[0]


def run_tuiker(*args: str, env: dict[str, str | None] | None = None, input: str | None = None,
               timeout: float = 120) -> subprocess.CompletedProcess:
    """Run `python -m tuiker ARGS` with text stdout/stderr captured; the exit code is not checked.

    TUIKER_ROOT comes from `env` or the environment (the engine_root fixture sets it) and is required,
    so a test can never touch the real engine root. `env` entries override the environment; None
    removes a variable.
    """
    full = dict(os.environ)
    for key, value in (env or {}).items():
        if value is None:
            full.pop(key, None)
        else:
            full[key] = value
    if not full.get("TUIKER_ROOT"):
        raise RuntimeError("run_tuiker needs TUIKER_ROOT: use the engine_root fixture or pass env")
    # Test traffic goes only to 127.0.0.1, never through a proxy from the environment.
    no_proxy = ",".join(filter(None, [full.get("NO_PROXY"), "127.0.0.1,localhost"]))
    full["NO_PROXY"] = full["no_proxy"] = no_proxy
    full["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), full.get("PYTHONPATH")]))
    return subprocess.run([sys.executable, "-m", "tuiker", *args], env=full, input=input, text=True,
                          capture_output=True, timeout=timeout, cwd=REPO_ROOT)


@pytest.fixture
def tuiker(engine_root):
    """run_tuiker bound to this test's engine_root."""
    return run_tuiker


@pytest.fixture
def api(engine):
    """`tuiker system service` (the real command, tests/apiserver.py) over this test's engine root, which holds
    the busybox image as `busybox`. Its stderr must stay free of tracebacks: an endpoint that crashed is a
    failure even when the client coped."""
    from tests.apiserver import ApiService

    service = ApiService(engine.root).start()
    yield service
    err = service.stop()
    assert "Traceback" not in err, f"the service crashed while serving:\n{err}"


@pytest.fixture
def client(api):
    """A docker-py client (pinned in the test extra) on the `api` service."""
    docker = pytest.importorskip("docker", reason="docker-py is installed by the test extra")
    c = docker.DockerClient(base_url=api.url, version="1.44", timeout=60)
    yield c
    c.close()
