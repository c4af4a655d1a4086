"""The volume commands of the CLI: `volume create|ls|inspect|rm|prune` (docker's flags and output)."""

from __future__ import annotations

from tuiker.cli.output import InspectPrinter, confirm, each, engine, inspect_each, print_list
from tuiker.engine import TuikerError


def cmd_volume_create(args) -> int:
    labels = dict(item.partition("=")[::2] for item in args.label or [])
    options = dict(item.partition("=")[::2] for item in args.opt or [])
    if args.name and args.name_flag and args.name != args.name_flag:
        raise TuikerError("conflicting options: either specify --name or provide positional arg, not both")
    print(engine().volumes.create(args.name or args.name_flag, labels, args.driver, options)["Name"])
    return 0


VOLUME_HEADER = {"Name": "VOLUME NAME", "Driver": "DRIVER", "Scope": "SCOPE", "Mountpoint": "MOUNTPOINT",
                 "Labels": "LABELS", "Links": "LINKS", "Size": "SIZE", "CreatedAt": "CREATED AT"}


def cmd_volume_ls(args) -> int:
    volumes = engine().volumes
    found = volumes.list(args.filter)
    if args.quiet:
        for v in found:
            print(v["Name"])
        return 0
    rows = [_volume_context(volumes, v) for v in found]
    return print_list(args.format, ["Driver", "Name"], VOLUME_HEADER, "*formatter.volumeContext", rows)


def _volume_context(volumes, v: dict) -> dict:
    """A volume as docker's `volume ls` templates see it (formatter.volumeContext)."""
    from tuiker.fmt import human_size

    labels = v.get("Labels") or {}
    return {"Name": v["Name"], "Driver": v["Driver"], "Scope": v["Scope"], "Mountpoint": v["Mountpoint"],
            "Labels": ",".join(f"{k}={val}" for k, val in labels.items()), "Label": lambda name: labels.get(name, ""),
            "Links": lambda: str(len(volumes.users(v["Name"]))), "Size": lambda: human_size(volumes.size(v["Name"])),
            "CreatedAt": v.get("CreatedAt", "")}


def cmd_volume_inspect(args) -> int:
    printer = InspectPrinter(args.format)
    if printer.status:
        return printer.status
    return inspect_each(printer, args.volumes, [engine().volumes.inspect])


def cmd_volume_rm(args) -> int:
    volumes = engine().volumes
    return each(args.volumes, lambda name: volumes.remove(name, force=args.force), missing_ok=args.force)


def cmd_volume_prune(args) -> int:
    from tuiker.fmt import human_size

    what = "all local volumes" if args.all else "anonymous local volumes"
    if not args.force and not confirm(f"WARNING! This will remove {what} not used by at least one container."):
        return 0
    for f in args.filter or []:
        if not f.startswith("label"):
            raise TuikerError(f"invalid filter '{f.partition('=')[0]}'")
    e = engine()
    keep = None
    if args.filter:
        keep = {v["Name"] for v in e.volumes.list(args.filter)}
    gone, freed = e.volumes.prune(all_volumes=args.all, only=keep)
    if gone:
        print("Deleted Volumes:\n" + "\n".join(gone) + "\n")
    print(f"Total reclaimed space: {human_size(freed)}")
    return 0


def add_parsers(sub) -> None:
    group = sub.add_parser("volume", help="Manage volumes")
    inner = sub.add_subparsers_of(group, dest="volume_command", metavar="COMMAND", required=True)
    p = inner.add_parser("create", help="Create a volume")
    p.add_argument("name", nargs="?", metavar="VOLUME")
    p.add_argument("--name", dest="name_flag", help="Specify volume name")
    p.add_argument("-d", "--driver", default="local", help="Specify volume driver name")
    p.add_argument("--label", action="append", help="Set metadata for a volume")
    p.add_argument("-o", "--opt", action="append", help="Set driver specific options")
    p.set_defaults(func=cmd_volume_create)
    p = inner.add_parser("ls", aliases=["list"], help="List volumes")
    p.add_argument("-q", "--quiet", action="store_true", help="Only display volume names")
    p.add_argument("-f", "--filter", action="append", help="Provide filter values (e.g. 'dangling=true')")
    p.add_argument("--format", help="Format output using a Go template: 'table', 'table TEMPLATE', 'json' or TEMPLATE")
    p.set_defaults(func=cmd_volume_ls)
    p = inner.add_parser("inspect", help="Display detailed information on one or more volumes")
    p.add_argument("volumes", nargs="+", metavar="VOLUME")
    p.add_argument("-f", "--format", help="Format output using a Go template, or 'json'")
    p.set_defaults(func=cmd_volume_inspect)
    p = inner.add_parser("rm", aliases=["remove"], help="Remove one or more volumes")
    p.add_argument("volumes", nargs="+", metavar="VOLUME")
    p.add_argument("-f", "--force", action="store_true", help="Force the removal of one or more volumes")
    p.set_defaults(func=cmd_volume_rm)
    p = inner.add_parser("prune", help="Remove unused local volumes")
    p.add_argument("-a", "--all", action="store_true", help="Remove all unused volumes, not just anonymous ones")
    p.add_argument("-f", "--force", action="store_true", help="Do not prompt for confirmation")
    p.add_argument("--filter", action="append", help="Provide filter values (e.g. 'label=<label>')")
    p.set_defaults(func=cmd_volume_prune)
