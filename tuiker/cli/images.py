"""The image commands of the CLI: pull, push, images, rmi, tag, save, load, login, logout and the `image` group
(docker's flags and output)."""

from __future__ import annotations

import sys

from tuiker.cli import build, containers
from tuiker.cli.output import PullPrinter, add_bool_flag, confirm, engine, error, print_list
from tuiker.engine import TuikerError, familiar_name, matches_reference, tag_matches


def cmd_pull(args) -> int:
    result = engine().images.pull(args.name, args.platform, None if args.quiet else PullPrinter())
    if not args.quiet:
        print(f"Digest: {result.repo_digest}")
        state = "Downloaded newer image" if result.downloaded else "Image is up to date"
        print(f"Status: {state} for {familiar_name(result.reference)}")
        if result.warning:
            print(result.warning, file=sys.stderr)
    print(result.reference)
    return 0


def cmd_push(args) -> int:
    result = engine().images.push(args.name, args.all_tags, None if args.quiet else PullPrinter())
    if args.quiet:
        print(result.reference)
    return 0


IMAGE_HEADER = {"ID": "IMAGE ID", "Repository": "REPOSITORY", "Tag": "TAG", "Digest": "DIGEST",
                "CreatedSince": "CREATED", "CreatedAt": "CREATED AT", "Size": "SIZE", "Containers": "CONTAINERS",
                "VirtualSize": "SIZE", "SharedSize": "SHARED SIZE", "UniqueSize": "UNIQUE SIZE"}


def cmd_images(args) -> int:
    images = engine().images.list(all=args.all)
    if args.filter_ref:
        images = [i for i in images if matches_reference(i, args.filter_ref)]
    if args.quiet:
        seen = []
        for image in images:
            short = image.id if args.no_trunc else image.short_id
            if short not in seen:
                seen.append(short)
        print("\n".join(seen)) if seen else None
        return 0
    fmt = args.format
    if fmt and fmt.startswith("table") and args.digests and "{{.Digest}}" not in fmt:
        fmt += "\t{{.Digest}}"  # as docker's NewImageFormat
    need_digest = args.digests or "{{.Digest}}" in (fmt or "")
    columns = ["Repository", "Tag"] + (["Digest"] if args.digests else []) + ["ID", "CreatedSince", "Size"]
    rows = [row for image in images for row in _image_contexts(image, need_digest, not args.no_trunc, args.filter_ref)]
    return print_list(fmt, columns, IMAGE_HEADER, "*formatter.imageContext", rows)


def _image_contexts(image, need_digest: bool, trunc: bool, patterns: list[str] | None = None) -> list[dict]:
    """docker's imageContext rows of one image: one per tag (and per digest when digests are shown), a
    `<none>` one for an untagged image; with `patterns` (`images REPOSITORY`), only the tags that match."""
    from tuiker.fmt import ago, go_time, human_size, parse_time

    created = parse_time(image.created)
    tags: dict[str, list[str]] = {}
    for t in image.repo_tags:
        if patterns and not tag_matches(familiar_name(t), patterns):
            continue
        repo, _, tag = familiar_name(t).rpartition(":")
        tags.setdefault(repo, []).append(tag)
    digests: dict[str, list[str]] = {}
    for d in image.repo_digests:
        repo, _, dg = familiar_name(d).partition("@")
        digests.setdefault(repo, []).append(dg)
    names = [(repo, tag, dg) for repo, repo_tags in tags.items() for tag in repo_tags
             for dg in (digests.get(repo) if need_digest else None) or ["<none>"]]
    if not names:  # untagged: dangling, whatever digests it was pulled by
        names = [("<none>", "<none>", "<none>")]
    fields = {
        "ID": image.short_id if trunc else image.id,
        "CreatedSince": ago(created) if created else "",
        "CreatedAt": go_time(created or 0),
        "Size": human_size(image.size),
        "Containers": "N/A",
        "VirtualSize": human_size(image.size, precision=4),
        "SharedSize": "N/A",
        "UniqueSize": "N/A",
    }
    return [{"Repository": repo, "Tag": tag, "Digest": dg, **fields} for repo, tag, dg in names]


def cmd_rmi(args) -> int:
    images = engine().images
    status = 0
    for name in args.images:
        try:
            for verb, what in images.remove(name, force=args.force):
                print(f"{verb}: {what}")
        except TuikerError as e:
            error(e)
            status = 1
    return status


def cmd_tag(args) -> int:
    engine().images.tag(args.source, args.target)
    return 0


def cmd_image_prune(args) -> int:
    from tuiker.fmt import human_size

    what = "all images without at least one container associated to them" if args.all else "all dangling images"
    if not args.force and not confirm(f"WARNING! This will remove {what}."):
        return 0
    done, reclaimed = engine().images.prune(all_images=args.all)
    if done:
        print("Deleted Images:")
        for verb, what in done:
            print(f"{verb.lower()}: {what}")
        print()
    print(f"Total reclaimed space: {human_size(reclaimed)}")
    return 0


def cmd_save(args) -> int:
    if not args.output and sys.stdout.isatty():
        raise TuikerError("cowardly refusing to save to a terminal. Use the -o flag or redirect")
    engine().images.save(args.images, args.output or "/dev/stdout")
    return 0


def cmd_load(args) -> int:
    for name in engine().images.load(args.input or "/dev/stdin"):
        print(f"Loaded image: {name}" if not name.startswith("sha256:") else f"Loaded image ID: {name}")
    return 0


HISTORY_HEADER = {"ID": "IMAGE", "CreatedSince": "CREATED", "CreatedAt": "CREATED AT", "CreatedBy": "CREATED BY",
                  "Size": "SIZE", "Comment": "COMMENT"}


def cmd_history(args) -> int:
    rows = engine().images.history(args.image)
    fmt = args.format
    if args.quiet and (not fmt or fmt == "table"):
        fmt = "{{.ID}}"  # docker's NewHistoryFormat with --quiet
    contexts = [_history_context(row, args.human, not args.no_trunc) for row in rows]
    return print_list(fmt, ["ID", "CreatedSince", "CreatedBy", "Size", "Comment"], HISTORY_HEADER,
                      "*formatter.historyContext", contexts)


def _history_context(row: dict, human: bool, trunc: bool) -> dict:
    """docker's historyContext: the ID short (`sha256:` dropped) unless --no-trunc, CREATED BY cut to 45
    columns, sizes and ages human unless -H=false (then bytes and RFC 3339)."""
    from datetime import datetime

    from tuiker.fmt import ago, ellipsis, human_size

    local = datetime.fromtimestamp(row["Created"]).astimezone()
    created_at = local.isoformat(timespec="seconds")
    if local.utcoffset().total_seconds() == 0:
        created_at = created_at[:19] + "Z"  # Go's RFC 3339 writes UTC as Z
    created_by = row["CreatedBy"].replace("\t", " ")
    return {
        "ID": row["Id"].split(":", 1)[-1][:12] if trunc else row["Id"],
        "CreatedSince": ago(row["Created"]) if human else created_at,
        "CreatedAt": created_at,
        "CreatedBy": ellipsis(created_by, 45) if trunc else created_by,
        "Size": human_size(row["Size"]) if human else str(row["Size"]),
        "Comment": row["Comment"],
    }


def cmd_import(args) -> int:
    image = engine().images.import_(args.source, args.repository, args.change, args.message or "", args.platform,
                                    stdin=sys.stdin.buffer)
    print(image.id)
    return 0


def cmd_login(args) -> int:
    username = args.username or input("Username: ")
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        import getpass

        password = args.password or getpass.getpass("Password: ")
    if not username or not password:
        raise TuikerError("username and password are required")
    path = engine().images.login(args.server, username, password)
    print(f"Login Succeeded (credentials stored in {path})")
    return 0


def cmd_logout(args) -> int:
    from tuiker.engine.images import registry_host

    host = registry_host(args.server)
    if engine().images.logout(args.server):
        print(f"Removing login credentials for {host}")
    else:
        print(f"Not logged in to {host}")
    return 0


# -- parsers ---------------------------------------------------------------------------------------

def add_parsers(sub) -> None:
    """`images`, `rmi`, `tag`, `pull`, `save`, `load`."""
    _add_images_parser(sub, "images")
    _add_image_verbs(sub, prefix=False)


def add_image_group(sub) -> None:
    """`image ls|rm|tag|pull|save|load|inspect|prune`, `login` and `logout`."""
    image = sub.add_parser("image", help="Manage images")
    image_sub = sub.add_subparsers_of(image, dest="image_command", metavar="COMMAND", required=True)
    _add_images_parser(image_sub, "ls", aliases=["list"])
    _add_image_verbs(image_sub, prefix=True)
    build.add_build_parser(image_sub)
    p = image_sub.add_parser("inspect", help="Display detailed information on one or more images")
    p.add_argument("names", nargs="+", metavar="IMAGE")
    p.add_argument("-f", "--format", help="Format output using a Go template, or 'json'")
    p.set_defaults(func=containers.cmd_inspect, type="image")
    p = image_sub.add_parser("prune", help="Remove unused images")
    p.add_argument("-a", "--all", action="store_true", help="Remove all unused images, not just dangling ones")
    p.add_argument("-f", "--force", action="store_true", help="Do not prompt for confirmation")
    p.set_defaults(func=cmd_image_prune)

    p = sub.add_parser("login", help="Log in to a registry")
    p.add_argument("server", nargs="?", metavar="SERVER")
    p.add_argument("-u", "--username")
    p.add_argument("-p", "--password")
    p.add_argument("--password-stdin", action="store_true", help="Take the password from stdin")
    p.set_defaults(func=cmd_login)
    p = sub.add_parser("logout", help="Log out from a registry")
    p.add_argument("server", nargs="?", metavar="SERVER")
    p.set_defaults(func=cmd_logout)


def _add_images_parser(sub, name: str, aliases=()) -> None:
    p = sub.add_parser(name, aliases=list(aliases), help="List images")
    p.add_argument("filter_ref", nargs="*", metavar="REPOSITORY[:TAG]")
    p.add_argument("-a", "--all", action="store_true", help="Show all images (default hides intermediate images)")
    p.add_argument("-q", "--quiet", action="store_true", help="Only show image IDs")
    p.add_argument("--digests", action="store_true", help="Show digests")
    p.add_argument("--no-trunc", action="store_true", help="Don't truncate output")
    p.add_argument("--format", help="Format output using a Go template: 'table', 'table TEMPLATE', 'json' or TEMPLATE")
    p.set_defaults(func=cmd_images)


def _add_image_verbs(sub, prefix: bool) -> None:
    """Verbs that exist both top-level (`tuiker rmi`) and under `tuiker image` (`image rm`)."""
    p = sub.add_parser("rm" if prefix else "rmi", aliases=["remove"] if prefix else [],
                       help="Remove one or more images")
    p.add_argument("images", nargs="+", metavar="IMAGE")
    p.add_argument("-f", "--force", action="store_true", help="Force removal of the image")
    p.set_defaults(func=cmd_rmi)
    p = sub.add_parser("tag", help="Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE")
    p.add_argument("source", metavar="SOURCE_IMAGE[:TAG]")
    p.add_argument("target", metavar="TARGET_IMAGE[:TAG]")
    p.set_defaults(func=cmd_tag)
    p = sub.add_parser("pull", help="Download an image from a registry")
    p.add_argument("name", metavar="NAME[:TAG|@DIGEST]")
    p.add_argument("--platform", help="Set platform if server is multi-platform capable (os/arch[/variant])")
    p.add_argument("-q", "--quiet", action="store_true", help="Suppress verbose output")
    p.set_defaults(func=cmd_pull)
    p = sub.add_parser("push", help="Upload an image to a registry")
    p.add_argument("name", metavar="NAME[:TAG]")
    p.add_argument("-a", "--all-tags", action="store_true", help="Push all tags of an image to the repository")
    p.add_argument("-q", "--quiet", action="store_true", help="Suppress verbose output")
    p.set_defaults(func=cmd_push)
    p = sub.add_parser("history", help="Show the history of an image")
    p.add_argument("image", metavar="IMAGE")
    p.add_argument("--format", help="Format output using a Go template: 'table', 'table TEMPLATE', 'json' or TEMPLATE")
    add_bool_flag(p, "-H", "--human", True, "Print sizes and dates in human readable format (default true)")
    p.add_argument("--no-trunc", action="store_true", help="Don't truncate output")
    p.add_argument("-q", "--quiet", action="store_true", help="Only show image IDs")
    p.set_defaults(func=cmd_history)
    p = sub.add_parser("import", help="Import the contents from a tarball to create a filesystem image")
    p.add_argument("-c", "--change", action="append", default=[], help="Apply Dockerfile instruction to the created"
                   " image")
    p.add_argument("-m", "--message", help="Set commit message for imported image")
    p.add_argument("--platform", help="Set platform if server is multi-platform capable")
    p.add_argument("source", metavar="file|URL|-")
    p.add_argument("repository", nargs="?", metavar="REPOSITORY[:TAG]")
    p.set_defaults(func=cmd_import)
    p = sub.add_parser("save", help="Save one or more images to a tar archive (docker-archive + OCI layout)")
    p.add_argument("images", nargs="+", metavar="IMAGE")
    p.add_argument("-o", "--output", help="Write to a file, instead of STDOUT")
    p.set_defaults(func=cmd_save)
    p = sub.add_parser("load", help="Load an image from a tar archive (docker-archive or OCI layout)")
    p.add_argument("-i", "--input", help="Read from tar archive file, instead of STDIN")
    p.add_argument("-q", "--quiet", action="store_true", help="Suppress the load output")
    p.set_defaults(func=cmd_load)
