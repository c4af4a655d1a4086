"""Engine settings: where the store lives and which registries may be spoken to over plain HTTP."""

from __future__ import annotations

import json
import os
from functools import lru_cache
from pathlib import Path

from tuiker.base.errors import TuikerError

DEFAULT_ROOT = "/var/lib/tuiker"


def engine_root() -> Path:
    return Path(os.environ.get("TUIKER_ROOT") or DEFAULT_ROOT)


def config_file() -> Path:
    """`TUIKER_CONFIG`, else `~/.config/tuiker/config.json` (like docker's daemon.json, but per user)."""
    explicit = os.environ.get("TUIKER_CONFIG")
    if explicit:
        return Path(explicit)
    return Path(os.path.expanduser("~")) / ".config" / "tuiker" / "config.json"


@lru_cache(maxsize=1)
def load() -> dict:
    path = config_file()
    try:
        with open(path) as f:
            data = json.load(f)
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as e:
        raise TuikerError(f"cannot read tuiker config {path}: {e}") from e
    if not isinstance(data, dict):
        raise TuikerError(f"tuiker config {path} must hold a JSON object")
    return data


# Where a container's init is mounted, as docker mounts its docker-init (tini) with `--init`.
INIT_TARGET = "/sbin/docker-init"


def init_binary() -> str:
    """The init `--init` runs as the container's pid 1: config "init-path", else docker's docker-init or
    Debian's tini-static. It must be static: it runs on the image's libc, or with none (busybox)."""
    import shutil

    path = load().get("init-path") or shutil.which("docker-init") or shutil.which("tini-static")
    if not path or not os.access(path, os.X_OK):
        raise TuikerError("--init needs a static init binary: install Debian's tini package (tini-static), or set"
                          f" \"init-path\" in {config_file()}")
    return os.path.realpath(path)


def is_loopback(host: str) -> bool:
    """127.0.0.0/8, ::1 and localhost: docker treats these as insecure registries by default."""
    name = host.rsplit(":", 1)[0] if host.count(":") == 1 or host.startswith("[") else host
    name = name.strip("[]")
    if name == "localhost":
        return True
    import ipaddress  # not at the top: config is on every command's path

    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def is_insecure(host: str) -> bool:
    return is_loopback(host) or host in load().get("insecure-registries", [])
