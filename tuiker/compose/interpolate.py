"""The compose-spec's variables: `.env` files, and `${VAR}` interpolation in every string value of a file.

    $VAR ${VAR}                  the value, or "" (compose warns) when unset
    ${VAR:-default} ${VAR-default}   default when unset or empty / only when unset
    ${VAR:?error} ${VAR?error}   an error when unset or empty / only when unset
    ${VAR:+other} ${VAR+other}   other when set and non-empty / when set
    $$                           a literal $

A default or a replacement may itself hold variables (`${A:-${B}}`)."""

from __future__ import annotations

import re

from tuiker.base.errors import TuikerError

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class ComposeError(TuikerError):
    """A compose file that cannot be read as the compose-spec says, or asks for what tuiker does not do."""


class InterpolationError(ComposeError):
    pass


def interpolate(text: str, env: dict[str, str], where: str, unset: set[str] | None = None) -> str:
    """`text` with its variables replaced from `env`; `where` names the value in errors (`services.web.image`);
    the names found unset are added to `unset` (compose warns about each)."""
    out, i = [], 0
    while i < len(text):
        dollar = text.find("$", i)
        if dollar < 0:
            out.append(text[i:])
            break
        out.append(text[i:dollar])
        nxt = text[dollar + 1:dollar + 2]
        if nxt == "$":
            out.append("$")
            i = dollar + 2
        elif nxt == "{":
            end = _closing_brace(text, dollar + 2)
            if end < 0:
                raise _bad_format(where, text)
            out.append(_braced(text[dollar + 2:end], env, where, text, unset))
            i = end + 1
        else:
            m = _NAME.match(text, dollar + 1)
            if not m:
                raise _bad_format(where, text)
            out.append(_lookup(m.group(), env, unset))
            i = m.end()
    return "".join(out)


def _closing_brace(text: str, start: int) -> int:
    depth = 1
    for i in range(start, len(text)):
        if text[i] == "{" and text[i - 1] == "$":
            depth += 1
        elif text[i] == "}":
            depth -= 1
            if depth == 0:
                return i
    return -1


def _braced(inner: str, env: dict[str, str], where: str, text: str, unset: set[str] | None) -> str:
    m = _NAME.match(inner)
    if not m:
        raise _bad_format(where, text)
    name, rest = m.group(), inner[m.end():]
    if not rest:
        return _lookup(name, env, unset)
    colon = rest.startswith(":")
    op, arg = rest[1:2] if colon else rest[:1], rest[2:] if colon else rest[1:]
    if op not in ("-", "?", "+"):
        raise _bad_format(where, text)
    value = env.get(name)
    present = value is not None and (value != "" or not colon)
    if op == "-":
        return value if present else interpolate(arg, env, where, unset)
    if op == "+":
        return interpolate(arg, env, where, unset) if present else ""
    if not present:
        detail = interpolate(arg, env, where, unset)
        raise InterpolationError(f"error while interpolating {where}: required variable {name} is missing a value"
                                 + (f": {detail}" if detail else ""))
    return value


def _lookup(name: str, env: dict[str, str], unset: set[str] | None) -> str:
    if name not in env and unset is not None:
        unset.add(name)
    return env.get(name, "")


def _bad_format(where: str, text: str) -> InterpolationError:
    return InterpolationError(f"invalid interpolation format for {where}: {text!r}; you may need to escape any $"
                              " with another $")


def interpolate_tree(value, env: dict[str, str], where: str, unset: set[str] | None = None):
    """Every string value of a parsed YAML document interpolated (keys are not: the compose-spec's rule)."""
    if isinstance(value, str):
        return interpolate(value, env, where, unset)
    if isinstance(value, dict):
        return {k: interpolate_tree(v, env, f"{where}.{k}" if where else str(k), unset) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate_tree(v, env, f"{where}[{i}]", unset) for i, v in enumerate(value)]
    return value


def parse_env_file(path: str, env: dict[str, str] | None = None) -> dict[str, str | None]:
    """A `.env` or `env_file`: `KEY=VALUE` lines (`export ` allowed), `#` comments and blank lines skipped;
    'single quotes' literal, "double quotes" with \\n escapes and variables, unquoted values trimmed, with
    variables and ` #` comments. `KEY` alone is None: the value comes from the environment, or none."""
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except OSError as e:
        raise TuikerError(f"Failed to load {path}: open {path}: {(e.strerror or str(e)).lower()}") from None
    scope = dict(env or {})
    found: dict[str, str | None] = {}
    for number, raw in enumerate(lines, 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        line = line.removeprefix("export ").lstrip()
        key, sep, value = line.partition("=")
        key = key.strip()
        if not _NAME.fullmatch(key.replace(".", "_").replace("-", "_")):
            raise TuikerError(f"Failed to load {path}: line {number}: unexpected character in variable name {key!r}")
        if not sep:
            found[key] = None
            continue
        value = value.strip()
        where = f"{path}:{number}"
        if value[:1] == "'" and value.rstrip().endswith("'") and len(value) > 1:
            value = value[1:value.rindex("'")]
        elif value[:1] == '"' and len(value) > 1 and '"' in value[1:]:
            inner = value[1:value.rindex('"')]
            inner = inner.replace("\\n", "\n").replace("\\t", "\t").replace('\\"', '"').replace("\\\\", "\\")
            value = interpolate(inner, scope, where)
        else:
            value = value.split(" #", 1)[0].rstrip()
            value = interpolate(value, scope, where)
        found[key] = value
        scope[key] = value
    return found
