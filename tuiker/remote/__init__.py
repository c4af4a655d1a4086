"""The TUI over any Docker Engine API: RemoteEngine (engine.py) is a second implementation of the engine door,
over client.py's HTTP. `engine_for()` is the one place that picks the engine from the flags and environment,
as the docker CLI does: -H/--host, then --context, then DOCKER_HOST, then DOCKER_CONTEXT; else the local one."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from tuiker.base.errors import InvalidArgument

TYPE_CHECKING = False
if TYPE_CHECKING:
    from tuiker.engine import Engine
    from tuiker.remote.client import Tls
    from tuiker.remote.engine import RemoteEngine


def docker_config_dir() -> Path:
    return Path(os.environ.get("DOCKER_CONFIG") or Path.home() / ".docker")


def context_endpoint(name: str) -> tuple[str, Tls | None]:
    """The docker endpoint of a context as the docker CLI stores it: contexts/meta/<sha256(name)>/meta.json, its
    certificates (if any) in contexts/tls/<sha256(name)>/docker/."""
    from tuiker.remote.client import Tls

    digest = hashlib.sha256(name.encode()).hexdigest()
    top = docker_config_dir() / "contexts"
    try:
        meta = json.loads((top / "meta" / digest / "meta.json").read_text())
    except FileNotFoundError:
        raise InvalidArgument(f"context {name!r} does not exist (docker context ls lists them)") from None
    except (OSError, ValueError) as e:
        raise InvalidArgument(f"context {name!r}: cannot read its meta.json: {e}") from None
    endpoint = (meta.get("Endpoints") or {}).get("docker") or {}
    host = endpoint.get("Host")
    if not host:
        raise InvalidArgument(f"context {name!r} has no docker endpoint")
    tls_dir = top / "tls" / digest / "docker"
    tls = None
    if tls_dir.is_dir():
        def path(file: str) -> str | None:
            return str(tls_dir / file) if (tls_dir / file).exists() else None

        tls = Tls(path("ca.pem"), path("cert.pem"), path("key.pem"), not endpoint.get("SkipTLSVerify"))
    return host, tls


def choose(host: str | None, context: str | None, env: dict[str, str] | None = None) -> tuple[str, Tls | None,
                                                                                              str | None] | None:
    """(host, tls, context name) of the engine to drive, or None for the local engine. The `default` context is
    docker's name for "DOCKER_HOST or the local daemon": here, the local engine unless DOCKER_HOST says."""
    env = os.environ if env is None else env
    if host and context:
        raise InvalidArgument('conflicting options: either specify --host or --context, not both')
    if host:
        return host, None, None
    context = context or (None if env.get("DOCKER_HOST") else env.get("DOCKER_CONTEXT"))
    if context and context != "default":
        found, tls = context_endpoint(context)
        return found, tls, context
    if env.get("DOCKER_HOST"):
        return env["DOCKER_HOST"], None, None
    return None


def engine_for(host: str | None = None, context: str | None = None) -> Engine | RemoteEngine:
    """The engine the TUI drives: a RemoteEngine when a host or context is given (or in the environment), else
    the local Engine."""
    chosen = choose(host, context)
    if chosen is None:
        from tuiker.engine import Engine

        return Engine()
    from tuiker.remote.engine import RemoteEngine

    found, tls, name = chosen
    return RemoteEngine(found, tls, name)
