"""Starting a container, from its config to a running process the supervisor follows.

In order, on the monitor's side (the container's side is spawn/):
  1. the seccomp filter, compiled (and cached per capability set) before anything is made: a filter that cannot
     be built stops the start, never runs the container unconfined by accident;
  2. its network planned (networking.prepare: addresses, bridges, published ports; a taken port fails here);
  3. its cgroup made with its limits;
  4. its stdio (stdio.py): a pty, or FIFOs that outlive the monitor;
  5. the fork (setup.py), after which nothing waits: the container mounts its root while the monitor serves
     others; once its pid is known the monitor moves it into its cgroup (unless it joined it itself) and
     attaches its network, then lets it go on to its execve;
  6. once it has exec'd: its state says running, and those who asked hear of it.
A failure at any step undoes the steps before it: no cgroup, veth, lease, port or fd is left.

With TUIKER_MONITOR_TRACE=1 in the monitor's environment, each start logs how long each step took.
"""

from __future__ import annotations

import os
import sys
import time

from tuiker.base.config import INIT_TARGET
from tuiker.base.errors import TuikerError
from tuiker.base.times import now_iso
from tuiker.runtime import cgroups, networking, spawn
from tuiker.runtime.containers import Container
from tuiker.runtime.events import container_event, emit, network_events
from tuiker.runtime.monitor.logs import LogWriter
from tuiker.runtime.monitor.running import Running, start_time
from tuiker.runtime.monitor.setup import kill
from tuiker.runtime.monitor.stdio import open_stdio
from tuiker.runtime.security import seccomp

TYPE_CHECKING = False
if TYPE_CHECKING:
    from tuiker.runtime.monitor.supervisor import Supervisor

TRACE = bool(os.environ.get("TUIKER_MONITOR_TRACE"))


def start(sup: Supervisor, c: Container, size: list[int] | None = None) -> None:
    """Start container `c`; sup.start_finished hears how it went. A failure leaves nothing behind."""
    trace = _Trace(c) if TRACE else _NO_TRACE
    cfg, host = c.config["Config"], c.config["HostConfig"]

    def fail(code: int, message: str) -> None:
        # A restart that fails ends the restarting; a first start leaves the container created, as docker.
        status = "exited" if c.status == "restarting" else "created"
        try:
            c.write_state(Status=status, ExitCode=code, Error=message, Pid=0)
        except OSError:
            pass  # removed meanwhile
        sup.start_finished(c, (code, message))

    try:
        # Compiled before anything is made, and cached per capability set: the container's process only loads
        # it. A filter that cannot be built stops the start (never run unconfined by accident).
        filter_program = seccomp_program(c)
    except TuikerError as e:
        fail(125, str(e))
        return
    plan = None
    if networking.wants_network(c):
        # Addresses, bridges and published ports first: a taken port fails here, before any process.
        try:
            plan = sup.net.prepare(c)
        except Exception as e:  # noqa: BLE001 - prepare undid itself
            fail(125, str(e) if isinstance(e, TuikerError) else f"network setup failed: {e!r}")
            return
    cg = cgroups.for_container(c.id)

    def undo() -> None:
        cg.kill_all()
        cg.remove()
        if plan is not None:
            sup.net.abort(plan)

    try:
        cg.create(cgroups.Limits(**c.config["Limits"]))
        io = open_stdio(bool(cfg.get("Tty")), bool(cfg.get("OpenStdin")), size,
                        fifo_dir=None if cfg.get("Tty") else c.dir)
    except Exception as e:  # noqa: BLE001
        undo()
        fail(125, str(e))
        return
    rootfs = spawn.Rootfs(
        layers_dir=str(sup.root / "layers"), lower=c.config["Layers"], upper=str(c.dir / "upper"),
        work=str(c.dir / "work"), target=str(c.dir / "merged"), hostname=cfg["Hostname"],
        etc_files={f"/etc/{n}": str(c.dir / n) for n in ("hostname", "hosts", "resolv.conf")},
        readonly=bool(host.get("ReadonlyRootfs")), privileged=bool(host.get("Privileged")),
        console=io.console, network_host=host.get("NetworkMode") == "host", init=c.config.get("InitPath"),
        mounts=spawn.mounts_from_config(c.config.get("mounts") or []))
    # docker's --init: tini is pid 1, reaps zombies and passes signals on to the command.
    args = [INIT_TARGET, "--", *c.command] if rootfs.init else c.command
    proc = spawn.Process(args=args, env=cfg["Env"], cwd=cfg.get("WorkingDir") or "/",
                         user=cfg.get("User") or "", caps=set(c.config["Capabilities"]), tty=bool(cfg.get("Tty")),
                         no_new_privs=bool(c.config.get("NoNewPrivileges")), seccomp=filter_program,
                         stdio=io.child)
    # The container's process joins its cgroup before anything else where it can do so quickly (v1's tasks
    # files); elsewhere the monitor moves it while it mounts its root, since a write to cgroup.procs waits
    # for an RCU grace period (7-30 ms here) that would otherwise add to every start. With a network, the
    # container's veths are made and its eth0 configured while it waits for "go", so it never execs before
    # its network is up (networking.attach).
    def before_exec(pid: int) -> None:
        trace.mark("namespaces made, its pid known")
        if not cg.quick_self_join:
            cg.add(pid)
        if plan is not None:
            try:
                sup.net.attach(plan, pid)
            except TuikerError:
                raise
            except Exception as e:  # noqa: BLE001 - reported as the start's error, never raised further
                raise TuikerError(f"network setup failed: {e!r}") from e
        trace.mark("before its go: cgroup (v2), network attach")

    def set_up(pid: int, pidfd: int, error: tuple[int, str] | None) -> None:
        trace.mark("its root and privileges set up, until its execve")
        if error is None and not c.dir.exists():
            error = (125, "the container was removed while it started")
        if error:
            io.close()
            if pidfd >= 0:
                os.close(pidfd)
            if pid:
                kill(pid)
            undo()
            fail(*error)
            return
        sup.watch(Running(pid, pidfd, io.outputs, io.stdin, io.pty, cg, c, log=LogWriter(c.dir / "log.json")))
        if plan is not None:
            sup.net.commit(plan)  # NetworkSettings into c.state, written just below; peers learn its name
        sup.health.begin(c, fresh=True)  # State.Health back to starting, written just below
        c.write_state(Status="running", Pid=pid, PidStart=start_time(pid), ExitCode=0, Error="",
                      OOMKilled=False, Paused=False, StartedAt=now_iso(),
                      FinishedAt=c.state.get("FinishedAt", ""), RestartCount=c.state.get("RestartCount", 0))
        trace.mark("watched, state written")
        trace.report()
        for m in c.config.get("mounts") or []:
            if m.get("Type") == "volume":  # docker says so for each of its volumes, just before the start
                emit(sup.root, "volume", "mount", m["Name"], {
                    "container": c.id, "destination": m["Destination"], "driver": m.get("Driver") or "local",
                    "propagation": m.get("Propagation", ""), "read/write": str(bool(m.get("RW", True))).lower()})
        network_events(c, "connect", c.state.get("NetworkSettings"))
        container_event(c, "start")
        sup.start_finished(c, None)

    join = cg.join_self if cg.quick_self_join else None
    trace.mark("prepare: seccomp filter, network plan, cgroup, stdio")
    go: tuple[int, ...] = ()
    try:
        os.makedirs(rootfs.target, exist_ok=True)
        go = go_r, go_w = os.pipe2(os.O_CLOEXEC)
        sup.start_setups[c.id] = sup.setups.fork(
            lambda pp, ep: spawn.intermediate(rootfs, proc, pp, ep, go_r, join),
            io.child_ends + [go_r], set_up, go=(go_w, before_exec))
    except OSError as e:  # no process was made (out of fds or memory, a full disk)
        for fd in (*io.child_ends, *go):
            os.close(fd)
        io.close()
        undo()
        fail(125, f"cannot start the container: {e}")
        return
    trace.mark("forked")


def seccomp_program(c: Container) -> bytes | None:
    """The compiled filter for `c`'s processes, None when it runs unconfined (--privileged, seccomp=unconfined).
    An exec gets the container's own, as docker gives it."""
    if not c.config.get("Seccomp", True):
        return None
    return seccomp.program(frozenset(c.config["Capabilities"]))


class _Trace:
    """How long each step of one start took, logged to the monitor's log (bench/start reads it)."""

    def __init__(self, c: Container) -> None:
        self.id = c.short_id
        self.marks = [("", time.perf_counter())]

    def mark(self, step: str) -> None:
        self.marks.append((step, time.perf_counter()))

    def report(self) -> None:
        steps = "; ".join(f"{step} {(t - self.marks[i][1]) * 1000:.2f}" for i, (step, t) in enumerate(self.marks[1:]))
        print(f"trace start {self.id} (ms): {steps}", file=sys.stderr, flush=True)


class _NoTrace:
    def mark(self, step: str) -> None:
        pass

    def report(self) -> None:
        pass


_NO_TRACE = _NoTrace()
