"""`cp` in and out of a container: tar streams packed and unpacked by a process that sees only the container's
files.

Docker cp's class of bugs (CVE-2018-15664, and the symlink races before it) comes from resolving a path the
container controls from the host: a symlink in it, or swapped in by the container meanwhile, leads the copy to
the host's files. Here nothing is resolved from the host. A forked helper enters the container's file system and
chroots into it before it looks at any path: a running container's own mount namespace (setns: its volumes and
tmpfs included), or for one that does not run, a private mount namespace with its overlay and its volumes and
binds mounted as a start would mount them (tmpfs aside: a stopped container has none). Every symlink it then
meets, absolute or through `..`, resolves inside the container's root. The helper is not dumpable, keeps none
of the caller's fds but its pipes, and ends with its namespace.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from tuiker.base import linux
from tuiker.base.errors import TuikerError
from tuiker.runtime.containers import Container

LIVE = ("running", "paused", "restarting")


def in_container(root: Path, c: Container, body: Callable[[], None], keep: tuple[int, ...],
                 rootfs_only: bool = False) -> Callable[[], None]:
    """Fork a helper that runs `body` inside `c`'s file system (cwd `/`, chrooted), keeping only the fds in
    `keep`; returns the function that waits for it and raises its error (one line) as a TuikerError. With
    `rootfs_only` (export), the helper sees the container's root file system alone, read-only, running or not:
    no volume, bind, /proc or /dev mounted on it."""
    err_r, err_w = os.pipe2(os.O_CLOEXEC)
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        code = 0
        try:
            os.close(err_r)
            linux.set_dumpable(False)
            linux.close_fds_except((0, 1, 2, err_w, *keep))
            _enter(root, c, rootfs_only)
            body()
        except BaseException as e:  # noqa: BLE001 - reported to the caller, never raised in the child
            message = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
            if isinstance(e, OSError) and e.filename:
                message = f"{message}: {e.filename}"
            os.write(err_w, message.encode()[:4000])
            code = 1
        os._exit(code)
    os.close(err_w)

    def wait() -> None:
        with os.fdopen(err_r, "rb") as f:
            message = f.read().decode(errors="replace").strip()
        _, status = os.waitpid(pid, 0)
        if message or os.waitstatus_to_exitcode(status) != 0:
            raise TuikerError(message or f"the copy helper failed (status {status})")

    return wait


def _enter(root: Path, c: Container, rootfs_only: bool) -> None:
    if c.status in LIVE and c.pid and not rootfs_only:
        from tuiker.runtime.monitor.running import same_process

        fd = os.open(f"/proc/{c.pid}/ns/mnt", os.O_RDONLY | os.O_CLOEXEC)
        # Checked after the open: the fd is then the namespace of the container's own process, not of one that
        # reused its pid.
        if not same_process(c.pid, c.state.get("PidStart")):
            raise TuikerError(f"container {c.short_id} is not running any more")
        linux.setns(fd, linux.CLONE_NEWNS)  # our root and cwd become the container's root
        os.close(fd)
        os.chroot(".")
    else:
        from tuiker.runtime.spawn import Rootfs, mount_all, mount_overlay, mounts_from_config

        linux.unshare(linux.CLONE_NEWNS)
        linux.mount(None, "/", None, linux.MS_REC | linux.MS_PRIVATE)  # nothing below reaches the host's table
        target = str(c.dir / "merged")
        os.makedirs(target, exist_ok=True)
        if rootfs_only:
            # The upper dir as the top of a read-only overlay, not as its upper: a running container's overlay
            # uses it (and its work dir) already, and nothing here may write to it.
            os.chdir(root / "layers")
            lower = ":".join([str(c.dir / "upper"), *(f"{name}/diff" for name in reversed(c.config["Layers"]))])
            linux.mount("overlay", target, "overlay", linux.MS_RDONLY, f"lowerdir={lower}")
        else:
            mount_overlay(Rootfs(layers_dir=str(root / "layers"), lower=c.config["Layers"],
                                 upper=str(c.dir / "upper"), work=str(c.dir / "work"), target=target, hostname=""))
            mount_all(target, [m for m in mounts_from_config(c.config.get("mounts") or []) if m.kind != "tmpfs"])
        os.chroot(target)
    os.chdir("/")
