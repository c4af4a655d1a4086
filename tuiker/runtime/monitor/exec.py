"""`exec`: a further process in a running container, with the container's namespaces, cgroup, capabilities and
seccomp filter (spawn.intermediate_exec joins them), its stdio made as a container's first process's is (stdio.py,
with pipes instead of FIFOs: an exec does not outlive the monitor). No go pipe: nothing is left to prepare.

A client's exec (exec_in) and the monitor's own (health checks, health.py) are launched the same way (launch)."""

from __future__ import annotations

import os
from collections.abc import Callable

from tuiker.base.errors import TuikerError
from tuiker.runtime import spawn
from tuiker.runtime.containers import Container
from tuiker.runtime.events import container_event
from tuiker.runtime.monitor.running import Running
from tuiker.runtime.monitor.server import Client
from tuiker.runtime.monitor.setup import Setup
from tuiker.runtime.monitor.start import seccomp_program
from tuiker.runtime.monitor.stdio import open_stdio

TYPE_CHECKING = False
if TYPE_CHECKING:
    from tuiker.runtime.monitor.supervisor import Supervisor

# started(running, None) once the process has exec'd (it is watched by then), or started(None, (code, message)).
Started = Callable[["Running | None", "tuple[int, str] | None"], None]


def exec_in(sup: Supervisor, client: Client, c: Container, target: Running, req: dict) -> None:
    """Run req["cmd"] in `c`, whose first process is `target`; `client` hears of it, and is attached unless the
    request says detach."""
    exec_id = req.get("exec_id") or os.urandom(32).hex()
    command = " ".join(req["cmd"])
    container_event(c, f"exec_create: {command}", execID=exec_id)

    def started(r: Running | None, error: tuple[int, str] | None) -> None:
        if r is not None:
            container_event(c, f"exec_start: {command}", execID=exec_id)
            r.on_exit = lambda code: container_event(c, "exec_die", execID=exec_id, exitCode=code)
        if r is None:
            sup.server.reply(client, {"ok": False, "code": error[0], "error": error[1]}, close=True)
        elif req.get("detach"):
            sup.server.reply(client, {"ok": True, "pid": r.pid}, close=True)
        else:
            sup.server.reply(client, {"ok": True, "pid": r.pid})
            sup.attach(client, r, req)

    launch(sup, c, target, req, started)


def launch(sup: Supervisor, c: Container, target: Running, req: dict, started: Started) -> Setup | None:
    """Fork req["cmd"] into `c` (with req's tty, interactive, size, env, workdir, user); `started` hears how it
    went, from the event loop, or at once if it could not even be forked. The Setup, to cancel it, or None."""
    cfg = c.config["Config"]
    try:
        filter_program = seccomp_program(c)
    except TuikerError as e:
        started(None, (126, str(e)))
        return None
    tty = bool(req.get("tty"))
    io = open_stdio(tty, bool(req.get("interactive")), req.get("size"))
    env = list(cfg["Env"]) + list(req.get("env") or [])
    proc = spawn.Process(args=req["cmd"], env=env, cwd=req.get("workdir") or cfg.get("WorkingDir") or "/",
                         user=req.get("user") if req.get("user") is not None else cfg.get("User", ""),
                         caps=set(c.config["Capabilities"]), tty=tty,
                         no_new_privs=bool(c.config.get("NoNewPrivileges")), seccomp=filter_program,
                         stdio=io.child)

    def set_up(pid: int, pidfd: int, error: tuple[int, str] | None) -> None:
        if error:
            io.close()
            if pidfd >= 0:
                os.close(pidfd)
            started(None, error)
            return
        r = Running(pid, pidfd, io.outputs, io.stdin, io.pty, None)
        sup.watch(r)
        started(r, None)

    try:
        return sup.setups.fork(
            lambda pp, ep: spawn.intermediate_exec(target.pid, proc, target.cgroup.join_self, pp, ep),
            io.child_ends, set_up)
    except OSError as e:
        io.close_child_ends()
        io.close()
        started(None, (126, f"cannot exec: {e}"))
        return None
