"""`commit -c` and `import -c`: Dockerfile instructions applied to an image config, as moby's BuildFromConfig.

Only the instructions docker allows there (validCommitCommands): CMD, ENTRYPOINT, ENV, EXPOSE, HEALTHCHECK,
LABEL, ONBUILD, STOPSIGNAL, USER, VOLUME, WORKDIR; any other is docker's "run is not a valid change command".
The changes are joined by newlines and read as a Dockerfile (continuations, comments), every one checked before
any is applied.

Bounded on purpose: the line splitting and the word expansion here (quotes, backslashes, `$VAR`, `${VAR}`,
`${VAR:-word}`, `${VAR:+word}`) are the subset these instructions need. The full Dockerfile parser and shell
lexer (engine/build/dockerfile.py, shell.py) replace `_instructions` and `_expand` once they land.
"""

from __future__ import annotations

import json
import re

from tuiker.base.errors import TuikerError

VALID = ("cmd", "entrypoint", "env", "expose", "healthcheck", "label", "onbuild", "stopsignal", "user", "volume",
         "workdir")
_HEALTH_FLAGS = {"interval": "Interval", "timeout": "Timeout", "start-period": "StartPeriod",
                 "start-interval": "StartInterval", "retries": "Retries"}
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def apply_changes(config: dict, changes: list[str]) -> dict:
    """A copy of the image config `config` (docker's container.Config fields) with `changes` applied."""
    if not changes:
        return dict(config)
    instructions = _instructions("\n".join(changes))
    for cmd, _rest in instructions:
        if cmd not in VALID:
            raise TuikerError(f"{cmd} is not a valid change command")
    state = {k: (list(v) if isinstance(v, list) else dict(v) if isinstance(v, dict) else v)
             for k, v in config.items()}
    cmd_set = False
    for cmd, rest in instructions:
        if not rest and cmd != "healthcheck":
            raise TuikerError(f"{cmd.upper()} requires at least one argument")
        if cmd == "cmd":
            state["Cmd"] = _command(rest)
            cmd_set = True
        elif cmd == "entrypoint":
            state["Entrypoint"] = _command(rest)
            if not cmd_set:
                state["Cmd"] = None  # docker: an ENTRYPOINT drops the CMD set before this build's own
        elif cmd == "env":
            env = _env_map(state.get("Env") or [])
            for key, value in _name_values("ENV", rest):
                env[key] = _expand(value, env)
            state["Env"] = [f"{k}={v}" for k, v in env.items()]
        elif cmd == "label":
            env = _env_map(state.get("Env") or [])
            labels = dict(state.get("Labels") or {})
            for key, value in _name_values("LABEL", rest):
                labels[_expand(key, env)] = _expand(value, env)
            state["Labels"] = labels
        elif cmd == "expose":
            from tuiker.net.ports import parse_expose

            env = _env_map(state.get("Env") or [])
            ports = dict(state.get("ExposedPorts") or {})
            for word in rest.split():
                ports.update({port: {} for port in parse_expose(_expand(word, env))})
            state["ExposedPorts"] = ports
        elif cmd == "volume":
            env = _env_map(state.get("Env") or [])
            volumes = dict(state.get("Volumes") or {})
            for word in _json_list(rest) or rest.split():
                path = _expand(word, env) if not rest.lstrip().startswith("[") else word
                if not path.strip():
                    raise TuikerError("VOLUME specified can not be an empty string")
                volumes[path] = {}
            state["Volumes"] = volumes
        elif cmd == "user":
            state["User"] = _expand(rest, _env_map(state.get("Env") or []))
        elif cmd == "workdir":
            import posixpath

            path = _expand(rest, _env_map(state.get("Env") or []))
            state["WorkingDir"] = posixpath.normpath(posixpath.join("/", state.get("WorkingDir") or "/", path))
        elif cmd == "stopsignal":
            from tuiker.base.signals import parse_signal

            signal = _expand(rest, _env_map(state.get("Env") or []))
            try:
                parse_signal(signal)
            except ValueError as e:
                raise TuikerError(str(e)) from None
            state["StopSignal"] = signal
        elif cmd == "onbuild":
            trigger = rest.split(None, 1)[0].upper()
            if trigger == "ONBUILD":
                raise TuikerError("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed")
            if trigger in ("FROM", "MAINTAINER"):
                raise TuikerError(f"{trigger} isn't allowed as an ONBUILD trigger")
            state["OnBuild"] = [*(state.get("OnBuild") or []), rest]
        else:
            state["Healthcheck"] = _healthcheck(rest)
    return state


def _instructions(text: str) -> list[tuple[str, str]]:
    """(instruction in lower case, the rest of its line) for each instruction; `\\` continues a line, `#`
    starts a comment line, blank lines are skipped."""
    found: list[tuple[str, str]] = []
    pending = ""
    for line in text.split("\n"):
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if pending and line.lstrip().startswith("#"):
            continue  # a comment inside a continued instruction is dropped, as docker's parser does
        stripped = line.rstrip()
        if stripped.endswith("\\"):
            pending += stripped[:-1]
            continue
        whole = (pending + line).strip()
        pending = ""
        word, _, rest = whole.partition(" ") if " " in whole.split("\t", 1)[0] else whole.partition("\t")
        found.append((word.lower(), rest.strip()))
    if pending.strip():
        word, _, rest = pending.strip().partition(" ")
        found.append((word.lower(), rest.strip()))
    return found


def _json_list(text: str) -> list[str] | None:
    """The exec form's items, or None when `text` is not a JSON array of strings (then it is shell form)."""
    if not text.startswith("["):
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, list) and all(isinstance(v, str) for v in value) else None


def _command(text: str) -> list[str]:
    items = _json_list(text)
    return items if items is not None else ["/bin/sh", "-c", text]


def _env_map(env: list[str]) -> dict[str, str]:
    return dict(item.partition("=")[::2] for item in env)


def _words(text: str) -> list[str]:
    """Words split at unquoted blanks, quotes and backslashes kept (docker's parseWords)."""
    words, current, quote, i = [], "", None, 0
    while i < len(text):
        ch = text[i]
        if ch == "\\" and quote != "'" and i + 1 < len(text):
            current += text[i:i + 2]
            i += 2
            continue
        if quote:
            quote = None if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch.isspace():
            if current:
                words.append(current)
            current = ""
            i += 1
            continue
        current += ch
        i += 1
    if current:
        words.append(current)
    return words


def _name_values(what: str, text: str) -> list[tuple[str, str]]:
    """ENV's and LABEL's `name=value ...`, or the old `name value` form (docker's parseNameVal)."""
    words = _words(text)
    if "=" not in words[0]:
        name, _, value = text.partition(" ") if " " in text else text.partition("\t")
        if not value.strip():
            raise TuikerError(f"{what} must have two arguments")
        return [(name, value.strip())]
    pairs = []
    for word in words:
        if "=" not in word:
            raise TuikerError(f"Syntax error - can't find = in \"{word}\". Must be of the form: name=value")
        name, _, value = word.partition("=")
        if not name:
            raise TuikerError(f"{what} names can not be blank")
        pairs.append((name, value))
    return pairs


def _expand(word: str, env: dict[str, str]) -> str:
    """The word with its quotes and backslashes resolved and its variables substituted from `env`."""
    out: list[str] = []
    quote = None
    i = 0
    while i < len(word):
        ch = word[i]
        if quote == "'":
            if ch == "'":
                quote = None
            else:
                out.append(ch)
            i += 1
        elif ch == "\\" and i + 1 < len(word):
            following = word[i + 1]
            if quote == '"' and following not in '"\\$':
                out.append(ch)
            out.append(following)
            i += 2
        elif ch == "'" and quote is None:
            quote = "'"
            i += 1
        elif ch == '"':
            quote = None if quote == '"' else '"'
            i += 1
        elif ch == "$":
            text, i = _variable(word, i + 1, env)
            out.append(text)
        else:
            out.append(ch)
            i += 1
    return "".join(out)


def _variable(word: str, i: int, env: dict[str, str]) -> tuple[str, int]:
    """The value of the variable named at word[i:] (after its `$`), and where the word goes on."""
    if word.startswith("{", i):
        end = word.find("}", i)
        if end < 0:
            raise TuikerError(f"missing '}}' in {word!r}")
        body = word[i + 1:end]
        name = _NAME.match(body)
        if not name:
            raise TuikerError(f"bad substitution in {word!r}")
        key, modifier = name.group(), body[name.end():]
        value = env.get(key)
        if modifier.startswith(":-"):
            value = value if value else _expand(modifier[2:], env)
        elif modifier.startswith(":+"):
            value = _expand(modifier[2:], env) if value else ""
        elif modifier:
            raise TuikerError(f"unsupported modifier ({modifier[:2]}) in substitution in {word!r}")
        return value or "", end + 1
    name = _NAME.match(word, i)
    if not name:
        return "$", i
    return env.get(name.group(), ""), name.end()


def _healthcheck(text: str) -> dict:
    """HEALTHCHECK NONE, or HEALTHCHECK [--interval=D ...] CMD command (docker's HealthConfig, durations in ns)."""
    from tuiker.base.times import parse_go_duration

    words = text.split()
    if not words:
        raise TuikerError("HEALTHCHECK requires at least one argument")
    if words[0].upper() == "NONE":
        if len(words) > 1:
            raise TuikerError("HEALTHCHECK NONE takes no arguments")
        return {"Test": ["NONE"]}
    health: dict = {}
    rest = text
    while rest.startswith("--"):
        flag, _, rest = rest.partition(" ")
        rest = rest.lstrip()
        name, _, value = flag[2:].partition("=")
        if name not in _HEALTH_FLAGS:
            raise TuikerError(f"Unknown flag: {name}")
        if name == "retries":
            if not value.isdigit() or int(value) < 1:
                raise TuikerError(f"--retries must be at least 1 (not {value})")
            health["Retries"] = int(value)
        else:
            try:
                health[_HEALTH_FLAGS[name]] = parse_go_duration(value)
            except ValueError as e:
                raise TuikerError(str(e)) from None
    kind, _, command = rest.partition(" ")
    if kind.upper() != "CMD" or not command.strip():
        raise TuikerError(f'Unknown type "{kind.upper()}" in HEALTHCHECK (try CMD)' if kind.upper() != "CMD"
                          else "Missing command after HEALTHCHECK CMD")
    items = _json_list(command.strip())
    test = ["CMD", *items] if items is not None else ["CMD-SHELL", command.strip()]
    return {"Test": test, **health}
