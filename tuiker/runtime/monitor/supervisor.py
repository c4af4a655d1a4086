"""Containers' lives as the monitor supervises them: starts (start.py builds each one), output, exits, restarts
with docker's back-off, and the reconciliation of what the state files say with what runs, when a monitor starts.

The containers' first processes are the monitor's children (it is a child subreaper): it holds their pidfds, their
pty masters or output FIFOs, and writes their logs; it reaps them, records exit code, time and OOM state, and
applies the restart policy. Exec'd processes are followed the same way, without a container's state.
"""

from __future__ import annotations

import errno
import json
import os
import sys
import time
from pathlib import Path

from tuiker.base import linux
from tuiker.base.fsutil import read_json
from tuiker.base.times import now_iso, parse_time
from tuiker.runtime import cgroups, networking, volumes
from tuiker.runtime.containers import Container, ContainerStore
from tuiker.runtime.events import container_event, emit, network_events
from tuiker.runtime.monitor import start
from tuiker.runtime.monitor.health import Health
from tuiker.runtime.monitor.logs import LogWriter
from tuiker.runtime.monitor.running import Running, same_process
from tuiker.runtime.monitor.server import Client, Server
from tuiker.runtime.monitor.setup import Setup, Setups
from tuiker.runtime.monitor.stdio import set_winsize
from tuiker.runtime.monitor_client import CLOSE_STDIN, EXIT, RESIZE, STDERR, STDIN, STDOUT, frame, split_frames


class Supervisor:
    def __init__(self, root: Path, server: Server) -> None:
        self.root = root
        self.server = server
        self.store = ContainerStore(root)
        self.setups = Setups(server)
        # Bridges, veths, leases, nftables, published ports and /etc/hosts of the running containers.
        self.net = networking.Networking(root, self.store, server.sel)
        self.by_pidfd: dict[int, Running] = {}
        self.running: dict[str, Running] = {}  # container id -> its first process
        # Containers being started -> the (client, request) pairs to answer once they run (restarts have none),
        # and the setup of each (a stop cancels it).
        self.starting: dict[str, list[tuple[Client, dict]]] = {}
        self.start_setups: dict[str, Setup] = {}
        # Containers not running -> the clients attached to, or waiting for the exit after, their next start
        # (docker's attach and wait before the start: `docker run` sends both before it starts the container).
        self.next_start: dict[str, list[tuple[Client, dict]]] = {}
        self.health = Health(self)  # the running containers' health checks

    # -- when the monitor starts -------------------------------------------------------------------

    def reconcile(self) -> None:
        """If a monitor dies, containers keep running: the next one checks every container the state files call
        running. A live one is adopted (its exit is seen through a pidfd, but its exit code is lost; its output
        FIFOs kept what it wrote meanwhile); a dead one (monitor gone, host rebooted) is marked exited and its
        cgroup removed, so no command ever shows a phantom running container."""
        for c in self.store.list():
            if c.status not in ("running", "paused", "restarting"):
                # A start the last monitor had not finished may have gone on to execve without it: nothing of a
                # container that its state calls stopped may keep running.
                _remove_cgroup(c)
                continue
            pid = c.pid
            if pid and same_process(pid, c.state.get("PidStart")):
                try:
                    pidfd = linux.pidfd_open(pid)
                except OSError:
                    pidfd = -1
                if pidfd >= 0:
                    # The output FIFOs kept what the container wrote while no monitor ran: go on logging.
                    outputs = {}
                    for name, kind in (("stdout.fifo", STDOUT), ("stderr.fifo", STDERR)):
                        if (c.dir / name).exists():
                            outputs[os.open(c.dir / name, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)] = kind
                    r = Running(pid, pidfd, outputs, None, None, cgroups.for_container(c.id), c,
                                log=LogWriter(c.dir / "log.json") if outputs else None)
                    r.adopted = True
                    self.watch(r)
                    if c.status == "running" and self.health.begin(c, fresh=False):
                        c.write_state()  # started by a monitor that kept no health: starting from now
                    continue
            _remove_cgroup(c)
            c.write_state(Status="exited", ExitCode=255, Pid=0, FinishedAt=now_iso(), NetworkSettings=None,
                          Error="the container's monitor or the host stopped while it ran")
            container_event(c, "die", exitCode=255)  # found dead: nobody told of it yet
        # Adopt the live containers' networking; drop leases, veths and rules the dead ones left.
        self.net.reconcile([r.container for r in self.running.values() if r.container is not None])

    def reap_strays(self) -> None:
        """Reap children nobody watches: the process of an exec or start that failed before execve.

        Such a process sits in a container's pid namespace; unreaped, it would keep that namespace's
        pid 1 from ever finishing its exit (the kernel waits for every member), and `stop` would hang."""
        watched = {r.pid for r in self.by_pidfd.values()} | set(self.setups.by_pid)
        claimed = False
        while True:
            try:
                info = os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG | os.WNOWAIT)
            except ChildProcessError:
                return
            if info is None or info.si_pid in watched:
                return  # a watched child is reaped by exited(), with its status
            if not claimed:  # a setup's process whose pid is written but not read yet is no stray (setup.py)
                self.setups.claim_pids()
                watched |= set(self.setups.by_pid)
                claimed = True
                continue
            os.waitpid(info.si_pid, 0)

    # -- processes and their clients -----------------------------------------------------------------

    def watch(self, r: Running) -> None:
        self.by_pidfd[r.pidfd] = r
        self.server.register(r.pidfd, "pidfd", lambda _: self.exited(r))
        if r.container is not None:
            self.running[r.container.id] = r
        for fd in r.outputs:
            os.set_blocking(fd, False)
            self.server.register(fd, "output", lambda _, fd=fd: self.output_ready(r, fd))

    def attach(self, client: Client, r: Running, req: dict) -> None:
        """`client` gets `r`'s output as frames from now on, and its exit; its STDIN frames go to `r`."""
        r.clients.append(client)
        r.waiters.append(client)
        if req.get("size") and r.pty is not None:
            set_winsize(r.pty, *req["size"])

        def on_frame(kind: int, payload: bytes) -> None:
            target = r.pty if r.pty is not None else r.stdin
            if kind == STDIN and target is not None:
                try:
                    os.write(target, payload)
                except OSError:
                    pass
            elif kind == CLOSE_STDIN and r.stdin is not None and r.pty is None:
                os.close(r.stdin)
                r.stdin = None
            elif kind == RESIZE and r.pty is not None:
                rows, cols = json.loads(payload)
                set_winsize(r.pty, rows, cols)

        client.on_frame = on_frame
        # Input sent while it waited (an attach before the start, a start with attach) came before any handler.
        for kind, payload in split_frames(client.inbuf):
            on_frame(kind, payload)

    def forget(self, client: Client) -> None:
        """A client went away: nothing more is sent to it."""
        for r in self.by_pidfd.values():
            if client in r.clients:
                r.clients.remove(client)
            if client in r.waiters:
                r.waiters.remove(client)
        for cid, pending in list(self.next_start.items()):
            self.next_start[cid] = [p for p in pending if p[0] is not client]
            if not self.next_start[cid]:
                del self.next_start[cid]

    def output_ready(self, r: Running, fd: int) -> bool:
        """Log what `r` wrote on `fd` and send it to its clients; False once there is nothing more to read now."""
        if fd not in r.outputs:
            return False  # closed earlier in this round of events
        try:
            data = os.read(fd, 65536)
        except BlockingIOError:
            return False
        except OSError as e:
            if e.errno != errno.EIO:  # EIO: the pty's other side is gone
                raise
            data = b""
        if not data:
            self._close_output(r, fd)
            return False
        kind = r.outputs[fd]
        if r.sink is not None:
            r.sink(data)
        if r.log is not None:
            r.log.write("stdout" if kind == STDOUT else "stderr", data)
        packet = frame(kind, data)
        for client in r.clients:
            self.server.send(client, packet, droppable=True)
        return True

    def _close_output(self, r: Running, fd: int) -> None:
        self.server.unregister(fd)
        os.close(fd)
        r.outputs.pop(fd, None)
        if fd == r.pty:
            r.pty = None  # the master is closed: its number may be another fd's by the time the process exits

    # -- starting ----------------------------------------------------------------------------------

    def request_start(self, c: Container, size: list[int] | None, waiter: tuple[Client, dict] | None) -> None:
        """Start `c`, or join the start already under way; each waiter is answered once it runs or failed."""
        if c.status == "dead":
            message = f"container {c.short_id} is dead ({c.state.get('Error', 'its files are damaged')}): remove it"
            if waiter is not None:
                self.server.reply(waiter[0], {"ok": False, "code": 125, "error": message}, close=True)
            return
        waiting = self.starting.get(c.id)
        if waiting is not None:
            if waiter is not None:
                waiting.append(waiter)
            return
        self.starting[c.id] = [waiter] if waiter is not None else []
        try:
            start.start(self, c, size)
        except Exception as e:  # noqa: BLE001 - a config start() did not foresee: its waiters must still hear
            self.start_finished(c, (125, f"cannot start the container: {e!r}"))

    def start_finished(self, c: Container, error: tuple[int, str] | None) -> None:
        self.start_setups.pop(c.id, None)
        for client, req in self.next_start.pop(c.id, []):
            if req.get("op") == "wait":
                if error:  # it could not run: that is its exit, with docker's status for the failure
                    self.server.reply(client, {"ok": True, "exit": error[0]}, close=True)
                else:
                    self.running[c.id].waiters.append(client)
            elif error:  # nothing ran: the attached client's stream ends without an exit
                client.close_after_flush = True
                self.server.flush(client)
            else:
                self.attach(client, self.running[c.id], req)
        for client, req in self.starting.pop(c.id, []):
            if error:
                self.server.reply(client, {"ok": False, "code": error[0], "error": error[1]}, close=True)
                continue
            r = self.running[c.id]
            self.server.reply(client, {"ok": True, "pid": r.pid}, close=not req.get("attach"))
            if req.get("attach"):
                self.attach(client, r, req)

    # -- exits and restarts ------------------------------------------------------------------------

    def exited(self, r: Running) -> None:
        try:
            reaped, status = os.waitpid(r.pid, os.WNOHANG)
            if not reaped:
                return  # not gone yet (a spurious wake-up)
            code = os.waitstatus_to_exitcode(status)
            code = 128 - code if code < 0 else code  # killed by signal N: docker reports 128 + N
            known = True
        except ChildProcessError:
            if not r.adopted and os.path.exists(f"/proc/{r.pid}"):
                # Exited before its intermediate did (setup.py): still the intermediate's zombie for the moment it
                # takes to exit, then re-parented to us. The pidfd stays readable: the next round reaps it.
                return
            code, known = 255, False  # adopted after a monitor restart: not our child
        r.exited = True
        # Output still in the pipes or the pty belongs to the run that just ended. Then they close, whoever still
        # holds the other end: an exec's `sleep 100 &` keeps its pipe open, and must not keep the monitor reading.
        for fd in list(r.outputs):
            while self.output_ready(r, fd):
                pass
            if fd in r.outputs:
                self._close_output(r, fd)
        self.server.unregister(r.pidfd)
        os.close(r.pidfd)
        self.by_pidfd.pop(r.pidfd, None)
        if r.stdin is not None:
            os.close(r.stdin)
        if r.log is not None:
            r.log.close()
        c = r.container
        exit_packet = frame(EXIT, json.dumps({"exit": code}).encode())
        if c is None:
            for client in r.clients + [w for w in r.waiters if w not in r.clients]:
                client.close_after_flush = True
                self.server.send(client, exit_packet)
            if r.on_exit is not None:
                r.on_exit(code)
            return
        self.running.pop(c.id, None)
        # Its veths, address lease, held ports, DNAT rules and peers' /etc/hosts entries go now (networking.py).
        network_events(c, "disconnect", c.state.get("NetworkSettings"))
        try:
            self.net.stopped(c)
        except Exception as e:  # noqa: BLE001 - the exit must still be recorded
            print(f"monitor: network teardown of {c.id[:12]}: {e!r}", file=sys.stderr, flush=True)
        oom = bool(r.cgroup.oom_killed()) if r.cgroup is not None else False
        if r.cgroup is not None:
            r.cgroup.kill_all()
            r.cgroup.remove()
        started = c.state.get("StartedAt", "")
        self.health.stop(c)
        c.write_state(Status="exited", ExitCode=code, OOMKilled=oom, Pid=0, FinishedAt=now_iso(),
                      Paused=False, Error="" if known else "exit code unknown: the monitor was restarted")
        if oom:
            container_event(c, "oom")
        container_event(c, "die", exitCode=code, **({"execDuration": str(int(time.time() - ran_from))}
                                                     if (ran_from := parse_time(started)) else {}))
        for m in c.config.get("mounts") or []:
            if m.get("Type") == "volume":
                emit(self.root, "volume", "unmount", m["Name"], {"container": c.id, "driver": m.get("Driver") or
                                                                 "local"})
        host = c.config["HostConfig"]
        try:  # `update` may have changed its restart policy since it started
            host = read_json(c.dir / "config.json").get("HostConfig") or host
        except (OSError, ValueError):
            pass
        if host.get("AutoRemove"):
            # Gone before anyone hears of the exit: `run --rm` then returns with nothing left to wait for. Its
            # anonymous volumes go with it, as docker's --rm takes them.
            self.store.delete_files(c)
            container_event(c, "destroy")
            try:
                volumes.remove_anonymous(self.root, c, self.store.list())
            except OSError as e:
                print(f"monitor: removing the volumes of {c.id[:12]}: {e!r}", file=sys.stderr, flush=True)
        for client in r.clients + [w for w in r.waiters if w not in r.clients]:
            client.close_after_flush = True
            if client in r.clients:
                self.server.send(client, exit_packet)
            else:
                self.server.send(client, json.dumps({"ok": True, "exit": code}).encode() + b"\n")
        if host.get("AutoRemove"):
            return
        delay = restart_delay(host.get("RestartPolicy") or {}, code, r.manual_stop, c.state, started)
        if delay is not None:
            c.write_state(Status="restarting", RestartCount=c.state.get("RestartCount", 0) + 1)
            self.server.after(delay, lambda: self._restart(c))

    def _restart(self, c: Container) -> None:
        try:
            c.reload()
        except Exception:  # noqa: BLE001 - removed meanwhile
            return
        if c.status != "restarting":
            return  # stopped or removed meanwhile: that is what ends a pending restart
        self.request_start(c, None, None)


def restart_delay(policy: dict, code: int, manual_stop: bool, state: dict, started_at: str) -> float | None:
    """docker's rules: `no`; `on-failure[:N]` only for a non-zero exit, at most N times; `always`;
    `unless-stopped`; never after a manual stop. Back-off doubles from 100 ms and resets when the
    container ran for 10 s or more."""
    name = policy.get("Name") or "no"
    if manual_stop or name == "no":
        return None
    count = state.get("RestartCount", 0)
    if name == "on-failure":
        if code == 0:
            return None
        maximum = policy.get("MaximumRetryCount") or 0
        if maximum and count >= maximum:
            return None
    ran = time.time() - (parse_time(started_at) or time.time())
    streak = 0 if ran >= 10 else state.get("BackoffStreak", 0) + 1
    state["BackoffStreak"] = streak
    return min(0.1 * 2 ** max(streak - 1, 0), 60.0) if streak else 0.1


def _remove_cgroup(c: Container) -> None:
    cg = cgroups.for_container(c.id)
    cg.kill_all()
    cg.remove()
