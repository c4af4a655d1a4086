"""How docker prints sizes and ages; shared by the CLI and the TUI."""

from __future__ import annotations

import time
from datetime import datetime


def human_size(n: float) -> str:
    """Decimal units with three significant digits, as docker's go-units HumanSize: 7.8MB, 1.23GB."""
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.3g}{unit}" if unit != "B" else f"{int(n)}B"
        n /= 1000
    raise AssertionError("unreachable")


def parse_time(text: str) -> float | None:
    """RFC 3339 as image configs carry it (nanoseconds and `Z` included) to epoch seconds."""
    if not text:
        return None
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


def ago(timestamp: float | None, now: float | None = None) -> str:
    if timestamp is None:
        return "N/A"
    return f"{human_duration((now or time.time()) - timestamp)} ago"
