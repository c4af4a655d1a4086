"""`/_ping`, `/version`, `/info`: what a client asks first, to learn the API version and the host."""

from __future__ import annotations

import os
import platform

from tuiker import __version__
from tuiker.api.server import API_VERSION, MIN_API_VERSION, Api, Request


def ping(api: Api, req: Request) -> None:
    # Builder-Version 1: the classic builder (/build); BuildKit's session protocol is not served.
    req.respond(200, b"OK", "text/plain; charset=utf-8", {
        "Builder-Version": "1", "Cache-Control": "no-cache, no-store, must-revalidate", "Pragma": "no-cache",
    })


def version(api: Api, req: Request) -> dict:
    uname = os.uname()
    return {
        "Platform": {"Name": "tuiker"},
        "Components": [{"Name": "Engine", "Version": __version__,
                        "Details": {"ApiVersion": API_VERSION, "MinAPIVersion": MIN_API_VERSION,
                                    "Os": "linux", "Arch": _arch(), "KernelVersion": uname.release}}],
        "Version": __version__, "ApiVersion": API_VERSION, "MinAPIVersion": MIN_API_VERSION,
        "GitCommit": "", "GoVersion": "", "Os": "linux", "Arch": _arch(), "KernelVersion": uname.release,
        "BuildTime": "",
    }


def _arch() -> str:
    machine = platform.machine()
    return {"x86_64": "amd64", "aarch64": "arm64"}.get(machine, machine)


ROUTES = [
    ("GET", "/_ping", ping),
    ("GET", "/version", version),
]
