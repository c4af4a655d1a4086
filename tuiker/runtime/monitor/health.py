"""Health checks: a container's Config.Healthcheck (the image's HEALTHCHECK, or --health-*), run by the monitor as
execs in the container on a timer, and their results kept as docker keeps them in the container's State.Health:

    {"Status": "starting" | "healthy" | "unhealthy", "FailingStreak": n,
     "Log": [the last 5 {"Start", "End", "ExitCode", "Output"}]}

docker's rules: the first check runs one interval after the start, each next one an interval after the previous
ended. Exit 0 is healthy and resets the streak; anything else (a check that could not run or that outran its
timeout counts as -1) adds to the streak, and `Retries` failures in a row (3 by default) make it unhealthy. While
it has never succeeded, failures that start within StartPeriod do not count. Output (stdout and stderr together)
is kept up to 4096 bytes, then `...`. A start resets it to starting (its log kept); a stop or a pause ends the
checks and leaves it unhealthy; a new monitor adopting a running container goes on where the last one was.

Nothing here waits: a check is forked like any exec (setup.py) and followed from the event loop, so a check that
hangs never holds up the monitor; at its timeout it is killed (SIGKILL) and recorded as a failure.
"""

from __future__ import annotations

from tuiker.base.times import go_duration, now_iso, parse_time
from tuiker.runtime.containers import Container
from tuiker.runtime.events import container_event
from tuiker.runtime.monitor.exec import launch
from tuiker.runtime.monitor.running import Running
from tuiker.runtime.monitor.setup import Setup, kill

TYPE_CHECKING = False
if TYPE_CHECKING:
    from tuiker.runtime.monitor.supervisor import Supervisor

SECOND = 1_000_000_000  # HealthConfig's durations are nanoseconds
DEFAULT_INTERVAL = 30 * SECOND
DEFAULT_TIMEOUT = 30 * SECOND
DEFAULT_RETRIES = 3
MAX_OUTPUT = 4096
MAX_LOG = 5


def probe_command(config: dict) -> list[str] | None:
    """The command a container's healthcheck runs, None if it has none (no Test, `NONE`, a type docker does not
    know). CMD-SHELL runs through the container's shell (Config.Shell, else /bin/sh -c), as docker's probe does."""
    test = (config["Config"].get("Healthcheck") or {}).get("Test") or []
    if len(test) < 2:
        return None
    if test[0] == "CMD":
        return list(test[1:])
    if test[0] == "CMD-SHELL":
        return [*(config["Config"].get("Shell") or ["/bin/sh", "-c"]), *test[1:]]
    return None


class _Check:
    """The checks of one running container: the probe under way, if any (its setup, then its process)."""

    def __init__(self, cid: str, cmd: list[str], health: dict) -> None:
        self.cid = cid
        self.cmd = cmd
        self.interval = (health.get("Interval") or DEFAULT_INTERVAL) / SECOND
        self.timeout = health.get("Timeout") or DEFAULT_TIMEOUT
        self.start_period = (health.get("StartPeriod") or 0) / SECOND
        self.retries = health.get("Retries") or DEFAULT_RETRIES
        self.setup: Setup | None = None
        self.proc: Running | None = None


class Health:
    """The checks of the monitor's running containers, by container id."""

    def __init__(self, sup: Supervisor) -> None:
        self.sup = sup
        self.checks: dict[str, _Check] = {}

    def begin(self, c: Container, fresh: bool) -> bool:
        """Start checking `c` (running): at its start (`fresh`: State.Health back to starting, streak 0, log kept)
        or when a new monitor adopts it (its health as it was). Changes c.state only, and says whether it did:
        the caller writes it."""
        cmd = probe_command(c.config)
        if cmd is None:
            return False
        self._end(c.id)  # a restart's: never two checkers for one container
        old = c.state.get("Health") if isinstance(c.state.get("Health"), dict) else None
        changed = fresh or old is None
        if changed:
            c.state["Health"] = {"Status": "starting", "FailingStreak": 0, "Log": list((old or {}).get("Log") or [])}
        check = _Check(c.id, cmd, c.config["Config"]["Healthcheck"])
        self.checks[c.id] = check
        self._schedule(check)
        return changed

    def stop(self, c: Container) -> None:
        """`c` stopped or was paused: no more checks, and docker then calls it unhealthy (in c.state; the caller
        writes it)."""
        self._end(c.id)
        if isinstance(c.state.get("Health"), dict):
            c.state["Health"]["Status"] = "unhealthy"

    def _end(self, cid: str) -> None:
        check = self.checks.pop(cid, None)
        if check is None:
            return
        if check.setup is not None:
            self.sup.setups.cancel(check.setup, "the health check was stopped")
        if check.proc is not None and not check.proc.exited:
            kill(check.proc.pid)

    def _current(self, check: _Check) -> bool:
        return self.checks.get(check.cid) is check

    def _schedule(self, check: _Check) -> None:
        self.sup.server.after(check.interval, lambda: self._current(check) and self._probe(check))

    def _probe(self, check: _Check) -> None:
        target = self.sup.running.get(check.cid)
        if target is None or target.container is None:
            return
        started_at = now_iso()
        output = bytearray()
        overflow = [False]
        done = [False]

        def collect(data: bytes) -> None:
            room = MAX_OUTPUT - len(output)
            output.extend(data[:max(room, 0)])
            overflow[0] = overflow[0] or len(data) > room

        def text() -> str:
            return output.decode(errors="replace") + ("..." if overflow[0] else "")

        def finish(code: int, message: str) -> None:
            if done[0] or not self._current(check):
                return
            done[0] = True
            check.setup = check.proc = None
            self._record(check, started_at, code, message)
            self._schedule(check)

        def timed_out(r: Running) -> None:
            if done[0] or r.exited:
                return
            kill(r.pid)  # its exit comes later, and is ignored: the result is this one
            # dockerd 20.10's words, without what the check printed (later versions append it after a colon).
            finish(-1, f"Health check exceeded timeout ({go_duration(check.timeout)})")

        def started(r: Running | None, error: tuple[int, str] | None) -> None:
            if r is None:
                finish(-1, error[1] if error else "the health check could not be started")
                return
            if done[0] or not self._current(check):
                kill(r.pid)  # the container stopped or was paused while the check was set up
                return
            check.setup, check.proc = None, r
            r.sink = collect
            r.on_exit = lambda code: finish(code, text())
            # The timeout runs from the exec's start: the setup has its own (setup.SETUP_TIMEOUT), as docker's.
            self.sup.server.after(check.timeout / SECOND, lambda: timed_out(r))

        check.setup = launch(self.sup, target.container, target, {"cmd": check.cmd}, started)

    def _record(self, check: _Check, started_at: str, code: int, output: str) -> None:
        """docker's handleProbeResult: the result into the log, the streak and the status, and the state file."""
        r = self.sup.running.get(check.cid)
        if r is None or r.container is None:
            return
        c = r.container
        try:
            c.reload()  # another request (pause, a network change) may have written the state since we read it
        except Exception:  # noqa: BLE001 - removed meanwhile: nothing to record into
            return
        health = c.state.get("Health") if isinstance(c.state.get("Health"), dict) else None
        health = dict(health or {"Status": "starting", "FailingStreak": 0})
        before = health.get("Status")
        log = list(health.get("Log") or [])[-(MAX_LOG - 1):]
        health["Log"] = [*log, {"Start": started_at, "End": now_iso(), "ExitCode": code, "Output": output}]
        if code == 0:
            health.update(Status="healthy", FailingStreak=0)
        else:
            counts = True
            if health.get("Status") == "starting":
                since_start = (parse_time(started_at) or 0) - (parse_time(c.state.get("StartedAt", "")) or 0)
                counts = since_start >= check.start_period
            if counts:
                health["FailingStreak"] = health.get("FailingStreak", 0) + 1
                if health["FailingStreak"] >= check.retries:
                    health["Status"] = "unhealthy"
        c.write_state(Health=health)
        if health["Status"] != before:  # docker tells only of a change
            container_event(c, f"health_status: {health['Status']}")
