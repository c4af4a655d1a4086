"""`tuiker compose ...`: docker compose v2's verbs and flags over tuiker/compose. Progress goes to stderr as
compose's plain progress prints it (` Container p-web-1  Started`), logs to stdout prefixed `web-1  | `."""

from __future__ import annotations

import sys
import threading

from tuiker.cli.output import PullPrinter, engine, error, print_list
from tuiker.engine import ContainerStartError, TuikerError, ports_text, status_text


def _report(kind: str, name: str, status: str) -> None:
    if kind == "Warning":
        print(f"WARN[0000] {status}", file=sys.stderr)
    else:
        print(f" {kind} {name}  {status}", file=sys.stderr)
    sys.stderr.flush()


class _BuildPrinter:
    """Builds' progress as `docker compose build` prints BuildKit's plain output, through `tuiker build`'s own
    printer: each step's title names the service (`#5 [web 2/3] COPY . /app`, `#1 [web internal] load ...`),
    and the steps are numbered on from one service's build to the next."""

    def __init__(self) -> None:
        from tuiker.cli.build import PlainPrinter

        self.printer = PlainPrinter(sys.stderr)
        self.service: str | None = None
        self.offset = self.last = 0

    def __call__(self, service: str, event) -> None:
        from tuiker.engine import BuildEvent

        if service != self.service:
            self.service, self.offset = service, self.last
        vertex = event.vertex + self.offset
        self.last = max(self.last, vertex)
        text = event.text
        if event.kind == "step" and text.startswith("["):
            text = f"[{service} {text[1:]}"
        self.printer(BuildEvent(event.kind, vertex, text, event.instruction, event.number, event.total,
                                event.stream, event.seconds, event.image))


def _compose(args, need_file: bool = True):
    """The project the global flags (-f, -p, --profile, --env-file, --project-directory) name, on the engine."""
    from tuiker.compose import Compose, ComposeError, load

    try:
        project = load(args.file, args.project_name, args.profile, args.env_file, args.project_directory)
    except ComposeError as e:
        if need_file or not args.project_name or not str(e).startswith("no configuration file"):
            raise
        from tuiker.compose.loader import check_project_name

        return Compose(engine(), None, check_project_name(args.project_name), _report)
    for warning in project.warnings:
        _report("Warning", "", warning)
    return Compose(engine(), project, report=_report)


def _display_name(compose, c) -> str:
    """How compose names a container in logs: `web-1` (the project's prefix off), or its container_name."""
    prefix = f"{compose.name}-"
    return c.name[len(prefix):] if c.name.startswith(prefix) else c.name


# -- up, down ---------------------------------------------------------------------------------------------

def cmd_up(args) -> int:
    if args.build and args.no_build:
        raise TuikerError("--build and --no-build are incompatible")
    from tuiker.cli.build import interrupt_on_termination

    interrupt_on_termination()  # as `tuiker build`: a kill mid-build cleans up (attached, it stops the project)
    compose = _compose(args)
    build = "always" if args.build else "never" if args.no_build else "missing"
    started = compose.up(args.services or None, force_recreate=args.force_recreate, no_deps=args.no_deps,
                         remove_orphans=args.remove_orphans, build=build, pull_progress=PullPrinter(sys.stderr),
                         timeout=args.timeout, build_progress=_BuildPrinter())
    if args.detach:
        return 0
    return _attach(compose, started, args.timeout)


def _attach(compose, containers, timeout) -> int:
    """up without -d: every container's output prefixed, until all have exited; Ctrl-C stops them."""
    names = [_display_name(compose, c) for c in containers]
    print("Attaching to " + ", ".join(names))
    sys.stdout.flush()
    printer = _LogPrinter(names)
    threads = [threading.Thread(target=printer.follow, args=(compose, c, name, True), daemon=True)
               for c, name in zip(containers, names, strict=True)]
    for t in threads:
        t.start()
    try:
        for t in threads:
            while t.is_alive():
                t.join(0.2)
    except KeyboardInterrupt:
        print("Gracefully stopping... (press Ctrl+C again to force)", file=sys.stderr)
        compose.stop(None, timeout)
        return 130
    return 0


def cmd_down(args) -> int:
    _compose(args, need_file=False).down(volumes=args.volumes, remove_orphans=args.remove_orphans,
                                         timeout=args.timeout, rmi=args.rmi)
    return 0


def cmd_build(args) -> int:
    from tuiker.cli.build import interrupt_on_termination

    interrupt_on_termination()
    _compose(args).build(args.services or None, no_cache=args.no_cache, pull=args.pull,
                         progress=None if args.quiet else _BuildPrinter(), build_args=args.build_arg)
    return 0


def cmd_start(args) -> int:
    _compose(args, need_file=False).start(args.services or None)
    return 0


def cmd_stop(args) -> int:
    _compose(args, need_file=False).stop(args.services or None, args.timeout)
    return 0


def cmd_restart(args) -> int:
    _compose(args, need_file=False).restart(args.services or None, args.timeout)
    return 0


def cmd_pull(args) -> int:
    compose = _compose(args)
    compose.pull(args.services or None, None if args.quiet else PullPrinter(sys.stderr))
    return 0


# -- ps, logs, config ------------------------------------------------------------------------------------------

PS_HEADER = {"Name": "NAME", "Image": "IMAGE", "Command": "COMMAND", "Service": "SERVICE", "RunningFor": "CREATED",
             "Status": "STATUS", "Ports": "PORTS", "ID": "CONTAINER ID", "State": "STATE", "Project": "PROJECT",
             "Labels": "LABELS", "CreatedAt": "CREATED AT", "ExitCode": "EXIT CODE", "Health": "HEALTH"}


def cmd_ps(args) -> int:
    from tuiker.compose import service_of

    compose = _compose(args, need_file=False)
    found = compose.containers(args.services or None, all=args.all)
    for f in args.filter or []:
        key, _, value = f.partition("=")
        if key != "status":
            raise TuikerError(f"invalid filter {f!r}: compose ps filters by status= only")
        found = [c for c in found if c.status == value]
    if args.services_only:
        for service in dict.fromkeys(service_of(c) for c in found):
            print(service)
        return 0
    if args.quiet:
        for c in found:
            print(c.id)
        return 0
    rows = [_ps_context(c, not args.no_trunc) for c in found]
    return print_list(args.format, ["Name", "Image", "Command", "Service", "RunningFor", "Status", "Ports"],
                      PS_HEADER, "formatter.ContainerContext", rows)


def _ps_context(c, trunc: bool) -> dict:
    from tuiker.compose import service_of
    from tuiker.fmt import ago, ellipsis, go_quote, go_time, parse_time

    command = " ".join(c.command)
    created = parse_time(c.config["Created"]) or 0
    labels = c.config["Config"].get("Labels") or {}
    return {"ID": c.short_id if trunc else c.id, "Name": c.name, "Image": c.config["Image"],
            "Command": go_quote(ellipsis(command, 20) if trunc else command), "Service": service_of(c),
            "RunningFor": ago(created), "CreatedAt": lambda: go_time(created), "Status": status_text(c),
            "State": c.status, "Ports": ports_text(c), "Project": labels.get("com.docker.compose.project", ""),
            "Labels": lambda: ",".join(sorted(f"{k}={v}" for k, v in labels.items())),
            "Label": lambda name: labels.get(name, ""), "ExitCode": str(c.state.get("ExitCode", 0)),
            "Health": lambda: getattr(c, "health", None) or ""}


class _LogPrinter:
    """Lines of several containers on one stdout, each prefixed `name  | ` (names padded to the longest + 1,
    as compose pads them)."""

    def __init__(self, names: list[str], prefix: bool = True, timestamps: bool = False) -> None:
        self.width = max((len(n) for n in names), default=0) + 1
        self.prefix = prefix
        self.timestamps = timestamps
        self.lock = threading.Lock()

    def line(self, name: str, record) -> None:
        head = f"{name:<{self.width}} | " if self.prefix else ""
        stamp = record.time + " " if self.timestamps else ""
        text = "".join(f"{head}{stamp}{line}\n" for line in record.text.rstrip("\n").split("\n"))
        with self.lock:
            sys.stdout.write(text)
            sys.stdout.flush()

    def follow(self, compose, c, name: str, announce_exit: bool, tail: int | None = None) -> None:
        for record in compose.engine.containers.logs(c, tail=tail, follow=True):
            self.line(name, record)
        if announce_exit:
            code = c.reload().state.get("ExitCode", 0)
            with self.lock:
                print(f"{name} exited with code {code}")
                sys.stdout.flush()


def cmd_logs(args) -> int:
    compose = _compose(args, need_file=False)
    found = compose.containers(args.services or None)
    names = [_display_name(compose, c) for c in found]
    printer = _LogPrinter(names, prefix=not args.no_log_prefix, timestamps=args.timestamps)
    tail = None if args.tail in (None, "all") else int(args.tail)
    if tail is not None and tail < 0:
        tail = None
    if args.follow:
        threads = [threading.Thread(target=printer.follow, args=(compose, c, n, False, tail), daemon=True)
                   for c, n in zip(found, names, strict=True)]
        for t in threads:
            t.start()
        for t in threads:
            while t.is_alive():
                t.join(0.2)
        return 0
    records = [(r.time, n, r) for c, n in zip(found, names, strict=True)
               for r in compose.engine.containers.logs(c, tail=tail)]
    for _, name, record in sorted(records, key=lambda x: x[0]):
        printer.line(name, record)
    return 0


def cmd_config(args) -> int:
    compose = _compose(args)
    project = compose.project
    if args.services_only:
        print("\n".join(project.services))
        return 0
    if args.volumes_only:
        print("\n".join(project.volumes))
        return 0
    if args.quiet:
        return 0
    doc = project.as_dict()
    if args.format == "json":
        import json

        print(json.dumps(doc, indent=4))
        return 0
    import yaml

    sys.stdout.write(yaml.safe_dump(doc, sort_keys=False, default_flow_style=False, allow_unicode=True))
    return 0


# -- exec, run -----------------------------------------------------------------------------------------------

def cmd_exec(args) -> int:
    from tuiker.cli.stream import exec_and_pump

    compose = _compose(args, need_file=False)
    c = compose.find(args.service, args.index)
    # compose's exec keeps stdin open unless detached, and allocates a tty unless -T or stdin is not one.
    return exec_and_pump(compose.engine.containers, c.id, args.command, not args.no_tty and sys.stdin.isatty(),
                         not args.detach, detach=args.detach, env=args.env, workdir=args.workdir, user=args.user)


def cmd_run(args) -> int:
    from tuiker.cli.stream import Detached, pump, terminal_size

    compose = _compose(args)
    tty = not args.no_tty and sys.stdin.isatty() and not args.detach
    overrides = {"tty": tty, "interactive": not args.detach}
    if args.name:
        overrides["name"] = args.name
    if args.entrypoint is not None:
        import shlex

        overrides["entrypoint"] = shlex.split(args.entrypoint) or [""]
    if args.user:
        overrides["user"] = args.user
    if args.workdir:
        overrides["workdir"] = args.workdir
    if args.env:
        service_env = compose.project.services[args.service].get("environment") or {} \
            if args.service in compose.project.services else {}
        overrides["env"] = [f"{k}={v}" for k, v in service_env.items() if v is not None] + args.env
    c = compose.run(args.service, args.command or None, no_deps=args.no_deps, build_progress=_BuildPrinter(),
                    **overrides)
    containers = compose.engine.containers
    try:
        if args.detach:
            containers.start(c.id)
            print(c.name)
            return 0
        session = containers.start_attached(c.id, size=terminal_size() if tty else None)
    except ContainerStartError as e:
        error(e)
        if args.rm:
            containers.remove(c.id, force=True)
        return e.code
    try:
        code = pump(session, True, tty)
    except Detached:
        return 0
    if args.rm:
        containers.remove(c.id, force=True)
    return code


# -- the parser -------------------------------------------------------------------------------------------------

def add_parsers(sub) -> None:
    group = sub.add_parser("compose", help="Define and run multi-container applications")
    group.add_argument("-f", "--file", action="append", help="Compose configuration files")
    group.add_argument("-p", "--project-name", help="Project name")
    group.add_argument("--profile", action="append", help="Specify a profile to enable")
    group.add_argument("--env-file", help="Specify an alternate environment file")
    group.add_argument("--project-directory", help="Specify an alternate working directory")
    # Every verb is built: the word after `compose` may be a flag's value (-f FILE), not the verb.
    inner = type(sub)(group.add_subparsers(dest="compose_command", metavar="COMMAND", required=True), [None])

    def verb(name, func, help_text, services="*"):
        p = inner.add_parser(name, help=help_text)
        if services:
            p.add_argument("services", nargs=services, metavar="SERVICE")
        p.set_defaults(func=func)
        return p

    p = verb("up", cmd_up, "Create and start containers")
    p.add_argument("-d", "--detach", action="store_true", help="Detached mode: run containers in the background")
    p.add_argument("--build", action="store_true", help="Build images before starting containers")
    p.add_argument("--no-build", action="store_true", help="Don't build an image, even if it's policy")
    p.add_argument("--force-recreate", action="store_true", help="Recreate containers even if unchanged")
    p.add_argument("--no-deps", action="store_true", help="Don't start linked services")
    p.add_argument("--remove-orphans", action="store_true", help="Remove containers for services not defined")
    p.add_argument("-t", "--timeout", type=float, help="Shutdown timeout in seconds")
    p = verb("down", cmd_down, "Stop and remove containers, networks", services=None)
    p.add_argument("-v", "--volumes", action="store_true", help="Remove named volumes and anonymous volumes")
    p.add_argument("--rmi", help='Remove images used by services. "local" remove only images that don\'t have a'
                   ' custom tag ("local"|"all")')
    p.add_argument("--remove-orphans", action="store_true", help="Remove containers for services not defined")
    p.add_argument("-t", "--timeout", type=float, help="Shutdown timeout in seconds")
    p = verb("ps", cmd_ps, "List containers")
    p.add_argument("-a", "--all", action="store_true", help="Show all stopped containers")
    p.add_argument("-q", "--quiet", action="store_true", help="Only display IDs")
    p.add_argument("--services", dest="services_only", action="store_true", help="Display services")
    p.add_argument("--filter", action="append", help="Filter services by a property (status=running)")
    p.add_argument("--format", help="Format output using a Go template: 'table', 'json' or TEMPLATE")
    p.add_argument("--no-trunc", action="store_true", help="Don't truncate output")
    p = verb("logs", cmd_logs, "View output from containers")
    p.add_argument("-f", "--follow", action="store_true", help="Follow log output")
    p.add_argument("-t", "--timestamps", action="store_true", help="Show timestamps")
    p.add_argument("-n", "--tail", help="Number of lines to show from the end of the logs")
    p.add_argument("--no-log-prefix", action="store_true", help="Don't print prefix in logs")
    for name, func, text in (("start", cmd_start, "Start services"), ("stop", cmd_stop, "Stop services"),
                             ("restart", cmd_restart, "Restart service containers")):
        p = verb(name, func, text)
        if name != "start":
            p.add_argument("-t", "--timeout", type=float, help="Specify a shutdown timeout in seconds")
    p = verb("build", cmd_build, "Build or rebuild services")
    p.add_argument("--build-arg", action="append", metavar="K[=V]", help="Set build-time variables for services")
    p.add_argument("--no-cache", action="store_true", help="Do not use cache when building the image")
    p.add_argument("--pull", action="store_true", help="Always attempt to pull a newer version of the image")
    p.add_argument("-q", "--quiet", action="store_true", help="Don't print anything to STDOUT")
    p = verb("pull", cmd_pull, "Pull service images")
    p.add_argument("-q", "--quiet", action="store_true", help="Pull without printing progress information")
    p = verb("config", cmd_config, "Parse, resolve and render compose file in canonical format", services=None)
    p.add_argument("--services", dest="services_only", action="store_true", help="Print the service names")
    p.add_argument("--volumes", dest="volumes_only", action="store_true", help="Print the volume names")
    p.add_argument("-q", "--quiet", action="store_true", help="Only validate the configuration")
    p.add_argument("--format", choices=["yaml", "json"], default="yaml", help="Format the output")
    p = verb("exec", cmd_exec, "Execute a command in a running container", services=None)
    p.add_argument("-d", "--detach", action="store_true", help="Detached mode: run command in the background")
    p.add_argument("-e", "--env", action="append", help="Set environment variables")
    p.add_argument("-w", "--workdir", help="Path to workdir directory for this command")
    p.add_argument("-u", "--user", help="Run the command as this user")
    p.add_argument("-T", "--no-TTY", dest="no_tty", action="store_true", help="Disable pseudo-TTY allocation")
    p.add_argument("--index", type=int, default=1, help="Index of the container if service has multiple replicas")
    p.add_argument("service", metavar="SERVICE")
    p.add_argument("command", nargs="...", metavar="COMMAND")
    p = verb("run", cmd_run, "Run a one-off command on a service", services=None)
    p.add_argument("-d", "--detach", action="store_true", help="Run container in background and print container ID")
    p.add_argument("--rm", action="store_true", help="Automatically remove the container when it exits")
    p.add_argument("-e", "--env", action="append", help="Set environment variables")
    p.add_argument("--name", help="Assign a name to the container")
    p.add_argument("--entrypoint", help="Override the entrypoint of the image")
    p.add_argument("-u", "--user", help="Run as specified username or uid")
    p.add_argument("-w", "--workdir", help="Working directory inside the container")
    p.add_argument("-T", "--no-TTY", dest="no_tty", action="store_true", help="Disable pseudo-TTY allocation")
    p.add_argument("--no-deps", action="store_true", help="Don't start linked services")
    p.add_argument("service", metavar="SERVICE")
    p.add_argument("command", nargs="...", metavar="COMMAND")
