"""tuiker's docker-like command line: the parser, built only as far as the command typed needs, and the
dispatch to the commands of containers.py, images.py and networks.py. Never imports Textual (the TUI is
started from here, and only then loaded); the engine loads only when a command runs."""

from __future__ import annotations

import argparse
import functools
import os
import sys

from tuiker import __version__
from tuiker.cli import build, compose, containers, events, images, networks, volumes
from tuiker.cli.output import UsageError, error
from tuiker.engine import TuikerError

# -- parser ----------------------------------------------------------------------------------------

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
    images.add_parsers(sub)
    containers.add_parsers(sub)
    containers.add_container_group(sub)
    networks.add_parsers(sub)  # network ..., system prune, system df
    volumes.add_parsers(sub)
    events.add_parsers(sub)
    p = sub.add_parser("inspect", help="Return low-level information on containers or images")
    p.add_argument("names", nargs="+", metavar="NAME")
    p.add_argument("-f", "--format", help="Format output using a Go template, or 'json'")
    p.add_argument("--type", choices=["container", "image"], help="Only look for this kind of object")
    p.set_defaults(func=containers.cmd_inspect)
    images.add_image_group(sub)  # image ..., login, logout
    compose.add_parsers(sub)
    build.add_parsers(sub)
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
    except UsageError as e:  # a flag's value the command refuses as docker's parser would (a bad duration)
        text, code = e.report()
        print(text, file=sys.stderr)
        return code
    except TuikerError as e:
        error(e)
        # docker: 125 when `run` or `create` fails in the engine (a bad value, a pull that fails), else 1.
        return getattr(args, "engine_error_status", 1)
    except OSError as e:
        # Something the engine did not foresee (a file gone, a full disk): still one line, docker's 125.
        error(e)
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
