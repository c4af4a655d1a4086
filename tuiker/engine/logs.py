"""A container's output, as the monitor writes it: docker's json-file, one {"log", "stream", "time"} object per
line in containers/<id>/log.json, renamed to log.json.1 when it grows past its limit (one older file kept).

`LogReader.read()` is the one way to read it: the first call returns the newest lines (both files, read
backwards from the end), each later one what was appended since, across a rotation. `tuiker logs` and the
TUI's Logs tab both read through it; `follow` is the loop of `logs -f`."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from tuiker.base.errors import NotFoundError
from tuiker.base.times import parse_time

TYPE_CHECKING = False  # not typing's: importing typing costs ~7 ms on every command
if TYPE_CHECKING:
    from collections.abc import Iterator

    from tuiker.runtime.containers import Container

CHUNK = 64 * 1024  # read backwards in steps of this much to find the last lines


class LogRecord:
    """One line of output: its time stamp (RFC 3339, as logged), its stream (stdout or stderr) and its text as
    the container wrote it (with its newline)."""

    __slots__ = ("time", "stream", "text")

    def __init__(self, time: str, stream: str, text: str) -> None:
        self.time = time
        self.stream = stream
        self.text = text

    def __repr__(self) -> str:
        return f"LogRecord({self.time!r}, {self.stream!r}, {self.text!r})"


class LogReader:
    """Reads containers/<id>/log.json. The first `read()` returns the newest `tail` records (all of them when
    `tail` is None), later ones the records appended since; `since` (epoch seconds) drops older records."""

    def __init__(self, path: Path, tail: int | None = None, since: float | None = None) -> None:
        self.path = path
        self.tail = tail
        self.since = since
        self._inode: int | None = None
        self._offset = 0

    def read(self, newest: int | None = None) -> list[LogRecord]:
        """`newest`: a caller that keeps only that many records (a view) gets at most the newest of those appended
        since; a burst bigger than that is read backwards from its end instead of read and parsed whole, which
        would hold it all in memory at once (a 200,000-line burst grew the TUI by ~30 MB for good)."""
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return []  # not started yet, or removed
        if self._inode is None:
            self._inode, self._offset = st.st_ino, st.st_size
            return self._filter(self._last_lines(st.st_size))
        lines: list[bytes] = []
        if st.st_ino != self._inode or st.st_size < self._offset:
            # Rotated: log.json was renamed to log.json.1 (same inode), and a new log.json begun. What was
            # appended to the old one since the last read is read there first.
            rotated = self.path.with_name(self.path.name + ".1")
            try:
                with open(rotated, "rb") as f:
                    if os.fstat(f.fileno()).st_ino == self._inode:
                        f.seek(self._offset)
                        lines = _complete_lines(f.read())[0]
            except FileNotFoundError:
                pass
            self._inode, self._offset = st.st_ino, 0
        if st.st_size > self._offset and newest is not None and not lines:
            new, self._offset = _tail_lines(self.path, st.st_size, newest, start=self._offset)
            lines = new
        elif st.st_size > self._offset:
            with open(self.path, "rb") as f:
                f.seek(self._offset)
                new, used = _complete_lines(f.read(st.st_size - self._offset))
            self._offset += used
            lines += new
        return self._filter(lines)

    def rest_of(self, f) -> list[LogRecord]:
        """What `f` (this log, opened before it was removed) holds after the last read: all of it (its newest
        `tail`) when none was made, or it was another file by then."""
        st = os.fstat(f.fileno())
        first = self._inode != st.st_ino
        f.seek(0 if first else self._offset)
        lines, used = _complete_lines(f.read())
        self._inode, self._offset = st.st_ino, (0 if first else self._offset) + used
        if first and self.tail is not None:
            lines = lines[-self.tail:] if self.tail else []
        return self._filter(lines)

    def _last_lines(self, end: int) -> list[bytes]:
        """The newest `tail` lines of log.json (all when tail is None), topped up from log.json.1 when short."""
        lines = _tail_lines(self.path, end, self.tail)[0]
        if self.tail is None or len(lines) < self.tail:
            rotated = self.path.with_name(self.path.name + ".1")
            try:
                older = _tail_lines(rotated, os.stat(rotated).st_size,
                                    None if self.tail is None else self.tail - len(lines))[0]
            except FileNotFoundError:
                older = []
            lines = older + lines
        return lines

    def _filter(self, lines: list[bytes]) -> list[LogRecord]:
        records = parse_records(lines)
        if self.since is not None:
            records = [r for r in records if (parse_time(r.time) or 0) >= self.since]
        return records


def follow(reader: LogReader, container: Container, interval: float = 0.1) -> Iterator[LogRecord]:
    """Every record `reader` gives, as it comes, until the container no longer runs (and all it wrote is
    read) or is removed (and all it wrote is read: its log is held open from the start, as a container removed
    the moment it exits, `run --rm` or docker-py's run(remove=True), takes its log with it)."""
    try:
        held = open(reader.path, "rb")
    except FileNotFoundError:
        held = None
    try:
        while True:
            records = reader.read()
            yield from records
            if not records:
                try:
                    if container.reload().status not in ("running", "paused", "restarting"):
                        yield from reader.read()  # what it wrote between the last read and its exit
                        return
                except NotFoundError:
                    if held is not None:
                        yield from reader.rest_of(held)
                    return
                time.sleep(interval)
    finally:
        if held is not None:
            held.close()


def parse_records(lines: list[bytes]) -> list[LogRecord]:
    """The json-file records among `lines`; a line torn by a full disk or a crash is skipped, not fatal."""
    records = []
    for line in lines:
        try:
            item = json.loads(line)
        except ValueError:
            continue
        if isinstance(item, dict) and isinstance(item.get("log"), str):
            records.append(LogRecord(str(item.get("time", "")), str(item.get("stream", "stdout")), item["log"]))
    return records


def _complete_lines(chunk: bytes) -> tuple[list[bytes], int]:
    """The complete lines of `chunk` and how many bytes they take (a line still being written waits)."""
    complete = chunk[:chunk.rfind(b"\n") + 1]
    return complete.splitlines(), len(complete)


def _tail_lines(path: Path, end: int, count: int | None, start: int = 0) -> tuple[list[bytes], int]:
    """The last `count` (None: all) complete lines between bytes `start` (a line's start) and `end`, reading
    backwards in chunks; and where the last complete one ends."""
    if count == 0:
        return [], start
    data = b""
    position = end
    with open(path, "rb") as f:
        while position > start and (count is None or data.count(b"\n") <= count):
            step = min(CHUNK, position - start)
            position -= step
            f.seek(position)
            data = f.read(step) + data
    last = data.rfind(b"\n") + 1
    lines = data[:last].splitlines()
    if position > start:
        lines = lines[1:]  # the first one may be cut
    return (lines if count is None else lines[-count:]), position + last
