"""`build` and `builder prune`, with docker's flags; a build's progress printed as `docker build --progress=plain`
prints it (on stderr, the image ID on stdout with -q)."""

from __future__ import annotations

import os
import sys

from tuiker.cli.output import UsageError, confirm, engine


class PlainPrinter:
    """BuildKit's plain progress: `#3 [2/4] RUN make`, the step's output lines with their time, `#3 DONE 0.4s`
    or `#3 CACHED`, a blank line between steps."""

    def __init__(self, stream=sys.stderr) -> None:
        self.stream = stream
        self.started = False

    def __call__(self, event) -> None:
        v = event.vertex
        if event.kind == "container":
            return  # BuildKit's plain output does not name a step's container
        if event.kind == "step":
            line = ("\n" if self.started else "") + f"#{v} {event.text}"
            self.started = True
        elif event.kind == "output":
            line = f"#{v} {event.seconds:.3f} {event.text}"
        elif event.kind == "cached":
            line = f"#{v} CACHED"
        elif event.kind == "done":
            line = f"#{v} DONE {event.seconds:.1f}s"
        elif event.kind == "error":
            line = f"#{v} ERROR: {event.text}"
        else:
            line = f"#{v} {event.text}"
        self.stream.write(line + "\n")
        self.stream.flush()


def _pairs(items: list[str], flag: str, from_env: bool) -> dict[str, str | None]:
    """K=V items; a bare K takes the client's environment (docker's --build-arg), or is an error (--label)."""
    found: dict[str, str | None] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not key:
            raise UsageError(f'invalid argument "{item}" for "{flag}" flag: invalid key value pair', "tuiker build")
        if not sep:
            if not from_env:
                value = ""
            elif key in os.environ:
                value = os.environ[key]
            else:
                continue  # docker: a bare build arg the client's environment lacks is not passed at all
        found[key] = value
    return found


def interrupt_on_termination() -> None:
    """SIGTERM and SIGHUP raise KeyboardInterrupt, as Ctrl-C does: a killed build runs its cleanups too (the
    step's container, the scratch dirs)."""
    import signal

    def interrupted(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupted)
    signal.signal(signal.SIGHUP, interrupted)


def cmd_build(args) -> int:
    from tuiker.engine import BuildOptions

    quiet = args.quiet or args.progress == "quiet"
    opts = BuildOptions(args.path, dockerfile=args.file, tags=args.tag, build_args=_pairs(args.build_arg,
                        "--build-arg", True), target=args.target, no_cache=args.no_cache, pull=args.pull,
                        labels=_pairs(args.label, "--label", False), platform=args.platform,
                        network=args.network)
    interrupt_on_termination()
    result = engine().builds.build(opts, None if quiet else PlainPrinter())
    if quiet:
        print(result.image_id)
    return 0


def cmd_builder_prune(args) -> int:
    from tuiker.fmt import human_size

    what = "all build cache" if args.all else "all dangling build cache"
    if not args.force and not confirm(f"WARNING! This will remove {what}."):
        return 0
    _, deleted, reclaimed = engine().builds.prune()
    if deleted:
        print("Deleted build cache objects:")
        for image_id in deleted:
            print(image_id.removeprefix("sha256:"))
        print()
    print(f"Total reclaimed space: {human_size(reclaimed)}")
    return 0


def add_parsers(sub) -> None:
    """`build` and `builder prune`."""
    add_build_parser(sub)
    builder = sub.add_parser("builder", help="Manage builds")
    builder_sub = sub.add_subparsers_of(builder, dest="builder_command", metavar="COMMAND", required=True)
    p = builder_sub.add_parser("prune", help="Remove build cache")
    p.add_argument("-a", "--all", action="store_true", help="Remove all unused build cache, not just dangling ones")
    p.add_argument("-f", "--force", action="store_true", help="Do not prompt for confirmation")
    p.set_defaults(func=cmd_builder_prune)


def add_build_parser(sub) -> None:
    """`build`, top-level and as `image build`."""
    p = sub.add_parser("build", help="Build an image from a Dockerfile")
    p.add_argument("path", metavar="PATH | -", help="The build context: a directory, or - for a tar (or a"
                   " Dockerfile) on stdin")
    p.add_argument("-t", "--tag", action="append", default=[], help="Name and optionally a tag (name:tag)")
    p.add_argument("-f", "--file", help="Name of the Dockerfile (default: PATH/Dockerfile)")
    p.add_argument("--build-arg", action="append", default=[], metavar="K[=V]", help="Set build-time variables")
    p.add_argument("--target", help="Set the target build stage to build")
    p.add_argument("--no-cache", action="store_true", help="Do not use cache when building the image")
    p.add_argument("--pull", action="store_true", help="Always attempt to pull a newer version of the image")
    p.add_argument("--label", action="append", default=[], metavar="K=V", help="Set metadata for an image")
    p.add_argument("-q", "--quiet", action="store_true", help="Suppress the build output and print image ID on"
                   " success")
    p.add_argument("--platform", help="Set platform if server is multi-platform capable (only the host's here)")
    p.add_argument("--network", default="default", help="Set the networking mode for the RUN instructions during"
                   " build: default (bridge), host, none or a network's name")
    p.add_argument("--progress", default="auto", choices=["auto", "plain", "tty", "quiet"],
                   help="Set type of progress output (auto, plain, tty, quiet): all are plain here")
    p.set_defaults(func=cmd_build)
