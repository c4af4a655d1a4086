"""The engine root's permissions: the root 0711, everything that names images or holds state 0700 (files 0600),
whatever the umask of whoever ran the command; the files bind-mounted into a container readable inside it.

A user on the host who is not root must learn nothing from the root: not the images (tags.json names them,
and a registry's private repository names can be secrets), not the containers' configs (their environment
holds passwords), not their logs. The proof is a real unprivileged process (uid/gid 65534) trying to list
and read every path under a root that has pulled, networked and run.
"""

from __future__ import annotations

import json
import os
import stat
from contextlib import contextmanager
from pathlib import Path

import pytest
from conftest import ok

from tuiker.engine import Engine, RunOptions
from tuiker.image.store import Store
from tuiker.net.network import NetworkStore

NOBODY = 65534
BIND_MOUNTED = ("hostname", "hosts", "resolv.conf")
@contextmanager
def umask(mask: int):
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def readable_by_nobody(paths: list[Path]) -> list[str]:
    """The paths a process of uid/gid 65534 (no supplementary groups) can list or read: a forked child of
    this test that drops to that user and tries each one, reporting through a pipe."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: only os calls until _exit
        code = 1
        try:
            os.close(read_end)
            os.setgroups([])
            os.setgid(NOBODY)
            os.setuid(NOBODY)
            found = []
            for path in paths:
                try:
                    if path.is_dir() and not path.is_symlink():
                        os.listdir(path)
                    else:
                        with open(path, "rb") as f:
                            f.read(1)
                except OSError:
                    continue
                found.append(str(path))
            os.write(write_end, "\0".join(found).encode())
            code = 0
        finally:
            os._exit(code)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as f:
        data = f.read()
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    return [p for p in data.decode().split("\0") if p]


def everything_under(root: Path) -> list[Path]:
    found = [root]
    for parent, dirs, files in os.walk(root):
        found += [Path(parent, n) for n in dirs + files]
    return found


def top_level_modes(root: Path) -> dict[str, int]:
    return {entry.name: mode(Path(entry.path)) for entry in os.scandir(root)}


@pytest.mark.parametrize("mask", [0o000, 0o022, 0o077])
def test_a_used_root_has_private_modes_and_a_user_can_read_nothing(engine_root, busybox_image, tuiker, mask):
    """Pull, a user network, a running container and a --rm one, all under `mask` (0 would make every
    file 0666 and every directory 0777 where the engine left the mode to the umask)."""
    ref, _ = busybox_image
    os.chmod(engine_root, 0o755)  # as `mkdir /var/lib/tuiker` leaves it: the engine must set the mode itself
    with umask(mask):
        ok(tuiker("pull", "-q", ref))
        ok(tuiker("network", "create", "app"))
        cid = ok(tuiker("run", "-d", "--name", "web", "--network", "app", "-e", "SECRET=hunter2", ref,
                        "sleep", "60")).strip()
        # A non-root user inside a container still reads the files the engine bind-mounts into it.
        out = ok(tuiker("run", "--rm", "-u", "1000:1000", "--network", "app", ref, "sh", "-c",
                        "cat /etc/hosts /etc/hostname /etc/resolv.conf >/dev/null && ls / >/dev/null && "
                        "grep -w web /etc/hosts"))
        assert "web" in out
    root = engine_root
    # The proof: an unprivileged process lists and reads nothing at all.
    paths = everything_under(root)
    assert len(paths) > 100
    assert readable_by_nobody(paths) == []
    assert mode(root) == 0o711
    tops = top_level_modes(root)
    assert {"blobs", "layers", "images", "tags.json", "tmp", "locks", "containers", "networks", "run"} <= set(tops)
    loose = {name: oct(m) for name, m in tops.items()
             if m != (0o700 if (root / name).is_dir() else 0o600)}
    assert loose == {}, loose
    cdir = root / "containers" / cid
    assert mode(cdir) == 0o700
    assert {n: oct(mode(cdir / n)) for n in BIND_MOUNTED} == {n: "0o644" for n in BIND_MOUNTED}
    assert mode(cdir / "upper") == 0o755  # the container's "/": a non-root user must traverse it
    for private in ("config.json", "state.json"):
        assert mode(cdir / private) == 0o600
    for private in [root / "tags.json", *root.glob("images/*.json"), *root.glob("networks/*.json"),
                    *root.glob("blobs/sha256/*"), root / "run" / "monitor.log", root / "run" / "monitor.sock"]:
        assert mode(private) & 0o077 == 0, (private, oct(mode(private)))
    ok(tuiker("rm", "-f", cid))


def test_a_root_made_by_an_older_version_is_fixed_when_the_store_opens(engine_root, image):
    """Older versions left tags.json 0644 and the root's top-level directories to the umask: opening the
    store puts them right (the top level only: that is where access is decided, and it is cheap)."""
    root = engine_root
    Engine(root).containers.create(RunOptions(image=image, command=["true"], name="old"))
    NetworkStore(root).create("app")
    os.chmod(root, 0o755)
    for entry in os.scandir(root):
        os.chmod(entry.path, 0o755 if entry.is_dir() else 0o644)
    assert readable_by_nobody([root / "tags.json", root / "containers"]) != []
    Store(root)
    assert mode(root) == 0o711
    assert {n: m for n, m in top_level_modes(root).items() if m not in (0o700, 0o600)} == {}
    assert readable_by_nobody(everything_under(root)) == []
    assert json.loads((root / "tags.json").read_text())  # still the store's own, intact


def test_a_new_root_is_0711_whichever_store_makes_it(tmp_path):
    """`tuiker ps` or `network ls` on a root that does not exist yet make it too, not only a pull."""
    from tuiker.runtime.containers import ContainerStore
    from tuiker.runtime.monitor_client import runtime_dir

    for i, make in enumerate((Store, ContainerStore, lambda r: NetworkStore(r).create("n1"), runtime_dir)):
        root = tmp_path / f"root{i}" / "engine"
        with umask(0):
            make(root)
        assert mode(root) == 0o711, make
        assert {n: oct(m) for n, m in top_level_modes(root).items() if m not in (0o700, 0o600)} == {}
