"""Opening a container's published port in the user's browser (lazydocker's `w`), when an opener exists."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess


def port_url(ports: list[dict]) -> str | None:
    """The URL of the first published TCP port (engine.containers.ports' records), or None. A wildcard address
    is reached as localhost."""
    for p in ports:
        if p.get("Proto", "tcp") != "tcp" or not p.get("HostPort"):
            continue
        host = p.get("HostIp") or ""
        if host in ("", "0.0.0.0", "::"):
            host = "localhost"
        elif ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{p['HostPort']}"
    return None


def browser_opener() -> list[str] | None:
    """The command that opens a URL: $BROWSER as Python's webbrowser reads it (a list separated by colons, the
    first that exists; `%s` stands for the URL), else xdg-open from PATH; None when there is neither."""
    for entry in os.environ.get("BROWSER", "").split(os.pathsep):
        argv = shlex.split(entry) if entry.strip() else []
        if argv and shutil.which(argv[0]):
            return argv
    found = shutil.which("xdg-open")
    return [found] if found else None


def open_url(opener: list[str], url: str) -> None:
    """Start `opener` on `url` as argv (no shell: the URL holds a container's address), detached from the app's
    terminal and session; it is not waited for (a browser may run for hours)."""
    argv = [a.replace("%s", url) for a in opener] if any("%s" in a for a in opener) else [*opener, url]
    subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                     start_new_session=True)
