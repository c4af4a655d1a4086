"""Go's text/template, as the docker CLI evaluates `--format`: its lexer, parser and evaluator, with
Go's error messages, and docker's template functions (json, join, split, lower, upper, title, pad,
truncate). Pure Python, loaded only when a command is given a `--format`.

Values are Python's: str, int, float, bool, None (Go's nil), list (a slice), dict (a map: a missing key
is Go's "<no value>"), and Struct (a Go struct: a missing field is an error, its methods are Method).
"""

from __future__ import annotations

import math
import re

from tuiker.fmt import go_quote, printable

__all__ = ["NO_VALUE", "Method", "Struct", "Template", "TemplateError", "go_quote", "go_sprint", "parse",
           "to_json"]


class TemplateError(Exception):
    """A template that does not parse or fails to execute; the message is Go's."""


class _NoValue:
    """Go's invalid reflect.Value: what a missing map key gives; prints "<no value>"."""

    def __repr__(self) -> str:
        return "<no value>"

    def __bool__(self) -> bool:
        return False


NO_VALUE = _NoValue()


class Method:
    """A method of a Struct: called with the template's arguments (none for a plain `.Name`)."""

    __slots__ = ("fn", "params")

    def __init__(self, fn, params: tuple[str, ...] = ()) -> None:
        self.fn = fn
        self.params = params


class Struct:
    """A Go struct as a template sees it: fields in declaration order (a Method is a method).

    `type` names it in errors ("can't evaluate field X in type *formatter.ContainerContext");
    `missing`, when set, is the message for an unknown field instead (docker's inspect falls back to
    the raw JSON map, which says `map has no entry for key "X"`). `context` marks docker's formatter
    contexts, whose JSON is the map of their methods' values, keys sorted, <>& escaped."""

    __slots__ = ("type", "fields", "missing", "context")

    def __init__(self, type_name: str, fields: dict, missing: str | None = None, context: bool = False) -> None:
        self.type = type_name
        self.fields = fields
        self.missing = missing
        self.context = context

    def __repr__(self) -> str:
        return f"Struct({self.type}, {list(self.fields)})"


# -- formatting values as Go's fmt does --------------------------------------------------------------

def _float_digits(f: float) -> tuple[str, int]:
    """The shortest digits that give `f` back (of its absolute value), and the power of ten of the first."""
    mantissa, _, exp = repr(abs(f)).partition("e")
    whole, _, frac = mantissa.partition(".")
    all_digits = whole + frac
    leading_zeros = len(all_digits) - len(all_digits.lstrip("0"))
    return all_digits.strip("0") or "0", len(whole) - 1 - leading_zeros + int(exp or 0)


def _float_e(neg: bool, digits: str, exp: int) -> str:
    mant = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
    return f"{'-' if neg else ''}{mant}e{'-' if exp < 0 else '+'}{abs(exp):02d}"


def _float_f(neg: bool, digits: str, exp: int) -> str:
    if exp < 0:
        text = "0." + "0" * (-exp - 1) + digits
    elif exp + 1 >= len(digits):
        text = digits + "0" * (exp + 1 - len(digits))
    else:
        text = digits[:exp + 1] + "." + digits[exp + 1:]
    return ("-" if neg else "") + text


def go_float(f: float) -> str:
    """Go's %v (and %g) of a float64: the shortest digits, with an exponent below 1e-4 or from 1e6 up."""
    if math.isnan(f):
        return "NaN"
    if math.isinf(f):
        return "+Inf" if f > 0 else "-Inf"
    if f == 0:
        return "-0" if math.copysign(1, f) < 0 else "0"
    digits, exp = _float_digits(f)
    if exp < -4 or exp >= 6:
        return _float_e(f < 0, digits, exp)
    return _float_f(f < 0, digits, exp)


def go_type(v) -> str:
    """Go's name for a value's type, as errors and %T print it."""
    if v is None or v is NO_VALUE:
        return "<nil>"
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int):
        return "int"
    if isinstance(v, float):
        return "float64"
    if isinstance(v, str):
        return "string"
    if isinstance(v, Struct):
        return v.type
    if isinstance(v, list):
        return "[]string" if v and all(isinstance(e, str) for e in v) else "[]interface {}"
    if isinstance(v, dict):
        if v and all(isinstance(e, str) for e in v.values()):
            return "map[string]string"
        return "map[string]interface {}"
    return type(v).__name__


def _sorted_items(d: dict) -> list:
    return sorted(d.items(), key=lambda kv: _key_order(kv[0]))


def _key_order(k):
    return (0, k, "") if isinstance(k, int | float) and not isinstance(k, bool) else (1, 0, str(k))


def _struct_values(s: Struct) -> list:
    return [(k, v) for k, v in s.fields.items() if not isinstance(v, Method)]


def go_sprint(v, top: bool = True, plus: bool = False) -> str:
    """fmt's %v (%+v with `plus`): [a b], map[k:v], {field values}, <nil>."""
    if v is None:
        return "<nil>"
    if v is NO_VALUE:
        return "<no value>" if top else "<nil>"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return go_float(v)
    if isinstance(v, int | str):
        return str(v)
    if isinstance(v, list):
        return "[" + " ".join(go_sprint(e, False, plus) for e in v) + "]"
    if isinstance(v, dict):
        return "map[" + " ".join(f"{go_sprint(k, False, plus)}:{go_sprint(e, False, plus)}"
                                 for k, e in _sorted_items(v)) + "]"
    if isinstance(v, Struct):
        parts = [(f"{k}:" if plus else "") + go_sprint(e, False, plus) for k, e in _struct_values(v)]
        return "{" + " ".join(parts) + "}"
    return str(v)


# -- JSON as Go's encoding/json writes it --------------------------------------------------------------

def _json_string(s: str, html: bool) -> str:
    out = ['"']
    for ch in s:
        o = ord(ch)
        if ch in '"\\':
            out.append("\\" + ch)
        elif o < 0x20:
            out.append(_JSON_ESCAPES.get(ch) or f"\\u{o:04x}")
        elif ch in "\u2028\u2029" or (html and ch in "<>&"):
            out.append(f"\\u{o:04x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


_JSON_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t", "\b": "\\b", "\f": "\\f"}


def _json_float(f: float) -> str:
    if math.isnan(f) or math.isinf(f):
        raise TemplateError(f"json: unsupported value: {go_float(f)}")
    if f == 0:
        return "0" if math.copysign(1, f) > 0 else "-0"
    digits, exp = _float_digits(f)
    if abs(f) < 1e-6 or abs(f) >= 1e21:
        return _float_e(f < 0, digits, exp).replace("e-0", "e-").replace("e+0", "e+")
    return _float_f(f < 0, digits, exp)


def to_json(v, html: bool = False) -> str:
    """Compact JSON as Go marshals it: map keys sorted, struct fields in order, no ASCII escaping
    (`html` escapes <, > and & as json.Marshal does)."""
    if v is None or v is NO_VALUE:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return _json_float(v)
    if isinstance(v, str):
        return _json_string(v, html)
    if isinstance(v, list | tuple):
        return "[" + ",".join(to_json(e, html) for e in v) + "]"
    if isinstance(v, dict):
        return "{" + ",".join(f"{_json_string(str(k), html)}:{to_json(e, html)}" for k, e in
                              sorted(v.items(), key=lambda kv: str(kv[0]))) + "}"
    if isinstance(v, Struct):
        if v.context:
            # docker's formatter.MarshalJSON: every method without arguments, as a map (keys sorted),
            # through json.Marshal (which escapes HTML characters).
            values = {k: m.fn() if isinstance(m, Method) else m for k, m in v.fields.items()
                      if not (isinstance(m, Method) and m.params)}
            return to_json(values, html=True)
        return "{" + ",".join(f"{_json_string(k, html)}:{to_json(e, html)}" for k, e in _struct_values(v)) + "}"
    raise TemplateError(f"json: unsupported type: {go_type(v)}")


# -- printf ----------------------------------------------------------------------------------------

_VERB = re.compile(r"%([-+# 0]*)(\[\d+\])?(\*|\d+)?(?:\.(\[\d+\])?(\*|\d*))?(\[\d+\])?(.?)", re.S)


def _bad(verb: str, v) -> str:
    if v is None or v is NO_VALUE:
        return f"%!{verb}(<nil>)"
    return f"%!{verb}({go_type(v)}={go_sprint(v, False)})"


def _pad(text: str, width: int | None, flags: str, zero_ok: bool = False) -> str:
    if width is None or len(text) >= width:
        return text
    if "-" in flags:
        return text + " " * (width - len(text))
    if "0" in flags and zero_ok:
        sign = text[0] if text[:1] in "+- " else ""
        return sign + "0" * (width - len(text)) + text[len(sign):]
    return " " * (width - len(text)) + text


def _fmt_int(n: int, verb: str, flags: str, prec: int | None) -> str | None:
    base = {"d": 10, "x": 16, "X": 16, "o": 8, "O": 8, "b": 2}.get(verb)
    if base is None:
        return None
    digits = format(abs(n), {10: "d", 16: "x", 8: "o", 2: "b"}[base])
    if verb == "X":
        digits = digits.upper()
    if prec is not None:
        digits = "" if prec == 0 and n == 0 else digits.rjust(prec, "0")
    prefix = ""
    if verb == "O" or ("#" in flags and base == 8 and not digits.startswith("0")):
        prefix = "0o" if verb == "O" else "0"
    elif "#" in flags and base == 16:
        prefix = "0x" if verb == "x" else "0X"
    elif "#" in flags and base == 2:
        prefix = "0b"
    sign = "-" if n < 0 else "+" if "+" in flags else " " if " " in flags else ""
    return sign + prefix + digits


def _fmt_float(f: float, verb: str, flags: str, prec: int | None) -> str | None:
    if verb in "vgG":
        if prec is None:
            text = go_float(f).replace("e", "E") if verb == "G" else go_float(f)
        else:
            text = f"%.{prec or 1}{'G' if verb == 'G' else 'g'}" % f
    elif verb in "eEfF":
        text = f"%.{6 if prec is None else prec}{verb}" % f
    else:
        return None
    if text[0] not in "-" and ("+" in flags or " " in flags):
        text = ("+" if "+" in flags else " ") + text
    return text


def _format_one(verb: str, flags: str, prec: int | None, v) -> str:
    if verb == "T":
        return go_type(v)
    if v is NO_VALUE or v is None:
        return "<nil>" if verb == "v" else _bad(verb, v)
    if isinstance(v, bool):
        return ("true" if v else "false") if verb in "vt" else _bad(verb, v)
    if isinstance(v, int):
        if verb == "v":
            verb = "d"
        if verb == "c":
            return chr(v)
        if verb == "q":  # strconv.QuoteRune: ' escaped, " not
            return "'" + go_quote(chr(v))[1:-1].replace("'", "\\'").replace('\\"', '"') + "'"
        if verb == "U":
            return f"U+{v:04X}"
        text = _fmt_int(v, verb, flags, prec)
        return text if text is not None else _bad(verb, v)
    if isinstance(v, float):
        text = _fmt_float(v, verb, flags, prec)
        return text if text is not None else _bad(verb, v)
    if isinstance(v, str):
        if verb in "vs":
            return v if prec is None else v[:prec]
        if verb == "q":
            if "#" in flags and "`" not in v and all(printable(c) or c == "\t" for c in v):
                return "`" + v + "`"
            return go_quote(v, ascii_only="+" in flags)
        if verb in "xX":
            data = v.encode()
            if prec is not None:
                data = data[:prec]
            spec = "02x" if verb == "x" else "02X"
            prefix = ("0x" if verb == "x" else "0X") if "#" in flags else ""
            if " " in flags:  # "% x": bytes apart, each with its prefix
                return " ".join(prefix + format(b, spec) for b in data)
            return prefix + "".join(format(b, spec) for b in data)
        return _bad(verb, v)
    if isinstance(v, list):
        return "[" + " ".join(_format_one(verb, flags, prec, e) for e in v) + "]"
    if isinstance(v, dict):
        return "map[" + " ".join(f"{_format_one(verb, flags, prec, k)}:{_format_one(verb, flags, prec, e)}"
                                 for k, e in _sorted_items(v)) + "]"
    if isinstance(v, Struct):
        plus = "+" in flags
        return "{" + " ".join((f"{k}:" if plus else "") + _format_one(verb, flags, prec, e)
                              for k, e in _struct_values(v)) + "}"
    return _bad(verb, v)


def go_sprintf(fmt: str, args: list) -> str:
    """fmt.Sprintf's verbs %v %s %d %q %t %x %X %o %b %c %U %e %f %g %T, flags, widths, precisions,
    `*` and explicit argument indexes, with Go's %!verb(type=value) complaints."""
    out: list[str] = []
    argi = 0
    reordered = False
    pos = 0
    while pos < len(fmt):
        i = fmt.find("%", pos)
        if i < 0:
            out.append(fmt[pos:])
            break
        out.append(fmt[pos:i])
        m = _VERB.match(fmt, i)
        pos = m.end()
        flags, idx1, width, idx2, prec, idx3, verb = m.groups()
        if verb == "%" and not (flags or idx1 or width or prec is not None):
            out.append("%")
            continue
        if not verb:
            out.append("%!(NOVERB)")
            break

        def take(idx):
            nonlocal argi, reordered
            if idx:
                argi = int(idx[1:-1]) - 1
                reordered = True
            if 0 <= argi < len(args):
                argi += 1
                return True, args[argi - 1]
            argi += 1
            return False, None

        w = p = None
        if idx1:
            argi, reordered = int(idx1[1:-1]) - 1, True
        if width == "*":
            ok, w = take(None)
            if not ok or not isinstance(w, int) or isinstance(w, bool):
                out.append("%!(BADWIDTH)")
                w = None
            elif w < 0:
                flags, w = flags + "-", -w
        elif width:
            w = int(width)
        if prec is not None:
            if prec == "*":
                ok, p = take(idx2)
                if not ok or not isinstance(p, int) or isinstance(p, bool) or p < 0:
                    out.append("%!(BADPREC)")
                    p = None
            else:
                if idx2:
                    argi, reordered = int(idx2[1:-1]) - 1, True
                p = int(prec or 0)
        ok, value = take(idx3)
        if not ok:
            out.append(f"%!{verb}(MISSING)" if not (idx1 or idx2 or idx3) else f"%!{verb}(BADINDEX)")
            continue
        text = _format_one(verb, flags, p, value)
        zero_ok = isinstance(value, int | float) and not isinstance(value, bool) and verb not in "cqU"
        out.append(_pad(text, w, flags, zero_ok))
    if not reordered and argi < len(args):
        out.append("%!(EXTRA " + ", ".join(f"{go_type(a)}={go_sprint(a, False)}" for a in args[argi:]) + ")")
    return "".join(out)


# -- lexer -----------------------------------------------------------------------------------------

class _Tok:
    __slots__ = ("typ", "val", "pos", "line")

    def __init__(self, typ: str, val: str, pos: int, line: int) -> None:
        self.typ, self.val, self.pos, self.line = typ, val, pos, line

    def __str__(self) -> str:
        if self.typ == "EOF":
            return "EOF"
        if self.typ in _KEYWORDS or self.typ == "dot":
            return f"<{self.val}>"
        if len(self.val) > 10:
            return go_quote(self.val[:10]) + "..."
        return go_quote(self.val)


_KEYWORDS = frozenset({"block", "break", "continue", "define", "else", "end", "if", "range", "nil", "template",
                       "with"})
_SPACE = " \t\r\n"
_TERMINATORS = set(_SPACE) | set(".,|:)(")
_NUMBER = re.compile(r"[+-]?(?:0[xX][0-9a-fA-F_]*\.?[0-9a-fA-F_]*(?:[pP][+-]?[0-9_]+)?"
                     r"|0[oO][0-7_]*|0[bB][01_]*|[0-9_]*\.?[0-9_]*(?:[eE][+-]?[0-9_]+)?)i?")


def _lex(text: str) -> list[_Tok]:
    """Go's template lexer: text, and the tokens of each action between {{ and }} (trim markers and
    comments handled here). A lexing error ends the list as an "error" token: as in Go, the parser
    reports it only if nothing before it was wrong."""
    toks: list[_Tok] = []
    try:
        _scan(text, toks)
    except _LexError as e:
        toks.append(_Tok("error", e.args[0], e.args[1], text.count("\n", 0, e.args[1]) + 1))
    return toks


class _LexError(Exception):
    """(message, position)"""


def _scan(text: str, toks: list) -> None:
    def line_at(p: int) -> int:
        return text.count("\n", 0, p) + 1

    def fail(msg: str, p: int):
        raise _LexError(msg, p)

    pos, n = 0, len(text)
    trim_next = False

    while True:
        start = text.find("{{", pos)
        chunk_end = n if start < 0 else start
        left_trim = start >= 0 and text.startswith("-", start + 2) and start + 3 < n and text[start + 3] in _SPACE
        chunk = text[pos:chunk_end]
        if trim_next:
            chunk = chunk.lstrip(_SPACE)
        if left_trim:
            chunk = chunk.rstrip(_SPACE)
        if chunk:
            toks.append(_Tok("text", chunk, pos, line_at(pos)))
        if start < 0:
            toks.append(_Tok("EOF", "", n, line_at(n)))
            return
        pos = start + 2 + (2 if left_trim else 0)
        # A comment: {{/* ... */}}, nothing else in the action.
        if text.startswith("/*", pos):
            end = text.find("*/", pos + 2)
            if end < 0:
                fail("unclosed comment", start)
            pos = end + 2
            if text.startswith("}}", pos):
                pos, trim_next = pos + 2, False
            elif pos < n and text[pos] in _SPACE and text.startswith("-}}", pos + 1):
                pos, trim_next = pos + 4, True
            else:
                fail("comment ends before closing delimiter", start)
            continue
        toks.append(_Tok("{{", "{{", start, line_at(start)))
        depth = 0
        while True:
            if text.startswith("}}", pos):
                if depth:
                    fail("unclosed left paren", pos)
                toks.append(_Tok("}}", "}}", pos, line_at(pos)))
                pos, trim_next = pos + 2, False
                break
            if pos < n and text[pos] in _SPACE and text.startswith("-}}", pos + 1):
                if depth:
                    fail("unclosed left paren", pos)
                toks.append(_Tok("}}", "}}", pos + 1, line_at(pos)))
                pos, trim_next = pos + 4, True
                break
            if pos >= n:
                fail("unclosed action", pos)
            ch = text[pos]
            if ch in _SPACE:
                end = pos  # up to a space that starts a " -}}"
                while end < n and text[end] in _SPACE and not text.startswith("-}}", end + 1):
                    end += 1
                toks.append(_Tok("space", text[pos:end], pos, line_at(pos)))
                pos = end
            elif ch == "=":
                toks.append(_Tok("=", "=", pos, line_at(pos)))
                pos += 1
            elif ch == ":":
                if not text.startswith(":=", pos):
                    fail("expected :=", pos)
                toks.append(_Tok(":=", ":=", pos, line_at(pos)))
                pos += 2
            elif ch == "|":
                toks.append(_Tok("|", "|", pos, line_at(pos)))
                pos += 1
            elif ch == '"':
                end = pos + 1
                while True:
                    if end >= n or text[end] == "\n":
                        fail("unterminated quoted string", pos)
                    if text[end] == "\\":
                        end += 2
                        continue
                    if text[end] == '"':
                        break
                    end += 1
                toks.append(_Tok("string", text[pos:end + 1], pos, line_at(pos)))
                pos = end + 1
            elif ch == "`":
                end = text.find("`", pos + 1)
                if end < 0:
                    fail("unterminated raw quoted string", pos)
                toks.append(_Tok("rawstring", text[pos:end + 1], pos, line_at(pos)))
                pos = end + 1
            elif ch == "'":
                end = pos + 1
                while True:
                    if end >= n or text[end] == "\n":
                        fail("unterminated character constant", pos)
                    if text[end] == "\\":
                        end += 2
                        continue
                    if text[end] == "'":
                        break
                    end += 1
                toks.append(_Tok("charconst", text[pos:end + 1], pos, line_at(pos)))
                pos = end + 1
            elif ch == "$":
                end = pos + 1
                while end < n and (text[end].isalnum() or text[end] == "_"):
                    end += 1
                if end < n and text[end] not in _TERMINATORS and not text.startswith("}}", end):
                    fail(f"bad character {_rune(text[end])}", end)
                toks.append(_Tok("variable", text[pos:end], pos, line_at(pos)))
                pos = end
            elif ch == "." and not (pos + 1 < n and text[pos + 1].isdigit()):
                end = pos + 1
                while end < n and (text[end].isalnum() or text[end] == "_"):
                    end += 1
                if end == pos + 1:
                    toks.append(_Tok("dot", ".", pos, line_at(pos)))
                else:
                    if end < n and text[end] not in _TERMINATORS and not text.startswith("}}", end):
                        fail(f"bad character {_rune(text[end])}", end)
                    toks.append(_Tok("field", text[pos:end], pos, line_at(pos)))
                pos = end
            elif ch in "+-." or ch.isdigit():
                m = _NUMBER.match(text, pos)
                end = m.end()
                if end < n and (text[end].isalnum() or text[end] == "_"):
                    fail(f"bad number syntax: {go_quote(text[pos:end + 1])}", pos)
                toks.append(_Tok("number", text[pos:end], pos, line_at(pos)))
                pos = end
            elif ch.isalpha() or ch == "_":
                end = pos
                while end < n and (text[end].isalnum() or text[end] == "_"):
                    end += 1
                if end < n and text[end] not in _TERMINATORS and not text.startswith("}}", end):
                    fail(f"bad character {_rune(text[end])}", end)
                word = text[pos:end]
                typ = word if word in _KEYWORDS else "bool" if word in ("true", "false") else "identifier"
                toks.append(_Tok(typ, word, pos, line_at(pos)))
                pos = end
            elif ch == "(":
                depth += 1
                toks.append(_Tok("(", "(", pos, line_at(pos)))
                pos += 1
            elif ch == ")":
                depth -= 1
                toks.append(_Tok(")", ")", pos, line_at(pos)))
                pos += 1
            elif ord(ch) < 0x80 and ch.isprintable():
                toks.append(_Tok("char", ch, pos, line_at(pos)))
                pos += 1
            else:
                fail(f"unrecognized character in action: {_rune(ch)}", pos)


def _rune(ch: str) -> str:
    """Go's %#U: U+007D '}'."""
    return f"U+{ord(ch):04X} '{ch}'" if ch.isprintable() else f"U+{ord(ch):04X}"


# -- parse tree ------------------------------------------------------------------------------------

class _Node:
    __slots__ = ("pos",)


class _Text(_Node):
    __slots__ = ("text",)

    def __init__(self, pos, text):
        self.pos, self.text = pos, text

    def __str__(self):
        return self.text


class _Field(_Node):
    __slots__ = ("idents",)

    def __init__(self, pos, idents):
        self.pos, self.idents = pos, idents

    def __str__(self):
        return "." + ".".join(self.idents)


class _Variable(_Node):
    __slots__ = ("idents",)

    def __init__(self, pos, idents):
        self.pos, self.idents = pos, idents

    def __str__(self):
        return ".".join(self.idents)


class _Chain(_Node):
    __slots__ = ("node", "fields")

    def __init__(self, pos, node, fields):
        self.pos, self.node, self.fields = pos, node, fields

    def __str__(self):
        inner = f"({self.node})" if isinstance(self.node, _Pipe) else str(self.node)
        return inner + "".join("." + f for f in self.fields)


class _Literal(_Node):
    """dot, nil, a bool, a number or a string: `value` is what it evaluates to, `text` how it was written."""

    __slots__ = ("kind", "value", "text")

    def __init__(self, pos, kind, value, text):
        self.pos, self.kind, self.value, self.text = pos, kind, value, text

    def __str__(self):
        return self.text


class _Identifier(_Node):
    __slots__ = ("name",)

    def __init__(self, pos, name):
        self.pos, self.name = pos, name

    def __str__(self):
        return self.name


class _Command(_Node):
    __slots__ = ("args",)

    def __init__(self, pos, args):
        self.pos, self.args = pos, args

    def __str__(self):
        return " ".join(f"({a})" if isinstance(a, _Pipe) else str(a) for a in self.args)


class _Pipe(_Node):
    __slots__ = ("decl", "assign", "cmds")

    def __init__(self, pos, decl, assign, cmds):
        self.pos, self.decl, self.assign, self.cmds = pos, decl, assign, cmds

    def __str__(self):
        head = ""
        if self.decl:
            head = ", ".join(str(v) for v in self.decl) + (" = " if self.assign else " := ")
        return head + " | ".join(str(c) for c in self.cmds)


class _Action(_Node):
    __slots__ = ("pipe",)

    def __init__(self, pos, pipe):
        self.pos, self.pipe = pos, pipe

    def __str__(self):
        return "{{" + str(self.pipe) + "}}"


class _Branch(_Node):
    """if, range and with: `else_list` is None without an {{else}}."""

    __slots__ = ("kind", "pipe", "body", "else_list")

    def __init__(self, pos, kind, pipe, body, else_list):
        self.pos, self.kind, self.pipe, self.body, self.else_list = pos, kind, pipe, body, else_list

    def __str__(self):
        text = "{{" + self.kind + " " + str(self.pipe) + "}}" + "".join(str(n) for n in self.body)
        if self.else_list is not None:
            text += "{{else}}" + "".join(str(n) for n in self.else_list)
        return text + "{{end}}"


class _TemplateCall(_Node):
    __slots__ = ("name", "pipe")

    def __init__(self, pos, name, pipe):
        self.pos, self.name, self.pipe = pos, name, pipe

    def __str__(self):
        return "{{template " + go_quote(self.name) + (f" {self.pipe}" if self.pipe else "") + "}}"


class _Jump(_Node):
    """{{break}} or {{continue}}."""

    __slots__ = ("kind",)

    def __init__(self, pos, kind):
        self.pos, self.kind = pos, kind

    def __str__(self):
        return "{{" + self.kind + "}}"


class _End(Exception):
    """How a nested list learns which of {{end}} / {{else}} closed it."""

    def __init__(self, tok: _Tok) -> None:
        self.tok = tok


_GO_ESCAPES = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v", "\\": "\\"}


def _unquote(lit: str) -> str:
    """strconv.Unquote of a "..." or '...' literal; Go's parser says "invalid syntax" for a bad one."""
    quote, body, out, i = lit[0], lit[1:-1], [], 0
    while i < len(body):
        ch = body[i]
        if ch != "\\":
            out.append(ch)
            i += 1
            continue
        esc = body[i + 1:i + 2]
        if esc in _GO_ESCAPES:
            out.append(_GO_ESCAPES[esc])
            i += 2
        elif esc == quote:
            out.append(quote)
            i += 2
        elif esc in ("x", "u", "U"):
            size = {"x": 2, "u": 4, "U": 8}[esc]
            digits = body[i + 2:i + 2 + size]
            if len(digits) != size or not all(c in "0123456789abcdefABCDEF" for c in digits):
                raise ValueError
            out.append(chr(int(digits, 16)))
            i += 2 + size
        elif esc and esc in "01234567":
            digits = body[i + 1:i + 4]
            if len(digits) != 3 or not all(c in "01234567" for c in digits) or int(digits, 8) > 255:
                raise ValueError
            out.append(chr(int(digits, 8)))
            i += 4
        else:
            raise ValueError
    return "".join(out)


def _unquote_or_none(lit: str) -> str | None:
    try:
        return _unquote(lit)
    except ValueError:
        return None


def _number(text: str):
    """A number literal as Go's template evaluates it: an int unless written as a float."""
    clean = text.replace("_", "")
    if text.endswith("'"):
        return ord(_unquote(text))
    if clean.endswith("i"):
        raise ValueError
    neg = clean.startswith("-")
    body = clean.lstrip("+-")
    if re.fullmatch(r"0[0-7]+", body):
        value = int(body, 8)
        return -value if neg else value
    try:
        return int(clean, 0)
    except ValueError:
        pass
    if body[:2].lower() == "0x":
        f = float.fromhex(body)
        return -f if neg else f
    f = float(clean)
    if math.isinf(f):
        raise ValueError
    return f


class _Parser:
    def __init__(self, text: str, funcs: dict) -> None:
        self.text = text
        self.toks = _lex(text)
        self.i = 0
        self.funcs = funcs
        self.vars: list[str] = ["$"]
        self.defines: dict[str, list] = {}
        self.range_depth = 0

    # tokens
    def next(self) -> _Tok:
        tok = self.peek()
        self.i += 1
        return tok

    def peek(self) -> _Tok:
        tok = self.toks[self.i]
        if tok.typ == "error":
            raise TemplateError(f"template: :{tok.line}: {tok.val}")
        return tok

    def next_nonspace(self) -> _Tok:
        tok = self.next()
        while tok.typ == "space":
            tok = self.next()
        return tok

    def peek_nonspace(self) -> _Tok:
        tok = self.next_nonspace()
        self.i -= 1
        return tok

    def error(self, msg: str, tok: _Tok | None = None):
        tok = tok or self.toks[max(self.i - 1, 0)]
        raise TemplateError(f"template: :{tok.line}: {msg}")

    def expect(self, typ: str, context: str) -> _Tok:
        tok = self.next_nonspace()
        if tok.typ != typ:
            self.error(f"unexpected {tok} in {context}", tok)
        return tok

    # structure
    def parse(self) -> list:
        nodes = []
        while self.peek().typ != "EOF":
            if self.peek().typ == "{{" and self._after_delim_is("define"):
                self._define()
                continue
            try:
                node = self._text_or_action()
            except _End as end:
                self.error(f"unexpected {{{{{end.tok.val}}}}}", end.tok)
            if node is not None:
                nodes.append(node)
        return nodes

    def _after_delim_is(self, typ: str) -> bool:
        j = self.i + 1
        while self.toks[j].typ == "space":
            j += 1
        return self.toks[j].typ == typ

    def _define(self) -> None:
        self.next()  # {{
        self.next_nonspace()  # define
        name_tok = self.next_nonspace()
        if name_tok.typ not in ("string", "rawstring"):
            self.error(f"unexpected {name_tok} in define clause", name_tok)
        self.expect("}}", "define clause")
        self._definition(self._string(name_tok), "define clause")

    def _definition(self, name: str, context: str) -> None:
        """The body of a {{define}} or {{block}} up to its {{end}}: a template of its own, with its own $."""
        saved, self.vars = self.vars, ["$"]
        body, end = self._list()
        self.vars = saved
        if end.val != "end":
            self.error(f"unexpected {{{{{end.val}}}}} in {context}", end)
        self.defines[name] = body

    def _list(self) -> tuple[list, _Tok]:
        """Nodes up to the {{end}} or {{else}} that closes them (returned, consumed but for else's rest)."""
        nodes = []
        while True:
            if self.peek().typ == "EOF":
                self.error("unexpected EOF", self.peek())
            try:
                node = self._text_or_action()
            except _End as end:
                return nodes, end.tok
            if node is not None:
                nodes.append(node)

    def _text_or_action(self):
        tok = self.next()
        if tok.typ == "text":
            return _Text(tok.pos, tok.val)
        if tok.typ == "{{":
            return self._action()
        self.error(f"unexpected {tok} in input", tok)

    def _action(self):
        tok = self.next_nonspace()
        typ = tok.typ
        if typ in ("end", "else"):
            if typ == "end":
                self.expect("}}", "end")
            elif self.peek_nonspace().typ not in ("if", "with"):  # {{else if}}, {{else with}}
                self.expect("}}", "else")
            raise _End(tok)
        if typ == "define":
            self.error(f"unexpected {tok} in command", tok)
        if typ in ("if", "with"):
            return self._branch(typ, tok)
        if typ == "range":
            self.range_depth += 1
            try:
                return self._branch("range", tok)
            finally:
                self.range_depth -= 1
        if typ == "block":
            return self._block(tok)
        if typ == "template":
            return self._template(tok)
        if typ in ("break", "continue"):
            if not self.range_depth:
                self.error(f"{{{{{typ}}}}} outside {{{{range}}}}", tok)
            self.expect("}}", "{{" + typ + "}}")
            return _Jump(tok.pos, typ)
        self.i -= 1
        while self.toks[self.i - 1].typ == "space":
            self.i -= 1
        pipe = self._pipeline("command", "}}")
        return _Action(tok.pos, pipe)

    def _branch(self, kind: str, tok: _Tok) -> _Branch:
        mark = len(self.vars)
        pipe = self._pipeline(kind, "}}")
        body, end = self._list()
        else_list = None
        if end.val == "else":
            nxt = self.peek_nonspace()
            if nxt.typ == kind and kind in ("if", "with"):
                # {{else if ...}} in an if, {{else with ...}} in a with: a nested branch that shares
                # this one's {{end}}.
                self.next_nonspace()
                else_list = [self._branch(kind, nxt)]
            else:
                else_list, end = self._list()
                if end.val != "end":
                    self.error("expected end; found {{else}}", end)
        del self.vars[mark:]
        return _Branch(tok.pos, kind, pipe, body, else_list)

    def _string(self, tok: _Tok) -> str:
        if tok.typ == "rawstring":
            return tok.val[1:-1].replace("\r", "")
        try:
            return _unquote(tok.val)
        except ValueError:
            self.error("invalid syntax", tok)

    def _template(self, tok: _Tok) -> _TemplateCall:
        name_tok = self.next_nonspace()
        if name_tok.typ not in ("string", "rawstring"):
            self.error(f"unexpected {name_tok} in template clause", name_tok)
        pipe = None
        if self.peek_nonspace().typ != "}}":
            pipe = self._pipeline("template clause", "}}")
        else:
            self.next_nonspace()
        return _TemplateCall(name_tok.pos, self._string(name_tok), pipe)

    def _block(self, tok: _Tok) -> _TemplateCall:
        name_tok = self.next_nonspace()
        if name_tok.typ not in ("string", "rawstring"):
            self.error(f"unexpected {name_tok} in block clause", name_tok)
        name = self._string(name_tok)
        pipe = self._pipeline("block clause", "}}")
        self._definition(name, "block clause")
        return _TemplateCall(name_tok.pos, name, pipe)

    def _pipeline(self, context: str, end: str) -> _Pipe:
        tok = self.peek_nonspace()
        decl: list[_Variable] = []
        assign = False
        # Declarations: `$x := `, `$x = `, and in a range `$i, $e := `.
        while self.peek_nonspace().typ == "variable":
            save = self.i
            var = self.next_nonspace()
            nxt = self.peek_nonspace()
            if nxt.typ in (":=", "="):
                self.next_nonspace()
                decl.append(_Variable(var.pos, [var.val]))
                self.vars.append(var.val)
                assign = nxt.typ == "="
            elif nxt.typ == "char" and nxt.val == ",":
                self.next_nonspace()
                decl.append(_Variable(var.pos, [var.val]))
                self.vars.append(var.val)
                if context == "range" and len(decl) < 2:
                    if self.peek_nonspace().typ in ("variable", "}}", ")"):
                        continue
                    self.error("range can only initialize variables")
                self.error(f"too many declarations in {context}")
            else:
                self.i = save
            break
        pipe = _Pipe(tok.pos, decl, assign, [])
        while True:
            tok = self.next_nonspace()
            if tok.typ == end:
                if not pipe.cmds:
                    self.error(f"missing value for {context}", tok)
                break
            if tok.typ in ("bool", "charconst", "dot", "field", "identifier", "number", "nil", "rawstring",
                           "string", "variable", "("):
                self.i -= 1
                pipe.cmds.append(self._command())
            else:
                self.error(f"unexpected {tok} in {context}", tok)
        for stage, cmd in enumerate(pipe.cmds[1:], start=2):
            first = cmd.args[0]
            if isinstance(first, _Literal):
                self.error(f"non executable command in pipeline stage {stage}")
        return pipe

    def _command(self) -> _Command:
        cmd = _Command(self.peek_nonspace().pos, [])
        while True:
            self.peek_nonspace()
            operand = self._operand()
            if operand is not None:
                cmd.args.append(operand)
            tok = self.next()
            if tok.typ == "space":
                continue
            if tok.typ in ("}}", ")"):
                self.i -= 1
            elif tok.typ != "|":
                self.error(f"unexpected {tok} in operand", tok)
            break
        if not cmd.args:
            self.error("empty command")
        return cmd

    def _operand(self):
        node = self._term()
        if node is None:
            return None
        if self.peek().typ == "field":
            fields = []
            pos = self.peek().pos
            while self.peek().typ == "field":
                fields.append(self.next().val[1:])
            if isinstance(node, _Field):
                return _Field(pos, node.idents + fields)
            if isinstance(node, _Variable):
                return _Variable(pos, node.idents + fields)
            if isinstance(node, _Literal):
                self.error("unexpected . after term " + go_quote(str(node)))
            return _Chain(pos, node, fields)
        return node

    def _term(self):
        tok = self.next_nonspace()
        typ = tok.typ
        if typ == "identifier":
            if tok.val not in self.funcs and tok.val not in _BUILTINS:
                self.error(f"function {go_quote(tok.val)} not defined", tok)
            return _Identifier(tok.pos, tok.val)
        if typ == "dot":
            return _Literal(tok.pos, "dot", None, ".")
        if typ == "nil":
            return _Literal(tok.pos, "nil", None, "nil")
        if typ == "variable":
            if tok.val not in self.vars:
                self.error(f"undefined variable {go_quote(tok.val)}", tok)
            return _Variable(tok.pos, [tok.val])
        if typ == "field":
            return _Field(tok.pos, [tok.val[1:]])
        if typ == "bool":
            return _Literal(tok.pos, "bool", tok.val == "true", tok.val)
        if typ == "charconst" and len(_unquote_or_none(tok.val) or "") != 1:
            self.error(f"malformed character constant: {tok.val}", tok)
        if typ in ("number", "charconst"):
            try:
                return _Literal(tok.pos, "number", _number(tok.val), tok.val)
            except (ValueError, IndexError, TypeError):
                self.error(f"illegal number syntax: {go_quote(tok.val)}", tok)
        if typ == "(":
            pipe = self._pipeline("parenthesized pipeline", ")")
            return pipe
        if typ in ("string", "rawstring"):
            return _Literal(tok.pos, "string", self._string(tok), tok.val)
        self.i -= 1
        return None


# -- evaluation ------------------------------------------------------------------------------------

class _Break(Exception):
    pass


class _Continue(Exception):
    pass


_NOFINAL = object()  # no value piped into a command


def _truth(v) -> bool:
    if v is None or v is NO_VALUE:
        return False
    if isinstance(v, Struct):
        return True
    return bool(v)


_BASIC = {bool: "bool", int: "int", float: "float", str: "string"}


def _kind(v) -> str | None:
    if v is None or v is NO_VALUE:
        return None
    return _BASIC.get(type(v), "other")


def _eq(a, *others) -> bool:
    if not others:
        raise _CallError("missing argument for comparison")
    k1 = _kind(a)
    for b in others:
        k2 = _kind(b)
        if k1 != k2:
            if k1 is not None and k2 is not None:
                raise _CallError("incompatible types for comparison")
            truth = False
        elif k1 == "other":
            if isinstance(a, list | dict) or isinstance(b, list | dict):
                bad = a if isinstance(a, list | dict) else b
                raise _CallError(f"non-comparable type {_format_one('s', '', None, bad)}: {go_type(bad)}")
            truth = a is b or (isinstance(a, Struct) and isinstance(b, Struct) and a.fields == b.fields)
        else:
            truth = a == b
        if truth:
            return True
    return False


def _lt(a, b) -> bool:
    k1, k2 = _kind(a), _kind(b)
    if k1 in (None, "bool", "other") or k2 in (None, "bool", "other"):
        if k1 != k2 and k1 not in (None, "bool", "other") and k2 not in (None, "bool", "other"):
            raise _CallError("incompatible types for comparison")
        raise _CallError("invalid type for comparison")
    if k1 != k2:
        raise _CallError("incompatible types for comparison")
    return a < b


class _CallError(Exception):
    """A function's own error: Go reports it as `error calling NAME: ...`."""


def _index(item, *indexes):
    if item is None or item is NO_VALUE:
        raise _CallError("index of untyped nil")
    for ix in indexes:
        if isinstance(item, list | str):
            if not isinstance(ix, int) or isinstance(ix, bool):
                raise _CallError(f"cannot index slice/array with type {go_type(ix)}")
            if not 0 <= ix < len(item):
                raise _CallError("reflect: string index out of range" if isinstance(item, str)
                                 else f"index out of range: {ix}")
            item = item[ix] if isinstance(item, list) else item.encode()[ix]
        elif isinstance(item, dict):
            if ix is NO_VALUE or ix is None:
                raise _CallError("value is nil; should be of type string")
            if ix in item:
                item = item[ix]
            else:
                # The zero value of the map's element type: "" for a map of strings (Labels, Options).
                item = "" if all(isinstance(v, str) for v in item.values()) else NO_VALUE
        elif item is None or item is NO_VALUE:
            raise _CallError("index of nil pointer")
        else:
            raise _CallError(f"can't index item of type {go_type(item)}")
    return item


def _slice(item, *indexes):
    if item is None or item is NO_VALUE:
        raise _CallError("slice of untyped nil")
    if len(indexes) > 3:
        raise _CallError(f"too many slice indexes: {len(indexes)}")
    if not isinstance(item, list | str):
        raise _CallError(f"can't slice item of type {go_type(item)}")
    if isinstance(item, str) and len(indexes) == 3:
        raise _CallError("cannot 3-index slice a string")
    size = len(item.encode()) if isinstance(item, str) else len(item)
    idx = [0, size]
    for i, ix in enumerate(indexes[:2]):
        if not isinstance(ix, int) or isinstance(ix, bool):
            raise _CallError(f"cannot index slice/array with type {go_type(ix)}")
        if not 0 <= ix <= size:
            raise _CallError(f"index out of range: {ix}")
        idx[i] = ix
    if idx[0] > idx[1]:
        raise _CallError(f"invalid slice index: {idx[0]} > {idx[1]}")
    if isinstance(item, str):
        return item.encode()[idx[0]:idx[1]].decode(errors="replace")
    return item[idx[0]:idx[1]]


def _len(item) -> int:
    if item is NO_VALUE:
        raise _CallError("reflect: call of reflect.Value.Type on zero Value")
    if isinstance(item, str):
        return len(item.encode())
    if isinstance(item, list | dict):
        return len(item)
    raise _CallError(f"len of type {go_type(item)}")


def _sprint(*args) -> str:
    out = []
    for i, a in enumerate(args):
        if i and not isinstance(a, str) and not isinstance(args[i - 1], str):
            out.append(" ")
        out.append(go_sprint(a, False))
    return "".join(out)


def _html(*args) -> str:
    s = args[0] if len(args) == 1 and isinstance(args[0], str) else _sprint(*args)
    return (s.replace("&", "&amp;").replace("'", "&#39;").replace("<", "&lt;").replace(">", "&gt;")
            .replace('"', "&#34;").replace("\0", "\ufffd"))


def _urlquery(*args) -> str:
    from urllib.parse import quote_plus

    s = args[0] if len(args) == 1 and isinstance(args[0], str) else _sprint(*args)
    return quote_plus(s, safe="-_.~")


def _js(*args) -> str:
    s = args[0] if len(args) == 1 and isinstance(args[0], str) else _sprint(*args)
    out = []
    for ch in s:
        if ch in "\\'\"":
            out.append("\\" + ch)
        elif ch in "<>&=":
            out.append(f"\\u{ord(ch):04X}")
        elif ord(ch) < 0x20 or not printable(ch):
            out.append(f"\\u{ord(ch):04X}")
        else:
            out.append(ch)
    return "".join(out)


def _title(s: str) -> str:
    """strings.Title: upper-case the first letter of each word (words split at non-letters but '_')."""
    out, prev_sep = [], True
    for ch in s:
        out.append(ch.upper() if prev_sep else ch)
        prev_sep = not (ch.isalnum() or ch == "_") and (ord(ch) < 0x80 or ch.isspace())
    return "".join(out)


def _json(v) -> str:
    return to_json(v)


def _split(s: str, sep: str) -> list[str]:
    if sep == "":
        return list(s)
    return s.split(sep)


def _pad_with_space(source: str, prefix: int, suffix: int) -> str:
    return source and " " * prefix + source + " " * suffix


def _truncate(source: str, length: int) -> str:
    data = source.encode()
    return source if len(data) < length else data[:length].decode(errors="replace")


class _Func:
    """A template function: `params` are Go parameter kinds (any, string, int, []string), `variadic`
    the kind of any further ones."""

    __slots__ = ("fn", "params", "variadic")

    def __init__(self, fn, params: tuple[str, ...], variadic: str | None = None) -> None:
        self.fn, self.params, self.variadic = fn, params, variadic


# Go's builtins (and, or are evaluated lazily by the evaluator itself).
# Parameters of kind "value" are Go's reflect.Value: a missing map key reaches them as NO_VALUE.
_BUILTINS = {
    "and": None, "or": None,
    "not": _Func(lambda v: not _truth(v), ("value",)),
    "len": _Func(_len, ("value",)),
    "index": _Func(_index, ("value",), "value"),
    "slice": _Func(_slice, ("value",), "value"),
    "eq": _Func(_eq, ("value",), "value"),
    "ne": _Func(lambda a, b: not _eq(a, b), ("value", "value")),
    "lt": _Func(_lt, ("value", "value")),
    "le": _Func(lambda a, b: _lt(a, b) or _eq(a, b), ("value", "value")),
    "gt": _Func(lambda a, b: not _lt(a, b) and not _eq(a, b), ("value", "value")),
    "ge": _Func(lambda a, b: not _lt(a, b), ("value", "value")),
    "print": _Func(_sprint, (), "any"),
    "printf": _Func(lambda fmt, *args: go_sprintf(fmt, list(args)), ("string",), "any"),
    "println": _Func(lambda *args: " ".join(go_sprint(a, False) for a in args) + "\n", (), "any"),
    "html": _Func(_html, (), "any"),
    "js": _Func(_js, (), "any"),
    "urlquery": _Func(_urlquery, (), "any"),
}

# docker/cli's templates.basicFunctions.
FUNCS = {
    "json": _Func(_json, ("any",)),
    "split": _Func(_split, ("string", "string")),
    "join": _Func(lambda elems, sep: sep.join(elems), ("[]string", "string")),
    "title": _Func(_title, ("string",)),
    "lower": _Func(str.lower, ("string",)),
    "upper": _Func(str.upper, ("string",)),
    "pad": _Func(_pad_with_space, ("string", "int", "int")),
    "truncate": _Func(_truncate, ("string", "int")),
}

# docker/cli's templates.HeaderFunctions: a table's header row is the same template run over the
# column names, with these keeping the names intact.
HEADER_FUNCS = {
    **FUNCS,
    "json": _Func(lambda v: v, ("string",)),
    "split": _Func(lambda v, _sep: v, ("string", "string")),
    "join": _Func(lambda v, _sep: v, ("string", "string")),
    "title": _Func(lambda v: v, ("string",)),
    "lower": _Func(lambda v: v, ("string",)),
    "upper": _Func(lambda v: v, ("string",)),
    "truncate": _Func(lambda v, _n: v, ("string", "int")),
}

class _Exec:
    def __init__(self, template: Template, funcs: dict, missing_error: bool) -> None:
        self.t = template
        self.funcs = funcs
        self.missing_error = missing_error
        self.node = None
        self.name = ""
        self.vars: list[list] = []
        self.out: list[str] = []
        # Whether the last value came from a Struct field: a nil there is a typed nil (prints <nil>);
        # one from a map or slice is a nil interface{}, which Go unwraps to "<no value>".
        self.typed = False

    def fail(self, msg: str):
        if self.node is None:
            raise TemplateError(f"template: {self.name}: {msg}")
        text = self.t.text
        pos = self.node.pos
        line_start = text.rfind("\n", 0, pos) + 1
        col = len(text[line_start:pos].encode())  # Go counts bytes
        line = text.count("\n", 0, pos) + 1
        context = str(self.node)
        raise TemplateError(f'template: :{line}:{col}: executing {go_quote(self.name)} at <{context}>: {msg}')

    # walking
    def walk(self, dot, nodes: list) -> None:
        for node in nodes:
            if isinstance(node, _Text):
                self.out.append(node.text)
            elif isinstance(node, _Action):
                val = self.pipeline(dot, node.pipe)
                if not node.pipe.decl:
                    self.out.append(go_sprint(val))
            elif isinstance(node, _Branch):
                self.branch(dot, node)
            elif isinstance(node, _TemplateCall):
                self.template_call(dot, node)
            elif isinstance(node, _Jump):
                raise _Break() if node.kind == "break" else _Continue()

    def branch(self, dot, node: _Branch) -> None:
        mark = len(self.vars)
        try:
            if node.kind == "range":
                self.range(dot, node)
                return
            val = self.pipeline(dot, node.pipe)
            if _truth(val):
                self.walk(val if node.kind == "with" else dot, node.body)
            elif node.else_list is not None:
                self.walk(dot, node.else_list)
        finally:
            del self.vars[mark:]

    def range(self, dot, node: _Branch) -> None:
        self.node = node
        val = self.pipeline(dot, node.pipe)
        if isinstance(val, list):
            items = list(enumerate(val))
        elif isinstance(val, dict):
            items = _sorted_items(val)
        elif isinstance(val, int) and not isinstance(val, bool):
            items = [(i, i) for i in range(val)]
        elif val is None or val is NO_VALUE:
            items = []
        else:
            self.fail(f"range can't iterate over {go_sprint(val, False)}")
        mark = len(self.vars)
        for key, elem in items:
            decl = node.pipe.decl
            if decl:
                if node.pipe.assign:
                    if len(decl) > 1:
                        self.set_var(decl[0].idents[0], key)
                        self.set_var(decl[1].idents[0], elem)
                    else:
                        self.set_var(decl[0].idents[0], elem)
                else:
                    self.vars[-1][1] = elem
                    if len(decl) > 1:
                        self.vars[-2][1] = key
            try:
                self.walk(elem, node.body)
            except _Continue:
                pass
            except _Break:
                break
            finally:
                del self.vars[mark:]
        else:
            if not items and node.else_list is not None:
                self.walk(dot, node.else_list)

    def template_call(self, dot, node: _TemplateCall) -> None:
        self.node = node
        body = self.t.defines.get(node.name)
        if body is None:
            self.fail(f"template {go_quote(node.name)} not defined")
        new_dot = self.pipeline(dot, node.pipe) if node.pipe else NO_VALUE
        saved_vars, saved_name = self.vars, self.name
        self.vars, self.name = [["$", new_dot]], node.name
        try:
            self.walk(new_dot, body)
        finally:
            self.vars, self.name = saved_vars, saved_name

    # variables
    def set_var(self, name: str, value) -> None:
        for slot in reversed(self.vars):
            if slot[0] == name:
                slot[1] = value
                return
        self.fail(f"undefined variable: {name}")

    def var(self, name: str):
        for slot in reversed(self.vars):
            if slot[0] == name:
                return slot[1]
        self.fail(f"undefined variable: {name}")

    # pipelines
    def pipeline(self, dot, pipe: _Pipe | None):
        if pipe is None:
            return NO_VALUE
        self.node = pipe
        value = _NOFINAL
        for cmd in pipe.cmds:
            self.typed = False
            value = self.command(dot, cmd, value)
            if value is None and not self.typed:
                value = NO_VALUE
        for v in pipe.decl:
            if pipe.assign:
                self.set_var(v.idents[0], value)
            else:
                self.vars.append([v.idents[0], value])
        return value

    def command(self, dot, cmd: _Command, final):
        first = cmd.args[0]
        if isinstance(first, _Field):
            return self.field_node(dot, first, cmd.args, final)
        if isinstance(first, _Chain):
            self.node = first
            if isinstance(first.node, _Literal) and first.node.kind == "nil":
                self.fail(f"indirection through explicit nil in {first}")
            receiver = self.arg(dot, first.node)
            return self.field_chain(dot, receiver, first, first.fields, cmd.args, final)
        if isinstance(first, _Identifier):
            return self.function(dot, first, cmd, cmd.args, final)
        if isinstance(first, _Pipe):
            self.not_a_function(cmd.args, final)
            return self.pipeline(dot, first)
        if isinstance(first, _Variable):
            return self.variable_node(dot, first, cmd.args, final)
        self.node = first
        self.not_a_function(cmd.args, final)
        if first.kind == "dot":
            return dot
        if first.kind == "nil":
            self.fail("nil is not a command")
        return first.value

    def not_a_function(self, args: list, final) -> None:
        if len(args) > 1 or final is not _NOFINAL:
            self.fail(f"can't give argument to non-function {args[0]}")

    def arg(self, dot, node):
        """An argument's value (Go's evalArg for an interface{} parameter)."""
        self.node = node
        if isinstance(node, _Field):
            return self.field_node(dot, node, [node], _NOFINAL)
        if isinstance(node, _Variable):
            return self.variable_node(dot, node, [node], _NOFINAL)
        if isinstance(node, _Pipe):
            return self.pipeline(dot, node)
        if isinstance(node, _Identifier):
            return self.function(dot, node, node, [node], _NOFINAL)
        if isinstance(node, _Chain):
            receiver = self.arg(dot, node.node)
            return self.field_chain(dot, receiver, node, node.fields, [node], _NOFINAL)
        if node.kind == "dot":
            return dot
        if node.kind == "nil":
            return None
        return node.value

    def typed_arg(self, dot, node, kind: str):
        """An argument converted to a Go parameter type, with Go's complaints."""
        if kind in ("any", "value"):
            return self.convert(self.arg(dot, node), kind)
        if isinstance(node, _Literal) and node.kind in ("number", "string", "bool", "nil"):
            self.node = node
            value = node.value
            if kind == "int" and isinstance(value, float) and value.is_integer():
                value = int(value)
            if node.kind == "nil":
                self.fail(f"cannot assign nil to {kind}")
            if kind == "[]string":
                self.fail(f"can't handle {node} for arg of type []string")
            if kind == "string" and node.kind != "string":
                self.fail(f"expected string; found {node}")
            if kind == "int" and (node.kind != "number" or not isinstance(value, int)):
                self.fail(f"expected integer; found {node}")
            return value
        return self.convert(self.arg(dot, node), kind)

    def convert(self, value, kind: str):
        if kind == "value":
            return value
        if kind == "any":
            return None if value is NO_VALUE else value
        if value is NO_VALUE:
            self.fail(f"invalid value; expected {kind}")
        ok = {"string": lambda v: isinstance(v, str),
              "int": lambda v: isinstance(v, int) and not isinstance(v, bool),
              "[]string": lambda v: isinstance(v, list) and all(isinstance(e, str) for e in v)}[kind](value)
        if not ok:
            self.fail(f"wrong type for value; expected {kind}; got {go_type(value)}")
        return value

    def variable_node(self, dot, node: _Variable, args: list, final):
        self.node = node
        value = self.var(node.idents[0])
        if len(node.idents) == 1:
            self.not_a_function(args, final)
            return value
        return self.field_chain(dot, value, node, node.idents[1:], args, final)

    def field_node(self, dot, node: _Field, args: list, final):
        self.node = node
        return self.field_chain(dot, dot, node, node.idents, args, final)

    def field_chain(self, dot, receiver, node, idents: list, args: list, final):
        static = None  # Go's static type of the receiver: interface {} once taken from a map
        for name in idents[:-1]:
            from_map = isinstance(receiver, dict) or (isinstance(receiver, Struct) and receiver.missing)
            receiver = self.field(dot, name, node, [None], _NOFINAL, receiver, static)
            static = "interface {}" if from_map else None
        return self.field(dot, idents[-1], node, args, final, receiver, static)

    def field(self, dot, name: str, node, args: list, final, receiver, static: str | None = None):
        if receiver is NO_VALUE:
            if self.missing_error:
                self.fail(f"nil data; no entry for key {go_quote(name)}")
            return NO_VALUE
        if receiver is None:
            self.fail(f"nil pointer evaluating interface {{}}.{name}")
        has_args = len(args) > 1 or final is not _NOFINAL
        if isinstance(receiver, Struct):
            if name in receiver.fields:
                value = receiver.fields[name]
                if isinstance(value, Method):
                    return self.call(dot, _Func(value.fn, value.params), node, name, args, final)
                if has_args:
                    self.fail(f"{name} has arguments but cannot be invoked as function")
                self.typed = True
                return value
            if receiver.missing:
                self.fail(receiver.missing.format(name=name, quoted=go_quote(name)))
        elif isinstance(receiver, dict):
            value = receiver.get(name, NO_VALUE)
            if isinstance(value, Method):  # a map type with methods (docker's table header)
                return self.call(dot, _Func(value.fn, value.params), node, name, args, final)
            if has_args:
                self.fail(f"{name} is not a method but has arguments")
            if value is not NO_VALUE:
                return value
            if self.missing_error:
                self.fail(f"map has no entry for key {go_quote(name)}")
            return NO_VALUE
        self.fail(f"can't evaluate field {name} in type {static or go_type(receiver)}")

    def function(self, dot, ident: _Identifier, cmd, args: list, final):
        self.node = ident
        name = ident.name
        if name in ("and", "or"):
            return self.and_or(dot, name, cmd, args, final)
        fn = self.funcs.get(name) or _BUILTINS.get(name)
        if fn is None:
            self.fail(f"{go_quote(name)} is not a defined function")
        return self.call(dot, fn, cmd, name, args, final)

    def call(self, dot, fn: _Func, node, name: str, args: list, final):
        given = args[1:]
        count = len(given) + (final is not _NOFINAL)
        want = len(fn.params)
        if fn.variadic is not None:
            if count < want:
                self.fail(f"wrong number of args for {name}: want at least {want} got {count}")
        elif count != want:
            self.fail(f"wrong number of args for {name}: want {want} got {count}")
        values = []
        for i, a in enumerate(given):
            kind = fn.params[i] if i < want else fn.variadic
            values.append(self.typed_arg(dot, a, kind))
        if final is not _NOFINAL:
            kind = fn.params[len(given)] if len(given) < want else fn.variadic
            values.append(self.convert(final, kind))
        try:
            return fn.fn(*values)
        except _CallError as e:
            self.node = node
            self.fail(f"error calling {name}: {e}")
        except TemplateError as e:
            self.node = node
            self.fail(f"error calling {name}: {e}")

    def and_or(self, dot, name: str, cmd, args: list, final):
        given = args[1:]
        count = len(given) + (final is not _NOFINAL)
        if count < 1:
            self.fail(f"wrong number of args for {name}: want at least 1 got 0")
        value = NO_VALUE
        for a in given:
            value = self.arg(dot, a)
            if _truth(value) != (name == "and"):
                return value
        if final is not _NOFINAL:
            value = final
        return value


class Template:
    """A parsed template. execute(data) renders it, raising TemplateError with Go's message."""

    def __init__(self, text: str, funcs: dict | None = None) -> None:
        self.text = text
        parser = _Parser(text, funcs if funcs is not None else FUNCS)
        self.nodes = parser.parse()
        self.defines = parser.defines

    def execute(self, data, funcs: dict | None = None, missing_error: bool = False, out: list | None = None) -> str:
        """The output for `data`. `funcs` replaces the functions (docker's header functions);
        `missing_error` is Go's missingkey=error; `out`, when given, keeps what was written before an error."""
        state = _Exec(self, funcs if funcs is not None else FUNCS, missing_error)
        if out is not None:
            state.out = out
        state.vars = [["$", data]]
        state.walk(data, self.nodes)
        return "".join(state.out)


def parse(text: str, funcs: dict | None = None) -> Template:
    return Template(text, funcs)
