"""The engine facade: the one door the CLI and the TUI use. Heavy modules (requests, the pull and
archive code) are imported inside the methods that need them, so `tuiker images` starts fast."""

from __future__ import annotations

import json
import os
from pathlib import Path

from tuiker.base import config, names
from tuiker.base.errors import NotFoundError, TuikerError
from tuiker.engine.networks import NetworkEngine
from tuiker.image import reference
from tuiker.image.store import Image, Store


def _one_repository(image: Image) -> bool:
    """docker's isSingleReference: every name of the image (tags and digests) is in one repository."""
    repos = {t.rsplit(":", 1)[0] for t in image.repo_tags} | {d.split("@", 1)[0] for d in image.repo_digests}
    return len(repos) <= 1


class PullResult:
    def __init__(self, image: Image, repo_digest: str, reference: str, downloaded: bool) -> None:
        self.image = image
        self.repo_digest = repo_digest
        self.reference = reference
        self.downloaded = downloaded


def _registry_host(server: str | None) -> str:
    if not server:
        return reference.DEFAULT_REGISTRY
    host = server.removeprefix("https://").removeprefix("http://").split("/", 1)[0]
    return reference.DEFAULT_REGISTRY if host in ("index.docker.io", "registry-1.docker.io") else host



# -- containers ------------------------------------------------------------------------------------

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


LIVE_STATES = ("running", "paused", "restarting")


def parse_restart(text: str) -> dict:
    name, _, count = (text or "no").partition(":")
    if name not in ("no", "on-failure", "always", "unless-stopped"):
        raise TuikerError(f"invalid restart policy {text!r}: use no, on-failure[:N], always or unless-stopped")
    if count and (name != "on-failure" or not count.isdigit()):
        raise TuikerError(f"invalid restart policy {text!r}: only on-failure takes a maximum retry count")
    return {"Name": name, "MaximumRetryCount": int(count or 0)}


class ContainerEngine(NetworkEngine):
    """The container half of the facade; `Engine` below combines both halves."""

    root: Path
    store: Store

    @property
    def containers(self):
        from tuiker.runtime.containers import ContainerStore

        if getattr(self, "_containers", None) is None:
            self._containers = ContainerStore(self.root)
        return self._containers

    @property
    def monitor(self):
        from tuiker.runtime.monitor_client import MonitorClient

        return MonitorClient(self.root)

    def container(self, ref: str):
        return self.containers.get(ref)

    def create(self, opts: RunOptions, progress=None):
        # Before anything is pulled or made: both are written into files (names.py says why they matter).
        if opts.name:
            names.check_container_name(opts.name)
        if opts.hostname:
            names.check_hostname(opts.hostname)
        try:
            self.image(opts.image)
        except NotFoundError:
            if progress is not None:  # docker says so before it pulls
                from tuiker.image.pull import Progress

                name = reference.familiar(str(reference.parse(opts.image)))
                progress(Progress("", f"Unable to find image '{name}' locally"))
            self.pull(opts.image, opts.platform, progress)
        # From reading the image to writing the container's config, a lease keeps the garbage collection of a
        # concurrent rmi off the image's layers; from then on the container's config holds them (store.py).
        with self.store.lease():
            image = self.image(opts.image)
            missing = [d for d in image.layers if not self.store.has_layer(d)]
            if missing:
                raise TuikerError(f"image {image.short_id} is incomplete (layer {missing[0]} is missing): pull it"
                                  " again")
            return self._new_container(opts, image)

    def _new_container(self, opts: RunOptions, image: Image):
        from tuiker.base.config import init_binary
        from tuiker.runtime.containers import merge_image_config
        from tuiker.runtime.security import capabilities

        image_cfg = self.image_config(image)
        cfg = merge_image_config(image_cfg, opts.command, opts.entrypoint, opts.env or [], opts.workdir, opts.user)
        security = opts.security_opt or []
        for item in security:
            if item not in ("no-new-privileges", "no-new-privileges:true", "no-new-privileges=true",
                            "no-new-privileges:false", "seccomp=unconfined", "seccomp:unconfined"):
                raise TuikerError(f"unsupported --security-opt {item!r}")
        net = self.network_config(opts.network, opts.ports, opts.publish_all, opts.network_aliases, opts.expose,
                                  (image_cfg.get("config") or {}).get("ExposedPorts"))
        if opts.memory is not None and opts.memory < 6 * 1024 * 1024:
            raise TuikerError("Minimum memory limit allowed is 6MB")
        if opts.cpus is not None and not 0 < opts.cpus <= (os.cpu_count() or 1):
            raise TuikerError(f"range of CPUs is from 0.01 to {os.cpu_count()}.00, as there are only "
                              f"{os.cpu_count()} CPUs available")
        if opts.pids_limit is not None and opts.pids_limit == 0:
            opts.pids_limit = None  # docker: 0 means unlimited
        try:
            caps = capabilities.resolve(opts.cap_add or [], opts.cap_drop or [], opts.privileged)
        except ValueError as e:
            raise TuikerError(str(e)) from e
        cfg.update(Hostname=opts.hostname or "", Tty=opts.tty, OpenStdin=opts.interactive, Image=opts.image)
        if net["ExposedPorts"]:
            cfg["ExposedPorts"] = net["ExposedPorts"]
        swap = opts.memory_swap
        config = {
            "Image": opts.image, "ImageID": image.id, "Layers": [d.removeprefix("sha256:") for d in image.layers],
            "Config": cfg,
            "HostConfig": {
                "Memory": opts.memory or 0, "MemorySwap": swap if swap is not None else 0,
                "NanoCpus": int((opts.cpus or 0) * 1e9), "CpuShares": opts.cpu_shares or 0,
                "PidsLimit": opts.pids_limit, "RestartPolicy": parse_restart(opts.restart),
                "AutoRemove": opts.auto_remove, "Privileged": opts.privileged, "ReadonlyRootfs": opts.read_only,
                "CapAdd": opts.cap_add or None, "CapDrop": opts.cap_drop or None, "SecurityOpt": security or None,
                "NetworkMode": net["NetworkMode"], "PortBindings": net["PortBindings"] or None,
                "PublishAllPorts": net["PublishAllPorts"], "Init": opts.init or None,
            },
            "NetworkingConfig": {"EndpointsConfig": net["EndpointsConfig"]},
            "Limits": {
                "cpu_quota_us": int(opts.cpus * 100_000) if opts.cpus else None, "cpu_period_us": 100_000,
                "cpu_shares": opts.cpu_shares, "memory_bytes": opts.memory, "memory_swap_bytes": swap,
                "pids_max": opts.pids_limit, "all_devices": opts.privileged,
            },
            "Capabilities": sorted(caps),
            "NoNewPrivileges": any(s.startswith("no-new-privileges") and not s.endswith("false") for s in security),
            "Seccomp": not opts.privileged and not any(s.startswith("seccomp") for s in security),
            "InitPath": init_binary() if opts.init else None,
        }
        if config["HostConfig"]["AutoRemove"] and config["HostConfig"]["RestartPolicy"]["Name"] != "no":
            raise TuikerError("conflicting options: cannot specify both --restart and --rm")
        return self.containers.create(config, opts.name)

    def start(self, ref: str, attach: bool = False, size: tuple[int, int] | None = None):
        """Start; with `attach`, returns the socket streaming the container's output (frames)."""
        c = self.container(ref)
        reply, sock = self.monitor.request({"op": "start", "id": c.id, "attach": attach,
                                            "size": list(size) if size else None}, keep=attach)
        if not reply.get("ok"):
            raise ContainerStartError(reply.get("error", "start failed"), reply.get("code", 125))
        return sock

    def attach(self, ref: str, size: tuple[int, int] | None = None):
        c = self.container(ref)
        reply, sock = self.monitor.request({"op": "attach", "id": c.id, "size": list(size) if size else None},
                                           keep=True)
        if not reply.get("ok"):
            raise TuikerError(reply.get("error", "attach failed"))
        return sock

    def exec(self, ref: str, cmd: list[str], tty: bool = False, interactive: bool = False, detach: bool = False,
             env: list[str] | None = None, workdir: str | None = None, user: str | None = None,
             size: tuple[int, int] | None = None):
        c = self.container(ref)
        if c.status == "paused":
            raise TuikerError(f"Container {c.short_id} is paused, unpause the container before exec")
        if c.status != "running":
            raise TuikerError(f"Container {c.short_id} is not running")
        reply, sock = self.monitor.request(
            {"op": "exec", "id": c.id, "cmd": cmd, "tty": tty, "interactive": interactive, "detach": detach,
             "env": env or [], "workdir": workdir, "user": user, "size": list(size) if size else None},
            keep=not detach)
        if not reply.get("ok"):
            raise ContainerStartError(reply.get("error", "exec failed"), reply.get("code", 126))
        return sock

    def _simple(self, op: str, ref: str, **extra) -> dict:
        c = self.container(ref)
        reply, _ = self.monitor.request({"op": op, "id": c.id, **extra})
        if not reply.get("ok"):
            raise TuikerError(reply.get("error", f"{op} failed"))
        return reply

    def stop(self, ref: str, timeout: float | None = None) -> None:
        c = self.container(ref)
        if c.status in ("running", "paused", "restarting"):
            self._simple("stop", ref, timeout=10 if timeout is None else timeout)

    def kill(self, ref: str, signal_name: str = "SIGKILL") -> None:
        self._simple("kill", ref, signal=signal_name)

    def pause(self, ref: str) -> None:
        self._simple("pause", ref)

    def unpause(self, ref: str) -> None:
        self._simple("unpause", ref)

    def wait(self, ref: str) -> int:
        return int(self._simple("wait", ref).get("exit", 0))

    def restart(self, ref: str, timeout: float | None = None) -> None:
        self.stop(ref, timeout)
        self.start(ref)

    def remove(self, ref: str, force: bool = False) -> None:
        c = self.container(ref)
        if c.status in ("running", "paused", "restarting"):
            if not force:
                raise TuikerError(f"cannot remove container {c.short_id}: container is {c.status}: stop the"
                                  " container before removing or force remove")
            try:
                self._simple("kill", c.id, signal="SIGKILL")
            except TuikerError:
                pass  # it exited between our look at its state and the kill: nothing to kill
            self._simple("wait", c.id)
        from tuiker.runtime import cgroups

        cg = cgroups.driver(f"tuiker/{c.id}")
        cg.kill_all()
        cg.remove()
        from tuiker.net import ipam

        ipam.release(self.root, c.id)  # the monitor released it at the exit; this covers a monitor that died first
        self.containers.delete_files(c)

    def rename(self, ref: str, new_name: str) -> None:
        self.containers.rename(self.container(ref), new_name)

    def prune_containers(self) -> list[str]:
        gone = []
        for c in self.containers.list():
            if c.status in ("exited", "created", "dead"):
                self.remove(c.id)
                gone.append(c.id)
        return gone

    def list_containers(self, all_states: bool = False):
        """Containers, newest first. State files that call a container running while no monitor runs
        are stale (the monitor died, the host rebooted): a new monitor reconciles them first."""
        found = self.containers.list()
        if any(c.status in LIVE_STATES for c in found) and not self.monitor.alive():
            self.monitor.connect().close()
            found = self.containers.list()
        return found if all_states else [c for c in found if c.status in LIVE_STATES]

    def inspect_container(self, ref: str) -> dict:
        c = self.container(ref)
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
                      "FinishedAt": s.get("FinishedAt", "0001-01-01T00:00:00Z")},
            "Image": c.config["ImageID"], "Name": "/" + c.name, "RestartCount": s.get("RestartCount", 0),
            "LogPath": str(c.dir / "log.json"), "HostConfig": c.config["HostConfig"],
            "Config": c.config["Config"], "GraphDriver": {"Name": "overlay", "Data": {
                "UpperDir": str(c.dir / "upper"), "WorkDir": str(c.dir / "work"),
                "LowerDir": ":".join(str(self.root / "layers" / d / "diff") for d in reversed(c.config["Layers"]))}},
            "Mounts": [], "NetworkSettings": self.network_settings(c),
        }


class ContainerStartError(TuikerError):
    """The container's process could not be started; `code` is docker's exit status (125, 126, 127)."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


class Engine(ContainerEngine):
    def __init__(self, root: str | os.PathLike | None = None) -> None:
        self.root = Path(root) if root else config.engine_root()
        self._store: Store | None = None

    @property
    def store(self) -> Store:
        if self._store is None:
            try:
                self._store = Store(self.root)
            except PermissionError as e:
                raise TuikerError(f"cannot use engine root {self.root}: {e.strerror} (run as root or set"
                                  " TUIKER_ROOT)") from e
        return self._store

    # -- images ------------------------------------------------------------------------------------

    def pull(self, name: str, platform: str | None = None, progress=None) -> PullResult:
        from tuiker.image.pull import Puller

        ref = reference.parse(name)
        image, repo_digest, downloaded = Puller(self.store, progress).pull(name, platform)
        return PullResult(image, repo_digest, str(ref), downloaded)

    def images(self) -> list[Image]:
        return sorted(self.store.list_images(), key=lambda i: i.created, reverse=True)

    def image(self, name: str) -> Image:
        return self.store.resolve(name)

    def image_config(self, image: Image) -> dict:
        return json.loads(self.store.read_blob(image.id))

    def inspect_image(self, name: str) -> dict:
        image = self.image(name)
        cfg = self.image_config(image)
        return {
            "Id": image.id,
            "RepoTags": [reference.familiar(t) for t in image.repo_tags],
            "RepoDigests": [reference.familiar(d) for d in image.repo_digests],
            "Parent": "",
            "Comment": "",
            "Created": image.created,
            "Author": cfg.get("author", ""),
            "Config": cfg.get("config", {}),
            "Architecture": cfg.get("architecture", ""),
            **({"Variant": cfg["variant"]} if cfg.get("variant") else {}),
            "Os": cfg.get("os", ""),
            "Size": image.size,
            "RootFS": {"Type": "layers", "Layers": image.layers},
            "Metadata": {"ManifestDigest": image.manifest_digest, "ManifestMediaType": image.manifest_media_type},
        }

    def tag(self, source: str, target: str) -> None:
        image = self.image(source)
        ref = reference.parse(target)
        if ref.digest:
            raise TuikerError(f"refusing to create a tag with a digest reference: {target}")
        self.store.tag(image.id, f"{ref.name}:{ref.tag}")

    def remove_image(self, name: str, force: bool = False) -> list[tuple[str, str]]:
        """docker rmi, with docker's conflicts (daemon/images/image_delete.go). A name that is not the image's
        last is only untagged. The last name of an image a container uses is refused without -f; with -f it is
        untagged, and the image stays (dangling) while a running container uses it. By ID: refused while a
        running container uses it, and without -f while a stopped one does or other repositories name it.
        Whatever goes, the layers of every container stay (store.py's garbage collection keeps them).
        Returns ("Untagged"|"Deleted", what)."""
        store = self.store
        image_id = store.lookup_reference(name)
        if image_id is None:
            image = store.resolve(name)
            if not force and not _one_repository(image):
                raise TuikerError(f"conflict: unable to delete {image.short_id} (must be forced) - image is"
                                  " referenced in multiple repositories")
            self._refuse_delete(image, force)
            done = []
            for tag in image.repo_tags:
                store.untag(tag)
                done.append(("Untagged", reference.familiar(tag)))
            return done + self._delete(image)
        image = store.get_image(image_id)
        if not force and _one_repository(image):
            using = self._containers_using(image.id)
            if using:
                raise TuikerError(f'conflict: unable to remove repository reference "{name}" (must force) -'
                                  f" container {using[0].short_id} is using its referenced image {image.short_id}")
        ref = reference.parse(name)
        if ref.digest:
            store.forget_repo_digest(image.id, f"{ref.name}@{ref.digest}")
            done = [("Untagged", reference.familiar(f"{ref.name}@{ref.digest}"))]
        else:
            store.untag(f"{ref.name}:{ref.tag}")
            done = [("Untagged", reference.familiar(f"{ref.name}:{ref.tag}"))]
        image = store.get_image(image.id)
        if image.repo_tags or (ref.digest is None and image.repo_digests and
                               any(not d.startswith(ref.name + "@") for d in image.repo_digests)):
            return done
        try:
            self._refuse_delete(image, force)
        except TuikerError:
            return done  # docker: the last name went, the image stays (dangling) for the container using it
        return done + self._delete(image)

    def _containers_using(self, image_id: str) -> list:
        """Containers made from `image_id`, running (and paused, restarting) ones first."""
        using = [c for c in self.containers.list() if c.config.get("ImageID") == image_id]
        return sorted(using, key=lambda c: c.status not in LIVE_STATES)

    def _refuse_delete(self, image: Image, force: bool) -> None:
        """docker's delete conflicts: a running container's image cannot go, a stopped one's only with -f."""
        using = self._containers_using(image.id)
        if using and using[0].status in LIVE_STATES:
            raise TuikerError(f"conflict: unable to delete {image.short_id} (cannot be forced) - image is being"
                              f" used by running container {using[0].short_id}")
        if using and not force:
            raise TuikerError(f"conflict: unable to delete {image.short_id} (must be forced) - image is being"
                              f" used by stopped container {using[0].short_id}")

    def _delete(self, image: Image) -> list[tuple[str, str]]:
        done = [("Untagged", reference.familiar(d)) for d in image.repo_digests]
        layers = self.store.delete_image(image.id)
        return done + [("Deleted", image.id)] + [("Deleted", d) for d in layers]

    def prune_images(self, all_images: bool = False) -> tuple[list[tuple[str, str]], int]:
        """Remove dangling images (no tag), or with `all_images` every image no container uses; images no
        container uses only, in both cases, as docker (and damaged image records, which nothing can use)."""
        done: list[tuple[str, str]] = []
        reclaimed = 0
        used = {c.config.get("ImageID") for c in self.containers.list()}
        for image in self.store.list_images():
            if (image.repo_tags and not all_images) or image.id in used:
                continue
            before = self._layer_bytes()
            for tag in image.repo_tags:
                self.store.untag(tag)
                done.append(("Untagged", reference.familiar(tag)))
            done += self._delete(image)
            reclaimed += before - self._layer_bytes()
        done += [("Deleted", image_id) for image_id in self.store.remove_damaged_records()]
        before = self._layer_bytes()
        self.store.collect_garbage()
        reclaimed += before - self._layer_bytes()
        return done, reclaimed

    def _layer_bytes(self) -> int:
        total = 0
        for layer in self.store.layers.iterdir():
            try:
                total += self.store.layer_size(f"sha256:{layer.name}")
            except (OSError, ValueError, KeyError):
                continue
        return total

    def save(self, names: list[str], path: str) -> None:
        from tuiker.image import archive

        images = []
        for name in names:
            image = self.image(name)
            try:
                ref = reference.parse(name)
                tag = self.store.tags().get(f"{ref.name}:{ref.tag}") == image.id and f"{ref.name}:{ref.tag}"
            except TuikerError:
                tag = None
            # docker saves the tag that was named, or all of the image's tags when named by ID.
            images.append((image, [tag] if tag else image.repo_tags))
        archive.save(self.store, images, path)

    def load(self, path: str) -> list[str]:
        from tuiker.image import archive

        return archive.load(self.store, path)

    # -- registries --------------------------------------------------------------------------------

    def login(self, server: str, username: str, password: str) -> str:
        from tuiker.image import credentials
        from tuiker.image.registry import RegistryClient

        host = _registry_host(server)
        RegistryClient(reference.DOCKER_HUB_API_HOST if host == "docker.io" else host,
                       login=(username, password)).ping()
        return str(credentials.store(host, username, password))

    def logout(self, server: str) -> bool:
        from tuiker.image import credentials

        return credentials.erase(_registry_host(server))
