"""Registry credentials, shared with docker through `~/.docker/config.json`.

We read `auths` (base64 `user:secret`), `credHelpers` and `credsStore` (the docker-credential-* helper
protocol: `get` reads the server URL on stdin and prints `{"Username", "Secret"}`), so a user who ran
`docker login` is logged in for tuiker too. `tuiker login` writes `auths` the way docker does when no
helper is configured.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
from pathlib import Path

from tuiker.base.errors import TuikerError
from tuiker.base.fsutil import atomic_write

# Docker Hub's credentials live under this legacy key, not under docker.io.
DOCKER_HUB_KEY = "https://index.docker.io/v1/"
# docker's convention: credentials with this user name hold an identity token (an OAuth2 refresh token), not a
# password; the registry client trades it at the token server (registry.py).
IDENTITY_TOKEN_USER = "<token>"


def config_path() -> Path:
    base = os.environ.get("DOCKER_CONFIG") or os.path.join(os.path.expanduser("~"), ".docker")
    return Path(base) / "config.json"


def _read_config() -> dict:
    try:
        with open(config_path()) as f:
            return json.load(f)
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as e:
        raise TuikerError(f"cannot read {config_path()}: {e}") from e


def _key_for(registry: str) -> str:
    return DOCKER_HUB_KEY if registry in ("docker.io", "registry-1.docker.io", "index.docker.io") else registry


def _matches(key: str, registry: str) -> bool:
    """docker accepts `host`, `https://host` and `https://host/v1/` as keys for one registry."""
    bare = key.removeprefix("https://").removeprefix("http://").split("/", 1)[0]
    return key == _key_for(registry) or bare == registry


def _from_helper(helper: str, key: str) -> tuple[str, str] | None:
    try:
        out = subprocess.run(
            [f"docker-credential-{helper}", "get"], input=key, capture_output=True, text=True, timeout=30
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if out.returncode != 0:
        return None
    try:
        data = json.loads(out.stdout)
    except ValueError:
        return None
    return data.get("Username", ""), data.get("Secret", "")


def lookup(registry: str) -> tuple[str, str] | None:
    """(username, secret) for a registry host, or None for anonymous access."""
    config = _read_config()
    key = _key_for(registry)
    helper = config.get("credHelpers", {}).get(key) or config.get("credHelpers", {}).get(registry)
    if helper:
        return _from_helper(helper, key)
    for entry_key, entry in config.get("auths", {}).items():
        if _matches(entry_key, registry) and entry.get("auth"):
            try:
                user, _, secret = base64.b64decode(entry["auth"]).decode().partition(":")
            except ValueError as e:
                raise TuikerError(f"bad auth entry for {entry_key} in {config_path()}") from e
            return user, secret
    if config.get("credsStore"):
        return _from_helper(config["credsStore"], key)
    return None


def store(registry: str, username: str, secret: str) -> Path:
    config = _read_config()
    token = base64.b64encode(f"{username}:{secret}".encode()).decode()
    config.setdefault("auths", {})[_key_for(registry)] = {"auth": token}
    path = config_path()
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    atomic_write(path, json.dumps(config, indent="\t").encode() + b"\n", mode=0o600)
    return path


def erase(registry: str) -> bool:
    config = _read_config()
    auths = config.get("auths", {})
    keys = [k for k in auths if _matches(k, registry)]
    for k in keys:
        del auths[k]
    if keys:
        atomic_write(config_path(), json.dumps(config, indent="\t").encode() + b"\n", mode=0o600)
    return bool(keys)
