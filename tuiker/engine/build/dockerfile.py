"""The Dockerfile parser: buildkit's frontend/dockerfile/parser (lines, directives, continuations, heredocs,
the per-instruction argument shapes) and frontend/dockerfile/instructions (flags, argument counts, the
checks and their messages), ported so a Dockerfile is rejected with docker's words before any step runs.

The parsed arguments are docker's AST values: quotes and escapes in ENV/LABEL/ARG/COPY... words are still
there. The builder expands each with shell.expand_word, which also removes them (as docker does at dispatch).
RUN/CMD/ENTRYPOINT shell forms are one string, passed to the shell untouched."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from tuiker.base.errors import TuikerError
from tuiker.base.goquote import go_quote
from tuiker.base.times import parse_go_duration
from tuiker.engine.build.shell import Lex, ShellError


class DockerfileError(TuikerError):
    """A Dockerfile docker would refuse; str() is docker's message."""


@dataclass
class Heredoc:
    name: str
    content: str      # the lines between the `<<NAME` line and the terminator, newlines kept; tabs stripped if chomp
    expand: bool      # False when the delimiter was quoted (`<<"EOF"`, `<<'EOF'`): no variable expansion
    chomp: bool       # `<<-`
    fd: int = 0       # `3<<EOF` (buildkit's file descriptor prefix)


@dataclass
class Instruction:
    cmd: str                   # lower case: "from", "run", "copy", ...
    line: int                  # 1-based line where it starts
    original: str              # as written, continuations joined, comments inside dropped
    flags: list[str]           # ["--from=build", "--chown=1:1"] as written (quotes removed), before expansion
    args: list[str]            # docker's node values (see the module docstring)
    json: bool = False         # exec form
    heredocs: list[Heredoc] = field(default_factory=list)
    legacy_kv: bool = False    # ENV/LABEL written `ENV key value` (no "=")
    trigger: Instruction | None = None   # ONBUILD's instruction
    end_line: int = 0

    def flag(self, name: str) -> str | None:
        """The value of --name=VALUE (the last one), "true" for a bare --name, None if absent."""
        values = self.flag_values(name)
        return values[-1] if values else None

    def flag_values(self, name: str) -> list[str]:
        """Every value given to a repeatable flag (RUN --mount, COPY --exclude)."""
        values = []
        for item in self.flags:
            key, eq, value = item[2:].partition("=")
            if key == name:
                values.append(value if eq else "true")
        return values

    def key_values(self) -> list[tuple[str, str]]:
        """ENV/LABEL pairs, unexpanded."""
        return list(zip(self.args[::2], self.args[1::2], strict=True))

    def arg_pairs(self) -> list[tuple[str, str | None]]:
        """ARG's names and defaults (None: no default), unexpanded."""
        return [(name, value if eq else None) for name, eq, value in (a.partition("=") for a in self.args)]

    def sources_and_dest(self) -> tuple[list[str], list[Heredoc], str]:
        """COPY/ADD: (source paths, heredoc sources in order, destination), unexpanded."""
        docs = {doc.name: doc for doc in self.heredocs}
        paths, inline = [], []
        for src in self.args[:-1]:
            word = _heredoc_word(src)
            if word is not None and word.name in docs:
                inline.append(docs[word.name])
            else:
                paths.append(src)
        return paths, inline, self.args[-1]

    @property
    def expression(self) -> str:
        """ONBUILD's trigger as docker stores it in the image config (heredocs appended)."""
        text = re.sub(r"(?i)^\s*ONBUILD\s*", "", self.original, count=1)
        for doc in self.heredocs:
            text += "\n" + doc.content + doc.name
        return text


@dataclass
class Stage:
    index: int
    name: str | None
    base: str                  # unexpanded image reference or stage name
    platform: str | None
    from_instruction: Instruction
    instructions: list[Instruction] = field(default_factory=list)


@dataclass
class Dockerfile:
    escape: str
    meta_args: list[Instruction]   # ARGs before the first FROM
    stages: list[Stage]
    syntax: str | None = None
    check: str | None = None
    warnings: list[str] = field(default_factory=list)

    def stage_index(self, target: str) -> int:
        for stage in self.stages:
            if stage.name is not None and stage.name == target.lower():
                return stage.index
        raise DockerfileError(f"target stage {go_quote(target)} could not be found")


COMMANDS = ("add", "arg", "cmd", "copy", "entrypoint", "env", "expose", "from", "healthcheck", "label",
            "maintainer", "onbuild", "run", "shell", "stopsignal", "user", "volume", "workdir")
_DIRECTIVES = ("escape", "syntax", "check")
_RE_DIRECTIVE = re.compile(r"^#[ \t\n\f\r]*([a-zA-Z][a-zA-Z0-9]*)[ \t\n\f\r]*=[ \t\n\f\r]*(.+?)[ \t\n\f\r]*$")
_RE_WHITESPACE = re.compile(r"[\t\v\f\r ]+")
_RE_HEREDOC = re.compile(r"^(\d*)<<(-?)\s*([^<]*)\Z")
_RE_LEADING_TABS = re.compile(r"(?m)^\t+")
_RE_STAGE_NAME = re.compile(r"^[a-z][a-z0-9-_.]*$")
_HEREDOC_COMMANDS = ("add", "copy", "run")
_GO_SPACE = " \t\n\v\f\r\x85\xa0"
_BOM = "\ufeff"
_MAX_LINE = 64 * 1024  # bufio.MaxScanTokenSize: a longer line (newline included) is an error
_MIN_HEALTH_INTERVAL_NS = 1_000_000  # docker's container.MinimumDuration, 1ms


class _ParseError(DockerfileError):
    """An error found before the line is known; parse() adds the location."""


def parse_instructions(text: str | bytes) -> tuple[list[Instruction], dict[str, str], list[str]]:
    """buildkit's parser.Parse alone: (the instructions, unchecked; the directives; the warnings)."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="surrogateescape")
    return _Parser(text).run()


def parse(text: str | bytes) -> Dockerfile:
    """Parse a whole Dockerfile and check every instruction; raises DockerfileError."""
    nodes, directives, warnings = parse_instructions(text)
    meta_args: list[Instruction] = []
    stages: list[Stage] = []
    for node in nodes:          # every instruction is checked before the stages are formed, as buildkit
        try:
            _check(node)
        except _ParseError as e:
            raise DockerfileError(f"dockerfile parse error on line {node.line}: {e}") from None
        if node.cmd == "from":
            name = _stage_name(node.args)
            stages.append(Stage(len(stages), name or None, node.args[0], node.flag("platform"), node))
        elif not stages and node.cmd == "arg":
            meta_args.append(node)
        elif not stages:
            raise DockerfileError("no build stage in current context")
        else:
            stages[-1].instructions.append(node)
    if not stages:
        raise DockerfileError("No image was generated. Is your Dockerfile empty?")
    return Dockerfile(directives["escape"], meta_args, stages, directives.get("syntax"), directives.get("check"),
                      warnings)


class _Parser:
    """parser.Parse: the file into instruction nodes."""

    def __init__(self, text: str) -> None:
        self.lines = re.findall(r"[^\n]*\n|[^\n]+$", text)   # Go's scanner splits on \n only
        if self.lines and self.lines[0].startswith(_BOM):
            self.lines[0] = self.lines[0][1:]
        self.pos = 0
        self.escape = "\\"
        self.continuation = _continuation_regex("\\")
        self.directives: dict[str, str] = {"escape": "\\"}
        self.seen: set[str] = set()
        self.directives_done = False
        self.too_long = False

    def _scan(self) -> str | None:
        if self.pos >= len(self.lines) or self.too_long:
            return None
        line = self.lines[self.pos]
        if len(line) > _MAX_LINE // 4 and len(line.encode("utf-8", errors="surrogateescape")) > _MAX_LINE:
            self.too_long = True     # Go's bufio.Scanner stops there: what came before still counts
            return None
        self.pos += 1
        return line

    def _directive(self, line: str) -> None:
        if self.directives_done:
            return
        m = _RE_DIRECTIVE.match(line)
        key = m.group(1).lower() if m else None
        if key not in _DIRECTIVES:
            self.directives_done = True
            return
        if key in self.seen:
            raise _ParseError(f"only one {key} parser directive can be used")
        self.seen.add(key)
        value = m.group(2)
        if key == "escape":
            if value not in ("`", "\\"):
                raise _ParseError(f"invalid escape token '{value}' does not match ` or \\")
            self.escape = value
            self.continuation = _continuation_regex(value)
        self.directives[key] = value

    def _process(self, raw: str, strip_left: bool) -> str:
        token = raw.rstrip("\r\n")
        if strip_left:
            token = token.lstrip(_GO_SPACE)
        self._directive(token)
        return "" if token.startswith("#") else token

    def _trim_continuation(self, line: str) -> tuple[str, bool]:
        if self.continuation.search(line):
            return self.continuation.sub(r"\1", line), False
        return line, True

    def run(self) -> tuple[list[Instruction], dict[str, str], list[str]]:
        nodes: list[Instruction] = []
        warnings: list[str] = []
        while (raw := self._scan()) is not None:
            start = self.pos
            try:
                processed = self._process(raw, True)
            except _ParseError as e:
                raise DockerfileError(f"dockerfile parse error on line {start}: {e}") from None
            line, end = self._trim_continuation(processed)
            if end and line == "":
                continue
            empty_continuation = False
            while not end and (raw := self._scan()) is not None:
                try:
                    processed = self._process(raw, False)
                except _ParseError as e:
                    raise DockerfileError(f"dockerfile parse error on line {self.pos}: {e}") from None
                if _is_comment(raw):
                    continue
                if not processed.lstrip(_GO_SPACE):
                    empty_continuation = True
                    continue
                piece, end = self._trim_continuation(processed)
                line += piece
            if empty_continuation:
                warnings.append("[WARNING]: Empty continuation line found in:\n    " + line)
            try:
                node = _node_from_line(line, self.escape)
                node.line = start
                if node.trigger is not None:
                    node.trigger.line = start
                if _can_contain_heredoc(node) and "<<" in line:
                    self._read_heredocs(node, line)
            except _ParseError as e:
                raise DockerfileError(f"dockerfile parse error on line {start}: {e}") from None
            node.end_line = self.pos
            nodes.append(node)
        if warnings:
            warnings.append("[WARNING]: Empty continuation lines will become errors in a future release.")
        if not nodes:
            raise DockerfileError("file with no instructions")
        if self.too_long:
            raise DockerfileError(f"dockerfile line greater than max allowed size of {_MAX_LINE - 1}")
        return nodes, self.directives, warnings

    def _read_heredocs(self, node: Instruction, line: str) -> None:
        for doc in heredocs_from_line(line):
            content = []
            while (raw := self._scan()) is not None:
                candidate = raw.rstrip("\r\n")
                if doc.chomp:
                    candidate = candidate.lstrip("\t")
                if candidate == doc.name:
                    break
                content.append(raw)
            else:
                raise _ParseError("unterminated heredoc")
            doc.content = "".join(content)
            if doc.chomp:
                doc.content = _RE_LEADING_TABS.sub("", doc.content)
            target = node.trigger if node.cmd == "onbuild" and node.trigger else node
            target.heredocs.append(doc)
            if target is not node:
                node.heredocs.append(doc)


def _continuation_regex(escape: str) -> re.Pattern:
    e = re.escape(escape)
    return re.compile(rf"([^{e}]){e}[ \t]*$|^{e}[ \t]*$")


def _is_comment(raw: str) -> bool:
    return raw.rstrip("\r\n").lstrip(_GO_SPACE).startswith("#")


def _can_contain_heredoc(node: Instruction) -> bool:
    if node.cmd == "onbuild" and node.trigger is not None:
        node = node.trigger
    return node.cmd in _HEREDOC_COMMANDS and not node.json


def parse_heredoc(word: str) -> Heredoc | None:
    """`<<EOF`, `<<-EOF`, `<<"EOF"`, `3<<EOF` as a Heredoc (no content yet); None for any other word."""
    m = _RE_HEREDOC.match(word)
    if not m or not m.group(3):
        return None
    rest = m.group(3)
    try:
        words = Lex("\\", skip_unset_env=True).process(rest, {})[1]
        if len(words) != 1:
            return None
        raw_words = Lex("\\", skip_unset_env=True, raw_quotes=True).process(rest, {})[1]
    except ShellError as e:
        raise _ParseError(str(e)) from None
    quotes = words[0].count("'") + words[0].count('"')
    raw_quotes = raw_words[0].count("'") + raw_words[0].count('"')
    return Heredoc(name=words[0], content="", expand=quotes == raw_quotes, chomp=m.group(2) == "-",
                   fd=int(m.group(1) or 0))


def _heredoc_word(word: str) -> Heredoc | None:
    """parse_heredoc, a malformed heredoc word being no heredoc (buildkit's MustParseHeredoc)."""
    try:
        return parse_heredoc(word)
    except _ParseError:
        return None


def heredocs_from_line(line: str) -> list[Heredoc]:
    try:
        words = Lex("\\", raw_quotes=True, raw_escapes=True, skip_unset_env=True).process(line, {})[1]
    except ShellError:
        return []
    return [doc for word in words if (doc := parse_heredoc(word)) is not None]


# -- one logical line into a node (parser.newNodeFromLine and line_parsers.go)

def _node_from_line(line: str, escape: str) -> Instruction:
    parts = _RE_WHITESPACE.split(line.strip(_GO_SPACE), maxsplit=1)
    written = parts[0]
    cmd = written.lower()
    rest, flags = _extract_flags(parts[1]) if len(parts) == 2 else ("", [])
    rest = rest.strip(_GO_SPACE)
    node = Instruction(cmd=cmd, line=0, original=line.strip(_GO_SPACE), flags=flags, args=[])
    if cmd not in COMMANDS:
        return node
    if cmd in ("add", "copy", "volume"):
        node.args, node.json = _maybe_json_list(rest)
    elif cmd in ("cmd", "entrypoint", "run", "shell"):
        node.args, node.json = _maybe_json(rest)
    elif cmd == "arg":
        node.args = _parse_words(rest, escape)
    elif cmd in ("env", "label"):
        node.args, node.legacy_kv = _parse_name_val(rest, cmd.upper(), escape)
    elif cmd in ("expose", "from"):
        node.args = _RE_WHITESPACE.split(rest) if rest else []
    elif cmd == "healthcheck":
        node.args, node.json = _parse_health(rest)
    elif cmd == "onbuild":
        if rest:
            node.trigger = _node_from_line(rest, escape)
            node.args = [node.trigger.original.split()[0], *node.trigger.args]
    else:   # maintainer, stopsignal, user, workdir
        node.args = [rest] if rest else []
    return node


def _extract_flags(line: str) -> tuple[str, list[str]]:
    """Leading `--name[=value]` words (quotes and backslashes processed); the rest of the line."""
    words: list[str] = []
    word = ""
    phase = "spaces"
    quote = ""
    blank_ok = False
    pos = 0
    n = len(line)
    while pos <= n:
        ch = line[pos] if pos < n else ""
        if phase == "spaces":
            if pos == n:
                break
            if ch in _GO_SPACE:
                pos += 1
                continue
            if ch != "-" or pos + 1 == n or line[pos + 1] != "-":
                return line[pos:], words
            phase = "word"
        if pos == n:
            if word != "--" and (blank_ok or word):
                words.append(word)
            break
        if phase == "word":
            if ch in _GO_SPACE:
                phase = "spaces"
                if word == "--":
                    return line[pos:], words
                if blank_ok or word:
                    words.append(word)
                word, blank_ok = "", False
            elif ch in "'\"":
                quote, blank_ok, phase = ch, True, "quote"
            elif ch == "\\":
                if pos + 1 < n:
                    pos += 1
                    word += line[pos]
            else:
                word += ch
        else:
            if ch == quote:
                phase = "word"
            elif ch == "\\":
                if pos + 1 == n:
                    phase = "word"
                else:
                    pos += 1
                    word += line[pos]
            else:
                word += ch
        pos += 1
    return "", words


def _parse_words(rest: str, escape: str) -> list[str]:
    """Space-separated words, quotes and escapes kept (line_parsers.go parseWords)."""
    words: list[str] = []
    word = ""
    phase = "spaces"
    quote = ""
    blank_ok = False
    pos = 0
    n = len(rest)
    while pos <= n:
        ch = rest[pos] if pos < n else ""
        if phase == "spaces":
            if pos == n:
                break
            if ch.isspace():
                pos += 1
                continue
            phase = "word"
        if pos == n:
            if blank_ok or word:
                words.append(word)
            break
        if phase == "word":
            if ch.isspace():
                phase = "spaces"
                if blank_ok or word:
                    words.append(word)
                word, blank_ok = "", False
                pos += 1
                continue
            if ch in "'\"":
                quote, blank_ok, phase = ch, True, "quote"
            if ch == escape:
                if pos + 1 == n:
                    pos += 1
                    continue    # an escape at the end of the line is dropped
                word += ch
                pos += 1
                ch = rest[pos]
            word += ch
        else:
            if ch == quote:
                phase = "word"
            if ch == escape and quote != "'":
                if pos + 1 == n:
                    phase = "word"
                    pos += 1
                    continue
                pos += 1
                word += ch
                ch = rest[pos]
            word += ch
        pos += 1
    return words


def _parse_name_val(rest: str, key: str, escape: str) -> tuple[list[str], bool]:
    words = _parse_words(rest, escape)
    if not words:
        return [], False
    if "=" not in words[0]:
        parts = _RE_WHITESPACE.split(rest, maxsplit=1)
        if len(parts) < 2:
            raise _ParseError(f"{key} must have two arguments")
        return [parts[0], parts[1]], True
    args = []
    for word in words:
        if "=" not in word:
            raise _ParseError(f"Syntax error - can't find = in {go_quote(word)}. Must be of the form: name=value")
        name, _, value = word.partition("=")
        args += [name, value]
    return args, False


def _parse_json(rest: str) -> list[str] | None:
    """A JSON array of strings; None if `rest` is not a JSON array (then it is shell form)."""
    rest = rest.lstrip(_GO_SPACE)
    if not rest.startswith("["):
        return None
    try:
        value = json.loads(rest, parse_constant=_no_constant)
    except ValueError:
        return None
    if not isinstance(value, list):
        return None
    if not all(isinstance(item, str) for item in value):
        raise _ParseError("when using JSON array syntax, arrays must be comprised of strings only")
    return value


def _no_constant(name: str) -> None:
    raise ValueError(name)   # Go's JSON has no NaN/Infinity


def _maybe_json(rest: str) -> tuple[list[str], bool]:
    if not rest:
        return [], False
    items = _parse_json(rest)
    return (items, True) if items is not None else ([rest], False)


def _maybe_json_list(rest: str) -> tuple[list[str], bool]:
    items = _parse_json(rest)
    if items is not None:
        return items, True
    return (_RE_WHITESPACE.split(rest) if rest else []), False


def _parse_health(rest: str) -> tuple[list[str], bool]:
    parts = re.match(r"(\S*)\s*(.*)", rest, re.DOTALL)
    kind, command = parts.group(1), parts.group(2)
    if not kind:
        return [], False
    args, is_json = _maybe_json(command)
    return [kind, *args], is_json


# -- instruction checks (instructions/parse.go)

_FLAG_BOOL, _FLAG_STRING, _FLAG_STRINGS = "bool", "string", "strings"
_ALLOWED_FLAGS: dict[str, dict[str, str]] = {
    "add": {"chown": _FLAG_STRING, "chmod": _FLAG_STRING, "link": _FLAG_BOOL, "keep-git-dir": _FLAG_BOOL,
            "checksum": _FLAG_STRING, "exclude": _FLAG_STRINGS},
    "copy": {"chown": _FLAG_STRING, "from": _FLAG_STRING, "chmod": _FLAG_STRING, "link": _FLAG_BOOL,
             "parents": _FLAG_BOOL, "exclude": _FLAG_STRINGS},
    "from": {"platform": _FLAG_STRING},
    "run": {"mount": _FLAG_STRINGS, "network": _FLAG_STRING, "security": _FLAG_STRING},
    "healthcheck": {"interval": _FLAG_STRING, "timeout": _FLAG_STRING, "start-period": _FLAG_STRING,
                    "start-interval": _FLAG_STRING, "retries": _FLAG_STRING},
}


def _check_flags(node: Instruction) -> None:
    """BFlags.Parse: every flag known to the instruction, well formed, given once (unless repeatable)."""
    allowed = _ALLOWED_FLAGS.get(node.cmd, {})
    used: set[str] = set()
    for item in node.flags:
        if not item.startswith("--"):
            raise _ParseError(f"Arg should start with -- : {item}")
        if item == "--":
            return
        name, eq, value = item[2:].partition("=")
        kind = allowed.get(name)
        if kind is None:
            raise _ParseError(f"Unknown flag: {name}")
        if name in used and kind != _FLAG_STRINGS:
            raise _ParseError(f"Duplicate flag specified: {name}")
        used.add(name)
        if kind == _FLAG_BOOL:
            if eq and value == "":
                raise _ParseError(f"Missing a value on flag: {name}")
            if value.lower() not in ("", "true", "false"):
                raise _ParseError(f"Expecting boolean value for flag {name}, not: {value}")
        elif not eq:
            raise _ParseError(f"Missing a value on flag: {name}")


def _check(node: Instruction) -> None:
    cmd = node.cmd
    name = cmd.upper()
    args = node.args
    if cmd not in COMMANDS:
        raise _ParseError(_unknown_instruction(node.original.split()[0]))
    if cmd in ("env", "label"):
        _check_flags(node)
        if not args:
            raise _ParseError(f"{name} requires at least one argument")
        if any(key == "" for key in args[::2]):
            raise _ParseError(f"{name} names can not be blank")
    elif cmd in ("maintainer", "workdir", "user"):
        if len(args) != 1:
            raise _ParseError(f"{name} requires exactly one argument")
        _check_flags(node)
    elif cmd in ("add", "copy"):
        if len(args) < 2:
            raise _ParseError(f"{name} requires at least two arguments, but only one was provided. "
                              "Destination could not be determined")
        _check_flags(node)
        if _heredoc_word(args[-1]) is not None:
            raise _ParseError(f"{name} cannot accept a heredoc as a destination")
    elif cmd == "from":
        _stage_name(args)
        _check_flags(node)
    elif cmd == "onbuild":
        if not args:
            raise _ParseError("ONBUILD requires at least one argument")
        _check_flags(node)
        trigger = args[0].strip().upper()
        if trigger == "ONBUILD":
            raise _ParseError("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed")
        if trigger in ("MAINTAINER", "FROM"):
            raise _ParseError(f"{trigger} isn't allowed as an ONBUILD trigger")
    elif cmd in ("run", "cmd", "entrypoint"):
        _check_flags(node)
    elif cmd == "healthcheck":
        health_config(node)
    elif cmd in ("expose", "volume"):
        if not args:
            raise _ParseError(f"{name} requires at least one argument")
        _check_flags(node)
        if cmd == "volume" and any(not v.strip(_GO_SPACE) for v in args):
            raise _ParseError("VOLUME specified can not be an empty string")
    elif cmd == "stopsignal":
        if len(args) != 1:
            raise _ParseError("STOPSIGNAL requires exactly one argument")
    elif cmd == "arg":
        if not args:
            raise _ParseError("ARG requires at least one argument")
        if any(arg.partition("=")[0] == "" for arg in args if "=" in arg):
            raise _ParseError("ARG names can not be blank")
    elif cmd == "shell":
        _check_flags(node)
        if not args:
            raise _ParseError("SHELL requires at least one argument")
        if not node.json:
            raise _ParseError("SHELL requires the arguments to be in JSON form")


def _stage_name(args: list[str]) -> str:
    if len(args) == 3 and args[1].lower() == "as":
        name = args[2].lower()
        if not _RE_STAGE_NAME.match(name):
            raise _ParseError(f"invalid name for build stage: {go_quote(args[2])}, "
                              "name can't start with a number or contain symbols")
        return name
    if len(args) != 1:
        raise _ParseError("FROM requires either one or three arguments")
    return ""


def _unknown_instruction(written: str) -> str:
    """buildkit's message, with util/suggest's hint: the closest instruction under edit distance 3, in the
    case it was written in."""
    message = f"unknown instruction: {written}"
    best, limit = "", 3
    for option in COMMANDS:
        distance = _levenshtein(written.lower(), option)
        if distance < limit:
            best, limit = option, distance
    if not best:
        return message
    if written == written.upper():
        best = best.upper()
    return f"{message} (did you mean {best}?)"


def _levenshtein(a: str, b: str) -> int:
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def health_config(node: Instruction) -> dict:
    """HEALTHCHECK as docker's HealthConfig ({"Test": [...], "Interval": ns, ...}; durations 0 when not
    given). Raises _ParseError with docker's messages; parse() has already called it on every HEALTHCHECK."""
    if not node.args:
        raise _ParseError("HEALTHCHECK requires at least one argument")
    kind = node.args[0].upper()
    rest = node.args[1:]
    if kind == "NONE":
        if rest:
            raise _ParseError("HEALTHCHECK NONE takes no arguments")
        return {"Test": ["NONE"]}
    _check_flags(node)
    if kind != "CMD":
        raise _ParseError(f"Unknown type {go_quote(kind)} in HEALTHCHECK (try CMD)")
    command = rest if node.json else [" ".join(rest)] if rest else []
    if not command or command == [""]:
        raise _ParseError("Missing command after HEALTHCHECK CMD")
    config: dict = {"Test": ["CMD" if node.json else "CMD-SHELL", *command]}
    for flag_name, key in (("interval", "Interval"), ("timeout", "Timeout"), ("start-period", "StartPeriod"),
                           ("start-interval", "StartInterval")):
        config[key] = _interval(flag_name, node.flag(flag_name) or "")
    retries = node.flag("retries") or ""
    config["Retries"] = 0
    if retries:
        if not re.fullmatch(r"[+-]?\d+", retries):
            raise _ParseError(f"strconv.ParseInt: parsing {go_quote(retries)}: invalid syntax")
        count = int(retries)
        if not -2**31 <= count < 2**31:
            raise _ParseError(f"strconv.ParseInt: parsing {go_quote(retries)}: value out of range")
        if count < 0:
            raise _ParseError(f"--retries cannot be negative ({count})")
        config["Retries"] = count
    return config


def _interval(name: str, value: str) -> int:
    if value == "":
        return 0
    try:
        nanoseconds = parse_go_duration(value)
    except ValueError as e:
        raise _ParseError(str(e)) from None
    if nanoseconds == 0:
        return 0
    if nanoseconds < _MIN_HEALTH_INTERVAL_NS:
        raise _ParseError(f"Interval {go_quote(name)} cannot be less than 1ms")
    return nanoseconds
