"""What every command prints through, as docker's CLI prints it: tables, `--format` templates, inspect documents,
pull progress, errors, usage errors and prompts. Every command module imports this one, and this one no command
module."""

from __future__ import annotations

import json
import sys
import time

from tuiker.engine import NotFoundError, TuikerError, one_line

TYPE_CHECKING = False  # not typing's: importing typing costs ~7 ms on every command
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from tuiker.engine import Engine


def engine() -> Engine:
    """The engine at TUIKER_ROOT; the engine package loads here, so `--help` never does."""
    from tuiker.engine import Engine

    return Engine()


def error(e: BaseException | str) -> None:
    """`Error: ...` on stderr, one line whatever the message holds."""
    print(f"Error: {one_line(e)}", file=sys.stderr)


def each(refs: Iterable[str], action: Callable[[str], object], missing_ok: bool = False) -> int:
    """`action` on every ref, printing each that succeeded and an error line for each that failed (docker's
    verbs on several containers or networks); exit status 1 if any failed. With `missing_ok` (docker's
    `rm -f`), a ref that is not there is no error and says nothing."""
    status = 0
    for ref in refs:
        try:
            action(ref)
            print(ref)
        except NotFoundError as e:
            if not missing_ok:
                error(e)
                status = 1
        except TuikerError as e:
            error(e)
            status = 1
    return status


def confirm(question: str) -> bool:
    """docker's prompt before a prune: `... Are you sure you want to continue? [y/N]`."""
    answer = input(f"{question}\nAre you sure you want to continue? [y/N] ")
    return answer.strip().lower() in ("y", "yes")


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


_GO_BOOLS = {"1": True, "t": True, "T": True, "TRUE": True, "true": True, "True": True,
             "0": False, "f": False, "F": False, "FALSE": False, "false": False, "False": False}


def add_bool_flag(parser, short: str | None, long: str, default: bool, help: str) -> None:
    """A boolean flag as docker's (pflag) takes it: `-p` alone sets it, `-p=false` / `--pause=false` (any of Go's
    ParseBool words) gives a value; a separate word after it is never its value. argparse matches an option string
    whole before it splits at `=`: each `FLAG=WORD` is registered as an option of its own (not in the help)."""
    import argparse

    dest = long.lstrip("-").replace("-", "_")
    flags = [f for f in (short, long) if f]
    parser.add_argument(*flags, dest=dest, action="store_true", default=default, help=help)
    for word, value in _GO_BOOLS.items():
        parser.add_argument(*(f"{f}={word}" for f in flags), dest=dest, action="store_const", const=value,
                            help=argparse.SUPPRESS)


# -- pull progress ---------------------------------------------------------------------------------

class PullPrinter:
    """docker pull's and push's output: one line per layer, redrawn in place on a terminal, and only the
    status changes (not every byte count) when the output is a pipe or a file."""

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
        if p.status not in ("Downloading", "Pushing") or not p.total:
            return p.status
        from tuiker.fmt import human_size

        start = self.started.setdefault(p.id, time.monotonic())
        filled = int(self.BAR * p.current / p.total)
        bar = "=" * max(filled - 1, 0) + (">" if filled < self.BAR else "=") + " " * (self.BAR - filled)
        rate = p.current / max(time.monotonic() - start, 1e-3)
        return f"{p.status} [{bar}] {human_size(p.current)}/{human_size(p.total)} {human_size(rate)}/s"

    def _redraw(self) -> None:
        out = []
        if self.drawn:
            out.append(f"\x1b[{self.drawn}A")
        for layer in self.order:
            out.append(f"\x1b[2K{self.lines[layer]}\n")
        self.drawn = len(self.order)
        self.stream.write("".join(out))
        self.stream.flush()


# -- tables and templates ----------------------------------------------------------------------------

def table(header: list[str], rows: list[list[str]], minwidth: int = 10) -> None:
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
        table([header[c] for c in columns], [[_value(row[c]) for c in columns] for row in rows])
        return 0
    from tuiker import gotemplate
    from tuiker.fmt import tabwrite

    with_header = fmt.startswith("table")
    text = "{{json .}}" if fmt == "json" else fmt[len("table"):] if with_header else fmt
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
    if with_header:
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
        for message in errors:
            print(message, file=sys.stderr)
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


def inspect_each(printer: InspectPrinter, refs: Iterable[str], lookups: list[Callable[[str], dict]]) -> int:
    """Look each ref up with the first of `lookups` that knows it (docker's order: containers, then images)
    and print what was found; a ref none knows is an error line (the lookup's own message when there is one
    lookup, else docker's `No such object`), exit status 1."""
    found, status = [], 0
    for ref in refs:
        message = f"No such object: {ref}"
        for lookup in lookups:
            try:
                found.append(lookup(ref))
                break
            except TuikerError as e:
                if len(lookups) == 1:
                    message = str(e)
        else:
            error(message)
            status = 1
    return printer.print(found) or status
