"""A container's output on disk: docker's json-file log driver."""

from __future__ import annotations

import json
import os
from pathlib import Path

from tuiker.base.times import now_iso

LOG_MAX_BYTES = 10 * 1024 * 1024  # rotated at this size; one older file is kept (docker's json-file max-size)


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
