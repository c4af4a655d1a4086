"""The monitor: one supervising process for all the containers of an engine root.

Why one process for all rather than one per container (conmon's design): a Python process costs about
10 MiB, against conmon's 1.9 MiB, so a process per container would cost five times conmon; one monitor
costs its ~12 MiB once, and each further container only a few fds and buffers (bench/start measures it).

It is started on demand by the CLI or the TUI in a session of its own, so closing either never stops a
detached container. It is a child subreaper, and the containers' first processes are its children: it
owns their pty master or stdout/stderr pipes, writes their logs, serves attach and exec over a unix
socket, reaps them, records exit code, time and OOM state, and applies restart policies with docker's
back-off. It is single-threaded (a selector loop), so it may fork the processes that unshare/setns.

If it dies, containers keep running: the next command that needs it starts a new one, which checks
every container the state files call running. A live one is adopted (its exit is seen through a
pidfd, but its exit code and any further output are lost); a dead one (monitor gone, host rebooted) is
marked exited and its cgroup removed, so no command ever shows a phantom running container.

Wire protocol: one JSON request line, one JSON reply line; `attach`, `start` with attach, and `exec`
then carry frames: 1 byte kind, 4 bytes big-endian length, payload.
"""

from __future__ import annotations

import errno
import fcntl
import gc
import json
import os
import selectors
import signal
import socket
import struct
import sys
import termios
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from tuiker.base import linux
from tuiker.base.config import INIT_TARGET
from tuiker.base.errors import TuikerError
from tuiker.base.fsutil import atomic_write
from tuiker.base.times import now_iso, parse_time
from tuiker.net.portproxy import send_buffered
from tuiker.runtime import cgroups, networking, spawn
from tuiker.runtime.containers import Container, ContainerStore
from tuiker.runtime.monitor_client import (
    CLOSE_STDIN,
    EXIT,
    RESIZE,
    STDERR,
    STDIN,
    STDOUT,
    frame,
    runtime_dir,
    split_frames,
)
from tuiker.runtime.security import exeseal, seccomp

LOG_MAX_BYTES = 10 * 1024 * 1024  # rotated at this size; one older file is kept (docker's json-file max-size)
MAX_CLIENT_BUFFER = 4 * 1024 * 1024
SETUP_TIMEOUT = 30.0


# -- the monitor's side --------------------------------------------------------------------------

@dataclass
class Client:
    sock: socket.socket
    inbuf: bytearray = field(default_factory=bytearray)
    outbuf: bytearray = field(default_factory=bytearray)
    handshake_done: bool = False
    on_frame: Callable[[int, bytes], None] | None = None
    close_after_flush: bool = False


@dataclass
class Running:
    """A process the monitor supervises: a container's first process, or an exec."""
    pid: int
    pidfd: int
    outputs: dict[int, int]  # fd -> STDOUT/STDERR
    stdin: int | None
    pty: int | None
    cgroup: object | None
    container: Container | None = None  # None for exec sessions
    clients: list[Client] = field(default_factory=list)
    waiters: list[Client] = field(default_factory=list)
    manual_stop: bool = False
    kill_timer: float | None = None
    log: LogWriter | None = None


@dataclass
class Setup:
    """A process between its fork and its execve: a container's start or an exec. Followed through the selector,
    never waited on: an image can make its setup slow (a FIFO where /etc/passwd should be, a huge file), and one
    container's setup must not stop the monitor serving the others. It ends when its error pipe closes (execve or
    exit), or when SETUP_TIMEOUT runs out and it is killed."""
    intermediate: int
    pid_r: int
    err_r: int
    done: Callable[[int, int, tuple[int, str] | None], None]  # (pid, pidfd, error), called once
    go_w: int | None = None  # with a go pipe: before_exec(pid) runs, then "g" lets the process execve
    before_exec: Callable[[int], None] | None = None
    pid_text: bytes = b""
    pid: int = 0
    pidfd: int = -1
    message: bytes = b""
    error: tuple[int, str] | None = None  # the engine's own reason to fail it (prepare, cancel, timeout)
    finished: bool = False


class LogWriter:
    """docker's json-file: one {"log", "stream", "time"} object per line of output."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
        self.size = os.fstat(self.fd).st_size
        self.partial: dict[str, bytes] = {}

    def write(self, stream: str, data: bytes) -> None:
        data = self.partial.pop(stream, b"") + data
        lines = data.split(b"\n")
        if lines[-1]:
            # Keep an unfinished line for the next chunk unless it grows too long to hold.
            if len(lines[-1]) < 16384:
                self.partial[stream] = lines[-1]
                lines = lines[:-1]
        else:
            lines = lines[:-1]
        if not lines:
            return
        stamp = now_iso()
        out = b"".join(json.dumps({"log": line.decode("utf-8", "replace") + "\n", "stream": stream,
                                   "time": stamp}).encode() + b"\n" for line in lines)
        os.write(self.fd, out)
        self.size += len(out)
        if self.size > LOG_MAX_BYTES:
            os.close(self.fd)
            os.replace(self.path, self.path.with_name(self.path.name + ".1"))
            self.fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
            self.size = 0

    def close(self) -> None:
        for stream, rest in list(self.partial.items()):
            self.partial.pop(stream)
            if rest:
                self.write(stream, rest + b"\n")
        os.close(self.fd)


class Monitor:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.store = ContainerStore(root)
        self.sel = selectors.DefaultSelector()
        self.by_pidfd: dict[int, Running] = {}
        self.by_container: dict[str, Running] = {}
        self.fd_owner: dict[int, Running] = {}
        self.setups: dict[int, Setup] = {}  # by pid once known: reap_strays leaves these to their Setup
        # Containers being started -> the (client, request) pairs to answer once they run (restarts have none).
        self.starting: dict[str, list[tuple[Client, dict]]] = {}
        self.start_setups: dict[str, Setup] = {}
        self.timers: list[tuple[float, Callable[[], None]]] = []
        # Bridges, veths, leases, nftables, published ports and /etc/hosts of the running containers.
        self.net = networking.Networking(root, self.store, self.sel)

    # -- lifecycle ---------------------------------------------------------------------------------

    def serve(self) -> None:
        run = runtime_dir(self.root)
        lock = os.open(run / "monitor.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        for _ in range(20):
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                time.sleep(0.005)  # a client's alive() probe holds it for microseconds
        else:
            return  # another monitor serves this root
        linux.set_child_subreaper()
        signal.signal(signal.SIGPIPE, signal.SIG_IGN)
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        # Reconcile before listening: a client that gets through may trust the state files.
        self.store.sweep()
        self.reconcile()
        sock_path = run / "monitor.sock"
        try:
            sock_path.unlink()
        except FileNotFoundError:
            pass
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        listener.bind(str(sock_path))
        os.chmod(sock_path, 0o600)
        listener.listen(64)
        listener.setblocking(False)
        self.sel.register(listener, selectors.EVENT_READ, ("listener", None))
        atomic_write(run / "monitor.pid", str(os.getpid()).encode())
        while True:
            self.loop_once()

    def loop_once(self) -> None:
        timeout = None
        if self.timers:
            timeout = max(0.0, min(t for t, _ in self.timers) - time.monotonic())
        for key, events in self.sel.select(timeout):
            kind, obj = key.data
            try:
                if kind == "listener":
                    self.accept(key.fileobj)
                elif kind == "client":
                    self.client_event(obj, events)
                elif kind == "output":
                    self.output_ready(key.fd)
                elif kind == "pidfd":
                    self.process_exited(obj)
                elif kind == "setup-pid":
                    self._setup_pid_ready(obj)
                elif kind == "setup-err":
                    self._setup_err_ready(obj)
                elif kind == "net":
                    obj(events)  # a published port's socket (portproxy)
            except Exception as e:  # noqa: BLE001 - one bad request must never take the monitor down
                print(f"monitor: {kind}: {e!r}", file=sys.stderr, flush=True)
        self.reap_strays()
        now = time.monotonic()
        due = [fn for t, fn in self.timers if t <= now]
        self.timers = [(t, fn) for t, fn in self.timers if t > now]
        for fn in due:
            fn()

    def reconcile(self) -> None:
        for c in self.store.list():
            if c.status not in ("running", "paused", "restarting"):
                # A start the last monitor had not finished may have gone on to execve without it: nothing of a
                # container that its state calls stopped may keep running.
                cg = cgroups.driver(f"tuiker/{c.id}")
                cg.kill_all()
                cg.remove()
                continue
            pid = c.pid
            if pid and _same_process(pid, c.state.get("PidStart")):
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
                    r = Running(pid, pidfd, outputs, None, None, cgroups.driver(f"tuiker/{c.id}"), c,
                                log=LogWriter(c.dir / "log.json") if outputs else None)
                    self._watch(r)
                    continue
            cg = cgroups.driver(f"tuiker/{c.id}")
            cg.kill_all()
            cg.remove()
            c.write_state(Status="exited", ExitCode=255, Pid=0, FinishedAt=now_iso(), NetworkSettings=None,
                          Error="the container's monitor or the host stopped while it ran")
        # Adopt the live containers' networking; drop leases, veths and rules the dead ones left.
        self.net.reconcile([r.container for r in self.by_container.values() if r.container is not None])

    def reap_strays(self) -> None:
        """Reap children nobody watches: the process of an exec or start that failed before execve.

        Such a process sits in a container's pid namespace; unreaped, it would keep that namespace's
        pid 1 from ever finishing its exit (the kernel waits for every member), and `stop` would hang."""
        watched = {r.pid for r in self.by_pidfd.values()} | set(self.setups)
        while True:
            try:
                info = os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG | os.WNOWAIT)
            except ChildProcessError:
                return
            if info is None or info.si_pid in watched:
                return  # a watched child is reaped by process_exited, with its status
            os.waitpid(info.si_pid, 0)

    def _watch(self, r: Running) -> None:
        self.by_pidfd[r.pidfd] = r
        self.sel.register(r.pidfd, selectors.EVENT_READ, ("pidfd", r))
        if r.container is not None:
            self.by_container[r.container.id] = r
        for fd in r.outputs:
            os.set_blocking(fd, False)
            self.fd_owner[fd] = r
            self.sel.register(fd, selectors.EVENT_READ, ("output", None))

    # -- clients -----------------------------------------------------------------------------------

    def accept(self, listener: socket.socket) -> None:
        sock, _ = listener.accept()
        sock.setblocking(False)
        client = Client(sock)
        self.sel.register(sock, selectors.EVENT_READ, ("client", client))

    def client_event(self, client: Client, events: int) -> None:
        if events & selectors.EVENT_WRITE:
            self.flush(client)
        if not events & selectors.EVENT_READ:
            return
        try:
            data = client.sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            self.drop(client)
            return
        client.inbuf += data
        if not client.handshake_done:
            line, sep, rest = bytes(client.inbuf).partition(b"\n")
            if not sep:
                return
            client.handshake_done = True
            client.inbuf = bytearray(rest)
            try:
                request = json.loads(line)
                self.handle(client, request)
            except Exception as e:  # noqa: BLE001
                self.reply(client, {"ok": False, "error": str(e), "code": 125}, close=True)
                return
        if client.on_frame:
            for kind, payload in split_frames(client.inbuf):
                client.on_frame(kind, payload)

    def send(self, client: Client, data: bytes, droppable: bool = False) -> None:
        if droppable and len(client.outbuf) > MAX_CLIENT_BUFFER:
            return  # a client that stopped reading loses output rather than stalling every container
        client.outbuf += data  # replies and EXIT frames always: a slow reader still learns the exit code
        self.flush(client)

    def flush(self, client: Client) -> None:
        if not send_buffered(client.sock, client.outbuf):
            self.drop(client)
            return
        try:
            want = selectors.EVENT_READ | (selectors.EVENT_WRITE if client.outbuf else 0)
            self.sel.modify(client.sock, want, ("client", client))
        except (KeyError, ValueError):
            return
        if client.close_after_flush and not client.outbuf:
            self.drop(client)

    def reply(self, client: Client, message: dict, close: bool = False) -> None:
        client.close_after_flush = close
        self.send(client, json.dumps(message).encode() + b"\n")

    def drop(self, client: Client) -> None:
        try:
            self.sel.unregister(client.sock)
        except (KeyError, ValueError):
            pass
        client.sock.close()
        for r in list(self.by_pidfd.values()):
            if client in r.clients:
                r.clients.remove(client)
            if client in r.waiters:
                r.waiters.remove(client)

    # -- requests ----------------------------------------------------------------------------------

    def handle(self, client: Client, req: dict) -> None:
        op = req.get("op")
        if op == "ping":
            self.reply(client, {"ok": True, "pid": os.getpid()}, close=True)
            return
        if op == "network":
            running = {cid: r.pid for cid, r in self.by_container.items()}
            self.reply(client, self.net.handle(req, running), close=True)
            return
        if "id" not in req:
            self._unknown(client, op)
            return
        container = self.store.get(req["id"])
        r = self.by_container.get(container.id)
        if op == "start":
            if r is not None:
                self.reply(client, {"ok": True, "already": True}, close=not req.get("attach"))
                if req.get("attach"):
                    self._attach(client, r, req)
                return
            self.request_start(container, req.get("size"), (client, req))
        elif op == "attach":
            if r is None:
                self.reply(client, {"ok": False, "code": 1, "error": "You cannot attach to a stopped container,"
                                    " start it first"}, close=True)
                return
            self.reply(client, {"ok": True})
            self._attach(client, r, req)
        elif op == "wait":
            if r is None:
                self.reply(client, {"ok": True, "exit": container.state.get("ExitCode", 0)}, close=True)
            else:
                r.waiters.append(client)
        elif op in ("stop", "kill"):
            if r is None and container.id in self.start_setups:
                # Still setting up: it dies before its execve, and its start fails saying so.
                self._cancel_setup(self.start_setups[container.id], f"the container was {op}ped while starting"
                                   if op == "stop" else "the container was killed while starting")
                self.reply(client, {"ok": True, "exit": 137}, close=True)
                return
            if r is None and container.status == "restarting":
                # Between two runs: ending it here is what stops the pending restart (_restart checks).
                container.write_state(Status="exited")
                self.reply(client, {"ok": True, "exit": container.state.get("ExitCode", 0)}, close=True)
                return
            if r is None:
                if op == "kill":
                    self.reply(client, {"ok": False, "code": 1,
                                        "error": f"Container {container.short_id} is not running"}, close=True)
                else:
                    self.reply(client, {"ok": True, "exit": container.state.get("ExitCode", 0)}, close=True)
                return
            r.manual_stop = True
            if r.cgroup is not None and container.status == "paused":
                r.cgroup.thaw()
            sig = req.get("signal") or container.config["Config"].get("StopSignal", "SIGTERM")
            os.kill(r.pid, _signal_number(sig))
            if op == "stop":
                timeout = float(req.get("timeout", 10))
                self.timers.append((time.monotonic() + timeout, lambda: _kill_if_alive(r)))
                r.waiters.append(client)
            else:
                self.reply(client, {"ok": True}, close=True)
        elif op in ("pause", "unpause"):
            if r is None:
                self.reply(client, {"ok": False, "code": 1,
                                    "error": f"Container {container.short_id} is not running"}, close=True)
                return
            if op == "pause":
                r.cgroup.freeze()
                container.write_state(Status="paused", Paused=True)
            else:
                r.cgroup.thaw()
                container.write_state(Status="running", Paused=False)
            self.reply(client, {"ok": True}, close=True)
        elif op == "exec":
            if r is None or container.status == "paused":
                self.reply(client, {"ok": False, "code": 1, "error": f"Container {container.short_id} is not"
                                    " running" if r is None else f"Container {container.short_id} is paused,"
                                    " unpause the container before exec"}, close=True)
                return
            self.exec(client, container, r, req)
        elif op == "resize":
            if r is not None and r.pty is not None:
                _set_winsize(r.pty, req["rows"], req["cols"])
            self.reply(client, {"ok": True}, close=True)
        else:
            self._unknown(client, op)

    def _unknown(self, client: Client, op: str | None) -> None:
        # A newer client than this monitor (tuiker was upgraded while the monitor ran) is the usual cause.
        self.reply(client, {"ok": False, "code": 125, "error": f"unknown request {op!r}: the running monitor "
                            f"(pid {os.getpid()}) is older than this tuiker; stop it and the next command starts "
                            "a new one (containers keep running)"}, close=True)

    def _attach(self, client: Client, r: Running, req: dict) -> None:
        r.clients.append(client)
        r.waiters.append(client)
        if req.get("size") and r.pty is not None:
            _set_winsize(r.pty, *req["size"])

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
                _set_winsize(r.pty, rows, cols)

        client.on_frame = on_frame

    # -- starting ----------------------------------------------------------------------------------

    def request_start(self, c: Container, size: list[int] | None, waiter: tuple[Client, dict] | None) -> None:
        """Start `c`, or join the start already under way; each waiter is answered once it runs or failed."""
        if c.status == "dead":
            message = f"container {c.short_id} is dead ({c.state.get('Error', 'its files are damaged')}): remove it"
            if waiter is not None:
                self.reply(waiter[0], {"ok": False, "code": 125, "error": message}, close=True)
            return
        waiting = self.starting.get(c.id)
        if waiting is not None:
            if waiter is not None:
                waiting.append(waiter)
            return
        self.starting[c.id] = [waiter] if waiter is not None else []
        self.start(c, size)

    def _start_finished(self, c: Container, error: tuple[int, str] | None) -> None:
        self.start_setups.pop(c.id, None)
        for client, req in self.starting.pop(c.id, []):
            if error:
                self.reply(client, {"ok": False, "code": error[0], "error": error[1]}, close=True)
                continue
            r = self.by_container[c.id]
            self.reply(client, {"ok": True, "pid": r.pid}, close=not req.get("attach"))
            if req.get("attach"):
                self._attach(client, r, req)

    def start(self, c: Container, size: list[int] | None = None) -> None:
        """Start container `c`; _start_finished hears how it went. A failure leaves nothing behind."""
        cfg, host = c.config["Config"], c.config["HostConfig"]

        def fail(code: int, message: str) -> None:
            # A restart that fails ends the restarting; a first start leaves the container created, as docker.
            status = "exited" if c.status == "restarting" else "created"
            try:
                c.write_state(Status=status, ExitCode=code, Error=message, Pid=0)
            except OSError:
                pass  # removed meanwhile
            self._start_finished(c, (code, message))

        try:
            # Compiled here, before anything is made, and cached per capability set: the container's process
            # only loads it. A filter that cannot be built stops the start (never run unconfined by accident).
            filter_program = _seccomp_program(c)
        except TuikerError as e:
            fail(125, str(e))
            return
        plan = None
        if networking.wants_network(c):
            # Addresses, bridges and published ports first: a taken port fails here, before any process.
            try:
                plan = self.net.prepare(c)
            except Exception as e:  # noqa: BLE001 - prepare undid itself
                fail(125, str(e) if isinstance(e, TuikerError) else f"network setup failed: {e!r}")
                return
        cg = cgroups.driver(f"tuiker/{c.id}")
        try:
            cg.create(cgroups.Limits(**c.config["Limits"]))
        except Exception as e:  # noqa: BLE001
            cg.remove()
            if plan is not None:
                self.net.abort(plan)
            fail(125, str(e))
            return
        console = None
        if cfg.get("Tty"):
            master, slave = os.openpty()
            if size:
                _set_winsize(master, *size)
            stdio = (slave, slave, slave)
            outputs = {master: STDOUT}
            stdin_w = None
            console = os.ttyname(slave)
            child_ends = [slave]
        else:
            master = None
            (out_r, out_w), (err_r, err_w) = _output_fifo(c.dir / "stdout.fifo"), _output_fifo(c.dir / "stderr.fifo")
            if cfg.get("OpenStdin"):
                in_r, stdin_w = os.pipe2(os.O_CLOEXEC)
            else:
                in_r, stdin_w = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC), None
            stdio = (in_r, out_w, err_w)
            outputs = {out_r: STDOUT, err_r: STDERR}
            child_ends = [in_r, out_w, err_w]
        rootfs = spawn.Rootfs(
            layers_dir=str(self.root / "layers"), lower=c.config["Layers"], upper=str(c.dir / "upper"),
            work=str(c.dir / "work"), target=str(_mountpoint(c)), hostname=cfg["Hostname"],
            etc_files={f"/etc/{n}": str(c.dir / n) for n in ("hostname", "hosts", "resolv.conf")},
            readonly=bool(host.get("ReadonlyRootfs")), privileged=bool(host.get("Privileged")),
            console=console, network_host=host.get("NetworkMode") == "host", init=c.config.get("InitPath"))
        # docker's --init: tini is pid 1, reaps zombies and passes signals on to the command.
        args = [INIT_TARGET, "--", *c.command] if rootfs.init else c.command
        proc = spawn.Process(args=args, env=cfg["Env"], cwd=cfg.get("WorkingDir") or "/",
                             user=cfg.get("User") or "", caps=set(c.config["Capabilities"]), tty=bool(cfg.get("Tty")),
                             no_new_privs=bool(c.config.get("NoNewPrivileges")), seccomp=filter_program,
                             stdio=stdio)
        # The container's process joins its cgroup before anything else where it can do so quickly (v1's tasks
        # files); elsewhere the monitor moves it while it mounts its root, since a write to cgroup.procs waits
        # for an RCU grace period (7-30 ms here) that would otherwise add to every start. With a network, the
        # container's veths are made and its eth0 configured while it waits for "go", so it never execs before
        # its network is up (networking.attach).
        go_r, go_w = os.pipe2(os.O_CLOEXEC)

        def before_exec(pid: int) -> None:
            if not cg.quick_self_join:
                cg.add(pid)
            if plan is not None:
                try:
                    self.net.attach(plan, pid)
                except TuikerError:
                    raise
                except Exception as e:  # noqa: BLE001 - reported as the start's error, never raised further
                    raise TuikerError(f"network setup failed: {e!r}") from e

        def set_up(pid: int, pidfd: int, error: tuple[int, str] | None) -> None:
            if error is None and not c.dir.exists():
                error = (125, "the container was removed while it started")
            if error:
                for fd in list(outputs) + ([stdin_w] if stdin_w is not None else []) + ([pidfd] if pidfd >= 0 else []):
                    os.close(fd)
                if pid:
                    _kill_if_alive_pid(pid)
                cg.kill_all()
                cg.remove()
                if plan is not None:
                    self.net.abort(plan)
                fail(*error)
                return
            r = Running(pid, pidfd, outputs, stdin_w, master, cg, c, log=LogWriter(c.dir / "log.json"))
            self._watch(r)
            if plan is not None:
                self.net.commit(plan)  # NetworkSettings into c.state, written just below; peers learn its name
            c.write_state(Status="running", Pid=pid, PidStart=_start_time(pid), ExitCode=0, Error="",
                          OOMKilled=False, Paused=False, StartedAt=now_iso(),
                          FinishedAt=c.state.get("FinishedAt", ""), RestartCount=c.state.get("RestartCount", 0))
            self._start_finished(c, None)

        join = cg.join_self if cg.quick_self_join else None
        self.start_setups[c.id] = self._fork(lambda pp, ep: spawn.intermediate(rootfs, proc, pp, ep, go_r, join),
                                             child_ends + [go_r], set_up, go=(go_w, before_exec))

    def _fork(self, child: Callable[[int, int], None], child_ends: list[int],
              done: Callable[[int, int, tuple[int, str] | None], None],
              go: tuple[int, Callable[[int], None]] | None = None) -> Setup:
        """Fork `child(pidpipe, errpipe)` and follow its setup without waiting (see Setup); `done(pid, pidfd,
        error)` is called once it has exec'd or failed, from the event loop (or before returning, never).

        With `go` = (write end of the go pipe, prepare): once the process's pid is known, prepare(pid) runs
        here while the process sets up its root, then "g" on the pipe lets it go on to execve."""
        pid_r, pid_w = os.pipe2(os.O_CLOEXEC)
        err_r, err_w = os.pipe2(os.O_CLOEXEC)
        intermediate = os.fork()
        if intermediate == 0:
            try:
                # The garbage collector would close the fds of collected objects: after the next line those
                # numbers may belong to the container's own files.
                gc.disable()
                # Nothing in the container may ptrace us or open our /proc/PID files (the host's interpreter, fds)
                # before the execve, which resets this (the CVE-2019-5736 class; see also exeseal).
                linux.set_dumpable(False)
                # None of the monitor's fds (its socket and lock, other containers' ptys, FIFOs and pidfds) goes
                # any further; in particular not the go pipe's write end: if the monitor dies, the container
                # then sees EOF and gives up instead of waiting forever for a "g" nobody will write.
                linux.close_fds_except((0, 1, 2, pid_w, err_w, *child_ends))
                signal.signal(signal.SIGPIPE, signal.SIG_DFL)
                child(pid_w, err_w)
            finally:
                os._exit(125)
        for fd in (pid_w, err_w, *child_ends):
            os.close(fd)
        setup = Setup(intermediate, pid_r, err_r, done, *(go or (None, None)))
        self.sel.register(pid_r, selectors.EVENT_READ, ("setup-pid", setup))
        self.timers.append((time.monotonic() + SETUP_TIMEOUT, lambda: self._cancel_setup(
            setup, f"the container's setup did not finish within {SETUP_TIMEOUT:.0f} s")))
        return setup

    def _setup_pid_ready(self, s: Setup) -> None:
        chunk = os.read(s.pid_r, 64)
        if chunk:
            s.pid_text += chunk
            return
        self.sel.unregister(s.pid_r)
        os.close(s.pid_r)
        s.pid_r = -1
        s.pid = int(s.pid_text) if s.pid_text.strip().isdigit() else 0
        if s.pid:
            self.setups[s.pid] = s
            try:
                s.pidfd = linux.pidfd_open(s.pid)
            except OSError:
                s.pidfd = -1  # already gone and reaped: its error pipe tells why
        if s.go_w is not None:
            try:
                if s.pid and s.error is None and s.before_exec is not None:
                    s.before_exec(s.pid)
                    os.write(s.go_w, b"g")
            except (OSError, TuikerError) as e:
                s.error = (125, str(e))
            finally:
                os.close(s.go_w)  # closed without "g": the process gives up before execve
                s.go_w = None
        self.sel.register(s.err_r, selectors.EVENT_READ, ("setup-err", s))

    def _setup_err_ready(self, s: Setup) -> None:
        chunk = os.read(s.err_r, 4096)
        if chunk:
            s.message = (s.message + chunk)[:4096]
            return
        self._finish_setup(s)

    def _cancel_setup(self, s: Setup, reason: str) -> None:
        """Kill a setup that must not finish (a stop, a timeout) and fail it with `reason`."""
        if s.finished:
            return
        s.error = s.error or (125, reason)
        if s.pid or s.go_w is None:
            _kill_if_alive_pid(s.pid or s.intermediate)
            self._finish_setup(s)  # its pipes close with it; the kill is what matters
        # A start without a pid yet: the go step sees the error and withholds "g", so the process gives up.

    def _finish_setup(self, s: Setup) -> None:
        if s.finished:
            return
        s.finished = True
        for fd in (s.pid_r, s.err_r):
            if fd >= 0:
                try:
                    self.sel.unregister(fd)
                except (KeyError, ValueError):
                    pass
                os.close(fd)
        if s.go_w is not None:
            os.close(s.go_w)
        self.setups.pop(s.pid, None)
        error = s.error
        if error is None and s.message:
            code, _, text = s.message.decode(errors="replace").partition(" ")
            error = (int(code) if code.isdigit() else 125, text)
        if error is None and not s.pid:
            error = (125, "the container process could not be created")
        if error is not None and s.pid:
            _kill_if_alive_pid(s.pid)  # a process told to fail may still be between its report and its exit
        s.done(s.pid, s.pidfd, error)

    # -- exec --------------------------------------------------------------------------------------

    def exec(self, client: Client, c: Container, target: Running, req: dict) -> None:
        cfg = c.config["Config"]
        try:
            filter_program = _seccomp_program(c)  # docker gives an exec the container's profile
        except TuikerError as e:
            self.reply(client, {"ok": False, "code": 126, "error": str(e)}, close=True)
            return
        tty, interactive = bool(req.get("tty")), bool(req.get("interactive"))
        if tty:
            master, slave = os.openpty()
            if req.get("size"):
                _set_winsize(master, *req["size"])
            stdio, outputs, stdin_w, child_ends = (slave, slave, slave), {master: STDOUT}, None, [slave]
        else:
            master = None
            out_r, out_w = os.pipe2(os.O_CLOEXEC)
            err_r, err_w = os.pipe2(os.O_CLOEXEC)
            if interactive:
                in_r, stdin_w = os.pipe2(os.O_CLOEXEC)
            else:
                in_r, stdin_w = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC), None
            stdio, outputs, child_ends = (in_r, out_w, err_w), {out_r: STDOUT, err_r: STDERR}, [in_r, out_w, err_w]
        env = list(cfg["Env"]) + list(req.get("env") or [])
        proc = spawn.Process(args=req["cmd"], env=env, cwd=req.get("workdir") or cfg.get("WorkingDir") or "/",
                             user=req.get("user") if req.get("user") is not None else cfg.get("User", ""),
                             caps=set(c.config["Capabilities"]), tty=tty,
                             no_new_privs=bool(c.config.get("NoNewPrivileges")), seccomp=filter_program,
                             stdio=stdio)

        def set_up(pid: int, pidfd: int, error: tuple[int, str] | None) -> None:
            if error:
                for fd in list(outputs) + ([stdin_w] if stdin_w is not None else []) + ([pidfd] if pidfd >= 0 else []):
                    os.close(fd)
                self.reply(client, {"ok": False, "code": error[0], "error": error[1]}, close=True)
                return
            r = Running(pid, pidfd, outputs, stdin_w, master, None, None)
            self._watch(r)
            if req.get("detach"):
                self.reply(client, {"ok": True, "pid": pid}, close=True)
                return
            self.reply(client, {"ok": True, "pid": pid})
            self._attach(client, r, req)

        self._fork(lambda pp, ep: spawn.intermediate_exec(target.pid, proc, target.cgroup.join_self, pp, ep),
                   child_ends, set_up)

    # -- output and exits --------------------------------------------------------------------------

    def output_ready(self, fd: int) -> None:
        r = self.fd_owner.get(fd)
        if r is None:
            return
        try:
            data = os.read(fd, 65536)
        except BlockingIOError:
            return
        except OSError as e:
            if e.errno != errno.EIO:  # EIO: the pty's other side is gone
                raise
            data = b""
        if not data:
            self._close_output(fd)
            return
        kind = r.outputs[fd]
        if r.log is not None:
            r.log.write("stdout" if kind == STDOUT else "stderr", data)
        packet = frame(kind, data)
        for client in r.clients:
            self.send(client, packet, droppable=True)

    def _close_output(self, fd: int) -> None:
        r = self.fd_owner.pop(fd, None)
        try:
            self.sel.unregister(fd)
        except (KeyError, ValueError):
            pass
        os.close(fd)
        if r is not None:
            r.outputs.pop(fd, None)

    def process_exited(self, r: Running) -> None:
        try:
            reaped, status = os.waitpid(r.pid, os.WNOHANG)
            if not reaped:
                return  # not gone yet (a spurious wake-up)
            code = os.waitstatus_to_exitcode(status)
            code = 128 - code if code < 0 else code  # killed by signal N: docker reports 128 + N
            known = True
        except ChildProcessError:
            code, known = 255, False  # adopted after a monitor restart: not our child
        # Output still in the pipes or the pty belongs to the run that just ended.
        for fd in list(r.outputs):
            while fd in r.outputs:
                self.output_ready(fd)
            if fd in self.fd_owner:
                self._close_output(fd)
        self.sel.unregister(r.pidfd)
        os.close(r.pidfd)
        self.by_pidfd.pop(r.pidfd, None)
        if r.pty is not None:
            try:
                os.close(r.pty)
            except OSError:
                pass
        if r.stdin is not None:
            os.close(r.stdin)
        if r.log is not None:
            r.log.close()
        c = r.container
        exit_packet = frame(EXIT, json.dumps({"exit": code}).encode())
        if c is None:
            for client in r.clients + [w for w in r.waiters if w not in r.clients]:
                client.close_after_flush = True
                self.send(client, exit_packet)
            return
        self.by_container.pop(c.id, None)
        # Its veths, address lease, held ports, DNAT rules and peers' /etc/hosts entries go now (networking.py).
        try:
            self.net.stopped(c)
        except Exception as e:  # noqa: BLE001 - the exit must still be recorded
            print(f"monitor: network teardown of {c.id[:12]}: {e!r}", file=sys.stderr, flush=True)
        oom = bool(r.cgroup.oom_killed()) if r.cgroup is not None else False
        if r.cgroup is not None:
            r.cgroup.kill_all()
            r.cgroup.remove()
        started = c.state.get("StartedAt", "")
        c.write_state(Status="exited", ExitCode=code, OOMKilled=oom, Pid=0, FinishedAt=now_iso(),
                      Paused=False, Error="" if known else "exit code unknown: the monitor was restarted")
        host = c.config["HostConfig"]
        if host.get("AutoRemove"):
            # Gone before anyone hears of the exit: `run --rm` then returns with nothing left to wait for.
            self.store.delete_files(c)
        for client in r.clients + [w for w in r.waiters if w not in r.clients]:
            client.close_after_flush = True
            if client in r.clients:
                self.send(client, exit_packet)
            else:
                self.send(client, json.dumps({"ok": True, "exit": code}).encode() + b"\n")
        if host.get("AutoRemove"):
            return
        delay = restart_delay(host.get("RestartPolicy") or {}, code, r.manual_stop, c.state, started)
        if delay is not None:
            c.write_state(Status="restarting", RestartCount=c.state.get("RestartCount", 0) + 1)
            self.timers.append((time.monotonic() + delay, lambda: self._restart(c)))

    def _restart(self, c: Container) -> None:
        try:
            c.reload()
        except Exception:  # noqa: BLE001 - removed meanwhile
            return
        if c.status != "restarting":
            return
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


def _seccomp_program(c: Container) -> bytes | None:
    """The compiled filter for `c`'s processes, None when it runs unconfined (--privileged, seccomp=unconfined)."""
    if not c.config.get("Seccomp", True):
        return None
    return seccomp.program(frozenset(c.config["Capabilities"]))


def _output_fifo(path: Path) -> tuple[int, int]:
    """(monitor's read end, container's stdout) for a container's output, through a FIFO rather than a
    pipe so that it outlives the monitor: the container's end is opened read-write, so the FIFO always
    has a reader and the container never gets EPIPE while no monitor runs; what it writes meanwhile waits
    in the FIFO (1 MiB, then the writer blocks) for the next monitor, which reopens it by path.
    The read end is opened first and non-blocking, so output of a container that exits at once is kept."""
    if not path.exists():
        os.mkfifo(path, 0o600)
    read_end = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    write_end = os.open(path, os.O_RDWR | os.O_CLOEXEC)
    try:
        fcntl.fcntl(write_end, fcntl.F_SETPIPE_SZ, 1 << 20)
    except OSError:
        pass  # above /proc/sys/fs/pipe-max-size: keep the default 64 KiB
    return read_end, write_end


def _mountpoint(c: Container) -> Path:
    path = c.dir / "merged"
    path.mkdir(exist_ok=True)
    return path


def _start_time(pid: int) -> str:
    """Field 22 of /proc/PID/stat: tells a live container from a new process that reused its pid.
    A zombie (state Z or X) counts as gone: it has exited, only its reaping is pending."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return ""
    return "" if fields[0] in ("Z", "X") else fields[19]


def _same_process(pid: int, start: str | None) -> bool:
    return bool(start) and _start_time(pid) == start


def _kill_if_alive(r: Running) -> None:
    _kill_if_alive_pid(r.pid)


def _kill_if_alive_pid(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _signal_number(sig: str | int) -> int:
    if isinstance(sig, int) or str(sig).isdigit():
        return int(sig)
    name = str(sig).upper()
    name = name if name.startswith("SIG") else f"SIG{name}"
    try:
        return int(getattr(signal.Signals, name))
    except AttributeError:
        raise ValueError(f"invalid signal: {sig}") from None


def _set_winsize(fd: int, rows: int, cols: int) -> None:
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


def main() -> None:
    """`python -m tuiker.runtime.monitor ROOT`. MonitorClient.spawn starts us with posix_spawn and waits for
    this first process, which seals the interpreter (exeseal: a mount namespace of the monitor's own with its
    binary bound read-only; a failure there is the exit status the client reports), forks, and exits. The child
    re-executes the interpreter through the read-only mount and becomes the monitor: nobody's child but init's
    (or a subreaper's), so no client ever holds it as a zombie, leading a session of its own."""
    os.umask(0o022)
    root = sys.argv[1]
    if sys.argv[2:] != ["--sealed"]:
        try:
            exe = exeseal.seal()
        except OSError as e:
            print(f"cannot start the monitor: {e}", file=sys.stderr, flush=True)
            os._exit(1)
        if os.fork():
            os._exit(0)
        os.setsid()
        # argv[0] stays the path we were started as (a venv's python, say): Python finds its prefix from it.
        os.execv(exe, [sys.executable, "-m", "tuiker.runtime.monitor", root, "--sealed"])
    try:
        exeseal.check_sealed()
    except OSError as e:
        print(f"monitor: {e}", file=sys.stderr, flush=True)
        os._exit(1)
    Monitor(Path(root)).serve()


if __name__ == "__main__":
    main()
