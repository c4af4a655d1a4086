"""How docker prints sizes and ages; shared by the CLI and the TUI."""

from __future__ import annotations

import time
from datetime import datetime

from tuiker.base.goquote import go_quote, printable  # noqa: F401 - the display helpers' quoting
from tuiker.base.times import human_duration, parse_time  # noqa: F401 - parse_time: the CLI's too


def human_size(n: float, precision: int = 3) -> str:
    """Decimal units with three significant digits, as docker's go-units HumanSizeWithPrecision: 7.8MB,
    1.23GB."""
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.{precision}g}{unit}" if unit != "B" else f"{int(n)}B"
        n /= 1000
    raise AssertionError("unreachable")


def bytes_size(n: float) -> str:
    """Binary units with four significant digits, as docker's go-units BytesSize (docker stats' memory):
    1.5MiB, 7.667GiB."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if n < 1024 or unit == "PiB":
            return f"{n:.4g}{unit}"
        n /= 1024
    raise AssertionError("unreachable")


def display_width(text: str) -> int:
    """Terminal columns of `text`: East Asian wide characters take two, combining marks none."""
    if text.isascii():
        return len(text)
    import unicodedata

    width = 0
    for ch in text:
        if unicodedata.combining(ch) or unicodedata.category(ch) in ("Mn", "Me", "Cf"):
            continue
        width += 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1
    return width


def ellipsis(text: str, width: int) -> str:
    """docker's formatter.Ellipsis: at most `width` columns, the last one a `…` when cut."""
    if display_width(text) <= width:
        return text
    out, used = [], 0
    for ch in text:
        w = display_width(ch)
        if used + w > width - 1:
            break
        out.append(ch)
        used += w
    return "".join(out) + "…"


def tabwrite(text: str, minwidth: int = 10, padding: int = 3) -> str:
    """Go's text/tabwriter with a space pad char, as docker's tables use it (`NewWriter(out, 10, 1, 3, ' ',
    0)`): tab-terminated cells of adjacent lines form a column as wide as its widest cell plus `padding`,
    at least `minwidth`; a line's last cell (not tab-terminated) is not part of any column."""
    lines = [line.split("\t") for line in text.split("\n")]
    out: list[str] = []
    widths: list[int] = []

    def write_lines(line0: int, line1: int) -> None:
        for i in range(line0, line1):
            for j, cell in enumerate(lines[i]):
                out.append(cell)
                if j < len(widths):
                    out.append(" " * (widths[j] - display_width(cell)))
            if i + 1 < len(lines):
                out.append("\n")

    def block(line0: int, line1: int) -> None:
        # The Elastic Tabstops walk of Go's Writer.format: find the next run of lines that has a cell in
        # this column, size the column over that run, then lay out the columns right of it the same way.
        column = len(widths)
        this = line0
        while this < line1:
            if column >= len(lines[this]) - 1:
                this += 1
                continue
            write_lines(line0, this)
            line0 = this
            width = minwidth
            while this < line1 and column < len(lines[this]) - 1:
                width = max(width, display_width(lines[this][column]) + padding)
                this += 1
            widths.append(width)
            block(line0, this)
            widths.pop()
            line0 = this
            this += 1
        write_lines(line0, line1)

    block(0, len(lines))
    return "".join(out)


def go_time(timestamp: float) -> str:
    """Go's time.Unix(sec, 0).String() in the local zone, as docker prints CreatedAt:
    `2024-05-01 12:00:00 +0200 CEST`."""
    local = datetime.fromtimestamp(int(timestamp)).astimezone()
    return local.strftime("%Y-%m-%d %H:%M:%S %z ") + (local.tzname() or local.strftime("%z"))


def go_time_rfc3339(text: str) -> str:
    """Go's Time.String() of an RFC 3339 time decoded from JSON (its own offset, nanoseconds kept):
    `2024-05-01 10:00:00.12345678 +0000 UTC`."""
    import re

    m = re.fullmatch(r"(\S{10})T(\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d):?(\d\d)?", text.strip())
    if not m:
        return "0001-01-01 00:00:00 +0000 UTC"
    day, clock, frac, hours, minutes = m.groups()
    frac = (frac or "").rstrip("0")
    offset = "+0000" if hours == "Z" else hours + (minutes or "00")
    return f"{day} {clock}{'.' + frac if frac else ''} {offset} {'UTC' if hours == 'Z' else offset}"


def ago(timestamp: float | None, now: float | None = None) -> str:
    if timestamp is None:
        return "N/A"
    return f"{human_duration((now or time.time()) - timestamp)} ago"

