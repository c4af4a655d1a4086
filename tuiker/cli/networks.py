"""The network commands of the CLI: `network create|ls|inspect|rm|connect|disconnect|prune`, and `system prune`
(docker's flags and output)."""

from __future__ import annotations

from tuiker.cli.output import InspectPrinter, confirm, each, engine, inspect_each, print_list, table


def cmd_network_create(args) -> int:
    labels = dict(item.partition("=")[::2] for item in args.label or [])
    print(engine().networks.create(args.name, args.subnet, args.gateway, args.internal, labels))
    return 0


NETWORK_HEADER = {"ID": "NETWORK ID", "Name": "NAME", "Driver": "DRIVER", "Scope": "SCOPE", "IPv4": "IPV4",
                  "IPv6": "IPV6", "Internal": "INTERNAL", "Labels": "LABELS", "CreatedAt": "CREATED AT"}


def cmd_network_ls(args) -> int:
    filters: dict[str, list[str]] = {}
    for f in args.filter or []:
        key, _, value = f.partition("=")
        filters.setdefault(key, []).append(value)
    found = engine().networks.list(filters)
    if args.quiet:
        for n in found:
            print(n["Id"] if args.no_trunc else n["Id"][:12])
        return 0
    rows = [_network_context(n, trunc=not args.no_trunc) for n in found]
    return print_list(args.format, ["ID", "Name", "Driver", "Scope"], NETWORK_HEADER, "*network.networkContext",
                      rows)


def _network_context(n: dict, trunc: bool) -> dict:
    """A network as docker's `network ls` templates see it (network.networkContext)."""
    from tuiker.fmt import go_time_rfc3339

    labels = n.get("Labels") or {}
    return {"ID": n["Id"][:12] if trunc else n["Id"], "Name": n["Name"], "Driver": n["Driver"], "Scope": n["Scope"],
            "IPv4": "true", "IPv6": "true" if n.get("EnableIPv6") else "false",
            "Internal": "true" if n.get("Internal") else "false",
            "Labels": ",".join(f"{k}={v}" for k, v in labels.items()), "Label": lambda name: labels.get(name, ""),
            "CreatedAt": go_time_rfc3339(n.get("Created") or "")}


def cmd_network_inspect(args) -> int:
    printer = InspectPrinter(args.format)
    if printer.status:
        return printer.status
    return inspect_each(printer, args.networks, [engine().networks.inspect])


def cmd_network_rm(args) -> int:
    return each(args.networks, engine().networks.remove)


def cmd_network_connect(args) -> int:
    engine().networks.connect(args.network, args.container, args.alias)
    return 0


def cmd_network_disconnect(args) -> int:
    engine().networks.disconnect(args.network, args.container)
    return 0


def cmd_network_prune(args) -> int:
    if not args.force and not confirm("WARNING! This will remove all custom networks not used by at least one"
                                      " container."):
        return 0
    gone = engine().networks.prune()
    if gone:
        print("Deleted Networks:\n" + "\n".join(gone))
    return 0


def cmd_system_prune(args) -> int:
    from tuiker.fmt import human_size

    what = "all images without at least one container associated to them" if args.all else "all dangling images"
    volumes = "\n  - all anonymous volumes not used by at least one container" if args.volumes else ""
    if not args.force and not confirm("WARNING! This will remove:\n  - all stopped containers\n  - all networks not"
                                      f" used by at least one container{volumes}\n  - {what}\n"):
        return 0
    e = engine()
    # First a monitor that has reconciled (a kill -9 left "running" states of dead containers), and the sweep
    # of what dead containers left on the host; then the pruning, which sees them as the exited ones they are.
    swept = e.networks.sweep()
    containers = e.containers.prune()
    networks = e.networks.prune()
    gone_volumes, reclaimed = e.volumes.prune() if args.volumes else ([], 0)
    images, image_bytes = e.images.prune(all_images=args.all)
    reclaimed += image_bytes
    if containers:
        print("Deleted Containers:\n" + "\n".join(containers) + "\n")
    if networks:
        print("Deleted Networks:\n" + "\n".join(networks) + "\n")
    if gone_volumes:
        print("Deleted Volumes:\n" + "\n".join(gone_volumes) + "\n")
    if images:
        print("Deleted Images:\n" + "\n".join(f"{verb.lower()}: {what}" for verb, what in images) + "\n")
    if swept.get("leases") or swept.get("links"):
        print(f"Swept: {swept.get('leases', 0)} address lease(s), {len(swept.get('links') or [])} interface(s)"
              " left by containers that no longer run\n")
    print(f"Total reclaimed space: {human_size(reclaimed)}")
    return 0


def cmd_system_df(args) -> int:
    """docker's `system df`: images, containers and local volumes, with what pruning them would free."""
    from tuiker.fmt import human_size

    def reclaimable(free: int, total: int) -> str:
        return f"{human_size(free, 4)} ({free * 100 // total}%)" if total else human_size(free, 4)

    rows = [[kind, str(total), str(active), human_size(size, 4), reclaimable(free, size)]
            for kind, total, active, size, free in engine().disk_usage().rows()]
    table(["TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE"], rows)
    return 0


def cmd_system_service(args) -> int:
    """Serve the API until interrupted; says where, on one line, once it answers."""
    import signal

    from tuiker.api.server import serve

    def stop(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    try:
        serve(engine(), args.addresses or None,
              ready=lambda where: print(f"API listening on {', '.join(where)}", flush=True))
    except KeyboardInterrupt:
        pass
    return 0


def add_parsers(sub) -> None:
    """`network ...`, `system prune` and `system df`."""
    group = sub.add_parser("network", help="Manage networks")
    inner = sub.add_subparsers_of(group, dest="network_command", metavar="COMMAND", required=True)
    p = inner.add_parser("create", help="Create a network")
    p.add_argument("name", metavar="NETWORK")
    p.add_argument("-d", "--driver", default="bridge", choices=["bridge"], help="Driver to manage the Network")
    p.add_argument("--subnet", help="Subnet in CIDR format that represents a network segment")
    p.add_argument("--gateway", help="IPv4 Gateway for the master subnet")
    p.add_argument("--internal", action="store_true", help="Restrict external access to the network")
    p.add_argument("--label", action="append", help="Set metadata on a network")
    p.set_defaults(func=cmd_network_create)
    p = inner.add_parser("ls", aliases=["list"], help="List networks")
    p.add_argument("-q", "--quiet", action="store_true", help="Only display network IDs")
    p.add_argument("-f", "--filter", action="append", help="Provide filter values (e.g. 'name=bridge')")
    p.add_argument("--format", help="Format output using a Go template: 'table', 'table TEMPLATE', 'json' or TEMPLATE")
    p.add_argument("--no-trunc", action="store_true", help="Do not truncate the output")
    p.set_defaults(func=cmd_network_ls)
    p = inner.add_parser("inspect", help="Display detailed information on one or more networks")
    p.add_argument("networks", nargs="+", metavar="NETWORK")
    p.add_argument("-f", "--format", help="Format output using a Go template, or 'json'")
    p.set_defaults(func=cmd_network_inspect)
    p = inner.add_parser("rm", aliases=["remove"], help="Remove one or more networks")
    p.add_argument("networks", nargs="+", metavar="NETWORK")
    p.set_defaults(func=cmd_network_rm)
    p = inner.add_parser("connect", help="Connect a container to a network")
    p.add_argument("network", metavar="NETWORK")
    p.add_argument("container", metavar="CONTAINER")
    p.add_argument("--alias", action="append", help="Add network-scoped alias for the container")
    p.set_defaults(func=cmd_network_connect)
    p = inner.add_parser("disconnect", help="Disconnect a container from a network")
    p.add_argument("network", metavar="NETWORK")
    p.add_argument("container", metavar="CONTAINER")
    p.add_argument("-f", "--force", action="store_true", help="Force the container to disconnect from a network")
    p.set_defaults(func=cmd_network_disconnect)
    p = inner.add_parser("prune", help="Remove all unused networks")
    p.add_argument("-f", "--force", action="store_true", help="Do not prompt for confirmation")
    p.set_defaults(func=cmd_network_prune)

    group = sub.add_parser("system", help="Manage tuiker")
    inner = sub.add_subparsers_of(group, dest="system_command", metavar="COMMAND", required=True)
    p = inner.add_parser("prune", help="Remove unused data, and sweep what a killed engine left")
    p.add_argument("-a", "--all", action="store_true", help="Remove all unused images not just dangling ones")
    p.add_argument("-f", "--force", action="store_true", help="Do not prompt for confirmation")
    p.add_argument("--volumes", action="store_true", help="Prune anonymous volumes")
    p.set_defaults(func=cmd_system_prune)
    p = inner.add_parser("df", help="Show tuiker disk usage")
    p.set_defaults(func=cmd_system_df)
    p = inner.add_parser("service", help="Serve the Docker Engine API (docker's clients then drive tuiker)")
    p.add_argument("addresses", nargs="*", metavar="ADDRESS",
                   help="unix:///path.sock or tcp://127.0.0.1:PORT (default: unix://<engine root>/tuiker.sock)")
    p.set_defaults(func=cmd_system_service)
