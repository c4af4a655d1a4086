"""Signal names as docker takes them (`--stop-signal`, `kill -s`, an image's StopSignal): its signal.ParseSignal."""

from __future__ import annotations

import signal


def parse_signal(text: str | int) -> int:
    """A signal's number from `9`, `KILL`, `SIGKILL`, `sigusr1`, `RTMIN+3` or `SIGRTMAX-1`; ValueError with docker's
    message (`Invalid signal: X`) for 0, a number beyond the last signal, or an unknown name."""
    if isinstance(text, int) or str(text).isdigit():
        number = int(text)
        if 0 < number < signal.NSIG:
            return number
        raise ValueError(f"Invalid signal: {text}")
    name = str(text).upper().removeprefix("SIG")
    known = getattr(signal.Signals, f"SIG{name}", None)
    if known is not None and name not in ("RTMIN", "RTMAX"):
        return int(known)
    for base, number in (("RTMIN", int(signal.SIGRTMIN)), ("RTMAX", int(signal.SIGRTMAX))):
        offset = name[len(base):]
        if name.startswith(base) and (not offset or (offset[0] in "+-" and offset[1:].isdigit())):
            number += int(offset or 0)
            if signal.SIGRTMIN <= number <= signal.SIGRTMAX:
                return number
    raise ValueError(f"Invalid signal: {text}")
