"""`/containers/...`: docker's container endpoints over `engine.containers` (attach is exec.py's).

Docker's create body becomes the engine's RunOptions here; a field tuiker cannot honour is refused with a 400
that names it, never dropped. The engine's records become docker's list, stats, top, changes and archive shapes;
its inspect document is docker's already."""

from __future__ import annotations

import base64
import json
import os
import time
from datetime import UTC, datetime

from tuiker.api.server import STDERR_FRAME, STDOUT_FRAME, Api, ApiError, ChunkedWriter, Request, Status, frame
from tuiker.api.shapes import container_summary
from tuiker.engine import (
    LIVE_STATES,
    ContainerStartError,
    NotFoundError,
    RunOptions,
    familiar_name,
    parse_go_duration,
    parse_time,
)

RAW_STREAM = "application/vnd.docker.raw-stream"
MULTIPLEXED_STREAM = "application/vnd.docker.multiplexed-stream"


# -- list -----------------------------------------------------------------------------------------------------------
def list_containers(api: Api, req: Request) -> list[dict]:
    limit = req.integer("limit", -1)
    found = api.engine.containers.list(all=req.flag("all") or limit > 0, filters=req.filters())
    if limit > 0:
        found = found[:limit]
    size = req.flag("size")
    rows = []
    for c in found:
        try:
            rows.append(container_summary(api.engine, c, size))
        except NotFoundError:
            pass  # removed since it was listed
    return rows


# -- create ---------------------------------------------------------------------------------------------------------
# Config and HostConfig fields that docker's clients send: each is read into RunOptions below, or accepted
# because it only concerns attaching (done by the attach endpoint), or refused when set to anything but its zero.
_CONFIG_READ = {"Image", "Cmd", "Entrypoint", "Env", "WorkingDir", "User", "Hostname", "Tty", "OpenStdin", "Labels",
                "ExposedPorts", "StopSignal", "StopTimeout", "Healthcheck", "Volumes", "HostConfig", "NetworkingConfig"}
_CONFIG_ATTACH = {"AttachStdin", "AttachStdout", "AttachStderr", "StdinOnce"}
_HOST_READ = {"Binds", "Mounts", "Tmpfs", "PortBindings", "PublishAllPorts", "NetworkMode", "RestartPolicy",
              "AutoRemove", "Privileged", "ReadonlyRootfs", "CapAdd", "CapDrop", "SecurityOpt", "Memory",
              "MemorySwap", "NanoCpus", "CpuShares", "PidsLimit", "Init", "ExtraHosts", "Dns", "VolumesFrom",
              "LogConfig", "ConsoleSize"}


def _is_zero(value: object) -> bool:
    """docker's clients send every field; the unset ones are zero, empty, null (or -1 for MemorySwappiness)."""
    if isinstance(value, dict):
        return all(_is_zero(v) for v in value.values())
    if isinstance(value, list):
        return all(_is_zero(v) for v in value)
    return value in (None, 0, False, "", -1)


def _check_types(doc: dict, kinds: dict[str, type], prefix: str) -> None:
    """Each field present is of its JSON type (arrays but Mounts, and Labels and Tmpfs, hold strings): a body from
    any client must not reach the engine with a number where a name belongs."""
    for key, kind in kinds.items():
        value = doc.get(key)
        if value is None:
            continue
        ok = isinstance(value, kind) and not (kind is int and isinstance(value, bool))
        if ok and kind is list and key != "Mounts":
            ok = all(isinstance(v, str) for v in value)
        if ok and key in ("Labels", "Tmpfs"):
            ok = all(isinstance(v, str) for v in value.values())
        if not ok:
            strings = " of strings" if key in ("Labels", "Tmpfs") or kind is list and key != "Mounts" else ""
            raise ApiError(400, f"invalid {prefix}{key}: expected {_JSON_NAMES[kind]}{strings}")


_JSON_NAMES = {list: "an array", dict: "an object", str: "a string", int: "an integer"}


def _strings(value: object, field: str) -> list[str] | None:
    """A StrSlice field (Cmd, Entrypoint): a list of strings, or one string."""
    if value is None:
        return None
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return value
    raise ApiError(400, f"{field} must be a string or a list of strings")


def run_options(body: dict, name: str | None, platform: str | None) -> RunOptions:
    """docker's ContainerCreate body as the engine's RunOptions; 400 naming a field tuiker cannot honour."""
    if not isinstance(body, dict):
        raise ApiError(400, "Config cannot be empty in order to create a container")
    host = body.get("HostConfig") or {}
    if not isinstance(host, dict):
        raise ApiError(400, "HostConfig must be an object")
    for key, value in body.items():
        if key not in _CONFIG_READ | _CONFIG_ATTACH and not _is_zero(value):
            raise ApiError(400, f"the container field {key} is not supported by tuiker")
    for key, value in host.items():
        if key not in _HOST_READ and not _is_zero(value):
            raise ApiError(400, f"the container field HostConfig.{key} is not supported by tuiker")
    image = body.get("Image")
    if not image or not isinstance(image, str):
        raise ApiError(400, "Config.Image is required")
    _check_types(body, {"Env": list, "Labels": dict, "ExposedPorts": dict, "Volumes": dict, "Healthcheck": dict,
                        "WorkingDir": str, "User": str, "Hostname": str, "StopSignal": str, "StopTimeout": int,
                        "NetworkingConfig": dict}, "")
    _check_types(host, {"Binds": list, "Mounts": list, "Tmpfs": dict, "PortBindings": dict, "NetworkMode": str,
                        "RestartPolicy": dict, "CapAdd": list, "CapDrop": list, "SecurityOpt": list, "Memory": int,
                        "MemorySwap": int, "NanoCpus": int, "CpuShares": int, "PidsLimit": int, "ExtraHosts": list,
                        "Dns": list, "VolumesFrom": list, "LogConfig": dict}, "HostConfig.")
    log_type = (host.get("LogConfig") or {}).get("Type")
    if log_type not in (None, "", "json-file"):
        raise ApiError(400, f"the log driver {log_type!r} is not supported by tuiker: only json-file")
    opts: dict = {"name": name or None, "platform": platform or None,
                  "command": _strings(body.get("Cmd"), "Cmd"), "entrypoint": _strings(body.get("Entrypoint"),
                                                                                      "Entrypoint"),
                  # NAME without a value takes the caller's own value in the engine: here that would be the
                  # service's environment, not the client's to read; it stays unset, as docker leaves it
                  "env": [e for e in body.get("Env") or [] if "=" in e] or None,
                  "workdir": body.get("WorkingDir") or None,
                  "user": body.get("User") or None, "hostname": body.get("Hostname") or None,
                  "tty": bool(body.get("Tty")), "interactive": bool(body.get("OpenStdin")),
                  "labels": body.get("Labels") or None, "stop_signal": body.get("StopSignal") or None,
                  "stop_timeout": body.get("StopTimeout")}
    if body.get("ExposedPorts"):
        opts["expose"] = list(body["ExposedPorts"])
    health = body.get("Healthcheck")
    if health:
        if health.get("Test") == ["NONE"]:
            opts["no_healthcheck"] = True
        else:
            opts["healthcheck"] = {k: health[k] for k in ("Test", "Interval", "Timeout", "StartPeriod", "Retries")
                                   if health.get(k)}
    # Config.Volumes: anonymous volumes, and (from docker-py) the targets of Binds again: each target once
    binds = list(host.get("Binds") or [])
    given = {b.split(":")[1] if ":" in b else b for b in binds} | set(host.get("Tmpfs") or {}) \
        | {m.get("Target") for m in host.get("Mounts") or []}
    volumes = binds + [dst for dst in body.get("Volumes") or {} if dst not in given]
    if volumes:
        opts["volumes"] = volumes
    if host.get("Mounts"):
        opts["mounts"] = [_mount_spec(m) for m in host["Mounts"]]
    if host.get("Tmpfs"):
        opts["tmpfs"] = [f"{dst}:{o}" if o else dst for dst, o in host["Tmpfs"].items()]
    if host.get("VolumesFrom"):
        opts["volumes_from"] = list(host["VolumesFrom"])
    ports = []
    for port, bindings in (host.get("PortBindings") or {}).items():
        for b in bindings or [{}]:
            ip, host_port = (b or {}).get("HostIp") or "", (b or {}).get("HostPort") or ""
            host_port = "" if host_port == "0" else host_port  # docker: 0 is any free port, as none
            ports.append(f"{ip}:{host_port}:{port}" if ip else f"{host_port}:{port}" if host_port else port)
    if ports:
        opts["ports"] = ports
    network = host.get("NetworkMode") or "default"
    opts["network"] = "bridge" if network == "default" else network
    endpoints = (body.get("NetworkingConfig") or {}).get("EndpointsConfig") or {}
    for net_name, endpoint in endpoints.items():
        if net_name != network and not (network == "default" and net_name == "bridge"):
            raise ApiError(400, f"NetworkingConfig names the network {net_name!r}, not the container's"
                                f" NetworkMode {network!r}: connect other networks after create")
        endpoint = endpoint or {}
        for key, value in endpoint.items():
            if key not in ("Aliases",) and not _is_zero(value):
                raise ApiError(400, f"the endpoint field {key} is not supported by tuiker")
        if endpoint.get("Aliases"):
            opts["network_aliases"] = list(endpoint["Aliases"])
    restart = host.get("RestartPolicy") or {}
    if restart.get("Name"):
        count = restart.get("MaximumRetryCount") or 0
        opts["restart"] = f"{restart['Name']}:{count}" if restart["Name"] == "on-failure" and count else \
            restart["Name"]
    simple = {"PublishAllPorts": "publish_all", "AutoRemove": "auto_remove", "Privileged": "privileged",
              "ReadonlyRootfs": "read_only", "Init": "init"}
    for key, option in simple.items():
        if host.get(key):
            opts[option] = True
    lists = {"CapAdd": "cap_add", "CapDrop": "cap_drop", "SecurityOpt": "security_opt", "ExtraHosts": "add_hosts",
             "Dns": "dns"}
    for key, option in lists.items():
        if host.get(key):
            opts[option] = list(host[key])
    if host.get("Memory"):
        opts["memory"] = int(host["Memory"])
    if host.get("MemorySwap"):
        opts["memory_swap"] = int(host["MemorySwap"])
    if host.get("NanoCpus"):
        opts["cpus"] = int(host["NanoCpus"]) / 1e9
    if host.get("CpuShares"):
        opts["cpu_shares"] = int(host["CpuShares"])
    if host.get("PidsLimit"):
        opts["pids_limit"] = int(host["PidsLimit"])
    return RunOptions(image, **opts)


def _mount_spec(m: dict) -> str:
    """A HostConfig.Mounts entry as the engine's --mount text."""
    allowed = {"Type", "Source", "Target", "ReadOnly", "Consistency"}
    for key, value in m.items():
        if key not in allowed and not _is_zero(value):
            raise ApiError(400, f"the mount field {key} is not supported by tuiker")
    parts = [f"type={m.get('Type') or 'volume'}"]
    if m.get("Source"):
        parts.append(f"source={m['Source']}")
    if not m.get("Target"):
        raise ApiError(400, "a mount needs a Target")
    parts.append(f"target={m['Target']}")
    if m.get("ReadOnly"):
        parts.append("readonly")
    return ",".join(parts)


def create(api: Api, req: Request) -> Status:
    opts = run_options(req.json(), (req.query("name") or "").removeprefix("/"), req.query("platform"))
    try:
        image = api.engine.images.inspect(opts.image)
    except NotFoundError:
        # docker's clients pull on this 404 and create again: the engine must not pull here itself
        raise ApiError(404, f"No such image: {familiar_name(opts.image, default_tag=True)}") from None
    if opts.platform:
        have = "/".join(filter(None, (image.get("Os"), image.get("Architecture"), image.get("Variant"))))
        if not _platform_matches(opts.platform, have):
            raise ApiError(404, f"image with reference {opts.image} was found but does not match the specified"
                                f" platform: wanted {opts.platform}, actual: {have}")
    c = api.engine.containers.create(opts)
    return Status(201, {"Id": c.id, "Warnings": []})


def _platform_matches(wanted: str, have: str) -> bool:
    """`linux/amd64` against an image's os/arch[/variant] (a wanted variant must match; none matches any)."""
    aliases = {"x86_64": "amd64", "aarch64": "arm64"}
    want = [aliases.get(p, p) for p in wanted.lower().split("/")]
    got = have.lower().split("/")
    return all(w == g for w, g in zip(want, got, strict=False)) and len(want) <= max(len(got), 2)


# -- one container --------------------------------------------------------------------------------------------------
def inspect(api: Api, req: Request) -> dict:
    containers = api.engine.containers
    doc = containers.inspect(req.args["id"])
    if req.flag("size"):
        written, virtual = containers.size(doc["Id"])
        doc.update(SizeRw=written, SizeRootFs=virtual)
    return doc


def start(api: Api, req: Request) -> Status | None:
    if req.json(None) not in (None, {}):  # docker-py sends "{}"
        raise ApiError(400, "starting container with non-empty request body was deprecated since API v1.22 and"
                            " removed in v1.24")
    containers = api.engine.containers
    c = containers.get(req.args["id"])
    if c.status == "running":
        return Status(304)
    if c.status == "paused":
        raise ApiError(409, "cannot start a paused container, try unpause instead")
    try:
        containers.start(c.id)
    except ContainerStartError as e:
        # docker: a command that cannot be run (126, 127) is the request's fault
        raise ApiError(400 if e.code in (126, 127) else 500, str(e)) from None
    return None


def _stop_args(req: Request) -> tuple[float | None, str | None]:
    return req.integer("t"), req.query("signal") or None


def stop(api: Api, req: Request) -> Status | None:
    containers = api.engine.containers
    c = containers.get(req.args["id"])
    if c.status not in LIVE_STATES:
        return Status(304)
    containers.stop(c.id, *_stop_args(req))
    return None


def restart(api: Api, req: Request) -> None:
    api.engine.containers.restart(req.args["id"], *_stop_args(req))


def kill(api: Api, req: Request) -> None:
    api.engine.containers.kill(req.args["id"], req.query("signal") or "SIGKILL")


def pause(api: Api, req: Request) -> None:
    api.engine.containers.pause(req.args["id"])


def unpause(api: Api, req: Request) -> None:
    api.engine.containers.unpause(req.args["id"])


def wait(api: Api, req: Request) -> None:
    """The exit status once `condition` holds: not-running (now, if it does not run), next-exit (its next exit,
    even if it is yet to start), removed (it is gone). The headers go out at once, as docker's do: a client that
    starts the container next knows the wait is in place."""
    condition = req.query("condition") or "not-running"
    if condition not in ("not-running", "next-exit", "removed"):
        raise ApiError(400, f'invalid condition: "{condition}"')
    since = time.time()  # before the look and the headers: an exit or a start after either is seen
    c = api.engine.containers.get(req.args["id"])
    out = req.stream()
    code = _wait_for(api, c, condition, since, req.client_gone)
    if code is not None:
        out.write_json({"StatusCode": code, "Error": None})
    out.close()


def _wait_for(api: Api, c, condition: str, since: float, gone) -> int | None:
    """The exit status once `condition` holds; None if the client left first. next-exit and removed follow the
    container's die and destroy events from `since`, as dockerd's waits do: a container that runs for a moment
    (and with --rm is removed at once) is not missed between two looks at its state."""
    if condition == "not-running" and c.status not in LIVE_STATES:
        return c.state.get("ExitCode", 0)
    code = None
    for event in api.engine.events(since=since, filters={"type": ["container"], "container": [c.id]},
                                   alive=lambda: not gone()):
        if event.get("Action") == "die":
            code = int(event["Actor"]["Attributes"].get("exitCode") or 0)
            if condition != "removed":
                return code
        elif event.get("Action") == "destroy":
            return code if code is not None else c.state.get("ExitCode", 0)
    return None


def remove(api: Api, req: Request) -> None:
    if req.flag("link"):
        raise ApiError(400, "links are not supported by tuiker")
    api.engine.containers.remove(req.args["id"], force=req.flag("force"), volumes=req.flag("v"))


def prune(api: Api, req: Request) -> dict:
    filters = req.filters()
    for key in filters:
        if key not in ("until", "label", "label!"):
            raise ApiError(400, f"invalid filter '{key}'")
    until = [_until(v) for v in filters.get("until", [])]
    containers = api.engine.containers
    deleted, reclaimed = [], 0
    with api.lock:
        for c in containers.list(all=True, filters={"label": filters.get("label", [])}):
            if c.status not in ("exited", "created", "dead"):
                continue
            created = parse_time(c.config.get("Created", "")) or 0
            if any(created >= u for u in until):
                continue
            labels = c.config["Config"].get("Labels") or {}
            if any(_label_matches(labels, spec) for spec in filters.get("label!", [])):
                continue
            written = containers.size(c)[0]
            try:
                containers.remove(c.id)
            except NotFoundError:
                continue
            deleted.append(c.id)
            reclaimed += written
    return {"ContainersDeleted": deleted or None, "SpaceReclaimed": reclaimed}


def _label_matches(labels: dict, spec: str) -> bool:
    key, sep, value = spec.partition("=")
    return key in labels and (not sep or labels[key] == value)


def _until(text: str) -> float:
    """docker's `until`: a Unix time, an RFC 3339 time, or a Go duration back from now (`10m`)."""
    try:
        return float(text)
    except ValueError:
        pass
    try:
        return time.time() - parse_go_duration(text) / 1e9
    except Exception:  # noqa: BLE001 - not a duration: a time stamp, or the 400 below
        pass
    stamp = parse_time(text)
    if not stamp:
        raise ApiError(400, f"invalid filter 'until={text}'")
    return stamp


def rename(api: Api, req: Request) -> None:
    name = req.query("name")
    if not name:
        raise ApiError(400, "a new name is required (?name=)")
    api.engine.containers.rename(req.args["id"], name.removeprefix("/"))


def top(api: Api, req: Request) -> dict:
    ps_args = req.query("ps_args") or ""
    if ps_args not in ("", "-ef"):
        raise ApiError(400, f"ps_args {ps_args!r} is not supported by tuiker: only the default (-ef) columns")
    rows = []
    for p in api.engine.containers.top(req.args["id"]).rows():
        secs = int(p.cpu_time)
        rows.append([p.user, str(p.pid), str(p.ppid), f"{p.cpu_percent:.0f}",
                     time.strftime("%H:%M", time.localtime(p.started)),
                     f"{secs // 3600:02d}:{secs // 60 % 60:02d}:{secs % 60:02d}", p.command])
    return {"Titles": ["UID", "PID", "PPID", "C", "STIME", "TIME", "CMD"], "Processes": rows}


def changes(api: Api, req: Request) -> list[dict]:
    kinds = {"C": 0, "A": 1, "D": 2}
    return [{"Path": path, "Kind": kinds[kind]} for kind, path in api.engine.containers.diff(req.args["id"])]


def resize(api: Api, req: Request) -> None:
    rows, columns = req.integer("h"), req.integer("w")
    if not rows or not columns or rows < 0 or columns < 0:
        raise ApiError(400, "h and w must be positive numbers")
    api.engine.containers.resize(req.args["id"], rows, columns)


_UPDATABLE = {"Memory": "memory", "MemorySwap": "memory_swap", "NanoCpus": "cpus", "CpuShares": "cpu_shares",
              "PidsLimit": "pids_limit", "RestartPolicy": "restart"}


def update(api: Api, req: Request) -> dict:
    """What the engine changes on a live container: memory, swap, CPUs, CPU shares, pids, the restart policy."""
    body = req.json({})
    if not isinstance(body, dict):
        raise ApiError(400, "the update body must be a JSON object")
    for key, value in body.items():
        if key not in _UPDATABLE and not _is_zero(value):
            raise ApiError(400, f"updating {key} is not supported by tuiker")
    changes = {option: body[key] for key, option in _UPDATABLE.items() if not _is_zero(body.get(key))}
    if "cpus" in changes:
        changes["cpus"] = int(changes["cpus"]) / 1e9
    if "restart" in changes:
        policy = changes["restart"]
        count = policy.get("MaximumRetryCount") or 0
        changes["restart"] = f"{policy.get('Name')}:{count}" if count else policy.get("Name") or "no"
    api.engine.containers.update(req.args["id"], **changes)
    return {"Warnings": []}


# -- logs -----------------------------------------------------------------------------------------------------------
def logs(api: Api, req: Request) -> None:
    stdout, stderr = req.flag("stdout"), req.flag("stderr")
    if not stdout and not stderr:
        raise ApiError(400, "Bad parameters: you must choose at least one stream")
    if req.flag("details"):
        raise ApiError(400, "details is not supported by tuiker (the json-file log keeps no log attributes)")
    tail_text = req.query("tail") or "all"
    try:
        tail = None if tail_text == "all" else int(tail_text)
    except ValueError:
        raise ApiError(400, f"invalid value for tail: {tail_text!r}") from None
    if tail is not None and tail < 0:
        tail = None
    since = _stamp(req, "since")
    until = _stamp(req, "until")
    timestamps = req.flag("timestamps")
    containers = api.engine.containers
    c = containers.get(req.args["id"])
    records = containers.logs(c, tail=tail, since=since or None, follow=req.flag("follow"))
    out = req.stream(RAW_STREAM if c.tty else MULTIPLEXED_STREAM)
    for record in records:
        if until and (parse_time(record.time) or 0) > until:
            break
        if record.stream == "stderr" and not stderr or record.stream != "stderr" and not stdout:
            continue
        data = ((record.time + " ") if timestamps else "") + record.text
        payload = data.encode()
        out.write(payload if c.tty else frame(STDERR_FRAME if record.stream == "stderr" else STDOUT_FRAME, payload))
    out.close()


def _stamp(req: Request, name: str) -> float:
    """`since`/`until`: Unix seconds, with an optional fraction (0: not given)."""
    text = req.query(name) or "0"
    try:
        return float(text)
    except ValueError:
        raise ApiError(400, f"invalid value for {name}: {text!r}") from None


# -- stats ----------------------------------------------------------------------------------------------------------
def stats(api: Api, req: Request) -> None:
    """docker's stats documents: one (stream=false) or one a second until the client goes or the container stops.
    CPU % as docker's clients compute it (the change of cpu_usage.total_usage over that of system_cpu_usage,
    times online_cpus) equals the engine's own: the first document's precpu_stats are the container's start, as
    the engine's first sample is its average since then."""
    stream = req.flag("stream", True)
    one_shot = req.flag("one-shot")
    if one_shot and stream:
        raise ApiError(400, "cannot have stream=true and one-shot=true")
    containers = api.engine.containers
    c = containers.get(req.args["id"])
    sampler = containers.stats(c)
    out = req.stream()
    previous = None
    while True:
        doc, previous = _stats_doc(sampler, previous)
        if one_shot:
            doc["precpu_stats"] = {"cpu_usage": {"total_usage": 0}, "throttling_data": {}}
        out.write_json(doc)
        if not stream or previous is None:
            break
        time.sleep(1)
        try:
            sampler.container = sampler.container.reload()
        except NotFoundError:
            break
    out.close()


_ZERO_TIME = "0001-01-01T00:00:00Z"


def _stats_doc(sampler, previous: dict | None) -> tuple[dict, dict | None]:
    c = sampler.container
    base = {"name": "/" + c.name, "id": c.id, "num_procs": 0, "storage_stats": {}}
    s = sampler.sample()
    if s is None:  # docker's zeroed document for a container that does not run
        empty_cpu = {"cpu_usage": {"total_usage": 0}, "throttling_data": {}}
        return {**base, "read": _ZERO_TIME, "preread": _ZERO_TIME, "pids_stats": {}, "blkio_stats": {},
                "cpu_stats": empty_cpu, "precpu_stats": empty_cpu, "memory_stats": {}}, None
    now = time.time()
    online = os.cpu_count() or 1
    system = _system_cpu_usage()
    # percpu_usage is left out, as docker leaves it out on cgroup v2
    cpu = {"cpu_usage": {"total_usage": s.cpu_usage_ns, "usage_in_usermode": s.cpu_user_ns,
                         "usage_in_kernelmode": s.cpu_system_ns},
           "system_cpu_usage": system, "online_cpus": online,
           "throttling_data": {"periods": s.cpu_periods, "throttled_periods": s.cpu_throttled_periods,
                               "throttled_time": s.cpu_throttled_ns}}
    if previous is None:
        started = parse_time(c.state.get("StartedAt", "")) or now
        lifetime_ns = int(max(now - started, 1e-3) * 1e9)
        precpu = {"cpu_usage": {"total_usage": 0, "usage_in_usermode": 0, "usage_in_kernelmode": 0},
                  "system_cpu_usage": max(system - lifetime_ns * online, 0),
                  "online_cpus": online,
                  "throttling_data": {"periods": 0, "throttled_periods": 0, "throttled_time": 0}}
        preread = datetime.fromtimestamp(started, UTC)
    else:
        precpu, preread = previous["cpu"], previous["read"]
    read = datetime.fromtimestamp(now, UTC)
    doc = {
        **base, "read": _rfc3339(read), "preread": _rfc3339(preread),
        "pids_stats": {"current": s.pids, **({"limit": s.pids_limit} if s.pids_limit else {})},
        "blkio_stats": {"io_service_bytes_recursive": [
            {"major": 0, "minor": 0, "op": "read", "value": s.io_read},
            {"major": 0, "minor": 0, "op": "write", "value": s.io_write}]},
        "cpu_stats": cpu, "precpu_stats": precpu,
        # usage is already without the inactive page cache: `stats` stays empty so clients subtract nothing
        "memory_stats": {"usage": s.memory, "limit": s.memory_limit, "stats": {},
                         **({"failcnt": s.oom_kills} if s.oom_kills else {})},
    }
    if c.config["HostConfig"].get("NetworkMode") not in ("host", "none"):
        doc["networks"] = {"eth0": {
            "rx_bytes": s.net_rx, "rx_packets": s.net_rx_packets, "rx_errors": s.net_rx_errors,
            "rx_dropped": s.net_rx_dropped, "tx_bytes": s.net_tx, "tx_packets": s.net_tx_packets,
            "tx_errors": s.net_tx_errors, "tx_dropped": s.net_tx_dropped}}
    return doc, {"cpu": cpu, "read": read}


def _rfc3339(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _system_cpu_usage() -> int:
    """The host's CPU time (every state, every CPU) in nanoseconds, from /proc/stat's first line, as dockerd."""
    with open("/proc/stat") as f:
        fields = f.readline().split()[1:8]
    return sum(int(v) for v in fields) * 1_000_000_000 // os.sysconf("SC_CLK_TCK")


# -- files ----------------------------------------------------------------------------------------------------------
class _TarAnswer:
    """A chunked application/x-tar answer as the binary file the engine writes a tar to: its headers (with any
    extra ones) go out at the first write, so an error before the first byte still gets its own status."""

    def __init__(self, req: Request, headers: dict[str, str] | None = None) -> None:
        self._req = req
        self._headers = headers or {}
        self._out: ChunkedWriter | None = None

    def _start(self) -> ChunkedWriter:
        if self._out is None:
            h = self._req._handler  # noqa: SLF001 - req.stream() takes no extra headers
            h.send_response(200)
            h.common_headers()
            h.send_header("Content-Type", "application/x-tar")
            h.send_header("Transfer-Encoding", "chunked")
            for key, value in self._headers.items():
                h.send_header(key, value)
            h.end_headers()
            self._req.responded = True
            self._out = ChunkedWriter(h.wfile)
        return self._out

    def write(self, data: bytes) -> int:
        self._start().write(bytes(data))
        return len(data)

    def flush(self) -> None:
        pass

    def close(self) -> None:
        self._start().close()


def archive_get(api: Api, req: Request) -> None:
    """A tar of `path` in the container; its stat in X-Docker-Container-Path-Stat (all a HEAD gets)."""
    path = req.query("path")
    if not path:
        raise ApiError(400, "path is required (?path=)")
    found = api.engine.containers.stat_path(req.args["id"], path)
    headers = {"X-Docker-Container-Path-Stat": base64.b64encode(json.dumps(found).encode()).decode()}
    if req.method == "HEAD":
        req.respond(200, b"", "application/x-tar", headers)
        return
    out = _TarAnswer(req, headers)
    api.engine.containers.copy_from(req.args["id"], path, "-", archive=True, stdout=out)
    out.close()


def archive_put(api: Api, req: Request) -> None:
    path = req.query("path")
    if not path:
        raise ApiError(400, "path is required (?path=)")
    containers = api.engine.containers
    found = containers.stat_path(req.args["id"], path)
    if not found["mode"] & (1 << 31):
        raise ApiError(400, "extraction point is not a directory")
    containers.copy_to(req.args["id"], "-", path, archive=True, stdin=req.body_stream())
    req.respond(200, b"", "text/plain")


def export(api: Api, req: Request) -> None:
    containers = api.engine.containers
    c = containers.get(req.args["id"])
    out = _TarAnswer(req)
    containers.export(c.id, out)
    out.close()


ROUTES = [
    ("GET", "/containers/json", list_containers),
    ("POST", "/containers/create", create),
    ("POST", "/containers/prune", prune),
    ("GET", "/containers/{id}/json", inspect),
    ("POST", "/containers/{id}/start", start),
    ("POST", "/containers/{id}/stop", stop),
    ("POST", "/containers/{id}/restart", restart),
    ("POST", "/containers/{id}/kill", kill),
    ("POST", "/containers/{id}/pause", pause),
    ("POST", "/containers/{id}/unpause", unpause),
    ("POST", "/containers/{id}/wait", wait),
    ("DELETE", "/containers/{id}", remove),
    ("POST", "/containers/{id}/rename", rename),
    ("GET", "/containers/{id}/top", top),
    ("GET", "/containers/{id}/logs", logs),
    ("GET", "/containers/{id}/stats", stats),
    ("GET", "/containers/{id}/changes", changes),
    ("GET", "/containers/{id}/archive", archive_get),
    ("PUT", "/containers/{id}/archive", archive_put),
    ("GET", "/containers/{id}/export", export),
    ("POST", "/containers/{id}/resize", resize),
    ("POST", "/containers/{id}/update", update),
]
