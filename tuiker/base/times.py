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


_DURATION_UNITS = {"ns": 1, "us": 1_000, "µs": 1_000, "μs": 1_000, "ms": 1_000_000, "s": 1_000_000_000,
                   "m": 60_000_000_000, "h": 3_600_000_000_000}


def parse_go_duration(text: str) -> int:
    """Go's time.ParseDuration, in nanoseconds: `1s`, `500ms`, `1m30s`, `1.5h`, `-2s`, `0`. ValueError with Go's
    message (`time: invalid duration "abc"`) otherwise: docker's --health-* flags are parsed by it."""
    rest = text
    sign = -1 if rest.startswith("-") else 1
    rest = rest[1:] if rest[:1] in "+-" else rest
    if rest == "0":
        return 0
    if not rest:
        raise ValueError(f'time: invalid duration "{text}"')
    total = 0
    while rest:
        i = 0
        while i < len(rest) and (rest[i].isdigit() or rest[i] == "."):
            i += 1
        number = rest[:i]
        if not number or number == "." or number.count(".") > 1 or not number.isascii():
            raise ValueError(f'time: invalid duration "{text}"')
        rest = rest[i:]
        j = 0
        while j < len(rest) and not (rest[j].isdigit() or rest[j] == "."):
            j += 1
        unit = rest[:j]
        rest = rest[j:]
        if not unit:
            raise ValueError(f'time: missing unit in duration "{text}"')
        if unit not in _DURATION_UNITS:
            raise ValueError(f'time: unknown unit "{unit}" in duration "{text}"')
        whole, _, frac = number.partition(".")
        scale = _DURATION_UNITS[unit]
        total += int(whole or 0) * scale + (int(frac) * scale // 10 ** len(frac) if frac else 0)
    if total > 2**63 - 1:
        raise ValueError(f'time: invalid duration "{text}"')
    return sign * total


def go_duration(ns: int) -> str:
    """Go's Duration.String(): `1s`, `500ms`, `1m30s`, `1h0m0s`, `1.5µs`, `0s`."""
    if ns == 0:
        return "0s"
    sign, ns = ("-", -ns) if ns < 0 else ("", ns)
    if ns < 1_000_000_000:
        for unit, scale in (("ms", 1_000_000), ("µs", 1_000), ("ns", 1)):
            if ns >= scale:
                return sign + _decimal(ns, scale) + unit
    hours, ns = divmod(ns, 3_600_000_000_000)
    minutes, ns = divmod(ns, 60_000_000_000)
    text = _decimal(ns, 1_000_000_000) + "s"
    if hours or minutes:
        text = f"{minutes}m{text}"
    if hours:
        text = f"{hours}h{text}"
    return sign + text


def _decimal(value: int, scale: int) -> str:
    whole, frac = divmod(value, scale)
    if not frac:
        return str(whole)
    digits = str(frac).rjust(len(str(scale)) - 1, "0").rstrip("0")
    return f"{whole}.{digits}"


def docker_timestamp(text: str, now: float | None = None) -> float:
    """docker's --since/--until values (its GetTimestamp) as epoch seconds: a Go duration counts back from `now`
    (`10m`, `1h30m`), else unix seconds (`1700000000.5`), else an RFC 3339 time or date (without a zone: local
    time). ValueError with docker's message otherwise."""
    text = text.strip()
    if text != "0":
        try:
            return (time.time() if now is None else now) - parse_go_duration(text) / 1e9
        except ValueError:
            pass
    if "-" not in text:
        if not text.replace(".", "", 1).isdigit():  # float() would also take `inf`, `1e9` and `١`
            raise ValueError(f'failed to parse value as time or duration: "{text}"')
        return float(text)
    stamp = parse_time(text)
    if stamp is None:
        raise ValueError(f'failed to parse value as time or duration: "{text}"')
    return stamp
