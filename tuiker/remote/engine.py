"""RemoteEngine: the engine door over any Docker Engine API (dockerd, podman's service, a far host through ssh).

It has what the TUI calls on the local Engine, no more: `containers` (get, inspect, create, start, stop,
restart, pause, unpause, remove, exec, attach, log_reader, stats, top), `images` (get, inspect, config, pull,
remove), `networks` (inspect, create, remove), `volumes` (inspect, remove, users), `builds` (refuses: the
classic /build is not driven from here yet), `watch()`, and `header()` for the TUI's top line."""

from __future__ import annotations

import time

from tuiker.base.errors import InvalidArgument, NotFoundError, TuikerError
from tuiker.remote import records
from tuiker.remote.client import MAX_API_VERSION, Client, Tls
from tuiker.remote.streams import LogReader, ProcessTable, Session, StatsSampler

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import NoReturn

    from tuiker.engine import Container, Image, Progress, PullResult, RunOptions
    from tuiker.remote.watch import Watcher


class RemoteEngine:
    """The engine at `host` (docker's -H syntax). `name` says what it is: docker, podman (from /version)."""

    def __init__(self, host: str, tls: Tls | None = None, context: str | None = None) -> None:
        self.client = Client(host, tls)
        self.host = host
        self.context = context
        self.root = host  # what the local engine's root is to the header and to `E`/`A`: where it lives
        version = self.client.call("GET", "/version")
        self.version: dict = version if isinstance(version, dict) else {}
        self.client.version = _api_version(self.version.get("ApiVersion", ""), self.client.version)
        components = [c.get("Name", "") for c in self.version.get("Components") or []]
        self.name = "podman" if any("Podman" in c for c in components) else "docker"
        self.containers = RemoteContainers(self.client)
        self.images = RemoteImages(self.client)
        self.networks = RemoteNetworks(self.client)
        self.volumes = RemoteVolumes(self.client)
        self.builds = RemoteBuilds()

    def watch(self) -> Watcher:
        from tuiker.remote.watch import Watcher

        return Watcher(self)

    def header(self) -> list[tuple[str, str]]:
        """(label, value) pairs for the TUI's top line, after the engine's name."""
        where = f"{self.host}" + (f" (context {self.context})" if self.context else "")
        return [("@", where), ("version", self.version.get("Version", "?"))]

    def terminal_command(self, args: list[str]) -> tuple[list[str], dict[str, str]]:
        """`docker ARGS` on this engine (the docker CLI does `exec -it` and `attach` with the whole terminal)."""
        import os
        import shutil

        docker = shutil.which("docker")
        if docker is None:
            raise TuikerError("the whole-terminal exec and attach over a Docker engine need the docker CLI: "
                              "use e or a (a terminal tab) instead")
        where = ["--context", self.context] if self.context else ["--host", self.host]
        return [docker, *where, *args], dict(os.environ)

    def close(self) -> None:
        self.client.close()


def _api_version(server: str, fallback: str) -> str:
    try:
        major, minor = (int(x) for x in server.split("."))
    except ValueError:
        return fallback
    major, minor = min((major, minor), MAX_API_VERSION)
    return f"{major}.{minor}"


class _Service:
    """One kind of object on the engine; `INSPECT` is its inspect path, `{}` the name or ID."""

    INSPECT = ""

    def __init__(self, client: Client) -> None:
        self.client = client

    def inspect(self, ref: str) -> dict:
        """docker's inspect document (NotFoundError with docker's message when there is none)."""
        doc = self.client.call("GET", self.INSPECT.format(ref))
        if not isinstance(doc, dict):
            raise TuikerError(f"{self.client.host}: no document for {ref}")
        return doc


class RemoteContainers(_Service):
    INSPECT = "/containers/{}/json"

    def get(self, ref: str) -> Container:
        return records.container(self.inspect(ref))

    def list(self, all: bool = False) -> list[Container]:
        summaries = self.client.call("GET", "/containers/json", {"all": all}) or []
        return [self.get(s["Id"]) for s in summaries]  # type: ignore[union-attr]

    def create(self, options: RunOptions) -> Container:
        body = create_body(options)
        made = self.client.call("POST", "/containers/create", {"name": options.name}, body)
        return self.get(made["Id"])  # type: ignore[index]

    def _post(self, path: str, query: dict | None = None) -> None:
        self.client.call("POST", path, query)  # 304 (already started, already stopped) is no error, as docker's CLI

    def start(self, ref: str) -> None:
        self._post(f"/containers/{ref}/start")

    def stop(self, ref: str, timeout: int | None = None) -> None:
        self._post(f"/containers/{ref}/stop", {"t": timeout})

    def restart(self, ref: str, timeout: int | None = None) -> None:
        self._post(f"/containers/{ref}/restart", {"t": timeout})

    def kill(self, ref: str, signal: str | None = None) -> None:
        self._post(f"/containers/{ref}/kill", {"signal": signal})

    def pause(self, ref: str) -> None:
        self._post(f"/containers/{ref}/pause")

    def unpause(self, ref: str) -> None:
        self._post(f"/containers/{ref}/unpause")

    def remove(self, ref: str, force: bool = False, volumes: bool = False) -> None:
        self.client.call("DELETE", f"/containers/{ref}", {"force": force, "v": volumes})

    def prune(self) -> list[str]:
        """`POST /containers/prune`: the IDs of the stopped containers removed."""
        done = self.client.call("POST", "/containers/prune") or {}
        return list(done.get("ContainersDeleted") or [])  # type: ignore[union-attr]

    def exec(self, ref: str, cmd: list[str], tty: bool = False, interactive: bool = False, detach: bool = False,
             env: list[str] | None = None, workdir: str | None = None, user: str | None = None,
             size: tuple[int, int] | None = None) -> Session | None:
        """As the local engine's: the process's Session (None with `detach`)."""
        config = {"Cmd": cmd, "Tty": tty, "AttachStdin": interactive and not detach, "AttachStdout": not detach,
                  "AttachStderr": not detach, "Env": env, "WorkingDir": workdir, "User": user}
        made = self.client.call("POST", f"/containers/{ref}/exec", None,
                                {k: v for k, v in config.items() if v is not None})
        exec_id = made["Id"]  # type: ignore[index]
        if detach:
            self.client.call("POST", f"/exec/{exec_id}/start", None, {"Detach": True, "Tty": tty})
            return None
        sock, pending = self.client.hijack(f"/exec/{exec_id}/start", None, {"Detach": False, "Tty": tty})
        session = Session(self.client, sock, pending, tty, f"/exec/{exec_id}/resize",
                          lambda: (self.client.call("GET", f"/exec/{exec_id}/json") or {}).get("ExitCode"))
        if size:
            session.resize(*size)
        return session

    def attach(self, ref: str, size: tuple[int, int] | None = None) -> Session:
        """Its console from now on (output, and input if it keeps stdin open); it must be running."""
        c = self.get(ref)
        if c.status != "running":
            raise TuikerError("You cannot attach to a stopped container, start it first")
        stdin = bool(c.config["Config"].get("OpenStdin"))
        sock, pending = self.client.hijack(f"/containers/{c.id}/attach",
                                           {"stream": True, "stdin": stdin, "stdout": True, "stderr": True})

        def exit_code() -> int | None:
            state = self.inspect(c.id).get("State") or {}
            return None if state.get("Running") else state.get("ExitCode")

        session = Session(self.client, sock, pending, c.tty, f"/containers/{c.id}/resize", exit_code)
        if size and c.tty:
            session.resize(*size)
        return session

    def log_reader(self, container: Container, tail: int | None = None) -> LogReader:
        return LogReader(self.client, container, tail)

    def stats(self, container: Container | str) -> StatsSampler:
        return StatsSampler(self.client, container if not isinstance(container, str) else self.get(container))

    def top(self, container: Container | str) -> ProcessTable:
        c = container if not isinstance(container, str) else self.get(container)
        if c.status not in ("running", "paused"):
            raise TuikerError(f"container {c.short_id} is not running")
        return ProcessTable(self.client, c.id)

    def wait_gone(self, ref: str, timeout: float = 10) -> None:
        """Until the engine no longer has it (an auto-removed container after its stop)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                self.inspect(ref)
            except NotFoundError:
                return
            time.sleep(0.1)


#: RunOptions the Docker API create body carries (the rest, when set, are refused rather than dropped).
_CARRIED = {"image", "command", "name", "env", "workdir", "user", "entrypoint", "hostname", "tty", "interactive",
            "cpus", "memory", "memory_swap", "pids_limit", "cpu_shares", "restart", "auto_remove", "privileged",
            "read_only", "cap_add", "cap_drop", "network", "ports", "publish_all", "expose", "volumes", "labels",
            "init", "dns", "add_hosts", "stop_signal", "security_opt", "image_volumes"}


def create_body(options: RunOptions) -> dict:
    """RunOptions as docker's ContainerCreate body."""
    from tuiker.engine import RunOptions
    from tuiker.net.ports import key, parse_expose, parse_publish, to_docker

    for name in RunOptions.__annotations__:
        if name not in _CARRIED and getattr(options, name) != getattr(RunOptions, name, None):
            raise InvalidArgument(f"{name.replace('_', '-')} is not supported over the Docker API (yet)")
    bindings = [b for spec in options.ports or [] for b in parse_publish(spec)]
    exposed = {key(b): {} for b in bindings}
    exposed.update({k: {} for spec in options.expose or [] for k in parse_expose(spec)})
    policy, _, retries = (options.restart or "no").partition(":")
    host_config = {
        "NetworkMode": options.network, "PortBindings": to_docker(bindings), "PublishAllPorts": options.publish_all,
        "RestartPolicy": {"Name": "" if policy == "no" else policy, "MaximumRetryCount": int(retries or 0)},
        "AutoRemove": options.auto_remove, "Privileged": options.privileged, "ReadonlyRootfs": options.read_only,
        "CapAdd": options.cap_add, "CapDrop": options.cap_drop, "SecurityOpt": options.security_opt,
        "Binds": options.volumes, "Dns": options.dns, "ExtraHosts": options.add_hosts, "Init": options.init or None,
        "NanoCpus": int(options.cpus * 1e9) if options.cpus else None, "Memory": options.memory,
        "MemorySwap": options.memory_swap, "PidsLimit": options.pids_limit, "CpuShares": options.cpu_shares,
    }
    body = {
        "Image": options.image, "Cmd": options.command, "Entrypoint": options.entrypoint, "Env": options.env,
        "WorkingDir": options.workdir, "User": options.user, "Hostname": options.hostname, "Tty": options.tty,
        "OpenStdin": options.interactive, "StdinOnce": False, "AttachStdin": False, "Labels": options.labels,
        "ExposedPorts": exposed or None, "StopSignal": options.stop_signal,
        "HostConfig": {k: v for k, v in host_config.items() if v is not None},
    }
    return {k: v for k, v in body.items() if v is not None}


class RemoteImages(_Service):
    INSPECT = "/images/{}/json"

    def get(self, ref: str) -> Image:
        return records.image(self.inspect(ref))

    def list(self) -> list[Image]:
        return [records.image(s) for s in self.client.call("GET", "/images/json") or []]  # type: ignore[union-attr]

    def config(self, image: Image) -> dict:
        """What the TUI reads of an image's config: its history (oldest first, as in the OCI config)."""
        rows = self.client.call("GET", f"/images/{image.id}/history") or []
        return {"history": [{"created_by": r.get("CreatedBy", ""), "created": r.get("Created")}
                            for r in reversed(rows)]}  # type: ignore[arg-type]

    def remove(self, ref: str, force: bool = False) -> list[tuple[str, str]]:
        """("Untagged" | "Deleted", what) as `rmi` prints them."""
        done = self.client.call("DELETE", f"/images/{ref}", {"force": force}) or []
        return [(verb, what) for item in done for verb, what in item.items()]  # type: ignore[union-attr]

    def prune(self, all_images: bool = False) -> tuple[list[tuple[str, str]], int]:
        """`POST /images/prune` (dangling=false: unused ones too), as the local engine's: what went, bytes freed."""
        query = {"filters": {"dangling": ["false"]}} if all_images else None
        done = self.client.call("POST", "/images/prune", query) or {}
        gone = [(verb, what) for item in done.get("ImagesDeleted") or [] for verb, what in item.items()]
        return gone, int(done.get("SpaceReclaimed") or 0)  # type: ignore[union-attr]

    def pull(self, ref: str, progress: Callable[[Progress], None] | None = None, platform: str | None = None,
             **_ignored) -> PullResult:
        """`POST /images/create`, its JSON progress as the engine's Progress lines."""
        from tuiker.engine import Progress, PullResult
        from tuiker.image.reference import parse

        reference = parse(ref)
        query = {"fromImage": reference.name, "tag": reference.digest or reference.tag, "platform": platform}
        stream = self.client.stream("POST", "/images/create", query)
        digest, downloaded = "", False
        try:
            for line in stream.json_lines():
                if line.get("error"):
                    raise TuikerError(line["error"])
                status = line.get("status", "")
                if status.startswith("Digest: "):
                    digest = status.removeprefix("Digest: ")
                downloaded = downloaded or "Downloaded newer image" in status  # docker: "Status: Downloaded ..."
                detail = line.get("progressDetail") or {}
                # A layer's line has its short digest as `id`; "Pulling from REPO" has the tag there: the image's.
                layer = line.get("id", "") if not status.startswith("Pulling from") else ""
                if progress:
                    progress(Progress(layer, status, int(detail.get("current") or 0), int(detail.get("total") or 0)))
        finally:
            stream.close()
        name = str(reference)
        image = self.get(name)
        repo_digest = f"{reference.name}@{digest}" if digest else ""
        return PullResult(image, repo_digest, name, downloaded, None)


class RemoteNetworks(_Service):
    INSPECT = "/networks/{}"

    def list(self) -> list:
        found = (records.network(n) for n in self.client.call("GET", "/networks") or [])  # type: ignore[union-attr]
        return sorted((n for n in found if n is not None), key=lambda n: n.name)

    def create(self, name: str, subnet: str | None = None, internal: bool = False) -> None:
        body: dict = {"Name": name, "Driver": "bridge", "Internal": internal, "CheckDuplicate": True}
        if subnet:
            body["IPAM"] = {"Driver": "default", "Config": [{"Subnet": subnet}]}
        self.client.call("POST", "/networks/create", None, body)

    def remove(self, name: str) -> None:
        self.client.call("DELETE", f"/networks/{name}")

    def prune(self) -> list[str]:
        done = self.client.call("POST", "/networks/prune") or {}
        return list(done.get("NetworksDeleted") or [])  # type: ignore[union-attr]


class RemoteVolumes(_Service):
    INSPECT = "/volumes/{}"

    def list(self) -> list[dict]:
        found = (self.client.call("GET", "/volumes") or {}).get("Volumes") or []  # type: ignore[union-attr]
        return sorted(found, key=lambda v: v["Name"])

    def users(self, name: str) -> list[str]:
        found = self.client.call("GET", "/containers/json", {"all": True, "filters": {"volume": [name]}}) or []
        return [c["Id"] for c in found]  # type: ignore[union-attr]

    def remove(self, name: str, force: bool = False) -> None:
        self.client.call("DELETE", f"/volumes/{name}", {"force": force})

    def prune(self, all_volumes: bool = False) -> tuple[list[str], int]:
        """`POST /volumes/prune`: anonymous volumes only unless `all_volumes` (API 1.42's rule, as the local one).
        Before 1.42 (docker 20.10) the engine prunes named ones too and has no filter to spare them: refused."""
        modern = tuple(int(n) for n in self.client.version.split(".")) >= (1, 42)
        if not (all_volumes or modern):
            raise InvalidArgument(f"this engine speaks API {self.client.version}: its prune removes named volumes too "
                                  "(choose all unused volumes, or update it to API 1.42)")
        query = {"filters": {"all": ["true"]}} if all_volumes and modern else None
        done = self.client.call("POST", "/volumes/prune", query) or {}
        return list(done.get("VolumesDeleted") or []), int(done.get("SpaceReclaimed") or 0)  # type: ignore[union-attr]


class RemoteBuilds:
    def build(self, *_args, **_kwargs) -> NoReturn:
        raise TuikerError("building over the Docker API is not supported from the TUI yet: use `docker build`")

