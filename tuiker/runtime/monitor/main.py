"""`python -m tuiker.runtime.monitor ROOT`: how the monitor process starts, and what it holds while it serves.

MonitorClient.spawn starts us with posix_spawn and waits for this first process, which seals the interpreter
(security/exeseal.py: a mount namespace of the monitor's own with its binary bound read-only; a failure there is
the exit status the client reports), forks, and exits. The child re-executes the interpreter through the
read-only mount and becomes the monitor: nobody's child but init's (or a subreaper's), so no client ever holds it
as a zombie, leading a session of its own, so closing the CLI or the TUI never stops a detached container.

It then takes run/monitor.lock (a flock for its whole life: one monitor per root, and clients tell whether one
runs without connecting), becomes a child subreaper (the containers' processes are its children), reconciles
the state files with what runs, and only then listens on run/monitor.sock.
"""

from __future__ import annotations

import fcntl
import os
import signal
import sys
import time
from pathlib import Path

from tuiker.base import linux
from tuiker.base.fsutil import atomic_write
from tuiker.runtime.monitor import dispatch
from tuiker.runtime.monitor.server import Server
from tuiker.runtime.monitor.supervisor import Supervisor
from tuiker.runtime.monitor_client import runtime_dir
from tuiker.runtime.security import exeseal


def main() -> None:
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
    serve(Path(root))


def serve(root: Path) -> None:
    run = runtime_dir(root)
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
    server = Server(on_request=lambda client, req: dispatch.handle(sup, client, req),
                    on_drop=lambda client: sup.forget(client))
    sup = Supervisor(root, server)
    # Reconcile before listening: a client that gets through may trust the state files.
    sup.store.sweep()
    sup.reconcile()
    server.listen(run / "monitor.sock")
    atomic_write(run / "monitor.pid", str(os.getpid()).encode())
    while True:
        server.poll()
        sup.reap_strays()
        server.run_timers()
