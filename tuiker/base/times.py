"""Time stamps as docker writes and reads them (RFC 3339 in UTC, with nanoseconds), and its durations."""

from __future__ import annotations

import time


def now_iso() -> str:
    """Now, as docker stamps states and records: `2026-01-01T00:00:00.123456789Z`."""
    t = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t % 1 * 1e9):09d}Z"


def parse_time(text: str) -> float | None:
    """RFC 3339 as docker and image configs write it (nanoseconds and `Z` included) to epoch seconds; None for
    an empty or malformed value."""
    if not text:
        return None
    from datetime import datetime  # not at the top: `tuiker ps` may never need it

    text = text.strip().replace("Z", "+00:00")
    main, dot, rest = text.partition(".")
    if dot:
        # Python's parser takes at most microseconds; configs often carry nanoseconds.
        frac = "".join(c for c in rest if c.isdigit())
        tz = rest[len(frac):]
        text = f"{main}.{frac[:6]}{tz}"
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        return None


def human_duration(seconds: float) -> str:
    """docker's go-units HumanDuration: `Less than a second`, `3 minutes`, `About an hour`, `2 weeks`."""
    s = int(seconds)
    if s < 1:
        return "Less than a second"
    if s == 1:
        return "1 second"
    if s < 60:
        return f"{s} seconds"
    minutes = s // 60
    if minutes == 1:
        return "About a minute"
    if minutes < 60:
        return f"{minutes} minutes"
    hours = round(s / 3600)
    if hours == 1:
        return "About an hour"
    if hours < 48:
        return f"{hours} hours"
    if hours < 24 * 7 * 2:
        return f"{hours // 24} days"
    if hours < 24 * 30 * 2:
        return f"{hours // 24 // 7} weeks"
    if hours < 24 * 365 * 2:
        return f"{hours // 24 // 30} months"
    return f"{hours // 24 // 365} years"
