"""A loaded compose project: its services (normalised by loader.py), networks and volumes, and what follows
from them: the start order, each service's config hash, the names and labels of its containers, and the
engine's RunOptions for one of them."""

from __future__ import annotations

import hashlib
import json
import re

from tuiker.base.errors import TuikerError
from tuiker.compose.interpolate import ComposeError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from tuiker.engine import BuildOptions, RunOptions

# compose's labels (lazydocker and other tools group containers by them)
PROJECT = "com.docker.compose.project"
SERVICE = "com.docker.compose.service"
NUMBER = "com.docker.compose.container-number"
HASH = "com.docker.compose.config-hash"
ONEOFF = "com.docker.compose.oneoff"
WORKING_DIR = "com.docker.compose.project.working_dir"
CONFIG_FILES = "com.docker.compose.project.config_files"
NETWORK = "com.docker.compose.network"
VOLUME = "com.docker.compose.volume"
VERSION = "com.docker.compose.version"
IMAGE = "com.docker.compose.image"  # the image's ID when the container was made: a new one recreates it
COMPOSE_VERSION = "2.29.0"  # the compose whose behaviour tuiker follows, as docker compose labels it


class Project:
    def __init__(self, name: str, working_dir: str, config_files: list[str], environment: dict[str, str]) -> None:
        self.name = name
        self.working_dir = working_dir
        self.config_files = config_files
        self.environment = environment
        self.services: dict[str, dict] = {}  # enabled by the profiles
        self.all_services: dict[str, dict] = {}
        self.networks: dict[str, dict] = {}
        self.volumes: dict[str, dict] = {}
        self.warnings: list[str] = []  # what compose warns about while loading (unset variables, `version`)

    def order(self, services: list[str] | None = None, with_deps: bool = True) -> list[str]:
        """`services` (all when None), with what they depend on first when `with_deps`: the start order."""
        wanted = list(services) if services else list(self.services)
        for s in wanted:
            if s not in self.services:
                raise TuikerError(f"no such service: {s}")
        done: list[str] = []
        visiting: set[str] = set()

        def visit(s: str, path: list[str]) -> None:
            if s in done:
                return
            if s in visiting:
                raise ComposeError(f"dependency cycle detected: {' -> '.join([*path, s])}")
            visiting.add(s)
            for dep in self.services[s]["depends_on"]:
                if dep in self.services and (with_deps or dep in wanted):
                    visit(dep, [*path, s])
            visiting.discard(s)
            done.append(s)

        for s in wanted:
            visit(s, [])
        return done

    def config_hash(self, service: str) -> str:
        """What `up` compares to decide whether a container must be recreated: a hash of the service's
        normalised config, less what does not change a container (its scale, dependencies, profiles, build)."""
        cfg = {k: v for k, v in self.services[service].items()
               if k not in ("scale", "depends_on", "profiles", "build", "pull_policy")}
        return hashlib.sha256(json.dumps(cfg, sort_keys=True, separators=(",", ":")).encode()).hexdigest()

    def container_name(self, service: str, number: int) -> str:
        """project-service-N (compose v2's separator), or the service's container_name."""
        return self.services[service].get("container_name") or f"{self.name}-{service}-{number}"

    def labels(self, service: str, number: int, oneoff: bool = False, image_id: str | None = None) -> dict[str, str]:
        return {**(self.services[service].get("labels") or {}),
                PROJECT: self.name, SERVICE: service, NUMBER: str(number), HASH: self.config_hash(service),
                ONEOFF: "True" if oneoff else "False", WORKING_DIR: self.working_dir,
                CONFIG_FILES: ",".join(self.config_files), VERSION: COMPOSE_VERSION,
                **({IMAGE: image_id} if image_id else {})}

    def image_name(self, service: str) -> str:
        """The service's image: its `image`, else the name compose v2 gives the image it builds,
        `<project>-<service>` (v1 joined them with `_`)."""
        return self.services[service].get("image") or f"{self.name}-{service}"

    def build_options(self, service: str, no_cache: bool = False, pull: bool = False,
                      build_args: dict[str, str] | None = None) -> BuildOptions:
        """The builder's options for the service's build section (its args, then `build_args`): tagged with its
        image name and the section's tags, labelled with the project and service as compose labels the images
        it builds."""
        import os

        from tuiker.engine import BuildOptions

        b = self.services[service]["build"]
        platform = (b.get("platforms") or [self.services[service].get("platform")])[0]
        extra = {"network": b["network"]} if b.get("network") else {}
        return BuildOptions(
            b["context"], dockerfile=os.path.join(b["context"], b["dockerfile"]) if "dockerfile" in b else None,
            tags=[self.image_name(service), *b.get("tags", [])],
            build_args={**(b.get("args") or {}), **(build_args or {})},
            target=b.get("target"), no_cache=no_cache or b.get("no_cache", False), pull=pull or b.get("pull", False),
            labels={**(b.get("labels") or {}), VERSION: COMPOSE_VERSION, PROJECT: self.name, SERVICE: service},
            platform=platform, **extra)

    def network_name(self, key: str) -> str:
        return self.networks[key]["name"]

    def volume_name(self, key: str) -> str:
        return self.volumes[key]["name"]

    def run_options(self, service: str, number: int, name: str | None = None, oneoff: bool = False,
                    command: list[str] | None = None, image_id: str | None = None, **overrides) -> RunOptions:
        """The engine's options for container `number` of `service`: on its first network (the others are
        connected before it starts), with the service's name as an alias on each. `image_id`: the ID of its
        image, labelled on the container (compose's com.docker.compose.image)."""
        from tuiker.engine import RunOptions, parse_size

        s = self.services[service]
        where = f"services.{service}"
        limits = (s.get("deploy") or {}).get("resources", {}).get("limits", {})
        cpus = limits.get("cpus", s.get("cpus"))
        memory = limits.get("memory", s.get("mem_limit"))
        pids = limits.get("pids", s.get("pids_limit"))
        networks = list(s["networks"])
        first = networks[0]
        opts: dict = dict(
            command=command if command is not None else s.get("command"), name=name or
            self.container_name(service, number), env=[f"{k}={v}" for k, v in (s.get("environment") or {}).items()
                                                       if v is not None],
            workdir=s.get("working_dir"), user=s.get("user"), entrypoint=s.get("entrypoint"),
            hostname=s.get("hostname"), tty=s.get("tty", False), interactive=s.get("stdin_open", False),
            cpus=float(cpus) if cpus is not None else None,
            memory=_size(memory, f"{where}.deploy.resources.limits.memory", parse_size),
            memory_swap=_size(s.get("memswap_limit"), f"{where}.memswap_limit", parse_size),
            pids_limit=int(pids) if pids is not None else None, cpu_shares=s.get("cpu_shares"),
            restart=s.get("restart", "no") if not oneoff else "no", privileged=s.get("privileged", False),
            read_only=s.get("read_only", False), cap_add=s.get("cap_add"), cap_drop=s.get("cap_drop"),
            security_opt=s.get("security_opt"), network=self.network_name(first),
            ports=[_publish_spec(p) for p in s.get("ports") or []] or None,
            network_aliases=self.aliases(service, first), expose=s.get("expose"), platform=s.get("platform"),
            init=s.get("init", False), labels=self.labels(service, number, oneoff, image_id))
        opts.update(self._mount_options(s))
        opts.update(_health_options(s))
        for key, option in (("extra_hosts", "add_hosts"), ("dns", "dns"), ("stop_signal", "stop_signal")):
            if s.get(key):
                opts[option] = s[key]
        opts.update(overrides)
        try:
            return RunOptions(self.image_name(service), **opts)
        except TypeError as e:  # an option of a part of the engine this build does not have yet
            raise TuikerError(f"{where}: {e} in this engine") from None

    def aliases(self, service: str, network: str) -> list[str]:
        cfg = self.services[service]["networks"].get(network) or {}
        return [service, *[a for a in cfg.get("aliases", []) if a != service]]

    def _mount_options(self, s: dict) -> dict:
        """The service's volumes as the engine's -v specs (short syntax) and --mount specs (long syntax)."""
        volumes, mounts, tmpfs = [], [], []
        for v in s.get("volumes") or []:
            source = v.get("source")
            if v["type"] == "volume" and source:
                source = self.volume_name(source)
            if v["type"] == "tmpfs":
                size = (v.get("tmpfs") or {}).get("size")
                tmpfs.append(v["target"] + (f":size={size}" if size else ""))
            elif set(v) - {"type", "source", "target", "read_only", "bind"} or \
                    (v.get("bind") or {}).keys() - {"create_host_path", "selinux"}:
                mount = [f"type={v['type']}", f"target={v['target']}"]
                if source:
                    mount.insert(1, f"source={source}")
                if v.get("read_only"):
                    mount.append("readonly")
                if (v.get("volume") or {}).get("nocopy"):
                    mount.append("volume-nocopy")
                if (v.get("bind") or {}).get("propagation"):
                    mount.append(f"bind-propagation={v['bind']['propagation']}")
                mounts.append(",".join(mount))
            else:
                spec = f"{source}:{v['target']}" if source else v["target"]
                if v.get("read_only"):
                    spec += ":ro"
                volumes.append(spec)
        tmpfs += s.get("tmpfs") or []
        found = {}
        if volumes:
            found["volumes"] = volumes
        if mounts:
            found["mounts"] = mounts
        if tmpfs:
            found["tmpfs"] = tmpfs
        if s.get("volumes_from"):
            found["volumes_from"] = s["volumes_from"]
        return found

    def as_dict(self) -> dict:
        """The project as `docker compose config` prints it."""
        doc: dict = {"name": self.name, "services": {}}
        for name, s in sorted(self.services.items()):
            s = dict(s)
            if s.get("scale") == 1:
                s.pop("scale")
            if not s.get("depends_on"):
                s.pop("depends_on", None)
            doc["services"][name] = s
        networks = {k: v for k, v in self.networks.items()
                    if any(k in s["networks"] for s in self.services.values()) or k != "default"}
        if networks:
            doc["networks"] = networks
        if self.volumes:
            doc["volumes"] = self.volumes
        return doc


def _size(value, where: str, parse_size) -> int | None:
    if value is None:
        return None
    return int(value) if isinstance(value, int) else parse_size(str(value), where)


def _publish_spec(port: dict) -> str:
    """A long-form port as docker's -p spec."""
    spec = str(port["target"])
    if port.get("published"):
        spec = f"{port['published']}:{spec}"
        if port.get("host_ip"):
            spec = f"{port['host_ip']}:{spec}"
    elif port.get("host_ip"):
        spec = f"{port['host_ip']}::{spec}"
    return f"{spec}/{port.get('protocol', 'tcp')}"


def _health_options(s: dict) -> dict:
    """The healthcheck as docker's HealthConfig: durations in nanoseconds; `disable` is --no-healthcheck."""
    h = s.get("healthcheck")
    if h is None:
        return {}
    if h.get("disable"):
        return {"no_healthcheck": True}
    config: dict = {}
    if h.get("test"):
        config["Test"] = h["test"]
    for key, field in (("interval", "Interval"), ("timeout", "Timeout"), ("start_period", "StartPeriod"),
                       ("start_interval", "StartInterval")):
        if key in h:
            config[field] = parse_duration(h[key], key)
    if "retries" in h:
        config["Retries"] = h["retries"]
    return {"healthcheck": config}


_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_UNITS = {"ns": 1, "us": 1_000, "µs": 1_000, "ms": 1_000_000, "s": 1_000_000_000, "m": 60_000_000_000,
          "h": 3_600_000_000_000}


def parse_duration(text: str, where: str) -> int:
    """Go's time.ParseDuration as compose reads durations (`1m30s`, `500ms`; a bare number is seconds): ns."""
    text = text.strip()
    if re.fullmatch(r"\d+(\.\d+)?", text):
        return int(float(text) * 1_000_000_000)
    pos, total = 0, 0.0
    for m in _DURATION.finditer(text):
        if m.start() != pos:
            break
        total += float(m.group(1)) * _UNITS[m.group(2)]
        pos = m.end()
    if pos != len(text) or not text:
        raise ComposeError(f"{where}: invalid duration {text!r}")
    return int(total)
