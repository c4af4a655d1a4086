"""The monitor's requests, op by op: a client's first line {"op": ..., ...} is looked up in one of two tables.

ENGINE_OPS take the request alone; CONTAINER_OPS name a container by "id" and get it loaded, with its running
first process if it has one (None if not). Each handler replies (and, for attach, start with attach and exec,
then streams frames); an op in neither table gets the unknown-request reply.
"""

from __future__ import annotations

import os

from tuiker.base.signals import parse_signal
from tuiker.runtime.containers import Container
from tuiker.runtime.events import container_event
from tuiker.runtime.monitor.exec import exec_in
from tuiker.runtime.monitor.running import Running
from tuiker.runtime.monitor.server import Client
from tuiker.runtime.monitor.setup import kill
from tuiker.runtime.monitor.stdio import set_winsize
from tuiker.runtime.monitor.supervisor import Supervisor


def handle(sup: Supervisor, client: Client, req: dict) -> None:
    op = req.get("op")
    if op in ENGINE_OPS:
        ENGINE_OPS[op](sup, client, req)
        return
    handler = CONTAINER_OPS.get(op)
    if handler is None or "id" not in req:
        # A newer client than this monitor (tuiker was upgraded while the monitor ran) is the usual cause.
        sup.server.reply(client, {"ok": False, "code": 125, "error": f"unknown request {op!r}: the running monitor "
                                  f"(pid {os.getpid()}) is older than this tuiker; stop it and the next command "
                                  "starts a new one (containers keep running)"}, close=True)
        return
    c = sup.store.get(req["id"])
    handler(sup, client, req, c, sup.running.get(c.id))


# -- the engine's ----------------------------------------------------------------------------------

def ping(sup: Supervisor, client: Client, req: dict) -> None:
    sup.server.reply(client, {"ok": True, "pid": os.getpid()}, close=True)


def network(sup: Supervisor, client: Client, req: dict) -> None:
    """connect, disconnect and the other network changes that touch running containers (networking.py)."""
    running = {cid: r.pid for cid, r in sup.running.items()}
    sup.server.reply(client, sup.net.handle(req, running), close=True)


def removed(sup: Supervisor, client: Client, req: dict) -> None:
    """The engine removed a container that did not run: whoever waited for its next start hears it never comes
    (an attach's stream ends, a wait gets the last exit code)."""
    for waiting, wait_req in sup.next_start.pop(req.get("id"), []):
        if wait_req.get("op") == "wait":
            sup.server.reply(waiting, {"ok": True, "exit": int(req.get("exit") or 0)}, close=True)
        else:
            waiting.close_after_flush = True
            sup.server.flush(waiting)
    sup.server.reply(client, {"ok": True}, close=True)


# -- a container's ---------------------------------------------------------------------------------

def start(sup: Supervisor, client: Client, req: dict, c: Container, r: Running | None) -> None:
    if req.get("attach"):
        container_event(c, "attach")  # docker's `run` attaches, then starts
    if r is None:
        sup.request_start(c, req.get("size"), (client, req))
        return
    sup.server.reply(client, {"ok": True, "already": True}, close=not req.get("attach"))
    if req.get("attach"):
        sup.attach(client, r, req)


def attach(sup: Supervisor, client: Client, req: dict, c: Container, r: Running | None) -> None:
    if r is None and req.get("next_start"):
        sup.server.reply(client, {"ok": True, "pending": True})
        sup.next_start.setdefault(c.id, []).append((client, req))
        return
    if r is None:
        sup.server.reply(client, {"ok": False, "code": 1, "error": "You cannot attach to a stopped container,"
                                  " start it first"}, close=True)
        return
    sup.server.reply(client, {"ok": True})
    container_event(c, "attach")
    sup.attach(client, r, req)


def wait(sup: Supervisor, client: Client, req: dict, c: Container, r: Running | None) -> None:
    if r is None and req.get("next_exit"):
        sup.next_start.setdefault(c.id, []).append((client, req))  # answered at the exit after its next start
        return
    if r is None:
        sup.server.reply(client, {"ok": True, "exit": c.state.get("ExitCode", 0)}, close=True)
    else:
        r.waiters.append(client)  # answered at its exit (supervisor.exited)


def stop(sup: Supervisor, client: Client, req: dict, c: Container, r: Running | None) -> None:
    """The stop signal (the image's StopSignal, SIGTERM by default), then SIGKILL after the timeout; the reply
    waits for the exit."""
    if r is None:
        _not_running(sup, client, req["op"], c)
        return
    _signal(r, c, req.get("signal") or _stop_signal(c))
    sup.server.after(float(req.get("timeout", 10)), lambda: r.exited or _kill_after_timeout(r, c))
    r.waiters.append(client)


def _stop_signal(c: Container) -> str:
    """Config.StopSignal (--stop-signal, else the image's), SIGTERM without one. An image's that names no signal
    means SIGTERM too, as docker's Container.StopSignal() falls back (--stop-signal was checked at create)."""
    sig = c.config["Config"].get("StopSignal") or "SIGTERM"
    try:
        parse_signal(sig)
    except ValueError:
        return "SIGTERM"
    return sig


def kill_(sup: Supervisor, client: Client, req: dict, c: Container, r: Running | None) -> None:
    if r is None:
        _not_running(sup, client, req["op"], c)
        return
    _signal(r, c, req.get("signal") or "SIGKILL")
    sup.server.reply(client, {"ok": True}, close=True)


def _not_running(sup: Supervisor, client: Client, op: str, c: Container) -> None:
    """stop or kill of a container without a running process: one still setting up, one between two runs of its
    restart policy, or one that is not running at all."""
    if c.id in sup.start_setups:
        # Still setting up: it dies before its execve, and its start fails saying so.
        sup.setups.cancel(sup.start_setups[c.id], f"the container was {op}ped while starting"
                          if op == "stop" else "the container was killed while starting")
        sup.server.reply(client, {"ok": True, "exit": 137}, close=True)
    elif c.status == "restarting":
        # Between two runs: ending it here is what stops the pending restart (supervisor._restart checks).
        c.write_state(Status="exited")
        sup.server.reply(client, {"ok": True, "exit": c.state.get("ExitCode", 0)}, close=True)
    elif op == "kill":
        sup.server.reply(client, {"ok": False, "code": 1, "error": f"Container {c.short_id} is not running"},
                         close=True)
    else:
        sup.server.reply(client, {"ok": True, "exit": c.state.get("ExitCode", 0)}, close=True)


def _signal(r: Running, c: Container, sig: str | int) -> None:
    number = parse_signal(sig)
    r.manual_stop = True  # no restart policy applies to an exit asked for
    if r.cgroup is not None and c.status == "paused":
        r.cgroup.thaw()  # a frozen process cannot act on its signal
    os.kill(r.pid, number)
    container_event(c, "kill", signal=number)


def _kill_after_timeout(r: Running, c: Container) -> None:
    kill(r.pid)
    container_event(c, "kill", signal=9)


def pause(sup: Supervisor, client: Client, req: dict, c: Container, r: Running | None) -> None:
    if r is None:
        sup.server.reply(client, {"ok": False, "code": 1, "error": f"Container {c.short_id} is not running"},
                         close=True)
        return
    if req["op"] == "pause":
        r.cgroup.freeze()
        sup.health.stop(c)  # no checks in a frozen container: docker calls it unhealthy until one succeeds again
        c.write_state(Status="paused", Paused=True)
    else:
        r.cgroup.thaw()
        c.state.update(Status="running", Paused=False)
        sup.health.begin(c, fresh=False)
        c.write_state()
    container_event(c, req["op"])
    sup.server.reply(client, {"ok": True}, close=True)


def exec_(sup: Supervisor, client: Client, req: dict, c: Container, r: Running | None) -> None:
    if r is None or c.status == "paused":
        sup.server.reply(client, {"ok": False, "code": 1, "error": f"Container {c.short_id} is not running"
                                  if r is None else f"Container {c.short_id} is paused, unpause the container"
                                  " before exec"}, close=True)
        return
    exec_in(sup, client, c, r, req)


def resize(sup: Supervisor, client: Client, req: dict, c: Container, r: Running | None) -> None:
    if r is not None and r.pty is not None:
        set_winsize(r.pty, req["rows"], req["cols"])
    sup.server.reply(client, {"ok": True}, close=True)


ENGINE_OPS = {"ping": ping, "network": network, "removed": removed}
CONTAINER_OPS = {"start": start, "attach": attach, "wait": wait, "stop": stop, "kill": kill_, "pause": pause,
                 "unpause": pause, "exec": exec_, "resize": resize}
