"""The container commands of the CLI: run, create, start, ps, exec, logs, stop, rm, port ... (docker's flags)."""

from __future__ import annotations

import sys
import time

from tuiker.cli.output import (
    InspectPrinter,
    PullPrinter,
    add_bool_flag,
    confirm,
    each,
    engine,
    error,
    inspect_each,
    print_list,
    table,
)
from tuiker.engine import ContainerStartError, TuikerError, familiar_name, ports_text, status_text

# docker's exit status when the engine itself fails rather than the container.
EXIT_ENGINE = 125


def _options(args):
    from tuiker.engine import RunOptions, parse_size

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
        platform=args.platform, init=args.init, volumes=args.volume, mounts=args.mount, tmpfs=args.tmpfs,
        volumes_from=args.volumes_from, healthcheck=_healthcheck(args), no_healthcheck=args.no_healthcheck,
        add_hosts=args.add_host, dns=args.dns, stop_signal=args.stop_signal,
        labels=_labels(args.label_file, args.label) or None)


def _healthcheck(args) -> dict | None:
    """docker's --health-* flags as a HealthConfig (durations in nanoseconds), checked as docker's CLI checks
    them; None when none was given (the image's HEALTHCHECK, if any, then applies as it is)."""
    from tuiker.cli.output import UsageError
    from tuiker.engine import parse_go_duration

    durations = {}
    for key, flag in (("Interval", "--health-interval"), ("Timeout", "--health-timeout"),
                      ("StartPeriod", "--health-start-period")):
        text = getattr(args, flag[2:].replace("-", "_"))
        try:
            durations[key] = parse_go_duration(text) if text is not None else 0
        except ValueError as e:
            raise UsageError(f'invalid argument "{text}" for "{flag}" flag: {e}', args.prog) from None
    retries = args.health_retries or 0
    if not (args.health_cmd or retries or any(durations.values())):
        return None
    if args.no_healthcheck:
        raise TuikerError("--no-healthcheck conflicts with --health-* options")
    for key, flag in (("Interval", "--health-interval"), ("Timeout", "--health-timeout")):
        if durations[key] < 0:
            raise TuikerError(f"{flag} cannot be negative")
    if retries < 0:
        raise TuikerError("--health-retries cannot be negative")
    if durations["StartPeriod"] < 0:
        raise TuikerError("--health-start-period cannot be negative")
    test = ["CMD-SHELL", args.health_cmd] if args.health_cmd else []
    return {"Test": test, **durations, "Retries": retries}


def _labels(files: list[str] | None, labels: list[str] | None) -> dict[str, str]:
    """docker's --label-file lines (blank ones and `#` comments skipped), then --label on top; `k` alone is `k=`."""
    items = []
    for path in files or []:
        try:
            with open(path) as f:
                items += [line.strip() for line in f if line.strip() and not line.lstrip().startswith("#")]
        except OSError as e:
            raise TuikerError(f"open {path}: {e.strerror.lower()}") from e
    return dict(item.partition("=")[::2] for item in items + list(labels or []))


def cmd_create(args) -> int:
    c = engine().containers.create(_options(args), PullPrinter(sys.stderr))
    print(c.id)
    return 0


def cmd_run(args) -> int:
    from tuiker.cli.stream import Detached, pump, terminal_size

    containers = engine().containers
    c = containers.create(_options(args), PullPrinter(sys.stderr))
    try:
        if args.detach:
            containers.start(c.id)
        else:
            session = containers.start_attached(c.id, size=terminal_size() if args.tty else None)
    except ContainerStartError as e:
        error(e)
        if args.rm:
            containers.remove(c.id, force=True)
        return e.code
    if args.detach:
        print(c.id)
        return 0
    try:
        code = pump(session, args.interactive, args.tty)
    except Detached:
        print(f"\r\nread escape sequence (detached from {c.name})", file=sys.stderr)
        return 0
    except KeyboardInterrupt:
        # Without -t, Ctrl-C reaches us, not the container: pass it on as docker's --sig-proxy does.
        containers.kill(c.id, "SIGINT")
        code = containers.wait(c.id)
    if args.rm:
        _wait_removed(containers, c.id)
    return code


def _wait_removed(containers, cid: str) -> None:
    """The monitor removes --rm containers once they exit; wait for that so the caller sees it gone."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            containers.get(cid)
        except TuikerError:
            return
        time.sleep(0.005)


def cmd_start(args) -> int:
    from tuiker.cli.stream import Detached, pump, terminal_size

    containers = engine().containers
    for ref in args.containers:
        if args.attach:
            c = containers.get(ref)
            session = containers.start_attached(ref, size=terminal_size() if c.tty else None)
            try:
                return pump(session, args.interactive, c.tty)
            except Detached:
                return 0
        containers.start(ref)
        print(ref)
    return 0


def cmd_stop(args) -> int:
    containers = engine().containers
    return each(args.containers, lambda ref: containers.stop(ref, args.time))


def cmd_restart(args) -> int:
    containers = engine().containers
    return each(args.containers, lambda ref: containers.restart(ref, args.time))


def cmd_kill(args) -> int:
    containers = engine().containers
    return each(args.containers, lambda ref: containers.kill(ref, args.signal))


def cmd_pause(args) -> int:
    return each(args.containers, engine().containers.pause)


def cmd_unpause(args) -> int:
    return each(args.containers, engine().containers.unpause)


def cmd_rm(args) -> int:
    containers = engine().containers
    return each(args.containers, lambda ref: containers.remove(ref, force=args.force, volumes=args.volumes),
                missing_ok=args.force)


def cmd_rename(args) -> int:
    engine().containers.rename(args.container, args.new_name)
    return 0


def cmd_wait(args) -> int:
    containers = engine().containers
    for ref in args.containers:
        print(containers.wait(ref))
    return 0


def cmd_container_prune(args) -> int:
    if not args.force and not confirm("WARNING! This will remove all stopped containers."):
        return 0
    gone = engine().containers.prune()
    if gone:
        print("Deleted Containers:\n" + "\n".join(gone) + "\n")
    print("Total reclaimed space: 0B")
    return 0


PS_HEADER = {"ID": "CONTAINER ID", "Names": "NAMES", "Image": "IMAGE", "Command": "COMMAND",
             "CreatedAt": "CREATED AT", "RunningFor": "CREATED", "Ports": "PORTS", "State": "STATE",
             "Status": "STATUS", "Size": "SIZE", "Labels": "LABELS", "Mounts": "MOUNTS",
             "LocalVolumes": "LOCAL VOLUMES", "Networks": "NETWORKS"}


def cmd_ps(args) -> int:
    e = engine()
    filters: dict[str, list[str]] = {}
    for f in args.filter or []:
        key, _, value = f.partition("=")
        filters.setdefault(key, []).append(value)
    found = e.containers.list(all=args.all or bool(args.filter), filters=filters)
    if args.last:
        found = found[:args.last]
    if args.quiet:
        for c in found:
            print(c.id if args.no_trunc else c.short_id)
        return 0
    rows = [_ps_context(e, c, trunc=not args.no_trunc) for c in found]
    return print_list(args.format, ["ID", "Image", "Command", "RunningFor", "Status", "Ports", "Names"], PS_HEADER,
                      "*formatter.ContainerContext", rows)


def _ps_context(e, c, trunc: bool) -> dict:
    """A container as docker's ps templates see it (formatter.ContainerContext): the values of the
    default columns, and functions for the rest (computed only if the template asks for them)."""
    from tuiker.engine import networks_of
    from tuiker.fmt import ago, ellipsis, go_quote, go_time, parse_time

    image = familiar_name(c.config["Image"], default_tag=True) if trunc else c.config["Image"]
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
        "Ports": ports_text(c),
        "State": c.status,
        "Status": status_text(c),
        "Size": lambda: _size_text(e, c),
        "Labels": lambda: ",".join(sorted(f"{k}={v}" for k, v in labels.items())),
        "Label": lambda name: labels.get(name, ""),
        "Mounts": lambda: ",".join(_mount_names(c, trunc)),
        "LocalVolumes": lambda: str(sum(1 for m in c.config.get("mounts") or [] if m.get("Type") == "volume")),
        "Networks": lambda: ",".join(networks_of(c)),
    }


def _mount_names(c, trunc: bool) -> list[str]:
    """docker's MOUNTS: each mount's volume name, or else its source, cut to 15 characters unless --no-trunc."""
    from tuiker.fmt import ellipsis

    names = [m.get("Name") or m.get("Source", "") for m in c.config.get("mounts") or [] if not m.get("Hidden")]
    return [ellipsis(n, 15) for n in names] if trunc else names


def _size_text(e, c) -> str:
    """docker's SIZE: what the container wrote (its overlay upper dir), and that plus its image."""
    from tuiker.fmt import human_size

    written, virtual = e.containers.size(c)
    return f"{human_size(written)} (virtual {human_size(virtual)})"


def cmd_inspect(args) -> int:
    """Containers first, then images, as `docker inspect` does; `--type` (or `image inspect`,
    `container inspect`) looks at one kind only and then says why that lookup failed."""
    printer = InspectPrinter(args.format)
    if printer.status:
        return printer.status
    e = engine()
    lookups = {"container": [e.containers.inspect], "image": [e.images.inspect]}.get(
        args.type, [e.containers.inspect, e.images.inspect])
    return inspect_each(printer, args.names, lookups)


def cmd_logs(args) -> int:
    since = _since(args.since) if args.since else None
    tail = None if args.tail in (None, "all") else _number(args.tail, "--tail")
    for record in engine().containers.logs(args.container, tail=tail, since=since, follow=args.follow):
        out = sys.stdout if record.stream != "stderr" else sys.stderr
        out.write((record.time + " " if args.timestamps else "") + record.text)
        if args.follow:
            out.flush()
    return 0


def _number(text: str, flag: str) -> int | None:
    """A count; a negative one means all, as docker's --tail."""
    try:
        value = int(text)
    except ValueError:
        raise TuikerError(f'invalid value "{text}" for {flag}: expected a number or "all"') from None
    return value if value >= 0 else None


def _since(text: str) -> float:
    from tuiker.fmt import parse_time

    units = {"s": 1, "m": 60, "h": 3600}
    if text[-1:] in units and text[:-1].replace(".", "", 1).isdigit():
        return time.time() - float(text[:-1]) * units[text[-1]]
    stamp = parse_time(text)
    if stamp is None:
        raise TuikerError(f"invalid --since value {text!r}: use a duration like 10m or an RFC 3339 time")
    return stamp


def cmd_exec(args) -> int:
    from tuiker.cli.stream import exec_and_pump

    return exec_and_pump(engine().containers, args.container, args.command, args.tty, args.interactive,
                         detach=args.detach, env=args.env, workdir=args.workdir, user=args.user)


def cmd_attach(args) -> int:
    from tuiker.cli.stream import Detached, pump, terminal_size

    containers = engine().containers
    c = containers.get(args.container)
    session = containers.attach(args.container, size=terminal_size() if c.tty else None)
    try:
        return pump(session, not args.no_stdin, c.tty, detach_keys=True)
    except Detached:
        return 0


def cmd_top(args) -> int:
    rows = []
    for p in engine().containers.top(args.container).rows():
        secs = int(p.cpu_time)
        rows.append([p.user, str(p.pid), str(p.ppid), f"{p.cpu_percent:.0f}",
                     time.strftime("%H:%M", time.localtime(p.started)),
                     f"{secs // 3600:02d}:{secs // 60 % 60:02d}:{secs % 60:02d}", p.command])
    table(["UID", "PID", "PPID", "C", "STIME", "TIME", "CMD"], rows, minwidth=20)
    return 0


STATS_HEADER = {"Container": "CONTAINER", "Name": "NAME", "ID": "CONTAINER ID", "CPUPerc": "CPU %",
                "MemUsage": "MEM USAGE / LIMIT", "MemPerc": "MEM %", "NetIO": "NET I/O", "BlockIO": "BLOCK I/O",
                "PIDs": "PIDS"}


def cmd_stats(args) -> int:
    containers = engine().containers
    targets = [containers.get(r) for r in args.containers] if args.containers else containers.list()
    names = args.containers or [c.id for c in targets]  # docker's .Container: what was asked for
    samplers = [containers.stats(c) for c in targets]
    while True:
        rows = [_stats_context(s, name, not args.no_trunc) for s, name in zip(samplers, names, strict=True)]
        if not args.no_stream:
            sys.stdout.write("\x1b[2J\x1b[H")
        status = print_list(args.format, ["ID", "Name", "CPUPerc", "MemUsage", "MemPerc", "NetIO", "BlockIO", "PIDs"],
                            STATS_HEADER, "*container.statsContext", rows)
        if args.no_stream or status:
            return status
        sys.stdout.flush()
        time.sleep(1)
        for s in samplers:
            s.container = s.container.reload()


def _stats_context(sampler, container: str, trunc: bool) -> dict:
    """One sample of a container as docker's stats templates see it (container.statsContext): memory in
    binary units (go-units BytesSize), I/O in decimal ones (HumanSizeWithPrecision 3)."""
    from tuiker.fmt import bytes_size, human_size

    c = sampler.container
    row = {"Container": container, "Name": c.name or "--", "ID": c.short_id if trunc else c.id}
    s = sampler.sample()
    if s is None:
        # docker's zeroed sample for a container that does not run.
        return {**row, "CPUPerc": "0.00%", "MemUsage": "0B / 0B", "MemPerc": "0.00%", "NetIO": "0B / 0B",
                "BlockIO": "0B / 0B", "PIDs": "0"}
    return {**row, "CPUPerc": f"{s.cpu_percent:.2f}%",
            "MemUsage": f"{bytes_size(s.memory)} / {bytes_size(s.memory_limit)}", "MemPerc": f"{s.memory_percent:.2f}%",
            "NetIO": f"{human_size(s.net_rx)} / {human_size(s.net_tx)}",
            "BlockIO": f"{human_size(s.io_read)} / {human_size(s.io_write)}", "PIDs": str(s.pids)}


def cmd_port(args) -> int:
    """`port CONTAINER [PRIVATE_PORT[/PROTO]]`: `80/tcp -> 0.0.0.0:8080`, or only `0.0.0.0:8080`."""
    for port, address in engine().containers.port_mappings(args.container, args.private_port):
        print(address if args.private_port else f"{port} -> {address}")
    return 0


def cmd_cp(args) -> int:
    """`cp [-a] [-L] CONTAINER:SRC DST|-` and `cp [-a] [-L] SRC|- CONTAINER:DST`."""
    src, dst = _cp_arg(args.src), _cp_arg(args.dst)
    if src[0] and dst[0]:
        raise TuikerError("copying between containers is not supported")
    if not src[0] and not dst[0]:
        raise TuikerError("must specify at least one container source")
    containers = engine().containers
    if src[0]:
        containers.copy_from(src[0], src[1], dst[1], args.archive, args.follow_link, stdout=sys.stdout.buffer)
    else:
        containers.copy_to(dst[0], src[1], dst[1], args.archive, args.follow_link, stdin=sys.stdin.buffer)
    return 0


def _cp_arg(arg: str) -> tuple[str, str]:
    """("container", "path") for CONTAINER:PATH, ("", "path") for a local path (docker: one starting with `/` or
    `.`, or without a colon)."""
    if arg.startswith(("/", ".")) or ":" not in arg:
        return "", arg
    container, _, path = arg.partition(":")
    return container, path


def cmd_diff(args) -> int:
    """What the container changed against its image: A added, C changed, D deleted."""
    for kind, path in engine().containers.diff(args.container):
        print(f"{kind} {path}")
    return 0


def cmd_commit(args) -> int:
    image = engine().containers.commit(args.container, args.repository, author=args.author or "",
                                       comment=args.message or "", changes=args.change, pause=args.pause)
    print(image.id)
    return 0


def cmd_export(args) -> int:
    """The container's file system as a tar: to -o FILE (removed again if the export fails), else stdout."""
    if not args.output and sys.stdout.isatty():
        raise TuikerError("cowardly refusing to save to a terminal. Use the -o flag or redirect")
    containers = engine().containers
    if not args.output:
        containers.export(args.container, sys.stdout.buffer)
        return 0
    c = containers.get(args.container)  # before the file is made: a wrong name leaves no empty file behind
    try:
        out = open(args.output, "wb")
    except OSError as e:
        raise TuikerError(f"open {args.output}: {(e.strerror or str(e)).lower()}") from None
    try:
        with out:
            containers.export(c.id, out)
    except BaseException:
        import os

        try:
            os.unlink(args.output)
        except OSError:
            pass  # not made, or not ours to remove any more
        raise
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
        p.add_argument("-v", "--volume", action="append", help="Bind mount a volume: [SRC:]DST[:ro|rw|z|Z|nocopy]")
        p.add_argument("--mount", action="append", help="Attach a filesystem mount to the container")
        p.add_argument("--tmpfs", action="append", help="Mount a tmpfs directory")
        p.add_argument("--volumes-from", action="append", help="Mount volumes from the specified container(s)")
        p.add_argument("--health-cmd", help="Command to run to check health")
        p.add_argument("--health-interval", help="Time between running the check (ms|s|m|h) (default 0s)")
        p.add_argument("--health-timeout", help="Maximum time to allow one check to run (ms|s|m|h) (default 0s)")
        p.add_argument("--health-start-period", help="Start period for the container to initialize before starting"
                       " health-retries countdown (ms|s|m|h) (default 0s)")
        p.add_argument("--health-retries", type=int, help="Consecutive failures needed to report unhealthy")
        p.add_argument("--no-healthcheck", action="store_true", help="Disable any container-specified HEALTHCHECK")
        p.add_argument("--add-host", action="append", help="Add a custom host-to-IP mapping (host:ip)")
        p.add_argument("--dns", action="append", help="Set custom DNS servers")
        p.add_argument("--stop-signal", help="Signal to stop a container (default \"SIGTERM\")")
        p.add_argument("-l", "--label", action="append", help="Set meta data on a container")
        p.add_argument("--label-file", action="append", help="Read in a line delimited file of labels")
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
    simple("rm", cmd_rm, "Remove one or more containers", lambda p: (
        p.add_argument("-f", "--force", action="store_true", help="Force the removal of a running container (uses"
                       " SIGKILL)"),
        p.add_argument("-v", "--volumes", action="store_true", help="Remove anonymous volumes associated with the"
                       " container")))
    simple("wait", cmd_wait, "Block until one or more containers stop, then print their exit codes")
    simple("top", cmd_top, "Display the running processes of a container", one=True)
    p = simple("port", cmd_port, "List port mappings or a specific mapping for the container", one=True)
    p.add_argument("private_port", nargs="?", metavar="PRIVATE_PORT[/PROTO]")
    simple("diff", cmd_diff, "Inspect changes to files on a container's filesystem", one=True)
    p = sub.add_parser("commit", help="Create a new image from a container's changes")
    p.add_argument("-a", "--author", help='Author (e.g., "John Hannibal Smith <hannibal@a-team.com>")')
    p.add_argument("-c", "--change", action="append", default=[], help="Apply Dockerfile instruction to the created"
                   " image")
    p.add_argument("-m", "--message", help="Commit message")
    add_bool_flag(p, "-p", "--pause", True, "Pause container during commit (default true)")
    p.add_argument("container", metavar="CONTAINER")
    p.add_argument("repository", nargs="?", metavar="REPOSITORY[:TAG]")
    p.set_defaults(func=cmd_commit)
    p = sub.add_parser("export", help="Export a container's filesystem as a tar archive")
    p.add_argument("-o", "--output", help="Write to a file, instead of STDOUT")
    p.add_argument("container", metavar="CONTAINER")
    p.set_defaults(func=cmd_export)
    p = sub.add_parser("cp", help="Copy files/folders between a container and the local filesystem")
    p.add_argument("-a", "--archive", action="store_true", help="Archive mode (copy all uid/gid information)")
    p.add_argument("-L", "--follow-link", action="store_true", help="Always follow symbol link in SRC_PATH")
    p.add_argument("src", metavar="SRC_PATH")
    p.add_argument("dst", metavar="DEST_PATH")
    p.set_defaults(func=cmd_cp)
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
