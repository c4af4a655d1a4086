"""`exec`: a further process in a running container, with the container's namespaces, cgroup, capabilities and
seccomp filter (spawn.intermediate_exec joins them), its stdio made as a container's first process's is (stdio.py,
with pipes instead of FIFOs: an exec does not outlive the monitor). No go pipe: nothing is left to prepare."""

from __future__ import annotations

import os

from tuiker.base.errors import TuikerError
from tuiker.runtime import spawn
from tuiker.runtime.containers import Container
from tuiker.runtime.monitor.running import Running
from tuiker.runtime.monitor.server import Client
from tuiker.runtime.monitor.start import seccomp_program
from tuiker.runtime.monitor.stdio import open_stdio

TYPE_CHECKING = False
if TYPE_CHECKING:
    from tuiker.runtime.monitor.supervisor import Supervisor


def exec_in(sup: Supervisor, client: Client, c: Container, target: Running, req: dict) -> None:
    """Run req["cmd"] in `c`, whose first process is `target`; `client` hears of it, and is attached unless the
    request says detach."""
    cfg = c.config["Config"]
    try:
        filter_program = seccomp_program(c)
    except TuikerError as e:
        sup.server.reply(client, {"ok": False, "code": 126, "error": str(e)}, close=True)
        return
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
            sup.server.reply(client, {"ok": False, "code": error[0], "error": error[1]}, close=True)
            return
        r = Running(pid, pidfd, io.outputs, io.stdin, io.pty, None)
        sup.watch(r)
        if req.get("detach"):
            sup.server.reply(client, {"ok": True, "pid": pid}, close=True)
            return
        sup.server.reply(client, {"ok": True, "pid": pid})
        sup.attach(client, r, req)

    try:
        sup.setups.fork(lambda pp, ep: spawn.intermediate_exec(target.pid, proc, target.cgroup.join_self, pp, ep),
                        io.child_ends, set_up)
    except OSError as e:
        io.close_child_ends()
        io.close()
        sup.server.reply(client, {"ok": False, "code": 126, "error": f"cannot exec: {e}"}, close=True)
