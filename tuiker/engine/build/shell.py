"""Dockerfile variable expansion and word splitting: a port of buildkit's shell lexer
(moby/buildkit frontend/dockerfile/shell/lex.go), so ENV/ARG substitution in ADD, COPY, ENV, EXPOSE, FROM,
LABEL, STOPSIGNAL, USER, VOLUME, WORKDIR gives what docker gives, error texts included.

Forms: `$var`, `${var}`, `${var:-w}`, `${var-w}`, `${var:+w}`, `${var+w}`, `${var:?msg}`, `${var?msg}`,
`${var#pat}`, `${var##pat}`, `${var%pat}`, `${var%%pat}`, `${var/pat/repl}`, `${var//pat/repl}`; single and
double quotes; the escape token (backslash, or backtick under `# escape=`)."""

from __future__ import annotations

import re

from tuiker.base.errors import TuikerError
from tuiker.base.goquote import go_quote


class ShellError(TuikerError):
    """A word that cannot be expanded: bad substitution, unterminated quote, `${x:?msg}`."""


class _Words:
    """Word splitting as lex.go's wordsStruct: unquoted whitespace separates words, quoted text never does."""

    def __init__(self) -> None:
        self.word = ""
        self.words: list[str] = []
        self.in_word = False

    def add_char(self, ch: str) -> None:
        if ch.isspace():
            if self.in_word and self.word:
                self.words.append(self.word)
                self.word = ""
                self.in_word = False
        else:
            self.add_raw(ch)

    def add_raw(self, text: str) -> None:
        self.word += text
        self.in_word = True

    def add_string(self, text: str) -> None:
        for ch in text:
            self.add_char(ch)

    def result(self) -> list[str]:
        if self.word:
            self.words.append(self.word)
            self.word = ""
            self.in_word = False
        return self.words


class Lex:
    """One expansion run over one word (lex.go's Lex + shellWord). The raw_* switches are the parser's
    (heredoc detection keeps quotes and escapes); skip_unset_env leaves unknown variables as written."""

    def __init__(self, escape: str = "\\", *, raw_quotes: bool = False, raw_escapes: bool = False,
                 skip_unset_env: bool = False, skip_process_quotes: bool = False) -> None:
        self.escape = escape
        self.raw_quotes = raw_quotes
        self.raw_escapes = raw_escapes
        self.skip_unset_env = skip_unset_env
        self.skip_process_quotes = skip_process_quotes
        self._src = ""
        self._pos = 0
        self._env: dict[str, str] = {}
        self.matched: set[str] = set()    # the variables the word used that env has

    def process(self, word: str, env: dict[str, str]) -> tuple[str, list[str]]:
        """(the expanded word, the expanded word split into words)."""
        self._src, self._pos, self._env = word, 0, env
        self.matched = set()
        try:
            return self._stop_on(None, self.raw_escapes)
        except ShellError as e:
            raise ShellError(f"failed to process {go_quote(word)}: {e}") from None

    # scanner
    def _peek(self) -> str | None:
        return self._src[self._pos] if self._pos < len(self._src) else None

    def _next(self) -> str | None:
        ch = self._peek()
        if ch is not None:
            self._pos += 1
        return ch

    def _stop_on(self, stop: str | None, raw_escapes: bool) -> tuple[str, list[str]]:
        saved, self.raw_escapes = self.raw_escapes, raw_escapes
        try:
            return self._stop_on_inner(stop)
        finally:
            self.raw_escapes = saved

    def _stop_on_inner(self, stop: str | None) -> tuple[str, list[str]]:
        result: list[str] = []
        words = _Words()
        special = {"$": self._dollar, "<": self._possible_heredoc}
        if not self.skip_process_quotes:
            special["'"] = self._single_quote
            special['"'] = self._double_quote
        while (ch := self._peek()) is not None:
            if stop is not None and ch == stop:
                self._next()
                return "".join(result), words.result()
            handler = special.get(ch)
            if handler is not None:
                text = handler()
                result.append(text)
                if ch == "$":
                    words.add_string(text)
                else:
                    words.add_raw(text)
                continue
            ch = self._next()
            if ch == self.escape:
                if self.raw_escapes:
                    words.add_raw(ch)
                    result.append(ch)
                ch = self._next()
                if ch is None:
                    break
                words.add_raw(ch)
            else:
                words.add_char(ch)
            result.append(ch)
        if stop is not None:
            raise ShellError(f"unexpected end of statement while looking for matching {stop}")
        return "".join(result), words.result()

    def _single_quote(self) -> str:
        out = []
        ch = self._next()
        if self.raw_quotes:
            out.append(ch)
        while True:
            ch = self._next()
            if ch is None:
                raise ShellError("unexpected end of statement while looking for matching single-quote")
            if ch == "'":
                if self.raw_quotes:
                    out.append(ch)
                return "".join(out)
            out.append(ch)

    def _double_quote(self) -> str:
        out = []
        ch = self._next()
        if self.raw_quotes:
            out.append(ch)
        while True:
            ch = self._peek()
            if ch is None:
                raise ShellError("unexpected end of statement while looking for matching double-quote")
            if ch == '"':
                self._next()
                if self.raw_quotes:
                    out.append(ch)
                return "".join(out)
            if ch == "$":
                out.append(self._dollar())
                continue
            ch = self._next()
            if ch == self.escape:
                if self.raw_escapes:
                    out.append(ch)
                following = self._peek()
                if following is None:
                    continue  # an escape at the end of the word is dropped
                if following in ('"', "$", self.escape):
                    ch = self._next()
            out.append(ch)

    def _possible_heredoc(self) -> str:
        """`<<` (or `<<-`) takes the blanks after it into its word, so `<< EOF` stays one heredoc word."""
        self._next()
        if self._peek() != "<":
            return "<"
        self._next()
        word = "<<"
        if self._peek() == "-":
            word += self._next()
        while (ch := self._peek()) is not None and ch in " \t":
            word += self._next()
        return word

    def _lookup(self, name: str) -> tuple[str, bool]:
        if name in self._env:
            self.matched.add(name)
            return self._env[name], True
        return "", False

    def _dollar(self) -> str:
        self._next()
        if self._peek() != "{":
            name = self._name()
            if not name:
                return "$"
            value, found = self._lookup(name)
            if not found and self.skip_unset_env:
                return "$" + name
            return value
        self._next()
        ch = self._peek()
        if ch is None:
            raise ShellError("syntax error: missing '}'")
        if ch in "{}:":
            raise ShellError("syntax error: bad substitution")
        name = self._name()
        ch = self._next()
        modifier = ch or ""
        if ch == "}":
            value, found = self._lookup(name)
            if not found and self.skip_unset_env:
                return "${" + name + "}"
            return value
        if ch is None:
            raise ShellError("syntax error: missing '}'")
        if ch == "/":
            return self._replace(name)
        if ch not in ":+-?#%":
            raise ShellError(f"unsupported modifier ({modifier}) in substitution")
        null_is_unset = ch == ":"
        if null_is_unset:
            ch = self._next() or ""
            modifier += ch
        return self._modifier(name, ch, modifier, null_is_unset)

    def _modifier(self, name: str, ch: str, modifier: str, null_is_unset: bool) -> str:
        try:
            word, _ = self._stop_on("}", ch in ("#", "%"))
        except ShellError:
            if self._peek() is None:
                raise ShellError("syntax error: missing '}'") from None
            raise
        value, found = self._lookup(name)
        if self.skip_unset_env and not found:
            return "${" + name + modifier + word + "}"
        empty = not found or (null_is_unset and value == "")
        if ch == "-":
            return word if empty else value
        if ch == "+":
            return "" if empty else word
        if ch == "?":
            if not found:
                raise ShellError(f"{name}: {word or 'is not allowed to be unset'}")
            if null_is_unset and value == "":
                raise ShellError(f"{name}: {word or 'is not allowed to be empty'}")
            return value
        if ch not in ("#", "%"):
            raise ShellError(f"unsupported modifier ({modifier}) in substitution")
        greedy = word.startswith(ch)
        if greedy:
            word = word[1:]
        if ch == "%":
            return _trim_suffix(word, value, greedy)
        return _trim_prefix(word, value, greedy)

    def _replace(self, name: str) -> str:
        replace_all = self._peek() == "/"
        if replace_all:
            self._next()
        try:
            pattern, _ = self._stop_on("/", True)
        except ShellError:
            if self._peek() is None:
                raise ShellError("syntax error: missing '/' in ${}") from None
            raise
        try:
            replacement, _ = self._stop_on("}", True)
        except ShellError:
            if self._peek() is None:
                raise ShellError("syntax error: missing '}'") from None
            raise
        value, found = self._lookup(name)
        if self.skip_unset_env and not found:
            return "${" + f"{name}/{pattern}/{replacement}" + "}"
        regex = _pattern_regex(pattern, greedy=True, anchored=False)
        if replace_all:
            return regex.sub(lambda _m: replacement, value)
        m = regex.search(value)
        return value if m is None else value[:m.start()] + replacement + value[m.end():]

    def _name(self) -> str:
        name = []
        while (ch := self._peek()) is not None:
            if not name and ch.isdigit():
                while (ch := self._peek()) is not None and ch.isdigit():
                    name.append(self._next())
                return "".join(name)
            if not name and ch in "@*#?-$!0":
                return self._next()
            if not (ch.isalpha() or ch.isdigit() or ch == "_"):
                break
            name.append(self._next())
        return "".join(name)


def _pattern_regex(pattern: str, greedy: bool, anchored: bool) -> re.Pattern:
    """A shell wildcard pattern (`*`, `?`, backslash escapes; no brackets) as a regex, as lex.go's
    convertShellPatternToRegex."""
    out = ["^"] if anchored else []
    star = ".*" if greedy else ".*?"
    i = 0
    while i < len(pattern):
        tok = pattern[i]
        i += 1
        if tok == "*":
            out.append(star)
        elif tok == "?":
            out.append(".")
        elif tok == "\\":
            following = pattern[i] if i < len(pattern) else None
            if following in ("}", "/"):
                continue  # escaped only for ${}: the escape is not part of the pattern
            if following not in ("*", "?", "\\"):
                shown = following if following is not None else "%!c(int=-1)"
                raise ShellError(f"invalid pattern ({pattern}) in substitution: invalid escape '\\{shown}'")
            out.append(re.escape(following))
            i += 1
        else:
            out.append(re.escape(tok))
    return re.compile("".join(out), re.DOTALL)


def _trim_prefix(pattern: str, value: str, greedy: bool) -> str:
    m = _pattern_regex(pattern, greedy, anchored=True).match(value)
    return value if m is None else value[m.end():]


def _reverse_pattern(pattern: str) -> str:
    """Reverse a pattern keeping each backslash escape in front of what it escapes (a\\*c -> c\\*a)."""
    tokens = []
    i = 0
    while i < len(pattern):
        if pattern[i] == "\\" and i != len(pattern) - 1:
            tokens.append(pattern[i:i + 2])
            i += 2
        else:
            tokens.append(pattern[i])
            i += 1
    return "".join(reversed(tokens))


def _trim_suffix(pattern: str, value: str, greedy: bool) -> str:
    # A regex finds the leftmost match only, so the shortest suffix is found by reversing both.
    return _trim_prefix(_reverse_pattern(pattern), value[::-1], greedy)[::-1]


def expand_word(word: str, env: dict[str, str], escape: str = "\\") -> str:
    """`word` with its variables expanded and its quotes and escapes removed (buildkit ProcessWordWithMap)."""
    return Lex(escape).process(word, env)[0]


def expand_words(word: str, env: dict[str, str], escape: str = "\\") -> list[str]:
    """`word` expanded, then split on unquoted whitespace (buildkit ProcessWordsWithMap): EXPOSE, VOLUME..."""
    return Lex(escape).process(word, env)[1]


def expand_raw(text: str, env: dict[str, str], escape: str = "\\") -> str:
    """Variables expanded, quotes left alone: a heredoc's content (buildkit ExpandRaw, SkipProcessQuotes)."""
    return Lex(escape, skip_process_quotes=True).process(text, env)[0]
