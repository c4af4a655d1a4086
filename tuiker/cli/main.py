"""tuiker's docker-like command line. Never imports Textual; engine modules load only when used."""

from __future__ import annotations

import argparse
import functools
import json
import os
import sys
import time

from tuiker import __version__
from tuiker.base.errors import TuikerError, one_line
from tuiker.cli import containers as cli_containers
from tuiker.cli import networks as cli_network


def _engine():
    from tuiker.engine import Engine

    return Engine()


# -- pull progress ---------------------------------------------------------------------------------

class PullPrinter:
    """docker pull's output: one line per layer, redrawn in place on a terminal, and only the status
    changes (not every byte count) when the output is a pipe or a file."""

    BAR = 50

    def __init__(self, stream=sys.stdout) -> None:
        self.stream = stream
        self.tty = stream.isatty()
        self.order: list[str] = []
        self.lines: dict[str, str] = {}
        self.last_status: dict[str, str] = {}
        self.started: dict[str, float] = {}
        self.drawn = 0

    def __call__(self, p) -> None:
        if not p.id:
            self.stream.write(p.status + "\n")
            self.stream.flush()
            return
        if p.id not in self.lines:
            self.order.append(p.id)
        self.lines[p.id] = f"{p.id}: {self._describe(p)}"
        if self.tty:
            self._redraw()
        elif self.last_status.get(p.id) != p.status:
            self.last_status[p.id] = p.status
            self.stream.write(f"{p.id}: {p.status}\n")
            self.stream.flush()

    def _describe(self, p) -> str:
        if p.status != "Downloading" or not p.total:
            return p.status
        from tuiker.fmt import human_size

        start = self.started.setdefault(p.id, time.monotonic())
        filled = int(self.BAR * p.current / p.total)
        bar = "=" * max(filled - 1, 0) + (">" if filled < self.BAR else "=") + " " * (self.BAR - filled)
        rate = p.current / max(time.monotonic() - start, 1e-3)
        return f"Downloading [{bar}] {human_size(p.current)}/{human_size(p.total)} {human_size(rate)}/s"

    def _redraw(self) -> None:
        out = []
        if self.drawn:
            out.append(f"\x1b[{self.drawn}A")
        for layer in self.order:
            out.append(f"\x1b[2K{self.lines[layer]}\n")
        self.drawn = len(self.order)
        self.stream.write("".join(out))
        self.stream.flush()


# -- commands --------------------------------------------------------------------------------------

def cmd_pull(args) -> int:
    from tuiker.image import reference

    engine = _engine()
    printer = PullPrinter() if not args.quiet else None
    result = engine.pull(args.name, args.platform, printer)
    if not args.quiet:
        from tuiker.image.pull import host_arch_warning

        print(f"Digest: {result.repo_digest}")
        familiar = reference.familiar(result.reference)
        state = "Downloaded newer image" if result.downloaded else "Image is up to date"
        print(f"Status: {state} for {familiar}")
        warning = None if args.platform else host_arch_warning(engine.image_config(result.image))
        if warning:
            print(warning, file=sys.stderr)
    print(result.reference)
    return 0


def cmd_images(args) -> int:
    engine = _engine()
    images = engine.images()
    if args.filter_ref:
        images = [i for i in images if _matches_any(i, args.filter_ref)]
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
    rows = [row for image in images for row in _image_contexts(image, need_digest, not args.no_trunc)]
    return print_list(fmt, columns, IMAGE_HEADER, "*formatter.imageContext", rows)


IMAGE_HEADER = {"ID": "IMAGE ID", "Repository": "REPOSITORY", "Tag": "TAG", "Digest": "DIGEST",
                "CreatedSince": "CREATED", "CreatedAt": "CREATED AT", "Size": "SIZE", "Containers": "CONTAINERS",
                "VirtualSize": "SIZE", "SharedSize": "SHARED SIZE", "UniqueSize": "UNIQUE SIZE"}


def _image_contexts(image, need_digest: bool, trunc: bool) -> list[dict]:
    """docker's imageContext rows of one image: one per tag (and per digest when digests are shown), a
    `<none>` one for an untagged image."""
    from tuiker.fmt import ago, go_time, human_size, parse_time
    from tuiker.image import reference

    created = parse_time(image.created)
    tags: dict[str, list[str]] = {}
    for t in image.repo_tags:
        repo, _, tag = reference.familiar(t).rpartition(":")
        tags.setdefault(repo, []).append(tag)
    digests: dict[str, list[str]] = {}
    for d in image.repo_digests:
        repo, _, dg = reference.familiar(d).partition("@")
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


def _matches_any(image, patterns: list[str]) -> bool:
    import fnmatch

    from tuiker.image import reference

    names = [reference.familiar(t) for t in image.repo_tags]
    for pattern in patterns:
        for name in names:
            repo = name.rsplit(":", 1)[0]
            if fnmatch.fnmatch(name, pattern) or fnmatch.fnmatch(repo, pattern):
                return True
    return False


def _table(header: list[str], rows: list[list[str]], minwidth: int = 10) -> None:
    """Rows under a header, aligned as docker's tabwriter does (columns at least `minwidth` wide)."""
    from tuiker.fmt import tabwrite

    sys.stdout.write(tabwrite("".join("\t".join(row) + "\n" for row in [header, *rows]), minwidth))


def print_list(fmt: str | None, columns: list[str], header: dict[str, str], type_name: str,
               rows: list[dict]) -> int:
    """What docker's list commands print (formatter.Context.Write): `rows` (field name -> value, or a
    function computing it: docker's context methods) as the table of `columns` by default; else through the
    Go template `fmt` (`table ...` adds a header row of `header`'s names and aligns the columns, `json`
    is `{{json .}}`; `\\t` and `\\n` stand for a tab and a newline). Returns the exit status: 1, with
    docker's message, for a template that does not parse or fails on a row."""
    if not fmt or fmt == "table":
        _table([header[c] for c in columns], [[_value(row[c]) for c in columns] for row in rows])
        return 0
    from tuiker import gotemplate
    from tuiker.fmt import tabwrite

    table = fmt.startswith("table")
    text = "{{json .}}" if fmt == "json" else fmt[len("table"):] if table else fmt
    text = text.strip(" ").replace("\\t", "\t").replace("\\n", "\n")

    def context(fields: dict) -> gotemplate.Struct:
        # A function is a method of docker's context type; one with a parameter takes a string (Label).
        return gotemplate.Struct(type_name, {k: gotemplate.Method(v, ("string",) * v.__code__.co_argcount)
                                             if callable(v) else v for k, v in fields.items()}, context=True)
    try:
        template = gotemplate.parse(text)
        body = "".join(template.execute(context(row)) + "\n" for row in rows)
    except gotemplate.TemplateError as e:
        print(f"template parsing error: {e}", file=sys.stderr)
        return 1
    if table:
        # The header row is the same template over the column names (a map, so an unknown name is
        # "<no value>"); as docker, whatever it printed before failing is kept.
        names = {**header, "Label": gotemplate.Method(_label_header, ("string",))}
        head: list[str] = []
        try:
            template.execute(names, funcs=gotemplate.HEADER_FUNCS, out=head)
        except gotemplate.TemplateError:
            pass
        body = tabwrite("".join(head) + "\n" + body)
    sys.stdout.write(body)
    return 0


def _value(v) -> str:
    return v() if callable(v) else v


def _label_header(name: str) -> str:
    """docker's SubHeaderContext.Label: the last dotted part of a label's name, `-` and `_` as spaces."""
    return name.rsplit(".", 1)[-1].replace("-", " ").replace("_", " ")


def cmd_rmi(args) -> int:
    engine = _engine()
    status = 0
    for name in args.images:
        try:
            for verb, what in engine.remove_image(name, force=args.force):
                print(f"{verb}: {what}")
        except TuikerError as e:
            print(f"Error: {one_line(e)}", file=sys.stderr)
            status = 1
    return status


def cmd_tag(args) -> int:
    _engine().tag(args.source, args.target)
    return 0


class InspectPrinter:
    """What every `inspect` prints, as docker's inspect.Inspect: all objects as an indented JSON array,
    or compact with `--format json`, or each through the Go template `--format`. A template that does not
    parse is exit status 64 before anything is looked up; one that fails on an object is reported (with
    docker's message) after the others are printed, exit status 1."""

    # Keys whose values are Go maps in docker's types (an unknown key is "<no value>"); any other object
    # is a struct, where an unknown field is an error.
    MAPS = frozenset({"Labels", "Options", "Containers", "Networks", "Ports", "ExposedPorts", "Volumes", "Data",
                      "PortBindings", "DriverOpts", "Sysctls", "StorageOpt", "Tmpfs", "Annotations",
                      "EndpointsConfig", "Config@LogConfig"})

    def __init__(self, template: str | None) -> None:
        self.template = template
        self.parsed = None
        self.status = 0
        if template and template != "json":
            from tuiker import gotemplate

            try:
                self.parsed = gotemplate.parse(template)
            except gotemplate.TemplateError as e:
                print(f"template parsing error: {e}", file=sys.stderr)
                self.status = 64

    def print(self, found: list[dict]) -> int:
        if not self.template:
            print(json.dumps(found, indent=4, ensure_ascii=False))
            return 0
        if self.template == "json":
            print(json.dumps(found, separators=(",", ":"), ensure_ascii=False))
            return 0
        from tuiker import gotemplate

        out, errors = [], []
        for item in found:
            try:
                out.append(self.parsed.execute(self._typed(item)) + "\n")
            except gotemplate.TemplateError as e:
                errors.append(f"template parsing error: {e}")
        sys.stdout.write("".join(out) or "\n")
        for error in errors:
            print(error, file=sys.stderr)
        return 1 if errors else 0

    def _typed(self, value, key: str = "", is_map: bool = False):
        """The JSON document as docker's Go types: objects are structs (an unknown field is docker's
        "map has no entry for key" of its raw-JSON fallback) except the maps named in MAPS."""
        from tuiker.gotemplate import Struct

        if isinstance(value, list):
            return [self._typed(v) for v in value]
        if not isinstance(value, dict):
            return value
        if is_map:
            return {k: self._typed(v) for k, v in value.items()}
        return Struct("struct", {k: self._typed(v, k, k in self.MAPS or f"{k}@{key}" in self.MAPS)
                                 for k, v in value.items()}, missing="map has no entry for key {quoted}")


def cmd_image_prune(args) -> int:
    from tuiker.fmt import human_size

    if not args.force:
        what = "all images without at least one container associated to them" if args.all else \
            "all dangling images"
        answer = input(f"WARNING! This will remove {what}.\nAre you sure you want to continue? [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            return 0
    done, reclaimed = _engine().prune_images(all_images=args.all)
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
    _engine().save(args.images, args.output or "/dev/stdout")
    return 0


def cmd_load(args) -> int:
    for name in _engine().load(args.input or "/dev/stdin"):
        print(f"Loaded image: {name}" if not name.startswith("sha256:") else f"Loaded image ID: {name}")
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
    path = _engine().login(args.server, username, password)
    print(f"Login Succeeded (credentials stored in {path})")
    return 0


def cmd_logout(args) -> int:
    from tuiker.engine import _registry_host

    host = _registry_host(args.server)
    if _engine().logout(args.server):
        print(f"Removing login credentials for {host}")
    else:
        print(f"Not logged in to {host}")
    return 0


# -- parser ----------------------------------------------------------------------------------------

def _add_images_parser(sub, name: str, aliases=()) -> None:
    p = sub.add_parser(name, aliases=list(aliases), help="List images")
    p.add_argument("filter_ref", nargs="*", metavar="REPOSITORY[:TAG]")
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
    p = sub.add_parser("save", help="Save one or more images to a tar archive (docker-archive + OCI layout)")
    p.add_argument("images", nargs="+", metavar="IMAGE")
    p.add_argument("-o", "--output", help="Write to a file, instead of STDOUT")
    p.set_defaults(func=cmd_save)
    p = sub.add_parser("load", help="Load an image from a tar archive (docker-archive or OCI layout)")
    p.add_argument("-i", "--input", help="Read from tar archive file, instead of STDIN")
    p.add_argument("-q", "--quiet", action="store_true", help="Suppress the load output")
    p.set_defaults(func=cmd_load)


class _Skipped:
    """Stands in for the parser of a command that was not typed: building all ~60 argparse parsers
    cost ~70 ms per command (gettext lookups for every one), more than the engine's work in `run`."""

    def __getattr__(self, _name: str):
        return self._anything

    def _anything(self, *_args, **_kwargs) -> _Skipped:
        return self


_SKIPPED = _Skipped()


class _Subcommands:
    """argparse's subparsers action, building a real parser only for the wanted command
    (every command when `wanted` is None: for help, and for errors that list the commands)."""

    def __init__(self, action, wanted: list[str | None]) -> None:
        self.action = action
        self.wanted = wanted

    def add_parser(self, name: str, **kwargs):
        want = self.wanted[0]
        if want is None or want == name or want in kwargs.get("aliases", ()):
            parser = self.action.add_parser(name, formatter_class=_Formatter, **kwargs)
            parser.set_defaults(prog=parser.prog)  # the deepest command's name, for the errors main() reports
            return parser
        return _SKIPPED

    def add_subparsers_of(self, parser, **kwargs) -> _Subcommands:
        """The subcommands of a command group (`image ls`, `container rm`), filtered by the next word."""
        return _Subcommands(parser.add_subparsers(**kwargs), self.wanted[1:] or [None])


class UsageError(Exception):
    """A command line docker would refuse before doing anything; main() reports it in docker's form."""

    def __init__(self, message: str, prog: str, required: int = 0) -> None:
        super().__init__(message)
        self.prog = prog
        self.required = required  # how many arguments the command needs at least

    def report(self) -> tuple[str, int]:
        """(docker's text for it, its exit status): 125 for a flag docker's parser refuses, 1 for the wrong
        number of arguments or an unknown command, as docker's cobra commands."""
        message, prog, code = str(self), self.prog, 125
        if message.startswith("unrecognized arguments: "):
            word = message.split(": ", 1)[1].split()[0]
            if word.startswith("--"):
                message = f"unknown flag: {word.split('=', 1)[0]}"
            elif word.startswith("-") and len(word) > 1:
                message = f"unknown shorthand flag: '{word[1]}' in {word}"
            else:
                message, code = f'"{prog}" accepts no arguments.', 1
        elif message.startswith("the following arguments are required: "):
            count = self.required
            message, code = f'"{prog}" requires at least {count} argument{"s" if count > 1 else ""}.', 1
        elif message.startswith("argument COMMAND: invalid choice: "):
            word = message.split("invalid choice: ", 1)[1].split(" (", 1)[0].strip("'")
            message, code = f"{prog}: '{word}' is not a tuiker command.", 1
        elif message.startswith("argument ") and ": " in message:
            flags, detail = message.removeprefix("argument ").split(": ", 1)
            flag = max(flags.split("/"), key=len)
            if detail.startswith("expected one argument"):
                message = f"flag needs an argument: {flag}"
            elif "invalid" in detail and ": " in detail:
                kind, value = detail.rsplit(": ", 1)
                message = f'invalid argument "{value.split(" (")[0].strip(chr(39))}" for "{flag}" flag: {kind}'
        return f"{message}\nSee '{prog} --help'.", code


class _Parser(argparse.ArgumentParser):
    """No abbreviated long flags (argparse's default would take `--priv` for `--privileged`, which docker
    refuses), and errors raised rather than printed with argparse's usage dump and status 2."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, allow_abbrev=False, **kwargs)

    def error(self, message: str):
        # A trailing COMMAND... (nargs "...") is optional to docker, though argparse lists it as missing.
        required = sum(1 for a in self._actions if not a.option_strings and a.nargs not in ("?", "*", "...")
                       and a.default is not argparse.SUPPRESS)
        raise UsageError(message, self.prog, max(required, 1))


class _Formatter(argparse.HelpFormatter):
    """argparse makes a formatter for every add_argument call, and each one asks shutil for the terminal
    width: importing shutil (zlib, bz2, lzma) and those calls cost ~5 ms per command. Ask once, cheaply."""

    def __init__(self, prog: str) -> None:
        super().__init__(prog, width=_terminal_width())


@functools.cache
def _terminal_width() -> int:
    try:
        return int(os.environ.get("COLUMNS", "")) - 2
    except ValueError:
        try:
            return os.get_terminal_size(sys.stdout.fileno()).columns - 2
        except OSError:
            return 78


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The parser; with `argv`, only the parts that parsing those words needs."""
    words = [w for w in argv if not w.startswith("-")][:2] if argv is not None else []
    parser = _Parser(
        prog="tuiker", formatter_class=_Formatter,
        description="A terminal container manager with its own engine. Without a command, opens the TUI.",
    )
    parser.add_argument("-v", "--version", action="version", version=f"tuiker {__version__}")
    sub = _Subcommands(parser.add_subparsers(dest="command", metavar="COMMAND"), words or [None])
    _add_images_parser(sub, "images")
    _add_image_verbs(sub, prefix=False)
    cli_containers.add_parsers(sub)
    cli_containers.add_container_group(sub)
    cli_network.add_parsers(sub)  # network ..., system prune
    p = sub.add_parser("inspect", help="Return low-level information on containers or images")
    p.add_argument("names", nargs="+", metavar="NAME")
    p.add_argument("-f", "--format", help="Format output using a Go template, or 'json'")
    p.add_argument("--type", choices=["container", "image"], help="Only look for this kind of object")
    p.set_defaults(func=cli_containers.cmd_inspect)

    image = sub.add_parser("image", help="Manage images")
    image_sub = sub.add_subparsers_of(image, dest="image_command", metavar="COMMAND", required=True)
    _add_images_parser(image_sub, "ls", aliases=["list"])
    _add_image_verbs(image_sub, prefix=True)
    p = image_sub.add_parser("inspect", help="Display detailed information on one or more images")
    p.add_argument("names", nargs="+", metavar="IMAGE")
    p.add_argument("-f", "--format", help="Format output using a Go template, or 'json'")
    p.set_defaults(func=cli_containers.cmd_inspect, type="image")
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
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if _is_tui(argv):
        try:
            from tuiker.tui.app import run  # Textual loads only here: every other command starts without it
        except ImportError as e:
            print(f"Error: the TUI needs the tui extra (pip install 'tuiker[tui]'): {e}", file=sys.stderr)
            return 1
        return run()
    try:
        # parse_known_args: an unknown flag is then reported for the command it was given to, not for `tuiker`.
        args, unknown = build_parser(argv).parse_known_args(argv)
        if unknown:
            raise UsageError(f"unrecognized arguments: {' '.join(unknown)}", getattr(args, "prog", "tuiker"))
    except UsageError as e:
        text, code = e.report()
        print(text, file=sys.stderr)
        return code
    if not getattr(args, "func", None):
        build_parser().print_help()
        return 0
    try:
        return args.func(args)
    except TuikerError as e:
        print(f"Error: {one_line(e)}", file=sys.stderr)
        # docker: 125 when `run` or `create` fails in the engine (a bad value, a pull that fails), else 1.
        return getattr(args, "engine_error_status", 1)
    except OSError as e:
        # Something the engine did not foresee (a file gone, a full disk): still one line, docker's 125.
        print(f"Error: {one_line(e)}", file=sys.stderr)
        return 125
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0


def _is_tui(argv: list[str]) -> bool:
    return argv in ([], ["tui"])


def entry() -> None:
    """The console script (and `python -m tuiker`): main(), then out without the interpreter's teardown,
    which finalises ~100 modules and runs a last garbage collection: 10-15 ms on every command here. Nothing
    of ours needs it (no atexit hooks, no temporary files left to finalisers); output is flushed first. The
    TUI exits normally, for Textual's own shutdown."""
    code = main()
    if _is_tui(sys.argv[1:]):
        sys.exit(code)
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (BrokenPipeError, ValueError):  # a reader that went away (`tuiker ps | head`), or a closed stream
            pass
    os._exit(code)


if __name__ == "__main__":
    entry()
