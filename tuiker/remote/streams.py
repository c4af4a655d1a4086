"""The read side over the Docker API, with the local engine's interfaces: Session (a hijacked exec or attach),
LogReader (a followed /logs stream), StatsSampler (one-shot /stats readings as the engine's Sample) and
ProcessTable (/top as ProcessRows)."""

from __future__ import annotations

import queue
import socket
import threading
import time
import weakref

from tuiker.engine.session import Session as EngineSession
from tuiker.remote import records

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    from tuiker.engine import Container, LogRecord, ProcessRow, Sample
    from tuiker.remote.client import Client, Stream


class Session(EngineSession):
    """tuiker.engine's Session over a hijacked connection: `read()` blocks for output, `send()` from another
    thread, `resize()`, `fileno()` for a selector, `done` and `exit_code` at the end (`shutdown()` and `close()`
    as the engine's). The stream is raw for a TTY, else docker's multiplexed frames; the exit code is asked of
    the engine once the stream ends."""

    def __init__(self, client: Client, sock: socket.socket, pending: bytes, tty: bool, resize_path: str,
                 exit_code: Callable[[], int | None]) -> None:
        super().__init__(sock)
        self._buffer += pending
        self._client = client
        self._tty = tty
        self._resize_path = resize_path
        self._exit_code = exit_code

    def send(self, data: bytes) -> None:
        if data:
            self._send(data)  # as is: no frames going in on a hijacked stream

    def close_stdin(self) -> None:
        try:
            self._sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    def resize(self, rows: int, columns: int) -> None:
        self._client.call("POST", self._resize_path, {"h": rows, "w": columns})

    def read(self) -> list[tuple[str, bytes]]:
        """Waits for output: ("stdout" | "stderr", bytes) chunks; [] once done (the exit code then read)."""
        while not self.done:
            out = self._parse()
            if out:
                return out
            try:
                data = self._sock.recv(65536)
            except OSError:
                data = b""
            if not data:
                self._finish()
                return self._parse(final=True)
            self._buffer += data
        return []

    def _parse(self, final: bool = False) -> list[tuple[str, bytes]]:
        buf = self._buffer
        if self._tty:
            out = [("stdout", bytes(buf))] if buf else []
            buf.clear()
            return out
        out = []
        while len(buf) >= 8:
            size = int.from_bytes(buf[4:8], "big")
            if len(buf) < 8 + size:
                break
            out.append(("stderr" if buf[0] == 2 else "stdout", bytes(buf[8:8 + size])))
            del buf[:8 + size]
        if final:
            buf.clear()
        return out

    def _finish(self) -> None:
        self.done = True
        try:
            code = self._exit_code()
        except Exception:  # noqa: BLE001 - the engine went away: no exit code, as a monitor that died
            code = None
        self.exit_code = int(code) if code is not None else None


class LogReader:
    """As tuiker.engine's LogReader: the first `read()` gives the last `tail` records, later ones what came since.
    A thread follows `/logs?follow=1`; it ends when the reader is dropped or closed (the view moved on). docker
    ends a follow when the container stops: the next read after that follows again from the last record's time,
    at most once a second, so a restarted container's new lines show as the local engine's do."""

    RETRY = 1.0

    def __init__(self, client: Client, container: Container, tail: int | None = None) -> None:
        self._client = client
        self._id = container.id
        self._tty = container.tty
        self._records: queue.SimpleQueue = queue.SimpleQueue()
        self._stream: Stream | None = None
        self._last = ""  # the newest record's time stamp
        self._skip: tuple[int, int] | None = None  # after a new follow: records up to this time were read already
        self._retry_at = 0.0
        self._closed = False
        self._open({"tail": "all" if tail is None else tail})

    def _open(self, query: dict) -> None:
        self._retry_at = time.monotonic() + self.RETRY
        query = {"follow": True, "stdout": True, "stderr": True, "timestamps": True, **query}
        try:
            stream = self._client.stream("GET", f"/containers/{self._id}/logs", query)
        except Exception:  # noqa: BLE001 - a log that cannot be read shows as none, as a missing local file
            return
        self._stream = stream
        tty = self._tty or stream.headers.get("Content-Type", "") == "application/vnd.docker.raw-stream"
        threading.Thread(target=_follow, args=(stream, tty, self._records), daemon=True, name="remote-logs").start()
        weakref.finalize(self, stream.close)

    def read(self, newest: int | None = None) -> list[LogRecord]:
        found = []
        while True:
            try:
                record = self._records.get_nowait()
            except queue.Empty:
                break
            if record is None:
                self._stream = None  # the follow ended
            elif self._skip is None or records.stamp_key(record.time) > self._skip:
                found.append(record)
        if found:
            self._last = found[-1].time
        if self._stream is None and not self._closed and time.monotonic() >= self._retry_at:
            # docker's `since` is inclusive: what has that very time stamp was shown already.
            self._skip = records.stamp_key(self._last) if self._last else None
            self._open({"since": records.epoch(self._last)} if self._last else {"tail": "all"})
        return found if newest is None else found[max(0, len(found) - newest):]

    def close(self) -> None:
        self._closed = True
        if self._stream is not None:
            self._stream.close()


def _follow(stream: Stream, tty: bool, out: queue.SimpleQueue) -> None:
    """Frames into records: each line starts with its RFC 3339 time stamp (timestamps=1); None at the end."""
    from tuiker.engine import LogRecord

    partial = {"stdout": b"", "stderr": b""}
    for kind, data in stream.frames(tty):
        data = partial[kind] + data
        lines = data.split(b"\n")
        partial[kind] = lines.pop()
        for line in lines:
            stamp, _, text = line.decode(errors="replace").partition(" ")
            out.put(LogRecord(stamp, kind, text + "\n"))
    stream.close()
    out.put(None)


class StatsSampler:
    """As tuiker.engine's StatsSampler: `sample()` reads `/stats?stream=0&one-shot=1` and makes rates against
    the previous reading (the first's CPU % is the average over the container's life, as the local sampler's)."""

    def __init__(self, client: Client, container: Container) -> None:
        self.client = client
        self.container = container  # the TUI swaps in the newest record as its state changes
        self._previous: tuple[float, ...] | None = None
        self._periods: tuple[int, int] = (0, 0)  # (periods, throttled periods) at the previous sample

    def sample(self) -> Sample | None:
        from tuiker.engine import Sample

        c = self.container
        if c.status not in ("running", "paused"):
            self._previous = None
            return None
        try:
            doc = self.client.call("GET", f"/containers/{c.id}/stats", {"stream": False, "one-shot": True})
        except Exception:  # noqa: BLE001 - it stopped meanwhile, or the engine went away: no sample
            return None
        if not isinstance(doc, dict) or not doc.get("cpu_stats"):
            return None
        figures = sample_figures(doc)
        now = time.monotonic()
        counters = (now, figures["cpu_ns"], figures["net_rx"], figures["net_tx"], figures["io_read"],
                    figures["io_write"])
        if self._previous is None:
            self._periods = (0, 0)
            wall = time.time()
            lifetime = max(wall - (records.started_at(c) or wall), 1e-3)
            rates = [figures["cpu_ns"] / lifetime, 0.0, 0.0, 0.0, 0.0]
        else:
            elapsed = max(now - self._previous[0], 1e-3)
            rates = [max(0, new - old) / elapsed for new, old in zip(counters[1:], self._previous[1:], strict=True)]
        self._previous = counters
        periods = figures["cpu_periods"] - self._periods[0]
        throttled = figures["cpu_throttled_periods"] - self._periods[1]
        self._periods = (figures["cpu_periods"], figures["cpu_throttled_periods"])
        usage = doc["cpu_stats"].get("cpu_usage") or {}
        return Sample(cpu_percent=rates[0] / 1e9 * 100, cpu_usage_ns=figures["cpu_ns"],
                      cpu_user_ns=usage.get("usage_in_usermode", 0), cpu_system_ns=usage.get("usage_in_kernelmode", 0),
                      memory=figures["memory"], memory_limit=figures["limit"],
                      pids=figures["pids"], pids_limit=figures["pids_limit"], net_rx=figures["net_rx"],
                      net_tx=figures["net_tx"], io_read=figures["io_read"], io_write=figures["io_write"],
                      oom_kills=figures["oom_kills"], net_rx_rate=rates[1], net_tx_rate=rates[2],
                      io_read_rate=rates[3], io_write_rate=rates[4], cpu_periods=figures["cpu_periods"],
                      cpu_throttled_periods=figures["cpu_throttled_periods"],
                      cpu_throttled_ns=figures["cpu_throttled_ns"],
                      cpu_throttled_percent=throttled / periods * 100 if periods > 0 else 0.0,
                      # docker's stats carry no pressure figures
                      psi_cpu=None, psi_memory=None, psi_io=None,
                      **{f"net_{key}": figures[f"net_{key}"] for key in NET_EXTRA})


# the network counters besides bytes, as Sample's net_* fields name them
NET_EXTRA = tuple(f"{d}x_{what}" for what in ("packets", "errors", "dropped") for d in "rt")


def sample_figures(doc: dict) -> dict:
    """docker's stats document -> totals: memory without the inactive page cache (docker stats' own rule, for
    cgroup v1's total_inactive_file and v2's inactive_file)."""
    memory = doc.get("memory_stats") or {}
    details = memory.get("stats") or {}
    inactive = details.get("total_inactive_file", details.get("inactive_file", 0))
    usage = max(0, int(memory.get("usage") or 0) - int(inactive or 0))
    networks = (doc.get("networks") or {}).values()
    io = ((doc.get("blkio_stats") or {}).get("io_service_bytes_recursive")) or []
    pids = doc.get("pids_stats") or {}
    limit = pids.get("limit")
    throttling = (doc.get("cpu_stats") or {}).get("throttling_data") or {}
    return {
        "cpu_ns": int(((doc.get("cpu_stats") or {}).get("cpu_usage") or {}).get("total_usage") or 0),
        "memory": usage, "limit": int(memory.get("limit") or 0), "pids": int(pids.get("current") or 0),
        "pids_limit": int(limit) if limit and limit < 2**62 else None,
        "net_rx": sum(int(n.get("rx_bytes") or 0) for n in networks),
        "net_tx": sum(int(n.get("tx_bytes") or 0) for n in networks),
        "io_read": sum(int(e.get("value") or 0) for e in io if str(e.get("op", "")).lower() == "read"),
        "io_write": sum(int(e.get("value") or 0) for e in io if str(e.get("op", "")).lower() == "write"),
        "oom_kills": int(details.get("oom_kill") or 0),
        "cpu_periods": int(throttling.get("periods") or 0),
        "cpu_throttled_periods": int(throttling.get("throttled_periods") or 0),
        "cpu_throttled_ns": int(throttling.get("throttled_time") or 0),
        **{f"net_{key}": sum(int(n.get(key) or 0) for n in networks) for key in NET_EXTRA},
    }


#: The columns asked of the engine's `top`, best first: procps's ps as dockerd runs it on the host, then podman's
#: own descriptors (psgo, which answers an empty body to procps's arguments), then the engine's default.
PS_ARGS = ("-o user,pid,ppid,pcpu,rss,stat,etimes,times,args", "user,pid,ppid,pcpu,rss,state,etime,time,args",
           "user,pid,ppid,pcpu,etime,time,args", None)


class ProcessTable:
    """As tuiker.engine's ProcessTable: `rows()` from `/containers/{id}/top`, with the first columns of PS_ARGS
    the engine answers."""

    def __init__(self, client: Client, container_id: str) -> None:
        self.client = client
        self.id = container_id
        self._choice = 0

    def rows(self) -> list[ProcessRow]:
        from tuiker.engine import TuikerError

        while True:
            try:
                doc = self.client.call("GET", f"/containers/{self.id}/top", {"ps_args": PS_ARGS[self._choice]})
            except TuikerError:
                doc = None
            if doc or self._choice == len(PS_ARGS) - 1:
                return process_rows(doc or {})  # type: ignore[arg-type] - none: it stopped meanwhile
            self._choice += 1


def process_rows(doc: dict) -> list[ProcessRow]:
    """docker's {"Titles", "Processes"} -> ProcessRows, by title (procps's or podman's names)."""
    from tuiker.engine import ProcessRow

    titles = [t.upper() for t in doc.get("Titles") or []]

    def field(row: list[str], *names: str, default: str = "") -> str:
        for name in names:
            if name in titles:
                return row[titles.index(name)]
        return default

    rows = []
    now = time.time()
    for row in doc.get("Processes") or []:
        try:
            rss = int(field(row, "RSS", default="0")) * 1024
        except ValueError:
            rss = 0
        elapsed = _seconds(field(row, "ELAPSED"))
        rows.append(ProcessRow(field(row, "USER", "UID"), _int(field(row, "PID")), _int(field(row, "PPID")),
                               _float(field(row, "%CPU", "C")), rss, field(row, "STAT", "S", "STATE"),
                               now - elapsed if elapsed else 0.0, _seconds(field(row, "TIME")),
                               field(row, "COMMAND", "CMD")))
    return sorted(rows, key=lambda r: r.pid)


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        return 0


def _seconds(text: str) -> float:
    """procps's seconds (`etimes`, `times`) or podman's Go durations (`4.4s`, `1m2s`)."""
    from tuiker.base.times import parse_go_duration

    try:
        return float(text)
    except ValueError:
        pass
    try:
        return parse_go_duration(text) / 1e9
    except Exception:  # noqa: BLE001 - a column this engine writes another way: unknown, not an error
        return 0.0


def _float(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return 0.0
