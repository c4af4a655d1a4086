"""The container commands of the CLI: run, create, start, ps, exec, logs, stop, rm ... (docker's flags)."""

from __future__ import annotations

import json
import os
import sys
import time

from tuiker.base.errors import TuikerError, one_line

# docker's exit status when the engine itself fails rather than the container.
EXIT_ENGINE = 125


def _engine():
    from tuiker.engine import Engine

    return Engine()


def _options(args):
    from tuiker.engine import RunOptions
    from tuiker.runtime.containers import parse_size

    env = list(args.env or [])
    for path in args.env_file or []:
        try:
            with open(path) as f:
                env += [line.rstrip("\n") for line in f if line.strip() and not line.startswith("#")]
        except OSError as e:
            raise TuikerError(f"cannot read env file {path}: {e.strerror}") from e
    try:
        cpus = float(args.cpus) if args.cpus is not None else None
    except ValueError:
        raise TuikerError(f"invalid argument {args.cpus!r} for --cpus: expected a number like 1.5") from None
    memory = parse_size(args.memory, "--memory") if args.memory else None
    swap = None
    if args.memory_swap:
        swap = -1 if args.memory_swap == "-1" else parse_size(args.memory_swap, "--memory-swap")
    return RunOptions(
        image=args.image, command=args.command or None, name=args.name, env=env, workdir=args.workdir,
        user=args.user, entrypoint=[args.entrypoint] if args.entrypoint is not None else None,
        hostname=args.hostname, tty=args.tty, interactive=args.interactive, cpus=cpus, memory=memory,
        memory_swap=swap, pids_limit=args.pids_limit, cpu_shares=args.cpu_shares, restart=args.restart,
        auto_remove=getattr(args, "rm", False), privileged=args.privileged, read_only=args.read_only,
        cap_add=args.cap_add, cap_drop=args.cap_drop, security_opt=args.security_opt, network=args.network,
        ports=args.publish, publish_all=args.publish_all, network_aliases=args.network_alias, expose=args.expose,
        platform=args.platform, init=args.init)


def _pull_progress():
    from tuiker.cli.main import PullPrinter

    return PullPrinter(sys.stderr)


def cmd_create(args) -> int:
    c = _engine().create(_options(args), _pull_progress())
    print(c.id)
    return 0


def cmd_run(args) -> int:
    from tuiker.cli.stream import Detached, pump, terminal_size
    from tuiker.engine import ContainerStartError

    engine = _engine()
    c = engine.create(_options(args), _pull_progress())
    if args.detach:
        try:
            engine.start(c.id)
        except ContainerStartError as e:
            print(f"Error: {one_line(e)}", file=sys.stderr)
            if args.rm:
                engine.remove(c.id, force=True)
            return e.code
        print(c.id)
        return 0
    try:
        sock = engine.start(c.id, attach=True, size=terminal_size() if args.tty else None)
    except ContainerStartError as e:
        print(f"Error: {one_line(e)}", file=sys.stderr)
        if args.rm:
            engine.remove(c.id, force=True)
        return e.code
    try:
        code = pump(sock, args.interactive, args.tty)
    except Detached:
        print(f"\r\nread escape sequence (detached from {c.name})", file=sys.stderr)
        return 0
    except KeyboardInterrupt:
        # Without -t, Ctrl-C reaches us, not the container: pass it on as docker's --sig-proxy does.
        engine.kill(c.id, "SIGINT")
        code = engine.wait(c.id)
    if args.rm:
        _wait_removed(engine, c.id)
    return code


def _wait_removed(engine, cid: str) -> None:
    """The monitor removes --rm containers once they exit; wait for that so the caller sees it gone."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            engine.container(cid)
        except TuikerError:
            return
        time.sleep(0.005)


def cmd_start(args) -> int:
    from tuiker.cli.stream import Detached, pump, terminal_size

    engine = _engine()
    status = 0
    for ref in args.containers:
        c = engine.container(ref)
        if args.attach:
            sock = engine.start(ref, attach=True, size=terminal_size() if c.tty else None)
            try:
                return pump(sock, args.interactive, c.tty)
            except Detached:
                return 0
        engine.start(ref)
        print(ref)
    return status


def _each(args, action, refs) -> int:
    status = 0
    for ref in refs:
        try:
            action(ref)
            print(ref)
        except TuikerError as e:
            print(f"Error: {one_line(e)}", file=sys.stderr)
            status = 1
    return status


def cmd_stop(args) -> int:
    engine = _engine()
    return _each(args, lambda ref: engine.stop(ref, args.time), args.containers)


def cmd_restart(args) -> int:
    engine = _engine()
    return _each(args, lambda ref: engine.restart(ref, args.time), args.containers)


def cmd_kill(args) -> int:
    engine = _engine()
    return _each(args, lambda ref: engine.kill(ref, args.signal), args.containers)


def cmd_pause(args) -> int:
    engine = _engine()
    return _each(args, engine.pause, args.containers)


def cmd_unpause(args) -> int:
    engine = _engine()
    return _each(args, engine.unpause, args.containers)


def cmd_rm(args) -> int:
    from tuiker.base.errors import NotFoundError

    engine = _engine()
    status = 0
    for ref in args.containers:
        try:
            engine.remove(ref, force=args.force)
            print(ref)
        except NotFoundError as e:
            if not args.force:  # docker: `rm -f` of a container that is not there is no error, and says nothing
                print(f"Error: {one_line(e)}", file=sys.stderr)
                status = 1
        except TuikerError as e:
            print(f"Error: {one_line(e)}", file=sys.stderr)
            status = 1
    return status


def cmd_rename(args) -> int:
    _engine().rename(args.container, args.new_name)
    return 0


def cmd_wait(args) -> int:
    engine = _engine()
    for ref in args.containers:
        print(engine.wait(ref))
    return 0


def cmd_container_prune(args) -> int:
    if not args.force:
        answer = input("WARNING! This will remove all stopped containers.\nAre you sure you want to continue? [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            return 0
    gone = _engine().prune_containers()
    if gone:
        print("Deleted Containers:\n" + "\n".join(gone) + "\n")
    print("Total reclaimed space: 0B")
    return 0


def status_text(c, now: float | None = None) -> str:
    from tuiker.fmt import human_duration, parse_time

    now = now or time.time()
    s = c.state
    if c.status in ("running", "paused"):
        up = human_duration(now - (parse_time(s.get("StartedAt", "")) or now))
        return f"Up {up}" + (" (Paused)" if c.status == "paused" else "")
    if c.status in ("restarting", "exited"):
        since = human_duration(now - (parse_time(s.get("FinishedAt", "")) or now))
        return f"{c.status.capitalize()} ({s.get('ExitCode', 0)}) {since} ago"
    return c.status.capitalize()


def cmd_ps(args) -> int:
    from tuiker.cli.main import print_list

    engine = _engine()
    found = engine.list_containers(all_states=args.all or bool(args.filter))
    for f in args.filter or []:
        key, _, value = f.partition("=")
        if key == "status":
            found = [c for c in found if c.status == value]
        elif key == "name":
            found = [c for c in found if value in c.name]
        elif key == "ancestor":
            found = [c for c in found if _is_ancestor(engine, c, value)]
        elif key == "id":
            found = [c for c in found if c.id.startswith(value)]
        else:
            raise TuikerError(f"invalid filter {f!r}: use status=, name=, ancestor= or id=")
    if args.last:
        found = found[:args.last]
    if args.quiet:
        for c in found:
            print(c.id if args.no_trunc else c.short_id)
        return 0
    rows = [_ps_context(engine, c, trunc=not args.no_trunc) for c in found]
    return print_list(args.format, ["ID", "Image", "Command", "RunningFor", "Status", "Ports", "Names"], PS_HEADER,
                      "*formatter.ContainerContext", rows)


PS_HEADER = {"ID": "CONTAINER ID", "Names": "NAMES", "Image": "IMAGE", "Command": "COMMAND",
             "CreatedAt": "CREATED AT", "RunningFor": "CREATED", "Ports": "PORTS", "State": "STATE",
             "Status": "STATUS", "Size": "SIZE", "Labels": "LABELS", "Mounts": "MOUNTS",
             "LocalVolumes": "LOCAL VOLUMES", "Networks": "NETWORKS"}


def _ps_context(engine, c, trunc: bool) -> dict:
    """A container as docker's ps templates see it (formatter.ContainerContext): the values of the
    default columns, and functions for the rest (computed only if the template asks for them)."""
    from tuiker.fmt import ago, ellipsis, go_quote, go_time, parse_time
    from tuiker.image import reference

    image = c.config["Image"]
    if trunc:
        try:
            image = reference.familiar(str(reference.parse(image)))
        except TuikerError:
            pass
    command = " ".join(c.command)
    created = parse_time(c.config["Created"]) or 0
    labels = c.config["Config"].get("Labels") or {}
    return {
        "ID": c.short_id if trunc else c.id,
        "Names": c.name,
        "Image": image,
        # strconv.Quote, as docker: "sleep 300", and inner quotes escaped.
        "Command": go_quote(ellipsis(command, 20) if trunc else command),
        "CreatedAt": lambda: go_time(created),
        "RunningFor": ago(created),
        "Ports": _ports_text(c),
        "State": c.status,
        "Status": status_text(c),
        "Size": lambda: _container_size(engine, c),
        "Labels": lambda: ",".join(sorted(f"{k}={v}" for k, v in labels.items())),
        "Label": lambda name: labels.get(name, ""),
        "Mounts": "",
        "LocalVolumes": "0",
        "Networks": lambda: ",".join(_network_names(c)),
    }


def _network_names(c) -> list[str]:
    mode = c.config["HostConfig"].get("NetworkMode", "none")
    configured = list((c.config.get("NetworkingConfig") or {}).get("EndpointsConfig") or {})
    return ([mode] if mode not in configured else []) + configured


def _container_size(engine, c) -> str:
    """docker's SIZE: what the container wrote (its overlay upper dir), and that plus its image."""
    import stat

    from tuiker.fmt import human_size

    written = 0
    seen = set()
    for dirpath, dirnames, filenames in os.walk(c.dir / "upper"):
        for name in dirnames + filenames:
            st = os.lstat(os.path.join(dirpath, name))
            if not stat.S_ISDIR(st.st_mode) and (st.st_dev, st.st_ino) not in seen:  # a hard link counts once
                seen.add((st.st_dev, st.st_ino))
                written += st.st_size
    try:
        image = engine.image(c.config["ImageID"]).size
    except TuikerError:
        image = 0
    return f"{human_size(written)} (virtual {human_size(written + image)})"


def _ports_text(c) -> str:
    """docker's PORTS: what a running container publishes or exposes; nothing once it has stopped."""
    from tuiker.engine.networks import NetworkEngine
    from tuiker.net.ports import describe

    if c.status not in ("running", "paused"):
        return ""
    return describe(NetworkEngine.container_ports(c), list(c.config["Config"].get("ExposedPorts") or {}))


def _is_ancestor(engine, c, value: str) -> bool:
    try:
        return engine.image(value).id == c.config["ImageID"]
    except TuikerError:
        return False


def cmd_inspect(args) -> int:
    """Containers first, then images, as `docker inspect` does; `--type` (or `image inspect`,
    `container inspect`) looks at one kind only and then says why that lookup failed."""
    from tuiker.cli.main import InspectPrinter

    printer = InspectPrinter(args.format)
    if printer.status:
        return printer.status
    engine = _engine()
    lookups = {"container": [engine.inspect_container], "image": [engine.inspect_image]}.get(
        args.type, [engine.inspect_container, engine.inspect_image])
    found, status = [], 0
    for ref in args.names:
        error = f"No such object: {ref}"
        for lookup in lookups:
            try:
                found.append(lookup(ref))
                break
            except TuikerError as e:
                if len(lookups) == 1:
                    error = str(e)
        else:
            print(f"Error: {error}", file=sys.stderr)
            status = 1
    return printer.print(found) or status


def cmd_logs(args) -> int:
    from tuiker.fmt import parse_time

    engine = _engine()
    c = engine.container(args.container)
    path = c.dir / "log.json"
    since = _since(args.since) if args.since else None
    records = _read_log(path)
    if args.tail not in (None, "all"):
        records = records[-int(args.tail):] if int(args.tail) else []
    offset = path.stat().st_size if path.exists() else 0

    def show(record: dict) -> None:
        if since is not None and (parse_time(record["time"]) or 0) < since:
            return
        out = sys.stdout if record.get("stream") != "stderr" else sys.stderr
        out.write((record["time"] + " " if args.timestamps else "") + record["log"])

    for record in records:
        show(record)
    sys.stdout.flush()
    while args.follow:
        time.sleep(0.1)
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            break
        if size < offset:
            offset = 0  # rotated
        if size > offset:
            with open(path, "rb") as f:
                f.seek(offset)
                chunk = f.read()
            complete = chunk[:chunk.rfind(b"\n") + 1]
            offset += len(complete)
            for record in _records(complete.splitlines()):
                show(record)
            sys.stdout.flush()
            sys.stderr.flush()
        elif c.reload().status not in ("running", "paused", "restarting"):
            break
    return 0


def _since(text: str) -> float:
    from tuiker.fmt import parse_time

    units = {"s": 1, "m": 60, "h": 3600}
    if text[-1:] in units and text[:-1].replace(".", "", 1).isdigit():
        return time.time() - float(text[:-1]) * units[text[-1]]
    stamp = parse_time(text)
    if stamp is None:
        raise TuikerError(f"invalid --since value {text!r}: use a duration like 10m or an RFC 3339 time")
    return stamp


def _records(lines) -> list[dict]:
    """The json-file records among `lines`; a line torn by a full disk or a crash is skipped, not fatal."""
    records = []
    for line in lines:
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict):
            records.append(record)
    return records


def _read_log(path) -> list[dict]:
    records = []
    for p in (path.with_name(path.name + ".1"), path):
        try:
            with open(p, "rb") as f:
                records += _records(line for line in f if line.endswith(b"\n"))
        except FileNotFoundError:
            continue
    return records


def cmd_exec(args) -> int:
    from tuiker.cli.stream import Detached, pump, terminal_size
    from tuiker.engine import ContainerStartError

    engine = _engine()
    try:
        sock = engine.exec(args.container, args.command, tty=args.tty, interactive=args.interactive,
                           detach=args.detach, env=args.env, workdir=args.workdir, user=args.user,
                           size=terminal_size() if args.tty else None)
    except ContainerStartError as e:
        print(f"Error: {one_line(e)}", file=sys.stderr)
        return e.code
    if args.detach:
        return 0
    try:
        return pump(sock, args.interactive, args.tty)
    except Detached:
        return 0


def cmd_attach(args) -> int:
    from tuiker.cli.stream import Detached, pump, terminal_size

    engine = _engine()
    c = engine.container(args.container)
    sock = engine.attach(args.container, size=terminal_size() if c.tty else None)
    try:
        return pump(sock, not args.no_stdin, c.tty)
    except Detached:
        return 0


def cmd_top(args) -> int:
    import psutil

    from tuiker.cli.main import _table
    from tuiker.runtime import cgroups

    engine = _engine()
    c = engine.container(args.container)
    if c.status not in ("running", "paused"):
        raise TuikerError(f"container {c.short_id} is not running")
    rows = []
    for pid in sorted(cgroups.driver(f"tuiker/{c.id}").pids()):
        try:
            p = psutil.Process(pid)
            with p.oneshot():
                t = p.cpu_times()
                secs = int(t.user + t.system)
                rows.append([p.username(), str(pid), str(p.ppid()), f"{p.cpu_percent():.0f}",
                             time.strftime("%H:%M", time.localtime(p.create_time())),
                             f"{secs // 3600:02d}:{secs // 60 % 60:02d}:{secs % 60:02d}",
                             " ".join(p.cmdline()) or f"[{p.name()}]"])
        except psutil.Error:
            continue
    _table(["UID", "PID", "PPID", "C", "STIME", "TIME", "CMD"], rows, minwidth=20)
    return 0


def cmd_stats(args) -> int:
    from tuiker.cli.main import print_list

    engine = _engine()
    targets = [engine.container(r) for r in args.containers] if args.containers else engine.list_containers()
    names = args.containers or [c.id for c in targets]  # docker's .Container: what was asked for
    while True:
        rows = [_stats_context(engine, c, name, not args.no_trunc) for c, name in zip(targets, names, strict=True)]
        if not args.no_stream:
            sys.stdout.write("\x1b[2J\x1b[H")
        status = print_list(args.format, ["ID", "Name", "CPUPerc", "MemUsage", "MemPerc", "NetIO", "BlockIO", "PIDs"],
                            STATS_HEADER, "*container.statsContext", rows)
        if args.no_stream or status:
            return status
        sys.stdout.flush()
        time.sleep(1)
        targets = [t.reload() for t in targets]


STATS_HEADER = {"Container": "CONTAINER", "Name": "NAME", "ID": "CONTAINER ID", "CPUPerc": "CPU %",
                "MemUsage": "MEM USAGE / LIMIT", "MemPerc": "MEM %", "NetIO": "NET I/O", "BlockIO": "BLOCK I/O",
                "PIDs": "PIDS"}


def _stats_context(engine, c, container: str, trunc: bool) -> dict:
    """One sample of a container as docker's stats templates see it (container.statsContext): memory in
    binary units (go-units BytesSize), I/O in decimal ones (HumanSizeWithPrecision 3)."""
    from tuiker.fmt import bytes_size, human_size, parse_time
    from tuiker.runtime import cgroups

    row = {"Container": container, "Name": c.name or "--", "ID": c.short_id if trunc else c.id}
    if c.status not in ("running", "paused"):
        # docker's zeroed sample for a container that does not run.
        return {**row, "CPUPerc": "0.00%", "MemUsage": "0B / 0B", "MemPerc": "0.00%", "NetIO": "0B / 0B",
                "BlockIO": "0B / 0B", "PIDs": "0"}
    st = cgroups.driver(f"tuiker/{c.id}").stats()
    # Average over the container's life, as podman's first sample: one read, no second sample.
    now = time.time()
    started = parse_time(c.state.get("StartedAt", "")) or now
    cpu = st.cpu_usage_ns / 1e9 / max(now - started, 1e-3) * 100
    mem_pct = st.memory_usage / st.memory_limit * 100 if st.memory_limit else 0
    net_io = engine.net_io(c) or (0, 0)
    return {**row, "CPUPerc": f"{cpu:.2f}%",
            "MemUsage": f"{bytes_size(st.memory_usage)} / {bytes_size(st.memory_limit)}", "MemPerc": f"{mem_pct:.2f}%",
            "NetIO": f"{human_size(net_io[0])} / {human_size(net_io[1])}",
            "BlockIO": f"{human_size(st.io_read_bytes)} / {human_size(st.io_write_bytes)}",
            "PIDs": str(st.pids_current)}


def _cmd_port(args) -> int:
    from tuiker.cli.networks import cmd_port

    return cmd_port(args)


def cmd_diff(args) -> int:
    """What the container changed against its image, from its overlay upper dir: A added, C changed,
    D deleted (a whiteout). A path that exists in a lower layer is a change, else an addition. The mount
    points the engine made there (/proc, /etc/hosts ...) are left out, as docker's init layer hides them."""
    import stat as st

    from tuiker.runtime.spawn import ENGINE_PATHS

    engine = _engine()
    c = engine.container(args.container)
    upper = c.dir / "upper"
    lowers = [engine.root / "layers" / d / "diff" for d in c.config["Layers"]]
    changes = []
    for dirpath, dirnames, filenames in os.walk(upper):
        for name in sorted(dirnames + filenames):
            full = os.path.join(dirpath, name)
            rel = "/" + os.path.relpath(full, upper)
            if rel in ENGINE_PATHS:
                continue
            mode = os.lstat(full)
            if st.S_ISCHR(mode.st_mode) and mode.st_rdev == 0:
                changes.append(("D", rel, False))
            elif any(os.path.lexists(str(lower) + rel) for lower in lowers):
                changes.append(("C", rel, st.S_ISDIR(mode.st_mode)))
            else:
                changes.append(("A", rel, st.S_ISDIR(mode.st_mode)))
    for kind, rel, is_dir in changes:
        # A directory copied up or made only to hold an engine mount point (/etc for /etc/hosts, /sbin for
        # --init's docker-init) is no change.
        if is_dir and not any(other.startswith(rel + "/") for _, other, _ in changes) and any(
                p.startswith(rel + "/") for p in ENGINE_PATHS):
            continue
        print(f"{kind} {rel}")
    return 0


def add_parsers(sub) -> None:
    def run_flags(p) -> None:
        p.add_argument("-i", "--interactive", action="store_true", help="Keep STDIN open even if not attached")
        p.add_argument("-t", "--tty", action="store_true", help="Allocate a pseudo-TTY")
        p.add_argument("--name", help="Assign a name to the container")
        p.add_argument("-e", "--env", action="append", help="Set environment variables")
        p.add_argument("--env-file", action="append", help="Read in a file of environment variables")
        p.add_argument("-w", "--workdir", help="Working directory inside the container")
        p.add_argument("-u", "--user", help="Username or UID (format: <name|uid>[:<group|gid>])")
        p.add_argument("--entrypoint", help="Overwrite the default ENTRYPOINT of the image")
        p.add_argument("-h", "--hostname", help="Container host name")
        p.add_argument("--cpus", help="Number of CPUs")
        p.add_argument("-m", "--memory", help="Memory limit")
        p.add_argument("--memory-swap", help="Swap limit equal to memory plus swap: '-1' to enable unlimited swap")
        p.add_argument("--pids-limit", type=int, help="Tune container pids limit (set -1 for unlimited)")
        p.add_argument("--cpu-shares", type=int, help="CPU shares (relative weight)")
        p.add_argument("--restart", default="no", help="Restart policy to apply when a container exits")
        p.add_argument("--init", action="store_true", help="Run an init inside the container")
        p.add_argument("--privileged", action="store_true", help="Give extended privileges to this container")
        p.add_argument("--read-only", action="store_true", help="Mount the container's root filesystem as read only")
        p.add_argument("--cap-add", action="append", help="Add Linux capabilities")
        p.add_argument("--cap-drop", action="append", help="Drop Linux capabilities")
        p.add_argument("--security-opt", action="append", help="Security Options")
        p.add_argument("--network", "--net", default="bridge",
                       help="Connect a container to a network: bridge (default), none, host or a network's name")
        p.add_argument("--network-alias", action="append", help="Add a network-scoped alias for the container")
        p.add_argument("-p", "--publish", action="append",
                       help="Publish a container's port(s) to the host: [IP:][HOSTPORT:]CONTAINERPORT[/tcp|/udp]")
        p.add_argument("-P", "--publish-all", action="store_true", help="Publish all exposed ports to random ports")
        p.add_argument("--expose", action="append", help="Expose a port or a range of ports")
        p.add_argument("--platform", help="Set platform if server is multi-platform capable")
        p.add_argument("image", metavar="IMAGE")
        p.add_argument("command", nargs="...", metavar="COMMAND")

    p = sub.add_parser("run", help="Create and run a new container from an image", add_help=False)
    p.add_argument("--help", action="help")
    p.add_argument("-d", "--detach", action="store_true", help="Run container in background and print container ID")
    p.add_argument("--rm", action="store_true", help="Automatically remove the container when it exits")
    run_flags(p)
    p.set_defaults(func=cmd_run, engine_error_status=EXIT_ENGINE)
    p = sub.add_parser("create", help="Create a new container", add_help=False)
    p.add_argument("--help", action="help")
    p.add_argument("--rm", action="store_true", help="Automatically remove the container when it exits")
    run_flags(p)
    p.set_defaults(func=cmd_create, engine_error_status=EXIT_ENGINE)

    def simple(name, func, help_text, extra=None, one=False):
        p = sub.add_parser(name, help=help_text)
        if one:
            p.add_argument("container", metavar="CONTAINER")
        else:
            p.add_argument("containers", nargs="+", metavar="CONTAINER")
        if extra:
            extra(p)
        p.set_defaults(func=func)
        return p

    simple("start", cmd_start, "Start one or more stopped containers", lambda p: (
        p.add_argument("-a", "--attach", action="store_true", help="Attach STDOUT/STDERR and forward signals"),
        p.add_argument("-i", "--interactive", action="store_true", help="Attach container's STDIN")))
    simple("stop", cmd_stop, "Stop one or more running containers", lambda p: p.add_argument(
        "-t", "--time", type=float, help="Seconds to wait before killing the container (default 10)"))
    simple("restart", cmd_restart, "Restart one or more containers", lambda p: p.add_argument(
        "-t", "--time", type=float, help="Seconds to wait before killing the container (default 10)"))
    simple("kill", cmd_kill, "Kill one or more running containers", lambda p: p.add_argument(
        "-s", "--signal", default="SIGKILL", help="Signal to send to the container"))
    simple("pause", cmd_pause, "Pause all processes within one or more containers")
    simple("unpause", cmd_unpause, "Unpause all processes within one or more containers")
    simple("rm", cmd_rm, "Remove one or more containers", lambda p: p.add_argument(
        "-f", "--force", action="store_true", help="Force the removal of a running container (uses SIGKILL)"))
    simple("wait", cmd_wait, "Block until one or more containers stop, then print their exit codes")
    simple("top", cmd_top, "Display the running processes of a container", one=True)
    p = simple("port", _cmd_port, "List port mappings or a specific mapping for the container", one=True)
    p.add_argument("private_port", nargs="?", metavar="PRIVATE_PORT[/PROTO]")
    simple("diff", cmd_diff, "Inspect changes to files on a container's filesystem", one=True)
    simple("attach", cmd_attach, "Attach to a running container", lambda p: p.add_argument(
        "--no-stdin", action="store_true", help="Do not attach STDIN"), one=True)
    p = simple("rename", cmd_rename, "Rename a container", one=True)
    p.add_argument("new_name", metavar="NEW_NAME")
    p = sub.add_parser("logs", help="Fetch the logs of a container")
    p.add_argument("container", metavar="CONTAINER")
    p.add_argument("-f", "--follow", action="store_true", help="Follow log output")
    p.add_argument("-n", "--tail", help="Number of lines to show from the end of the logs")
    p.add_argument("-t", "--timestamps", action="store_true", help="Show timestamps")
    p.add_argument("--since", help="Show logs since timestamp or relative (e.g. 42m)")
    p.set_defaults(func=cmd_logs)
    p = sub.add_parser("exec", help="Execute a command in a running container")
    p.add_argument("-i", "--interactive", action="store_true")
    p.add_argument("-t", "--tty", action="store_true")
    p.add_argument("-d", "--detach", action="store_true")
    p.add_argument("-e", "--env", action="append")
    p.add_argument("-w", "--workdir")
    p.add_argument("-u", "--user")
    p.add_argument("container", metavar="CONTAINER")
    p.add_argument("command", nargs="...", metavar="COMMAND")
    p.set_defaults(func=cmd_exec)
    p = sub.add_parser("ps", help="List containers")
    p.add_argument("-a", "--all", action="store_true", help="Show all containers (default shows just running)")
    p.add_argument("-q", "--quiet", action="store_true", help="Only display container IDs")
    p.add_argument("-n", "--last", type=int, help="Show n last created containers")
    p.add_argument("--filter", "-f", action="append", help="Filter output based on conditions provided")
    p.add_argument("--format", help="Format output using a Go template: 'table', 'table TEMPLATE', 'json' or TEMPLATE")
    p.add_argument("--no-trunc", action="store_true", help="Don't truncate output")
    p.set_defaults(func=cmd_ps)
    p = sub.add_parser("stats", help="Display a live stream of container(s) resource usage statistics")
    p.add_argument("containers", nargs="*", metavar="CONTAINER")
    p.add_argument("--no-stream", action="store_true", help="Disable streaming stats and only pull the first result")
    p.add_argument("--format", help="Format output using a Go template: 'table', 'table TEMPLATE', 'json' or TEMPLATE")
    p.add_argument("--no-trunc", action="store_true", help="Do not truncate output")
    p.set_defaults(func=cmd_stats)


def add_container_group(sub) -> None:
    """`tuiker container ls|rm|inspect|prune ...` as aliases of the top-level verbs."""
    group = sub.add_parser("container", help="Manage containers")
    inner = sub.add_subparsers_of(group, dest="container_command", metavar="COMMAND", required=True)
    add_parsers(inner)
    p = inner.add_parser("prune", help="Remove all stopped containers")
    p.add_argument("-f", "--force", action="store_true", help="Do not prompt for confirmation")
    p.set_defaults(func=cmd_container_prune)
    p = inner.add_parser("ls", aliases=["list"], help="List containers")
    p.add_argument("-a", "--all", action="store_true")
    p.add_argument("-q", "--quiet", action="store_true")
    p.add_argument("-n", "--last", type=int)
    p.add_argument("--filter", "-f", action="append")
    p.add_argument("--format")
    p.add_argument("--no-trunc", action="store_true")
    p.set_defaults(func=cmd_ps)
    p = inner.add_parser("inspect", help="Display detailed information on one or more containers")
    p.add_argument("names", nargs="+", metavar="CONTAINER")
    p.add_argument("-f", "--format")
    p.set_defaults(func=cmd_inspect, type="container")
