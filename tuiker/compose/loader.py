"""Reading a compose project: the files found (or given with -f, merged in order), the `.env` file and the
environment, `${VAR}` interpolation, the project's name, profiles, and every service normalised into one
shape (`docker compose config` prints it), checked key by key: a key of the compose-spec tuiker does not
implement is an error that names it, never silently ignored."""

from __future__ import annotations

import os
import re
import shlex
import sys
from pathlib import Path

from tuiker.compose.interpolate import ComposeError, interpolate_tree, parse_env_file
from tuiker.compose.project import Project, parse_duration

DEFAULT_FILES = ("compose.yaml", "compose.yml", "docker-compose.yml", "docker-compose.yaml")
OVERRIDE_FILES = ("compose.override.yaml", "compose.override.yml", "docker-compose.override.yml",
                  "docker-compose.override.yaml")

# What tuiker implements of a service, top-level network and volume; everything else is refused by name.
SERVICE_KEYS = frozenset({
    "image", "build", "command", "entrypoint", "environment", "env_file", "ports", "expose", "volumes",
    "networks", "depends_on", "healthcheck", "restart", "container_name", "working_dir", "user", "labels",
    "deploy", "scale", "profiles", "hostname", "tty", "stdin_open", "privileged", "read_only", "cap_add",
    "cap_drop", "security_opt", "init", "platform", "stop_grace_period", "stop_signal", "mem_limit",
    "memswap_limit", "cpus", "cpu_shares", "pids_limit", "extra_hosts", "dns", "tmpfs", "volumes_from",
    "pull_policy",
})
# The rest of the compose-spec's service keys: valid compose, not implemented by tuiker.
UNSUPPORTED_SERVICE_KEYS = frozenset({
    "annotations", "attach", "blkio_config", "cgroup", "cgroup_parent", "configs", "cpu_count", "cpu_percent",
    "cpu_period", "cpu_quota", "cpu_rt_period", "cpu_rt_runtime", "cpuset", "credential_spec", "develop",
    "device_cgroup_rules", "devices", "dns_opt", "dns_search", "domainname", "driver_opts", "env_from_file",
    "extends", "external_links", "gpus", "group_add", "ipc", "isolation", "label_file", "links", "logging",
    "mac_address", "mem_reservation", "mem_swappiness", "models", "network_mode", "oom_kill_disable",
    "oom_score_adj", "pid", "post_start", "pre_stop", "provider", "runtime", "secrets", "shm_size", "storage_opt",
    "sysctls", "ulimits", "userns_mode", "use_api_socket", "uts", "volume_driver",
})
TOP_KEYS = frozenset({"version", "name", "services", "networks", "volumes"})
UNSUPPORTED_TOP_KEYS = frozenset({"secrets", "configs", "include", "models"})
NETWORK_KEYS = frozenset({"driver", "external", "name", "labels", "internal", "ipam"})
VOLUME_KEYS = frozenset({"driver", "external", "name", "labels"})
DEPLOY_KEYS = frozenset({"resources", "replicas"})
HEALTH_KEYS = frozenset({"test", "interval", "timeout", "retries", "start_period", "disable", "start_interval"})
BUILD_KEYS = frozenset({"context", "dockerfile", "dockerfile_inline", "args", "target", "labels", "network",
                        "no_cache", "pull", "tags", "platforms"})
# The rest of the compose-spec's build keys: what tuiker's builder has no counterpart for (as docker compose's
# classic builder refuses ssh, secrets, additional_contexts and several platforms).
UNSUPPORTED_BUILD_KEYS = frozenset({"additional_contexts", "cache_from", "cache_to", "entitlements", "extra_hosts",
                                    "isolation", "privileged", "provenance", "sbom", "secrets", "shm_size", "ssh",
                                    "ulimits"})
CONDITIONS = ("service_started", "service_healthy", "service_completed_successfully")

_PROJECT_NAME = re.compile(r"[a-z0-9][a-z0-9_-]*")


def find_files(workdir: Path) -> list[Path]:
    """compose.yaml (or its other names) in `workdir` or the nearest parent, with its override file if any."""
    for folder in [workdir, *workdir.parents]:
        for name in DEFAULT_FILES:
            if (folder / name).is_file():
                found = [folder / name]
                found += [folder / o for o in OVERRIDE_FILES[:1 if name.startswith("compose") else 4]
                          if (folder / o).is_file()][:1]
                return found
    raise ComposeError("no configuration file provided: not found")


def normalize_project_name(text: str) -> str:
    """compose's rule for a name taken from a folder: lower case, only [a-z0-9_-], no leading `_` or `-`."""
    return re.sub(r"[^a-z0-9_-]", "", text.lower()).lstrip("_-")


def check_project_name(name: str) -> str:
    if not _PROJECT_NAME.fullmatch(name):
        raise ComposeError(f'invalid project name "{name}": must consist only of lowercase alphanumeric characters,'
                           " hyphens, and underscores as well as start with a letter or number")
    return name


def load(files: list[str] | None = None, project_name: str | None = None, profiles: list[str] | None = None,
         env_file: str | None = None, workdir: str | None = None, environ: dict[str, str] | None = None) -> Project:
    """The project as `docker compose -f ... -p ... --profile ...` reads it."""
    environ = dict(os.environ if environ is None else environ)
    cwd = Path(workdir or os.getcwd()).absolute()
    if not files and environ.get("COMPOSE_FILE"):
        files = environ["COMPOSE_FILE"].split(environ.get("COMPOSE_PATH_SEPARATOR", os.pathsep))
    paths = [(cwd / f).absolute() if f != "-" else Path("-") for f in files] if files else find_files(cwd)
    project_dir = paths[0].parent if str(paths[0]) != "-" else cwd
    # The .env of the project's folder, under the environment (which wins).
    dotenv = Path(env_file) if env_file else project_dir / ".env"
    env = {}
    if env_file or dotenv.is_file():
        env = {k: v for k, v in parse_env_file(str(dotenv), environ).items() if v is not None}
    env.update(environ)

    import yaml

    merged: dict = {}
    warnings: list[str] = []
    unset: set[str] = set()
    for path in paths:
        try:
            text = sys.stdin.read() if str(path) == "-" else path.read_text()
        except OSError as e:
            raise ComposeError(f"open {path}: {(e.strerror or str(e)).lower()}") from None
        try:
            doc = yaml.load(text, _yaml_loader(yaml))  # noqa: S506 (a SafeLoader)
        except yaml.YAMLError as e:
            mark = getattr(e, "problem_mark", None)
            where = f"line {mark.line + 1}: " if mark else ""
            raise ComposeError(f"yaml: {where}{getattr(e, 'problem', None) or e} in {path.name}") from None
        if doc is None:
            doc = {}
        if not isinstance(doc, dict):
            raise ComposeError(f"Top-level object must be a mapping in {path.name}")
        _check_top(doc, path.name)
        if "version" in doc:
            warnings.append(f"{path}: the attribute `version` is obsolete, it will be ignored, please remove it to"
                            " avoid potential confusion")
        doc = interpolate_tree(doc, env, "", unset)
        merged = _merge_files(merged, _pre_normalize(doc, path.name))

    name = project_name or env.get("COMPOSE_PROJECT_NAME") or merged.get("name")
    if name:
        name = check_project_name(str(name))
    else:
        name = normalize_project_name(project_dir.name)
        if not name:
            raise ComposeError(f"project name {project_dir.name!r} is empty once normalised: give one with -p")
    if profiles is None:
        profiles = [p for p in env.get("COMPOSE_PROFILES", "").split(",") if p]
    services = merged.get("services") or {}
    if not isinstance(services, dict):
        raise ComposeError("services must be a mapping")
    project = Project(name=name, working_dir=str(project_dir),
                      config_files=[str(p) for p in paths], environment=env)
    project.warnings = [f'The "{v}" variable is not set. Defaulting to a blank string.' for v in sorted(unset)]
    project.warnings += warnings
    project.networks = {k: _network(k, v, name) for k, v in (merged.get("networks") or {}).items()}
    project.volumes = {k: _volume(k, v, name) for k, v in (merged.get("volumes") or {}).items()}
    all_services = {s: _service(s, cfg or {}, project) for s, cfg in services.items()}
    project.all_services = all_services
    project.services = {s: c for s, c in all_services.items()
                        if not c.get("profiles") or set(c["profiles"]) & set(profiles) or "*" in profiles}
    if "default" not in project.networks and any("default" in c["networks"] for c in project.services.values()):
        project.networks["default"] = {"name": f"{name}_default"}
    for s, cfg in project.services.items():
        for dep, spec in cfg["depends_on"].items():
            if dep not in all_services:
                raise ComposeError(f'service "{s}" depends on undefined service "{dep}": invalid compose project')
            if dep not in project.services and spec["required"]:
                raise ComposeError(f'service "{dep}" is required by "{s}" but is disabled by its profiles'
                                   f" {all_services[dep]['profiles']}: enable it with --profile")
    project.order()  # a cycle in depends_on is an error here, before anything runs
    return project


def _yaml_loader(yaml):
    """PyYAML's SafeLoader reading booleans as YAML 1.2 does (compose's parser): only true and false, so that
    `off:`, `yes` and `on` stay strings, as a service name or an environment value."""
    import re as regex

    class Loader(yaml.SafeLoader):
        pass

    Loader.yaml_implicit_resolvers = {k: [(tag, r) for tag, r in v if tag != "tag:yaml.org,2002:bool"]
                                      for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()}
    Loader.add_implicit_resolver("tag:yaml.org,2002:bool", regex.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
                                 list("tTfF"))
    return Loader


def _check_top(doc: dict, filename: str) -> None:
    for key in doc:
        if str(key).startswith("x-"):
            continue
        if key in UNSUPPORTED_TOP_KEYS:
            raise ComposeError(f"{filename}: top-level key {key!r} is not supported by tuiker")
        if key not in TOP_KEYS:
            raise ComposeError(f"validating {filename}: additional properties '{key}' not allowed")


def _pre_normalize(doc: dict, filename: str) -> dict:
    """A file's services with their list-or-map keys as maps, so that files merge key by key."""
    services = doc.get("services") or {}
    if not isinstance(services, dict):
        raise ComposeError(f"validating {filename}: services must be a mapping")
    out = {}
    for name, cfg in services.items():
        if cfg is None:
            cfg = {}
        if not isinstance(cfg, dict):
            raise ComposeError(f"validating {filename}: services.{name} must be a mapping")
        cfg = dict(cfg)
        for key in ("environment", "labels"):
            if key in cfg:
                cfg[key] = _as_map(cfg[key], f"services.{name}.{key}")
        if "build" in cfg:
            cfg["build"] = _pre_normalize_build(cfg["build"], f"services.{name}.build")
        if "depends_on" in cfg:
            deps = cfg["depends_on"]
            cfg["depends_on"] = {d: {} for d in deps} if isinstance(deps, list) else dict(deps or {})
        if "networks" in cfg:
            nets = cfg["networks"]
            cfg["networks"] = {n: None for n in nets} if isinstance(nets, list) else dict(nets or {})
        out[name] = cfg
    return {**doc, "services": out}


def _pre_normalize_build(build, where: str) -> dict:
    """`build: ./dir` as {context: ./dir}, its args and labels as maps (files merge them key by key)."""
    if isinstance(build, str):
        return {"context": build}
    if not isinstance(build, dict):
        raise ComposeError(f"{where} must be a string or a mapping")
    build = dict(build)
    for key in ("args", "labels"):
        if key in build:
            build[key] = _as_map(build[key], f"{where}.{key}")
    return build


def _as_map(value, where: str) -> dict:
    """`environment` and `labels` as lists of `K=V` (`K` alone: no value) or maps."""
    if isinstance(value, dict):
        return {str(k): None if v is None else _scalar(v) for k, v in value.items()}
    if isinstance(value, list):
        found = {}
        for item in value:
            key, sep, val = str(item).partition("=")
            found[key] = val if sep else None
        return found
    raise ComposeError(f"{where} must be a mapping or a list")


def _scalar(v) -> str:
    """YAML's true/1.5 as compose writes them into a string: `true`, `1.5`."""
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


_REPLACED = frozenset({"command", "entrypoint", "healthcheck"})


def _merge_files(base: dict, over: dict) -> dict:
    """The compose-spec's merge: mappings key by key, `command`/`entrypoint`/`healthcheck.test` replaced,
    volumes by their target, other sequences appended."""
    out = dict(base)
    for key, value in over.items():
        old = out.get(key)
        if isinstance(old, dict) and isinstance(value, dict):
            out[key] = _merge_service(old, value) if key in ("services",) else _merge_maps(old, value)
        else:
            out[key] = value
    return out


def _merge_service(base: dict, over: dict) -> dict:
    out = dict(base)
    for name, cfg in over.items():
        if name not in out:
            out[name] = cfg
            continue
        merged = dict(out[name])
        for key, value in cfg.items():
            old = merged.get(key)
            if key in _REPLACED or old is None:
                merged[key] = value
            elif key == "volumes" and isinstance(old, list) and isinstance(value, list):
                by_target = {_volume_target(v): v for v in old}
                by_target.update({_volume_target(v): v for v in value})
                merged[key] = list(by_target.values())
            elif isinstance(old, list) and isinstance(value, list):
                merged[key] = old + [v for v in value if v not in old]
            elif isinstance(old, dict) and isinstance(value, dict):
                merged[key] = _merge_maps(old, value)
            else:
                merged[key] = value
        out[name] = merged
    return out


def _merge_maps(base: dict, over: dict) -> dict:
    out = dict(base)
    for key, value in over.items():
        old = out.get(key)
        out[key] = _merge_maps(old, value) if isinstance(old, dict) and isinstance(value, dict) else value
    return out


def _volume_target(v) -> str:
    if isinstance(v, dict):
        return str(v.get("target"))
    parts = str(v).split(":")
    return parts[1] if len(parts) > 1 else parts[0]


# -- top-level networks and volumes ------------------------------------------------------------------------

def _network(key: str, cfg, project: str) -> dict:
    cfg = dict(cfg or {})
    _only(cfg, NETWORK_KEYS, f"networks.{key}")
    if cfg.get("driver", "bridge") != "bridge":
        raise ComposeError(f"networks.{key}.driver: only the bridge driver is supported by tuiker, not"
                           f" {cfg['driver']!r}")
    out = {"name": cfg.get("name") or (key if cfg.get("external") else f"{project}_{key}")}
    if cfg.get("external"):
        out["external"] = True
    if cfg.get("internal"):
        out["internal"] = True
    if cfg.get("labels"):
        out["labels"] = _as_map(cfg["labels"], f"networks.{key}.labels")
    ipam = cfg.get("ipam")
    if ipam:
        _only(ipam, {"driver", "config"}, f"networks.{key}.ipam")
        configs = ipam.get("config") or []
        if len(configs) > 1:
            raise ComposeError(f"networks.{key}.ipam.config: tuiker supports one subnet per network")
        for c in configs:
            _only(c, {"subnet", "gateway"}, f"networks.{key}.ipam.config")
        if configs:
            out["ipam"] = {"config": [dict(configs[0])]}
    return out


def _volume(key: str, cfg, project: str) -> dict:
    cfg = dict(cfg or {})
    _only(cfg, VOLUME_KEYS, f"volumes.{key}")
    if cfg.get("driver", "local") != "local":
        raise ComposeError(f"volumes.{key}.driver: only the local driver is supported by tuiker, not"
                           f" {cfg['driver']!r}")
    out = {"name": cfg.get("name") or (key if cfg.get("external") else f"{project}_{key}")}
    if cfg.get("external"):
        out["external"] = True
    if cfg.get("labels"):
        out["labels"] = _as_map(cfg["labels"], f"volumes.{key}.labels")
    return out


def _only(cfg, allowed, where: str) -> None:
    if not isinstance(cfg, dict):
        raise ComposeError(f"{where} must be a mapping")
    for key in cfg:
        if not str(key).startswith("x-") and key not in allowed:
            raise ComposeError(f"{where}.{key} is not supported by tuiker")


# -- a service -----------------------------------------------------------------------------------------------

def _service(name: str, cfg: dict, project: Project) -> dict:
    """The service normalised: lists where compose allows a string, maps where it allows a list, ports and
    volumes in their long form, relative paths made absolute, env_file read into environment."""
    where = f"services.{name}"
    for key in cfg:
        if str(key).startswith("x-"):
            continue
        if key in UNSUPPORTED_SERVICE_KEYS:
            raise ComposeError(f"{where}.{key} is not supported by tuiker")
        if key not in SERVICE_KEYS:
            raise ComposeError(f"validating {where}: additional properties '{key}' not allowed")
    out: dict = {}
    if "build" in cfg:
        out["build"] = _build(cfg["build"], f"{where}.build", project)
    if "image" in cfg:
        out["image"] = str(cfg["image"])
    elif "build" not in cfg:
        raise ComposeError(f'service "{name}" has neither an image nor a build context specified: invalid compose'
                           " project")
    for key in ("command", "entrypoint"):
        if key in cfg and cfg[key] is not None:
            out[key] = _command(cfg[key], f"{where}.{key}")
    env: dict = {}
    for item in _env_files(cfg.get("env_file"), f"{where}.env_file"):
        full = _path(project.working_dir, item["path"])
        if item["required"] or os.path.exists(full):
            env.update(parse_env_file(full, project.environment))
    env.update(cfg.get("environment") or {})
    # `KEY` without a value takes the environment's (the shell's, then .env's), or stays unset.
    env = {k: (v if v is not None else project.environment.get(k)) for k, v in env.items()}
    if env:
        out["environment"] = env
    if cfg.get("ports"):
        out["ports"] = [p for spec in cfg["ports"] for p in _ports(spec, f"{where}.ports")]
    if cfg.get("expose"):
        out["expose"] = [str(e) for e in cfg["expose"]]
    if cfg.get("volumes"):
        out["volumes"] = [_service_volume(v, f"{where}.volumes", project) for v in cfg["volumes"]]
    out["networks"] = _service_networks(name, cfg.get("networks"), project)
    out["depends_on"] = _depends_on(name, cfg.get("depends_on") or {})
    if "healthcheck" in cfg:
        out["healthcheck"] = _healthcheck(cfg["healthcheck"] or {}, f"{where}.healthcheck")
    if "restart" in cfg:
        restart = str(cfg["restart"]) if cfg["restart"] is not False else "no"
        if restart.partition(":")[0] not in ("no", "always", "on-failure", "unless-stopped"):
            raise ComposeError(f"{where}.restart: invalid restart policy {restart!r}")
        out["restart"] = restart
    for key in ("container_name", "working_dir", "user", "hostname", "platform", "stop_signal", "pull_policy"):
        if cfg.get(key) is not None:
            out[key] = str(cfg[key])
    if "labels" in cfg:
        out["labels"] = {k: v or "" for k, v in cfg["labels"].items()}
    for key in ("tty", "stdin_open", "privileged", "read_only", "init"):
        if key in cfg:
            out[key] = bool(cfg[key])
    for key in ("cap_add", "cap_drop", "security_opt", "dns", "tmpfs", "volumes_from", "profiles"):
        if cfg.get(key):
            out[key] = _strings(cfg[key], f"{where}.{key}")
    if cfg.get("extra_hosts"):
        hosts = cfg["extra_hosts"]
        out["extra_hosts"] = [f"{k}:{v}" for k, v in hosts.items()] if isinstance(hosts, dict) else \
            [str(h).replace("=", ":", 1) for h in hosts]
    if "stop_grace_period" in cfg:
        out["stop_grace_period"] = str(cfg["stop_grace_period"])
        parse_duration(out["stop_grace_period"], f"{where}.stop_grace_period")
    for key in ("mem_limit", "memswap_limit", "cpus", "cpu_shares", "pids_limit"):
        if cfg.get(key) is not None:
            out[key] = cfg[key]
    deploy = cfg.get("deploy") or {}
    _only(deploy, DEPLOY_KEYS, f"{where}.deploy")
    resources = deploy.get("resources") or {}
    _only(resources, {"limits"}, f"{where}.deploy.resources")
    limits = resources.get("limits") or {}
    _only(limits, {"cpus", "memory", "pids"}, f"{where}.deploy.resources.limits")
    if limits:
        out["deploy"] = {"resources": {"limits": {k: limits[k] for k in ("cpus", "memory", "pids") if k in limits}}}
    scale = deploy.get("replicas", cfg.get("scale", 1))
    if not isinstance(scale, int) or scale < 0:
        raise ComposeError(f"{where}: scale must be a whole number, not {scale!r}")
    if "scale" in cfg and "replicas" in deploy and cfg["scale"] != deploy["replicas"]:
        raise ComposeError(f"{where}: scale and deploy.replicas disagree ({cfg['scale']} and {deploy['replicas']})")
    if scale > 1 and out.get("container_name"):
        raise ComposeError(f'services.scale: can\'t set container_name and {name} as container name must be unique:'
                           " invalid compose project")
    out["scale"] = scale
    return out


def _build(cfg: dict, where: str, project: Project) -> dict:
    """The build section as `docker compose config` prints it: the context an absolute path (relative to the
    project's folder), the Dockerfile's name, args with a bare key given the environment's value (or dropped)."""
    for key in cfg:
        if str(key).startswith("x-"):
            continue
        if key in UNSUPPORTED_BUILD_KEYS:
            raise ComposeError(f"{where}.{key} is not supported by tuiker")
        if key not in BUILD_KEYS:
            raise ComposeError(f"validating {where}: additional properties '{key}' not allowed")
    context = str(cfg.get("context") or ".")
    if re.match(r"[a-z][a-z0-9+.-]*://|git@", context):
        raise ComposeError(f"{where}.context: a remote build context ({context}) is not supported by tuiker")
    out: dict = {"context": _path(project.working_dir, context)}
    if cfg.get("dockerfile") is not None and cfg.get("dockerfile_inline") is not None:
        raise ComposeError(f"{where}: dockerfile and dockerfile_inline are mutually exclusive")
    if cfg.get("dockerfile_inline") is not None:
        out["dockerfile_inline"] = str(cfg["dockerfile_inline"])
    else:
        out["dockerfile"] = str(cfg.get("dockerfile") or "Dockerfile")
    args = resolve_args(cfg.get("args") or {}, project.environment, f"{where}.args")
    if args:
        out["args"] = args
    for key in ("target", "network"):
        if cfg.get(key) is not None:
            out[key] = str(cfg[key])
    if cfg.get("labels"):
        out["labels"] = {k: v or "" for k, v in cfg["labels"].items()}
    for key in ("no_cache", "pull"):
        if cfg.get(key):
            out[key] = True
    for key in ("tags", "platforms"):
        if cfg.get(key):
            out[key] = _strings(cfg[key], f"{where}.{key}")
    if len(out.get("platforms", [])) > 1:
        raise ComposeError(f"{where}.platforms: tuiker builds for the host's platform only, not for"
                           f" {', '.join(out['platforms'])}")
    return out


def resolve_args(value, environment: dict[str, str], where: str) -> dict[str, str]:
    """Build args (a map, or a list of `K=V`) as compose passes them: a bare `K` takes the environment's value,
    or is not passed at all."""
    resolved = {k: v if v is not None else environment.get(k) for k, v in _as_map(value, where).items()}
    return {k: v for k, v in resolved.items() if v is not None}


def _strings(value, where: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [str(v) for v in value]
    raise ComposeError(f"{where} must be a string or a list")


def _env_files(value, where: str) -> list[dict]:
    """env_file as a path, a list of paths, or a list of {path, required}."""
    found = []
    for item in value if isinstance(value, list) else [] if value is None else [value]:
        if isinstance(item, dict):
            _only(item, {"path", "required", "format"}, where)
            if item.get("format") not in (None, "raw"):
                raise ComposeError(f"{where}.format {item['format']!r} is not supported by tuiker")
            found.append({"path": str(item["path"]), "required": bool(item.get("required", True))})
        elif isinstance(item, str):
            found.append({"path": item, "required": True})
        else:
            raise ComposeError(f"{where} must be a path, a list of paths or of {{path, required}}")
    return found


def _command(value, where: str) -> list[str]:
    if isinstance(value, str):
        try:
            return shlex.split(value)
        except ValueError as e:
            raise ComposeError(f"{where}: {e}") from None
    if isinstance(value, list):
        return [str(v) for v in value]
    raise ComposeError(f"{where} must be a string or a list")


def _path(base: str, path: str) -> str:
    path = os.path.expanduser(path)
    return os.path.normpath(os.path.join(base, path))


def _ports(spec, where: str) -> list[dict]:
    """A ports entry in the long form: {mode, host_ip?, target, published?, protocol}, ranges expanded."""
    if isinstance(spec, dict):
        _only(spec, {"target", "published", "host_ip", "protocol", "mode", "name", "app_protocol"}, where)
        if "target" not in spec:
            raise ComposeError(f"{where}: a port's long syntax needs a target")
        out = {"mode": spec.get("mode", "ingress"), "target": int(spec["target"])}
        if spec.get("host_ip"):
            out["host_ip"] = str(spec["host_ip"])
        if spec.get("published") is not None:
            out["published"] = str(spec["published"])
        out["protocol"] = str(spec.get("protocol", "tcp"))
        return [out]
    text = str(spec)
    rest, _, proto = text.partition("/")
    parts = rest.rsplit(":", 2)
    host_ip = parts[0] if len(parts) == 3 else ""
    published = parts[-2] if len(parts) >= 2 else ""
    target = parts[-1]
    try:
        targets = _port_range(target)
        published_ports = _port_range(published) if published else []
    except ValueError:
        raise ComposeError(f"{where}: invalid port {text!r}") from None
    if published_ports and len(published_ports) not in (1, len(targets)):
        raise ComposeError(f"{where}: invalid port {text!r}: the ranges differ in size")
    found = []
    for i, t in enumerate(targets):
        out: dict = {"mode": "ingress", "target": t}
        if host_ip:
            out["host_ip"] = host_ip
        if published_ports:
            # One published port for a range of targets is docker's "any of": kept as the range text.
            out["published"] = str(published_ports[i]) if len(published_ports) == len(targets) else published
        out["protocol"] = proto or "tcp"
        found.append(out)
    return found


def _port_range(text: str) -> list[int]:
    low, sep, high = text.partition("-")
    first, last = int(low), int(high) if sep else int(low)
    if not 0 < first <= last <= 65535:
        raise ValueError(text)
    return list(range(first, last + 1))


def _service_volume(spec, where: str, project: Project) -> dict:
    """A volume entry in the long form: {type, source?, target, read_only?, ...}."""
    if isinstance(spec, dict):
        _only(spec, {"type", "source", "target", "read_only", "bind", "volume", "tmpfs", "consistency"}, where)
        kind = spec.get("type") or ""
        if kind not in ("volume", "bind", "tmpfs"):
            raise ComposeError(f"{where}: volume type {kind!r} is not supported by tuiker (volume, bind, tmpfs)")
        if not spec.get("target"):
            raise ComposeError(f"{where}: a volume's long syntax needs a target")
        out = {"type": kind}
        if spec.get("source"):
            out["source"] = _path(project.working_dir, spec["source"]) if kind == "bind" else str(spec["source"])
        out["target"] = str(spec["target"])
        if spec.get("read_only"):
            out["read_only"] = True
        for key, allowed in (("bind", {"propagation", "create_host_path", "selinux"}), ("volume", {"nocopy"}),
                             ("tmpfs", {"size", "mode"})):
            if spec.get(key):
                _only(spec[key], allowed, f"{where}.{key}")
                out[key] = dict(spec[key])
    else:
        parts = str(spec).split(":")
        if len(parts) == 1:
            out = {"type": "volume", "target": parts[0]}
        elif len(parts) in (2, 3):
            source, target = parts[0], parts[1]
            is_path = source.startswith((".", "/", "~"))
            out = {"type": "bind" if is_path else "volume",
                   "source": _path(project.working_dir, source) if is_path else source, "target": target}
            modes = parts[2].split(",") if len(parts) == 3 else []
            for mode in modes:
                if mode not in ("ro", "rw", "z", "Z", "nocopy", "shared", "rshared", "slave", "rslave", "private",
                                "rprivate"):
                    raise ComposeError(f"{where}: invalid mode {mode!r} in {spec!r}")
            if "ro" in modes:
                out["read_only"] = True
            if is_path:
                out["bind"] = {"create_host_path": True}
                if any(m in ("z", "Z") for m in modes):
                    out["bind"]["selinux"] = "z" if "z" in modes else "Z"
            elif "nocopy" in modes:
                out["volume"] = {"nocopy": True}
        else:
            raise ComposeError(f"{where}: invalid volume specification {spec!r}")
    if out["type"] == "volume" and out.get("source") and out["source"] not in project.volumes:
        raise ComposeError(f'service "{where.split(".")[1]}" refers to undefined volume {out["source"]}: invalid'
                           " compose project")
    return out


def _service_networks(name: str, nets: dict | None, project: Project) -> dict:
    if not nets:
        return {"default": None}
    out = {}
    for net, cfg in nets.items():
        if net not in project.networks and net != "default":
            raise ComposeError(f'service "{name}" refers to undefined network {net}: invalid compose project')
        if cfg:
            _only(cfg, {"aliases", "priority"}, f"services.{name}.networks.{net}")
            cfg = {"aliases": _strings(cfg.get("aliases"), f"services.{name}.networks.{net}.aliases")} \
                if cfg.get("aliases") else None
        out[net] = cfg
    return out


def _depends_on(name: str, deps: dict) -> dict:
    out = {}
    for dep, spec in deps.items():
        spec = dict(spec or {})
        _only(spec, {"condition", "required", "restart"}, f"services.{name}.depends_on.{dep}")
        condition = spec.get("condition", "service_started")
        if condition not in CONDITIONS:
            raise ComposeError(f"services.{name}.depends_on.{dep}.condition: {condition!r} is not one of"
                               f" {', '.join(CONDITIONS)}")
        out[dep] = {"condition": condition, "required": bool(spec.get("required", True))}
        if spec.get("restart"):
            out[dep]["restart"] = True
    return out


def _healthcheck(cfg: dict, where: str) -> dict:
    _only(cfg, HEALTH_KEYS, where)
    out: dict = {}
    if cfg.get("disable"):
        return {"disable": True}
    test = cfg.get("test")
    if isinstance(test, str):
        test = ["CMD-SHELL", test]
    if test is not None:
        test = [str(t) for t in test]
        if not test or test[0] not in ("NONE", "CMD", "CMD-SHELL"):
            raise ComposeError(f"{where}.test must be a string or a list starting with NONE, CMD or CMD-SHELL")
        if test == ["NONE"]:
            return {"disable": True}
        out["test"] = test
    for key in ("interval", "timeout", "start_period", "start_interval"):
        if cfg.get(key) is not None:
            out[key] = str(cfg[key])
            parse_duration(out[key], f"{where}.{key}")
    if cfg.get("retries") is not None:
        out["retries"] = int(cfg["retries"])
    return out
