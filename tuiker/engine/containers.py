"""`engine.containers`: create, start, stop, kill, pause, remove ... (requests to the monitor, which owns every
running container), and the read side: list, inspect, logs, stats, top, diff, ports, state text.

Writes take a container's name, ID or unique ID prefix, as docker's commands do. Reads also take the
Container record a caller already holds (the TUI's rows), so a view that refreshes never looks it up again."""

from __future__ import annotations

import os
import time
from pathlib import Path

from tuiker.base import names
from tuiker.base.errors import ConflictError, InvalidArgument, NotFoundError, TuikerError
from tuiker.base.times import human_duration, parse_time
from tuiker.engine import networks as netinfo
from tuiker.engine.stores import open_store
from tuiker.image import reference
from tuiker.runtime.events import container_event

TYPE_CHECKING = False  # not typing's: importing typing costs ~7 ms on every command
if TYPE_CHECKING:
    import socket
    from collections.abc import Iterator

    from tuiker.engine.images import Images
    from tuiker.engine.logs import LogReader, LogRecord
    from tuiker.engine.networks import Networks
    from tuiker.engine.processes import ProcessTable
    from tuiker.engine.session import Session
    from tuiker.engine.stats import StatsSampler
    from tuiker.engine.volumes import Volumes
    from tuiker.image.store import Image
    from tuiker.runtime.containers import Container, ContainerStore
    from tuiker.runtime.monitor_client import MonitorClient

LIVE_STATES = ("running", "paused", "restarting")  # a process exists (or is about to again)


class RunOptions:
    """What `create`/`run` take, in docker's terms (the CLI parses flags into this). Each option is a class
    attribute holding its default; keyword arguments override them. Not a dataclass: importing dataclasses
    (and inspect with it) costs ~15 ms on every CLI command."""

    def __init__(self, image: str, **options) -> None:
        self.image = image
        for key, value in options.items():
            if key not in RunOptions.__annotations__:
                raise TypeError(f"unknown run option {key!r}")
            setattr(self, key, value)

    image: str
    command: list[str] | None = None
    name: str | None = None
    env: list[str] | None = None
    workdir: str | None = None
    user: str | None = None
    entrypoint: list[str] | None = None
    hostname: str | None = None
    tty: bool = False
    interactive: bool = False
    cpus: float | None = None
    memory: int | None = None
    memory_swap: int | None = None
    pids_limit: int | None = None
    cpu_shares: int | None = None
    restart: str = "no"
    auto_remove: bool = False
    privileged: bool = False
    read_only: bool = False
    cap_add: list[str] | None = None
    cap_drop: list[str] | None = None
    security_opt: list[str] | None = None
    network: str = "bridge"  # none, host, bridge (the default network) or a user network's name
    ports: list[str] | None = None  # -p specs: [IP:][HOSTPORT:]CONTAINERPORT[/PROTO]
    publish_all: bool = False  # -P
    network_aliases: list[str] | None = None
    expose: list[str] | None = None
    platform: str | None = None
    init: bool = False
    # volumes
    volumes: list[str] | None = None  # -v specs: [SRC:]DST[:MODE]
    mounts: list[str] | None = None  # --mount specs: type=...,source=...,target=...
    tmpfs: list[str] | None = None  # --tmpfs specs: DST[:OPTIONS]
    volumes_from: list[str] | None = None  # --volumes-from CONTAINER[:ro|:rw]
    # health
    healthcheck: dict | None = None  # docker's HealthConfig: Test (list), Interval, Timeout, StartPeriod (ns), Retries
    no_healthcheck: bool = False
    add_hosts: list[str] | None = None  # --add-host NAME:IP (IP may be `host-gateway`)
    dns: list[str] | None = None
    stop_signal: str | None = None
    stop_timeout: int | None = None  # seconds `stop` waits when not told (docker's Config.StopTimeout); else 10
    # compose
    labels: dict[str, str] | None = None  # --label/--label-file, merged over the image's labels
    # build
    image_volumes: bool = True  # False for a build's RUN: what it writes under a VOLUME stays in the image (BuildKit)


class ContainerStartError(TuikerError):
    """The container's process could not be started; `code` is docker's exit status (125, 126, 127)."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


class Containers:
    """The containers of one engine root; given the root, the image, network and volume services (a container is
    made from an image, on networks, with volumes), and the monitor client (which runs them)."""

    def __init__(self, root: Path, images: Images, networks: Networks, monitor: MonitorClient,
                 volumes: Volumes | None = None) -> None:
        self.root = root
        self.images = images
        self.networks = networks
        self.monitor = monitor
        self._volumes = volumes
        self._store: ContainerStore | None = None

    @property
    def volumes(self) -> Volumes:
        if self._volumes is None:
            from tuiker.engine.volumes import Volumes

            self._volumes = Volumes(self.root)
        return self._volumes

    @property
    def store(self) -> ContainerStore:
        """The containers' files (runtime/containers.py)."""
        if self._store is None:
            from tuiker.runtime.containers import ContainerStore

            self._store = open_store(ContainerStore, self.root)
        return self._store

    def _record(self, container: Container | str) -> Container:
        return self.get(container) if isinstance(container, str) else container

    # -- making one -------------------------------------------------------------------------------

    def create(self, opts: RunOptions, progress=None) -> Container:
        """A new container, its image pulled first if it is not here (`progress` as for images.pull)."""
        # Before anything is pulled or made: both are written into files (names.py says why they matter).
        if opts.name:
            names.check_container_name(opts.name)
        if opts.hostname:
            names.check_hostname(opts.hostname)
        try:
            self.images.get(opts.image)
        except NotFoundError:
            if progress is not None:  # docker says so before it pulls
                from tuiker.image.pull import Progress

                name = reference.familiar(str(reference.parse(opts.image)))
                progress(Progress("", f"Unable to find image '{name}' locally"))
            self.images.pull(opts.image, opts.platform, progress)
        # From reading the image to writing the container's config, a lease keeps the garbage collection of a
        # concurrent rmi off the image's layers; from then on the container's config holds them (store.py).
        store = self.images.store
        with store.lease():
            image = self.images.get(opts.image)
            missing = [d for d in image.layers if not store.has_layer(d)]
            if missing:
                raise TuikerError(f"image {image.short_id} is incomplete (layer {missing[0]} is missing): pull it"
                                  " again")
            config = self._config(opts, image)
            # Its volumes and -v host directories are made only now that it is known to be valid, and removed
            # again if writing it fails.
            with self.volumes.provision(config["mounts"]):
                c = self.store.create(config, opts.name)
        container_event(c, "create")
        return c

    def _config(self, opts: RunOptions, image: Image) -> dict:
        """The container's config.json: the options checked, merged with the image's config by docker's rules."""
        from tuiker.base.config import init_binary
        from tuiker.runtime.containers import merge_image_config
        from tuiker.runtime.security import capabilities

        image_cfg = self.images.config(image)
        cfg = merge_image_config(image_cfg, opts.command, opts.entrypoint, opts.env or [], opts.workdir, opts.user)
        security = opts.security_opt or []
        for item in security:
            if item not in ("no-new-privileges", "no-new-privileges:true", "no-new-privileges=true",
                            "no-new-privileges:false", "seccomp=unconfined", "seccomp:unconfined"):
                raise InvalidArgument(f"unsupported --security-opt {item!r}")
        net = self.networks.container_config(opts.network, opts.ports, opts.publish_all, opts.network_aliases,
                                             opts.expose, (image_cfg.get("config") or {}).get("ExposedPorts"))
        if opts.memory is not None and opts.memory < 6 * 1024 * 1024:
            raise InvalidArgument("Minimum memory limit allowed is 6MB")
        if opts.cpus is not None and not 0 < opts.cpus <= (os.cpu_count() or 1):
            raise InvalidArgument(f"range of CPUs is from 0.01 to {os.cpu_count()}.00, as there are only "
                              f"{os.cpu_count()} CPUs available")
        pids_limit = None if opts.pids_limit == 0 else opts.pids_limit  # docker: 0 means unlimited
        try:
            caps = capabilities.resolve(opts.cap_add or [], opts.cap_drop or [], opts.privileged)
        except ValueError as e:
            raise InvalidArgument(str(e)) from e
        cfg.update(Hostname=opts.hostname or "", Tty=opts.tty, OpenStdin=opts.interactive, Image=opts.image)
        health = healthcheck_config(opts.healthcheck, opts.no_healthcheck, image_cfg.get("config") or {})
        if health is not None:
            cfg["Healthcheck"] = health
        if opts.stop_signal is not None:
            cfg["StopSignal"] = check_signal(opts.stop_signal)
        if opts.stop_timeout is not None:
            cfg["StopTimeout"] = opts.stop_timeout
        add_hosts, extra_hosts = self._extra_hosts(opts.add_hosts or [])
        dns = [check_ip(server, "--dns") for server in opts.dns or []]
        if opts.labels:
            cfg["Labels"] = {**cfg["Labels"], **opts.labels}  # docker: the container's own win over the image's
        if net["ExposedPorts"]:
            cfg["ExposedPorts"] = net["ExposedPorts"]
        swap = opts.memory_swap
        restart = _restart_policy(opts.restart)
        if opts.auto_remove and restart["Name"] != "no":
            raise InvalidArgument("conflicting options: cannot specify both --restart and --rm")
        mounts = self._mounts(opts, (image_cfg.get("config") or {}).get("Volumes"))
        # docker's Config.Volumes: the image's VOLUMEs and -v's anonymous ones (the rest are HostConfig.Binds).
        anonymous = {m["Destination"]: {} for m in mounts if m["Type"] == "volume" and m.get("Anonymous")}
        if anonymous:
            cfg["Volumes"] = anonymous
        return {
            "Image": opts.image, "ImageID": image.id, "Layers": [d.removeprefix("sha256:") for d in image.layers],
            "Config": cfg,
            "HostConfig": {
                "Memory": opts.memory or 0, "MemorySwap": swap if swap is not None else 0,
                "NanoCpus": int((opts.cpus or 0) * 1e9), "CpuShares": opts.cpu_shares or 0,
                "PidsLimit": pids_limit, "RestartPolicy": restart,
                "AutoRemove": opts.auto_remove, "Privileged": opts.privileged, "ReadonlyRootfs": opts.read_only,
                "CapAdd": opts.cap_add or None, "CapDrop": opts.cap_drop or None, "SecurityOpt": security or None,
                "NetworkMode": net["NetworkMode"], "PortBindings": net["PortBindings"] or None,
                "PublishAllPorts": net["PublishAllPorts"], "Init": opts.init or None,
                "Binds": _binds(opts.volumes or []) or None,
                "Tmpfs": dict(t.partition(":")[::2] for t in opts.tmpfs or []) or None,
                "VolumesFrom": opts.volumes_from or None,
                "Dns": dns, "ExtraHosts": add_hosts or None,
            },
            "HostsEntries": extra_hosts,  # ExtraHosts resolved: [address, name] lines for /etc/hosts
            "NetworkingConfig": {"EndpointsConfig": net["EndpointsConfig"]},
            "Limits": {
                "cpu_quota_us": int(opts.cpus * 100_000) if opts.cpus else None, "cpu_period_us": 100_000,
                "cpu_shares": opts.cpu_shares, "memory_bytes": opts.memory, "memory_swap_bytes": swap,
                "pids_max": pids_limit, "all_devices": opts.privileged,
            },
            "Capabilities": sorted(caps),
            "NoNewPrivileges": any(s.startswith("no-new-privileges") and not s.endswith("false") for s in security),
            "Seccomp": not opts.privileged and not any(s.startswith("seccomp") for s in security),
            "InitPath": init_binary() if opts.init else None,
            "mounts": mounts,
        }

    def _mounts(self, opts: RunOptions, image_volumes: dict | None) -> list[dict]:
        """Its mounts planned from the flags and the image (mountspec.py); nothing is made yet."""
        from tuiker.engine import mountspec

        inherited = []
        for spec in opts.volumes_from or []:
            source = self.get(spec.partition(":")[0])
            inherited += mountspec.volumes_from(spec, source.config.get("mounts") or [])
        return mountspec.plan(opts.volumes or [], opts.mounts or [], opts.tmpfs or [], inherited,
                              image_volumes if opts.image_volumes else None)

    def _extra_hosts(self, specs: list[str]) -> tuple[list[str], list[list[str]]]:
        """docker's --add-host NAME:IP or NAME=IP (an IPv6 address may be in brackets): (the specs as HostConfig
        keeps them, NAME:IP; the [address, name] lines for /etc/hosts, the address as given). `host-gateway` is
        the default bridge's gateway: the host as containers reach it."""
        kept, entries = [], []
        for spec in specs:
            name, sep, address = spec.partition("=")
            if not sep:
                name, sep, address = spec.partition(":")  # the first colon only: an IPv6 address holds more
            if not sep or not name or ":" in name:
                raise InvalidArgument(f'invalid argument "{spec}" for "--add-host" flag: bad format for add-host:'
                                      f' "{spec}"')
            if not names.is_host_token(name):
                # Written into /etc/hosts: a name with a space or a newline would add names or lines of its own.
                raise InvalidArgument(f'invalid argument "{spec}" for "--add-host" flag: invalid host name: "{name}"')
            if len(address) > 2 and address[0] == "[" and address[-1] == "]":
                address = address[1:-1]
            line_address = address
            if address == "host-gateway":
                line_address = self.networks.host_gateway()
                if not line_address:
                    raise InvalidArgument("unable to derive the IP value for host-gateway")
            else:
                try:
                    check_ip(address, "--add-host")
                except TuikerError:
                    raise InvalidArgument(f'invalid argument "{spec}" for "--add-host" flag: invalid IP address in'
                                      f' add-host: "{address}"') from None
            kept.append(f"{name}:{address}")
            entries.append([line_address, name])
        return kept, entries

    # -- running it (requests to the monitor) -----------------------------------------------------------

    def _ask(self, request: dict, exit_status: int | None = None, keep: bool = False) -> tuple[dict, socket | None]:
        """The monitor's reply to `request` (and with `keep`, the socket the process's stream follows on). A refusal
        is a ContainerStartError carrying docker's exit status (`exit_status`, unless the monitor says which) for
        what starts a process, else a ConflictError."""
        reply, sock = self.monitor.request(request, keep=keep)
        if not reply.get("ok"):
            message = reply.get("error", f"{request['op']} failed")
            if exit_status is None:  # the monitor refuses what the container's state does not allow: docker's 409
                raise ConflictError(message)
            raise ContainerStartError(message, reply.get("code", exit_status))
        return reply, sock

    def _request(self, op: str, ref: str, **extra) -> dict:
        return self._ask({"op": op, "id": self.get(ref).id, **extra})[0]

    def _session(self, request: dict, exit_status: int | None) -> Session:
        from tuiker.engine.session import Session

        reply, sock = self._ask(request, exit_status, keep=True)
        # An exec's own process may be hung up by its session; an attach's is the container's, never.
        return Session(sock, reply.get("pid"), hangup=request["op"] == "exec")

    def start(self, ref: str) -> None:
        self._ask({"op": "start", "id": self.get(ref).id, "attach": False, "size": None}, 125)

    def start_attached(self, ref: str, size: tuple[int, int] | None = None) -> Session:
        """Start it with its output (and input, if it keeps stdin open) streamed from its very first byte;
        `size` (rows, columns) is its terminal's with a tty."""
        return self._session({"op": "start", "id": self.get(ref).id, "attach": True,
                              "size": list(size) if size else None}, 125)

    def attach(self, ref: str, size: tuple[int, int] | None = None, next_start: bool = False) -> Session:
        """Its console (output from now on, and input if it keeps stdin open); it must be running, unless
        `next_start`: then a container not running is attached from the first byte of its next start, by
        whoever starts it (the API's attach before start, as `docker run` does it: no early output lost)."""
        return self._session({"op": "attach", "id": self.get(ref).id, "size": list(size) if size else None,
                              "next_start": next_start}, None)

    def exec(self, ref: str, cmd: list[str], tty: bool = False, interactive: bool = False, detach: bool = False,
             env: list[str] | None = None, workdir: str | None = None, user: str | None = None,
             size: tuple[int, int] | None = None) -> Session | None:
        """Run `cmd` in the running container: its Session, or None with `detach`. ContainerStartError (126,
        127) when it cannot be run."""
        c = self.get(ref)
        if c.status == "paused":
            raise TuikerError(f"Container {c.short_id} is paused, unpause the container before exec")
        if c.status != "running":
            raise TuikerError(f"Container {c.short_id} is not running")
        request = {"op": "exec", "id": c.id, "cmd": cmd, "tty": tty, "interactive": interactive, "detach": detach,
                   "env": env or [], "workdir": workdir, "user": user, "size": list(size) if size else None}
        if detach:
            self._ask(request, 126)
            return None
        return self._session(request, 126)

    def stop(self, ref: str, timeout: float | None = None, signal: str | None = None) -> None:
        """Its stop signal (or `signal`), then SIGKILL after `timeout` seconds (its StopTimeout, else 10); nothing
        if it does not run."""
        if signal is not None:
            check_signal(signal)
        c = self.get(ref)
        if timeout is None:
            timeout = c.config["Config"].get("StopTimeout")
        if c.status in LIVE_STATES:
            self._request("stop", c.id, timeout=10 if timeout is None else timeout,
                          **({"signal": signal} if signal else {}))
            container_event(c, "stop")

    def resize(self, ref: str, rows: int, columns: int) -> None:
        """Its terminal's size (a container started with a tty); it must be running."""
        c = self.get(ref)
        if c.status not in ("running", "paused"):
            raise ConflictError(f"Container {c.id} is not running")
        self._request("resize", c.id, rows=rows, cols=columns)

    def kill(self, ref: str, signal: str = "SIGKILL") -> None:
        check_signal(signal)  # before the monitor is asked: a bad name is the caller's error (docker's 400)
        c = self.get(ref)
        if c.status not in LIVE_STATES:
            raise ConflictError(f"Cannot kill container: {ref}: Container {c.id} is not running")
        self._request("kill", c.id, signal=signal)

    def pause(self, ref: str) -> None:
        c = self.get(ref)
        if c.status == "paused":
            raise ConflictError(f"Container {c.id} is already paused")
        self._request("pause", c.id)

    def unpause(self, ref: str) -> None:
        c = self.get(ref)
        if c.status != "paused":
            raise ConflictError(f"Container {c.id} is not paused")
        self._request("unpause", c.id)

    def wait(self, ref: str, next_exit: bool = False) -> int:
        """Its exit code, once it has stopped. With `next_exit`, one that does not run is waited for through its
        next start to the exit after it (docker's wait?condition=next-exit, sent before the start: the code is
        heard even when --rm removes it at once)."""
        return int(self._request("wait", ref, next_exit=next_exit).get("exit", 0))

    def restart(self, ref: str, timeout: float | None = None, signal: str | None = None) -> None:
        self.stop(ref, timeout, signal)
        self.start(ref)
        container_event(self.get(ref), "restart")

    def remove(self, ref: str, force: bool = False, volumes: bool = False) -> None:
        """Remove it (`force`: kill it first if it runs), with its cgroup, address lease and files; with `volumes`,
        its anonymous volumes too, unless another container uses them (docker's `rm -v`)."""
        c = self.get(ref)
        if c.status in LIVE_STATES:
            if not force:  # docker's words
                raise ConflictError(f"You cannot remove a {c.status} container {c.id}. "
                                    + ("Unpause and then stop" if c.status == "paused" else "Stop")
                                    + " the container before attempting removal or force remove")
            try:
                self._request("kill", c.id, signal="SIGKILL")
            except TuikerError:
                pass  # it exited between our look at its state and the kill: nothing to kill
            self._request("wait", c.id)
        from tuiker.net import ipam
        from tuiker.runtime import cgroups

        cg = cgroups.for_container(c.id)
        cg.kill_all()
        cg.remove()
        ipam.release(self.root, c.id)  # the monitor released it at the exit; this covers a monitor that died first
        self.store.delete_files(c)
        container_event(c, "destroy")
        if self.monitor.alive():  # attaches and waits for its next start end (none runs: nothing to tell)
            try:
                self._ask({"op": "removed", "id": c.id, "exit": c.state.get("ExitCode", 0)})
            except (TuikerError, OSError):
                pass  # a monitor older than this op, or one that just went: no one is waiting on it then
        if volumes:
            from tuiker.runtime.volumes import remove_anonymous

            remove_anonymous(self.root, c, self.store.list())

    def update(self, ref: str, memory: int | None = None, memory_swap: int | None = None, cpus: float | None = None,
               cpu_shares: int | None = None, pids_limit: int | None = None, restart: str | None = None) -> None:
        """docker update: new limits, on its cgroup at once if it runs, and a new restart policy (the monitor reads
        it at the next exit). What is not given stays."""
        c = self.get(ref)
        host, limits = dict(c.config["HostConfig"]), dict(c.config["Limits"])
        if memory is not None:
            if memory < 6 * 1024 * 1024:
                raise InvalidArgument("Minimum memory limit allowed is 6MB")
            host["Memory"] = limits["memory_bytes"] = memory
        if memory_swap is not None:
            if not host.get("Memory"):
                raise InvalidArgument("You should always set the Memory limit when using Memoryswap limit")
            host["MemorySwap"] = limits["memory_swap_bytes"] = memory_swap
        if cpus is not None:
            if not 0 < cpus <= (os.cpu_count() or 1):
                raise InvalidArgument(f"range of CPUs is from 0.01 to {os.cpu_count()}.00, as there are only "
                                      f"{os.cpu_count()} CPUs available")
            host["NanoCpus"], limits["cpu_quota_us"] = int(cpus * 1e9), int(cpus * 100_000)
        if cpu_shares is not None:
            host["CpuShares"] = limits["cpu_shares"] = cpu_shares
        if pids_limit is not None:
            if pids_limit <= 0:  # the kernel's "max" is not written back by the drivers
                raise InvalidArgument("lifting a pids limit is not supported: give a positive limit")
            host["PidsLimit"] = limits["pids_max"] = pids_limit
        if restart is not None:
            policy = _restart_policy(restart)
            if host.get("AutoRemove") and policy["Name"] != "no":
                raise InvalidArgument("Restart policy cannot be updated because AutoRemove is enabled for the"
                                      " container")
            host["RestartPolicy"] = policy
        if c.status in ("running", "paused") and limits != c.config["Limits"]:
            from tuiker.runtime import cgroups

            cgroups.for_container(c.id).update(cgroups.Limits(**limits))
        c.config["HostConfig"], c.config["Limits"] = host, limits
        self.store.save_config(c)
        container_event(c, "update")

    def copy_from(self, ref: str, src: str, dst: str, archive: bool = False, follow: bool = False,
                  stdout=None) -> None:
        """`cp CONTAINER:SRC DST` (docker's rules, engine/copy.py); `dst` `-` writes a tar to `stdout`."""
        from tuiker.engine.copy import copy_out

        c = self.get(ref)
        copy_out(self.root, c, _container_path(src), dst, archive, follow, stdout)
        container_event(c, "archive-path")  # docker's event for a copy out

    def copy_to(self, ref: str, src: str, dst: str, archive: bool = False, follow: bool = False,
                stdin=None) -> None:
        """`cp SRC CONTAINER:DST`; `src` `-` reads a tar from `stdin`."""
        from tuiker.engine.copy import copy_in

        c = self.get(ref)
        copy_in(self.root, c, src, _container_path(dst), archive, follow, stdin)
        container_event(c, "extract-to-dir")  # docker's event for a copy in

    def stat_path(self, ref: str, path: str) -> dict:
        """docker's stat of a path in it (name, size, mode as Go's FileMode, mtime, linkTarget); NotFoundError if
        it is not there."""
        from tuiker.engine.copy import stat_path

        return stat_path(self.root, self.get(ref), _container_path(path))

    def commit(self, ref: str, repository: str | None = None, author: str = "", comment: str = "",
               changes: list[str] | None = None, pause: bool = True) -> Image:
        """docker commit: its changes as a new image (engine/snapshot.py), paused meanwhile if it runs."""
        from tuiker.engine.snapshot import commit

        image = commit(self, ref, repository, author, comment, changes, pause)
        container_event(self.get(ref), "commit", comment=comment, imageID=image.id,
                        **({"imageRef": repository} if repository else {}))
        return image

    def export(self, ref: str, out) -> None:
        """docker export: its root file system as a tar on the binary stream `out`."""
        from tuiker.engine.snapshot import export

        c = self.get(ref)
        export(self.root, c, out)
        container_event(c, "export")

    def rename(self, ref: str, new_name: str) -> None:
        c = self.get(ref)
        old_name = c.name
        self.store.rename(c, new_name)
        container_event(c, "rename", oldName="/" + old_name)  # docker's old name keeps its slash

    def prune(self) -> list[str]:
        """Remove every container that does not run; their IDs."""
        gone = []
        for c in self.store.list():
            if c.status in ("exited", "created", "dead"):
                self.remove(c.id)
                gone.append(c.id)
        return gone

    # -- reading --------------------------------------------------------------------------------------

    def get(self, ref: str) -> Container:
        """By name, full ID or unique ID prefix (docker's order: exact ID, exact name, ID prefix)."""
        return self.store.get(ref)

    def list(self, all: bool = False, filters: dict[str, list[str]] | None = None) -> list[Container]:
        """Running ones (with `all`, every one), newest first, kept by docker's ps `filters` ({"status":
        ["exited"], "label": ["a=b"]}: the keys all hold, each by any of its values; a `status` filter implies
        `all`, as in docker). State files that call a container running while no monitor runs are stale (the
        monitor died, the host rebooted): a new monitor reconciles them first."""
        filters = {k: v for k, v in (filters or {}).items() if v}
        test = self._filter(filters) if filters else None
        found = self.store.list()
        if any(c.status in LIVE_STATES for c in found) and not self.monitor.alive():
            self.monitor.connect().close()
            found = self.store.list()
        if not all and "status" not in filters:
            found = [c for c in found if c.status in LIVE_STATES]
        return [c for c in found if test(c)] if test else found

    def _filter(self, filters: dict[str, list[str]]):
        """A predicate for docker's ps filters, every value checked before any container is looked at."""
        import re

        unknown = sorted(set(filters) - set(PS_FILTERS))
        if unknown:
            raise InvalidArgument(f"invalid filter '{unknown[0]}'")
        for value in filters.get("status", []):
            if value not in ("created", "restarting", "running", "removing", "paused", "exited", "dead"):
                raise InvalidArgument(f"invalid filter 'status={value}'")
        for value in filters.get("health", []):
            if value not in ("starting", "healthy", "unhealthy", "none"):
                raise InvalidArgument(f"Unrecognised filter value for health: {value}")
        exited = []
        for value in filters.get("exited", []):
            try:
                exited.append(int(value))
            except ValueError:
                raise InvalidArgument(f"invalid filter 'exited={value}'") from None
        names = []
        for value in filters.get("name", []):
            try:
                names.append(re.compile(value))
            except re.error:
                names.append(re.compile(re.escape(value)))
        ancestors = set()
        for value in filters.get("ancestor", []):
            try:
                ancestors.add(self.images.get(value).id)
            except NotFoundError:
                pass  # docker: an image that is not here is the ancestor of none
        # before/since: created before (after) the named container, which must exist.
        before = [self.get(v).config.get("Created", "") for v in filters.get("before", [])]
        since = [self.get(v).config.get("Created", "") for v in filters.get("since", [])]

        def any_of(key: str, check) -> bool:
            return key not in filters or any(check(v) for v in filters[key])

        def test(c: Container) -> bool:
            created = c.config.get("Created", "")
            volumes = [(m.get("Name"), m.get("Destination")) for m in c.config.get("mounts") or []]
            return (any_of("id", c.id.startswith)
                    and (not names or any(p.search(c.name) or p.search("/" + c.name) for p in names))
                    and all(_has_label(c, spec) for spec in filters.get("label", []))  # docker: labels AND
                    and any_of("status", lambda v: c.status == v)
                    and ("ancestor" not in filters or c.config.get("ImageID") in ancestors)
                    and all(created < b for b in before) and all(created > s for s in since)
                    and (not exited or (c.status == "exited" and c.state.get("ExitCode", 0) in exited))
                    and any_of("health", lambda v: (c.health or "none") == v)
                    and any_of("network", lambda v: v in netinfo.networks_of(c))
                    and any_of("volume", lambda v: any(v in pair for pair in volumes)))

        return test

    def inspect(self, ref: str) -> dict:
        """docker inspect's document."""
        c = self.get(ref)
        if c.status in LIVE_STATES and not self.monitor.alive():
            self.monitor.connect().close()  # a new monitor reconciles the stale state first
            c.reload()
        s = c.state
        return {
            "Id": c.id, "Created": c.config["Created"], "Path": (c.command or [""])[0], "Args": c.command[1:],
            "State": {"Status": c.status, "Running": c.status in ("running", "paused"),
                      "Paused": c.status == "paused", "Restarting": c.status == "restarting",
                      "OOMKilled": bool(s.get("OOMKilled")), "Dead": c.status == "dead", "Pid": c.pid,
                      "ExitCode": s.get("ExitCode", 0), "Error": s.get("Error", ""),
                      "StartedAt": s.get("StartedAt", "0001-01-01T00:00:00Z"),
                      "FinishedAt": s.get("FinishedAt", "0001-01-01T00:00:00Z"),
                      **({"Health": s["Health"]} if s.get("Health") else {})},
            "Image": c.config["ImageID"], "Name": "/" + c.name, "RestartCount": s.get("RestartCount", 0),
            "LogPath": str(c.dir / "log.json"),
            "HostConfig": _inspect_host_config(c.config["HostConfig"]),
            "Config": c.config["Config"], "GraphDriver": {"Name": "overlay", "Data": {
                "UpperDir": str(c.dir / "upper"), "WorkDir": str(c.dir / "work"),
                "LowerDir": ":".join(str(self.root / "layers" / d / "diff") for d in reversed(c.config["Layers"]))}},
            "Mounts": _inspect_mounts(c), "NetworkSettings": netinfo.network_settings(c),
        }

    def logs(self, container: Container | str, tail: int | None = None, since: float | None = None,
             follow: bool = False) -> Iterator[LogRecord]:
        """Its output: the last `tail` records (all when None) not older than `since` (epoch seconds); with
        `follow`, then what it writes, until it stops."""
        from tuiker.engine import logs

        c = self._record(container)
        reader = logs.LogReader(c.dir / "log.json", tail, since)
        return logs.follow(reader, c) if follow else iter(reader.read())

    def log_reader(self, container: Container, tail: int | None = None) -> LogReader:
        """For a view that polls: `read()` gives the last `tail` records, then each time what was appended."""
        from tuiker.engine.logs import LogReader

        return LogReader(container.dir / "log.json", tail)

    def stats(self, container: Container | str) -> StatsSampler:
        """A sampler of its cgroup and network counters: `sample()` as often as wanted."""
        from tuiker.engine.stats import StatsSampler

        return StatsSampler(self._record(container))

    def top(self, container: Container | str) -> ProcessTable:
        """Its processes: `rows()` as often as wanted. A container that does not run has none to show."""
        from tuiker.engine.processes import ProcessTable

        c = self._record(container)
        if c.status not in ("running", "paused"):
            raise ConflictError(f"Container {c.id} is not running")
        return ProcessTable(c)

    def diff(self, container: Container | str) -> list[tuple[str, str]]:
        """What it changed in its file system: ("A" | "C" | "D", path)."""
        from tuiker.engine.changes import changes

        return changes(self._record(container), self.root / "layers")

    def diff_entries(self, container: Container | str) -> list[tuple[str, str, int, int]]:
        """diff's changes with their (kind, path, bytes, st_mode) from the container's upper directory (lstat:
        a symlink is never followed); a deletion's bytes and mode are 0."""
        from tuiker.engine.changes import change_entries

        return change_entries(self._record(container), self.root / "layers")

    def size(self, container: Container | str) -> tuple[int, int]:
        """(the bytes it wrote, those plus its image's): docker's SIZE column."""
        from tuiker.engine.changes import written_bytes

        c = self._record(container)
        written = written_bytes(c)
        try:
            image = self.images.get(c.config["ImageID"]).size
        except TuikerError:
            image = 0  # its image went (rmi -f)
        return written, written + image

    def ports(self, container: Container | str) -> list[dict]:
        """Its published ports while it runs, as bound: {"HostIp", "HostPort", "ContainerPort", "Proto"}."""
        return netinfo.published_ports(self._record(container))

    def port_mappings(self, container: Container | str, private_port: str | None = None) -> list[tuple[str, str]]:
        """`port`: ("80/tcp", "0.0.0.0:8080") pairs, those of `private_port` (`80`, `53/udp`) only if given."""
        return netinfo.port_mappings(self._record(container), private_port)

    def net_io(self, container: Container | str) -> tuple[int, int] | None:
        """(bytes received, sent) while it runs with a network of its own, else None."""
        return netinfo.net_io(self._record(container))


PS_FILTERS = ("id", "name", "label", "status", "ancestor", "before", "since", "exited", "health", "network",
              "volume")


def _has_label(c: Container, spec: str) -> bool:
    """docker's `label=KEY` (the label is set, to anything) or `label=KEY=VALUE`."""
    key, sep, value = spec.partition("=")
    labels = c.config["Config"].get("Labels") or {}
    return key in labels and (not sep or labels[key] == value)


def status_text(c: Container, now: float | None = None) -> str:
    """docker's STATUS: `Up 5 minutes`, `Up 2 hours (Paused)`, `Up 3 seconds (health: starting)`, `Exited (0) 3
    seconds ago`, `Created`."""
    now = now or time.time()
    s = c.state
    if c.status in ("running", "paused"):
        up = human_duration(now - (parse_time(s.get("StartedAt", "")) or now))
        if c.status == "paused":
            return f"Up {up} (Paused)"
        health = c.health
        if health is not None:
            return f"Up {up} ({'health: starting' if health == 'starting' else health})"
        return f"Up {up}"
    if c.status in ("restarting", "exited"):
        since = human_duration(now - (parse_time(s.get("FinishedAt", "")) or now))
        return f"{c.status.capitalize()} ({s.get('ExitCode', 0)}) {since} ago"
    return c.status.capitalize()


def _container_path(path: str) -> str:
    """A path in a container, as docker's cp takes it: relative to its root."""
    return path if path.startswith("/") else "/" + path


def _binds(specs: list[str]) -> list[str]:
    """docker's HostConfig.Binds: the -v specs with a source (a host path or a volume's name)."""
    from tuiker.engine.mountspec import parse_volume

    return [spec for spec in specs if parse_volume(spec).get("Name") or parse_volume(spec)["Type"] == "bind"]


def _inspect_host_config(host: dict) -> dict:
    """HostConfig as docker's inspect shows it: the log driver the monitor writes with, and no Tmpfs unless set
    (docker omits it; null is no object)."""
    shown = {"LogConfig": {"Type": "json-file", "Config": {}}, **host}
    if shown.get("Tmpfs") is None:
        shown.pop("Tmpfs", None)
    return shown


def _inspect_mounts(c: Container) -> list[dict]:
    from tuiker.engine.mountspec import inspect_view

    return inspect_view(c.config.get("mounts") or [])


MIN_HEALTH_DURATION = 1_000_000  # docker's containertypes.MinimumDuration: 1ms, in nanoseconds


def healthcheck_config(user: dict | None, disabled: bool, image: dict) -> dict | None:
    """Config.Healthcheck as docker builds it: `--no-healthcheck` is Test ["NONE"]; otherwise each field the user
    left unset (empty Test, zero durations and retries) comes from the image's HEALTHCHECK. Checked as the daemon
    checks it (durations of at least 1ms, or 0 for the default; retries not negative)."""
    if disabled:
        if user and any(user.get(k) for k in ("Test", "Interval", "Timeout", "StartPeriod", "Retries")):
            raise InvalidArgument("--no-healthcheck conflicts with --health-* options")
        return {"Test": ["NONE"]}
    image_health = image.get("Healthcheck")
    if image_health is not None and not isinstance(image_health, dict):
        raise InvalidArgument("image config: Healthcheck is not an object")
    image_health = _checked_healthcheck(image_health or {}, "image config: Healthcheck")
    if not user:
        return dict(image_health) if image_health else None
    merged = {k: v for k, v in user.items() if v}
    for key, value in image_health.items():
        merged.setdefault(key, value)
    for key, what in (("Interval", "Interval"), ("Timeout", "Timeout"), ("StartPeriod", "StartPeriod")):
        value = merged.get(key, 0)
        if value and value < MIN_HEALTH_DURATION:
            raise InvalidArgument(f"{what} in Healthcheck cannot be less than 1ms")
    if merged.get("Retries", 0) < 0:
        raise InvalidArgument("Retries in Healthcheck cannot be negative")
    return merged


def _checked_healthcheck(health: dict, what: str) -> dict:
    """An image's HEALTHCHECK, type-checked (it comes from a registry or an archive): a string where the Test list
    belongs would run `C` `M` `D` as a command."""
    test = health.get("Test")
    if test is not None and not (isinstance(test, list) and all(isinstance(t, str) for t in test)):
        raise InvalidArgument(f"{what}: Test is not a list of strings")
    for key in ("Interval", "Timeout", "StartPeriod", "Retries"):
        value = health.get(key)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 0):
            raise InvalidArgument(f"{what}: {key} is not a non-negative integer")
    return {k: health[k] for k in ("Test", "Interval", "Timeout", "StartPeriod", "Retries") if health.get(k)}


def check_signal(text: str) -> str:
    """docker's check of --stop-signal: a signal it knows (base/signals.py), kept as given."""
    from tuiker.base.signals import parse_signal

    try:
        parse_signal(text)
    except ValueError as e:
        raise InvalidArgument(str(e)) from None
    return text


def check_ip(text: str, flag: str) -> str:
    """docker's ValidateIPAddress: the address in its canonical form (`--dns 0:0::1` is `::1`)."""
    import ipaddress

    try:
        return str(ipaddress.ip_address(text.strip()))
    except ValueError:
        raise InvalidArgument(f'invalid argument "{text}" for "{flag}" flag: IP address is not correctly formatted:'
                          f" {text}") from None


def _restart_policy(text: str) -> dict:
    """docker's RestartPolicy from `--restart no|on-failure[:N]|always|unless-stopped`."""
    name, _, count = (text or "no").partition(":")
    if name not in ("no", "on-failure", "always", "unless-stopped"):
        raise InvalidArgument(f"invalid restart policy {text!r}: use no, on-failure[:N], always or unless-stopped")
    if count and (name != "on-failure" or not count.isdigit()):
        raise InvalidArgument(f"invalid restart policy {text!r}: only on-failure takes a maximum retry count")
    return {"Name": name, "MaximumRetryCount": int(count or 0)}
