"""Engine settings: where the store lives and which registries may be spoken to over plain HTTP."""

from __future__ import annotations

import ipaddress
import json
import os
from functools import lru_cache
from pathlib import Path

from tuiker.runtime.errors import TuikerError

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


def is_loopback(host: str) -> bool:
    """127.0.0.0/8, ::1 and localhost: docker treats these as insecure registries by default."""
    name = host.rsplit(":", 1)[0] if host.count(":") == 1 or host.startswith("[") else host
    name = name.strip("[]")
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def is_insecure(host: str) -> bool:
    return is_loopback(host) or host in load().get("insecure-registries", [])
